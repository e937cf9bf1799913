import type { Config } from '../../config.js';
import { publicUrl } from '../../config.js';
import type { Run } from '../../db/schema.js';
import { runWorkflowId } from '../../services/runs.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function runLinks(config: Config, run: Run) {
  const base = publicUrl(config);
  return {
    self: `${base}/v1/runs/${run.id}`,
    temporal_ui: config.TEMPORAL_UI_URL
      ? `${config.TEMPORAL_UI_URL.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(config.TEMPORAL_NAMESPACE)}/workflows/${runWorkflowId(run.id)}`
      : null,
  };
}

export function presentRun(config: Config, run: Run) {
  return {
    run_id: run.id,
    agent_id: run.agent_id,
    source: run.source,
    status: run.status,
    result: run.result,
    error: run.error,
    created_at: iso(run.created_at),
    started_at: iso(run.started_at),
    completed_at: iso(run.completed_at),
    usage: { input_tokens: run.input_tokens, output_tokens: run.output_tokens },
    credits_used: run.credits_used,
    metadata: run.metadata,
    links: runLinks(config, run),
  };
}
