import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import { BlockedAddressError, guardedLookup, systemResolver, type Resolver } from './guardedLookup.js';
import { blockedReason, isIpLiteral, parseAllowedCidrs } from './ssrf.js';
import type { HttpClient, OutboundErrorKind, OutboundPolicy, OutboundRequest, OutboundResponse } from './types.js';
import { traceOutbound } from '../telemetry.js';

export const DEFAULT_MAX_RESPONSE_BYTES = 2048;
const DEFAULT_USER_AGENT = 'AgentWebhooks/1.0';

export interface HttpClientOptions {
  log?: (fields: object, msg: string) => void;
  /** Replaces the system resolver; tests use it to play a rebinding DNS server. */
  resolve?: Resolver;
  /** Keep-alive pool per origin (defaults: DEFAULT_POOL). */
  pool?: Partial<PoolOptions>;
}

export interface PoolOptions {
  /**
   * Open connections to one origin (host, port, TLS settings) at most; more requests wait for
   * one, and the wait counts against their timeout. A safety bound well above what one origin
   * should see: concurrency per endpoint is bounded by the endpoint slots (ENDPOINT_MAX_IN_FLIGHT),
   * and several endpoints (tenants) may share one origin, which must not queue them behind each other.
   */
  maxSocketsPerOrigin: number;
  /** Idle connections kept per origin for reuse; the rest close when their request ends. */
  idleSocketsPerOrigin: number;
  /** An idle connection is closed after this (kept under the common 5 s server keep-alive, so a reused socket is rarely one the receiver is closing). */
  idleTimeoutMs: number;
}

const DEFAULT_POOL: PoolOptions = { maxSocketsPerOrigin: 256, idleSocketsPerOrigin: 32, idleTimeoutMs: 4_000 };

/**
 * Keep-alive agents: Node pools their sockets by host name, port and TLS options (an https
 * socket opened with verifyTls false is never handed to a verifying request). Every NEW socket
 * is opened through the request's guarded `lookup`, so each connection's address is checked
 * once, when it is made; a reused socket is one that passed that check, and it stays bound to
 * the address it was checked against (DNS changes afterwards cannot redirect it).
 */
function keepAliveAgents(pool: PoolOptions) {
  const options = { keepAlive: true, maxSockets: pool.maxSocketsPerOrigin, maxFreeSockets: pool.idleSocketsPerOrigin, timeout: pool.idleTimeoutMs, scheduling: 'lifo' as const };
  return { 'http:': new http.Agent(options), 'https:': new https.Agent(options) };
}

type OutboundError = NonNullable<OutboundResponse['error']>;

/**
 * The one outbound HTTP client. Network trouble never throws: it comes back as
 * `response.error` so callers can record the attempt. Only misuse (a bad timeout, an invalid
 * header name) throws.
 */
