import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

/** #13.8b: concurrent attempts per endpoint (and per org's callback origin) are bounded across workers; the rest wait. */

let stack: TestStack;
const MAX = 2;

/** A receiver that answers 200 after `delayMs`, recording the most requests it ever had open at once. */
async function startSlowReceiver(delayMs: number) {
  const open = { callback: 0, endpoint: 0 };
  const stats = { maxOpen: { callback: 0, endpoint: 0 }, total: 0 };
  const server: Server = createServer((req, res) => {
    const kind = req.url?.includes('?cb') ? 'callback' : 'endpoint';
    open[kind]++;
    stats.total++;
    stats.maxOpen[kind] = Math.max(stats.maxOpen[kind], open[kind]);
    req.resume();
    setTimeout(() => {
      open[kind]--;
      res.writeHead(200).end('{}');
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/slow`,
    stats,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

beforeAll(async () => {
  stack = await startTestStack({ config: { ENDPOINT_MAX_IN_FLIGHT: String(MAX) } });
});
afterAll(async () => {
  await stack?.close();
});

describe('per-endpoint concurrency (ENDPOINT_MAX_IN_FLIGHT)', () => {
  it('holds at most MAX attempts open against one endpoint and one callback origin; the rest wait without spending attempts', async () => {
    const receiver = await startSlowReceiver(1_500);
    try {
      const { apiKey, orgId } = await stack.newOrg('Slot org');
      const agent = await stack.api('/v1/agents', { key: apiKey, body: { name: 'e', provider: { kind: 'echo' }, allow_callback_urls: true } });
      const endpoint = await stack.api('/v1/endpoints', { key: apiKey, body: { url: receiver.url, events: ['run.completed'], timeout_seconds: 10 } });
      expect(endpoint.status).toBe(201);
      const runs = 6;
      await Promise.all(
        Array.from({ length: runs }, async () => {
          const accepted = await stack.api(`/v1/agents/${agent.body.id}/runs`, { key: apiKey, body: { message: 'hi', callback_url: `${receiver.url}?cb` } });
          expect(accepted.status).toBe(202);
        }),
      );
      const deliveries = await eventually(async () => {
        const rows = await stack.database.db.selectFrom('deliveries').selectAll().where('org_id', '=', orgId).execute();
        return rows.length === 2 * runs && rows.every((d) => d.status === 'succeeded') ? rows : undefined;
      }, 'every delivery and callback to succeed', 90_000);
      const { maxOpen } = receiver.stats;
      console.log(`endpoint slots: ${receiver.stats.total} requests; at most ${maxOpen.endpoint} deliveries and ${maxOpen.callback} callbacks open at once (cap ${MAX})`);
      expect(maxOpen.endpoint).toBeLessThanOrEqual(MAX);
      expect(maxOpen.callback).toBeLessThanOrEqual(MAX);
      expect(maxOpen.endpoint + maxOpen.callback).toBeGreaterThanOrEqual(3); // the cap was reached, not merely unused
      // Waiting is not failing: every delivery succeeded on its first attempt.
      expect(deliveries.map((d) => d.attempts)).toEqual(Array(2 * runs).fill(1));
      expect(receiver.stats.total).toBe(2 * runs);
      // Every slot is given back once the workflows close (the delivery row is final a moment before).
      // Only this test's targets: other test files share the database (and hold leases of their own).
      const ours = [`endpoint:${endpoint.body.id}`, `callback:${orgId}:${new URL(receiver.url).origin}`];
      await eventually(
        async () => ((await stack.database.db.selectFrom('endpoint_leases').selectAll().where('target', 'in', ours).execute()).length === 0 ? true : undefined),
        'every slot released',
        20_000,
      );
    } finally {
      await receiver.close();
    }
  }, 120_000);
});
