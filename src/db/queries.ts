import { sql, type Kysely, type Selectable, type SelectQueryBuilder, type Transaction } from 'kysely';
import type { AgentProvider, Database, NewRun, Run, RunStatus } from './schema.js';

/** Repositories: plain functions taking the database (or a transaction) first. */
type Db = Kysely<Database> | Transaction<Database>;

export async function insertOrg(db: Db, org: { id: string; name: string }) {
  return db.insertInto('orgs').values(org).returningAll().executeTakeFirstOrThrow();
}

export async function findOrg(db: Db, id: string) {
  return db.selectFrom('orgs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertApiKey(
  db: Db,
  key: { id: string; orgId: string; agentId: string | null; name: string; prefix: string; hash: string; scopes: readonly string[] },
) {
  return db
    .insertInto('api_keys')
    .values({
      id: key.id,
      org_id: key.orgId,
      agent_id: key.agentId,
      name: key.name,
      prefix: key.prefix,
      key_hash: key.hash,
      scopes: [...key.scopes],
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findActiveApiKeyByHash(db: Db, hash: string) {
  return db
    .selectFrom('api_keys')
    .selectAll()
    .where('key_hash', '=', hash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
}

/**
 * Records a key's use at most once a minute, so authentication is not a write per request. `lastUsedAt` is what the caller just read: a key
 * used within the minute costs no write at all (the common case on a busy key), and the WHERE
 * keeps concurrent requests from writing twice.
 */
export async function touchApiKey(db: Db, id: string, lastUsedAt: Date | null, now: Date) {
  const staleBefore = new Date(now.getTime() - 60_000);
  if (lastUsedAt && lastUsedAt >= staleBefore) return;
  await db
    .updateTable('api_keys')
    .set({ last_used_at: now })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', staleBefore)]))
    .execute();
}

export async function insertAgent(
  db: Db,
  agent: {
    id: string;
    orgId: string;
    name: string;
    instructions?: string;
    provider: AgentProvider;
    allow_callback_urls?: boolean;
    run_timeout_seconds?: number;
    max_credits_per_run?: number;
    max_concurrent_runs?: number | null;
    metadata?: Record<string, unknown>;
  },
) {
  const now = new Date();
  return db
    .insertInto('agents')
    .values({
      id: agent.id,
      org_id: agent.orgId,
      name: agent.name,
      instructions: agent.instructions ?? '',
      allow_callback_urls: agent.allow_callback_urls,
      run_timeout_seconds: agent.run_timeout_seconds,
      max_credits_per_run: agent.max_credits_per_run,
      max_concurrent_runs: agent.max_concurrent_runs,
      provider: JSON.stringify(agent.provider),
      metadata: JSON.stringify(agent.metadata ?? {}),
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** An org's live agent; deleted agents and other orgs' agents are simply not found. */
export async function findAgent(db: Db, orgId: string, id: string) {
  return db
    .selectFrom('agents')
    .selectAll()
    .where('id', '=', id)
    .where('org_id', '=', orgId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

export async function findAgentById(db: Db, id: string) {
  return db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertRun(db: Db, run: NewRun) {
  return db.insertInto('runs').values(run).returningAll().executeTakeFirstOrThrow();
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

/** Idempotent: a retried activity finds the run already started and changes nothing. */
export async function markRunStarted(db: Db, id: string, now: Date) {
  await db
    .updateTable('runs')
    .set({ started_at: now })
    .where('id', '=', id)
    .where('started_at', 'is', null)
    .execute();
}

/**
 * Moves a run to a terminal state exactly once. Returns false when the run already ended,
 * so a retried activity (or a worker that died after the write) never stores a second result.
 */
export async function finishRun(
  db: Db,
  id: string,
  outcome: {
    status: Exclude<RunStatus, 'processing'>;
    result?: string | null;
    error?: string | null;
    inputTokens?: number | null;
    outputTokens?: number | null;
    now: Date;
  },
): Promise<boolean> {
  const updated = await db
    .updateTable('runs')
    .set({
      status: outcome.status,
      result: outcome.result ?? null,
      error: outcome.error ?? null,
      input_tokens: outcome.inputTokens ?? null,
      output_tokens: outcome.outputTokens ?? null,
      completed_at: outcome.now,
    })
    .where('id', '=', id)
    .where('status', '=', 'processing')
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) === 1;
}

export interface Page {
  page: number;
  limit: number;
}

export async function listAgents(db: Db, orgId: string, filter: { agentId: string | null }, page: Page) {
  let base = db.selectFrom('agents').where('org_id', '=', orgId).where('deleted_at', 'is', null);
  if (filter.agentId) base = base.where('id', '=', filter.agentId);
  return newestFirstPage(base, page);
}

export async function updateAgent(
  db: Db,
  orgId: string,
  id: string,
  patch: {
    name?: string;
    instructions?: string;
    provider?: AgentProvider;
    allow_callback_urls?: boolean;
    run_timeout_seconds?: number;
    max_credits_per_run?: number;
    max_concurrent_runs?: number | null;
    metadata?: Record<string, unknown>;
  },
  now: Date,
) {
  const { provider, metadata, ...plain } = patch;
  return db
    .updateTable('agents')
    .set({
      ...plain,
      ...(provider ? { provider: JSON.stringify(provider) } : {}),
      ...(metadata ? { metadata: JSON.stringify(metadata) } : {}),
      updated_at: now,
    })
    .where('id', '=', id)
    .where('org_id', '=', orgId)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Soft delete: the agent disappears from the API and its triggers stop working, while its
 * runs stay readable. Keys and portal sessions scoped to it are revoked with it: they could reach nothing else.
 */
export async function softDeleteAgent(db: Kysely<Database>, orgId: string, id: string, now: Date): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const deleted = await trx
      .updateTable('agents')
      .set({ deleted_at: now, updated_at: now })
      .where('id', '=', id)
      .where('org_id', '=', orgId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (Number(deleted.numUpdatedRows) !== 1) return false;
    await trx.updateTable('api_keys').set({ revoked_at: now }).where('agent_id', '=', id).where('revoked_at', 'is', null).execute();
    await trx.updateTable('portal_sessions').set({ revoked_at: now }).where('agent_id', '=', id).where('revoked_at', 'is', null).execute();
    return true;
  });
}

export async function listApiKeys(db: Db, orgId: string, filter: { agentId: string | null }, page: Page) {
  let base = db.selectFrom('api_keys').where('org_id', '=', orgId);
  if (filter.agentId) base = base.where('agent_id', '=', filter.agentId);
  return newestFirstPage(base, page);
}

export async function findApiKey(db: Db, orgId: string, id: string) {
  return db.selectFrom('api_keys').selectAll().where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
}

/** Idempotent: revoking a revoked key keeps its first revocation time. */
export async function revokeApiKey(db: Db, orgId: string, id: string, now: Date) {
  await db
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('org_id', '=', orgId)
    .where('revoked_at', 'is', null)
    .execute();
}

export interface RunFilter {
  agentId?: string | null;
  status?: RunStatus;
  createdAfter?: Date;
  createdBefore?: Date;
}

export async function listRuns(db: Db, orgId: string, filter: RunFilter, page: Page) {
  let base = db.selectFrom('runs').where('org_id', '=', orgId);
  if (filter.agentId) base = base.where('agent_id', '=', filter.agentId);
  if (filter.status) base = base.where('status', '=', filter.status);
  if (filter.createdAfter) base = base.where('created_at', '>=', filter.createdAfter);
  if (filter.createdBefore) base = base.where('created_at', '<', filter.createdBefore);
  return newestFirstPage(base, page);
}

/** The org's ledger; for an agent-scoped caller, grants plus its own agent's charges only. */
export async function listCreditEntries(db: Db, orgId: string, filter: { agentId: string | null }, page: Page) {
  let base = db.selectFrom('credit_entries').where('org_id', '=', orgId);
  if (filter.agentId) {
    const agentId = filter.agentId;
    base = base.where((eb) =>
      eb.or([eb('run_id', 'is', null), eb('run_id', 'in', eb.selectFrom('runs').select('id').where('agent_id', '=', agentId))]),
    );
  }
  return newestFirstPage(base, page);
}

/**
 * One page of a filtered query, newest first (created_at, then id), with the total count.
 * Every list route goes through this, so pagination behaves the same everywhere.
 */
export async function newestFirstPage<DB, TB extends keyof DB & string, O>(
  base: SelectQueryBuilder<DB, TB, O>,
  page: Page,
): Promise<{ rows: Selectable<DB[TB]>[]; total: number }> {
  const [count, rows] = await Promise.all([
    base.select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow() as unknown as Promise<{ n: string }>,
    base
      .selectAll()
      .orderBy(sql`created_at desc, id desc`)
      .offset((page.page - 1) * page.limit)
      .limit(page.limit)
      .execute() as unknown as Promise<Selectable<DB[TB]>[]>,
  ]);
  return { rows, total: Number(count.n) };
}
