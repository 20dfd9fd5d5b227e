/**
 * A hostile upsd for the NUT fuzz: a real TCP server (port 0) that reads the client's
 * command lines and answers `LIST VAR` with what the test armed for the next one (bytes in
 * pieces, optionally slowly, then keep the connection, close it, or stay silent), and with a
 * well-formed answer otherwise. USERNAME, PASSWORD and LOGIN get `OK`, unless a fault is
 * armed for the next one of them; everything else gets `ERR UNKNOWN-COMMAND`. A connection
 * whose login answer was mangled and that still asks LIST VAR is counted: a client that
 * took a mangled answer for OK.
 */
import net from 'node:net';

export interface HostileAnswer {
  /** Written in order; a piece may be empty. */
  pieces: Buffer[];
  /** Real milliseconds between pieces (0: all at once). */
  gapMs?: number;
  /** After the pieces: keep the connection (default), or close it. */
  then?: 'keep' | 'close';
}

export interface HostileNut {
  port: number;
  /** The answer to the next LIST VAR only; later ones get the good answer again. */
  armNext(answer: HostileAnswer): void;
  /** Streams one endless line to the next LIST VAR until the client closes (at most `capBytes`); resolves with the bytes written. */
  armEndless(capBytes: number): Promise<number>;
  /** The answer to the next USERNAME, PASSWORD or LOGIN (whichever is armed). */
  armLogin(command: 'USERNAME' | 'PASSWORD' | 'LOGIN', answer: HostileAnswer): void;
  /** Whether the armed login fault has been used. */
  loginFaultUsed(): boolean;
  /** LIST VAR asked on a connection whose login answer was mangled. */
  listsAfterBadLogin(): number;
  /** Cuts every connection, as a restarting upsd would. */
  dropConnections(): void;
  /** What a well-formed answer lists (name → value). */
  setVars(vars: Record<string, string>): void;
  /** The good answer as upsd would write it. */
  goodAnswer(): Buffer;
  openSockets(): number;
  listVarCount(): number;
  stop(): Promise<void>;
}

const quote = (v: string): string => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

export async function startHostileNut(ups: string, initial: Record<string, string>): Promise<HostileNut> {
  let vars = { ...initial };
  let armed: HostileAnswer | null = null;
  let endless: { cap: number; done: (n: number) => void } | null = null;
  let lists = 0;
  let login: { command: string; answer: HostileAnswer } | null = null;
  let loginUsed = true;
  let afterBadLogin = 0;
  const mangled = new WeakSet<net.Socket>();
  const sockets = new Set<net.Socket>();
  const good = (): Buffer => Buffer.from([`BEGIN LIST VAR ${ups}`, ...Object.entries(vars).map(([k, v]) => `VAR ${ups} ${k} ${quote(v)}`), `END LIST VAR ${ups}`, ''].join('\n'));

  const send = async (s: net.Socket, a: HostileAnswer): Promise<void> => {
    for (const p of a.pieces) {
      if (s.destroyed) return;
      if (p.length) s.write(p);
      if (a.gapMs) await new Promise((r) => setTimeout(r, a.gapMs));
    }
    if (a.then === 'close') s.end();
  };

  const stream = (s: net.Socket, e: { cap: number; done: (n: number) => void }): void => {
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    let written = 0;
    s.write(`BEGIN LIST VAR ${ups}\nVAR ${ups} ups.status "`);
    const more = (): void => {
      while (!s.destroyed && written < e.cap) {
        written += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', more);
      }
      if (written >= e.cap) e.done(written);
    };
    s.once('close', () => e.done(written));
    more();
  };

  const server = net.createServer({ noDelay: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        const verb = line.split(' ')[0] ?? '';
        if (login && verb === login.command) {
          const a = login.answer;
          login = null;
          loginUsed = true;
          mangled.add(s);
          void send(s, a);
        } else if (verb === 'USERNAME' || verb === 'PASSWORD' || verb === 'LOGIN') s.write('OK\n');
        else if (/^LIST VAR /.test(line)) {
          lists++;
          if (mangled.has(s)) afterBadLogin++;
          if (endless) {
            const e = endless;
            endless = null;
            stream(s, e);
          } else if (armed) {
            const a = armed;
            armed = null;
            void send(s, a);
          } else s.write(good());
        } else s.write('ERR UNKNOWN-COMMAND\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    armNext: (a) => void (armed = a),
    armEndless: (cap) => new Promise((resolve) => (endless = { cap, done: (n) => resolve(n) })),
    armLogin: (command, answer) => {
      login = { command, answer };
      loginUsed = false;
    },
    loginFaultUsed: () => loginUsed,
    listsAfterBadLogin: () => afterBadLogin,
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    setVars: (v) => void (vars = { ...v }),
    goodAnswer: good,
    openSockets: () => sockets.size,
    listVarCount: () => lists,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
