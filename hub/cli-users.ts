import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../kernel/clock.js';
import type { Actor } from '../kernel/actor.js';
import { HubError } from './errors.js';
import { runningHub } from './files.js';
import { silentLogger } from './log.js';
import { EventLog } from './store/events.js';
import { Store } from './store/store.js';
import { Users, checkRole, type UserChanges } from './users.js';

export type Out = { out: (s: string) => void; err: (s: string) => void };

export const USER_USAGE = `  facility-hub user add NAME --role ROLE [--display-name TEXT] [--data-dir DIR]
  facility-hub user list [--data-dir DIR]
  facility-hub user passwd NAME [--data-dir DIR]
  facility-hub user disable NAME [--data-dir DIR]
  facility-hub user enable NAME [--data-dir DIR]
  facility-hub user role NAME ROLE [--data-dir DIR]
  (passwords from FH_USER_PASSWORD, or asked on the terminal)`;

/** Reads a password without echo from the terminal (twice, they must match). */
async function promptPassword(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new Error('no password: set FH_USER_PASSWORD, or run on a terminal to be asked');
  const ask = (q: string): Promise<string> =>
    new Promise((done, fail) => {
      process.stderr.write(q);
      stdin.setRawMode(true);
      stdin.resume();
      let text = '';
      const onData = (chunk: Buffer): void => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            cleanup();
            process.stderr.write('\n');
            done(text);
            return;
          }
          if (ch === '\u0003') {
            cleanup();
            fail(new Error('cancelled'));
            return;
          }
          if (ch === '\u007f') text = text.slice(0, -1);
          else text += ch;
        }
      };
      const cleanup = (): void => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
      };
      stdin.on('data', onData);
    });
  const first = await ask(question);
  const second = await ask('Again / 再输入一次: ');
  if (first !== second) throw new Error('the two passwords differ');
  return first;
}

async function password(): Promise<string> {
  const env = process.env.FH_USER_PASSWORD;
  if (env !== undefined && env.length > 0) return env;
  return promptPassword('Password / 密码: ');
}

/**
 * The CLI acts for whoever runs it on the hub's machine: it is logged as `automation:cli`
 * with the operating-system user, so the log says who it was.
 */
export function cliActor(): { actor: Actor; osUser: string } {
  let osUser = 'unknown';
  try {
    osUser = userInfo().username;
  } catch {
    // no passwd entry (a container): stays unknown
  }
  return { actor: `automation:cli-${osUser.replace(/[^a-zA-Z0-9._-]/g, '_')}`, osUser };
}

/**
 * `facility-hub user …`. Refuses while a hub runs on the same data dir: the running hub
 * holds the event log's head in memory, so a second writer would fork the log (use the
 * API, `POST/PATCH /api/users`, while it runs).
 */
export async function userCommand(sub: string | undefined, args: string[], io: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { 'data-dir': { type: 'string', default: './data' }, role: { type: 'string' }, 'display-name': { type: 'string' } },
    allowPositionals: true,
  });
  const dataDir = resolve(values['data-dir']);
  const usage = (): number => {
    io.err(`usage:\n${USER_USAGE}`);
    return 2;
  };
  const name = positionals[0];
  if (!sub || !['add', 'list', 'passwd', 'disable', 'enable', 'role'].includes(sub)) return usage();
  if (sub !== 'list' && !name) return usage();
  if (sub !== 'list' && !existsSync(dataDir) && sub !== 'add') {
    io.err(`no data dir ${dataDir}: start the hub once, or give --data-dir`);
    return 1;
  }
  const pid = runningHub(dataDir);
  if (pid !== null && sub !== 'list') {
    io.err(`a hub is running on ${dataDir} (pid ${pid}): change users through the API (POST/PATCH /api/users) while it runs, or stop it first`);
    return 1;
  }
  const store = new Store({ dataDir, log: silentLogger() });
  try {
    const events = new EventLog(store, () => systemClock.now());
    const users = new Users(store, systemClock, events);
    const { actor } = cliActor();
    switch (sub) {
      case 'list': {
        for (const u of users.list()) io.out(`${u.username}\t${u.role}\t${u.disabled ? 'disabled' : 'enabled'}\t${u.displayName}`);
        return 0;
      }
      case 'add': {
        if (!values.role) {
          io.err('user add: --role is required (admin, supervisor, operator, platform, viewer)');
          return 2;
        }
        const u = await users.add({ username: name!, role: values.role, password: await password(), ...(values['display-name'] ? { displayName: values['display-name'] } : {}) }, actor);
        io.out(`added ${u.username} (${u.role})`);
        return 0;
      }
      default: {
        const changes: UserChanges = {};
        if (sub === 'passwd') changes.password = await password();
        if (sub === 'disable') changes.disabled = true;
        if (sub === 'enable') changes.disabled = false;
        if (sub === 'role') {
          const role = positionals[1] ?? values.role;
          if (!role) return usage();
          checkRole(role);
          changes.role = role;
        }
        const u = await users.update(name!, changes, actor);
        io.out(`${u.username}: ${sub === 'passwd' ? 'password changed, its tokens ended' : sub === 'role' ? `role ${u.role}` : u.disabled ? 'disabled, its tokens ended' : 'enabled'}`);
        return 0;
      }
    }
  } catch (err) {
    io.err(`user ${sub}: ${err instanceof HubError ? err.message : err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await store.close();
  }
}
