import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count } from '../support/figures.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';
import { ok, startReceiver, type Handler, type Receiver } from '../support/receiver.js';

/**
 * Misbehaving receivers through the whole pipeline: run → event → delivery workflow → attempt
 * log, read back through the public API as a user would. Client-level behaviour is in
 * test/integration/outbound/client.test.ts; here the question is what gets recorded, how often
 * it is retried, and whether the worker stays within its memory while receivers misbehave.
 */

const MAX_RETRIES = 2;
const HUGE_BODY_BYTES = 512 * 1024 * 1024;
/** Long enough that a client reading the whole body would hold hundreds of MB before timing out. */
const HUGE_TIMEOUT_SECONDS = 10;

interface Attempt {
  attempt: number;
  status_code: number | null;
  latency_ms: number;
  response_excerpt: string | null;
  error: string | null;
  succeeded: boolean;
}
interface Delivery {
  id: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: Attempt[];
}

let stack: TestStack;
let key: string;
const receivers: Receiver[] = [];
const timers = new Set<NodeJS.Timeout>();
/** Bytes the huge-body receiver managed to push, per request, before the client hung up. */
const hugeWrites: number[] = [];

async function receiver(handler: Handler, opts?: { tls?: boolean }): Promise<Receiver> {
  const r = await startReceiver(handler, opts);
  receivers.push(r);
  return r;
}

/** Answers 200, but only long after a 1 s endpoint timeout. */
const slow: Handler = (_req, res) => {
  const timer = setTimeout(() => {
    timers.delete(timer);
    if (!res.destroyed) res.writeHead(200).end('finally');
  }, 2_500);
  timers.add(timer);
};
/** Accepts the request and never answers. */
const hanging: Handler = () => {};
/** A 200 announcing 512 MiB and streaming it as fast as the client reads. */
const huge: Handler = (_req, res) => {
  const index = hugeWrites.push(0) - 1;
  const chunk = Buffer.alloc(64 * 1024, 'x');
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(HUGE_BODY_BYTES) });
  const pump = (r: ServerResponse) => {
    while (!r.destroyed && hugeWrites[index]! < HUGE_BODY_BYTES) {
      hugeWrites[index]! += chunk.length;
      if (!r.write(chunk)) return void r.once('drain', () => pump(r));
    }
    if (!r.destroyed) r.end();
  };
  pump(res);
};
/** Redirects to itself, forever. */
const redirectLoop: Handler = (req, res) => {
  res.writeHead(307, { location: req.url ?? '/' }).end();
};
/** Drops the connection as soon as the request arrives. */
const reset: Handler = (req) => req.socket.destroy();

beforeAll(async () => {
  // Failing endpoints must stay enabled through the burst: disabling them would skip the load.
  stack = await startTestStack({ config: { ENDPOINT_DISABLE_AFTER_FAILURES: '1000' } });
  ({ apiKey: key } = await stack.newOrg('Chaos receivers org'));
});
afterAll(async () => {
  for (const timer of timers) clearTimeout(timer);
  await Promise.all(receivers.map((r) => r.close()));
  await stack?.close();
});

async function call(method: string, path: string, body?: unknown) {
  return stack.api(path, { method, key, body });
}

async function createAgent(name: string): Promise<string> {
  const created = await call('POST', '/v1/agents', { name });
  expect(created.status).toBe(201);
  return created.body.id as string;
}

async function subscribe(url: string, agentId: string, events: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const created = await call('POST', '/v1/endpoints', { url, events, agent_ids: [agentId], timeout_seconds: 1, max_retries: MAX_RETRIES, ...extra });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.id as string;
}

async function startRun(agentId: string, message: string): Promise<string> {
  const accepted = await call('POST', `/v1/agents/${agentId}/runs`, { message });
  expect(accepted.status).toBe(202);
  return accepted.body.run_id as string;
}

async function deliveriesOf(endpointId: string): Promise<Delivery[]> {
  const page = await call('GET', `/v1/endpoints/${endpointId}/deliveries?limit=100`);
  expect(page.status).toBe(200);
  return page.body.data as Delivery[];
}

/** Waits until the endpoint has `expected` deliveries and none is still pending. */
async function settledDeliveries(endpointId: string, expected: number, what: string, timeoutMs = 30_000): Promise<Delivery[]> {
  return eventually(
    async () => {
      const deliveries = await deliveriesOf(endpointId);
      return deliveries.length === expected && deliveries.every((d) => d.status !== 'pending') ? deliveries : undefined;
    },
    what,
    timeoutMs,
  );
}

