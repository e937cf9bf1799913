import { STATUS_CODES } from 'node:http';
import { z, type ZodType } from 'zod';
import type { RouteSpec } from './route.js';
import { ProblemSchema } from './schemas.js';

type Json = Record<string, unknown>;

/** zod → JSON Schema 2020-12 (OpenAPI 3.1's dialect), named schemas hoisted into components. */
function jsonSchema(schema: ZodType, io: 'input' | 'output', components: Json): Json {
  const converted = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  delete converted.$schema;
  const defs = (converted.$defs ?? {}) as Record<string, Json>;
  delete converted.$defs;
  const id = z.globalRegistry.get(schema)?.id;
  for (const [name, def] of Object.entries(defs)) components[name] ??= rewriteRefs(def);
  if (id) {
    delete converted.id;
    components[id] ??= rewriteRefs(converted);
    return { $ref: `#/components/schemas/${id}` };
  }
  return rewriteRefs(converted);
}

function rewriteRefs<T>(value: T): T {
  if (Array.isArray(value)) return value.map(rewriteRefs) as T;
  if (value && typeof value === 'object') {
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'id' && typeof v === 'string') continue; // zod's registry id, not a JSON Schema keyword here
      out[k] = k === '$ref' && typeof v === 'string' ? v.replace('#/$defs/', '#/components/schemas/') : rewriteRefs(v);
    }
    return out as T;
  }
  return value;
}

const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z_]+)/g, '{$1}');

function problemStatuses(spec: RouteSpec): number[] {
  const statuses = new Set<number>(spec.errors ?? []);
  if (spec.auth.kind === 'apiKey' || spec.auth.kind === 'adminOrApiKey') [401, 403].forEach((s) => statuses.add(s));
  if (spec.auth.kind === 'admin') [401, 404].forEach((s) => statuses.add(s));
  const invalid = spec.invalidStatus ?? 422;
  if (spec.body) statuses.add(invalid);
  // The body parser reads whatever a POST/PATCH carries, even where the operation takes none.
  if (spec.body || spec.method === 'post' || spec.method === 'patch') [400, 413, 415].forEach((s) => statuses.add(s));
  if (spec.query) statuses.add(invalid);
  if (/:[A-Za-z_]+/.test(spec.path)) statuses.add(404);
  statuses.add(500);
  // Anything that reads the database answers 503 + Retry-After while it is unreachable
  // (readiness documents its own 503, with a body of its own).
  if (spec.usesDatabase !== false) statuses.add(503);
  return [...statuses].sort();
}

/** JSON, and for routes that take forms the same fields urlencoded (bracket names nest) or multipart. */
function requestContent(spec: RouteSpec, schema: Json): Json {
  if (!spec.forms) return { 'application/json': { schema } };
  const nested = Object.fromEntries((spec.forms.jsonFields ?? []).map((field) => [field, { style: 'deepObject', explode: true }]));
  return {
    'application/json': { schema },
    'application/x-www-form-urlencoded': { schema, ...(Object.keys(nested).length ? { encoding: nested } : {}) },
    'multipart/form-data': { schema },
  };
}

export interface OpenApiInfo {
  version: string;
  serverUrl: string;
}

export function buildOpenApiDocument(routes: RouteSpec[], info: OpenApiInfo): Json {
  const components: Json = {};
  const problemRef = jsonSchema(ProblemSchema, 'output', components);
  const paths: Record<string, Json> = {};
  const tags = new Set<string>();

  for (const spec of routes) {
    tags.add(spec.tag);
    const parameters: Json[] = [...spec.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      // Ids are UUIDs; a token is the secret part of a token URL.
      schema: m[1] === 'token' ? { type: 'string', description: 'The secret token of the URL' } : { type: 'string', format: 'uuid' },
    }));
    if (spec.query instanceof z.ZodObject) {
      for (const [name, field] of Object.entries(spec.query.shape as Record<string, ZodType>)) {
        const schema = jsonSchema(field, 'input', components);
        parameters.push({
          name,
          in: 'query',
          required: !field.safeParse(undefined).success,
          ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
          schema,
        });
      }
    }

    for (const [name, description] of Object.entries(spec.requestHeaders ?? {})) {
      parameters.push({ name, in: 'header', required: false, description, schema: { type: 'string' } });
    }

    const responses: Json = {};
    for (const [status, response] of Object.entries(spec.responses)) {
      responses[status] = {
        description: response.description,
        ...(response.headers
          ? { headers: Object.fromEntries(Object.entries(response.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }])) }
          : {}),
        ...(response.schema || response.contentType
          ? {
              content: {
                [response.contentType ?? 'application/json']: {
                  schema: response.schema ? jsonSchema(response.schema, 'output', components) : { type: 'string' },
                },
              },
            }
          : {}),
      };
    }
    for (const status of problemStatuses(spec)) {
      responses[String(status)] ??= {
        description: STATUS_CODES[status] ?? 'Error',
        content: { 'application/problem+json': { schema: problemRef } },
      };
    }

    const scope = spec.auth.kind === 'apiKey' || spec.auth.kind === 'adminOrApiKey' ? spec.auth.scope : undefined;
    const requirement =
      spec.auth.kind === 'adminOrApiKey'
        ? `Requires the operator's admin token, or an API key with scope \`${scope}\`.`
        : scope
          ? `Requires an API key with scope \`${scope}\`.`
          : spec.auth.kind === 'apiKey'
            ? 'Requires any valid API key or portal session; no scope.'
            : undefined;
    const operation: Json = {
      operationId: spec.operationId,
      summary: spec.summary,
      description: [spec.description, requirement].filter(Boolean).join('\n\n'),
      tags: [spec.tag],
      security: {
        public: [],
        admin: [{ adminToken: [] }],
        apiKey: [{ apiKey: [] }, ...(spec.auth.kind === 'apiKey' && spec.auth.streamToken ? [{ streamToken: [] }] : [])],
        adminOrApiKey: [{ apiKey: [] }, { adminToken: [] }],
      }[spec.auth.kind],
      ...(scope ? { 'x-required-scope': scope } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(spec.body ? { requestBody: { required: true, content: requestContent(spec, jsonSchema(spec.body, 'input', components)) } } : {}),
      responses,
    };
    const path = toOpenApiPath(spec.path);
    paths[path] = { ...paths[path], [spec.method]: operation };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Agent Webhooks API',
      version: info.version,
      description:
        'Start agent runs over HTTP and receive signed webhooks for everything that happens. ' +
        'Authenticate with `Authorization: Bearer <api key>` (or a portal session token). Errors are RFC 9457 problem+json with a `code` and `request_id`; ' +
        'lists are newest first and take `limit` (1–100) and `cursor` (the previous page\'s `pagination.next_cursor`) or, for compatibility, `page` (first 10,000 items; `total` exact up to 10,000, then `total_capped`); they answer `{data, pagination}`.',
    },
    servers: [{ url: info.serverUrl }],
    tags: [...tags].map((name) => ({ name })),
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'awk_ or aps_ followed by 64 hex characters',
          description: 'An org-wide or agent-scoped API key (awk_…), or a portal session token (aps_…) with the scopes and agent it was issued for.',
        },
        adminToken: { type: 'http', scheme: 'bearer', description: 'The operator ADMIN_TOKEN; the admin API is absent (404) when it is unset.' },
        streamToken: {
          type: 'apiKey',
          in: 'query',
          name: 'stream_token',
          description: 'A short-lived token for one run\'s event stream, from POST /v1/runs/{id}/stream-token (for browsers\' EventSource, which cannot send headers).',
        },
      },
    },
  };
}
