import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode, type LogLevel, type WorkflowBundleOption, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities/index.js';
import type { Logger } from '../logger.js';
import { countedActivities } from '../metrics.js';
import { temporalWorkerTracing, workflowInterceptorModule } from '../telemetry.js';

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
  taskQueue: string;
  deps: ActivityDeps;
  workflowBundle?: WorkflowBundleOption;
  /** How long in-flight activities may run on after shutdown starts; default 10 s. */
  shutdownGraceSeconds?: number;
}

/**
 * The worker's drain fits inside SHUTDOWN_TIMEOUT_SECONDS (after which the process exits
 * anyway): the grace leaves 5 s (or half, for short timeouts) to close connections and the pool.
 */
export function workerShutdownGraceSeconds(shutdownTimeoutSeconds: number): number {
  return shutdownTimeoutSeconds > 10 ? shutdownTimeoutSeconds - 5 : Math.max(1, Math.floor(shutdownTimeoutSeconds / 2));
}

export async function createWorker(options: WorkerOptions): Promise<Worker> {
  const tracing = temporalWorkerTracing();
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle, interceptors: tracing.interceptors }
      : { workflowsPath, interceptors: { ...tracing.interceptors, workflowModules: [workflowInterceptorModule] } }),
    sinks: tracing.sinks,
    activities: countedActivities(createActivities(options.deps)),
    // Drain in-flight activities on shutdown instead of abandoning them to a timeout.
    shutdownGraceTime: `${options.shutdownGraceSeconds ?? 10} seconds`,
  });
}
