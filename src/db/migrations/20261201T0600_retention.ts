import { sql, type Kysely } from 'kysely';

// Frozen in time: never import application code here.

/**
 * Retention: runs and everything hanging off them are purged after the org's window
 * (orgs.retention_days, null = the operator's RETENTION_DAYS). The ledger is kept for good:
 * its run_id stays as a plain reference (the charge's audit trail) instead of a foreign key
 * that would forbid deleting the run. The indexes serve the purge's lookups and the foreign-key
 * checks its deletes trigger (without them each deleted run scans the events table).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table orgs add column retention_days integer check (retention_days between 1 and 3650)`.execute(db);
  await sql`alter table credit_entries drop constraint if exists credit_entries_run_id_fkey`.execute(db);
  await sql`create index events_run_idx on events (run_id) where run_id is not null`.execute(db);
  await sql`create index runs_conversation_idx on runs (conversation_id)`.execute(db);
  await sql`create index stream_tokens_run_idx on stream_tokens (run_id)`.execute(db);
  // A run's events are appended under its row lock, which already makes a dedupe key unique per
  // run (src/db/events.ts appendRunEvent): the second index on every run event is bytes for nothing.
  await sql`alter table run_events drop constraint if exists run_events_dedupe_key`.execute(db);
  // Idempotency-Keys expire after 24 h: the sweep finds the expired ones without a scan.
  await sql`create index runs_idempotency_created_idx on runs (created_at) where idempotency_key is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const index of ['runs_idempotency_created_idx', 'stream_tokens_run_idx', 'runs_conversation_idx', 'events_run_idx']) {
    await sql`drop index if exists ${sql.raw(index)}`.execute(db);
  }
  await sql`alter table run_events add constraint run_events_dedupe_key unique (run_id, dedupe_key)`.execute(db);
  await sql`alter table credit_entries add constraint credit_entries_run_id_fkey foreign key (run_id) references runs (id) not valid`.execute(db);
  await sql`alter table orgs drop column retention_days`.execute(db);
}
