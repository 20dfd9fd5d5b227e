/**
 * A UPS behind a real Modbus TCP server, serving the contract's default register map
 * (holding registers 0..7, mirrored as input registers) or another layout (`layout`, e.g.
 * APC_STYLE_LAYOUT: other addresses, other scales, values and flags it does not have), with
 * a battery that drains on battery and recharges on mains as the injected clock moves.
 * Coil 0 is the mains supply. A read that touches an address the layout does not serve is
 * answered with exception 2 (illegal data address), as real devices do.
 */
import type { FCallback, FCallbackVal, IServiceVector } from 'modbus-serial';
import type { Clock, TimerHandle } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import { modbusException, serveModbusTcp } from './modbus-server.js';

export { modbusException, serveModbusTcp, type ModbusTcpServer } from './modbus-server.js';

export interface UpsSimulatorOptions {
  host?: string;
  /** 0 picks a free port. */
  port: number;
  unitId?: number;
  clock: Clock;
  log: Logger;
  capacityWh?: number;
  loadW?: number;
  tickMs?: number;
  /** Battery temperature; lets tests exercise the signed register. */
  temperatureC?: number;
  /** Where each value lives; default: the contract's map (DEFAULT_LAYOUT). */
  layout?: UpsSimLayout;
}

export type UpsSimValue = 'charge' | 'runtime' | 'inputVoltage' | 'outputVoltage' | 'load' | 'temperature' | 'frequency';

/**
 * A register layout: each value at a register, as `raw = physical × perUnit` (the hub's
 * `scale` is then 1 / perUnit), or null when this UPS does not have it; the status word's
 * register and which bit is which (a flag left out is never sent).
 */
export interface UpsSimLayout {
  status: { register: number; bits: Partial<Record<keyof typeof UPS_STATUS_BITS, number>> };
  values: Record<UpsSimValue, { register: number; perUnit: number } | null>;
}

export interface UpsSimState {
  mains: boolean;
  onBattery: boolean;
  energyWh: number;
  chargePct: number;
  runtimeS: number;
  /** Holding registers 0..7 exactly as served. */
  registers: number[];
}

export interface UpsFaults {
  unresponsive: boolean;
  exception: number | null;
  overrideCharge: number | null;
  /** Raw 16-bit words served instead of the physical ones, by address (fuzzing hostile devices). */
  overrideRegisters: Record<number, number> | null;
}

export interface UpsSimulator {
  port: number;
  setMains(on: boolean): void;
  state(): UpsSimState;
  setFault(f: Partial<UpsFaults>): void;
  stop(): Promise<void>;
}

export const UPS_SIM_DEFAULTS = {
  host: '127.0.0.1',
  unitId: 1,
  capacityWh: 720,
  loadW: 600,
  ratedW: 1800, // the load register is a percentage of this
  tickMs: 1000, // 1 s
  temperatureC: 25,
  rechargeHours: 3, // empty to full on mains
  lowChargePct: 20,
  lowRuntimeS: 300, // 5 min
  mainsVoltage: 2200, // 0.1 V
  mainsFrequency: 5000, // 0.01 Hz
} as const;

export const UPS_STATUS_BITS = {
  mains: 0,
  onBattery: 1,
  batteryLow: 2,
  replaceBattery: 3,
  overload: 4,
  charging: 5,
  bypass: 6,
  fault: 7,
} as const;

export const UPS_REGISTER_COUNT = 8;

/** The contract's default register map (docs/contract.md): registers 0..7. */
export const DEFAULT_LAYOUT: UpsSimLayout = {
  status: { register: 0, bits: UPS_STATUS_BITS },
  values: {
    charge: { register: 1, perUnit: 1 }, // %
    runtime: { register: 2, perUnit: 1 }, // s
    inputVoltage: { register: 3, perUnit: 10 }, // 0.1 V
    outputVoltage: { register: 4, perUnit: 10 }, // 0.1 V
    load: { register: 5, perUnit: 1 }, // %
    temperature: { register: 6, perUnit: 10 }, // 0.1 °C, signed
    frequency: { register: 7, perUnit: 100 }, // 0.01 Hz
  },
};

