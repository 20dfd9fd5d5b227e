import type { DeviceConfig } from '../config/schema.js';
import { SimulatedMqttDevice, type SimulatedDeviceOptions } from './mqtt-device.js';
import { badIdNumber, demoPerson, type DemoPerson } from './demo-people.js';
import type { TimerHandle } from '../kernel/clock.js';
import type { VerifyAnswer } from '../drivers/gate-verify.js';

type Base = Omit<SimulatedDeviceOptions, 'deviceId' | 'initialState' | 'commands' | 'extraSubscriptions'>;

/** What the hub answers on `verify/result` (the contract's shape). */
export type VerifyResult = VerifyAnswer;

export interface Presentation {
  faceScore?: number;
  liveness?: boolean;
  /** Walk through after a grant (publishes `passed`). */
  pass?: boolean;
  requestId?: string;
}

/**
 * A face + ID-card gate. It reads the card, compares the face (the score and liveness
 * are its own), asks the hub on `verify`, shows the answer, reports the passage as a
 * `passed` event and a person leaving as `exit`. With `arrivals` it plays a stream of
 * people: rostered experts, wrong faces, failed liveness, bad cards, early and late
 * arrivals, people leaving and trying to come back.
 */
export class GateSimulator extends SimulatedMqttDevice {
  private seq = 0;
  private readonly waiting = new Map<string, (r: VerifyResult) => void>();
  private arrivals: TimerHandle | null = null;
  readonly inside = new Map<string, { person: DemoPerson; requestId: string }>();
  readonly results: VerifyResult[] = [];
  allowList: unknown = null;

  constructor(opts: SimulatedDeviceOptions) {
    super(opts);
    this.onDeviceMessage((sub, payload) => {
      if (sub === 'allow-list') this.allowList = payload;
      if (sub !== 'verify/result') return;
      const r = payload as VerifyResult;
      this.results.push(r);
      if (this.results.length > 500) this.results.shift();
      const resolve = this.waiting.get(r.requestId);
      if (resolve) {
        this.waiting.delete(r.requestId);
        resolve(r);
      }
    });
  }

  nextRequestId(): string {
    this.seq++;
    return `${this.deviceId}-${this.opts.clock.now().toString(36)}-${this.seq}`;
  }

  /** One person at the gate: verify, wait for the answer, and walk through when granted. */
  async present(person: { name: string; idNumber: string }, p: Presentation = {}): Promise<VerifyResult> {
    const requestId = p.requestId ?? this.nextRequestId();
    const answer = new Promise<VerifyResult>((resolve, reject) => {
      this.waiting.set(requestId, resolve);
      setTimeout(() => {
        if (this.waiting.delete(requestId)) reject(new Error(`no verify/result for ${requestId}`));
      }, 10_000).unref();
    });
    await this.publish('verify', { requestId, idNumber: person.idNumber, name: person.name, faceScore: p.faceScore ?? 0.93, liveness: p.liveness ?? true, ts: this.now() });
    const r = await answer;
    if (r.decision === 'grant' && p.pass !== false) {
      await this.event('passed', { requestId });
      this.inside.set(person.idNumber, { person: { name: person.name, idNumber: person.idNumber }, requestId });
    }
    return r;
  }

  async exit(idNumber: string): Promise<void> {
    const who = this.inside.get(idNumber);
    if (!who) return;
    this.inside.delete(idNumber);
    await this.event('exit', { requestId: who.requestId });
  }

  /** Plays arrivals every intervalMs (the demo). */
  startArrivals(intervalMs: number, offset: number): void {
    let tick = offset;
    this.arrivals = this.opts.clock.setInterval(() => {
      tick++;
      void this.arrival(tick).catch((err: unknown) => this.opts.log.debug({ err }, 'demo arrival failed'));
    }, intervalMs);
  }

  override async stop(): Promise<void> {
    this.arrivals?.cancel();
    this.arrivals = null;
    await super.stop();
  }

  private async arrival(tick: number): Promise<void> {
    const kind = tick % 10;
    if (kind === 7 && this.inside.size > 0) {
      const [id] = [...this.inside.keys()];
      await this.exit(id!);
      return;
    }
    if (kind === 8) {
      // Someone who left tries to come back (or anyone inside tries again: anti-passback).
      const again = demoPerson(tick % 7);
      await this.present(again);
      return;
    }
    const person = demoPerson(tick % 13);
    switch (kind) {
      case 2:
        await this.present(person, { faceScore: 0.41 });
        return;
      case 4:
        await this.present(person, { liveness: false });
        return;
      case 5:
        await this.present({ name: person.name, idNumber: badIdNumber(tick) });
        return;
      case 9:
        await this.present(demoPerson(100 + tick)); // not on any roster
        return;
      default:
        await this.present(person);
    }
  }
}

export function gateSimulator(config: DeviceConfig, base: Base): GateSimulator {
  const sim: GateSimulator = new GateSimulator({
    ...base,
    deviceId: config.id,
    initialState: { mode: 'normal', locked: true },
    extraSubscriptions: ['verify/result', 'allow-list'],
    commands: {
      open: () => ({ ok: true }),
      lock: async () => {
        await sim.setState({ locked: true });
        return { ok: true };
      },
      unlock: async () => {
        await sim.setState({ locked: false });
        return { ok: true };
      },
      reboot: () => ({ ok: true }),
    },
  });
  return sim;
}
