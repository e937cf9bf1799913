import { finishRun, markRunStarted } from '../src/db/queries.js';
import type { AgentReply } from './agents.js';
import type { ActivityDeps } from './deps.js';

/** Run bookkeeping. Each write is idempotent by run id, so retries and replays are harmless. */
export function createRunActivities(deps: ActivityDeps) {
  return {
    async markRunStarted(runId: string): Promise<void> {
      await markRunStarted(deps.db, runId, deps.clock());
    },

    /** Stores the reply once; returns false when the run had already ended. */
    async completeRun(runId: string, reply: AgentReply): Promise<boolean> {
      return finishRun(deps.db, runId, {
        status: 'completed',
        result: reply.text,
        inputTokens: reply.usage.input_tokens,
        outputTokens: reply.usage.output_tokens,
        now: deps.clock(),
      });
    },

    async failRun(runId: string, error: string): Promise<boolean> {
      return finishRun(deps.db, runId, { status: 'failed', error, now: deps.clock() });
    },
  };
}
