import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { inject } from 'vitest';
import { createApp } from '../../src/api/index.js';
import type { AppDeps } from '../../src/api/context.js';
import { parseConfig, type Config } from '../../src/config.js';
import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { databaseReachable } from '../../src/db/health.js';
import { createLogger } from '../../src/logger.js';
import { outboundClient } from '../../src/outbound/fromConfig.js';
import { secretBoxFromConfig, type SecretBox } from '../../src/secrets/box.js';
import { createOrgWithKey } from '../../src/services/orgs.js';
import { temporalReachable } from '../../src/temporal/client.js';
import { activityDeps } from '../../src/temporal/activityDeps.js';
import { retryWithinDeadline } from '../../src/temporal/deadline.js';
import { createWorker, installRuntime, type WorkerSet } from '../../src/temporal/worker.js';
import { request, type ApiResponse } from './http.js';

export interface TestStack {
  config: Config;
  baseUrl: string;
  database: DatabaseHandle;
  temporal: Client;
  taskQueue: string;
  /** The box the app and the worker seal and open stored secrets with (the fixed test key). */
  secrets: SecretBox;
  /** Authenticated JSON request against the API. */
  api(path: string, init?: { method?: string; body?: unknown; key?: string; headers?: Record<string, string> }): Promise<ApiResponse>;
  /** An org with an org-wide key (every scope) and, unless told otherwise, plenty of credits. */
  newOrg(name?: string, credits?: number): Promise<{ orgId: string; apiKey: string }>;
  /**
   * Another API on this stack's database, as a second process would see it, with the parts a
   * test swaps (its config, its Temporal client, its readiness answers; both ready by default;
   * its database handle, secret box and clock).
   */
  startSecondApi(
    parts?: Partial<Pick<AppDeps, 'config' | 'temporal' | 'readiness' | 'db' | 'secrets' | 'clock'>>,
  ): Promise<{ baseUrl: string; close(): void }>;
  close(): Promise<void>;
}

// The one request helper lives in ./http.ts; re-exported for the files that import it from here.
export { eventually, request, type ApiResponse } from './http.js';

const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent', 'test');

/** A fixed key, so the whole suite stores its secrets encrypted (base64 of 32 bytes). */
export const TEST_SECRETS_KEY = Buffer.from('agent-webhooks test secrets key!').toString('base64');

/** Tests reach loopback receivers (allow-list on), retry on a schedule of seconds and encrypt secrets at rest. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return parseConfig({
    LOG_LEVEL: 'silent',
    SECRETS_KEY: TEST_SECRETS_KEY,
    APP_ENV: 'development',
    OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8,::1/128',
    DELIVERY_RETRY_SCHEDULE: '300ms,600ms,1200ms',
    SSE_HEARTBEAT_SECONDS: '0.5',
    ...overrides,
  });
}

/** The test database: the run's fresh Postgres database, or an in-memory PGlite per test file. */
export async function openTestDatabase(): Promise<DatabaseHandle> {
  const url = inject('databaseUrl');
  const database = await openDatabase(url ? { url, poolSize: 5 } : { pgliteDir: 'memory://' });
  if (!url) await migrateToLatest(database.db);
  return database;
}

async function openSharedPostgres(): Promise<DatabaseHandle> {
  const url = inject('sharedPostgresUrl');
  if (!url) throw new Error('this test needs PostgreSQL: set DATABASE_URL or run a server on 127.0.0.1:5432');
  return openDatabase({ url, poolSize: 10 });
}

async function openPrivateDatabase(): Promise<DatabaseHandle> {
  const database = await openDatabase({ pgliteDir: 'memory://' });
  await migrateToLatest(database.db);
  return database;
}

/**
 * The real stack in this process: the Koa app listening on a loopback port, a worker on a task
 * queue of its own (so test files never run each other's workflows), real Temporal, real DB.
 */
export async function startTestStack(
  options: {
    worker?: boolean;
    config?: Record<string, string>;
    /** A database of the test's own (e.g. an in-memory PGlite) for tests that touch every row, like a key rotation. */
    privateDatabase?: boolean;
    /** The worker's environment, where MODEL_PROVIDERS keys are read (default: this process's). */
    workerEnv?: Record<string, string | undefined>;
    /** Always real PostgreSQL (the run's database, else the local server), for tests of concurrent writers. */
    postgres?: boolean;
  } = {},
): Promise<TestStack> {
  installRuntime(log);
  const taskQueue = `test-${randomUUID()}`;
  // Listen first so links in responses and payloads carry the real port.
  const server: Server = createServer();
  // Longer than any client's idle keep-alive: under load a late timer otherwise closes a socket
  // just as fetch reuses it (ECONNRESET on a request the server never saw).
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = testConfig({ TEMPORAL_TASK_QUEUE: taskQueue, PUBLIC_URL: baseUrl, ...options.config });
  const address = inject('temporalAddress');
  const database = options.privateDatabase ? await openPrivateDatabase() : options.postgres ? await openSharedPostgres() : await openTestDatabase();
  const connection = await Connection.connect({ address, interceptors: [retryWithinDeadline()] }); // as src/main.ts
  const temporal = new Client({ connection, namespace: 'default' });

  let worker: WorkerSet | undefined;
  let running: Promise<void> | undefined;
  let nativeConnection: NativeConnection | undefined;
  if (options.worker !== false) {
    nativeConnection = await NativeConnection.connect({ address });
    worker = await createWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      deps: activityDeps(config, database.db, log, temporal, {}, options.workerEnv),
      workflowBundle: { codePath: inject('workflowBundlePath') },
      deliveryMaxConcurrentActivities: config.DELIVERY_MAX_CONCURRENT_ACTIVITIES,
    });
    running = worker.run();
  }

  const app = createApp({
    config,
    db: database.db,
    temporal,
    log,
    readiness: { database: () => databaseReachable(database.db), temporal: () => temporalReachable(connection) },
    listen: database.listen,
    http: outboundClient(config, log),
    secrets: secretBoxFromConfig(config),
    clock: () => new Date(),
  });
  server.on('request', app.callback());

  return {
    config,
    baseUrl,
    database,
    temporal,
    taskQueue,
    secrets: secretBoxFromConfig(config),
    api: (path, init = {}) => request(baseUrl, path, init),
    async newOrg(name = 'Test org', credits = 1_000_000) {
      const created = await createOrgWithKey(database.db, { name, credits });
      return { orgId: created.org.id, apiKey: created.apiKey };
    },
    async startSecondApi(parts = {}) {
      const second = createApp({
        config: parts.config ?? config,
        db: parts.db ?? database.db,
        temporal: parts.temporal ?? temporal,
        log,
        readiness: parts.readiness ?? { database: async () => true, temporal: async () => true },
        listen: database.listen,
        http: outboundClient(config, log),
        secrets: parts.secrets ?? secretBoxFromConfig(config),
        clock: parts.clock ?? (() => new Date()),
      });
      const listening = second.listen(0, '127.0.0.1');
      await new Promise((r) => listening.once('listening', r));
      return { baseUrl: `http://127.0.0.1:${(listening.address() as AddressInfo).port}`, close: () => void listening.close() };
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (worker) {
        worker.shutdown();
        await running;
      }
      await nativeConnection?.close();
      await connection.close();
      await database.close();
    },
  };
}
