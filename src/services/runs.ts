import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { RunOutcome } from '../../workflows/index.js';
import { CreditsUnavailable, holdCredits, readWalletAndRunLimit } from '../db/credits.js';
import { findAgentSummary } from '../db/agents.js';
import { inTransaction } from '../db/executor.js';
import { newRowId } from '../db/ids.js';
import { findRunByLiveIdempotencyKey } from '../db/retention.js';
import { initialRunStatus, isLimited, markAdmitted, runLimitsOf } from '../db/runQueue.js';
import type { NewConversationInput } from '../db/conversations.js';
import { insertAcceptedRun, insertAcceptedRunHoldingCredits, removeUnstartedRun } from '../db/runs.js';
import type { Agent, Database, Run, RunSource, RunStatus } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { runsStarted } from '../metrics.js';
import { startAgentRun, startAgentRunAndAwaitOutcome } from '../temporal/gateway.js';
import { runsHoldingSlotsInTemporal } from './runSlots.js';

export interface RunServiceDeps {
  db: Kysely<Database>;
  temporal: Client;
  taskQueue: string;
  log: Logger;
  clock: () => Date;
}

export interface StartRunInput {
  agent: Agent;
  message: string;
  source: RunSource;
  subject?: string | null;
  context?: Record<string, string | number | boolean | null>;
  metadata?: unknown;
  callbackUrl?: string | null;
  taskDefinitionId?: string | null;
  /** Continue this conversation; a new one is started when absent. */
  conversationId?: string | null;
  /** Who the message is from on the caller's side (webhook user_id). */
  externalUserId?: string | null;
  /** The token URL the run came through. */
  inboundWebhookId?: string | null;
  idempotencyKey?: string | null;
  /** Hash of what the caller sent, to tell a retry from a different request under the same key. */
  requestFingerprint?: unknown;
  /** A delayed run: `scheduled` until then, when Temporal starts its workflow (startDelay). */
  runAt?: Date | null;
  /** The schedule whose firing this run is. */
  scheduleId?: string | null;
}

export interface StartedRun {
  run: Run;
  /** false when an Idempotency-Key matched an earlier request: nothing new was started. */
  created: boolean;
  /** With `awaitOutcomeMs`: how the run ended, when it did within the wait. */
  outcome?: RunOutcome;
}

export interface StartRunOptions {
  /**
   * The synchronous token-URL path: start the workflow and wait up to this long for the run's
   * outcome in the same engine call (Update-with-Start). 0 or absent: start and return.
   */
  awaitOutcomeMs?: number;
}

const fingerprint = (value: unknown) => createHash('sha256').update(JSON.stringify(value ?? null)).digest('hex');

/** Keys live 24 h (src/db/retention.ts): an older one is released and the request makes a new run. */
const findRunByIdempotencyKey = findRunByLiveIdempotencyKey;

function replayOf(existing: Run, requestHash: string): StartedRun {
  if (existing.request_hash !== requestHash) {
    throw new AppError(422, 'VALIDATION_FAILED', 'This Idempotency-Key was already used with a different request', {
      'Idempotency-Key': 'already used with a different request body',
    });
  }
  return { run: existing, created: false };
}

/**
 * Stores the run (its conversation, its run_queued event and its credit hold, atomically:
 * acceptRun), then starts its workflow. If Temporal refuses, the rows are removed (the hold
 * released) and the caller gets a 503. If this process dies between the commit and the start,
 * the run reconciler (src/services/runReconciler.ts) starts the workflow: nothing accepted is
 * left without one. A delayed run (runAt) is stored `scheduled` and its workflow created now,
 * its start delayed by Temporal until runAt.
 */
