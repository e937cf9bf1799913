import { proxyActivities } from '@temporalio/workflow';

/**
 * Bench-only workflow for the raw-Temporal baseline: the least a durable run can be — one
 * workflow, one no-op activity, then done. Bundled by bench/processes/baselineWorker.ts.
 */
export interface NoopActivities {
  noop(): Promise<void>;
}

const { noop } = proxyActivities<NoopActivities>({ startToCloseTimeout: '30 seconds' });

export async function benchNoop(): Promise<void> {
  await noop();
}
