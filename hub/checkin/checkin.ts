import type { Bus } from '../../kernel/bus.js';
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { HubEvents } from '../events.js';
import { maskName, type Logger } from '../log.js';
import type { Actor, EventLog } from '../store/events.js';
import type { Store } from '../store/store.js';
import type { IngestOutcome } from '../../devices/seam.js';
import type { Facility } from '../../config/schema.js';
import { HubError } from '../errors.js';
import type { IdHasher } from '../privacy.js';
import { checkIdNumber, maskIdNumber } from '../../kernel/id-number.js';
import { formatTime, parseTime } from '../../kernel/time.js';
import type { Session, Sessions } from '../sessions/sessions.js';
import { validateRoster, type RosterEntry, type RowError } from '../sessions/roster.js';
import { drawSeat, cryptoRng, type Rng } from '../sessions/seating.js';
import { SeatBook } from './seat-book.js';
import { ALLOW_KDF, GateKeys, allowEntry, allowSalt } from './allow-list.js';
import { message, type DenyReason } from './messages.js';
import { parseVerify, type VerifyAnswer, type VerifyRequest } from '../../drivers/gate-verify.js';

export type CheckinStatus = 'granted' | 'inside' | 'left' | 'expired' | 'superseded';

export interface Checkin {
  requestId: string;
  sessionId: string;
  idMasked: string;
  name: string;
  role: string;
  gateId: string;
  room: string | null;
  seat: number | null;
  status: CheckinStatus;
  offline: boolean;
  grantedAt: number;
  passedAt: number | null;
  leftAt: number | null;
}

interface CheckinRow {
  request_id: string;
  session_id: string;
  id_hash: string;
  gate_id: string;
  room: string | null;
  seat: number | null;
  status: CheckinStatus;
  offline: number;
  granted_at: number;
  passed_at: number | null;
  left_at: number | null;
}

export interface CheckInDeps {
  facility: Facility;
  store: Store;
  events: EventLog;
  sessions: Sessions;
  hasher: IdHasher;
  bus: Bus<HubEvents>;
  clock: Clock;
  log: Logger;
  /** Publishes to one of a gate's topics (`verify/result`, `allow-list`). */
  publish: (gateId: string, subtopic: 'verify/result' | 'allow-list', payload: unknown, retain: boolean) => Promise<void>;
  rng?: Rng;
  /** Asked before admitting anyone: a fire alarm refuses entry (`emergency`); exits are never refused. */
  entryGuard?: { entryRefusal(): 'emergency' | null };
}

/** How far ahead a gate's offline allow-list reaches. */
const ALLOW_LIST_HORIZON_MS = 24 * 60 * 60 * 1000;

/**
 * The check-in policy at the face + ID-card gates. A decision runs inside one store
 * transaction (the seat is drawn there, so two gates deciding at once cannot take the
 * same seat), and the answer is published only after that transaction is on disk.
 */
export class CheckIn {
  private readonly rng: Rng;
  private sweeper: TimerHandle | null = null;
  private allowListTail: Promise<void> = Promise.resolve();
  private allowListQueued: Promise<void> | null = null;
  private readonly gates: string[];
  private readonly roomName: Map<string, string>;
  /** Gates with their own face threshold (a camera that scores differently). */
  private readonly thresholds: Map<string, number>;
  private readonly seats: SeatBook;
  /** Each gate's provisioned allow-list key (issued by the CLI; none: no offline list). */
  readonly gateKeys: GateKeys;
  private keyVersions = new Map<string, number>();

  constructor(private readonly deps: CheckInDeps) {
    this.rng = deps.rng ?? cryptoRng;
    this.seats = new SeatBook(deps.store, this.passageMs);
    this.gateKeys = new GateKeys(deps.store);
    this.gates = deps.facility.devices.filter((d) => d.kind === 'gate').map((d) => d.id);
    this.roomName = new Map(deps.facility.rooms.map((r) => [r.id, r.name || r.id]));
    this.thresholds = new Map(
      deps.facility.devices.flatMap((d) => {
        const own = (d.options as { faceThreshold?: number }).faceThreshold;
        return d.kind === 'gate' && own !== undefined ? [[d.id, own] as const] : [];
      }),
    );
    deps.sessions.onClose((s, now) => {
      // Inside the closing transaction: grants nobody used expire, the seats are released.
      deps.store.stmt("UPDATE checkins SET status = 'expired' WHERE session_id = ? AND status = 'granted'").run(s.id);
      deps.store.stmt("UPDATE checkins SET status = 'left', left_at = ? WHERE session_id = ? AND status = 'inside'").run(now, s.id);
      this.seats.invalidate();
    });
  }

