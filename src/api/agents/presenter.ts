import type { Agent } from '../../db/schema.js';

export function presentAgent(agent: Agent) {
  return {
    id: agent.id,
    name: agent.name,
    instructions: agent.instructions,
    provider: agent.provider,
    allow_callback_urls: agent.allow_callback_urls,
    run_timeout_seconds: agent.run_timeout_seconds,
    metadata: agent.metadata,
    created_at: agent.created_at.toISOString(),
    updated_at: agent.updated_at.toISOString(),
  };
}
