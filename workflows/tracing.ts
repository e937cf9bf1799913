import type { WorkflowInterceptors } from '@temporalio/workflow';
import type { interceptors as openTelemetryInterceptors } from '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors.js';

/**
 * The workflow interceptor module of every bundle: OpenTelemetry's workflow interceptors, for
 * the workflows whose start carried a trace context, and nothing for the others.
 *
 * A workflow is traced when whoever started it traces: the API's and the worker's clients add the
 * `_tracer-data` header to every start once OTEL_EXPORTER_OTLP_ENDPOINT is set, and the traced
 * workflow passes it on to its activities and children. Without the header the interceptors are
 * not even loaded: workflow modules are evaluated per workflow (the SDK's reusable context keeps
 * module state per workflow), and loading OpenTelemetry's, making spans nobody exports and the
 * promises around every command was about a fifth of a run's workflow-thread CPU.
 *
 * Replay-safe: the OpenTelemetry interceptors add headers and spans, never commands, and whether a
 * workflow is traced follows from its start event.
 */
const TRACE_HEADER = '_tracer-data';

type OpenTelemetry = ReturnType<typeof openTelemetryInterceptors>;
type Intercepting = Record<string, ((input: unknown, next: (input: unknown) => unknown) => unknown) | undefined>;

/** Module state is per workflow: set when this workflow's start carried a trace context. */
let traced: OpenTelemetry | undefined;

/** Calls the OpenTelemetry interceptor's method when this workflow is traced, else straight through. */
function delegating<T>(methods: readonly string[], pick: (otel: OpenTelemetry) => unknown): T {
  const out: Intercepting = {};
  for (const method of methods) {
    out[method] = (input, next) => {
      const target = traced ? (pick(traced) as Intercepting) : undefined;
      const intercept = target?.[method];
      return intercept ? intercept.call(target, input, next) : next(input);
    };
  }
  return out as T;
}

export const interceptors = (): WorkflowInterceptors => {
  const inbound = delegating<NonNullable<WorkflowInterceptors['inbound']>[number]>(
    ['handleSignal', 'handleUpdate', 'validateUpdate', 'handleQuery'],
    (otel) => otel.inbound?.[0],
  );
  inbound.execute = (input, next) => {
    if (input.headers[TRACE_HEADER] === undefined) return next(input);
    return import(/* webpackMode: "eager" */ '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors.js').then(({ interceptors: otel }) => {
      traced = otel();
      return traced.inbound![0]!.execute!(input, next);
    });
  };
  return {
    inbound: [inbound],
    outbound: [
      delegating(
        ['scheduleActivity', 'scheduleLocalActivity', 'startNexusOperation', 'startChildWorkflowExecution', 'continueAsNew', 'signalWorkflow', 'getLogAttributes', 'getMetricTags'],
        (otel) => otel.outbound?.[0],
      ),
    ],
    internals: [delegating(['dispose'], (otel) => otel.internals?.[0])],
  };
};