  private get policy() {
    return this.deps.facility.policy.checkIn;
  }

  /** How long a grant holds its seat waiting for the person to walk through. */
  private get passageMs(): number {
    return this.policy.passageTimeoutSeconds * 1000;
  }

  async start(): Promise<void> {
    await this.expireStaleGrants();
    this.keyVersions = this.gateKeys.versions();
    this.sweeper = this.deps.clock.setInterval(() => {
      this.expireStaleGrants().catch((err: unknown) => this.deps.log.error({ err }, 'grant sweep failed'));
      this.republishOnRotation();
    }, 5_000);
    await this.publishAllowLists();
  }

  stop(): void {
    this.sweeper?.cancel();
    this.sweeper = null;
  }

  // ---- roster ----

  /** Validates upload rows; ID numbers become hashes and masks here and go no further. */
  validateRoster(rows: unknown[]): { entries: RosterEntry[]; errors: RowError[] } {
    return validateRoster(rows, this.deps.hasher, this.deps.facility.site.id, this.deps.clock.now());
  }

  /**
   * Sets a session's roster. Replacing a non-empty one must be asked for (`replace`): a
   * wrong upload must not silently swap out the people the gates admit.
   */
  async replaceRoster(sessionId: string, entries: RosterEntry[], actor: Actor, opts: { replace?: boolean } = {}): Promise<{ count: number; removed: number }> {
    const { store, events, sessions } = this.deps;
    const s = sessions.get(sessionId);
    if (!s) throw new HubError('HUB_ERR_NOT_FOUND', [`session ${sessionId}`]);
    if (s.status === 'closed') throw new HubError('HUB_ERR_CONFLICT', [`session ${s.code} is closed; its roster can no longer change`]);
    const experts = entries.filter((e) => e.role !== 'observer').length;
    const problem = sessions.rosterProblem(sessionId, experts);
    if (problem) throw new HubError('HUB_ERR_UNPROCESSABLE', [`the seating rule cannot hold: ${problem}`], { rule: 'one expert of a session per room' });
    const keep = new Set(entries.map((e) => e.idHash));
    const checkedIn = store.stmt("SELECT DISTINCT id_hash FROM checkins WHERE session_id = ? AND status IN ('granted', 'inside', 'left')").all(sessionId) as { id_hash: string }[];
    const dropped = checkedIn.filter((r) => !keep.has(r.id_hash));
    if (dropped.length) throw new HubError('HUB_ERR_CONFLICT', [`${dropped.length} person(s) already checked in would be removed from the roster`]);
    const refuse = (n: number): HubError =>
      new HubError('HUB_ERR_CONFLICT', [`session ${s.code} already has a roster of ${n}; send replace=true to replace it`], { field: 'query.replace', current: n });
    const current = (): number => (store.stmt('SELECT COUNT(*) AS n FROM roster WHERE session_id = ?').get(sessionId) as { n: number }).n;
    if (!opts.replace && current() > 0) throw refuse(current());
    const seeds = await Promise.all(entries.map((e) => e.allowSeed ?? Promise.resolve(null)));
    const keys = this.gates.map((g) => this.gateKeys.get(g)).filter((k) => k !== null);
    const removed = await store.write(() => {
      // Checked again inside the transaction: another upload may have landed meanwhile.
      const before = current();
      if (!opts.replace && before > 0) return -before;
      store.stmt('DELETE FROM roster WHERE session_id = ?').run(sessionId);
      store.stmt('DELETE FROM allow_list WHERE session_id = ?').run(sessionId);
      const ins = store.stmt('INSERT INTO roster (session_id, id_hash, id_masked, name, role, allow_seed) VALUES (?, ?, ?, ?, ?, ?)');
      const allow = store.stmt('INSERT OR IGNORE INTO allow_list (gate_id, session_id, gate_hash, id_hash, id_masked) VALUES (?, ?, ?, ?, ?)');
      entries.forEach((e, i) => {
        const seed = seeds[i] ?? null;
        ins.run(sessionId, e.idHash, e.idMasked, e.name, e.role, seed);
        if (seed === null) return;
        // Only gates with a provisioned key get entries (docs/security-audit.md).
        for (const k of keys) allow.run(k.gateId, sessionId, allowEntry(k.key, seed), e.idHash, e.idMasked);
      });
      events.appendInTx({ type: 'session.roster', actor, sessionIds: [sessionId], data: { count: entries.length, experts, removed: before, people: entries.map((e) => e.idMasked) } });
      return before;
    });
    if (removed < 0) throw refuse(-removed);
    if (removed > 0) this.deps.log.info({ sessionId, count: entries.length, removed, actor }, 'roster replaced');
    else this.deps.log.info({ sessionId, count: entries.length }, 'roster set');
    await this.publishAllowLists();
    return { count: entries.length, removed };
  }

