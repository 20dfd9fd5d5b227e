import t from 'tap';
import mqtt, { type MqttClient } from 'mqtt';
import { startTestHub, tempDir, waitFor, type TestHub } from '../../helpers/hub.js';
import { connackCode, metricValue, subackCodes } from '../../fixtures/mqtt.js';
import { main } from '../../../hub/cli.js';

const USER = (name: string): string => `integration.${name}`;

function connectIntegration(th: TestHub, name: string, token: string, clientId = `it-${name}-${Math.random().toString(36).slice(2, 8)}`): Promise<MqttClient> {
  return mqtt.connectAsync(th.mqttUrl, { username: USER(name), password: token, clientId, reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5000 });
}

async function createByApi(th: TestHub, admin: string, body: Record<string, unknown>): Promise<string> {
  const res = await th.hub.api().inject({ method: 'POST', url: '/api/integrations', headers: { authorization: `Bearer ${admin}` }, payload: body });
  if (res.statusCode !== 201) throw new Error(`create failed: ${res.statusCode} ${res.body}`);
  return res.json<{ token: string }>().token;
}

/** Collects messages of a client, by topic. */
function collect(client: MqttClient): Map<string, unknown[]> {
  const got = new Map<string, unknown[]>();
  client.on('message', (topic, payload) => got.set(topic, [...(got.get(topic) ?? []), JSON.parse(payload.toString('utf8'))]));
  return got;
}

