import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PayloadValidationError } from './payloadSchema.js';

/** Longest a payload may take to validate; past it the payload is refused and the thread replaced. */
export const PAYLOAD_VALIDATION_DEADLINE_MS = 2_000;

/**
 * The thread's entry. From compiled JavaScript it is payloadWorker.js itself; from the sources
 * (`node --import tsx`, tests) it is payloadWorker.ts through tsx's loader, registered first:
 * `--import` in a worker's execArgv does not apply to its entry module. Paths are absolute, so
 * the thread does not depend on the working directory.
 */
function workerBootstrap(): string {
  const compiled = import.meta.url.endsWith('.js');
  const entry = new URL(compiled ? './payloadWorker.js' : './payloadWorker.ts', import.meta.url).href;
  if (compiled) return `import(${JSON.stringify(entry)})`;
  const tsxApi = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
  return `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
}

export class PayloadValidationTimeout extends Error {
  override name = 'PayloadValidationTimeout';
}

interface Pending {
  id: number;
  schema: Record<string, unknown>;
  payload: unknown;
  resolve(errors: PayloadValidationError[]): void;
  reject(err: Error): void;
}

/**
 * Tenants' JSON Schemas run on a worker thread, never on the API's event loop: a schema
 * whose cost grows exponentially (nested allOf through $refs) or a payload that makes a
 * keyword expensive then costs its own request a refusal at the deadline, not every other
 * tenant a stalled API. One thread, jobs in order; a job past its deadline ends the thread
 * and the queue continues on a fresh one.
 */
export function createPayloadValidator(deadlineMs = PAYLOAD_VALIDATION_DEADLINE_MS) {
  const queue: Pending[] = [];
  let worker: Worker | null = null;
  let current: { job: Pending; timer: NodeJS.Timeout; thread: Worker } | null = null;
  let nextId = 1;
  let ready = false;

  const spawn = () => {
    ready = false;
    const thread = new Worker(workerBootstrap(), { eval: true });
    thread.unref();
    thread.on('message', (message: { ready?: true; id: number; errors?: PayloadValidationError[]; failure?: string }) => {
      if (message.ready) {
        if (worker === thread) ready = true;
        return pump();
      }
      if (!current || current.job.id !== message.id) return;
      clearTimeout(current.timer);
      const { job } = current;
      current = null;
      if (message.errors) job.resolve(message.errors);
      else job.resolve([{ path: 'payload', message: `could not be validated: ${message.failure ?? 'unknown error'}` }]);
      pump();
    });
    // Only the job running on this very thread is concerned: a replaced thread exits late.
    thread.on('error', (err) => {
      if (current?.thread === thread) fail(err);
    });
    thread.on('exit', () => {
      if (worker === thread) {
        worker = null;
        // A thread that died before it was ready (a broken install) must not strand the queue.
        if (!ready) for (const job of queue.splice(0)) job.reject(new Error('the validation thread could not start'));
      }
      if (current?.thread === thread) fail(new Error('the validation thread stopped'));
    });
    return thread;
  };

  const fail = (err: Error) => {
    if (!current) return;
    clearTimeout(current.timer);
    const { job } = current;
    current = null;
    job.reject(err);
    pump();
  };

  const pump = () => {
    if (current || queue.length === 0) return;
    const thread = (worker ??= spawn());
    if (!ready) return; // pumped again when the thread says it is ready
    const job = queue.shift()!;
    const timer = setTimeout(() => {
      if (worker === thread) worker = null;
      fail(new PayloadValidationTimeout(`took more than ${deadlineMs} ms to check against the trigger's input schema`));
      void thread.terminate();
    }, deadlineMs);
    current = { job, timer, thread };
    thread.postMessage({ id: job.id, schema: job.schema, payload: job.payload });
  };

  return {
    validate(schema: Record<string, unknown>, payload: unknown): Promise<PayloadValidationError[]> {
      return new Promise((resolve, reject) => {
        queue.push({ id: nextId++, schema, payload, resolve, reject });
        pump();
      });
    },
    async close() {
      const thread = worker;
      worker = null;
      await thread?.terminate();
    },
  };
}

let shared: ReturnType<typeof createPayloadValidator> | undefined;

/** The process's validator, started on first use. */
export function validatePayloadOffThread(schema: Record<string, unknown>, payload: unknown): Promise<PayloadValidationError[]> {
  shared ??= createPayloadValidator();
  return shared.validate(schema, payload);
}
