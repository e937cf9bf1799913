import { ScheduleNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentIdKey, OrgIdKey } from '../../workflows/searchAttributes.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function agentOf(key: string, fields: Record<string, unknown> = {}) {
  const agent = await stack.api('/v1/agents', { key, body: { name: 'Scheduled', provider: { kind: 'echo' }, ...fields } });
  expect(agent.status).toBe(201);
  return agent.body.id as string;
}

const runsOf = (agentId: string) =>
  stack.database.db.selectFrom('runs').selectAll().where('agent_id', '=', agentId).orderBy('created_at').execute();

/** Firing workflows of this schedule still running, per Temporal's visibility. */
async function runningFirings(orgId: string, agentId: string) {
  const query = `WorkflowType = "scheduledRun" AND OrgId = "${orgId}" AND AgentId = "${agentId}" AND ExecutionStatus = "Running"`;
  return (await stack.temporal.workflow.count(query)).count;
}

describe('scheduled runs', () => {
  it('fires every 2 s: ordinary runs (source schedule) that complete and deliver events; pause stops them, resume and trigger fire, delete removes the Temporal Schedule', async () => {
    const { apiKey: key, orgId } = await stack.newOrg('Schedules');
    const agentId = await agentOf(key, { allow_callback_urls: true });
    const callbacks = await startReceiver('/callback');
    const endpoint = await stack.api('/v1/endpoints', { key, body: { url: receiver.url, events: ['run.completed'] } });
    expect(endpoint.status).toBe(201);

    const created = await stack.api(`/v1/agents/${agentId}/schedules`, {
      key,
      body: { name: 'Every two seconds', interval_seconds: 2, message: 'tick', context: { shift: 'night' }, metadata: { from: 'schedule' }, callback_url: callbacks.url },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ agent_id: agentId, interval_seconds: 2, cron: null, timezone: 'UTC', overlap_policy: 'skip', paused: false });
    const scheduleId: string = created.body.id;

    // Temporal holds it, findable by the org and the agent (the Web UI's Schedules page).
    const handle = stack.temporal.schedule.getHandle(`schedule-${scheduleId}`);
    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(OrgIdKey)).toBe(orgId);
    expect(described.typedSearchAttributes.get(AgentIdKey)).toBe(agentId);
    expect(described.action).toMatchObject({ workflowType: 'scheduledRun', taskQueue: stack.taskQueue });
    // What the Web UI's Schedules page lists, filtered by the org.
    const listedInTemporal = await eventually(async () => {
      for await (const summary of stack.temporal.schedule.list({ query: `OrgId = "${orgId}"` })) return summary.scheduleId;
      return undefined;
    }, 'the schedule to be listed by its search attribute');
    expect(listedInTemporal).toBe(`schedule-${scheduleId}`);

    const completed = await eventually(async () => {
      const runs = (await runsOf(agentId)).filter((r) => r.status === 'completed');
      return runs.length >= 2 ? runs : undefined;
    }, 'two scheduled runs to complete', 45_000);
    for (const run of completed) {
      expect(run).toMatchObject({ source: 'schedule', schedule_id: scheduleId, message: 'tick', metadata: { from: 'schedule' } });
      expect(run.result).toMatch(/^Echo: tick\n/);
      expect(run.context).toEqual({ shift: 'night' });
      expect(run.credits_used).toBeGreaterThan(0);
      const shown = await stack.api(`/v1/runs/${run.id}`, { key });
      expect(shown.body).toMatchObject({ source: 'schedule', schedule_id: scheduleId, status: 'completed' });
    }
    const listed = await stack.api(`/v1/runs?agent_id=${agentId}`, { key });
    expect(listed.body.data.filter((r: { source: string }) => r.source === 'schedule').length).toBeGreaterThanOrEqual(2);
    // Each run's events went out like any run's.
    await eventually(async () => (completed.every((run) => receiver.received.some((r) => r.body.includes(run.id))) ? true : undefined), 'run.completed deliveries');
    // ...and each called back like any run with a callback_url.
    await eventually(async () => (completed.every((run) => callbacks.received.some((r) => JSON.parse(r.body).run_key === run.id)) ? true : undefined), 'callbacks');
    await callbacks.close();
    console.log(`schedule every 2 s: ${completed.length} completed runs, ${receiver.received.length} deliveries, ${callbacks.received.length} callbacks received`);

    // Pause: once every firing Temporal took before the pause has made its run, no new run
    // (and no new firing) appears over three intervals.
    const paused = await stack.api(`/v1/schedules/${scheduleId}/pause`, { key, method: 'POST' });
    expect(paused.body.paused).toBe(true);
    const atPause = await handle.describe();
    expect(atPause.state.paused).toBe(true);
    const firingsAtPause = atPause.info.numActionsTaken;
    await eventually(async () => ((await runsOf(agentId)).length >= firingsAtPause ? true : undefined), 'every firing taken to have made its run');
    const countAtPause = (await runsOf(agentId)).length;
    expect(countAtPause).toBe(firingsAtPause);
    await sleep(6_500);
    const countAfterPause = (await runsOf(agentId)).length;
    const firingsAfterPause = (await handle.describe()).info.numActionsTaken;
    console.log(`paused: ${countAtPause} runs (${firingsAtPause} firings) at pause, ${countAfterPause} runs (${firingsAfterPause} firings) after 6.5 s`);
    expect(countAfterPause).toBe(countAtPause);
    expect(firingsAfterPause).toBe(firingsAtPause);
    const shown = await stack.api(`/v1/schedules/${scheduleId}`, { key });
    expect(shown.body).toMatchObject({ paused: true, next_run_at: null });

    // Trigger now fires even while paused.
    const triggered = await stack.api(`/v1/schedules/${scheduleId}/trigger`, { key, method: 'POST' });
    expect(triggered.status).toBe(202);
    await eventually(async () => ((await runsOf(agentId)).length > countAfterPause ? true : undefined), 'the triggered firing to create a run');

    // Resume: firings again.
    const resumed = await stack.api(`/v1/schedules/${scheduleId}/resume`, { key, method: 'POST' });
    expect(resumed.body.paused).toBe(false);
    await eventually(async () => ((await runsOf(agentId)).length > countAfterPause + 1 ? true : undefined), 'a firing after resume');

    // Delete: the Temporal Schedule is gone, and so is the resource.
    expect((await stack.api(`/v1/schedules/${scheduleId}`, { key, method: 'DELETE' })).status).toBe(204);
    await expect(handle.describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    expect((await stack.api(`/v1/schedules/${scheduleId}`, { key })).status).toBe(404);
    // Runs it started keep their schedule_id.
    expect((await runsOf(agentId)).every((r) => r.schedule_id === scheduleId)).toBe(true);
  });

  it('overlap skip holds with a slow agent: no two firings\' runs overlap, and Temporal counts skipped firings', async () => {
    const { apiKey: key, orgId } = await stack.newOrg('Overlap');
    const agentId = await agentOf(key, { provider: { kind: 'echo', delay_ms: 3_000 } });
    const created = await stack.api(`/v1/agents/${agentId}/schedules`, { key, body: { interval_seconds: 1, overlap_policy: 'skip', message: 'slow' } });
    expect(created.status).toBe(201);
    const scheduleId: string = created.body.id;

    await eventually(async () => ((await runsOf(agentId)).filter((r) => r.status === 'completed').length >= 3 ? true : undefined), 'three slow runs', 60_000);
    expect((await stack.api(`/v1/schedules/${scheduleId}/pause`, { key, method: 'POST' })).status).toBe(200);
    await eventually(async () => ((await runningFirings(orgId, agentId)) === 0 ? true : undefined), 'firings in flight to end', 30_000);
    const description = await stack.temporal.schedule.getHandle(`schedule-${scheduleId}`).describe();

    const runs = await runsOf(agentId);
    let overlaps = 0;
    const intervals = runs.filter((r) => r.started_at).map((r) => [r.started_at!.getTime(), (r.completed_at ?? new Date()).getTime()] as const);
    intervals.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < intervals.length; i++) if (intervals[i]![0] < intervals[i - 1]![1]) overlaps++;
    console.log(`overlap skip: ${runs.length} runs, ${overlaps} overlapping, ${description.info.numActionsSkippedOverlap} firings skipped by Temporal`);
    expect(runs.length).toBeGreaterThanOrEqual(3);
    expect(overlaps).toBe(0);
    expect(description.info.numActionsSkippedOverlap).toBeGreaterThan(0);
    await stack.api(`/v1/schedules/${scheduleId}`, { key, method: 'DELETE' });
  });

  it('firings allowed to overlap still keep the agent\'s concurrency limit: the extra runs wait queued, then complete', async () => {
    const { apiKey: key, orgId } = await stack.newOrg('Overlap under a limit', 10_000);
    const agentId = await agentOf(key, { provider: { kind: 'echo', delay_ms: 2_000 }, max_concurrent_runs: 1 });
    const created = await stack.api(`/v1/agents/${agentId}/schedules`, { key, body: { interval_seconds: 1, overlap_policy: 'allow_all', message: 'one at a time' } });
    expect(created.status).toBe(201);
    const scheduleId: string = created.body.id;

    let maxProcessing = 0;
    let sawQueued = false;
    const sample = async () => {
      const runs = await runsOf(agentId);
      maxProcessing = Math.max(maxProcessing, runs.filter((r) => r.status === 'processing').length);
      sawQueued ||= runs.some((r) => r.status === 'queued');
      return runs;
    };
    await eventually(async () => ((await sample()).length >= 4 ? true : undefined), 'four firings', 30_000);
    expect((await stack.api(`/v1/schedules/${scheduleId}/pause`, { key, method: 'POST' })).status).toBe(200);
    const runs = await eventually(async () => {
      const all = await sample();
      return all.every((r) => r.status === 'completed') && (await runningFirings(orgId, agentId)) === 0 ? all : undefined;
    }, 'every firing\'s run to complete one after the other', 60_000);
    const intervals = runs.map((r) => [r.started_at!.getTime(), r.completed_at!.getTime()] as const).sort((x, y) => x[0] - y[0]);
    const overlaps = intervals.filter((x, i) => i > 0 && x[0] < intervals[i - 1]![1]).length;
    console.log(`allow_all under max_concurrent_runs 1: ${runs.length} runs, at most ${maxProcessing} processing, ${overlaps} overlapping`);
    expect(sawQueued).toBe(true);
    expect(maxProcessing).toBe(1);
    expect(overlaps).toBe(0);
    await stack.api(`/v1/schedules/${scheduleId}`, { key, method: 'DELETE' });
  });

  it('a firing with an empty wallet records a failed run with the reason, announced as run.failed', async () => {
    const { apiKey: key, orgId } = await stack.newOrg('Empty wallet', 0);
    const agentId = await agentOf(key, { max_credits_per_run: 10, allow_callback_urls: true });
    const failures = await startReceiver('/failed');
    const callbacks = await startReceiver('/callback');
    try {
      expect((await stack.api('/v1/endpoints', { key, body: { url: failures.url, events: ['run.failed'] } })).status).toBe(201);
      const created = await stack.api(`/v1/agents/${agentId}/schedules`, {
        key,
        body: { cron: '0 0 1 1 *', message: 'no money', paused: true, callback_url: callbacks.url },
      });
      expect(created.status).toBe(201);
      expect((await stack.api(`/v1/schedules/${created.body.id}/trigger`, { key, method: 'POST' })).status).toBe(202);

      const failed = await eventually(async () => (await runsOf(agentId)).find((r) => r.status === 'failed'), 'the refused firing to be recorded');
      expect(failed).toMatchObject({ source: 'schedule', schedule_id: created.body.id, credits_used: 0, credits_held: 0, started_at: null });
      expect(failed.error).toMatch(/^insufficient credits/);
      const shown = await stack.api(`/v1/runs/${failed.id}`, { key });
      expect(shown.body).toMatchObject({ status: 'failed', error: expect.stringContaining('insufficient credits') });
      const delivered = await eventually(async () => failures.received.find((r) => r.body.includes(failed.id)), 'the run.failed delivery');
      expect(JSON.parse(delivered.body)).toMatchObject({ type: 'run.failed' });
      // Called back like any ending of a run with a callback_url.
      const calledBack = await eventually(async () => callbacks.received.find((r) => JSON.parse(r.body).run_key === failed.id), 'the refused run\'s callback');
      expect(JSON.parse(calledBack.body)).toMatchObject({ run_key: failed.id, status: 'failed' });
      expect((await stack.api('/v1/credits', { key })).body).toMatchObject({ balance: 0, held: 0 });
      await eventually(async () => ((await runningFirings(orgId, agentId)) === 0 ? true : undefined), 'the firing workflow to end');
      expect((await runsOf(agentId)).length).toBe(1);
    } finally {
      await failures.close();
      await callbacks.close();
    }
  });

  it('reads cron in its time zone, validates the spec and keeps tenants apart', async () => {
    const { apiKey: key } = await stack.newOrg('Cron');
    const { apiKey: otherKey } = await stack.newOrg('Other');
    const agentId = await agentOf(key);
    const created = await stack.api(`/v1/agents/${agentId}/schedules`, {
      key,
      body: { cron: '0 9 * * *', timezone: 'Asia/Kolkata', message: 'good morning', overlap_policy: 'buffer_one' },
    });
    expect(created.status).toBe(201);
    const shown = await stack.api(`/v1/schedules/${created.body.id}`, { key });
    // 09:00 in Kolkata (UTC+5:30, no daylight saving) is 03:30 UTC.
    expect(shown.body.next_run_at).toMatch(/T03:30:00(\.000)?Z$/);
    expect((await stack.temporal.schedule.getHandle(`schedule-${created.body.id}`).describe()).policies.overlap).toBe('BUFFER_ONE');

    const patched = await stack.api(`/v1/schedules/${created.body.id}`, { key, method: 'PATCH', body: { interval_seconds: 3600, overlap_policy: 'allow_all' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ cron: null, interval_seconds: 3600, overlap_policy: 'allow_all' });
    const after = await stack.temporal.schedule.getHandle(`schedule-${created.body.id}`).describe();
    expect(after.policies.overlap).toBe('ALLOW_ALL');
    expect(after.spec.intervals?.[0]?.every).toBe(3_600_000);

    for (const body of [
      { message: 'x' },
      { message: 'x', cron: '* * * * *', interval_seconds: 5 },
      { message: 'x', cron: 'not a cron' },
      { message: 'x', interval_seconds: 5, timezone: 'Mars/Olympus' },
      { message: 'x', interval_seconds: 5, end_at: '2020-01-01T00:00:00Z' },
    ]) {
      const refused = await stack.api(`/v1/agents/${agentId}/schedules`, { key, body });
      expect(refused.status, JSON.stringify(body)).toBe(422);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
    }

    const list = await stack.api(`/v1/agents/${agentId}/schedules`, { key });
    expect(list.body.data.map((s: { id: string }) => s.id)).toEqual([created.body.id]);
    expect((await stack.api(`/v1/schedules/${created.body.id}`, { key: otherKey })).status).toBe(404);
    expect((await stack.api(`/v1/schedules/${created.body.id}/trigger`, { key: otherKey, method: 'POST' })).status).toBe(404);
    expect((await stack.api(`/v1/schedules/${created.body.id}`, { key: otherKey, method: 'DELETE' })).status).toBe(404);
    expect((await stack.api(`/v1/agents/${agentId}/schedules`, { key: otherKey })).status).toBe(404);
    expect((await stack.api(`/v1/schedules/${created.body.id}`, { key })).status).toBe(200);
    await stack.api(`/v1/schedules/${created.body.id}`, { key, method: 'DELETE' });
  });

  it('stops for good once its agent is deleted: the next firing removes the Temporal Schedule and the row', async () => {
    const { apiKey: key } = await stack.newOrg('Deleted agent');
    const agentId = await agentOf(key);
    const created = await stack.api(`/v1/agents/${agentId}/schedules`, { key, body: { cron: '0 0 1 1 *', message: 'orphan', paused: true } });
    expect(created.status).toBe(201);
    expect((await stack.api(`/v1/agents/${agentId}`, { key, method: 'DELETE' })).status).toBe(204);
    const handle = stack.temporal.schedule.getHandle(`schedule-${created.body.id}`);
    await handle.trigger();
    await eventually(
      async () => (await handle.describe().then(() => false, (err) => err instanceof ScheduleNotFoundError)) || undefined,
      'the firing to remove the Temporal Schedule',
    );
    expect(await stack.database.db.selectFrom('schedules').select('id').where('id', '=', created.body.id).executeTakeFirst()).toBeUndefined();
    expect(await runsOf(agentId)).toEqual([]);
  });
});
