import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { parseConfig } from '../../src/config.js';
import { temporalConnectionOptions } from '../../src/temporal/connection.js';
import type { NoopActivities } from '../temporal/workflows.js';

/**
 * Baseline (a)'s worker, a process of its own like `npm run worker`: the bench's no-op
 * workflow and activity on their own task queue, SDK defaults otherwise (the app's worker
 * only adds a shutdown grace time). Env: TEMPORAL_ADDRESS (and TEMPORAL_TLS_*, TEMPORAL_API_KEY like the app), BENCH_TASK_QUEUE.
 */
const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const taskQueue = process.env.BENCH_TASK_QUEUE ?? 'bench-noop';

Runtime.install({ logger: new DefaultLogger('WARN') });
const workflowBundle = await bundleWorkflowCode({
  workflowsPath: fileURLToPath(new URL('../temporal/workflows.ts', import.meta.url)),
  logger: new DefaultLogger('WARN'),
});
const connection = await NativeConnection.connect(temporalConnectionOptions(parseConfig(process.env), address));
const activities: NoopActivities = { noop: async () => undefined };
const worker = await Worker.create({ connection, namespace: 'default', taskQueue, workflowBundle, activities });
process.stdout.write(`bench worker running on ${taskQueue}\n`);
await worker.run(); // SIGINT/SIGTERM (the Runtime's default shutdown signals) end it
await connection.close();
