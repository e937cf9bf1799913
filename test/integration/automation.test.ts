import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { count } from '../support/figures.js';
import { ContractChecker } from '../support/openapi.js';
import { startReceiver, type Received } from '../support/receiver.js';
import { eventually, request, startTestStack, type ApiResponse, type TestStack } from '../support/stack.js';

/**
 * Automation platforms (n8n, Zapier, Make) as clients — issue 20, with issue 14 items 3–5 and
 * issue 13 item 11: temporary 4xx answers retried, callback attempts visible and retryable,
 * hex signatures through a rotation, the sync wait under the caller's control, token URLs that
 * survive a batch, payload keys seed 003's receivers read.
 */
const ADMIN_TOKEN = 'automation-admin-token-0123456789';
const RATE_WINDOW_SECONDS = 6;
/** SYNC_WAIT_SECONDS is 1 here (so 202s are quick to provoke); calls that expect the reply ask for longer. */
const LONG_WAIT = { Prefer: 'wait=8' };

let stack: TestStack;
let contract: ContractChecker;
let key: string;
let orgId: string;

beforeAll(async () => {
  stack = await startTestStack({
    config: {
      // Temporal schedules retries with about one-second resolution: keep the steps apart.
      DELIVERY_RETRY_SCHEDULE: '1s,1500ms,2s',
      ENDPOINT_DISABLE_AFTER_FAILURES: '2',
      SYNC_WAIT_SECONDS: '1',
      SYNC_WAIT_MAX_SECONDS: '8',
      WEBHOOK_RATE_WINDOW_SECONDS: String(RATE_WINDOW_SECONDS),
      ADMIN_TOKEN,
    },
  });
  contract = new ContractChecker((await stack.api('/openapi.json')).body);
});
// An org per test: one test's endpoints never receive (and fail on) another test's runs.
beforeEach(async () => {
  ({ apiKey: key, orgId } = await stack.newOrg('Automation org'));
});
afterAll(async () => {
  await stack?.close();
});

async function call(method: string, path: string, body?: unknown, apiKey = key, headers?: Record<string, string>) {
  const response = await stack.api(path, { method, key: apiKey, body, headers });
  contract.expectDocumented(method, path, response);
  return response;
}

async function publicCall(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await request(stack.baseUrl, path, { method: 'POST', body, headers });
  contract.expectDocumented('POST', path, response);
  return response;
}

async function agent(body: Record<string, unknown> = {}, apiKey = key) {
  const created = await call('POST', '/v1/agents', { name: 'n8n helper', allow_callback_urls: true, ...body }, apiKey);
  expect(created.status).toBe(201);
  return created.body.id as string;
}

async function tokenUrl(agentId: string, body: Record<string, unknown> = {}) {
  const created = await call('POST', `/v1/agents/${agentId}/webhooks`, { name: 'n8n', ...body });
  expect(created.status).toBe(201);
  return created.body as { id: string; token: string; webhook_url: string };
}

async function finished(runId: string, apiKey = key) {
  return eventually(async () => {
    const run = await call('GET', `/v1/runs/${runId}`, undefined, apiKey);
    return run.body.status !== 'processing' ? run.body : undefined;
  }, `run ${runId} to end`);
}

async function callbackSettled(runId: string, apiKey = key, status = 'succeeded') {
  return eventually(async () => {
    const run = await call('GET', `/v1/runs/${runId}`, undefined, apiKey);
    return run.body.callback?.status === status ? run.body : undefined;
  }, `callback of ${runId} to be ${status}`);
}

const hex = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('hex');
const hexHeaders = (r: Received) => [String(r.headers['x-webhook-signature']), ...String(r.headers['x-webhook-signature-previous'] ?? '').split(' ')].filter(Boolean);
const parsed = (r: Received) => JSON.parse(r.body);
const msgIdOf = (uuid: string) => `msg_${uuid.replaceAll('-', '')}`;

