/**
 * `facility-hub start --mqtt-url …`: option errors name the option (in-process, nothing
 * starts), and a real start as a child process runs as Mosquitto's client: ready, /healthz,
 * its retained liveness, SIGTERM.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { main } from '../../../hub/cli.js';
import { tempDir, waitFor } from '../../helpers/hub.js';
import { mqttOnlyConfig } from '../../fixtures/cli-hub.js';
import { cleanSpawn } from '../../fixtures/cli.js';
import { contractAcl, startMosquitto } from '../../helpers/mosquitto.js';

// The child hub loads TypeScript through tsx: tens of seconds on a busy machine (never asserted).
t.setTimeout(240_000);

async function run(args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await main(args, { out: () => undefined, err: (s) => (err += `${s}\n`) });
  return { code, err };
}

void t.test('option errors name the option and start nothing', async (t) => {
  const tmp = tempDir('fh-extcli-');
  t.teardown(tmp.cleanup);
  const config = mqttOnlyConfig(tmp.dir);
  const pem = join(tmp.dir, 'ca.pem');
  writeFileSync(pem, 'not used');
  const base = ['start', '--config', config, '--data-dir', join(tmp.dir, 'data'), '--no-simulators'];
  const cases: [string[], RegExp][] = [
    [['--mqtt-url', 'http://127.0.0.1:1883'], /--mqtt-url: found "http:\/\/", expected mqtt:\/\/ or mqtts:\/\//],
    [['--mqtt-url', 'not a url'], /--mqtt-url: found "not a url"/],
    [['--mqtt-url', 'mqtt://hub:secret@127.0.0.1:1883'], /--mqtt-url: credentials in the URL are not accepted/],
    [['--mqtt-url', 'mqtt://127.0.0.1:1883/x'], /--mqtt-url: found the path/],
    [['--mqtt-ca', pem], /--mqtt-ca: only used in external broker mode, expected --mqtt-url/],
    [['--mqtt-url', 'mqtt://127.0.0.1:1883', '--mqtt-ca', pem], /--mqtt-ca: only used with an mqtts:\/\/ URL/],
    [['--mqtt-url', 'mqtts://127.0.0.1:8883', '--mqtt-cert', pem], /--mqtt-key: missing, expected --mqtt-cert and --mqtt-key together/],
    [['--mqtt-url', 'mqtts://127.0.0.1:8883', '--mqtt-ca', join(tmp.dir, 'nope.pem')], /--mqtt-ca: .*nope\.pem does not exist/],
    [['--mqtt-url', 'mqtt://127.0.0.1:1883', '--mqtt-port', '1883'], /--mqtt-port: not used in external broker mode/],
    [['--mqtt-url', 'mqtt://127.0.0.1:1883', '--mqtt-host', '0.0.0.0'], /--mqtt-host: not used in external broker mode/],
  ];
  for (const [args, expected] of cases) {
    const r = await run([...base, ...args]);
    t.equal(r.code, 2, `exit 2 for ${args.join(' ')}`);
    t.match(r.err, expected, args.join(' '));
  }
  const help = await (async () => {
    let out = '';
    await main(['start', '--help'], { out: (s) => (out += s), err: () => undefined });
    return out;
  })();
  t.match(help, /--mqtt-url URL/);
  t.match(help, /FH_MQTT_PASSWORD/);
});

void t.test('start --mqtt-url runs the hub as a client of Mosquitto', async (t) => {
  const mq = await startMosquitto({ users: { hub: 'cli-hub-password', 'gate-1': 'g1' }, acl: contractAcl('demo') });
  t.teardown(() => mq.cleanup());
  const tmp = tempDir('fh-extcli-');
  t.teardown(tmp.cleanup);
  const child = cleanSpawn(
    ['start', '--config', mqttOnlyConfig(tmp.dir), '--data-dir', join(tmp.dir, 'data'), '--http-host', '127.0.0.1', '--http-port', '0', '--no-simulators', '--mqtt-url', mq.url],
    { FH_ADMIN_PASSWORD: 'ext-cli-admin', FH_MQTT_PASSWORD: 'cli-hub-password', FH_LOG_LEVEL: 'info' },
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const ended = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await waitFor(() => out.includes('facility-hub ready'), 120_000, 'the hub ready');
  t.match(out, new RegExp(`client of mqtt://127\\.0\\.0\\.1:${mq.port}`), 'says whose client it is');
  t.notOk(out.includes('cli-hub-password'), 'the broker password is never logged');
  const httpPort = Number(/http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
  const health = (await (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).json()) as { status: string };
  t.equal(health.status, 'ok');

  // The hub's retained liveness, as Mosquitto keeps it (the gate's ACL reads fh/demo/hub/#).
  const gate = await mqtt.connectAsync(mq.url, { username: 'gate-1', password: 'g1', protocolVersion: 4, reconnectPeriod: 0 });
  t.teardown(() => gate.endAsync(true));
  const statuses: unknown[] = [];
  gate.on('message', (topic, payload) => topic === 'fh/demo/hub/status' && statuses.push(JSON.parse(payload.toString())));
  await gate.subscribeAsync('fh/demo/hub/status', { qos: 1 });
  await waitFor(() => statuses.length > 0, 10_000, 'the hub status');
  t.same(statuses[0], { online: true });

  child.kill('SIGTERM');
  t.equal(await ended, 0, 'a clean stop');
  await waitFor(() => statuses.length > 1, 10_000, 'the hub status after the stop');
  t.same(statuses.at(-1), { online: false }, 'offline said before the disconnect');
});
