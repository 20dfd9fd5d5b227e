/**
 * Integration accounts over the API (admin only): `GET/POST /api/integrations`,
 * `POST /api/integrations/{name}/rotate`, `POST /api/integrations/{name}/disable`
 * (docs/security.md). The accounts themselves and their broker checks live in accounts.ts,
 * owned by the hub (the broker needs them before any feature starts).
 */
import { Type } from '@sinclair/typebox';
import type { Feature, HubServices } from '../services.js';
import { ADMIN, type RoutePlugin } from '../api/types.js';
import { ErrorSchema } from '../api/schemas.js';
import { formatTime } from '../../kernel/time.js';
import { ERRORS, HubError } from '../errors.js';
import { INTEGRATION_NAME_PATTERN, IntegrationAccounts, MAX_DESCRIPTION, MAX_PATTERNS, type IntegrationInfo } from './accounts.js';
import { MAX_PATTERN_LENGTH } from './patterns.js';

export type IntegrationsDeps = Pick<HubServices, 'integrations' | 'facility'>;

const Patterns = Type.Array(Type.String({ minLength: 1, maxLength: MAX_PATTERN_LENGTH }), { maxItems: MAX_PATTERNS });

const IntegrationView = Type.Object({
  name: Type.String(),
  username: Type.String({ description: 'the MQTT username: integration.NAME' }),
  description: Type.String(),
  subscribe: Type.Array(Type.String()),
  publish: Type.Array(Type.String()),
  createdAt: Type.String(),
  rotatedAt: Type.Union([Type.String(), Type.Null()]),
  disabledAt: Type.Union([Type.String(), Type.Null()]),
});
const WithToken = Type.Object({ account: IntegrationView, token: Type.String({ description: 'the MQTT password, answered this once' }) });

/** The accounts' own checks name fields as the CLI does (`subscribe[0]`); over HTTP they are `body.…`, as the schema's are. */
function inBody(err: unknown): unknown {
  if (!(err instanceof HubError) || err.code !== 'HUB_ERR_VALIDATION') return err;
  const d = err.details as { field: string; problems?: { field: string; message: string }[] };
  const problems = d.problems?.map((p) => ({ field: `body.${p.field}`, message: p.message }));
  return new HubError('HUB_ERR_VALIDATION', [err.message.slice(ERRORS.HUB_ERR_VALIDATION.message.indexOf('%s'))], { field: `body.${d.field}`, ...(problems ? { problems } : {}) });
}

export function createIntegrationsFeature(deps: IntegrationsDeps): Feature {
  const offset = deps.facility.site.utcOffset;
  const time = (t: number | null): string | null => (t === null ? null : formatTime(t, offset));
  const view = (a: IntegrationInfo) => ({
    name: a.name,
    username: IntegrationAccounts.username(a.name),
    description: a.description,
    subscribe: a.subscribe,
    publish: a.publish,
    createdAt: formatTime(a.createdAt, offset),
    rotatedAt: time(a.rotatedAt),
    disabledAt: time(a.disabledAt),
  });
  const nameParams = Type.Object({ name: Type.String({ maxLength: 64 }) });

  const routes: RoutePlugin = async (app) => {
    app.get(
      '/api/integrations',
      { config: { roles: ADMIN }, schema: { tags: ['integrations'], summary: 'Every integration account, disabled ones included (never a token)', response: { 200: Type.Array(IntegrationView) } } },
      async () => deps.integrations.list().map(view),
    );

    app.post(
      '/api/integrations',
      {
        config: { roles: ADMIN },
        schema: {
          tags: ['integrations'],
          summary: 'Creates an integration account; its token is answered once',
          body: Type.Object(
            {
              name: Type.String({ pattern: INTEGRATION_NAME_PATTERN }),
              description: Type.Optional(Type.String({ maxLength: MAX_DESCRIPTION })),
              subscribe: Type.Optional(Patterns),
              publish: Type.Optional(Patterns),
            },
            { additionalProperties: false },
          ),
          response: { 201: WithToken, 400: ErrorSchema, 409: ErrorSchema },
        },
      },
      async (request, reply) => {
        const b = request.body;
        const { account, token } = await deps.integrations
          .add({ name: b.name, ...(b.description !== undefined ? { description: b.description } : {}), ...(b.subscribe ? { subscribe: b.subscribe } : {}), ...(b.publish ? { publish: b.publish } : {}) }, `user:${request.user!.username}`)
          .catch((err: unknown) => {
            throw inBody(err);
          });
        request.log.info({ by: request.user!.username, integration: account.name }, 'integration account created');
        return reply.status(201).send({ account: view(account), token });
      },
    );

    app.post(
      '/api/integrations/:name/rotate',
      { config: { roles: ADMIN }, schema: { tags: ['integrations'], summary: 'A new token, answered once; connections under the old one are closed', params: nameParams, response: { 200: WithToken, 404: ErrorSchema, 409: ErrorSchema } } },
      async (request) => {
        const { account, token } = await deps.integrations.rotate(request.params.name, `user:${request.user!.username}`);
        request.log.info({ by: request.user!.username, integration: account.name }, 'integration token rotated');
        return { account: view(account), token };
      },
    );

    app.post(
      '/api/integrations/:name/disable',
      { config: { roles: ADMIN }, schema: { tags: ['integrations'], summary: 'Disables the account for good; its connections are closed', params: nameParams, response: { 200: IntegrationView, 404: ErrorSchema, 409: ErrorSchema } } },
      async (request) => {
        const account = await deps.integrations.disable(request.params.name, `user:${request.user!.username}`);
        request.log.info({ by: request.user!.username, integration: account.name }, 'integration account disabled');
        return view(account);
      },
    );
  };

  return { name: 'integrations', routes, async start() {}, async stop() {} };
}
