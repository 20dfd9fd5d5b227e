/**
 * A small upsd stand-in for tests: a real TCP server speaking the NUT network protocol
 * for LIST VAR, GET VAR, LIST CLIENT, USERNAME, PASSWORD, LOGIN and LOGOUT. Like upsd,
 * it checks credentials only at LOGIN, and reads need no login. It has its own tokenizer so a
 * parsing bug in the client cannot hide behind a shared one.
 */
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export interface NutServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  ups?: string;
  vars?: Record<string, string>;
  /** When set, LOGIN needs USERNAME and PASSWORD matching these (as upsd.users would). */
  auth?: { username: string; password: string };
}

export interface NutServer {
  port: number;
  setVar(name: string, value: string): void;
  deleteVar(name: string): void;
  /** Stops answering (requests time out) while true. */
  setUnresponsive(on: boolean): void;
  /** Commands received, in order, across connections (passwords masked). */
  commands(): string[];
  connections(): number;
  /** Cuts every client connection, as a restarting upsd would. */
  dropConnections(): void;
  stop(): Promise<void>;
}

interface Session {
  address: string;
  user?: string;
  password?: string;
}

function words(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  }
  return out;
}

function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export async function startNutServer(opts: NutServerOptions = {}): Promise<NutServer> {
  const ups = opts.ups ?? 'ups1';
  const vars = new Map(Object.entries(opts.vars ?? {}));
  const sockets = new Set<net.Socket>();
  const seen: string[] = [];
  let unresponsive = false;

  const loggedIn = new Set<Session>();
  const answer = (line: string, session: Session): string[] | 'close' => {
    const w = words(line);
    const cmd = (w[0] ?? '').toUpperCase();
    if (cmd === 'USERNAME' && w.length === 2) {
      session.user = w[1];
      return ['OK'];
    }
    if (cmd === 'PASSWORD' && w.length === 2) {
      session.password = w[1];
      return ['OK'];
    }
    if (cmd === 'LOGIN' && w.length === 2) {
      if (session.user === undefined) return ['ERR USERNAME-REQUIRED'];
      if (session.password === undefined) return ['ERR PASSWORD-REQUIRED'];
      if (loggedIn.has(session)) return ['ERR ALREADY-LOGGED-IN'];
      if (w[1] !== ups) return ['ERR UNKNOWN-UPS'];
      if (opts.auth && (session.user !== opts.auth.username || session.password !== opts.auth.password)) return ['ERR ACCESS-DENIED'];
      loggedIn.add(session);
      return ['OK'];
    }
    if (cmd === 'LIST' && (w[1] ?? '').toUpperCase() === 'CLIENT' && w.length === 3) {
      return [`BEGIN LIST CLIENT ${ups}`, ...[...loggedIn].map((s) => `CLIENT ${ups} ${s.address}`), `END LIST CLIENT ${ups}`];
    }
    if (cmd === 'LOGOUT') return 'close';
    if (cmd === 'LIST' && (w[1] ?? '').toUpperCase() === 'VAR' && w.length === 3) {
      if (w[2] !== ups) return ['ERR UNKNOWN-UPS'];
      return [
        `BEGIN LIST VAR ${ups}`,
        ...[...vars].map(([k, v]) => `VAR ${ups} ${k} ${quote(v)}`),
        `END LIST VAR ${ups}`,
      ];
    }
    if (cmd === 'GET' && (w[1] ?? '').toUpperCase() === 'VAR' && w.length === 4) {
      if (w[2] !== ups) return ['ERR UNKNOWN-UPS'];
      const v = vars.get(w[3] ?? '');
      return v === undefined ? ['ERR VAR-NOT-SUPPORTED'] : [`VAR ${ups} ${w[3]} ${quote(v)}`];
    }
    return ['ERR UNKNOWN-COMMAND'];
  };

  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const session: Session = { address: socket.remoteAddress ?? '' };
    socket.on('close', () => loggedIn.delete(session));
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        seen.push(/^PASSWORD /i.test(line) ? 'PASSWORD ***' : line);
        if (unresponsive) continue;
        const out = answer(line, session);
        if (out === 'close') {
          socket.end('OK Goodbye\n');
          return;
        }
        socket.write(out.map((l) => `${l}\n`).join(''));
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    setVar: (name, value) => void vars.set(name, value),
    deleteVar: (name) => void vars.delete(name),
    setUnresponsive: (on) => {
      unresponsive = on;
    },
    commands: () => [...seen],
    connections: () => sockets.size,
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Debian's real `upsd` with a `dummy-ups` driver, each test with its own config and state
 * dir and a free port. upsd checks credentials at LOGIN (upsd.users), which the stand-in
 * above does not model. Both processes run in the foreground and are ended by `stop()`.
 */
export interface RealUpsdOptions {
  ups?: string;
  /** The driver's data file (`dummy-ups`): variable → value. */
  vars?: Record<string, string>;
  /** upsd.users entries; `upsmon` gives the role LOGIN needs (omit it to see LOGIN refused). */
  users?: { name: string; password: string; upsmon?: 'primary' | 'secondary' }[];
}

export interface RealUpsd {
  port: number;
  ups: string;
  /** Sends raw lines to upsd on a fresh connection and returns everything it answered. */
  ask(lines: string[]): Promise<string[]>;
  stop(): Promise<void>;
}

export const UPSD_BIN = '/lib/nut/upsd';
export const DUMMY_UPS_BIN = '/lib/nut/dummy-ups';


function askUpsd(port: number, lines: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: '127.0.0.1', port });
    let text = '';
    const expected = lines.length;
    const timer = setTimeout(() => finish(), 2000);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text.split('\n').filter((l) => l.length > 0));
    };
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      // Each request line ends in one answer line, except LIST (BEGIN..END).
      const answers = text.split('\n').filter((l) => l.length > 0 && !/^(VAR|BEGIN|CLIENT|UPS) /.test(l)).length;
      if (answers >= expected) finish();
    });
    socket.on('connect', () => socket.write(lines.map((l) => `${l}\n`).join('')));
  });
}

