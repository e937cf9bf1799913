import type { Client } from '@temporalio/client';

/**
 * Runs whose workflow still shows RunStatus "processing" in Temporal's visibility. A run's
 * slot is held until its workflow has announced the ending, not only until the database row
 * ends: after a worker dies the workflow's last steps wait for another worker, and admitting
 * in that gap would show more runs processing in the Web UI than the limit. Admission counts
 * these together with the runs processing in the database (src/db/runQueue.ts).
 */
export async function runsHoldingSlotsInTemporal(temporal: Client, orgId: string, limit = 2_000): Promise<string[]> {
  const ids: string[] = [];
  // orgId is a UUID (checked where it came from): nothing of it can change the query.
  const query = `OrgId = "${orgId}" AND RunStatus = "processing" AND ExecutionStatus = "Running"`;
  for await (const workflow of temporal.workflow.list({ query, pageSize: 500 })) {
    if (workflow.workflowId.startsWith('run-')) ids.push(workflow.workflowId.slice('run-'.length));
    if (ids.length >= limit) break;
  }
  return ids;
}
