import type { Client } from '@temporalio/client';

/** An engine call still unanswered when its deadline passed; the call itself was abandoned. */
export class EngineDeadlineExceeded extends Error {
  override name = 'EngineDeadlineExceeded';
}

/**
 * Runs `fn`'s Temporal calls under a deadline (epoch ms) that holds: each gRPC call carries it,
 * and a timer abandons the calls (through `abandon`) and rejects with EngineDeadlineExceeded
 * when it passes. The gRPC deadline alone does not hold: against an unreachable server the
 * client's retry interceptor sleeps between attempts (backing off up to 5 s), and a deadline
 * that passes during a sleep only fails the call when the sleep ends; a 5 s start against a
 * closed port took 5.2–6 s here.
 */
export async function withinDeadline<T>(
  client: Pick<Client, 'withDeadline' | 'withAbortSignal'>,
  deadline: number,
  fn: () => Promise<T>,
  abandon = new AbortController(),
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        abandon.abort();
        reject(new EngineDeadlineExceeded('The workflow engine did not answer within the deadline'));
      },
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([client.withAbortSignal(abandon.signal, () => client.withDeadline(deadline, fn)), expired]);
  } finally {
    clearTimeout(timer);
  }
}
