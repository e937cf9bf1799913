import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.js';
import { readSse } from '../support/sse.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';
import { startTcpProxy } from '../support/tcpProxy.js';

let stack: TestStack;
let key: string;
let browser: Browser;

beforeAll(async () => {
  stack = await startTestStack();
  ({ apiKey: key } = await stack.newOrg('Stream org'));
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

async function createAgent(apiKey: string, delayMs: number) {
  const agent = await stack.api('/v1/agents', { key: apiKey, body: { name: 'Streamer', provider: { kind: 'echo', delay_ms: delayMs } } });
  expect(agent.status).toBe(201);
  return agent.body.id as string;
}

async function startRun(apiKey: string, agentId: string, message = 'Stream me') {
  const accepted = await stack.api(`/v1/agents/${agentId}/runs`, { key: apiKey, body: { message } });
  expect(accepted.status).toBe(202);
  return accepted.body as { run_id: string; events_url: string };
}

async function newKey(apiKey: string, scopes = ['runs:read', 'runs:write']) {
  const created = await stack.api('/v1/api-keys', { key: apiKey, body: { name: `k-${Math.random()}`, scopes } });
  expect(created.status).toBe(201);
  return created.body as { id: string; key: string };
}

async function metric(baseUrl: string, line: string): Promise<number> {
  const text = (await (await fetch(`${baseUrl}/metrics`)).text()).split('\n');
  const found = text.find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

interface PageRecord {
  messages: { lastEventId: string; type: string; data: { event_type: string; sequence: number; created_at: string } }[];
  opens: number;
  done: boolean;
}

/** A page on the API's origin that follows `path` with a real EventSource, recording every message and open. */
async function openEventSourcePage(origin: string, path: string) {
  const page = await browser.newPage();
  await page.goto(`${origin}/docs`);
  await page.evaluate((url) => {
    const record: PageRecord = { messages: [], opens: 0, done: false };
    (globalThis as unknown as { sse: PageRecord }).sse = record;
    const source = new EventSource(url);
    source.onopen = () => record.opens++;
    source.onmessage = (e) => {
      const data = JSON.parse(e.data);
      record.messages.push({ lastEventId: e.lastEventId, type: e.type, data });
      if (data.event_type === 'run_completed') {
        source.close();
        record.done = true;
      }
    };
  }, path);
  return page;
}

const pageRecord = () => (globalThis as unknown as { sse: PageRecord }).sse;

describe('browser EventSource (seed 004 frames)', () => {
  it('onmessage receives every event in order through run_completed, via a stream token', async () => {
    const agentId = await createAgent(key, 800);
    const run = await startRun(key, agentId);
    const minted = await stack.api(`/v1/runs/${run.run_id}/stream-token`, { key, method: 'POST' });
    expect(minted.status).toBe(201);
    expect(minted.body.events_url).toBe(`${run.events_url}?stream_token=${minted.body.token}`);
    expect(minted.body.events_url).not.toContain(key);
    expect(Date.parse(minted.body.expires_at) - Date.now()).toBeGreaterThan(60_000);

    const events = new URL(minted.body.events_url);
    const page = await openEventSourcePage(stack.baseUrl, events.pathname + events.search);
    await page.waitForFunction(() => (globalThis as unknown as { sse: PageRecord }).sse.done, undefined, { timeout: 30_000 });
    const { messages } = await page.evaluate(pageRecord);
    await page.close();
    expect(messages.map((m) => m.data.event_type)).toEqual(['run_queued', 'run_started', 'agent_message', 'run_completed']);
    expect(messages.map((m) => m.lastEventId)).toEqual(['1', '2', '3', '4']);
    expect(messages.map((m) => m.data.sequence)).toEqual([1, 2, 3, 4]);
    expect(new Set(messages.map((m) => m.type))).toEqual(new Set(['message']));
  });

  it('reconnects after a dropped connection and resumes via Last-Event-ID with no gap or duplicate', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(stack.baseUrl).port) });
    try {
      const agentId = await createAgent(key, 15_000); // the drop must come while the agent still thinks
      const run = await startRun(key, agentId, 'Drop me');
      const minted = await stack.api(`/v1/runs/${run.run_id}/stream-token`, { key, method: 'POST' });
      const events = new URL(minted.body.events_url);
      const page = await openEventSourcePage(`http://127.0.0.1:${proxy.port}`, events.pathname + events.search);
      await page.waitForFunction(() => (globalThis as unknown as { sse: PageRecord }).sse.messages.length >= 2, undefined, { timeout: 30_000 });
      proxy.cut(); // the connection drops mid-run; the browser reconnects on its own after `retry:`
      proxy.restore();
      const atCut = await page.evaluate(pageRecord);
      expect(atCut.messages.map((m) => m.data.sequence)).toEqual([1, 2]); // the run had not answered yet
      await page.waitForFunction(() => (globalThis as unknown as { sse: PageRecord }).sse.done, undefined, { timeout: 60_000 });
      const { messages, opens } = await page.evaluate(pageRecord);
      await page.close();
      expect(opens).toBe(2);
      expect(messages.map((m) => m.data.sequence)).toEqual([1, 2, 3, 4]);
      expect(messages.at(-1)!.data.event_type).toBe('run_completed');
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('answers 204 to a reconnect after the last event of an ended run, so EventSource stops', async () => {
    const agentId = await createAgent(key, 0);
    const run = await startRun(key, agentId, 'Done');
    const all = await readSse(run.events_url, { key });
    expect(all.events.at(-1)!.data.event_type).toBe('run_completed');
    const again = await readSse(run.events_url, { key, lastEventId: all.events.at(-1)!.id });
    expect(again.status).toBe(204);
  });
});

describe('stream tokens', () => {
  it('open only their run, never another, and a bad one is 401 problem+json', async () => {
    const agentId = await createAgent(key, 0);
    const one = await startRun(key, agentId, 'one');
    const two = await startRun(key, agentId, 'two');
    const minted = await stack.api(`/v1/runs/${one.run_id}/stream-token`, { key, method: 'POST' });
    const ok = await readSse(minted.body.events_url, {});
    expect(ok.status).toBe(200);
    expect(ok.events.at(-1)!.data.event_type).toBe('run_completed');
    const elsewhere = await fetch(`${two.events_url}?stream_token=${minted.body.token}`);
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect((await fetch(`${one.events_url}?stream_token=awst_forged`)).status).toBe(401);
    // A token is for the stream only, not for any other route.
    expect((await fetch(`${stack.baseUrl}/v1/runs/${one.run_id}?stream_token=${minted.body.token}`)).status).toBe(401);
  });

  it('stop working when the key that minted them is revoked', async () => {
    const minter = await newKey(key);
    const agentId = await createAgent(key, 0);
    const run = await startRun(key, agentId);
    const minted = await stack.api(`/v1/runs/${run.run_id}/stream-token`, { key: minter.key, method: 'POST' });
    expect(minted.status).toBe(201);
    expect((await stack.api(`/v1/api-keys/${minter.id}`, { key, method: 'DELETE' })).status).toBe(204);
    expect((await fetch(minted.body.events_url)).status).toBe(401);
  });
});

describe('revoked keys (#13.12)', () => {
  it("ends a revoked key's open streams within a heartbeat, API key and stream token alike", async () => {
    const doomed = await newKey(key);
    const agentId = await createAgent(key, 20_000);
    const run = await startRun(key, agentId, 'Long');
    const minted = await stack.api(`/v1/runs/${run.run_id}/stream-token`, { key: doomed.key, method: 'POST' });
    const viaKey = readSse(run.events_url, { key: doomed.key, timeoutMs: 25_000 });
    const viaToken = readSse(minted.body.events_url, { timeoutMs: 25_000 });
    await eventually(async () => ((await metric(stack.baseUrl, 'aw_sse_streams_open')) >= 2 ? true : undefined), 'streams to open');
    const revokedAt = Date.now();
    expect((await stack.api(`/v1/api-keys/${doomed.id}`, { key, method: 'DELETE' })).status).toBe(204);
    const [a, b] = await Promise.all([viaKey, viaToken]);
    const heartbeatMs = stack.config.SSE_HEARTBEAT_SECONDS * 1000;
    for (const stream of [a, b]) {
      expect(stream.ended).toBe(true);
      expect(stream.events.map((e) => e.data.event_type)).not.toContain('run_completed');
    }
    // Within one heartbeat of the revocation (plus the query and scheduling slack of a loaded machine).
    expect(Math.max(a.endedAt!, b.endedAt!) - revokedAt).toBeLessThan(heartbeatMs * 2 + 3_000);
    // A key that was not revoked keeps streaming to the end.
    const survivor = await readSse(run.events_url, { key, timeoutMs: 30_000 });
    expect(survivor.events.at(-1)!.data.event_type).toBe('run_completed');
  });
});

describe('fan-out and caps (#13.8a)', () => {
  it('reads once per notification for all streams of a run, however many are open', async () => {
    const streams = 25;
    const agentId = await createAgent(key, 2_500);
    const run = await startRun(key, agentId, 'Fan out');
    const notifyReadsBefore = await metric(stack.baseUrl, 'aw_sse_event_reads_total{reason="notify"}');
    const readers = Array.from({ length: streams }, () => readSse(run.events_url, { key, timeoutMs: 30_000 }));
    const results = await Promise.all(readers);
    for (const r of results) expect(r.events.map((e) => e.data.sequence)).toEqual([1, 2, 3, 4]);
    const notifyReads = (await metric(stack.baseUrl, 'aw_sse_event_reads_total{reason="notify"}')) - notifyReadsBefore;
    // At most one per stored event (4), not one per event per stream (up to 4 × 25).
    console.log(`fan-out: ${streams} streams on one run, ${notifyReads} event reads on notifications`);
    expect(notifyReads).toBeGreaterThanOrEqual(1);
    expect(notifyReads).toBeLessThanOrEqual(4);
  });

  it('caps open streams per API key and per run with 429 problem+json', async () => {
    const api = await stack.startSecondApi({ config: { ...stack.config, SSE_MAX_STREAMS_PER_KEY: 3, SSE_MAX_STREAMS_PER_RUN: 5 } });
    const aborts: AbortController[] = [];
    const open = async (url: string, apiKey: string) => {
      const controller = new AbortController();
      aborts.push(controller);
      return fetch(url, { headers: { authorization: `Bearer ${apiKey}` }, signal: controller.signal });
    };
    try {
      const agentId = await createAgent(key, 20_000);
      const run = await startRun(key, agentId, 'Capped');
      const url = `${api.baseUrl}/v1/runs/${run.run_id}/events`;
      const first = await Promise.all([1, 2, 3].map(() => open(url, key)));
      expect(first.map((r) => r.status)).toEqual([200, 200, 200]);
      const fourth = await open(url, key);
      expect(fourth.status).toBe(429);
      expect(fourth.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(fourth.headers.get('retry-after')).toBeTruthy();
      // Another key still opens streams (the cap is per key) until the run's own cap.
      const other = await newKey(key);
      const more = await Promise.all([1, 2].map(() => open(url, other.key)));
      expect(more.map((r) => r.status)).toEqual([200, 200]);
      expect((await open(url, other.key)).status).toBe(429); // 6th stream on the run
      // Closing a stream frees its slot.
      aborts[0]!.abort();
      await eventually(async () => {
        const retry = await open(url, key);
        return retry.status === 200 ? true : undefined;
      }, 'a freed slot', 10_000);
    } finally {
      for (const a of aborts) a.abort();
      api.close();
    }
  });
});
