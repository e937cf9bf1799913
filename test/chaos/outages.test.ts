import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { findTemporalCli } from '../../src/temporal/cli.js';
import { freePort, startTemporalDevServer, type DevServer } from '../../src/temporal/devServer.js';
import { count } from '../support/figures.js';
import { exitOf, spawnEntry } from '../support/processes.js';
import { ownDatabase } from '../support/ownDatabase.js';
import { eventually, request } from '../support/stack.js';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';

/**
 * The engine and the database go away under load and come back. While they are away the API
 * answers promptly (202, or 503 with Retry-After: never a hang, never a 500) and readiness
 * says so; afterwards every run it accepted completes. Temporal here is a dev server of this
 * file's own, persisting to SQLite so a restart keeps its workflows; Postgres is the shared
 * server behind a TCP proxy the test can cut.
 */
const TEMPORAL_OUTAGE_MS = 20_000;
const DATABASE_OUTAGE_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000; // longer than this is a hang

const scratch = mkdtempSync(join(tmpdir(), 'aw-outage-'));
const children: Array<ReturnType<typeof spawnEntry>> = [];
let cli: string;
let temporal: DevServer;
let temporalPort: number;
let proxy: TcpProxy;
let api: string;
let apiProcess: ReturnType<typeof spawnEntry>;
let worker: ReturnType<typeof spawnEntry>;
let key: string;
let agentId: string;
let hookToken: string;
let own: Awaited<ReturnType<typeof ownDatabase>> | undefined;

const startTemporal = () =>
  startTemporalDevServer({ cli, port: temporalPort, uiPort: null, namespace: 'default', dbFilename: join(scratch, 'temporal.db') });

beforeAll(async () => {
  const sharedUrl = inject('sharedPostgresUrl');
  if (!sharedUrl) throw new Error('the outage tests need PostgreSQL: set DATABASE_URL or run a server on 127.0.0.1:5432');
  // A database of its own, as its Temporal is: its worker's run sweep would otherwise find other
  // files' runs waiting for their workers (started_at null) and start them on this Temporal, which
  // has never heard of them, where they run with this file's settings.
  own = await ownDatabase(sharedUrl);
  const databaseUrl = own.url;
  cli = await findTemporalCli({ explicitPath: process.env.TEMPORAL_CLI, toolsDir: resolve('.tools') });
  temporalPort = await freePort();
  temporal = await startTemporal();
  const target = new URL(databaseUrl);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const proxied = new URL(databaseUrl);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);

  const port = await freePort();
  const adminToken = `admin-${randomUUID()}`;
  const env = {
    DATABASE_URL: proxied.toString(),
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: `outage-${randomUUID()}`,
    WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
    METRICS_PORT: '0', // several workers at once: no shared port
    APP_ENV: 'development',
    SYNC_WAIT_SECONDS: '5', // a sync call outlasting the outage answers 202 well within REQUEST_TIMEOUT_MS
    ADMIN_TOKEN: adminToken,
    LOG_LEVEL: 'warn',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
  };
  apiProcess = spawnEntry('src/main.ts', env);
  children.push(apiProcess);
  worker = spawnEntry('src/worker.ts', { ...env, LOG_LEVEL: 'info' }); // its "worker running" line says it polls
  children.push(worker);
  api = `http://127.0.0.1:${port}`;
  await eventually(async () => {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead) throw new Error(`a process exited: ${dead.output()}`);
    const ready = await request(api, '/readyz').catch(() => undefined);
    return ready?.status === 200 && worker.output().includes('worker running') ? true : undefined;
  }, 'the API and the worker to be ready', 60_000);
  const org = await request(api, '/v1/admin/orgs', { key: adminToken, body: { name: 'Outage org', credits: 1_000_000 } });
  key = org.body.api_key.key;
  agentId = (await request(api, '/v1/agents', { key, body: { name: 'Outage agent', provider: { kind: 'echo', delay_ms: 100 } } })).body.id;
  hookToken = (await request(api, `/v1/agents/${agentId}/webhooks`, { key, body: { name: 'outage hook', rate_limit_per_minute: 10_000 } })).body.token;
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map((c) => exitOf(c)));
  await temporal?.stop();
  await proxy?.close();
  await own?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

interface Outcome {
  status: number; // 0: no answer within REQUEST_TIMEOUT_MS
  retryAfter: string | null;
  code: string | undefined;
  runId: string | undefined;
  ms: number;
}

