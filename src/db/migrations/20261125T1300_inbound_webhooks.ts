import { sql, type Kysely } from 'kysely';

// Frozen in time: never import application code here.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('inbound_webhooks')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('org_id', 'uuid', (c) => c.notNull().references('orgs.id'))
    .addColumn('agent_id', 'uuid', (c) => c.notNull().references('agents.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    // The token is the credential: only its SHA-256 is kept, and its first characters for lists.
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('token_prefix', 'text', (c) => c.notNull())
    .addColumn('outgoing_url', 'text')
    .addColumn('rate_limit_per_minute', 'integer', (c) => c.notNull().defaultTo(10))
    .addColumn('is_active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('deleted_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('inbound_webhooks_agent_idx').on('inbound_webhooks').columns(['agent_id', 'created_at']).execute();

  // Fixed one-minute windows, counted by one atomic upsert: correct across any number of API processes.
  await db.schema
    .createTable('rate_limit_counters')
    .addColumn('bucket', 'text', (c) => c.notNull())
    .addColumn('window_start', 'timestamptz', (c) => c.notNull())
    .addColumn('hits', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('rate_limit_counters_pkey', ['bucket', 'window_start'])
    .execute();

  await db.schema.alterTable('conversations').addColumn('inbound_webhook_id', 'uuid', (c) => c.references('inbound_webhooks.id')).execute();
  await db.schema
    .createIndex('conversations_webhook_user_idx')
    .on('conversations')
    .columns(['inbound_webhook_id', 'external_user_id', 'created_at'])
    .execute();
  await db.schema.alterTable('runs').addColumn('inbound_webhook_id', 'uuid', (c) => c.references('inbound_webhooks.id')).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('runs').dropColumn('inbound_webhook_id').execute();
  await db.schema.dropIndex('conversations_webhook_user_idx').execute();
  await db.schema.alterTable('conversations').dropColumn('inbound_webhook_id').execute();
  await db.schema.dropTable('rate_limit_counters').execute();
  await db.schema.dropTable('inbound_webhooks').execute();
}