describe('temporary 4xx answers are retried (n8n answers 404 while loading and 409 before its Wait node)', () => {
  it('delivers callbacks, outgoing_url posts and endpoint deliveries after 404 then 200 and 409 then 200', async () => {
    const callbacks = await startReceiver();
    const outgoing = await startReceiver();
    const events = await startReceiver();
    try {
      const agentId = await agent();
      // Only the API runs' events reach the endpoint, so each answer meets the delivery it is meant for.
      const endpoint = await call('POST', '/v1/endpoints', { url: events.url, events: ['run.completed'], agent_ids: [agentId] });
      expect(endpoint.status).toBe(201);
      const hook = await tokenUrl(await agent(), { outgoing_url: outgoing.url });

      for (const status of [404, 409]) {
        callbacks.answer(status);
        outgoing.answer(status);
        events.answer(status);
        const viaApi = await call('POST', `/v1/agents/${agentId}/runs`, { message: `callback after ${status}`, callback_url: callbacks.url });
        expect(viaApi.status).toBe(202);
        const viaToken = await publicCall(`/api/webhook/${hook.token}`, { message: `outgoing after ${status}` }, LONG_WAIT);
        expect(viaToken.status).toBe(200);

        for (const runId of [viaApi.body.run_id, viaToken.body.run_id]) {
          const run = await callbackSettled(runId);
          expect(run.callback).toMatchObject({ status: 'succeeded', attempts: 2, last_status_code: 200, webhook_id: msgIdOf(runId) });
          const attempts = (await call('GET', `/v1/runs/${runId}/deliveries`)).body.data[0].attempts;
          expect(attempts.map((a: { status_code: number }) => a.status_code)).toEqual([status, 200]);
        }
        const delivered = await eventually(async () => {
          const page = (await call('GET', `/v1/endpoints/${endpoint.body.id}/deliveries`)).body.data;
          const mine = page.find((d: { run_id: string | null }) => d.run_id === viaApi.body.run_id);
          return mine?.status === 'succeeded' ? mine : undefined;
        }, `the run.completed delivery after ${status}`);
        expect(delivered.attempts.map((a: { status_code: number }) => a.status_code)).toEqual([status, 200]);
      }
      expect((await call('GET', `/v1/endpoints/${endpoint.body.id}`)).body).toMatchObject({ enabled: true, health: { consecutive_failures: 0 } });
    } finally {
      await callbacks.close();
      await outgoing.close();
      await events.close();
    }
  });
});

describe('callback attempts on the run', () => {
  it('lists every attempt of a failed callback on the run and re-sends it on request with the same webhook-id', async () => {
    const receiver = await startReceiver();
    try {
      const agentId = await agent();
      receiver.answer(500, 502, 503, 500); // the whole budget: first attempt + 3 retries
      const accepted = await call('POST', `/v1/agents/${agentId}/runs`, { message: 'call me', callback_url: receiver.url });
      expect((await call('GET', `/v1/runs/${accepted.body.run_id}`)).body.callback).toMatchObject({ status: expect.stringMatching(/not_sent|pending/) });
      const failed = await callbackSettled(accepted.body.run_id, key, 'failed');
      expect(failed.callback).toMatchObject({ url: receiver.url, attempts: 4, last_status_code: 500, last_error: 'HTTP 500' });
      const listed = await call('GET', `/v1/runs/${accepted.body.run_id}/deliveries`);
      expect(listed.status).toBe(200);
      expect(listed.body.data).toHaveLength(1);
      expect(listed.body.data[0]).toMatchObject({ kind: 'callback', run_id: accepted.body.run_id, status: 'failed' });
      expect(listed.body.data[0].attempts.map((a: { attempt: number; status_code: number }) => [a.attempt, a.status_code])).toEqual([
        [1, 500],
        [2, 502],
        [3, 503],
        [4, 500],
      ]);

      const retry = await call('POST', `/v1/runs/${accepted.body.run_id}/callback/retry`);
      expect(retry.status).toBe(202);
      const resent = await callbackSettled(accepted.body.run_id);
      expect(resent.callback).toMatchObject({ attempts: 5, last_status_code: 200 });
      expect(receiver.received).toHaveLength(5);
      expect(new Set(receiver.received.map((r) => r.headers['webhook-id']))).toEqual(new Set([msgIdOf(accepted.body.run_id)]));

      const noCallback = await call('POST', `/v1/agents/${agentId}/runs`, { message: 'no callback' });
      await finished(noCallback.body.run_id);
      expect((await call('GET', `/v1/runs/${noCallback.body.run_id}`)).body.callback).toBeNull();
      expect((await call('POST', `/v1/runs/${noCallback.body.run_id}/callback/retry`)).status).toBe(409);
    } finally {
      await receiver.close();
    }
  });
});