void t.test('an account created by the API reads device status, and nothing else is allowed', async (t) => {
  const th = await startTestHub({ full: true });
  t.teardown(() => th.stop());
  const api = th.hub.api();
  const admin = await th.login();
  const res = await api.inject({
    method: 'POST',
    url: '/api/integrations',
    headers: { authorization: `Bearer ${admin}` },
    payload: { name: 'bms', description: '楼宇管理 building management', subscribe: ['fh/demo/+/status'] },
  });
  t.equal(res.statusCode, 201, res.body);
  const created = res.json<{ token: string; account: { name: string; username: string; subscribe: string[] } }>();
  t.match(created.token, /^fhi_[A-Za-z0-9_-]{43}$/);
  t.same(created.account.subscribe, ['fh/demo/+/status']);
  t.equal(created.account.username, 'integration.bms');
  const list = await api.inject({ method: 'GET', url: '/api/integrations', headers: { authorization: `Bearer ${admin}` } });
  t.equal(list.statusCode, 200);
  t.notOk(list.body.includes(created.token), 'the token is answered once, never listed');
  t.notOk(list.body.includes('sha256'), 'nor its hash');
  t.equal(list.json<unknown[]>().length, 1);
  const conflict = await api.inject({ method: 'POST', url: '/api/integrations', headers: { authorization: `Bearer ${admin}` }, payload: { name: 'bms', subscribe: ['x/y'] } });
  t.equal(conflict.statusCode, 409);

  const bms = await connectIntegration(th, 'bms', created.token);
  t.teardown(() => bms.endAsync(true));
  const got = collect(bms);
  t.same(await subackCodes(bms, ['fh/demo/+/status']), [1], 'its own pattern is granted');
  t.same(await subackCodes(bms, ['fh/demo/gate-1/status']), [1], 'a filter inside its pattern too');
  t.same(await subackCodes(bms, ['fh/demo/#']), [128], 'a wider filter: SUBACK 0x80');
  t.same(await subackCodes(bms, ['fh/demo/gate-1/cmd']), [128]);
  t.same(await subackCodes(bms, ['fh/demo/gate-1/verify']), [128]);

  const gate = await th.connectDevice('gate-1');
  await gate.publishAsync('fh/demo/gate-1/status', JSON.stringify({ online: true, ts: Date.now() }), { qos: 1, retain: true });
  await waitFor(() => (got.get('fh/demo/gate-1/status')?.length ?? 0) > 0, 5000, 'status delivered to the integration');
  t.match(got.get('fh/demo/gate-1/status')?.[0], { online: true });

  // Publishing as a device: acknowledged (MQTT 3.1.1 has no negative PUBACK) but neither forwarded nor retained.
  const watcher = await th.connectDevice('door-1');
  const doorGot = collect(watcher);
  await watcher.subscribeAsync('fh/demo/hub/#', { qos: 1 });
  await bms.publishAsync('fh/demo/gate-1/status', JSON.stringify({ online: false, ts: Date.now() }), { qos: 1, retain: true });
  await bms.publishAsync('fh/demo/hub/power', JSON.stringify({ mains: false, from: 'bms' }), { qos: 1 });
  await bms.publishAsync('fh/demo/hub/power', JSON.stringify({ mains: false, from: 'bms' }), { qos: 1 });
  const late = await connectIntegration(th, 'bms', created.token);
  t.teardown(() => late.endAsync(true));
  const lateGot = collect(late);
  await late.subscribeAsync('fh/demo/gate-1/status', { qos: 1 });
  await waitFor(() => (lateGot.get('fh/demo/gate-1/status')?.length ?? 0) > 0, 5000, 'retained status');
  t.match(lateGot.get('fh/demo/gate-1/status'), [{ online: true }], 'the device\'s retained status is still its own');
  t.notOk(JSON.stringify(doorGot.get('fh/demo/hub/power') ?? []).includes('bms'), 'nothing published as the hub reached a device');
  t.match(got.get('fh/demo/gate-1/status'), [{ online: true }], 'nor anyone else');

  const refused = th.hub.events.query({ type: 'integration.refused' });
  t.same(
    refused.map((e) => [e.actor, e.data.what, e.data.topic ?? e.data.filter]),
    [
      ['integration:bms', 'subscribe', 'fh/demo/#'],
      ['integration:bms', 'subscribe', 'fh/demo/gate-1/cmd'],
      ['integration:bms', 'subscribe', 'fh/demo/gate-1/verify'],
      ['integration:bms', 'publish', 'fh/demo/gate-1/status'],
      ['integration:bms', 'publish', 'fh/demo/hub/power'],
    ],
    'every refusal is in the event log with the account as actor (a repeat on one connection once)',
  );
  const created0 = th.hub.events.query({ type: 'integration.created' });
  t.match(created0, [{ actor: 'user:admin', data: { name: 'bms', subscribe: ['fh/demo/+/status'], publish: [] } }]);
  t.notOk(JSON.stringify(th.hub.events.query({})).includes(created.token), 'the token is in no event');
  const m = (await api.inject({ method: 'GET', url: '/metrics' })).body;
  t.ok(metricValue(m, 'fh_mqtt_refused_total', { what: 'publish' }) >= 3);
});

void t.test('an account with a publish pattern reaches another account\'s subscription', async (t) => {
  const th = await startTestHub({ full: true });
  t.teardown(() => th.stop());
  const admin = await th.login();
  const videoToken = await createByApi(th, admin, { name: 'video', publish: ['fh/demo/ext/video/#'] });
  const bmsToken = await createByApi(th, admin, { name: 'bms', subscribe: ['fh/demo/ext/#'] });
  const bms = await connectIntegration(th, 'bms', bmsToken);
  const video = await connectIntegration(th, 'video', videoToken);
  t.teardown(() => Promise.all([bms.endAsync(true), video.endAsync(true)]));
  const got = collect(bms);
  await bms.subscribeAsync('fh/demo/ext/#', { qos: 1 });
  await video.publishAsync('fh/demo/ext/video/camera-3', JSON.stringify({ motion: true }), { qos: 1 });
  await waitFor(() => got.has('fh/demo/ext/video/camera-3'), 5000, 'the message');
  t.same(got.get('fh/demo/ext/video/camera-3'), [{ motion: true }]);
  t.same(await subackCodes(video, ['fh/demo/ext/#']), [128], 'video has no subscribe pattern: deny by default');
});

