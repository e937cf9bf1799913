import { fileURLToPath } from 'node:url';
import { SpanKind, SpanStatusCode, context, propagation, trace, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NoopSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { InjectedSinks, WorkerInterceptors } from '@temporalio/worker';
import type { Middleware } from 'koa';

/**
 * OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. One trace follows a request through the API,
 * the workflow start, the workflow, its activities and the outbound HTTP call: the HTTP span
 * here, Temporal's own interceptors (@temporalio/interceptors-opentelemetry) for the Temporal
 * part, and a client span around every outbound request. The exporter reads the standard
 * OTEL_* variables (headers, timeouts, batch delays). Spans carry ids, routes and origins,
 * never bodies, paths of outbound URLs (token URLs) or credentials.
 */
const TRACER = 'agent-webhooks';

let provider: NodeTracerProvider | undefined;
let processor: SpanProcessor = new NoopSpanProcessor();
let resource = Resource.default();

export function tracingEnabled(): boolean {
  return provider !== undefined;
}

/** Installs the global tracer provider once per process when an OTLP endpoint is configured. */
export function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (provider) return true;
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return false;
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  resource = Resource.default().merge(new Resource({ 'service.name': env.OTEL_SERVICE_NAME || serviceName }));
  processor = new BatchSpanProcessor(new OTLPTraceExporter());
  provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  // AsyncLocalStorage context and W3C trace-context propagation.
  provider.register();
  return true;
}

/** Flushes what is buffered: part of a graceful shutdown. */
export async function stopTracing(): Promise<void> {
  await provider?.shutdown().catch(() => undefined);
}

/** The trace id of the active span, for log lines; undefined outside a traced operation. */
export function activeTraceId(): string | undefined {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, traceFlags } = span.spanContext();
  return traceFlags & 1 && traceId !== '00000000000000000000000000000000' ? traceId : undefined;
}

/** Client interceptors: the workflow start becomes a span and carries the trace into Temporal. */
export function temporalClientInterceptors(): { workflow: WorkflowClientInterceptor[] } | undefined {
  return tracingEnabled() ? { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } : undefined;
}

/**
 * The workflow-side interceptor module, bundled into every workflow bundle: OpenTelemetry's
 * workflow interceptors for the workflows whose start carried a trace context (workflows/tracing.ts),
 * nothing for the others. Sources under tsx, compiled JavaScript under dist/.
 */
export const workflowInterceptorModule = fileURLToPath(new URL(`../workflows/tracing.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));

/** Worker interceptors (activities; workflow clients used by activities) and the sink workflow spans leave through. */
export function temporalWorkerTracing(): { interceptors: WorkerInterceptors; sinks: InjectedSinks<Record<string, never>> } {
  return {
    interceptors: tracingEnabled()
      ? {
          activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
          client: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
        }
      : {},
    // Always present: the bundled workflow interceptor calls it; without tracing it goes nowhere.
    sinks: { exporter: makeWorkflowExporter(processor, resource) } as unknown as InjectedSinks<Record<string, never>>,
  };
}

/**
 * The server span of an API request, named after the matched route (`POST /v1/agents/:id/runs`),
 * continuing a caller's `traceparent`. Everything the request does, its log lines included,
 * runs inside it.
 */
export function traceRequests(): Middleware {
  return async (ctx, next) => {
    if (!tracingEnabled()) return next();
    const parent = propagation.extract(context.active(), ctx.headers);
    const span = trace.getTracer(TRACER).startSpan(
      `${ctx.method}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': ctx.method } },
      parent,
    );
    try {
      await context.with(trace.setSpan(parent, span), next);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute;
      if (route) {
        span.updateName(`${ctx.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('http.response.status_code', ctx.status);
      if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  };
}

/**
 * A client span around an outbound request, with the W3C `traceparent` added to its headers so
 * a receiver that traces can continue it. Only the origin is recorded: paths carry tokens.
 */
export async function traceOutbound<T extends { status: number | null; error?: { kind: string } | null }>(
  method: string,
  url: string,
  headers: Record<string, string>,
  send: (headers: Record<string, string>) => Promise<T>,
): Promise<T> {
  if (!tracingEnabled()) return send(headers);
  let origin = 'invalid';
  try {
    origin = new URL(url).origin;
  } catch {
    // recorded as invalid; the client reports the error
  }
  return trace.getTracer(TRACER).startActiveSpan(
    method,
    { kind: SpanKind.CLIENT, attributes: { 'http.request.method': method, 'server.origin': origin } },
    async (span: Span) => {
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      try {
        const response = await send({ ...headers, ...carrier });
        if (response.status !== null) span.setAttribute('http.response.status_code', response.status);
        if (response.error) span.setStatus({ code: SpanStatusCode.ERROR, message: response.error.kind });
        return response;
      } finally {
        span.end();
      }
    },
  );
}