describe('signing secrets', () => {
  it('keeps the hex signature verifying with the old and the new endpoint secret until the grace ends', async () => {
    const receiver = await startReceiver();
    try {
      const agentId = await agent();
      const endpoint = (await call('POST', '/v1/endpoints', { url: receiver.url, events: ['run.completed'] })).body;
      const rotated = await call('POST', `/v1/endpoints/${endpoint.id}/rotate-secret`, { grace_seconds: 4 });
      expect(rotated.status).toBe(200);
      await finished((await call('POST', `/v1/agents/${agentId}/runs`, { message: 'during grace' })).body.run_id);
      const during = await eventually(async () => receiver.received[0], 'a delivery during the grace period');
      for (const secret of [endpoint.secret, rotated.body.secret]) {
        expect(hexHeaders(during)).toContain(hex(secret, during.body));
        new Webhook(secret).verify(during.body, during.headers as Record<string, string>);
      }
      expect(during.headers['x-webhook-signature']).toBe(hex(rotated.body.secret, during.body));
      expect(during.headers['x-webhook-signature-previous']).toBe(hex(endpoint.secret, during.body));

      await new Promise((r) => setTimeout(r, Math.max(0, new Date(rotated.body.previous_valid_until).getTime() - Date.now()) + 500));
      await finished((await call('POST', `/v1/agents/${agentId}/runs`, { message: 'after grace' })).body.run_id);
      const after = await eventually(async () => receiver.received[1], 'a delivery after the grace period');
      expect(hexHeaders(after)).toEqual([hex(rotated.body.secret, after.body)]);
      expect(hexHeaders(after)).not.toContain(hex(endpoint.secret, after.body));
    } finally {
      await receiver.close();
    }
  });

  it('leaves exactly one secret and one signature after concurrent rotations with grace_seconds 0', async () => {
    const receiver = await startReceiver();
    try {
      const agentId = await agent();
      const endpoint = (await call('POST', '/v1/endpoints', { url: receiver.url, events: ['run.completed'] })).body;
      const rotations = await Promise.all(Array.from({ length: 8 }, () => call('POST', `/v1/endpoints/${endpoint.id}/rotate-secret`, { grace_seconds: 0 })));
      expect(rotations.map((r) => r.status)).toEqual(Array(8).fill(200));
      const now = new Date();
      const rows = await stack.database.db.selectFrom('signing_secrets').selectAll().where('owner', '=', `endpoint:${endpoint.id}`).execute();
      expect(rows).toHaveLength(9);
      expect(rows.filter((r) => r.expires_at === null)).toHaveLength(1);
      expect(rows.filter((r) => r.expires_at === null || r.expires_at > now)).toHaveLength(1);

      await finished((await call('POST', `/v1/agents/${agentId}/runs`, { message: 'after the race' })).body.run_id);
      const got = await eventually(async () => receiver.received[0], 'the delivery');
      expect(String(got.headers['webhook-signature']).split(' ')).toHaveLength(1);
      expect(got.headers['x-webhook-signature-previous']).toBeUndefined();
      const verifying = rotations.filter((r) => hex(r.body.secret, got.body) === got.headers['x-webhook-signature']);
      expect(verifying).toHaveLength(1); // one of the eight returned secrets is the one that signs
    } finally {
      await receiver.close();
    }
  });

  it('gives a new org its callback secret up front, so the first callback verifies; a rotation verifies later ones', async () => {
    const receiver = await startReceiver();
    try {
      const created = await request(stack.baseUrl, '/v1/admin/orgs', { key: ADMIN_TOKEN, body: { name: 'Fresh org', credits: 1_000 } });
      expect(created.status).toBe(201);
      const first = created.body.callback_secret as string;
      expect(first).toMatch(/^whsec_/);
      const orgKey = created.body.api_key.key as string;
      expect((await call('GET', '/v1/callback-secret', undefined, orgKey)).body).toEqual({ secret: first });

      const agentId = await agent({}, orgKey);
      const run1 = await call('POST', `/v1/agents/${agentId}/runs`, { message: 'first', callback_url: receiver.url }, orgKey);
      await callbackSettled(run1.body.run_id, orgKey);
      const firstCallback = receiver.received[0]!;
      new Webhook(first).verify(firstCallback.body, firstCallback.headers as Record<string, string>);
      expect(firstCallback.headers['x-webhook-signature']).toBe(hex(first, firstCallback.body));

      const rotated = await call('POST', '/v1/callback-secret/rotate', undefined, orgKey);
      expect(rotated.status).toBe(201);
      expect((await call('GET', '/v1/callback-secret', undefined, orgKey)).body).toEqual({ secret: rotated.body.secret });
      const run2 = await call('POST', `/v1/agents/${agentId}/runs`, { message: 'second', callback_url: receiver.url }, orgKey);
      await callbackSettled(run2.body.run_id, orgKey);
      const later = receiver.received[1]!;
      new Webhook(rotated.body.secret).verify(later.body, later.headers as Record<string, string>);
      expect(later.headers['x-webhook-signature']).toBe(hex(rotated.body.secret, later.body));
      // Still in the 24 h grace: a receiver holding the first secret verifies too.
      expect(later.headers['x-webhook-signature-previous']).toBe(hex(first, later.body));
    } finally {
      await receiver.close();
    }
  });
});

