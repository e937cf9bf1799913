import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import type { OutboundRequest, OutboundResponse } from '../../src/outbound/types.js';
import { whileHeartbeating } from '../heartbeat.js';
import type { ProviderDeps } from './types.js';

/** Room for a long completion; anything bigger is treated as a protocol error, not truncated text. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;
/** A provider asking for a longer pause is capped so a run never stalls past the retry policy's intent. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;
const EXCERPT_CHARS = 200;

/** Rough token estimate for providers that report none (about four characters a token). */
export const estimateTokens = (text: string) => Math.ceil(text.length / 4);

export function protocolError(message: string) {
  return ApplicationFailure.create({ type: 'ProviderProtocolError', message, nonRetryable: true });
}

/**
 * Sends one request and returns the parsed JSON of a 2xx answer. Every other outcome becomes
 * an ApplicationFailure whose retryability tells Temporal what to do: this function never
 * retries itself. `secrets` (API keys, header values) are scrubbed from every message.
 */
export async function exchangeJson(
  deps: ProviderDeps,
  request: Omit<OutboundRequest, 'signal' | 'maxResponseBytes'>,
  label: string,
  secrets: readonly string[],
): Promise<unknown> {
  const response = await sendWithHeartbeat(deps, request);
  // A cancelled run must end as cancelled, not as a provider failure that gets retried.
  if (deps.signal.aborted) throw new CancelledFailure('agent run cancelled');

  const failure = failureFor(response, label, secrets);
  if (failure) throw failure;
  if (response.bodyTruncated) throw protocolError(`${label} answered more than ${MAX_RESPONSE_BYTES} bytes`);
  try {
    return JSON.parse(response.body) as unknown;
  } catch {
    throw protocolError(`${label} answered HTTP ${response.status} with a body that is not JSON: ${excerpt(response.body, secrets)}`);
  }
}

function sendWithHeartbeat(deps: ProviderDeps, request: Omit<OutboundRequest, 'signal' | 'maxResponseBytes'>) {
  // Without heartbeats a long completion looks like a dead worker and Temporal would retry it.
  return whileHeartbeating(deps.http.send({ ...request, maxResponseBytes: MAX_RESPONSE_BYTES, signal: deps.signal }), () => deps.heartbeat());
}

function failureFor(response: OutboundResponse, label: string, secrets: readonly string[]): ApplicationFailure | null {
  if (response.error) {
    const message = `${label} could not be reached (${response.error.kind}): ${excerpt(response.error.message, secrets)}`;
    // A refused target or a malformed URL will not fix itself; every other transport error may.
    const permanent = response.error.kind === 'blocked' || response.error.kind === 'invalid_url';
    return ApplicationFailure.create({ type: permanent ? 'ProviderRejected' : 'ProviderUnavailable', message, nonRetryable: permanent });
  }
  const status = response.status;
  if (status === null) {
    return ApplicationFailure.create({ type: 'ProviderUnavailable', message: `${label} gave no HTTP response`, nonRetryable: false });
  }
  if (status >= 200 && status < 300) return null;

  const detail = providerMessage(response.body);
  const message = `${label} answered HTTP ${status}${detail ? `: ${excerpt(detail, secrets)}` : ''}`;
  if (status === 408 || status === 409 || status === 429 || status >= 500) {
    const retryAfter = headerValue(response.headers, 'retry-after');
    const nextRetryDelay = retryAfter === undefined ? undefined : parseRetryAfter(retryAfter, Date.now());
    return ApplicationFailure.create({ type: 'ProviderUnavailable', message, nonRetryable: false, nextRetryDelay });
  }
  // Bad requests, bad credentials, unknown models: retrying the same request cannot succeed.
  return ApplicationFailure.create({ type: 'ProviderRejected', message, nonRetryable: true });
}

/** Retry-After as delay-seconds or an HTTP date, in milliseconds; undefined when unusable. */
export function parseRetryAfter(value: string, nowMs: number): number | undefined {
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+$/.test(trimmed)) ms = Number(trimmed) * 1000;
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    ms = at - nowMs;
  }
  if (ms <= 0) return undefined;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

function headerValue(headers: Record<string, string>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** The provider's own words when the body is a known error shape, otherwise the raw body. */
function providerMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === 'object') {
      const { error, message, detail } = parsed as Record<string, unknown>;
      if (typeof error === 'string') return error;
      if (error && typeof error === 'object' && typeof (error as Record<string, unknown>).message === 'string') {
        return (error as { message: string }).message;
      }
      if (typeof message === 'string') return message;
      if (typeof detail === 'string') return detail;
    }
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return body;
}

/** One line, at most 200 characters, with any secret replaced: error texts end up in run records and logs. */
export function excerpt(text: string, secrets: readonly string[]): string {
  let clean = text;
  for (const secret of secrets) if (secret) clean = clean.split(secret).join('[redacted]');
  clean = clean.replace(/\s+/g, ' ').trim();
  return clean.length > EXCERPT_CHARS ? `${clean.slice(0, EXCERPT_CHARS - 1)}…` : clean;
}
