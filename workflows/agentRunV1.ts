import {
  CancellationScope,
  allHandlersFinished,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  sleep,
  ApplicationFailure,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { closeRun, describeFailure, type AgentRunResult, type Ending, type RunState } from './runEnding.js';

// Frozen: the shape of `agentRun` before it ran in two workflow tasks (five tasks, three
// activities, a deadline timer). Runs started before that change replay through this code, so
// it must issue exactly the commands it issued then; change nothing but comments here.

const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const inline = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const agent = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '5 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
});

/** `agentRun` as it ran before patch `run-in-two-tasks` (with its own patches `start-not-cancellable` and `cancel-run-deadline`). */
export async function agentRunV1(runId: string, state: RunState): Promise<AgentRunResult> {
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
      state.outcome = { status: 'completed', credits_used: charged, detail: null, result: reply.text };
      await announcedStart;
      await bookkeeping.announceCompletion.executeWithOptions({ summary: 'announce the reply and completion' }, [runId, reply.actions]);
      await closeRun(runId, 'completed', plan);
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
    state.outcome = { status: ending.status, credits_used: 0, detail: ending.detail, result: null };
    await closeRun(runId, ending.status, plan);
    await condition(allHandlersFinished);
  });
  // Rethrowing the cancellation closes the workflow as Canceled; other endings as Failed.
  if (cancellation) throw cancellation;
  throw ApplicationFailure.create({ type: ending.status === 'timed_out' ? 'RunTimedOut' : 'RunFailed', message: ending.detail ?? ending.status, nonRetryable: true });
}
