import { randomUUID } from 'node:crypto';
import type { Bus } from '../kernel/bus.js';
import type { Clock, TimerHandle } from '../kernel/clock.js';
import type { HubEvents } from './events.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Actor, EventLog } from './store/events.js';
import type { Store } from './store/store.js';
import type { CommandAnswer, CommandOutcome, CommandOutcomeKind, CommandRequest, DeviceCommands, IngestOutcome } from '../devices/seam.js';

interface Pending {
  deviceId: string;
  resolve: (a: CommandAnswer | 'stopping') => void;
}

/**
 * Every hub → device command is a ledger entry (id, device, command, issuer, deadline,
 * attempts, outcome) written before it is sent and closed when it is acknowledged, refused
 * or timed out, so that every command's fate is known, in the store and in the event log.
 */
export class CommandLedger implements DeviceCommands {
  private readonly pending = new Map<string, Pending>();
  private readonly finished = new Set<string>();
  private stopping = false;

  constructor(
    private readonly deps: {
      store: Store;
      events: EventLog;
      clock: Clock;
      log: Logger;
      metrics: Metrics;
      bus: Bus<HubEvents>;
      defaults: { timeoutMs: number; retries: number };
    },
  ) {}

  /** Marks commands left pending by a previous run; they can no longer be answered. */
  async abandonPending(): Promise<number> {
    const { store, events, clock } = this.deps;
    return store.write(() => {
      const rows = store.stmt("SELECT id, device_id, cmd FROM commands WHERE status = 'pending'").all() as { id: string; device_id: string; cmd: string }[];
      for (const r of rows) {
        store.stmt("UPDATE commands SET status = 'abandoned', error = 'hub restarted', finished_at = ? WHERE id = ?").run(clock.now(), r.id);
        events.appendInTx({ type: 'command.abandoned', actor: 'hub', deviceId: r.device_id, data: { id: r.id, cmd: r.cmd, reason: 'hub restarted before an answer' } });
      }
      return rows.length;
    });
  }

  /**
   * The hub is stopping: every command still waiting for a device's answer is closed now as
   * `abandoned` (recorded), and new ones are not sent. A feature finishing its work at stop
   * must not wait out the device timeouts (on the hub's clock, which a test may hold still),
   * and a device that answers later is answered by the next run's `abandonPending` anyway.
   */
  stopWaiting(): void {
    this.stopping = true;
    for (const p of [...this.pending.values()]) p.resolve('stopping');
  }

  /**
   * Sends over a transport that answers asynchronously (MQTT `cmd` → `cmd/ack`):
   * `send` publishes one attempt; `ack()` completes it.
   */
  async dispatch(req: CommandRequest, send: (message: { id: string; cmd: string; args: Record<string, unknown> }) => Promise<void>): Promise<CommandOutcome> {
    const timeoutMs = req.timeoutMs ?? this.deps.defaults.timeoutMs;
    const retries = req.retries ?? this.deps.defaults.retries;
    const id = randomUUID();
    const started = this.deps.clock.now();
    await this.open(id, req, started + timeoutMs * (retries + 1));
    let attempts = 0;
    let answer: CommandAnswer | 'timeout' | 'stopping' = this.stopping ? 'stopping' : 'timeout';
    try {
      while (answer !== 'stopping' && attempts <= retries) {
        attempts++;
        const waiting = this.waitForAck(id, req.deviceId, timeoutMs);
        try {
          // The same id on every attempt: a device that already executed it answers again
          // without executing twice.
          await send({ id, cmd: req.cmd, args: req.args });
        } catch (err) {
          waiting.cancel();
          answer = { ok: false, error: `not sent: ${String(err)}` };
          break;
        }
        answer = await waiting.promise;
        if (answer !== 'timeout') break;
      }
    } finally {
      this.pending.delete(id);
    }
    if (answer === 'stopping') return this.close(id, req, started, attempts, 'abandoned', { ok: false, error: 'the hub stopped before an answer' });
    const outcome: CommandOutcomeKind = answer === 'timeout' ? 'timeout' : answer.ok ? 'acked' : 'failed';
    return this.close(id, req, started, attempts, outcome, answer === 'timeout' ? undefined : answer);
  }

  /** Runs a command through a driver that answers directly (Modbus, serial). */
  async run(req: CommandRequest, exec: () => Promise<CommandAnswer | 'unavailable' | 'timeout'>): Promise<CommandOutcome> {
    const id = randomUUID();
    const started = this.deps.clock.now();
    await this.open(id, req, started + (req.timeoutMs ?? this.deps.defaults.timeoutMs));
    let answer: CommandAnswer | 'unavailable' | 'timeout';
    try {
      answer = await exec();
    } catch (err) {
      answer = { ok: false, error: String(err) };
    }
    if (answer === 'unavailable' || answer === 'timeout') return this.close(id, req, started, 1, answer, undefined);
    return this.close(id, req, started, 1, answer.ok ? 'acked' : 'failed', answer);
  }

