import { sql, type Kysely } from 'kysely';

/**
 * Cluster-wide /metrics gauges computed by one process per interval and shared through the
 * database: `claimed_at` elects the process that recomputes (a conditional update), `data` is
 * what every scrape of every process reads.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('metric_snapshots')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('data', 'jsonb')
    .addColumn('computed_at', 'timestamptz')
    .addColumn('claimed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`'epoch'::timestamptz`))
    .execute();
  await sql`insert into metric_snapshots (name) values ('database_totals')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('metric_snapshots').execute();
}