export async function startRun(deps: RunServiceDeps, input: StartRunInput, options: StartRunOptions = {}): Promise<StartedRun> {
  const awaitOutcomeMs = input.runAt ? 0 : (options.awaitOutcomeMs ?? 0);
  const accepted = await acceptRun(deps, input);
  if (!accepted.created) return replay(deps, accepted.run, awaitOutcomeMs, input.agent);
  const { run, newConversationId } = accepted;
  let outcome: RunOutcome | undefined;
  try {
    if (awaitOutcomeMs > 0) outcome = await startAgentRunAndAwaitOutcome(engineOf(deps), run, input.agent, awaitOutcomeMs);
    else await startAgentRun(engineOf(deps), run, input.agent);
  } catch (err) {
    // The gateway's 503 (engine unavailable), with what Temporal said as its cause.
    deps.log.error({ err: (err as Error).cause ?? err, run_id: run.id }, 'could not start the run workflow');
    await removeUnstartedRun(deps.db, run, newConversationId).catch((cleanupErr) =>
      deps.log.error({ err: cleanupErr, run_id: run.id }, 'could not remove the unstarted run (the run reconciler will start it)'),
    );
    throw err;
  }
  runsStarted.inc({ source: input.source });
  return { run, created: true, ...(outcome ? { outcome } : {}) };
}

/**
 * The stored half of startRun: the run, its conversation, its first event and its credit hold
 * in one statement (under a concurrency limit: one transaction that also decides whether the run
 * waits `queued`), without starting its workflow (a schedule's firing starts it as a child
 * of its own workflow). With an Idempotency-Key seen before: the earlier run, created false.
 * Throws the 402 problem when the wallet cannot cover the hold.
 */
export async function acceptRun(
  deps: Pick<RunServiceDeps, 'db' | 'clock' | 'temporal'>,
  input: StartRunInput,
): Promise<StartedRun & { newConversationId: string | null }> {
  const orgId = input.agent.org_id;
  const requestHash = fingerprint({ agent: input.agent.id, request: input.requestFingerprint ?? input.message });
  if (input.idempotencyKey) {
    const existing = await findRunByIdempotencyKey(deps.db, orgId, input.idempotencyKey);
    if (existing) return { ...replayOf(existing, requestHash), newConversationId: null };
  }
  const hold = input.agent.max_credits_per_run;
  const runId = newRowId();
  const conversation: NewConversationInput | null = input.conversationId
    ? null
    : {
        id: newRowId(),
        orgId,
        agentId: input.agent.id,
        subject: input.subject ?? null,
        externalUserId: input.externalUserId ?? null,
        inboundWebhookId: input.inboundWebhookId ?? null,
        now: deps.clock(),
      };
  const newConversationId = conversation?.id ?? null;
  const accepted = (status: RunStatus) => {
    // Under a concurrency limit a run without a free slot waits `queued` (src/db/runQueue.ts).
    const queuedDetail = status === 'queued' ? 'waiting for a slot: the concurrency limit is reached' : null;
    return {
      conversation,
      run: {
        id: runId,
        org_id: orgId,
        agent_id: input.agent.id,
        source: input.source,
        status,
        status_detail: queuedDetail,
        message: input.message,
        result: null,
        error: null,
        input_tokens: null,
        output_tokens: null,
        metadata: JSON.stringify(input.metadata ?? {}),
        subject: input.subject ?? null,
        context: JSON.stringify(input.context ?? {}),
        callback_url: input.callbackUrl ?? null,
        task_definition_id: input.taskDefinitionId ?? null,
        conversation_id: input.conversationId ?? conversation!.id,
        inbound_webhook_id: input.inboundWebhookId ?? null,
        idempotency_key: input.idempotencyKey ?? null,
        request_hash: input.idempotencyKey ? requestHash : null,
        credits_held: hold,
        event_seq: 1,
        run_at: input.runAt ?? null,
        schedule_id: input.scheduleId ?? null,
      },
      queuedEvent: {
        status,
        ...(queuedDetail ? { detail: queuedDetail } : {}),
        ...(input.runAt ? { run_at: input.runAt.toISOString() } : {}),
      },
    };
  };

  try {
    // A delayed run waits as `scheduled` (its limit is not applied: noted in the README).
    if (input.runAt || input.agent.max_concurrent_runs === null) {
      // The common case, one statement: no agent limit, and no org limit either (the hold is
      // placed only then). Without a hold, the wallet or the org's limit says why.
      const status: RunStatus = input.runAt ? 'scheduled' : 'processing';
      for (let attempt = 1; ; attempt++) {
        const run = await insertAcceptedRunHoldingCredits(deps.db, { ...accepted(status), hold: { amount: hold, orgUnlimitedOnly: !input.runAt } });
        if (run) return { run, created: true, newConversationId };
        const org = await readWalletAndRunLimit(deps.db, orgId);
        if (org.maxConcurrentRuns !== null && !input.runAt) break;
        // Credits released between the two reads: try again rather than answer 402 beside enough credits.
        if (org.wallet.available < hold || attempt === 3) throw new CreditsUnavailable(org.wallet, hold);
      }
    }
    const limits = await runLimitsOf(deps.db, orgId, input.agent.id);
    // Unknown (Temporal unreachable): queue it; the workflow start decides the rest.
    const holding = isLimited(limits) ? await runsHoldingSlotsInTemporal(deps.temporal, orgId).catch(() => null) : [];
    const run = await inTransaction(deps.db, async (trx) => {
      const status: RunStatus = !isLimited(limits) ? 'processing' : holding ? await initialRunStatus(trx, orgId, input.agent.id, limits, holding) : 'queued';
      // The run, its new conversation and its run_queued event in one statement: no accepted
      // run lacks its first event.
      const inserted = await insertAcceptedRun(trx, accepted(status));
      if (status === 'processing' && isLimited(limits)) await markAdmitted(trx, runId);
      // Last, so the org row is locked only until the commit that follows.
      await holdCredits(trx, orgId, hold);
      return inserted;
    });
    return { run, created: true, newConversationId };
  } catch (err) {
    if (err instanceof CreditsUnavailable) throw insufficientCredits(err);
    // Two requests raced with the same Idempotency-Key: the loser answers with the winner's run.
    if ((err as { code?: string }).code === '23505' && input.idempotencyKey) {
      const existing = await findRunByIdempotencyKey(deps.db, orgId, input.idempotencyKey);
      if (existing) return { ...replayOf(existing, requestHash), newConversationId: null };
    }
    throw err;
  }
}

