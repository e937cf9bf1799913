import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { migrateToLatest, openDatabase, redactUrl, type DatabaseHandle } from '../../src/db/connect.js';
import type { Database } from '../../src/db/schema.js';
import { findTemporalCli } from '../../src/temporal/cli.js';
import { freePort, startTemporalDevServer, type DevServer } from '../../src/temporal/devServer.js';
import { buildForBench } from './build.js';
import { spawnNode, waitFor, type Child } from './procs.js';

const run = promisify(execFile);

export interface StackOptions {
  /** Skip Postgres even when reachable (to exercise the fallback). */
  forcePglite: boolean;
  /** DELIVERY_RETRY_SCHEDULE for the app: short, so a failing receiver's retries land within a round. */
  retrySchedule: string;
  logLevel: string;
  log: (line: string) => void;
  /** Receives the cleanup at once, so an interrupt during start-up still cleans up. */
  register?: (close: () => Promise<void>) => void;
}

export interface Stack {
  mode: 'postgres' | 'pglite';
  notes: string[];
  tmp: string;
  apiUrl: string;
  koaUrl: string;
  receiverUrl: string;
  adminToken: string;
  /** The app's task queue; the bench's no-op workflow has its own. */
  taskQueue: string;
  noopTaskQueue: string;
  temporalAddress: string;
  /** The bench's own Temporal client (baseline (a), the sync-wait comparison, dispatching events). */
  client: Client;
  /** The bench's own connection to the app database (Postgres mode only). */
  db: Kysely<Database> | undefined;
  versions: { temporal: string; postgres: string; sdk: string };
  databaseLabel: string;
  /** NODE_OPTIONS of the app's processes (the image's), when they run compiled. */
  nodeOptions: string | undefined;
  /** Processes whose memory is sampled; in PGlite mode `api` and `worker` are the same dev process. */
  pids: Record<'api' | 'worker' | 'temporal' | 'koaBaseline' | 'noopWorker' | 'receiver', number>;
  children: Child[];
  /** The worker's environment (Postgres mode), for experiments that start more workers. */
  workerEnv: Record<string, string> | undefined;
  close(): Promise<void>;
}

let stackSpawn: ((name: string, entry: string, env: Record<string, string | undefined>) => Child) | undefined;

/** Starts one more process that the stack stops with everything else (experiments). */
export function spawnInStack(name: string, entry: string, env: Record<string, string | undefined>): Child {
  if (!stackSpawn) throw new Error('no stack is running');
  return stackSpawn(name, entry, env);
}

const ADMIN_URL_DEFAULT = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Starts everything the bench measures and its baselines; cleans up what it started if that fails. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const cleanups: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const step of cleanups.splice(0).reverse()) await step().catch((err) => options.log(`cleanup step failed: ${String(err)}`));
  };
  options.register?.(close);
  try {
    return await start(options, cleanups, close);
  } catch (err) {
    await close();
    throw err;
  }
}

