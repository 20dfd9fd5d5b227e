import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEMO_FACILITY, loadFacility } from '../../config/load.js';
import { systemClock } from '../../kernel/clock.js';
import { silentLogger } from '../log.js';
import { Store } from '../store/store.js';
import { GateKeys } from './allow-list.js';

type Out = { out: (s: string) => void; err: (s: string) => void };

export const GATE_USAGE = '  facility-hub gate key GATE_ID [--config FILE] [--data-dir DIR]';

/**
 * `gate key GATE_ID`: issues the gate's offline allow-list key, or rotates it; printed
 * once (stdout) for provisioning into the gate, kept only in the data dir. A running hub
 * republishes that gate's list within 5 s; entries under the old key are gone.
 */
export async function gateCommand(sub: string | undefined, args: string[], io: Out): Promise<number | null> {
  if (sub !== 'key') return null;
  const { values, positionals } = parseArgs({ args, options: { config: { type: 'string', default: DEMO_FACILITY }, 'data-dir': { type: 'string', default: './data' } }, allowPositionals: true });
  const id = positionals[0];
  if (!id) {
    io.err(`usage:\n${GATE_USAGE}`);
    return 2;
  }
  const f = loadFacility(values.config);
  if (!f.ok) throw new Error(`${values.config}: not a valid facility file (run facility-hub config check)`);
  const gate = f.facility.devices.find((d) => d.id === id);
  if (!gate || gate.kind !== 'gate') {
    io.err(`${values.config}: no gate "${id}" (gates: ${f.facility.devices.filter((d) => d.kind === 'gate').map((d) => d.id).join(', ')})`);
    return 1;
  }
  const dataDir = resolve(values['data-dir']);
  if (!existsSync(dataDir)) throw new Error(`${dataDir}: no such data dir (start the hub once with it)`);
  const store = new Store({ dataDir, log: silentLogger() });
  try {
    const k = new GateKeys(store).issue(id, systemClock.now());
    io.out(k.key);
    io.err(`${k.rotated ? 'Rotated' : 'Issued'} the allow-list key of ${id} (version ${k.version}); shown once. Install it in the gate; a running hub republishes the gate's list within 5 s${k.rotated ? ' and the old key matches nothing' : ''}.`);
    return 0;
  } finally {
    await store.close();
  }
}
