import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { hashSecret } from '../../src/domain/apiKeys.js';
import { exitOf, spawnEntry } from '../support/processes.js';
import { request, startTestStack, testConfig, type TestStack } from '../support/stack.js';

const ADMIN_TOKEN = 'test-admin-token-0123456789';
let stack: TestStack; // ADMIN_TOKEN unset
let adminBase: string; // same database, ADMIN_TOKEN set
let closeAdmin: () => void;

beforeAll(async () => {
  stack = await startTestStack({ worker: false });
  const admin = await stack.startSecondApi({ config: testConfig({ ADMIN_TOKEN }) });
  adminBase = admin.baseUrl;
  closeAdmin = admin.close;
});
afterAll(async () => {
  closeAdmin?.();
  await stack?.close();
});

describe('admin API', () => {
  it('does not exist without ADMIN_TOKEN', async () => {
    const response = await stack.api('/v1/admin/orgs', { key: ADMIN_TOKEN, body: { name: 'Nope' } });
    expect(response.status).toBe(404);
    expect(response.body.code).toBe('NOT_FOUND');
  });

  it('refuses a wrong or missing admin token, and API keys', async () => {
    expect((await request(adminBase, '/v1/admin/orgs', { body: { name: 'x' } })).status).toBe(401);
    expect((await request(adminBase, '/v1/admin/orgs', { key: `${ADMIN_TOKEN}x`, body: { name: 'x' } })).status).toBe(401);
    const { apiKey } = await stack.newOrg();
    expect((await request(adminBase, '/v1/admin/orgs', { key: apiKey, body: { name: 'x' } })).status).toBe(401);
  });

  it('creates an org with its first key (shown once) and grants credits', async () => {
    const created = await request(adminBase, '/v1/admin/orgs', { key: ADMIN_TOKEN, body: { name: 'Acme', credits: 500 } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ org: { name: 'Acme' }, balance: 500, api_key: { agent_id: null, revoked_at: null } });
    const key: string = created.body.api_key.key;
    expect(key).toMatch(/^awk_[0-9a-f]{64}$/);

    const credits = await request(adminBase, '/v1/credits', { key });
    expect(credits.body).toMatchObject({ balance: 500, data: [{ kind: 'grant', amount: 500 }] });

    const grant = await request(adminBase, `/v1/admin/orgs/${created.body.org.id}/credits`, { key: ADMIN_TOKEN, body: { amount: 250, reason: 'Top-up' } });
    expect(grant.status).toBe(201);
    expect(grant.body).toMatchObject({ balance: 750, entry: { kind: 'grant', amount: 250, reason: 'Top-up' } });
    const correction = await request(adminBase, `/v1/admin/orgs/${created.body.org.id}/credits`, { key: ADMIN_TOKEN, body: { amount: -50, reason: 'Correction' } });
    expect(correction.body.balance).toBe(700);
    expect((await request(adminBase, '/v1/credits', { key })).body.balance).toBe(700);

    const zero = await request(adminBase, `/v1/admin/orgs/${created.body.org.id}/credits`, { key: ADMIN_TOKEN, body: { amount: 0, reason: '' } });
    expect(zero.status).toBe(422);
    expect(Object.keys(zero.body.details).sort()).toEqual(['amount', 'reason']);
    const unknown = await request(adminBase, '/v1/admin/orgs/00000000-0000-4000-8000-000000000000/credits', { key: ADMIN_TOKEN, body: { amount: 1, reason: 'x' } });
    expect(unknown.status).toBe(404);
  });
});

describe('CLI', () => {
  it('creates an org and prints its key once; the database keeps only the hash', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'aw-cli-'));
    try {
      const env = { DATA_DIR: dataDir, DATABASE_URL: inject('databaseUrl') ?? undefined };
      const usage = spawnEntry('src/cli.ts', env);
      expect((await exitOf(usage)).code).toBe(64);
      expect(usage.output()).toMatch(/usage:/);

      const child = spawnEntry('src/cli.ts', env, ['org', 'create', '--name', 'CLI Org', '--credits', '40']);
      expect((await exitOf(child)).code).toBe(0);
      const out = child.output();
      const printed = JSON.parse(out.slice(0, out.lastIndexOf('}') + 1));
      expect(printed.org.name).toBe('CLI Org');
      expect(printed.api_key.key).toMatch(/^awk_[0-9a-f]{64}$/);
      expect(printed).toMatchObject({ balance: 40, api_key: { id: expect.any(String), agent_id: null, revoked_at: null } });
      expect(out).toMatch(/not shown again/);
      // The CLI prints what the admin API answers: the same fields, of the same types.
      const viaApi = await request(adminBase, '/v1/admin/orgs', { key: ADMIN_TOKEN, body: { name: 'API Org', credits: 40 } });
      expect(shapeOf(printed)).toEqual(shapeOf(viaApi.body));

      const grant = spawnEntry('src/cli.ts', env, ['credits', 'grant', '--org', printed.org.id, '--amount', '60', '--reason', 'Top-up']);
      expect((await exitOf(grant)).code).toBe(0);
      expect(JSON.parse(grant.output())).toEqual({ org_id: printed.org.id, amount: 60, balance: 100 });
      const badGrant = spawnEntry('src/cli.ts', env, ['credits', 'grant', '--org', printed.org.id, '--amount', 'lots']);
      expect((await exitOf(badGrant)).code).toBe(64);

      const database = await openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL } : { pgliteDir: join(dataDir, 'pglite') });
      try {
        const row = await database.db.selectFrom('api_keys').selectAll().where('org_id', '=', printed.org.id).executeTakeFirstOrThrow();
        expect(row.key_hash).toBe(hashSecret(printed.api_key.key));
        expect(JSON.stringify(row)).not.toContain(printed.api_key.key.slice(4));
      } finally {
        await database.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** Field names and value types, recursively: two bodies with the same shape compare equal. */
function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shapeOf);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shapeOf(v)]).sort(([a], [b]) => String(a).localeCompare(String(b))));
  return value === null ? 'null' : typeof value;
}
