/**
 * The power feature end to end: the real UPS and relay simulators over Modbus TCP, the
 * hub's broker, store and API, a manual clock for everything the hub times.
 */
import t, { type Test } from 'tap';
import mqtt from 'mqtt';
import type { HubEvents } from '../../hub/events.js';
import { advanceUntil, startPowerRig, type PowerRig } from '../helpers/power-sims.js';

async function rig(t: Test, o: Parameters<typeof startPowerRig>[0] = {}): Promise<PowerRig> {
  const r = await startPowerRig(o);
  t.teardown(() => r.stop());
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'mains-ok' && r.hub.availability.isAvailable('relay-2'), 'mains-ok at start');
  return r;
}

function collect<K extends keyof HubEvents & string>(r: PowerRig, event: K): HubEvents[K][] {
  const out: HubEvents[K][] = [];
  r.hub.bus.on('test', event, (p) => void out.push(p));
  return out;
}

const stageStatus = (r: PowerRig, stage: string, at: string): string | undefined => r.power.snapshot().stages.find((s) => s.stage === stage && s.at === at)?.status;

void t.test('mains loss: announce, shed verified, critical kept, runtime checked; logged into running sessions and published', async (t) => {
  const r = await rig(t);
  const session = (await r.hub.sessions.create({ code: 'P-1', name: 'power test', start: r.clock.now() - 60_000, end: r.clock.now() + 3 * 3600_000, rooms: ['room-1'] }, 'hub')).session;
  t.ok(r.hub.runningSessions().includes(session.id), 'the session is running');
  const announcements = collect(r, 'power.announce');
  const alarms = collect(r, 'alarm.raised');
  r.hub.bus.on('test', 'power.announce', () => undefined); // a listener, as the broadcast feature would be

  r.ups.setMains(false);
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'on-battery', 'on-battery');
  await r.power.idle();
  t.equal(stageStatus(r, 'announce', 'on-battery'), 'done');
  t.equal(stageStatus(r, 'shed', 'on-battery'), 'done');
  t.equal(stageStatus(r, 'runtime-check', 'on-battery'), 'done');
  t.match(announcements, [{ priority: 'emergency', state: 'on-battery', text: /市电中断/ }]);
  t.same(r.loads.coils().slice(0, 4), [false, false, false, true], 'sheddable off, critical on');
  t.same(r.jammers.coils(), [false, false, false, false], 'jammers untouched');
  t.same(r.power.snapshot().shedLoads.map((l) => l.outputId).sort(), ['hall-display', 'hvac-aux', 'lobby-lighting']);

  // 720 Wh at 600 W: 72 min of runtime against 3 h of session: supervisors are warned.
  t.match(alarms, [{ id: 'power-runtime-short', severity: 'critical', message: /P-1/ }]);
  t.match(r.power.snapshot().runtimeShortfall, { sessions: [{ id: session.id }] });

  const transitions = r.hub.events.query({ type: 'power.state', sessionId: session.id });
  t.match(transitions.map((e) => e.data), [{ from: 'mains-ok', to: 'on-battery', mains: false }], 'the transition is in the session log');
  t.ok(r.hub.events.query({ type: 'power.stage', sessionId: session.id }).length >= 3, 'stages too');
  t.ok(r.hub.events.query({ type: 'power.runtime-short', sessionId: session.id }).length === 1);
  t.ok(r.hub.events.query({ type: 'command.finished', deviceId: 'relay-2' }).every((e) => e.data.outcome === 'acked'), 'every relay write in the ledger, acked');

  const token = await r.login();
  const res = await r.hub.api().inject({ method: 'GET', url: '/api/power', headers: { authorization: `Bearer ${token}` } });
  t.equal(res.statusCode, 200);
  t.match(res.json(), { state: 'on-battery', mains: false, battery: { charge: Number }, runtime: Number, stage: null, stages: Array });
  const anon = await r.hub.api().inject({ method: 'GET', url: '/api/power' });
  t.equal(anon.statusCode, 401, 'needs a login');

  // The retained state, as a device sees it.
  const token2 = r.hub.tokens.issue('host-1');
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${r.hub.mqttPort}`, { username: 'host-1', password: token2, reconnectPeriod: 0, protocolVersion: 4 });
  t.teardown(() => client.endAsync(true));
  const got = new Promise<Record<string, unknown>>((resolve) => client.on('message', (_t, p) => resolve(JSON.parse(p.toString()) as Record<string, unknown>)));
  await client.subscribeAsync('fh/demo/hub/power', { qos: 1 });
  t.match(await got, { state: 'on-battery', mains: false, fsd: false });
});

void t.test('low battery: ordered shutdown notices with a sync wait; critical: the hub shuts down', async (t) => {
  const r = await rig(t, { power: '  mainsStableMs: 10000\n  shutdown:\n    hosts: [{ device: host-1 }, { device: host-2 }]\n    hostSyncMs: 500' });
  const token = r.hub.tokens.issue('host-1');
  const host = await mqtt.connectAsync(`mqtt://127.0.0.1:${r.hub.mqttPort}`, { username: 'host-1', password: token, reconnectPeriod: 0, protocolVersion: 4 });
  t.teardown(() => host.endAsync(true));
  const received: Record<string, unknown>[] = [];
  host.on('message', (_topic, payload) => {
    const m = JSON.parse(payload.toString()) as { id: string; cmd: string };
    received.push(m);
    // A device answering while the test may be ending: its PUBACK may never come.
    void host.publishAsync('fh/demo/host-1/cmd/ack', JSON.stringify({ id: m.id, ok: true }), { qos: 1 }).catch(() => undefined);
  });
  await host.subscribeAsync('fh/demo/host-1/cmd', { qos: 1 });
  await advanceUntil(r.clock, () => r.hub.availability.isAvailable('host-1'), 'host-1 connected');

  r.ups.setFault({ overrideCharge: 25 });
  r.ups.setMains(false);
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'low-battery', 'low-battery');
  await r.power.idle();
  t.match(received, [{ cmd: 'power.shutdown', args: { state: 'low-battery' } }], 'host-1 told, and it acknowledged');
  const stage = r.power.snapshot().stages.find((s) => s.stage === 'shutdown-hosts');
  t.equal(stage?.status, 'failed', 'host-2 is not connected');
  t.match(stage?.detail, /host-1: acked.*host-2: unavailable/, 'in order, each with its fate');
  t.equal(r.power.snapshot().fsd, true, 'FSD published');
  t.equal(stageStatus(r, 'shed', 'on-battery'), 'done', 'the milder stages ran first');
  t.same(r.shutdowns, [], 'not critical yet');

  r.ups.setFault({ overrideCharge: 5 });
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'critical', 'critical');
  await r.power.idle();
  await advanceUntil(r.clock, () => r.shutdowns.length > 0, 'hub shutdown called');
  t.same(r.shutdowns, ['power critical']);
  t.equal(r.hub.events.query({ type: 'power.hub-shutdown' }).length, 1);
  t.same(
    r.hub.events.query({ type: 'power.state' }).map((e) => `${String(e.data.from)}>${String(e.data.to)}`),
    ['unknown>mains-ok', 'mains-ok>low-battery', 'low-battery>critical'],
  );
});

