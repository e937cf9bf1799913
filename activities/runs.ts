import type { Transaction } from 'kysely';
import { inTransaction } from '../src/db/executor.js';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { captureLockedRunCredits, captureRunCredits, releaseRunHold } from '../src/db/credits.js';
import { findAgentById } from '../src/db/agents.js';
import { conversationHadEarlierMessage, findConversationLabels, insertRunMessage, touchConversation } from '../src/db/conversations.js';
import { findLowBalanceThreshold } from '../src/db/orgs.js';
import { findRunById, lockRunForBookkeeping, markRunStarted, storeRunEnding, storeRunReply, type RunWithAgent } from '../src/db/runs.js';
import { creditsForUsage } from '../src/domain/credits.js';
import { creditsChargedHere } from '../src/metrics.js';
import type { Agent, Database, Run } from '../src/db/schema.js';
import type { ActivityDeps } from './deps.js';
import { isLiveRun } from '../src/domain/runStatus.js';
import { untilStored } from './heartbeat.js';
import { findEventByDedupeKey, findRunCustomerEvents, storeEvent } from '../src/db/events.js';
import { newRowId } from '../src/db/ids.js';
import type { EventRow } from '../src/db/schema.js';
import { emit } from '../src/domain/eventTypes.js';
import { dispatchEvent } from '../src/services/eventDispatch.js';
import { dispatchRecorded, emitForRun, recordEmissions, runRef, type RecordedEmissions, type RunEmission } from './events.js';
import type { RunStepWrites } from '../src/db/runSteps.js';
import type { RunOutcome } from '../workflows/definitions.js';
import type { AgentReply } from './providers/types.js';

/** A low-balance crossing is keyed by the run whose charge crossed it. */
const lowBalanceKey = (runId: string) => `wallet.balance_low:${runId}:`;

export type TerminalStatus = 'failed' | 'cancelled' | 'timed_out';

/** What the workflow needs to decide its path; nothing secret, it lands in history. */
export interface RunPlan {
  timeoutSeconds: number;
  hasCallback: boolean;
  callbackAttempts: number;
}

async function loadRun(deps: ActivityDeps, runId: string) {
  const run = await findRunById(deps.db, runId);
  if (!run) throw ApplicationFailure.create({ type: 'RunNotFound', message: `run ${runId} not found`, nonRetryable: true });
  const agent = await findAgentById(deps.db, run.agent_id);
  if (!agent) throw ApplicationFailure.create({ type: 'AgentNotFound', message: `agent ${run.agent_id} not found`, nonRetryable: true });
  return { run, agent };
}

/** A run's ending as stored, as the workflow reports it (the runOutcome update's answer). */
function outcomeOf(run: Run): RunOutcome {
  if (run.status === 'completed') return { status: 'completed', credits_used: Number(run.credits_used ?? 0), detail: null, result: run.result ?? '' };
  const status = run.status === 'failed' || run.status === 'cancelled' || run.status === 'timed_out' ? run.status : 'failed';
  return { status, credits_used: 0, detail: run.status_detail ?? run.error ?? null, result: null };
}

/** Postgres refusing a value for what it is: retrying the same write can never succeed. */
const DETERMINISTIC_DB_ERRORS: Record<string, string> = {
  '22021': 'text the database cannot store (invalid byte sequence)',
  '22P05': 'text the database cannot store (untranslatable character)',
  '22003': 'a number out of range',
  '22001': 'a value too long',
};

function deterministicDbFailure(err: unknown): ApplicationFailure | undefined {
  const what = DETERMINISTIC_DB_ERRORS[(err as { code?: string })?.code ?? ''];
  if (!what) return undefined;
  return ApplicationFailure.create({ type: 'InvalidAgentReply', message: `the agent's reply could not be stored: ${what}`, nonRetryable: true });
}

type ConversationLabels = { subject: string | null; external_user_id: string | null };

/** The start's announcements: run_started on the run's stream, run.started, conversation.created (a new conversation) and user.message. */
function startEmissions(run: Run, agent: Pick<Agent, 'id' | 'name'>, conversation: ConversationLabels | undefined, newConversation: boolean): RunEmission[] {
  const ref = runRef(run, agent);
  return [
    { stream: { type: 'run_started', payload: { status: 'processing' } }, event: emit('run.started', { ...ref, source: run.source }) },
    ...(newConversation && run.conversation_id
      ? [{ event: emit('conversation.created', { conversation_id: run.conversation_id, agent: ref.agent, subject: conversation?.subject ?? null }) }]
      : []),
    {
      // Seed 003's user.message shape: `user {id, name}` and `room {id, name}` (the conversation).
      event: emit('user.message', {
        ...ref,
        source: run.source,
        user: { id: conversation?.external_user_id ?? null, name: null },
        room: { id: run.conversation_id, name: conversation?.subject ?? null },
        content: run.message,
      }),
    },
  ];
}

