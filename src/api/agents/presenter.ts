import type { z } from 'zod';
import type { Agent, AgentProvider } from '../../db/schema.js';
import { maskUrlCredentials } from '../../domain/urlCredentials.js';
import type { AgentSchema } from './schema.js';

/**
 * Header values of an http provider and a tenant's model API key are credentials: never read
 * back; nor a URL's user:pass@ (refused today, masked for rows stored before).
 */
function maskProvider(provider: AgentProvider): Record<string, unknown> {
  if (provider.kind === 'openai') {
    return {
      ...provider,
      ...(provider.base_url !== undefined ? { base_url: maskUrlCredentials(provider.base_url) } : {}),
      ...(provider.api_key !== undefined ? { api_key: '***' } : {}),
    };
  }
  if (provider.kind !== 'http') return { ...provider };
  const url = maskUrlCredentials(provider.url);
  if (!provider.headers) return { ...provider, url };
  return { ...provider, url, headers: Object.fromEntries(Object.keys(provider.headers).map((name) => [name, '***'])) };
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
    max_concurrent_runs: agent.max_concurrent_runs,
    metadata: agent.metadata,
    created_at: agent.created_at.toISOString(),
    updated_at: agent.updated_at.toISOString(),
  };
}
