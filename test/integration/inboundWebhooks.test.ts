import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/temporal/devServer.js';
import { ContractChecker } from '../support/openapi.js';
import { exitOf, spawnEntry } from '../support/processes.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, request, startTestStack, type ApiResponse, type TestStack } from '../support/stack.js';

const run = promisify(execFile);
let stack: TestStack;
let key: string;
let agentId: string;
let contract: ContractChecker;
let receiver: Receiver;

beforeAll(async () => {
  stack = await startTestStack({ config: { SYNC_WAIT_SECONDS: '2' } });
  ({ apiKey: key } = await stack.newOrg('Zapier user'));
  agentId = (await stack.api('/v1/agents', { key, body: { name: 'Sales bot' } })).body.id;
  contract = new ContractChecker((await stack.api('/openapi.json')).body);
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await stack?.close();
});

async function createWebhook(body: Record<string, unknown> = {}, forAgent = agentId) {
  const created = await stack.api(`/v1/agents/${forAgent}/webhooks`, { key, body: { name: 'Zapier Integration', ...body } });
  expect(created.status).toBe(201);
  return created.body as { id: string; token: string; webhook_url: string; token_prefix: string };
}

async function call(url: string, body: unknown): Promise<ApiResponse> {
  const response = await request(url, '', { body });
  contract.expectDocumented('POST', new URL(url).pathname, response);
  return response;
}

/** Keeps a burst of calls inside one rate-limit window (fixed, per database minute). */
async function awayFromMinuteBoundary() {
  const { rows } = await sql<{ s: number }>`select extract(second from now())::float as s`.execute(stack.database.db);
  if (rows[0]!.s > 50) await new Promise((r) => setTimeout(r, (61 - rows[0]!.s) * 1000));
}

