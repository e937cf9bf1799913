import { createHmac, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContractChecker } from '../support/openapi.js';
import { eventually, request, startTestStack, type ApiResponse, type TestStack } from '../support/stack.js';

/**
 * Third-party triggers end to end: each sender's real signature scheme (Standard Webhooks via
 * the standardwebhooks package, GitHub / Stripe / plain HMAC via node:crypto exactly as those
 * senders document), replays, schema checks, the token URL and tenancy. Every answer is
 * checked against /openapi.json, and "no run" is checked by counting rows.
 */
let stack: TestStack;
let contract: ContractChecker;
let key: string;
let orgId: string;
let agentId: string;

beforeAll(async () => {
  stack = await startTestStack();
  contract = new ContractChecker((await stack.api('/openapi.json')).body);
  ({ apiKey: key, orgId } = await stack.newOrg('Trigger org'));
  agentId = (await call('POST', '/v1/agents', key, { name: 'Triage bot' })).body.id;
});
afterAll(() => stack?.close());

async function call(method: string, path: string, apiKey?: string, body?: unknown): Promise<ApiResponse> {
  const response = await stack.api(path, { method, key: apiKey, body });
  contract.expectDocumented(method, path, response);
  return response;
}

interface Created {
  id: string;
  invoke_url: string;
  secret: string | null;
  token: string | null;
  [field: string]: unknown;
}

