import { mkdirSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { Kysely, Migrator, PostgresDialect, type MigrationResultSet } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { RUN_EVENTS_CHANNEL } from './events.js';
import { migrations } from './migrations/index.js';
import { prepareStatements } from './preparedStatements.js';

/** Channels the embedded database can notify on (see the PGlite branch of openDatabase). */
const PGLITE_CHANNELS = [RUN_EVENTS_CHANNEL];

export interface DatabaseHandle {
  db: Kysely<Database>;
  kind: 'postgres' | 'pglite';
  /** Where the data lives, without credentials, for banners and logs. */
  location: string;
  /** LISTEN on a channel; NOTIFYs from any process reach `onNotify`. Returns the unlisten. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** A postgres:// URL; when absent, PGlite (Postgres in WASM) is used. */
  url?: string;
  /** PGlite data folder, or `memory://` for a throwaway in-memory database. */
  pgliteDir?: string;
  poolSize?: number;
  /** Name parameterised statements so Postgres plans each once per connection (src/db/preparedStatements.ts). Default true. */
  preparedStatements?: boolean;
}

/**
 * One Kysely instance over node-postgres in both modes: PGlite ships a pg-compatible
 * connection, so type parsing and SQL behave the same whether a newcomer runs the embedded
 * default or production runs against a real server.
 */
export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.url) {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
    });
    // A client losing its server (restart, failover) must not crash the process: the pool
    // reports idle clients here, and a checked-out client between two queries (inside a
    // transaction) emits on itself, where node-postgres leaves no listener.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    if (options.preparedStatements !== false) pool.on('connect', (client) => prepareStatements(client));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const listener = new PgListener(options.url);
    return {
      db,
      kind: 'postgres',
      location: redactUrl(options.url),
      listen: (channel, onNotify) => listener.listen(channel, onNotify),
      close: async () => {
        await listener.close();
        await db.destroy();
      },
    };
  }

  const dir = options.pgliteDir ?? 'memory://';
  if (!dir.startsWith('memory://')) mkdirSync(dir, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  const { createPgConfig } = await import('@electric-sql/pglite/node-postgres');
  const pglite = await PGlite.create(dir);
  // LISTEN once, up front: PGlite runs it outside the pg pool, and a LISTEN issued later could
  // interleave with a pooled query's extended-protocol messages on the single connection.
  const notifications = new EventEmitter().setMaxListeners(0);
  for (const channel of PGLITE_CHANNELS) {
    await pglite.listen(channel, (payload) => notifications.emit(channel, payload));
  }
  // PGlite is a single connection: a pool of one serialises queries and keeps each
  // transaction on its own connection.
  const pool = new pg.Pool({ ...(createPgConfig(pglite) as unknown as pg.PoolConfig), max: 1 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    kind: 'pglite',
    location: dir,
    listen: async (channel, onNotify) => {
      if (!PGLITE_CHANNELS.includes(channel)) throw new Error(`PGlite: channel ${channel} is not pre-registered`);
      notifications.on(channel, onNotify);
      return async () => void notifications.off(channel, onNotify);
    },
    close: async () => {
      await db.destroy();
      await pglite.close();
    },
  };
}

export async function migrateToLatest(db: Kysely<Database>): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
  });
  const result = await migrator.migrateToLatest();
  if (result.error) throw result.error;
  return result;
}

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}

/**
 * One dedicated connection per process for LISTEN, shared by every subscriber. It reconnects
 * after losing the server; subscribers re-read what they may have missed from the table, so a
 * notification lost during the gap delays an event, never drops it.
 */
class PgListener {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private readonly channels = new Map<string, number>();
  private closed = false;

  constructor(private readonly url: string) {}

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5_000 });
      client.on('notification', (n) => this.emitter.emit(n.channel, n.payload ?? ''));
      client.on('error', () => undefined);
      client.on('end', () => {
        this.client = undefined;
        if (!this.closed && this.channels.size) setTimeout(() => void this.reconnect(), 1_000).unref();
      });
      await client.connect();
      for (const channel of this.channels.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      this.client = client;
      return client;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async reconnect() {
    try {
      await this.connect();
      for (const channel of this.channels.keys()) this.emitter.emit(channel, ''); // nudge: re-read
    } catch {
      if (!this.closed) setTimeout(() => void this.reconnect(), 2_000).unref();
    }
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const first = !this.channels.has(channel);
    this.channels.set(channel, (this.channels.get(channel) ?? 0) + 1);
    this.emitter.on(channel, onNotify);
    const client = await this.connect();
    if (first) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    return async () => {
      this.emitter.off(channel, onNotify);
      const left = (this.channels.get(channel) ?? 1) - 1;
      if (left > 0) this.channels.set(channel, left);
      else this.channels.delete(channel);
    };
  }

  async close() {
    this.closed = true;
    this.emitter.removeAllListeners();
    await this.client?.end().catch(() => undefined);
  }
}
