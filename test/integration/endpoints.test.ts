import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContractChecker } from '../support/openapi.js';
import { startReceiver, type Received, type Receiver } from '../support/receiver.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let production: TestStack; // APP_ENV=production: HTTPS only, no allow-list
let contract: ContractChecker;
let key: string;

beforeAll(async () => {
  // Temporal schedules retries with about one-second resolution: keep the steps apart.
  stack = await startTestStack({ config: { DELIVERY_RETRY_SCHEDULE: '1s,2500ms,4s', ENDPOINT_DISABLE_AFTER_FAILURES: '2' } });
  production = await startTestStack({ worker: false, config: { APP_ENV: 'production', OUTBOUND_ALLOWED_CIDRS: '' } });
  contract = new ContractChecker((await stack.api('/openapi.json')).body);
  ({ apiKey: key } = await stack.newOrg('Events org'));
});
afterAll(async () => {
  await production?.close();
  await stack?.close();
});

async function call(method: string, path: string, body?: unknown, apiKey = key, s = stack) {
  const response = await s.api(path, { method, key: apiKey, body });
  contract.expectDocumented(method, path, response);
  return response;
}

async function subscribe(receiver: Receiver, body: Record<string, unknown> = {}, apiKey = key) {
  const created = await call('POST', '/v1/endpoints', { url: receiver.url, events: ['run.completed', 'agent.message', 'user.message'], ...body }, apiKey);
  expect(created.status).toBe(201);
  return created.body as { id: string; secret: string };
}

async function runOnce(agentId: string, message: string, apiKey = key) {
  const accepted = await call('POST', `/v1/agents/${agentId}/runs`, { message }, apiKey);
  expect(accepted.status).toBe(202);
  await eventually(async () => ((await stack.api(`/v1/runs/${accepted.body.run_id}`, { key: apiKey })).body.status === 'completed' ? true : undefined), 'run');
  return accepted.body.run_id as string;
}

const parsed = (r: Received) => JSON.parse(r.body) as { id: string; type: string; timestamp: string; webhook: { id: string; name: string }; data: any };

