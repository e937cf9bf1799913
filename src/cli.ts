import { parseArgs } from 'node:util';
import { resolve, join } from 'node:path';
import { loadConfigOrExit } from './config.js';
import { migrateToLatest, openDatabase } from './db/connect.js';
import { CreditsUnavailable, grantCredits } from './db/credits.js';
import { findOrg } from './db/queries.js';
import { secretBoxFromConfig } from './secrets/box.js';
import { devSecretsKey } from './secrets/devKey.js';
import { resealSecrets } from './secrets/reseal.js';
import { createOrgWithKey } from './services/orgs.js';

/**
 * Operator CLI: `npm run cli -- org create --name Acme`, `npm run cli -- migrate`.
 * Without DATABASE_URL it opens the dev stack's PGlite folder, which only one process may
 * hold: stop `npm run dev` first.
 */
const USAGE = `usage:
  npm run cli -- org create --name <name> [--credits <n>]
                                  create an org and print its first API key (shown once)
  npm run cli -- credits grant --org <org id> --amount <n> --reason <text>
                                  add (or, with a negative amount, correct) an org's credits
  npm run cli -- migrate          apply database migrations
  npm run cli -- secrets reseal   seal every stored secret still in plaintext or under an older key with
                                  SECRETS_KEY (run after setting or rotating it; older keys in SECRETS_KEY_PREVIOUS)`;

const { positionals, values } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    credits: { type: 'string' },
    org: { type: 'string' },
    amount: { type: 'string' },
    reason: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

const command = positionals.join(' ');
if (values.help || !['org create', 'credits grant', 'migrate', 'secrets reseal'].includes(command)) {
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
  } else if (command === 'secrets reseal') {
    // The dev stack's generated key when the CLI opens its PGlite folder without SECRETS_KEY.
    const key = config.SECRETS_KEY ?? (config.DATABASE_URL ? undefined : devSecretsKey(config.DATA_DIR, { create: false }));
    if (!key) {
      process.stderr.write('secrets reseal needs SECRETS_KEY (the key to seal with; keys sealed earlier go in SECRETS_KEY_PREVIOUS)\n');
      process.exitCode = 64;
    } else {
      const counts = await resealSecrets(database.db, secretBoxFromConfig({ ...config, SECRETS_KEY: key }));
      process.stdout.write(`${JSON.stringify({ resealed: counts })}\n`);
    }
  } else if (command === 'credits grant') {
    const amount = Number(values.amount);
    const reason = values.reason?.trim();
    const org = values.org ? await findOrg(database.db, values.org).catch(() => undefined) : undefined;
    if (!org || !Number.isInteger(amount) || amount === 0 || !reason) {
      process.stderr.write('credits grant needs --org <existing org id> --amount <non-zero whole number> --reason <text>\n');
      process.exitCode = 64;
    } else {
      try {
        const { balance } = await grantCredits(database.db, { orgId: org.id, amount, reason });
        process.stdout.write(`${JSON.stringify({ org_id: org.id, amount, balance })}\n`);
      } catch (err) {
        if (!(err instanceof CreditsUnavailable)) throw err;
        process.stderr.write(`a correction of ${amount} would leave less than runs in progress hold (balance ${err.wallet.balance}, held ${err.wallet.held})\n`);
        process.exitCode = 65;
      }
    }
  } else {
    const name = values.name?.trim();
    const credits = values.credits === undefined ? 0 : Number(values.credits);
    if (!name || name.length > 200 || !Number.isInteger(credits) || credits < 0) {
      process.stderr.write('org create needs --name <1–200 characters> and optionally --credits <whole number ≥ 0>\n');
      process.exitCode = 64;
    } else {
      const created = await createOrgWithKey(database.db, { name, credits });
      process.stdout.write(
        `${JSON.stringify({ org: { id: created.org.id, name: created.org.name }, api_key: created.apiKey }, null, 2)}\n` +
          'Store the api_key now: it is not shown again.\n',
      );
    }
  }
} finally {
  await database.close();
}
