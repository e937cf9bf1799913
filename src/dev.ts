import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { createApp } from './api/index.js';
import { loadConfigOrExit, publicUrl, type Config } from './config.js';
import { migrateToLatest, openDatabase } from './db/connect.js';
import { databaseReachable } from './db/health.js';
import { DEV_LOCK_FILE, liveRecordedProcess, OneLineError, ownRecord, removeRecord, writeRecord } from './devProcesses.js';
import { findAgent } from './db/agents.js';
import { findActiveApiKeyByHash } from './db/apiKeys.js';
import type { Database } from './db/schema.js';
import { hashSecret } from './domain/apiKeys.js';
import { createLogger, type Logger } from './logger.js';
import { sdkMetricsAddress } from './metricsServer.js';
import { onShutdown } from './process.js';
import { startRunReconciler } from './services/runReconciler.js';
import { outboundClient } from './outbound/fromConfig.js';
import { secretBoxFromConfig } from './secrets/box.js';
import { devSecretsKey } from './secrets/devKey.js';
import { createEchoAgent, createOrgWithKey } from './services/orgs.js';
import { findTemporalCli } from './temporal/cli.js';
import { temporalReachable } from './temporal/client.js';
import { DEV_NAMESPACE_RETENTION_HOURS, startTemporalDevServer, type DevServer } from './temporal/devServer.js';
import { activityDeps } from './temporal/activityDeps.js';
import { temporalConnectionOptionsOrExit } from './temporal/connection.js';
import { startTracing, stopTracing, temporalClientInterceptors } from './telemetry.js';
import { createWorker, installRuntime } from './temporal/worker.js';
import { scheduleRetention } from './temporal/retentionSchedule.js';

/**
 * `npm run dev`: the whole stack in one process tree for a newcomer — the Temporal dev
 * server (unless TEMPORAL_ADDRESS is set), migrations, a demo org, the worker and the API.
 */
export interface Credentials {
  api_url: string;
  api_key: string;
  org_id: string;
  agent_id: string;
  temporal_address: string;
  temporal_ui_url: string | null;
}

const config = loadConfigOrExit({ APP_ENV: 'development', HOST: '127.0.0.1' });
const log = createLogger(config.LOG_LEVEL, 'dev');
const tracing = startTracing('agent-webhooks'); // off unless OTEL_EXPORTER_OTLP_ENDPOINT is set
const dataDir = resolve(config.DATA_DIR);
mkdirSync(dataDir, { recursive: true });
// One dev stack per DATA_DIR, and a lock the CLI reads: PGlite is one process's database, so
// a CLI writing beside us would print a key for an org that never reaches our copy.
const holder = liveRecordedProcess(dataDir, DEV_LOCK_FILE);
if (holder && holder.pid !== process.pid) {
  process.stderr.write(`another dev stack (pid ${holder.pid}) is running with DATA_DIR=${dataDir}: stop it first\n`);
  process.exit(1);
}
const lock = { ...ownRecord(), ...(config.DATABASE_URL ? {} : { pglite_dir: join(dataDir, 'pglite') }) };
writeRecord(dataDir, DEV_LOCK_FILE, lock);
process.once('exit', () => removeRecord(dataDir, DEV_LOCK_FILE, process.pid));
const secretsKey = config.SECRETS_KEY ?? devSecretsKey(dataDir, { create: true, onCreate: (file) => log.info({ file }, 'generated a secrets key for the dev stack') })!;
// The dev stack runs the worker in this process: the SDK's metrics join the API's /metrics.
installRuntime(log, config.METRICS_PORT ? { sdkMetricsAddress: sdkMetricsAddress(config.METRICS_PORT) } : {});

const cleanups: Array<() => Promise<void>> = [];
if (tracing) cleanups.push(stopTracing); // runs last: flushes the spans of the shutdown too
const cleanup = async () => {
  for (const step of cleanups.reverse()) await step().catch((err) => log.error({ err }, 'cleanup step failed'));
};
onShutdown(config, log, cleanup);

try {
  await main();
} catch (err) {
  if (err instanceof OneLineError) process.stderr.write(`${err.message}\n`);
  else log.fatal({ err }, 'dev stack failed to start');
  await cleanup();
  process.exit(1);
}

