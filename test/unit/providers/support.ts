import { ApplicationFailure } from '@temporalio/common';
import { expect, vi } from 'vitest';
import type { AgentContext, ProviderDeps } from '../../../activities/providers/types.js';
import { loopbackHttpClient } from './loopbackHttpClient.js';

/** Real loopback HTTP underneath, with spies so tests can see what the provider asked the client for. */
export function makeDeps(overrides: Partial<ProviderDeps> = {}) {
  const client = loopbackHttpClient();
  const send = vi.fn(client.send);
  const heartbeat = vi.fn();
  const deps: ProviderDeps = { http: { send }, heartbeat, signal: new AbortController().signal, ...overrides };
  return { deps, send, heartbeat };
}

export function makeContext(overrides: Partial<AgentContext> = {}): AgentContext {
  return {
    runId: 'run_123',
    message: 'What is the order status?',
    instructions: 'You are a support agent.',
    context: {},
    conversation: [],
    outputType: 'text',
    ...overrides,
  };
}

/** The ApplicationFailure a call rejected with; fails the test if it resolved or threw something else. */
export async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const outcome = await promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(ApplicationFailure);
  return outcome.error as ApplicationFailure;
}
