import { sql, type Kysely, type Transaction } from 'kysely';
import { conversationRow, type NewConversationInput } from './conversations.js';
import { releaseRunHold } from './credits.js';
import type { EventAudience } from './events.js';
import { compiledOnce, type Db } from './executor.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { Agent, Database, NewRun, Run, RunStatus } from './schema.js';

export type { NewRun, Run, RunSource, RunStatus, RunsTable } from './schema.js';

/** An accepted run's first run-stream event: `run_queued`, sequence 1. */
const queuedEventRow = (runId: string, payload: Record<string, unknown>) => ({
  run_id: runId,
  sequence: 1,
  event_type: 'run_queued',
  dedupe_key: 'run_queued',
  payload: JSON.stringify(payload),
});

/**
 * An accepted run with its first event (`run_queued`, sequence 1) and, when the run starts one,
 * its new conversation, in ONE statement (data-modifying CTEs; the foreign keys are checked at
 * its end, when all three rows exist): accepting a run is one round trip for what took three.
 * In the caller's transaction, before the credit hold (src/db/credits.ts holdCredits), which
 * stays the last statement so the org row is locked only until the commit.
 *
 * The event is not announced on the run-events channel (NOTIFY): a stream can only join a run it
 * finds stored, so committed with this event, and it reads the stored backlog after it listens —
 * no listener can be waiting for it. A NOTIFY would make every accepting commit take Postgres'
 * cluster-wide notify lock, queueing the accepts of every API process (and the worker's event
 * commits) behind each other's WAL flush.
 */
