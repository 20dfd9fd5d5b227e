import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import type { DeviceTokens } from '../broker/tokens.js';
import { readSimulatorTokens, simulatorTokensFile } from '../../simulators/tokens.js';

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
