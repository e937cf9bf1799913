import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import { sql, type Kysely } from 'kysely';
import type { AgentRunInput } from '../../workflows/index.js';
import { AgentIdKey, OrgIdKey, RunSourceKey, RunStatusKey } from '../../workflows/searchAttributes.js';
import { CreditsUnavailable, holdCredits, releaseRunHold } from '../db/credits.js';
import { RUN_EVENTS_CHANNEL } from '../db/events.js';
import { deleteRun, insertRun } from '../db/queries.js';
import { findRunByLiveIdempotencyKey } from '../db/retention.js';
import type { Agent, Database, Run, RunSource } from '../db/schema.js';
import { AppError, serviceUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { runsStarted } from '../metrics.js';
import { newRowId } from '../db/ids.js';

export interface RunServiceDeps {
  db: Kysely<Database>;
  temporal: Client;
  taskQueue: string;
  log: Logger;
}

const START_DEADLINE_MS = 5_000;

export const runWorkflowId = (runId: string) => `run-${runId}`;

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
}

export interface StartedRun {
  run: Run;
  /** false when an Idempotency-Key matched an earlier request: nothing new was started. */
  created: boolean;
}

const fingerprint = (value: unknown) => createHash('sha256').update(JSON.stringify(value ?? null)).digest('hex');

/** Keys live 24 h (src/db/retention.ts): an older one is released and the request makes a new run. */
async function findByIdempotencyKey(db: Kysely<Database>, orgId: string, key: string) {
  return findRunByLiveIdempotencyKey(db, orgId, key);
}

function replayOf(existing: Run, requestHash: string): StartedRun {
  if (existing.request_hash !== requestHash) {
    throw new AppError(422, 'VALIDATION_FAILED', 'This Idempotency-Key was already used with a different request', {
      'Idempotency-Key': 'already used with a different request body',
    });
  }
  return { run: existing, created: false };
}

/**
 * Stores the run (its conversation, its run_queued event and its credit hold, in one
 * transaction), then starts its workflow. If Temporal refuses, the rows are removed (the hold
 * released) and the caller gets a 503. If this process dies between the commit and the start,
 * the run reconciler (src/services/runReconciler.ts) starts the workflow: nothing accepted is
 * left without one.
 */
