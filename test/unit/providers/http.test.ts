import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { callHttpAgent } from '../../../activities/providers/http.js';
import type { HttpProvider } from '../../../src/db/schema.js';
import { type FakeOpenAi, startFakeOpenAi } from '../../support/fakeOpenAi.js';
import { failureOf, makeContext, makeDeps } from './support.js';

const HEADER_SECRET = 'agent-secret-93b1';
let agent: FakeOpenAi;
let provider: HttpProvider;

beforeAll(async () => {
  agent = await startFakeOpenAi();
});
afterAll(() => agent.close());
beforeEach(() => {
  agent.requests.length = 0;
  provider = { kind: 'http', url: `${agent.origin}/agent`, headers: { 'X-Agent-Key': HEADER_SECRET, 'Content-Type': 'text/plain' } };
});
const ok = (body: unknown) => ({ status: 200, body });

describe('callHttpAgent request', () => {
  it('posts the run as JSON with the configured headers and timeout', async () => {
    agent.answer(ok({ response: 'done' }));
    const ctx = makeContext({
      outputType: 'json',
      context: { order_id: 'A-17', vip: false },
      conversation: [{ role: 'user', content: 'Hi' }],
    });
    const { deps, send } = makeDeps();
    await callHttpAgent({ ...provider, timeout_seconds: 15 }, ctx, deps);

    const [req] = agent.requests;
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/agent');
    expect(req!.headers['x-agent-key']).toBe(HEADER_SECRET);
    expect(req!.headers['content-type']).toBe('application/json'); // ours wins: the body is JSON
    expect(req!.json).toEqual({
      run_id: 'run_123',
      message: 'What is the order status?',
      instructions: 'You are a support agent.',
      context: { order_id: 'A-17', vip: false },
      conversation: [{ role: 'user', content: 'Hi' }],
      output_type: 'json',
      tools: [],
    });
    expect(send.mock.calls[0]![0].timeoutMs).toBe(15_000);
  });

  it('waits 60 seconds by default', async () => {
    agent.answer(ok({ response: 'done' }));
    const { deps, send } = makeDeps();
    await callHttpAgent({ kind: 'http', url: provider.url }, makeContext(), deps);
    expect(send.mock.calls[0]![0].timeoutMs).toBe(60_000);
  });
});

describe('callHttpAgent reply', () => {
  it('returns the response, usage and actions the agent reported', async () => {
    const actions = [{ type: 'tool_call', name: 'lookup_order', input: { id: 'A-17' }, output: { status: 'shipped' } }];
    agent.answer(ok({ response: 'It shipped.', usage: { input_tokens: 12, output_tokens: 3 }, actions }));
    const reply = await callHttpAgent(provider, makeContext(), makeDeps().deps);
    expect(reply).toEqual({ text: 'It shipped.', usage: { input_tokens: 12, output_tokens: 3 }, actions });
  });

  it('estimates usage when the agent reports none', async () => {
    agent.answer(ok({ response: 'y'.repeat(9) }));
    const ctx = makeContext({ instructions: 'a'.repeat(10), message: 'b'.repeat(10) });
    const reply = await callHttpAgent(provider, ctx, makeDeps().deps);
    expect(reply).toEqual({ text: 'yyyyyyyyy', usage: { input_tokens: 5, output_tokens: 3 }, actions: [] });
  });

  it.each([
    ['a missing response', { reply: 'hello' }, /response/],
    ['a non-numeric usage', { response: 'x', usage: { input_tokens: '3', output_tokens: 1 } }, /usage\.input_tokens/],
    ['an action without a type', { response: 'x', actions: [{ name: 'lookup' }] }, /actions\.0\.type/],
    ['a body that is not JSON', '<html>oops</html>', /not JSON/],
  ])('rejects %s as a permanent protocol error saying what was wrong', async (_name, body, pattern) => {
    agent.answer(ok(body));
    const failure = await failureOf(callHttpAgent(provider, makeContext(), makeDeps().deps));
    expect(failure).toMatchObject({ type: 'ProviderProtocolError', nonRetryable: true });
    expect(failure.message).toMatch(pattern);
  });
});

describe('callHttpAgent failures', () => {
  it('503 with Retry-After is retryable after that delay', async () => {
    agent.answer({ status: 503, headers: { 'Retry-After': '12' }, body: { error: 'warming up' } });
    const failure = await failureOf(callHttpAgent(provider, makeContext(), makeDeps().deps));
    expect(failure).toMatchObject({ type: 'ProviderUnavailable', nonRetryable: false, nextRetryDelay: 12_000 });
    expect(failure.message).toContain('503: warming up');
  });

  it.each([408, 409])('%i is retryable', async (status) => {
    agent.answer({ status, body: { message: 'try again' } });
    const failure = await failureOf(callHttpAgent(provider, makeContext(), makeDeps().deps));
    expect(failure).toMatchObject({ type: 'ProviderUnavailable', nonRetryable: false });
  });

  it.each([400, 403, 404, 422])('%i is permanent and keeps header values out of the message', async (status) => {
    agent.answer({ status, body: { message: `rejected header value ${HEADER_SECRET}` } });
    const failure = await failureOf(callHttpAgent(provider, makeContext(), makeDeps().deps));
    expect(failure).toMatchObject({ type: 'ProviderRejected', nonRetryable: true });
    expect(failure.message).toContain(String(status));
    expect(failure.message).not.toContain(HEADER_SECRET);
  });

  it('a timeout is retryable, and heartbeats kept coming while waiting', async () => {
    agent.answer({ status: 200, body: { response: 'late' }, delayMs: 2500 });
    const { deps, heartbeat } = makeDeps();
    const failure = await failureOf(callHttpAgent({ ...provider, timeout_seconds: 1.5 }, makeContext(), deps));
    expect(failure).toMatchObject({ type: 'ProviderUnavailable', nonRetryable: false });
    expect(failure.message).toContain('timeout');
    expect(heartbeat).toHaveBeenCalledTimes(1);
  });

  it('an invalid URL is permanent', async () => {
    const failure = await failureOf(callHttpAgent({ ...provider, url: 'not a url' }, makeContext(), makeDeps().deps));
    expect(failure).toMatchObject({ type: 'ProviderRejected', nonRetryable: true });
    expect(agent.requests).toHaveLength(0);
  });
});