describe('misbehaving receivers', () => {
  it('records every attempt against each kind of bad receiver as failed, with a specific error, as often as the retry policy says', async ({ task }) => {
    const tlsReceiver = await receiver(ok, { tls: true });
    const plainReceiver = await receiver(ok);
    const redirectReceiver = await receiver(redirectLoop);
    const timeout = /^timeout: no complete response within 1000 ms$/;
    const bad = {
      slow: { receiver: await receiver(slow), error: timeout },
      hanging: { receiver: await receiver(hanging), error: timeout },
      redirect: {
        receiver: redirectReceiver,
        error: new RegExp(`^HTTP 307: redirect to ${redirectReceiver.origin}/hook not followed \\(webhooks never follow redirects`),
      },
      reset: { receiver: await receiver(reset), error: /^connection: reset by the receiver before it sent a response \(socket hang up\)$/ },
      selfSigned: { receiver: tlsReceiver, error: /^tls: TLS handshake failed: self-signed certificate$/ },
      httpsToPlainHttp: {
        receiver: plainReceiver,
        error: /^tls: TLS handshake failed: the receiver did not answer in TLS; is it a plain http:\/\/ server\? \(wrong version number\)$/,
        url: `https://127.0.0.1:${plainReceiver.port}/hook`,
      },
    } as const;
    const hugeReceiver = await receiver(huge);

    const agent = await createAgent('Chaos target');
    const endpoints: Record<string, string> = {};
    for (const [kind, spec] of Object.entries(bad)) {
      endpoints[kind] = await subscribe('url' in spec ? spec.url : `${spec.receiver.origin}/hook`, agent, ['run.completed'], { verify_ssl: true });
    }
    const hugeEndpoint = await subscribe(`${hugeReceiver.origin}/hook`, agent, ['run.completed'], { timeout_seconds: HUGE_TIMEOUT_SECONDS });
    await startRun(agent, 'Misbehave, please');

    let failedAttempts = 0;
    for (const [kind, spec] of Object.entries(bad)) {
      const [delivery] = await settledDeliveries(endpoints[kind]!, 1, `the ${kind} delivery to give up`);
      expect(delivery!.status, kind).toBe('failed');
      expect(delivery!.attempts.map((a) => a.attempt), kind).toEqual(Array.from({ length: MAX_RETRIES + 1 }, (_, i) => i + 1));
      for (const attempt of delivery!.attempts) {
        expect(attempt.succeeded, kind).toBe(false);
        expect(attempt.error, kind).toMatch(spec.error);
        expect(attempt.status_code, kind).toBe(kind === 'redirect' ? 307 : null);
        if (kind === 'slow' || kind === 'hanging') {
          expect(attempt.latency_ms, kind).toBeGreaterThanOrEqual(990);
          // Cut before the slow receiver's answer at 2.5 s; the margin absorbs a loaded event loop.
          expect(attempt.latency_ms, kind).toBeLessThan(2_500);
        }
      }
      failedAttempts += delivery!.attempts.length;
      // The delivery turns 'failed' as its last attempt is logged; the endpoint's count follows in the same activity.
      const endpoint = await eventually(async () => {
        const body = (await call('GET', `/v1/endpoints/${endpoints[kind]}`)).body;
        return body.health.consecutive_failures >= 1 ? body : undefined;
      }, `the ${kind} endpoint to count its failure`);
      expect(endpoint.health, kind).toMatchObject({ failed_24h: 1, succeeded_24h: 0, consecutive_failures: 1 });
    }

    // One request per attempt: the redirect was never followed, and no payload reached a receiver
    // whose certificate failed verification or that does not speak TLS.
    expect(bad.slow.receiver.requests).toBe(MAX_RETRIES + 1);
    expect(bad.hanging.receiver.requests).toBe(MAX_RETRIES + 1);
    expect(bad.redirect.receiver.requests).toBe(MAX_RETRIES + 1);
    expect(bad.reset.receiver.requests).toBe(MAX_RETRIES + 1);
    expect(tlsReceiver.requests).toBe(0);
    expect(plainReceiver.requests).toBe(0);

    // A 200 is a success even when its body is endless: the client keeps 2 KiB and hangs up.
    const [hugeDelivery] = await settledDeliveries(hugeEndpoint, 1, 'the huge-body delivery');
    expect(hugeDelivery!.status).toBe('succeeded');
    expect(hugeDelivery!.attempts).toEqual([expect.objectContaining({ attempt: 1, succeeded: true, status_code: 200, error: null })]);
    expect(hugeDelivery!.attempts[0]!.response_excerpt).toBe('x'.repeat(2048));
    expect(hugeReceiver.requests).toBe(1);
    expect(hugeWrites[0]).toBeLessThan(HUGE_BODY_BYTES / 8);

    // Nothing comes later: every delivery gave up for good.
    await new Promise((r) => setTimeout(r, 1_500));
    const reached = [bad.slow, bad.hanging, bad.redirect, bad.reset].map((b) => b.receiver.requests);
    expect(reached).toEqual(Array(4).fill(MAX_RETRIES + 1));

    count(task, { 'misbehaving receivers': 6, 'failed attempts recorded': failedAttempts });
  });

  it('keeps the process memory bounded through a burst at huge-body, hanging and slow receivers', async ({ task }) => {
    const targets = { huge: await receiver(huge), hanging: await receiver(hanging), slow: await receiver(slow) };
    const agent = await createAgent('Chaos burst');
    // Three events per run (user.message, agent.message, run.completed): 15 runs make 45 events.
    const events = ['user.message', 'agent.message', 'run.completed'];
    const runs = 15;
    const endpoints = {
      huge: await subscribe(`${targets.huge.origin}/hook`, agent, events, { timeout_seconds: HUGE_TIMEOUT_SECONDS }),
      hanging: await subscribe(`${targets.hanging.origin}/hook`, agent, events, { max_retries: 1 }),
      slow: await subscribe(`${targets.slow.origin}/hook`, agent, events, { max_retries: 1 }),
    };
    const hugeRequestsBefore = hugeWrites.length;

    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
    const expected = runs * events.length;
    // Memory is judged first, also when the burst never settles: a client buffering whole bodies
    // would show as both.
    const burst = (async () => {
      await Promise.all(Array.from({ length: runs }, (_, i) => startRun(agent, `burst ${i}`)));
      const [huge, hanging, slow] = await Promise.all(
        (['huge', 'hanging', 'slow'] as const).map((kind) => settledDeliveries(endpoints[kind], expected, `the ${kind} burst`, 45_000)),
      );
      return { huge: huge!, hanging: hanging!, slow: slow! };
    })();
    await burst.catch(() => undefined);
    clearInterval(sampler);
    gc?.();
    const rssAfter = process.memoryUsage().rss;
    const mb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MB`;
    const rss = `RSS ${mb(rssBefore)} before the burst, ${mb(rssPeak)} at its peak, ${mb(rssAfter)} after`;
    // The bound leaves room for what the process legitimately grows by (two workers — agent runs and
    // deliveries — each with its own workflow cache: ≈130 MB with one worker, ≈160 MB with two,
    // measured), and stays far below one buffered 512 MiB body, which is what it guards against.
    const bound = 200 * 1024 * 1024;
    expect(rssPeak - rssBefore, rss).toBeLessThan(bound);
    expect(rssAfter - rssBefore, rss).toBeLessThan(bound);

    const settled = await burst;

    // Each huge response was cut off after 2 KiB and the connection dropped: a 200 is a success.
    const burstWrites = hugeWrites.slice(hugeRequestsBefore);
    expect(burstWrites).toHaveLength(expected);
    expect(Math.max(...burstWrites)).toBeLessThan(HUGE_BODY_BYTES / 8);
    for (const d of settled.huge) {
      expect(d.status).toBe('succeeded');
      expect(d.attempts).toEqual([expect.objectContaining({ succeeded: true, status_code: 200, error: null, response_excerpt: 'x'.repeat(2048) })]);
    }
    let failedAttempts = 0;
    for (const kind of ['hanging', 'slow'] as const) {
      for (const d of settled[kind]) {
        expect(d.status).toBe('failed');
        expect(d.attempts.map((a) => [a.succeeded, a.error])).toEqual([
          [false, expect.stringMatching(/^timeout/)],
          [false, expect.stringMatching(/^timeout/)],
        ]);
        failedAttempts += d.attempts.length;
      }
      expect(targets[kind].requests).toBe(2 * expected);
    }

    count(task, { 'failed attempts recorded': failedAttempts });
  });
});
