import { randomUUID } from 'node:crypto';
import { WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { AgentRunInput } from '../../workflows/index.js';
import { AgentIdKey, OrgIdKey, RunSourceKey, RunStatusKey } from '../../workflows/searchAttributes.js';
import { deleteRun, insertRun } from '../db/queries.js';
import type { Agent, Database, Run, RunSource } from '../db/schema.js';
import { serviceUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';

export interface RunServiceDeps {
  db: Kysely<Database>;
  temporal: Client;
  taskQueue: string;
  log: Logger;
}

const START_DEADLINE_MS = 5_000;

export const runWorkflowId = (runId: string) => `run-${runId}`;

export interface StartRunInput {
  agent: Agent;
  message: string;
  source: RunSource;
  metadata?: unknown;
}

/**
 * Stores the run, then starts its workflow. If Temporal refuses, the row is removed and the
 * caller gets a 503: nothing is acknowledged that no workflow will ever pick up.
 */
export async function startRun(deps: RunServiceDeps, input: StartRunInput): Promise<Run> {
  const runId = randomUUID();
  const run = await insertRun(deps.db, {
    id: runId,
    org_id: input.agent.org_id,
    agent_id: input.agent.id,
    source: input.source,
    status: 'processing',
    message: input.message,
    result: null,
    error: null,
    input_tokens: null,
    output_tokens: null,
    metadata: JSON.stringify(input.metadata ?? {}),
  });

  try {
    // Bounded: with the engine down the caller gets a prompt 503, not a hung request.
    await deps.temporal.withDeadline(Date.now() + START_DEADLINE_MS, () =>
      deps.temporal.workflow.start('agentRun', {
        workflowId: runWorkflowId(runId),
        taskQueue: deps.taskQueue,
        args: [{ runId } satisfies AgentRunInput],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: [
          { key: OrgIdKey, value: input.agent.org_id },
          { key: AgentIdKey, value: input.agent.id },
          { key: RunSourceKey, value: input.source },
          { key: RunStatusKey, value: 'processing' },
        ],
        staticSummary: truncate(`Run of agent "${input.agent.name}" (${input.source})`, 190),
        staticDetails: `**Run** \`${runId}\`\n\n**Agent** ${input.agent.name} (\`${input.agent.id}\`)\n\n**Org** \`${input.agent.org_id}\`\n\n**Source** ${input.source}`,
      }),
    );
  } catch (err) {
    deps.log.error({ err, run_id: runId }, 'could not start the run workflow');
    await deleteRun(deps.db, runId).catch((cleanupErr) =>
      deps.log.error({ err: cleanupErr, run_id: runId }, 'could not remove the unstarted run'),
    );
    throw serviceUnavailable('The workflow engine');
  }
  return run;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
