import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  TimeoutFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { RunPlan } from '../activities/runs.js';
import { agentRunV1 } from './agentRunV1.js';
import { runOutcomeUpdate, type RunOutcome } from './definitions.js';
import { closeRun, describeFailure, showRunStatus, type AgentRunResult, type Ending, type RunState } from './runEnding.js';
import { waitForRunSlot } from './runQueue.js';

export type { AgentRunResult } from './runEnding.js';

export interface AgentRunInput {
  runId: string;
  /** Accepted as `queued` under a concurrency limit: wait for a slot first (workflows/runQueue.ts). */
  queued?: boolean;
  /**
   * 2: started in the two-task shape, so the workflow need not ask patched('run-in-two-tasks')
   * (each patched() call records a marker and a TemporalChangeVersion search-attribute upsert,
   * a visibility write, in every run). Absent in runs started before the field existed.
   */
  shape?: 2 | 3;
  /**
   * Shape 3 (the one-activity shape): the run's deadline, its agent's run_timeout_seconds when
   * the run was accepted. Runs started with shape 2 read it in their first step instead.
   */
  timeoutSeconds?: number;
  /**
   * Started by a cancel of a run no workflow had started (its API died before starting it): the
   * cancellation is recorded without running the agent (shape 3 only).
   */
  cancelRequested?: true;
}

/**
 * What every start of an agentRun passes (the API's, the reconciler's, a schedule firing's):
 * with the run's deadline known, the one-activity shape; without it (a firing recorded before
 * the deadline was part of it), the two-task shape.
 */
export function agentRunInput(runId: string, queued = false, timeoutSeconds?: number, cancelRequested = false): AgentRunInput {
  const input: AgentRunInput = queued ? { runId, queued: true } : { runId };
  if (timeoutSeconds === undefined) return { ...input, shape: 2 };
  return { ...input, shape: 3, timeoutSeconds, ...(cancelRequested ? { cancelRequested: true as const } : {}) };
}

