import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, bundleWorkflowCode } from '@temporalio/worker';
import { loadConfigOrExit } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { createLogger } from '../../src/logger.js';
import { requireDatabaseUrl } from '../../src/process.js';
import { activityDeps } from '../../src/temporal/activityDeps.js';
import { createWorker, installRuntime } from '../../src/temporal/worker.js';

/**
 * src/worker.ts for experiments: the same activities, dependencies and worker options, but
 * the workflows bundled from bench/experiments/<BENCH_WORKFLOWS>.ts (control | localPlanning).
 */
const config = loadConfigOrExit();
const log = createLogger(config.LOG_LEVEL, 'worker');
installRuntime(log);
const variant = process.env.BENCH_WORKFLOWS ?? 'control';
const workflowBundle = await bundleWorkflowCode({
  workflowsPath: fileURLToPath(new URL(`./${variant}.ts`, import.meta.url)),
  logger: new DefaultLogger('WARN'),
});
const database = await openDatabase({ url: requireDatabaseUrl(config, 'the experiment worker'), poolSize: config.DATABASE_POOL_SIZE });
const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS ?? 'localhost:7233' });
const worker = await createWorker({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
  deps: activityDeps(config, database.db, log, new Client({ connection, namespace: config.TEMPORAL_NAMESPACE })),
  workflowBundle,
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.shutdown());
process.stdout.write(`experiment worker (${variant}) running on ${config.TEMPORAL_TASK_QUEUE}\n`);
await worker.run();
await connection.close();
await database.close();