/** A completed run's announcements (from the run as stored): its actions, the reply and the completion. */
function completionEmissions(run: Run, agent: Pick<Agent, 'id' | 'name'>, actions: AgentReply['actions']): RunEmission[] {
  const ref = runRef(run, agent);
  const result = run.result ?? '';
  return [
    ...actions.map((action, i) => ({
      stream: { type: 'agent_action', key: `agent_action:${i}`, payload: { ...action } },
      event: { ...emit('agent.action', { ...ref, room: run.conversation_id, action: action.name ?? action.type, content: JSON.stringify(action) }), key: String(i) },
    })),
    {
      stream: { type: 'agent_message', payload: { content: result } },
      event: emit('agent.message', { ...ref, room: run.conversation_id, content: result }),
    },
    {
      stream: { type: 'run_completed', payload: { status: 'completed', credits_used: run.credits_used, actions_dropped: run.actions_dropped } },
      event: emit('run.completed', {
        ...ref,
        status: 'completed',
        result,
        credits_used: run.credits_used,
        actions_dropped: run.actions_dropped,
        metadata: run.metadata ?? {},
      }),
    },
  ];
}

/** Run bookkeeping. Each write is idempotent by run id, so retries and replays are harmless. */
/** A run's charge: credits captured, or found captured by an earlier attempt (retried); a low-balance crossing it stored. */
interface Charge {
  charged: number;
  event?: EventRow;
  retried: boolean;
}

/** The agent step `runToEnd` runs between its bookkeeping (activities/agents.ts). */
export interface RunsAgent {
  /** `known`: the run and its agent as the begin step read them (the agent then reads only the rest). */
  runAgent(runId: string, known?: RunWithAgent): Promise<AgentReply>;
}

