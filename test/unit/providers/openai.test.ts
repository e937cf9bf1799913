import { CancelledFailure } from '@temporalio/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../../activities/providers/exchange.js';
import { callOpenAi, type OpenAiTarget } from '../../../activities/providers/openai.js';
import { completion, type FakeOpenAi, malformedJson, openAiError, startFakeOpenAi, toolCalls } from '../../support/fakeOpenAi.js';
import { failureOf, makeContext, makeDeps } from './support.js';

const KEY = 'sk-test-4f1c9e0b7a2d';
let fake: FakeOpenAi;
let provider: OpenAiTarget;

beforeAll(async () => {
  fake = await startFakeOpenAi();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
  provider = { baseUrl: `${fake.baseUrl}/`, model: 'gpt-test', apiKey: KEY };
});
const withKey = () => makeDeps();

describe('callOpenAi request', () => {
  it('sends model, system/conversation/user messages with context, the bearer key and json mode', async () => {
    fake.answer(completion('{"status":"shipped"}', { prompt_tokens: 40, completion_tokens: 6 }));
    const ctx = makeContext({
      outputType: 'json',
      context: { order_id: 'A-17', total: 12.5, vip: true, note: null, address: 'line 1\nline 2' },
      conversation: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello, how can I help?' },
      ],
    });
    const { deps, send } = withKey();
    await callOpenAi({ ...provider, temperature: 0.2, max_tokens: 300 }, ctx, deps);

    expect(fake.requests).toHaveLength(1);
    const [req] = fake.requests;
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/v1/chat/completions'); // no double slash from the trailing one in base_url
    expect(req!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.json).toEqual({
      model: 'gpt-test',
      temperature: 0.2,
      max_tokens: 300,
      response_format: { type: 'json_object' },
      messages: [
        { role: 'system', content: 'You are a support agent.\n\nRespond with a single JSON object.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello, how can I help?' },
        {
          role: 'user',
          content:
            'What is the order status?\n\nContext:\n- order_id: A-17\n- total: 12.5\n- vip: true\n- note: null\n- address: "line 1\\nline 2"',
        },
      ],
    });
    expect(send.mock.calls[0]![0]).toMatchObject({ timeoutMs: 120_000, maxResponseBytes: 1024 * 1024 });
  });

  it('leaves out what is not configured: no key, no system prompt, no json mode, no sampling options', async () => {
    const { deps } = makeDeps();
    const keyless: OpenAiTarget = { baseUrl: fake.baseUrl, model: 'gpt-test', apiKey: undefined };
    await callOpenAi(keyless, makeContext({ instructions: '  ' }), deps);
    const [req] = fake.requests;
    expect(req!.headers.authorization).toBeUndefined();
    expect(req!.json).toEqual({ model: 'gpt-test', messages: [{ role: 'user', content: 'What is the order status?' }] });
  });
});

describe('callOpenAi reply', () => {
  it('returns the content and the reported usage', async () => {
    fake.answer(completion('Your order shipped.', { prompt_tokens: 31, completion_tokens: 5 }));
    const reply = await callOpenAi(provider, makeContext(), withKey().deps);
    expect(reply).toEqual({ text: 'Your order shipped.', usage: { input_tokens: 31, output_tokens: 5 }, actions: [] });
  });

  it('estimates usage at four characters a token when the provider reports none', async () => {
    fake.answer(completion('x'.repeat(41)));
    const reply = await callOpenAi(provider, makeContext(), withKey().deps);
    const sent = (fake.requests[0]!.json.messages as Array<{ content: string }>).map((m) => m.content).join('');
    expect(reply.usage).toEqual({ input_tokens: Math.ceil(sent.length / 4), output_tokens: 11 });
  });

  it('maps tool calls to actions, keeping unparsable arguments as text', async () => {
    fake.answer(
      toolCalls(null, [
        { name: 'lookup_order', arguments: '{"order_id":"A-17"}' },
        { name: 'broken', arguments: '{not json' },
      ]),
    );
    const reply = await callOpenAi(provider, makeContext(), withKey().deps);
    expect(reply.text).toBe('');
    expect(reply.actions).toEqual([
      { type: 'tool_call', name: 'lookup_order', input: { order_id: 'A-17' } },
      { type: 'tool_call', name: 'broken', input: '{not json' },
    ]);
  });

  it('treats a malformed or unexpected 2xx body as a permanent protocol error', async () => {
    fake.answer(malformedJson(), { status: 200, body: { choices: [] } }, completion(null));
    for (let i = 0; i < 3; i++) {
      const failure = await failureOf(callOpenAi(provider, makeContext(), withKey().deps));
      expect(failure.type).toBe('ProviderProtocolError');
      expect(failure.nonRetryable).toBe(true);
    }
  });
});

