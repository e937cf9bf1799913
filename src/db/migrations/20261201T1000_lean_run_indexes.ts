import { sql, type Kysely } from 'kysely';

/**
 * Fewer index entries per run (issue 19: bytes per run). Every run row is written four times
 * (insert, start, hold release, reply) and an update that changes an indexed column adds an entry
 * to every index of the table, so each index of `runs` costs a run several entries.
 *
 * - runs_agent_created_idx (agent_id, created_at): every query of runs by agent also names the org,
 *   which runs_org_agent_created_id_idx (org_id, agent_id, created_at, id) serves; agents are never
 *   deleted (soft delete), so no foreign-key check needs it either.
 * - runs_unstarted_idx: its predicate (status = 'processing') did not match the reconciler's
 *   query (status in processing/scheduled/queued), which scanned the whole table every 10 s; now
 *   the predicate is the query's status list, so the index serves it (started_at is null is
 *   checked on the few runs it holds). Leaving started_at out of every index lets the start of a
 *   run (started_at set) be a HOT update, as is the release of its hold (credits_held): no new
 *   index entries, when the row's page has room — hence fillfactor 85 on runs (new pages).
 * - runs_idempotency_idx and conversations_webhook_user_idx: only rows that have the key are
 *   looked up by it (an equality on it), so rows without one are left out.
 *
 * On a large live database build the new indexes CONCURRENTLY first (same names with a `_new`
 * suffix, then rename) — the migrator runs in a transaction; these are plain statements.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists runs_agent_created_idx`.execute(db);
  await sql`drop index if exists runs_unstarted_idx`.execute(db);
  await sql`create index runs_unstarted_idx on runs (created_at) where status in ('processing', 'scheduled', 'queued')`.execute(db);
  await sql`alter table runs set (fillfactor = 85)`.execute(db);
  await sql`drop index if exists runs_idempotency_idx`.execute(db);
  await sql`create unique index runs_idempotency_idx on runs (org_id, idempotency_key) where idempotency_key is not null`.execute(db);
  await sql`drop index if exists conversations_webhook_user_idx`.execute(db);
  await sql`create index conversations_webhook_user_idx on conversations (inbound_webhook_id, external_user_id, created_at)
            where inbound_webhook_id is not null and external_user_id is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table runs reset (fillfactor)`.execute(db);
  await sql`drop index if exists conversations_webhook_user_idx`.execute(db);
  await sql`create index conversations_webhook_user_idx on conversations (inbound_webhook_id, external_user_id, created_at)`.execute(db);
  await sql`drop index if exists runs_idempotency_idx`.execute(db);
  await sql`create unique index runs_idempotency_idx on runs (org_id, idempotency_key)`.execute(db);
  await sql`drop index if exists runs_unstarted_idx`.execute(db);
  await sql`create index runs_unstarted_idx on runs (created_at) where status = 'processing' and started_at is null`.execute(db);
  await sql`create index if not exists runs_agent_created_idx on runs (agent_id, created_at)`.execute(db);
}
