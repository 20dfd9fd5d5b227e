/**
 * The console's live feed over Server-Sent Events (no WebSocket, no plugin: a small route on
 * Fastify's raw reply). Every committed event-log record is pushed with its seq as the SSE id,
 * so a client that reconnects resumes exactly after the last record it saw (Last-Event-ID, or
 * `after` in the query string when the page reconnects by itself).
 *
 * EventSource cannot send an Authorization header, and a bearer token in a URL ends up in
 * proxy and browser history: the page first asks for a ticket with its token
 * (`POST /api/live/ticket`), a random single-use value valid for 30 s, and opens the stream
 * with `?ticket=`. The stream lives as long as the token that asked for the ticket may read
 * the API: it is ended when that token is logged out, when its user is disabled, gets a new
 * password or a role that may not read the feed (at once: Users tells us), and when the token
 * expires (noticed at the next heartbeat, within HEARTBEAT_MS).
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { Type } from '@sinclair/typebox';
import { HubError } from '../errors.js';
import { formatTime } from '../../kernel/time.js';
import type { Clock, TimerHandle } from '../../kernel/clock.js';
import type { EventLog, StoredEvent } from '../store/events.js';
import type { User, Users } from '../users.js';
import { STAFF, type Api, type ApiDeps, type RoutePlugin } from './types.js';

/** A ticket is good for this long (ms), once: enough to open the stream right after asking. */
export const TICKET_TTL_MS = 30_000;
/** A comment line this often (ms) keeps proxies and the browser from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/** At most this many records are replayed on (re)connect; an older client reloads its views. */
const REPLAY_MAX = 1000;
/** Tickets outstanding at once; more means someone is asking without opening streams. */
const TICKETS_MAX = 1000;

export interface LiveDeps {
  events: EventLog;
  clock: Clock;
  /** Site offset for the `time` field, as the rest of the API writes times. */
  utcOffset: string;
  /** Extra named streams without login (the public display): name → snapshot, and which events change it. */
  publicStreams?: Record<string, { snapshot: () => unknown; changedBy: (e: StoredEvent) => boolean }>;
}

interface Client {
  res: ServerResponse;
  user: User | null;
  /** The bearer token the ticket was asked with (null for a public stream): re-checked, never sent. */
  token: string | null;
  /** For a public stream: which one; null for the event stream. */
  stream: string | null;
  /** The last seq written: a record committed just before a replay's query is heard again by the listener. */
  lastSeq: number;
}

