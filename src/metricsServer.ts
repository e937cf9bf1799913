import { createServer, type Server } from 'node:http';
import type { Logger } from './logger.js';
import { registry } from './metrics.js';
import { operatorTokenMatches } from './api/policies.js';

/** The Temporal SDK's own exporter address for a worker whose /metrics is on `port`. */
export const sdkMetricsAddress = (port: number) => `127.0.0.1:${port + 1}`;

/** Our registry plus the Temporal SDK's runtime metrics (polling, slots, latencies) in one scrape. */
export async function metricsText(sdkAddress?: string): Promise<string> {
  let sdk = '';
  if (sdkAddress) {
    try {
      const response = await fetch(`http://${sdkAddress}/metrics`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) sdk = await response.text();
    } catch {
      sdk = '# Temporal SDK metrics unavailable\n';
    }
  }
  return `${await registry.metrics()}\n${sdk}`;
}

/** What the worker's probes report: `live` false = restart me; `ready` false = not polling (yet). */
export interface WorkerHealth {
  live: () => boolean;
  ready: () => boolean;
}

/** No token configured: open. Otherwise `Bearer <token>`, compared in constant time. */
export function metricsAuthorized(token: string | undefined, authorization: string | undefined): boolean {
  if (!token) return true;
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  return operatorTokenMatches(presented, token);
}

/**
 * The worker's /metrics endpoint (the API serves its own on the API port; METRICS_TOKEN guards
 * both), with its probes: /healthz (the process and its worker are alive) and /readyz (polling Temporal).
 */
export async function startMetricsServer(port: number, log: Logger, options: { token?: string; health?: WorkerHealth } = {}): Promise<Server> {
  const health = options.health;
  const server = createServer((req, res) => {
    if (health && (req.url === '/healthz' || req.url === '/readyz')) {
      const ok = req.url === '/healthz' ? health.live() : health.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'unavailable' }));
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    if (!metricsAuthorized(options.token, req.headers.authorization)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      return;
    }
    metricsText(sdkMetricsAddress(port))
      .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text))
      .catch((err) => {
        log.error({ err }, 'metrics scrape failed');
        res.writeHead(500).end();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', resolve);
  });
  log.info({ port }, health ? 'worker metrics on /metrics, probes on /healthz and /readyz' : 'worker metrics on /metrics');
  return server;
}
