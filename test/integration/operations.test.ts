import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { countedActivities } from '../../src/metrics.js';
import { startMetricsServer } from '../../src/metricsServer.js';
import { freePort } from '../../src/temporal/devServer.js';
import { exitOf, startDevStack } from '../support/processes.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, request, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let receiver: Receiver;

beforeAll(async () => {
  stack = await startTestStack();
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await stack?.close();
});

/** A scenario touching every moving part: async run with callback, sync webhook, 429, endpoint delivery. */
async function scenario(base: string, key: string) {
  const secrets: string[] = [key];
  const agent = (await request(base, '/v1/agents', { key, body: { name: 'Ops agent', allow_callback_urls: true } })).body;
  const apiKey = (await request(base, '/v1/api-keys', { key, body: { name: 'scenario key' } })).body.key as string;
  const callbackSecret = (await request(base, '/v1/callback-secret/rotate', { key, method: 'POST' })).body.secret as string;
  const endpoint = (await request(base, '/v1/endpoints', { key, body: { url: receiver.url, events: ['run.completed'], headers: { Authorization: 'Bearer endpoint-header-secret' } } })).body;
  const hook = (await request(base, `/v1/agents/${agent.id}/webhooks`, { key, body: { name: 'ops hook', rate_limit_per_minute: 1 } })).body;
  secrets.push(apiKey, callbackSecret, endpoint.secret, hook.token, 'endpoint-header-secret');

  const run = await request(base, `/v1/agents/${agent.id}/runs`, { key: apiKey, body: { message: 'ops run', callback_url: receiver.url } });
  expect(run.status).toBe(202);
  expect((await request(hook.webhook_url, '', { body: { message: 'sync' } })).status).toBe(200);
  // The limit counts fixed one-minute windows: when the first call landed just before a minute
  // boundary, the next one opens a new window, and the call after it is the one over the limit.
  let over = await request(hook.webhook_url, '', { body: { message: 'over the limit' } });
  if (over.status === 200) over = await request(hook.webhook_url, '', { body: { message: 'over the limit, same window' } });
  expect(over.status).toBe(429);
  expect((await request(`${base}/api/webhook/whk_${'A'.repeat(43)}`, '', { body: { message: 'bad token' } })).status).toBe(404);
  await eventually(async () => {
    const r = await request(base, `/v1/runs/${run.body.run_id}`, { key });
    const deliveries = (await request(base, `/v1/endpoints/${endpoint.id}/deliveries`, { key })).body.data;
    return r.body.status === 'completed' && deliveries.length >= 2 && deliveries.every((d: { status: string }) => d.status === 'succeeded') ? true : undefined;
  }, 'the scenario to settle');
  await eventually(async () => (receiver.received.some((r) => r.body.includes(run.body.run_id) && r.body.includes('run_key')) ? true : undefined), 'the callback');
  return secrets;
}

function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('/metrics', () => {
  it('shows non-zero counters for requests, latency, runs, deliveries, credits and rate limits after a scenario', async () => {
    const { apiKey } = await stack.newOrg('Metrics org');
    await scenario(stack.baseUrl, apiKey);
    const response = await fetch(`${stack.baseUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(metricValue(text, 'aw_http_requests_total', { route: '/v1/agents/:id/runs', status: '202' })).toBeGreaterThan(0);
    expect(metricValue(text, 'aw_http_requests_total', { route: 'unmatched' })).toBe(0); // token URLs are routes: no path leaks in
    expect(metricValue(text, 'aw_http_request_duration_seconds_count', { route: '/api/webhook/:token' })).toBeGreaterThan(0);
    expect(metricValue(text, 'aw_runs_started_total', { source: 'api' })).toBeGreaterThan(0);
    expect(metricValue(text, 'aw_runs_started_total', { source: 'webhook' })).toBeGreaterThan(0);
    expect(metricValue(text, 'aw_runs_by_status', { status: 'completed' })).toBeGreaterThan(0);
    expect(metricValue(text, 'aw_deliveries_by_outcome', { kind: 'endpoint', status: 'succeeded' })).toBeGreaterThan(0);
    expect(metricValue(text, 'aw_deliveries_by_outcome', { kind: 'callback', status: 'succeeded' })).toBeGreaterThan(0);
    expect(metricValue(text, 'aw_credits_charged')).toBeGreaterThan(0);
    expect(metricValue(text, 'aw_rate_limit_rejections_total')).toBeGreaterThan(0);
    expect(metricValue(text, 'aw_activity_executions_total', { activity: 'runToEnd', outcome: 'completed' })).toBeGreaterThan(0);
    expect(metricValue(text, 'aw_delivery_attempts_total', { kind: 'endpoint', outcome: 'succeeded' })).toBeGreaterThan(0);
    expect(text).not.toContain('whk_');
  });

  it('serves the worker\'s metrics on its own port', async () => {
    const port = await freePort();
    const server = await startMetricsServer(port, createLogger('silent', 'test'));
    try {
      await countedActivities({ probe: async () => 1 }).probe();
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metricValue(text, 'aw_activity_executions_total', { activity: 'probe', outcome: 'completed' })).toBe(1);
      expect(text).toContain('aw_process_cpu_user_seconds_total');
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      server.close();
    }
  });
});

describe('logs', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'aw-logs-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('carry one JSON line per request and never a secret the scenario created', async () => {
    const { child, credentials } = await startDevStack(dataDir, {
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `logs-${randomUUID()}`,
      DATABASE_URL: inject('databaseUrl') ?? undefined,
      PORT: String(await freePort()),
      METRICS_PORT: '0',
      LOG_LEVEL: 'debug',
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
    });
    let secrets: string[];
    try {
      secrets = await scenario(credentials.api_url, credentials.api_key);
    } finally {
      child.kill('SIGTERM');
      await exitOf(child);
    }
    // The dev banner deliberately prints the demo key once; logs are the JSON lines.
    const logLines = child
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'));
    const requests = logLines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThan(10);
    for (const line of requests) {
      expect(line).toMatchObject({ request_id: expect.any(String), method: expect.any(String), status: expect.any(Number), duration_ms: expect.any(Number) });
    }
    expect(requests.some((l) => l.route === '/v1/agents/:id/runs' && l.org_id === credentials.org_id)).toBe(true);
    // Token URLs carry no API key: the org comes from the token, and the line still names it.
    expect(requests.some((l) => l.route === '/api/webhook/:token' && l.status === 200 && l.org_id === credentials.org_id)).toBe(true);
    const log = logLines.join('\n');
    for (const secret of secrets) expect(log, `a secret leaked into the logs: ${secret.slice(0, 8)}…`).not.toContain(secret);
    expect(log).not.toContain(credentials.api_key);
  });
});