describe('a manual redelivery', () => {
  it('never disables the endpoint nor counts toward ENDPOINT_DISABLE_AFTER_FAILURES', async () => {
    const receiver = await startReceiver();
    try {
      const agentId = await agent();
      const endpoint = (await call('POST', '/v1/endpoints', { url: receiver.url, events: ['run.completed'], max_retries: 0 })).body;
      receiver.answer(500, 500, 500, 500);
      await finished((await call('POST', `/v1/agents/${agentId}/runs`, { message: 'fail once' })).body.run_id);
      const delivery = await eventually(async () => {
        const page = (await call('GET', `/v1/endpoints/${endpoint.id}/deliveries`)).body.data;
        return page[0]?.status === 'failed' ? page[0] : undefined;
      }, 'the failed delivery');
      // The attempt's row turns 'failed' before the endpoint's failure count goes up (two writes).
      await eventually(async () => ((await call('GET', `/v1/endpoints/${endpoint.id}`)).body.health.consecutive_failures === 1 ? true : undefined), 'the counted failure');

      for (let i = 1; i <= 3; i += 1) {
        expect((await call('POST', `/v1/deliveries/${delivery.id}/retry`)).status).toBe(202);
        await eventually(async () => (receiver.received.length >= 1 + i ? true : undefined), `manual retry ${i}`);
        await eventually(async () => {
          const attempts = await stack.database.db.selectFrom('delivery_attempts').select('attempt').where('delivery_id', '=', delivery.id).execute();
          return attempts.length >= 1 + i ? true : undefined;
        }, `manual retry ${i} recorded`);
      }
      await new Promise((r) => setTimeout(r, 500));
      const after = (await call('GET', `/v1/endpoints/${endpoint.id}`)).body;
      expect(after).toMatchObject({ enabled: true, disabled_reason: null });
      expect(after.health.consecutive_failures).toBe(1);
    } finally {
      await receiver.close();
    }
  });
});

