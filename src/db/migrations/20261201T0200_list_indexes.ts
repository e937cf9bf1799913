import { sql, type Kysely } from 'kysely';

/**
 * Keyset pagination (src/db/pagination.ts) reads every list newest first on (created_at, id):
 * one index per documented filter combination, each ending in (created_at, id), so a page is
 * one range scan and the capped total one bounded index-only scan.
 *
 * CONCURRENTLY-safe: the migrator runs in a transaction, where CREATE INDEX CONCURRENTLY is
 * impossible, so these are plain `if not exists`. On a large live database run
 * `node --import tsx scripts/createListIndexes.ts` first: it builds the same indexes
 * CONCURRENTLY (rebuilding any left invalid), and this migration then finds them and only drops
 * the indexes they supersede (a prefix of a new one).
 */
export const LIST_INDEXES: readonly { name: string; table: string; columns: string }[] = [
  { name: 'runs_org_created_id_idx', table: 'runs', columns: 'org_id, created_at, id' },
  { name: 'runs_org_agent_created_id_idx', table: 'runs', columns: 'org_id, agent_id, created_at, id' },
  { name: 'runs_org_status_created_id_idx', table: 'runs', columns: 'org_id, status, created_at, id' },
  { name: 'runs_org_agent_status_created_id_idx', table: 'runs', columns: 'org_id, agent_id, status, created_at, id' },
  { name: 'events_org_created_id_idx', table: 'events', columns: 'org_id, created_at, id' },
  { name: 'events_org_agent_created_id_idx', table: 'events', columns: 'org_id, agent_id, created_at, id' },
  { name: 'events_org_type_created_id_idx', table: 'events', columns: 'org_id, type, created_at, id' },
  { name: 'deliveries_endpoint_created_id_idx', table: 'deliveries', columns: 'endpoint_id, created_at, id' },
  { name: 'deliveries_endpoint_status_created_id_idx', table: 'deliveries', columns: 'endpoint_id, status, created_at, id' },
  { name: 'credit_entries_org_created_id_idx', table: 'credit_entries', columns: 'org_id, created_at, id' },
  { name: 'agents_org_created_id_idx', table: 'agents', columns: 'org_id, created_at, id' },
  { name: 'api_keys_org_created_id_idx', table: 'api_keys', columns: 'org_id, created_at, id' },
  { name: 'endpoints_org_created_id_idx', table: 'endpoints', columns: 'org_id, created_at, id' },
  { name: 'portal_sessions_org_created_id_idx', table: 'portal_sessions', columns: 'org_id, created_at, id' },
  { name: 'portal_sessions_created_id_idx', table: 'portal_sessions', columns: 'created_at, id' },
  { name: 'inbound_webhooks_agent_created_id_idx', table: 'inbound_webhooks', columns: 'agent_id, created_at, id' },
  { name: 'triggers_agent_created_id_idx', table: 'triggers', columns: 'agent_id, created_at, id' },
  { name: 'task_definitions_agent_created_id_idx', table: 'task_definitions', columns: 'agent_id, created_at, id' },
];

/** Older indexes that are a prefix of a new one: every query they served, the new one serves. */
const SUPERSEDED: readonly { name: string; table: string; columns: string }[] = [
  { name: 'runs_org_created_idx', table: 'runs', columns: 'org_id, created_at' },
  { name: 'events_org_created_idx', table: 'events', columns: 'org_id, created_at' },
  { name: 'deliveries_endpoint_idx', table: 'deliveries', columns: 'endpoint_id, created_at' },
  { name: 'credit_entries_org_created_idx', table: 'credit_entries', columns: 'org_id, created_at' },
  { name: 'agents_org_created_idx', table: 'agents', columns: 'org_id, created_at' },
  { name: 'api_keys_org_idx', table: 'api_keys', columns: 'org_id, created_at' },
  { name: 'endpoints_org_idx', table: 'endpoints', columns: 'org_id, created_at' },
  { name: 'portal_sessions_org_idx', table: 'portal_sessions', columns: 'org_id, created_at' },
  { name: 'inbound_webhooks_agent_idx', table: 'inbound_webhooks', columns: 'agent_id, created_at' },
  { name: 'triggers_agent_idx', table: 'triggers', columns: 'agent_id, created_at' },
  { name: 'task_definitions_agent_idx', table: 'task_definitions', columns: 'agent_id, created_at' },
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const index of LIST_INDEXES) {
    await sql`create index if not exists ${sql.id(index.name)} on ${sql.table(index.table)} (${sql.raw(index.columns)})`.execute(db);
  }
  for (const index of SUPERSEDED) await sql`drop index if exists ${sql.id(index.name)}`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const index of SUPERSEDED) {
    await sql`create index if not exists ${sql.id(index.name)} on ${sql.table(index.table)} (${sql.raw(index.columns)})`.execute(db);
  }
  for (const index of LIST_INDEXES) await sql`drop index if exists ${sql.id(index.name)}`.execute(db);
}
