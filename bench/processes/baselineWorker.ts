import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { parseConfig } from '../../src/config.js';
import { temporalConnectionOptions } from '../../src/temporal/connection.js';
import type { NoopActivities } from '../temporal/workflows.js';

/**
 * Baseline (a)'s worker, a process of its own like `npm run worker`: the bench's no-op
 * workflow and activity on their own task queue, SDK defaults otherwise (the app's worker
 * only adds a shutdown grace time). Env: TEMPORAL_ADDRESS (and TEMPORAL_TLS_*, TEMPORAL_API_KEY like the app), BENCH_TASK_QUEUE,
 * BENCH_WORKFLOW_BUNDLE_PATH.
 */
const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const taskQueue = process.env.BENCH_TASK_QUEUE ?? 'bench-noop';

Runtime.install({ logger: new DefaultLogger('WARN') });
// The bench prebuilds the bundle (BENCH_WORKFLOW_BUNDLE_PATH), as the app's worker gets its own
// from the build; run by hand, the worker bundles the sources (.ts under tsx, .js compiled).
const prebuilt = process.env.BENCH_WORKFLOW_BUNDLE_PATH;
const workflowBundle = prebuilt
  ? { codePath: prebuilt }
  : await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL(`../temporal/workflows.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url)),
      logger: new DefaultLogger('WARN'),
    });
const connection = await NativeConnection.connect(temporalConnectionOptions(parseConfig(process.env), address));
const activities: NoopActivities = { noop: async () => undefined };
const worker = await Worker.create({ connection, namespace: 'default', taskQueue, workflowBundle, activities });
process.stdout.write(`bench worker running on ${taskQueue}\n`);
await worker.run(); // SIGINT/SIGTERM (the Runtime's default shutdown signals) end it
await connection.close();