async function start(options: StackOptions, cleanups: Array<() => Promise<void>>, close: () => Promise<void>): Promise<Stack> {
  const { log } = options;
  const notes: string[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'aw-bench-'));
  cleanups.push(async () => rmSync(tmp, { recursive: true, force: true }));

  // Temporal: the project's dev server, SQLite file in the temp dir (WAL), no UI.
  const cli = await findTemporalCli({ explicitPath: process.env.TEMPORAL_CLI, toolsDir: resolve('.tools'), log });
  const temporalVersion = (await run(cli, ['--version'])).stdout.trim();
  const server: DevServer = await startTemporalDevServer({ cli, port: 0, uiPort: null, dbFilename: join(tmp, 'temporal.sqlite'), namespace: 'default' });
  cleanups.push(() => server.stop());
  log(`Temporal dev server on ${server.address} (SQLite + WAL in ${tmp})`);

  // Postgres: a fresh database on DATABASE_URL's server or the local one; else PGlite via the dev launcher.
  let databaseUrl: string | undefined;
  let postgresVersion = 'n/a (PGlite)';
  let databaseLabel = 'PGlite (single-process dev launcher)';
  if (!options.forcePglite) {
    const adminUrl = process.env.DATABASE_URL ?? ADMIN_URL_DEFAULT;
    const created = await createFreshDatabase(adminUrl).catch((err: Error) => err);
    if (created instanceof Error) {
      if (process.env.DATABASE_URL && !/ECONNREFUSED|timeout|ENOTFOUND|EHOSTUNREACH/i.test(created.message)) {
        databaseUrl = process.env.DATABASE_URL; // reachable but no CREATE DATABASE right: use it as it is
        notes.push(`could not create a fresh database (${created.message}); measured in DATABASE_URL's database as it is`);
      } else {
        notes.push(`no PostgreSQL reachable at ${redactUrl(adminUrl)} (${created.message}): fell back to the single-process dev launcher with PGlite`);
      }
    } else {
      databaseUrl = created.url;
      cleanups.push(created.drop);
    }
  } else {
    notes.push('--pglite: measured the single-process dev launcher with PGlite');
  }

  let database: DatabaseHandle | undefined;
  if (databaseUrl) {
    database = await openDatabase({ url: databaseUrl, poolSize: 8 });
    cleanups.push(() => database!.close());
    await migrateToLatest(database.db);
    const version = await database.db.selectNoFrom((eb) => eb.fn<string>('current_setting', [eb.val('server_version')]).as('v')).executeTakeFirstOrThrow();
    postgresVersion = version.v;
    databaseLabel = `PostgreSQL ${postgresVersion}, fresh database ${redactUrl(databaseUrl)}`;
  }

  const connection = await Connection.connect({ address: server.address });
  cleanups.push(() => connection.close());
  const client = new Client({ connection, namespace: 'default' });

  const adminToken = `bench-admin-${randomUUID()}`;
  const taskQueue = `agent-webhooks-bench-${randomUUID().slice(0, 8)}`;
  const noopTaskQueue = `bench-noop-${randomUUID().slice(0, 8)}`;
  const [apiPort, koaPort, receiverPort] = [await freePort(), await freePort(), await freePort()];
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const appEnv = {
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    APP_ENV: 'development',
    OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
    DELIVERY_RETRY_SCHEDULE: options.retrySchedule,
    ADMIN_TOKEN: adminToken,
    LOG_LEVEL: options.logLevel,
    METRICS_PORT: '0',
    // ENDPOINT_MAX_IN_FLIGHT stays at its default (25): the delivery phases dispatch 16 events at a
    // time to one endpoint, under the bound, so the figures are those of a production setting.
  };
  const apiEnv = { PORT: String(apiPort), HOST: '127.0.0.1', PUBLIC_URL: apiUrl };

  const children: Child[] = [];
  const spawnChild = (name: string, entry: string, env: Record<string, string | undefined>, nodeArgs: string[] = []) => {
    const child = spawnNode(name, entry, env, join(tmp, `${name}.log`), nodeArgs);
    children.push(child);
    cleanups.push(() => child.stop());
    return child;
  };
  // Experiments start more processes later: they stop with the stack (before Temporal).
  stackSpawn = spawnChild;

  // Production's processes: compiled JavaScript on plain node with the prebuilt workflow bundle
  // (the Dockerfile's runtime stage); the baselines compiled the same way, for a fair comparison.
  // The PGlite fallback is the dev launcher, which runs under tsx as `npm run dev` does.
  const built = databaseUrl ? await buildForBench(tmp, log) : undefined;

  // Baselines' processes first (cleanup runs in reverse: the app stops before Temporal).
  const baseline = (file: string) => (built ? `dist/bench/processes/${file}.js` : `bench/processes/${file}.ts`);
  // The baselines run with the image's V8 settings too, so the comparison is of code, not of heap flags.
  const runtime = built ? { NODE_OPTIONS: built.nodeOptions } : {};
  const koa = spawnChild('koa-baseline', baseline('koaBaseline'), { PORT: String(koaPort), ...runtime });
  const receiver = spawnChild('receiver', baseline('receiver'), { PORT: String(receiverPort) });
  const noopWorker = spawnChild('noop-worker', baseline('baselineWorker'), {
    TEMPORAL_ADDRESS: server.address,
    BENCH_TASK_QUEUE: noopTaskQueue,
    ...runtime,
    ...(built ? { BENCH_WORKFLOW_BUNDLE_PATH: built.noopBundlePath } : {}),
  });

  let api: Child;
  let worker: Child;
  // BENCH_WORKER_NODE_ARGS / BENCH_API_NODE_ARGS: e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` for bench/profile.ts.
  const workerNodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const apiNodeArgs = (process.env.BENCH_API_NODE_ARGS ?? '').split(' ').filter(Boolean);
  if (databaseUrl && built) {
    // NODE_ENV, NODE_OPTIONS and WORKFLOW_BUNDLE_PATH as the image sets them (APP_ENV stays
    // development: loopback targets).
    const production = { NODE_ENV: 'production', NODE_OPTIONS: built.nodeOptions, DATABASE_URL: databaseUrl };
    api = spawnChild('api', 'dist/src/main.js', { ...appEnv, ...apiEnv, ...production }, apiNodeArgs);
    worker = spawnChild('worker', 'dist/src/worker.js', { ...appEnv, ...production, WORKFLOW_BUNDLE_PATH: built.appBundlePath }, workerNodeArgs);
  } else {
    const dataDir = join(tmp, 'dev');
    api = spawnChild('dev', 'src/dev.ts', { ...appEnv, ...apiEnv, DATA_DIR: dataDir });
    worker = api;
    await waitFor('the dev launcher to write credentials.json', async () => (existsSync(join(dataDir, 'credentials.json')) ? true : undefined), 120_000, [api]);
  }

  const all = [...new Set([koa, receiver, noopWorker, api, worker])];
  await waitFor(`the API at ${apiUrl}/readyz`, async () => ((await fetch(`${apiUrl}/readyz`)).status === 200 ? true : undefined), 120_000, all);
  if (worker !== api) {
    await waitFor('the worker to poll', async () => (readFileSync(worker.logFile, 'utf8').includes('worker running') ? true : undefined), 120_000, all);
  }
  await waitFor('the no-op worker to poll', async () => (readFileSync(noopWorker.logFile, 'utf8').includes('bench worker running') ? true : undefined), 120_000, all);
  const koaUrl = `http://127.0.0.1:${koaPort}`;
  const receiverUrl = `http://127.0.0.1:${receiverPort}`;
  await waitFor('the Koa baseline', async () => ((await fetch(koaUrl)).ok ? true : undefined), 60_000, all);
  await waitFor('the receiver', async () => ((await fetch(`${receiverUrl}/_count`)).ok ? true : undefined), 60_000, all);

  const sdk = (JSON.parse(readFileSync(resolve('node_modules/@temporalio/client/package.json'), 'utf8')) as { version: string }).version;
  return {
    mode: databaseUrl ? 'postgres' : 'pglite',
    notes,
    tmp,
    apiUrl,
    koaUrl,
    receiverUrl,
    adminToken,
    taskQueue,
    noopTaskQueue,
    temporalAddress: server.address,
    client,
    db: database?.db,
    versions: { temporal: temporalVersion, postgres: postgresVersion, sdk },
    databaseLabel,
    nodeOptions: built?.nodeOptions,
    pids: { api: api.pid, worker: worker.pid, temporal: server.pid, koaBaseline: koa.pid, noopWorker: noopWorker.pid, receiver: receiver.pid },
    children,
    workerEnv:
      databaseUrl && built
        ? { ...appEnv, NODE_ENV: 'production', NODE_OPTIONS: built.nodeOptions, DATABASE_URL: databaseUrl, WORKFLOW_BUNDLE_PATH: built.appBundlePath }
        : undefined,
    close,
  };
}

async function createFreshDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `aw_bench_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3_000 });
  admin.on('error', () => undefined);
  try {
    await admin.connect();
    await admin.query(`create database ${name}`);
  } catch (err) {
    await admin.end().catch(() => undefined);
    throw err;
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}
