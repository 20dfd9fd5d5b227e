/**
 * The uplink to the county platform (docs/uplink.md): session events without personal
 * data, alarms, power and jammer events, and the signed audit checkpoints, forwarded at
 * QoS 1 to an upstream MQTT broker through a durable SQLite outbox, in order, each with a
 * per-site seq the receiver deduplicates on.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { Type } from '@sinclair/typebox';
import { UPLINK_CATEGORIES, type UplinkConfig } from '../../config/schema.js';
import { AlarmLatch } from '../../devices/alarm.js';
import type { TimerHandle } from '../../kernel/clock.js';
import type { Feature, HubServices } from '../services.js';
import type { RoutePlugin } from '../api/types.js';
import { SUPERVISE } from '../api/types.js';
import { Outbox } from './outbox.js';
import { Publisher, type UplinkState } from './publisher.js';

export type UplinkDeps = Pick<HubServices, 'facility' | 'dataDir' | 'configDir' | 'clock' | 'log' | 'bus' | 'store' | 'events' | 'metrics'>;

export const BACKLOG_ALARM = 'uplink-backlog';
/** The log is looked at this often even when nothing was appended (a new checkpoint is not an event). */
const POLL_MS = 5_000; // 5 s

export interface UplinkStatus {
  state: UplinkState;
  url: string;
  backlog: number;
  backlogLimit: number;
  /** The highest seq the upstream broker acknowledged (null before the first ever). */
  lastSentSeq: number | null;
  /** The newest seq given to a message. */
  lastSeq: number;
  inFlight: number;
  lastError: string | null;
}

export type UplinkFeature = Feature & {
  status(): UplinkStatus;
  /** Look at the log now (the audit feature calls it after each checkpoint). */
  poke(): void;
  /** Resolves once everything appended so far is in the outbox. */
  settled(): Promise<void>;
};

const STATE_TEXT: Record<UplinkState, string> = {
  connecting: '正在连接 / connecting',
  connected: '已连接 / connected',
  disconnected: '已断开，消息暂存本地 / disconnected, messages kept locally',
  stopped: '已停止 / stopped',
};

