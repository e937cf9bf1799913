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

      const response = await traceOutbound(request.method ?? 'POST', request.url, request.headers ?? {}, (headers) =>
        exchange(url, { ...request, headers }, lookup, started),
      );
      if (response.error?.kind === 'blocked') {
        log({ target: url.origin, reason: response.error.message }, 'outbound request blocked: forbidden address');
      }
      return response;
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
): Promise<OutboundResponse> {
  const max = request.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  return new Promise((resolve) => {
    let status: number | null = null;
    let headers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    let received = 0;
    let truncated = false;
    let settled = false;
    let response: http.IncomingMessage | undefined;

    // agent: false gives every request its own socket, so the lookup guard runs per connection.
    const req = (url.protocol === 'https:' ? https : http).request({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: request.method ?? (request.body === undefined ? 'GET' : 'POST'),
      headers: requestHeaders(request),
      auth: url.username ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined,
      agent: false,
      lookup,
      rejectUnauthorized: request.verifyTls !== false,
    });

    const finish = (error: OutboundError | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
      // Whatever is still unread (an endless body, a stalled server) is dropped with the socket.
      response?.destroy();
      req.destroy();
      resolve({
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

    req.on('error', (err) => finish(classify(err, 'request')));
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
      res.on('end', () => finish(null));
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
