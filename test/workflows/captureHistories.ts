/**
 * Records `agentRun` histories for the replay test (test/workflows/agentRunReplay.test.ts):
 * `node --import tsx test/workflows/captureHistories.ts <label> <workflowsDir> [shape]` runs every ending
 * of the workflow code in `workflowsDir` (e.g. a `git archive` of an older commit's workflows/
 * placed inside the repository, so its imports resolve) against mocked activities on a fresh
 * dev server and writes test/fixtures/histories/<label>-<ending>.json. `shape` is the input's
 * `shape` (2: the two-task shape without its patch marker; 3: the one-activity shape, with the
 * run's deadline); without it the workflow is started as releases before `shape` did. Run once
 * per workflow version; the files are committed, the script is kept to record the next version.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { NativeConnection, Runtime, DefaultLogger, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { findTemporalCli } from '../../src/temporal/cli.js';
import { startTemporalDevServer } from '../../src/temporal/devServer.js';

const [label, workflowsDir, shapeArg] = process.argv.slice(2);
const shape = shapeArg ? Number(shapeArg) : undefined;
if (!label || !workflowsDir) throw new Error('usage: captureHistories.ts <label> <workflowsDir>');
const outDir = resolve('test/fixtures/histories');
mkdirSync(outDir, { recursive: true });

Runtime.install({ logger: new DefaultLogger('WARN') });
const cli = await findTemporalCli({ explicitPath: process.env.TEMPORAL_CLI, toolsDir: resolve('.tools') });
const server = await startTemporalDevServer({ cli, port: 0, uiPort: null, namespace: 'default' });
const connection = await Connection.connect({ address: server.address });
const client = new Client({ connection, namespace: 'default' });
const native = await NativeConnection.connect({ address: server.address });
const workflowBundle = await bundleWorkflowCode({ workflowsPath: resolve(workflowsDir, 'index.ts'), logger: new DefaultLogger('WARN') });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const reply = { text: 'Echo: hi', usage: { input_tokens: 1, output_tokens: 2 }, actions: [] };

interface Scenario {
  ending: string;
  timeoutSeconds?: number;
  hasCallback?: boolean;
  runAgent?: () => Promise<unknown>;
  completeDelayMs?: number;
  /** Cancel before any worker polls: the cancel arrives with the start. */
  cancelBeforeStart?: boolean;
  cancelAfterMs?: number;
  update?: boolean;
  expect: 'completed' | 'failed' | 'cancelled';
}

/** Heartbeats until cancelled (by the deadline or a cancel). */
async function agentThatNeverAnswers(): Promise<never> {
  const ctx = Context.current();
  for (;;) {
    ctx.heartbeat();
    await Promise.race([sleep(200), ctx.cancelled]).catch(() => undefined);
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure('agent run cancelled');
  }
}

const scenarios: Scenario[] = [
  { ending: 'completed', expect: 'completed' },
  { ending: 'completed-update', update: true, expect: 'completed' },
  { ending: 'completed-callback', hasCallback: true, expect: 'completed' },
  { ending: 'failed', runAgent: async () => { throw ApplicationFailure.create({ type: 'AgentError', message: 'agent answered 400', nonRetryable: true }); }, expect: 'failed' },
  { ending: 'timed-out', timeoutSeconds: 1, runAgent: agentThatNeverAnswers, expect: 'failed' },
  { ending: 'cancelled-before-start', cancelBeforeStart: true, expect: 'cancelled' },
  { ending: 'cancelled-during-agent', runAgent: agentThatNeverAnswers, cancelAfterMs: 1500, expect: 'cancelled' },
  { ending: 'cancel-after-answer', completeDelayMs: 1500, cancelAfterMs: 700, expect: 'completed' },
];

for (const s of scenarios) {
  const taskQueue = `capture-${randomUUID()}`;
  const plan = { timeoutSeconds: s.timeoutSeconds ?? 30, hasCallback: Boolean(s.hasCallback), callbackAttempts: 2 };
  let storing: Promise<unknown> | undefined;
  let completed: { status: string; credits_used: number; detail: null; result: string } | undefined;
  const activities = {
    async startRun() { return plan; },
    async startRunAndAnnounce() { return plan; },
    async announceStart() {},
    async runAgent() { return s.runAgent ? s.runAgent() : reply; },
    async completeRun() { if (s.completeDelayMs) await sleep(s.completeDelayMs); return 3; },
    async completeRunAndAnnounce() {
      if (s.completeDelayMs) await sleep(s.completeDelayMs);
      return { status: 'completed', credits_used: 3, detail: null, result: reply.text };
    },
    async announceCompletion() {},
    // Older shapes ignore its result; the two-task shape reports the stored ending.
    async endRun(_runId: string, status: string, detail: string | null) { return { status, credits_used: 0, detail, result: null }; },
    // The one-activity shape's activity and its other endings: an ending recorded while the
    // reply is being stored waits for it (the run's row lock) and reports the completion.
    async runToEnd() {
      const answer = s.runAgent ? await s.runAgent() : reply;
      storing = s.completeDelayMs ? sleep(s.completeDelayMs) : undefined;
      await storing;
      completed = { status: 'completed', credits_used: 3, detail: null, result: (answer as typeof reply).text };
      return { outcome: completed, plan };
    },
    async recordEnding(_runId: string, status: string, detail: string | null) {
      await storing;
      return { outcome: completed ?? { status, credits_used: 0, detail, result: null }, plan };
    },
    async deliverCallback() {},
    async acquireEndpointSlot() { return true; },
    async releaseEndpointSlot() {},
  };
  const workflowId = `run-${randomUUID()}`;
  const runId = workflowId.slice(4);
  const input = shape === 3 ? { runId, shape, timeoutSeconds: plan.timeoutSeconds } : shape === 2 ? { runId, shape } : { runId };
  const handle = await client.workflow.start('agentRun', { taskQueue, workflowId, args: [input] });
  if (s.cancelBeforeStart) await handle.cancel();
  const worker = await Worker.create({ connection: native, taskQueue, workflowBundle, activities });
  await worker.runUntil(async () => {
    if (s.update) await handle.executeUpdate('runOutcome');
    if (s.cancelAfterMs) {
      await sleep(s.cancelAfterMs);
      await handle.cancel();
    }
    const ended = await handle.result().then(
      () => 'completed',
      (err) => (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure ? 'cancelled' : 'failed'),
    );
    if (ended !== s.expect) throw new Error(`${label}/${s.ending}: ended ${ended}, expected ${s.expect}`);
  });
  const history = await handle.fetchHistory();
  writeFileSync(resolve(outDir, `${label}-${s.ending}.json`), `${JSON.stringify(history, null, 1)}\n`);
  console.log(`${label}-${s.ending}: ${history.events?.length} events`);
}
await connection.close();
await native.close();
await server.stop();
