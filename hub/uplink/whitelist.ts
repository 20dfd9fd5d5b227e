import type { UPLINK_CATEGORIES } from '../../config/schema.js';

export type UplinkCategory = (typeof UPLINK_CATEGORIES)[number];

/**
 * What of the event log goes up to the county platform: per event type, its category and
 * the data fields copied, nothing else. Deny by default: a type missing here never leaves
 * the hub, and a field missing here is dropped, so a new field that carries a name or an
 * ID number (clear, masked or hashed) cannot slip out by being added to an event.
 *
 * Left out on purpose: every field that holds a person (`idMasked`, `people`, `name`,
 * `displayName`, a username in `by`), biometrics (`faceScore`, `liveness`), the gates'
 * `requestId` (a device-chosen string that could carry anything), and free text typed by
 * people (a session's name, a close or warning reason, a TTS text, an override reason),
 * since free text can hold a name. The actor goes up as its kind only (`user`, not
 * `user:zhangsan`).
 */
export const UPLINK_WHITELIST: Readonly<Record<string, { category: UplinkCategory; fields: readonly string[] }>> = {
  // --- sessions: created, status changes, roster size, the audit seal at close ---
  'session.created': { category: 'sessions', fields: ['code', 'start', 'end', 'rooms', 'status'] },
  'session.status': { category: 'sessions', fields: ['code', 'from', 'to'] },
  'session.roster': { category: 'sessions', fields: ['count', 'experts', 'removed'] },
  'audit.session-sealed': { category: 'sessions', fields: ['events', 'digest', 'lastSeq'] },
  // --- check-in decisions: where someone was seated, never who ---
  'checkin.granted': { category: 'checkins', fields: ['room', 'seat'] },
  'checkin.denied': { category: 'checkins', fields: ['reason'] },
  'checkin.passed': { category: 'checkins', fields: ['room', 'seat'] },
  'checkin.left': { category: 'checkins', fields: ['room', 'seat'] },
  'checkin.expired': { category: 'checkins', fields: [] },
  'checkin.repeat-refused': { category: 'checkins', fields: ['status'] },
  'checkin.request-reused': { category: 'checkins', fields: ['firstGate', 'samePerson'] },
  'checkin.offline-reconciled': { category: 'checkins', fields: ['passedAt', 'room', 'seat', 'offline'] },
  'checkin.offline-unmatched': { category: 'checkins', fields: ['passedAt'] },
  'checkin.offline-duplicate': { category: 'checkins', fields: [] },
  // --- alarms (fire, power, jammers, devices, the uplink's own backlog): the hub writes their texts ---
  'alarm.raised': { category: 'alarms', fields: ['id', 'source', 'severity', 'message'] },
  'alarm.cleared': { category: 'alarms', fields: ['id', 'source'] },
  'alarm.acknowledged': { category: 'alarms', fields: ['id', 'source', 'severity', 'cleared'] },
  // --- power: the state machine and the failover stages ---
  'power.state': { category: 'power', fields: ['from', 'to', 'reason', 'mains', 'charge', 'runtime'] },
  'power.stage': { category: 'power', fields: ['stage', 'at', 'status', 'detail'] },
  'power.runtime-short': { category: 'power', fields: ['runtimeS', 'neededS'] },
  'power.hub-shutdown': { category: 'power', fields: ['state'] },
  // --- jammers: what the regulator asks about (zone on/off and why, overrides, the fire interlock) ---
  'jammer.zone': { category: 'jammers', fields: ['zone', 'room', 'on', 'cause', 'trigger', 'switched', 'verified', 'actual'] },
  'jammer.override': { category: 'jammers', fields: ['zone', 'action', 'mode', 'until'] },
  'jammer.interlock': { category: 'jammers', fields: ['action', 'panel'] },
  'jammer.write-failed': { category: 'jammers', fields: ['zone', 'room', 'on', 'cause', 'reason', 'actual'] },
  // --- supervisor warnings and emergency announcements: where and whether they played ---
  'broadcast.warning': { category: 'broadcast', fields: ['priority', 'rooms', 'seat', 'messageId', 'confirmed', 'outcome', 'notCovered'] },
  'broadcast.emergency': { category: 'broadcast', fields: ['priority', 'rooms', 'confirmed', 'outcome'] },
  // --- the hub itself: when it ran ---
  'hub.started': { category: 'hub', fields: ['devices'] },
  'hub.stopped': { category: 'hub', fields: ['reason'] },
};

/**
 * Event names the hub writes (or emits on its bus) that never go up, and why, so that a
 * test can check every name in the source is decided one way or the other.
 */
export const UPLINK_LEFT_OUT: Readonly<Record<string, string>> = {
  'user.created': 'accounts are the site\'s business',
  'user.role-changed': 'accounts',
  'user.renamed': 'accounts',
  'user.password-changed': 'accounts',
  'user.disabled': 'accounts',
  'user.enabled': 'accounts',
  'user.tokens-ended': 'accounts',
  'device.state': 'device chatter (volume), and a device state may hold anything',
  'device.available': 'device chatter: an outage that matters is an alarm',
  'device.unavailable': 'device chatter: an outage that matters is an alarm',
  'device.event': 'raw device events may carry what a device sends (a gate, a reader)',
  'device.availability': 'bus only',
  'command.sent': 'internal device commands',
  'command.finished': 'internal device commands',
  'command.abandoned': 'internal device commands',
  'command.refused': 'internal device commands',
  'broadcast.call.started': 'live calls: supervisors\' own work',
  'broadcast.call.stopped': 'live calls',
  'broadcast.announcement': 'routine announcements',
  'broadcast.announcement.missed': 'routine announcements',
  'broadcast.preempted': 'PA internals',
  'broadcast.zone': 'bus only',
  'broadcast.zone.fault': 'PA faults are alarms',
  'broadcast.zone.fault-cleared': 'PA faults are alarms',
  'broadcast.played': 'bus only',
  'power.announce': 'bus only',
  'ups.status': 'bus only',
  'relay.output': 'bus only',
  'fire.alarm': 'bus only: the fire alarm goes up as its alarm.raised / alarm.cleared',
  'ups.charge': 'a health-index sample name, not an event',
  'ups.load': 'a health-index sample name, not an event',
  'ups.mains': 'a health-index sample name, not an event',
  'ups.runtime-min': 'a health-index sample name, not an event',
};

/** `user:zhangsan` → `user`; `device:gate-1` stays (device ids are the site's config, not people). */
export function actorKind(actor: string): string {
  const colon = actor.indexOf(':');
  if (colon < 0) return actor;
  const kind = actor.slice(0, colon);
  return kind === 'device' ? actor : kind;
}

/** The whitelisted data of one event, or null when its type does not go up. */
export function projectData(type: string, data: Record<string, unknown>, include: ReadonlySet<UplinkCategory>): Record<string, unknown> | null {
  const rule = UPLINK_WHITELIST[type];
  if (!rule || !include.has(rule.category)) return null;
  const out: Record<string, unknown> = {};
  for (const f of rule.fields) if (Object.hasOwn(data, f) && data[f] !== undefined) out[f] = data[f];
  return out;
}