export function createHttpClient(policy: OutboundPolicy, opts: HttpClientOptions = {}): HttpClient {
  const allowed = parseAllowedCidrs(policy.allowedCidrs);
  const log = opts.log ?? (() => {});
  const lookup = guardedLookup(allowed, opts.resolve ?? systemResolver);
  const agents = keepAliveAgents({ ...DEFAULT_POOL, ...opts.pool });
  if (allowed.length > 0) {
    // Loud on purpose: an allow-list in production would reopen the private network.
    log({ allowedCidrs: allowed.map((c) => c.text) }, 'outbound SSRF guard: allow-list is active');
  }

  return {
    async send(request) {
      checkRequest(request);
      const started = performance.now();
      const failed = (kind: OutboundErrorKind, message: string): OutboundResponse => ({
        status: null,
        headers: {},
        body: '',
        bodyTruncated: false,
        latencyMs: Math.round(performance.now() - started),
        error: { kind, message },
      });

      let url: URL;
      try {
        url = new URL(request.url);
      } catch {
        return failed('invalid_url', 'the target is not a valid absolute URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        return failed('invalid_url', `unsupported URL scheme "${url.protocol}" (use http or https)`);
      }
      // Only the origin is ever logged: paths and query strings of callback URLs carry tokens.
      if (policy.requireHttps && url.protocol === 'http:') {
        log({ target: url.origin }, 'outbound request blocked: https is required');
        return failed('blocked', 'https is required for outbound requests; refusing an http:// target');
      }
      // Node skips `lookup` for IP literals, so they are judged here instead.
      if (isIpLiteral(url.hostname)) {
        const reason = blockedReason(url.hostname, allowed);
        if (reason) {
          log({ target: url.origin, reason }, 'outbound request blocked: forbidden address');
          return failed('blocked', `refusing to connect: ${reason}`);
        }
      }
      if (request.signal?.aborted) return failed('aborted', 'the request was aborted before it was sent');

      const response = await traceOutbound(request.method ?? 'POST', request.url, request.headers ?? {}, async (headers) => {
        const agent = agents[url.protocol as 'http:' | 'https:'];
        const first = await exchange(url, { ...request, headers }, lookup, started, agent);
        // A pooled socket the receiver closed while idle fails before any answer: that request
        // never reached it, so it goes once more on a fresh connection (Node's documented pattern).
        const answer = first.staleSocket ? await exchange(url, { ...request, headers }, lookup, started, agent) : first;
        delete answer.staleSocket;
        return answer;
      });
      if (response.error?.kind === 'blocked') {
        log({ target: url.origin, reason: response.error.message }, 'outbound request blocked: forbidden address');
      }
      return response;
    },
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

function checkRequest(request: OutboundRequest): void {
  if (!Number.isFinite(request.timeoutMs) || request.timeoutMs <= 0) {
    throw new TypeError(`timeoutMs must be a positive number (got ${request.timeoutMs})`);
  }
  const max = request.maxResponseBytes;
  if (max !== undefined && (!Number.isInteger(max) || max < 0)) {
    throw new TypeError(`maxResponseBytes must be a non-negative integer (got ${max})`);
  }
}

function exchange(
  url: URL,
  request: OutboundRequest,
  lookup: ReturnType<typeof guardedLookup>,
  started: number,
  agent: http.Agent,
): Promise<OutboundResponse & { staleSocket?: boolean }> {
  const max = request.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  return new Promise((resolve) => {
    let status: number | null = null;
    let headers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    let received = 0;
    let truncated = false;
    let settled = false;
    let response: http.IncomingMessage | undefined;

    // The guarded lookup goes with the request: the agent passes it to every socket it opens.
    const req = (url.protocol === 'https:' ? https : http).request({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: request.method ?? (request.body === undefined ? 'GET' : 'POST'),
      headers: requestHeaders(request),
      auth: url.username ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined,
      agent,
      lookup,
      rejectUnauthorized: request.verifyTls !== false,
    });

    const finish = (error: OutboundError | null, keepSocket = false, staleSocket = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
      // A response read to its end leaves the socket to the pool; whatever is still unread (an
      // endless body, a stalled server, a timeout) is dropped with the socket.
      if (!keepSocket) {
        response?.destroy();
        req.destroy();
      }
      resolve({
        ...(staleSocket ? { staleSocket } : {}),
        status,
        headers,
        body: new StringDecoder('utf8').write(Buffer.concat(chunks).subarray(0, max)),
        bodyTruncated: truncated,
        latencyMs: Math.round(performance.now() - started),
        error,
      });
    };
    const onAbort = () => finish({ kind: 'aborted', message: 'the request was aborted by the caller' });
    const timer = setTimeout(
      () => finish({ kind: 'timeout', message: `no complete response within ${request.timeoutMs} ms` }),
      request.timeoutMs,
    );
    request.signal?.addEventListener('abort', onAbort, { once: true });

    req.on('error', (err: NodeJS.ErrnoException) =>
      finish(classify(err, 'request'), false, req.reusedSocket && status === null && (err.code === 'ECONNRESET' || err.code === 'EPIPE')),
    );
    req.on('response', (res) => {
      response = res;
      status = res.statusCode ?? null;
      headers = flattenHeaders(res.headers);
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        // Keep at most max + one byte: enough to know the body was longer than the cap.
        chunks.push(chunk.subarray(0, max + 1 - received));
        received += chunk.length;
        if (received > max) {
          truncated = true;
          finish(null);
        }
      });
      res.on('end', () => finish(null, true));
      res.on('error', (err) => finish(classify(err, 'response')));
      res.on('close', () => {
        if (!res.complete) finish({ kind: 'connection', message: 'the connection closed before the response body ended' });
      });
    });
    req.end(request.body);
  });
}

function requestHeaders(request: OutboundRequest): Record<string, string> {
  const headers: Record<string, string> = { ...request.headers };
  const names = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
  if (!names.has('user-agent')) headers['user-agent'] = DEFAULT_USER_AGENT;
  if (request.body !== undefined && !names.has('content-length')) {
    headers['content-length'] = String(Buffer.byteLength(request.body));
  }
  return headers;
}

function flattenHeaders(raw: http.IncomingHttpHeaders): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME']);

/**
 * Turns a socket error into the attempt log's words. Node's own texts ("socket hang up", an
 * OpenSSL error line) keep their place in parentheses for searching, after a sentence a
 * receiver's operator understands.
 */
function classify(err: NodeJS.ErrnoException, phase: 'request' | 'response'): OutboundError {
  if (err instanceof BlockedAddressError) return { kind: 'blocked', message: `refusing to connect: ${err.message}` };
  // With several addresses (happy eyeballs) Node reports an AggregateError of the attempts.
  const inner = err instanceof AggregateError ? (err.errors[0] as NodeJS.ErrnoException | undefined) : undefined;
  const code = err.code ?? inner?.code ?? '';
  const message = (err.message || inner?.message || code || 'unknown network error').trim();
  if (DNS_CODES.has(code)) return { kind: 'dns', message: `could not resolve the host: ${message}` };
  if (code === 'ETIMEDOUT') return { kind: 'timeout', message };
  if (code === 'EPROTO' || /SSL|TLS|CERT/.test(code)) return { kind: 'tls', message: `TLS handshake failed: ${tlsReason(message)}` };
  if (code === 'ECONNRESET') {
    const when = phase === 'request' ? 'before it sent a response' : 'in the middle of its response';
    return { kind: 'connection', message: `reset by the receiver ${when} (${message})` };
  }
  if (code === 'ECONNREFUSED') return { kind: 'connection', message: `refused: nothing accepts connections there (${message})` };
  return { kind: 'connection', message };
}

/**
 * OpenSSL reports "write EPROTO 80…:error:0A00010B:SSL routines:ssl3_get_record:wrong version
 * number:../deps/openssl/…": only the reason means anything to a user.
 */
function tlsReason(message: string): string {
  const reason = /SSL routines:[^:]*:([^:]+)/.exec(message)?.[1]?.trim() ?? message;
  // What a client sees when the other end answers a TLS hello in plain HTTP.
  if (/wrong version number|packet length too long|http request/i.test(reason)) {
    return `the receiver did not answer in TLS; is it a plain http:// server? (${reason})`;
  }
  return reason;
}
