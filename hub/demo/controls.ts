/**
 * The demo's controls on the console: the simulated fire panel set off and cleared from the
 * page, as the CLI's `simulate fire alarm|clear` does from a shell (issue #10, simulators).
 * Added by the CLI only while it runs the simulators itself, so a hub driving real devices
 * has no such route; the panel then raises the alarm over MQTT like a real one, and every
 * consequence (the critical alarm, gates, door, robot, jammers) follows from that.
 */
import { Type } from '@sinclair/typebox';
import { FirePanelSimulator } from '../../simulators/kinds.js';
import type { RunningSimulator } from '../../simulators/register.js';
import { ErrorSchema } from '../api/schemas.js';
import { OPERATE, STAFF, type RoutePlugin } from '../api/types.js';
import { HubError } from '../errors.js';
import type { Feature } from '../services.js';

export function createDemoControlsFeature(simulators: () => readonly RunningSimulator[]): Feature {
  const panels = (): FirePanelSimulator[] => simulators().flatMap((s) => (s.handle instanceof FirePanelSimulator ? [s.handle] : []));
  const routes: RoutePlugin = async (app) => {
    app.get(
      '/api/demo',
      { config: { roles: STAFF }, schema: { tags: ['demo'], summary: 'The demo controls this hub offers (its own simulators)', response: { 200: Type.Object({ firePanels: Type.Array(Type.String()) }) } } },
      async () => ({ firePanels: simulators().filter((s) => s.handle instanceof FirePanelSimulator).map((s) => s.deviceId) }),
    );
    app.post(
      '/api/demo/fire',
      {
        config: { roles: OPERATE },
        schema: {
          tags: ['demo'],
          summary: 'Sets off or clears the simulated fire panel (it reports over MQTT as a real one)',
          body: Type.Object({ action: Type.Union([Type.Literal('alarm'), Type.Literal('clear')]), device: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ device: Type.String(), action: Type.String() }), 404: ErrorSchema },
        },
      },
      async (request) => {
        const { action, device } = request.body;
        const panel = panels().find((p) => device === undefined || p.deviceId === device);
        if (!panel) throw new HubError('HUB_ERR_NOT_FOUND', [device ? `模拟消防主机 / simulated fire panel ${device}` : '模拟消防主机 / a simulated fire panel']);
        if (action === 'alarm') await panel.alarm();
        else await panel.clear();
        request.log.warn({ device: panel.deviceId, action, user: request.user?.username }, 'demo fire panel switched from the console');
        return { device: panel.deviceId, action };
      },
    );
  };
  return { name: 'demo-controls', routes, async start() {}, async stop() {} };
}
