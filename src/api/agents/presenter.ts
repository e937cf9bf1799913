import type { z } from 'zod';
import type { Agent, AgentProvider } from '../../db/schema.js';
import type { AgentSchema } from './schema.js';

/** Header values of an http provider may be credentials: never read back. */
function maskProvider(provider: AgentProvider): Record<string, unknown> {
  if (provider.kind !== 'http' || !provider.headers) return { ...provider };
  return { ...provider, headers: Object.fromEntries(Object.keys(provider.headers).map((name) => [name, '***'])) };
}

export function presentAgent(agent: Agent): z.input<typeof AgentSchema> {
  return {
    id: agent.id,
    name: agent.name,
    instructions: agent.instructions,
    provider: maskProvider(agent.provider),
    allow_callback_urls: agent.allow_callback_urls,
    run_timeout_seconds: agent.run_timeout_seconds,
    max_credits_per_run: agent.max_credits_per_run,
    metadata: agent.metadata,
    created_at: agent.created_at.toISOString(),
    updated_at: agent.updated_at.toISOString(),
  };
}
