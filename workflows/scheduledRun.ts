import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ChildWorkflowFailure,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  executeChild,
  proxyLocalActivities,
  startChild,
  setCurrentDetails,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { agentRun, agentRunInput } from './agentRun.js';
import { callbackWorkflowId, runWorkflowId } from './ids.js';
import { runCallback } from './runCallback.js';
import { AgentIdKey, OrgIdKey, RunSourceKey, RunStatusKey } from './searchAttributes.js';
import { deliveriesTaskQueue } from './taskQueues.js';

export interface ScheduledRunInput {
  scheduleId: string;
}

export interface ScheduledRunResult {
  /** `ran`: the run was started and has ended; `refused`: recorded as failed (e.g. insufficient credits); `gone`: the schedule or its agent no longer exists. */
  outcome: 'ran' | 'refused' | 'gone';
  runId: string | null;
  status: string | null;
}

// Creating the run is a few rows in one transaction, idempotent by the firing's workflow id.
const inline = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * One firing of a schedule (started by its Temporal Schedule, id `scheduled-<scheduleId>-<time>`):
 * creates an ordinary run (source `schedule`, credits held) and runs it as the child `run-<runId>`,
 * so it is charged, evented and called back like any other. It waits for the run to end, which
 * is what lets the Schedule's overlap policy (skip, buffer one, allow all) see a slow run as
 * still running. An empty wallet leaves a failed run with the reason instead of nothing.
 */
export async function scheduledRun({ scheduleId }: ScheduledRunInput): Promise<ScheduledRunResult> {
  const firing = await inline.createScheduledRun.executeWithOptions({ summary: 'create the run (hold its credits)' }, [scheduleId, workflowInfo().workflowId]);
  if (firing.outcome !== 'created') {
    setCurrentDetails(firing.outcome === 'refused' ? `Run ${firing.runId} refused: ${firing.reason}` : 'The schedule or its agent is gone');
    // A refused run is an ending like any other: called back when the schedule has a callback_url.
    // (Firings recorded before refused runs kept the callback_url carry no callbackAttempts.)
    if (firing.outcome === 'refused' && firing.callbackAttempts) {
      await startChild(runCallback, {
        workflowId: callbackWorkflowId(firing.runId),
        taskQueue: deliveriesTaskQueue(workflowInfo().taskQueue),
        args: [{ runId: firing.runId, maxAttempts: firing.callbackAttempts }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `Callback of run ${firing.runId} (failed: refused)`,
      }).catch((err: unknown) => {
        // Started already (this firing was reset and ran again): the callback goes once.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      });
    }
    return { outcome: firing.outcome, runId: firing.runId, status: firing.outcome === 'refused' ? 'failed' : null };
  }
  const { runId } = firing;
  setCurrentDetails(`Running run ${runId}`);
  try {
    const result = await executeChild(agentRun, {
      workflowId: runWorkflowId(runId),
      taskQueue: workflowInfo().taskQueue,
      // Over a concurrency limit the run waits for its slot like any other queued run.
      args: [agentRunInput(runId, firing.queued, firing.timeoutSeconds)],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      // The run is the customer's: it goes on to its end (and callback) even if this firing is terminated.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: OrgIdKey, value: firing.orgId },
        { key: AgentIdKey, value: firing.agentId },
        { key: RunSourceKey, value: 'schedule' },
        { key: RunStatusKey, value: firing.queued ? 'queued' : 'processing' },
      ],
      staticSummary: firing.summary,
    });
    return { outcome: 'ran', runId, status: result.status };
  } catch (err) {
    // The run failed, timed out or was cancelled: recorded by the run itself; the firing is done.
    if (err instanceof ChildWorkflowFailure) return { outcome: 'ran', runId, status: 'ended' };
    // Started already by the run reconciler (this firing was slow to start it): it runs on its own.
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { outcome: 'ran', runId, status: null };
    throw err;
  }
}
