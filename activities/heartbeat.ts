import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';

const HEARTBEAT_MS = 1000;

/**
 * Heartbeats every second while `work` is pending, so an activity waiting on a slow remote
 * (a receiver, a model) is told apart from one whose worker died: with a heartbeat timeout
 * Temporal retries the latter within seconds instead of after the whole start-to-close
 * timeout. `heartbeat` defaults to the current activity's; providers pass theirs in.
 */
export async function whileHeartbeating<T>(work: Promise<T>, heartbeat?: () => void): Promise<T> {
  const beat = heartbeat ?? activityHeartbeat(Context.current());
  const timer = setInterval(beat, HEARTBEAT_MS);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

const activityHeartbeat = (context: Context) => () => context.heartbeat();

/**
 * Runs a bookkeeping step, heartbeating meanwhile, until the database takes it: a failure that
 * can never succeed (a non-retryable ApplicationFailure) is thrown at once, any other (the
 * database unreachable) is retried with backoff up to 5 s. It stops retrying when the activity
 * is cancelled (`until: 'cancel'`) or only once its attempt is gone (`'gone'`: timed out, or its
 * worker shutting down): a step recording what already happened outside (an agent's answer, a
 * POST sent) outlives a cancel. `cancelled`: the CancelledFailure's message, for `'cancel'`.
 */
export async function untilStored<T>(context: Context, step: () => Promise<T>, until: 'cancel' | 'gone', cancelled = 'cancelled while a step was being stored'): Promise<T> {
  const beat = () => context.heartbeat();
  for (let delayMs = 200; ; delayMs = Math.min(delayMs * 2, 5_000)) {
    try {
      return await whileHeartbeating(step(), beat);
    } catch (err) {
      if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
      const details = context.cancellationDetails;
      const stop = until === 'cancel' ? context.cancellationSignal.aborted : Boolean(details && (details.timedOut || details.notFound || details.workerShutdown || details.reset));
      if (stop) throw until === 'cancel' ? new CancelledFailure(cancelled) : err;
      await whileHeartbeating(new Promise((resolve) => setTimeout(resolve, delayMs)), beat);
    }
  }
}
