import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  condition,
  isCancellation,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { RunOutcome } from './definitions.js';
import { callbackWorkflowId } from './ids.js';
import { runCallback } from './runCallback.js';
import { runAdmittedSignal } from './runQueueSignal.js';
import { RunStatusKey } from './searchAttributes.js';
import { deliveriesTaskQueue } from './taskQueues.js';

// One short transaction each, in the worker running the workflow task.
const admission = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** The run ended while it waited (cancelled): what the run's workflow reports and rethrows. */
export interface EndedInQueue {
  outcome: RunOutcome;
  cancellation: unknown;
}

/**
 * A queued run waits here for a slot under its agent's / org's max_concurrent_runs. The slot
 * is taken in the database (src/db/runQueue.ts: arrival order, one advisory lock per org), so
 * it holds across API and worker processes and survives any of them dying; the wait is a
 * workflow timer (no worker slot), cut short by the runAdmitted signal when another run's
 * admission took this one in. The runs next in line check every second; the rest less often
 * (they are signalled when admitted, and poll only as a fallback). Returns null once admitted; an EndedInQueue when the run
 * was cancelled while queued (cancelled, hold released, nothing charged, called back).
 */
export async function waitForRunSlot(runId: string): Promise<EndedInQueue | null> {
  let signalled = false;
  setHandler(runAdmittedSignal, () => {
    signalled = true;
  });
  try {
    for (let polls = 0; ; polls++) {
      // Cleared before asking, so a signal that arrives while the admission runs is not lost.
      signalled = false;
      const state = await admission.admitRun.executeWithOptions({ summary: 'take a slot if one is free' }, [runId]);
      if (state.state === 'admitted') break;
      if (state.state === 'ended') {
        const detail = `the run left the queue as ${state.status}`;
        const failure = ApplicationFailure.create({ type: 'RunEnded', message: detail, nonRetryable: true });
        return { outcome: { status: state.status === 'cancelled' ? 'cancelled' : 'failed', credits_used: 0, detail, result: null }, cancellation: failure };
      }
      setCurrentDetails(`Queued: position ${state.position}, waiting for a concurrency slot`);
      // The runs next in line notice a freed slot within a second; the rest are signalled when an
      // admission takes them in and poll only as a fallback, ever less often, so a run queued for
      // hours keeps a short history.
      const pollMs = state.position <= 3 ? 1_000 : Math.min(60_000, 2_000 + polls * 1_000);
      await condition(() => signalled, pollMs);
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    const ended = await CancellationScope.nonCancellable(() => admission.cancelQueuedRun.executeWithOptions({ summary: 'cancel while queued' }, [runId]));
    // Admitted just before the cancel: the run's own path records the cancellation.
    if (!ended.cancelled) return null;
    await CancellationScope.nonCancellable(async () => {
      upsertSearchAttributes([{ key: RunStatusKey, value: 'cancelled' }]);
      setCurrentDetails('Run cancelled while queued');
      if (ended.hasCallback) {
        await startChild(runCallback, {
          workflowId: callbackWorkflowId(runId),
          taskQueue: deliveriesTaskQueue(workflowInfo().taskQueue),
          args: [{ runId, maxAttempts: ended.callbackAttempts }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          staticSummary: `Callback of run ${runId} (cancelled while queued)`,
        });
      }
    });
    return { outcome: { status: 'cancelled', credits_used: 0, detail: 'cancelled on request while queued', result: null }, cancellation: err };
  }
  upsertSearchAttributes([{ key: RunStatusKey, value: 'processing' }]);
  return null;
}
