import { sql, type Kysely } from 'kysely';

// Frozen in time: never import application code here.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('orgs')
    .addColumn('low_balance_threshold', 'bigint', (c) => c.notNull().defaultTo(100))
    .execute();

  // Signing secrets must be recoverable to sign with, so they are stored, never shown twice.
  await db.schema
    .createTable('signing_secrets')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('org_id', 'uuid', (c) => c.notNull().references('orgs.id'))
    .addColumn('owner', 'text', (c) => c.notNull()) // 'callbacks' or 'endpoint:<id>'
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('signing_secrets_owner_idx').on('signing_secrets').columns(['org_id', 'owner', 'created_at']).execute();

  await db.schema
    .createTable('task_definitions')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('org_id', 'uuid', (c) => c.notNull().references('orgs.id'))
    .addColumn('agent_id', 'uuid', (c) => c.notNull().references('agents.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('instructions', 'text', (c) => c.notNull())
    .addColumn('output_type', 'text', (c) => c.notNull().check(sql`output_type in ('text', 'json')`))
    .addColumn('tools', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('deleted_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('task_definitions_agent_idx').on('task_definitions').columns(['agent_id', 'created_at']).execute();

  await db.schema
    .createTable('conversations')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('org_id', 'uuid', (c) => c.notNull().references('orgs.id'))
    .addColumn('agent_id', 'uuid', (c) => c.notNull().references('agents.id'))
    .addColumn('subject', 'text')
    .addColumn('external_user_id', 'text')
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .alterTable('runs')
    .addColumn('conversation_id', 'uuid', (c) => c.references('conversations.id'))
    .addColumn('subject', 'text')
    .addColumn('context', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('task_definition_id', 'uuid', (c) => c.references('task_definitions.id'))
    .addColumn('callback_url', 'text')
    .addColumn('idempotency_key', 'text')
    .addColumn('request_hash', 'text')
    .addColumn('status_detail', 'text')
    .addColumn('event_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // An Idempotency-Key names one run per org, for good (keys live at least 24 h: here, forever).
  await db.schema.createIndex('runs_idempotency_idx').on('runs').columns(['org_id', 'idempotency_key']).unique().execute();

  await db.schema
    .createTable('messages')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('conversation_id', 'uuid', (c) => c.notNull().references('conversations.id'))
    .addColumn('run_id', 'uuid', (c) => c.references('runs.id'))
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('user', 'assistant')`))
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('messages_run_role_key', ['run_id', 'role'])
    .execute();
  await db.schema.createIndex('messages_conversation_idx').on('messages').columns(['conversation_id', 'created_at']).execute();

  // The live stream of a run (SSE); sequence numbers come from runs.event_seq.
  await db.schema
    .createTable('run_events')
    .addColumn('run_id', 'uuid', (c) => c.notNull().references('runs.id'))
    .addColumn('sequence', 'integer', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('dedupe_key', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('run_events_pkey', ['run_id', 'sequence'])
    .addUniqueConstraint('run_events_dedupe_key', ['run_id', 'dedupe_key'])
    .execute();

  // Customer-facing events (outbound webhooks); dedupe_key makes emitting idempotent.
  await db.schema
    .createTable('events')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('org_id', 'uuid', (c) => c.notNull().references('orgs.id'))
    .addColumn('agent_id', 'uuid', (c) => c.references('agents.id'))
    .addColumn('run_id', 'uuid', (c) => c.references('runs.id'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .addColumn('dedupe_key', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('events_org_created_idx').on('events').columns(['org_id', 'created_at']).execute();

  // A message to deliver somewhere (a run's callback now, endpoint deliveries later) and its attempts.
  await db.schema
    .createTable('deliveries')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('org_id', 'uuid', (c) => c.notNull().references('orgs.id'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('callback', 'endpoint')`))
    .addColumn('run_id', 'uuid', (c) => c.references('runs.id'))
    .addColumn('event_id', 'uuid', (c) => c.references('events.id'))
    .addColumn('endpoint_id', 'uuid')
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull()) // webhook-id: the same on every attempt
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'succeeded', 'failed')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_attempt_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('deliveries_message_key', ['kind', 'message_id', 'endpoint_id'], (c) => c.nullsNotDistinct())
    .execute();
  await db.schema.createIndex('deliveries_run_idx').on('deliveries').column('run_id').execute();

  await db.schema
    .createTable('delivery_attempts')
    .addColumn('delivery_id', 'uuid', (c) => c.notNull().references('deliveries.id'))
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('status_code', 'integer')
    .addColumn('latency_ms', 'integer', (c) => c.notNull())
    .addColumn('response_excerpt', 'text')
    .addColumn('error', 'text')
    .addColumn('succeeded', 'boolean', (c) => c.notNull())
    .addPrimaryKeyConstraint('delivery_attempts_pkey', ['delivery_id', 'attempt'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['delivery_attempts', 'deliveries', 'events', 'run_events', 'messages']) {
    await db.schema.dropTable(table).execute();
  }
  await db.schema.dropIndex('runs_idempotency_idx').execute();
  for (const column of ['conversation_id', 'subject', 'context', 'task_definition_id', 'callback_url', 'idempotency_key', 'request_hash', 'status_detail', 'event_seq']) {
    await db.schema.alterTable('runs').dropColumn(column).execute();
  }
  for (const table of ['conversations', 'task_definitions', 'signing_secrets']) await db.schema.dropTable(table).execute();
  await db.schema.alterTable('orgs').dropColumn('low_balance_threshold').execute();
}
