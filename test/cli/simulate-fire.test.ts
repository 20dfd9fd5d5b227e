/** `facility-hub simulate fire alarm|clear`: one event from the fire panel, as the panel, to a running hub. */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../hub/cli.js';
import { simulatorTokensFile } from '../../simulators/tokens.js';
import { MQTT_ONLY_FACILITY, startTestHub, tempDir } from '../helpers/hub.js';
import { waitFor } from '../helpers/wait.js';

void t.test('simulate fire alarm, then clear: the hub raises and clears its fire alarm', async (t) => {
  const th = await startTestHub({ full: true });
  t.teardown(() => th.stop());
  const tmp = tempDir('fh-cli-fire-');
  t.teardown(() => tmp.cleanup());
  const config = join(tmp.dir, 'facility.yaml');
  writeFileSync(config, MQTT_ONLY_FACILITY);
  writeFileSync(simulatorTokensFile(tmp.dir), JSON.stringify({ 'fire-1': th.hub.tokens.issue('fire-1') }));
  const lines: string[] = [];
  const io = { out: (s: string) => void lines.push(s), err: (s: string) => void lines.push(`ERR ${s}`) };
  const args = ['--config', config, '--mqtt-url', th.mqttUrl, '--data-dir', tmp.dir];

  t.equal(await main(['simulate', 'fire', 'alarm', ...args], io), 0, lines.join('\n'));
  await waitFor(() => th.hub.alarms.list().some((a) => a.id === 'fire:fire-1' && a.severity === 'critical'), 3000, 'fire alarm raised');
  t.equal(await main(['simulate', 'fire', 'clear', ...args], io), 0);
  await waitFor(() => !th.hub.alarms.list().some((a) => a.id === 'fire:fire-1'), 3000, 'fire alarm cleared');
  t.match(lines, ['fire-1: fire alarm sent to mqtt://127.0.0.1:' + String(th.hub.mqttPort), /fire-1: fire clear sent/]);

  t.equal(await main(['simulate', 'fire', 'smoke', ...args], io), 2, 'only alarm or clear');
  t.equal(await main(['simulate', 'fire', 'alarm', '--device', 'fire-9', ...args], io), 2, 'an unknown panel');
  t.match(lines.at(-1), /No fire panel fire-9.*fire panels: fire-1/);
});
