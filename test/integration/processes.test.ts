import { describe, expect, it, inject } from 'vitest';
import { randomUUID } from 'node:crypto';
import { freePort } from '../../src/temporal/devServer.js';
import { exitOf, spawnEntry } from '../support/processes.js';
import { eventually, request } from '../support/stack.js';

describe('production entry points', () => {
  it('stop with one line naming a bad variable', async () => {
    const api = spawnEntry('src/main.ts', { PORT: 'abc', DATABASE_URL: 'postgres://localhost/x' });
    const { code } = await exitOf(api);
    expect(code).not.toBe(0);
    const lines = api.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^invalid configuration: PORT /);
  });

  it('refuse to run the api or worker without DATABASE_URL, naming it', async () => {
    for (const entry of ['src/main.ts', 'src/worker.ts']) {
      const child = spawnEntry(entry, {});
      expect((await exitOf(child)).code).not.toBe(0);
      expect(child.output().trim()).toMatch(/^invalid configuration: DATABASE_URL is required[^\n]*$/);
    }
  });

  it('api answers /readyz and drains on SIGTERM', async () => {
    // The production api needs a shared Postgres; with PGlite tests there is none to give it.
    const databaseUrl = inject('databaseUrl') ?? 'postgres://postgres@127.0.0.1:1/unreachable';
    const port = await freePort();
    const api = spawnEntry('src/main.ts', {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `proc-${randomUUID()}`,
      LOG_LEVEL: 'info',
    });
    try {
      const ready = await eventually(async () => {
        if (api.exitCode !== null) throw new Error(api.output());
        return request(`http://127.0.0.1:${port}`, '/readyz').catch(() => undefined);
      }, 'the api to listen');
      expect(ready.body.checks.temporal).toBe('ok');
      expect(ready.body.checks.database).toBe(inject('databaseUrl') ? 'ok' : 'unreachable');
      expect(ready.status).toBe(inject('databaseUrl') ? 200 : 503);
    } finally {
      api.kill('SIGTERM');
    }
    expect((await exitOf(api)).code).toBe(0);
    // One JSON line per request, with the request id; never an API key.
    const lines = api.output().trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.some((l) => l.msg === 'request' && l.route === '/readyz' && l.request_id)).toBe(true);
  });
});