export async function startRealUpsd(opts: RealUpsdOptions = {}): Promise<RealUpsd> {
  const ups = opts.ups ?? 'ups1';
  const dir = mkdtempSync(join(tmpdir(), 'fh-upsd-'));
  const state = join(dir, 'state');
  mkdirSync(state, { mode: 0o700 });
  const port = await freePort();
  const vars = opts.vars ?? { 'ups.status': 'OL' };
  writeFileSync(join(dir, `${ups}.dev`), Object.entries(vars).map(([k, v]) => `${k}: ${v}\n`).join(''));
  writeFileSync(join(dir, 'nut.conf'), 'MODE=netserver\n');
  writeFileSync(join(dir, 'ups.conf'), `[${ups}]\n  driver = dummy-ups\n  port = ${ups}.dev\n  desc = "facility-hub test"\n`);
  writeFileSync(join(dir, 'upsd.conf'), `LISTEN 127.0.0.1 ${port}\n`);
  writeFileSync(
    join(dir, 'upsd.users'),
    (opts.users ?? []).map((u) => `[${u.name}]\n  password = ${u.password}\n${u.upsmon ? `  upsmon ${u.upsmon}\n` : ''}`).join(''),
  );
  chmodSync(join(dir, 'upsd.users'), 0o600);
  const env = { ...process.env, NUT_CONFPATH: dir, NUT_STATEPATH: state, NUT_ALTPIDPATH: state };
  const procs: ChildProcess[] = [];
  const output: string[] = [];
  const run = (bin: string, args: string[]): void => {
    const p = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    p.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    procs.push(p);
  };
  const stop = async (): Promise<void> => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            const kill = setTimeout(() => p.kill('SIGKILL'), 3000);
            p.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            p.kill('SIGTERM');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // -F: foreground; -u root: this machine runs tests as root and has no "nut" user to switch to.
    run(DUMMY_UPS_BIN, ['-a', ups, '-u', 'root', '-F']);
    run(UPSD_BIN, ['-u', 'root', '-F']);
    // Ready when upsd listens and has the driver's data (it connects to the driver on its own).
    const until = Date.now() + 15_000;
    for (;;) {
      const answer = await askUpsd(port, [`GET VAR ${ups} ups.status`]).catch(() => [] as string[]);
      if (answer[0]?.startsWith('VAR ')) break;
      if (Date.now() > until) throw new Error(`upsd did not become ready: ${answer.join(' | ')}\n${output.join('')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, ups, ask: (lines) => askUpsd(port, lines), stop };
}
