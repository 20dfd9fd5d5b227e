import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceTokens } from '../hub/broker/tokens.js';

/**
 * The simulated devices' own credentials. A real device keeps its token in its own
 * storage; the simulators keep theirs in one file in the data dir (mode 0600), so that
 * `facility-hub simulate` can connect as the devices the hub knows. The hub itself only
 * ever stores the scrypt hash.
 */
export function simulatorTokensFile(dataDir: string): string {
  return join(dataDir, 'simulator-tokens.json');
}

export function readSimulatorTokens(dataDir: string): Record<string, string> {
  const file = simulatorTokensFile(dataDir);
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

/** Makes sure each device has a token that the hub accepts; issues what is missing. */
export async function ensureSimulatorTokens(dataDir: string, deviceIds: string[], tokens: DeviceTokens): Promise<Record<string, string>> {
  const current = readSimulatorTokens(dataDir);
  let changed = false;
  for (const id of deviceIds) {
    const have = current[id];
    if (have && (await tokens.verify(id, have))) continue;
    current[id] = tokens.issue(id);
    changed = true;
  }
  if (changed) {
    mkdirSync(dataDir, { recursive: true });
    const file = simulatorTokensFile(dataDir);
    writeFileSync(file, JSON.stringify(current, null, 2), { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return current;
}