  roster(sessionId: string): { idMasked: string; name: string; role: string }[] {
    return (this.deps.store.stmt('SELECT id_masked, name, role FROM roster WHERE session_id = ? ORDER BY rowid').all(sessionId) as { id_masked: string; name: string; role: string }[]).map((r) => ({
      idMasked: r.id_masked,
      name: r.name,
      role: r.role,
    }));
  }

  checkins(sessionId: string): Checkin[] {
    const rows = this.deps.store
      .stmt('SELECT c.*, r.id_masked, r.name, r.role FROM checkins c LEFT JOIN roster r ON r.session_id = c.session_id AND r.id_hash = c.id_hash WHERE c.session_id = ? ORDER BY c.granted_at')
      .all(sessionId) as (CheckinRow & { id_masked: string | null; name: string | null; role: string | null })[];
    return rows.map((r) => ({
      requestId: r.request_id,
      sessionId: r.session_id,
      idMasked: r.id_masked ?? '',
      name: r.name ?? '',
      role: r.role ?? '',
      gateId: r.gate_id,
      room: r.room,
      seat: r.seat,
      status: r.status,
      offline: r.offline === 1,
      grantedAt: r.granted_at,
      passedAt: r.passed_at,
      leftAt: r.left_at,
    }));
  }

  /**
   * The session whose expert holds a seat now: inside, else granted and not lapsed; null
   * when nobody does. Rare (a supervisor's warning), so read from the store.
   */
  holderOf(room: string, seat: number): string | null {
    const lapsedBefore = this.deps.clock.now() - this.passageMs;
    const row = this.deps.store
      .stmt(
        "SELECT c.session_id FROM checkins c JOIN sessions s ON s.id = c.session_id WHERE s.status != 'closed' AND c.room = ? AND c.seat = ? AND (c.status = 'inside' OR (c.status = 'granted' AND c.granted_at >= ?)) ORDER BY c.status = 'inside' DESC, c.granted_at DESC LIMIT 1",
      )
      .get(room, seat, lapsedBefore) as { session_id: string } | undefined;
    return row?.session_id ?? null;
  }

  // ---- the gate's verify request ----

  /** Handles `fh/{site}/{gate}/verify`; the PUBACK follows once the answer is decided and durable. */
  async onVerify(gateId: string, payload: unknown): Promise<IngestOutcome> {
    const parsed = parseVerify(payload);
    if (!parsed.ok) {
      if (parsed.requestId) {
        const answer: VerifyAnswer = { requestId: parsed.requestId, decision: 'deny', reason: 'bad-request', message: message(this.policy.language, 'bad-request') };
        await this.deps.publish(gateId, 'verify/result', answer, false);
      }
      return { accepted: false, reason: parsed.reason };
    }
    const answer = await this.deps.store.write(() => this.decideInTx(gateId, parsed.request));
    await this.deps.publish(gateId, 'verify/result', answer, false);
    return { accepted: true };
  }

