/** The relay device against the real relay simulator: verified writes, read-back alarms, faults. */
import t, { type Test } from 'tap';
import type { HubEvents } from '../../hub/events.js';
import type { RelayDevice } from '../../devices/relay.js';
import { advanceUntil, startPowerRig } from '../helpers/power-sims.js';

async function setup(t: Test) {
  const r = await startPowerRig();
  t.teardown(() => r.stop());
  const relay = r.hub.devices.get('relay-1') as RelayDevice;
  await advanceUntil(r.clock, () => r.hub.availability.isAvailable('relay-1') && relay.outputs().every((o) => o.actual !== null), 'first read-back');
  const alarms: HubEvents['alarm.raised'][] = [];
  const cleared: HubEvents['alarm.cleared'][] = [];
  r.hub.bus.on('test', 'alarm.raised', (a) => void alarms.push(a));
  r.hub.bus.on('test', 'alarm.cleared', (a) => void cleared.push(a));
  return { r, relay, alarms, cleared };
}

void t.test('setOutput writes, reads back, and answers verified; recorded in the ledger', async (t) => {
  const { r, relay } = await setup(t);
  const outputs: HubEvents['relay.output'][] = [];
  r.hub.bus.on('test', 'relay.output', (o) => void outputs.push(o));
  const res = await relay.setOutput('jammer-room-2', true, 'user:admin');
  t.match(res, { ok: true, verified: true, outputId: 'jammer-room-2', on: true, commandId: String });
  t.same(r.jammers.coils(), [false, true, false, false]);
  t.match(relay.output('jammer-room-2'), { commanded: true, actual: true, verified: true, role: 'jammer', room: 'room-2' });
  t.match(outputs, [{ deviceId: 'relay-1', outputId: 'jammer-room-2', on: true, verified: true, issuer: 'user:admin' }]);
  t.match(r.hub.events.query({ type: 'command.finished', deviceId: 'relay-1' }).at(-1)?.data, { cmd: 'set', outcome: 'acked', result: { verified: true } });
  const viaCommand = await relay.execute({ cmd: 'set', args: { output: 'jammer-room-2', on: false }, issuer: 'user:admin' });
  t.match(viaCommand, { ok: true, outcome: 'acked' });
  t.same(r.jammers.coils(), [false, false, false, false]);
  t.match(await relay.execute({ cmd: 'set', args: { output: 'jammer-room-2' }, issuer: 'user:admin' }), { ok: false, error: /takes/ });
  t.match(await relay.setOutput('nope', true, 'user:admin'), { ok: false, reason: 'unknown-output', message: /known: jammer-room-1, jammer-room-2/ });
  t.match(await relay.execute({ cmd: 'refresh', args: {}, issuer: 'user:admin' }), { ok: true });
});

void t.test('a relay that does not follow: mismatch answered and alarmed once; cleared when it follows', async (t) => {
  const { r, relay, alarms, cleared } = await setup(t);
  r.jammers.stick(0, false);
  const res = await relay.setOutput('jammer-room-1', true, 'automation:test');
  t.match(res, { ok: false, verified: false, reason: 'mismatch', actual: false, message: /reads off after being switched on/ });
  r.clock.advance(1000);
  await advanceUntil(r.clock, () => r.hub.events.query({ type: 'alarm.raised', deviceId: 'relay-1' }).length > 0, 'logged');
  t.match(alarms, [{ id: 'relay-mismatch:relay-1:jammer-room-1', severity: 'critical', source: 'relay' }]);
  t.equal(alarms.length, 1, 'polls do not repeat it');
  t.match(r.hub.events.query({ type: 'command.finished', deviceId: 'relay-1' }).at(-1)?.data, { outcome: 'failed', result: { verified: false, actual: false } });
  r.jammers.stick(0, null);
  await advanceUntil(r.clock, () => cleared.length > 0, 'cleared by the periodic read-back');
  t.match(cleared, [{ id: 'relay-mismatch:relay-1:jammer-room-1' }]);
  // The clearance is on the bus at once; the state follows once it is logged (durable).
  const verified = (): boolean => (r.hub.availability.get('relay-1')?.state as { outputs?: Record<string, { verified?: boolean }> } | undefined)?.outputs?.['jammer-room-1']?.verified === true;
  await advanceUntil(r.clock, verified, 'the state shows the output verified');
  t.match(r.hub.availability.get('relay-1')?.state, { outputs: { 'jammer-room-1': { on: true, verified: true } }, mismatches: [] });
});