/**
 * Shaped after APC's Modbus map (status word at 0, runtime at 128, charge at 130 in 1/512 %,
 * load at 136 in 1/256 %, voltages in 1/64 V): sparse, other scales, and no battery
 * temperature, input frequency, overload, bypass or fault registers.
 */
export const APC_STYLE_LAYOUT: UpsSimLayout = {
  status: { register: 0, bits: { mains: 1, onBattery: 2, charging: 4, batteryLow: 9 } },
  values: {
    runtime: { register: 128, perUnit: 1 },
    charge: { register: 130, perUnit: 512 },
    load: { register: 136, perUnit: 256 },
    outputVoltage: { register: 142, perUnit: 64 },
    inputVoltage: { register: 151, perUnit: 64 },
    temperature: null,
    frequency: null,
  },
};

/** Two's complement into one 16-bit register. */
export function toInt16Register(value: number): number {
  return Math.round(value) & 0xffff;
}

export async function startUpsSimulator(opts: UpsSimulatorOptions): Promise<UpsSimulator> {
  const capacityWh = opts.capacityWh ?? UPS_SIM_DEFAULTS.capacityWh;
  const loadW = opts.loadW ?? UPS_SIM_DEFAULTS.loadW;
  const tickMs = opts.tickMs ?? UPS_SIM_DEFAULTS.tickMs;
  const temperatureC = opts.temperatureC ?? UPS_SIM_DEFAULTS.temperatureC;
  const log = opts.log.child({ sim: 'ups-modbus' });

  let mains = true;
  let energyWh = capacityWh;
  let lastTick = opts.clock.now();
  const faults: UpsFaults = { unresponsive: false, exception: null, overrideCharge: null, overrideRegisters: null };

  const advance = (): void => {
    const now = opts.clock.now();
    const hours = Math.max(0, now - lastTick) / 3_600_000;
    lastTick = now;
    const delta = mains ? (capacityWh / UPS_SIM_DEFAULTS.rechargeHours) * hours : -loadW * hours;
    energyWh = Math.min(capacityWh, Math.max(0, energyWh + delta));
  };

  const layout = opts.layout ?? DEFAULT_LAYOUT;

  /** Physical values now: status flags and measurements. */
  const physical = (): { flags: Record<keyof typeof UPS_STATUS_BITS, boolean>; values: Record<UpsSimValue, number> } => {
    const chargePct = Math.round((energyWh / capacityWh) * 100);
    const runtimeS = loadW > 0 ? Math.floor((energyWh / loadW) * 3600) : 0xffff;
    const outputOn = mains || energyWh > 0;
    const loadPct = outputOn ? Math.round((loadW / UPS_SIM_DEFAULTS.ratedW) * 100) : 0;
    return {
      flags: {
        mains,
        onBattery: !mains,
        batteryLow: chargePct < UPS_SIM_DEFAULTS.lowChargePct || runtimeS < UPS_SIM_DEFAULTS.lowRuntimeS,
        replaceBattery: false,
        overload: loadPct > 100,
        charging: mains && energyWh < capacityWh,
        bypass: false,
        fault: false,
      },
      values: {
        charge: faults.overrideCharge ?? chargePct,
        runtime: Math.min(0xffff, runtimeS),
        inputVoltage: mains ? UPS_SIM_DEFAULTS.mainsVoltage / 10 : 0,
        outputVoltage: outputOn ? UPS_SIM_DEFAULTS.mainsVoltage / 10 : 0,
        load: loadPct,
        temperature: temperatureC,
        frequency: mains ? UPS_SIM_DEFAULTS.mainsFrequency / 100 : 0,
      },
    };
  };

  /** Every served address → its raw 16-bit value, per the layout. */
  const image = (): Map<number, number> => {
    const p = physical();
    let status = 0;
    for (const [flag, bit] of Object.entries(layout.status.bits) as [keyof typeof UPS_STATUS_BITS, number][]) if (p.flags[flag]) status |= 1 << bit;
    const out = new Map<number, number>([[layout.status.register, status]]);
    for (const [name, at] of Object.entries(layout.values) as [UpsSimValue, { register: number; perUnit: number } | null][]) {
      // Charge overrides (impossible values) are raw in the default layout's unit, %.
      if (at) out.set(at.register, name === 'temperature' ? toInt16Register(p.values[name] * at.perUnit) : Math.min(0xffff, Math.round(p.values[name] * at.perUnit)));
    }
    for (const [addr, word] of Object.entries(faults.overrideRegisters ?? {})) if (out.has(Number(addr))) out.set(Number(addr), word & 0xffff);
    return out;
  };

  /** The default layout's registers 0..7 (what `state().registers` reports). */
  const registers = (): number[] => {
    const img = image();
    return Array.from({ length: UPS_REGISTER_COUNT }, (_, i) => img.get(i) ?? 0);
  };

  const setMains = (on: boolean): void => {
    // Settle the energy under the old supply first, so the switch is visible on the next poll.
    advance();
    if (on !== mains) log.info({ mains: on }, 'simulated mains switched');
    mains = on;
  };

  /** Runs a read unless a fault says otherwise; an unresponsive UPS never calls back. */
  const read = <T>(cb: (err: Error | null, value: T) => void, empty: T, produce: () => T | Error): void => {
    if (faults.unresponsive) return;
    if (faults.exception !== null) return cb(modbusException(faults.exception), empty);
    const value = produce();
    if (value instanceof Error) return cb(value, empty);
    cb(null, value);
  };
  const slice = (addr: number, len: number): number[] | Error => {
    const img = image();
    const out: number[] = [];
    for (let a = addr; a < addr + len; a++) {
      const v = img.get(a);
      if (v === undefined) return modbusException(2);
      out.push(v);
    }
    return out;
  };
  const single = (addr: number): number | Error => {
    const values = slice(addr, 1);
    return values instanceof Error ? values : (values[0] ?? 0);
  };

  // Callback-style handlers (arity 3/4) so that "unresponsive" can simply never answer.
  const vector: IServiceVector = {
    getMultipleHoldingRegisters: (addr: number, len: number, _unit: number, cb: FCallbackVal<number[]>) =>
      read(cb, [], () => slice(addr, len)),
    // modbus-serial's FC4 path indexes `values` even on error: always hand it an array.
    getMultipleInputRegisters: (addr: number, len: number, _unit: number, cb: FCallbackVal<number[]>) =>
      read(cb, [], () => slice(addr, len)),
    getHoldingRegister: (addr: number, _unit: number, cb: FCallbackVal<number>) => read(cb, 0, () => single(addr)),
    getInputRegister: (addr: number, _unit: number, cb: FCallbackVal<number>) => read(cb, 0, () => single(addr)),
    getCoil: (addr: number, _unit: number, cb: FCallbackVal<boolean>) =>
      read(cb, false, () => (addr === 0 ? mains : modbusException(2))),
    getDiscreteInput: (_addr: number, _unit: number, cb: FCallbackVal<boolean>) =>
      read(cb, false, () => modbusException(1)),
    setCoil: (addr: number, value: boolean, _unit: number, cb: FCallback) => {
      if (faults.unresponsive) return;
      if (addr !== 0) return cb(modbusException(2));
      setMains(value);
      cb(null);
    },
    setRegister: (_addr: number, _value: number, _unit: number, cb: FCallback) => {
      if (faults.unresponsive) return;
      cb(modbusException(2)); // the measurement registers are read-only
    },
  };

  const server = await serveModbusTcp(vector, {
    host: opts.host ?? UPS_SIM_DEFAULTS.host,
    port: opts.port,
    unitId: opts.unitId ?? UPS_SIM_DEFAULTS.unitId,
    log,
  });
  const ticker: TimerHandle = opts.clock.setInterval(advance, tickMs);
  log.info({ port: server.port }, 'UPS simulator listening');

  return {
    port: server.port,
    setMains,
    state: () => {
      const regs = registers();
      return {
        mains,
        onBattery: !mains,
        energyWh,
        chargePct: (energyWh / capacityWh) * 100,
        runtimeS: physical().values.runtime,
        registers: regs,
      };
    },
    setFault: (f) => {
      Object.assign(faults, f);
      log.info({ faults }, 'UPS simulator faults set');
    },
    stop: async () => {
      ticker.cancel();
      await server.close();
    },
  };
}
