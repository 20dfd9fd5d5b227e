import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/facility-hub.js', import.meta.url));

export interface RunningCli {
  child: ChildProcess;
  httpPort: number;
  mqttPort: number;
  output: () => string;
}

/** Starts `facility-hub start ...` and resolves once it printed its ready line. */
export function startCli(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<RunningCli> {
  const child = spawn(process.execPath, [BIN, 'start', ...args], { cwd: ROOT, env: { ...process.env, FH_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub not ready in time:\n${out}`)), timeoutMs);
    const onData = (): void => {
      const m = /facility-hub ready: http:\/\/127\.0\.0\.1:(\d+)\s+mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve({ child, httpPort: Number(m[1]), mqttPort: Number(m[2]), output: () => out });
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hub exited with ${code}:\n${out}`));
    });
  });
}

/** Runs a short CLI command to completion. */
export function runCli(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function waitExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
