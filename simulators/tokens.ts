import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The simulated devices' own credentials. A real device keeps its token in its own
 * storage; the simulators keep theirs in one file in the data dir (mode 0600), so that
 * `facility-hub simulate` can connect as the devices the hub knows. The hub itself only
 * ever stores the hash. The hub side issues them (`hub/demo/tokens.ts`); a simulator only
 * reads its own.
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
