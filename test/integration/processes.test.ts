import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { describe, expect, it, inject } from 'vitest';
import { randomUUID } from 'node:crypto';
import { findTemporalCli } from '../../src/temporal/cli.js';
import { freePort, startTemporalDevServer } from '../../src/temporal/devServer.js';
import { UNENCRYPTED_WARNING } from '../../src/secrets/box.js';
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

  it('refuse to run the api or worker in production without SECRETS_KEY unless explicitly allowed', async () => {
    for (const entry of ['src/main.ts', 'src/worker.ts']) {
      const child = spawnEntry(entry, { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unused', TEMPORAL_ADDRESS: '127.0.0.1:1' });
      expect((await exitOf(child)).code).toBe(78);
      expect(child.output().trim()).toMatch(/^invalid configuration: SECRETS_KEY is required in production [^\n]*ALLOW_UNENCRYPTED_SECRETS=true[^\n]*$/);
    }
  });

  it('worker waits for a Temporal that is not up yet, then polls', async () => {
    const databaseUrl = inject('sharedPostgresUrl');
    if (!databaseUrl) throw new Error('this test needs PostgreSQL: set DATABASE_URL or run a server on 127.0.0.1:5432');
    const port = await freePort();
    const worker = spawnEntry('src/worker.ts', {
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      TEMPORAL_TASK_QUEUE: `proc-${randomUUID()}`,
      WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
      ALLOW_UNENCRYPTED_SECRETS: 'true',
      RUN_RECONCILE_INTERVAL_SECONDS: '0', // no sweep of the shared database's runs onto this worker
    });
    let temporal: Awaited<ReturnType<typeof startTemporalDevServer>> | undefined;
    try {
      await eventually(async () => {
        if (worker.exitCode !== null) throw new Error(`the worker gave up: ${worker.output()}`);
        return worker.output().includes('Temporal is not answering yet') ? true : undefined;
      }, 'the worker to say it waits');
      const cli = await findTemporalCli({ explicitPath: process.env.TEMPORAL_CLI, toolsDir: resolve('.tools') });
      temporal = await startTemporalDevServer({ cli, port, uiPort: null, namespace: 'default' });
      await eventually(async () => {
        if (worker.exitCode !== null) throw new Error(`the worker gave up: ${worker.output()}`);
        return worker.output().includes('worker running') ? true : undefined;
      }, 'the worker to poll once Temporal answers', 60_000);
      // Production without SECRETS_KEY, explicitly allowed: said once, however long the wait for Temporal was.
      expect(worker.output().split(UNENCRYPTED_WARNING).length - 1).toBe(1);
    } finally {
      worker.kill('SIGTERM');
      await exitOf(worker);
      await temporal?.stop();
    }
  });

  it('worker serves /healthz and /readyz on its metrics port, and SDK metric names without a doubled _total', async () => {
    const databaseUrl = inject('sharedPostgresUrl');
    if (!databaseUrl) throw new Error('this test needs PostgreSQL: set DATABASE_URL or run a server on 127.0.0.1:5432');
    const port = await freePort();
    const worker = spawnEntry('src/worker.ts', {
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `proc-${randomUUID()}`,
      WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
      METRICS_PORT: String(port),
      LOG_LEVEL: 'info',
      ALLOW_UNENCRYPTED_SECRETS: 'true',
      RUN_RECONCILE_INTERVAL_SECONDS: '0', // no sweep of the shared database's runs onto this worker
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      await eventually(async () => {
        if (worker.exitCode !== null) throw new Error(`the worker exited: ${worker.output()}`);
        return (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200 ? true : undefined;
      }, 'the worker to be ready');
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const text = await eventually(async () => {
        const body = await (await fetch(`${base}/metrics`)).text();
        return /^temporal_\w+/m.test(body) ? body : undefined;
      }, 'the SDK metrics in the scrape');
      const names = [...text.matchAll(/^([a-z_:][a-z0-9_:]*)[{ ]/gm)].map((m) => m[1]!);
      expect(names.filter((n) => n.startsWith('temporal_')).length).toBeGreaterThan(0);
      // Counters carry the names of Temporal's SDK metrics reference (temporal_request, not
      // temporal_request_total), so Core's own `local_activity_total` never becomes `…_total_total`.
      expect(names).toContain('temporal_request');
      expect(names).toContain('temporal_worker_start');
      expect(names.filter((n) => /_total(_total)?$/.test(n) && n.startsWith('temporal_'))).toEqual([]);
    } finally {
      worker.kill('SIGTERM');
      await exitOf(worker);
    }
  });

  it('worker stops with one line when METRICS_PORT is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const worker = spawnEntry('src/worker.ts', { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unused', METRICS_PORT: String(port), TEMPORAL_ADDRESS: '127.0.0.1:1', ALLOW_UNENCRYPTED_SECRETS: 'true' });
      expect((await exitOf(worker)).code).toBe(78);
      expect(worker.output().trim()).toMatch(new RegExp(`^invalid configuration: METRICS_PORT ${port} cannot be used \\(EADDRINUSE\\)[^\\n]*$`));
    } finally {
      blocker.close();
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
      ALLOW_UNENCRYPTED_SECRETS: 'true',
      RUN_RECONCILE_INTERVAL_SECONDS: '0', // no sweep of the shared database's runs onto this worker
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
    // Production without SECRETS_KEY, explicitly allowed: one warning at start.
    expect(lines.filter((l) => l.msg === UNENCRYPTED_WARNING)).toEqual([expect.objectContaining({ level: 40 })]);
  });
});
