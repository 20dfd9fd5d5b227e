/**
 * NutClient: a client of Network UPS Tools' upsd over its line-based TCP protocol
 * (docs/net-protocol.txt in NUT). One request at a time on one connection; answers are
 * Results, `ERR <code>` becomes a 'rejected' failure carrying the code.
 */
import net from 'node:net';
import { Backoff, ConnectionState, FailureStreak } from './retry.js';
import type { Clock, TimerHandle } from '../kernel/clock.js';
import type { Logger } from '../kernel/log.js';
import { fail, ok, type Result } from '../kernel/result.js';

export interface NutConfig {
  host: string;
  port?: number;
  ups: string;
  username?: string;
  password?: string;
  timeoutMs?: number;
}

export interface NutClientContext {
  config: NutConfig;
  clock: Clock;
  log: Logger;
  /** Backoff between connection attempts; tests shorten it. */
  reconnect?: { initialMs?: number; maxMs?: number };
}

export const NUT_DEFAULTS = {
  port: 3493, // IANA-registered port of upsd
  timeoutMs: 2000, // per request and per connection attempt
  reconnectInitialMs: 500,
  reconnectMaxMs: 30_000, // 30 s
  maxLineLength: 4096, // upsd lines are short; anything longer is garbage
} as const;

export interface UpsStatus {
  online: boolean;
  onBattery: boolean;
  lowBattery: boolean;
  replaceBattery: boolean;
  forcedShutdown: boolean;
  charging: boolean;
  overload: boolean;
  bypass: boolean;
  tokens: string[];
}

/** Bytes no upsd line contains: control characters (but tab) and what invalid UTF-8 decodes to. */
// eslint-disable-next-line no-control-regex
const CONTROL_OR_INVALID = /[\u0000-\u0008\u000a-\u001f\u007f\ufffd]/;

/** Reads the space-separated `ups.status` flags (OL, OB, LB, RB, FSD, CHRG, DISCHRG, OVER, BYPASS, ...). */
export function parseUpsStatus(status: string): UpsStatus {
  const tokens = status.trim().split(/\s+/).filter((s) => s.length > 0);
  const has = (flag: string): boolean => tokens.includes(flag);
  return {
    online: has('OL'),
    onBattery: has('OB'),
    lowBattery: has('LB'),
    replaceBattery: has('RB'),
    forcedShutdown: has('FSD'),
    charging: has('CHRG'),
    overload: has('OVER'),
    bypass: has('BYPASS'),
    tokens,
  };
}

/**
 * Splits one protocol line into words; a double-quoted word may contain spaces, and inside
 * it a backslash escapes the next character (`\"`, `\\`). Returns null for an unterminated quote.
 */
export function splitNutLine(line: string): string[] | null {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ' || line[i] === '\t') {
      i++;
      continue;
    }
    let word = '';
    if (line[i] === '"') {
      i++;
      let closed = false;
      while (i < line.length) {
        const c = line[i] ?? '';
        if (c === '\\' && i + 1 < line.length) {
          word += line[i + 1] ?? '';
          i += 2;
        } else if (c === '"') {
          closed = true;
          i++;
          break;
        } else {
          word += c;
          i++;
        }
      }
      if (!closed) return null;
    } else {
      while (i < line.length && line[i] !== ' ' && line[i] !== '\t') word += line[i++] ?? '';
    }
    words.push(word);
  }
  return words;
}

