import { describe, expect, it } from 'vitest';
import { creditsForUsage } from '../../src/domain/credits.js';
import { classify, nextDelayMs } from '../../src/domain/deliveryPolicy.js';

describe('creditsForUsage: max(1, ceil((input + 3 × output) / 100))', () => {
  it.each([
    [0, 0, 1],
    [1, 0, 1],
    [100, 0, 1],
    [101, 0, 2],
    [250, 120, 7],
    [0, 34, 2],
    [1000, 1000, 40],
    [99, 1, 2],
  ])('%i in, %i out → %i credits', (input, output, credits) => {
    expect(creditsForUsage({ input_tokens: input, output_tokens: output })).toBe(credits);
  });
});

describe('delivery policy', () => {
  const response = (status: number | null, error: null | { kind: 'timeout' | 'blocked' | 'connection'; message: string } = null) => ({
    status,
    headers: {},
    body: '',
    bodyTruncated: false,
    latencyMs: 1,
    error,
  });

  it('retries network errors and every non-2xx answer but 410 (n8n\'s temporary 404/409 included); never blocked targets', () => {
    expect(classify(response(200))).toBe('succeeded');
    expect(classify(response(204))).toBe('succeeded');
    for (const status of [301, 302, 400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503]) expect(classify(response(status)), String(status)).toBe('retry');
    expect(classify(response(410))).toBe('permanent');
    expect(classify(response(null, { kind: 'timeout', message: 'slow' }))).toBe('retry');
    expect(classify(response(null, { kind: 'connection', message: 'reset' }))).toBe('retry');
    expect(classify(response(null, { kind: 'blocked', message: 'private' }))).toBe('permanent');
  });

  it('follows the schedule with ±20 % jitter and honours a longer Retry-After', () => {
    const schedule = [5_000, 300_000, 1_800_000];
    expect(nextDelayMs(schedule, 1, undefined, () => 0)).toBe(4_000);
    expect(nextDelayMs(schedule, 1, undefined, () => 1)).toBe(6_000);
    expect(nextDelayMs(schedule, 2, undefined, () => 0.5)).toBe(300_000);
    expect(nextDelayMs(schedule, 9, undefined, () => 0.5)).toBe(1_800_000);
    expect(nextDelayMs(schedule, 1, '120', () => 0.5)).toBe(120_000);
    expect(nextDelayMs(schedule, 1, '999999', () => 0.5)).toBe(1_800_000);
  });
});
