import { randomUUID } from 'node:crypto';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Activities } from '../../activities/index.js';
import type { RunPlan, TerminalStatus } from '../../activities/runs.js';
import type { AgentReply } from '../../activities/agents.js';
import { agentRun, agentRunInput, type AgentRunInput } from '../../workflows/agentRun.js';
import { runOutcomeUpdate, type RunOutcome } from '../../workflows/definitions.js';
import { temporalWorkerTracing } from '../../src/telemetry.js';
import { RunStatusKey } from '../../workflows/searchAttributes.js';

/**
 * Every ending of `agentRun` and every race between deadline, answer and cancel, with the
 * activities replaced by doubles, on the real dev server of the test run (short deadlines,
 * no database). What a double saw is recorded per run and asserted on.
 */
type Step = 'startRunAndAnnounce' | 'runAgent' | 'agentCancelled' | 'completeRunAndAnnounce' | `endRun:${string}`;

interface Script {
  timeoutSeconds?: number;
  hasCallback?: boolean;
  /** The agent: answers by default. */
  agent?: (ctx: Context) => Promise<AgentReply>;
  finishDelayMs?: number;
  endDelayMs?: number;
}

const reply: AgentReply = { text: 'Echo: hi', usage: { input_tokens: 1, output_tokens: 2 }, actions: [] };
const scripts = new Map<string, Script>();
/** The run row as the doubles keep it: the first ending written wins, as in `runs` (`where status = 'processing'`). */
const stored = new Map<string, RunOutcome>();
/** The run's row lock while its reply is being stored (the real `lockRunForBookkeeping`). */
const rowLocks = new Map<string, Promise<void>>();
const steps = new Map<string, Step[]>();
const waiters = new Map<string, Array<{ step: Step; resolve: () => void }>>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function record(runId: string, step: Step) {
  steps.get(runId)!.push(step);
  for (const w of waiters.get(runId) ?? []) if (w.step === step) w.resolve();
}
/** Resolves once the run's doubles reached `step`. */
function reached(runId: string, step: Step): Promise<void> {
  if (steps.get(runId)?.includes(step)) return Promise.resolve();
  return new Promise((resolve) => (waiters.get(runId) ?? waiters.set(runId, []).get(runId)!).push({ step, resolve }));
}

/** Heartbeats until Temporal cancels it (the run's deadline or a cancel), then reports it. */
async function neverAnswers(ctx: Context): Promise<never> {
  for (;;) {
    ctx.heartbeat();
    await Promise.race([sleep(100), ctx.cancelled.catch(() => undefined)]);
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure('agent run cancelled');
  }
}

const activities: Partial<Activities> = {
  async startRunAndAnnounce(runId: string): Promise<RunPlan> {
    record(runId, 'startRunAndAnnounce');
    const s = scripts.get(runId)!;
    return { timeoutSeconds: s.timeoutSeconds ?? 30, hasCallback: Boolean(s.hasCallback), callbackAttempts: 2 };
  },
  async runAgent(runId: string): Promise<AgentReply> {
    record(runId, 'runAgent');
    const ctx = Context.current();
    try {
      return await (scripts.get(runId)!.agent ?? (async () => reply))(ctx);
    } catch (err) {
      if (ctx.cancellationSignal.aborted) record(runId, 'agentCancelled');
      throw err;
    }
  },
  async completeRunAndAnnounce(runId: string, answer: AgentReply): Promise<RunOutcome> {
    const s = scripts.get(runId)!;
    // The run's row is locked while the reply is stored: an ending recorded meanwhile waits (endRun).
    let unlock = () => {};
    rowLocks.set(runId, new Promise<void>((resolve) => (unlock = resolve)));
    try {
      if (s.finishDelayMs) await sleep(s.finishDelayMs);
      record(runId, 'completeRunAndAnnounce');
      if (!stored.has(runId)) stored.set(runId, { status: 'completed', credits_used: answer.usage.output_tokens + 1, detail: null, result: answer.text });
      return stored.get(runId)!;
    } finally {
      unlock();
    }
  },
  async endRun(runId: string, status: TerminalStatus, detail: string | null): Promise<RunOutcome> {
    await rowLocks.get(runId);
    const s = scripts.get(runId)!;
    if (s.endDelayMs) await sleep(s.endDelayMs);
    record(runId, `endRun:${status}:${detail}`);
    if (!stored.has(runId)) stored.set(runId, { status, credits_used: 0, detail, result: null });
    return stored.get(runId)!;
  },
  // The one-activity shape (3): the same steps, composed as the real activities compose them.
  async runToEnd(runId: string): Promise<{ outcome: RunOutcome; plan: RunPlan }> {
    const plan = await activities.startRunAndAnnounce!(runId);
    const ended = stored.get(runId);
    if (ended) return { outcome: ended, plan };
    if (Context.current().cancellationSignal.aborted) throw new CancelledFailure('run cancelled before the agent began');
    const answer = await activities.runAgent!(runId);
    return { outcome: await activities.completeRunAndAnnounce!(runId, answer), plan };
  },
  async recordEnding(runId: string, status: TerminalStatus, detail: string | null): Promise<{ outcome: RunOutcome; plan: RunPlan }> {
    const plan = await activities.startRunAndAnnounce!(runId);
    return { outcome: stored.get(runId) ?? (await activities.endRun!(runId, status, detail)), plan };
  },
};

