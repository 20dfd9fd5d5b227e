import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { Api } from './types.js';

/** The console's files: a page, a script and a style sheet, no build step. */
const ROOT = fileURLToPath(new URL('../console/', import.meta.url));

/**
 * The admin console and supervisor panel at `/console/` (`/` redirects there). The files
 * are public; everything they show comes from the API with the user's own token. The page
 * runs no inline script and loads nothing from elsewhere, which the CSP enforces.
 */
export async function consoleRoutes(app: Api): Promise<void> {
  await app.register(fastifyStatic, {
    root: ROOT,
    prefix: '/console/',
    // swagger-ui registers its own copy for /docs; this one only serves files.
    decorateReply: false,
    index: ['index.html'],
    setHeaders: (res) => {
      res.header('content-security-policy', "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'");
      res.header('x-content-type-options', 'nosniff');
      res.header('cache-control', 'no-cache');
    },
  });
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/'));
}
