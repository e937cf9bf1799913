import type { Kysely } from 'kysely';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { computeDatabaseTotals, readDatabaseTotalsSnapshot, storeDatabaseTotals, type DatabaseTotals } from './db/metrics.js';
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
  help: 'Times this process recomputed the database gauges for the cluster (one process per METRICS_GAUGE_INTERVAL_SECONDS, however often any is scraped)',
  registers: [registry],
});

export const gaugeSnapshotReads = new Counter({
  name: 'aw_metrics_gauge_snapshot_reads_total',
  help: 'Times this process read the shared database gauges (one row, at most once per METRICS_GAUGE_INTERVAL_SECONDS)',
  registers: [registry],
});

/**
 * Cluster-wide totals from the database (API processes only). They are full-table aggregates,
 * so no scrape ever runs them: once per `intervalMs` ONE process of the cluster (the one whose
 * conditional update claims the interval) computes them in the background and stores them in
 * `metric_snapshots`; every process's scrape reads that one row, itself cached for the interval.
 * Only a process whose first read finds no figures at all waits for them.
 */
export function registerDatabaseGauges(db: Kysely<Database>, intervalMs = 30_000): void {
  if (registry.getSingleMetric('aw_runs_by_status')) return;
  let cached: DatabaseTotals | undefined;
  let readAt = 0;
  let reading: Promise<void> | undefined;
  const recompute = async () => {
    gaugeRefreshes.inc();
    const totals = await computeDatabaseTotals(db);
    await storeDatabaseTotals(db, totals);
    cached = totals;
  };
  const read = () =>
    (reading ??= (async () => {
      gaugeSnapshotReads.inc();
      const snapshot = await readDatabaseTotalsSnapshot(db, intervalMs);
      readAt = Date.now();
      if (snapshot.totals) cached = snapshot.totals;
      if (!snapshot.claimed) return;
      if (cached) void recompute().catch(() => undefined); // the next claimant (after the interval) tries again
      else await recompute();
    })()
      .catch(() => undefined) // a database hiccup keeps the last figures; the next scrape tries again
      .finally(() => {
        reading = undefined;
      }));
  const current = async (): Promise<DatabaseTotals | undefined> => {
    if (!cached) await read();
    else if (Date.now() - readAt >= intervalMs) void read();
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
