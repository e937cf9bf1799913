import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  verifyGithub,
  verifyHmacSha256,
  verifyStandardWebhooks,
  verifyStripe,
  type InboundRequest,
} from '../../src/domain/triggers/signatures.js';
import { completion, openAiError, startFakeOpenAi, type FakeOpenAi } from '../support/fakeOpenAi.js';
import { count } from '../support/figures.js';
import { eventually, request, startTestStack, type TestStack } from '../support/stack.js';
import { deliveriesTaskQueue } from '../../workflows/taskQueues.js';

// Every constant-time comparison of the product goes through this spy, so the tests below can
// see that a wrong secret was compared (equal lengths, timingSafeEqual) rather than short-cut.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});
const compared = vi.mocked(timingSafeEqual);

/**
 * Secrets never reach Temporal: a scenario that makes and uses every kind of secret the
 * product has (API keys, endpoint signing secrets and custom header values, the callback
 * secret, webhook and trigger tokens, trigger signing secrets, provider credentials, the
 * admin token), with receivers and providers that echo credentials back in their errors,
 * then every workflow history on the task queue, payloads decoded, must contain none of them.
 * And every comparison against a secret is constant-time.
 */
const ADMIN_TOKEN = `adm_${randomBytes(24).toString('hex')}`;
const OPENAI_KEY_ENV = `SECRETS_TEST_OPENAI_KEY_${randomBytes(4).toString('hex').toUpperCase()}`;
const OPENAI_KEY = `sk-test-${randomBytes(24).toString('hex')}`;
const HTTP_AGENT_SECRET = `agent-cred-${randomBytes(16).toString('hex')}`;
const HEADER_SECRET = `hdr-cred-${randomBytes(16).toString('hex')}`;

let stack: TestStack;
let fake: FakeOpenAi;
let echo: { url: string; requests: number; close(): Promise<void> };

