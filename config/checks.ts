import { validateDetailed } from 'node-cron';
import type { Facility } from './schema.js';

/** What was found, as text: JSON.stringify(undefined) is undefined, and an error must say "nothing". */
const shown = (v: unknown): string => JSON.stringify(v) ?? 'nothing';

/** A problem found by a check the schema cannot express (the loader adds file and line). */
export interface ConfigProblem {
  path: string;
  found: string;
  expected: string;
}

type Section = NonNullable<Facility['broadcast']>;

/**
 * The entries of a list that are objects, with their index. The loader runs these checks
 * on files the schema refused too (every error at once), so nothing here may assume a
 * section has its schema's shape.
 */
function entries<T>(list: unknown): [T, number][] {
  return Array.isArray(list) ? list.flatMap((x, i) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? [[x as T, i] as [T, number]] : [])) : [];
}

/**
 * What the schema cannot check: references into the catalogue, exactly one trigger per
 * announcement, valid cron expressions, unique ids, zones that point at real rooms and seats.
 * The config loader runs it on every file; the feature refuses to start otherwise.
 */
export function broadcastConfigProblems(facility: Facility): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const b = (facility.broadcast ?? {}) as Partial<Section>;
  const ids = new Set<number>();
  entries<Section['messages'][number]>(b.messages).forEach(([m, i]) => {
    if (ids.has(m.id)) out.push({ path: `/broadcast/messages/${i}/id`, found: shown(m.id), expected: 'a message number not used by another message' });
    ids.add(m.id);
  });
  const annIds = new Set<string>();
  entries<Section['announcements'][number]>(b.announcements).forEach(([a, i]) => {
    const at = `/broadcast/announcements/${i}`;
    if (annIds.has(a.id)) out.push({ path: `${at}/id`, found: shown(a.id), expected: 'an id not used by another announcement' });
    annIds.add(a.id);
    const triggers = [a.beforeEndMinutes, a.afterStartMinutes, a.cron].filter((x) => x !== undefined).length;
    if (triggers !== 1) out.push({ path: at, found: `${triggers} triggers`, expected: 'exactly one of beforeEndMinutes, afterStartMinutes, cron' });
    if (typeof a.cron === 'string') {
      const fields = a.cron.trim().split(/\s+/).length;
      const v = validateDetailed(a.cron);
      if (fields !== 5) out.push({ path: `${at}/cron`, found: shown(a.cron), expected: 'a cron expression with 5 fields (minute hour day month weekday)' });
      else if (!v.valid) out.push({ path: `${at}/cron`, found: shown(a.cron), expected: `a valid cron expression (${v.errors.map((e) => e.message).join('; ')})` });
    }
    if ((a.messageId === undefined) === (a.text === undefined)) out.push({ path: at, found: a.messageId === undefined ? 'neither messageId nor text' : 'both messageId and text', expected: 'exactly one of messageId, text' });
    if (a.messageId !== undefined && !ids.has(a.messageId)) out.push({ path: `${at}/messageId`, found: shown(a.messageId), expected: `a message of /broadcast/messages (${[...ids].join(', ') || 'none'})` });
  });
  const fire = (b.emergency as Partial<Section['emergency']> | undefined)?.fireAlarmMessageId;
  if (fire !== undefined && !ids.has(fire)) out.push({ path: '/broadcast/emergency/fireAlarmMessageId', found: shown(fire), expected: `a message of /broadcast/messages (${[...ids].join(', ') || 'none'})` });
  const c = b.controller;
  if (c && typeof c === 'object' && c.reconnectMaxMs < c.reconnectMinMs) out.push({ path: '/broadcast/controller/reconnectMaxMs', found: shown(c.reconnectMaxMs), expected: `at least reconnectMinMs (${c.reconnectMinMs})` });
  const seats = new Map(entries<Facility['rooms'][number]>(facility.rooms).map(([r]) => [r.id, r.seats]));
  entries<Facility['devices'][number]>(facility.devices).forEach(([d, i]) => {
    if (d.kind !== 'broadcast' || d.options === null || typeof d.options !== 'object') return;
    const used = new Set<number>();
    entries<{ zone: number; room: string; seat?: number }>((d.options as { zones?: unknown }).zones).forEach(([z, j]) => {
      const at = `/devices/${i}/options/zones/${j}`;
      if (used.has(z.zone)) out.push({ path: `${at}/zone`, found: shown(z.zone), expected: 'a zone number not used by another entry of this device' });
      used.add(z.zone);
      const n = seats.get(z.room);
      if (n === undefined) out.push({ path: `${at}/room`, found: shown(z.room), expected: `a room defined in /rooms (${[...seats.keys()].join(', ') || 'none'})` });
      else if (z.seat !== undefined && z.seat > n) out.push({ path: `${at}/seat`, found: shown(z.seat), expected: `a seat of ${z.room} (1..${n})` });
    });
  });
  return out;
}