describe('managing token URLs', () => {
  it('shows the token once, lists only its prefix, and regenerating kills the old token at once', async () => {
    const webhook = await createWebhook({ outgoing_url: 'https://hooks.example.com/callback' });
    expect(webhook.token).toMatch(/^whk_[A-Za-z0-9_-]{43}$/);
    expect(webhook.webhook_url).toBe(`${stack.baseUrl}/api/webhook/${webhook.token}`);
    expect(webhook).toMatchObject({ agent_id: agentId, name: 'Zapier Integration', is_active: true, rate_limit_per_minute: 10, outgoing_url: 'https://hooks.example.com/callback' });

    const list = await stack.api(`/v1/agents/${agentId}/webhooks`, { key });
    const listed = list.body.data.find((w: { id: string }) => w.id === webhook.id);
    expect(listed.token_prefix).toBe(`${webhook.token.slice(0, 12)}...`);
    expect(JSON.stringify(list.body)).not.toContain(webhook.token);
    const stored = await stack.database.db.selectFrom('inbound_webhooks').selectAll().where('id', '=', webhook.id).executeTakeFirstOrThrow();
    expect(JSON.stringify(stored)).not.toContain(webhook.token);

    expect((await call(webhook.webhook_url, { message: 'hi' })).status).toBe(200);
    const regenerated = await stack.api(`/v1/webhooks/${webhook.id}/regenerate`, { key, method: 'POST' });
    expect(regenerated.status).toBe(200);
    expect(regenerated.body.token).not.toBe(webhook.token);
    const old = await call(webhook.webhook_url, { message: 'hi' });
    expect(old.status).toBe(404);
    expect(JSON.stringify(old.body)).not.toContain(webhook.token);
    expect((await call(regenerated.body.webhook_url, { message: 'hi' })).status).toBe(200);
  });

  it('answers 404 the same way for unknown, paused, deleted tokens and deleted agents', async () => {
    const paused = await createWebhook();
    await stack.api(`/v1/webhooks/${paused.id}`, { key, method: 'PATCH', body: { is_active: false } });
    const deleted = await createWebhook();
    expect((await stack.api(`/v1/webhooks/${deleted.id}`, { key, method: 'DELETE' })).status).toBe(204);
    const doomedAgent = (await stack.api('/v1/agents', { key, body: { name: 'Doomed' } })).body.id;
    const orphan = await createWebhook({}, doomedAgent);
    await stack.api(`/v1/agents/${doomedAgent}`, { key, method: 'DELETE' });

    const answers = [];
    for (const url of [`${stack.baseUrl}/api/webhook/whk_${'x'.repeat(43)}`, paused.webhook_url, deleted.webhook_url, orphan.webhook_url]) {
      const response = await call(url, { message: 'hello?' });
      expect(response.status).toBe(404);
      answers.push({ ...response.body, request_id: undefined, instance: undefined });
      expect(response.body.instance).toBe('/api/webhook/whk_***');
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
  });

  it('validates management input', async () => {
    const bad = await stack.api(`/v1/agents/${agentId}/webhooks`, { key, body: { name: '', outgoing_url: 'http://10.0.0.1/x', rate_limit_per_minute: 0 } });
    expect(bad.status).toBe(422);
    expect(Object.keys(bad.body.details).sort()).toEqual(['name', 'rate_limit_per_minute']);
    const privateTarget = await stack.api(`/v1/agents/${agentId}/webhooks`, { key, body: { name: 'x', outgoing_url: 'http://10.0.0.1/x' } });
    expect(privateTarget.status).toBe(422);
    expect(privateTarget.body.details.outgoing_url).toMatch(/private/);
  });
});

describe('POST /api/webhook/{token}', () => {
  it('answers synchronously with the reply, continues a user\'s conversation and charges what it reports', async () => {
    const webhook = await createWebhook();
    const first = await call(webhook.webhook_url, { message: 'Summarize today\'s sales report', user_id: 'external-user-123' });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ response: 'Echo: Summarize today\'s sales report', conversation_id: expect.any(String), credits_used: expect.any(Number), run_id: expect.any(String) });
    const second = await call(webhook.webhook_url, { message: 'And yesterday?', user_id: 'external-user-123' });
    expect(second.body.conversation_id).toBe(first.body.conversation_id);
    const stranger = await call(webhook.webhook_url, { message: 'Hi', user_id: 'someone-else' });
    expect(stranger.body.conversation_id).not.toBe(first.body.conversation_id);

    const entry = await stack.database.db.selectFrom('credit_entries').selectAll().where('run_id', '=', first.body.run_id).executeTakeFirstOrThrow();
    expect(-Number(entry.amount)).toBe(first.body.credits_used);
    const runResponse = await stack.api(`/v1/runs/${first.body.run_id}`, { key });
    expect(runResponse.body).toMatchObject({ source: 'webhook', status: 'completed' });
    const conversation = await stack.api(`/v1/conversations/${first.body.conversation_id}`, { key });
    expect(conversation.body.external_user_id).toBe('external-user-123');
    expect(conversation.body.messages).toHaveLength(4);
  });

  it('answers 400 for a missing or empty message and for malformed JSON', async () => {
    const webhook = await createWebhook();
    for (const body of [{}, { message: '' }, { message: '   ' }, { user_id: 'x' }]) {
      const response = await call(webhook.webhook_url, body);
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { message: expect.any(String) } });
    }
    const malformed = await request(webhook.webhook_url, '', { body: '{"message": "hi"' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('MALFORMED_JSON');
  });

  it('admits 10 calls a minute: the 11th gets 429 with Retry-After and RateLimit headers', async () => {
    const webhook = await createWebhook();
    await awayFromMinuteBoundary();
    const responses = [];
    for (let i = 0; i < 11; i++) responses.push(await call(webhook.webhook_url, { message: `call ${i}` }));
    expect(responses.slice(0, 10).map((r) => r.status)).toEqual(Array(10).fill(200));
    const limited = responses[10]!;
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('RATE_LIMITED');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.headers.get('ratelimit-limit')).toBe('10');
    expect(limited.headers.get('ratelimit-remaining')).toBe('0');
    expect(responses[3]!.headers.get('ratelimit-remaining')).toBe('6');
  });

  it('holds the limit across two API processes sharing one database', async () => {
    const webhook = await createWebhook({ rate_limit_per_minute: 10 });
    const second = await secondApi();
    try {
      const otherUrl = `${second.baseUrl}/api/webhook/${webhook.token}`;
      await awayFromMinuteBoundary();
      const calls = Array.from({ length: 20 }, (_, i) => request(i % 2 ? otherUrl : webhook.webhook_url, '', { body: { message: `burst ${i}` } }));
      const statuses = (await Promise.all(calls)).map((r) => r.status);
      // Admitted calls answer 200, or 202 if the burst outlasts SYNC_WAIT_SECONDS.
      expect(statuses.filter((s) => s === 200 || s === 202)).toHaveLength(10);
      expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    } finally {
      await second.close();
    }
  });

  it('refuses with 402 and starts no run when the owner has no credits', async () => {
    const broke = await stack.newOrg('Broke', 0);
    const brokeAgent = (await stack.api('/v1/agents', { key: broke.apiKey, body: { name: 'Poor' } })).body.id;
    const webhook = (await stack.api(`/v1/agents/${brokeAgent}/webhooks`, { key: broke.apiKey, body: { name: 'n8n' } })).body;
    const response = await call(webhook.webhook_url, { message: 'hi' });
    expect(response.status).toBe(402);
    expect(response.body.code).toBe('INSUFFICIENT_CREDITS');
    expect(await stack.database.db.selectFrom('runs').select('id').where('org_id', '=', broke.orgId).execute()).toEqual([]);
  });

  it('answers 202 for a slow agent, and the status URL later shows the reply', async () => {
    const slowAgent = (await stack.api('/v1/agents', { key, body: { name: 'Slow', provider: { kind: 'echo', delay_ms: 3500 } } })).body.id;
    const webhook = await createWebhook({}, slowAgent);
    const pending = await call(webhook.webhook_url, { message: 'take your time' });
    expect(pending.status).toBe(202);
    expect(pending.body).toMatchObject({ status: 'processing', status_url: `${webhook.webhook_url}/runs/${pending.body.run_id}` });
    const done = await eventually(async () => {
      const r = await request(pending.body.status_url, '');
      return r.body.status === 'completed' ? r.body : undefined;
    }, 'the slow run to complete');
    expect(done).toMatchObject({ response: 'Echo: take your time', conversation_id: pending.body.conversation_id });
  });

  it('answers a failed agent with a 5xx problem naming the run, without internals', async () => {
    const broken = (await stack.api('/v1/agents', { key, body: { name: 'Broken', provider: { kind: 'http', url: `${receiver.url}-agent` } } })).body.id;
    const webhook = await createWebhook({}, broken);
    receiver.answer(400);
    const response = await call(webhook.webhook_url, { message: 'hi' });
    expect(response.status).toBe(502);
    expect(response.body).toMatchObject({ code: 'AGENT_FAILED', run_id: expect.any(String) });
    expect(JSON.stringify(response.body)).not.toMatch(/127\.0\.0\.1|HTTP 400|stack/);
  });

  it('posts the finished run to outgoing_url, signed', async () => {
    const secret = (await stack.api('/v1/callback-secret/rotate', { key, method: 'POST' })).body.secret;
    const webhook = await createWebhook({ outgoing_url: receiver.url });
    const seen = receiver.received.length;
    const reply = await call(webhook.webhook_url, { message: 'Tell the CRM' });
    expect(reply.status).toBe(200);
    const delivered = await eventually(async () => receiver.received.slice(seen).find((r) => r.body.includes(reply.body.run_id)), 'the outgoing POST');
    const payload = new Webhook(secret).verify(delivered.body, delivered.headers as Record<string, string>);
    expect(payload).toMatchObject({ run_key: reply.body.run_id, status: 'completed', result_text: 'Echo: Tell the CRM', conversation_id: reply.body.conversation_id });
  });
});

