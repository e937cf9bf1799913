import { promises as dns } from 'node:dns';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOutboundTarget } from '../../src/api/outboundTarget.js';
import { parseConfig } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { createHttpClient } from '../../src/outbound/client.js';
import { outboundClient } from '../../src/outbound/fromConfig.js';
import { blockedReason } from '../../src/outbound/ssrf.js';
import { canListenOnIpv6Loopback, startReceiver, type Receiver } from '../support/receiver.js';
import { count } from '../support/figures.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

/**
 * SSRF, end to end, with the allow-list off (OUTBOUND_ALLOWED_CIDRS empty: the production
 * default). APP_ENV is development here so http:// is allowed and every refusal below is the
 * address rule, not the https rule; the production pairing is checked separately.
 *
 * Two layers, each tested on its own:
 * - up front: an IP-literal target (in any spelling URL parsing normalises) is a 422 at every
 *   place a user gives us a URL, and nothing is stored;
 * - at connect time: host names are judged by what they resolve to when the socket connects
 *   (DESIGN.md), so a name is accepted and then every attempt is refused as `blocked`, and the
 *   loopback receiver the name points at never sees a connection. Redirects are never
 *   followed, and a name that rebinds between requests is judged again at each connect.
 */
const log = createLogger('silent', 'test');
const ADDRESS_RULE = /private, loopback or link-local/;
const CREDENTIALS_RULE = /user name or password/;

let stack: TestStack; // allow-list off
let key: string;
let orgId: string;
/** Where loopback vectors point: a bypass would show up as a connection here. */
let target: Receiver;
let target6: Receiver | null = null;

beforeAll(async () => {
  stack = await startTestStack({ config: { OUTBOUND_ALLOWED_CIDRS: '' } });
  expect(stack.config.OUTBOUND_ALLOWED_CIDRS).toEqual([]);
  expect(stack.config.APP_ENV).toBe('development');
  ({ apiKey: key, orgId } = await stack.newOrg('SSRF org'));
  target = await startReceiver((_req, res) => res.end('reached'));
  if (await canListenOnIpv6Loopback()) target6 = await startReceiver((_req, res) => res.end('reached'), { host: '::1' });
});
afterAll(async () => {
  await target6?.close();
  await target?.close();
  await stack?.close();
});

