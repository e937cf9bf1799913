import { sql, type Kysely } from 'kysely';

// Frozen in time: never import application code here.

/**
 * Credits are authorised, then captured. The balance is kept on the org row (a ledger SUM per
 * accepted run does not scale), next to what running runs hold; each run records its own hold,
 * so capture and release are idempotent by run id. Runs in flight at upgrade keep a null hold
 * and are charged as before.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('orgs')
    .addColumn('balance', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('held', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`update orgs set balance = coalesce((select sum(amount) from credit_entries e where e.org_id = orgs.id), 0)`.execute(db);
  // A backstop, never the check itself: holds are placed by a conditional update. An org the old
  // code overdrew (negative balance) can hold nothing until it is topped up.
  await sql`alter table orgs add constraint orgs_held_within_balance check (held >= 0 and (held = 0 or held <= balance))`.execute(db);
  await db.schema
    .alterTable('agents')
    .addColumn('max_credits_per_run', 'integer', (c) => c.notNull().defaultTo(100))
    .execute();
  await db.schema
    .alterTable('runs')
    .addColumn('credits_held', 'integer')
    .addColumn('actions_dropped', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // The reconciler's sweep: runs accepted but never started are few; find them without a scan.
  await sql`create index runs_unstarted_idx on runs (created_at) where status = 'processing' and started_at is null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists runs_unstarted_idx`.execute(db);
  await db.schema.alterTable('runs').dropColumn('credits_held').dropColumn('actions_dropped').execute();
  await db.schema.alterTable('agents').dropColumn('max_credits_per_run').execute();
  await sql`alter table orgs drop constraint orgs_held_within_balance`.execute(db);
  await db.schema.alterTable('orgs').dropColumn('balance').dropColumn('held').execute();
}
