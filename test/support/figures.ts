import type { TaskMeta } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    /** What a chaos or security test counted (runs, kills, vectors…), summed into the run's summary table. */
    figures?: Record<string, number>;
  }
}

/**
 * Adds to what this test counted. The summary reporter sums each figure over the run and
 * prints them as one table, so `npm test` ends with what the chaos and security suites proved.
 * Use it as `it('…', async ({ task }) => { …; count(task, { 'fuzz cases': 1500 }) })`.
 */
export function count(task: { meta: TaskMeta }, figures: Record<string, number>): void {
  const mine = (task.meta.figures ??= {});
  for (const [name, value] of Object.entries(figures)) mine[name] = (mine[name] ?? 0) + value;
}
