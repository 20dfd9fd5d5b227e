/**
 * `mqtt.external` in the config: what the schema refuses (a password or credentials in the
 * file), what loading it checks (TLS files with mqtts only, cert with key, files that can be
 * read), where the password comes from, and that the password never reaches a log line.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFacility } from '../../../config/load.js';
import { loadExternalSettings, safeUrl } from '../../../hub/broker/external.js';
import { Hub } from '../../../hub/hub.js';
import { silentLogger } from '../../../hub/log.js';
import { facility, MQTT_ONLY_FACILITY, tempDir } from '../../helpers/hub.js';

const withMqtt = (mqtt: string): string => `${MQTT_ONLY_FACILITY}\nmqtt:\n${mqtt}\n`;

void t.test('the schema takes mqtt.external and refuses a password or credentials in it', async (t) => {
  const ok = parseFacility(withMqtt('  external: { url: "mqtts://broker.local:8883", ca: ca.pem, cert: hub.crt, key: hub.key, passwordFile: /etc/fh/pw }'), 'f.yaml');
  t.ok(ok.ok, JSON.stringify(ok.ok ? '' : ok.errors));
  if (ok.ok) t.match(ok.facility.mqtt.external, { url: 'mqtts://broker.local:8883', username: 'hub' }, 'username defaults to hub');
  const pw = parseFacility(withMqtt('  external: { url: "mqtt://broker.local:1883", password: secret }'), 'f.yaml');
  t.notOk(pw.ok, 'no password key');
  if (!pw.ok) t.match(JSON.stringify(pw.errors), /mqtt\/external/);
  const cred = parseFacility(withMqtt('  external: { url: "mqtt://hub:secret@broker.local:1883" }'), 'f.yaml');
  t.notOk(cred.ok, 'no credentials in the URL');
  t.notOk(parseFacility(withMqtt('  external: { url: "http://broker.local" }'), 'f.yaml').ok, 'mqtt or mqtts only');
});

void t.test('loading checks the files and finds the password', async (t) => {
  const tmp = tempDir('fh-extset-');
  t.teardown(tmp.cleanup);
  writeFileSync(join(tmp.dir, 'ca.pem'), 'CA');
  writeFileSync(join(tmp.dir, 'pw'), 'from-file\n');
  const plain = { url: 'mqtt://broker.local:1883', username: 'hub' };
  t.throws(() => loadExternalSettings('demo', { ...plain, ca: 'ca.pem' }, tmp.dir, {}), /mqtt\.external\.ca: given for mqtt:\/\/broker\.local:1883, expected an mqtts:\/\/ URL/);
  const tls = { url: 'mqtts://broker.local:8883', username: 'hub' };
  t.throws(() => loadExternalSettings('demo', { ...tls, cert: 'ca.pem' }, tmp.dir, {}), /mqtt\.external\.key: missing/);
  t.throws(() => loadExternalSettings('demo', { ...tls, ca: 'missing.pem' }, tmp.dir, {}), /mqtt\.external\.ca: cannot read .*missing\.pem: ENOENT/);
  const s = loadExternalSettings('demo', { ...tls, ca: 'ca.pem', passwordFile: 'pw' }, tmp.dir, { FH_MQTT_PASSWORD: 'from-env' });
  t.equal(s.password, 'from-file', 'the file wins, without its newline');
  t.equal(s.ca?.toString(), 'CA', 'relative to the config directory');
  t.equal(s.clientId, 'fh-hub-demo', 'a fixed client id per site');
  t.equal(loadExternalSettings('demo', plain, tmp.dir, { FH_MQTT_PASSWORD: 'from-env' }).password, 'from-env');
  t.equal(loadExternalSettings('demo', plain, tmp.dir, {}).password, undefined, 'no password: the broker may take certificates');
  const own = { username: 'hub.demo', token: 'fhh_exported' };
  t.match(loadExternalSettings('demo', plain, tmp.dir, {}, own), { username: 'hub.demo', password: 'fhh_exported' }, "no password given: the hub's own exported account");
  t.match(loadExternalSettings('demo', plain, tmp.dir, { FH_MQTT_PASSWORD: 'from-env' }, own), { username: 'hub', password: 'from-env' }, 'a given password wins, with the configured username');
  t.equal(loadExternalSettings('demo', plain, tmp.dir, {}, { username: 'hub.demo', token: null }).password, undefined, 'no exported account: nothing');
  t.equal(safeUrl('mqtt://u:p@broker.local:1883/'), 'mqtt://broker.local:1883', 'logs never carry credentials');
});

void t.test('mqtt.tls with mqtt.external is refused before anything opens', async (t) => {
  const tmp = tempDir('fh-extset-');
  t.teardown(tmp.cleanup);
  writeFileSync(join(tmp.dir, 'c.pem'), 'x');
  const base = facility(MQTT_ONLY_FACILITY);
  const f = { ...base, mqtt: { ...base.mqtt, tls: { host: '127.0.0.1', port: 8883, cert: 'c.pem', key: 'c.pem', clientCerts: 'off' as const }, external: { url: 'mqtt://127.0.0.1:1', username: 'hub' } } };
  t.throws(() => new Hub({ facility: f, dataDir: join(tmp.dir, 'data'), httpPort: 0, mqttPort: 0, configDir: tmp.dir, log: silentLogger() }), /mqtt\.tls: not used with mqtt\.external/);
});
