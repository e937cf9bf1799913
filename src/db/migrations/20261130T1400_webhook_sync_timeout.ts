import { sql, type Kysely } from 'kysely';

/** What a token URL answers when its synchronous wait runs out: 202 + status URL (as before) or 504 with the run id. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('inbound_webhooks')
    .addColumn('sync_timeout_status', 'integer', (c) => c.notNull().defaultTo(202).check(sql`sync_timeout_status in (202, 504)`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('inbound_webhooks').dropColumn('sync_timeout_status').execute();
}
