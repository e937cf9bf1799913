import { parentPort } from 'node:worker_threads';
import { validatePayload } from './payloadSchema.js';

/**
 * The thread that runs tenants' input schemas against payloads, so a costly schema/payload
 * pair delays only itself: the API thread waits for the answer with a deadline and ends this
 * thread when it is exceeded (see payloadValidator.ts).
 */
interface Job {
  id: number;
  schema: Record<string, unknown>;
  payload: unknown;
}

// Jobs are sent only after this: loading the module is not counted against a job's deadline.
parentPort?.postMessage({ ready: true });
parentPort?.on('message', (job: Job) => {
  try {
    parentPort!.postMessage({ id: job.id, errors: validatePayload(job.schema, job.payload) });
  } catch (err) {
    // A schema that recurses without consuming the payload overflows the stack: a refusal, not a crash.
    parentPort!.postMessage({ id: job.id, failure: err instanceof RangeError ? 'the input schema recursed too deeply for this payload' : (err as Error).message });
  }
});
