import { EventEmitter } from 'node:events';
import type { DeviceConfig } from '../config/schema.js';
import type { TimerHandle } from '../kernel/clock.js';
import { SimulatedMqttDevice, type CommandReply, type SimulatedDeviceOptions } from './mqtt-device.js';

type Base = Omit<SimulatedDeviceOptions, 'deviceId' | 'initialState' | 'commands' | 'extraSubscriptions'>;

/**
 * How long the simulated robot takes, in seconds of (injected) clock time before `speed`.
 * A delivery robot in a corridor moves at about 0.5–1 m/s and stops 10–20 s at a seat
 * while its tray is emptied; the legs below are those of a small evaluation area.
 */
export interface RobotTiming {
  /** Leaving the dock after a dispatch. */
  departSeconds: number;
  /** Dock → the door, and back. */
  legSeconds: number;
  /** Through the open door into (or out of) the area. */
  passSeconds: number;
  /** To the next seat and the time spent there. */
  seatSeconds: number;
  /** The longest wait at a closed door; then the task fails with `door-not-opened`. */
  doorTimeoutSeconds: number;
}

export const ROBOT_TIMING: RobotTiming = { departSeconds: 2, legSeconds: 40, passSeconds: 5, seatSeconds: 15, doorTimeoutSeconds: 60 };

export interface RobotSimOptions {
  /** Divides every duration (the demo: 10 makes a 3-minute run take 18 s). */
  speed?: number;
  timing?: Partial<RobotTiming>;
  /** Battery percent at start, what one move costs, and where the robot reports battery-low. */
  battery?: number;
  drainPerMove?: number;
  lowBattery?: number;
  /** Charge gained per minute at the dock (percent). */
  chargePerMinute?: number;
}

interface Stop {
  room: string;
  seat: number;
  items: string[];
}

interface Job {
  taskId: string;
  door: string;
  stops: Stop[];
  /** The next move to make, and when it was due (for a park in the middle of it). */
  next: (() => Promise<void>) | null;
  dueAt: number;
  /** Waiting at the door on the way in or out. */
  waitingDoor: 'in' | 'out' | null;
}

/**
 * The meal-delivery robot (docs/robot.md, "Simulator"). It takes one task at a time and
 * reports each step as a `task` event: dispatched, at-door, in-area, delivered per seat,
 * returned, or failed with a reason. At the door it emits the Node event `'at-door'`
 * `(doorId, robotId)` and waits for `doorOpened(doorId)`: in a real site the door reader
 * recognises the robot, here `simulators/run.ts` wires the two simulators together. Every
 * duration runs on the injected clock, divided by `speed`. `park` (the fire reaction) and
 * `stop` hold it where it is; `resume` goes on.
 */
export class RobotSimulator extends SimulatedMqttDevice {
  private readonly emitter = new EventEmitter();
  private readonly timing: RobotTiming;
  private readonly speed: number;
  private readonly drain: number;
  private readonly low: number;
  private readonly chargePerMinute: number;
  private job: Job | null = null;
  private timer: TimerHandle | null = null;
  private charger: TimerHandle | null = null;
  private parked = false;
  private battery: number;

  constructor(base: SimulatedDeviceOptions, opts: RobotSimOptions = {}) {
    super(base);
    this.timing = { ...ROBOT_TIMING, ...opts.timing };
    this.speed = opts.speed && opts.speed > 0 ? opts.speed : 1;
    this.battery = opts.battery ?? 96;
    this.drain = opts.drainPerMove ?? 0.5;
    this.low = opts.lowBattery ?? 20;
    this.chargePerMinute = opts.chargePerMinute ?? 2;
    this.state = { ...this.state, position: 'dock', battery: this.battery, taskId: null, parked: false };
  }

  on(event: 'at-door', listener: (doorId: string, robotId: string) => void): this {
    this.emitter.on(event, listener);
    return this;
  }

  off(event: 'at-door', listener: (doorId: string, robotId: string) => void): this {
    this.emitter.off(event, listener);
    return this;
  }

  /** The task it carries now, or null. */
  currentTask(): string | null {
    return this.job?.taskId ?? null;
  }

