import { defaultGrpcRetryOptions, makeGrpcRetryInterceptor, type Client, type ConnectionOptions } from '@temporalio/client';

/** An engine call still unanswered when its deadline passed; the call itself was abandoned. */
export class EngineDeadlineExceeded extends Error {
  override name = 'EngineDeadlineExceeded';
}

/** How long past its deadline a call may still be answered by gRPC before withinDeadline gives up on it. */
const GRACE_MS = 100;

type GrpcInterceptor = NonNullable<ConnectionOptions['interceptors']>[number];

/**
 * The client's gRPC retries (the SDK's interceptor and its backoff), kept within each call's
 * deadline. Against an unreachable server the SDK's interceptor sleeps between attempts, backing
 * off up to 5 s, and a deadline passing during a sleep only fails the call when the sleep ends (a
 * 5 s start against a closed port took 5.2–6 s). The sleep is also not cancellable: an abandoned
 * call retried after its connection was closed throws from a timer. Here no sleep outlasts the
 * call's deadline, and no attempt starts after it. For every `Connection` of the API.
 */
export function retryWithinDeadline(): GrpcInterceptor {
  const defaults = defaultGrpcRetryOptions();
  const unbounded = makeGrpcRetryInterceptor(defaults);
  return (options, nextCall) => {
    const deadline = options.deadline === undefined ? Infinity : new Date(options.deadline).getTime();
    if (!Number.isFinite(deadline)) return unbounded(options, nextCall);
    return makeGrpcRetryInterceptor({
      delayFunction: (attempt, status) => Math.max(0, Math.min(defaults.delayFunction(attempt, status), deadline - Date.now())),
      retryableDecider: (attempt, status) => Date.now() < deadline && defaults.retryableDecider(attempt, status),
    })(options, nextCall);
  };
}

/**
 * Runs `fn`'s Temporal calls under a deadline (epoch ms) that holds. Each gRPC call carries it
 * (and, over a Connection with retryWithinDeadline, fails by it); should an answer still be
 * missing shortly after it, a timer abandons the calls (through `abandon`) and rejects with
 * EngineDeadlineExceeded, so a caller waits no longer whatever the transport does.
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
      Math.max(0, deadline - Date.now()) + GRACE_MS,
    );
  });
  try {
    return await Promise.race([client.withAbortSignal(abandon.signal, () => client.withDeadline(deadline, fn)), expired]);
  } finally {
    clearTimeout(timer);
  }
}