void t.test('patterns are validated: 400 naming the field, nothing created', async (t) => {
  const th = await startTestHub({ full: true });
  t.teardown(() => th.stop());
  const api = th.hub.api();
  const admin = await th.login();
  const post = (payload: Record<string, unknown>) => api.inject({ method: 'POST', url: '/api/integrations', headers: { authorization: `Bearer ${admin}` }, payload });
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ name: 'x', subscribe: ['fh/demo/+/status'], publish: ['fh/demo/gate-1/status'] }, 'publish[0]', /gate-1/],
    [{ name: 'x', publish: ['fh/demo/hub/#'] }, 'publish[0]', /hub/],
    [{ name: 'x', publish: ['fh/demo/+/event'] }, 'publish[0]', /would publish as/],
    [{ name: 'x', subscribe: ['fh/demo/#'] }, 'subscribe[0]', /ID numbers/],
    [{ name: 'x', subscribe: ['fh/demo/+/status', 'fh/de#mo'] }, 'subscribe[1]', /"#"/],
    [{ name: 'x', subscribe: ['fh/demo/st+/x'] }, 'subscribe[0]', /"\+"/],
    [{ name: 'x' }, 'subscribe', /at least one/],
    [{ name: 'Bad Name', subscribe: ['a/b'] }, 'name', /./],
    [{ name: 'x', subscribe: 'fh/demo/+/status' }, 'subscribe', /./],
    [{ name: 'x', subscribe: ['a/b'], colour: 'blue' }, 'colour', /./],
    [{ name: 'x', subscribe: ['a/b'], description: 'two\nlines' }, 'description', /control characters/],
  ];
  for (const [body, field, message] of cases) {
    const res = await post(body);
    t.equal(res.statusCode, 400, `${JSON.stringify(body)}: ${res.body}`);
    const err = res.json<{ code: string; message: string; details: { field: string } }>();
    t.equal(err.code, 'HUB_ERR_VALIDATION');
    t.equal(err.details.field, `body.${field}`, `names ${field}`);
    t.match(err.message, message);
  }
  const list = await api.inject({ method: 'GET', url: '/api/integrations', headers: { authorization: `Bearer ${admin}` } });
  t.same(list.json(), [], 'nothing was created');
  t.same(th.hub.events.query({ type: 'integration.created' }), []);
});

void t.test('disabled: live connections closed, then refused; rotated: the old token stops working', async (t) => {
  const th = await startTestHub({ full: true });
  t.teardown(() => th.stop());
  const api = th.hub.api();
  const admin = await th.login();
  const auth = { authorization: `Bearer ${admin}` };
  const token = await createByApi(th, admin, { name: 'bms', subscribe: ['fh/demo/+/status'] });

  const first = await connectIntegration(th, 'bms', token);
  const firstClosed = new Promise<void>((done) => first.once('close', () => done()));
  const rotated = await api.inject({ method: 'POST', url: '/api/integrations/bms/rotate', headers: auth });
  t.equal(rotated.statusCode, 200, rotated.body);
  const newToken = rotated.json<{ token: string }>().token;
  t.not(newToken, token);
  await firstClosed;
  t.pass('the connection under the old token was closed');
  t.equal(await connackCode(th.mqttUrl, { username: USER('bms'), password: token }), 4, 'the old token is refused');

  const second = await connectIntegration(th, 'bms', newToken);
  const secondClosed = new Promise<void>((done) => second.once('close', () => done()));
  const disabled = await api.inject({ method: 'POST', url: '/api/integrations/bms/disable', headers: auth });
  t.equal(disabled.statusCode, 200, disabled.body);
  t.type(disabled.json<{ disabledAt: string | null }>().disabledAt, 'string');
  await secondClosed;
  t.pass('the live connection was closed on disabling');
  t.equal(await connackCode(th.mqttUrl, { username: USER('bms'), password: newToken }), 4, 'a disabled account is refused');
  t.equal((await api.inject({ method: 'POST', url: '/api/integrations/bms/rotate', headers: auth })).statusCode, 409, 'a disabled account cannot be rotated back to life');
  t.equal((await api.inject({ method: 'POST', url: '/api/integrations/nobody/disable', headers: auth })).statusCode, 404);
  t.same(
    th.hub.events.query({}).filter((e) => e.type.startsWith('integration.')).map((e) => [e.type, e.actor]),
    [
      ['integration.created', 'user:admin'],
      ['integration.rotated', 'user:admin'],
      ['integration.disabled', 'user:admin'],
    ],
  );
  t.equal(await connackCode(th.mqttUrl, { username: 'bms', password: newToken }), 4, 'the bare name is no device either');
});

