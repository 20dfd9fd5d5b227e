/**
 * A real Mosquitto (Debian's /usr/sbin/mosquitto) on a free loopback port, for the external
 * broker tests: no anonymous clients, a password file made with `mosquitto_passwd -b`, an
 * ACL file, and persistence in a temp dir so that a persistent session survives a restart
 * of the broker. The ACL is a minimal stand-in for `facility-hub export mosquitto`.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';
const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

export interface Mosquitto {
  port: number;
  url: string;
  dir: string;
  /** Stops the broker (SIGTERM: it writes its persistence file) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same files (after stop). */
  restart(): Promise<void>;
  /** Everything it logged (for failing tests). */
  output(): string;
  /** Stops it for good and removes its files. */
  cleanup(): Promise<void>;
}

/** The contract's ACL in Mosquitto's terms: the hub (username `hub`) reads and writes the site; a device only its own topics. */
export function contractAcl(site: string, hubUser = 'hub'): string {
  return [
    `user ${hubUser}`,
    `topic readwrite fh/${site}/#`,
    '',
    // Pattern lines apply to every client; %u is the username (= the device id).
    `pattern write fh/${site}/%u/status`,
    `pattern write fh/${site}/%u/state`,
    `pattern write fh/${site}/%u/event`,
    `pattern write fh/${site}/%u/cmd/ack`,
    `pattern write fh/${site}/%u/verify`,
    `pattern read fh/${site}/%u/cmd`,
    `pattern read fh/${site}/%u/verify/result`,
    `pattern read fh/${site}/%u/allow-list`,
    `pattern read fh/${site}/hub/#`,
    '',
  ].join('\n');
}


async function waitForPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts Mosquitto with these users (name → password) and ACL text (default: the contract's). */
export async function startMosquitto(opts: { users: Record<string, string>; acl: string; extraConfig?: string[] }): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'fh-mosquitto-'));
  const passwd = join(dir, 'passwd');
  const acl = join(dir, 'acl');
  writeFileSync(passwd, '', { mode: 0o600 });
  for (const [user, pw] of Object.entries(opts.users)) execFileSync(MOSQUITTO_PASSWD, ['-b', passwd, user, pw], { stdio: 'pipe' });
  writeFileSync(acl, opts.acl, { mode: 0o600 });
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      // Run as root, Mosquitto switches to the user `mosquitto`, which cannot read this temp dir.
      `user ${userInfo().username}`,
      'per_listener_settings false',
      `listener ${port} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${passwd}`,
      `acl_file ${acl}`,
      'persistence true',
      `persistence_location ${dir}/`,
      'autosave_interval 1',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      'set_tcp_nodelay true',
      ...(opts.extraConfig ?? []),
      '',
    ].join('\n'),
  );
  let child: ChildProcess | null = null;
  let out = '';
  const launch = async (): Promise<void> => {
    const c = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await waitForPort(port, c);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  };
  await launch();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dir,
    stop,
    restart: launch,
    output: () => out,
    async cleanup() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
