/**
 * The regulator's report, computed from the event log (nothing else is the record): the
 * on-time of every zone per session and per day (site-local dates), and every change with
 * its cause. A zone's state between two records is the last verified (or read-back) state.
 */
import type { StoredEvent, EventQuery } from '../store/events.js';
import { formatTime } from '../../kernel/time.js';

export const REPORT_TYPES = ['jammer.zone', 'jammer.write-failed', 'jammer.override', 'jammer.interlock', 'alarm.raised', 'alarm.cleared'] as const;

export interface OnTimeRow {
  zone: string;
  room: string;
  /** The session the zone was on for; null when on by an override outside every session. */
  sessionId: string | null;
  sessionCode: string | null;
  /** Site-local date YYYY-MM-DD. */
  day: string;
  onMs: number;
}

export interface ChangeRow {
  ts: number;
  type: string;
  zone: string | null;
  room: string | null;
  on: boolean | null;
  cause: string;
  actor: string;
  detail: string;
}

export interface JammerReport {
  from: number;
  to: number;
  onTime: OnTimeRow[];
  changes: ChangeRow[];
}

interface Span {
  zone: string;
  room: string;
  from: number;
  to: number;
  sessions: { id: string; code: string }[];
}

function readAll(query: (q: EventQuery) => StoredEvent[], type: string): StoredEvent[] {
  const out: StoredEvent[] = [];
  let afterSeq = 0;
  for (;;) {
    const page = query({ type, afterSeq, limit: 5000 });
    out.push(...page);
    if (page.length < 5000) return out;
    afterSeq = page[page.length - 1]!.seq;
  }
}

/** Milliseconds of the offset "+08:00". */
function offsetMs(offset: string): number {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000;
}

const DAY = 86_400_000;

/** A record field as text (numbers and booleans as written, anything else as JSON). */
function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return `${v}`;
  return JSON.stringify(v);
}

export function buildReport(query: (q: EventQuery) => StoredEvent[], range: { from: number; to: number }, now: number, utcOffset: string): JammerReport {
  const end = Math.min(range.to, now);
  const zoneEvents = readAll(query, 'jammer.zone');
  const failed = readAll(query, 'jammer.write-failed');
  // The state timeline per zone: verified states from jammer.zone, read-back states from failed writes.
  const timeline = [...zoneEvents, ...failed]
    .filter((e) => typeof e.data.zone === 'string' && (e.type === 'jammer.zone' ? e.data.verified === true || typeof e.data.actual === 'boolean' : typeof e.data.actual === 'boolean'))
    .sort((a, b) => a.ts - b.ts || a.seq - b.seq);
  const spans: Span[] = [];
  const open = new Map<string, Span>();
  const close = (zone: string, at: number): void => {
    const s = open.get(zone);
    if (!s) return;
    s.to = at;
    if (s.to > s.from) spans.push(s);
    open.delete(zone);
  };
  for (const e of timeline) {
    const zone = e.data.zone as string;
    const on = e.type === 'jammer.zone' && e.data.verified === true ? e.data.on === true : e.data.actual === true;
    close(zone, e.ts);
    if (on) {
      const sessions = Array.isArray(e.data.sessions) ? (e.data.sessions as { id: string; code: string }[]) : [];
      open.set(zone, { zone, room: str(e.data.room), from: e.ts, to: e.ts, sessions });
    }
  }
  for (const zone of [...open.keys()]) close(zone, Math.max(end, open.get(zone)!.from));

  const off = offsetMs(utcOffset);
  const rows = new Map<string, OnTimeRow>();
  for (const s of spans) {
    const from = Math.max(s.from, range.from);
    const to = Math.min(s.to, end);
    if (to <= from) continue;
    // Split at site-local midnights.
    let t = from;
    while (t < to) {
      const dayStart = Math.floor((t + off) / DAY) * DAY - off;
      const next = Math.min(to, dayStart + DAY);
      const day = formatTime(t, utcOffset).slice(0, 10);
      const owners = s.sessions.length ? s.sessions : [null];
      for (const owner of owners) {
        const key = `${s.zone}|${owner?.id ?? ''}|${day}`;
        const row = rows.get(key) ?? { zone: s.zone, room: s.room, sessionId: owner?.id ?? null, sessionCode: owner?.code ?? null, day, onMs: 0 };
        row.onMs += next - t;
        rows.set(key, row);
      }
      t = next;
    }
  }

  const changes: ChangeRow[] = [];
  for (const type of REPORT_TYPES) {
    for (const e of readAll(query, type)) {
      if (e.ts < range.from || e.ts >= range.to) continue;
      if (type.startsWith('alarm.') && e.data.source !== 'jammers' && !(typeof e.data.role === 'string' && e.data.role === 'jammer')) continue;
      changes.push(changeRow(e));
    }
  }
  changes.sort((a, b) => a.ts - b.ts);
  return { from: range.from, to: range.to, onTime: [...rows.values()].sort((a, b) => a.zone.localeCompare(b.zone) || a.day.localeCompare(b.day) || (a.sessionCode ?? '').localeCompare(b.sessionCode ?? '')), changes };
}