describe('seed 000 client examples, with only the host and token changed', () => {
  it('cURL', async () => {
    const webhook = await createWebhook();
    const { stdout } = await run('curl', ['-sS', '-X', 'POST', webhook.webhook_url, '-H', 'Content-Type: application/json', '-d', '{"message": "Hello from my app!"}']);
    expect(JSON.parse(stdout)).toMatchObject({ response: 'Echo: Hello from my app!', credits_used: expect.any(Number) });
  });

  it('Node (fetch, as in the Express example)', async () => {
    const WEBHOOK_URL = (await createWebhook()).webhook_url;
    const response = await fetch(WEBHOOK_URL, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message: 'What are sales?' }) });
    const data = (await response.json()) as { response: string };
    expect({ answer: data.response }).toEqual({ answer: 'Echo: What are sales?' });
  });

  it('the Express app, verbatim', async () => {
    const WEBHOOK_URL = (await createWebhook()).webhook_url;
    const answer = await askThroughSeedApp('node', [fileURLToPath(new URL('../support/seed000/express-app.cjs', import.meta.url))], WEBHOOK_URL);
    expect(answer).toEqual({ answer: 'Echo: What were sales today?' });
  });

  it('the Flask app, verbatim', async () => {
    const WEBHOOK_URL = (await createWebhook()).webhook_url;
    const answer = await askThroughSeedApp('python3', [fileURLToPath(new URL('../support/seed000/flask_app.py', import.meta.url))], WEBHOOK_URL);
    expect(answer).toEqual({ answer: 'Echo: What were sales today?' });
  });

  it('Python requests (as in the Flask example)', async () => {
    const WEBHOOK_URL = (await createWebhook()).webhook_url;
    const script = `import requests, sys\nresp = requests.post(sys.argv[1], json={"message": "Python asks"})\nprint(resp.json()["response"])`;
    const { stdout } = await run('python3', ['-c', script, WEBHOOK_URL]);
    expect(stdout.trim()).toBe('Echo: Python asks');
  });
});