let env: TestWorkflowEnvironment;
// The suite's bundle carries the tracing interceptor; its sinks come with it (inert).
const workerOptions = () => ({ connection: env.nativeConnection, workflowBundle: { codePath: inject('workflowBundlePath') }, activities, ...temporalWorkerTracing() });
let worker: Worker;
let running: Promise<void>;
const taskQueue = `agent-run-test-${randomUUID()}`;

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // installed already in this process
  }
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: inject('temporalAddress'), namespace: 'default' });
  worker = await Worker.create({ ...workerOptions(), taskQueue });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

/**
 * The shape under test: 3 (one activity) is what every start passes now; 2 (two tasks) is what
 * a start without the run's deadline passes (a schedule firing recorded before shape 3), and
 * how runs started before shape 3 finish.
 */
let shape: 2 | 3 = 3;

/** Starts a run as the gateway does (agentRunInput), or with `input` as an earlier release did. */
function start(script: Script, queue = taskQueue, input?: (runId: string) => AgentRunInput): { runId: string; handle: Promise<WorkflowHandle<typeof agentRun>> } {
  const runId = randomUUID();
  scripts.set(runId, script);
  steps.set(runId, []);
  const args = [input ? input(runId) : agentRunInput(runId, false, shape === 3 ? (script.timeoutSeconds ?? 30) : undefined)] as const;
  return { runId, handle: env.client.workflow.start(agentRun, { taskQueue: queue, workflowId: `run-${runId}`, args: [...args] }) };
}

/** How the workflow closed: its result, or the type of its failure (`cancelled` for a cancellation). */
async function ending(handle: WorkflowHandle<typeof agentRun>): Promise<string> {
  try {
    const result = await handle.result();
    return `${result.status}:${result.credits_used}`;
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    if (err.cause instanceof CancelledFailure) return 'cancelled';
    return err.cause instanceof ApplicationFailure ? String(err.cause.type) : String(err.cause);
  }
}

/**
 * The steps a run's doubles saw, each once: a local activity runs again when its workflow task
 * is retried (an event arrived while it ran), which the activities' idempotency makes harmless.
 */
const distinct = (runId: string) => [...new Set(steps.get(runId))];
/** How the workflow must close for the ending stored first. */
const closingFor = (runId: string) => {
  const end = stored.get(runId)!;
  return { completed: `completed:${end.credits_used}`, cancelled: 'cancelled', timed_out: 'RunTimedOut', failed: 'RunFailed' }[end.status];
};

