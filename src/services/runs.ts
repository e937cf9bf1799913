import { createHash, randomUUID } from 'node:crypto';
import { WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { AgentRunInput } from '../../workflows/index.js';
import { AgentIdKey, OrgIdKey, RunSourceKey, RunStatusKey } from '../../workflows/searchAttributes.js';
import { appendRunEvent } from '../db/events.js';
import { creditBalance, deleteRun, insertRun } from '../db/queries.js';
import type { Agent, Database, Run, RunSource } from '../db/schema.js';
import { AppError, serviceUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { runsStarted } from '../metrics.js';

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

async function findByIdempotencyKey(db: Kysely<Database>, orgId: string, key: string) {
  return db.selectFrom('runs').selectAll().where('org_id', '=', orgId).where('idempotency_key', '=', key).executeTakeFirst();
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
 * Checks credits, stores the run (and its conversation), then starts its workflow. If
 * Temporal refuses, the rows are removed and the caller gets a 503: nothing is acknowledged
 * that no workflow will ever pick up.
 */
export async function startRun(deps: RunServiceDeps, input: StartRunInput): Promise<StartedRun> {
  const orgId = input.agent.org_id;
  const requestHash = fingerprint({ agent: input.agent.id, request: input.requestFingerprint ?? input.message });
  if (input.idempotencyKey) {
    const existing = await findByIdempotencyKey(deps.db, orgId, input.idempotencyKey);
    if (existing) return replayOf(existing, requestHash);
  }
  if ((await creditBalance(deps.db, orgId)) <= 0) {
    throw new AppError(402, 'INSUFFICIENT_CREDITS', 'The organization has no credits left; ask an operator for a grant');
  }

  const runId = randomUUID();
  let run: Run;
  let newConversationId: string | null = null;
  try {
    run = await deps.db.transaction().execute(async (trx) => {
      let conversationId = input.conversationId ?? null;
      if (!conversationId) {
        conversationId = randomUUID();
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
      return insertRun(trx, {
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
      });
    });
  } catch (err) {
    // Two requests raced with the same Idempotency-Key: the loser answers with the winner's run.
    if ((err as { code?: string }).code === '23505' && input.idempotencyKey) {
      const existing = await findByIdempotencyKey(deps.db, orgId, input.idempotencyKey);
      if (existing) return replayOf(existing, requestHash);
    }
    throw err;
  }
  await appendRunEvent(deps.db, { runId, type: 'run_queued', dedupeKey: 'run_queued', payload: { status: 'processing' }, at: new Date() });

  try {
    // Bounded: with the engine down the caller gets a prompt 503, not a hung request.
    await deps.temporal.withDeadline(Date.now() + START_DEADLINE_MS, () =>
      deps.temporal.workflow.start('agentRun', {
        workflowId: runWorkflowId(runId),
        taskQueue: deps.taskQueue,
        args: [{ runId } satisfies AgentRunInput],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: [
          { key: OrgIdKey, value: orgId },
          { key: AgentIdKey, value: input.agent.id },
          { key: RunSourceKey, value: input.source },
          { key: RunStatusKey, value: 'processing' },
        ],
        staticSummary: truncate(`Run of agent "${input.agent.name}" (${input.source})`, 190),
        staticDetails: `**Run** \`${runId}\`\n\n**Agent** ${input.agent.name} (\`${input.agent.id}\`)\n\n**Org** \`${orgId}\`\n\n**Source** ${input.source}`,
      }),
    );
  } catch (err) {
    deps.log.error({ err, run_id: runId }, 'could not start the run workflow');
    await removeUnstartedRun(deps.db, runId, newConversationId).catch((cleanupErr) =>
      deps.log.error({ err: cleanupErr, run_id: runId }, 'could not remove the unstarted run'),
    );
    throw serviceUnavailable('The workflow engine');
  }
  runsStarted.inc({ source: input.source });
  return { run, created: true };
}

async function removeUnstartedRun(db: Kysely<Database>, runId: string, conversationId: string | null) {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('run_events').where('run_id', '=', runId).execute();
    await deleteRun(trx, runId);
    if (conversationId) await trx.deleteFrom('conversations').where('id', '=', conversationId).execute();
  });
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