describe('callOpenAi failures', () => {
  it('429 is retryable after the Retry-After delay, and the activity does not retry by itself', async () => {
    fake.answer(openAiError(429, 'Rate limit reached for gpt-test', { 'retry-after': '7' }));
    const failure = await failureOf(callOpenAi(provider, makeContext(), withKey().deps));
    expect(failure.type).toBe('ProviderUnavailable');
    expect(failure.nonRetryable).toBe(false);
    expect(failure.nextRetryDelay).toBe(7000);
    expect(failure.message).toContain('429');
    expect(failure.message).toContain('Rate limit reached for gpt-test');
    expect(fake.requests).toHaveLength(1);
  });

  it('reads Retry-After as an HTTP date and caps long waits', async () => {
    const inThirty = new Date(Date.now() + 30_000).toUTCString();
    fake.answer(openAiError(503, 'busy', { 'retry-after': inThirty }), openAiError(429, 'slow down', { 'retry-after': '86400' }));
    const dated = await failureOf(callOpenAi(provider, makeContext(), withKey().deps));
    expect(dated.nextRetryDelay).toBeGreaterThan(27_000);
    expect(dated.nextRetryDelay).toBeLessThanOrEqual(30_000);
    const capped = await failureOf(callOpenAi(provider, makeContext(), withKey().deps));
    expect(capped.nextRetryDelay).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('soon', Date.now())).toBeUndefined();
    expect(parseRetryAfter('0', Date.now())).toBeUndefined();
  });

  it('500 is retryable with the policy delay', async () => {
    fake.answer(openAiError(500, 'The server had an error'));
    const failure = await failureOf(callOpenAi(provider, makeContext(), withKey().deps));
    expect(failure).toMatchObject({ type: 'ProviderUnavailable', nonRetryable: false });
    expect(failure.nextRetryDelay).toBeUndefined();
    expect(failure.message).toMatch(/HTTP 500: The server had an error/);
  });

  it('401 and 400 are permanent and never leak the key, even when the provider echoes it', async () => {
    fake.answer(openAiError(401, `Incorrect API key provided: ${KEY}.`), openAiError(400, `bad request ${'x'.repeat(500)}`));
    const unauthorized = await failureOf(callOpenAi(provider, makeContext(), withKey().deps));
    expect(unauthorized).toMatchObject({ type: 'ProviderRejected', nonRetryable: true });
    expect(unauthorized.message).toContain('401');
    expect(unauthorized.message).toContain('Incorrect API key provided');
    expect(unauthorized.message).not.toContain(KEY);
    expect(unauthorized.message).not.toContain('Bearer');
    const bad = await failureOf(callOpenAi(provider, makeContext(), withKey().deps));
    expect(bad).toMatchObject({ type: 'ProviderRejected', nonRetryable: true });
    expect(bad.message).toContain('400');
    expect(bad.message.length).toBeLessThan(300); // the provider's text is cut to a short excerpt
  });

  it('an unreachable provider is retryable; a blocked target is not', async () => {
    const gone = await startFakeOpenAi();
    await gone.close();
    const refused = await failureOf(callOpenAi({ ...provider, baseUrl: gone.baseUrl }, makeContext(), withKey().deps));
    expect(refused).toMatchObject({ type: 'ProviderUnavailable', nonRetryable: false });
    // The test client blocks every non-loopback host, so nothing leaves the machine.
    const blocked = await failureOf(callOpenAi({ ...provider, baseUrl: 'http://10.0.0.1/v1' }, makeContext(), withKey().deps));
    expect(blocked).toMatchObject({ type: 'ProviderRejected', nonRetryable: true });
  });
});

describe('callOpenAi while waiting', () => {
  it('heartbeats every second during a slow answer and stops afterwards', async () => {
    fake.answer({ ...completion('finally'), delayMs: 2500 });
    const { deps, heartbeat } = withKey();
    const reply = await callOpenAi(provider, makeContext(), deps);
    expect(reply.text).toBe('finally');
    expect(heartbeat.mock.calls.length).toBeGreaterThanOrEqual(2);
    const seen = heartbeat.mock.calls.length;
    await new Promise((r) => setTimeout(r, 1300));
    expect(heartbeat.mock.calls.length).toBe(seen);
  });

  it('ends as cancelled when the activity is cancelled mid-request', async () => {
    fake.answer({ ...completion('too late'), delayMs: 5000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    const error = await callOpenAi(provider, makeContext(), makeDeps({ signal: controller.signal }).deps).catch(
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(CancelledFailure);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
