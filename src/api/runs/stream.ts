import { PassThrough } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Config } from '../../config.js';
import { listRunEvents, RUN_EVENTS_CHANNEL } from '../../db/events.js';
import type { Database, RunEvent } from '../../db/schema.js';
import { revokedKeyIds } from '../../db/streams.js';
import { AppError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { sseEventReads, sseStreamsOpen } from '../../metrics.js';
import type { AppContext } from '../context.js';

const TERMINAL = new Set(['run_completed', 'run_failed', 'run_cancelled', 'run_timed_out']);
/** A client this far behind is not reading: it is dropped (it may reconnect with Last-Event-ID). */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * One SSE frame as seed 004 documents it: `id:` and a `data:` line carrying the type inside,
 * and no `event:` field, so a browser's `EventSource.onmessage` receives every frame.
 */
export function sseFrame(event: Pick<RunEvent, 'event_type' | 'sequence' | 'payload' | 'created_at'>): string {
  const data = { event_type: event.event_type, sequence: event.sequence, payload: event.payload, created_at: event.created_at.toISOString() };
  return `id: ${event.sequence}\ndata: ${JSON.stringify(data)}\n\n`;
}

interface Subscriber {
  keyId: string;
  /** Highest sequence written to this stream. */
  cursor: number;
  /** Events fanned out while this stream was still reading its backlog. */
  pending: RunEvent[] | undefined;
  stream: PassThrough;
  end(): void;
}

/** The streams of one run in this process, and the single reader that serves them all. */
interface RunFeed {
  runId: string;
  subscribers: Set<Subscriber>;
  reading: boolean;
  dirty: boolean;
}

export interface RunStreamHubDeps {
  config: Config;
  db: Kysely<Database>;
  log: Logger;
  listen: (channel: string, onNotify: (payload: string) => void) => Promise<() => Promise<void>>;
}

/**
 * Serves every run event stream of this API process. One LISTEN for the process; on a NOTIFY
 * the run's events are read once (from the lowest cursor of its streams) and fanned out in
 * memory to each of its streams, so N streams on a run cost one query per event, not N. Streams
 * are capped per API key and per run; one heartbeat timer writes `: heartbeat` to all of them
 * and, in the same tick, ends the streams of keys revoked since (one query for all keys).
 */
export class RunStreamHub {
  private readonly feeds = new Map<string, RunFeed>();
  private readonly perKey = new Map<string, number>();
  private listening: Promise<unknown> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private open = 0;

  constructor(private readonly deps: RunStreamHubDeps) {}

  /** Streams `runId`'s events after `after` to the response. Throws 429 beyond the caps. */
  async stream(ctx: AppContext, opts: { runId: string; keyId: string; after: number }): Promise<void> {
    const { config } = this.deps;
    const keyStreams = this.perKey.get(opts.keyId) ?? 0;
    if (keyStreams >= config.SSE_MAX_STREAMS_PER_KEY) {
      throw new AppError(429, 'RATE_LIMITED', `This API key already has ${keyStreams} open event streams (limit ${config.SSE_MAX_STREAMS_PER_KEY}); close one first`, undefined, {
        'Retry-After': '5',
      });
    }
    const feed = this.feeds.get(opts.runId);
    if (feed && feed.subscribers.size >= config.SSE_MAX_STREAMS_PER_RUN) {
      throw new AppError(429, 'RATE_LIMITED', `This run already has ${feed.subscribers.size} open event streams (limit ${config.SSE_MAX_STREAMS_PER_RUN})`, undefined, {
        'Retry-After': '5',
      });
    }
    // Count the stream before the first await, so concurrent opens cannot all pass the cap.
    this.perKey.set(opts.keyId, keyStreams + 1);
    this.open++;
    sseStreamsOpen.set(this.open);
    let ended = false;
    const stream = new PassThrough();
    const sub: Subscriber = {
      keyId: opts.keyId,
      cursor: opts.after,
      pending: [],
      stream,
      end: () => {
        if (ended) return;
        ended = true;
        this.detach(opts.runId, sub);
        stream.end();
      },
    };
    ctx.req.on('close', sub.end);
    ctx.req.socket.setTimeout(0);
    try {
      this.listening ??= this.deps.listen(RUN_EVENTS_CHANNEL, (payload) => this.onNotify(payload));
      await this.listening;
    } catch (err) {
      this.listening = undefined;
      sub.end();
      throw err;
    }

    ctx.status = 200;
    ctx.set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    ctx.body = stream;
    stream.write('retry: 2000\n\n');
    if (ended) return;

    // Join the feed first, then read the backlog: whatever is stored meanwhile arrives through
    // the feed (held in `pending`) and the cursor drops duplicates.
    let target = this.feeds.get(opts.runId);
    if (!target) {
      target = { runId: opts.runId, subscribers: new Set(), reading: false, dirty: false };
      this.feeds.set(opts.runId, target);
    }
    target.subscribers.add(sub);
    this.startHeartbeat();
    try {
      sseEventReads.inc({ reason: 'backlog' });
      const backlog = await listRunEvents(this.deps.db, opts.runId, opts.after);
      const pending = sub.pending ?? [];
      sub.pending = undefined;
      this.deliver(sub, backlog);
      this.deliver(sub, pending);
    } catch (err) {
      ctx.state.log.warn({ err, run_id: opts.runId }, 'run event stream failed');
      sub.end();
    }
  }

  private detach(runId: string, sub: Subscriber) {
    const feed = this.feeds.get(runId);
    if (feed?.subscribers.delete(sub) && feed.subscribers.size === 0) this.feeds.delete(runId);
    const left = (this.perKey.get(sub.keyId) ?? 1) - 1;
    if (left > 0) this.perKey.set(sub.keyId, left);
    else this.perKey.delete(sub.keyId);
    this.open--;
    sseStreamsOpen.set(this.open);
    if (this.open === 0 && this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }

  private deliver(sub: Subscriber, events: RunEvent[]) {
    if (sub.pending) {
      sub.pending.push(...events);
      return;
    }
    for (const event of events) {
      if (event.sequence <= sub.cursor) continue;
      sub.stream.write(sseFrame(event));
      sub.cursor = event.sequence;
      if (TERMINAL.has(event.event_type)) {
        sub.end();
        return;
      }
    }
    if (sub.stream.writableLength > MAX_BUFFERED_BYTES) sub.end();
  }

  private onNotify(payload: string) {
    // An empty payload is the listener's reconnect nudge: re-read every feed in case something was missed.
    if (payload === '') for (const feed of this.feeds.values()) void this.read(feed);
    else {
      const feed = this.feeds.get(payload);
      if (feed) void this.read(feed);
    }
  }

  /** One read per notification for all streams of the run; notifications during a read coalesce into one more. */
  private async read(feed: RunFeed) {
    if (feed.reading) {
      feed.dirty = true;
      return;
    }
    feed.reading = true;
    try {
      do {
        feed.dirty = false;
        if (!feed.subscribers.size) break;
        const from = Math.min(...[...feed.subscribers].map((s) => s.cursor));
        sseEventReads.inc({ reason: 'notify' });
        const events = await listRunEvents(this.deps.db, feed.runId, from);
        for (const sub of [...feed.subscribers]) this.deliver(sub, events);
      } while (feed.dirty);
    } catch (err) {
      this.deps.log.warn({ err, run_id: feed.runId }, 'run event stream read failed');
      for (const sub of [...feed.subscribers]) sub.end();
    } finally {
      feed.reading = false;
    }
  }

  private startHeartbeat() {
    if (this.heartbeat) return;
    let checking = false;
    this.heartbeat = setInterval(() => {
      const subs = [...this.feeds.values()].flatMap((f) => [...f.subscribers]);
      for (const sub of subs) if (!sub.pending) sub.stream.write(': heartbeat\n\n');
      if (checking) return;
      checking = true;
      // Revocation is checked once per heartbeat for every key with an open stream.
      revokedKeyIds(this.deps.db, [...this.perKey.keys()])
        .then((revoked) => {
          if (!revoked.size) return;
          for (const feed of [...this.feeds.values()]) for (const sub of [...feed.subscribers]) if (revoked.has(sub.keyId)) sub.end();
        })
        .catch((err) => this.deps.log.warn({ err }, 'checking revoked keys of event streams failed'))
        .finally(() => {
          checking = false;
        });
    }, this.deps.config.SSE_HEARTBEAT_SECONDS * 1000);
    this.heartbeat.unref();
  }
}