  private decideInTx(gateId: string, req: VerifyRequest): VerifyAnswer {
    const { store, events, clock, hasher, log } = this.deps;
    const now = clock.now();
    const lang = this.policy.language;
    const id = checkIdNumber(req.idNumber, now);
    const idMasked = id.ok ? maskIdNumber(id.normalized) : 'invalid';
    // The request is bound to its gate and to the person: the keyed hash of the ID number
    // as sent (an invalid one hashed as it came, so that its retransmission matches too).
    const bound = hasher.hash(id.ok ? id.normalized : `unchecked:${req.idNumber}`);
    const prior = store.stmt('SELECT gate_id, answer, id_hash FROM verify_decisions WHERE request_id = ?').get(req.requestId) as { gate_id: string; answer: string; id_hash: string | null } | undefined;
    if (prior) return this.repeated(gateId, req, prior, bound, idMasked, now);
    const deny = (reason: DenyReason, vars: Record<string, string> = {}, sessionId?: string): VerifyAnswer => {
      const answer: VerifyAnswer = { requestId: req.requestId, decision: 'deny', reason, message: message(lang, reason, vars), ...(sessionId ? { sessionId } : {}) };
      this.record(gateId, answer, now, bound);
      events.appendInTx({ type: 'checkin.denied', actor: `device:${gateId}`, deviceId: gateId, sessionIds: sessionId ? [sessionId] : [], data: { requestId: req.requestId, reason, idMasked, faceScore: req.faceScore, liveness: req.liveness } });
      log.info({ gateId, requestId: req.requestId, reason, idMasked, name: maskName(req.name) }, 'check-in denied');
      return answer;
    };
    if (!id.ok) return deny('invalid-id');
    const refusal = this.deps.entryGuard?.entryRefusal() ?? null;
    if (refusal) return deny(refusal);
    if (!req.liveness) return deny('liveness-failed');
    const threshold = this.faceThreshold(gateId);
    if (req.faceScore < threshold) return deny('face-mismatch');

    // The same keyed hash as `bound` (a valid number is hashed as normalised): not computed twice.
    const idHash = bound;
    // Only this person's sessions are looked at, not every session the gate ever served.
    const rostered = (store.stmt('SELECT session_id FROM roster WHERE id_hash = ?').all(idHash) as { session_id: string }[])
      .map((r) => this.deps.sessions.get(r.session_id))
      .filter((s): s is Session => s !== null && this.deps.sessions.serves(gateId, s));
    if (rostered.length === 0) return deny('not-on-roster');
    const open = rostered.filter((s) => s.status === 'check-in' || s.status === 'in-progress').sort((a, b) => a.start - b.start);
    if (open.length === 0) {
      const upcoming = rostered.filter((s) => s.status === 'scheduled').sort((a, b) => a.start - b.start)[0];
      if (upcoming) return deny('outside-window', { opens: formatTime(upcoming.start - upcoming.opensMinutes * 60_000, this.deps.facility.site.utcOffset).slice(11, 16) }, upcoming.id);
      return deny('session-closed', {}, rostered[0]!.id);
    }

    const mine = store.stmt("SELECT * FROM checkins WHERE id_hash = ? AND status IN ('granted', 'inside', 'left') ORDER BY granted_at").all(idHash) as CheckinRow[];
    const openIds = new Set(open.map((s) => s.id));
    const activeMine = mine.filter((c) => openIds.has(c.session_id) || c.status === 'inside');
    // Anti-passback: whoever is inside (for any session) cannot enter again.
    const inside = activeMine.find((c) => c.status === 'inside');
    if (inside) return deny('already-inside', {}, inside.session_id);

    // A grant not yet used (the person stepped back): the same seat again, the old grant superseded.
    const pending = activeMine.find((c) => c.status === 'granted' && !this.isStale(c, now));
    if (pending) {
      store.stmt("UPDATE checkins SET status = 'superseded' WHERE request_id = ?").run(pending.request_id);
      this.seats.released(pending.request_id);
      return this.grant(gateId, req, pending.session_id, idHash, idMasked, { room: pending.room!, seat: pending.seat! }, now, { supersedes: pending.request_id });
    }

    // The earliest open session this person has not entered yet (two sessions the same
    // day: one after the other); only then a re-entry into one they left.
    // A lapsed grant (past the passage timeout, not yet swept) does not count as entered.
    const entered = new Set(mine.filter((c) => !this.isStale(c, now)).map((c) => c.session_id));
    const fresh = open.find((s) => !entered.has(s.id));
    if (fresh) {
      const seat = drawSeat(this.deps.sessions.roomSeats(), fresh.rooms, this.seats.held(now), fresh.id, this.rng);
      if (!seat) return deny('no-seat', {}, fresh.id);
      const also = open.filter((s) => s.id !== fresh.id).map((s) => s.id);
      return this.grant(gateId, req, fresh.id, idHash, idMasked, seat, now, also.length ? { alsoOnRosterOf: also } : {});
    }
    const left = activeMine.filter((c) => c.status === 'left').sort((a, b) => b.granted_at - a.granted_at)[0];
    if (left && this.policy.allowReentry && left.room !== null && left.seat !== null) {
      return this.grant(gateId, req, left.session_id, idHash, idMasked, { room: left.room, seat: left.seat }, now, { reentry: true });
    }
    return deny('reentry-not-allowed', {}, left?.session_id ?? open[0]!.id);
  }

