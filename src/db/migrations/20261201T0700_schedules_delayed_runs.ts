import { sql, type Kysely } from 'kysely';

/**
 * Scheduled runs (a `schedules` row per Temporal Schedule, org-scoped) and delayed runs: a run
 * may wait as `scheduled` until `run_at`; a run a schedule fired names it in `schedule_id`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('schedules')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('org_id', 'uuid', (c) => c.notNull().references('orgs.id'))
    .addColumn('agent_id', 'uuid', (c) => c.notNull().references('agents.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('cron', 'text')
    .addColumn('interval_seconds', 'integer')
    .addColumn('timezone', 'text', (c) => c.notNull().defaultTo('UTC'))
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('subject', 'text')
    .addColumn('context', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('task_definition_id', 'uuid')
    .addColumn('callback_url', 'text')
    .addColumn('overlap_policy', 'text', (c) => c.notNull().defaultTo('skip').check(sql`overlap_policy in ('skip', 'buffer_one', 'allow_all')`))
    .addColumn('end_at', 'timestamptz')
    .addColumn('paused', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('schedules_spec_check', sql`(cron is null) <> (interval_seconds is null)`)
    .execute();
  await db.schema.createIndex('schedules_org_created_idx').on('schedules').columns(['org_id', 'created_at']).execute();
  await db.schema.createIndex('schedules_agent_idx').on('schedules').column('agent_id').execute();

  await db.schema.alterTable('runs').addColumn('run_at', 'timestamptz').addColumn('schedule_id', 'uuid').execute();
  await db.schema.alterTable('runs').dropConstraint('runs_status_check').execute();
  await db.schema
    .alterTable('runs')
    .addCheckConstraint('runs_status_check', sql`status in ('scheduled', 'processing', 'completed', 'failed', 'cancelled', 'timed_out')`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('runs').dropConstraint('runs_status_check').execute();
  await db.schema
    .alterTable('runs')
    .addCheckConstraint('runs_status_check', sql`status in ('processing', 'completed', 'failed', 'cancelled', 'timed_out')`)
    .execute();
  await db.schema.alterTable('runs').dropColumn('schedule_id').dropColumn('run_at').execute();
  await db.schema.dropTable('schedules').execute();
}
