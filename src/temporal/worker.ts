import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode, type LogLevel, type WorkflowBundleOption, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities/index.js';
import type { Logger } from '../logger.js';
import { countedActivities } from '../metrics.js';
import { temporalWorkerTracing, workflowInterceptorModule } from '../telemetry.js';
import { deliveriesTaskQueue } from '../../workflows/taskQueues.js';

// Sources under tsx (dev, tests); compiled JavaScript under dist/ (npm run build, the image).
export const workflowsPath = fileURLToPath(new URL(`../../workflows/index.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));

let runtimeInstalled = false;

/** Routes the SDK's own logs into ours. The Core runtime may be installed once per process. */
export function installRuntime(log: Logger, options: { sdkMetricsAddress?: string } = {}): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (log.level === 'debug' || log.level === 'trace' ? 'INFO' : 'WARN') as LogLevel;
  const logger = new DefaultLogger(level, (entry) => {
    const fields = { ...entry.meta, sdk: true };
    if (entry.level === 'ERROR') log.error(fields, entry.message);
    else if (entry.level === 'WARN') log.warn(fields, entry.message);
    else log.info(fields, entry.message);
  });
  // Composition roots own signals, so the worker drains in order with the API and the DB.
  const base = { shutdownSignals: [] as NodeJS.Signals[], logger };
  if (!options.sdkMetricsAddress) {
    Runtime.install(base);
    return;
  }
  try {
    Runtime.install({
      ...base,
      telemetryOptions: { metrics: { prometheus: { bindAddress: options.sdkMetricsAddress, countersTotalSuffix: false /* Core's counters already end in _total where they should */ } } },
    });
  } catch (err) {
    // A taken port costs the SDK's metrics, not the worker.
    log.warn({ err, address: options.sdkMetricsAddress }, 'Temporal SDK metrics exporter unavailable; running without it');
    Runtime.install(base);
  }
}

/** Bundling takes a second or two; tests and the dev stack do it once and share it. */
export async function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  // The OpenTelemetry workflow interceptor is always bundled: inert unless the worker traces.
  return bundleWorkflowCode({ workflowsPath, workflowInterceptorModules: [workflowInterceptorModule], logger: new DefaultLogger('WARN') });
}

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** The main task queue (agent runs); deliveries and callbacks poll `<taskQueue>-deliveries`. */
  taskQueue: string;
  deps: ActivityDeps;
  workflowBundle?: WorkflowBundleOption;
  /** How long in-flight activities may run on after shutdown starts; default 10 s. */
  shutdownGraceSeconds?: number;
  /** Concurrent activities of the deliveries task queue (DELIVERY_MAX_CONCURRENT_ACTIVITIES). */
  deliveryMaxConcurrentActivities?: number;
  /** Sticky-cache size of each of the two workers (WORKER_MAX_CACHED_WORKFLOWS); unset = the SDK's heap-based default. */
  maxCachedWorkflows?: number;
}

/**
 * The worker's drain fits inside SHUTDOWN_TIMEOUT_SECONDS (after which the process exits
 * anyway): the grace leaves 5 s (or half, for short timeouts) to close connections and the pool.
 */
export function workerShutdownGraceSeconds(shutdownTimeoutSeconds: number): number {
  return shutdownTimeoutSeconds > 10 ? shutdownTimeoutSeconds - 5 : Math.max(1, Math.floor(shutdownTimeoutSeconds / 2));
}

/** The workers of one process, run and shut down together. */
export interface WorkerSet {
  /** [main, deliveries] */
  readonly workers: readonly Worker[];
  run(): Promise<void>;
  shutdown(): void;
}

/**
 * Two workers in one process: the main task queue runs agent runs with the SDK's slot budget;
 * `<taskQueue>-deliveries` runs event deliveries, redeliveries and run callbacks with a budget
 * of its own, so receivers that hang (one tenant's) can fill only the deliveries slots and never
 * delay another tenant's agent runs. Both register every workflow and activity: a workflow's
 * activities run on its own queue.
 */
export async function createWorker(options: WorkerOptions): Promise<WorkerSet> {
  // Bundle once for both workers (the bundle always carries the tracing interceptor, inert when off).
  const workflowBundle = options.workflowBundle ?? (await bundleWorkflows());
  const activities = countedActivities(createActivities(options.deps));
  const tracing = temporalWorkerTracing();
  const common = {
    connection: options.connection,
    namespace: options.namespace,
    workflowBundle,
    interceptors: tracing.interceptors,
    sinks: tracing.sinks,
    activities,
    // Drain in-flight activities on shutdown instead of abandoning them to a timeout.
    shutdownGraceTime: `${options.shutdownGraceSeconds ?? 10} seconds`,
    ...(options.maxCachedWorkflows ? { maxCachedWorkflows: options.maxCachedWorkflows } : {}),
  };
  const main = await Worker.create({ ...common, taskQueue: options.taskQueue });
  const deliveries = await Worker.create({
    ...common,
    taskQueue: deliveriesTaskQueue(options.taskQueue),
    ...(options.deliveryMaxConcurrentActivities ? { maxConcurrentActivityTaskExecutions: options.deliveryMaxConcurrentActivities } : {}),
  });
  const workers = [main, deliveries] as const;
  return {
    workers,
    async run() {
      // If one stops with an error, stop the other too, then report the error.
      const results = workers.map((w) => w.run());
      try {
        await Promise.race(results.map((r) => r.then(() => undefined)));
      } catch (err) {
        for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
        await Promise.allSettled(results);
        throw err;
      }
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.all(results);
    },
    shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}
