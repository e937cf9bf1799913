import { ActivityFailure, ApplicationFailure, ParentClosePolicy, setCurrentDetails, startChild, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { RunPlan } from '../activities/runs.js';
import type { RunOutcome } from './definitions.js';
import { callbackWorkflowId } from './ids.js';
import { runCallback } from './runCallback.js';
import { RunStatusKey } from './searchAttributes.js';
import { deliveriesTaskQueue } from './taskQueues.js';

export interface AgentRunResult {
  runId: string;
  status: 'completed';
  credits_used: number;
}

export type Ending = { status: 'failed' | 'cancelled' | 'timed_out'; detail: string | null };

/** What the `runOutcome` update handler waits for. */
export interface RunState {
  outcome: RunOutcome | undefined;
}

/**
 * The last steps of every ending: RunStatus for operators (one search-attribute upsert) and,
 * when the run has a callback_url, the callback as an abandoned child on the deliveries queue.
 */
export async function closeRun(runId: string, status: string, plan: Pick<RunPlan, 'hasCallback' | 'callbackAttempts'>): Promise<void> {
  showRunStatus(status);
  if (!plan.hasCallback) return;
  // The callback keeps retrying on its own schedule (possibly for hours); the run is over.
  await startChild(runCallback, {
    workflowId: callbackWorkflowId(runId),
    taskQueue: deliveriesTaskQueue(workflowInfo().taskQueue),
    args: [{ runId, maxAttempts: plan.callbackAttempts }],
    parentClosePolicy: ParentClosePolicy.ABANDON,
    staticSummary: `Callback of run ${runId} (${status})`,
  });
}

/** RunStatus for operators (one search-attribute upsert) and the workflow's current details. */
export function showRunStatus(status: string): void {
  upsertSearchAttributes([{ key: RunStatusKey, value: status }]);
  setCurrentDetails(`Run ${status}`);
}

export function describeFailure(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  if (err instanceof ApplicationFailure) return err.message;
  return 'agent run failed';
}
