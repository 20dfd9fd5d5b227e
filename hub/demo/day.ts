/**
 * The living demo: a working day at the centre that never runs dry, so a console left open
 * for hours still shows gates granting, rooms filling and emptying, announcements and the
 * odd warning. The one-off seed it replaces ran out in about ten minutes (every expert
 * walked out, re-entry is refused, only denials remained).
 *
 * What it does, every clock minute (the injected clock: a test moves through hours at once):
 * - keeps `openSessions` evaluation sessions not yet closed: when one closes, a new one is
 *   created (as the trading platform would push it) with a fresh roster;
 * - plays each session's experts arriving at the gates between check-in opening and the
 *   start, a realistic mix: most are granted and walk through; about one in eight first
 *   shows a face that does not match (denied, then tries again), about one in eight comes
 *   before check-in opens (denied "outside the window", comes back later); now and then
 *   someone not on any roster tries a gate;
 * - walks a session's experts out when it closes;
 * - now and then has a supervisor warn a room in progress (through the real broadcast
 *   service, when there is one); the scheduled announcements come from the facility's own
 *   `broadcast.announcements` as on any day.
 *
 * Names and ID numbers are synthetic (simulators/demo-people.ts), never real people.
 */
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { Logger } from '../../kernel/log.js';
import type { Facility } from '../../config/schema.js';
import type { Session, Sessions } from '../sessions/sessions.js';
import type { CheckIn } from '../checkin/checkin.js';
import type { BroadcastFeature } from '../broadcast/feature.js';
import type { User } from '../users.js';
import { demoPerson, type DemoPerson } from '../../simulators/demo-people.js';
import type { Presentation, VerifyResult } from '../../simulators/gate.js';

const MINUTE = 60_000;
/** The demo looks at its plan once a clock minute. */
const TICK_MS = MINUTE;
/** A new session starts this long after it is created (with check-in opening 60 min before, early arrivals happen). */
const LEAD_MIN = 90;
/** Session lengths cycle through these (minutes). */
const LENGTHS_MIN = [120, 150, 105, 180];
/** A supervisor warning about every this many minutes, when someone is seated. */
const WARN_EVERY_MIN = 47;
/** Someone not on any roster tries a gate about every this many minutes. */
const STRANGER_EVERY_MIN = 97;
/** Index ranges of synthetic people: rostered experts, and strangers (never on a roster). */
const EXPERT_BASE = 1_000;
const STRANGER_BASE = 900_000;

/** A gate the demo can walk people through (the gate simulator). */
export interface DemoGate {
  readonly deviceId: string;
  present(person: DemoPerson, p?: Presentation): Promise<VerifyResult>;
  exit(idNumber: string): Promise<void>;
}

export interface DemoDayDeps {
  facility: Facility;
  sessions: Pick<Sessions, 'list' | 'get' | 'create'>;
  checkin: Pick<CheckIn, 'validateRoster' | 'replaceRoster'>;
  clock: Clock;
  log: Logger;
  gates: DemoGate[];
  /** Has a supervisor warn the rooms of this session (the broadcast service). */
  warn?: (sessionId: string) => Promise<unknown>;
  /** Sessions kept open at once (default 3). */
  openSessions?: number;
  /** Experts per session (default: one per room, at most 4). */
  expertsPerSession?: number;
}

type ArrivalKind = 'grant' | 'wrong-face' | 'early';

interface Arrival {
  at: number;
  sessionId: string;
  person: DemoPerson;
  kind: ArrivalKind;
  /** The retry after a denial is a plain arrival. */
}

export interface DemoDayStats {
  sessionsCreated: number;
  presented: number;
  granted: number;
  denied: Record<string, number>;
  exits: number;
  warnings: number;
  warningsFailed: number;
  /** Why the last warning did not play, if one did not. */
  lastWarningError?: string;
}

export class DemoDay {
  private timer: TimerHandle | null = null;
  private running = false;
  private readonly arrivals: Arrival[] = [];
  /** Sessions this demo planned, with who of them is inside (and through which gate). */
  private readonly planned = new Map<string, { inside: Map<string, { person: DemoPerson; gate: DemoGate }> }>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private nextWarnAt = 0;
  private nextStrangerAt = 0;
  private strangers = 0;
  private gateTurn = 0;
  readonly stats: DemoDayStats = { sessionsCreated: 0, presented: 0, granted: 0, denied: {}, exits: 0, warnings: 0, warningsFailed: 0 };

