import type { z } from 'zod';
import type { Config } from '../../config.js';
import { publicUrl } from '../../config.js';
import type { Run } from '../../db/schema.js';
import { runWorkflowId } from '../../services/runs.js';
import type { RunSchema } from './schema.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function runLinks(config: Config, run: Pick<Run, 'id'>) {
  const base = publicUrl(config);
  return {
    self: `${base}/v1/runs/${run.id}`,
    events: `${base}/v1/runs/${run.id}/events`,
    temporal_ui: config.TEMPORAL_UI_URL
      ? `${config.TEMPORAL_UI_URL.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows/${runWorkflowId(run.id)}`
      : null,
  };
}

export function presentRun(config: Config, run: Run): z.input<typeof RunSchema> {
  return {
    run_id: run.id,
    agent_id: run.agent_id,
    source: run.source,
    status: run.status,
    status_detail: run.status_detail,
    result: run.result,
    error: run.error,
    created_at: iso(run.created_at)!,
    started_at: iso(run.started_at),
    completed_at: iso(run.completed_at),
    usage: { input_tokens: run.input_tokens, output_tokens: run.output_tokens },
    credits_used: run.credits_used,
    actions_dropped: run.actions_dropped,
    conversation_id: run.conversation_id,
    subject: run.subject,
    context: run.context,
    task_definition_id: run.task_definition_id,
    callback_url: run.callback_url,
    metadata: run.metadata,
    links: runLinks(config, run),
  };
}

export function presentAccepted(config: Config, run: Run) {
  const links = runLinks(config, run);
  return { trigger_id: run.id, run_id: run.id, status: 'processing' as const, status_url: links.self, events_url: links.events };
}
