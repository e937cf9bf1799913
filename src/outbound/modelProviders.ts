import { ConfigError, type Config, type ModelProviderConfig } from '../config.js';
import { createHttpClient } from './client.js';
import type { HttpClient } from './types.js';

/** An operator-declared model provider as the worker uses it: its key already read, its own client. */
export interface OperatorModelProvider {
  name: string;
  baseUrl: string;
  models: readonly string[];
  /** Read once at start from the variable the operator named; undefined for keyless servers. */
  apiKey: string | undefined;
  /** The guarded client, or for `allow_private` one that may reach this operator-chosen address over plain HTTP. */
  http: HttpClient;
  keyEnv: string | undefined;
}

export interface ModelProviderRegistry {
  byName(name: string): OperatorModelProvider | undefined;
  /** A stored legacy agent (`base_url` + `api_key_env`) matches a provider the operator declared with both. */
  byLegacyTarget(baseUrl: string, keyEnv: string): OperatorModelProvider | undefined;
}

const sameUrl = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

/** What tenants may see of the configured providers: names and models, nothing else. */
export function publicModelProviders(config: Pick<Config, 'MODEL_PROVIDERS'>): Array<{ name: string; models: string[] }> {
  return config.MODEL_PROVIDERS.map((p) => ({ name: p.name, models: [...p.models] }));
}

/**
 * Built once per worker. The keys come from the worker's environment here and only here, for
 * variables the operator named in MODEL_PROVIDERS: a tenant can pick a provider, never a
 * variable. A declared variable that is unset stops the worker at start (an operator error),
 * so no run can ever tell a set variable from an unset one.
 */
export function modelProviderRegistry(
  config: Pick<Config, 'MODEL_PROVIDERS'>,
  env: Record<string, string | undefined>,
  guarded: HttpClient,
): ModelProviderRegistry {
  const providers = config.MODEL_PROVIDERS.map((p: ModelProviderConfig): OperatorModelProvider => {
    const apiKey = p.api_key_env ? env[p.api_key_env] : undefined;
    if (p.api_key_env && !apiKey) {
      throw new ConfigError('MODEL_PROVIDERS', `provider "${p.name}" reads its key from ${p.api_key_env}, which is not set`);
    }
    // The address is the operator's own choice, never a tenant's: it may be private or plain HTTP.
    const http = p.allow_private
      ? createHttpClient({ requireHttps: false, allowedCidrs: ['0.0.0.0/0', '::/0'] })
      : guarded;
    return { name: p.name, baseUrl: p.base_url, models: p.models, apiKey, http, keyEnv: p.api_key_env };
  });
  return {
    byName: (name) => providers.find((p) => p.name === name),
    byLegacyTarget: (baseUrl, keyEnv) => providers.find((p) => p.keyEnv === keyEnv && sameUrl(p.baseUrl, baseUrl)),
  };
}
