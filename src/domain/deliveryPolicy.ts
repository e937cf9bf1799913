import type { OutboundResponse } from '../outbound/types.js';

export type Outcome = 'succeeded' | 'retry' | 'permanent';

/**
 * What a delivery attempt's answer means (DESIGN.md, decided 2026-11-30, as seed 003 and Svix
 * do). 2xx is success. Every other answer and every timeout or network error is retried up to
 * the budget: automation platforms answer 404 while a workflow is inactive or loading and 409
 * when a Wait node's resume URL is called a moment early, and both clear up by themselves.
 * Only 410 Gone (the receiver saying "never again") and a blocked or invalid target, which no
 * wait can fix, end a delivery at once. Every 4xx counts toward auto-disable like any final
 * failure: it has then been retried for the whole budget, as long as a 5xx would have been.
 */
export function classify(response: OutboundResponse): Outcome {
  if (response.error) return response.error.kind === 'blocked' || response.error.kind === 'invalid_url' ? 'permanent' : 'retry';
  const status = response.status ?? 0;
  if (status >= 200 && status < 300) return 'succeeded';
  if (status === 410) return 'permanent';
  return 'retry';
}

/**
 * Delay before attempt `attempt + 1` (attempt counts from 1): the schedule's entry with ±20 %
 * jitter so receivers recovering from an outage are not hit in lockstep, or the receiver's
 * Retry-After when it asks for longer (capped at the schedule's longest step).
 */
export function nextDelayMs(schedule: readonly number[], attempt: number, retryAfter: string | undefined, random = Math.random): number {
  const base = schedule[Math.min(attempt - 1, schedule.length - 1)] ?? 5_000;
  const jittered = Math.round(base * (0.8 + 0.4 * random()));
  const asked = parseRetryAfterMs(retryAfter);
  const longest = Math.max(...schedule);
  return asked !== undefined && asked > jittered ? Math.min(asked, longest) : jittered;
}

function parseRetryAfterMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A short, single-line description of what went wrong, for the attempt log. */
export function describeOutcome(response: OutboundResponse, url: string): string | null {
  if (response.error) return `${response.error.kind}: ${response.error.message}`;
  if (response.status === null || (response.status >= 200 && response.status < 300)) return null;
  if (response.status >= 300 && response.status < 400) return `HTTP ${response.status}: ${redirectNotFollowed(response, url)}`;
  return `HTTP ${response.status}`;
}

/**
 * A bare "HTTP 307" leaves a user wondering why a receiver that "works in the browser" never
 * gets anything: say that redirects are not followed and where this one pointed (origin and
 * path only: query strings carry tokens).
 */
function redirectNotFollowed(response: OutboundResponse, url: string): string {
  const location = response.headers.location;
  let target = '';
  try {
    const to = location ? new URL(location, url) : undefined;
    if (to) target = ` to ${`${to.origin}${to.pathname}`.slice(0, 200)}`;
  } catch {
    /* an unparsable Location: say only that it redirected */
  }
  return `redirect${target} not followed (webhooks never follow redirects; use the final address)`;
}