function frame(id: number | null, event: string, data: unknown): string {
  return `${id !== null ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Opens an SSE response on the raw socket (the reply is hijacked: Fastify sends nothing more). */
function open(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no', // a reverse proxy must not buffer the stream
    'x-content-type-options': 'nosniff',
  });
  // The browser waits this long (ms) before it reconnects by itself.
  res.write('retry: 2000\n\n');
}

/** Whether a bearer token still belongs to an enabled user whose role may read the feed. */
function mayRead(users: Users, token: string): boolean {
  const u = users.authenticate(token);
  return u !== null && u !== 'expired' && STAFF.includes(u.role);
}

export function liveRoutes(live: LiveDeps): RoutePlugin {
  return async (app: Api, deps: ApiDeps) => {
    const tickets = new Map<string, { user: User; token: string; expires: number }>();
    const clients = new Set<Client>();
    const view = (e: StoredEvent) => ({ ...e, time: formatTime(e.ts, live.utcOffset) });

    /** Ends every event stream whose token may no longer read the feed (logged out, expired, disabled, demoted). */
    const revalidate = (users: Users): void => {
      for (const c of clients) {
        if (c.token === null || mayRead(users, c.token)) continue;
        clients.delete(c);
        c.res.end(frame(null, 'ended', { reason: 'login ended' }));
      }
    };
    const offTokens = deps.users.onTokensEnded(() => revalidate(deps.users));

    // One listener for every client; it runs after the record is committed.
    let closed = false;
    live.events.onAppended((e) => {
      if (closed) return;
      // A user change (disabled, new role) is checked before the record goes out, so the
      // disabled user's stream does not receive it.
      if (e.type.startsWith('user.')) revalidate(deps.users);
      const changed = new Set<string>();
      for (const c of clients) {
        if (c.stream === null) {
          if (e.seq <= c.lastSeq) continue;
          c.lastSeq = e.seq;
          c.res.write(frame(e.seq, 'event', view(e)));
        }
        else if (live.publicStreams?.[c.stream]?.changedBy(e)) changed.add(c.stream);
      }
      for (const name of changed) {
        const data = frame(null, name, live.publicStreams![name]!.snapshot());
        for (const c of clients) if (c.stream === name) c.res.write(data);
      }
    });
    const heartbeat: TimerHandle = live.clock.setInterval(() => {
      const now = live.clock.now();
      for (const [k, t] of tickets) if (t.expires <= now) tickets.delete(k);
      revalidate(deps.users); // an expired token is noticed here
      for (const c of clients) c.res.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    app.addHook('onClose', async () => {
      closed = true;
      offTokens();
      heartbeat.cancel();
      for (const c of clients) c.res.end();
      clients.clear();
    });

    const attach = (c: Client): void => {
      clients.add(c);
      c.res.on('close', () => clients.delete(c));
    };

    app.post(
      '/api/live/ticket',
      {
        config: { roles: STAFF },
        schema: {
          tags: ['live'],
          summary: 'A single-use ticket (30 s) to open GET /api/live: EventSource cannot send the bearer token',
          response: { 200: Type.Object({ ticket: Type.String(), expiresAt: Type.String() }) },
        },
      },
      async (request) => {
        if (tickets.size >= TICKETS_MAX) {
          const now = live.clock.now();
          for (const [k, t] of tickets) if (t.expires <= now) tickets.delete(k);
          if (tickets.size >= TICKETS_MAX) throw new HubError('HUB_ERR_BAD_REQUEST', [], { reason: 'too many open live tickets' });
        }
        const ticket = randomBytes(24).toString('base64url');
        const expires = live.clock.now() + TICKET_TTL_MS;
        // The access check has authenticated this header; the stream is tied to this very token.
        const token = String(request.headers.authorization).slice(7).trim();
        tickets.set(ticket, { user: request.user!, token, expires });
        return { ticket, expiresAt: formatTime(expires, live.utcOffset) };
      },
    );

    app.get(
      '/api/live',
      {
        // Public to the access check: the single-use ticket (from an authenticated POST) is the credential.
        config: { public: true },
        schema: {
          tags: ['live'],
          summary: 'Server-Sent Events: every event-log record as it is committed (id = seq); resumes after Last-Event-ID or `after`',
          security: [],
          querystring: Type.Object(
            {
              ticket: Type.String({ minLength: 1, maxLength: 100, description: 'from POST /api/live/ticket' }),
              after: Type.Optional(Type.Integer({ minimum: 0, description: 'the last seq seen (when the page reconnects itself)' })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const t = tickets.get(request.query.ticket);
        tickets.delete(request.query.ticket);
        if (!t || t.expires <= live.clock.now()) throw new HubError('HUB_ERR_UNAUTHENTICATED', [], { reason: 'live ticket unknown, used or expired' });
        // Logged out (or disabled) between the ticket and the stream: refused like a used ticket.
        if (!mayRead(deps.users, t.token)) throw new HubError('HUB_ERR_UNAUTHENTICATED', [], { reason: 'the login that asked for this ticket has ended' });
        const header = request.headers['last-event-id'];
        const fromHeader = typeof header === 'string' && /^\d{1,15}$/.test(header) ? Number(header) : undefined;
        const after = fromHeader ?? request.query.after;
        reply.hijack();
        const res = reply.raw;
        open(res);
        // Only what the replay already wrote is skipped later; every other commit is new.
        let lastSeq = 0;
        if (after !== undefined) {
          // Replay what was missed, then the live records follow in order (same tick: no gap).
          const missed = live.events.query({ afterSeq: after, limit: REPLAY_MAX + 1 });
          if (missed.length > REPLAY_MAX) res.write(frame(null, 'reset', { reason: 'too far behind' }));
          else for (const e of missed) res.write(frame(e.seq, 'event', view(e)));
          lastSeq = Math.max(after, missed.at(-1)?.seq ?? after);
        }
        res.write(frame(null, 'hello', { head: live.events.count(), user: t.user.username, role: t.user.role }));
        attach({ res, user: t.user, token: t.token, stream: null, lastSeq });
      },
    );

    for (const name of Object.keys(live.publicStreams ?? {})) {
      app.get(
        `/api/live/${name}`,
        { config: { public: true }, schema: { tags: ['live'], summary: `Server-Sent Events: the ${name} snapshot whenever it changes (no login, no personal data)`, security: [] } },
        async (_request, reply) => {
          reply.hijack();
          const res = reply.raw;
          open(res);
          res.write(frame(null, name, live.publicStreams![name]!.snapshot()));
          attach({ res, user: null, token: null, stream: name, lastSeq: 0 });
        },
      );
    }
  };
}
