import t from 'tap';
import net from 'node:net';
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import { NutClient, parseUpsStatus, quoteNutArg, splitNutLine, type NutConfig } from '../../drivers/nut.js';
import { startNutServer, startRealUpsd, type NutServer, type NutServerOptions } from '../helpers/nut-server.js';
import { waitFor } from '../helpers/wait.js';

interface Teardown {
  teardown(fn: () => Promise<void>): void;
}

const VARS = {
  'ups.status': 'OL CHRG',
  'battery.charge': '87',
  'battery.runtime': '2400',
  'ups.mfr': 'ACME "Power" \\ Co',
};

async function setup(
  t: Teardown,
  serverOpts: NutServerOptions = {},
  config: Partial<NutConfig> = {},
): Promise<{ server: NutServer; client: NutClient; clock: ManualClock }> {
  const server = await startNutServer({ ups: 'ups1', vars: VARS, ...serverOpts });
  const clock = new ManualClock();
  const client = new NutClient({
    config: { host: '127.0.0.1', port: server.port, ups: 'ups1', timeoutMs: 200, ...config },
    clock,
    log: silentLogger(),
  });
  t.teardown(async () => {
    await client.close();
    await server.stop();
  });
  return { server, client, clock };
}

void t.test('parseUpsStatus reads the ups.status flags', async (t) => {
  t.match(parseUpsStatus('OL CHRG'), { online: true, onBattery: false, charging: true, lowBattery: false });
  t.match(parseUpsStatus('OB DISCHRG LB'), { online: false, onBattery: true, lowBattery: true, charging: false });
  t.match(parseUpsStatus(' OL  RB OVER BYPASS '), {
    online: true,
    replaceBattery: true,
    overload: true,
    bypass: true,
    tokens: ['OL', 'RB', 'OVER', 'BYPASS'],
  });
  t.match(parseUpsStatus('FSD OB LB'), { forcedShutdown: true, onBattery: true });
  t.same(parseUpsStatus('').tokens, []);
  t.same(parseUpsStatus('OL TRIM CAL').tokens, ['OL', 'TRIM', 'CAL'], 'unknown flags are kept');
  t.equal(parseUpsStatus('OLD').online, false, 'whole tokens only');
});

void t.test('splitNutLine and quoteNutArg round-trip quoted values', async (t) => {
  t.same(splitNutLine('VAR ups1 ups.mfr "ACME \\"Power\\" \\\\ Co"'), ['VAR', 'ups1', 'ups.mfr', 'ACME "Power" \\ Co']);
  t.same(splitNutLine('VAR ups1 x ""'), ['VAR', 'ups1', 'x', '']);
  t.equal(splitNutLine('VAR ups1 x "open'), null);
  t.equal(quoteNutArg('plain'), 'plain');
  const odd = 'pa ss"w\\d';
  t.same(splitNutLine(`PASSWORD ${quoteNutArg(odd)}`), ['PASSWORD', odd]);
});

void t.test('listVars and getVar against a real upsd-protocol server', async (t) => {
  const { client } = await setup(t);
  t.same(await client.connect(), { ok: true, value: undefined });
  t.same(await client.listVars(), { ok: true, value: VARS });
  t.same(await client.getVar('battery.charge'), { ok: true, value: '87' });
  t.same(await client.getVar('ups.mfr'), { ok: true, value: 'ACME "Power" \\ Co' });
  t.same(await client.getVar('no.such'), {
    ok: false,
    error: { kind: 'rejected', message: 'VAR-NOT-SUPPORTED', code: 'VAR-NOT-SUPPORTED' },
  });
  const bad = await client.getVar('x y');
  t.equal(!bad.ok && bad.error.kind, 'invalid-argument');
  t.ok(client.isConnected(), 'ERR answers keep the connection');
});

void t.test('an unknown UPS name is rejected', async (t) => {
  const { client } = await setup(t, {}, { ups: 'nope' });
  t.ok((await client.connect()).ok);
  t.same(await client.listVars(), { ok: false, error: { kind: 'rejected', message: 'UNKNOWN-UPS', code: 'UNKNOWN-UPS' } });
  const one = await client.getVar('ups.status');
  t.equal(!one.ok && one.error.code, 'UNKNOWN-UPS');
});

void t.test('requests are answered in order when fired together', async (t) => {
  const { client, server } = await setup(t);
  await client.connect();
  server.setVar('ups.status', 'OB DISCHRG');
  const [status, charge, list, runtime] = await Promise.all([
    client.getVar('ups.status'),
    client.getVar('battery.charge'),
    client.listVars(),
    client.getVar('battery.runtime'),
  ]);
  t.same(status, { ok: true, value: 'OB DISCHRG' });
  t.same(charge, { ok: true, value: '87' });
  t.equal(list.ok && list.value['battery.runtime'], '2400');
  t.same(runtime, { ok: true, value: '2400' });
});

void t.test('logs in with USERNAME, PASSWORD and LOGIN when configured', async (t) => {
  const auth = { username: 'monitor', password: 's3cret pass' };
  const { client, server } = await setup(t, { auth }, auth);
  t.ok((await client.connect()).ok);
  t.ok((await client.getVar('battery.charge')).ok);
  t.same(server.commands().slice(0, 3), ['USERNAME monitor', 'PASSWORD ***', 'LOGIN ups1']);

  const anon = await setup(t, { auth });
  t.ok((await anon.client.connect()).ok);
  t.ok((await anon.client.listVars()).ok, 'reads need no login (as with upsd)');
  t.same(anon.server.commands(), ['LIST VAR ups1'], 'no username: nothing to log in with');
});