describe.each([3, 2] as const)('agentRun endings (shape %i)', (testedShape) => {
  beforeAll(() => {
    shape = testedShape;
  });

  it('completed: begins, runs the agent, finishes, answers the update and sets RunStatus', async () => {
    const { runId, handle: started } = start({});
    const handle = await started;
    const outcome = await handle.executeUpdate(runOutcomeUpdate);
    expect(outcome).toEqual({ status: 'completed', credits_used: 3, detail: null, result: 'Echo: hi' });
    expect(await ending(handle)).toBe('completed:3');
    expect(distinct(runId)).toEqual(['startRunAndAnnounce', 'runAgent', 'completeRunAndAnnounce']);
    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(RunStatusKey)).toBe('completed');
  });

  it('completed without an update: at most 12 history events in one activity (14 in two tasks), no patch marker and no TemporalChangeVersion upsert', async () => {
    const { runId, handle: started } = start({});
    const handle = await started;
    expect(await ending(handle)).toBe('completed:3');
    expect(steps.get(runId)).toEqual(['startRunAndAnnounce', 'runAgent', 'completeRunAndAnnounce']);
    const events = (await handle.fetchHistory()).events!;
    expect(events.length).toBeLessThanOrEqual(testedShape === 3 ? 12 : 14);
    // The one-activity shape records no marker at all: its bookkeeping is inside the activity.
    if (testedShape === 3) expect(events.filter((e) => e.markerRecordedEventAttributes)).toEqual([]);
    expect(events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')).toEqual([]);
    expect(events.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.TemporalChangeVersion)).toEqual([]);
  });

  it('a run started without `shape` (by the release before it) still runs the two-task shape, behind its patch marker', async () => {
    const { runId, handle: started } = start({}, taskQueue, (id) => ({ runId: id }));
    const handle = await started;
    expect(await ending(handle)).toBe('completed:3');
    expect(steps.get(runId)).toEqual(['startRunAndAnnounce', 'runAgent', 'completeRunAndAnnounce']);
    const events = (await handle.fetchHistory()).events!;
    expect(events.length).toBeLessThanOrEqual(16);
    expect(events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')).toHaveLength(1);
  });

  it('completed with a callback: starts callback-<runId> on the deliveries queue, abandoned', async () => {
    const { runId, handle: started } = start({ hasCallback: true });
    const handle = await started;
    expect(await ending(handle)).toBe('completed:3');
    const child = await env.client.workflow.getHandle(`callback-${runId}`).describe();
    expect(child.type).toBe('runCallback');
    expect(child.taskQueue).toBe(`${taskQueue}-deliveries`);
    await env.client.workflow.getHandle(`callback-${runId}`).terminate('test over');
  });

  it('failed: a non-retryable agent error records failed with its message, once', async () => {
    const { runId, handle: started } = start({
      agent: async () => {
        throw ApplicationFailure.create({ type: 'AgentError', message: 'agent answered 400', nonRetryable: true });
      },
    });
    const handle = await started;
    expect(await ending(handle)).toBe('RunFailed');
    expect(distinct(runId)).toEqual(['startRunAndAnnounce', 'runAgent', 'endRun:failed:agent answered 400']);
    expect(await handle.executeUpdate(runOutcomeUpdate).catch(() => 'closed')).toBe('closed');
    expect((await handle.describe()).typedSearchAttributes.get(RunStatusKey)).toBe('failed');
  });

  it('timed_out: no answer within run_timeout_seconds cancels the agent and records timed_out', async () => {
    const { runId, handle: started } = start({ timeoutSeconds: 1, agent: neverAnswers });
    const handle = await started;
    expect(await ending(handle)).toBe('RunTimedOut');
    expect(stored.get(runId)!.status).toBe('timed_out');
    expect(distinct(runId).filter((s) => s.startsWith('endRun'))).toEqual(['endRun:timed_out:no answer within 1 seconds']);
    expect(steps.get(runId)).not.toContain('completeRunAndAnnounce');
    await reached(runId, 'agentCancelled'); // the agent is told to stop (at its next heartbeat)
  });

  it('timed_out: an agent failing retryably until the next attempt would start past the deadline', async () => {
    let attempts = 0;
    const { runId, handle: started } = start({
      timeoutSeconds: 2,
      agent: async () => {
        attempts += 1;
        throw ApplicationFailure.create({ type: 'ProviderUnavailable', message: 'provider answered 503' });
      },
    });
    const handle = await started;
    expect(await ending(handle)).toBe('RunTimedOut');
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(distinct(runId).filter((s) => s.startsWith('endRun'))).toEqual(['endRun:timed_out:no answer within 2 seconds']);
  });

  it('cancelled before start: a cancel arriving with the start still begins, then records cancelled without running the agent', async () => {
    const queue = `${taskQueue}-late`;
    const { runId, handle: started } = start({}, queue);
    const handle = await started;
    await handle.cancel(); // before any worker polls this queue: the first workflow task carries the cancel
    const late = await Worker.create({ ...workerOptions(), taskQueue: queue });
    const result = await late.runUntil(ending(handle));
    expect(result).toBe('cancelled');
    expect(distinct(runId)).toEqual(['startRunAndAnnounce', 'endRun:cancelled:cancelled on request']);
  });

  it('cancelled during the agent: the agent is cancelled and cancelled is recorded', async () => {
    const { runId, handle: started } = start({ agent: neverAnswers });
    const handle = await started;
    await reached(runId, 'runAgent');
    await handle.cancel();
    expect(await ending(handle)).toBe('cancelled');
    await reached(runId, 'agentCancelled');
    expect(distinct(runId).filter((s) => s !== 'agentCancelled')).toEqual(['startRunAndAnnounce', 'runAgent', 'endRun:cancelled:cancelled on request']);
    expect((await handle.describe()).typedSearchAttributes.get(RunStatusKey)).toBe('cancelled');
  });

  it('cancel after the answer: the run completes, charged once, nothing recorded as cancelled', async () => {
    const { runId, handle: started } = start({ finishDelayMs: 1500 });
    const handle = await started;
    await reached(runId, 'runAgent');
    await sleep(300); // the answer is in; completeRunAndAnnounce is charging
    await handle.cancel();
    expect(await ending(handle)).toBe('completed:3');
    expect(stored.get(runId)!.status).toBe('completed');
    expect(distinct(runId).filter((s) => !s.startsWith('endRun'))).toEqual(['startRunAndAnnounce', 'runAgent', 'completeRunAndAnnounce']);
    // Two tasks: the answer is in the workflow, no ending is attempted. One activity: the cancel
    // is recorded at once, waits for the row the reply is being stored on, and finds it completed.
    if (testedShape === 2) expect(distinct(runId)).toHaveLength(3);
  });
});