void t.test('periodic read-back catches an output that changes by itself', async (t) => {
  const { r, alarms } = await setup(t);
  r.jammers.stick(1, true);
  await advanceUntil(r.clock, () => alarms.length > 0, 'poll mismatch');
  t.match(alarms, [{ id: 'relay-mismatch:relay-1:jammer-room-2', message: /commanded off, reads on/ }]);
});

void t.test('the module goes away: unavailable, writes and refreshes refused cleanly', async (t) => {
  const { r, relay } = await setup(t);
  await r.jammers.stop();
  await advanceUntil(r.clock, () => !r.hub.availability.isAvailable('relay-1'), 'unavailable');
  const res = await relay.setOutput('jammer-room-1', true, 'user:admin');
  t.match(res, { ok: false, reason: /unavailable|write-failed|readback-failed/ });
  t.match(await relay.execute({ cmd: 'refresh', args: {}, issuer: 'user:admin' }), { ok: false });
});

void t.test('outputs switched together go out as one function-15 request per run of adjacent coils, then one read-back', async (t) => {
  const { r, relay, alarms } = await setup(t);
  const relay2 = r.hub.devices.get('relay-2') as RelayDevice;
  await advanceUntil(r.clock, () => relay2.outputs().every((o) => o.actual !== null), 'relay-2 read');
  const before = r.loads.writeRequests().length;
  const res = await Promise.all([relay2.setOutput('supervision-wall', false, 'automation:test'), relay2.setOutput('hall-display', false, 'automation:test'), relay2.setOutput('hvac-aux', false, 'automation:test')]);
  t.match(res, [
    { ok: true, verified: true, outputId: 'supervision-wall', on: false, commandId: String },
    { ok: true, verified: true, outputId: 'hall-display', on: false },
    { ok: true, verified: true, outputId: 'hvac-aux', on: false },
  ]);
  t.same(r.loads.writeRequests().slice(before), [[0, 1], [3]], 'coils 0 and 1 in one request, coil 3 alone');
  t.same(r.loads.coils().slice(0, 4), [false, false, true, false], 'lobby-lighting (coil 2, not written) stays on');

  // One relay of a batch does not follow: only that output fails, and it is alarmed.
  r.loads.stick(1, false);
  const mixed = await Promise.all([relay2.setOutput('hall-display', true, 'automation:test'), relay2.setOutput('hvac-aux', true, 'automation:test')]);
  t.match(mixed, [
    { ok: true, verified: true, outputId: 'hall-display', on: true },
    { ok: false, verified: false, reason: 'mismatch', outputId: 'hvac-aux', actual: false, message: /hvac-aux \(coil 1\) reads off after being switched on/ },
  ]);
  await advanceUntil(r.clock, () => alarms.some((a) => a.id === 'relay-mismatch:relay-2:hvac-aux'), 'mismatch alarm');
  r.loads.stick(1, null);

  // The same output twice in one turn: the writes go out one after the other, in order.
  const n = r.loads.writeRequests().length;
  const twice = await Promise.all([relay.setOutput('jammer-room-1', true, 'automation:test'), relay.setOutput('jammer-room-1', false, 'automation:test')]);
  t.match(twice, [{ ok: true, on: true }, { ok: true, on: false }]);
  t.same(r.jammers.writeRequests().slice(-2), [[0], [0]]);
  t.equal(r.loads.writeRequests().length, n, 'the other module saw no write');
  t.same(r.jammers.coils(), [false, false, false, false]);
});