  constructor(private readonly deps: DemoDayDeps) {
    if (deps.gates.length === 0) throw new Error('the demo day needs at least one simulated gate');
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const now = this.deps.clock.now();
    this.nextWarnAt = now + 15 * MINUTE;
    this.nextStrangerAt = now + 7 * MINUTE;
    await this.tick();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
    await this.settle();
  }

  /** Resolves once every arrival, exit and warning started so far has finished (tests). */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = null;
      this.track(this.tick().catch((err: unknown) => this.deps.log.warn({ err }, 'demo step failed')));
      this.schedule();
    }, TICK_MS);
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    const now = this.deps.clock.now();
    this.walkOutClosed();
    await this.topUp(now);
    for (const a of this.arrivals.filter((x) => x.at <= now)) {
      this.arrivals.splice(this.arrivals.indexOf(a), 1);
      this.track(this.arrive(a));
    }
    if (now >= this.nextStrangerAt) {
      this.nextStrangerAt = now + STRANGER_EVERY_MIN * MINUTE;
      this.track(this.present(this.gate(), demoPerson(STRANGER_BASE + this.strangers++), {}, null));
    }
    if (now >= this.nextWarnAt && this.deps.warn) {
      const seated = [...this.planned].find(([id, p]) => p.inside.size > 0 && this.deps.sessions.get(id)?.status === 'in-progress');
      if (seated) {
        this.nextWarnAt = now + WARN_EVERY_MIN * MINUTE;
        const warn = this.deps.warn;
        this.track(
          warn(seated[0]).then(
            () => this.stats.warnings++,
            (err: unknown) => {
              this.stats.warningsFailed++;
              this.stats.lastWarningError = err instanceof Error ? err.message : String(err);
              this.deps.log.info({ err: this.stats.lastWarningError }, 'demo warning not played');
            },
          ),
        );
      }
    }
  }

  /** Keeps `openSessions` of this demo's sessions not closed, creating the next as one closes. */
  private async topUp(now: number): Promise<void> {
    const want = this.deps.openSessions ?? 3;
    const open = [...this.planned.keys()].filter((id) => this.deps.sessions.get(id)?.status !== 'closed').length;
    for (let i = open; i < want; i++) {
      // Staggered: the first ones of a fresh start begin 20, 55, 90 min later; later ones LEAD_MIN after creation.
      const lead = this.stats.sessionsCreated < want ? Math.min(LEAD_MIN, 20 + i * 35) : LEAD_MIN;
      await this.createSession(now, lead);
    }
  }

  private async createSession(now: number, leadMin: number): Promise<void> {
    const { facility, sessions, checkin } = this.deps;
    const seq = sessions.list().length + 1;
    const rooms = facility.rooms.map((r) => r.id);
    const count = this.deps.expertsPerSession ?? Math.max(1, Math.min(4, rooms.length));
    const lengthMin = LENGTHS_MIN[seq % LENGTHS_MIN.length]!;
    const start = now + leadMin * MINUTE;
    const day = new Date(now).toISOString().slice(0, 10).replaceAll('-', '');
    const { session } = await sessions.create(
      { code: `YJ-${day}-${String(seq).padStart(3, '0')}`, name: `${PROJECTS[seq % PROJECTS.length]!}（演示）`, start, end: start + lengthMin * MINUTE, rooms },
      'automation:demo',
    );
    const people = Array.from({ length: count }, (_, i) => demoPerson(EXPERT_BASE + seq * 8 + i));
    const { entries, errors } = checkin.validateRoster(people.map((p) => ({ name: p.name, idNumber: p.idNumber })));
    if (errors.length) throw new Error(`demo roster invalid: ${JSON.stringify(errors)}`);
    await checkin.replaceRoster(session.id, entries, 'automation:demo');
    this.planned.set(session.id, { inside: new Map() });
    this.stats.sessionsCreated++;
    this.planArrivals(session, people, now, seq);
    this.deps.log.info({ sessionId: session.id, code: session.code, experts: count }, 'demo session created');
  }

  /** Spreads the experts' arrivals between check-in opening and a few minutes before the start. */
  private planArrivals(session: Session, people: DemoPerson[], now: number, seq: number): void {
    const opens = Math.max(now + MINUTE, session.start - session.opensMinutes * MINUTE);
    const last = session.start - 3 * MINUTE;
    const span = Math.max(0, last - opens);
    people.forEach((person, i) => {
      const at = opens + Math.round((span * (i + 0.5)) / people.length / MINUTE) * MINUTE;
      const k = (seq * 3 + i) % 8;
      // About one in eight each: a face that does not match, and too early (before check-in opens).
      const kind: ArrivalKind = k === 3 ? 'wrong-face' : k === 6 && opens > now + 10 * MINUTE ? 'early' : 'grant';
      if (kind === 'early') this.arrivals.push({ at: opens - 10 * MINUTE, sessionId: session.id, person, kind });
      this.arrivals.push({ at, sessionId: session.id, person, kind: kind === 'early' ? 'grant' : kind });
    });
  }

  private async arrive(a: Arrival): Promise<void> {
    const plan = this.planned.get(a.sessionId);
    if (!plan || plan.inside.has(a.person.idNumber)) return;
    const gate = this.gate();
    if (a.kind === 'wrong-face') {
      await this.present(gate, a.person, { faceScore: 0.41 }, null);
      // Tries again two minutes later, and the face matches this time.
      this.arrivals.push({ ...a, at: this.deps.clock.now() + 2 * MINUTE, kind: 'grant' });
      return;
    }
    if (a.kind === 'early') {
      await this.present(gate, a.person, {}, null);
      return;
    }
    await this.present(gate, a.person, {}, a.sessionId);
  }

  private async present(gate: DemoGate, person: DemoPerson, p: Presentation, sessionId: string | null): Promise<void> {
    this.stats.presented++;
    const r = await gate.present(person, p);
    if (r.decision === 'grant') {
      this.stats.granted++;
      const plan = (r.sessionId ? this.planned.get(r.sessionId) : undefined) ?? (sessionId ? this.planned.get(sessionId) : undefined);
      plan?.inside.set(person.idNumber, { person, gate });
    } else {
      this.stats.denied[r.reason] = (this.stats.denied[r.reason] ?? 0) + 1;
    }
  }

  private walkOutClosed(): void {
    for (const [id, plan] of this.planned) {
      if (this.deps.sessions.get(id)?.status !== 'closed') continue;
      for (const { person, gate } of plan.inside.values()) {
        this.stats.exits++;
        this.track(gate.exit(person.idNumber));
      }
      this.planned.delete(id);
    }
  }

  private gate(): DemoGate {
    const g = this.deps.gates[this.gateTurn % this.deps.gates.length]!;
    this.gateTurn++;
    return g;
  }
}

