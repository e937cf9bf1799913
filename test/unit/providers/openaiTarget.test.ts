import { describe, expect, it } from 'vitest';
import { resolveOpenAiTarget } from '../../../activities/providers/openaiTarget.js';
import { parseConfig } from '../../../src/config.js';
import type { OpenAiProvider } from '../../../src/db/schema.js';
import { modelProviderRegistry } from '../../../src/outbound/modelProviders.js';
import type { HttpClient } from '../../../src/outbound/types.js';
import { createSecretBox } from '../../../src/secrets/box.js';
import { failureOf } from './support.js';

const guarded: HttpClient = { send: () => Promise.reject(new Error('not used')) };
const box = createSecretBox(Buffer.alloc(32, 7));
const config = parseConfig({
  MODEL_PROVIDERS: JSON.stringify([
    { name: 'openai', base_url: 'https://api.openai.com/v1', api_key_env: 'OPERATOR_OPENAI_KEY', models: ['gpt-4o-mini'] },
    { name: 'ollama', base_url: 'http://10.1.2.3:11434/v1', allow_private: true },
  ]),
});
const env = { OPERATOR_OPENAI_KEY: 'sk-operator', ADMIN_TOKEN: 'admin-token-value-1234' };
const registry = modelProviderRegistry(config, env, guarded);
const deps = { modelProviders: registry, secrets: box, http: guarded };
const resolve = (provider: Omit<OpenAiProvider, 'kind'>) => resolveOpenAiTarget({ kind: 'openai', ...provider }, deps);
const failure = (provider: Omit<OpenAiProvider, 'kind'>) => failureOf(Promise.resolve().then(() => resolve(provider)));

describe('resolveOpenAiTarget', () => {
  it('an operator provider brings its own key and, only when declared private, its own client', () => {
    const openai = resolve({ provider: 'openai', model: 'gpt-4o-mini' });
    expect(openai.target).toMatchObject({ baseUrl: 'https://api.openai.com/v1', apiKey: 'sk-operator', model: 'gpt-4o-mini' });
    expect(openai.http).toBe(guarded);
    const ollama = resolve({ provider: 'ollama', model: 'llama3.1' });
    expect(ollama.target).toMatchObject({ baseUrl: 'http://10.1.2.3:11434/v1', apiKey: undefined });
    expect(ollama.http).not.toBe(guarded);
  });

  it('a tenant\'s own base_url gets its own sealed key opened, and the guarded client', () => {
    const own = resolve({ base_url: 'https://llm.example.com/v1', api_key: box.seal('sk-tenant'), model: 'm' });
    expect(own.target).toMatchObject({ baseUrl: 'https://llm.example.com/v1', apiKey: 'sk-tenant' });
    expect(own.http).toBe(guarded);
  });

  it('a stored agent naming a variable gets nothing, and the same words whether the variable is set or not', async () => {
    const set = await failure({ base_url: 'https://tenant.example/v1', api_key_env: 'ADMIN_TOKEN', model: 'm' });
    const unset = await failure({ base_url: 'https://tenant.example/v1', api_key_env: 'NO_SUCH_VARIABLE_XYZ', model: 'm' });
    expect(set).toMatchObject({ type: 'ProviderMisconfigured', nonRetryable: true });
    expect(set.message.replace('ADMIN_TOKEN', 'X')).toBe(unset.message.replace('NO_SUCH_VARIABLE_XYZ', 'X'));
    expect(set.message).not.toContain(env.ADMIN_TOKEN);
    // Also for the operator's own variable at a URL the operator did not declare with it.
    const elsewhere = await failure({ base_url: 'https://tenant.example/v1', api_key_env: 'OPERATOR_OPENAI_KEY', model: 'm' });
    expect(elsewhere.message).toBe(set.message);
  });

  it('a stored agent naming exactly a declared provider\'s URL and variable keeps working', () => {
    const legacy = resolve({ base_url: 'https://api.openai.com/v1/', api_key_env: 'OPERATOR_OPENAI_KEY', model: 'gpt-4o-mini' });
    expect(legacy.target).toMatchObject({ baseUrl: 'https://api.openai.com/v1', apiKey: 'sk-operator' });
  });

  it('an unknown provider or an unoffered model fails permanently', async () => {
    expect(await failure({ provider: 'gone', model: 'm' })).toMatchObject({ type: 'ProviderMisconfigured', nonRetryable: true });
    expect((await failure({ provider: 'openai', model: 'gpt-5' })).message).toMatch(/does not offer model "gpt-5"/);
  });
});

describe('modelProviderRegistry', () => {
  it('refuses to start when a declared key variable is unset (an operator error, never a tenant-visible one)', () => {
    expect(() => modelProviderRegistry(config, {}, guarded)).toThrow(/MODEL_PROVIDERS provider "openai" reads its key from OPERATOR_OPENAI_KEY, which is not set/);
  });

  it('MODEL_PROVIDERS must be a JSON array of providers with distinct names', () => {
    expect(() => parseConfig({ MODEL_PROVIDERS: 'not json' })).toThrow(/MODEL_PROVIDERS must be a JSON array/);
    expect(() => parseConfig({ MODEL_PROVIDERS: '[{"name":"a","base_url":"https://x"},{"name":"a","base_url":"https://y"}]' })).toThrow(/twice/);
    expect(parseConfig({}).MODEL_PROVIDERS).toEqual([]);
  });
});
