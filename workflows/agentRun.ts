import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  isCancellation,
  patched,
  setHandler,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { runOutcomeUpdate, type RunOutcome } from './definitions.js';
import { callbackWorkflowId } from './ids.js';
import { runCallback } from './runCallback.js';
import { waitForRunSlot } from './runQueue.js';
import { RunStatusKey } from './searchAttributes.js';
import { deliveriesTaskQueue } from './taskQueues.js';

export interface AgentRunInput {
  runId: string;
  /** Accepted as `queued` under a concurrency limit: wait for a slot first (workflows/runQueue.ts). */
  queued?: boolean;
}

export interface AgentRunResult {
  runId: string;
  status: 'completed';
  credits_used: number;
}

// Bookkeeping is quick DB work (milliseconds): a short timeout lets a killed worker's attempt
// be retried soon; transient failures (a DB restart) are retried for a long time.
const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

// The two steps on the synchronous path run as local activities: in the worker that runs the
// workflow task, without a round trip through the server each (the sync webhook's latency).
// Both are idempotent, so a worker dying mid-way simply re-runs them on the next one.
const inline = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

// The agent may think for minutes; heartbeats let Temporal notice a dead worker in seconds.
// Provider errors (429, 5xx, network) are retried with backoff; 4xx are non-retryable.
const agent = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '5 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
});

type Ending = { status: 'failed' | 'cancelled' | 'timed_out'; detail: string | null };

/**
 * One agent run, workflow id `run-<runId>`: start → agent (bounded by the agent's
 * run_timeout_seconds, cancellable) → charge and store the reply → callback. Every terminal
 * state is recorded, announced and called back; operators see it as RunStatus.
 */
export async function agentRun({ runId, queued }: AgentRunInput): Promise<AgentRunResult> {
  let outcome: RunOutcome | undefined;
  setHandler(runOutcomeUpdate, async () => {
    await condition(() => outcome !== undefined);
    return outcome!;
  });

  // Over a concurrency limit: wait for a slot; a run cancelled while queued ends here, uncharged.
  if (queued && patched('run-queue')) {
    const ended = await waitForRunSlot(runId);
    if (ended) {
      outcome = ended.outcome;
      await condition(allHandlersFinished);
      throw ended.cancellation;
    }
  }

  // Not cancellable: a cancel that arrives with the start (a run cancelled before it began) must
  // still reach the ending below, which records it and releases the run's credit hold
  // (patched: older histories cancelled here replay as they ran).
  const markStarted = () => inline.startRun.executeWithOptions({ summary: 'mark started, store the user message' }, [runId]);
  const plan = await (patched('start-not-cancellable') ? CancellationScope.nonCancellable(markStarted) : markStarted());
  setCurrentDetails('The agent is working on the message');
  // Announcing the start does not hold up the agent; it is awaited before any later announcement.
  // Not cancellable: a cancelled run still announces that it started, then that it was cancelled.
  const announcedStart = CancellationScope.nonCancellable(() =>
    bookkeeping.announceStart.executeWithOptions({ summary: 'announce the start' }, [runId]),
  ).catch(() => undefined); // only a vanished run fails for good, and then there is nothing to announce

  let timedOut = false;
  const agentScope = new CancellationScope();
  const deadlineScope = new CancellationScope();
  // The deadline cancels only the agent's scope; an external cancel reaches both.
  deadlineScope
    .run(() => sleep(plan.timeoutSeconds * 1000))
    .then(() => {
      timedOut = true;
      agentScope.cancel();
    })
    .catch(() => undefined);
  // Once the agent has answered or failed the deadline is moot: cancel its timer, so a finished
  // run does not show a timer still waiting in the Web UI (patched: older histories lack it).
  const dropDeadline = () => {
    if (!timedOut && patched('cancel-run-deadline')) deadlineScope.cancel();
  };

  let ending: Ending;
  let cancellation: unknown;
  try {
    const reply = await agentScope.run(() => agent.runAgent.executeWithOptions({ summary: 'run the agent' }, [runId])).finally(dropDeadline);
    // Once the agent has answered, the charge, the reply and their announcement happen even if
    // a cancel arrives now: the run is complete.
    const credits = await CancellationScope.nonCancellable(async () => {
      const charged = await inline.completeRun.executeWithOptions({ summary: 'charge credits, store the reply' }, [runId, reply]);
      outcome = { status: 'completed', credits_used: charged, detail: null, result: reply.text };
      await announcedStart;
      await bookkeeping.announceCompletion.executeWithOptions({ summary: 'announce the reply and completion' }, [runId, reply.actions]);
      await finish(runId, 'completed', plan.hasCallback, plan.callbackAttempts);
      await condition(allHandlersFinished);
      return charged;
    });
    return { runId, status: 'completed', credits_used: credits };
  } catch (err) {
    if (timedOut) ending = { status: 'timed_out', detail: `no answer within ${plan.timeoutSeconds} seconds` };
    else if (isCancellation(err)) {
      cancellation = err;
      ending = { status: 'cancelled', detail: 'cancelled on request' };
    } else ending = { status: 'failed', detail: describeFailure(err) };
  }

  await CancellationScope.nonCancellable(async () => {
    await announcedStart;
    await bookkeeping.endRun.executeWithOptions({ summary: `record ${ending.status}` }, [runId, ending.status, ending.detail]);
    outcome = { status: ending.status, credits_used: 0, detail: ending.detail, result: null };
    await finish(runId, ending.status, plan.hasCallback, plan.callbackAttempts);
    await condition(allHandlersFinished);
  });
  // Rethrowing the cancellation closes the workflow as Canceled; other endings as Failed.
  if (cancellation) throw cancellation;
  throw ApplicationFailure.create({ type: ending.status === 'timed_out' ? 'RunTimedOut' : 'RunFailed', message: ending.detail ?? ending.status, nonRetryable: true });
}

async function finish(runId: string, status: string, hasCallback: boolean, callbackAttempts: number): Promise<void> {
  upsertSearchAttributes([{ key: RunStatusKey, value: status }]);
  setCurrentDetails(`Run ${status}`);
  if (!hasCallback) return;
  // The callback keeps retrying on its own schedule (possibly for hours); the run is over.
  await startChild(runCallback, {
    workflowId: callbackWorkflowId(runId),
    taskQueue: deliveriesTaskQueue(workflowInfo().taskQueue),
    args: [{ runId, maxAttempts: callbackAttempts }],
    parentClosePolicy: ParentClosePolicy.ABANDON,
    staticSummary: `Callback of run ${runId} (${status})`,
  });
}

function describeFailure(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  if (err instanceof ApplicationFailure) return err.message;
  return 'agent run failed';
}