describe('payloads', () => {
  it('seed 003\'s sample receiver, verbatim, accepts and verifies our deliveries and reads its keys', async () => {
    const agentId = await agent();
    const endpoint = (
      await call('POST', '/v1/endpoints', { url: 'http://127.0.0.1:9/placeholder', events: ['user.message', 'agent.message', 'run.completed'], enabled: false })
    ).body;
    const seed = await startSeedReceiver(endpoint.secret);
    try {
      expect((await call('PATCH', `/v1/endpoints/${endpoint.id}`, { url: `${seed.url}/webhooks`, enabled: true })).status).toBe(200);
      const hook = await tokenUrl(agentId);
      const reply = await publicCall(`/api/webhook/${hook.token}`, {
        message: 'Grüße ✓ \u2028 "quoted" </script>',
        user_id: 'user-42',
        metadata: { source: 'n8n', '2': 'b', '1': 'a', nested: { z: 1, a: [1.5, -0, 1e21] } },
      }, LONG_WAIT);
      expect(reply.status).toBe(200);
      const seen = await eventually(async () => {
        const got = (await (await fetch(`${seed.url}/seen`)).json()) as Array<{ status: number; body: any }>;
        return got.length >= 3 ? got : undefined;
      }, 'three deliveries at the seed receiver');
      expect(seen.map((s) => s.status)).toEqual([200, 200, 200]);
      const byEvent = Object.fromEntries(seen.map((s) => [s.body.event, s.body.data]));
      expect(Object.keys(byEvent).sort()).toEqual(['agent.message', 'run.completed', 'user.message']);
      for (const s of seen) expect(s.body.event).toBe(s.body.type);
      const agentRef = { id: agentId, name: 'n8n helper' };
      expect(byEvent['user.message']).toMatchObject({
        agent: agentRef,
        user: { id: 'user-42', name: null },
        room: { id: reply.body.conversation_id },
        content: 'Grüße ✓ \u2028 "quoted" </script>',
      });
      expect(byEvent['agent.message']).toMatchObject({ agent: agentRef, room: reply.body.conversation_id, content: reply.body.response });
      expect(byEvent['run.completed']).toMatchObject({ agent_id: agentId, run_id: reply.body.run_id, metadata: { source: 'n8n', '1': 'a', '2': 'b' } });

      // Endpoint deliveries name their run, and the event's webhook-id follows the one scheme.
      const deliveries = (await call('GET', `/v1/endpoints/${endpoint.id}/deliveries`)).body.data;
      expect(deliveries.map((d: { run_id: string }) => d.run_id)).toEqual([reply.body.run_id, reply.body.run_id, reply.body.run_id]);
      for (const d of deliveries) expect(d.message_id).toBe(msgIdOf(d.event_id));
    } finally {
      seed.close();
    }
  });

  it('callbacks carry the run\'s agent_id and metadata, and the run shows trigger_id', async () => {
    const receiver = await startReceiver();
    try {
      const agentId = await agent();
      const accepted = await call('POST', `/v1/agents/${agentId}/runs`, { message: 'hi', callback_url: receiver.url, metadata: { source: 'n8n' } });
      await callbackSettled(accepted.body.run_id);
      const body = parsed(receiver.received[0]!);
      expect(body).toMatchObject({ run_key: accepted.body.run_id, agent_id: agentId, metadata: { source: 'n8n' }, status: 'completed' });
      expect(receiver.received[0]!.headers['webhook-id']).toBe(msgIdOf(accepted.body.run_id));
      expect((await call('GET', `/v1/runs/${accepted.body.run_id}`)).body.trigger_id).toBe(accepted.body.run_id);
    } finally {
      await receiver.close();
    }
  });
});

