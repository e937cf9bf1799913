import { readFileSync } from 'node:fs';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { describe, expect, it } from 'vitest';
import { consoleCsp, consoleMiddleware } from '../../src/api/console.js';
import { parseConfig } from '../../src/config.js';
import { generateSdkTypes } from '../../scripts/generate-sdk.js';
import { parseFrame } from '../../sdk/index.js';

describe('PORTAL_FRAME_ANCESTORS', () => {
  it("defaults to 'none': the console cannot be framed", () => {
    const config = parseConfig({});
    expect(config.PORTAL_FRAME_ANCESTORS).toBe("'none'");
    expect(consoleCsp(config)).toContain("frame-ancestors 'none'");
  });

  it('accepts origins and self, and puts them in frame-ancestors', () => {
    const config = parseConfig({ PORTAL_FRAME_ANCESTORS: "'self' https://app.example.com https://*.example.org:8443" });
    expect(consoleCsp(config)).toContain("frame-ancestors 'self' https://app.example.com https://*.example.org:8443");
  });

  it.each([
    "'none'; script-src *",
    'https://a.example.com, https://b.example.com',
    "'unsafe-inline'",
    '*',
    "'none' https://a.example.com",
    'javascript:alert(1)',
  ])('rejects %s (no directive injection, no wildcards)', (value) => {
    expect(() => parseConfig({ PORTAL_FRAME_ANCESTORS: value })).toThrow(/PORTAL_FRAME_ANCESTORS/);
  });
});

describe('the console middleware', () => {
  async function serve(dist: string, ancestors?: string) {
    const app = new Koa();
    app.use(consoleMiddleware(parseConfig(ancestors ? { PORTAL_FRAME_ANCESTORS: ancestors } : {}), dist));
    app.use((ctx) => {
      ctx.status = 404;
      ctx.body = 'api';
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as { port: number };
    return { base: `http://127.0.0.1:${port}`, close: () => server.close() };
  }

  it('says how to build the console when web/dist is missing, with the same headers', async () => {
    const s = await serve(join(tmpdir(), 'no-such-console-dist'));
    try {
      const response = await fetch(`${s.base}/console/`);
      expect(response.status).toBe(503);
      expect(await response.text()).toContain('npm run build:console');
      expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
    } finally {
      s.close();
    }
  });

  it('lets the operator allow framing: no X-Frame-Options, frame-ancestors from the config; other paths pass through', async () => {
    const dist = mkdtempSync(join(tmpdir(), 'console-dist-'));
    mkdirSync(join(dist, 'assets'));
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>x</title>');
    writeFileSync(join(dist, 'assets', 'app.js'), 'export {}');
    const s = await serve(dist, 'https://portal.example.com');
    try {
      const page = await fetch(`${s.base}/console/agents`);
      expect(page.status).toBe(200);
      expect(page.headers.get('x-frame-options')).toBeNull();
      expect(page.headers.get('content-security-policy')).toContain('frame-ancestors https://portal.example.com');
      expect((await fetch(`${s.base}/console/assets/app.js`)).headers.get('content-type')).toMatch(/^text\/javascript/);
      expect((await fetch(`${s.base}/console/assets/.hidden`)).status).toBe(404);
      const post = await fetch(`${s.base}/console/`, { method: 'POST' });
      expect(await post.text()).toBe('api');
      expect(await (await fetch(`${s.base}/consoles`)).text()).toBe('api');
    } finally {
      s.close();
    }
  });
});

describe('the TypeScript SDK', () => {
  it('sdk/schema.d.ts is generated from the current route specs (npm run sdk:generate)', async () => {
    const committed = readFileSync(new URL('../../sdk/schema.d.ts', import.meta.url), 'utf8');
    expect(committed === (await generateSdkTypes()), 'sdk/schema.d.ts is stale: run npm run sdk:generate (npm run typecheck does)').toBe(true);
  });

  it('reads both run-stream frame styles: id/event/data, and plain data lines with event_type', () => {
    expect(parseFrame('id: 3\nevent: run_started\ndata: {"event_type":"run_started","sequence":3,"payload":{"status":"processing"}}')).toEqual({
      event_type: 'run_started',
      sequence: 3,
      payload: { status: 'processing' },
    });
    expect(parseFrame('data: {"event_type":"agent_message","payload":{"content":"hi"}}')).toEqual({
      event_type: 'agent_message',
      sequence: undefined,
      payload: { content: 'hi' },
    });
    expect(parseFrame('id: 7\nevent: run_completed\ndata: {"status":"completed"}')).toMatchObject({ event_type: 'run_completed', sequence: 7 });
    expect(parseFrame(': heartbeat')).toBeUndefined();
    expect(parseFrame('retry: 2000')).toBeUndefined();
  });
});
