import { readdirSync, readFileSync } from 'node:fs';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { expect, inject, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { installRuntime } from '../../src/temporal/worker.js';
import { historyFromCliJson } from '../support/histories.js';

/**
 * Histories of eventDelivery, redeliver and runCallback recorded on main before the attempt
 * input (test/workflows/captureDeliveryHistories.ts) replay on today's workflow code: the
 * workflows a deployment finds running keep going after it.
 */
const dir = new URL('../fixtures/histories/', import.meta.url);
const files = readdirSync(dir).filter((name) => name.startsWith('delivery-') && name.endsWith('.json')).sort();
const read = (name: string) => JSON.parse(readFileSync(new URL(name, dir), 'utf8')) as { events: Array<Record<string, any>> };
const asHistory = historyFromCliJson;

async function replay(histories: Array<{ workflowId: string; history: temporal.api.history.v1.IHistory }>) {
  const failures: string[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: inject('workflowBundlePath') } }, histories)) {
    replayed++;
    if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
  }
  return { failures, replayed };
}

it('replays every recorded delivery history without a nondeterminism error', async () => {
  installRuntime(createLogger('silent', 'test'));
  expect(files.length).toBeGreaterThanOrEqual(6);
  const types = new Set<string>();
  const histories = files.map((name) => {
    const history = asHistory(read(name));
    types.add(history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '');
    return { workflowId: name, history };
  });
  expect([...types].sort()).toEqual(['eventDelivery', 'redeliver', 'runCallback']);

  const { failures, replayed } = await replay(histories);
  expect(failures).toEqual([]);
  expect(replayed).toBe(files.length);
});

it('reports a history whose commands differ (the check is not vacuous)', async () => {
  const json = read('delivery-redeliver-succeeded.json');
  const scheduled = json.events.find((e) => e.activityTaskScheduledEventAttributes);
  scheduled!.activityTaskScheduledEventAttributes.activityType.name = 'someOtherActivity';
  const { failures } = await replay([{ workflowId: 'tampered', history: asHistory(json) }]);
  expect(failures).toHaveLength(1);
  expect(failures[0]).toMatch(/DeterminismViolationError/);
});
