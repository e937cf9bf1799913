import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeEvent } from '../../src/db/events.js';
import { dispatchEvent } from '../../src/services/eventDispatch.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

/** Issue 18.4: one call resends every delivery that failed in a window, as one workflow with progress. */

const DELIVERIES = 60;
let stack: TestStack;
let receiver: Receiver;
/** While true the receiver is "down": every request answers 503. */
let down = true;

beforeAll(async () => {
  // A high threshold: the outage itself must not disable the endpoint (the second test covers disabled endpoints).
  stack = await startTestStack({ postgres: true, config: { ENDPOINT_DISABLE_AFTER_FAILURES: '1000' } });
  receiver = await startReceiver();
  // Every request: 503 while down, 200 after.
  const answerForever = () => receiver.answer(...Array.from({ length: 10_000 }, () => () => (down ? 503 : 200)));
  answerForever();
});
afterAll(async () => {
  await receiver?.close();
  await stack?.close();
});

/** Stores `count` events of the org and starts their deliveries. */
async function emitEvents(orgId: string, count: number, tag: string) {
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const { event } = await storeEvent(stack.database.db, {
        orgId,
        agentId: null,
        runId: null,
        type: 'agent.message',
        data: { n: i },
        dedupeKey: `recovery-test:${tag}:${i}`,
        at: new Date(),
      });
      await dispatchEvent({ db: stack.database.db, temporal: stack.temporal, taskQueue: stack.taskQueue }, event);
    }),
  );
}

async function failedDeliveries(endpointId: string, count: number) {
  return eventually(async () => {
    const rows = await stack.database.db.selectFrom('deliveries').selectAll().where('endpoint_id', '=', endpointId).execute();
    return rows.length === count && rows.every((d) => d.status === 'failed') ? rows : undefined;
  }, `${count} deliveries to fail`, 120_000);
}

async function finished(apiKey: string, recoveryId: string) {
  return eventually(async () => {
    const r = (await stack.api(`/v1/recoveries/${recoveryId}`, { key: apiKey })).body;
    return r.status === 'running' ? undefined : r;
  }, 'the recovery to finish', 120_000);
}

