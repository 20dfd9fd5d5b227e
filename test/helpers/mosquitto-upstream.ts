/**
 * A real Mosquitto (Debian's /usr/sbin/mosquitto) as the county platform's broker: a temp
 * dir, a fixed free port (so a restart comes back on the same one), `persistence true` so
 * that sessions and queued QoS 1 messages survive a restart. Each start is one child
 * process, ended by stop() (the test's teardown calls it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface Upstream {
  port: number;
  url: string;
  start(): Promise<void>;
  /** SIGTERM, and resolves once the process has exited (`onExit` runs just before). */
  stop(hooks?: { onSignal?: () => void; onExit?: () => void }): Promise<void>;
  restart(): Promise<void>;
  /** Ends the broker and removes its dir. */
  close(): Promise<void>;
}

export function mosquittoAvailable(): boolean {
  return existsSync(MOSQUITTO);
}


async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startUpstream(): Promise<Upstream> {
  const dir = mkdtempSync(join(tmpdir(), 'fh-upstream-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      // Run as root, Mosquitto switches to the user `mosquitto`, which cannot write this temp
      // dir: persistence would fail at shutdown and every session be lost across a restart.
      `user ${userInfo().username}`,
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      // Queued for an offline subscriber without a cap: the test counts every message.
      'max_queued_messages 0',
      'max_inflight_messages 20',
      'log_dest none',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | null = null;
  let stderr = '';

  const up: Upstream = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    async start() {
      if (child) return;
      const c = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child = c;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      for (let i = 0; i < 200; i++) {
        if (await accepts(port)) return;
        const done = await Promise.race([exited.then(() => true), sleep(25).then(() => false)]);
        if (done) break;
      }
      child = null;
      throw new Error(`mosquitto did not start on ${port}: ${stderr}`);
    },
    async stop(hooks = {}) {
      const c = child;
      if (!c) return;
      child = null;
      if (c.exitCode !== null) return;
      // SIGTERM: Mosquitto writes its persistence file (sessions, queued messages) and exits.
      await new Promise<void>((resolve) => {
        c.once('exit', () => {
          hooks.onExit?.();
          resolve();
        });
        hooks.onSignal?.();
        c.kill('SIGTERM');
      });
    },
    async restart() {
      await up.stop();
      await up.start();
    },
    async close() {
      await up.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await up.start();
  return up;
}

export interface UplinkMessage {
  topic: string;
  seq: number;
  kind: string;
  type?: string;
  raw: string;
  body: Record<string, unknown>;
}

/**
 * The county side: a subscriber with a persistent session (clean: false, fixed client id,
 * QoS 1) that keeps every message it gets, duplicates included, and dedupes by seq.
 */
export interface Receiver {
  all: UplinkMessage[];
  bySeq: Map<number, UplinkMessage>;
  duplicates(): number;
  close(): Promise<void>;
}

export async function startReceiver(url: string, prefix = 'county/demo', clientId = `county-receiver-${process.pid}-${Math.random().toString(36).slice(2, 8)}`): Promise<Receiver> {
  const { default: mqtt } = await import('mqtt');
  const all: UplinkMessage[] = [];
  const bySeq = new Map<number, UplinkMessage>();
  const client = await mqtt.connectAsync(url, { clientId, clean: false, protocolVersion: 4, reconnectPeriod: 50 });
  client.on('error', () => undefined);
  client.on('message', (topic, payload) => {
    const raw = payload.toString('utf8');
    const body = JSON.parse(raw) as Record<string, unknown>;
    const m: UplinkMessage = { topic, seq: body.seq as number, kind: body.kind as string, raw, body, ...(typeof body.type === 'string' ? { type: body.type } : {}) };
    all.push(m);
    if (!bySeq.has(m.seq)) bySeq.set(m.seq, m);
  });
  await client.subscribeAsync(`${prefix}/#`, { qos: 1 });
  return {
    all,
    bySeq,
    duplicates: () => all.length - bySeq.size,
    async close() {
      await client.endAsync(true).catch(() => undefined);
    },
  };
}

/**
 * The network between the hub and the county: a TCP relay on its own fixed port. cut()
 * drops every connection and refuses new ones (nothing in flight is acknowledged), restore()
 * accepts again on the same port.
 */
export interface Link {
  port: number;
  url: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startLink(targetPort: number): Promise<Link> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  const listen = async (): Promise<void> => {
    const srv = createServer({ noDelay: true }, (a) => {
      const b = connect({ port: targetPort, host: '127.0.0.1', noDelay: true });
      sockets.add(a);
      sockets.add(b);
      const end = (): void => {
        a.destroy();
        b.destroy();
        sockets.delete(a);
        sockets.delete(b);
      };
      a.on('error', end).on('close', end);
      b.on('error', end).on('close', end);
      a.pipe(b);
      b.pipe(a);
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
    });
    server = srv;
  };
  const cut = async (): Promise<void> => {
    const srv = server;
    server = null;
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
  };
  await listen();
  return { port, url: `mqtt://127.0.0.1:${port}`, cut, restore: listen, close: cut };
}
