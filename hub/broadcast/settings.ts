/**
 * The facility's `broadcast` section, resolved once: the message catalogue, the announcement
 * schedule, limits and waits (with units), and the semantic checks the schema cannot express.
 */
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

export type { ConfigProblem as BroadcastConfigProblem } from '../../config/checks.js';
export { broadcastConfigProblems } from '../../config/checks.js';

type Section = NonNullable<Facility['broadcast']>;

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
