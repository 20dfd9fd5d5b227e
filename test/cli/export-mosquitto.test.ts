import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import Database from 'better-sqlite3';
import { facility, MQTT_ONLY_FACILITY, startTestHub, tempDir, waitFor } from '../helpers/hub.js';
import { connackCode, subackCodes } from '../fixtures/mqtt.js';
import { main } from '../../hub/cli.js';
import { readHubAccountToken } from '../../hub/broker/hub-account.js';
import { sha256 } from '../../hub/secrets.js';
import { freePort } from '../helpers/ports.js';

const MOSQUITTO = '/usr/sbin/mosquitto';
const CONFIG = 'config/demo-facility.yaml';

function capture(): { io: { out: (s: string) => void; err: (s: string) => void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s) => out.push(s), err: (s) => err.push(s) }, out, err };
}


/** Mosquitto run as root drops to its own user, which must then own the files it reads (as on a real install). */
function mosquittoOwner(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('mosquitto:'));
  if (!line) return null;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Starts Mosquitto with the exported conf, its listener moved to a free loopback port and its persistence into `dir`. */
async function startMosquitto(outDir: string, dir: string): Promise<{ url: string; proc: ChildProcess; log: () => string }> {
  const port = await freePort();
  const exported = readFileSync(join(outDir, 'mosquitto.conf'), 'utf8');
  const conf = exported.replace(/^listener .*$/m, `listener ${port} 127.0.0.1`).replace(/^persistence_location .*$/m, `persistence_location ${dir}/`);
  const confFile = join(dir, 'test-mosquitto.conf');
  writeFileSync(confFile, conf, { mode: 0o600 });
  const owner = mosquittoOwner();
  if (owner) for (const p of [dir, outDir, confFile, ...readdirSync(outDir).map((n) => join(outDir, n))]) chownSync(p, owner.uid, owner.gid);
  const proc = spawn(MOSQUITTO, ['-c', confFile, '-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d: Buffer) => (log += d.toString('utf8')));
  proc.stderr.on('data', (d: Buffer) => (log += d.toString('utf8')));
  await waitFor(() => / running/.test(log) || proc.exitCode !== null, 10_000, 'mosquitto running');
  if (proc.exitCode !== null) throw new Error(`mosquitto exited: ${log}`);
  return { url: `mqtt://127.0.0.1:${port}`, proc, log: () => log };
}

function connect(url: string, username: string, password: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { username, password, clientId: `x-${username}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5000 });
}

function collect(client: MqttClient): { topic: string; body: unknown }[] {
  const got: { topic: string; body: unknown }[] = [];
  client.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString('utf8')) }));
  return got;
}

void t.test('export mosquitto: a real Mosquitto enforces the embedded broker\'s ACL with the exported files', async (t) => {
  const data = tempDir('fh-export-data-');
  const mq = tempDir('fh-export-mq-');
  // Undone in reverse: clients, then Mosquitto (awaited), then the folders.
  const undo: (() => unknown)[] = [data.cleanup, mq.cleanup];
  t.teardown(async () => {
    for (const step of undo.reverse()) await step();
  });
  const outDir = join(mq.dir, 'export');
  const cfg = ['--config', CONFIG, '--data-dir', data.dir];
  const c = capture();
  const tokens: Record<string, string> = {};
  for (const id of ['gate-1', 'gate-2']) {
    t.equal(await main(['device', 'token', id, ...cfg], c.io), 0, c.err.join('\n'));
    tokens[id] = c.out.pop()!;
  }
  t.equal(await main(['integration', 'add', 'bms', '--subscribe', 'fh/demo/+/status', '--publish', 'fh/demo/ext/bms/#', ...cfg], c.io), 0, c.err.join('\n'));
  const bmsToken = c.out.pop()!;
  // door-1's token predates the Mosquitto hashes: a SHA-256 row without one (as migration 9 leaves old rows).
  const db = new Database(join(data.dir, 'hub.sqlite'));
  db.prepare('INSERT INTO device_tokens (device_id, hash, issued_at) VALUES (?, ?, ?)').run('door-1', `sha256$${sha256('fhd_old-door-token')}`, 1);
  db.close();

  t.equal(await main(['export', 'mosquitto', '--out', outDir, ...cfg], c.io), 1, 'refused while a device cannot be exported');
  t.match(c.err.join('\n'), /door-1.*nothing was written/s);
  t.notOk(existsSync(outDir), 'nothing written');

  c.err.length = 0;
  t.equal(await main(['export', 'mosquitto', '--out', outDir, '--rotate-missing', ...cfg], c.io), 0, c.err.join('\n'));
  t.equal(c.out.length, 1, 'one new token printed');
  const [rotatedId, doorToken] = c.out.pop()!.split('\t');
  t.equal(rotatedId, 'door-1');
  t.match(doorToken, /^fhd_/);
  t.match(c.err.join('\n'), /No token yet for .*fire-1/, 'devices without a token are named');
  for (const name of ['passwd', 'acl', 'mosquitto.conf']) t.equal(statSync(join(outDir, name)).mode & 0o777, 0o600, `${name} is 0600`);
  const passwd = readFileSync(join(outDir, 'passwd'), 'utf8');
  t.match(passwd, /^hub\.demo:\$7\$101\$/m);
  t.match(passwd, /^integration\.bms:\$7\$101\$/m);
  t.notMatch(passwd, /^fire-1:/m, 'no password line for a device without a token');
  for (const secret of [...Object.values(tokens), bmsToken, doorToken!]) t.notOk(passwd.includes(secret) || readFileSync(join(outDir, 'acl'), 'utf8').includes(secret), 'no token in clear');
  t.match(readFileSync(join(outDir, 'mosquitto.conf'), 'utf8'), /allow_anonymous false[\s\S]*password_file [\s\S]*acl_file [\s\S]*persistence true/);
  const hubToken = readHubAccountToken(data.dir);
  t.ok(hubToken, 'the hub account token is kept in the data dir');

  const broker = await startMosquitto(outDir, mq.dir);
  undo.push(() => {
    if (broker.proc.exitCode !== null) return;
    const exited = new Promise((done) => broker.proc.once('exit', done));
    broker.proc.kill('SIGTERM');
    return exited;
  });
  const clients: MqttClient[] = [];
  undo.push(() => Promise.all(clients.map((x) => x.endAsync(true))));
  const hub = await connect(broker.url, 'hub.demo', hubToken!);
  clients.push(hub);
  const hubGot = collect(hub);
  t.same(await subackCodes(hub, ['fh/demo/#']), [1], 'the hub reads everything of its site');

  const gate = await connect(broker.url, 'gate-1', tokens['gate-1']!);
  clients.push(gate);
  const bms = await connect(broker.url, 'integration.bms', bmsToken);
  clients.push(bms);
  const bmsGot = collect(bms);
  const gateGot = collect(gate);
  const gate2 = await connect(broker.url, 'gate-2', tokens['gate-2']!);
  clients.push(gate2);
  const gate2Got = collect(gate2);
  t.same(await subackCodes(bms, ['fh/demo/+/status']), [1]);
  t.same(await subackCodes(gate2, ['fh/demo/gate-2/cmd']), [1]);
  // Mosquitto's acl_file grants every SUBSCRIBE and checks read access on each message it
  // delivers (docs/deploy.md): these subscriptions are granted, and receive nothing.
  await subackCodes(bms, ['fh/demo/#']);
  await subackCodes(gate, ['fh/demo/gate-2/cmd', 'fh/demo/#']);
  await hub.publishAsync('fh/demo/gate-2/cmd', JSON.stringify({ id: 'c1', cmd: 'open', args: {} }), { qos: 1 });
  await gate.publishAsync('fh/demo/gate-1/event', JSON.stringify({ type: 'passed', requestId: 'r1' }), { qos: 1 });

  await gate.publishAsync('fh/demo/gate-2/status', JSON.stringify({ online: false, forged: true }), { qos: 1 });
  await bms.publishAsync('fh/demo/gate-1/status', JSON.stringify({ online: false, forged: true }), { qos: 1 });
  await bms.publishAsync('fh/demo/hub/power', JSON.stringify({ forged: true }), { qos: 1 });
  await gate.publishAsync('fh/demo/gate-1/status', JSON.stringify({ online: true }), { qos: 1 });
  await bms.publishAsync('fh/demo/ext/bms/ping', JSON.stringify({ ping: 1 }), { qos: 1 });
  await waitFor(() => hubGot.some((m) => m.topic === 'fh/demo/gate-1/status') && hubGot.some((m) => m.topic === 'fh/demo/ext/bms/ping'), 5000, 'the allowed messages at the hub');
  await waitFor(() => bmsGot.some((m) => m.topic === 'fh/demo/gate-1/status'), 5000, 'status at the integration');
  t.same(hubGot.find((m) => m.topic === 'fh/demo/gate-1/status')?.body, { online: true }, 'the device\'s own status reached the hub account');
  t.notOk(hubGot.some((m) => JSON.stringify(m.body).includes('forged')), 'nothing published as another device or as the hub was delivered');
  t.notOk(bmsGot.some((m) => JSON.stringify(m.body).includes('forged')));
  await waitFor(() => gate2Got.length > 0 && hubGot.some((m) => m.topic === 'fh/demo/gate-1/event'), 5000, 'the command at gate-2, the event at the hub');
  t.same(bmsGot.map((m) => m.topic), ['fh/demo/gate-1/status'], 'the integration read the status, and nothing outside its patterns (no event, no command, not its own publish)');
  t.same(gate2Got.map((m) => m.topic), ['fh/demo/gate-2/cmd']);
  t.same(gateGot.map((m) => m.topic), [], 'gate-1 read nothing of gate-2\'s, nor its own status or event');

  const door = await connect(broker.url, 'door-1', doorToken!);
  clients.push(door);
  t.pass('the rotated device connects with its new token');
  t.not(await connackCode(broker.url, { username: 'door-1', password: 'fhd_old-door-token' }), 0, 'its old token does not');
  t.not(await connackCode(broker.url, { username: 'gate-1', password: tokens['gate-2']! }), 0, 'nor another device\'s');
  t.not(await connackCode(broker.url, {}), 0, 'nor anonymous clients');
  t.match(broker.log(), /Denied PUBLISH from x-gate-1/, 'Mosquitto itself refused the forged publish');

  // The hub itself as the client of this Mosquitto: no password given, so it presents the
  // account the export issued (hub.demo); a device's own event is stored, a forged one is not.
  await hub.endAsync(true);
  const base = facility(MQTT_ONLY_FACILITY);
  const th = await startTestHub({ dataDir: data.dir, facility: { ...base, mqtt: { ...base.mqtt, external: { url: broker.url, username: 'hub' } } } });
  undo.push(() => th.stop());
  await waitFor(() => /New client connected .* u'hub\.demo'/.test(broker.log()), 10_000, 'the hub connected as hub.demo');
  // The forged one first: had Mosquitto passed it, it would reach the hub before the other.
  await gate.publishAsync('fh/demo/gate-2/event', JSON.stringify({ type: 'tamper', detail: 'forged' }), { qos: 1 });
  await gate.publishAsync('fh/demo/gate-1/event', JSON.stringify({ type: 'tamper', detail: 'own' }), { qos: 1 });
  await waitFor(() => th.hub.events.query({}).some((e) => e.deviceId === 'gate-1' && JSON.stringify(e.data).includes('own')), 10_000, 'the device event stored by the hub');
  const stored = th.hub.events.query({}).filter((e) => JSON.stringify(e.data).includes('own') || JSON.stringify(e.data).includes('forged'));
  t.ok(stored.some((e) => e.deviceId === 'gate-1' && JSON.stringify(e.data).includes('own')), 'gate-1\'s own event reached the hub through Mosquitto and was stored');
  t.notOk(stored.some((e) => JSON.stringify(e.data).includes('forged')), 'the event published as gate-2 was refused by Mosquitto and never stored');
});

void t.test('export mosquitto: usage, and a data dir that does not exist', async (t) => {
  const c = capture();
  t.equal(await main(['export', 'mosquitto'], c.io), 2);
  t.match(c.err.at(-1), /usage: facility-hub export mosquitto --out DIR/);
  t.equal(await main(['export', 'other', '--out', '/tmp/x'], c.io), 2);
  t.equal(await main(['export', 'mosquitto', '--out', '/tmp/x', '--data-dir', '/nonexistent/fh'], c.io), 1);
  t.match(c.err.at(-1), /no data dir/);
  t.equal(await main(['export', 'mosquitto', '--help'], c.io), 0);
  t.match(c.out.at(-1), /Usage: facility-hub export mosquitto --out DIR[\s\S]*--rotate-missing/);
  t.equal(await main(['integration', 'add', '--help'], c.io), 0);
  t.match(c.out.at(-1), /facility-hub integration add NAME --subscribe PATTERN[\s\S]*integration\.NAME/);
});

void t.test('a device whose old token connects to the embedded broker gets its Mosquitto hash then: no rotation needed', async (t) => {
  const data = tempDir('fh-export-old-');
  t.teardown(data.cleanup);
  const cfg = ['--config', CONFIG, '--data-dir', data.dir];
  const c = capture();
  const th = await startTestHub({ dataDir: data.dir });
  let stopped = false;
  t.teardown(() => (stopped ? undefined : th.stop()));
  for (const id of ['gate-1', 'gate-2', 'door-1', 'robot-1', 'fire-1']) th.hub.tokens.issue(id);
  // gate-1's row as it was before migration 9: a digest, no Mosquitto hash.
  const old = 'fhd_a-token-from-before';
  th.hub.store.db.prepare('UPDATE device_tokens SET hash = ?, mosquitto_hash = NULL WHERE device_id = ?').run(`sha256$${sha256(old)}`, 'gate-1');
  t.equal(th.hub.tokens.mosquittoHashes().get('gate-1'), null);
  t.equal(await connackCode(th.mqttUrl, { username: 'gate-1', password: old, clientId: 'old-gate-1' }), 0, 'the old token still connects');
  const stored = th.hub.tokens.mosquittoHashes().get('gate-1');
  t.match(stored, /^\$7\$101\$/, 'and its Mosquitto hash is stored on that connect');
  t.equal(await connackCode(th.mqttUrl, { username: 'gate-1', password: 'fhd_wrong' }), 4);
  t.equal(th.hub.tokens.mosquittoHashes().get('gate-1'), stored, 'a wrong token changes nothing');
  await th.stop();
  stopped = true;
  t.equal(await main(['export', 'mosquitto', '--out', join(data.dir, 'mq'), ...cfg], c.io), 0, c.err.join('\n'));
  t.same(c.out, [], 'no token rotated');
  t.match(readFileSync(join(data.dir, 'mq', 'passwd'), 'utf8'), new RegExp(`^gate-1:${stored!.replace(/[$+/]/g, '\\$&')}$`, 'm'));
});
