import type { z } from 'zod';
import type { Config } from '../../config.js';
import { publicUrl } from '../../config.js';
import type { Delivery, Run } from '../../db/schema.js';
import { maskUrlCredentials } from '../../domain/urlCredentials.js';
import { runWorkflowId } from '../../../workflows/ids.js';
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

/**
 * The callback's delivery state in the run (null without a callback_url): `not_sent` until
 * the run ends and its first attempt is made. Every attempt: GET /v1/runs/{id}/deliveries.
 */
export function presentCallback(run: Pick<Run, 'callback_url'>, delivery: Delivery | undefined, last?: { status_code: number | null; error: string | null }) {
  if (!run.callback_url) return null;
  return {
    url: maskUrlCredentials(run.callback_url),
    status: delivery ? delivery.status : ('not_sent' as const),
    delivery_id: delivery?.id ?? null,
    webhook_id: delivery?.message_id ?? null,
    attempts: delivery?.attempts ?? 0,
    last_attempt_at: iso(delivery?.last_attempt_at ?? null),
    last_status_code: last?.status_code ?? null,
    last_error: last?.error ?? null,
  };
}

export function presentRun(config: Config, run: Run, callback: ReturnType<typeof presentCallback> = presentCallback(run, undefined)): z.input<typeof RunSchema> {
  return {
    trigger_id: run.id,
    run_id: run.id,
    agent_id: run.agent_id,
    source: run.source,
    status: run.status,
    status_detail: run.status_detail,
    result: run.result,
    error: run.error,
    created_at: iso(run.created_at)!,
    started_at: iso(run.started_at),
    run_at: iso(run.run_at),
    schedule_id: run.schedule_id,
    completed_at: iso(run.completed_at),
    usage: { input_tokens: run.input_tokens, output_tokens: run.output_tokens },
    credits_used: run.credits_used,
    actions_dropped: run.actions_dropped,
    conversation_id: run.conversation_id,
    subject: run.subject,
    context: run.context,
    task_definition_id: run.task_definition_id,
    callback_url: maskUrlCredentials(run.callback_url),
    callback,
    metadata: run.metadata,
    links: runLinks(config, run),
  };
}

export function presentAccepted(config: Config, run: Run) {
  const links = runLinks(config, run);
  const status = run.status === 'scheduled' || run.status === 'queued' ? run.status : ('processing' as const);
  return { trigger_id: run.id, run_id: run.id, status, status_url: links.self, events_url: links.events };
}