/** A receiver that answers each message's first attempt 500 with every header it got (a careless echo), then 200. */
async function startEchoingReceiver() {
  const seen = new Set<string>();
  let requests = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      const path = `${req.url} ${req.headers['webhook-id']}`;
      if (seen.has(path)) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      seen.add(path);
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `you sent ${JSON.stringify(req.headers)}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get requests() {
      return requests;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

beforeAll(async () => {
  fake = await startFakeOpenAi();
  // The operator's provider: its key lives in the worker's environment, named by the operator only.
  const providers = [{ name: 'fake-openai', base_url: fake.baseUrl, api_key_env: OPENAI_KEY_ENV, allow_private: true }];
  stack = await startTestStack({
    config: { ADMIN_TOKEN, DELIVERY_RETRY_SCHEDULE: '300ms,300ms', MODEL_PROVIDERS: JSON.stringify(providers) },
    workerEnv: { [OPENAI_KEY_ENV]: OPENAI_KEY },
  });
  echo = await startEchoingReceiver();
});
afterAll(async () => {
  await echo?.close();
  await fake?.close();
  await stack?.close();
});

/** Every string in a history, payload bytes decoded as UTF-8 (JSON, mostly). */
function historyText(value: unknown): string {
  const parts: string[] = [];
  const walk = (v: unknown): void => {
    if (v === null || v === undefined) return;
    if (v instanceof Uint8Array) parts.push(Buffer.from(v).toString('utf8'));
    else if (typeof v === 'string') parts.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object') {
      for (const [k, inner] of Object.entries(v)) {
        parts.push(k);
        walk(inner);
      }
    }
  };
  walk(value);
  return parts.join('\n');
}

describe('secrets never reach Temporal', () => {
  it('no workflow history on the task queue holds any secret the scenario made or used', async ({ task }) => {
    const secrets: Record<string, string> = { 'admin token': ADMIN_TOKEN, 'provider API key': OPENAI_KEY, 'HTTP agent header': HTTP_AGENT_SECRET, 'endpoint header value': HEADER_SECRET };
    const ok = async (method: string, path: string, body: unknown, key: string, status: number) => {
      const r = await stack.api(path, { method, body, key });
      expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBe(status);
      return r.body;
    };

    const org = await ok('POST', '/v1/admin/orgs', { name: 'Secretive org', credits: 100_000 }, ADMIN_TOKEN, 201);
    const key: string = org.api_key.key;
    secrets['org API key'] = key;
    secrets['callback secret'] = (await ok('POST', '/v1/callback-secret/rotate', undefined, key, 201)).secret;

    const echoAgent = (await ok('POST', '/v1/agents', { name: 'Echo', allow_callback_urls: true }, key, 201)).id;
    const openAiAgent = (
      await ok('POST', '/v1/agents', { name: 'OpenAI', allow_callback_urls: true, provider: { kind: 'openai', provider: 'fake-openai', model: 'gpt-test' } }, key, 201)
    ).id;
    const httpAgent = (
      await ok('POST', '/v1/agents', { name: 'HTTP', provider: { kind: 'http', url: `${fake.origin}/agent`, headers: { Authorization: `Bearer ${HTTP_AGENT_SECRET}` } } }, key, 201)
    ).id;
    const scoped = await ok('POST', '/v1/api-keys', { name: 'scoped', agent_id: echoAgent }, key, 201);
    secrets['agent-scoped API key'] = scoped.key;

    const endpoint = await ok('POST', '/v1/endpoints', { url: `${echo.url}/endpoint`, events: ['run.completed', 'agent.message', 'run.failed'], headers: { 'X-Api-Token': HEADER_SECRET } }, key, 201);
    secrets['endpoint signing secret'] = endpoint.secret;
    secrets['rotated endpoint signing secret'] = (await ok('POST', `/v1/endpoints/${endpoint.id}/rotate-secret`, {}, key, 200)).secret;
    expect((await ok('POST', `/v1/endpoints/${endpoint.id}/test`, undefined, key, 200)).statusCode).toBe(500);

    const webhook = await ok('POST', `/v1/agents/${echoAgent}/webhooks`, { name: 'Inbox', outgoing_url: `${echo.url}/outgoing` }, key, 201);
    secrets['webhook token'] = webhook.token;
    const github = await ok('POST', `/v1/agents/${echoAgent}/triggers`, { name: 'GitHub', scheme: 'github', message_template: 'Issue {{ payload.n }}' }, key, 201);
    secrets['GitHub trigger secret'] = github.secret;
    const standard = await ok('POST', `/v1/agents/${echoAgent}/triggers`, { name: 'Svix', scheme: 'standard-webhooks', message_template: 'Event {{ payload.n }}' }, key, 201);
    secrets['Standard Webhooks trigger secret'] = standard.secret;
    const byToken = await ok('POST', `/v1/agents/${echoAgent}/triggers`, { name: 'Zap', scheme: 'none', message_template: 'Zap {{ payload.n }}' }, key, 201);
    secrets['trigger token'] = byToken.token;

    // Use every credential: a provider that echoes its API key in an error, then answers.
    fake.answer(openAiError(500, `upstream rejected Authorization: Bearer ${OPENAI_KEY}`), completion('openai says hi'));
    const runs: string[] = [];
    runs.push((await ok('POST', `/v1/agents/${openAiAgent}/runs`, { message: 'secret scenario openai', callback_url: `${echo.url}/callback-openai` }, key, 202)).run_id);
    await eventually(async () => ((await stack.api(`/v1/runs/${runs[0]}`, { key })).body.status === 'completed' ? true : undefined), 'the OpenAI run');
    expect(fake.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${OPENAI_KEY}`, `Bearer ${OPENAI_KEY}`]);

    fake.answer({ status: 500, body: { error: `bad credential ${HTTP_AGENT_SECRET}` } }, { status: 200, body: { response: 'http agent says hi' } });
    runs.push((await ok('POST', `/v1/agents/${httpAgent}/runs`, { message: 'secret scenario http' }, key, 202)).run_id);
    await eventually(async () => ((await stack.api(`/v1/runs/${runs[1]}`, { key })).body.status === 'completed' ? true : undefined), 'the HTTP agent run');

    runs.push((await ok('POST', `/v1/agents/${echoAgent}/runs`, { message: 'secret scenario echo', callback_url: `${echo.url}/callback-echo` }, scoped.key, 202)).run_id);
    // A portal session (issued with the admin token, exchanged as the console does) starts a run too.
    const portal = await ok('POST', '/v1/portal-sessions', { org_id: org.org.id, agent_id: echoAgent, scopes: ['runs:read', 'runs:write'] }, ADMIN_TOKEN, 201);
    const portalLink = String(portal.url).split('#portal=')[1]!;
    const portalSession: string = (await ok('POST', '/v1/portal-sessions/exchange', { token: portalLink }, '', 200)).session_token;
    Object.assign(secrets, { 'portal link token': portalLink, 'portal session token': portalSession });
    runs.push((await ok('POST', `/v1/agents/${echoAgent}/runs`, { message: 'secret scenario portal' }, portalSession, 202)).run_id);
    const sync = await request(stack.baseUrl, `/api/webhook/${webhook.token}`, { body: { message: 'secret scenario webhook', user_id: 'u1' } });
    expect(sync.status).toBe(200);
    runs.push(sync.body.run_id);

    const raw = JSON.stringify({ n: 7 });
    const githubSigned = await request(stack.baseUrl, `/v1/triggers/${github.id}/invoke`, {
      body: raw,
      headers: { 'x-hub-signature-256': `sha256=${createHmac('sha256', github.secret).update(raw).digest('hex')}`, 'x-github-delivery': randomUUID() },
    });
    expect(githubSigned.status).toBe(202);
    const msgId = `msg_${randomUUID()}`;
    const now = new Date();
    const standardSigned = await request(stack.baseUrl, `/v1/triggers/${standard.id}/invoke`, {
      body: raw,
      headers: { 'webhook-id': msgId, 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': new Webhook(standard.secret).sign(msgId, now, raw) },
    });
    expect(standardSigned.status).toBe(202);
    const tokenCall = await request(stack.baseUrl, `/api/triggers/${byToken.token}`, { body: raw });
    expect(tokenCall.status).toBe(202);
    for (const r of [githubSigned, standardSigned, tokenCall]) runs.push(r.body.invocations[0].invocation_id);

    // Everything ends: runs complete, every delivery and callback succeeds after its 500
    // (run.completed and agent.message of each run to the endpoint, three callbacks).
    await eventually(async () => {
      const statuses = await stack.database.db.selectFrom('runs').select('status').where('id', 'in', runs).execute();
      return statuses.length === runs.length && statuses.every((s) => s.status === 'completed') ? true : undefined;
    }, 'every run to complete');
    const deliveries = await eventually(async () => {
      const all = await stack.database.db.selectFrom('deliveries').selectAll().where('org_id', '=', org.org.id).execute();
      const callbacks = all.filter((d) => d.kind === 'callback');
      return callbacks.length === 3 && all.length === 3 + 2 * runs.length && all.every((d) => d.status === 'succeeded') ? all : undefined;
    }, 'every delivery to succeed');
    const redelivery = await ok('POST', `/v1/deliveries/${deliveries.find((d) => d.kind === 'endpoint')!.id}/retry`, undefined, key, 202);

    // Every workflow this stack ran, once none is still running.
    // Agent runs on the main task queue; deliveries and callbacks on its deliveries queue.
    const query = `TaskQueue = "${stack.taskQueue}" OR TaskQueue = "${deliveriesTaskQueue(stack.taskQueue)}"`;
    await eventually(async () => {
      const workflows = [];
      for await (const w of stack.temporal.workflow.list({ query })) workflows.push(w);
      return workflows.some((w) => w.workflowId === redelivery.workflow_id) && workflows.every((w) => w.status.name !== 'RUNNING') ? true : undefined;
    }, 'every workflow to close');
    const histories: Array<{ id: string; type: string; text: string }> = [];
    for await (const w of stack.temporal.workflow.list({ query })) {
      const history = await stack.temporal.workflow.getHandle(w.workflowId, w.runId).fetchHistory();
      histories.push({ id: w.workflowId, type: w.type, text: historyText(history) });
    }

    // The decoding works and covers failures too: replies, ids and scrubbed errors are in there.
    expect(new Set(histories.map((h) => h.type))).toEqual(new Set(['agentRun', 'runCallback', 'eventDelivery', 'redeliver']));
    const all = histories.map((h) => h.text).join('\n');
    expect(all).toContain('openai says hi');
    expect(all).toContain('Echo: secret scenario webhook');
    expect(all).toContain(runs[0]);
    expect(all).toContain('HTTP 500');
    expect(all).toContain('[redacted]');

    const found: string[] = [];
    for (const [name, secret] of Object.entries(secrets)) {
      for (const form of [secret, Buffer.from(secret).toString('base64')]) {
        for (const h of histories) if (h.text.includes(form)) found.push(`${name} in ${h.type} ${h.id}`);
      }
    }
    count(task, { 'secret histories checked': histories.length, 'secrets checked': Object.keys(secrets).length, 'secrets in histories': found.length });
    expect(found).toEqual([]);
    expect(echo.requests).toBeGreaterThan(deliveries.length);
  });
});

