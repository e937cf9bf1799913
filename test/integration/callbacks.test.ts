import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack; // allow-list opens loopback (dev and tests)
let guarded: TestStack; // allow-list off, as in production
let receiver: Receiver;

beforeAll(async () => {
  // Temporal schedules retries with about one-second resolution: keep the steps apart.
  stack = await startTestStack({ config: { DELIVERY_RETRY_SCHEDULE: '1s,2500ms,4s' } });
  guarded = await startTestStack({ config: { OUTBOUND_ALLOWED_CIDRS: '' } });
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await guarded?.close();
  await stack?.close();
});

async function callbackAgent(s: TestStack, key: string, provider: Record<string, unknown> = { kind: 'echo' }) {
  const agent = await s.api('/v1/agents', { key, body: { name: 'Calls back', allow_callback_urls: true, provider } });
  expect(agent.status).toBe(201);
  return agent.body.id as string;
}

async function deliveriesOf(s: TestStack, runId: string) {
  const delivery = await s.database.db.selectFrom('deliveries').selectAll().where('run_id', '=', runId).executeTakeFirst();
  const attempts = delivery
    ? await s.database.db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', delivery.id).orderBy('attempt').execute()
    : [];
  return { delivery, attempts };
}

describe('run callbacks', () => {
  it('retries a failing receiver with growing gaps; every attempt has the same run_key and a valid signature', async () => {
    const { apiKey: key } = await stack.newOrg('Callback org');
    const rotated = await stack.api('/v1/callback-secret/rotate', { key, method: 'POST' });
    expect(rotated.status).toBe(201);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    const agentId = await callbackAgent(stack, key);

    receiver.answer(500, 503); // then 200
    const seen = receiver.received.length;
    const accepted = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'Call me back', callback_url: receiver.url } });
    expect(accepted.status).toBe(202);
    const runId = accepted.body.run_id;

    const got = await eventually(async () => (receiver.received.length - seen >= 3 ? receiver.received.slice(seen) : undefined), 'three callback attempts', 30_000);
    await new Promise((r) => setTimeout(r, 1500)); // nothing more arrives after a success
    expect(receiver.received.length - seen).toBe(3);

    const verifier = new Webhook(rotated.body.secret);
    const bodies = got.map((r) => verifier.verify(r.body, r.headers as Record<string, string>) as Record<string, unknown>);
    for (const body of bodies) {
      expect(body).toMatchObject({ run_key: runId, status: 'completed', result_text: 'Echo: Call me back', error_message: null });
      expect(body.events_url).toBe(`${stack.baseUrl}/v1/runs/${runId}/events`);
    }
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const gaps = [got[1]!.at - got[0]!.at, got[2]!.at - got[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(700); // 1 s ±20 %
    expect(gaps[1]).toBeGreaterThan(gaps[0]!); // then 2.5 s ±20 %

    const { delivery, attempts } = await deliveriesOf(stack, runId);
    expect(delivery).toMatchObject({ kind: 'callback', status: 'succeeded', attempts: 3 });
    expect(attempts.map((a) => [a.attempt, a.status_code, a.succeeded])).toEqual([
      [1, 500, false],
      [2, 503, false],
      [3, 200, true],
    ]);
    expect(attempts[0]!.error).toBe('HTTP 500');
  });

  it('calls back on cancel and on timeout with the terminal status', async () => {
    const { apiKey: key } = await stack.newOrg('Terminal org');
    const agentId = await callbackAgent(stack, key, { kind: 'echo', delay_ms: 20_000 });
    await stack.api(`/v1/agents/${agentId}`, { key, method: 'PATCH', body: { run_timeout_seconds: 2 } });
    const seen = receiver.received.length;

    const cancelled = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'cancel me', callback_url: receiver.url } });
    await eventually(async () => ((await stack.api(`/v1/runs/${cancelled.body.run_id}`, { key })).body.started_at ? true : undefined), 'start');
    expect((await stack.api(`/v1/runs/${cancelled.body.run_id}/cancel`, { key, method: 'POST' })).status).toBe(202);
    const timedOut = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'too slow', callback_url: receiver.url } });

    const bodies = await eventually(async () => {
      const mine = receiver.received.slice(seen).map((r) => JSON.parse(r.body));
      return mine.length >= 2 ? mine : undefined;
    }, 'two callbacks', 20_000);
    const byRun = Object.fromEntries(bodies.map((b) => [b.run_key, b]));
    expect(byRun[cancelled.body.run_id]).toMatchObject({ status: 'cancelled', result_text: null, error_message: null });
    expect(byRun[timedOut.body.run_id]).toMatchObject({ status: 'timed_out', error_message: 'no answer within 2 seconds' });
  });

  it('retries a receiver that answers 400 until it accepts, and stops at once on 410 Gone', async () => {
    const { apiKey: key } = await stack.newOrg('Rejected org');
    const agentId = await callbackAgent(stack, key);
    receiver.answer(400); // then 200
    const seen = receiver.received.length;
    const accepted = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'no', callback_url: receiver.url } });
    const retried = await eventually(async () => {
      const d = await deliveriesOf(stack, accepted.body.run_id);
      return d.delivery?.status === 'succeeded' ? d : undefined;
    }, 'the callback to be retried and delivered');
    expect(retried.attempts.map((a) => a.status_code)).toEqual([400, 200]);
    expect(receiver.received.length - seen).toBe(2);

    receiver.answer(410);
    const gone = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'gone', callback_url: receiver.url } });
    const { delivery } = await eventually(async () => {
      const d = await deliveriesOf(stack, gone.body.run_id);
      return d.delivery?.status === 'failed' ? d : undefined;
    }, 'the callback to stop at 410');
    await new Promise((r) => setTimeout(r, 1500));
    expect(delivery!.attempts).toBe(1);
    expect(receiver.received.length - seen).toBe(3);
  });
});

describe('callback SSRF guard (allow-list off)', () => {
  it.each(['http://127.0.0.1:9/cb', 'http://10.0.0.1/cb', 'http://169.254.169.254/latest/meta-data', 'http://[::1]:9/cb', 'http://[::ffff:10.0.0.1]/cb'])(
    'refuses %s at trigger time',
    async (url) => {
      const { apiKey: key } = await guarded.newOrg('Guarded org');
      const agentId = await callbackAgent(guarded, key);
      const refused = await guarded.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'hi', callback_url: url } });
      expect(refused.status).toBe(422);
      expect(refused.body.details.callback_url).toMatch(/private|loopback|link-local/);
    },
  );

  it('refuses at connect time a name that resolves to loopback, without retrying', async () => {
    const { apiKey: key } = await guarded.newOrg('Guarded org');
    const agentId = await callbackAgent(guarded, key);
    const seen = receiver.received.length;
    const port = new URL(receiver.url).port;
    const accepted = await guarded.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'hi', callback_url: `http://localhost:${port}/hook` } });
    expect(accepted.status).toBe(202);
    const { delivery, attempts } = await eventually(async () => {
      const d = await deliveriesOf(guarded, accepted.body.run_id);
      return d.delivery?.status === 'failed' ? d : undefined;
    }, 'the callback to be refused');
    expect(delivery!.attempts).toBe(1);
    expect(attempts[0]!.error).toMatch(/^blocked/);
    expect(receiver.received.length - seen).toBe(0);
  });
});
