import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { migrateToLatest, openDatabase } from '../../src/db/connect.js';

export interface CreatedDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database named `<prefix>_<random>` on the server of `adminUrl`; `drop()` removes it. */
export async function createDatabase(adminUrl: string, prefix: string): Promise<CreatedDatabase> {
  const name = `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  await withAdmin(adminUrl, (admin) => admin.query(`create database ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => withAdmin(adminUrl, (admin) => admin.query(`drop database if exists ${name} with (force)`)),
  };
}

/**
 * A migrated database of one's own, on the server of `sharedUrl`, for a test whose processes must
 * not meet other test files' stacks: those share one database, and every worker process sweeps it
 * for unstarted runs (RUN_RECONCILE_INTERVAL_SECONDS) and starts them on its own task queue, with
 * its own settings (e.g. no loopback allowance, which disabled a chaos test's endpoints once).
 * `drop()` removes it.
 */
export async function ownDatabase(sharedUrl: string): Promise<CreatedDatabase> {
  const created = await createDatabase(sharedUrl, 'aw_own');
  const database = await openDatabase({ url: created.url });
  try {
    await migrateToLatest(database.db);
  } finally {
    await database.close();
  }
  return created;
}

async function withAdmin(adminUrl: string, run: (admin: pg.Client) => Promise<unknown>): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
    await run(admin);
  } finally {
    await admin.end().catch(() => undefined);
  }
}