async function main() {
  let temporalAddress = config.TEMPORAL_ADDRESS;
  let temporalUi = config.TEMPORAL_UI_URL ?? null;
  if (!temporalAddress) {
    const cli = await findTemporalCli({
      explicitPath: config.TEMPORAL_CLI,
      toolsDir: resolve('.tools'),
      log: (line) => log.info(line),
    });
    const server: DevServer = await startTemporalDevServer({
      cli,
      port: config.TEMPORAL_DEV_PORT,
      uiPort: config.TEMPORAL_UI_PORT,
      dbFilename: join(dataDir, 'temporal.sqlite'),
      namespace: config.TEMPORAL_NAMESPACE,
      retentionHours: DEV_NAMESPACE_RETENTION_HOURS,
      stateDir: dataDir,
      log: (line) => log.info(line),
    });
    cleanups.push(() => server.stop());
    temporalAddress = server.address;
    temporalUi = server.uiUrl;
  }
  const runtimeConfig: Config = Object.freeze({ ...config, TEMPORAL_UI_URL: temporalUi ?? undefined, SECRETS_KEY: secretsKey });

  const database = await openDatabase({
    url: config.DATABASE_URL,
    pgliteDir: join(dataDir, 'pglite'),
    poolSize: config.DATABASE_POOL_SIZE,
    preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
  });
  cleanups.push(() => database.close());
  await migrateToLatest(database.db);

  // An external cluster (TEMPORAL_ADDRESS) gets its TLS settings; the embedded dev server is plain TCP.
  const connection = await NativeConnection.connect(
    config.TEMPORAL_ADDRESS ? temporalConnectionOptionsOrExit(config) : { address: temporalAddress },
  );
  cleanups.push(() => connection.close());
  // One native connection serves the worker and the client (eager workflow start is possible).
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors: temporalClientInterceptors() });
  const worker = await createWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    deps: activityDeps(runtimeConfig, database.db, log.child({ component: 'worker' }), temporal),
    deliveryMaxConcurrentActivities: config.DELIVERY_MAX_CONCURRENT_ACTIVITIES,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
  });
  const running = worker.run();
  cleanups.push(async () => {
    worker.shutdown();
    await running;
  });
  running.catch((err) => {
    log.fatal({ err }, 'worker stopped with an error');
    process.kill(process.pid, 'SIGTERM');
  });
  await scheduleRetention(temporal, config, log.child({ component: 'worker' }));
  const reconciler = startRunReconciler(
    { db: database.db, temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, log: log.child({ component: 'worker' }) },
    { intervalMs: config.RUN_RECONCILE_INTERVAL_SECONDS * 1000, minAgeMs: config.RUN_RECONCILE_MIN_AGE_SECONDS * 1000 },
  );
  cleanups.push(() => reconciler.stop());

  const app = createApp({
    config: runtimeConfig,
    db: database.db,
    temporal,
    log: log.child({ component: 'api' }),
    readiness: { database: () => databaseReachable(database.db), temporal: () => temporalReachable(connection) },
    listen: database.listen,
    http: outboundClient(runtimeConfig, log),
    secrets: secretBoxFromConfig(runtimeConfig),
    clock: () => new Date(),
    sdkMetricsAddress: config.METRICS_PORT ? sdkMetricsAddress(config.METRICS_PORT) : undefined,
  });
  const server: Server = await new Promise((resolveServer, reject) => {
    const s = app.listen(config.PORT, config.HOST, () => resolveServer(s));
    s.once('error', reject);
  });
  cleanups.push(
    () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeIdleConnections();
      }),
  );

  const apiUrl = publicUrl(runtimeConfig);
  const credentials = await demoCredentials(database.db, {
    api_url: apiUrl,
    temporal_address: temporalAddress,
    temporal_ui_url: temporalUi,
  });
  printBanner(log, credentials, database.location);
}

/** Reuses the demo org from an earlier start when its key still works; creates it otherwise. */
async function demoCredentials(
  db: Kysely<Database>,
  endpoints: Pick<Credentials, 'api_url' | 'temporal_address' | 'temporal_ui_url'>,
): Promise<Credentials> {
  const file = join(dataDir, 'credentials.json');
  let credentials: Credentials | undefined;
  if (existsSync(file)) {
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as Credentials;
      const key = await findActiveApiKeyByHash(db, hashSecret(saved.api_key));
      const agent = key ? await findAgent(db, key.org_id, saved.agent_id) : undefined;
      if (key && agent) credentials = { ...saved, ...endpoints, org_id: key.org_id };
    } catch (err) {
      log.warn({ err }, `ignoring unreadable ${file}`);
    }
  }
  if (!credentials) {
    const created = await createOrgWithKey(db, { name: 'Demo org', credits: 1_000_000 });
    const agent = await createEchoAgent(db, created.org.id, 'Echo agent');
    credentials = { ...endpoints, api_key: created.apiKey, org_id: created.org.id, agent_id: agent.id };
    log.info({ org_id: created.org.id, agent_id: agent.id }, 'created the demo org, agent and API key');
  }
  // Written only once everything answers: scripts wait for this file as the ready signal.
  writeFileSync(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return credentials;
}

function printBanner(logger: Logger, c: Credentials, databaseLocation: string) {
  const lines = [
    '',
    '  Agent Webhooks dev stack is ready',
    '',
    `  API           ${c.api_url}`,
    `  Console       ${c.api_url}/console/  (sign in with the API key in Credentials)`,
    `  Temporal      ${c.temporal_address}`,
    `  Temporal UI   ${c.temporal_ui_url ?? '(external Temporal: set TEMPORAL_UI_URL for links)'}`,
    `  Database      ${databaseLocation}`,
    `  Credentials   ${join(dataDir, 'credentials.json')}`,
    '',
    '  Start a run of the demo echo agent:',
    '',
    `  curl -s -X POST ${c.api_url}/v1/agents/${c.agent_id}/runs \\`,
    `    -H "Authorization: Bearer ${c.api_key}" \\`,
    `    -H "Content-Type: application/json" \\`,
    `    -d '{"message": "Hello, agent!"}'`,
    '',
    '  then poll the status_url it returns with the same Authorization header.',
    '  Ctrl-C stops everything.',
    '',
  ];
  logger.info({ api_url: c.api_url }, 'ready');
  process.stdout.write(`${lines.join('\n')}\n`);
}