/** [URL, what it is]. Loopback forms carry the target's port, so reaching it would be visible. */
function literalVectors(): Array<[string, string]> {
  const v4 = target.port;
  const v6 = target6?.port ?? v4;
  return [
    [`http://127.0.0.1:${v4}/hook`, 'loopback'],
    [`http://127.1:${v4}/hook`, 'loopback, short form'],
    [`http://127.255.255.254:${v4}/`, 'loopback, top of 127/8'],
    [`http://127.0.0.1.:${v4}/`, 'loopback, trailing dot'],
    [`http://127.000.000.001:${v4}/`, 'loopback, zero-padded'],
    [`http://2130706433:${v4}/`, 'loopback, decimal'],
    [`http://017700000001:${v4}/`, 'loopback, one octal number'],
    [`http://0177.0.0.1:${v4}/`, 'loopback, octal octet'],
    [`http://0x7f.0.0.1:${v4}/`, 'loopback, hex octet'],
    [`http://0x7f000001:${v4}/`, 'loopback, one hex number'],
    [`http://0x7f.1:${v4}/`, 'loopback, hex short form'],
    [`http://%31%32%37.0.0.1:${v4}/`, 'loopback, percent-encoded'],
    [`http://①②⑦.0.0.1:${v4}/`, 'loopback, enclosed digits (IDNA-mapped)'],
    [`http://user:pass@127.0.0.1:${v4}/`, 'loopback behind userinfo'],
    [`http://[::1]:${v6}/`, 'IPv6 loopback'],
    [`http://[::ffff:127.0.0.1]:${v4}/`, 'IPv4-mapped loopback'],
    [`http://[::ffff:7f00:1]:${v4}/`, 'IPv4-mapped loopback, hex'],
    [`http://[0:0:0:0:0:ffff:127.0.0.1]:${v4}/`, 'IPv4-mapped loopback, long form'],
    [`http://[::127.0.0.1]:${v4}/`, 'IPv4-compatible loopback'],
    [`http://0.0.0.0:${v4}/`, 'unspecified (reaches local listeners on Linux)'],
    [`http://0:${v4}/`, 'unspecified, short form'],
    [`http://[::]:${v6}/`, 'IPv6 unspecified'],
    ['http://10.0.0.1/', 'RFC 1918 10/8'],
    ['http://172.16.0.1/', 'RFC 1918 172.16/12'],
    ['http://172.31.255.255/', 'RFC 1918 172.16/12, top'],
    ['http://192.168.1.1/', 'RFC 1918 192.168/16'],
    ['http://100.64.0.1/', 'carrier-grade NAT'],
    ['http://169.254.169.254/latest/meta-data/', 'cloud metadata'],
    ['http://0xa9fea9fe/latest/meta-data/', 'cloud metadata, one hex number'],
    ['http://[::ffff:169.254.169.254]/', 'cloud metadata, IPv4-mapped'],
    ['http://[64:ff9b::a9fe:a9fe]/', 'cloud metadata through NAT64'],
    ['http://[2002:a9fe:a9fe::1]/', 'cloud metadata through 6to4'],
    ['http://[fd00:ec2::254]/', 'AWS IPv6 metadata (unique-local)'],
    ['http://[fe80::1]/', 'IPv6 link-local'],
    ['http://[fc00::1]/', 'unique-local fc00::/7'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://255.255.255.255/', 'broadcast'],
  ];
}

const asHttps = (url: string) => url.replace(/^http:/, 'https:');

/**
 * Host names that resolve here only to forbidden addresses: `localhost` in several spellings
 * and every name in /etc/hosts. Names that do not resolve are left out: a DNS failure is not
 * the guard at work.
 */
async function forbiddenNames(): Promise<string[]> {
  const fromHosts = readFileSync('/etc/hosts', 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim().split(/\s+/).slice(1))
    .flat()
    .filter(Boolean);
  const names: string[] = [];
  for (const name of new Set(['localhost', 'LOCALHOST', 'ⓛⓞⓒⓐⓛⓗⓞⓢⓣ', ...fromHosts])) {
    const host = new URL(`http://${name}/`).hostname;
    const addresses = await dns.lookup(host, { all: true }).catch(() => []);
    if (addresses.length && addresses.every((a) => blockedReason(a.address, []) !== null)) names.push(name);
  }
  return names.slice(0, 6);
}

async function newAgent(s: TestStack, apiKey: string, body: Record<string, unknown> = {}) {
  const agent = await s.api('/v1/agents', { key: apiKey, body: { name: 'SSRF target agent', allow_callback_urls: true, ...body } });
  expect(agent.status, JSON.stringify(agent.body)).toBe(201);
  return agent.body.id as string;
}

async function callbackOf(s: TestStack, runId: string) {
  const delivery = await s.database.db.selectFrom('deliveries').selectAll().where('run_id', '=', runId).where('kind', '=', 'callback').executeTakeFirst();
  if (!delivery || delivery.status === 'pending') return undefined;
  const attempts = await s.database.db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', delivery.id).orderBy('attempt').execute();
  return { delivery, attempts };
}

async function endpointDeliveries(s: TestStack, endpointId: string) {
  const deliveries = await s.database.db.selectFrom('deliveries').selectAll().where('endpoint_id', '=', endpointId).execute();
  const attempts = deliveries.length
    ? await s.database.db.selectFrom('delivery_attempts').selectAll().where('delivery_id', 'in', deliveries.map((d) => d.id)).execute()
    : [];
  return { deliveries, attempts };
}

async function finishedRun(s: TestStack, runId: string) {
  return eventually(async () => {
    const run = await s.database.db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirst();
    return run && run.status !== 'processing' ? run : undefined;
  }, `run ${runId} to end`);
}

describe('up front: IP-literal targets are refused wherever a user gives us a URL', () => {
  it('answers 422 naming the field for every vector, in http and https, and stores nothing', async ({ task }) => {
    const agentId = await newAgent(stack, key);
    const endpoint = await stack.api('/v1/endpoints', { key, body: { url: 'https://hooks.example.invalid/x', events: ['run.completed'] } });
    expect(endpoint.status).toBe(201);
    const webhook = await stack.api(`/v1/agents/${agentId}/webhooks`, { key, body: { name: 'patch target' } });
    expect(webhook.status).toBe(201);

    const places: Array<{ place: string; field: string; send: (url: string) => ReturnType<TestStack['api']> }> = [
      { place: 'POST /v1/endpoints', field: 'url', send: (url) => stack.api('/v1/endpoints', { key, body: { url, events: ['run.completed'] } }) },
      { place: 'PATCH /v1/endpoints/{id}', field: 'url', send: (url) => stack.api(`/v1/endpoints/${endpoint.body.id}`, { method: 'PATCH', key, body: { url } }) },
      { place: 'POST /v1/agents/{id}/runs', field: 'callback_url', send: (url) => stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'hi', callback_url: url } }) },
      { place: 'POST /v1/agents/{id}/webhooks', field: 'outgoing_url', send: (url) => stack.api(`/v1/agents/${agentId}/webhooks`, { key, body: { name: 'w', outgoing_url: url } }) },
      { place: 'PATCH /v1/webhooks/{id}', field: 'outgoing_url', send: (url) => stack.api(`/v1/webhooks/${webhook.body.id}`, { method: 'PATCH', key, body: { outgoing_url: url } }) },
      { place: 'POST /v1/agents', field: 'provider.url', send: (url) => stack.api('/v1/agents', { key, body: { name: 'a', provider: { kind: 'http', url } } }) },
      { place: 'PATCH /v1/agents/{id}', field: 'provider.base_url', send: (url) => stack.api(`/v1/agents/${agentId}`, { method: 'PATCH', key, body: { provider: { kind: 'openai', base_url: url, model: 'm' } } }) },
    ];

    let vectors = 0;
    const accepted: string[] = [];
    for (const [url, what] of literalVectors()) {
      for (const variant of [url, asHttps(url)]) {
        for (const { place, field, send } of places) {
          vectors++;
          const response = await send(variant);
          // user:pass@ is refused by the credentials rule before the address is looked at.
          const rule = new URL(variant).username ? CREDENTIALS_RULE : ADDRESS_RULE;
          if (response.status === 422 && rule.test(response.body?.details?.[field] ?? '')) continue;
          accepted.push(`${place} ${field}=${variant} (${what}) → ${response.status} ${JSON.stringify(response.body).slice(0, 200)}`);
        }
      }
    }
    count(task, { 'ssrf vectors': vectors, 'ssrf blocked': vectors - accepted.length });
    expect(accepted).toEqual([]);

    // Nothing was stored: the two patch targets are as they were, no run or conversation exists.
    const db = stack.database.db;
    const endpoints = await db.selectFrom('endpoints').select(['id', 'url']).where('org_id', '=', orgId).execute();
    expect(endpoints).toEqual([{ id: endpoint.body.id, url: 'https://hooks.example.invalid/x' }]);
    const webhooks = await db.selectFrom('inbound_webhooks').select(['id', 'outgoing_url']).where('org_id', '=', orgId).execute();
    expect(webhooks).toEqual([{ id: webhook.body.id, outgoing_url: null }]);
    expect(await db.selectFrom('runs').select('id').where('org_id', '=', orgId).execute()).toEqual([]);
    expect(await db.selectFrom('conversations').select('id').where('org_id', '=', orgId).execute()).toEqual([]);
    expect(target.connections + (target6?.connections ?? 0)).toBe(0);

    // The same places take an ordinary target, so the refusals above were the address rule's.
    const fine = 'https://hooks.example.invalid/ok';
    for (const { place, send } of places) expect((await send(fine)).status, place).toBeLessThan(300);
  });

  it('applies the same address rule in production, where https is required first', ({ task }) => {
    const production = parseConfig({ APP_ENV: 'production', OUTBOUND_ALLOWED_CIDRS: '' });
    const reasons = literalVectors().map(([url]) => {
      try {
        checkOutboundTarget({ config: production }, asHttps(url), 'url');
        return `${url}: accepted`;
      } catch (err) {
        return err instanceof AppError && ADDRESS_RULE.test(err.details?.url ?? '') ? 'blocked' : `${url}: ${String(err)}`;
      }
    });
    count(task, { 'ssrf vectors': reasons.length, 'ssrf blocked': reasons.filter((r) => r === 'blocked').length });
    expect(reasons.filter((r) => r !== 'blocked')).toEqual([]);
    // http:// fails on the scheme before the address is looked at: the https forms above are the real test.
    expect(() => checkOutboundTarget({ config: production }, 'http://10.0.0.1/', 'url')).toThrow(AppError);
  });
});

