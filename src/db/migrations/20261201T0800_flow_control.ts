import { sql, type Kysely } from 'kysely';

/**
 * Flow control (issue 18): concurrency limits with a `queued` run status, per-endpoint delivery
 * rate limits, and bulk recovery of failed deliveries.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // `queued`: accepted, waiting for a slot under a concurrency limit. `scheduled` is listed too
  // (delayed runs, issue 18 item 2), so whichever of the two migrations runs last keeps both.
  await sql`alter table runs drop constraint runs_status_check`.execute(db);
  await sql`alter table runs add constraint runs_status_check
    check (status in ('processing', 'completed', 'failed', 'cancelled', 'timed_out', 'queued', 'scheduled'))`.execute(db);
  // When the run got its slot (arrival order under a limit); started_at stays the workflow's own start.
  await db.schema.alterTable('runs').addColumn('admitted_at', 'timestamptz').execute();
  await db.schema.alterTable('agents').addColumn('max_concurrent_runs', 'integer', (c) => c.check(sql`max_concurrent_runs >= 1`)).execute();
  await db.schema.alterTable('orgs').addColumn('max_concurrent_runs', 'integer', (c) => c.check(sql`max_concurrent_runs >= 1`)).execute();
  // Admission reads an org's queue in arrival order and counts its running runs.
  await sql`create index runs_queued_idx on runs (org_id, created_at, id) where status = 'queued'`.execute(db);
  await sql`create index runs_processing_idx on runs (org_id, agent_id) where status = 'processing'`.execute(db);

  await db.schema
    .alterTable('endpoints')
    .addColumn('rate_limit_per_second', 'integer', (c) => c.check(sql`rate_limit_per_second between 1 and 10000`))
    .execute();
  await db.schema.alterTable('deliveries').addColumn('throttled_ms', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  // GCRA state: the earliest moment the endpoint's next delivery may be sent.
  await db.schema
    .createTable('endpoint_send_slots')
    .addColumn('endpoint_id', 'uuid', (c) => c.primaryKey().references('endpoints.id').onDelete('cascade'))
    .addColumn('next_at', 'timestamptz', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('recoveries')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('org_id', 'uuid', (c) => c.notNull().references('orgs.id'))
    .addColumn('endpoint_id', 'uuid', (c) => c.notNull().references('endpoints.id'))
    .addColumn('since', 'timestamptz', (c) => c.notNull())
    .addColumn('until', 'timestamptz', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('running').check(sql`status in ('running', 'completed', 'failed')`))
    .addColumn('total', 'integer', (c) => c.notNull())
    .addColumn('sent', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('succeeded', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('enabled_endpoint', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .execute();
  // At most one recovery running per endpoint.
  await sql`create unique index recoveries_running_idx on recoveries (endpoint_id) where status = 'running'`.execute(db);
  await db.schema.createIndex('recoveries_org_created_idx').on('recoveries').columns(['org_id', 'created_at']).execute();
  // Recovery selects an endpoint's failed deliveries by their last attempt.
  await sql`create index deliveries_endpoint_failed_idx on deliveries (endpoint_id, last_attempt_at) where status = 'failed'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('recoveries').execute();
  await db.schema.dropTable('endpoint_send_slots').execute();
  await sql`drop index if exists deliveries_endpoint_failed_idx`.execute(db);
  await db.schema.alterTable('deliveries').dropColumn('throttled_ms').execute();
  await db.schema.alterTable('endpoints').dropColumn('rate_limit_per_second').execute();
  await sql`drop index if exists runs_queued_idx`.execute(db);
  await sql`drop index if exists runs_processing_idx`.execute(db);
  await db.schema.alterTable('orgs').dropColumn('max_concurrent_runs').execute();
  await db.schema.alterTable('runs').dropColumn('admitted_at').execute();
  await db.schema.alterTable('agents').dropColumn('max_concurrent_runs').execute();
  await sql`alter table runs drop constraint runs_status_check`.execute(db);
  await sql`alter table runs add constraint runs_status_check
    check (status in ('processing', 'completed', 'failed', 'cancelled', 'timed_out'))`.execute(db);
}
