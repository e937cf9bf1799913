import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { agentRun, eventDelivery, recovery as recoveryWorkflow, redeliver as redeliverWorkflow, runCallback, runOutcomeUpdate, type RunOutcome } from '../../workflows/index.js';
import { agentRunInput } from '../../workflows/agentRun.js';
import { runAdmittedSignal } from '../../workflows/runQueueSignal.js';
import { callbackRetryWorkflowId, eventWorkflowId, recoveryWorkflowId, redeliverWorkflowId, runWorkflowId } from '../../workflows/ids.js';
import { AgentIdKey, EndpointIdKey, EventTypeKey, OrgIdKey, RunSourceKey, RunStatusKey } from '../../workflows/searchAttributes.js';
import { deliveriesTaskQueue } from '../../workflows/taskQueues.js';
import type { Agent, EventRow, Run } from '../db/schema.js';
import { AppError, serviceUnavailable } from '../errors.js';
import { EngineDeadlineExceeded, withinDeadline } from './deadline.js';

/**
 * The only way the API and the services reach Temporal. Every workflow is started by its
 * function (so its arguments are type-checked against the workflow's own signature), under an
 * id from workflows/ids.ts, and every call is bounded: with the engine down or frozen a caller
 * gets a prompt 503 problem (engineUnavailable), never a hung request.
 */
export interface Engine {
  temporal: Client;
  /** The main task queue (runs); deliveries go to its `deliveriesTaskQueue`. */
  taskQueue: string;
}

/** How long a call to start, cancel or find a workflow may take before the engine counts as unavailable. */
export const ENGINE_CALL_DEADLINE_MS = 5_000;

/** The one 503 of the workflow engine (problem+json with Retry-After, through the error middleware). */
export function engineUnavailable(cause?: unknown): AppError {
  const error = serviceUnavailable('The workflow engine');
  if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause, enumerable: false });
  return error;
}

export const isEngineUnavailable = (err: unknown): err is AppError => err instanceof AppError && err.status === 503 && err.code === 'SERVICE_UNAVAILABLE';

/** One call bounded by the deadline (abandoned, EngineDeadlineExceeded, when it passes). */
const bounded = <T>(engine: Engine, fn: () => Promise<T>, deadlineMs = ENGINE_CALL_DEADLINE_MS) => withinDeadline(engine.temporal, Date.now() + deadlineMs, fn);

/** One bounded call; any failure but the ones `expected` lets through is the engine's unavailability. */
async function call<T>(engine: Engine, fn: () => Promise<T>, expected: (err: unknown) => boolean = () => false, deadlineMs = ENGINE_CALL_DEADLINE_MS): Promise<T> {
  try {
    return await bounded(engine, fn, deadlineMs);
  } catch (err) {
    if (expected(err)) throw err;
    throw engineUnavailable(err);
  }
}

const alreadyStarted = (err: unknown) => err instanceof WorkflowExecutionAlreadyStartedError;

type RunRef = Pick<Run, 'id' | 'org_id' | 'agent_id' | 'source'> & { run_at?: Date | null; status?: Run['status'] };
type AgentRef = Pick<Agent, 'id' | 'name' | 'run_timeout_seconds'>;

function agentRunOptions(engine: Engine, run: RunRef, agent: AgentRef, cancelRequested = false) {
  // A delayed run's first workflow task waits on the server until run_at: no polling, and a
  // cancel request (or terminate) reaches it meanwhile. Recomputed on each start attempt.
  const delayMs = run.run_at ? run.run_at.getTime() - Date.now() : 0;
  return {
    ...(delayMs > 0 ? { startDelay: delayMs } : {}),
    workflowId: runWorkflowId(run.id),
    taskQueue: engine.taskQueue,
    // A queued run's workflow first waits for a slot (workflows/runQueue.ts); so does a delayed
    // one, which joins its agent's queue when its time comes (at once when no limit applies).
    // The run's deadline is its agent's run_timeout_seconds as the run is started.
    args: [agentRunInput(run.id, run.status === 'queued' || run.status === 'scheduled', agent.run_timeout_seconds, cancelRequested)] as Parameters<typeof agentRun>,
    // Deterministic id + reject duplicates: whoever starts it first (the accepting API, an
    // Idempotency-Key retry, a cancel, the reconciler) wins, and the others find it started.
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    typedSearchAttributes: [
      { key: OrgIdKey, value: run.org_id },
      { key: AgentIdKey, value: agent.id },
      { key: RunSourceKey, value: run.source },
      { key: RunStatusKey, value: run.status === 'queued' || run.status === 'scheduled' ? run.status : 'processing' },
    ],
    staticSummary: truncate(`Run of agent "${agent.name}" (${run.source})`, 190),
    staticDetails: `**Run** \`${run.id}\`\n\n**Agent** ${agent.name} (\`${agent.id}\`)\n\n**Org** \`${run.org_id}\`\n\n**Source** ${run.source}`,
  };
}

