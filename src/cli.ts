import { parseArgs } from 'node:util';
import { resolve, join } from 'node:path';
import { loadConfigOrExit } from './config.js';
import { migrateToLatest, openDatabase } from './db/connect.js';
import { createOrgWithKey } from './services/orgs.js';

/**
 * Operator CLI: `npm run cli -- org create --name Acme`, `npm run cli -- migrate`.
 * Without DATABASE_URL it opens the dev stack's PGlite folder, which only one process may
 * hold: stop `npm run dev` first.
 */
const USAGE = `usage:
  npm run cli -- org create --name <name>   create an org and print its first API key (shown once)
  npm run cli -- migrate                    apply database migrations`;

const { positionals, values } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});

const command = positionals.join(' ');
if (values.help || !['org create', 'migrate'].includes(command)) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(values.help ? 0 : 64);
}

const config = loadConfigOrExit({ APP_ENV: 'development' });
const database = await openDatabase({
  url: config.DATABASE_URL,
  pgliteDir: join(resolve(config.DATA_DIR), 'pglite'),
  poolSize: 2,
});
try {
  const migrated = await migrateToLatest(database.db);
  if (command === 'migrate') {
    const applied = migrated.results?.map((r) => r.migrationName) ?? [];
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
  } else {
    const name = values.name?.trim();
    if (!name || name.length > 200) {
      process.stderr.write('org create needs --name <1–200 characters>\n');
      process.exitCode = 64;
    } else {
      const created = await createOrgWithKey(database.db, { name });
      process.stdout.write(
        `${JSON.stringify({ org: { id: created.org.id, name: created.org.name }, api_key: created.apiKey }, null, 2)}\n` +
          'Store the api_key now: it is not shown again.\n',
      );
    }
  }
} finally {
  await database.close();
}
