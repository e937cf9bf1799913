import { readFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * The one test receiver: a real HTTP(S) server on loopback. By default it records every
 * request (headers, body, arrival) and answers 200 or what `answer` queued; given a handler
 * it leaves the answering to it. Either way it counts TCP connections and requests, so tests
 * can prove a blocked request never connected and a keep-alive one never reconnected.
 */

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface Receiver {
  /** `<origin><path>`: where a webhook goes. */
  url: string;
  /** e.g. http://127.0.0.1:41234 or http://[::1]:41234. */
  origin: string;
  port: number;
  /** What the recording receiver got (empty when a handler answers). */
  received: Received[];
  /** Every TCP (or TLS) connection accepted: a blocked request must leave this unchanged. */
  connections: number;
  requests: number;
  /** Answers for the next requests, in order; after they run out, 200. */
  answer(...statuses: Array<number | ((r: Received) => number)>): void;
  close(): Promise<void>;
}

const fixture = (name: string) => readFileSync(new URL(`../integration/outbound/fixtures/${name}`, import.meta.url));

/**
 * `startReceiver()` / `startReceiver('/path')`: the recording receiver;
 * `startReceiver(handler, { host, tls })`: a receiver answering with `handler` (tls serves the self-signed test cert).
 */
export async function startReceiver(pathOrHandler: string | Handler = '/hook', opts: { host?: string; tls?: boolean } = {}): Promise<Receiver> {
  const host = opts.host ?? '127.0.0.1';
  const path = typeof pathOrHandler === 'string' ? pathOrHandler : '';
  const queue: Array<number | ((r: Received) => number)> = [];
  const server = opts.tls ? https.createServer({ key: fixture('loopback-key.pem'), cert: fixture('loopback-cert.pem') }) : http.createServer();
  const receiver: Receiver = {
    url: '',
    origin: '',
    port: 0,
    received: [],
    connections: 0,
    requests: 0,
    answer: (...statuses) => queue.push(...statuses),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const record: Handler = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      receiver.received.push(entry);
      const next = queue.shift() ?? 200;
      const status = typeof next === 'function' ? next(entry) : next;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: status < 300 }));
    });
  };
  const handler = typeof pathOrHandler === 'function' ? pathOrHandler : record;
  server.on(opts.tls ? 'secureConnection' : 'connection', () => receiver.connections++);
  server.on('request', (req, res) => {
    receiver.requests++;
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  receiver.port = (server.address() as AddressInfo).port;
  receiver.origin = `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${receiver.port}`;
  receiver.url = `${receiver.origin}${path}`;
  return receiver;
}

/** Whether this machine can listen on ::1 (some containers have IPv6 disabled). */
export async function canListenOnIpv6Loopback(): Promise<boolean> {
  try {
    const v6 = await startReceiver(() => {}, { host: '::1' });
    await v6.close();
    return true;
  } catch {
    return false;
  }
}

/** A port nothing listens on: bound once, then released. */
export async function closedPort(): Promise<number> {
  const r = await startReceiver(() => {});
  await r.close();
  return r.port;
}

export const ok: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'X-Receiver': 'yes' });
  res.end('hello');
};