  /**
   * A requestId seen before. The same gate asking again for the same person (it did not
   * hear the answer) gets the answer decided then, as long as a grant in it still holds.
   * Anyone else (another person, another gate: a gate whose counter restarted, or a
   * replay) gets bad-request and raises an alarm: never someone else's grant.
   */
  private repeated(gateId: string, req: VerifyRequest, prior: { gate_id: string; answer: string; id_hash: string | null }, bound: string, idMasked: string, now: number): VerifyAnswer {
    const { store, events, log, bus } = this.deps;
    const lang = this.policy.language;
    const badRequest: VerifyAnswer = { requestId: req.requestId, decision: 'deny', reason: 'bad-request', message: message(lang, 'bad-request') };
    if (prior.gate_id !== gateId || prior.id_hash !== bound) {
      const why = prior.gate_id !== gateId ? `first used by ${prior.gate_id}` : 'first used for another person';
      events.appendInTx({ type: 'checkin.request-reused', actor: `device:${gateId}`, deviceId: gateId, data: { requestId: req.requestId, firstGate: prior.gate_id, samePerson: prior.id_hash === bound, idMasked } });
      log.warn({ gateId, requestId: req.requestId, firstGate: prior.gate_id, idMasked }, 'gate request id reused for another person or gate');
      store.afterCommit(() =>
        bus.emit('alarm.raised', {
          id: `request-reused:${gateId}:${req.requestId}`,
          source: 'checkin',
          severity: 'warning',
          message: `${gateId} 重复使用请求号 ${req.requestId}（${why}）/ ${gateId} reused request id ${req.requestId} (${why})`,
          deviceId: gateId,
          oneShot: true,
        }),
      );
      return badRequest;
    }
    const answer = JSON.parse(prior.answer) as VerifyAnswer;
    if (answer.decision !== 'grant') return answer;
    const c = store.stmt('SELECT * FROM checkins WHERE request_id = ?').get(req.requestId) as CheckinRow | undefined;
    // A duplicate of a request already used for the passage (QoS 1 redelivery after a
    // restart) is answered the same: the gate no longer waits for it and opens nothing.
    if (c && (c.status === 'inside' || (c.status === 'granted' && !this.isStale(c, now)))) return answer;
    // The grant lapsed or was superseded: repeating it would hand out a released seat.
    events.appendInTx({ type: 'checkin.repeat-refused', actor: `device:${gateId}`, deviceId: gateId, sessionIds: c ? [c.session_id] : [], data: { requestId: req.requestId, status: c?.status ?? 'unknown', idMasked } });
    return badRequest;
  }

