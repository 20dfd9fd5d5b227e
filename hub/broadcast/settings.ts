/**
 * The facility's `broadcast` section, resolved once: the message catalogue, the announcement
 * schedule, limits and waits (with units), and the semantic checks the schema cannot express.
 */
import { validateDetailed } from 'node-cron';
import type { Facility } from '../../config/schema.js';

export interface CatalogueMessage {
  id: number;
  text: string;
}

export type AnnouncementWhen = { kind: 'before-end'; minutes: number } | { kind: 'after-start'; minutes: number } | { kind: 'cron'; expression: string };

export interface AnnouncementSpec {
  id: string;
  when: AnnouncementWhen;
  messageId: number | null;
  text: string;
  repeat: number;
}

export interface BroadcastSettings {
  messages: Map<number, CatalogueMessage>;
  announcements: AnnouncementSpec[];
  rateLimit: { max: number; windowMs: number };
  warningWaitMs: number;
  announcementWaitMs: number;
  emergencyWaitMs: number;
  maxCallMs: number;
  recentEntries: number;
  fireAlarmMessageId: number | null;
  emergencyRepeat: number;
  /** The site's UTC offset in minutes (cron expressions are in site local time). */
  utcOffsetMinutes: number;
}

export interface BroadcastConfigProblem {
  path: string;
  found: string;
  expected: string;
}

type Section = NonNullable<Facility['broadcast']>;

/**
 * What the schema cannot check: references into the catalogue, exactly one trigger per
 * announcement, valid cron expressions, unique ids, zones that point at real rooms and seats.
 * The config loader may call it in its semantic pass; the feature refuses to start otherwise.
 */
export function broadcastConfigProblems(facility: Facility): BroadcastConfigProblem[] {
  const out: BroadcastConfigProblem[] = [];
  const b = (facility.broadcast ?? {}) as Partial<Section>;
  const ids = new Set<number>();
  (b.messages ?? []).forEach((m, i) => {
    if (ids.has(m.id)) out.push({ path: `/broadcast/messages/${i}/id`, found: String(m.id), expected: 'a message number not used by another message' });
    ids.add(m.id);
  });
  const annIds = new Set<string>();
  (b.announcements ?? []).forEach((a, i) => {
    const at = `/broadcast/announcements/${i}`;
    if (annIds.has(a.id)) out.push({ path: `${at}/id`, found: JSON.stringify(a.id), expected: 'an id not used by another announcement' });
    annIds.add(a.id);
    const triggers = [a.beforeEndMinutes, a.afterStartMinutes, a.cron].filter((x) => x !== undefined).length;
    if (triggers !== 1) out.push({ path: at, found: `${triggers} triggers`, expected: 'exactly one of beforeEndMinutes, afterStartMinutes, cron' });
    if (a.cron !== undefined) {
      const fields = a.cron.trim().split(/\s+/).length;
      const v = validateDetailed(a.cron);
      if (fields !== 5) out.push({ path: `${at}/cron`, found: JSON.stringify(a.cron), expected: 'a cron expression with 5 fields (minute hour day month weekday)' });
      else if (!v.valid) out.push({ path: `${at}/cron`, found: JSON.stringify(a.cron), expected: `a valid cron expression (${v.errors.map((e) => e.message).join('; ')})` });
    }
    if ((a.messageId === undefined) === (a.text === undefined)) out.push({ path: at, found: a.messageId === undefined ? 'neither messageId nor text' : 'both messageId and text', expected: 'exactly one of messageId, text' });
    if (a.messageId !== undefined && !ids.has(a.messageId)) out.push({ path: `${at}/messageId`, found: String(a.messageId), expected: `a message of /broadcast/messages (${[...ids].join(', ') || 'none'})` });
  });
  const fire = b.emergency?.fireAlarmMessageId;
  if (fire !== undefined && !ids.has(fire)) out.push({ path: '/broadcast/emergency/fireAlarmMessageId', found: String(fire), expected: `a message of /broadcast/messages (${[...ids].join(', ') || 'none'})` });
  const c = b.controller;
  if (c && c.reconnectMaxMs < c.reconnectMinMs) out.push({ path: '/broadcast/controller/reconnectMaxMs', found: String(c.reconnectMaxMs), expected: `at least reconnectMinMs (${c.reconnectMinMs})` });
  const seats = new Map(facility.rooms.map((r) => [r.id, r.seats]));
  facility.devices.forEach((d, i) => {
    if (d.kind !== 'broadcast') return;
    const zones = ((d.options as { zones?: { zone: number; room: string; seat?: number }[] }).zones ?? []);
    const used = new Set<number>();
    zones.forEach((z, j) => {
      const at = `/devices/${i}/options/zones/${j}`;
      if (used.has(z.zone)) out.push({ path: `${at}/zone`, found: String(z.zone), expected: 'a zone number not used by another entry of this device' });
      used.add(z.zone);
      const n = seats.get(z.room);
      if (n === undefined) out.push({ path: `${at}/room`, found: JSON.stringify(z.room), expected: `a room defined in /rooms (${[...seats.keys()].join(', ') || 'none'})` });
      else if (z.seat !== undefined && z.seat > n) out.push({ path: `${at}/seat`, found: String(z.seat), expected: `a seat of ${z.room} (1..${n})` });
    });
  });
  return out;
}

function offsetMinutes(offset: string): number {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

export function resolveSettings(facility: Facility): BroadcastSettings {
  const b = (facility.broadcast ?? {}) as Partial<Section>;
  const messages = new Map((b.messages ?? []).map((m) => [m.id, { id: m.id, text: m.text }]));
  const announcements: AnnouncementSpec[] = (b.announcements ?? []).map((a) => ({
    id: a.id,
    when:
      a.beforeEndMinutes !== undefined
        ? { kind: 'before-end', minutes: a.beforeEndMinutes }
        : a.afterStartMinutes !== undefined
          ? { kind: 'after-start', minutes: a.afterStartMinutes }
          : { kind: 'cron', expression: a.cron ?? '' },
    messageId: a.messageId ?? null,
    text: a.messageId !== undefined ? (messages.get(a.messageId)?.text ?? '') : (a.text ?? ''),
    repeat: a.repeat ?? 1,
  }));
  return {
    messages,
    announcements,
    rateLimit: { max: b.rateLimit?.max ?? 3, windowMs: (b.rateLimit?.windowSeconds ?? 60) * 1000 },
    warningWaitMs: b.warningWaitMs ?? 5000,
    announcementWaitMs: (b.announcementWaitSeconds ?? 120) * 1000,
    emergencyWaitMs: (b.emergencyWaitSeconds ?? 60) * 1000,
    maxCallMs: (b.maxCallSeconds ?? 600) * 1000,
    recentEntries: b.recentEntries ?? 200,
    fireAlarmMessageId: b.emergency?.fireAlarmMessageId ?? null,
    emergencyRepeat: b.emergency?.repeat ?? 3,
    utcOffsetMinutes: offsetMinutes(facility.site.utcOffset),
  };
}