  /** The door it waits at has opened: it goes through. */
  doorOpened(doorId: string): void {
    const job = this.job;
    if (!job || job.door !== doorId || job.waitingDoor === null || this.parked) return;
    const way = job.waitingDoor;
    job.waitingDoor = null;
    this.later(way === 'in' ? () => this.enterArea() : () => this.leaveArea(), this.timing.passSeconds);
  }

  /** Drains the battery to `level` and reports battery-low (tests, the demo's console). */
  async batteryLow(level = this.low - 1): Promise<void> {
    this.battery = level;
    await this.lowBattery();
  }

  /** Reports a fault and drops its task (tests, the demo). */
  async fault(code = 'E-DRIVE'): Promise<void> {
    const taskId = this.job?.taskId;
    this.dropJob();
    await this.event('fault', { code, ...(taskId ? { taskId } : {}) });
    await this.setState({ position: 'dock', taskId: null });
  }

  override async stop(): Promise<void> {
    this.timer?.cancel();
    this.charger?.cancel();
    this.timer = this.charger = null;
    await super.stop();
  }

  // --- commands ---

  async dispatch(args: Record<string, unknown>): Promise<CommandReply> {
    const taskId = String(args.taskId);
    if (this.job?.taskId === taskId) return { ok: true, result: { taskId, already: true } };
    if (this.job) return { ok: false, error: `busy with task ${this.job.taskId}` };
    if (this.battery < this.low) return { ok: false, error: `battery low (${Math.round(this.battery)}%)` };
    const stops = Array.isArray(args.stops) ? (args.stops as Stop[]) : [];
    // A new order after a park (the fire has cleared) is a decision to move again.
    this.parked = false;
    this.charger?.cancel();
    this.charger = null;
    this.job = { taskId, door: String(args.door), stops, next: null, dueAt: 0, waitingDoor: null };
    this.later(() => this.depart(), this.timing.departSeconds);
    return { ok: true, result: { taskId, etaSeconds: this.etaSeconds(stops.length) } };
  }

  async cancel(args: Record<string, unknown>): Promise<CommandReply> {
    if (this.job?.taskId !== args.taskId) return { ok: true, result: { carried: false } };
    this.dropJob();
    await this.setState({ position: 'dock', taskId: null });
    this.startCharging();
    return { ok: true, result: { carried: true } };
  }

  async park(): Promise<CommandReply> {
    if (!this.parked) {
      this.parked = true;
      if (this.timer) {
        this.timer.cancel();
        this.timer = null;
      }
    }
    await this.setState({ parked: true });
    return { ok: true };
  }

  async resume(): Promise<CommandReply> {
    if (this.parked) {
      this.parked = false;
      const job = this.job;
      if (job?.next) {
        const remaining = Math.max(0, job.dueAt - this.opts.clock.now());
        this.arm(job.next, remaining);
      } else if (job?.waitingDoor) {
        // Still at the door: ask again, and wait afresh.
        this.atDoor(job.waitingDoor);
      }
    }
    await this.setState({ parked: false });
    return { ok: true };
  }

  async goHome(): Promise<CommandReply> {
    this.dropJob();
    this.parked = false;
    await this.setState({ position: 'dock', taskId: null, parked: false });
    this.startCharging();
    return { ok: true };
  }

  // --- the moves ---

  private etaSeconds(seats: number): number {
    const t = this.timing;
    return Math.round((t.departSeconds + 2 * t.legSeconds + 2 * t.passSeconds + (seats + 1) * t.seatSeconds) / this.speed);
  }

  /** Runs `move` after `seconds` (scaled), unless parked meanwhile (then it waits for resume). */
  private later(move: () => Promise<void>, seconds: number): void {
    this.arm(move, (seconds * 1000) / this.speed);
  }