describe('at connect time: the configured client refuses every vector and every forbidden name', () => {
  it('reports `blocked` without any connection reaching the target', async ({ task }) => {
    const client = outboundClient(stack.config, log);
    const names = await forbiddenNames();
    expect(names).toContain('localhost');
    const urls = [
      ...literalVectors().map(([url]) => url),
      ...names.map((name) => `http://${name}:${target.port}/hook`),
    ];
    const notBlocked: string[] = [];
    for (const url of urls) {
      const response = await client.send({ url, method: 'POST', body: '{}', timeoutMs: 2_000 });
      if (response.error?.kind !== 'blocked' || response.status !== null) notBlocked.push(`${url} → ${JSON.stringify(response.error ?? response.status)}`);
    }
    count(task, { 'ssrf vectors': urls.length, 'ssrf blocked': urls.length - notBlocked.length });
    expect(notBlocked).toEqual([]);
    expect(target.connections + (target6?.connections ?? 0)).toBe(0);
  });
});

describe('end to end: names that resolve to loopback are accepted, then refused at every attempt', () => {
  it('endpoint test pings, event deliveries, run callbacks, webhook outgoing_url and agent providers all end blocked', async ({ task }) => {
    const { apiKey } = await stack.newOrg('Names org');
    const names = await forbiddenNames();
    const urlFor = (name: string) => `http://${name}:${target.port}/hook`;
    const outcomes: Array<{ place: string; url: string; blocked: boolean; detail: string }> = [];
    const record = (place: string, url: string, detail: string | null | undefined, blocked: boolean) =>
      outcomes.push({ place, url, blocked, detail: String(detail) });

    // Event deliveries to endpoints (and their synchronous test ping).
    const deliveringAgent = await newAgent(stack, apiKey, { name: 'Delivers to names' });
    const endpoints: Array<{ id: string; url: string }> = [];
    for (const name of names) {
      const url = urlFor(name);
      const created = await stack.api('/v1/endpoints', { key: apiKey, body: { url, events: ['run.completed'], agent_ids: [deliveringAgent], max_retries: 0 } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      endpoints.push({ id: created.body.id, url });
      const ping = await stack.api(`/v1/endpoints/${created.body.id}/test`, { method: 'POST', key: apiKey });
      expect(ping.status).toBe(200);
      record('POST /v1/endpoints/{id}/test', url, ping.body.error, ping.body.success === false && /^blocked/.test(ping.body.error ?? ''));
    }
    const delivering = await stack.api(`/v1/agents/${deliveringAgent}/runs`, { key: apiKey, body: { message: 'announce me' } });
    expect(delivering.status).toBe(202);

    // Run callbacks, webhook outgoing_url (through a synchronous call) and HTTP agent providers.
    const callbackAgent = await newAgent(stack, apiKey, { name: 'Calls back names' });
    const callbackRuns: Array<{ place: string; url: string; runId: string }> = [];
    const providerRuns: Array<{ url: string; runId: string }> = [];
    // Literal addresses are refused when the agent is saved (the up-front test); names only resolve at connect time.
    const providerTargets = names.map(urlFor);
    for (const name of names) {
      const url = urlFor(name);
      const run = await stack.api(`/v1/agents/${callbackAgent}/runs`, { key: apiKey, body: { message: 'call me', callback_url: url } });
      expect(run.status, JSON.stringify(run.body)).toBe(202);
      callbackRuns.push({ place: 'run callback_url', url, runId: run.body.run_id });

      const webhook = await stack.api(`/v1/agents/${callbackAgent}/webhooks`, { key: apiKey, body: { name: `to ${name}`, outgoing_url: url } });
      expect(webhook.status, JSON.stringify(webhook.body)).toBe(201);
      const called = await stack.api(`/api/webhook/${webhook.body.token}`, { body: { message: 'sync call' } });
      expect(called.status).toBe(200);
      callbackRuns.push({ place: 'webhook outgoing_url', url, runId: called.body.run_id });
    }
    // The agent's own URL is a fourth place, judged again at connect time.
    for (const url of providerTargets) {
      const agent = await newAgent(stack, apiKey, { name: 'Provider at a forbidden address', provider: { kind: 'http', url } });
      const run = await stack.api(`/v1/agents/${agent}/runs`, { key: apiKey, body: { message: 'think' } });
      expect(run.status).toBe(202);
      providerRuns.push({ url, runId: run.body.run_id });
    }

    for (const { place, url, runId } of callbackRuns) {
      const { delivery, attempts } = await eventually(() => callbackOf(stack, runId), `the ${place} of run ${runId} to end`);
      const blocked = delivery.status === 'failed' && attempts.length === 1 && /^blocked/.test(attempts[0]!.error ?? '');
      record(place, url, attempts.map((a) => a.error).join(' | '), blocked);
    }
    for (const { url, runId } of providerRuns) {
      const run = await finishedRun(stack, runId);
      record('agent provider url', url, run.error, run.status === 'failed' && /could not be reached \(blocked\)/.test(run.error ?? ''));
    }
    await finishedRun(stack, delivering.body.run_id);
    for (const { id, url } of endpoints) {
      const { deliveries, attempts } = await eventually(async () => {
        const found = await endpointDeliveries(stack, id);
        return found.deliveries.length && found.deliveries.every((d) => d.status !== 'pending') ? found : undefined;
      }, `the delivery to ${url} to end`);
      const blocked = deliveries.length === 1 && deliveries[0]!.status === 'failed' && attempts.length === 1 && /^blocked/.test(attempts[0]!.error ?? '');
      record('endpoint delivery', url, attempts.map((a) => a.error).join(' | '), blocked);
    }

    count(task, { 'ssrf vectors': outcomes.length, 'ssrf blocked': outcomes.filter((o) => o.blocked).length });
    expect(outcomes.filter((o) => !o.blocked)).toEqual([]);
    expect(outcomes.length).toBe(names.length * 4 + providerTargets.length);
    expect(target.connections + (target6?.connections ?? 0)).toBe(0);
  });
});

describe('redirects and rebinding (allow-list opens only 127.0.0.2/32)', () => {
  let narrow: TestStack;
  let redirector: Receiver; // allowed: 127.0.0.2
  let canary: Receiver; // forbidden: 127.0.0.1

  beforeAll(async () => {
    narrow = await startTestStack({ config: { OUTBOUND_ALLOWED_CIDRS: '127.0.0.2/32', DELIVERY_RETRY_SCHEDULE: '300ms' } });
    canary = await startReceiver((_req, res) => res.end('reached'));
    const locations: Record<string, string> = {
      '/to-metadata': 'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      '/to-loopback': `http://127.0.0.1:${canary.port}/internal`,
      '/to-name': `http://localhost:${canary.port}/internal`,
    };
    redirector = await startReceiver(
      (req, res) => {
        res.writeHead(302, { location: locations[(req.url ?? '').split('?')[0]!] ?? '/' });
        res.end();
      },
      { host: '127.0.0.2' },
    );
  });
  afterAll(async () => {
    await redirector?.close();
    await canary?.close();
    await narrow?.close();
  });

  it('never follows a redirect from an allowed receiver to a forbidden one', async ({ task }) => {
    const { apiKey } = await narrow.newOrg('Redirect org');
    // The allow-list is as narrow as it says: the canary's own address is still refused.
    const direct = await narrow.api('/v1/endpoints', { key: apiKey, body: { url: `http://127.0.0.1:${canary.port}/`, events: ['run.completed'] } });
    expect(direct.status).toBe(422);

    const paths = ['/to-metadata', '/to-loopback', '/to-name'];
    const deliveringAgent = await newAgent(narrow, apiKey, { name: 'Delivers to a redirector' });
    const callbackAgent = await newAgent(narrow, apiKey, { name: 'Calls back a redirector' });
    const outcomes: Array<{ what: string; ok: boolean; detail: string }> = [];
    const endpoints: Array<{ id: string; path: string }> = [];
    for (const path of paths) {
      const created = await narrow.api('/v1/endpoints', {
        key: apiKey,
        body: { url: `${redirector.origin}${path}`, events: ['run.completed'], agent_ids: [deliveringAgent], max_retries: 0 },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      endpoints.push({ id: created.body.id, path });
      const ping = await narrow.api(`/v1/endpoints/${created.body.id}/test`, { method: 'POST', key: apiKey });
      const pingOk = ping.body.success === false && ping.body.statusCode === 302 && /^HTTP 302\b.*redirect.*not followed/.test(ping.body.error ?? '');
      outcomes.push({ what: `test ping ${path}`, ok: pingOk, detail: JSON.stringify(ping.body) });
    }
    const run = await narrow.api(`/v1/agents/${deliveringAgent}/runs`, { key: apiKey, body: { message: 'announce me' } });
    expect(run.status).toBe(202);
    const callbacks = [];
    for (const path of paths) {
      const accepted = await narrow.api(`/v1/agents/${callbackAgent}/runs`, { key: apiKey, body: { message: 'call me', callback_url: `${redirector.origin}${path}` } });
      expect(accepted.status).toBe(202);
      callbacks.push({ path, runId: accepted.body.run_id as string });
    }

    // The attempt log says where the redirect pointed and that it was not followed.
    const expectedTarget: Record<string, RegExp> = {
      '/to-metadata': /^HTTP 302\b.*redirect.*169\.254\.169\.254.*not followed/,
      '/to-loopback': new RegExp(`^HTTP 302\\b.*redirect.*127\\.0\\.0\\.1:${canary.port}.*not followed`),
      '/to-name': new RegExp(`^HTTP 302\\b.*redirect.*localhost:${canary.port}.*not followed`),
    };
    for (const { id, path } of endpoints) {
      const { deliveries, attempts } = await eventually(async () => {
        const found = await endpointDeliveries(narrow, id);
        return found.deliveries.length && found.deliveries.every((d) => d.status !== 'pending') ? found : undefined;
      }, `the delivery to ${path} to end`);
      const ok = deliveries[0]?.status === 'failed' && attempts.length === 1 && attempts[0]!.status_code === 302 && expectedTarget[path]!.test(attempts[0]!.error ?? '');
      outcomes.push({ what: `event delivery ${path}`, ok, detail: JSON.stringify(attempts.map((a) => a.error)) });
    }
    for (const { path, runId } of callbacks) {
      const { delivery, attempts } = await eventually(() => callbackOf(narrow, runId), `the callback to ${path} to end`);
      // One try plus one retry (DELIVERY_RETRY_SCHEDULE has one step): 3xx may be temporary.
      const ok = delivery.status === 'failed' && attempts.length === 2 && attempts.every((a) => a.status_code === 302 && expectedTarget[path]!.test(a.error ?? ''));
      outcomes.push({ what: `callback ${path}`, ok, detail: JSON.stringify(attempts.map((a) => a.error)) });
    }

    count(task, { 'ssrf vectors': outcomes.length, 'ssrf blocked': outcomes.filter((o) => o.ok).length });
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    expect(redirector.requests).toBe(3 + 3 + 3 * 2);
    expect(canary.connections).toBe(0);
  });

  it('judges a name again at every connect, so DNS that rebinds to a forbidden address is refused', async ({ task }) => {
    // An allowed receiver on 127.0.0.2:P and a forbidden one on 127.0.0.1:P, one URL for both:
    // only the resolver's answer at connect time decides where a request would go.
    const { allowed, forbidden, close } = await listenOnBothLoopbacks();
    try {
      const answers = [['127.0.0.2'], ['127.0.0.1'], ['127.0.0.1', '127.0.0.2'], ['::ffff:127.0.0.1'], ['169.254.169.254'], ['127.0.0.2']];
      let lookups = 0;
      const client = createHttpClient(
        { requireHttps: false, allowedCidrs: narrow.config.OUTBOUND_ALLOWED_CIDRS },
        { resolve: async () => (answers[lookups++] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 })) },
      );
      const results = [];
      for (let i = 0; i < answers.length; i++) {
        const response = await client.send({ url: `http://rebinding.test:${allowed.port}/`, method: 'POST', body: '{}', timeoutMs: 2_000 });
        results.push(response.error?.kind ?? response.status);
      }
      expect(results).toEqual([200, 'blocked', 200, 'blocked', 'blocked', 200]);
      // One resolution per request, made by the connecting socket: no separate check to race.
      expect(lookups).toBe(answers.length);
      expect(allowed.connections()).toBe(3);
      expect(forbidden.connections()).toBe(0);
      count(task, { 'ssrf vectors': 3, 'ssrf blocked': results.filter((r) => r === 'blocked').length });
    } finally {
      await close();
    }
  });
});

/**
 * Two plain servers on one port: 127.0.0.2 (allowed) and 127.0.0.1 (forbidden). They close
 * every connection after answering, so each request connects (and is judged) anew; the
 * client's reuse of a checked connection is covered in test/integration/outbound/client.test.ts.
 */
async function listenOnBothLoopbacks() {
  const open = async (host: string, port: number) => {
    let connections = 0;
    const server: Server = createServer((_req, res) => res.writeHead(200, { connection: 'close' }).end('ok'));
    server.on('connection', () => connections++);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
  };
  const shut = (server: Server) => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  for (let tries = 0; ; tries++) {
    const allowed = await open('127.0.0.2', 0);
    try {
      const forbidden = await open('127.0.0.1', allowed.port);
      return { allowed, forbidden, close: async () => Promise.all([shut(allowed.server), shut(forbidden.server)]).then(() => undefined) };
    } catch (err) {
      await shut(allowed.server);
      if (tries >= 5) throw err;
    }
  }
}
