/**
 * The image's HEALTHCHECK (exec form, no shell): exits 0 when the process's health endpoint
 * answers 2xx within 3 s. The api's is /healthz on PORT; the worker's is /healthz on
 * METRICS_PORT (compose and the manifests set HEALTHCHECK_URL for it).
 */
const url = process.env.HEALTHCHECK_URL ?? `http://127.0.0.1:${process.env.PORT || 3000}/healthz`;
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
  process.exit(response.ok ? 0 : 1);
} catch {
  process.exit(1);
}
