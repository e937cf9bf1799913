import { sql, type Kysely } from 'kysely';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from './db/schema.js';

/**
 * Prometheus metrics of this process. Counters count what this process did; the `*_by_*`
 * gauges are read from Postgres (cached, refreshed at most once per interval), so every API
 * process reports the same cluster-wide totals however work was spread over workers.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'aw_' });

export const httpRequests = new Counter({
  name: 'aw_http_requests_total',
  help: 'HTTP requests answered, by method, route and status',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [registry],
});

export const httpDuration = new Histogram({
  name: 'aw_http_request_duration_seconds',
  help: 'HTTP request latency by method and route',
  labelNames: ['method', 'route'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const runsStarted = new Counter({
  name: 'aw_runs_started_total',
  help: 'Runs accepted by this API process, by source',
  labelNames: ['source'] as const,
  registers: [registry],
});

export const rateLimited = new Counter({
  name: 'aw_rate_limit_rejections_total',
  help: 'Calls refused with 429 by this API process',
  registers: [registry],
});

export const activityOutcomes = new Counter({
  name: 'aw_activity_executions_total',
  help: 'Activity executions by this worker, by activity and outcome',
  labelNames: ['activity', 'outcome'] as const,
  registers: [registry],
});

export const deliveryAttempts = new Counter({
  name: 'aw_delivery_attempts_total',
  help: 'Delivery and callback attempts made by this worker, by kind and outcome',
  labelNames: ['kind', 'outcome'] as const,
  registers: [registry],
});

export const creditsChargedHere = new Counter({
  name: 'aw_credits_charged_by_worker_total',
  help: 'Credits charged by this worker',
  registers: [registry],
});

export const retentionPurged = new Counter({
  name: 'aw_retention_purged_rows_total',
  help: 'Rows the retention purge removed in this worker, by table (idempotency_keys: keys released)',
  labelNames: ['table'] as const,
  registers: [registry],
});

export const gaugeRefreshes = new Counter({
  name: 'aw_metrics_gauge_refreshes_total',
  help: 'Times this process recomputed the database gauges (at most once per METRICS_GAUGE_INTERVAL_SECONDS, however often it is scraped)',
  registers: [registry],
});

interface DatabaseTotals {
  runs: { status: string; n: number }[];
  deliveries: { kind: string; status: string; n: number }[];
  creditsCharged: number;
}

async function readDatabaseTotals(db: Kysely<Database>): Promise<DatabaseTotals> {
  gaugeRefreshes.inc();
  const [runs, deliveries, charged] = await Promise.all([
    db.selectFrom('runs').select(['status', sql<string>`count(*)`.as('n')]).groupBy('status').execute(),
    db.selectFrom('deliveries').select(['kind', 'status', sql<string>`count(*)`.as('n')]).groupBy(['kind', 'status']).execute(),
    db.selectFrom('credit_entries').select(sql<string>`coalesce(-sum(amount), 0)`.as('n')).where('kind', '=', 'charge').executeTakeFirst(),
  ]);
  return {
    runs: runs.map((r) => ({ status: r.status, n: Number(r.n) })),
    deliveries: deliveries.map((r) => ({ kind: r.kind, status: r.status, n: Number(r.n) })),
    creditsCharged: Number(charged?.n ?? 0),
  };
}

/**
 * Cluster-wide totals from the database (API processes only). They are full-table aggregates,
 * so they are never computed per scrape: a scrape reads the cached figures, and refreshes them
 * in the background once they are older than `intervalMs` (one refresh at a time). Only the
 * very first scrape waits for them. A scrape storm costs the database nothing.
 */
export function registerDatabaseGauges(db: Kysely<Database>, intervalMs = 30_000): void {
  if (registry.getSingleMetric('aw_runs_by_status')) return;
  let cached: DatabaseTotals | undefined;
  let computedAt = 0;
  let refreshing: Promise<void> | undefined;
  const refresh = () =>
    (refreshing ??= readDatabaseTotals(db)
      .then((totals) => {
        cached = totals;
        computedAt = Date.now();
      })
      .catch(() => undefined) // a database hiccup keeps the last figures; the next scrape tries again
      .finally(() => {
        refreshing = undefined;
      }));
  const current = async (): Promise<DatabaseTotals | undefined> => {
    if (!cached) await refresh();
    else if (Date.now() - computedAt >= intervalMs) void refresh();
    return cached;
  };
  new Gauge({
    name: 'aw_runs_by_status',
    help: 'Runs in the database by status (cached, see METRICS_GAUGE_INTERVAL_SECONDS)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const totals = await current();
      this.reset();
      for (const row of totals?.runs ?? []) this.set({ status: row.status }, row.n);
    },
  });
  new Gauge({
    name: 'aw_deliveries_by_outcome',
    help: 'Deliveries (endpoint events and run callbacks) in the database by kind and status (cached)',
    labelNames: ['kind', 'status'] as const,
    registers: [registry],
    async collect() {
      const totals = await current();
      this.reset();
      for (const row of totals?.deliveries ?? []) this.set({ kind: row.kind, status: row.status }, row.n);
    },
  });
  new Gauge({
    name: 'aw_credits_charged',
    help: 'Credits charged for runs, all time (cached)',
    registers: [registry],
    async collect() {
      const totals = await current();
      if (totals) this.set(totals.creditsCharged);
    },
  });
}

/** Counts every activity execution's outcome without touching the activities themselves. */
export function countedActivities<T extends Record<string, (...args: any[]) => Promise<unknown>>>(activities: T): T {
  const wrapped: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: unknown[]) => {
      try {
        const result = await fn(...args);
        activityOutcomes.inc({ activity: name, outcome: 'completed' });
        return result;
      } catch (err) {
        activityOutcomes.inc({ activity: name, outcome: 'failed' });
        throw err;
      }
    };
  }
  return wrapped as T;
}

export const sseEventReads = new Counter({
  name: 'aw_sse_event_reads_total',
  help: 'Reads of run events by the SSE streams of this API process (backlog: one per opened stream; notify: one per run per notification, shared by its streams)',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const sseStreamsOpen = new Gauge({
  name: 'aw_sse_streams_open',
  help: 'Run event streams open on this API process',
  registers: [registry],
});
