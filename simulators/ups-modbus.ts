/**
 * A UPS behind a real Modbus TCP server, serving the contract's default register map
 * (holding registers 0..7, mirrored as input registers) with a battery that drains on
 * battery and recharges on mains as the injected clock moves. Coil 0 is the mains supply.
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
  const faults: UpsFaults = { unresponsive: false, exception: null, overrideCharge: null };

  const advance = (): void => {
    const now = opts.clock.now();
    const hours = Math.max(0, now - lastTick) / 3_600_000;
    lastTick = now;
    const delta = mains ? (capacityWh / UPS_SIM_DEFAULTS.rechargeHours) * hours : -loadW * hours;
    energyWh = Math.min(capacityWh, Math.max(0, energyWh + delta));
  };

  const registers = (): number[] => {
    const chargePct = Math.round((energyWh / capacityWh) * 100);
    const runtimeS = loadW > 0 ? Math.floor((energyWh / loadW) * 3600) : 0xffff;
    const outputOn = mains || energyWh > 0;
    const loadPct = outputOn ? Math.round((loadW / UPS_SIM_DEFAULTS.ratedW) * 100) : 0;
    let status = 0;
    const bit = (n: number, on: boolean): void => {
      if (on) status |= 1 << n;
    };
    bit(UPS_STATUS_BITS.mains, mains);
    bit(UPS_STATUS_BITS.onBattery, !mains);
    bit(UPS_STATUS_BITS.batteryLow, chargePct < UPS_SIM_DEFAULTS.lowChargePct || runtimeS < UPS_SIM_DEFAULTS.lowRuntimeS);
    bit(UPS_STATUS_BITS.overload, loadPct > 100);
    bit(UPS_STATUS_BITS.charging, mains && energyWh < capacityWh);
    return [
      status,
      faults.overrideCharge ?? chargePct,
      Math.min(0xffff, runtimeS),
      mains ? UPS_SIM_DEFAULTS.mainsVoltage : 0,
      outputOn ? UPS_SIM_DEFAULTS.mainsVoltage : 0,
      loadPct,
      toInt16Register(temperatureC * 10),
      mains ? UPS_SIM_DEFAULTS.mainsFrequency : 0,
    ];
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
  const slice = (addr: number, len: number): number[] | Error =>
    addr + len > UPS_REGISTER_COUNT ? modbusException(2) : registers().slice(addr, addr + len);
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
        runtimeS: regs[2] ?? 0,
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
