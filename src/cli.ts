import { parseArgs } from 'node:util';
import { resolve, join } from 'node:path';
import { presentCreatedOrg } from './api/admin/presenter.js';
import { loadConfigOrExit } from './config.js';
import { migrateToLatest, openDatabase } from './db/connect.js';
import { DEV_LOCK_FILE, liveRecordedProcess } from './devProcesses.js';
import { CreditsUnavailable, grantCredits } from './db/credits.js';
import { findAgent } from './db/agents.js';
import { findOrg } from './db/orgs.js';
import { PORTAL_DEFAULTS, PORTAL_SESSION_SCOPES, type PortalSessionScope } from './domain/portalSessions.js';
import { secretBoxFromConfig } from './secrets/box.js';
import { devSecretsKey } from './secrets/devKey.js';
import { resealSecrets } from './secrets/reseal.js';
import { createOrgWithKey } from './services/orgs.js';
import { issuePortalSession } from './services/portalSessions.js';

/**
 * Operator CLI: `npm run cli -- org create --name Acme`, `npm run cli -- migrate`.
 * Without DATABASE_URL it opens the dev stack's PGlite folder, which only one process may
 * hold: while `npm run dev` runs on that DATA_DIR (its dev.lock names a live pid) it refuses.
 */
const USAGE = `usage:
  npm run cli -- org create --name <name> [--credits <n>]
                                  create an org and print it with its first API key (api_key.key, shown once)
  npm run cli -- credits grant --org <org id> --amount <n> --reason <text>
                                  add (or, with a negative amount, correct) an org's credits
  npm run cli -- portal-session create --org <org id> --scopes <a,b> [--agent <agent id>] [--name <text>]
                                  [--expires-in <seconds, default 3600>] [--link-ttl <seconds, default 300>]
                                  print a single-use link that opens the console for the org (or one agent)
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
    agent: { type: 'string' },
    scopes: { type: 'string' },
    'expires-in': { type: 'string' },
    'link-ttl': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

const command = positionals.join(' ');
if (values.help || !['org create', 'credits grant', 'portal-session create', 'migrate', 'secrets reseal'].includes(command)) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(values.help ? 0 : 64);
}

const config = loadConfigOrExit({ APP_ENV: 'development' });
if (!config.DATABASE_URL) {
  // PGlite is one process's database: what we wrote beside a running dev stack would be lost.
  const dev = liveRecordedProcess(resolve(config.DATA_DIR), DEV_LOCK_FILE);
  if (dev?.pglite_dir) {
    process.stderr.write(
      `npm run dev (pid ${dev.pid}) holds the database in ${dev.pglite_dir}: stop it first (Ctrl-C), then run this again\n`,
    );
    process.exit(75);
  }
}
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
  } else if (command === 'portal-session create') {
    await createPortalSession();
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
      const box = secretBoxFromConfig({ ...config, SECRETS_KEY: config.SECRETS_KEY ?? devSecretsKey(config.DATA_DIR, { create: false }) });
      const created = await createOrgWithKey(database.db, { name, credits }, box);
      // The admin API's shape (POST /v1/admin/orgs): the key is api_key.key.
      process.stdout.write(
        `${JSON.stringify(presentCreatedOrg(created, credits), null, 2)}\n` +
          'Store api_key.key now: it is not shown again (callback_secret, which signs run callbacks, stays readable at GET /v1/callback-secret).\n',
      );
    }
  }
} finally {
  await database.close();
}

/** Operator's path to a portal link (the CLI holds the database, so it acts as the admin token does). */
async function createPortalSession(): Promise<void> {
  const fail = (message: string) => {
    process.stderr.write(`${message}\n`);
    process.exitCode = 64;
  };
  const scopes = (values.scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = scopes.filter((s) => !(PORTAL_SESSION_SCOPES as readonly string[]).includes(s));
  const expiresIn = values['expires-in'] === undefined ? PORTAL_DEFAULTS.sessionSeconds : Number(values['expires-in']);
  const linkTtl = values['link-ttl'] === undefined ? PORTAL_DEFAULTS.linkSeconds : Number(values['link-ttl']);
  const name = values.name?.trim() || 'Portal session';
  const org = values.org ? await findOrg(database.db, values.org).catch(() => undefined) : undefined;
  if (!org) return fail('portal-session create needs --org <existing org id>');
  if (!scopes.length || unknown.length || new Set(scopes).size !== scopes.length) {
    return fail(`--scopes takes distinct scopes, comma-separated, from: ${PORTAL_SESSION_SCOPES.join(', ')}`);
  }
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > PORTAL_DEFAULTS.maxSessionSeconds) {
    return fail(`--expires-in takes whole seconds from 1 to ${PORTAL_DEFAULTS.maxSessionSeconds}`);
  }
  if (!Number.isInteger(linkTtl) || linkTtl < 1 || linkTtl > PORTAL_DEFAULTS.maxLinkSeconds) {
    return fail(`--link-ttl takes whole seconds from 1 to ${PORTAL_DEFAULTS.maxLinkSeconds}`);
  }
  if (name.length > 100) return fail('--name takes at most 100 characters');
  const agent = values.agent ? await findAgent(database.db, org.id, values.agent).catch(() => undefined) : undefined;
  if (values.agent && !agent) return fail('--agent must name an existing agent of the org');
  const { row, url } = await issuePortalSession(
    database.db,
    config,
    {
      orgId: org.id,
      agentId: agent?.id ?? null,
      name,
      scopes: scopes as PortalSessionScope[],
      expiresInSeconds: expiresIn,
      linkTtlSeconds: linkTtl,
      createdBy: 'cli',
    },
    new Date(),
  );
  process.stdout.write(
    `${url}\n` +
      `${JSON.stringify({ id: row.id, org_id: row.org_id, agent_id: row.agent_id, scopes: row.scopes, link_expires_at: row.link_expires_at, expires_at: row.expires_at })}\n` +
      'The link opens once, until link_expires_at; revoke the session with DELETE /v1/portal-sessions/<id>.\n',
  );
}
