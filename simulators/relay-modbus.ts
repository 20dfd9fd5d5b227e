/**
 * A relay module behind a real Modbus TCP server: one coil per output, read with function 1,
 * written with 5 or 15. A relay can be made to "stick" so read-back verification has
 * something to catch.
 */
import type { FCallback, FCallbackVal, IServiceVector } from 'modbus-serial';
import type { Logger } from '../kernel/log.js';
import { modbusException, serveModbusTcp } from './modbus-server.js';

export interface RelaySimulatorOptions {
  host?: string;
  /** 0 picks a free port. */
  port: number;
  unitId?: number;
  coils?: number;
  log: Logger;
  initial?: boolean[];
}

export interface RelaySimulator {
  port: number;
  /** What a read answers (stuck relays included). */
  coils(): boolean[];
  /** A relay that no longer follows writes reads back `value`; null un-sticks it. */
  stick(coil: number, value: boolean | null): void;
  onChange(listener: (coil: number, value: boolean) => void): () => void;
  /** The coils of each write request so far (function 5: one coil; 15: several), oldest first. */
  writeRequests(): number[][];
  /** While set, every coil read is answered with this Modbus exception code (a failing module); null ends it. */
  setReadException(code: number | null): void;
  stop(): Promise<void>;
}

export const RELAY_SIM_DEFAULTS = {
  host: '127.0.0.1',
  unitId: 1,
  coils: 8,
} as const;

interface PendingWrite {
  addr: number;
  value: boolean;
  cb: FCallback;
}

export async function startRelaySimulator(opts: RelaySimulatorOptions): Promise<RelaySimulator> {
  const count = opts.coils ?? RELAY_SIM_DEFAULTS.coils;
  const log = opts.log.child({ sim: 'relay-modbus' });
  const commanded = Array.from({ length: count }, (_, i) => opts.initial?.[i] ?? false);
  const stuck = new Map<number, boolean>();
  const listeners = new Set<(coil: number, value: boolean) => void>();
  let readException: number | null = null;

  const actual = (coil: number): boolean => stuck.get(coil) ?? commanded[coil] ?? false;
  const inRange = (coil: number): boolean => Number.isInteger(coil) && coil >= 0 && coil < count;

  const apply = (coil: number, value: boolean): void => {
    const before = actual(coil);
    commanded[coil] = value;
    const after = actual(coil);
    if (after === before) return;
    log.debug({ coil, value: after }, 'relay switched');
    for (const listener of [...listeners]) {
      try {
        listener(coil, after);
      } catch (err) {
        log.error({ err }, 'relay listener threw');
      }
    }
  };

  // modbus-serial calls setCoil once per coil of a function-15 request, synchronously, and
  // would leave the first coils written when a later one is out of range. Collecting the
  // calls of one request and applying them together makes the write all-or-nothing.
  let batch: PendingWrite[] | null = null;
  const requests: number[][] = [];
  const flush = (): void => {
    const writes = batch ?? [];
    batch = null;
    requests.push(writes.map((w) => w.addr));
    if (requests.length > 1000) requests.shift();
    if (writes.some((w) => !inRange(w.addr))) {
      for (const w of writes) w.cb(modbusException(2));
      return;
    }
    for (const w of writes) apply(w.addr, w.value);
    for (const w of writes) w.cb(null);
  };

  const vector: IServiceVector = {
    getCoil: (addr: number, _unit: number, cb: FCallbackVal<boolean>) => {
      if (readException !== null) return cb(modbusException(readException), false);
      if (!inRange(addr)) return cb(modbusException(2), false);
      cb(null, actual(addr));
    },
    getDiscreteInput: (_addr: number, _unit: number, cb: FCallbackVal<boolean>) => cb(modbusException(1), false),
    setCoil: (addr: number, value: boolean, _unit: number, cb: FCallback) => {
      if (!batch) {
        batch = [];
        queueMicrotask(flush);
      }
      batch.push({ addr, value, cb });
    },
    getHoldingRegister: (_addr: number, _unit: number, cb: FCallbackVal<number>) => cb(modbusException(1), 0),
    getInputRegister: (_addr: number, _unit: number, cb: FCallbackVal<number>) => cb(modbusException(1), 0),
    setRegister: (_addr: number, _value: number, _unit: number, cb: FCallback) => cb(modbusException(1)),
  };

  const server = await serveModbusTcp(vector, {
    host: opts.host ?? RELAY_SIM_DEFAULTS.host,
    port: opts.port,
    unitId: opts.unitId ?? RELAY_SIM_DEFAULTS.unitId,
    log,
  });
  log.info({ port: server.port, coils: count }, 'relay simulator listening');

  return {
    port: server.port,
    coils: () => commanded.map((_, i) => actual(i)),
    stick: (coil, value) => {
      if (!inRange(coil)) throw new RangeError(`coil ${coil} is outside 0..${count - 1}`);
      if (value === null) stuck.delete(coil);
      else stuck.set(coil, value);
    },
    onChange: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    writeRequests: () => requests.map((r) => [...r]),
    setReadException: (code) => {
      readException = code;
    },
    stop: () => server.close(),
  };
}
