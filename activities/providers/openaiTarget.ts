import { ApplicationFailure } from '@temporalio/activity';
import type { OpenAiProvider } from '../../src/db/schema.js';
import type { ModelProviderRegistry } from '../../src/outbound/modelProviders.js';
import type { HttpClient } from '../../src/outbound/types.js';
import type { SecretBox } from '../../src/secrets/box.js';
import type { OpenAiTarget } from './openai.js';

const misconfigured = (message: string) => ApplicationFailure.create({ type: 'ProviderMisconfigured', message, nonRetryable: true });

/**
 * Where an openai agent's run goes and with which key and client. A tenant's own base_url goes
 * through the guarded client with the tenant's own (sealed) key; an operator provider brings
 * its key and, when declared private, a client that may reach its address. Nothing here
 * reads the environment: an agent that still names a variable (stored before 2026-11-30) runs
 * only where the operator declared that very URL and variable as a provider, and otherwise
 * fails with the same words whether or not such a variable exists.
 */
export function resolveOpenAiTarget(
  provider: OpenAiProvider,
  deps: { modelProviders: ModelProviderRegistry; secrets: SecretBox; http: HttpClient },
): { target: OpenAiTarget; http: HttpClient } {
  const tuning = { model: provider.model, temperature: provider.temperature, max_tokens: provider.max_tokens };
  if (provider.provider !== undefined) {
    const operator = deps.modelProviders.byName(provider.provider);
    if (!operator) throw misconfigured(`model provider "${provider.provider}" is not offered by this deployment (GET /v1/model-providers lists them)`);
    if (operator.models.length && !operator.models.includes(provider.model)) {
      throw misconfigured(`model provider "${operator.name}" does not offer model "${provider.model}"`);
    }
    return { target: { baseUrl: operator.baseUrl, apiKey: operator.apiKey, ...tuning }, http: operator.http };
  }
  if (provider.base_url === undefined) throw misconfigured('the agent names neither a model provider nor a base_url');
  if (provider.api_key_env !== undefined) {
    const operator = deps.modelProviders.byLegacyTarget(provider.base_url, provider.api_key_env);
    if (!operator) {
      throw misconfigured(
        'this agent names a worker environment variable (api_key_env), which is no longer honoured: ' +
          'set provider to an operator\'s model provider, or base_url with your own api_key',
      );
    }
    return { target: { baseUrl: operator.baseUrl, apiKey: operator.apiKey, ...tuning }, http: operator.http };
  }
  const apiKey = provider.api_key === undefined ? undefined : deps.secrets.open(provider.api_key);
  return { target: { baseUrl: provider.base_url, apiKey, ...tuning }, http: deps.http };
}
