import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { Api } from './types.js';

/** The console's files: a page, a script and a style sheet, no build step. */
const ROOT = fileURLToPath(new URL('../console/', import.meta.url));

/**
 * The admin console and supervisor panel at `/console/` (`/` redirects there). The files
 * are public (app.ts lists /console/ among the public prefixes); everything they show comes
 * from the API with the user's own token. The page runs no inline script and loads nothing
 * from elsewhere, which the CSP set by helmet enforces.
 */
export async function consoleRoutes(app: Api): Promise<void> {
  await app.register(fastifyStatic, {
    root: ROOT,
    prefix: '/console/',
    // swagger-ui registers its own copy for /docs; this one only serves files.
    decorateReply: false,
    index: ['index.html'],
    // The CSP and the other security headers come from helmet (app.ts), as on every response.
    setHeaders: (res) => {
      res.header('cache-control', 'no-cache');
    },
  });
  app.get('/', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/'));
}
