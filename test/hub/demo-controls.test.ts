/**
 * The console's fire drill: with the hub's own simulators running, an operator sets off the
 * simulated fire panel through POST /api/demo/fire; the panel reports over MQTT like a real
 * one, so the critical fire alarm is raised by the fire feature, and cleared again.
 */
import t from 'tap';
import { silentLogger } from '../../hub/log.js';
import { createDemoControlsFeature } from '../../hub/demo/controls.js';
import { firePanelSimulator } from '../../simulators/kinds.js';
import type { RunningSimulator } from '../../simulators/register.js';
import { startTestHub, waitFor } from '../helpers/hub.js';
import { systemClock } from '../../kernel/clock.js';

void t.test('POST /api/demo/fire sets off and clears the simulated panel; the fire alarm follows over MQTT', async (t) => {
  const sims: RunningSimulator[] = [];
  const th = await startTestHub({ full: true, beforeStart: (hub) => hub.addFeature(createDemoControlsFeature(() => sims)) });
  t.teardown(async () => {
    for (const s of sims) await s.stop();
    await th.stop();
  });
  const api = th.hub.api();
  const token = await th.login();
  const auth = { authorization: `Bearer ${token}` };

  let res = await api.inject({ method: 'POST', url: '/api/demo/fire', headers: auth, payload: { action: 'alarm' } });
  t.equal(res.statusCode, 404, 'no simulated panel yet: nothing to set off');
  t.match(res.json(), { code: 'HUB_ERR_NOT_FOUND', message: /模拟消防主机/ });

  const config = th.hub.facility.devices.find((d) => d.id === 'fire-1')!;
  const panel = firePanelSimulator(config, { url: th.mqttUrl, site: th.hub.facility.site.id, token: th.hub.tokens.issue('fire-1'), clock: systemClock, log: silentLogger() });
  await panel.start();
  sims.push({ deviceId: 'fire-1', stop: () => panel.stop(), handle: panel });
  await waitFor(() => th.hub.availability.isAvailable('fire-1'), 5000, 'fire-1 online');
  t.same((await api.inject({ method: 'GET', url: '/api/demo', headers: auth })).json(), { firePanels: ['fire-1'] });

  res = await api.inject({ method: 'POST', url: '/api/demo/fire', headers: auth, payload: { action: 'fire!' } });
  t.equal(res.statusCode, 400, 'an unknown action is refused');
  t.match(res.body, /action/);

  res = await api.inject({ method: 'POST', url: '/api/demo/fire', headers: auth, payload: { action: 'alarm' } });
  t.equal(res.statusCode, 200, res.body);
  t.same(res.json(), { device: 'fire-1', action: 'alarm' });
  const fireAlarms = async (): Promise<unknown[]> => (await api.inject({ method: 'GET', url: '/api/alarms', headers: auth })).json<{ source?: string; kind?: string; id: string }[]>().filter((a) => JSON.stringify(a).includes('fire'));
  let listed: unknown[] = [];
  await waitFor(async () => (listed = await fireAlarms()).length > 0, 5000, 'the fire alarm listed');
  t.match(listed[0], { severity: 'critical' }, 'a critical alarm, raised by the fire feature from the panel over MQTT');

  res = await api.inject({ method: 'POST', url: '/api/demo/fire', headers: auth, payload: { action: 'clear' } });
  t.equal(res.statusCode, 200);
  await waitFor(async () => (await fireAlarms()).length === 0, 5000, 'the fire alarm cleared (no longer listed)');
  t.pass('the fire alarm cleared with the panel');

  const viewer = await api.inject({ method: 'POST', url: '/api/users', headers: auth, payload: { username: 'watcher', password: 'watcher-password-1', role: 'viewer' } });
  t.equal(viewer.statusCode, 201, viewer.body);
  const viewerToken = await th.login('watcher', 'watcher-password-1');
  t.equal((await api.inject({ method: 'POST', url: '/api/demo/fire', headers: { authorization: `Bearer ${viewerToken}` }, payload: { action: 'alarm' } })).statusCode, 403, 'a viewer may not');
});