  private grant(gateId: string, req: VerifyRequest, sessionId: string, idHash: string, idMasked: string, seat: { room: string; seat: number }, now: number, extra: Record<string, unknown>): VerifyAnswer {
    const { store, events, log } = this.deps;
    store
      .stmt("INSERT INTO checkins (request_id, session_id, id_hash, gate_id, room, seat, status, granted_at) VALUES (?, ?, ?, ?, ?, ?, 'granted', ?)")
      .run(req.requestId, sessionId, idHash, gateId, seat.room, seat.seat, now);
    this.seats.took(req.requestId, { sessionId, room: seat.room, seat: seat.seat }, now);
    const answer: VerifyAnswer = {
      requestId: req.requestId,
      decision: 'grant',
      reason: 'granted',
      message: message(this.policy.language, 'granted', { room: this.roomName.get(seat.room) ?? seat.room, seat: seat.seat }),
      sessionId,
      room: seat.room,
      seat: seat.seat,
    };
    this.record(gateId, answer, now, idHash);
    events.appendInTx({ type: 'checkin.granted', actor: `device:${gateId}`, deviceId: gateId, sessionIds: [sessionId], data: { requestId: req.requestId, idMasked, room: seat.room, seat: seat.seat, faceScore: req.faceScore, ...extra } });
    log.info({ gateId, requestId: req.requestId, sessionId, room: seat.room, seat: seat.seat, idMasked, name: maskName(req.name) }, 'check-in granted');
    return answer;
  }

  private record(gateId: string, answer: VerifyAnswer, now: number, idHash: string): void {
    this.deps.store.stmt('INSERT INTO verify_decisions (request_id, gate_id, answer, decided_at, id_hash) VALUES (?, ?, ?, ?, ?)').run(answer.requestId, gateId, JSON.stringify(answer), now, idHash);
  }

  private faceThreshold(gateId: string): number {
    return this.thresholds.get(gateId) ?? this.policy.faceThreshold;
  }

  private isStale(c: CheckinRow, now: number): boolean {
    return c.status === 'granted' && now - c.granted_at > this.passageMs;
  }

  // ---- gate events: passage, exit, offline passes ----

  /** Handles a gate's `event`; returns null for event types this feature does not own. */
  async onGateEvent(gateId: string, type: string, event: Record<string, unknown>): Promise<IngestOutcome | null> {
    switch (type) {
      case 'passed':
        return this.onPassed(gateId, event);
      case 'exit':
        return this.onExit(gateId, event);
      case 'offline-pass':
        return this.onOfflinePass(gateId, event);
      default:
        return null;
    }
  }

  private async onPassed(gateId: string, e: Record<string, unknown>): Promise<IngestOutcome> {
    const { store, events, clock } = this.deps;
    if (typeof e.requestId !== 'string') return { accepted: false, reason: 'passed needs the requestId of the grant' };
    const requestId = e.requestId;
    const at = e.ts !== undefined ? (parseTime(e.ts) ?? clock.now()) : clock.now();
    return store.write((): IngestOutcome => {
      const c = store.stmt('SELECT * FROM checkins WHERE request_id = ?').get(requestId) as CheckinRow | undefined;
      if (!c || c.gate_id !== gateId) return { accepted: false, reason: `passed for unknown requestId ${requestId}` };
      if (c.status === 'inside') return { accepted: true }; // repeated event
      if (c.status !== 'granted') return { accepted: false, reason: `passed for a grant that is ${c.status}` };
      store.stmt("UPDATE checkins SET status = 'inside', passed_at = ? WHERE request_id = ?").run(at, requestId);
      this.seats.passed(requestId);
      events.appendInTx({ type: 'checkin.passed', actor: `device:${gateId}`, deviceId: gateId, sessionIds: [c.session_id], data: { requestId, room: c.room, seat: c.seat } });
      return { accepted: true };
    });
  }

  private async onExit(gateId: string, e: Record<string, unknown>): Promise<IngestOutcome> {
    const { store, events, clock, hasher } = this.deps;
    let idHash: string | null = null;
    if (typeof e.idNumber === 'string') {
      const id = checkIdNumber(e.idNumber, this.deps.clock.now());
      if (!id.ok) return { accepted: false, reason: 'exit.idNumber is not a valid ID number' };
      idHash = hasher.hash(id.normalized);
    } else if (typeof e.requestId !== 'string') return { accepted: false, reason: 'exit needs the requestId of the entry or the idNumber' };
    const requestId = typeof e.requestId === 'string' ? e.requestId : null;
    const at = e.ts !== undefined ? (parseTime(e.ts) ?? clock.now()) : clock.now();
    return store.write((): IngestOutcome => {
      const c = (
        idHash !== null
          ? store.stmt("SELECT * FROM checkins WHERE id_hash = ? AND status = 'inside' ORDER BY granted_at DESC LIMIT 1").get(idHash)
          : store.stmt('SELECT * FROM checkins WHERE request_id = ?').get(requestId)
      ) as CheckinRow | undefined;
      if (!c) return { accepted: false, reason: 'exit of nobody inside' };
      if (c.status === 'left') return { accepted: true };
      if (c.status !== 'inside') return { accepted: false, reason: `exit for a check-in that is ${c.status}` };
      store.stmt("UPDATE checkins SET status = 'left', left_at = ? WHERE request_id = ?").run(at, c.request_id);
      events.appendInTx({ type: 'checkin.left', actor: `device:${gateId}`, deviceId: gateId, sessionIds: [c.session_id], data: { requestId: c.request_id, room: c.room, seat: c.seat } });
      return { accepted: true };
    });
  }