/** Projects of the kind a county trading centre evaluates (synthetic). */
const PROJECTS = [
  '县第一高级中学教学楼改造工程施工',
  '城区污水管网改造工程监理',
  '乡镇卫生院医疗设备采购',
  '农村公路养护服务采购',
  '人民公园景观提升工程设计',
  '第二实验小学食堂食材配送服务',
  '县医院信息化系统运维服务',
  '黄河滩区高标准农田建设项目',
];

/** The supervisor the demo's warnings are made in the name of. */
const DEMO_SUPERVISOR: User = { username: 'demo-supervisor', displayName: '演示监督员', role: 'supervisor' };

/** A warning to a session's rooms through the real broadcast service (the first catalogue message). */
export function demoWarner(broadcast: BroadcastFeature, facility: Facility): (sessionId: string) => Promise<unknown> {
  return async (sessionId) => {
    const service = broadcast.service();
    if (!service) throw new Error('the broadcast service is not running');
    const messageId = facility.broadcast?.messages?.[0]?.id;
    const what = messageId !== undefined ? { messageId } : { text: '请遵守评标纪律，独立评审。' };
    return service.warn({ sessionId, ...what, reason: '演示：例行纪律提醒 (demo: routine reminder)' }, DEMO_SUPERVISOR);
  };
}