/** Triggers runs (async and sync webhook calls) from a few callers, back to back, until stopped. */
function startLoad(callers = 3) {
  const outcomes: Outcome[] = [];
  let stopped = false;
  const done = Promise.all(
    Array.from({ length: callers }, async (_, caller) => {
      for (let i = 0; !stopped; i++) {
        const began = Date.now();
        let outcome: Outcome;
        try {
          // Every third call is a sync webhook call (200, or 202 after the sync wait).
          const sync = (caller + i) % 3 === 0;
          const response = await fetch(sync ? `${api}/api/webhook/${hookToken}` : `${api}/v1/agents/${agentId}/runs`, {
            method: 'POST',
            headers: { ...(sync ? {} : { authorization: `Bearer ${key}` }), 'content-type': 'application/json' },
            body: JSON.stringify({ message: `load ${caller}.${i}` }),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          const body = (await response.json()) as { run_id?: string; code?: string };
          outcome = { status: response.status, retryAfter: response.headers.get('retry-after'), code: body.code, runId: body.run_id, ms: Date.now() - began };
        } catch {
          outcome = { status: 0, retryAfter: null, code: undefined, runId: undefined, ms: Date.now() - began };
        }
        outcomes.push(outcome);
        await new Promise((r) => setTimeout(r, 100));
      }
    }),
  );
  return {
    outcomes,
    async stop() {
      stopped = true;
      await done;
      return outcomes;
    },
  };
}

const isAccepted = (o: Outcome) => o.status === 200 || o.status === 202;

const readiness = async () => {
  if (apiProcess.exitCode !== null) throw new Error(`the API process died: ${apiProcess.output()}`);
  const ready = await request(api, '/readyz');
  return { status: ready.status, retryAfter: ready.headers.get('retry-after'), checks: ready.body.checks as Record<string, string> };
};

/** Every accepted run completes; refused ones left nothing behind. */
async function expectAcceptedRunsComplete(outcomes: Outcome[]) {
  const accepted = outcomes.filter(isAccepted).map((o) => o.runId!);
  const pending = new Set(accepted);
  await eventually(
    async () => {
      for (const runId of [...pending]) {
        const run = await request(api, `/v1/runs/${runId}`, { key });
        if (run.body.status === 'completed') pending.delete(runId);
        else if (run.body.status && run.body.status !== 'processing') throw new Error(`run ${runId} ended ${run.body.status}: ${run.body.error}`);
      }
      return pending.size === 0 ? true : undefined;
    },
    'every accepted run to complete',
    120_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${pending.size} of ${accepted.length} still processing`);
  });
  return { accepted: accepted.length, lost: pending.size };
}

function expectPromptAnswers(outcomes: Outcome[], during: Outcome[]) {
  expect(outcomes.filter((o) => o.status === 0), 'requests that hung').toEqual([]);
  expect(outcomes.filter((o) => !isAccepted(o) && o.status !== 503).map((o) => `${o.status} ${o.code}`)).toEqual([]);
  for (const refused of outcomes.filter((o) => o.status === 503)) {
    expect(refused.code).toBe('SERVICE_UNAVAILABLE');
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
  }
  // The outage was real: callers were refused while it lasted.
  expect(during.filter((o) => o.status === 503).length).toBeGreaterThan(0);
}

/**
 * Takes one part away under load for `downMs`, brings it back, and checks what users rely on:
 * prompt answers (202/200 or 503 + Retry-After) throughout, readiness naming the missing
 * part, both processes alive, every accepted run completed.
 */
async function outageUnderLoad(
  task: Parameters<typeof count>[0],
  outage: { part: string; takeDown: () => Promise<void> | void; bringBack: () => Promise<void> | void; checksWhileDown: Record<string, string>; downMs: number },
) {
  const load = startLoad();
  await eventually(async () => (load.outcomes.filter(isAccepted).length >= 10 ? true : undefined), 'some runs accepted');

  await outage.takeDown();
  const downFrom = load.outcomes.length;
  const whileDown = await eventually(async () => {
    const ready = await readiness();
    return ready.status === 503 ? ready : undefined;
  }, `readiness to report ${outage.part} down`, 15_000);
  expect(whileDown.checks).toEqual(outage.checksWhileDown);
  expect(whileDown.retryAfter).toBeTruthy();
  await new Promise((r) => setTimeout(r, outage.downMs));
  const downTo = load.outcomes.length;

  await outage.bringBack();
  await eventually(async () => ((await readiness()).status === 200 ? true : undefined), 'readiness to recover', 60_000);
  await eventually(async () => (load.outcomes.slice(downTo).filter(isAccepted).length >= 10 ? true : undefined), 'runs accepted again', 60_000);
  const outcomes = await load.stop();

  expectPromptAnswers(outcomes, outcomes.slice(downFrom, downTo));
  expect(worker.exitCode, `the worker died with ${outage.part}: ${worker.output()}`).toBeNull();
  expect(apiProcess.exitCode, `the API died with ${outage.part}: ${apiProcess.output()}`).toBeNull();
  const { accepted, lost } = await expectAcceptedRunsComplete(outcomes);
  count(task, { outages: 1, 'outage requests': outcomes.length, 'outage runs accepted': accepted, 'lost runs': lost });
}

describe('outages under load', () => {
  it('keeps answering while Temporal is down for 20 s, and loses nothing it accepted', async ({ task }) => {
    await outageUnderLoad(task, {
      part: 'Temporal',
      takeDown: () => temporal.stop(),
      bringBack: async () => {
        temporal = await startTemporal();
      },
      checksWhileDown: { database: 'ok', temporal: 'unreachable' },
      downMs: TEMPORAL_OUTAGE_MS,
    });
  }, 240_000);

  it('keeps answering while Postgres is cut off, readiness flips and recovers, nothing accepted is lost', async ({ task }) => {
    await outageUnderLoad(task, {
      part: 'the database',
      takeDown: () => proxy.cut(),
      bringBack: () => proxy.restore(),
      checksWhileDown: { database: 'unreachable', temporal: 'ok' },
      downMs: DATABASE_OUTAGE_MS,
    });
  }, 240_000);
});
