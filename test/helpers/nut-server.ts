/**
 * A small upsd stand-in for tests: a real TCP server speaking the NUT network protocol
 * for LIST VAR, GET VAR, USERNAME, PASSWORD and LOGOUT. It has its own tokenizer so a
 * parsing bug in the client cannot hide behind a shared one.
 */
import net from 'node:net';

export interface NutServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  ups?: string;
  vars?: Record<string, string>;
  /** When set, LIST/GET need USERNAME and PASSWORD matching these first. */
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

  const answer = (line: string, session: { user?: string; authed: boolean }): string[] | 'close' => {
    const w = words(line);
    const cmd = (w[0] ?? '').toUpperCase();
    const needAuth = opts.auth !== undefined && !session.authed;
    if (cmd === 'USERNAME' && w.length === 2) {
      session.user = w[1];
      return ['OK'];
    }
    if (cmd === 'PASSWORD' && w.length === 2) {
      if (opts.auth && (session.user !== opts.auth.username || w[1] !== opts.auth.password)) return ['ERR ACCESS-DENIED'];
      session.authed = true;
      return ['OK'];
    }
    if (cmd === 'LOGOUT') return 'close';
    if (cmd === 'LIST' && (w[1] ?? '').toUpperCase() === 'VAR' && w.length === 3) {
      if (needAuth) return ['ERR ACCESS-DENIED'];
      if (w[2] !== ups) return ['ERR UNKNOWN-UPS'];
      return [
        `BEGIN LIST VAR ${ups}`,
        ...[...vars].map(([k, v]) => `VAR ${ups} ${k} ${quote(v)}`),
        `END LIST VAR ${ups}`,
      ];
    }
    if (cmd === 'GET' && (w[1] ?? '').toUpperCase() === 'VAR' && w.length === 4) {
      if (needAuth) return ['ERR ACCESS-DENIED'];
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
    const session: { user?: string; authed: boolean } = { authed: false };
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
