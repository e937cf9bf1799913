import { sql, type Kysely } from 'kysely';

// Frozen in time: never import application code here.

export async function up(db: Kysely<any>): Promise<void> {
  // Short-lived, run-scoped credentials for browsers' EventSource (which cannot send headers).
  await db.schema
    .createTable('stream_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('run_id', 'uuid', (c) => c.notNull().references('runs.id').onDelete('cascade'))
    .addColumn('api_key_id', 'uuid', (c) => c.notNull().references('api_keys.id').onDelete('cascade'))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('stream_tokens_expires_idx').on('stream_tokens').column('expires_at').execute();

  // One row per attempt in flight against a receiver: bounds concurrent attempts per endpoint
  // (or per org and callback origin) across every worker. Expired rows belong to a crashed holder.
  await db.schema
    .createTable('endpoint_leases')
    .addColumn('holder', 'text', (c) => c.primaryKey())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('endpoint_leases_target_idx').on('endpoint_leases').columns(['target', 'expires_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('endpoint_leases').execute();
  await db.schema.dropTable('stream_tokens').execute();
}
