import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { publicUrl } from '../../config.js';
import { ERROR_CODES } from '../../errors.js';
import type { AppDeps } from '../context.js';
import { buildOpenApiDocument } from '../openapi.js';
import { route, type RouteSpec } from '../route.js';

const require = createRequire(import.meta.url);
const swaggerUiDir = dirname(require.resolve('swagger-ui-dist/package.json'));
// From src/api/docs under tsx, from dist/src/api/docs once compiled.
const { version } = require(import.meta.url.endsWith('.ts') ? '../../../package.json' : '../../../../package.json') as { version: string };

/** Served from node_modules, never a CDN: the API often runs behind a firewall. */
const ASSETS: Record<string, { file?: string; body?: string; type: string }> = {
  'swagger-ui.css': { file: 'swagger-ui.css', type: 'text/css; charset=utf-8' },
  'swagger-ui-bundle.js': { file: 'swagger-ui-bundle.js', type: 'text/javascript; charset=utf-8' },
  'favicon-32x32.png': { file: 'favicon-32x32.png', type: 'image/png' },
  'init.js': {
    type: 'text/javascript; charset=utf-8',
    body: `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true,
  persistAuthorization: true, defaultModelsExpandDepth: 0, docExpansion: 'list', tryItOutEnabled: false });\n`,
  },
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title: string, head: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><link rel="icon" href="/docs/assets/favicon-32x32.png">${head}</head>
<body>${body}</body></html>\n`;

export function docsRoutes(deps: AppDeps, allRoutes: () => RouteSpec[]): RouteSpec[] {
  let document: Record<string, unknown> | undefined;
  const openApi = () => (document ??= buildOpenApiDocument(allRoutes(), { version, serverUrl: publicUrl(deps.config) }));
  const tag = 'Documentation';
  return [
    route({
      method: 'get',
      path: '/openapi.json',
      operationId: 'openApiDocument',
      summary: 'This API\'s OpenAPI 3.1 document',
      tag,
      auth: { kind: 'public' },
      usesDatabase: false,
      responses: { 200: { description: 'OpenAPI 3.1 document', schema: z.record(z.string(), z.unknown()) } },
      handler(ctx) {
        ctx.body = openApi();
      },
    }),
    route({
      method: 'get',
      path: '/docs',
      operationId: 'apiReference',
      summary: 'Interactive API reference',
      tag,
      auth: { kind: 'public' },
      usesDatabase: false,
      responses: { 200: { description: 'HTML page', contentType: 'text/html' } },
      handler(ctx) {
        ctx.type = 'text/html; charset=utf-8';
        ctx.body = page(
          'Agent Webhooks API reference',
          '<link rel="stylesheet" href="/docs/assets/swagger-ui.css"><style>body{margin:0}</style>',
          '<noscript><p>The interactive reference needs JavaScript; the raw document is at <a href="/openapi.json">/openapi.json</a> and error codes at <a href="/docs/errors">/docs/errors</a>.</p></noscript>' +
            '<div id="swagger-ui"></div><script src="/docs/assets/swagger-ui-bundle.js"></script><script src="/docs/assets/init.js"></script>',
        );
      },
    }),
    route({
      method: 'get',
      path: '/docs/errors',
      operationId: 'errorReference',
      summary: 'Error codes',
      description: 'The `type` of every problem response points at an entry here.',
      tag,
      auth: { kind: 'public' },
      usesDatabase: false,
      responses: { 200: { description: 'HTML page', contentType: 'text/html' } },
      handler(ctx) {
        const rows = Object.entries(ERROR_CODES)
          .map(([code, meaning]) => {
            const anchor = code.toLowerCase().replaceAll('_', '-');
            return `<tr id="${anchor}"><td><code>${code}</code></td><td>${escapeHtml(meaning)}</td></tr>`;
          })
          .join('');
        ctx.type = 'text/html; charset=utf-8';
        ctx.body = page(
          'Agent Webhooks error codes',
          '<style>body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}td{padding:.4rem .8rem;vertical-align:top;border-bottom:1px solid #ddd}:target{background:#fff3c4}</style>',
          `<h1>Error codes</h1><p>Errors are <code>application/problem+json</code> (RFC 9457) with a stable <code>code</code> and the <code>request_id</code> to quote to support. <a href="/docs">API reference</a></p><table>${rows}</table>`,
        );
      },
    }),
    route({
      method: 'get',
      path: '/docs/assets/:file',
      operationId: 'docsAsset',
      summary: 'Static assets of the reference page',
      tag,
      auth: { kind: 'public' },
      usesDatabase: false,
      responses: { 200: { description: 'The asset', contentType: 'application/octet-stream' } },
      handler(ctx) {
        // Own keys only: `constructor` or `__proto__` must be a 404, not an inherited property.
        const name = ctx.params.file ?? '';
        const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
        if (!asset) {
          ctx.status = 404;
          return;
        }
        ctx.type = asset.type;
        ctx.set('Cache-Control', 'public, max-age=3600');
        ctx.body = asset.body ?? createReadStream(join(swaggerUiDir, asset.file!));
      },
    }),
  ];
}