describe('comparisons against secrets are constant-time', () => {
  beforeEach(() => {
    compared.mockClear();
  });

  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const body = Buffer.from('{"action":"opened","n":1}');
  const now = new Date();
  const t = String(Math.floor(now.getTime() / 1000));
  const inbound = (headers: Record<string, string>, payload: unknown = { id: 'evt_1' }): InboundRequest => ({
    rawBody: body,
    header: (name) => headers[name.toLowerCase()],
    payload,
    now,
  });
  const hmac = (key: string | Buffer, ...parts: Array<string | Buffer>) => {
    const mac = createHmac('sha256', key);
    for (const part of parts) mac.update(part);
    return mac.digest();
  };
  /** Wrong in one byte only, at the start, middle and end: what a timing attack would probe. */
  const nearMisses = (right: Buffer) =>
    [0, right.length >> 1, right.length - 1].map((i) => {
      const wrong = Buffer.from(right);
      wrong[i] = wrong[i]! ^ 0x01;
      return wrong;
    });

  const schemes: Array<{ name: string; expected: () => Buffer; verify: (sig: Buffer) => boolean }> = [
    {
      name: 'GitHub (hex)',
      expected: () => hmac(secret, body),
      verify: (sig) => verifyGithub(secret, inbound({ 'x-hub-signature-256': `sha256=${sig.toString('hex')}` })).ok,
    },
    {
      name: 'Stripe (hex, timestamped)',
      expected: () => hmac(secret, `${t}.`, body),
      verify: (sig) => verifyStripe(secret, inbound({ 'stripe-signature': `t=${t},v1=${sig.toString('hex')}` })).ok,
    },
    {
      name: 'Standard Webhooks (base64)',
      expected: () => hmac(Buffer.from(secret.slice('whsec_'.length), 'base64'), `msg_1.${t}.`, body),
      verify: (sig) => verifyStandardWebhooks(secret, inbound({ 'webhook-id': 'msg_1', 'webhook-timestamp': t, 'webhook-signature': `v1,${sig.toString('base64')}` })).ok,
    },
    {
      name: 'plain HMAC-SHA256 (hex)',
      expected: () => hmac(secret, body),
      verify: (sig) => verifyHmacSha256(secret, inbound({ 'x-signature': sig.toString('hex') }), { header: 'x-signature' }).ok,
    },
    {
      name: 'plain HMAC-SHA256 (base64)',
      expected: () => hmac(secret, body),
      verify: (sig) => verifyHmacSha256(secret, inbound({ 'x-signature': sig.toString('base64') }), { header: 'x-signature', encoding: 'base64' }).ok,
    },
  ];

  it.each(schemes.map((s) => [s.name, s] as const))('%s: near misses of equal length are compared with timingSafeEqual and rejected', (_, scheme) => {
    const right = scheme.expected();
    expect(scheme.verify(right)).toBe(true);
    compared.mockClear();
    for (const wrong of nearMisses(right)) expect(scheme.verify(wrong)).toBe(false);
    expect(compared).toHaveBeenCalledTimes(3);
    for (const [x, y] of compared.mock.calls) expect((x as Buffer).length).toBe((y as Buffer).length);
    // A different length is refused before any comparison: a length says nothing of the secret.
    expect(scheme.verify(right.subarray(0, right.length - 1))).toBe(false);
    expect(scheme.verify(Buffer.concat([right, Buffer.from([0])]))).toBe(false);
  });

  it('compares the admin token as equal-length digests, whatever length is presented', async () => {
    const wrongs = [ADMIN_TOKEN.replace(/.$/, (c) => (c === '0' ? '1' : '0')), `${ADMIN_TOKEN}x`, 'short'];
    for (const wrong of wrongs) {
      expect((await request(stack.baseUrl, '/v1/admin/orgs', { key: wrong, body: { name: 'Nope' } })).status).toBe(401);
    }
    expect(compared).toHaveBeenCalledTimes(wrongs.length);
    for (const [x, y] of compared.mock.calls) {
      expect((x as Buffer).length).toBe(32);
      expect((y as Buffer).length).toBe(32);
    }
    expect((await request(stack.baseUrl, '/v1/admin/orgs', { key: ADMIN_TOKEN, body: { name: 'Yes' } })).status).toBe(201);
  });

  it('has no ==/!= against a secret anywhere in the product: secrets are HMAC-compared or looked up by hash', ({ task }) => {
    const roots = ['src', 'activities', 'workflows'];
    const files = roots.flatMap((root) =>
      (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => `${root}/${f}`),
    );
    const secretish = /(secret|token|signature|digest|hmac|password|passwd|credential)s?$/i;
    const literal = /^(undefined|null|true|false|\d+|'.*'|".*"|`.*`)$/;
    const harmless = /\.(length|kind|scheme|size)$/;
    const operand = String.raw`('[^']*'|"[^"]*"|\x60[^\x60]*\x60|[\w$.]+(?:\[[^\]]*\])*)`;
    const comparison = new RegExp(`${operand}\\s*(?:===|!==|==|!=)\\s*${operand}`, 'g');
    const risky = (side: string, other: string) =>
      !literal.test(side) && !literal.test(other) && !harmless.test(side) && secretish.test(side.replace(/(\[[^\]]*\])+$/, ''));
    const scan = (line: string) => {
      if (/^\s*(\/\/|\*)/.test(line)) return { found: 0, bad: false };
      const pairs = [...line.matchAll(comparison)];
      const bad = pairs.some(([, left, right]) => risky(left!, right!) || risky(right!, left!)) ||
        (/\.equals\(|Buffer\.compare\(/.test(line) && /secret|token|signature|digest|hmac/i.test(line));
      return { found: pairs.length, bad };
    };
    // The scanner itself catches what it is for and lets configuration checks pass.
    for (const line of ['if (presented === trigger.secret) ok();', 'return header.signature == expected;', 'if (token !== row.apiToken) deny();', 'if (sig.equals(expectedSignature))']) {
      expect(scan(line).bad, line).toBe(true);
    }
    for (const line of ["if (trigger.scheme === 'hmac-sha256') x();", 'if (secret === undefined) return;', 'if (secrets.length === 0) throw e;']) {
      expect(scan(line).bad, line).toBe(false);
    }
    const offenders: string[] = [];
    let comparisons = 0;
    for (const file of files) {
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        const { found, bad } = scan(line);
        comparisons += found;
        if (bad) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    count(task, { 'secret comparisons scanned': comparisons });
    expect(files.length).toBeGreaterThan(50);
    expect(offenders).toEqual([]);
    // The places that do compare secrets use timingSafeEqual (signatures, admin token).
    expect(readFileSync('src/domain/triggers/signatures.ts', 'utf8')).toMatch(/timingSafeEqual\(expected, presented\)/);
    expect(readFileSync('src/api/route.ts', 'utf8')).toMatch(/timingSafeEqual\(digest\(presented\), expected\)/);
  });
});