export async function startRun(deps: RunServiceDeps, input: StartRunInput): Promise<StartedRun> {
  const orgId = input.agent.org_id;
  const requestHash = fingerprint({ agent: input.agent.id, request: input.requestFingerprint ?? input.message });
  if (input.idempotencyKey) {
    const existing = await findByIdempotencyKey(deps.db, orgId, input.idempotencyKey);
    if (existing) return replay(deps, existing, requestHash);
  }
  const hold = input.agent.max_credits_per_run;

  const runId = newRowId();
  let run: Run;
  let newConversationId: string | null = null;
  try {
    run = await deps.db.transaction().execute(async (trx) => {
      let conversationId = input.conversationId ?? null;
      if (!conversationId) {
        conversationId = newRowId();
        newConversationId = conversationId;
        await trx
          .insertInto('conversations')
          .values({
            id: conversationId,
            org_id: orgId,
            agent_id: input.agent.id,
            subject: input.subject ?? null,
            external_user_id: input.externalUserId ?? null,
            inbound_webhook_id: input.inboundWebhookId ?? null,
            updated_at: new Date(),
          })
          .execute();
      }
      const inserted = await insertRun(trx, {
        id: runId,
        org_id: orgId,
        agent_id: input.agent.id,
        source: input.source,
        status: 'processing',
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
        conversation_id: conversationId,
        inbound_webhook_id: input.inboundWebhookId ?? null,
        idempotency_key: input.idempotencyKey ?? null,
        request_hash: input.idempotencyKey ? requestHash : null,
        credits_held: hold,
        event_seq: 1,
      });
      // run_queued commits with the run: no accepted run lacks its first event.
      await trx
        .insertInto('run_events')
        .values({ run_id: runId, sequence: 1, event_type: 'run_queued', dedupe_key: 'run_queued', payload: JSON.stringify({ status: 'processing' }) })
        .execute();
      await sql`select pg_notify(${RUN_EVENTS_CHANNEL}, ${runId})`.execute(trx);
      // Last, so the org row is locked only until the commit that follows.
      await holdCredits(trx, orgId, hold);
      return inserted;
    });
  } catch (err) {
    if (err instanceof CreditsUnavailable) throw insufficientCredits(err);
    // Two requests raced with the same Idempotency-Key: the loser answers with the winner's run.
    if ((err as { code?: string }).code === '23505' && input.idempotencyKey) {
      const existing = await findByIdempotencyKey(deps.db, orgId, input.idempotencyKey);
      if (existing) return replay(deps, existing, requestHash);
    }
    throw err;
  }

  try {
    await startRunWorkflow(deps, run, input.agent);
  } catch (err) {
    deps.log.error({ err, run_id: runId }, 'could not start the run workflow');
    await removeUnstartedRun(deps.db, run, newConversationId).catch((cleanupErr) =>
      deps.log.error({ err: cleanupErr, run_id: runId }, 'could not remove the unstarted run (the run reconciler will start it)'),
    );
    throw serviceUnavailable('The workflow engine');
  }
  runsStarted.inc({ source: input.source });
  return { run, created: true };
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

/** An Idempotency-Key retry: the same run; one left without a workflow (its API died) is started now. */
async function replay(deps: RunServiceDeps, existing: Run, requestHash: string): Promise<StartedRun> {
  const replayed = replayOf(existing, requestHash);
  if (existing.status === 'processing' && !existing.started_at) {
    await startRunWorkflow(deps, existing).catch((err) => {
      deps.log.error({ err, run_id: existing.id }, 'could not start the run workflow on replay');
      throw serviceUnavailable('The workflow engine');
    });
  }
  return replayed;
}

/**
 * Starts the run's workflow, `run-<id>`, on the runs task queue. Deterministic id + reject
 * duplicates: whoever starts it first (the accepting API, an Idempotency-Key retry, a cancel,
 * the reconciler) wins, and the others find it started, which is fine. Returns false then.
 */
export async function startRunWorkflow(
  deps: Pick<RunServiceDeps, 'db' | 'temporal' | 'taskQueue'>,
  run: Pick<Run, 'id' | 'org_id' | 'agent_id' | 'source'>,
  knownAgent?: Pick<Agent, 'id' | 'name'>,
): Promise<boolean> {
  const agent = knownAgent ?? (await deps.db.selectFrom('agents').select(['id', 'name']).where('id', '=', run.agent_id).executeTakeFirstOrThrow());
  try {
    // Bounded: with the engine down the caller gets a prompt 503, not a hung request.
    await deps.temporal.withDeadline(Date.now() + START_DEADLINE_MS, () =>
      deps.temporal.workflow.start('agentRun', {
        workflowId: runWorkflowId(run.id),
        taskQueue: deps.taskQueue,
        args: [{ runId: run.id } satisfies AgentRunInput],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: [
          { key: OrgIdKey, value: run.org_id },
          { key: AgentIdKey, value: agent.id },
          { key: RunSourceKey, value: run.source },
          { key: RunStatusKey, value: 'processing' },
        ],
        staticSummary: truncate(`Run of agent "${agent.name}" (${run.source})`, 190),
        staticDetails: `**Run** \`${run.id}\`\n\n**Agent** ${agent.name} (\`${agent.id}\`)\n\n**Org** \`${run.org_id}\`\n\n**Source** ${run.source}`,
      }),
    );
    return true;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
}

/** Only a run no workflow has touched (started_at still null) is removed, with its hold released. */
async function removeUnstartedRun(db: Kysely<Database>, run: Run, conversationId: string | null) {
  await db.transaction().execute(async (trx) => {
    const unstarted = await trx.selectFrom('runs').select('id').where('id', '=', run.id).where('started_at', 'is', null).forUpdate().executeTakeFirst();
    if (!unstarted) return;
    await releaseRunHold(trx, run);
    await trx.deleteFrom('run_events').where('run_id', '=', run.id).execute();
    await deleteRun(trx, run.id);
    if (conversationId) await trx.deleteFrom('conversations').where('id', '=', conversationId).execute();
  });
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
