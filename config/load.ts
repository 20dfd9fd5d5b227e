import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { featureConfigProblems } from './checks.js';
import {
  FacilitySchema,
  KIND_TRANSPORTS,
  KindOptionSchemas,
  TransportSchemas,
  type DeviceConfig,
  type DeviceKind,
  type Facility,
  type FacilityConfig,
  type TransportType,
} from './schema.js';

/** One problem in a facility file: where it is, what was found, what was expected. */
export interface ConfigError {
  file: string;
  path: string;
  line?: number;
  found: string;
  expected: string;
}

export type LoadResult = { ok: true; facility: Facility } | { ok: false; errors: ConfigError[] };

export const DEMO_FACILITY = fileURLToPath(new URL('./demo-facility.yaml', import.meta.url));

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
const validators = new Map<TSchema, ValidateFunction>();
function validatorFor(schema: TSchema): ValidateFunction {
  let v = validators.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    validators.set(schema, v);
  }
  return v;
}

export function formatConfigError(e: ConfigError): string {
  const where = e.line === undefined ? e.file : `${e.file}:${e.line}`;
  return `${where}: ${e.path || '/'}: found ${e.found}, expected ${e.expected}`;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const s = JSON.stringify(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function valueAt(root: unknown, pointer: string): unknown {
  let cur: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function expectedFor(err: ErrorObject, schemaKeys: string[] | null): string {
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return `a "${String(p.missingProperty)}" field`;
    case 'additionalProperties':
      return schemaKeys ? `only known keys (${schemaKeys.join(', ')})` : 'only known keys';
    case 'type':
      return `a value of type ${String(p.type)}`;
    case 'const':
      return `the value ${show(p.allowedValue)}`;
    case 'enum':
      return `one of ${(p.allowedValues as unknown[]).map(show).join(', ')}`;
    case 'pattern':
      return `text matching ${String(p.pattern)}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
    case 'minLength':
    case 'maxLength':
    case 'minItems':
    case 'maxItems':
      return `a value that ${err.message ?? 'fits the limit'}`;
    default:
      return err.message ?? 'a valid value';
  }
}

/** Turns Ajv's errors into ours; union branches collapse into one "one of" message per path. */
function schemaErrors(file: string, base: string, root: unknown, value: unknown, schema: TSchema): ConfigError[] {
  const v = validatorFor(schema);
  if (v(value)) return [];
  const out: ConfigError[] = [];
  const errs = v.errors ?? [];
  const byPath = new Map<string, ErrorObject[]>();
  for (const e of errs) {
    const list = byPath.get(e.instancePath) ?? [];
    list.push(e);
    byPath.set(e.instancePath, list);
  }
  for (const [instancePath, list] of byPath) {
    const path = base + instancePath;
    const anyOf = list.find((e) => e.keyword === 'anyOf');
    if (anyOf) {
      const literals = list.filter((e) => e.keyword === 'const').map((e) => (e.params as { allowedValue: unknown }).allowedValue);
      out.push({
        file,
        path,
        found: show(valueAt(root, path)),
        expected: literals.length ? `one of ${literals.map(show).join(', ')}` : 'a value of one of the allowed forms',
      });
      continue;
    }
    for (const e of list) {
      if (e.keyword === 'additionalProperties') {
        const extra = String((e.params as { additionalProperty: string }).additionalProperty);
        const parentSchema = e.parentSchema as { properties?: Record<string, unknown> } | undefined;
        out.push({
          file,
          path: `${path}/${extra}`,
          found: `an unknown key "${extra}"`,
          expected: expectedFor(e, parentSchema?.properties ? Object.keys(parentSchema.properties) : null),
        });
      } else if (e.keyword === 'required') {
        const missing = String((e.params as { missingProperty: string }).missingProperty);
        out.push({ file, path: `${path}/${missing}`, found: 'nothing', expected: expectedFor(e, null) });
      } else {
        out.push({ file, path, found: show(valueAt(root, path)), expected: expectedFor(e, null) });
      }
    }
  }
  return out;
}

const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
/** The entries of a list that are objects, with their index in the file (others the schema pass reported). */
function objectsOf<T>(list: unknown): [T, number][] {
  return Array.isArray(list) ? list.flatMap((x, i) => (isObject(x) ? [[x as T, i] as [T, number]] : [])) : [];
}

/**
 * The semantic pass: references, uniqueness, one owner per physical line. It runs on every
 * file, even one the schema refused: entries of the wrong shape are skipped one by one, so
 * that one bad entry does not hide the cross-reference errors of all the others.
 */
function semanticErrors(file: string, cfg: FacilityConfig): ConfigError[] {
  const out: ConfigError[] = [];
  const err = (path: string, found: string, expected: string): void => {
    out.push({ file, path, found, expected });
  };
  const zoneIds = new Set<string>();
  objectsOf<FacilityConfig['zones'][number]>(cfg.zones).forEach(([z, i]) => {
    if (zoneIds.has(z.id)) err(`/zones/${i}/id`, show(z.id), 'an id not used by another zone');
    zoneIds.add(z.id);
  });
  const roomIds = new Set<string>();
  const seatsOf = new Map<string, number>();
  objectsOf<FacilityConfig['rooms'][number]>(cfg.rooms).forEach(([r, i]) => {
    if (roomIds.has(r.id)) err(`/rooms/${i}/id`, show(r.id), 'an id not used by another room');
    roomIds.add(r.id);
    seatsOf.set(r.id, r.seats);
    if (r.zone !== undefined && !zoneIds.has(r.zone)) err(`/rooms/${i}/zone`, show(r.zone), `a zone defined in /zones (${[...zoneIds].join(', ') || 'none'})`);
  });
  const deviceIds = new Set<string>();
  const lines = new Map<string, { index: number; unitId: number | null; baud: number | null }[]>();
  objectsOf<FacilityConfig['devices'][number]>(cfg.devices).forEach(([d, i]) => {
    // A device whose shape the schema already refused is skipped here, not the whole pass.
    if (!wellShapedDevice(d)) return;
    const at = `/devices/${i}`;
    if (deviceIds.has(d.id)) err(`${at}/id`, show(d.id), 'an id not used by another device');
    deviceIds.add(d.id);
    if (d.id === 'hub') err(`${at}/id`, show(d.id), 'any id but "hub" (reserved for the hub\'s own topics)');
    d.rooms.forEach((r, j) => {
      if (!roomIds.has(r)) err(`${at}/rooms/${j}`, show(r), `a room defined in /rooms (${[...roomIds].join(', ') || 'none'})`);
    });
    d.zones.forEach((z, j) => {
      if (!zoneIds.has(z)) err(`${at}/zones/${j}`, show(z), `a zone defined in /zones (${[...zoneIds].join(', ') || 'none'})`);
    });
    const type = d.transport.type;
    const allowed = KIND_TRANSPORTS[d.kind];
    if (!allowed.includes(type)) err(`${at}/transport/type`, show(type), `a transport for a ${d.kind}: one of ${allowed.join(', ')}`);
    // One owner per physical line (style pattern 4): a serial path or a Modbus endpoint
    // belongs to one device, except a Modbus RTU multi-drop bus shared by distinct unit ids.
    const t = d.transport as Record<string, unknown>;
    let key: string | null = null;
    let unitId: number | null = null;
    let baud: number | null = null;
    if (type === 'modbus-tcp') {
      key = `tcp:${String(t.host)}:${String(t.port)}`;
      unitId = Number(t.unitId ?? 1);
    } else if (type === 'tcp') {
      key = `tcp:${String(t.host)}:${String(t.port)}`;
    } else if (type === 'modbus-rtu' || type === 'serial') {
      key = `serial:${String(t.path)}`;
      if (type === 'modbus-rtu') {
        unitId = Number(t.unitId ?? 1);
        baud = Number(t.baudRate ?? 9600);
      }
    } else if (type === 'gpio') {
      key = `gpio:${String(t.line)}`;
    }
    if (key) {
      const users = lines.get(key) ?? [];
      // Every device already on the line must share it legitimately with this one.
      const clash = users.find((prev) => !(prev.unitId !== null && unitId !== null && prev.unitId !== unitId && prev.baud === baud));
      if (clash) {
        err(`${at}/transport`, `${key.replace(/^[a-z]+:/, '')} already used by /devices/${clash.index}`, 'a line (serial path, TCP endpoint, GPIO line or Modbus unit) owned by one device');
      } else {
        users.push({ index: i, unitId, baud });
        lines.set(key, users);
      }
    }
    if (d.kind === 'relay') {
      const o = d.options as { coils?: number; outputs?: { coil: number; id: string; room?: string }[] };
      const seen = new Set<number>();
      const ids = new Set<string>();
      objectsOf<{ coil: number; id: string; room?: string }>(o.outputs).forEach(([out, j]) => {
        if (o.coils !== undefined && out.coil >= o.coils) err(`${at}/options/outputs/${j}/coil`, show(out.coil), `a coil below ${o.coils} (the module's coil count)`);
        if (seen.has(out.coil)) err(`${at}/options/outputs/${j}/coil`, show(out.coil), 'a coil not used by another output');
        seen.add(out.coil);
        if (ids.has(out.id)) err(`${at}/options/outputs/${j}/id`, show(out.id), 'an output id not used by another output');
        ids.add(out.id);
        if (out.room !== undefined && !roomIds.has(out.room)) err(`${at}/options/outputs/${j}/room`, show(out.room), 'a room defined in /rooms');
      });
    }
    if (d.kind === 'broadcast') {
      const o = d.options as { zones?: { zone: number; room: string; seat?: number }[] };
      objectsOf<{ zone: number; room: string; seat?: number }>(o.zones).forEach(([z, j]) => {
        if (!roomIds.has(z.room)) err(`${at}/options/zones/${j}/room`, show(z.room), 'a room defined in /rooms');
        const seats = seatsOf.get(z.room);
        if (z.seat !== undefined && seats !== undefined && z.seat > seats) err(`${at}/options/zones/${j}/seat`, show(z.seat), `a seat from 1 to ${seats} (the room's seats)`);
      });
    }
  });
  return out;
}