export function createRunActivities(deps: ActivityDeps, agent: RunsAgent) {
  /** Marks the run started and stores the user's message. */
  async function markStarted(run: Run, agent: Agent): Promise<RunPlan> {
    await markRunStarted(deps.db, run.id, deps.clock());
    if (run.conversation_id) {
      await insertRunMessage(deps.db, { id: newRowId(), conversationId: run.conversation_id, runId: run.id, role: 'user', content: run.message });
    }
    return {
      timeoutSeconds: agent.run_timeout_seconds,
      hasCallback: Boolean(run.callback_url),
      callbackAttempts: deps.settings.retryScheduleMs.length + 1,
    };
  }

  /** Announces the start: run_started on the run's stream, run.started, user.message and conversation.created. */
  async function announceStartOf(run: Run, agent: Agent): Promise<void> {
    let newConversation = false;
    let conversation: ConversationLabels | undefined;
    if (run.conversation_id) {
      newConversation = !(await conversationHadEarlierMessage(deps.db, run.conversation_id, run.id, run.created_at));
      conversation = await findConversationLabels(deps.db, run.conversation_id);
    }
    await emitForRun(deps, run, startEmissions(run, agent, conversation, newConversation));
  }

  /**
   * Captures the run's charge (the usage formula, never above its hold; the rest of the hold
   * released) and stores the reply, in one transaction. The ledger's unique run_id and the
   * run's hold going to 0 make the capture happen once however often this runs (a worker
   * dying after the commit retries into a no-op); a low-balance crossing is recorded as an
   * event in the same transaction, so it is neither lost nor doubled, and dispatched right
   * after the commit (only a retry of a charge already captured looks it up again). A reply the
   * database refuses for what it is (bad text, a number out of range) fails the run at once
   * instead of retrying forever. Returns the credits charged.
   */
  async function complete(run: Run, reply: AgentReply): Promise<number> {
    const now = deps.clock();
    let charge: Charge;
    try {
      charge = await inTransaction(deps.db, async (trx) => {
        const capture = await captureRunCredits(trx, run, creditsForUsage(reply.usage));
        const reply_ = {
          text: reply.text,
          inputTokens: reply.usage.input_tokens,
          outputTokens: reply.usage.output_tokens,
          creditsUsed: capture.charged,
          actionsDropped: reply.actions_dropped ?? 0,
        };
        await storeRunReply(trx, run.id, reply_, now);
        if (run.conversation_id) {
          await insertRunMessage(trx, { id: newRowId(), conversationId: run.conversation_id, runId: run.id, role: 'assistant', content: reply.text });
          await touchConversation(trx, run.conversation_id, now);
        }
        return recordCapture(trx, run, capture, now);
      });
    } catch (err) {
      throw deterministicDbFailure(err) ?? err;
    }
    // The crossing is known here, once: dispatched as it was stored. Only a retry of a charge
    // already captured (its attempt may have died before dispatching) looks it up again.
    const lowBalance = charge.retried ? await findEventByDedupeKey(deps.db, lowBalanceKey(run.id)) : charge.event;
    if (lowBalance) await dispatchEvent(deps, lowBalance);
    return charge.charged;
  }

  /** Announces a completed run: its actions, the reply and the completion (a low-balance event went out with the charge). */
  async function announceCompletionOf(run: Run, agent: Agent, actions: AgentReply['actions']): Promise<void> {
    await emitForRun(deps, run, completionEmissions(run, agent, actions));
  }

  /** The run, its agent and what the step's announcements name, the run's row locked for the transaction. */
  async function lockRunAndAgent(trx: Transaction<Database>, runId: string) {
    const found = await lockRunForBookkeeping(trx, runId);
    if (!found) throw ApplicationFailure.create({ type: 'RunNotFound', message: `run ${runId} not found`, nonRetryable: true });
    const { agent } = found;
    if (!agent) throw ApplicationFailure.create({ type: 'AgentNotFound', message: `agent ${found.run.agent_id} not found`, nonRetryable: true });
    return { ...found, agent };
  }

  function planOf(run: Run, agent: Pick<Agent, 'run_timeout_seconds'>): RunPlan {
    return {
      timeoutSeconds: agent.run_timeout_seconds,
      hasCallback: Boolean(run.callback_url),
      callbackAttempts: deps.settings.retryScheduleMs.length + 1,
    };
  }

  /**
   * The charge, in the caller's transaction on the run's locked row (exactly once: see
   * `complete`), with a low-balance crossing recorded as an event in it.
   */
  async function chargeRun(trx: Transaction<Database>, run: Run, reply: AgentReply, now: Date): Promise<Charge> {
    return recordCapture(trx, run, await captureLockedRunCredits(trx, run, creditsForUsage(reply.usage)), now);
  }

  /**
   * What a capture means for the charge, in its transaction: nothing new when an earlier attempt
   * captured it (retried), else the charge counted and a low-balance crossing stored as an event.
   * Org row updates are serialised by its row lock: exactly one charge sees the crossing.
   */
  async function recordCapture(
    trx: Transaction<Database>,
    run: Run,
    capture: { captured: boolean; charged: number; balance: number; lowBalanceThreshold?: number | null },
    now: Date,
  ): Promise<Charge> {
    if (!capture.captured) return { charged: capture.charged, retried: true };
    creditsChargedHere.inc(capture.charged);
    const { balance } = capture;
    const threshold = capture.lowBalanceThreshold ?? (await findLowBalanceThreshold(trx, run.org_id));
    if (!(balance + capture.charged > threshold && balance <= threshold)) return { charged: capture.charged, retried: false };
    const { event } = await storeEvent(trx, {
      orgId: run.org_id,
      agentId: null,
      runId: run.id,
      ...emit('wallet.balance_low', { balance, threshold }),
      dedupeKey: lowBalanceKey(run.id),
      at: now,
    });
    return { charged: capture.charged, event, retried: false };
  }

  /**
   * The run's first step: marks it started, stores the user's message and announces the start,
   * in that order (every announcement that follows comes after it), in one transaction on the
   * run's locked row. Each part is idempotent by run id, so a retry or a second worker after a
   * crash repeats nothing. `ended`: how the run ended, when it already has.
   */
  async function beginRun(runId: string): Promise<{ plan: RunPlan; ended?: RunOutcome; known: RunWithAgent }> {
    const { plan, recorded, anyEndpoint, ended, known } = await inTransaction(deps.db, async (trx) => {
      const { run, agent, conversation, conversationHadEarlierMessage, audience } = await lockRunAndAgent(trx, runId);
      const emissions = startEmissions(run, agent, conversation, run.conversation_id !== null && !conversationHadEarlierMessage);
      const recorded = await recordEmissions(deps, trx, run, emissions, { message: run.message, result: run.result }, audience, {
        startedAt: deps.clock(),
        ...(run.conversation_id ? { message: { conversationId: run.conversation_id, role: 'user' as const, content: run.message } } : {}),
      });
      const known = { run, agent };
      return { plan: planOf(run, agent), recorded, anyEndpoint: audience.anyEndpoint, ended: isLiveRun(run.status) ? undefined : outcomeOf(run), known };
    });
    if (!anyEndpoint) return ended ? { plan, ended, known } : { plan, known };
    if (!ended) {
      await dispatchRecorded(deps, recorded);
      return { plan, known };
    }
    // Ended by an earlier attempt, which may have died after its commit and before announcing
    // the ending: all its events (the start's among them) go out again, in order (a delivery
    // started twice is one delivery).
    for (const event of await findRunCustomerEvents(deps.db, runId)) await dispatchEvent(deps, event);
    return { plan, ended, known };
  }

  /**
   * Ends a run without a reply (failed, cancelled, timed out), once, and announces it.
   * Returns how the run ended as stored: the first ending wins (see `completeRunAndAnnounce`).
   */
  async function endRun(runId: string, status: TerminalStatus, detail: string | null): Promise<RunOutcome> {
    const { run, agent } = await loadRun(deps, runId);
    // The ending and the release of the run's hold commit together (idempotent by run id).
    await inTransaction(deps.db, async (trx) => {
      await storeRunEnding(trx, run.id, status, detail, deps.clock());
      await releaseRunHold(trx, run);
    });
    // Announce only the ending the run actually has (a retry finds its own; a run that
    // completed first must not also be announced as cancelled).
    const current = await findRunById(deps.db, run.id);
    if (!current) return { status, credits_used: 0, detail, result: null };
    if (current.status !== status) return outcomeOf(current);
    const ref = runRef(run, agent);
    const common = { ...ref, metadata: run.metadata ?? {} };
    const event =
      status === 'cancelled'
        ? emit('run.cancelled', { ...common, status })
        : status === 'failed'
          ? emit('run.failed', { ...common, status, error: detail ?? status })
          : emit('run.timed_out', { ...common, status, error: detail ?? status });
    await emitForRun(deps, run, [{ stream: { type: `run_${status}`, payload: { status, detail } }, event }]);
    return outcomeOf(current);
  }

  const runActivities = {
    /** Marks the run started and stores the user's message (a local activity of workflows started before `startRunAndAnnounce`). */
    async startRun(runId: string): Promise<RunPlan> {
      const { run, agent } = await loadRun(deps, runId);
      return markStarted(run, agent);
    },

    /** Announces the start (an activity of workflows started before `startRunAndAnnounce`). */
    async announceStart(runId: string): Promise<void> {
      const { run, agent } = await loadRun(deps, runId);
      await announceStartOf(run, agent);
    },

    /**
     * The run's first step, a local activity in its first workflow task: marks it started,
     * stores the user's message and announces the start, in that order (every announcement
     * that follows comes after it). Each part is idempotent by run id, so a retry or a second
     * worker after a crash repeats nothing.
     */
    async startRunAndAnnounce(runId: string): Promise<RunPlan> {
      return (await beginRun(runId)).plan;
    },

    /** Charges the run and stores its reply (a local activity of workflows started before `completeRunAndAnnounce`). */
    async completeRun(runId: string, reply: AgentReply): Promise<number> {
      const { run } = await loadRun(deps, runId);
      return complete(run, reply);
    },

    /** Announces a completed run (an activity of workflows started before `completeRunAndAnnounce`). */
    async announceCompletion(runId: string, actions: AgentReply['actions']): Promise<void> {
      const { run, agent } = await loadRun(deps, runId);
      await announceCompletionOf(run, agent, actions);
    },

    /**
     * Completes a run that has its reply, as one local activity: the charge and the reply in
     * one transaction (exactly once, see `complete`), then their announcement, read back from
     * the stored run. Returns how the run ended as stored: a local activity may run again when
     * its workflow task is retried (an event arrived meanwhile), and an earlier attempt of that
     * task may have ended the run otherwise (a cancel seen first); the first ending stored wins,
     * and only it is announced.
     */
    async completeRunAndAnnounce(runId: string, reply: AgentReply): Promise<RunOutcome> {
      const now = deps.clock();
      let done: { outcome: RunOutcome; recorded?: RecordedEmissions; lowBalance?: { event?: EventRow; retried: boolean }; anyEndpoint: boolean };
      try {
        // One transaction on the run's locked row: the charge, the reply and their announcement.
        done = await inTransaction(deps.db, async (trx) => {
          const { run, agent, audience } = await lockRunAndAgent(trx, runId);
          const { anyEndpoint } = audience;
          const charge = await chargeRun(trx, run, reply, now);
          // The reply is stored on a run still processing; the message whatever the run's status, as `complete` does.
          const writes: RunStepWrites = {
            ...(run.status === 'processing'
              ? {
                  reply: {
                    text: reply.text,
                    inputTokens: reply.usage.input_tokens,
                    outputTokens: reply.usage.output_tokens,
                    creditsUsed: charge.charged,
                    actionsDropped: reply.actions_dropped ?? 0,
                    at: now,
                  },
                }
              : {}),
            ...(run.conversation_id ? { message: { conversationId: run.conversation_id, role: 'assistant' as const, content: reply.text, touchAt: now } } : {}),
          };
          // The run as stored: completed here or by an earlier attempt, or ended otherwise first.
          const stored: Run =
            run.status === 'processing'
              ? { ...run, status: 'completed', result: reply.text, input_tokens: reply.usage.input_tokens, output_tokens: reply.usage.output_tokens, credits_used: charge.charged, actions_dropped: reply.actions_dropped ?? 0, completed_at: now }
              : run;
          const emissions = stored.status === 'completed' ? completionEmissions(stored, agent, reply.actions) : [];
          const recorded = await recordEmissions(deps, trx, stored, emissions, { message: stored.message, result: stored.result }, audience, writes);
          if (stored.status !== 'completed') return { outcome: outcomeOf(stored), anyEndpoint };
          return { outcome: outcomeOf(stored), recorded, lowBalance: charge, anyEndpoint };
        });
      } catch (err) {
        throw deterministicDbFailure(err) ?? err;
      }
      // The crossing is known here, once: dispatched as it was stored. Only a retry of a charge
      // already captured (its attempt may have died before dispatching) looks it up again.
      if (done.lowBalance && done.anyEndpoint) {
        const lowBalance = done.lowBalance.retried ? await findEventByDedupeKey(deps.db, lowBalanceKey(runId)) : done.lowBalance.event;
        if (lowBalance) await dispatchEvent(deps, lowBalance);
      }
      if (done.recorded && done.anyEndpoint) await dispatchRecorded(deps, done.recorded);
      return done.outcome;
    },

    endRun,

    /**
     * The one-activity shape's other endings (a local activity): records the start if no attempt
     * of `runToEnd` did (a run cancelled or timed out before its activity began), then the ending
     * as `endRun` does. Returns the ending stored first and the plan for the callback.
     */
    async recordEnding(runId: string, status: TerminalStatus, detail: string | null): Promise<{ outcome: RunOutcome; plan: RunPlan }> {
      const { plan, ended } = await beginRun(runId);
      return { outcome: ended ?? (await endRun(runId, status, detail)), plan };
    },

    /**
     * The one-activity shape's activity: begin (as `startRunAndAnnounce`), the agent (as
     * `runAgent`), then the charge, the reply and their announcement (as
     * `completeRunAndAnnounce`). Each bookkeeping step heartbeats and retries a failing
     * database until it answers, as the two-task shape's local activities did, so a database
     * outage delays the run instead of failing it and never runs the agent twice. A retry of a
     * run that has ended (an attempt that completed died before reporting it) returns that
     * ending without running the agent again. Once the agent has answered, a cancel no longer
     * stops this activity: the reply is stored unless the cancel was stored first (the run's row
     * lock orders the two, see `recordEnding`).
     */
    async runToEnd(runId: string): Promise<{ outcome: RunOutcome; plan: RunPlan }> {
      const context = Context.current();
      const { plan, ended, known } = await untilStored(context, () => beginRun(runId), 'cancel', 'run cancelled while its start was being recorded');
      if (ended) return { outcome: ended, plan };
      if (context.cancellationSignal.aborted) throw new CancelledFailure('run cancelled before the agent began');
      const reply = await agent.runAgent(runId, known);
      return { outcome: await untilStored(context, () => runActivities.completeRunAndAnnounce(runId, reply), 'gone'), plan };
    },
  };
  return runActivities;
}
