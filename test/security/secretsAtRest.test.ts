import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/index.js';
import { endpointSecretOwner } from '../../src/domain/deliveryPayload.js';
import { hashSecret } from '../../src/domain/apiKeys.js';
import { createLogger } from '../../src/logger.js';
import { outboundClient } from '../../src/outbound/fromConfig.js';
import { secretBoxFromConfig } from '../../src/secrets/box.js';
import { count } from '../support/figures.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, request, startTestStack, type TestStack } from '../support/stack.js';

/**
 * Secrets the product must read back (endpoint and callback signing secrets, trigger HMAC
 * secrets, endpoint and HTTP-agent header values) are stored sealed: a dump of every table holds
 * none of them, and yet every one of them still signs, verifies or is sent.
 */
let stack: TestStack;
let key: string;
let orgId: string;
let receiver: Receiver;
let agentService: { url: string; seen: IncomingHttpHeaders[]; close(): Promise<void> };

const ENDPOINT_HEADER = `hdr-${randomBytes(16).toString('hex')}`;
const ENDPOINT_HEADER_UPDATED = `hdr-updated-${randomBytes(16).toString('hex')}`;
const AGENT_TOKEN = `agent-${randomBytes(16).toString('hex')}`;
const STRIPE_SECRET = `whsec_stripe${randomBytes(12).toString('hex')}`;

/** The user's own agent service: answers every run and records the headers it got. */
async function startAgentService() {
  const seen: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ response: 'done' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/agent`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

beforeAll(async () => {
  stack = await startTestStack();
  ({ apiKey: key, orgId } = await stack.newOrg('Secrets at rest'));
  receiver = await startReceiver();
  agentService = await startAgentService();
});
afterAll(async () => {
  await receiver?.close();
  await agentService?.close();
  await stack?.close();
});

async function ok(method: string, path: string, body: unknown, status: number) {
  const response = await stack.api(path, { method, key, body });
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  return response.body;
}

/** Every row of every application table, as JSON text: what a stolen backup would show. */
async function dumpDatabase(): Promise<string> {
  const { rows: tables } = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE'`.execute(stack.database.db);
  expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['signing_secrets', 'triggers', 'endpoints', 'agents']));
  const dump: Record<string, unknown[]> = {};
  for (const { table_name: table } of tables) dump[table] = (await sql`select * from ${sql.table(table)}`.execute(stack.database.db)).rows;
  return JSON.stringify(dump);
}

const hexHmac = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('hex');

