import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfigOrExit } from './config.js';
import { openDatabase } from './db/connect.js';
import { createLogger } from './logger.js';
import { sdkMetricsAddress, startMetricsServer } from './metricsServer.js';
import { onShutdown, requireDatabaseUrl } from './process.js';
import { activityDeps } from './temporal/activityDeps.js';
import { createWorker, installRuntime } from './temporal/worker.js';

/** `npm run worker`: runs workflows and activities against external Postgres and Temporal. */
const config = loadConfigOrExit();
const databaseUrl = requireDatabaseUrl(config, 'npm run worker');
const log = createLogger(config.LOG_LEVEL, 'worker');
installRuntime(log, config.METRICS_PORT ? { sdkMetricsAddress: sdkMetricsAddress(config.METRICS_PORT) } : {});
const database = await openDatabase({ url: databaseUrl, poolSize: config.DATABASE_POOL_SIZE });
const address = config.TEMPORAL_ADDRESS ?? 'localhost:7233';
const connection = await NativeConnection.connect({ address });
const worker = await createWorker({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
  deps: activityDeps(config, database.db, log, new Client({ connection, namespace: config.TEMPORAL_NAMESPACE })),
});

const metricsServer = config.METRICS_PORT ? await startMetricsServer(config.METRICS_PORT, log) : undefined;
const running = worker.run();
log.info({ address, namespace: config.TEMPORAL_NAMESPACE, task_queue: config.TEMPORAL_TASK_QUEUE }, 'worker running');

onShutdown(config, log, async () => {
  worker.shutdown(); // stop polling, let in-flight activities finish within the grace time
  await running;
  metricsServer?.close();
  await connection.close();
  await database.close();
});

running.catch(async (err) => {
  log.fatal({ err }, 'worker stopped with an error');
  await database.close().catch(() => undefined);
  process.exit(1);
});
