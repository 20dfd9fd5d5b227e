/**
 * A Modbus UPS's register map in the config (issue 11, items 2 and 4): `scale` must be a
 * finite number above 0 (it multiplies the raw value), any entry can be turned off with
 * null, but not both flags that tell mains from battery. Checked the way `config check` does.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFacility } from '../../config/load.js';
import { tempDir } from '../helpers/hub.js';
import { runCli } from '../fixtures/cli.js';

const yaml = (options: string): string => `
version: 1
site: { id: demo }
devices:
  - { id: ups-1, kind: ups, transport: { type: modbus-tcp, host: 127.0.0.1, port: 5020 }, options: { ${options} } }
`;

void t.test('scale of 0, negative, infinite or NaN is refused, naming the entry', async (t) => {
  for (const scale of ['0', '-0.1', '.inf', '-.inf', '.nan']) {
    const r = parseFacility(yaml(`registers: { charge: { register: 1, scale: ${scale} } }`), 'f.yaml');
    t.equal(r.ok, false, `scale ${scale}`);
    if (!r.ok) t.match(r.errors, [{ path: '/devices/0/options/registers/charge/scale' }], `scale ${scale} named`);
  }
  t.ok(parseFacility(yaml('registers: { charge: { register: 130, scale: 0.001953125 } }'), 'f.yaml').ok, '1/512 is fine');
});

void t.test('entries can be turned off with null; not both of mainsPresent and onBattery', async (t) => {
  const off = parseFacility(yaml('registers: { batteryTemperature: null, inputFrequency: null }, flags: { fault: null, bypass: null, mainsPresent: null }'), 'f.yaml');
  t.ok(off.ok, JSON.stringify(!off.ok && off.errors));
  const none = parseFacility(yaml('flags: { mainsPresent: null, onBattery: null }'), 'f.yaml');
  t.equal(none.ok, false);
  if (!none.ok) t.match(none.errors, [{ path: '/devices/0/options/flags', expected: /at least one of mainsPresent, onBattery/ }]);
});

void t.test('config check exits non-zero on a zero scale', async (t) => {
  const tmp = tempDir('fh-ups-cfg-');
  t.teardown(() => tmp.cleanup());
  const file = join(tmp.dir, 'f.yaml');
  writeFileSync(file, yaml('registers: { charge: { register: 1, scale: 0 } }'));
  const r = await runCli(['config', 'check', file]);
  t.not(r.code, 0);
  t.match(r.stderr, /registers\/charge\/scale/);
});
