/**
 * What a UPS reports, whatever the source (Modbus registers, NUT variables, a GPIO dry
 * contact), and the contract's default Modbus register map with per-entry overrides.
 * Decoding is pure: registers in, a reading or a clear reason out.
 */
import { UPS_FLAGS, UPS_VALUES } from '../config/schema.js';

export type UpsValueName = (typeof UPS_VALUES)[number];
export type UpsFlagName = (typeof UPS_FLAGS)[number];

/** One reading; a value the source does not provide is null. */
export interface UpsReading {
  /** Mains present at the UPS input. */
  mainsPresent: boolean;
  onBattery: boolean;
  batteryLow: boolean;
  replaceBattery: boolean | null;
  overload: boolean | null;
  charging: boolean | null;
  bypass: boolean | null;
  fault: boolean | null;
  /** The UPS (or NUT's upsmon) asks for a forced shutdown now (NUT FSD). */
  forcedShutdown: boolean;
  /** Battery charge, %. */
  charge: number | null;
  /** Runtime remaining on battery, s. */
  runtime: number | null;
  /** V */
  inputVoltage: number | null;
  /** V */
  outputVoltage: number | null;
  /** % of rated load */
  load: number | null;
  /** °C */
  batteryTemperature: number | null;
  /** Hz */
  inputFrequency: number | null;
}

export interface RegisterSpec {
  register: number;
  function: 3 | 4;
  scale: number;
  signed: boolean;
}

export interface BitSpec {
  register: number;
  function: 3 | 4;
  bit: number;
  invert: boolean;
}

/** An entry that is absent is one this UPS does not provide (turned off with `null` in the config). */
export interface UpsRegisterMap {
  values: Partial<Record<UpsValueName, RegisterSpec>>;
  flags: Partial<Record<UpsFlagName, BitSpec>>;
}

/** The flags a reading cannot do without: at least one of them tells mains from battery. */
export const DECIDING_FLAGS = ['mainsPresent', 'onBattery'] as const satisfies readonly UpsFlagName[];

type RegisterOverride = (Partial<RegisterSpec> & { register: number }) | null;
type BitOverride = (Partial<BitSpec> & { register: number; bit: number }) | null;

const reg = (register: number, scale = 1, signed = false): RegisterSpec => ({ register, function: 3, scale, signed });
const bit = (n: number): BitSpec => ({ register: 0, function: 3, bit: n, invert: false });

/** The contract's default map: holding registers 0..7, function 3, unit 1. */
export const DEFAULT_UPS_MAP: UpsRegisterMap = {
  values: {
    charge: reg(1), // %
    runtime: reg(2), // s
    inputVoltage: reg(3, 0.1), // 0.1 V
    outputVoltage: reg(4, 0.1), // 0.1 V
    load: reg(5), // %
    batteryTemperature: reg(6, 0.1, true), // 0.1 °C, signed
    inputFrequency: reg(7, 0.01), // 0.01 Hz
  },
  flags: {
    mainsPresent: bit(0),
    onBattery: bit(1),
    batteryLow: bit(2),
    replaceBattery: bit(3),
    overload: bit(4),
    charging: bit(5),
    bypass: bit(6),
    fault: bit(7),
  },
};

/** The default map with the config's overrides applied entry by entry; `null` removes an entry. */
export function upsMapFrom(options: { registers?: Partial<Record<UpsValueName, RegisterOverride>>; flags?: Partial<Record<UpsFlagName, BitOverride>> }): UpsRegisterMap {
  const values: UpsRegisterMap['values'] = { ...DEFAULT_UPS_MAP.values };
  for (const name of UPS_VALUES) {
    const o = options.registers?.[name];
    if (o === null) delete values[name];
    else if (o) values[name] = { register: o.register, function: o.function ?? 3, scale: o.scale ?? 1, signed: o.signed ?? false };
  }
  const flags: UpsRegisterMap['flags'] = { ...DEFAULT_UPS_MAP.flags };
  for (const name of UPS_FLAGS) {
    const o = options.flags?.[name];
    if (o === null) delete flags[name];
    else if (o) flags[name] = { register: o.register, function: o.function ?? 3, bit: o.bit, invert: o.invert ?? false };
  }
  return { values, flags };
}

/** The map entries that read a register, by name ("charge", "flags.onBattery"). */
export function entriesAt(map: UpsRegisterMap, fn: 3 | 4, register: number): string[] {
  const values = UPS_VALUES.filter((n) => map.values[n]?.function === fn && map.values[n]?.register === register);
  const flags = UPS_FLAGS.filter((n) => map.flags[n]?.function === fn && map.flags[n]?.register === register).map((n) => `flags.${n}`);
  return [...values, ...flags];
}

export const imageKey = (fn: 3 | 4, register: number): string => `${fn}:${register}`;

/** A contiguous read: function, first register, count. */
export interface ReadBlock {
  function: 3 | 4;
  start: number;
  count: number;
}

/**
 * The fewest reads that cover the map: registers of one function grouped into blocks of at
 * most 125 (the function 3/4 limit), merging gaps of up to 8 unused registers.
 */