void t.test('wrong tokens go through the connect throttle', async (t) => {
  const th = await startTestHub({ full: true, extra: { connectThrottle: { freeFailures: 2, baseLockMs: 60_000, maxLockMs: 60_000, forgetAfterMs: 600_000, maxKeys: 100 } } });
  t.teardown(() => th.stop());
  const admin = await th.login();
  const token = await createByApi(th, admin, { name: 'bms', subscribe: ['fh/demo/+/status'] });
  t.equal(await connackCode(th.mqttUrl, { username: USER('bms'), password: 'fhi_wrong' }), 4);
  t.equal(await connackCode(th.mqttUrl, { username: USER('bms'), password: 'fhi_wrong' }), 4);
  t.equal(await connackCode(th.mqttUrl, { username: USER('bms'), password: token }), 3, 'then even the right token is refused while the address is locked');
});

void t.test('the CLI creates, lists, rotates and disables accounts; a hub on that data dir admits them', async (t) => {
  const tmp = tempDir('fh-int-cli-');
  t.teardown(tmp.cleanup);
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
  const cfg = ['--config', 'config/demo-facility.yaml', '--data-dir', tmp.dir];
  t.equal(await main(['integration', 'add', 'video', '--subscribe', 'fh/demo/+/status', '--subscribe', 'fh/demo/+/event', '--publish', 'fh/demo/ext/video/#', '--description', '视频平台 video', ...cfg], io), 0, err.join('\n'));
  const token = out.pop()!;
  t.match(token, /^fhi_/);
  t.match(err.join('\n'), /integration\.video/);
  t.equal(await main(['integration', 'add', 'bad', '--publish', 'fh/demo/gate-1/#', ...cfg], io), 1);
  t.match(err.at(-1), /publish\[0\].*gate-1/);
  t.equal(await main(['integration', 'add', 'ids', '--subscribe', 'fh/demo/+/verify', ...cfg], io), 1);
  t.equal(await main(['integration', 'list', ...cfg], io), 0);
  t.match(out.at(-1), /^video\tenabled\tsubscribe fh\/demo\/\+\/status,fh\/demo\/\+\/event\tpublish fh\/demo\/ext\/video\/#\t视频平台 video$/);
  t.equal(out.length, 1, 'bad accounts were not created');

  const th = await startTestHub({ full: true, dataDir: tmp.dir });
  let hubStopped = false;
  t.teardown(() => (hubStopped ? undefined : th.stop()));
  const client = await connectIntegration(th, 'video', token);
  t.same(await subackCodes(client, ['fh/demo/+/event']), [1]);
  await client.endAsync(true);
  t.equal(await main(['integration', 'disable', 'video', ...cfg], io), 1, 'refused while a hub runs on the data dir');
  t.match(err.at(-1), /a hub is running/);
  await th.stop();
  hubStopped = true;

  t.equal(await main(['integration', 'rotate', 'video', ...cfg], io), 0, err.join('\n'));
  t.match(out.at(-1), /^fhi_/);
  t.not(out.at(-1), token);
  t.equal(await main(['integration', 'disable', 'video', ...cfg], io), 0);
  t.equal(await main(['integration', 'disable', 'video', ...cfg], io), 1, 'twice: already disabled');
  t.equal(await main(['integration', 'list', ...cfg], io), 0);
  t.match(out.at(-1), /^video\tdisabled /);
  t.equal(await main(['integration', 'frobnicate', ...cfg], io), 2);
});
