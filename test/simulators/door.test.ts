/** The door controller simulator as a device over the hub's real broker (bare hub: no door feature deciding). */
import t from 'tap';
import { ManualClock } from '../../kernel/clock.js';
import { silentLogger } from '../../hub/log.js';
import { doorSimulator } from '../../simulators/door.js';
import { startTestHub, waitFor } from '../helpers/hub.js';

void t.test('the door simulator answers grant/deny only for requests it made, holds an unlock, reports held-open and forced-open', async (t) => {
  const clock = new ManualClock();
  const th = await startTestHub({ clock });
  t.teardown(() => th.stop());
  const config = th.hub.facility.devices.find((d) => d.id === 'door-1')!;
  const sim = doorSimulator(config, { url: th.mqttUrl, site: 'demo', token: th.hub.tokens.issue('door-1'), clock, log: silentLogger(), reconnectMs: 0 }, { passageMs: 1000, holdOpenMs: 3000 });
  await sim.start();
  t.teardown(() => sim.stop());
  await waitFor(() => th.hub.availability.get('door-1')?.state.contact === 'closed', 3000, 'state published');
  t.match(th.hub.availability.get('door-1')?.state, { locked: true, contact: 'closed' });
  const door = th.hub.devices.get('door-1')!;
  const cmd = (c: string, args: Record<string, unknown> = {}) => door.execute({ cmd: c, args, issuer: 'automation:test' });

  t.match(await cmd('grant', { requestId: 'never-asked' }), { ok: false, outcome: 'failed', error: /no open-request never-asked is waiting/ }, 'a grant nobody asked for opens nothing');
  t.ok(sim.locked());

  const seen: string[] = [];
  sim.on('opened', (id, who) => seen.push(`opened ${id} ${who?.kind ?? 'none'}`));
  sim.on('closed', (id) => seen.push(`closed ${id}`));
  sim.on('denied', (id, req, reason) => seen.push(`denied ${id} ${req} ${reason}`));

  const a = await sim.requestOpen({ kind: 'button', id: 'exit-1' });
  await waitFor(() => th.hub.events.query({ type: 'device.event' }).some((e) => e.data.type === 'open-request' && e.data.requestId === a), 3000, 'the request reached the hub');
  t.match(await cmd('deny', { requestId: a, reason: 'session-running', message: '评标进行中 / no entry' }), { ok: true });
  t.match(await cmd('deny', { requestId: a, reason: 'session-running' }), { ok: false }, 'answered once');
  t.ok(sim.locked(), 'denied: still locked');

  const b = await sim.requestOpen({ kind: 'robot', id: 'robot-1' });
  t.match(await cmd('grant', { requestId: b }), { ok: true });
  t.equal(sim.contact(), 'open');
  clock.advance(1000);
  await waitFor(() => sim.contact() === 'closed' && sim.locked(), 3000, 'closed and relocked after the passage');

  // Held unlocked (the fire policy): a passage does not relock it; lock does.
  t.match(await cmd('unlock'), { ok: true });
  t.match(await cmd('open'), { ok: true });
  clock.advance(1000);
  await waitFor(() => sim.contact() === 'closed', 3000, 'closed');
  t.notOk(sim.locked(), 'still unlocked');
  t.match(await cmd('lock'), { ok: true });
  t.ok(sim.locked());

  await sim.forceOpen();
  clock.advance(3000);
  await waitFor(() => th.hub.events.query({ type: 'device.event' }).some((e) => e.data.type === 'held-open'), 3000, 'held-open reported');
  await sim.close();
  await waitFor(() => th.hub.events.query({ type: 'device.event' }).filter((e) => e.data.type === 'closed').length === 3, 3000, 'three closes');
  const types = th.hub.events.query({ type: 'device.event' }).map((e) => e.data.type);
  t.same(types, ['open-request', 'open-request', 'opened', 'closed', 'opened', 'closed', 'forced-open', 'opened', 'held-open', 'closed'], 'what the hub heard, in order');
  t.same(seen, [`denied door-1 ${a} session-running`, 'opened door-1 robot', 'closed door-1', 'opened door-1 remote', 'closed door-1', 'opened door-1 none', 'closed door-1']);
});