/**
 * Another API beside the test stack's: a real `npm run api` process on the same Postgres and
 * Temporal when the tests have a Postgres server; with PGlite (one process only) a second app
 * instance in this process over the same database.
 */
async function secondApi(): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const databaseUrl = inject('databaseUrl');
  if (databaseUrl) {
    const port = await freePort();
    const api = spawnEntry('src/main.ts', {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      APP_ENV: 'development',
      SYNC_WAIT_SECONDS: '5',
      LOG_LEVEL: 'warn',
    });
    const baseUrl = `http://127.0.0.1:${port}`;
    await eventually(async () => {
      if (api.exitCode !== null) throw new Error(api.output());
      const ready = await request(baseUrl, '/readyz').catch(() => undefined);
      return ready?.status === 200 ? true : undefined;
    }, 'the second api process');
    return {
      baseUrl,
      close: async () => {
        api.kill('SIGTERM');
        await exitOf(api);
      },
    };
  }
  const second = await stack.startSecondApi();
  return { baseUrl: second.baseUrl, close: async () => second.close() };
}

/** Starts one of seed 000's example apps against WEBHOOK_URL and asks it, as its users would, through POST /ask-ai. */
async function askThroughSeedApp(command: string, args: string[], webhookUrl: string): Promise<unknown> {
  const child = spawn(command, args, { env: { ...process.env, WEBHOOK_URL: webhookUrl }, stdio: ['ignore', 'pipe', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /listening (\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`${command} exited ${code}: ${errors}`)));
    });
    const answer = await eventually(async () => {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/ask-ai`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ question: 'What were sales today?' }),
        });
        return (await response.json()) as unknown;
      } catch {
        return undefined; // still starting
      }
    }, `the ${command} example app`);
    return answer;
  } finally {
    child.kill();
  }
}