export function readPlan(map: UpsRegisterMap, skip: ReadonlySet<string> = new Set()): ReadBlock[] {
  const byFn = new Map<3 | 4, Set<number>>();
  const add = (fn: 3 | 4, r: number): void => {
    if (skip.has(imageKey(fn, r))) return;
    const set = byFn.get(fn) ?? new Set<number>();
    set.add(r);
    byFn.set(fn, set);
  };
  for (const v of Object.values(map.values)) if (v) add(v.function, v.register);
  for (const f of Object.values(map.flags)) if (f) add(f.function, f.register);
  const blocks: ReadBlock[] = [];
  for (const fn of [3, 4] as const) {
    const regs = [...(byFn.get(fn) ?? [])].sort((a, b) => a - b);
    let cur: ReadBlock | null = null;
    for (const r of regs) {
      if (cur && r - (cur.start + cur.count) <= 8 && r - cur.start < 125) {
        cur.count = r - cur.start + 1;
      } else {
        cur = { function: fn, start: r, count: 1 };
        blocks.push(cur);
      }
    }
  }
  return blocks;
}

/** Register values by function and address, as read. */
export type RegisterImage = Map<string, number>;

/** Plausible ranges; a value outside is "impossible" and the whole reading is refused. */
export const UPS_LIMITS: Record<UpsValueName, [number, number]> = {
  charge: [0, 100], // %
  runtime: [0, 7 * 24 * 3600], // s, a week
  inputVoltage: [0, 500], // V
  outputVoltage: [0, 500], // V
  load: [0, 250], // %
  batteryTemperature: [-40, 100], // °C
  inputFrequency: [0, 100], // Hz
};

const UNITS: Record<UpsValueName, string> = {
  charge: '%',
  runtime: 's',
  inputVoltage: 'V',
  outputVoltage: 'V',
  load: '%',
  batteryTemperature: '°C',
  inputFrequency: 'Hz',
};

export type Decoded = { ok: true; reading: UpsReading } | { ok: false; reason: string };

/**
 * Turns a register image into a reading, refusing impossible values with a clear reason.
 * An entry the map lacks, or whose register is not in the image, reads as null; a reading
 * needs mainsPresent or onBattery.
 */
export function decodeRegisters(map: UpsRegisterMap, image: RegisterImage): Decoded {
  const word = (fn: 3 | 4, r: number): number | null => image.get(imageKey(fn, r)) ?? null;
  const values = {} as Record<UpsValueName, number | null>;
  for (const name of UPS_VALUES) {
    const spec = map.values[name];
    const raw = spec ? word(spec.function, spec.register) : null;
    if (!spec || raw === null) {
      values[name] = null;
      continue;
    }
    const n = spec.signed && raw >= 0x8000 ? raw - 0x10000 : raw;
    values[name] = Math.round(n * spec.scale * 1000) / 1000;
  }
  const flags = {} as Record<UpsFlagName, boolean | null>;
  for (const name of UPS_FLAGS) {
    const spec = map.flags[name];
    const raw = spec ? word(spec.function, spec.register) : null;
    flags[name] = !spec || raw === null ? null : ((raw >> spec.bit) & 1) === 1 !== spec.invert;
  }
  if (flags.mainsPresent === null && flags.onBattery === null) return { ok: false, reason: 'neither mainsPresent nor onBattery could be read: mains or battery cannot be told' };
  // Both bits read and both clear: a UPS is always on mains or on battery (its output off
  // would have switched the hub off too). A status word of zeros is what a restarting comms
  // card serves; read as "on battery" with charge 0 it would be an instant critical outage.
  if (flags.mainsPresent === false && flags.onBattery === false) return { ok: false, reason: 'contradictory status: neither mains present nor on battery' };
  return validateReading({
    mainsPresent: flags.mainsPresent ?? !(flags.onBattery ?? false),
    onBattery: flags.onBattery ?? !(flags.mainsPresent ?? true),
    batteryLow: flags.batteryLow ?? false,
    replaceBattery: flags.replaceBattery,
    overload: flags.overload,
    charging: flags.charging,
    bypass: flags.bypass,
    fault: flags.fault,
    forcedShutdown: false,
    ...values,
  });
}

/** Refuses readings no real UPS can give: values out of range, contradictory status. */
export function validateReading(r: UpsReading): Decoded {
  for (const name of UPS_VALUES) {
    const v = r[name];
    if (v === null) continue;
    const [lo, hi] = UPS_LIMITS[name];
    if (!Number.isFinite(v) || v < lo || v > hi) {
      return { ok: false, reason: `impossible ${name} ${v} ${UNITS[name]} (expected ${lo}..${hi})` };
    }
  }
  if (r.mainsPresent && r.onBattery) return { ok: false, reason: 'contradictory status: mains present and on battery at once' };
  return { ok: true, reading: r };
}

/** A UPS device's view, whatever its source. */
export interface UpsStatus {
  source: 'modbus' | 'nut' | 'gpio';
  /** unknown until the first answer; lost after missesBeforeLost consecutive misses. */
  comm: 'unknown' | 'ok' | 'lost';
  /** The last valid reading (kept while lost, for "last seen on battery"). */
  reading: UpsReading | null;
  /** When `reading` was taken (epoch ms). */
  readingAt: number | null;
  /** Lost while the last reading said on battery: treated as low battery, as NUT does. */
  lostOnBattery: boolean;
  /** Why the last poll failed or was refused (impossible values), null after a good one. */
  lastError: string | null;
  misses: number;
}