describe.each([3, 2] as const)('agentRun races between deadline, answer and cancel (shape %i)', (testedShape) => {
  beforeAll(() => {
    shape = testedShape;
  });

  it('an answer just inside the deadline completes the run', async () => {
    const { runId, handle: started } = start({ timeoutSeconds: 2, agent: async () => (await sleep(1200), reply) });
    const handle = await started;
    expect(await ending(handle)).toBe('completed:3');
    expect(distinct(runId)).toEqual(['startRunAndAnnounce', 'runAgent', 'completeRunAndAnnounce']);
  });

  it('an answer after the deadline is discarded: timed_out, never charged', async () => {
    const { runId, handle: started } = start({ timeoutSeconds: 1, agent: async () => (await sleep(2500), reply) });
    const handle = await started;
    expect(await ending(handle)).toBe('RunTimedOut');
    await sleep(1800); // the late answer arrives and is refused by the server
    expect(stored.get(runId)!.status).toBe('timed_out');
    // In two tasks the late answer never reaches the bookkeeping; in one activity the attempt
    // finishes its bookkeeping, which finds the run ended (in the database: the hold released, nothing charged).
    expect(distinct(runId).filter((s) => s !== 'completeRunAndAnnounce')).toEqual(['startRunAndAnnounce', 'runAgent', 'endRun:timed_out:no answer within 1 seconds']);
    if (testedShape === 2) expect(steps.get(runId)).not.toContain('completeRunAndAnnounce');
  });

  it('a cancel after the deadline fired does not change the ending: timed_out, recorded once', async () => {
    const { runId, handle: started } = start({ timeoutSeconds: 1, agent: neverAnswers, endDelayMs: 1500 });
    const handle = await started;
    await reached(runId, 'agentCancelled');
    await handle.cancel(); // arrives while timed_out is being recorded
    expect(await ending(handle)).toBe('RunTimedOut');
    expect(distinct(runId).filter((s) => s.startsWith('endRun'))).toEqual(['endRun:timed_out:no answer within 1 seconds']);
  });

  it('a cancel before the deadline wins over it, even when the deadline passes while cancelled is being recorded', async () => {
    const { runId, handle: started } = start({ timeoutSeconds: 2, agent: neverAnswers, endDelayMs: 2500 });
    const handle = await started;
    await reached(runId, 'runAgent');
    await handle.cancel();
    expect(await ending(handle)).toBe('cancelled');
    expect(stored.get(runId)!.status).toBe('cancelled');
    expect(steps.get(runId)).not.toContain('completeRunAndAnnounce');
  });

  it('a cancel racing the answer ends one way only: completed and charged, or cancelled and never charged', async () => {
    const { runId, handle: started } = start({ agent: async () => (await sleep(400), reply) });
    const handle = await started;
    await reached(runId, 'runAgent');
    await sleep(380);
    await handle.cancel();
    const result = await ending(handle);
    // Both may have been attempted (a task retried with the answer in); the first stored decides.
    expect(result).toBe(closingFor(runId));
    expect(await handle.executeUpdate(runOutcomeUpdate).catch(() => 'closed')).toBe('closed');
  });
});

describe('agentRun started by a cancel (shape 3: only its starts carry cancelRequested)', () => {
  beforeAll(() => {
    shape = 3;
  });

  it('cancelled before any workflow: started by the cancel, it records the start and cancelled without running the agent', async () => {
    const { runId, handle: started } = start({}, taskQueue, (id) => agentRunInput(id, false, 30, true));
    const handle = await started;
    expect(await ending(handle)).toBe('cancelled');
    expect(distinct(runId)).toEqual(['startRunAndAnnounce', 'endRun:cancelled:cancelled on request']);
    expect((await handle.describe()).typedSearchAttributes.get(RunStatusKey)).toBe('cancelled');
  });
});
