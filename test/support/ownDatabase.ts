import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { migrateToLatest, openDatabase } from '../../src/db/connect.js';

/**
 * A migrated database of one's own, on the server of `sharedUrl`, for a test whose processes must
 * not meet other test files' stacks: those share one database, and every worker process sweeps it
 * for unstarted runs (RUN_RECONCILE_INTERVAL_SECONDS) and starts them on its own task queue, with
 * its own settings (e.g. no loopback allowance, which disabled a chaos test's endpoints once).
 * `drop()` removes it.
 */
export async function ownDatabase(sharedUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `aw_own_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: sharedUrl, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(sharedUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ url: url.toString() });
  try {
    await migrateToLatest(database.db);
  } finally {
    await database.close();
  }
  return {
    url: url.toString(),
    async drop() {
      const dropper = new pg.Client({ connectionString: sharedUrl, connectionTimeoutMillis: 5_000 });
      await dropper.connect();
      try {
        await dropper.query(`drop database if exists ${name} with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
