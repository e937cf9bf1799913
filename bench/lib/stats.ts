/** Small statistics helpers: percentiles over raw samples, medians over rounds. */

/** Linear-interpolated percentile (p in 0..100) of raw samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (!samples.length) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length ? percentile(finite, 50) : Number.NaN;
}

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

export function summarize(samples: readonly number[]): LatencySummary {
  const mean = samples.length ? samples.reduce((a, b) => a + b, 0) / samples.length : Number.NaN;
  return { n: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), mean };
}

/** Median of each numeric field over rounds (fields missing in a round are skipped). */
export function medianOf<T extends Record<string, number>>(rounds: readonly T[]): T {
  const out: Record<string, number> = {};
  for (const key of Object.keys(rounds[0] ?? {})) out[key] = median(rounds.map((r) => r[key] ?? Number.NaN));
  return out as T;
}

export function ratio(ours: number, baseline: number): number {
  return Number.isFinite(ours) && Number.isFinite(baseline) && baseline !== 0 ? ours / baseline : Number.NaN;
}

/** Human formatting: 3 significant digits, no exponent for ordinary ranges. */
export function fmt(value: number, unit = ''): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return `${value.toFixed(digits)}${unit}`;
}

export function fmtRatio(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value >= 10 ? `${value.toFixed(0)}×` : value >= 1 ? `${value.toFixed(2)}×` : `${value.toFixed(3)}×`;
}