/** Starts the run's `agentRun` workflow. False when it was already started (by anyone); 503 when the engine is unavailable. */
export async function startAgentRun(
  engine: Engine,
  run: RunRef,
  agent: AgentRef,
  options: {
    /** A cancel of a run no workflow started: the workflow records the cancellation and nothing else. */
    cancelRequested?: boolean;
  } = {},
): Promise<boolean> {
  try {
    await call(engine, () => engine.temporal.workflow.start(agentRun, agentRunOptions(engine, run, agent, options.cancelRequested ?? false)), alreadyStarted);
    return true;
  } catch (err) {
    if (alreadyStarted(err)) return false;
    throw err;
  }
}

/**
 * The synchronous token-URL path: starts the run's workflow (or joins the one already running,
 * for an Idempotency-Key retry) and waits up to `waitMs` for its outcome, in ONE round trip
 * (Update-with-Start: the start and the runOutcome update travel in one ExecuteMultiOperation
 * request, answered when the update completes). Needs `frontend.enableExecuteMultiOperation`
 * on the server (see src/temporal/devServer.ts).
 *
 * Resolves with the outcome, or with undefined when the run is started but has no outcome
 * within the wait (or its workflow already closed: the stored run has it). Throws the 503 of
 * engineUnavailable when the run's workflow could not be confirmed started; the caller may
 * then remove the run (only a run no workflow has touched).
 *
 * A run with no outcome after half of ENGINE_CALL_DEADLINE_MS (or a shorter wait that
 * elapses) costs one extra call, a plain start with the asynchronous path's deadline: it tells
 * a slow agent (the workflow exists) from an unreachable engine. There is only ever that one
 * probe, and every call ends by its deadline (withinDeadline: 100 ms later at most), so an
 * unreachable engine answers 503 within 1.5 × ENGINE_CALL_DEADLINE_MS (or waitMs +
 * ENGINE_CALL_DEADLINE_MS for a shorter wait). The probe gets the whole deadline, not the rest
 * of it: on a busy engine a start may take seconds, and the token URL must not refuse a run the
 * API would accept.
 */