  /** Records a command refused before sending (device unavailable). */
  async refuse(req: CommandRequest, outcome: 'unavailable', error: string): Promise<CommandOutcome> {
    const id = randomUUID();
    const started = this.deps.clock.now();
    await this.open(id, req, started);
    return this.close(id, req, started, 0, outcome, { ok: false, error });
  }

  /** A `cmd/ack` from a device. */
  ack(deviceId: string, payload: unknown): IngestOutcome {
    if (payload === null || typeof payload !== 'object') return { accepted: false, reason: 'ack must be an object' };
    const p = payload as Record<string, unknown>;
    if (typeof p.id !== 'string' || p.id === '') return { accepted: false, reason: 'ack.id must be a non-empty string' };
    if (typeof p.ok !== 'boolean') return { accepted: false, reason: 'ack.ok must be a boolean' };
    if (p.error !== undefined && typeof p.error !== 'string') return { accepted: false, reason: 'ack.error must be a string' };
    const pending = this.pending.get(p.id);
    if (!pending) {
      if (this.finished.has(p.id)) return { accepted: true }; // a late duplicate of an answered attempt
      return { accepted: false, reason: `unknown command id ${p.id}` };
    }
    if (pending.deviceId !== deviceId) return { accepted: false, reason: `command ${p.id} was not sent to ${deviceId}` };
    const result = p.result !== null && typeof p.result === 'object' ? (p.result as Record<string, unknown>) : undefined;
    pending.resolve({ ok: p.ok, ...(typeof p.error === 'string' ? { error: p.error } : {}), ...(result ? { result } : {}) });
    return { accepted: true };
  }

  pendingCount(): number {
    return this.pending.size;
  }

  private waitForAck(id: string, deviceId: string, timeoutMs: number): { promise: Promise<CommandAnswer | 'timeout' | 'stopping'>; cancel: () => void } {
    let timer: TimerHandle | null = null;
    const promise = new Promise<CommandAnswer | 'timeout' | 'stopping'>((resolve) => {
      timer = this.deps.clock.setTimeout(() => resolve('timeout'), timeoutMs);
      this.pending.set(id, {
        deviceId,
        resolve: (a) => {
          timer?.cancel();
          resolve(a);
        },
      });
    });
    return { promise, cancel: () => timer?.cancel() };
  }

  private async open(id: string, req: CommandRequest, deadline: number): Promise<void> {
    const { store, events, clock } = this.deps;
    await store.write(() => {
      store.db
        .prepare("INSERT INTO commands (id, device_id, cmd, args, issuer, session_id, created_at, deadline, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')")
        .run(id, req.deviceId, req.cmd, JSON.stringify(req.args), req.issuer, req.sessionIds?.[0] ?? null, clock.now(), deadline);
      events.appendInTx({ type: 'command.sent', actor: req.issuer as Actor, deviceId: req.deviceId, sessionIds: req.sessionIds ?? [], data: { id, cmd: req.cmd, args: req.args } });
    });
  }

  private async close(id: string, req: CommandRequest, started: number, attempts: number, outcome: CommandOutcomeKind, answer: CommandAnswer | undefined): Promise<CommandOutcome> {
    const { store, events, clock, metrics, bus, log } = this.deps;
    const latencyMs = clock.now() - started;
    const error = answer?.error ?? (outcome === 'timeout' ? `no answer after ${attempts} attempt(s)` : undefined);
    this.finished.add(id);
    if (this.finished.size > 10_000) this.finished.delete(this.finished.values().next().value as string);
    await store.write(() => {
      store.stmt('UPDATE commands SET status = ?, attempts = ?, error = ?, finished_at = ? WHERE id = ?').run(outcome, attempts, error ?? null, clock.now(), id);
      events.appendInTx({
        type: 'command.finished',
        actor: req.issuer as Actor,
        deviceId: req.deviceId,
        sessionIds: req.sessionIds ?? [],
        data: { id, cmd: req.cmd, outcome, attempts, latencyMs, ...(error ? { error } : {}), ...(answer?.result ? { result: answer.result } : {}) },
      });
    });
    metrics.commands.inc({ outcome });
    metrics.commandLatency.observe({ device_kind: req.deviceKind, outcome }, latencyMs / 1000);
    if (outcome !== 'acked') log.warn({ id, deviceId: req.deviceId, cmd: req.cmd, outcome, error }, 'command not acknowledged');
    bus.emit('command.finished', { id, deviceId: req.deviceId, cmd: req.cmd, outcome, latencyMs, ...(error ? { error } : {}) });
    return { id, outcome, ok: outcome === 'acked', attempts, latencyMs, ...(error ? { error } : {}), ...(answer?.result ? { result: answer.result } : {}) };
  }
}
