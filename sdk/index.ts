/**
 * The Agent Webhooks TypeScript SDK: a typed client for the public API, generated from
 * /openapi.json (types in ./schema.d.ts, calls by openapi-fetch). The web console uses exactly this.
 *
 *   const aw = createClient({ baseUrl: 'http://localhost:3000', apiKey: process.env.AGENT_WEBHOOKS_KEY });
 *   const { data, error } = await aw.GET('/v1/runs', { params: { query: { status: 'processing' } } });
 */
import createFetchClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema.js';

export type { components, paths } from './schema.js';
export type Schemas = components['schemas'];
export type AgentWebhooksClient = Client<paths>;

export interface ClientOptions {
  /** Origin of the API, e.g. http://localhost:3000; '' in a browser on the API's own origin. */
  baseUrl: string;
  /** An API key (awk_…) or a portal session token; sent as `Authorization: Bearer …`. A function is asked at every request. */
  apiKey?: string | (() => string | undefined);
  /** Told about every 401 (revoked key, expired session) before the caller sees it. */
  onUnauthorized?: (response: Response) => void;
  fetch?: typeof fetch;
}

export function createClient(options: ClientOptions): AgentWebhooksClient {
  const client = createFetchClient<paths>({ baseUrl: options.baseUrl, fetch: options.fetch });
  const auth: Middleware = {
    onRequest({ request }) {
      const key = typeof options.apiKey === 'function' ? options.apiKey() : options.apiKey;
      if (key) request.headers.set('authorization', `Bearer ${key}`);
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401) options.onUnauthorized?.(response);
      return response;
    },
  };
  client.use(auth);
  return client;
}

/** An RFC 9457 problem as the API answers every error. */
export type Problem = Schemas['Problem'];

/** One frame of a run's event stream (GET /v1/runs/{id}/events). */
export interface RunStreamEvent {
  event_type: string;
  sequence?: number;
  payload?: unknown;
  created_at?: string;
}

/**
 * Reads a run's live events with fetch (so the Authorization header goes along, which
 * EventSource cannot do). Accepts both frame styles: `id:`/`event:`/`data:` and plain
 * `data: {"event_type": …}` lines. Resolves when the stream ends or `signal` aborts.
 */
export async function streamRunEvents(
  options: Pick<ClientOptions, 'baseUrl' | 'apiKey' | 'fetch' | 'onUnauthorized'>,
  runId: string,
  onEvent: (event: RunStreamEvent) => void,
  init: { signal?: AbortSignal; afterSequence?: number } = {},
): Promise<void> {
  const key = typeof options.apiKey === 'function' ? options.apiKey() : options.apiKey;
  const query = init.afterSequence !== undefined ? `?after_sequence=${init.afterSequence}` : '';
  const response = await (options.fetch ?? fetch)(`${options.baseUrl}/v1/runs/${encodeURIComponent(runId)}/events${query}`, {
    headers: { accept: 'text/event-stream', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    signal: init.signal,
  });
  if (response.status === 401) options.onUnauthorized?.(response);
  if (!response.ok || !response.body) throw new Error(`event stream answered ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      const event = parseFrame(frame);
      if (event) onEvent(event);
    }
  }
}

/** One SSE frame → its event, or undefined for comments, `retry:` and frames without data. */
export function parseFrame(frame: string): RunStreamEvent | undefined {
  let id: string | undefined;
  let name: string | undefined;
  const data: string[] = [];
  for (const line of frame.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.join('\n'));
  } catch {
    parsed = { payload: data.join('\n') };
  }
  const body = (parsed && typeof parsed === 'object' ? parsed : { payload: parsed }) as Partial<RunStreamEvent>;
  const sequence = body.sequence ?? (id !== undefined && /^\d+$/.test(id) ? Number(id) : undefined);
  return { ...body, event_type: body.event_type ?? name ?? 'message', sequence };
}