describe('deliveries', () => {
  it('signs every delivery for Standard Webhooks and seed-003 receivers, with custom headers and the documented body', async () => {
    const receiver = await startReceiver();
    try {
      const agent = (await call('POST', '/v1/agents', { name: 'Deliverer' })).body.id;
      const endpoint = await subscribe(receiver, { name: 'CRM sync', headers: { 'X-Tenant': 'acme' } });
      expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/);
      const runId = await runOnce(agent, 'Deliver me');
      const got = await eventually(async () => (receiver.received.length >= 3 ? receiver.received : undefined), 'three deliveries');

      const verifier = new Webhook(endpoint.secret);
      for (const r of got) {
        verifier.verify(r.body, r.headers as Record<string, string>); // throws on a bad signature
        const hex = createHmac('sha256', endpoint.secret).update(r.body).digest('hex');
        expect(r.headers['x-webhook-signature']).toBe(hex);
        expect(r.headers['x-tenant']).toBe('acme');
        expect(r.headers['content-type']).toBe('application/json');
      }
      const byType = Object.fromEntries(got.map((r) => [parsed(r).type, parsed(r)]));
      expect(Object.keys(byType).sort()).toEqual(['agent.message', 'run.completed', 'user.message']);
      expect(byType['run.completed']).toMatchObject({ webhook: { id: endpoint.id, name: 'CRM sync' }, data: { run_id: runId, status: 'completed', result: 'Echo: Deliver me', agent: { id: agent } } });
      expect(byType['user.message']!.data).toMatchObject({ content: 'Deliver me', source: 'api' });
      for (const r of got) expect(r.headers['webhook-id']).toBe(`msg_${parsed(r).id.replaceAll('-', '')}`);

      // The receiver has the POST a moment before the worker records the attempt.
      const event = await eventually(async () => {
        const e = await call('GET', `/v1/events/${byType['run.completed']!.id}`);
        return e.body.deliveries?.[0]?.status === 'succeeded' ? e : undefined;
      }, 'the attempt to be recorded');
      expect(event.body.deliveries).toEqual([expect.objectContaining({ endpoint_id: endpoint.id, status: 'succeeded', attempts: [expect.objectContaining({ attempt: 1, status_code: 200, succeeded: true })] })]);
      const health = await eventually(async () => {
        const h = (await call('GET', `/v1/endpoints/${endpoint.id}`)).body;
        return h.health?.succeeded_24h === 3 ? h : undefined;
      }, 'three recorded deliveries');
      expect(health.last_triggered_at).not.toBeNull();
      expect(health.health).toMatchObject({ succeeded_24h: 3, failed_24h: 0, success_rate_24h: 1 });
      expect(health.headers).toEqual({ 'X-Tenant': '***' });
    } finally {
      await receiver.close();
    }
  });

  it('retries a failing receiver with growing gaps under one webhook-id, a 400 included (every non-2xx is retried)', async () => {
    const failing = await startReceiver();
    const rejecting = await startReceiver();
    try {
      const agent = (await call('POST', '/v1/agents', { name: 'Retrier' })).body.id;
      await subscribe(failing, { events: ['run.completed'] });
      await subscribe(rejecting, { events: ['run.completed'] });
      failing.answer(500, 502);
      rejecting.answer(400);
      await runOnce(agent, 'Retry me');
      const got = await eventually(async () => (failing.received.length >= 3 ? failing.received : undefined), 'three attempts', 30_000);
      await new Promise((r) => setTimeout(r, 2000));
      expect(failing.received).toHaveLength(3);
      expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(1);
      const gaps = [got[1]!.at - got[0]!.at, got[2]!.at - got[1]!.at];
      expect(gaps[0]).toBeGreaterThanOrEqual(700);
      expect(gaps[1]).toBeGreaterThan(gaps[0]!);
      // Seed 003 and DESIGN.md (2026-11-30): a 4xx is retried like any other failure, then accepted.
      await eventually(async () => (rejecting.received.length >= 2 ? true : undefined), 'the 400 retried');
      await new Promise((r) => setTimeout(r, 1000));
      expect(rejecting.received.map((r) => r.headers['webhook-id'])).toEqual([got[0]!.headers['webhook-id'], got[0]!.headers['webhook-id']]);
    } finally {
      await failing.close();
      await rejecting.close();
    }
  });

  it('counts a receiver slower than timeout_seconds as a failed attempt', async () => {
    const { createServer } = await import('node:http');
    let hits = 0;
    const slow = createServer((req, res) => {
      hits++;
      setTimeout(() => res.writeHead(200).end(), 3000).unref();
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    try {
      const agent = (await call('POST', '/v1/agents', { name: 'Patient' })).body.id;
      const url = `http://127.0.0.1:${(slow.address() as { port: number }).port}/hook`;
      const endpoint = (await call('POST', '/v1/endpoints', { url, events: ['run.completed'], timeout_seconds: 1, max_retries: 0 })).body;
      await runOnce(agent, 'Too slow for you');
      const deliveries = await eventually(async () => {
        const d = (await call('GET', `/v1/endpoints/${endpoint.id}/deliveries`)).body.data;
        return d[0]?.status === 'failed' ? d : undefined;
      }, 'the delivery to fail');
      expect(deliveries[0].attempts).toEqual([expect.objectContaining({ attempt: 1, succeeded: false, status_code: null, error: expect.stringMatching(/^timeout/) })]);
      expect(hits).toBe(1);
    } finally {
      slow.closeAllConnections();
      slow.close();
    }
  });

  it('signs with both secrets during the grace period after rotate-secret', async () => {
    const receiver = await startReceiver();
    try {
      const agent = (await call('POST', '/v1/agents', { name: 'Rotator' })).body.id;
      const endpoint = await subscribe(receiver, { events: ['run.completed'] });
      const rotated = await call('POST', `/v1/endpoints/${endpoint.id}/rotate-secret`, {});
      expect(rotated.status).toBe(200);
      expect(rotated.body.secret).not.toBe(endpoint.secret);
      expect(Date.parse(rotated.body.previous_valid_until) - Date.now()).toBeGreaterThan(23 * 3_600_000);
      await runOnce(agent, 'Rotate');
      const [delivery] = await eventually(async () => (receiver.received.length ? receiver.received : undefined), 'a delivery');
      for (const secret of [endpoint.secret, rotated.body.secret]) new Webhook(secret).verify(delivery!.body, delivery!.headers as Record<string, string>);
      expect(String(delivery!.headers['webhook-signature']).split(' ')).toHaveLength(2);
    } finally {
      await receiver.close();
    }
  });

  it('gives an agent-scoped endpoint only its agent\'s events and a disabled one none', async () => {
    const mine = await startReceiver();
    const off = await startReceiver();
    try {
      const a1 = (await call('POST', '/v1/agents', { name: 'A1' })).body.id;
      const a2 = (await call('POST', '/v1/agents', { name: 'A2' })).body.id;
      await subscribe(mine, { events: ['run.completed'], agent_ids: [a1] });
      await subscribe(off, { events: ['run.completed'], enabled: false });
      await runOnce(a2, 'not for you');
      const r1 = await runOnce(a1, 'for you');
      await eventually(async () => (mine.received.length ? true : undefined), 'a delivery');
      await new Promise((r) => setTimeout(r, 1000));
      expect(mine.received.map((r) => parsed(r).data.run_id)).toEqual([r1]);
      expect(off.received).toEqual([]);
    } finally {
      await mine.close();
      await off.close();
    }
  });

  it('disables an endpoint that keeps failing (or answers 410) and announces endpoint.disabled', async () => {
    const gone = await startReceiver();
    const watcher = await startReceiver();
    try {
      const agent = (await call('POST', '/v1/agents', { name: 'Goner' })).body.id;
      const endpoint = await subscribe(gone, { events: ['run.completed'], max_retries: 0 });
      await subscribe(watcher, { events: ['endpoint.disabled'] });
      gone.answer(410);
      await runOnce(agent, 'Are you there?');
      const disabled = await eventually(async () => {
        const e = (await call('GET', `/v1/endpoints/${endpoint.id}`)).body;
        return e.enabled === false ? e : undefined;
      }, 'the endpoint to be disabled');
      expect(disabled.disabled_reason).toBe('HTTP 410');
      // Other endpoints of this org (earlier tests closed their receivers) may be disabled too.
      const notice = await eventually(
        async () => watcher.received.find((r) => parsed(r).type === 'endpoint.disabled' && parsed(r).data.endpoint_id === endpoint.id),
        'endpoint.disabled delivery',
      );
      expect(parsed(notice).data).toMatchObject({ endpoint_id: endpoint.id, reason: 'HTTP 410' });
      await runOnce(agent, 'Still there?');
      await new Promise((r) => setTimeout(r, 1000));
      expect(gone.received).toHaveLength(1);
    } finally {
      await gone.close();
      await watcher.close();
    }
  });

  it('re-sends a delivery on request with the same webhook-id, and answers the test ping synchronously', async () => {
    const receiver = await startReceiver();
    try {
      const agent = (await call('POST', '/v1/agents', { name: 'Again' })).body.id;
      const endpoint = await subscribe(receiver, { events: ['run.completed'] });
      await runOnce(agent, 'Once more');
      const first = await eventually(async () => receiver.received[0], 'the delivery');
      const deliveries = (await call('GET', `/v1/endpoints/${endpoint.id}/deliveries`)).body.data;
      const retry = await call('POST', `/v1/deliveries/${deliveries[0].id}/retry`);
      expect(retry.status).toBe(202);
      const second = await eventually(async () => receiver.received[1], 'the re-sent delivery');
      expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
      expect(second.body).toBe(first.body);

      const ok = await call('POST', `/v1/endpoints/${endpoint.id}/test`);
      expect(ok.body).toMatchObject({ success: true, status_code: 200, statusCode: 200, error: null });
      expect(parsed(receiver.received.at(-1)!).type).toBe('test.ping');
      receiver.answer(503);
      const bad = await call('POST', `/v1/endpoints/${endpoint.id}/test`);
      expect(bad.body).toMatchObject({ success: false, status_code: 503, statusCode: 503, error: 'HTTP 503' });
    } finally {
      await receiver.close();
    }
  });
});

describe('both triggers produce deliveries', () => {
  it('a sync webhook call and an async run each deliver user.message, agent.message and run.completed', async () => {
    const receiver = await startReceiver();
    try {
      const agent = (await call('POST', '/v1/agents', { name: 'Both ways' })).body.id;
      await subscribe(receiver);
      const asyncRun = await runOnce(agent, 'async');
      const hook = (await call('POST', `/v1/agents/${agent}/webhooks`, { name: 'Zap' })).body;
      const reply = await stack.api(new URL(hook.webhook_url).pathname, { body: { message: 'sync' } });
      expect(reply.status).toBe(200);
      const got = await eventually(async () => (receiver.received.length >= 6 ? receiver.received.map(parsed) : undefined), 'six deliveries');
      for (const runId of [asyncRun, reply.body.run_id]) {
        const types = got.filter((e) => e.data.run_id === runId).map((e) => e.type).sort();
        expect(types).toEqual(['agent.message', 'run.completed', 'user.message']);
      }
      expect(got.find((e) => e.data.run_id === reply.body.run_id && e.type === 'user.message')!.data.source).toBe('webhook');
    } finally {
      await receiver.close();
    }
  });
});

describe('management', () => {
  it('rejects seed 001\'s invalid endpoints with 422 details keyed by field', async () => {
    const { apiKey } = await production.newOrg('Strict org');
    const valid = { url: 'https://hooks.example.com/in', events: ['run.completed'] };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ url: 'http://hooks.example.com/in' }, 'url'],
      [{ events: [] }, 'events'],
      [{ events: Array.from({ length: 51 }, () => 'run.completed') }, 'events'],
      [{ events: ['run.completed', 'run.completed'] }, 'events'],
      [{ events: ['run.exploded'] }, 'events.0'],
      [{ description: 'd'.repeat(201) }, 'description'],
      [{ api_version: '1999-01-01' }, 'api_version'],
      [{ timeout_seconds: 301 }, 'timeout_seconds'],
      [{ max_retries: 11 }, 'max_retries'],
      [{ headers: { 'Webhook-Signature': 'forged' } }, 'headers.Webhook-Signature'],
      [{ url: 'https://10.1.2.3/in' }, 'url'],
    ];
    for (const [patch, field] of cases) {
      const response = await call('POST', '/v1/endpoints', { ...valid, ...patch }, apiKey, production);
      expect(response.status, JSON.stringify(patch).slice(0, 80)).toBe(422);
      expect(Object.keys(response.body.details), JSON.stringify(patch).slice(0, 80)).toContain(field);
    }
  });

  it('refuses the 51st active endpoint with 409 LIMIT_EXCEEDED (MAX_ENDPOINTS_PER_ORG, default 50)', async () => {
    const { apiKey } = await production.newOrg('Busy org');
    const body = { url: 'https://hooks.example.com/in', events: ['run.completed'] };
    for (let i = 0; i < 50; i++) expect((await production.api('/v1/endpoints', { key: apiKey, body })).status).toBe(201);
    const over = await call('POST', '/v1/endpoints', body, apiKey, production);
    expect(over.status).toBe(409);
    expect(over.body.code).toBe('LIMIT_EXCEEDED');
    expect((await call('POST', '/v1/endpoints', { ...body, enabled: false }, apiKey, production)).status).toBe(201);
  });

  it('lists the event catalog with schemas, and events with filters, per org', async () => {
    const types = await call('GET', '/v1/event-types');
    const names = types.body.data.map((t: { type: string }) => t.type);
    expect(names).toEqual(expect.arrayContaining(['user.message', 'agent.message', 'agent.action', 'conversation.created', 'run.started', 'run.completed', 'run.failed', 'run.cancelled', 'run.timed_out', 'wallet.balance_low', 'endpoint.disabled']));
    for (const t of types.body.data) expect(t.schema.type).toBe('object');

    const completed = await call('GET', '/v1/events?type=run.completed&limit=100');
    expect(completed.body.data.length).toBeGreaterThan(0);
    expect(completed.body.data.every((e: { type: string }) => e.type === 'run.completed')).toBe(true);
    const other = await stack.newOrg('Quiet org');
    expect((await call('GET', '/v1/events', undefined, other.apiKey)).body.data).toEqual([]);
    expect((await call('GET', `/v1/events/${completed.body.data[0].id}`, undefined, other.apiKey)).status).toBe(404);
  });
});