/** The password: from the named environment variable or a file in the data dir, never from the config. */
function readPassword(cfg: UplinkConfig, dataDir: string): string | undefined {
  if (cfg.passwordEnv !== undefined) {
    const v = process.env[cfg.passwordEnv];
    if (v === undefined || v === '') throw new Error(`uplink.passwordEnv: the environment variable ${cfg.passwordEnv} is not set`);
    return v;
  }
  if (cfg.passwordFile !== undefined) {
    const file = join(dataDir, cfg.passwordFile);
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new Error(`uplink.passwordFile: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  return undefined;
}

function readPem(field: 'ca' | 'cert' | 'key', path: string | undefined, configDir: string): Buffer | undefined {
  if (path === undefined) return undefined;
  const file = isAbsolute(path) ? path : resolve(configDir, path);
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`uplink.${field}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** Null when the config has no `uplink`: nothing is sent and nothing is kept. */
export function createUplinkFeature(deps: UplinkDeps): UplinkFeature | null {
  const cfg = deps.facility.uplink;
  if (!cfg) return null;
  const { store, events, clock, bus, metrics } = deps;
  const log = deps.log.child({ module: 'uplink' });
  const site = deps.facility.site.id;
  const outbox = new Outbox(store, cfg.include ?? UPLINK_CATEGORIES, () => clock.now(), deps.facility.site.utcOffset);
  const topicPrefix = cfg.topicPrefix ?? `county/${site}`;
  let lastSentSeq: number | null = null;
  let publisher: Publisher | null = null;
  let timer: TimerHandle | null = null;
  let stopped = false;

  const r = [metrics.registry];
  new Gauge({ name: 'fh_uplink_backlog', help: 'Uplink messages waiting for the upstream broker\'s PUBACK', registers: r, collect() { this.set(outbox.backlog()); } });
  const sent = new Counter({ name: 'fh_uplink_sent_total', help: 'Uplink messages acknowledged by the upstream broker', registers: r });
  const connected = new Gauge({ name: 'fh_uplink_connected', help: 'Connected to the upstream broker (1) or not (0)', registers: r });

  const alarms = new AlarmLatch({ source: 'uplink', actor: 'automation:uplink', bus, events, log, sessionIds: () => [] });
  const checkBacklog = (): void => {
    const n = outbox.backlog();
    if (n >= cfg.backlogLimit && !alarms.isActive(BACKLOG_ALARM)) {
      void alarms.raise({
        id: BACKLOG_ALARM,
        severity: 'warning',
        message: `上级平台上传积压 ${n} 条（上限 ${cfg.backlogLimit}），消息保留在本地 / county uplink backlog ${n} messages (limit ${cfg.backlogLimit}); nothing is dropped`,
        data: { backlog: n, limit: cfg.backlogLimit },
      });
    } else if (n < cfg.backlogLimit && alarms.isActive(BACKLOG_ALARM)) {
      void alarms.clear(BACKLOG_ALARM, `backlog ${n} below ${cfg.backlogLimit}`);
    }
  };

  // One fill at a time; a request during one runs another after it (it may have missed rows).
  let filling: Promise<void> | null = null;
  let again = false;
  const fillOutbox = (): Promise<void> => {
    if (filling) {
      again = true;
      return filling;
    }
    filling = (async () => {
      try {
        do {
          again = false;
          let more = true;
          while (more && !stopped) {
            const step = await outbox.fill();
            more = step.more;
            if (step.added > 0) publisher?.fill();
          }
        } while (again && !stopped);
      } catch (err) {
        log.error({ err }, 'uplink outbox not filled');
      } finally {
        filling = null;
      }
      checkBacklog();
    })();
    return filling;
  };

  // PUBACKs are deleted in groups: every ack of one tick in one commit.
  let acked: number[] = [];
  const onAcked = (seq: number): void => {
    sent.inc();
    lastSentSeq = Math.max(lastSentSeq ?? 0, seq);
    acked.push(seq);
    if (acked.length > 1) return;
    setImmediate(() => {
      const batch = acked;
      acked = [];
      outbox.acknowledged(batch).then(checkBacklog, (err: unknown) => log.error({ err }, 'acknowledged uplink rows not deleted (they are sent again)'));
    });
  };

  const status = (): UplinkStatus => ({
    state: publisher?.currentState() ?? 'stopped',
    url: cfg.url,
    backlog: outbox.backlog(),
    backlogLimit: cfg.backlogLimit,
    // Before the first PUBACK of this run: everything below the oldest row waiting was acknowledged.
    lastSentSeq: lastSentSeq ?? ((outbox.page(0, 1)[0]?.seq ?? outbox.lastSeq() + 1) - 1 || null),
    lastSeq: outbox.lastSeq(),
    inFlight: publisher?.inFlight() ?? 0,
    lastError: publisher?.lastError() ?? null,
  });

  const routes: RoutePlugin = async (app) => {
    app.get(
      '/api/uplink',
      {
        config: { roles: SUPERVISE },
        schema: {
          tags: ['uplink'],
          summary: 'The county uplink: connection, backlog, last acknowledged seq, last error',
          response: {
            200: Type.Object({
              state: Type.String({ description: 'connecting, connected, disconnected or stopped' }),
              stateText: Type.String(),
              url: Type.String(),
              backlog: Type.Integer(),
              backlogLimit: Type.Integer(),
              lastSentSeq: Type.Union([Type.Integer(), Type.Null()]),
              lastSeq: Type.Integer(),
              inFlight: Type.Integer(),
              lastError: Type.Union([Type.String(), Type.Null()]),
            }),
          },
        },
      },
      async () => {
        const s = status();
        return { ...s, stateText: STATE_TEXT[s.state] };
      },
    );
  };

  return {
    name: 'uplink',
    routes,
    status,
    poke: () => void fillOutbox(),
    async settled() {
      while (filling) await filling;
      await fillOutbox();
    },
    async start() {
      const password = readPassword(cfg, deps.dataDir);
      const ca = readPem('ca', cfg.ca, deps.configDir);
      const cert = readPem('cert', cfg.cert, deps.configDir);
      const key = readPem('key', cfg.key, deps.configDir);
      publisher = new Publisher(
        {
          url: cfg.url,
          clientId: cfg.clientId ?? `fh-uplink-${site}`,
          topicPrefix,
          site,
          window: cfg.window,
          reconnectMinMs: cfg.reconnectMinMs,
          reconnectMaxMs: cfg.reconnectMaxMs,
          ...(cfg.username !== undefined ? { username: cfg.username } : {}),
          ...(password !== undefined ? { password } : {}),
          ...(ca ? { ca } : {}),
          ...(cert ? { cert } : {}),
          ...(key ? { key } : {}),
        },
        outbox,
        log,
        { onAcked, onState: (s) => connected.set(s === 'connected' ? 1 : 0) },
      );
      events.onAppended(() => {
        if (!stopped) void fillOutbox();
      });
      timer = clock.setInterval(() => void fillOutbox(), POLL_MS);
      log.info({ url: cfg.url, topicPrefix, username: cfg.username ?? null, backlog: outbox.backlog() }, 'uplink starting');
      publisher.start();
      await fillOutbox();
    },
    async stop() {
      stopped = true;
      timer?.cancel();
      while (filling) await filling;
      await publisher?.stop();
      if (acked.length) await outbox.acknowledged(acked.splice(0)).catch(() => undefined);
    },
  };
}
