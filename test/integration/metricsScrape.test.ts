import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { startMetricsServer } from '../../src/metricsServer.js';
import { freePort } from '../../src/temporal/devServer.js';
import { startTestStack, type TestStack } from '../support/stack.js';

const TOKEN = 'metrics-token-0123456789';
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ worker: false, config: { METRICS_TOKEN: TOKEN, METRICS_GAUGE_INTERVAL_SECONDS: '3600' } });
});
afterAll(async () => {
  await stack?.close();
});

const scrape = (headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) => fetch(`${stack.baseUrl}/metrics`, { headers });
const value = (text: string, name: string) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.slice(name.length + 1) ?? NaN);

describe('/metrics under load (#13.8c)', () => {
  it('answers only the METRICS_TOKEN when one is set, on the API port and the worker port', async () => {
    const none = await scrape({});
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect((await scrape({ authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await scrape()).status).toBe(200);

    const port = await freePort();
    const server = await startMetricsServer(port, createLogger('silent', 'test'), { token: TOKEN });
    try {
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(401);
      expect((await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    } finally {
      server.close();
    }
  });

  it('computes the database gauges once per interval, not once per scrape', async () => {
    const { apiKey } = await stack.newOrg('Scraped org');
    expect((await stack.api('/v1/agents', { key: apiKey, body: { name: 'x', provider: { kind: 'echo' } } })).status).toBe(201);
    const before = value(await (await scrape()).text(), 'aw_metrics_gauge_refreshes_total');
    // A scrape storm: 60 concurrent, then 20 one after another.
    const storm = await Promise.all(Array.from({ length: 60 }, () => scrape()));
    expect(storm.every((r) => r.status === 200)).toBe(true);
    await Promise.all(storm.map((r) => r.text()));
    for (let i = 0; i < 20; i++) await (await scrape()).text();
    const text = await (await scrape()).text();
    const refreshes = value(text, 'aw_metrics_gauge_refreshes_total') - before;
    console.log(`metrics: 81 scrapes caused ${refreshes} recomputation(s) of the database gauges`);
    expect(refreshes).toBe(0); // the interval (1 h) has not passed since the first scrape computed them
    // At most once in this process: the cluster computes them once per interval, in whichever process claims it.
    expect(value(text, 'aw_metrics_gauge_refreshes_total')).toBeLessThanOrEqual(1);
    expect(value(text, 'aw_metrics_gauge_snapshot_reads_total')).toBe(1);
    expect(text).toContain('aw_runs_by_status');
  });
});
