/**
 * The sealed-area door controller, simulated as a real one behaves (docs/door.md): an
 * electric lock and a door contact. Someone at the reader (`requestOpen`: the robot's badge,
 * a card, the exit button) makes it publish an `open-request` and wait for the hub: on
 * `grant` it unlocks, the door opens (`opened`), stays open for the passage time, closes
 * (`closed`) and relocks, reporting its state at each step; on `deny` it stays locked. A
 * door left open past the hold time reports `held-open`; a contact that opens while locked
 * reports `forced-open`. `unlock` (the fire feature) keeps it unlocked until `lock`.
 * Node events `'opened'`, `'closed'` and `'denied'` let the simulated world (the robot
 * simulator, in simulators/run.ts) follow the door. Time is the injected clock.
 */
import { EventEmitter } from 'node:events';
import type { TimerHandle } from '../kernel/clock.js';
import type { DeviceConfig } from '../config/schema.js';
import { SimulatedMqttDevice, type CommandReply, type SimulatedDeviceOptions } from './mqtt-device.js';

type Base = Omit<SimulatedDeviceOptions, 'deviceId' | 'initialState' | 'commands' | 'extraSubscriptions'>;

export interface DoorRequester {
  kind: 'robot' | 'card' | 'button' | 'key' | 'remote' | 'unknown';
  id: string;
}

export interface DoorSimOptions {
  /** How long the door stays open for one passage (ms). */
  passageMs?: number;
  /** Open longer than this and it reports held-open (ms). */
  holdOpenMs?: number;
}

export interface DoorSimEvents {
  opened: [doorId: string, requester: DoorRequester | null];
  closed: [doorId: string];
  denied: [doorId: string, requestId: string, reason: string];
}

const DEFAULT_PASSAGE_MS = 5000; // 5 s: a person or the robot walks through
const DEFAULT_HOLD_OPEN_MS = 30_000; // 30 s

export class DoorSimulator extends SimulatedMqttDevice {
  private readonly emitter = new EventEmitter();
  private readonly pending = new Map<string, DoorRequester>();
  private readonly passageMs: number;
  private readonly holdOpenMs: number;
  /** `unlock` holds the door unlocked (fire) until `lock`; a passage relocks only a secured door. */
  private heldUnlocked = false;
  /** A lock that no longer engages (tests: the hub must notice). */
  private jammed = false;
  private passage: TimerHandle | null = null;
  private hold: TimerHandle | null = null;
  private seq = 0;
  readonly denials: { requestId: string; reason: string }[] = [];

  constructor(base: Base & { deviceId: string }, opts: DoorSimOptions = {}) {
    // The base class takes its command table at construction, before `this` exists: the
    // handlers reach this controller through `self`, set right after.
    const self: { sim: DoorSimulator | null } = { sim: null };
    const sim = (): DoorSimulator => self.sim!;
    super({
      ...base,
      initialState: { locked: true, contact: 'closed' },
      commands: {
        grant: (args) => sim().onGrant(args),
        deny: (args) => sim().onDeny(args),
        open: async () => {
          await sim().pass({ kind: 'remote', id: 'hub' }, undefined);
          return { ok: true };
        },
        unlock: async () => {
          sim().heldUnlocked = true;
          await sim().setState({ locked: false });
          return { ok: true };
        },
        lock: async () => {
          sim().heldUnlocked = false;
          if (!sim().jammed) await sim().setState({ locked: true });
          return { ok: true };
        },
      },
    });
    self.sim = this;
    this.passageMs = opts.passageMs ?? DEFAULT_PASSAGE_MS;
    this.holdOpenMs = opts.holdOpenMs ?? DEFAULT_HOLD_OPEN_MS;
  }