  /**
   * A pass the gate decided from its allow-list while the hub was unreachable, uploaded
   * later. Reconciled by requestId (a repeat changes nothing); the seat is drawn now.
   */
  private async onOfflinePass(gateId: string, e: Record<string, unknown>): Promise<IngestOutcome> {
    const { store, events, clock } = this.deps;
    if (typeof e.requestId !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(e.requestId)) return { accepted: false, reason: 'offline-pass needs a requestId' };
    if (typeof e.idHash !== 'string' || !/^[0-9a-f]{64}$/.test(e.idHash)) return { accepted: false, reason: 'offline-pass needs idHash (64 hex characters, the gate-keyed hash)' };
    if (typeof e.sessionId !== 'string') return { accepted: false, reason: 'offline-pass needs the sessionId of the allow-list entry' };
    const requestId = e.requestId;
    const gateHashValue = e.idHash;
    const sessionId = e.sessionId;
    const passedAt = e.ts !== undefined ? (parseTime(e.ts) ?? clock.now()) : clock.now();
    return store.write((): IngestOutcome => {
      const now = clock.now();
      const known = store.stmt('SELECT request_id FROM checkins WHERE request_id = ?').get(requestId);
      if (known) return { accepted: true };
      const session = this.deps.sessions.get(sessionId);
      if (!session) return { accepted: false, reason: `offline-pass for unknown session ${sessionId}` };
      const entry = store.stmt('SELECT id_hash, id_masked FROM allow_list WHERE gate_id = ? AND gate_hash = ? AND session_id = ?').get(gateId, gateHashValue, sessionId) as { id_hash: string; id_masked: string } | undefined;
      if (!entry) {
        events.appendInTx({ type: 'checkin.offline-unmatched', actor: `device:${gateId}`, deviceId: gateId, sessionIds: [sessionId], data: { requestId, passedAt } });
        this.deps.bus.emit('alarm.raised', { id: `offline-unmatched:${requestId}`, source: 'checkin', severity: 'warning', message: `${gateId} let someone in offline who is not on the current allow-list`, deviceId: gateId, oneShot: true });
        return { accepted: true };
      }
      const inside = store.stmt("SELECT request_id FROM checkins WHERE id_hash = ? AND session_id = ? AND status IN ('inside', 'granted')").get(entry.id_hash, sessionId);
      if (inside) {
        events.appendInTx({ type: 'checkin.offline-duplicate', actor: `device:${gateId}`, deviceId: gateId, sessionIds: [sessionId], data: { requestId, idMasked: entry.id_masked } });
        return { accepted: true };
      }
      const seat = session.status === 'closed' ? null : drawSeat(this.deps.sessions.roomSeats(), session.rooms, this.seats.held(now), sessionId, this.rng);
      store
        .stmt("INSERT INTO checkins (request_id, session_id, id_hash, gate_id, room, seat, status, offline, granted_at, passed_at) VALUES (?, ?, ?, ?, ?, ?, 'inside', 1, ?, ?)")
        .run(requestId, sessionId, entry.id_hash, gateId, seat?.room ?? null, seat?.seat ?? null, passedAt, passedAt);
      if (seat) this.seats.took(requestId, { sessionId, ...seat }, null);
      events.appendInTx({
        type: 'checkin.offline-reconciled',
        actor: `device:${gateId}`,
        deviceId: gateId,
        sessionIds: [sessionId],
        data: { requestId, idMasked: entry.id_masked, passedAt, room: seat?.room ?? null, seat: seat?.seat ?? null, offline: true },
      });
      return { accepted: true };
    });
  }

