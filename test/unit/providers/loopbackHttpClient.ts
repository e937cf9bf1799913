import { request as httpRequest } from 'node:http';
import type { HttpClient, OutboundErrorKind, OutboundRequest, OutboundResponse } from '../../../src/outbound/types.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * A minimal HttpClient for provider tests: real HTTP over loopback, per the interface only.
 * It refuses every other host ('blocked'), which also keeps tests off the network.
 */
export function loopbackHttpClient(): HttpClient {
  return { send };
}

async function send(req: OutboundRequest): Promise<OutboundResponse> {
  const started = Date.now();
  const done = (status: number | null, rest: Partial<OutboundResponse> = {}): OutboundResponse => ({
    status,
    headers: {},
    body: '',
    bodyTruncated: false,
    latencyMs: Date.now() - started,
    error: null,
    ...rest,
  });
  const failed = (kind: OutboundErrorKind, message: string) => done(null, { error: { kind, message } });

  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return failed('invalid_url', 'not a valid URL');
  }
  if (url.protocol !== 'http:') return failed('invalid_url', `unsupported scheme ${url.protocol}`);
  if (!LOOPBACK.has(url.hostname)) return failed('blocked', `${url.hostname} is not a loopback address`);
  if (req.signal?.aborted) return failed('aborted', 'aborted before sending');

  const cap = req.maxResponseBytes ?? 64 * 1024;
  return new Promise<OutboundResponse>((resolve) => {
    let settled = false;
    const finish = (response: OutboundResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      resolve(response);
    };

    const outgoing = httpRequest(url, { method: req.method ?? 'POST', headers: req.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(res.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      const complete = (truncated: boolean) =>
        finish(done(res.statusCode ?? null, { headers, body: Buffer.concat(chunks).toString('utf8'), bodyTruncated: truncated }));
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        const room = cap - size;
        chunks.push(chunk.subarray(0, Math.max(0, room)));
        size += chunk.length;
        if (size > cap) {
          complete(true);
          res.destroy();
        }
      });
      res.on('end', () => complete(false));
      res.on('error', (err) => finish(failed('connection', err.message)));
    });

    const timer = setTimeout(() => {
      finish(failed('timeout', `no complete answer within ${req.timeoutMs} ms`));
      outgoing.destroy();
    }, req.timeoutMs);
    const onAbort = () => {
      finish(failed('aborted', 'request aborted'));
      outgoing.destroy();
    };
    req.signal?.addEventListener('abort', onAbort, { once: true });
    outgoing.on('error', (err: NodeJS.ErrnoException) => finish(failed('connection', `${err.code ?? 'error'}: ${err.message}`)));
    outgoing.end(req.body);
  });
}
