import { runWorkflowId } from '../../workflows/ids.js';
import { reconcileUnstartedRuns, type ReconcilerDeps } from '../../src/services/runReconciler.js';

/**
 * Sweeps for unstarted runs the way the API's reconciler does (each sweep begins where the last
 * one's examination ended) until `run` has been examined, and says whether one of these sweeps
 * started its workflow. Test files share one database: a sweep here may have older unstarted runs
 * of other files ahead of `run` (a batch holds 100), and another file's sweep may start `run`
 * first, in which case its workflow already exists and this answers 'started elsewhere'.
 */
export async function sweepUntilExamined(
  deps: ReconcilerDeps,
  run: { id: string; created_at: Date },
  minAgeMs: number,
  timeoutMs = 60_000,
): Promise<'started here' | 'started elsewhere'> {
  let since = new Date(0);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const sweep = await reconcileUnstartedRuns(deps, minAgeMs, since);
    if (sweep?.started.includes(run.id)) return 'started here';
    if (sweep && sweep.examinedUpTo.getTime() >= run.created_at.getTime()) {
      await deps.temporal.workflow.getHandle(runWorkflowId(run.id)).describe();
      return 'started elsewhere';
    }
    // null: another sweep holds the lock; otherwise the batch ended (or a start failed) before `run`.
    if (sweep) since = sweep.examinedUpTo;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no sweep examined run ${run.id} within ${timeoutMs} ms`);
}
