import { sql, type Kysely } from 'kysely';

// Frozen in time: never import application code here.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('triggers')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('org_id', 'uuid', (c) => c.notNull().references('orgs.id'))
    .addColumn('agent_id', 'uuid', (c) => c.notNull().references('agents.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('scheme', 'text', (c) =>
      c.notNull().check(sql`scheme in ('none', 'standard-webhooks', 'github', 'stripe', 'hmac-sha256')`),
    )
    // HMAC schemes need the secret itself to verify; `none` keeps only its token's SHA-256.
    .addColumn('secret', 'text')
    .addColumn('token_hash', 'text', (c) => c.unique())
    .addColumn('token_prefix', 'text')
    .addColumn('signature_header', 'text')
    .addColumn('signature_encoding', 'text', (c) => c.check(sql`signature_encoding in ('hex', 'base64')`))
    .addColumn('delivery_id_header', 'text')
    .addColumn('message_template', 'text', (c) => c.notNull())
    .addColumn('input_schema', 'jsonb')
    .addColumn('rate_limit_per_minute', 'integer', (c) => c.notNull().defaultTo(60))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_invoked_at', 'timestamptz')
    .addCheckConstraint(
      'triggers_credential_check',
      sql`(scheme = 'none' and token_hash is not null and secret is null) or (scheme <> 'none' and secret is not null and token_hash is null)`,
    )
    .addCheckConstraint('triggers_hmac_header_check', sql`(scheme = 'hmac-sha256') = (signature_header is not null)`)
    .execute();
  await db.schema.createIndex('triggers_agent_idx').on('triggers').columns(['agent_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('triggers').execute();
}