/** Shutdown hosts of the power playbook must be MQTT devices of this facility. */
export function powerConfigProblems(facility: Facility): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const devices = entries<Facility['devices'][number]>(facility.devices).map(([d]) => d);
  entries<{ device: string }>((facility.power as { shutdown?: { hosts?: unknown } } | undefined)?.shutdown?.hosts).forEach(([h, i]) => {
    const d = devices.find((x) => x.id === h.device);
    const path = `/power/shutdown/hosts/${i}/device`;
    if (!d) out.push({ path, found: shown(h.device), expected: `a device of /devices (${devices.map((x) => x.id).join(', ') || 'none'})` });
    else if ((d.transport as { type?: unknown } | undefined)?.type !== 'mqtt') out.push({ path, found: `${JSON.stringify(h.device)} (${String((d.transport as { type?: unknown } | undefined)?.type)})`, expected: 'an MQTT device (it is sent a shutdown command and must acknowledge it)' });
  });
  return out;
}

/**
 * A Modbus UPS may turn any register-map entry off (`null`) except both of the flags that
 * tell mains from battery: without one of them no reading can decide anything.
 */
export function upsConfigProblems(facility: Facility): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  facility.devices.forEach((d, i) => {
    if (d.kind !== 'ups' || (d.transport.type !== 'modbus-tcp' && d.transport.type !== 'modbus-rtu')) return;
    const flags = (d.options as { flags?: Record<string, unknown> }).flags ?? {};
    if (flags.mainsPresent === null && flags.onBattery === null) {
      out.push({ path: `/devices/${i}/options/flags`, found: 'mainsPresent: null and onBattery: null', expected: 'at least one of mainsPresent, onBattery (what tells mains from battery)' });
    }
  });
  return out;
}

/** Every cross-section check of the features, run by the loader on every file (with or without schema errors). */
export function featureConfigProblems(facility: Facility): ConfigProblem[] {
  return [...powerConfigProblems(facility), ...upsConfigProblems(facility), ...broadcastConfigProblems(facility), ...robotConfigProblems(facility)];
}

/** Meal times: valid 5-field cron expressions with unique names; the door, a door device. */
export function robotConfigProblems(facility: Facility): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const r = (facility.robot ?? {}) as Partial<Facility['robot']>;
  const names = new Set<string>();
  for (const [m, i] of entries<{ name?: unknown; cron?: unknown }>(r.meals)) {
    const at = `/robot/meals/${i}`;
    if (typeof m.name === 'string') {
      if (names.has(m.name)) out.push({ path: `${at}/name`, found: JSON.stringify(m.name), expected: 'a meal name used once' });
      names.add(m.name);
    }
    if (typeof m.cron === 'string') out.push(...cronProblems(m.cron, `${at}/cron`));
  }
  if (typeof r.door === 'string' && !(facility.devices ?? []).some((d) => d.id === r.door && d.kind === 'door')) {
    out.push({ path: '/robot/door', found: JSON.stringify(r.door), expected: 'the id of a door device' });
  }
  return out;
}

/** A cron expression the meal schedule can use (5 fields, node-cron's syntax). */
export function cronProblems(cron: string, path: string): ConfigProblem[] {
  if (cron.trim().split(/\s+/).length !== 5) return [{ path, found: JSON.stringify(cron), expected: 'a cron expression with 5 fields (minute hour day month weekday)' }];
  const v = validateDetailed(cron);
  return v.valid ? [] : [{ path, found: JSON.stringify(cron), expected: `a valid cron expression (${v.errors.map((e) => e.message).join('; ')})` }];
}
