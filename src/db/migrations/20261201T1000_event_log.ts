import { sql, type Kysely } from 'kysely';

/**
 * A customer event is stored when someone can read it: an enabled endpoint subscribes to it, or
 * the org keeps its whole event log (`event_log = 'all'`, kept for its retention window; null =
 * the operator's EVENT_LOG, `subscribed` by default).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table orgs add column event_log text check (event_log in ('subscribed', 'all'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table orgs drop column event_log`.execute(db);
}
