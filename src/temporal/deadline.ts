import { InterceptingCall, Metadata, RequesterBuilder, status as grpcStatus, type NextCall, type StatusObject } from '@grpc/grpc-js';
import { defaultGrpcRetryOptions, type Client, type ConnectionOptions } from '@temporalio/client';

/** An engine call still unanswered when its deadline passed; the call itself was abandoned. */
export class EngineDeadlineExceeded extends Error {
  override name = 'EngineDeadlineExceeded';
}

/** How long past its deadline a call may still be answered by gRPC before withinDeadline gives up on it. */
const GRACE_MS = 100;

type GrpcInterceptor = NonNullable<ConnectionOptions['interceptors']>[number];

/**
 * The client's gRPC retries, kept within each call's deadline and stopped by cancellation. The
 * SDK's own interceptor (makeGrpcRetryInterceptor) backs off between attempts up to 5 s against
 * an unreachable server, and neither a deadline passing nor a cancel ends its sleep: a 5 s start
 * against a closed port took 5.2–6 s, and a call whose connection was closed during a sleep threw
 * "Channel has been shut down" from the timer, an uncaught error, with the call never settled.
 * This one uses the SDK's retry policy (which statuses, how many attempts, how long between) but
 * sleeps no longer than the deadline leaves, starts no attempt after it, ends the sleep on cancel,
 * and answers a failed attempt start with UNAVAILABLE. For every `Connection` of the API.
 */
export function retryWithinDeadline(): GrpcInterceptor {
  const policy = defaultGrpcRetryOptions();
  return (options, nextCall) => {
    const deadline = options.deadline === undefined ? Infinity : new Date(options.deadline).getTime();
    let request: unknown;
    let current: ReturnType<NextCall> | undefined;
    let sleeping: NodeJS.Timeout | undefined;
    let cancelled = false;
    let finish: ((status: StatusObject) => void) | undefined;
    const requester = new RequesterBuilder()
      .withStart((metadata, caller, next) => {
        let attempt = 1;
        let response: unknown;
        finish = (status) => {
          finish = undefined;
          if (response !== undefined) caller.onReceiveMessage(response);
          caller.onReceiveStatus(status);
        };
        const retry = () => {
          sleeping = undefined;
          attempt += 1;
          response = undefined;
          try {
            current = nextCall(options);
            current.start(metadata, { onReceiveMessage: receive, onReceiveStatus: settle });
            current.sendMessage(request);
            current.halfClose();
          } catch (error) {
            finish?.({ code: grpcStatus.UNAVAILABLE, details: error instanceof Error ? error.message : String(error), metadata: new Metadata() });
          }
        };
        const receive = (message: unknown) => {
          response = message;
        };
        const settle = (status: StatusObject) => {
          const left = deadline - Date.now();
          if (!cancelled && left > 0 && policy.retryableDecider(attempt, status)) {
            sleeping = setTimeout(retry, Math.max(0, Math.min(policy.delayFunction(attempt, status), left)));
          } else {
            finish?.(status);
          }
        };
        // The first attempt's metadata passes through; its message and status, like every
        // retry's, reach the caller only once no retry follows.
        next(metadata, { onReceiveMessage: receive, onReceiveStatus: settle });
      })
      .withSendMessage((message, next) => {
        request = message;
        next(message);
      })
      .withCancel((next) => {
        cancelled = true;
        if (sleeping !== undefined) {
          clearTimeout(sleeping);
          sleeping = undefined;
          finish?.({ code: grpcStatus.CANCELLED, details: 'Cancelled on client', metadata: new Metadata() });
        } else if (current !== undefined) {
          current.cancelWithStatus(grpcStatus.CANCELLED, 'Cancelled on client');
        } else {
          next();
        }
      })
      .build();
    return new InterceptingCall(nextCall(options), requester);
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
