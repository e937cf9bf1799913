import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Drops every open connection and refuses new ones, as a database restart does. */
  cut(): void;
  /** Accepts connections again. */
  restore(): void;
  /**
   * Stops forwarding what clients send, keeping every connection open: calls hang as they do
   * on a peer that froze (nothing is refused, so the caller cannot tell and clean up).
   */
  freeze(): void;
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy in front of a real server (Postgres here): lets a test take the
 * database away from the processes under test and give it back, without touching the
 * machine's server that other tests share.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const pairs = new Map<Socket, Socket>();
  let down = false;
  let frozen = false;
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    open.add(client);
    open.add(upstream);
    pairs.set(client, upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
      pairs.delete(client);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    if (frozen) client.pause();
    else client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      down = true;
      for (const socket of open) socket.destroy();
      open.clear();
    },
    restore() {
      down = false;
    },
    freeze() {
      frozen = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        client.pause();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        down = true;
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