describe('bulk recovery', () => {
  it('a receiver down for 60 deliveries, then back: one recover call resends all 60 with their webhook-ids, progress 60/60', async () => {
    const { apiKey, orgId } = await stack.newOrg('Recovery org');
    const since = new Date(Date.now() - 1_000).toISOString();
    const endpoint = (await stack.api('/v1/endpoints', { key: apiKey, body: { url: receiver.url, events: ['agent.message'], max_retries: 0 } })).body;
    down = true;
    await emitEvents(orgId, DELIVERIES, orgId);
    const failed = await failedDeliveries(endpoint.id, DELIVERIES);
    const failedIds = new Set(failed.map((d) => d.message_id));
    // A delivery's row says failed as its last attempt is logged; the endpoint's count follows in the same activity.
    const streakOf = async () => (await stack.database.db.selectFrom('endpoints').select('consecutive_failures').where('id', '=', endpoint.id).executeTakeFirstOrThrow()).consecutive_failures;
    const streak = await eventually(async () => ((await streakOf()) >= DELIVERIES ? streakOf() : undefined), `the endpoint to count ${DELIVERIES} failures`, 30_000);
    expect(streak).toBe(DELIVERIES);

    // Still down: a recovery resends everything, all fail, and none of it counts toward disabling.
    // Rate-limited meanwhile (resends respect it too), so the recovery is surely still running for the 409 below.
    expect((await stack.api(`/v1/endpoints/${endpoint.id}`, { key: apiKey, method: 'PATCH', body: { rate_limit_per_second: 10 } })).status).toBe(200);
    const early = await stack.api(`/v1/endpoints/${endpoint.id}/recover`, { key: apiKey, body: { since } });
    expect(early.status).toBe(202);
    expect(early.body).toMatchObject({ status: 'running', total: DELIVERIES, workflow_id: `recovery-${early.body.id}` });
    const second = await stack.api(`/v1/endpoints/${endpoint.id}/recover`, { key: apiKey, body: { since } });
    expect(second.status).toBe(409);
    expect(second.body.recovery_id).toBe(early.body.id);
    const failedRun = await finished(apiKey, early.body.id);
    expect(failedRun).toMatchObject({ status: 'completed', total: DELIVERIES, sent: DELIVERIES, succeeded: 0, failed: DELIVERIES });
    const after = await stack.database.db.selectFrom('endpoints').select(['consecutive_failures', 'enabled']).where('id', '=', endpoint.id).executeTakeFirstOrThrow();
    expect(after).toEqual({ consecutive_failures: DELIVERIES, enabled: true });

    const waited = await stack.database.db.selectFrom('deliveries').select('throttled_ms').where('endpoint_id', '=', endpoint.id).where('throttled_ms', '>', 0).execute();
    expect(waited.length).toBeGreaterThan(DELIVERIES / 2);

    // Back up: one call, everything delivered.
    down = false;
    await stack.api(`/v1/endpoints/${endpoint.id}`, { key: apiKey, method: 'PATCH', body: { rate_limit_per_second: null } });
    const before = receiver.received.length;
    const recover = await stack.api(`/v1/endpoints/${endpoint.id}/recover`, { key: apiKey, body: { since } });
    expect(recover.status).toBe(202);
    expect(recover.headers.get('location')).toBe(`/v1/recoveries/${recover.body.id}`);
    const done = await finished(apiKey, recover.body.id);
    console.log(`recovery: ${done.sent}/${done.total} resent, ${done.succeeded} succeeded, ${done.failed} failed`);
    expect(done).toMatchObject({ status: 'completed', total: DELIVERIES, sent: DELIVERIES, succeeded: DELIVERIES, failed: 0 });
    const resent = receiver.received.slice(before);
    const resentIds = resent.filter((r) => r.headers['webhook-id']).map((r) => String(r.headers['webhook-id']));
    // Each failed delivery once more, with its own webhook-id, and nothing else.
    expect(resentIds).toHaveLength(DELIVERIES);
    expect(new Set(resentIds)).toEqual(failedIds);
    const rows = await stack.database.db.selectFrom('deliveries').select('status').where('endpoint_id', '=', endpoint.id).execute();
    expect(rows.every((d) => d.status === 'succeeded')).toBe(true);

    // Nothing failed in the window any more: a new recovery has nothing to do.
    const empty = await stack.api(`/v1/endpoints/${endpoint.id}/recover`, { key: apiKey, body: { since } });
    expect(empty.status).toBe(202);
    expect(empty.body.total).toBe(0);
    expect(await finished(apiKey, empty.body.id)).toMatchObject({ status: 'completed', sent: 0 });
  }, 300_000);

  it('re-enables a disabled endpoint only when asked', async () => {
    const { apiKey, orgId } = await stack.newOrg('Disabled recovery org');
    const since = new Date(Date.now() - 1_000).toISOString();
    const endpoint = (await stack.api('/v1/endpoints', { key: apiKey, body: { url: receiver.url, events: ['agent.message'], max_retries: 0 } })).body;
    down = true;
    await emitEvents(orgId, 3, orgId);
    await failedDeliveries(endpoint.id, 3);
    down = false;
    expect((await stack.api(`/v1/endpoints/${endpoint.id}`, { key: apiKey, method: 'PATCH', body: { enabled: false } })).status).toBe(200);

    const refused = await stack.api(`/v1/endpoints/${endpoint.id}/recover`, { key: apiKey, body: { since } });
    expect(refused.status).toBe(409);
    expect((await stack.api(`/v1/endpoints/${endpoint.id}`, { key: apiKey })).body.enabled).toBe(false);

    const recover = await stack.api(`/v1/endpoints/${endpoint.id}/recover`, { key: apiKey, body: { since, enable_endpoint: true } });
    expect(recover.status).toBe(202);
    expect(recover.body.enabled_endpoint).toBe(true);
    expect(await finished(apiKey, recover.body.id)).toMatchObject({ status: 'completed', total: 3, succeeded: 3 });
    const shown = (await stack.api(`/v1/endpoints/${endpoint.id}`, { key: apiKey })).body;
    expect(shown).toMatchObject({ enabled: true, disabled_reason: null });

    // Another org cannot see it.
    const other = await stack.newOrg('Other org');
    expect((await stack.api(`/v1/recoveries/${recover.body.id}`, { key: other.apiKey })).status).toBe(404);
    expect((await stack.api(`/v1/endpoints/${endpoint.id}/recover`, { key: other.apiKey, body: { since } })).status).toBe(404);
  }, 180_000);
});