export async function insertAcceptedRun(
  db: Db,
  accepted: { run: NewRun & { id: string }; conversation: NewConversationInput | null; queuedEvent: Record<string, unknown> },
): Promise<Run> {
  const withEvent = db.with('queued_event', (qb) => qb.insertInto('run_events').values(queuedEventRow(accepted.run.id, accepted.queuedEvent)));
  if (!accepted.conversation) return withEvent.insertInto('runs').values(accepted.run).returningAll().executeTakeFirstOrThrow();
  const conversation = conversationRow(accepted.conversation);
  return withEvent
    .with('new_conversation', (qb) => qb.insertInto('conversations').values(conversation))
    .insertInto('runs')
    .values(accepted.run)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** `INSERT INTO <table> (…) SELECT <the row's values> FROM hold`: Postgres types each parameter from its target column. */
const insertFromHold = (table: 'runs' | 'run_events' | 'conversations', row: object) =>
  sql`insert into ${sql.table(table)} (${sql.join(Object.keys(row).map((column) => sql.ref(column)))}) select ${sql.join(Object.values(row).map((value) => sql`${value}`))} from hold`;

/**
 * Accepting a run as ONE autocommitted statement, the common case's fast path: the credit hold
 * first (holdCredits' UPDATE of the org row in src/db/credits.ts, placed only when
 * `balance − held ≥ amount` and, with `orgUnlimitedOnly`, only when the org sets no concurrency
 * limit), then the run, its new conversation and its `run_queued` event, each inserted from the
 * hold's returned row. Without a hold nothing is inserted and the answer is undefined: the caller
 * reads why (a short wallet: 402; an org limit: the limited path, in a transaction). No BEGIN, no
 * separate hold, no COMMIT: one round trip where there were four, and the org row is locked only
 * for the statement. A unique violation (a raced Idempotency-Key) undoes the hold with the rest.
 */
export async function insertAcceptedRunHoldingCredits(
  db: Kysely<Database>,
  accepted: {
    run: NewRun & { id: string; org_id: string };
    conversation: NewConversationInput | null;
    queuedEvent: Record<string, unknown>;
    hold: { amount: number; orgUnlimitedOnly: boolean };
  },
): Promise<Run | undefined> {
  const { amount, orgUnlimitedOnly } = accepted.hold;
  const event = queuedEventRow(accepted.run.id, accepted.queuedEvent);
  const { rows } = await sql<Run>`
    with hold as (
      update orgs set held = held + ${amount}
      where id = ${accepted.run.org_id} and balance - held >= ${amount} ${orgUnlimitedOnly ? sql`and max_concurrent_runs is null` : sql``}
      returning id
    ),
    queued_event as (${insertFromHold('run_events', event)})
    ${accepted.conversation ? sql`, new_conversation as (${insertFromHold('conversations', conversationRow(accepted.conversation))})` : sql``}
    ${insertFromHold('runs', accepted.run)}
    returning *`.execute(db);
  return rows[0];
}

export async function deleteRun(db: Db, id: string) {
  await db.deleteFrom('runs').where('id', '=', id).execute();
}

export async function findRun(db: Db, orgId: string, id: string) {
  return db.selectFrom('runs').selectAll().where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
}

export async function findRunById(db: Db, id: string): Promise<Run | undefined> {
  return db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The org's run stored under an Idempotency-Key (keys are per org). */
export async function findRunByIdempotencyKey(db: Db, orgId: string, key: string) {
  return db.selectFrom('runs').selectAll().where('org_id', '=', orgId).where('idempotency_key', '=', key).executeTakeFirst();
}

/** Whether a run exists under the key, without reading it. */
export async function findRunIdByIdempotencyKey(db: Db, orgId: string, key: string) {
  return db.selectFrom('runs').select('id').where('org_id', '=', orgId).where('idempotency_key', '=', key).executeTakeFirst();
}

/** What a run's bookkeeping step knows after one read: the run, what its announcements name, and whether anyone may be listening. */
export interface RunForBookkeeping {
  run: Run;
  /** Undefined when the agent row is gone. With what the agent call needs, so `runToEnd` reads it once (activities/agents.ts). */
  agent: (Pick<Agent, 'id' | 'name' | 'run_timeout_seconds'> & RunAgentFields) | undefined;
  /** The run's conversation labels (undefined without a conversation). */
  conversation: { subject: string | null; external_user_id: string | null } | undefined;
  /** Whether the conversation had a message before this run's (it is new with this run otherwise). */
  conversationHadEarlierMessage: boolean;
  /** Whether the org has any enabled endpoint (its events need a subscription look-up only then), and its event_log. */
  audience: EventAudience;
}

/** lockRunForBookkeeping's read, compiled once (it runs twice per run). */
const bookkeepingRead = compiledOnce((db: Db, runId: string) =>
  db
    .selectFrom('runs')
    .leftJoin('agents', 'agents.id', 'runs.agent_id')
    .leftJoin('conversations', 'conversations.id', 'runs.conversation_id')
    .selectAll('runs')
    .select([
      'agents.id as agent_row_id',
      'agents.name as agent_name',
      'agents.run_timeout_seconds as agent_run_timeout_seconds',
      'agents.instructions as agent_instructions',
      'agents.provider as agent_provider',
      'conversations.id as conversation_row_id',
      'conversations.subject as conversation_subject',
      'conversations.external_user_id as conversation_external_user_id',
    ])
    .select((eb) => [
      eb
        .exists(
          eb
            .selectFrom('messages')
            .select('messages.id')
            .whereRef('messages.conversation_id', '=', 'runs.conversation_id')
            .where((m) => m.or([m('messages.run_id', 'is', null), m('messages.run_id', '!=', m.ref('runs.id'))]))
            .whereRef('messages.created_at', '<', 'runs.created_at'),
        )
        .as('conversation_had_earlier_message'),
      eb
        .exists(eb.selectFrom('endpoints').select('endpoints.id').whereRef('endpoints.org_id', '=', 'runs.org_id').where('endpoints.enabled', '=', true).where('endpoints.deleted_at', 'is', null))
        .as('any_endpoint'),
      eb.selectFrom('orgs').select('orgs.event_log').whereRef('orgs.id', '=', 'runs.org_id').as('org_event_log'),
    ])
    .where('runs.id', '=', runId)
    .forUpdate('runs'),
);

/**
 * The run with everything its start, completion or ending needs, in one statement, its row
 * locked for the caller's transaction (FOR UPDATE OF runs, as appending run events requires:
 * `writeRunStep` in src/db/runSteps.ts). The lock also orders the step against another attempt of itself (a
 * retried workflow task, a second worker after a crash) and against the run's other writers:
 * each sees the run as the one before left it.
 */
export async function lockRunForBookkeeping(trx: Transaction<Database>, runId: string): Promise<RunForBookkeeping | undefined> {
  const [row] = await bookkeepingRead(trx, runId);
  if (!row) return undefined;
  const {
    agent_row_id,
    agent_name,
    agent_run_timeout_seconds,
    agent_instructions,
    agent_provider,
    conversation_row_id,
    conversation_subject,
    conversation_external_user_id,
    conversation_had_earlier_message,
    any_endpoint,
    org_event_log,
    ...run
  } = row;
  return {
    run: run as Run,
    agent: agent_row_id
      ? { id: agent_row_id, name: agent_name!, run_timeout_seconds: agent_run_timeout_seconds!, instructions: agent_instructions!, provider: agent_provider! }
      : undefined,
    conversation: conversation_row_id ? { subject: conversation_subject ?? null, external_user_id: conversation_external_user_id ?? null } : undefined,
    conversationHadEarlierMessage: Boolean(conversation_had_earlier_message),
    audience: { anyEndpoint: Boolean(any_endpoint), eventLog: org_event_log ?? null },
  };
}

/** What an agent call needs of the agent. */
type RunAgentFields = Pick<Agent, 'id' | 'instructions' | 'provider'>;

/** A run with what its agent call needs: from findRunWithAgent, or from the begin step's read (lockRunForBookkeeping). */
export interface RunWithAgent {
  run: Run;
  agent: RunAgentFields | undefined;
}

/** A run and what its agent call needs of the agent (undefined when the agent row is gone), in one read. */
export async function findRunWithAgent(db: Db, runId: string): Promise<RunWithAgent | undefined> {
  const row = await db
    .selectFrom('runs')
    .leftJoin('agents', 'agents.id', 'runs.agent_id')
    .selectAll('runs')
    .select(['agents.id as agent_row_id', 'agents.instructions as agent_instructions', 'agents.provider as agent_provider'])
    .where('runs.id', '=', runId)
    .executeTakeFirst();
  if (!row) return undefined;
  const { agent_row_id, agent_instructions, agent_provider, ...run } = row;
  return { run: run as Run, agent: agent_row_id ? { id: agent_row_id, instructions: agent_instructions!, provider: agent_provider! } : undefined };
}

/** Idempotent: a retried activity finds the run already started and changes nothing. */
export async function markRunStarted(db: Db, id: string, now: Date) {
  await db
    .updateTable('runs')
    // A delayed run leaves `scheduled` as its workflow starts.
    .set({ started_at: now, status: sql<RunStatus>`case when status = 'scheduled' then 'processing' else status end` })
    .where('id', '=', id)
    .where('started_at', 'is', null)
    .execute();
}

export interface RunFilter {
  agentId?: string | null;
  status?: RunStatus;
  createdAfter?: Date;
  createdBefore?: Date;
}

/**
 * An org's runs, newest first. Every filter combination the API documents has an index
 * ending in (created_at, id) (migration 20261201T0200_list_indexes).
 */
export async function listRuns(db: Db, orgId: string, filter: RunFilter, page: PageRequest): Promise<Page<Run>> {
  let base = db.selectFrom('runs').where('org_id', '=', orgId);
  if (filter.agentId) base = base.where('agent_id', '=', filter.agentId);
  if (filter.status) base = base.where('status', '=', filter.status);
  if (filter.createdAfter) base = base.where('created_at', '>=', filter.createdAfter);
  if (filter.createdBefore) base = base.where('created_at', '<', filter.createdBefore);
  return keysetPage(db, base, page);
}

/**
 * Only a run no workflow has touched (started_at still null) is removed, with its hold
 * released, its events and the conversation it opened.
 */
export async function removeUnstartedRun(db: Kysely<Database>, run: Pick<Run, 'id' | 'org_id'>, conversationId: string | null) {
  await db.transaction().execute(async (trx) => {
    const unstarted = await trx.selectFrom('runs').select('id').where('id', '=', run.id).where('started_at', 'is', null).forUpdate().executeTakeFirst();
    if (!unstarted) return;
    await releaseRunHold(trx, run);
    await trx.deleteFrom('run_events').where('run_id', '=', run.id).execute();
    await deleteRun(trx, run.id);
    if (conversationId) await trx.deleteFrom('conversations').where('id', '=', conversationId).execute();
  });
}

/** Arbitrary, fixed: the advisory-lock key of the run sweep ("aw runs" in ASCII). */
const SWEEP_LOCK_KEY = 0x6177_7275;

/**
 * Runs `work` on one connection holding the run sweep's session advisory lock; null when
 * another process holds it. The lock dies with the connection if the process does.
 */
export async function withRunSweepLock<T>(db: Kysely<Database>, work: (conn: Kysely<Database>) => Promise<T>): Promise<T | null> {
  return db.connection().execute(async (conn) => {
    const lock = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${SWEEP_LOCK_KEY}) as locked`.execute(conn);
    if (!lock.rows[0]?.locked) return null;
    try {
      return await work(conn);
    } finally {
      await sql`select pg_advisory_unlock(${SWEEP_LOCK_KEY})`.execute(conn);
    }
  });
}

/** Runs accepted but never started (no workflow touched them), created in (since, before), oldest first. */
export async function findUnstartedRuns(db: Db, window: { since: Date; before: Date }, limit: number) {
  return db
    .selectFrom('runs')
    .select(['id', 'org_id', 'agent_id', 'source', 'status', 'created_at', 'run_at'])
    // A queued run's workflow waits for its slot, a delayed one for its run_at: both must exist.
    .where('status', 'in', ['processing', 'scheduled', 'queued'])
    .where('started_at', 'is', null)
    .where('created_at', '>', window.since)
    .where('created_at', '<', window.before)
    .orderBy('created_at')
    .limit(limit)
    .execute();
}

/** Where a run's callback goes, for the per-org-and-origin callback slots. */
export async function findRunCallbackTarget(db: Db, id: string) {
  return db.selectFrom('runs').select(['org_id', 'callback_url']).where('id', '=', id).executeTakeFirst();
}

/** Stores a processing run's reply and charge; a run already ended (a cancel stored first) is left as it is. */
export async function storeRunReply(
  db: Db,
  id: string,
  reply: { text: string; inputTokens: number; outputTokens: number; creditsUsed: number; actionsDropped: number },
  now: Date,
): Promise<void> {
  await db
    .updateTable('runs')
    .set({
      status: 'completed',
      result: reply.text,
      input_tokens: reply.inputTokens,
      output_tokens: reply.outputTokens,
      credits_used: reply.creditsUsed,
      actions_dropped: reply.actionsDropped,
      completed_at: now,
    })
    .where('id', '=', id)
    .where('status', '=', 'processing')
    .execute();
}

/** Ends a processing run without a reply (failed, cancelled, timed out); one already ended is left as it is. */
export async function storeRunEnding(db: Db, id: string, status: 'failed' | 'cancelled' | 'timed_out', detail: string | null, now: Date): Promise<void> {
  await db
    .updateTable('runs')
    .set({ status, error: status === 'cancelled' ? null : detail, status_detail: detail, completed_at: now })
    .where('id', '=', id)
    .where('status', '=', 'processing')
    .execute();
}
