import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { migrateToLatest, openDatabase, redactUrl } from '../../src/db/connect.js';
import { findTemporalCli } from '../../src/temporal/cli.js';
import { startTemporalDevServer } from '../../src/temporal/devServer.js';
import { bundleWorkflows } from '../../src/temporal/worker.js';
import { ensureConsoleBuilt } from '../../scripts/buildConsole.js';
import { createDatabase } from './ownDatabase.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    /** A fresh database made for this run, or null when the tests use PGlite. */
    databaseUrl: string | null;
    workflowBundlePath: string;
    /**
     * A fresh Postgres database for tests that need several processes on one database
     * (scale-out): the run's DATABASE_URL database, else one on the machine's local server,
     * else null (those tests then fail, naming what is missing).
     */
    sharedPostgresUrl: string | null;
  }
}

/**
 * Once per test run: a real Temporal dev server (in memory), a fresh PostgreSQL database when
 * DATABASE_URL is set (PGlite otherwise), the workflow bundle and the web console. A missing part fails the
 * run with a message naming it; nothing is skipped.
 */
export default async function setup(project: TestProject) {
  const scratch = mkdtempSync(join(tmpdir(), 'agent-webhooks-test-'));
  const teardown: Array<() => Promise<void>> = [async () => rmSync(scratch, { recursive: true, force: true })];

  let cli: string;
  try {
    cli = await findTemporalCli({ explicitPath: process.env.TEMPORAL_CLI, toolsDir: resolve('.tools') });
  } catch (err) {
    throw new Error(`Temporal is missing, so the integration tests cannot run: ${(err as Error).message}`, { cause: err });
  }
  const temporal = await startTemporalDevServer({ cli, port: 0, uiPort: null, namespace: 'default' });
  teardown.push(() => temporal.stop());

  let databaseUrl: string | null = null;
  if (process.env.DATABASE_URL) {
    databaseUrl = await createFreshDatabase(process.env.DATABASE_URL, teardown);
    const database = await openDatabase({ url: databaseUrl });
    await migrateToLatest(database.db);
    await database.close();
  }

  let sharedPostgresUrl = databaseUrl;
  if (!sharedPostgresUrl) {
    const local = process.env.TEST_POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    sharedPostgresUrl = await createFreshDatabase(local, teardown).catch(() => null);
    if (sharedPostgresUrl) {
      const database = await openDatabase({ url: sharedPostgresUrl });
      await migrateToLatest(database.db);
      await database.close();
    }
  }

  // The API serves the web console from web/dist: build it once, when missing or stale.
  await ensureConsoleBuilt();

  const bundle = await bundleWorkflows();
  const workflowBundlePath = join(scratch, 'workflow-bundle.js');
  writeFileSync(workflowBundlePath, bundle.code);

  project.provide('temporalAddress', temporal.address);
  project.provide('databaseUrl', databaseUrl);
  project.provide('workflowBundlePath', workflowBundlePath);
  project.provide('sharedPostgresUrl', sharedPostgresUrl);

  return async () => {
    for (const step of teardown.reverse()) await step();
  };
}

async function createFreshDatabase(adminUrl: string, teardown: Array<() => Promise<void>>): Promise<string> {
  const created = await createDatabase(adminUrl, 'aw_test').catch((err: Error) => {
    throw new Error(`PostgreSQL at DATABASE_URL (${redactUrl(adminUrl)}) is unusable for tests: ${err.message}`, { cause: err });
  });
  teardown.push(created.drop);
  return created.url;
}
