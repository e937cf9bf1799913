import { defineUpdate } from '@temporalio/workflow';

/** How a run ended, as the synchronous webhook answers it. */
export interface RunOutcome {
  status: 'completed' | 'failed' | 'cancelled' | 'timed_out';
  credits_used: number;
  detail: string | null;
  /** The agent's reply when completed. */
  result: string | null;
}

/**
 * Resolves as soon as the run's outcome is stored (the reply charged and saved, or the run
 * ended otherwise), before the workflow's remaining steps (search attributes, callback).
 * The sync webhook waits on this rather than on the workflow result: it answers one workflow
 * task earlier and never waits for the callback child to be started.
 */
export const runOutcomeUpdate = defineUpdate<RunOutcome>('runOutcome');