  on<K extends keyof DoorSimEvents>(event: K, listener: (...args: DoorSimEvents[K]) => void): this {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof DoorSimEvents>(event: K, listener: (...args: DoorSimEvents[K]) => void): this {
    this.emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  locked(): boolean {
    return this.state.locked === true;
  }

  contact(): 'open' | 'closed' {
    return this.state.contact === 'open' ? 'open' : 'closed';
  }

  /** Someone at the reader asks to pass (as the controller would, it asks the hub); resolves with the request id. */
  async requestOpen(requester: DoorRequester): Promise<string> {
    const requestId = `${this.deviceId}-${this.opts.clock.now()}-${++this.seq}`;
    this.pending.set(requestId, requester);
    await this.event('open-request', { requestId, requester });
    return requestId;
  }

  /** The contact opens while the lock holds: someone forced the door. It stays open until close(). */
  async forceOpen(): Promise<void> {
    if (this.contact() === 'open') return;
    const wasLocked = this.locked();
    this.watchHold();
    await this.setState({ contact: 'open' });
    if (wasLocked) await this.event('forced-open');
    await this.event('opened', { by: 'unknown' });
    this.emitter.emit('opened', this.deviceId, null);
  }

  /** Someone shuts the door (after forceOpen, or a door propped open). */
  async close(): Promise<void> {
    this.passage?.cancel();
    this.passage = null;
    await this.shut();
  }

  /** The lock stops engaging (true: `lock` is acknowledged but the door stays unlocked) or works again (false). */
  async jam(on: boolean): Promise<void> {
    this.jammed = on;
    // A repaired lock engages again on a closed door that nobody holds unlocked.
    if (!on && !this.heldUnlocked && this.contact() === 'closed' && !this.locked()) await this.setState({ locked: true });
  }

  private async onDeny(args: Record<string, unknown>): Promise<CommandReply> {
    const requestId = String(args.requestId);
    if (!this.pending.delete(requestId)) return { ok: false, error: `no open-request ${requestId} is waiting` };
    const reason = String(args.reason);
    this.denials.push({ requestId, reason });
    this.emitter.emit('denied', this.deviceId, requestId, reason);
    return { ok: true };
  }

  private async onGrant(args: Record<string, unknown>): Promise<CommandReply> {
    const requestId = String(args.requestId);
    const requester = this.pending.get(requestId);
    if (!requester) return { ok: false, error: `no open-request ${requestId} is waiting` };
    this.pending.delete(requestId);
    await this.pass(requester, requestId);
    return { ok: true };
  }

  /** Unlocks, opens, and after the passage time closes and relocks (unless held unlocked). */
  private async pass(requester: DoorRequester, requestId: string | undefined): Promise<void> {
    // The timers run from the moment the door opens, before its reports are on their way.
    this.passage?.cancel();
    this.passage = this.opts.clock.setTimeout(() => {
      this.passage = null;
      void this.shut().catch(() => undefined);
    }, this.passageMs);
    this.watchHold();
    await this.setState({ locked: false, contact: 'open' });
    await this.event('opened', { by: requester.kind, ...(requestId ? { requestId } : {}) });
    this.emitter.emit('opened', this.deviceId, requester);
  }

  private watchHold(): void {
    this.hold?.cancel();
    this.hold = this.opts.clock.setTimeout(() => {
      this.hold = null;
      if (this.contact() === 'open') void this.event('held-open', { seconds: Math.round(this.holdOpenMs / 1000) }).catch(() => undefined);
    }, this.holdOpenMs);
  }

  private async shut(): Promise<void> {
    if (this.contact() === 'closed') return;
    this.hold?.cancel();
    this.hold = null;
    await this.setState({ contact: 'closed' });
    await this.event('closed');
    this.emitter.emit('closed', this.deviceId);
    if (!this.heldUnlocked && !this.jammed && !this.locked()) await this.setState({ locked: true });
  }
}

export function doorSimulator(config: DeviceConfig, base: Base, opts: DoorSimOptions = {}): DoorSimulator {
  return new DoorSimulator({ ...base, deviceId: config.id }, opts);
}