/** Quotes an argument when upsd would otherwise split or misread it. */
export function quoteNutArg(arg: string): string {
  return /^[^\s"\\]+$/.test(arg) ? arg : `"${arg.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Consumes answer lines of one request: null = need more lines, otherwise the outcome. */
type Collector<T> = (words: string[], raw: string) => Result<T> | null;

interface Pending {
  collect: Collector<unknown>;
  finish: (r: Result<unknown>) => void;
}


export class NutClient {
  private readonly config: NutConfig;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly port: number;
  private readonly timeoutMs: number;

  private socket: net.Socket | null = null;
  private wanted = false;
  private connecting: Promise<Result<void>> | null = null;
  private readonly backoff: Backoff;
  private retryTimer: TimerHandle | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private pending: Pending | null = null;
  private buffer = '';
  private readonly streak: FailureStreak;
  private readonly state: ConnectionState;
  /** Why the last connection attempt failed (null once connected): lets a caller tell "refused" from "down". */
  private lastFailure: Result<never> | null = null;

  constructor(ctx: NutClientContext) {
    this.config = ctx.config;
    this.clock = ctx.clock;
    this.port = ctx.config.port ?? NUT_DEFAULTS.port;
    this.log = ctx.log.child({ nut: `${ctx.config.ups}@${ctx.config.host}:${this.port}` });
    this.timeoutMs = ctx.config.timeoutMs ?? NUT_DEFAULTS.timeoutMs;
    this.backoff = new Backoff(ctx.reconnect?.initialMs ?? NUT_DEFAULTS.reconnectInitialMs, ctx.reconnect?.maxMs ?? NUT_DEFAULTS.reconnectMaxMs);
    this.streak = new FailureStreak(this.log, 'upsd link recovered');
    this.state = new ConnectionState(this.log, 'nut');
  }

  /** Connects (and logs in when configured); on failure keeps retrying in the background. */
  connect(): Promise<Result<void>> {
    this.wanted = true;
    if (this.state.connected) return Promise.resolve(ok(undefined));
    this.retryTimer?.cancel();
    this.retryTimer = null;
    return this.attempt();
  }

  async close(): Promise<void> {
    this.wanted = false;
    this.retryTimer?.cancel();
    this.retryTimer = null;
    if (this.connecting) await this.connecting;
    this.teardown(fail('disconnected', 'client closed'));
    await this.tail;
  }

  isConnected(): boolean {
    return this.state.connected;
  }

  /** Resolves when the connection attempt under way (if any) has finished, whatever its outcome. */
  async settled(): Promise<void> {
    if (this.connecting) await this.connecting;
  }

  /** Why the last connection attempt failed; null while connected or before any attempt. */
  connectError(): { kind: string; message: string; code?: number | string } | null {
    const f = this.lastFailure;
    return f && !f.ok ? f.error : null;
  }

  onStateChange(listener: (connected: boolean) => void): () => void {
    return this.state.onChange(listener);
  }

  /** `LIST VAR <ups>`: every variable the UPS driver publishes. */
  listVars(): Promise<Result<Record<string, string>>> {
    const ups = this.config.ups;
    const vars: Record<string, string> = {};
    let begun = false;
    return this.request(`LIST VAR ${quoteNutArg(ups)}`, (w, raw) => {
      if (w[0] === 'ERR') return rejected(w);
      if (!begun) {
        if (w[0] === 'BEGIN' && w[1] === 'LIST' && w[2] === 'VAR' && w[3] === ups) {
          begun = true;
          return null;
        }
        return fail('protocol', `unexpected answer to LIST VAR: ${raw}`);
      }
      if (w[0] === 'VAR' && w[1] === ups && w.length === 4) {
        const name = w[2] ?? '';
        // upsd lists each variable once: a second value for one name is no answer to trust.
        if (Object.hasOwn(vars, name)) return fail('protocol', `variable ${name} listed twice in LIST VAR`);
        vars[name] = w[3] ?? '';
        return null;
      }
      if (w[0] === 'END' && w[1] === 'LIST' && w[2] === 'VAR' && w[3] === ups) return ok(vars);
      return fail('protocol', `unexpected line in LIST VAR: ${raw}`);
    });
  }

  /** `GET VAR <ups> <name>`: one variable. */
  getVar(name: string): Promise<Result<string>> {
    const ups = this.config.ups;
    if (!/^[\w.-]+$/.test(name)) return Promise.resolve(fail('invalid-argument', `not a NUT variable name: ${name}`));
    return this.request(`GET VAR ${quoteNutArg(ups)} ${name}`, (w, raw) => {
      if (w[0] === 'ERR') return rejected(w);
      if (w[0] === 'VAR' && w[1] === ups && w[2] === name && w.length === 4) return ok(w[3] ?? '');
      return fail('protocol', `unexpected answer to GET VAR: ${raw}`);
    });
  }

  private request<T>(command: string, collect: Collector<T>): Promise<Result<T>> {
    const run = async (): Promise<Result<T>> => {
      if (!this.state.connected) return fail('disconnected', 'not connected to upsd');
      const outcome = await this.exchange(command, collect);
      this.account(command, outcome);
      return outcome;
    };
    const result = this.tail.then(run);
    this.tail = result;
    return result;
  }

  /** Writes one command and collects its answer; a timeout leaves the stream unusable, so it reconnects. */
  private exchange<T>(command: string, collect: Collector<T>): Promise<Result<T>> {
    const socket = this.socket;
    if (!socket) return Promise.resolve(fail('disconnected', 'not connected to upsd'));
    return new Promise<Result<T>>((resolve) => {
      const timer = setTimeout(() => {
        finish(fail('timeout', `no answer from upsd within ${this.timeoutMs} ms`));
        this.drop(socket, 'request timed out');
      }, this.timeoutMs);
      const finish = (r: Result<unknown>): void => {
        clearTimeout(timer);
        if (this.pending === entry) this.pending = null;
        resolve(r as Result<T>);
      };
      const entry: Pending = { collect, finish };
      this.pending = entry;
      // upsd never speaks unasked: a piece of a line still buffered is the end of garbage
      // from before, and would otherwise be glued to the first line of this answer.
      this.buffer = '';
      socket.write(`${command}\n`);
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer += chunk.toString('utf8');
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const raw = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      // The cap holds for a whole line in one chunk too (a 60 KB line was taken as a value).
      if (raw.length > NUT_DEFAULTS.maxLineLength) return this.tooLong();
      this.onLine(raw);
      if (!this.socket) return; // the line ended the connection
    }
    if (this.buffer.length > NUT_DEFAULTS.maxLineLength) this.tooLong();
  }

  /** A line over the cap: the answer is refused and the stream, out of step now, dropped. */
  private tooLong(): void {
    this.buffer = '';
    if (!this.socket) return;
    this.pending?.finish(fail('protocol', `line longer than ${NUT_DEFAULTS.maxLineLength} characters`));
    this.drop(this.socket, 'line too long');
  }

  private onLine(raw: string): void {
    const pending = this.pending;
    if (!pending) {
      this.log.debug({ line: raw }, 'unsolicited line from upsd ignored');
      return;
    }
    const words = CONTROL_OR_INVALID.test(raw) ? null : splitNutLine(raw);
    const outcome = words ? pending.collect(words, raw) : fail('protocol', CONTROL_OR_INVALID.test(raw) ? `control character or invalid UTF-8 in: ${JSON.stringify(raw.slice(0, 80))}` : `unterminated quote: ${raw.slice(0, 80)}`);
    if (!outcome) return;
    pending.finish(outcome);
    // A line that fits no answer leaves the rest of that answer on its way: the stream is
    // out of step, and the next request would read those lines as its own. Start afresh.
    if (!outcome.ok && outcome.error.kind === 'protocol' && this.socket) this.drop(this.socket, 'protocol error');
  }

  private attempt(): Promise<Result<void>> {
    if (this.connecting) return this.connecting;
    this.connecting = this.open().then((r) => {
      this.connecting = null;
      this.lastFailure = r.ok ? null : r;
      if (!r.ok) {
        this.streak.failed({ error: r.error }, r.error.kind === 'rejected' ? 'upsd refused the login' : 'upsd connect failed');
        this.scheduleRetry();
      }
      return r;
    });
    return this.connecting;
  }

  private async open(): Promise<Result<void>> {
    const socket = await new Promise<net.Socket | Result<void>>((resolve) => {
      const s = net.createConnection({ host: this.config.host, port: this.port });
      s.setNoDelay(true);
      s.setTimeout(this.timeoutMs);
      const onError = (err: Error): void => {
        s.destroy();
        resolve(fail('disconnected', err.message));
      };
      s.once('error', onError);
      s.once('timeout', () => onError(new Error(`connect timed out after ${this.timeoutMs} ms`)));
      s.once('connect', () => {
        s.off('error', onError);
        s.removeAllListeners('timeout');
        s.setTimeout(0);
        resolve(s);
      });
    });
    if (!(socket instanceof net.Socket)) return socket;
    // Errors always end in 'close', which is where the loss is handled.
    socket.on('error', (err) => this.log.debug({ err }, 'upsd socket error'));
    socket.on('close', () => this.drop(socket, 'connection closed'));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket = socket;
    this.buffer = '';
    if (!this.wanted) {
      this.teardown(fail('disconnected', 'client closed'));
      return fail('disconnected', 'client closed');
    }
    const login = await this.login();
    if (!login.ok) {
      this.teardown(login);
      return login;
    }
    this.backoff.reset();
    this.streak.recovered();
    this.log.info('connected to upsd');
    this.state.set(true);
    return ok(undefined);
  }

  /**
   * USERNAME and PASSWORD only store the credentials; upsd checks them at `LOGIN <ups>`,
   * which also makes the hub a counted client of that UPS (what upsmon's shutdown
   * coordination sees). Without a username upsd refuses LOGIN, so then none is sent.
   */
  private async login(): Promise<Result<void>> {
    const { username, password, ups } = this.config;
    const expectOk: Collector<void> = (w, raw) =>
      // Exactly `OK`: a line that merely starts with it (`OK junk`, a stray answer) is not upsd's acceptance.
      w[0] === 'OK' && w.length === 1 ? ok(undefined) : w[0] === 'ERR' ? rejected(w) : fail('protocol', `unexpected answer: ${raw}`);
    if (username === undefined) return ok(undefined);
    const refused = (step: string, r: Result<void>): Result<void> =>
      !r.ok && r.error.kind === 'rejected'
        ? fail('rejected', `upsd refused ${step} for user "${username}" on UPS "${ups}": ${r.error.message}`, r.error.code)
        : r;
    const steps: [string, string][] = [
      ['USERNAME', `USERNAME ${quoteNutArg(username)}`],
      ...(password !== undefined ? ([['PASSWORD', `PASSWORD ${quoteNutArg(password)}`]] as [string, string][]) : []),
      ['LOGIN', `LOGIN ${quoteNutArg(ups)}`],
    ];
    for (const [step, command] of steps) {
      const r = await this.exchange(command, expectOk);
      if (!r.ok) return refused(step, r);
    }
    return ok(undefined);
  }

  private drop(socket: net.Socket, why: string): void {
    if (socket !== this.socket) return;
    const wasConnected = this.state.connected;
    this.teardown(fail('disconnected', why));
    if (wasConnected) {
      this.streak.failed({ reason: why }, 'upsd connection lost');
      this.scheduleRetry();
    }
  }

  private teardown(reason: Result<never>): void {
    const socket = this.socket;
    this.socket = null;
    this.pending?.finish(reason);
    this.pending = null;
    socket?.destroy();
    this.state.set(false);
  }

  private account(command: string, outcome: Result<unknown>): void {
    if (outcome.ok) this.streak.recovered();
    // 'rejected' is upsd answering: the link works, the question was wrong.
    else if (outcome.error.kind === 'rejected') this.log.debug({ command: command.split(' ')[0], error: outcome.error }, 'upsd refused');
    else this.streak.failed({ command: command.split(' ')[0], error: outcome.error }, 'upsd request failed');
  }

  private scheduleRetry(): void {
    if (!this.wanted || this.retryTimer) return;
    const wait = this.backoff.next();
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      void this.attempt();
    }, wait);
  }

}

function rejected(words: string[]): Result<never> {
  const code = words[1] ?? 'UNKNOWN';
  return fail('rejected', code, code);
}