// The bookkeeping is quick, idempotent DB work: local activities, in the worker that runs the
// workflow task, without a round trip through the server each. A worker dying mid-way simply
// re-runs them on the next one; transient failures (a DB restart) are retried for a long time.
const bookkeeping = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * The agent may think for minutes; heartbeats let Temporal notice a dead worker in seconds.
 * Provider errors (429, 5xx, network) are retried with backoff; 4xx are non-retryable. The
 * run's deadline (the agent's run_timeout_seconds) is the activity's schedule-to-close
 * timeout: it bounds queueing, every attempt and every backoff, and Temporal enforces it
 * without a timer of ours. A worker's death also costs an attempt (its heartbeat times out),
 * so the budget is 10, not 5: five crash-looping worker incarnations in a row (the chaos
 * suite's kills, on a slow machine) failed runs that no provider had refused. 10 attempts
 * spend ≈ 2.5 min in backoff, within the default 300 s deadline.
 */
const agentWithin = (timeoutSeconds: number) =>
  proxyActivities<Activities>({
    scheduleToCloseTimeout: timeoutSeconds * 1000,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '5 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
  });

/**
 * One agent run, workflow id `run-<runId>`: begin (mark started, store the message, announce
 * the start) → the agent (bounded by the agent's run_timeout_seconds, cancellable) → charge,
 * store and announce the reply, or record the other ending → callback. Started with the run's
 * deadline (shape 3), all of it but the other endings is one activity (`runInOneActivity`);
 * runs started with shape 2 do it in two workflow tasks around local activities (below).
 * Every terminal state is recorded, announced and called back; operators see it as RunStatus.
 * A run accepted `queued` under a concurrency limit first waits for its slot (workflows/runQueue.ts).
 */
export async function agentRun({ runId, queued, shape, timeoutSeconds, cancelRequested }: AgentRunInput): Promise<AgentRunResult> {
  const state: RunState = { outcome: undefined };
  setHandler(runOutcomeUpdate, async () => {
    await condition(() => state.outcome !== undefined);
    return state.outcome!;
  });
  // Runs started before the two-task shape replay through the frozen earlier one; runs started
  // since say so in their input (shape 2, or 3 for one activity) and record no patch marker.
  if (shape !== 2 && shape !== 3 && !patched('run-in-two-tasks')) return agentRunV1(runId, state);

  if (shape === 3 && cancelRequested) {
    const { outcome, plan } = await bookkeeping.recordEnding.executeWithOptions({ summary: 'record cancelled' }, [runId, 'cancelled', 'cancelled on request']);
    return closeAndReport(runId, outcome, plan, state, undefined);
  }

  // Over a concurrency limit: wait for a slot; a run cancelled while queued ends here, uncharged.
  if (queued) {
    const ended = await waitForRunSlot(runId);
    if (ended) {
      state.outcome = ended.outcome;
      await condition(allHandlersFinished);
      throw ended.cancellation;
    }
  }

  if (shape === 3 && timeoutSeconds !== undefined) return runInOneActivity(runId, timeoutSeconds, state);

  // Not cancellable: a cancel that arrives with the start (a run cancelled before it began) must
  // still see the start recorded and announced, then reach the ending below, which records the
  // cancellation and releases the run's credit hold.
  const plan = await CancellationScope.nonCancellable(() =>
    bookkeeping.startRunAndAnnounce.executeWithOptions({ summary: 'mark started, store the message, announce the start' }, [runId]),
  );
  setCurrentDetails('The agent is working on the message');

  // Whichever way the run ends, the ending stored first is the one reported: the bookkeeping is
  // local, so a workflow task retried because an event arrived meanwhile (a cancel, the agent's
  // late answer) runs it again and may decide differently; the database keeps the first.
  let stored: RunOutcome;
  let cancellation: unknown;
  try {
    const reply = await agentWithin(plan.timeoutSeconds).runAgent.executeWithOptions({ summary: 'run the agent' }, [runId]);
    // Once the agent has answered, the charge, the reply and their announcement happen even if
    // a cancel arrives now: the run is complete.
    stored = await CancellationScope.nonCancellable(() =>
      bookkeeping.completeRunAndAnnounce.executeWithOptions({ summary: 'charge credits, store and announce the reply' }, [runId, reply]),
    );
  } catch (err) {
    let ending: Ending;
    if (missedDeadline(err)) ending = { status: 'timed_out', detail: `no answer within ${plan.timeoutSeconds} seconds` };
    else if (isCancellation(err)) {
      cancellation = err;
      ending = { status: 'cancelled', detail: 'cancelled on request' };
    } else ending = { status: 'failed', detail: describeFailure(err) };
    stored = await CancellationScope.nonCancellable(() =>
      bookkeeping.endRun.executeWithOptions({ summary: `record ${ending.status}` }, [runId, ending.status, ending.detail]),
    );
  }

  return closeAndReport(runId, stored, plan, state, cancellation);
}

/**
 * The one-activity shape (3): begin, the agent, and the charge with the reply are one activity,
 * `runToEnd`, so a completed run takes two workflow tasks and no local activity: the history
 * of the minimal one-activity workflow plus RunStatus. Its deadline is the activity's
 * schedule-to-close timeout, as in the two-task shape. Any other ending (the agent failed, the
 * deadline passed, a cancel, including one before the activity began) is recorded by the local
 * activity `recordEnding`, which first records the start if no attempt did, so every ending
 * follows its start and the run's credit hold is released. A cancel is recorded at once, as in
 * the two-task shape; the activity hears of it at its next heartbeat. Both endings are written
 * on the run's locked row and the first one stored wins: a cancel arriving while the reply is
 * being stored waits for it and reports the run completed; a reply that comes after a stored
 * cancel is neither stored nor charged.
 */
async function runInOneActivity(runId: string, timeoutSeconds: number, state: RunState): Promise<AgentRunResult> {
  let stored: RunOutcome;
  let plan: Pick<RunPlan, 'hasCallback' | 'callbackAttempts'>;
  let cancellation: unknown;
  try {
    ({ outcome: stored, plan } = await agentWithin(timeoutSeconds).runToEnd.executeWithOptions(
      { summary: 'mark started, run the agent, charge credits, store and announce the reply' },
      [runId],
    ));
  } catch (err) {
    let ending: Ending;
    if (missedDeadline(err)) ending = { status: 'timed_out', detail: `no answer within ${timeoutSeconds} seconds` };
    else if (isCancellation(err)) {
      cancellation = err;
      ending = { status: 'cancelled', detail: 'cancelled on request' };
    } else ending = { status: 'failed', detail: describeFailure(err) };
    ({ outcome: stored, plan } = await CancellationScope.nonCancellable(() =>
      bookkeeping.recordEnding.executeWithOptions({ summary: `record ${ending.status}` }, [runId, ending.status, ending.detail]),
    ));
  }
  return closeAndReport(runId, stored, plan, state, cancellation);
}

/** Reports the ending stored first: the update's answer, RunStatus and callback, then how the workflow closes. */
async function closeAndReport(
  runId: string,
  stored: RunOutcome,
  plan: Pick<RunPlan, 'hasCallback' | 'callbackAttempts'>,
  state: RunState,
  cancellation: unknown,
): Promise<AgentRunResult> {
  // The update's answer goes out with the workflow task that recorded the ending.
  state.outcome = stored;
  // With no callback to start and no update waiting (an async run), nothing is awaited: the
  // same commands without a cancellation scope and the promises around it, which every run's
  // workflow thread pays for (the SDK records a stack trace per promise).
  if (!plan.hasCallback && allHandlersFinished()) showRunStatus(stored.status);
  else {
    await CancellationScope.nonCancellable(async () => {
      await closeRun(runId, stored.status, plan);
      await condition(allHandlersFinished);
    });
  }
  if (stored.status === 'completed') return { runId, status: 'completed', credits_used: stored.credits_used };
  // A cancellation closes the workflow as Canceled; other endings as Failed.
  if (stored.status === 'cancelled') throw cancellation ?? new CancelledFailure(stored.detail ?? 'cancelled on request');
  throw ApplicationFailure.create({ type: stored.status === 'timed_out' ? 'RunTimedOut' : 'RunFailed', message: stored.detail ?? stored.status, nonRetryable: true });
}

/**
 * The agent's schedule-to-close timeout fired, or Temporal gave up retrying because the next
 * attempt would start after it: either way the run had no answer within its deadline.
 */
function missedDeadline(err: unknown): boolean {
  if (!(err instanceof ActivityFailure)) return false;
  if (err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_CLOSE') return true;
  return err.retryState === 'TIMEOUT';
}