void t.test('a wrong password fails the connect and retries with backoff', async (t) => {
  const { client, clock, server } = await setup(
    t,
    { auth: { username: 'monitor', password: 'right' } },
    { username: 'monitor', password: 'wrong' },
  );
  const r = await client.connect();
  t.same(r, { ok: false, error: { kind: 'rejected', message: 'upsd refused LOGIN for user "monitor" on UPS "ups1": ACCESS-DENIED', code: 'ACCESS-DENIED' } });
  t.equal(client.isConnected(), false);
  t.equal(clock.pendingTimers(), 1, 'retry scheduled');
  await waitFor(() => server.connections() === 0, 3000, 'server saw the socket close');
  await client.close();
  t.equal(clock.pendingTimers(), 0, 'close cancels the retry');
});

void t.test('a silent upsd times out; the client reconnects after backoff', async (t) => {
  const { client, server, clock } = await setup(t);
  await client.connect();
  const states: boolean[] = [];
  client.onStateChange((c) => states.push(c));
  server.setUnresponsive(true);
  const r = await client.getVar('ups.status');
  t.equal(!r.ok && r.error.kind, 'timeout');
  t.equal(client.isConnected(), false, 'the stream is abandoned after a timeout');
  const next = await client.getVar('ups.status');
  t.equal(!next.ok && next.error.kind, 'disconnected');
  server.setUnresponsive(false);
  clock.advance(500);
  await waitFor(() => client.isConnected(), 3000, 'reconnect');
  t.same(await client.getVar('ups.status'), { ok: true, value: 'OL CHRG' });
  t.same(states, [false, true]);
});

void t.test('a restarting upsd: disconnected, then back after backoff', async (t) => {
  const { client, server, clock } = await setup(t);
  await client.connect();
  server.dropConnections();
  await waitFor(() => !client.isConnected(), 3000, 'drop noticed');
  const r = await client.listVars();
  t.equal(!r.ok && r.error.kind, 'disconnected');
  clock.advance(500);
  await waitFor(() => client.isConnected(), 3000, 'reconnect');
  t.ok((await client.listVars()).ok);
});

void t.test('connecting to nothing fails as a Result and keeps retrying until closed', async (t) => {
  const probe = await startNutServer();
  const port = probe.port;
  await probe.stop();
  const clock = new ManualClock();
  const client = new NutClient({ config: { host: '127.0.0.1', port, ups: 'ups1', timeoutMs: 200 }, clock, log: silentLogger() });
  const r = await client.connect();
  t.equal(!r.ok && r.error.kind, 'disconnected');
  t.equal(clock.pendingTimers(), 1);
  clock.advance(500);
  await waitFor(() => clock.pendingTimers() === 1, 3000, 'second attempt scheduled');
  await client.close();
  t.equal(clock.pendingTimers(), 0);
});

void t.test('the test server answers unknown commands and LOGOUT like upsd', async (t) => {
  const server = await startNutServer({ vars: VARS });
  t.teardown(() => server.stop());
  const socket = net.createConnection({ host: '127.0.0.1', port: server.port });
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write('FROB\nGET VAR ups1 battery.charge\nLOGOUT\n');
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  t.equal(text, 'ERR UNKNOWN-COMMAND\nVAR ups1 battery.charge "87"\nOK Goodbye\n');
});

void t.test('real upsd: LOGIN after USERNAME/PASSWORD makes the hub a counted client', async (t) => {
  const upsd = await startRealUpsd({ ups: 'rack', vars: { 'ups.status': 'OL CHRG', 'battery.charge': '96' }, users: [{ name: 'monitor', password: 's3cret', upsmon: 'secondary' }] });
  t.teardown(() => upsd.stop());
  const client = new NutClient({ config: { host: '127.0.0.1', port: upsd.port, ups: 'rack', username: 'monitor', password: 's3cret' }, clock: new ManualClock(), log: silentLogger() });
  t.teardown(() => client.close());
  t.same(await client.connect(), { ok: true, value: undefined });
  t.same(await client.getVar('battery.charge'), { ok: true, value: '96' });
  const clients = await upsd.ask(['LIST CLIENT rack']);
  t.ok(clients.includes('CLIENT rack 127.0.0.1'), `upsd counts the hub as a client of rack (${clients.join(' | ')})`);
  t.equal(client.connectError(), null);
});

void t.test('real upsd: a wrong password, an unknown user, a user without upsmon role are refused at LOGIN', async (t) => {
  const upsd = await startRealUpsd({
    ups: 'rack',
    users: [
      { name: 'monitor', password: 's3cret', upsmon: 'secondary' },
      { name: 'viewer', password: 'view', },
    ],
  });
  t.teardown(() => upsd.stop());
  for (const [username, password] of [['monitor', 'wrong'], ['nobody', 's3cret'], ['viewer', 'view']] as const) {
    const clock = new ManualClock();
    const client = new NutClient({ config: { host: '127.0.0.1', port: upsd.port, ups: 'rack', username, password }, clock, log: silentLogger() });
    const r = await client.connect();
    t.match(r, { ok: false, error: { kind: 'rejected', code: 'ACCESS-DENIED', message: new RegExp(`upsd refused LOGIN for user "${username}" on UPS "rack"`) } }, `${username}/${password}`);
    t.equal(client.isConnected(), false);
    t.match(client.connectError(), { kind: 'rejected', code: 'ACCESS-DENIED' });
    t.equal(clock.pendingTimers(), 1, 'retries later (upsd.users may be fixed)');
    await client.close();
  }
});
