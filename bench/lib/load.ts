import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { summarize, type LatencySummary } from './stats.js';

export interface HttpLoad {
  url: string;
  connections: number;
  /** Seconds of load, or … */
  durationS?: number;
  /** … exactly this many requests. */
  amount?: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** The status that counts as success (202 for triggers, 200 for the sync webhook). */
  okStatus: number;
}

export interface HttpLoadResult extends LatencySummary {
  ok: number;
  /** Successful answers per second over the whole load (for a fixed `amount`: until its last answer). */
  rate: number;
  elapsedS: number;
  statuses: Record<string, number>;
  errors: number;
}

/**
 * One autocannon run in this process. Latencies come from autocannon's per-response event
 * (hrtime, sub-millisecond), not its integer-millisecond histogram, and count successes only.
 */
export async function httpLoad(load: HttpLoad): Promise<HttpLoadResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const started = performance.now();
  let lastAnswerAt = started;
  const instance = autocannon({
    url: load.url,
    connections: load.amount ? Math.min(load.connections, load.amount) : load.connections,
    ...(load.amount ? { amount: load.amount } : { duration: load.durationS ?? 2 }),
    method: load.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...load.headers },
    body: load.body,
    timeout: 60,
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    lastAnswerAt = performance.now();
    if (statusCode === load.okStatus) latencies.push(responseTime);
  });
  const result = await instance;
  // Up to the last answer, not until autocannon returns: it notices the end of a fixed
  // `amount` on its 1-second tick, which rounded every such load up to whole seconds (160
  // triggers answered in 2.1 s counted as 3 s: 53/s instead of 76/s).
  const elapsedS = ((load.amount ? lastAnswerAt : performance.now()) - started) / 1000;
  return { ...summarize(latencies), ok: latencies.length, rate: latencies.length / elapsedS, elapsedS, statuses, errors: result.errors + result.timeouts };
}

export interface LoopResult<T> extends LatencySummary {
  rate: number;
  elapsedS: number;
  errors: number;
  firstError?: string;
  values: T[];
}

/**
 * A closed loop: `concurrency` callers, each starting its next operation when the last one
 * ends, for `durationMs` or until `amount` operations have started.
 */
export async function closedLoop<T>(
  concurrency: number,
  limit: { durationMs?: number; amount?: number },
  op: (i: number) => Promise<T>,
): Promise<LoopResult<T>> {
  const latencies: number[] = [];
  const values: T[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const started = performance.now();
  const deadline = limit.durationMs === undefined ? Number.POSITIVE_INFINITY : started + limit.durationMs;
  const caller = async () => {
    for (;;) {
      const i = next++;
      if ((limit.amount !== undefined && i >= limit.amount) || performance.now() >= deadline) return;
      const t0 = performance.now();
      try {
        values.push(await op(i));
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors += 1;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  const elapsedS = (performance.now() - started) / 1000;
  return { ...summarize(latencies), rate: latencies.length / elapsedS, elapsedS, errors, firstError, values };
}
