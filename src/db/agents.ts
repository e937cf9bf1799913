import type { Kysely } from 'kysely';
import { compiledOnce, type Db } from './executor.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { Agent, AgentProvider, Database } from './schema.js';

export type { Agent, AgentProvider, AgentsTable, AgentUpdate, NewAgent } from './schema.js';

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
  now: Date = new Date(),
) {
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
  return (await liveAgentOfOrg(db, orgId, id))[0];
}

const liveAgentOfOrg = compiledOnce((db: Db, orgId: string, id: string) =>
  db.selectFrom('agents').selectAll().where('id', '=', id).where('org_id', '=', orgId).where('deleted_at', 'is', null),
);

export async function findAgentById(db: Db, id: string) {
  return (await agentById(db, id))[0];
}

const agentById = compiledOnce((db: Db, id: string) => db.selectFrom('agents').selectAll().where('id', '=', id));

/** What a run's workflow start names (summary, search attributes). */
export async function findAgentSummary(db: Db, id: string) {
  return db.selectFrom('agents').select(['id', 'name', 'run_timeout_seconds']).where('id', '=', id).executeTakeFirstOrThrow();
}

/** The ids among `ids` that are live agents of the org. */
export async function findLiveAgentIds(db: Db, orgId: string, ids: readonly string[]): Promise<string[]> {
  const rows = await db.selectFrom('agents').select('id').where('org_id', '=', orgId).where('id', 'in', [...ids]).where('deleted_at', 'is', null).execute();
  return rows.map((r) => r.id);
}

/** An org's live agents, newest first; an agent-scoped caller sees its own agent only. */
export async function listAgents(db: Db, orgId: string, filter: { agentId: string | null }, page: PageRequest): Promise<Page<Agent>> {
  let base = db.selectFrom('agents').where('org_id', '=', orgId).where('deleted_at', 'is', null);
  if (filter.agentId) base = base.where('id', '=', filter.agentId);
  return keysetPage(db, base, page);
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

/** Every agent's provider (secrets reseal). */
export async function listAgentProviders(db: Db) {
  return db.selectFrom('agents').select(['id', 'provider']).execute();
}

/** Compare-and-set of a provider: applies only while the row still holds `expected`. Returns rows changed. */
export async function replaceAgentProvider(db: Db, id: string, expected: unknown, next: AgentProvider): Promise<number> {
  const done = await db
    .updateTable('agents')
    .set({ provider: JSON.stringify(next) })
    .where('id', '=', id)
    .where('provider', '=', JSON.stringify(expected) as never)
    .executeTakeFirst();
  return Number(done.numUpdatedRows);
}
