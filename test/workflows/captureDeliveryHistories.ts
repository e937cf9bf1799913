import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

/**
 * Not part of the suite: records the delivery workflows' histories that
 * test/workflows/deliveryReplay.test.ts replays. Run on the code whose histories must stay
 * replayable (before a change to eventDelivery, redeliver or runCallback):
 *   npx vitest run --config test/workflows/capture.config.ts
 */

let stack: TestStack;
let good: Receiver;
let bad: Receiver;
const out = (name: string) => new URL(`../fixtures/histories/delivery-${name}.json`, import.meta.url);

beforeAll(async () => {
  stack = await startTestStack({ config: { DELIVERY_RETRY_SCHEDULE: '1s,2s' } });
  good = await startReceiver();
  bad = await startReceiver();
});
afterAll(async () => {
  await good?.close();
  await bad?.close();
  await stack?.close();
});

async function save(name: string, workflowId: string) {
  const handle = stack.temporal.workflow.getHandle(workflowId);
  await handle.result().catch(() => undefined);
  // The CLI writes the standard JSON form (what the Web UI downloads and historyFromJSON reads).
  const json = execFileSync(process.env.TEMPORAL_CLI ?? 'temporal', ['workflow', 'show', '--address', inject('temporalAddress'), '--workflow-id', workflowId, '--output', 'json']);
  writeFileSync(out(name), json);
}

it('captures eventDelivery, redeliver and runCallback histories', async () => {
  const { apiKey: key } = await stack.newOrg('History capture');
  let badAnswers = 500;
  let callbackAnswers = 500;
  bad.answer(...Array.from({ length: 200 }, () => (r: { body: string }) => (r.body.includes('"run_key"') ? callbackAnswers : badAnswers)));
  const agent = await stack.api('/v1/agents', { key, body: { name: 'Recorder', allow_callback_urls: true, provider: { kind: 'echo' } } });
  expect(agent.status).toBe(201);
  for (const [url, retries] of [[good.url, 2], [bad.url, 1]] as const) {
    const created = await stack.api('/v1/endpoints', { key, body: { url, events: ['run.completed'], max_retries: retries } });
    expect(created.status).toBe(201);
  }
  const accepted = await stack.api(`/v1/agents/${agent.body.id}/runs`, { key, body: { message: 'Record me', callback_url: `${bad.url}?cb` } });
  expect(accepted.status).toBe(202);
  const runId = accepted.body.run_id as string;

  // One event, two endpoints: one delivered at once, one failing after its retry budget.
  const event = await eventually(async () => stack.database.db.selectFrom('events').select('id').where('run_id', '=', runId).where('type', '=', 'run.completed').executeTakeFirst(), 'run.completed');
  await save('eventDelivery-one-delivered-one-failed', `event-${event.id}`);
  // The callback fails once, then succeeds.
  await eventually(async () => (bad.received.some((r) => r.body.includes('"run_key"')) ? true : undefined), 'a callback attempt');
  callbackAnswers = 200;
  await save('runCallback-retried', `callback-${runId}`);

  badAnswers = 200;
  const failed = await eventually(async () => stack.database.db.selectFrom('deliveries').selectAll().where('event_id', '=', event.id).where('status', '=', 'failed').executeTakeFirst(), 'failed delivery');
  const redelivered = await stack.api(`/v1/deliveries/${failed.id}/retry`, { key, method: 'POST' });
  expect(redelivered.status).toBe(202);
  await save('redeliver-succeeded', redelivered.body.workflow_id);

  badAnswers = 503;
  callbackAnswers = 503;
  const again = await stack.api(`/v1/deliveries/${failed.id}/retry`, { key, method: 'POST' });
  expect(again.status).toBe(202);
  await save('redeliver-failed', again.body.workflow_id);

  const manual = await stack.api(`/v1/runs/${runId}/callback/retry`, { key, method: 'POST' });
  expect(manual.status).toBe(202);
  await save('runCallback-manual-failed', manual.body.workflow_id);
  callbackAnswers = 200;
  const manualOk = await stack.api(`/v1/runs/${runId}/callback/retry`, { key, method: 'POST' });
  expect(manualOk.status).toBe(202);
  await save('runCallback-manual-succeeded', manualOk.body.workflow_id);
});
