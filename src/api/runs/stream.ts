import { PassThrough } from 'node:stream';
import { listRunEvents, RUN_EVENTS_CHANNEL } from '../../db/events.js';
import type { AppContext, AppDeps } from '../context.js';

const TERMINAL = new Set(['run_completed', 'run_failed', 'run_cancelled', 'run_timed_out']);

/** Resolves `wait()` on the next `notify()`, remembering a notify that came while nobody waited. */
class Wakeup {
  private pending = false;
  private resolve: (() => void) | undefined;
  notify() {
    if (this.resolve) {
      const r = this.resolve;
      this.resolve = undefined;
      r();
    } else this.pending = true;
  }
  wait(timeoutMs: number): Promise<boolean> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.resolve = undefined;
        resolve(false);
      }, timeoutMs);
      this.resolve = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}

/**
 * Streams a run's events as Server-Sent Events. Events are read from the table (so a
 * reconnect with Last-Event-ID resumes exactly where it left off) and the stream wakes on
 * NOTIFY from whichever process stored them, so delivery does not wait for a poll interval.
 */
export async function streamRunEvents(deps: AppDeps, ctx: AppContext, runId: string, after: number): Promise<void> {
  const stream = new PassThrough();
  const wakeup = new Wakeup();
  let closed = false;
  const unlisten = await deps.listen(RUN_EVENTS_CHANNEL, (payload) => {
    // An empty payload is the listener's reconnect nudge: re-read in case something was missed.
    if (payload === runId || payload === '') wakeup.notify();
  });
  const close = () => {
    closed = true;
    wakeup.notify();
  };
  ctx.req.on('close', close);
  ctx.req.socket.setTimeout(0);

  ctx.status = 200;
  ctx.set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  ctx.body = stream;
  stream.write('retry: 2000\n\n');

  const heartbeatMs = deps.config.SSE_HEARTBEAT_SECONDS * 1000;
  void (async () => {
    let cursor = after;
    try {
      while (!closed) {
        const events = await listRunEvents(deps.db, runId, cursor);
        let finished = false;
        for (const event of events) {
          const data = { event_type: event.event_type, sequence: event.sequence, payload: event.payload, created_at: event.created_at.toISOString() };
          stream.write(`id: ${event.sequence}\nevent: ${event.event_type}\ndata: ${JSON.stringify(data)}\n\n`);
          cursor = event.sequence;
          if (TERMINAL.has(event.event_type)) finished = true;
        }
        if (finished) break;
        if (!(await wakeup.wait(heartbeatMs)) && !closed) stream.write(': heartbeat\n\n');
      }
    } catch (err) {
      ctx.state.log.warn({ err, run_id: runId }, 'run event stream failed');
    } finally {
      ctx.req.off('close', close);
      await unlisten().catch(() => undefined);
      stream.end();
    }
  })();
}