  // ---- offline allow-lists ----

  /**
   * Publishes each gate's allow-list, retained on `fh/{site}/{gate}/allow-list`: per
   * rostered person of a session opening within 24 h, the entry under the gate's
   * provisioned key (allow-list.ts) with the session's check-in window; never the key.
   * The map from entry to the hub's own hash is kept in the store, because the hub never
   * keeps the clear number.
   */
  publishAllowLists(): Promise<void> {
    // Coalesced: requests made while a run is queued (a platform pushing many rosters)
    // share that run; a request made while one is running queues exactly one more.
    if (this.allowListQueued) return this.allowListQueued;
    const run = this.allowListTail.then(() => {
      this.allowListQueued = null;
      return this.publishAllowListsNow();
    });
    this.allowListQueued = run;
    this.allowListTail = run.catch(() => undefined);
    return run;
  }

  /** A gate key issued or rotated by the CLI (another process): that gate's list again, without the old key's entries. */
  private republishOnRotation(): void {
    const now = this.gateKeys.versions();
    const changed = [...now].some(([g, v]) => this.keyVersions.get(g) !== v);
    if (!changed) return;
    this.keyVersions = now;
    this.deps.log.info({ gates: [...now.keys()] }, 'gate key issued or rotated: allow-lists republished');
    void this.publishAllowLists();
  }

  private async publishAllowListsNow(): Promise<void> {
    for (const gateId of this.gates) {
      const payload = this.allowListFor(gateId);
      await this.deps.publish(gateId, 'allow-list', payload, true).catch((err: unknown) => this.deps.log.warn({ err, gateId }, 'allow-list not published'));
    }
  }

  private allowListFor(gateId: string): Record<string, unknown> {
    const { store, clock, sessions } = this.deps;
    const now = clock.now();
    const key = this.gateKeys.get(gateId);
    // No key provisioned: no offline list (the gate decides only online).
    if (!key) return { version: 2, gateId, issuedAt: now, provisioned: false, entries: [] };
    const served = new Set(sessions.servedBy(gateId).map((s) => s.id));
    const rows = store.stmt('SELECT session_id, gate_hash FROM allow_list WHERE gate_id = ?').all(gateId) as { session_id: string; gate_hash: string }[];
    const entries = rows
      .map((r) => ({ r, s: sessions.get(r.session_id) }))
      .filter(({ s }) => s !== null && s.status !== 'closed' && served.has(s.id) && s.start - s.opensMinutes * 60_000 <= now + ALLOW_LIST_HORIZON_MS)
      .map(({ r, s }) => ({ h: r.gate_hash, sessionId: s!.id, from: s!.start - s!.opensMinutes * 60_000, to: s!.end }));
    // The key is never in the list: the gate has it from provisioning (keyVersion tells which).
    return { version: 2, gateId, issuedAt: now, provisioned: true, keyVersion: key.version, kdf: { ...ALLOW_KDF, salt: allowSalt(this.deps.facility.site.id) }, entries };
  }


  /** Expires grants nobody used within the passage timeout (runs every 5 s). */
  async expireStaleGrants(): Promise<void> {
    const { store, events, clock } = this.deps;
    const cutoff = clock.now() - this.passageMs;
    const stale = store.stmt("SELECT request_id, session_id, gate_id FROM checkins WHERE status = 'granted' AND granted_at < ?").all(cutoff) as { request_id: string; session_id: string; gate_id: string }[];
    if (stale.length === 0) return;
    await store.write(() => {
      for (const c of stale) {
        const r = store.stmt("UPDATE checkins SET status = 'expired' WHERE request_id = ? AND status = 'granted'").run(c.request_id);
        if (r.changes === 0) continue;
        this.seats.released(c.request_id);
        events.appendInTx({ type: 'checkin.expired', actor: 'automation:checkin', deviceId: c.gate_id, sessionIds: [c.session_id], data: { requestId: c.request_id, reason: 'not passed through the gate in time' } });
      }
    });
  }
}