void t.test('mains return: mains-ok after the stable time, loads restored one at a time by restoreOrder', async (t) => {
  const r = await rig(t, { power: '  mainsStableMs: 2000\n  restore: { staggerMs: 1000 }' });
  r.ups.setMains(false);
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'on-battery', 'on-battery');
  await r.power.idle();
  const order: string[] = [];
  r.loads.onChange((coil, on) => {
    if (on) order.push(['hall-display', 'hvac-aux', 'lobby-lighting'][coil] ?? String(coil));
  });
  r.ups.setMains(true);
  await advanceUntil(r.clock, () => r.power.snapshot().pending?.kind === 'mains-stable', 'mains seen back');
  t.equal(r.power.snapshot().state, 'on-battery', 'not before mains is stable');
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'mains-ok', 'mains-ok');
  await advanceUntil(r.clock, () => stageStatus(r, 'restore', 'mains-ok') === 'done', 'restored');
  t.same(order, ['lobby-lighting', 'hvac-aux', 'hall-display'], 'lowest restoreOrder first, one at a time');
  t.same(r.loads.coils().slice(0, 4), [true, true, true, true]);
  t.same(r.power.snapshot().shedLoads, []);
  const restoreCmds = r.hub.events.query({ type: 'command.finished', deviceId: 'relay-2' }).slice(-3);
  t.ok(restoreCmds[1]!.ts - restoreCmds[0]!.ts >= 1000 && restoreCmds[2]!.ts - restoreCmds[1]!.ts >= 1000, 'staggered on the hub clock');
  t.equal(r.hub.events.query({ type: 'alarm.cleared' }).filter((e) => e.data.id === 'power-runtime-short').length, 0, 'no session: nothing was raised');
});

void t.test('a relay that does not follow: the shed stage fails and an alarm is raised', async (t) => {
  const r = await rig(t);
  const alarms = collect(r, 'alarm.raised');
  r.loads.stick(1, true);
  r.ups.setMains(false);
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'on-battery', 'on-battery');
  await r.power.idle();
  t.equal(stageStatus(r, 'shed', 'on-battery'), 'failed');
  t.match(r.power.snapshot().stages.find((s) => s.stage === 'shed')?.detail, /1 of 3 .*hvac-aux/);
  t.match(alarms, [{ id: 'relay-mismatch:relay-2:hvac-aux', source: 'relay', deviceId: 'relay-2' }]);
  t.same(r.loads.coils().slice(0, 3), [false, true, false], 'the others are off');
  t.equal(r.hub.events.query({ type: 'alarm.raised', deviceId: 'relay-2' }).length, 1, 'logged once, polls do not repeat it');
});

void t.test('the UPS vanishes mid-outage: treated as low battery', async (t) => {
  const r = await rig(t, { modbusTimeoutMs: 200 }); // it falls silent: short timeouts
  r.ups.setMains(false);
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'on-battery', 'on-battery');
  r.ups.setFault({ unresponsive: true });
  await advanceUntil(r.clock, () => r.power.snapshot().state === 'low-battery', 'low-battery', 100, 10000);
  t.match(r.power.snapshot().reason, /silent while on battery/);
  t.equal(r.hub.availability.isAvailable('ups-1'), false);
  t.match(r.power.snapshot().ups, [{ deviceId: 'ups-1', comm: 'lost', lostOnBattery: true }]);
  await r.power.idle();
});

void t.test('bad power config fails closed', async (t) => {
  await t.rejects(startPowerRig({ power: '  shutdown:\n    hosts: [{ device: relay-2 }, { device: nope }]' }), /\/power\/shutdown\/hosts\/0\/device.*an MQTT device.*\/power\/shutdown\/hosts\/1\/device.*a device of \/devices/s);
});
