import { createHash } from 'node:crypto';
import type { Bus } from '../../kernel/bus.js';
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { HubEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { EventLog } from '../store/events.js';
import type { Store } from '../store/store.js';
import type { Feature } from '../services.js';
import { encodeVerifier, type NoteSigner } from './note.js';
import { latestCheckpoint, makeCheckpoint, type StoredCheckpoint } from './checkpoints.js';

/** What a session's seal states: its events up to the seal, counted and digested. */
export const SEAL_EVENT = 'audit.session-sealed';

/** The retained message on `fh/{site}/hub/checkpoint`, so that others keep copies. */
export interface CheckpointMessage {
  origin: string;
  size: number;
  root: string;
  /** The whole signed note (c2sp.org/tlog-checkpoint): what `audit verify --checkpoint` reads. */
  note: string;
  /** The verifier key, for convenience only: trust the one you got out of band. */
  key: string;
  madeAt: number;
  reason: string;
}

export interface AuditDeps {
  store: Store;
  events: EventLog;
  bus: Bus<HubEvents>;
  clock: Clock;
  log: Logger;
  /** Session close hooks run inside the closing transaction (the seal is written there). */
  sessions: { onClose(hook: (s: { id: string }, now: number) => void): void };
  signer: NoteSigner;
  policy: { checkpointEvents: number; checkpointMinutes: number };
  publish: (message: CheckpointMessage) => Promise<void>;
}

export type AuditFeature = Feature & { checkpoint: (reason: string) => Promise<StoredCheckpoint> };

/** SHA-256 over a session's leaf hashes in log order (what the seal and the pack verifier compute). */
/** A checkpoint asked for after the feature stopped (its final one covers it). */
class AuditStopped extends Error {}

export function sessionDigest(leaves: readonly Buffer[]): string {
  const h = createHash('sha256');
  for (const l of leaves) h.update(l);
  return h.digest('hex');
}

/**
 * Signed checkpoints of the event log: one every `checkpointEvents` records, one every
 * `checkpointMinutes` when the log grew, one at every session close, at start and at
 * stop. Each is stored and published retained. At a session's close its seal (count and
 * digest of the session's records) goes into the log first, so an evidence pack can
 * prove that no record of the session was left out.
 */
export function createAuditFeature(deps: AuditDeps): AuditFeature {
  const { store, events, bus, clock, log, signer, policy } = deps;
  const key = encodeVerifier(signer);
  let timer: TimerHandle | null = null;
  let lastSize = latestCheckpoint(store.db)?.size ?? -1;
  /** Every checkpoint runs after the one before it; `generic` is a queued events/interval one. */
  let chain: Promise<unknown> = Promise.resolve();
  let generic: Promise<StoredCheckpoint> | null = null;
  let stopped = false;

  const leavesOf = store.db.prepare('SELECT e.leaf_hash FROM event_sessions s JOIN events e ON e.seq = s.seq WHERE s.session_id = ? ORDER BY e.seq').pluck();
  deps.sessions.onClose((s) => {
    const leaves = (leavesOf.all(s.id) as string[]).map((h) => Buffer.from(h, 'hex'));
    const lastSeq = events.count();
    events.appendInTx({ type: SEAL_EVENT, actor: 'automation:audit', sessionIds: [s.id], data: { events: leaves.length, digest: sessionDigest(leaves), lastSeq } });
  });

  const makeNow = async (reason: string): Promise<StoredCheckpoint> => {
    const c = await makeCheckpoint(store, events, signer, reason, clock.now());
    if (c.size !== lastSize) {
      lastSize = c.size;
      log.info({ size: c.size, reason }, 'checkpoint signed');
    }
    // `reason` is why this one is published: a checkpoint already stored at this size (made
    // for another reason a moment before) is the one that covers it, a session's close too.
    await deps.publish({ origin: signer.name, size: c.size, root: c.root, note: c.note, key, madeAt: c.madeAt, reason }).catch((err: unknown) => log.warn({ err }, 'checkpoint not published'));
    return c;
  };

  /**
   * One at a time, in order. A request made while one runs gets the next one, which covers
   * what was appended meanwhile (never the one under way, which may not). Requests by event
   * count and interval coalesce into one queued checkpoint; a session close, a start or an
   * explicit request keeps its own, with its reason.
   */
  const checkpoint = (reason: string): Promise<StoredCheckpoint> => {
    const isGeneric = reason === 'events' || reason === 'interval';
    if (isGeneric && generic) return generic;
    const next = chain
      .catch(() => undefined)
      .then(() => {
        if (next === generic) generic = null;
        if (stopped) throw new AuditStopped();
        return makeNow(reason);
      });
    chain = next;
    if (isGeneric) generic = next;
    return next;
  };
  const quietly = (reason: string): void => {
    checkpoint(reason).catch((err: unknown) => {
      // Requests still queued at stop: the final checkpoint of stop() covers them.
      if (!(err instanceof AuditStopped)) log.error({ err, reason }, 'checkpoint failed');
    });
  };

  return {
    name: 'audit',
    checkpoint,
    async start() {
      events.onAppended((e) => {
        if (!stopped && e.seq - Math.max(lastSize, 0) >= policy.checkpointEvents) quietly('events');
      });
      bus.on('audit', 'session.status', (s) => {
        if (s.to === 'closed') quietly(`session-closed:${s.sessionId}`);
      });
      timer = clock.setInterval(() => {
        if (events.count() > lastSize) quietly('interval');
      }, policy.checkpointMinutes * 60_000);
      await checkpoint('start');
    },
    async stop() {
      timer?.cancel();
      bus.removeOwner('audit');
      stopped = true;
      await chain.catch(() => undefined);
    },
    async afterStop() {
      // The last word of this run (the other features' last records and hub.stopped) is
      // signed too; the hub runs this after every feature stopped, the broker still up.
      await makeNow('stop').catch((err: unknown) => log.error({ err }, 'final checkpoint failed'));
    },
  };
}
