import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Middleware } from 'koa';
import type { Config } from '../config.js';
import type { AppState } from './context.js';

/** Where `npm run build:console` (vite) writes the console; git-ignored, built by dev, tests and the Dockerfile. */
// From src/api (tsx) or dist/src/api (compiled): the console is built into web/dist at the root.
export const CONSOLE_DIST = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../web/dist/' : '../../../web/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/**
 * The console's Content-Security-Policy: everything from this origin, nothing inline, no eval,
 * no other origin; framing only by the operator's PORTAL_FRAME_ANCESTORS.
 */
export function consoleCsp(config: Pick<Config, 'PORTAL_FRAME_ANCESTORS'>): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    `frame-ancestors ${config.PORTAL_FRAME_ANCESTORS}`,
  ].join('; ');
}

/**
 * Serves the web console (web/, a Preact SPA) at /console from this origin: hashed assets under
 * /console/assets/ cached for good, any other /console path answers index.html (the SPA routes
 * it). Static files, not API operations, so they stay out of the route specs and /openapi.json
 * (like Swagger's assets under /docs/assets).
 */
export function consoleMiddleware(config: Pick<Config, 'PORTAL_FRAME_ANCESTORS'>, dist = CONSOLE_DIST): Middleware<AppState> {
  const headers = {
    'Content-Security-Policy': consoleCsp(config),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    ...(config.PORTAL_FRAME_ANCESTORS === "'none'" ? { 'X-Frame-Options': 'DENY' } : {}),
  };
  let indexHtml: { body: string; mtimeMs: number } | undefined;
  const readIndex = (): string | undefined => {
    const file = join(dist, 'index.html');
    if (!existsSync(file)) return undefined;
    const { mtimeMs } = statSync(file);
    if (!indexHtml || indexHtml.mtimeMs !== mtimeMs) indexHtml = { body: readFileSync(file, 'utf8'), mtimeMs };
    return indexHtml.body;
  };

  return async (ctx, next) => {
    if (ctx.path !== '/console' && !ctx.path.startsWith('/console/')) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    ctx.set(headers);
    if (ctx.path === '/console') {
      ctx.status = 308;
      ctx.redirect(`/console/${ctx.querystring ? `?${ctx.querystring}` : ''}`);
      return;
    }

    if (ctx.path.startsWith('/console/assets/')) {
      const asset = /^\/console\/assets\/([A-Za-z0-9_-][A-Za-z0-9_.-]*)$/.exec(ctx.path)?.[1];
      const file = asset === undefined ? undefined : join(dist, 'assets', asset);
      if (asset === undefined || file === undefined || !existsSync(file) || !statSync(file).isFile()) {
        ctx.status = 404;
        ctx.type = 'text/plain; charset=utf-8';
        ctx.body = 'Not found';
        return;
      }
      ctx.type = TYPES[extname(file)] ?? 'application/octet-stream';
      ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
      ctx.body = createReadStream(file);
      return;
    }

    const index = readIndex();
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'text/html; charset=utf-8';
    if (index === undefined) {
      ctx.status = 503;
      ctx.body =
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Console not built</title></head>' +
        '<body><h1>The console is not built</h1><p>Run <code>npm run build:console</code> (npm run dev does it for you).</p></body></html>\n';
      return;
    }
    ctx.body = index;
  };
}
