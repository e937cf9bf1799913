import { ActivityFailure, ApplicationFailure, proxyActivities, upsertSearchAttributes, setCurrentDetails } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { RunStatusKey } from './searchAttributes.js';

export interface AgentRunInput {
  runId: string;
}

export interface AgentRunResult {
  runId: string;
  status: 'completed';
  credits_used: number;
}

// Bookkeeping is quick DB work: retry transient failures (DB restarts) for a long time.
const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

// The agent may think for minutes; heartbeats let Temporal notice a dead worker in seconds.
const agent = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '5 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
});

/** One agent run, workflow id `run-<runId>`: start → agent → store the reply. */
export async function agentRun({ runId }: AgentRunInput): Promise<AgentRunResult> {
  await bookkeeping.markRunStarted.executeWithOptions({ summary: 'mark run started' }, [runId]);
  setCurrentDetails('Agent is working on the message');
  try {
    const reply = await agent.runAgent.executeWithOptions({ summary: 'run the agent' }, [runId]);
    await bookkeeping.completeRun.executeWithOptions({ summary: 'store the reply' }, [runId, reply]);
    upsertSearchAttributes([{ key: RunStatusKey, value: 'completed' }]);
    setCurrentDetails('Completed');
    return { runId, status: 'completed', credits_used: 0 };
  } catch (err) {
    const message = describeFailure(err);
    await bookkeeping.failRun.executeWithOptions({ summary: 'record the failure' }, [runId, message]);
    upsertSearchAttributes([{ key: RunStatusKey, value: 'failed' }]);
    setCurrentDetails(`Failed: ${message}`);
    throw err;
  }
}

function describeFailure(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  if (err instanceof ApplicationFailure) return err.message;
  return 'agent run failed';
}