describe('secrets at rest', () => {
  it('stores signing secrets and credential headers sealed, and every one still works', async ({ task }) => {
    // Write every kind of secret through the API, on both create and update paths.
    const endpoint = await ok('POST', '/v1/endpoints', { url: receiver.url, events: ['run.completed'], headers: { 'X-Api-Key': ENDPOINT_HEADER } }, 201);
    await ok('PATCH', `/v1/endpoints/${endpoint.id}`, { headers: { 'X-Api-Key': ENDPOINT_HEADER_UPDATED } }, 200);
    const callback = await ok('POST', '/v1/callback-secret/rotate', undefined, 201);
    const echo = await ok('POST', '/v1/agents', { name: 'Echo', allow_callback_urls: true }, 201);
    const httpAgent = await ok('POST', '/v1/agents', { name: 'Own service', provider: { kind: 'http', url: agentService.url, headers: { Authorization: `Bearer ${AGENT_TOKEN}` } } }, 201);
    expect(httpAgent.provider.headers).toEqual({ Authorization: '***' });
    const triggers: Record<string, { id: string; invoke_url: string; secret: string }> = {};
    for (const scheme of ['github', 'stripe', 'hmac-sha256', 'standard-webhooks'] as const) {
      triggers[scheme] = await ok('POST', `/v1/agents/${echo.id}/triggers`, { name: scheme, scheme, message_template: 'Issue {{payload.issue}}', ...(scheme === 'hmac-sha256' ? { signature_header: 'X-Signature' } : {}) }, 201);
      expect(triggers[scheme]!.secret).toEqual(expect.any(String));
    }
    const rotatedTrigger = await ok('POST', `/v1/triggers/${triggers['standard-webhooks']!.id}/rotate-secret`, undefined, 200);
    await ok('PATCH', `/v1/triggers/${triggers.stripe!.id}`, { secret: STRIPE_SECRET }, 200);

    const plaintexts: Record<string, string> = {
      'endpoint signing secret': endpoint.secret,
      'endpoint secret key material': endpoint.secret.slice('whsec_'.length),
      'endpoint header value': ENDPOINT_HEADER,
      'updated endpoint header value': ENDPOINT_HEADER_UPDATED,
      'callback secret': callback.secret,
      'callback secret key material': callback.secret.slice('whsec_'.length),
      'http agent header value': AGENT_TOKEN,
      'github trigger secret': triggers.github!.secret,
      'stripe trigger secret (generated)': triggers.stripe!.secret,
      'stripe trigger secret (set by PATCH)': STRIPE_SECRET,
      'hmac trigger secret': triggers['hmac-sha256']!.secret,
      'standard-webhooks trigger secret (rotated)': rotatedTrigger.secret,
      'standard-webhooks trigger key material': rotatedTrigger.secret.slice('whsec_'.length),
    };
    const dump = await dumpDatabase();
    for (const [what, value] of Object.entries(plaintexts)) expect(dump.includes(value), `${what} is stored in plaintext`).toBe(false);

    // What is stored is the sealed envelope, under the configured key.
    const sealed = /^enc:v1:[0-9a-f]{8}:[A-Za-z0-9_-]+$/;
    const secrets = await stack.database.db.selectFrom('signing_secrets').select('secret').where('org_id', '=', orgId).execute();
    expect(secrets.length).toBe(2); // the endpoint's and the callback secret
    for (const row of secrets) expect(row.secret).toMatch(sealed);
    const triggerRows = await stack.database.db.selectFrom('triggers').select('secret').where('org_id', '=', orgId).execute();
    for (const row of triggerRows) expect(row.secret).toMatch(sealed);
    const endpointRow = await stack.database.db.selectFrom('endpoints').select('headers').where('id', '=', endpoint.id).executeTakeFirstOrThrow();
    expect(endpointRow.headers['X-Api-Key']).toMatch(sealed);
    const agentRow = await stack.database.db.selectFrom('agents').select('provider').where('id', '=', httpAgent.id).executeTakeFirstOrThrow();
    expect(agentRow.provider).toMatchObject({ kind: 'http', headers: { Authorization: expect.stringMatching(sealed) } });
    expect(stack.secrets.open(agentRow.provider.kind === 'http' ? agentRow.provider.headers!.Authorization! : '')).toBe(`Bearer ${AGENT_TOKEN}`);

    // A GitHub delivery signed with the secret shown at creation is accepted.
    const raw = JSON.stringify({ action: 'opened', issue: 42 });
    const invoked = await request(triggers.github!.invoke_url, '', {
      method: 'POST',
      body: raw,
      headers: { 'content-type': 'application/json', 'x-github-event': 'issues', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': `sha256=${hexHmac(triggers.github!.secret, raw)}` },
    });
    expect(invoked.status, JSON.stringify(invoked.body)).toBe(202);
    const forged = await request(triggers.github!.invoke_url, '', { method: 'POST', body: raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` } });
    expect(forged.status).toBe(401);
    // The secret set by PATCH verifies too (Stripe: t=…,v1=HMAC(secret, "t.body")).
    const t = Math.floor(Date.now() / 1000);
    const stripeRaw = JSON.stringify({ id: `evt_${randomBytes(6).toString('hex')}`, type: 'invoice.paid', issue: 7 });
    const stripe = await request(triggers.stripe!.invoke_url, '', {
      method: 'POST',
      body: stripeRaw,
      headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${hexHmac(STRIPE_SECRET, `${t}.${stripeRaw}`)}` },
    });
    expect(stripe.status, JSON.stringify(stripe.body)).toBe(202);

    // A run with a callback: the delivery verifies with the endpoint secret and carries the
    // updated header; the callback verifies with the rotated callback secret.
    const run = await ok('POST', `/v1/agents/${echo.id}/runs`, { message: 'sealed', callback_url: `${receiver.url}?callback` }, 202);
    const got = await eventually(async () => {
      const delivery = receiver.received.find((r) => JSON.parse(r.body).type === 'run.completed' && JSON.parse(r.body).data.run_id === run.run_id);
      const callbackCall = receiver.received.find((r) => !r.headers['x-api-key'] && r.body.includes(run.run_id));
      return delivery && callbackCall ? { delivery, callbackCall } : undefined;
    }, 'the delivery and the callback');
    new Webhook(endpoint.secret).verify(got.delivery.body, got.delivery.headers as Record<string, string>); // throws on a bad signature
    expect(got.delivery.headers['x-api-key']).toBe(ENDPOINT_HEADER_UPDATED);
    new Webhook(callback.secret).verify(got.callbackCall.body, got.callbackCall.headers as Record<string, string>);

    // The HTTP agent gets its header in the clear.
    const agentRun = await ok('POST', `/v1/agents/${httpAgent.id}/runs`, { message: 'call my service' }, 202);
    await eventually(async () => ((await stack.api(`/v1/runs/${agentRun.run_id}`, { key })).body.status === 'completed' ? true : undefined), 'the http agent run');
    expect(agentService.seen.at(-1)!.authorization).toBe(`Bearer ${AGENT_TOKEN}`);

    count(task, { 'secrets encrypted at rest': secrets.length + triggerRows.length + 2 });
  });

  it('keeps rows written before encryption working, and seals them when they are next written', async () => {
    const endpoint = await ok('POST', '/v1/endpoints', { url: receiver.url, events: ['run.completed'], headers: { 'X-Api-Key': 'sealed-first' } }, 201);
    // As a row stored before this change: plaintext header and signing secret.
    await stack.database.db.updateTable('endpoints').set({ headers: JSON.stringify({ 'X-Api-Key': 'legacy-plaintext' }) }).where('id', '=', endpoint.id).execute();
    await stack.database.db.updateTable('signing_secrets').set({ secret: endpoint.secret }).where('owner', '=', endpointSecretOwner(endpoint.id)).execute();
    const before = receiver.received.length;
    const ping = await ok('POST', `/v1/endpoints/${endpoint.id}/test`, undefined, 200);
    expect(ping.success).toBe(true);
    const sent = receiver.received.slice(before).find((r) => r.body.includes('test.ping'))!;
    expect(sent.headers['x-api-key']).toBe('legacy-plaintext');
    new Webhook(endpoint.secret).verify(sent.body, sent.headers as Record<string, string>);

    await ok('PATCH', `/v1/endpoints/${endpoint.id}`, { headers: { 'X-Api-Key': 'legacy-plaintext' } }, 200);
    const row = await stack.database.db.selectFrom('endpoints').select('headers').where('id', '=', endpoint.id).executeTakeFirstOrThrow();
    expect(row.headers['X-Api-Key']).toMatch(/^enc:v1:/);
  });

  it('keeps portal link and session tokens as hashes only, and logs neither', async () => {
    // This API logs at trace level into memory: what an operator's log store would hold.
    const lines: string[] = [];
    const log = createLogger('trace', 'api', { write: (line: string) => void lines.push(line) });
    const app = createApp({
      config: stack.config, db: stack.database.db, temporal: stack.temporal, log,
      readiness: { database: async () => true, temporal: async () => true },
      listen: stack.database.listen, http: outboundClient(stack.config, log), secrets: secretBoxFromConfig(stack.config), clock: () => new Date(),
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const issued = await request(base, '/v1/portal-sessions', { key, body: { scopes: ['agents:read'], link_ttl_seconds: 60 } });
      expect(issued.status, JSON.stringify(issued.body)).toBe(201);
      const link = String(issued.body.url).split('#portal=')[1]!;
      const exchanged = await request(base, '/v1/portal-sessions/exchange', { body: { token: link } });
      expect(exchanged.status).toBe(200);
      const session: string = exchanged.body.session_token;
      // Every path a token can take: use, reuse of the link, a token in the wrong place, revocation.
      expect((await request(base, '/v1/agents', { key: session })).status).toBe(200);
      expect((await request(base, '/v1/portal-sessions/exchange', { body: { token: link } })).status).toBe(404);
      expect((await request(base, '/v1/portal-sessions/exchange', { body: { token: session } })).status).toBe(404);
      expect((await request(base, '/v1/me', { key: link })).status).toBe(401);
      expect((await request(base, '/v1/portal-sessions', { key: session, body: { scopes: ['agents:read'] } })).status).toBe(403);
      expect((await request(base, `/v1/portal-sessions/${issued.body.id}`, { method: 'DELETE', key })).status).toBe(204);
      expect((await request(base, '/v1/agents', { key: session })).status).toBe(401);

      const row = await stack.database.db.selectFrom('portal_sessions').selectAll().where('id', '=', issued.body.id).executeTakeFirstOrThrow();
      expect(row.link_hash).toBe(hashSecret(link));
      expect(row.session_hash).toBe(hashSecret(session));
      const dump = await dumpDatabase();
      expect(dump).toContain(row.link_hash); // the dump does cover the table
      for (const [what, token] of [['link token', link], ['session token', session]] as const) {
        expect(dump.includes(token.slice(4)), `${what} is stored in plaintext`).toBe(false);
        const logged = lines.join('\n');
        expect(logged.includes(token.slice(4)), `${what} is in the logs`).toBe(false);
      }
      // The logs were written and name the routes used: the check above is not vacuous.
      expect(lines.some((l) => l.includes('/v1/portal-sessions/exchange') && l.includes('"status":404'))).toBe(true);
      expect(lines.length).toBeGreaterThanOrEqual(8);
    } finally {
      server.close();
    }
  });
});