async function createTrigger(body: Record<string, unknown>, forAgent = agentId, apiKey = key): Promise<Created> {
  const created = await call('POST', `/v1/agents/${forAgent}/triggers`, apiKey, { name: 'A trigger', message_template: 'Event: {{payload.type}}', ...body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as Created;
}

/** POSTs exact bytes, as a sender does, and checks the answer against the contract. */
async function send(url: string, raw: string, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const response = await request(url, '', { method: 'POST', body: raw, headers: { 'content-type': 'application/json', ...headers } });
  contract.expectDocumented('POST', new URL(url).pathname, response);
  return response;
}

async function triggerRuns(id?: string): Promise<number> {
  let query = stack.database.db.selectFrom('runs').where('org_id', '=', orgId).where('source', '=', 'trigger');
  if (id) query = query.where(sql<string>`metadata->>'trigger_id'`, '=', id);
  const row = await query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The run behind an invocation: visible with the org key, from a trigger, carrying the rendered message to the agent. */
async function expectRun(response: ApiResponse, message: string) {
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  expect(response.body).toEqual({
    success: true,
    invocations: [{ conversation_id: expect.any(String), invocation_id: expect.any(String), run_as_user_id: null }],
  });
  const { invocation_id: runId, conversation_id: conversationId } = response.body.invocations[0];
  const run = await call('GET', `/v1/runs/${runId}`, key);
  expect(run.status).toBe(200);
  expect(run.body).toMatchObject({ run_id: runId, agent_id: agentId, source: 'trigger', conversation_id: conversationId });
  const stored = await stack.database.db.selectFrom('runs').select('message').where('id', '=', runId).executeTakeFirstOrThrow();
  expect(stored.message).toBe(message);
  // The echo agent answers with what it was told: the rendered template reached the agent.
  const done = await eventually(async () => {
    const r = await stack.api(`/v1/runs/${runId}`, { key });
    return r.body.status === 'completed' ? r.body : undefined;
  }, 'the triggered run to complete');
  expect(done.result).toBe(`Echo: ${message}`);
  return runId as string;
}

const hexHmac = (secret: string, content: string) => createHmac('sha256', secret).update(content).digest('hex');
const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('Standard Webhooks triggers', () => {
  it('starts a run for a delivery signed by the standardwebhooks package, and a replayed webhook-id starts nothing', async () => {
    const trigger = await createTrigger({ scheme: 'standard-webhooks', message_template: 'Invoice {{payload.data.invoice.number}} for {{ payload.data.customer | default("someone") }}' });
    expect(trigger.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(trigger.invoke_url).toBe(`${stack.baseUrl}/v1/triggers/${trigger.id}/invoke`);
    const signer = new Webhook(trigger.secret!);
    const raw = JSON.stringify({ type: 'invoice.paid', data: { invoice: { number: 'INV-7' }, customer: 'ACME' } });
    const msgId = `msg_${randomUUID()}`;
    const at = new Date();
    const headers = { 'webhook-id': msgId, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signer.sign(msgId, at, raw) };

    await expectRun(await send(trigger.invoke_url, raw, headers), 'Invoice INV-7 for ACME');
    expect(await triggerRuns(trigger.id)).toBe(1);

    const replay = await send(trigger.invoke_url, raw, headers);
    expect(replay.status).toBe(409);
    expect(replay.body.code).toBe('CONFLICT');
    expect(await triggerRuns(trigger.id)).toBe(1);

    const listed = await call('GET', `/v1/triggers/${trigger.id}`, key);
    expect(listed.body.last_invoked_at).not.toBeNull();
  });

  it('rejects a tampered body, a wrong secret and a stale timestamp with 401, starting no run', async () => {
    const trigger = await createTrigger({ scheme: 'standard-webhooks' });
    const raw = JSON.stringify({ type: 'invoice.paid' });
    const sign = (secret: string, body: string, at: Date, msgId = `msg_${randomUUID()}`) => ({
      'webhook-id': msgId,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(msgId, at, body),
    });
    const tampered = await send(trigger.invoke_url, raw.replace('paid', 'void'), sign(trigger.secret!, raw, new Date()));
    const wrongSecret = await send(trigger.invoke_url, raw, sign(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, raw, new Date()));
    const stale = await send(trigger.invoke_url, raw, sign(trigger.secret!, raw, new Date(Date.now() - 6 * 60_000)));
    const unsigned = await send(trigger.invoke_url, raw);
    for (const response of [tampered, wrongSecret, stale, unsigned]) {
      expect(response.status).toBe(401);
      expect(response.body.code).toBe('UNAUTHORIZED');
    }
    expect(stale.body.detail).toMatch(/more than 300 seconds/);
    expect(await triggerRuns(trigger.id)).toBe(0);
  });
});

describe('GitHub triggers', () => {
  it('verifies X-Hub-Signature-256, reads headers in the template, acknowledges ping and refuses a redelivered X-GitHub-Delivery', async () => {
    const trigger = await createTrigger({
      scheme: 'github',
      message_template: 'GitHub {{headers.x-github-event}}/{{payload.action}}: "{{payload.issue.title}}" by {{payload.sender.login}} in {{payload.repository.full_name}}',
    });
    expect(trigger.secret).toMatch(/^[0-9a-f]{64}$/);
    const headers = (raw: string, delivery: string, event = 'issues') => ({
      'x-github-event': event,
      'x-github-delivery': delivery,
      'x-hub-signature-256': `sha256=${hexHmac(trigger.secret!, raw)}`,
      'user-agent': 'GitHub-Hookshot/abc123',
    });

    const ping = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
    const pong = await send(trigger.invoke_url, ping, headers(ping, randomUUID(), 'ping'));
    expect(pong.status).toBe(200);
    expect(pong.body).toEqual({ success: true, invocations: [] });
    expect(await triggerRuns(trigger.id)).toBe(0);

    const raw = JSON.stringify({ action: 'opened', issue: { title: 'Crash on start', number: 42 }, repository: { full_name: 'acme/app' }, sender: { login: 'octocat' } });
    const delivery = randomUUID();
    await expectRun(await send(trigger.invoke_url, raw, headers(raw, delivery)), 'GitHub issues/opened: "Crash on start" by octocat in acme/app');

    const redelivered = await send(trigger.invoke_url, raw, headers(raw, delivery));
    expect(redelivered.status).toBe(409);
    const tampered = await send(trigger.invoke_url, raw.replace('octocat', 'mallory'), headers(raw, randomUUID()));
    expect(tampered.status).toBe(401);
    const wrongSecret = await send(trigger.invoke_url, raw, { ...headers(raw, randomUUID()), 'x-hub-signature-256': `sha256=${hexHmac('not the secret', raw)}` });
    expect(wrongSecret.status).toBe(401);
    expect(await triggerRuns(trigger.id)).toBe(1);
  });
});

describe('Stripe triggers', () => {
  const stripeSecret = `whsec_${'ab12'.repeat(8)}`;
  const stripeHeader = (raw: string, t = nowSeconds(), secret = stripeSecret) => ({
    'stripe-signature': `t=${t},v1=${hexHmac(secret, `${t}.${raw}`)}`,
    'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
  });

  it('verifies Stripe-Signature with the secret Stripe issued, dedupes on the event id and enforces the tolerance', async () => {
    const trigger = await createTrigger({
      scheme: 'stripe',
      secret: stripeSecret,
      message_template: 'Stripe {{payload.type}}: {{payload.data.object.amount_paid}} {{payload.data.object.currency | upper}} from {{payload.data.object.customer_email}}',
    });
    expect(trigger.secret).toBe(stripeSecret);
    const event = (id: string) =>
      JSON.stringify({ id, object: 'event', type: 'invoice.paid', data: { object: { amount_paid: 2000, currency: 'usd', customer_email: 'jo@example.com' } } });
    const raw = event(`evt_${randomUUID().replaceAll('-', '')}`);

    await expectRun(await send(trigger.invoke_url, raw, stripeHeader(raw)), 'Stripe invoice.paid: 2000 USD from jo@example.com');
    // Stripe retries the same event with a fresh signature and timestamp: still the same event.
    const retried = await send(trigger.invoke_url, raw, stripeHeader(raw, nowSeconds() + 1));
    expect(retried.status).toBe(409);

    const other = event(`evt_${randomUUID().replaceAll('-', '')}`);
    expect((await send(trigger.invoke_url, other, stripeHeader(other, nowSeconds() - 301))).status).toBe(401);
    expect((await send(trigger.invoke_url, other, stripeHeader(other, nowSeconds(), `whsec_${'cd34'.repeat(8)}`))).status).toBe(401);
    expect((await send(trigger.invoke_url, other.replace('2000', '1'), stripeHeader(other))).status).toBe(401);
    expect(await triggerRuns(trigger.id)).toBe(1);
  });
});

describe('hmac-sha256 triggers', () => {
  it('verifies a hex HMAC in the chosen header (sha256= prefix accepted) and dedupes on the chosen delivery id header', async () => {
    const trigger = await createTrigger({ scheme: 'hmac-sha256', signature_header: 'X-Acme-Signature', delivery_id_header: 'X-Acme-Delivery', message_template: 'Order {{payload.order.id}}' });
    expect(trigger).toMatchObject({ signature_header: 'x-acme-signature', signature_encoding: 'hex', delivery_id_header: 'x-acme-delivery' });
    const raw = JSON.stringify({ order: { id: 'o-1' } });
    const headers = { 'X-Acme-Signature': `sha256=${hexHmac(trigger.secret!, raw)}`, 'X-Acme-Delivery': 'd-1' };
    await expectRun(await send(trigger.invoke_url, raw, headers), 'Order o-1');
    expect((await send(trigger.invoke_url, raw, headers)).status).toBe(409);
    expect((await send(trigger.invoke_url, raw, { ...headers, 'X-Acme-Signature': hexHmac('wrong-secret-0000000', raw), 'X-Acme-Delivery': 'd-2' })).status).toBe(401);
    expect((await send(trigger.invoke_url, raw, { 'X-Other-Signature': hexHmac(trigger.secret!, raw) })).status).toBe(401);
    expect(await triggerRuns(trigger.id)).toBe(1);
  });

  it('verifies base64 when configured; without a delivery id header every genuine call starts a run', async () => {
    const trigger = await createTrigger({ scheme: 'hmac-sha256', signature_header: 'x-shopify-hmac-sha256', signature_encoding: 'base64', message_template: '{{payload.note}}' });
    const raw = JSON.stringify({ note: 'base64 signed' });
    const signature = createHmac('sha256', trigger.secret!).update(raw).digest('base64');
    expect((await send(trigger.invoke_url, raw, { 'x-shopify-hmac-sha256': signature })).status).toBe(202);
    expect((await send(trigger.invoke_url, raw, { 'x-shopify-hmac-sha256': signature })).status).toBe(202);
    expect(await triggerRuns(trigger.id)).toBe(2);
  });
});

describe('input schema', () => {
  it('answers 400 with validationErrors for a payload the schema rejects, starting no run', async () => {
    const trigger = await createTrigger({
      scheme: 'github',
      message_template: '{{payload.issue.title}}',
      input_schema: { type: 'object', required: ['action', 'issue'], properties: { issue: { type: 'object', required: ['title'], properties: { title: { type: 'string' } } } } },
    });
    const raw = JSON.stringify({ action: 'opened', issue: { title: 7 } });
    const sign = (body: string) => ({ 'x-hub-signature-256': `sha256=${hexHmac(trigger.secret!, body)}`, 'x-github-delivery': randomUUID() });
    const rejected = await send(trigger.invoke_url, raw, sign(raw));
    expect(rejected.status).toBe(400);
    expect(rejected.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(rejected.body).toMatchObject({ code: 'VALIDATION_FAILED', validationErrors: [{ path: 'payload.issue.title', message: 'must be string' }] });

    // A forged request never learns what the schema wants: the signature is checked first.
    const forged = await send(trigger.invoke_url, raw, { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` });
    expect(forged.status).toBe(401);
    expect(forged.body.validationErrors).toBeUndefined();

    const empty = await createTrigger({ scheme: 'github', message_template: '{{payload.missing}}' });
    const blank = await send(empty.invoke_url, raw, { 'x-hub-signature-256': `sha256=${hexHmac(empty.secret!, raw)}` });
    expect(blank.status).toBe(400);
    expect(blank.body.validationErrors).toEqual([{ path: 'message_template', message: 'rendered an empty message for this payload' }]);
    expect(await triggerRuns(trigger.id)).toBe(0);
    expect(await triggerRuns(empty.id)).toBe(0);
  });
});

describe('token URL triggers (scheme none)', () => {
  it('starts a run for any JSON through the token URL; a wrong token is 404 and the id route refuses it', async () => {
    const trigger = await createTrigger({ scheme: 'none', message_template: 'Form from {{payload.email}}: {{payload.answers | json}}' });
    expect(trigger.token).toMatch(/^trg_[A-Za-z0-9_-]{43}$/);
    expect(trigger.secret).toBeNull();
    expect(trigger.invoke_url).toBe(`${stack.baseUrl}/api/triggers/${trigger.token}`);
    const stored = await stack.database.db.selectFrom('triggers').selectAll().where('id', '=', trigger.id).executeTakeFirstOrThrow();
    expect(JSON.stringify(stored)).not.toContain(trigger.token);
    const shown = await call('GET', `/v1/triggers/${trigger.id}`, key);
    expect(shown.body).toMatchObject({ invoke_url: null, token_prefix: `${trigger.token!.slice(0, 12)}...` });
    expect(JSON.stringify(shown.body)).not.toContain(trigger.token);

    const raw = JSON.stringify({ email: 'jo@example.com', answers: [1, 'two'] });
    await expectRun(await send(trigger.invoke_url, raw), 'Form from jo@example.com: [1,"two"]');

    expect((await send(`${stack.baseUrl}/api/triggers/trg_${'x'.repeat(43)}`, raw)).status).toBe(404);
    const tampered = `${trigger.token!.slice(0, -1)}${trigger.token!.endsWith('A') ? 'B' : 'A'}`;
    expect((await send(`${stack.baseUrl}/api/triggers/${tampered}`, raw)).status).toBe(404);
    expect((await send(`${stack.baseUrl}/api/triggers/not-a-token`, raw)).status).toBe(404);
    const byId = await send(`${stack.baseUrl}/v1/triggers/${trigger.id}/invoke`, raw);
    expect(byId.status).toBe(401);
    expect(await triggerRuns(trigger.id)).toBe(1);

    const rotated = await call('POST', `/v1/triggers/${trigger.id}/rotate-secret`, key);
    expect(rotated.status).toBe(200);
    expect(rotated.body.token).not.toBe(trigger.token);
    expect((await send(trigger.invoke_url, raw)).status).toBe(404);
    expect((await send(rotated.body.invoke_url, raw)).status).toBe(202);
  });

  it('answers 400 for a missing or malformed body', async () => {
    const trigger = await createTrigger({ scheme: 'none' });
    const missing = await request(trigger.invoke_url, '', { method: 'POST' });
    expect(missing.status).toBe(400);
    expect((await send(trigger.invoke_url, '{"type": ')).body.code).toBe('MALFORMED_JSON');
    expect(await triggerRuns(trigger.id)).toBe(0);
  });
});

describe('POST /v1/triggers/{id}/test', () => {
  it('renders the message and reports schema errors without starting a run', async () => {
    const trigger = await createTrigger({
      scheme: 'github',
      message_template: '[{{headers.x-github-event}}] {{payload.issue.title | upper}}',
      input_schema: { type: 'object', required: ['issue'] },
    });
    const ok = await call('POST', `/v1/triggers/${trigger.id}/test`, key, { payload: { issue: { title: 'crash' } }, headers: { 'X-GitHub-Event': 'issues' } });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ message: '[issues] CRASH', valid: true, validationErrors: [] });
    const bad = await call('POST', `/v1/triggers/${trigger.id}/test`, key, { payload: { pull_request: {} } });
    expect(bad.body).toEqual({ message: '[] ', valid: false, validationErrors: [{ path: 'payload.issue', message: 'must have required property \'issue\'' }] });
    expect((await call('POST', `/v1/triggers/${trigger.id}/test`, key, {})).status).toBe(422);
    expect(await triggerRuns(trigger.id)).toBe(0);
  });
});

describe('managing triggers', () => {
  it('shows the secret once, lists without it, updates, rotates and deletes', async () => {
    const trigger = await createTrigger({ scheme: 'github', name: 'Issues' });
    const list = await call('GET', `/v1/agents/${agentId}/triggers?limit=100`, key);
    expect(list.status).toBe(200);
    const listed = list.body.data.find((t: { id: string }) => t.id === trigger.id);
    expect(listed).toMatchObject({ name: 'Issues', scheme: 'github', enabled: true, invoke_url: trigger.invoke_url, rate_limit_per_minute: 60 });
    expect(listed.secret).toBeUndefined();
    expect(JSON.stringify(list.body)).not.toContain(trigger.secret);
    expect(JSON.stringify((await call('GET', `/v1/triggers/${trigger.id}`, key)).body)).not.toContain(trigger.secret);

    const patched = await call('PATCH', `/v1/triggers/${trigger.id}`, key, { name: 'Renamed', message_template: 'New: {{payload.x}}', input_schema: { type: 'object' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Renamed', message_template: 'New: {{payload.x}}', input_schema: { type: 'object' } });
    expect((await call('PATCH', `/v1/triggers/${trigger.id}`, key, { input_schema: null })).body.input_schema).toBeNull();

    const raw = JSON.stringify({ x: 1 });
    const rotated = await call('POST', `/v1/triggers/${trigger.id}/rotate-secret`, key);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(rotated.body.secret).not.toBe(trigger.secret);
    expect((await send(trigger.invoke_url, raw, { 'x-hub-signature-256': `sha256=${hexHmac(trigger.secret!, raw)}` })).status).toBe(401);
    expect((await send(trigger.invoke_url, raw, { 'x-hub-signature-256': `sha256=${hexHmac(rotated.body.secret, raw)}` })).status).toBe(202);

    // A secret chosen in the sender's UI can be pasted in.
    const pasted = 'pasted-from-github-settings';
    expect((await call('PATCH', `/v1/triggers/${trigger.id}`, key, { secret: pasted })).status).toBe(200);
    expect((await send(trigger.invoke_url, raw, { 'x-hub-signature-256': `sha256=${hexHmac(pasted, raw)}` })).status).toBe(202);

    expect((await call('DELETE', `/v1/triggers/${trigger.id}`, key)).status).toBe(204);
    expect((await call('GET', `/v1/triggers/${trigger.id}`, key)).status).toBe(404);
    expect((await send(trigger.invoke_url, raw, { 'x-hub-signature-256': `sha256=${hexHmac(pasted, raw)}` })).status).toBe(404);
  });

  it('validates templates, schemas and scheme-specific fields', async () => {
    const create = (body: Record<string, unknown>) => call('POST', `/v1/agents/${agentId}/triggers`, key, { name: 'x', scheme: 'github', message_template: 'hi', ...body });
    const badTemplate = await create({ message_template: 'Hi {{payload.constructor.name}}' });
    expect(badTemplate.status).toBe(422);
    expect(badTemplate.body.details.message_template).toMatch(/"constructor" is not allowed/);
    expect((await create({ message_template: 'Hi {{payload.a | exec}}' })).body.details.message_template).toMatch(/unknown filter/);
    expect((await create({ input_schema: { type: 'nonsense' } })).body.details.input_schema).toMatch(/not a valid JSON Schema/);
    expect((await create({ scheme: 'none', secret: 'a'.repeat(32) })).body.details.secret).toMatch(/no secret/);
    expect((await create({ scheme: 'standard-webhooks', secret: 'not base64 at all!!' })).body.details.secret).toMatch(/whsec_/);
    expect((await create({ secret: 'short' })).body.details.secret).toBeDefined();
    expect((await create({ scheme: 'hmac-sha256' })).body.details.signature_header).toMatch(/needs the header/);
    expect((await create({ signature_header: 'x-sig' })).body.details.signature_header).toMatch(/only for scheme hmac-sha256/);
    expect((await create({ scheme: 'ftp' })).status).toBe(422);

    const none = await createTrigger({ scheme: 'none' });
    const patch = await call('PATCH', `/v1/triggers/${none.id}`, key, { secret: 'x'.repeat(20), signature_header: 'x-sig' });
    expect(patch.status).toBe(422);
    expect(Object.keys(patch.body.details).sort()).toEqual(['secret', 'signature_header']);
    expect((await call('PATCH', `/v1/triggers/${none.id}`, key, {})).status).toBe(422);
  });

  it('answers 404 for a disabled trigger and for a deleted agent\'s trigger', async () => {
    const raw = JSON.stringify({ type: 'x' });
    const sign = (t: Created) => ({ 'x-hub-signature-256': `sha256=${hexHmac(t.secret!, raw)}` });
    const paused = await createTrigger({ scheme: 'github', enabled: false });
    expect((await send(paused.invoke_url, raw, sign(paused))).status).toBe(404);
    expect((await call('PATCH', `/v1/triggers/${paused.id}`, key, { enabled: true })).body.enabled).toBe(true);
    expect((await send(paused.invoke_url, raw, sign(paused))).status).toBe(202);

    const doomedAgent = (await call('POST', '/v1/agents', key, { name: 'Doomed' })).body.id;
    const orphan = await createTrigger({ scheme: 'github' }, doomedAgent);
    const token = await createTrigger({ scheme: 'none' }, doomedAgent);
    expect((await call('DELETE', `/v1/agents/${doomedAgent}`, key)).status).toBe(204);
    expect((await send(orphan.invoke_url, raw, sign(orphan))).status).toBe(404);
    expect((await send(token.invoke_url, raw)).status).toBe(404);
    expect((await call('GET', `/v1/triggers/${orphan.id}`, key)).status).toBe(404);
  });

  it('admits rate_limit_per_minute verified calls a minute; forged calls do not count', async () => {
    const trigger = await createTrigger({ scheme: 'github', rate_limit_per_minute: 2 });
    const { rows } = await sql<{ s: number }>`select extract(second from now())::float as s`.execute(stack.database.db);
    if (rows[0]!.s > 50) await new Promise((r) => setTimeout(r, (61 - rows[0]!.s) * 1000));
    const raw = JSON.stringify({ type: 'burst' });
    const forged = { 'x-hub-signature-256': `sha256=${'f'.repeat(64)}` };
    for (let i = 0; i < 3; i++) expect((await send(trigger.invoke_url, raw, forged)).status).toBe(401);
    const genuine = { 'x-hub-signature-256': `sha256=${hexHmac(trigger.secret!, raw)}` };
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await send(trigger.invoke_url, raw, genuine));
    expect(statuses.map((r) => r.status)).toEqual([202, 202, 429]);
    expect(statuses[2]!.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await triggerRuns(trigger.id)).toBe(2);
  });
});

describe('tenancy and scopes', () => {
  it('hides another org\'s triggers (404) and limits agent-scoped keys to their agent', async () => {
    const trigger = await createTrigger({ scheme: 'github' });
    const other = await stack.newOrg('Other org');
    const otherAgent = (await call('POST', '/v1/agents', other.apiKey, { name: 'Theirs' })).body.id;
    for (const [method, path, body] of [
      ['GET', `/v1/triggers/${trigger.id}`],
      ['PATCH', `/v1/triggers/${trigger.id}`, { name: 'hijacked' }],
      ['DELETE', `/v1/triggers/${trigger.id}`],
      ['POST', `/v1/triggers/${trigger.id}/rotate-secret`],
      ['POST', `/v1/triggers/${trigger.id}/test`, { payload: {} }],
      ['GET', `/v1/agents/${agentId}/triggers`],
      ['POST', `/v1/agents/${agentId}/triggers`, { name: 'x', scheme: 'none', message_template: 'x' }],
    ] as Array<[string, string, unknown?]>) {
      const response = await call(method, path, other.apiKey, body);
      expect(response.status, `${method} ${path}`).toBe(404);
    }
    expect((await call('GET', `/v1/agents/${otherAgent}/triggers`, other.apiKey)).body.data).toEqual([]);

    const scoped = await call('POST', '/v1/api-keys', key, { name: 'other agent only', agent_id: (await call('POST', '/v1/agents', key, { name: 'Sibling' })).body.id });
    expect((await call('GET', `/v1/triggers/${trigger.id}`, scoped.body.key)).status).toBe(404);
    expect((await call('GET', `/v1/agents/${agentId}/triggers`, scoped.body.key)).status).toBe(404);
    const own = await call('POST', '/v1/api-keys', key, { name: 'this agent only', agent_id: agentId });
    expect((await call('GET', `/v1/triggers/${trigger.id}`, own.body.key)).status).toBe(200);

    const readOnly = await call('POST', '/v1/api-keys', key, { name: 'read only', scopes: ['agents:read'] });
    expect((await call('GET', `/v1/triggers/${trigger.id}`, readOnly.body.key)).status).toBe(200);
    expect((await call('DELETE', `/v1/triggers/${trigger.id}`, readOnly.body.key)).status).toBe(403);
    const noAgents = await call('POST', '/v1/api-keys', key, { name: 'runs only', scopes: ['runs:read'] });
    expect((await call('GET', `/v1/triggers/${trigger.id}`, noAgents.body.key)).status).toBe(403);
  });
});
