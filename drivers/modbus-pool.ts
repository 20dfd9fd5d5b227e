/**
 * One ModbusLine per physical line (style pattern 4): devices on the same TCP endpoint or
 * the same RTU serial port (a multi-drop RS-485 bus with distinct unit ids) share one line,
 * so their requests are serialised by one owner. Lines are reference-counted: the first
 * device to acquire one starts it, the last to release it stops it.
 */
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import { ModbusLine, type ModbusLineConfig, type ReconnectPolicy } from './modbus.js';

export interface ModbusPoolContext {
  clock: Clock;
  log: Logger;
  reconnect?: ReconnectPolicy;
}

/** What a Modbus device receives as its driver: its line and its unit id on that line. */
export interface ModbusDeviceDriver {
  line: ModbusLine;
  unitId: number;
  /** Gives the line back; the pool stops it when no device uses it any more. */
  release(): Promise<void>;
}

interface PoolEntry {
  line: ModbusLine;
  users: number;
}

/** The key of the physical line a config points at. */
export function lineKey(config: ModbusLineConfig): string {
  return config.type === 'modbus-tcp' ? `tcp:${config.host}:${config.port}` : `rtu:${config.path}`;
}

export class ModbusPool {
  private readonly lines = new Map<string, PoolEntry>();

  constructor(private readonly ctx: ModbusPoolContext) {}

  /** The line for this config (shared when another device already holds it), started. */
  acquire(config: ModbusLineConfig, unitId: number): ModbusDeviceDriver {
    const key = lineKey(config);
    let entry = this.lines.get(key);
    if (!entry) {
      const line = new ModbusLine({
        config,
        clock: this.ctx.clock,
        log: this.ctx.log,
        ...(this.ctx.reconnect ? { reconnect: this.ctx.reconnect } : {}),
      });
      entry = { line, users: 0 };
      this.lines.set(key, entry);
    }
    entry.users++;
    const held = entry;
    let released = false;
    return {
      line: held.line,
      unitId,
      release: async () => {
        if (released) return;
        released = true;
        held.users--;
        if (held.users > 0) return;
        if (this.lines.get(key) === held) this.lines.delete(key);
        await held.line.stop();
      },
    };
  }

  /** Lines currently held, for health output and tests. */
  size(): number {
    return this.lines.size;
  }

  async stopAll(): Promise<void> {
    const entries = [...this.lines.values()];
    this.lines.clear();
    await Promise.all(entries.map((e) => e.line.stop()));
  }
}
