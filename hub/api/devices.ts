import { Type } from '@sinclair/typebox';
import { HubError, hubError } from '../errors.js';
import type { DeviceRecord } from '../../devices/seam.js';
import { formatTime } from '../../kernel/time.js';
import { STAFF, OPERATE, type Api, type ApiDeps } from './types.js';
import { ErrorSchema } from './schemas.js';
import { commandArgProblems } from './command-args.js';
import { problemsText } from './validation.js';

const DeviceView = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  name: Type.String(),
  transport: Type.String(),
  available: Type.Boolean(),
  reason: Type.String(),
  lastSeen: Type.Union([Type.String(), Type.Null()]),
  since: Type.String(),
  state: Type.Record(Type.String(), Type.Unknown()),
  commands: Type.Array(Type.String()),
});

export async function deviceRoutes(app: Api, deps: ApiDeps): Promise<void> {
  const offset = deps.facility.site.utcOffset;
  const view = (r: DeviceRecord) => ({
    ...r,
    lastSeen: r.lastSeen === null ? null : formatTime(r.lastSeen, offset),
    since: formatTime(r.since, offset),
    commands: [...(deps.devices.get(r.id)?.commandNames ?? [])],
  });

  app.get(
    '/api/devices',
    { config: { roles: STAFF }, schema: { tags: ['devices'], summary: 'Every configured device: availability, last seen, state', response: { 200: Type.Array(DeviceView) } } },
    async () => deps.availability.list().map(view),
  );

  app.get(
    '/api/devices/:id',
    {
      config: { roles: STAFF },
      schema: { tags: ['devices'], summary: 'One device', params: Type.Object({ id: Type.String() }), response: { 200: DeviceView, 404: ErrorSchema } },
    },
    async (request) => {
      const r = deps.availability.get(request.params.id);
      if (!r) throw hubError('HUB_ERR_NOT_FOUND', `device ${request.params.id}`);
      return view(r);
    },
  );

  app.post(
    '/api/devices/:id/commands',
    {
      config: { roles: OPERATE },
      schema: {
        tags: ['devices'],
        summary: 'Sends a command to a device through the command ledger; answers its fate',
        params: Type.Object({ id: Type.String() }),
        body: Type.Object(
          { cmd: Type.String({ minLength: 1, maxLength: 64 }), args: Type.Record(Type.String(), Type.Unknown(), { default: {} }), sessionId: Type.Optional(Type.String()) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const device = deps.devices.get(request.params.id);
      if (!device) throw hubError('HUB_ERR_NOT_FOUND', `device ${request.params.id}`);
      if (!device.commandNames.includes(request.body.cmd)) {
        throw new HubError('HUB_ERR_VALIDATION', [`body.cmd 不是此设备的命令 / must be one of ${device.commandNames.join(', ')}`], { field: 'body.cmd' });
      }
      const config = deps.facility.devices.find((d) => d.id === device.id);
      const problems = config ? commandArgProblems(deps.facility, config, request.body.cmd, request.body.args) : [];
      if (problems.length) throw new HubError('HUB_ERR_VALIDATION', [problemsText(problems)], { field: problems[0]!.field, problems });
      const user = request.user!;
      // Outputs a feature owns (jammers, sheddable loads) are switched through that feature only, whatever the role.
      const owned = device.commandOwner?.({ cmd: request.body.cmd, args: request.body.args });
      if (owned) {
        await deps.events.append({ type: 'command.refused', actor: `user:${user.username}`, deviceId: device.id, data: { cmd: request.body.cmd, args: request.body.args, owner: owned.owner } });
        throw new HubError('HUB_ERR_CONFLICT', [`${owned.what} is switched only by the ${owned.owner} feature (${owned.owner === 'jammers' ? 'use /api/jammers' : owned.owner === 'door' ? 'use /api/doors' : 'see its API'})`], { owner: owned.owner, deviceId: device.id });
      }
      const outcome = await device.execute({
        cmd: request.body.cmd,
        args: request.body.args,
        issuer: `user:${user.username}`,
        ...(request.body.sessionId ? { sessionId: request.body.sessionId } : {}),
      });
      if (outcome.outcome === 'unavailable') throw new HubError('HUB_ERR_DEVICE_UNAVAILABLE', [device.id], outcome);
      if (outcome.outcome === 'timeout') throw new HubError('HUB_ERR_DEVICE_TIMEOUT', [device.id], outcome);
      if (!outcome.ok) throw new HubError('HUB_ERR_DEVICE_REJECTED', [device.id, outcome.error ?? 'refused'], outcome);
      return outcome;
    },
  );
}
