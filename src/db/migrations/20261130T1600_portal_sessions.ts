import { sql, type Kysely } from 'kysely';

// Frozen in time: never import application code here.

/**
 * Portal sessions: a single-use link (its SHA-256 only) exchanged once for a session token
 * (its SHA-256 only), both bounded in time, revocable, limited to one org and optionally one agent.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('portal_sessions')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('org_id', 'uuid', (c) => c.notNull().references('orgs.id'))
    .addColumn('agent_id', 'uuid', (c) => c.references('agents.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('scopes', sql`text[]`, (c) => c.notNull())
    .addColumn('link_hash', 'text', (c) => c.notNull().unique())
    .addColumn('link_expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('session_hash', 'text', (c) => c.unique())
    .addColumn('session_prefix', 'text')
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('exchanged_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('portal_sessions_org_idx').on('portal_sessions').columns(['org_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('portal_sessions').execute();
}
