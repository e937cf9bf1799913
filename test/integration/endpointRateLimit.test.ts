import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { storeEvent } from '../../src/db/events.js';
import { createLogger } from '../../src/logger.js';
import { dispatchEvent } from '../../src/services/eventDispatch.js';
import { activityDeps } from '../../src/temporal/activityDeps.js';
import { createWorker, type WorkerSet } from '../../src/temporal/worker.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

/** Issue 18.5: rate_limit_per_second on an endpoint holds across workers; the excess waits, nothing fails or drops. */

const EVENTS = 300;
const RATE = 20;

let stack: TestStack;
let second: { worker: WorkerSet; running: Promise<void>; connection: NativeConnection };

/** A receiver that answers 200 at once and records when each request arrived. */
async function startTimingReceiver() {
  const arrivals: Array<{ at: number; webhookId: string }> = [];
  const server: Server = createServer((req, res) => {
    arrivals.push({ at: Date.now(), webhookId: String(req.headers['webhook-id']) });
    req.resume();
    res.writeHead(200).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/limited`,
    arrivals,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The most arrivals within any window of `windowMs` (every window starting at an arrival). */
function busiestWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let start = 0, end = 0; start < sorted.length; start++) {
    while (end < sorted.length && sorted[end]! < sorted[start]! + windowMs) end++;
    best = Math.max(best, end - start);
  }
  return best;
}

beforeAll(async () => {
  stack = await startTestStack({ postgres: true });
  // A second worker on the same task queues: deliveries are spread over two processes' worth of pollers.
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const worker = await createWorker({
    connection,
    namespace: 'default',
    taskQueue: stack.taskQueue,
    deps: activityDeps(stack.config, stack.database.db, createLogger('silent', 'test'), stack.temporal),
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
  second = { worker, running: worker.run(), connection };
});
afterAll(async () => {
  if (second) {
    second.worker.shutdown();
    await second.running;
    await second.connection.close();
  }
  await stack?.close();
});

it(`300 events to an endpoint limited to ${RATE}/s: at most ${RATE} (+10 %) in any second, all delivered, the waits logged`, async () => {
  const receiver = await startTimingReceiver();
  try {
    const { apiKey, orgId } = await stack.newOrg('Rate org');
    const endpoint = await stack.api('/v1/endpoints', { key: apiKey, body: { url: receiver.url, events: ['agent.message'], rate_limit_per_second: RATE } });
    expect(endpoint.status).toBe(201);
    expect(endpoint.body.rate_limit_per_second).toBe(RATE);

    // A burst: every event stored and its delivery started as fast as the pool allows (ten at a time).
    const now = new Date();
    const indexes = Array.from({ length: EVENTS }, (_, i) => i);
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let i = indexes.shift(); i !== undefined; i = indexes.shift()) {
          const { event } = await storeEvent(stack.database.db, {
            orgId,
            agentId: null,
            runId: null,
            type: 'agent.message',
            data: { n: i },
            dedupeKey: `rate-test:${orgId}:${i}`,
            at: now,
          });
          await dispatchEvent({ db: stack.database.db, temporal: stack.temporal, taskQueue: stack.taskQueue }, event);
        }
      }),
    );

    const deliveries = await eventually(async () => {
      const rows = await stack.database.db.selectFrom('deliveries').selectAll().where('endpoint_id', '=', endpoint.body.id).execute();
      return rows.length === EVENTS && rows.every((d) => d.status === 'succeeded') ? rows : undefined;
    }, `all ${EVENTS} deliveries to succeed`, 180_000);

    const times = receiver.arrivals.map((a) => a.at);
    const busiest = busiestWindow(times, 1_000);
    const spanS = (Math.max(...times) - Math.min(...times)) / 1000;
    console.log(`rate limit ${RATE}/s: ${receiver.arrivals.length} requests over ${spanS.toFixed(1)} s; busiest 1 s window ${busiest}`);
    expect(busiest).toBeLessThanOrEqual(Math.floor(RATE * 1.1));
    // Nothing dropped or doubled: one request per event, each its own webhook-id, first attempt each.
    expect(receiver.arrivals).toHaveLength(EVENTS);
    expect(new Set(receiver.arrivals.map((a) => a.webhookId)).size).toBe(EVENTS);
    expect(deliveries.every((d) => d.attempts === 1)).toBe(true);
    // The waits are in the delivery log: the later ones waited for their turn.
    const throttled = deliveries.filter((d) => d.throttled_ms > 0);
    expect(throttled.length).toBeGreaterThan(EVENTS / 2);
    const longest = throttled.reduce((a, b) => (b.throttled_ms > a.throttled_ms ? b : a));
    const shown = await stack.api(`/v1/events/${longest.event_id}`, { key: apiKey });
    expect(shown.body.deliveries[0].throttled_ms).toBe(longest.throttled_ms);
    console.log(`rate limit: ${throttled.length} of ${EVENTS} deliveries waited, the longest ${longest.throttled_ms} ms`);
  } finally {
    await receiver.close();
  }
}, 240_000);
