import { Context } from '@temporalio/activity';

const HEARTBEAT_MS = 1000;

/**
 * Heartbeats while `work` is pending, so an activity waiting on a slow receiver is told
 * apart from one whose worker died: with a heartbeat timeout Temporal retries the latter
 * within seconds instead of after the whole start-to-close timeout.
 */
export async function whileHeartbeating<T>(work: Promise<T>): Promise<T> {
  const context = Context.current();
  context.heartbeat();
  const timer = setInterval(() => context.heartbeat(), HEARTBEAT_MS);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
