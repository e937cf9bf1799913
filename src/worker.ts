import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfigOrExit } from './config.js';
import { openDatabase } from './db/connect.js';
import { createLogger } from './logger.js';
import { sdkMetricsAddress, startMetricsServer } from './metricsServer.js';
import { onShutdown, requireDatabaseUrl } from './process.js';
import { refuseUnencryptedInProduction, warnWhenUnencrypted } from './secrets/box.js';
import { startRunReconciler } from './services/runReconciler.js';
import { activityDeps } from './temporal/activityDeps.js';
import { scheduleRetention } from './temporal/retentionSchedule.js';
import { createWorker, installRuntime, workerShutdownGraceSeconds, type WorkerSet } from './temporal/worker.js';
import { startTracing, stopTracing, temporalClientInterceptors } from './telemetry.js';
import { describeConnection, exitOnTlsFailure, temporalConnectionOptionsOrExit } from './temporal/connection.js';
import { deliveriesTaskQueue } from '../workflows/taskQueues.js';

/** `npm run worker`: runs workflows and activities against external Postgres and Temporal. */
const config = loadConfigOrExit();
const databaseUrl = requireDatabaseUrl(config, 'npm run worker');
refuseUnencryptedInProduction(config);
const temporalOptions = temporalConnectionOptionsOrExit(config);
const log = createLogger(config.LOG_LEVEL, 'worker');
const tracing = startTracing('agent-webhooks-worker'); // off unless OTEL_EXPORTER_OTLP_ENDPOINT is set
installRuntime(log, config.METRICS_PORT ? { sdkMetricsAddress: sdkMetricsAddress(config.METRICS_PORT) } : {});
const database = await openDatabase({ url: databaseUrl, poolSize: config.DATABASE_POOL_SIZE, preparedStatements: config.DATABASE_PREPARED_STATEMENTS });
const started: { worker?: WorkerSet } = {};
const metricsServer = config.METRICS_PORT
  ? await startMetricsServer(config.METRICS_PORT, log, {
      token: config.METRICS_TOKEN,
      health: {
        // Alive while waiting for Temporal (an outage is not cured by a restart); ready once polling.
        live: () => !(started.worker?.workers ?? []).some((w) => ['FAILED', 'STOPPED'].includes(w.getState())),
        ready: () => (started.worker?.workers ?? []).length > 0 && started.worker!.workers.every((w) => w.getState() === 'RUNNING'),
      },
    }).catch((err: NodeJS.ErrnoException) => {
      // Another process on the port is a configuration problem: one line, like a bad variable.
      process.stderr.write(`invalid configuration: METRICS_PORT ${config.METRICS_PORT} cannot be used (${err.code ?? err.message}); pick a free port, or 0 to turn worker metrics off\n`);
      process.exit(78);
    })
  : undefined;
// After the configuration checks: a process that refuses to start says only why.
warnWhenUnencrypted(config, log);
const address = temporalOptions.address;
// An engine that is down (or still starting) at boot is waited for, not a reason to exit: the
// worker polls as soon as it answers, as it does after an outage mid-run.
const { connection, worker, temporal } = await untilEngineAnswers(async () => {
  const connection = await NativeConnection.connect(temporalOptions);
  try {
    const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors: temporalClientInterceptors() });
    const worker = await createWorker({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      deps: activityDeps(config, database.db, log, temporal),
      shutdownGraceSeconds: workerShutdownGraceSeconds(config.SHUTDOWN_TIMEOUT_SECONDS),
      deliveryMaxConcurrentActivities: config.DELIVERY_MAX_CONCURRENT_ACTIVITIES,
      maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
      ...(config.WORKFLOW_BUNDLE_PATH ? { workflowBundle: { codePath: config.WORKFLOW_BUNDLE_PATH } } : {}),
    });
    return { connection, worker, temporal };
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
});

started.worker = worker;
const running = worker.run();
log.info(
  {
    address,
    connection: describeConnection(temporalOptions),
    tracing,
    namespace: config.TEMPORAL_NAMESPACE,
    task_queue: config.TEMPORAL_TASK_QUEUE,
    deliveries_task_queue: deliveriesTaskQueue(config.TEMPORAL_TASK_QUEUE),
  },
  'worker running',
);
// Idempotent: every worker converges the `retention-purge` schedule on its settings.
await scheduleRetention(temporal, config, log);
// Starts the workflow of any run whose API died between accepting it and starting it.
const reconciler = startRunReconciler(
  { db: database.db, temporal, taskQueue: config.TEMPORAL_TASK_QUEUE, log },
  { intervalMs: config.RUN_RECONCILE_INTERVAL_SECONDS * 1000, minAgeMs: config.RUN_RECONCILE_MIN_AGE_SECONDS * 1000 },
);

onShutdown(config, log, async () => {
  await reconciler.stop();
  worker.shutdown(); // stop polling, let in-flight activities finish within the grace time
  await running;
  metricsServer?.close();
  await connection.close();
  await database.close();
  await stopTracing();
});

running.catch(async (err) => {
  log.fatal({ err }, 'worker stopped with an error');
  await database.close().catch(() => undefined);
  process.exit(1);
});

async function untilEngineAnswers<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      // A refused TLS handshake, a bad namespace or task queue setting is not an outage: say so and stop.
      exitOnTlsFailure(err, temporalOptions);
      if (!isUnavailable(err)) throw err;
      const delayMs = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
      log.warn({ err: (err as Error).message, address, attempt, retry_in_ms: delayMs }, 'Temporal is not answering yet; waiting to start the worker');
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

/** Core reports an unreachable frontend as gRPC `Unavailable` (also inside "Namespace … could not be described"). */
function isUnavailable(err: unknown): boolean {
  return /code: Unavailable|tcp connect error|Connection refused/i.test((err as Error)?.message ?? '');
}
