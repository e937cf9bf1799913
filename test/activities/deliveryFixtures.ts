import { randomUUID } from 'node:crypto';
import { ensureDelivery } from '../../src/db/deliveries.js';
import { storeEvent } from '../../src/db/events.js';
import { messageId } from '../../src/domain/deliveryPayload.js';
import { createLogger } from '../../src/logger.js';
import { activityDeps } from '../../src/temporal/activityDeps.js';
import type { TestStack } from '../support/stack.js';

/** Fixtures of the delivery activity tests: the real database and outbound client of a test stack without a worker. */
export function deliveryFixtures(stack: TestStack, key: string, orgId: string) {
  const deps = activityDeps(stack.config, stack.database.db, createLogger('silent', 'test'), stack.temporal);

  async function endpoint(url: string, body: Record<string, unknown> = {}) {
    const created = await stack.api('/v1/endpoints', { key, body: { url, events: ['run.completed'], max_retries: 2, ...body } });
    if (created.status !== 201) throw new Error(`endpoint not created: ${JSON.stringify(created.body)}`);
    return created.body as { id: string; secret: string };
  }

  /** A stored event and its (pending) delivery to the endpoint, as planEventDeliveries leaves them. */
  async function delivery(endpointId: string, url: string) {
    const { event } = await storeEvent(deps.db, { orgId, agentId: null, runId: null, type: 'run.completed', data: { n: randomUUID() }, dedupeKey: randomUUID(), at: new Date() });
    return ensureDelivery(deps.db, { orgId, kind: 'endpoint', eventId: event.id, endpointId, url, messageId: messageId(event.id) });
  }

  /** A finished run with a callback_url (what runCallback is started for). */
  async function finishedRun(callbackUrl: string) {
    const agent = await stack.api('/v1/agents', { key, body: { name: 'Calls back', allow_callback_urls: true, provider: { kind: 'echo' } } });
    const id = randomUUID();
    const now = new Date();
    await deps.db
      .insertInto('runs')
      .values({
        id, org_id: orgId, agent_id: agent.body.id, source: 'api', status: 'completed', message: 'hi', result: 'Echo: hi', error: null,
        input_tokens: null, output_tokens: null, started_at: now, completed_at: now, conversation_id: null, subject: null,
        task_definition_id: null, callback_url: callbackUrl, idempotency_key: null, request_hash: null, status_detail: null, inbound_webhook_id: null,
      })
      .execute();
    return id;
  }

  const attempts = (deliveryId: string) =>
    deps.db.selectFrom('delivery_attempts').select(['attempt', 'status_code', 'succeeded']).where('delivery_id', '=', deliveryId).orderBy('attempt').execute();
  const deliveryRow = (deliveryId: string) => deps.db.selectFrom('deliveries').selectAll().where('id', '=', deliveryId).executeTakeFirstOrThrow();
  const endpointRow = (id: string) => deps.db.selectFrom('endpoints').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  return { deps, endpoint, delivery, finishedRun, attempts, deliveryRow, endpointRow };
}