/** Two passes may find the same problem (a zone's room is checked by both): reported once. */
function dedupe(errors: ConfigError[]): ConfigError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.path}\n${e.found}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function wellShapedDevice(d: unknown): boolean {
  const dev = d as { rooms?: unknown; zones?: unknown; transport?: unknown; options?: unknown; kind?: unknown };
  return (
    Array.isArray(dev.rooms) &&
    Array.isArray(dev.zones) &&
    dev.transport !== null &&
    typeof dev.transport === 'object' &&
    dev.options !== null &&
    typeof dev.options === 'object' &&
    typeof dev.kind === 'string' &&
    dev.kind in KIND_TRANSPORTS
  );
}

function attachLines(errors: ConfigError[], doc: Document, counter: LineCounter): void {
  for (const e of errors) {
    const keys = e.path.split('/').slice(1).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
    // The deepest node that exists: an unknown key still points at its parent's line.
    for (let n = keys.length; n >= 0; n--) {
      const node: unknown = n === 0 ? doc.contents : doc.getIn(keys.slice(0, n), true);
      if (isNode(node) && node.range) {
        e.line = counter.linePos(node.range[0]).line;
        break;
      }
    }
  }
}

/** Parses, validates (with defaults) and cross-checks a facility document. */
export function parseFacility(text: string, file: string): LoadResult {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({
        file,
        path: '',
        line: e.linePos?.[0]?.line,
        found: `invalid YAML (${e.message.split('\n')[0] ?? e.code})`,
        expected: 'a well-formed YAML document',
      })),
    };
  }
  // toJS throws on what parses but cannot be built: an alias to an anchor defined nowhere
  // or later, an alias bomb beyond maxAliasCount. A config error like any other.
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, errors: [{ file, path: '', found: `YAML that cannot be built (${message})`, expected: 'every alias (*name) after its anchor (&name), and at most 100 of them' }] };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const errors = [{ file, path: '', found: show(data), expected: 'a mapping with version, site, rooms and devices' }];
    return { ok: false, errors };
  }
  const errors = schemaErrors(file, '', data, data, FacilitySchema);
  const raw = data as Partial<Record<'devices', unknown>>;
  const devices = Array.isArray(raw.devices) ? (raw.devices as unknown[]) : [];
  // Second pass even when the first found errors, so that one run reports everything.
  devices.forEach((d, i) => {
    if (d === null || typeof d !== 'object') return;
    const dev = d as { kind?: unknown; transport?: { type?: unknown }; options?: unknown };
    const type = dev.transport?.type;
    if (typeof type === 'string' && type in TransportSchemas) {
      errors.push(...schemaErrors(file, `/devices/${i}/transport`, data, dev.transport, TransportSchemas[type as TransportType]));
    }
    if (typeof dev.kind === 'string' && dev.kind in KindOptionSchemas && dev.options !== undefined) {
      errors.push(...schemaErrors(file, `/devices/${i}/options`, data, dev.options, KindOptionSchemas[dev.kind as DeviceKind]));
    }
  });
  // Every pass runs on every file (README: every error at once); the later ones read only
  // entries of the right shape.
  errors.push(...semanticErrors(file, data as FacilityConfig));
  const typed = data as FacilityConfig;
  const facility: Facility = { ...typed, devices: typed.devices as unknown as DeviceConfig[] };
  const schemaFailed = errors.length > 0;
  try {
    errors.push(...featureConfigProblems(facility).map((p) => ({ file, ...p })));
  } catch (e) {
    // The feature checks read typed sections; on a file the schema refused, a section of
    // the wrong shape may trip them, and its schema errors already say what is wrong.
    if (!schemaFailed) throw e;
  }
  if (errors.length === 0) return { ok: true, facility };
  const unique = dedupe(errors);
  attachLines(unique, doc, counter);
  return { ok: false, errors: unique };
}

export function loadFacility(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    return { ok: false, errors: [{ file, path: '', found: `the file cannot be read (${code})`, expected: 'a readable YAML file' }] };
  }
  return parseFacility(text, file);
}
