import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { Api } from './types.js';

/** The console's own files: pages, scripts, styles; no build step. */
const ROOT = fileURLToPath(new URL('../console/web/', import.meta.url));

/**
 * The front-end stack, served from the installed packages (no CDN: the hub runs on a LAN
 * without internet). Each is a single ES module with no imports of its own, so the page
 * needs no import map (which the CSP would have to allow inline).
 */
const require = createRequire(import.meta.url);
// Each package's main file is in its dist/ folder, next to the ES module build we serve
// (their exports maps hide package.json, so the folder is found from the main file).
const distDir = (name: string): string => dirname(require.resolve(name));
const VENDOR: Record<string, { path: string; type: string }> = {
  'preact.js': { path: join(distDir('preact'), 'preact.module.js'), type: 'text/javascript' },
  'htm.js': { path: join(distDir('htm'), 'htm.module.js'), type: 'text/javascript' },
  'uplot.js': { path: join(distDir('uplot'), 'uPlot.esm.js'), type: 'text/javascript' },
  'uplot.css': { path: join(distDir('uplot'), 'uPlot.min.css'), type: 'text/css' },
};

/**
 * The admin console and supervisor panel at `/console/` (`/` redirects there), and the
 * public display at `/public`. The files are public (app.ts lists /console/ among the public
 * prefixes); everything they show comes from the API with the user's own token (the public
 * display: from `/api/public` only). The pages run no inline script and load nothing from
 * elsewhere, which the CSP set by helmet on every response enforces.
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
  // Read once: the packages do not change while the hub runs.
  const vendor = new Map(Object.entries(VENDOR).map(([name, v]) => [name, { body: readFileSync(v.path), type: v.type }]));
  app.get('/console/vendor/:file', { schema: { hide: true } }, async (request, reply) => {
    const f = vendor.get((request.params as { file: string }).file);
    if (!f) return reply.callNotFound();
    // Versioned by the package lock; a day's cache is safe and keeps the LAN quiet.
    return reply.type(f.type).header('cache-control', 'public, max-age=86400').send(f.body);
  });
  const publicPage = readFileSync(join(ROOT, 'public.html'));
  app.get('/public', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => {
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(publicPage);
  });
  app.get('/', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/'));
}