export async function startAgentRunAndAwaitOutcome(engine: Engine, run: RunRef, agent: AgentRef, waitMs: number): Promise<RunOutcome | undefined> {
  const startWorkflowOperation = new WithStartWorkflowOperation(agentRun, {
    ...agentRunOptions(engine, run, agent),
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
  });
  let settled = false;
  const deadline = Date.now() + waitMs;
  // Given up on (503), the call is abandoned rather than left waiting out its deadline.
  const abandon = new AbortController();
  const update = withinDeadline(
    engine.temporal,
    deadline,
    () => engine.temporal.workflow.executeUpdateWithStart(runOutcomeUpdate, { startWorkflowOperation }),
    abandon,
  )
    .then(
      (outcome) => ({ outcome }),
      (err: unknown) => ({ err }),
    )
    .finally(() => {
      settled = true;
    });

  // The one probe: started halfway through the start deadline while still waiting, or when
  // the update fails unconfirmed; true when this call started the workflow, false when it existed.
  let probing: Promise<boolean> | undefined;
  const probe = () => (probing ??= startAgentRun(engine, run, agent));
  let timer: NodeJS.Timeout | undefined;
  const confirmation = new Promise<'confirmed'>((resolve, reject) => {
    timer = setTimeout(() => {
      if (!settled) probe().then(() => resolve('confirmed'), reject);
    }, Math.min(waitMs, ENGINE_CALL_DEADLINE_MS / 2));
  });
  confirmation.catch(() => undefined); // raced below, or moot once the update settled
  let confirmed = false;
  try {
    for (;;) {
      const first = confirmed ? await update : await Promise.race([update, confirmation]);
      if (first === 'confirmed') {
        confirmed = true;
        continue;
      }
      if ('outcome' in first) return first.outcome;
      // The workflow already closed (its reuse policy rejects a second start): the run has ended.
      if (alreadyStarted(first.err)) return undefined;
      if (confirmed) return undefined; // the wait elapsed on a running workflow
      // No answer and no confirmation: the probe decides (the one in flight, or one now).
      await probe();
      const timedOut = first.err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || first.err instanceof EngineDeadlineExceeded;
      if (timedOut || Date.now() >= deadline) return undefined;
      // Refused rather than timed out (e.g. a server with ExecuteMultiOperation disabled): the
      // run is started, so wait the rest of the time the two-call way.
      return await withinDeadline(engine.temporal, deadline, () => engine.temporal.workflow.getHandle(runWorkflowId(run.id)).executeUpdate(runOutcomeUpdate)).catch(
        () => undefined,
      );
    }
  } catch (err) {
    abandon.abort();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts the event's `eventDelivery` workflow on the deliveries task queue. Starting twice is
 * harmless: false when it already exists. Called from activities: a failure is thrown as
 * Temporal reported it and retried by the activity's policy.
 */
export async function startEventDelivery(engine: Engine, event: Pick<EventRow, 'id' | 'org_id' | 'type' | 'agent_id'>, endpointIds: string[]): Promise<boolean> {
  try {
    // Not mapped to the API's 503: the calling activity fails with Temporal's own error and retries.
    await bounded(
      engine,
      () =>
        engine.temporal.workflow.start(eventDelivery, {
          workflowId: eventWorkflowId(event.id),
          taskQueue: deliveriesTaskQueue(engine.taskQueue),
          args: [{ eventId: event.id, endpointIds }],
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          typedSearchAttributes: [
            { key: OrgIdKey, value: event.org_id },
            { key: EventTypeKey, value: event.type },
            { key: EndpointIdKey, value: endpointIds },
            ...(event.agent_id ? [{ key: AgentIdKey, value: event.agent_id }] : []),
          ],
          staticSummary: `Deliver ${event.type} to ${endpointIds.length} endpoint${endpointIds.length === 1 ? '' : 's'}`,
        }),
    );
    return true;
  } catch (err) {
    if (alreadyStarted(err)) return false;
    throw err;
  }
}

/**
 * A customer's manual retry of one delivery: the `redeliver` workflow for attempt `attempt`
 * (the stored attempts + 1). A second request before that attempt is made joins the same
 * workflow; a finished one that made no attempt (e.g. it found the endpoint disabled) may run
 * again. Returns the workflow id.
 */
export async function redeliver(engine: Engine, delivery: { id: string; message_id: string }, attempt: number): Promise<string> {
  const workflowId = redeliverWorkflowId(delivery.id, attempt);
  await call(engine, () =>
    engine.temporal.workflow.start(redeliverWorkflow, {
      workflowId,
      taskQueue: deliveriesTaskQueue(engine.taskQueue),
      args: [{ deliveryId: delivery.id }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      staticSummary: `Manual redelivery of ${delivery.message_id}`,
    }),
  );
  return workflowId;
}

/** A customer's manual retry of a run's callback: one attempt now (attempt `attempt`), same rules as redeliver. Returns the workflow id. */
export async function retryRunCallback(engine: Engine, runId: string, attempt: number): Promise<string> {
  const workflowId = callbackRetryWorkflowId(runId, attempt);
  await call(engine, () =>
    engine.temporal.workflow.start(runCallback, {
      workflowId,
      taskQueue: deliveriesTaskQueue(engine.taskQueue),
      args: [{ runId, maxAttempts: 1, manual: true }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      staticSummary: `Manual callback retry of run ${runId}`,
    }),
  );
  return workflowId;
}

/**
 * Asks the run's workflow to cancel. 'not_found' when it has no workflow (never started, e.g.
 * its API died between commit and start); 503 when the engine is unavailable.
 */
export async function cancelRun(engine: Engine, runId: string): Promise<'requested' | 'not_found'> {
  try {
    await call(engine, () => engine.temporal.workflow.getHandle(runWorkflowId(runId)).cancel(), (err) => err instanceof WorkflowNotFoundError);
    return 'requested';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'not_found';
    throw err;
  }
}

/**
 * Wakes a queued run's workflow: another run's admission gave it a slot. 'not_found' when it has
 * no workflow yet; any other failure is ignored by the caller (the queued workflow also polls).
 */
export async function signalRunAdmitted(engine: Engine, runId: string): Promise<'signalled' | 'not_found'> {
  try {
    await call(engine, () => engine.temporal.workflow.getHandle(runWorkflowId(runId)).signal(runAdmittedSignal), (err) => err instanceof WorkflowNotFoundError);
    return 'signalled';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'not_found';
    throw err;
  }
}

/** Starts a bulk recovery, `recovery-<id>`; one already started is fine (a retry after a lost answer). */
export async function startRecovery(engine: Engine, recovery: { id: string; endpoint_id: string; total: number }): Promise<void> {
  await call(
    engine,
    () =>
      engine.temporal.workflow.start(recoveryWorkflow, {
        workflowId: recoveryWorkflowId(recovery.id),
        taskQueue: deliveriesTaskQueue(engine.taskQueue),
        args: [{ recoveryId: recovery.id, endpointId: recovery.endpoint_id }],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        staticSummary: `Recover ${recovery.total} failed deliveries of endpoint ${recovery.endpoint_id}`,
      }),
    alreadyStarted,
  ).catch((err) => {
    if (!alreadyStarted(err)) throw err;
  });
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
