import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSecretBox, keyIdOf } from '../../src/secrets/box.js';
import { resealSecrets } from '../../src/secrets/reseal.js';
import { exitOf, spawnEntry } from '../support/processes.js';
import { startTestStack, TEST_SECRETS_KEY, type TestStack } from '../support/stack.js';

/**
 * Key rotation end to end: secrets sealed under the old key (and a row still in plaintext from
 * before SECRETS_KEY existed) are all resealed under the new key, open to the same values, and
 * a second pass has nothing left to do.
 */
let stack: TestStack;
let key: string;

beforeAll(async () => {
  // Its own database: a reseal touches every row, and other files share the run's database.
  stack = await startTestStack({ worker: false, privateDatabase: true });
  ({ apiKey: key } = await stack.newOrg('Rotating org'));
});
afterAll(() => stack?.close());

it('reseals every kind of stored secret under a new key; the old key can then go', async () => {
  const agent = await stack.api('/v1/agents', {
    key,
    body: { name: 'Keyed', provider: { kind: 'http', url: 'https://agent.example.com/run', headers: { Authorization: 'Bearer agent-credential-1234' } } },
  });
  expect(agent.status).toBe(201);
  const endpoint = await stack.api('/v1/endpoints', { key, body: { url: 'https://hooks.example.com/in', events: ['run.completed'], headers: { 'X-Api-Key': 'endpoint-credential-5678' } } });
  expect(endpoint.status).toBe(201);
  const trigger = await stack.api(`/v1/agents/${agent.body.id}/triggers`, { key, body: { name: 'gh', scheme: 'github', message_template: 'x {{ payload.a }}' } });
  expect(trigger.status).toBe(201);
  const callback = await stack.api('/v1/callback-secret/rotate', { key, method: 'POST' });
  expect(callback.status).toBe(201);

  const db = stack.database.db;
  const oldBox = stack.secrets;
  // A row from before SECRETS_KEY: the callback secret stored as plaintext.
  const rows = await db.selectFrom('signing_secrets').select(['id', 'secret']).execute();
  const callbackRow = rows.find((r) => oldBox.open(r.secret) === callback.body.secret)!;
  await db.updateTable('signing_secrets').set({ secret: callback.body.secret }).where('id', '=', callbackRow.id).execute();

  const read = async () => ({
    signing: (await db.selectFrom('signing_secrets').select('secret').execute()).map((r) => r.secret),
    triggers: (await db.selectFrom('triggers').select('secret').where('id', '=', trigger.body.id).execute()).map((r) => r.secret!),
    endpoint: Object.values((await db.selectFrom('endpoints').select('headers').where('id', '=', endpoint.body.id).executeTakeFirstOrThrow()).headers),
    agent: Object.values(((await db.selectFrom('agents').select('provider').where('id', '=', agent.body.id).executeTakeFirstOrThrow()).provider as { headers: Record<string, string> }).headers),
  });
  const before = await read();
  const plain = (values: Record<string, string[]>, open: (s: string) => string) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.map(open)]));
  const expected = plain(before, (s) => oldBox.open(s));
  expect(expected.signing).toContain(callback.body.secret);
  expect(expected.endpoint).toEqual(['endpoint-credential-5678']);
  expect(expected.agent).toEqual(['Bearer agent-credential-1234']);
  expect(expected.triggers).toEqual([trigger.body.secret]);

  const newKey = randomBytes(32);
  const newBox = createSecretBox(newKey, [Buffer.from(TEST_SECRETS_KEY, 'base64')]);
  const counts = await resealSecrets(db, newBox);
  // The callback secret (plaintext) and the endpoint's signing secret; one trigger, one header each.
  expect(counts).toEqual({ signing_secrets: 2, triggers: 1, endpoint_headers: 1, agent_headers: 1 });

  const after = await read();
  const sealedWithNew = `enc:v1:${keyIdOf(newKey)}:`;
  for (const value of Object.values(after).flat()) expect(value.startsWith(sealedWithNew), value.slice(0, 20)).toBe(true);
  // The new key alone opens everything: the old one can leave SECRETS_KEY_PREVIOUS.
  expect(plain(after, (s) => createSecretBox(newKey).open(s))).toEqual(expected);
  expect(await resealSecrets(db, newBox)).toEqual({ signing_secrets: 0, triggers: 0, endpoint_headers: 0, agent_headers: 0 });
});

it('npm run cli -- secrets reseal needs a key (SECRETS_KEY, or the dev stack\'s key file), and reports what it sealed', async () => {
  // The CLI on a PGlite folder of its own (no DATABASE_URL), as an operator of the dev stack runs it.
  const dataDir = mkdtempSync(join(tmpdir(), 'aw-reseal-'));
  try {
    const run = async (env: Record<string, string>) => {
      const cli = spawnEntry('src/cli.ts', { DATA_DIR: dataDir, ...env }, ['secrets', 'reseal']);
      return { code: (await exitOf(cli)).code, output: cli.output().trim() };
    };
    const withoutKey = await run({});
    expect(withoutKey.code).toBe(64);
    expect(withoutKey.output).toMatch(/^secrets reseal needs SECRETS_KEY/);
    const nothing = { resealed: { signing_secrets: 0, triggers: 0, endpoint_headers: 0, agent_headers: 0 } };
    const withKey = await run({ SECRETS_KEY: randomBytes(32).toString('base64') });
    expect(withKey.code).toBe(0);
    expect(JSON.parse(withKey.output.split('\n').at(-1)!)).toEqual(nothing);
    writeFileSync(join(dataDir, 'secrets.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    const withDevKey = await run({});
    expect(withDevKey.code).toBe(0);
    expect(JSON.parse(withDevKey.output.split('\n').at(-1)!)).toEqual(nothing);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
