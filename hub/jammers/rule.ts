/**
 * The jammer rule as pure functions of time, so the feature, its property test and the
 * regulator report agree on one definition: a zone is on exactly while a session holding
 * its room runs (start − lead … end or close + lag), unless something with a stated cause
 * says otherwise. Precedence, strongest first: the fire interlock, an admin force-off, the
 * maximum on-time cut-off, an admin force-on, the sessions.
 */

export type JammerCause = 'fire-interlock' | 'override-off' | 'max-on-time' | 'override-on' | 'session' | 'no-session';

/** The part of a session the rule reads. */
export interface SessionSpan {
  id: string;
  code: string;
  start: number;
  end: number;
  rooms: readonly string[];
  /** An admin's early close ends the session then. */
  closedAt: number | null;
}

export interface ZoneTiming {
  room: string;
  leadMs: number;
  lagMs: number;
  /** 0 = no limit. */
  maxOnMs: number;
}

export interface Override {
  mode: 'on' | 'off';
  reason: string;
  by: string;
  from: number;
  until: number;
}

export interface Decision {
  on: boolean;
  cause: JammerCause;
  /** The sessions whose window holds now (the rule's view, whatever the cause). */
  sessions: SessionSpan[];
}

/** The window in which a session keeps a zone on: [from, to). */
export function windowOf(s: SessionSpan, t: Pick<ZoneTiming, 'leadMs' | 'lagMs'>): { from: number; to: number } {
  const ends = s.closedAt !== null ? Math.min(s.end, s.closedAt) : s.end;
  // A session closed before it started never ran: no window at all.
  if (ends <= s.start) return { from: s.start, to: s.start };
  return { from: s.start - t.leadMs, to: ends + t.lagMs };
}

/** Sessions holding the zone's room whose window contains `now`. */
export function sessionsHolding(sessions: readonly SessionSpan[], t: ZoneTiming, now: number): SessionSpan[] {
  return sessions.filter((s) => {
    if (!s.rooms.includes(t.room)) return false;
    const w = windowOf(s, t);
    return now >= w.from && now < w.to;
  });
}

export interface RuleInputs {
  sessions: readonly SessionSpan[];
  timing: ZoneTiming;
  now: number;
  interlock: boolean;
  override: Override | null;
  /** The maximum on-time cut-off is latched for this zone. */
  cutOff: boolean;
}

export function decide(i: RuleInputs): Decision {
  const sessions = sessionsHolding(i.sessions, i.timing, i.now);
  const override = i.override && i.now < i.override.until ? i.override : null;
  if (i.interlock) return { on: false, cause: 'fire-interlock', sessions };
  if (override?.mode === 'off') return { on: false, cause: 'override-off', sessions };
  if (i.cutOff) return { on: false, cause: 'max-on-time', sessions };
  if (override?.mode === 'on') return { on: true, cause: 'override-on', sessions };
  if (sessions.length > 0) return { on: true, cause: 'session', sessions };
  return { on: false, cause: 'no-session', sessions };
}

/** The next time after `now` at which the rule's session view can change, or null. */
export function nextEdge(sessions: readonly SessionSpan[], t: ZoneTiming, now: number): number | null {
  let next: number | null = null;
  for (const s of sessions) {
    if (!s.rooms.includes(t.room)) continue;
    const w = windowOf(s, t);
    for (const edge of [w.from, w.to]) if (edge > now && (next === null || edge < next)) next = edge;
  }
  return next;
}
