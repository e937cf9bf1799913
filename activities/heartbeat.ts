import { Context } from '@temporalio/activity';

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