function changeRow(e: StoredEvent): ChangeRow {
  const d = e.data;
  const zone = typeof d.zone === 'string' ? d.zone : typeof d.outputId === 'string' ? d.outputId : null;
  const base = { ts: e.ts, type: e.type, zone, room: typeof d.room === 'string' ? d.room : null, actor: e.actor };
  switch (e.type) {
    case 'jammer.zone':
      return { ...base, on: d.on === true, cause: str(d.cause), detail: `${d.switched === true ? 'switched' : 'unchanged'}; trigger ${str(d.trigger)}${sessionText(d.sessions)}` };
    case 'jammer.write-failed':
      return { ...base, on: typeof d.actual === 'boolean' ? d.actual : null, cause: str(d.cause), detail: `write ${d.on === true ? 'on' : 'off'} failed: ${str(d.message)}` };
    case 'jammer.override':
      return { ...base, on: null, cause: `override-${str(d.mode)}`, detail: `${str(d.action)} by ${str(d.by)}: ${str(d.reason)}${typeof d.until === 'number' ? ` until ${new Date(d.until).toISOString()}` : ''}` };
    case 'jammer.interlock':
      return { ...base, on: null, cause: 'fire-interlock', detail: `${str(d.action)}${typeof d.panel === 'string' ? ` (${d.panel})` : ''}${typeof d.reason === 'string' ? `: ${d.reason}` : ''}` };
    default:
      return { ...base, on: null, cause: e.type, detail: str(d.message ?? d.why) };
  }
}

function sessionText(v: unknown): string {
  if (!Array.isArray(v) || v.length === 0) return '';
  return `; sessions ${(v as { code: string }[]).map((s) => s.code).join(', ')}`;
}

const csvCell = (v: unknown): string => {
  const s = str(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** Two tables in one file (the header row of each says what it is), UTF-8 with a BOM so Excel on Chinese Windows reads it. */
export function reportCsv(r: JammerReport, utcOffset: string): string {
  const lines: string[] = [];
  lines.push(['section', 'zone', 'room', 'session_id', 'session_code', 'day', 'on_minutes'].join(','));
  for (const row of r.onTime) lines.push(['on-time', row.zone, row.room, row.sessionId, row.sessionCode, row.day, (row.onMs / 60_000).toFixed(2)].map(csvCell).join(','));
  lines.push('');
  lines.push(['section', 'time', 'type', 'zone', 'room', 'on', 'cause', 'actor', 'detail'].join(','));
  for (const c of r.changes) lines.push(['change', formatTime(c.ts, utcOffset), c.type, c.zone, c.room, c.on === null ? '' : c.on ? 'on' : 'off', c.cause, c.actor, c.detail].map(csvCell).join(','));
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}
