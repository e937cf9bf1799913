import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface Receiver {
  /** Origin to send to, e.g. http://127.0.0.1:41234 or http://[::1]:41234. */
  origin: string;
  port: number;
  /** Every TCP connection accepted — a blocked request must leave this at 0. */
  connections: number;
  requests: number;
  close(): Promise<void>;
}

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

/** A real loopback receiver on an ephemeral port; `tls` serves the self-signed test cert. */
export async function startReceiver(handler: Handler, opts: { host?: string; tls?: boolean } = {}): Promise<Receiver> {
  const host = opts.host ?? '127.0.0.1';
  const server = opts.tls
    ? https.createServer({ key: fixture('loopback-key.pem'), cert: fixture('loopback-cert.pem') })
    : http.createServer();
  const receiver: Receiver = {
    origin: '',
    port: 0,
    connections: 0,
    requests: 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
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
  const shownHost = host.includes(':') ? `[${host}]` : host;
  receiver.origin = `${opts.tls ? 'https' : 'http'}://${shownHost}:${receiver.port}`;
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