describe('token URLs for automation tools', () => {
  it('honours Prefer: wait up to SYNC_WAIT_MAX_SECONDS and says so in Preference-Applied', async () => {
    const slow = await agent({ provider: { kind: 'echo', delay_ms: 3000 } });
    const hook = await tokenUrl(slow);
    const plain = await publicCall(`/api/webhook/${hook.token}`, { message: 'default wait' });
    expect(plain.status).toBe(202); // SYNC_WAIT_SECONDS = 1 < 3 s
    expect(plain.headers.get('preference-applied')).toBeNull();

    const waited = await publicCall(`/api/webhook/${hook.token}`, { message: 'wait for me' }, { Prefer: 'wait=60' });
    expect(waited.headers.get('preference-applied')).toBe('wait=8'); // capped
    expect(waited.status).toBe(200);
    expect(waited.body.response).toBe('Echo: wait for me');

    const glacial = await agent({ provider: { kind: 'echo', delay_ms: 12_000 } });
    const glacialHook = await tokenUrl(glacial);
    const capped = await publicCall(`/api/webhook/${glacialHook.token}`, { message: 'too slow' }, { Prefer: 'wait=600' });
    expect(capped.headers.get('preference-applied')).toBe('wait=8');
    expect(capped.status).toBe(202); // it waited 8 s, not the 12 s the agent needs

    const asyncNow = await publicCall(`/api/webhook/${hook.token}`, { message: 'later' }, { Prefer: 'respond-async' });
    expect(asyncNow.status).toBe(202);
    expect(asyncNow.headers.get('preference-applied')).toBe('respond-async');
  });

  it('answers 504 with the run id on a sync timeout when the webhook asks for it; the run goes on', async () => {
    const slow = await agent({ provider: { kind: 'echo', delay_ms: 3000 } });
    const hook = await tokenUrl(slow, { sync_timeout_status: 504 });
    const timedOut = await publicCall(`/api/webhook/${hook.token}`, { message: 'strict' });
    expect(timedOut.status).toBe(504);
    expect(timedOut.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(timedOut.body).toMatchObject({ code: 'SYNC_WAIT_EXCEEDED', run_id: expect.any(String), status: 504 });
    expect(timedOut.body.status_url).toBe(`${stack.baseUrl}/api/webhook/${hook.token}/runs/${timedOut.body.run_id}`);
    const done = await eventually(async () => {
      const polled = await request(stack.baseUrl, new URL(timedOut.body.status_url).pathname);
      return polled.body.status === 'completed' ? polled.body : undefined;
    }, 'the run to complete');
    expect(done.response).toBe('Echo: strict');
    expect((await publicCall(`/api/webhook/${hook.token}`, { message: 'async please' }, { Prefer: 'respond-async' })).status).toBe(202);
    const patched = await call('PATCH', `/v1/webhooks/${hook.id}`, { sync_timeout_status: 202 });
    expect(patched.body.sync_timeout_status).toBe(202);
    expect((await publicCall(`/api/webhook/${hook.token}`, { message: 'lenient' })).status).toBe(202);
  });

  it('replays an Idempotency-Key retry with the same run and reply, without a second run or charge', async () => {
    const agentId = await agent();
    const hook = await tokenUrl(agentId);
    const first = await publicCall(`/api/webhook/${hook.token}`, { message: 'charge me once' }, { 'Idempotency-Key': 'n8n-item-1', ...LONG_WAIT });
    expect(first.status).toBe(200);
    const again = await publicCall(`/api/webhook/${hook.token}`, { message: 'charge me once' }, { 'Idempotency-Key': 'n8n-item-1', ...LONG_WAIT });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const runs = await stack.database.db.selectFrom('runs').select('id').where('inbound_webhook_id', '=', hook.id).execute();
    expect(runs).toHaveLength(1);
    const charges = await stack.database.db.selectFrom('credit_entries').select('id').where('run_id', '=', first.body.run_id).where('kind', '=', 'charge').execute();
    expect(charges).toHaveLength(1);
    const other = await publicCall(`/api/webhook/${hook.token}`, { message: 'something else' }, { 'Idempotency-Key': 'n8n-item-1' });
    expect(other.status).toBe(422);
    expect((await publicCall(`/api/webhook/${hook.token}`, { message: 'x' }, { 'Idempotency-Key': 'bad key' })).status).toBe(400);
  });

  it('takes the token in X-Webhook-Token or Authorization: Bearer as well as the path', async () => {
    const agentId = await agent();
    const hook = await tokenUrl(agentId);
    const inPath = await publicCall(`/api/webhook/${hook.token}`, { message: 'path' }, LONG_WAIT);
    const inHeader = await publicCall('/api/webhook', { message: 'header' }, { 'X-Webhook-Token': hook.token, ...LONG_WAIT });
    const asBearer = await publicCall('/api/webhook', { message: 'bearer' }, { Authorization: `Bearer ${hook.token}`, ...LONG_WAIT });
    expect([inPath, inHeader, asBearer].map((r) => [r.status, r.body.response])).toEqual([
      [200, 'Echo: path'],
      [200, 'Echo: header'],
      [200, 'Echo: bearer'],
    ]);
    expect((await publicCall('/api/webhook', { message: 'no token' })).status).toBe(404);
    expect((await publicCall('/api/webhook', { message: 'bad token' }, { 'X-Webhook-Token': 'whk_nope' })).status).toBe(404);

    // A header caller's status URL carries no token: it is polled with the header too.
    const pending = await publicCall('/api/webhook', { message: 'poll me' }, { 'X-Webhook-Token': hook.token, Prefer: 'respond-async' });
    expect(pending.status).toBe(202);
    expect(pending.body.status_url).toBe(`${stack.baseUrl}/api/webhook/runs/${pending.body.run_id}`);
    const polled = await eventually(async () => {
      const r = await request(stack.baseUrl, `/api/webhook/runs/${pending.body.run_id}`, { headers: { 'X-Webhook-Token': hook.token } });
      return r.body.status === 'completed' ? r : undefined;
    }, 'the polled run');
    contract.expectDocumented('GET', `/api/webhook/runs/${pending.body.run_id}`, polled);
    expect(polled.body.response).toBe('Echo: poll me');
    expect((await request(stack.baseUrl, `/api/webhook/runs/${pending.body.run_id}`)).status).toBe(404);
  });

  it('replays an n8n batch: 12 items with Idempotency-Keys against 10 per window, the 2 refused retried after Retry-After → 12 replies, 12 charges', async ({ task }) => {
    const agentId = await agent();
    const hook = await tokenUrl(agentId); // rate_limit_per_minute: the default 10 per window
    const items = Array.from({ length: 12 }, (_, i) => ({ key: `exec-1-item-${i}`, message: `item ${i}` }));
    // As an n8n HTTP Request node would send them: a key per item, and a wait long enough for a reply.
    const send = (item: { key: string; message: string }) =>
      publicCall(`/api/webhook/${hook.token}`, { message: item.message }, { 'Idempotency-Key': item.key, ...LONG_WAIT });

    // Start at the beginning of a window so the batch is not split across two.
    const windowMs = RATE_WINDOW_SECONDS * 1000;
    if (Date.now() % windowMs > 1000) await new Promise((r) => setTimeout(r, windowMs - (Date.now() % windowMs) + 50));
    const firstPass = await Promise.all(items.map(send));
    // Accepted calls answer 200 with the reply (or 202 when the agent needs longer than the wait on a loaded machine).
    expect(firstPass.map((r) => (r.status === 202 ? 200 : r.status)).sort()).toEqual([...Array(10).fill(200), 429, 429]);
    const refused = items.filter((_, i) => firstPass[i]!.status === 429);
    expect(refused).toHaveLength(2);
    const retryAfter = Math.max(...firstPass.filter((r) => r.status === 429).map((r) => Number(r.headers.get('retry-after'))));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(RATE_WINDOW_SECONDS);

    await new Promise((r) => setTimeout(r, retryAfter * 1000));
    const secondPass = await Promise.all(refused.map(send));
    expect(secondPass.map((r) => r.status).filter((status) => status === 429)).toEqual([]);
    const accepted: ApiResponse[] = [...firstPass.filter((r) => r.status !== 429), ...secondPass];
    const runIds = new Set(accepted.map((r) => r.body.run_id));
    expect(runIds.size).toBe(12);

    // n8n's "Retry On Fail" re-sends the whole batch: every item is a replay (never refused, even
    // in a full window), nothing runs again, and each answers with its run's reply.
    const thirdPass = await eventually(async () => {
      const pass = await Promise.all(items.map(send));
      expect(pass.map((r) => r.headers.get('idempotent-replayed'))).toEqual(Array(12).fill('true'));
      return pass.every((r) => r.status === 200) ? pass : undefined;
    }, 'every item\'s reply', 120_000);
    expect(new Set(thirdPass.map((r) => r.body.run_id))).toEqual(runIds);
    expect(thirdPass.map((r) => r.body.response).sort()).toEqual(items.map((item) => `Echo: ${item.message}`).sort());
    const runs = await stack.database.db.selectFrom('runs').select('id').where('inbound_webhook_id', '=', hook.id).execute();
    const charges = await stack.database.db.selectFrom('credit_entries').select('run_id').where('org_id', '=', orgId).where('kind', '=', 'charge').where('run_id', 'in', [...runIds]).execute();
    count(task, { 'n8n batch items': items.length, 'n8n batch replies': thirdPass.length, 'n8n batch charges': charges.length, 'n8n batch items refused then retried': refused.length });
    expect(runs).toHaveLength(12);
    expect(charges).toHaveLength(12);
  });
});

/** Seed 003's Node receiver in a child process (Express, loopback), holding `secret`. */
async function startSeedReceiver(secret: string): Promise<{ url: string; close(): void }> {
  const script = fileURLToPath(new URL('../support/seed003Receiver.cjs', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [script], { env: { ...process.env, WEBHOOK_SECRET: secret }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`seed receiver exited with ${code}`)));
    child.stdout!.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString('utf8')).port));
  });
  return { url: `http://127.0.0.1:${port}`, close: () => void child.kill('SIGTERM') };
}