function insufficientCredits(err: CreditsUnavailable): AppError {
  const { wallet, required } = err;
  return new AppError(
    402,
    'INSUFFICIENT_CREDITS',
    `A run holds ${required} credits (the agent's max_credits_per_run) but only ${Math.max(0, wallet.available)} are available ` +
      `(balance ${wallet.balance}, ${wallet.held} held by runs in progress); ask an operator for a grant or lower max_credits_per_run`,
    undefined,
    undefined,
    { required, available: Math.max(0, wallet.available), balance: wallet.balance, held: wallet.held },
  );
}

/**
 * An Idempotency-Key retry: the same run; one left without a workflow (its API died) is started
 * now. Waiting for the outcome, a run still processing is joined (its workflow started if need be).
 */
async function replay(deps: RunServiceDeps, existing: Run, awaitOutcomeMs: number, agent: Agent): Promise<StartedRun> {
  const replayed: StartedRun = { run: existing, created: false };
  if (existing.status !== 'processing' && existing.status !== 'scheduled' && existing.status !== 'queued') return replayed;
  try {
    if (awaitOutcomeMs > 0 && existing.status === 'processing') {
      const outcome = await startAgentRunAndAwaitOutcome(engineOf(deps), existing, agent, awaitOutcomeMs);
      return { ...replayed, ...(outcome ? { outcome } : {}) };
    }
    if (!existing.started_at) await startAgentRun(engineOf(deps), existing, agent);
  } catch (err) {
    deps.log.error({ err: (err as Error).cause ?? err, run_id: existing.id }, 'could not start the run workflow on replay');
    throw err;
  }
  return replayed;
}

const engineOf = (deps: Pick<RunServiceDeps, 'temporal' | 'taskQueue'>) => ({ temporal: deps.temporal, taskQueue: deps.taskQueue });

/**
 * Starts the run's workflow, `run-<id>` (src/temporal/gateway.ts): whoever starts it first (the
 * accepting API, an Idempotency-Key retry, a cancel, the reconciler) wins, and the others find
 * it started, which is fine. Returns false then; throws the engine's 503 when it is unavailable.
 */
export async function startRunWorkflow(
  deps: Pick<RunServiceDeps, 'db' | 'temporal' | 'taskQueue'>,
  run: Pick<Run, 'id' | 'org_id' | 'agent_id' | 'source'> & { run_at?: Date | null; status?: RunStatus },
  options: {
    /** Started by a cancel: the workflow records the cancellation without running the agent. */
    cancelRequested?: boolean;
  } = {},
): Promise<boolean> {
  const agent = await findAgentSummary(deps.db, run.agent_id);
  return startAgentRun(engineOf(deps), run, agent, options);
}