  private arm(move: () => Promise<void>, ms: number): void {
    const job = this.job;
    if (!job) return;
    job.next = move;
    job.dueAt = this.opts.clock.now() + ms;
    if (this.parked) return;
    this.timer?.cancel();
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = null;
      if (this.job !== job || this.parked) return;
      job.next = null;
      move().catch((err: unknown) => this.opts.log.debug({ deviceId: this.deviceId, err }, 'robot simulator move failed'));
    }, ms);
  }

  private async report(state: string, fields: Record<string, unknown> = {}): Promise<void> {
    const job = this.job;
    if (!job) return;
    await this.event('task', { taskId: job.taskId, state, ...fields });
  }

  /** One move's cost; false when it ran low (it then reports and goes home). */
  private async move(position: string): Promise<boolean> {
    this.battery = Math.max(0, this.battery - this.drain);
    await this.setState({ position, battery: Math.round(this.battery * 10) / 10, taskId: this.job?.taskId ?? null });
    if (this.battery < this.low) {
      await this.lowBattery();
      return false;
    }
    return true;
  }

  private async lowBattery(): Promise<void> {
    const taskId = this.job?.taskId;
    this.dropJob();
    await this.event('battery-low', { battery: Math.round(this.battery * 10) / 10, ...(taskId ? { taskId } : {}) });
    await this.setState({ position: 'dock', battery: Math.round(this.battery * 10) / 10, taskId: null });
    this.startCharging();
  }

  private async depart(): Promise<void> {
    await this.report('dispatched');
    if (!(await this.move('corridor'))) return;
    this.later(() => this.reachDoor('in'), this.timing.legSeconds);
  }

  private async reachDoor(way: 'in' | 'out'): Promise<void> {
    if (!(await this.move(way === 'in' ? 'door-outside' : 'door-inside'))) return;
    if (way === 'in') await this.report('at-door');
    this.atDoor(way);
  }

  private atDoor(way: 'in' | 'out'): void {
    const job = this.job;
    if (!job) return;
    job.waitingDoor = way;
    const timeout = this.opts.clock.setTimeout(
      () => {
        if (this.job !== job || job.waitingDoor === null || this.parked) return;
        this.fail('door-not-opened').catch((err: unknown) => this.opts.log.debug({ deviceId: this.deviceId, err }, 'robot simulator report failed'));
      },
      (this.timing.doorTimeoutSeconds * 1000) / this.speed,
    );
    this.timer?.cancel();
    this.timer = timeout;
    this.emitter.emit('at-door', job.door, this.deviceId);
  }

  private async enterArea(): Promise<void> {
    if (!(await this.move('area'))) return;
    await this.report('in-area');
    this.later(() => this.serve(0), this.timing.seatSeconds);
  }

  private async serve(i: number): Promise<void> {
    const job = this.job;
    const stop = job?.stops[i];
    if (!job || !stop) return;
    if (!(await this.move(`${stop.room}#${stop.seat}`))) return;
    await this.report('delivered', { room: stop.room, seat: stop.seat });
    if (i + 1 < job.stops.length) this.later(() => this.serve(i + 1), this.timing.seatSeconds);
    else this.later(() => this.reachDoor('out'), this.timing.seatSeconds);
  }

  private async leaveArea(): Promise<void> {
    if (!(await this.move('corridor'))) return;
    this.later(async () => {
      await this.report('returned');
      this.dropJob();
      await this.setState({ position: 'dock', taskId: null });
      this.startCharging();
    }, this.timing.legSeconds);
  }

  private async fail(reason: string): Promise<void> {
    await this.report('failed', { reason });
    this.dropJob();
    await this.setState({ position: 'dock', taskId: null });
    this.startCharging();
  }

  private dropJob(): void {
    this.timer?.cancel();
    this.timer = null;
    this.job = null;
  }

  private startCharging(): void {
    if (this.charger || this.chargePerMinute <= 0) return;
    this.charger = this.opts.clock.setInterval(() => {
      if (this.job || this.battery >= 100) return;
      this.battery = Math.min(100, this.battery + this.chargePerMinute);
      void this.setState({ battery: Math.round(this.battery * 10) / 10 }).catch(() => undefined);
    }, 60_000 / this.speed);
  }
}

/** The demo's robot (simulators/run.ts): `speed` from the caller, e.g. 10 in the demo. */
export function robotSimulator(config: DeviceConfig, base: Base, opts: RobotSimOptions = {}): RobotSimulator {
  const sim: RobotSimulator = new RobotSimulator(
    {
      ...base,
      deviceId: config.id,
      commands: {
        dispatch: (args) => sim.dispatch(args),
        cancel: (args) => sim.cancel(args),
        park: () => sim.park(),
        stop: () => sim.park(),
        resume: () => sim.resume(),
        return: () => sim.goHome(),
      },
    },
    opts,
  );
  return sim;
}
