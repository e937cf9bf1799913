import { createHash } from 'node:crypto';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { RegExpEngine } from 'ajv/dist/types/index.js';
import addFormats from 'ajv-formats';
import { RE2JS } from 're2js';

/**
 * A trigger's optional input schema: JSON Schema 2020-12 the payload must match. Schemas come
 * from API callers, so they are bounded (size, depth), compiled once at save time (an invalid
 * schema is a 422 then, not a 500 at invocation) and never resolve remote `$ref`s (no loader
 * is configured). Each schema gets its own Ajv instance: one tenant's `$id` cannot collide
 * with or shadow another's. `pattern` and `patternProperties` run on RE2 (linear time): a
 * tenant's `^(a+)+$` cannot stall the API's event loop for everyone else; lookarounds and
 * backreferences, which need backtracking, are refused when the schema is saved.
 */

/** Ajv's regular-expression engine for caller-supplied patterns. */
const re2: RegExpEngine = Object.assign((pattern: string) => RE2JS.compile(pattern), { code: 're2js' });

export interface PayloadValidationError {
  /** Where in the payload, e.g. `payload.issue.title` or `payload.commits[0]`. */
  path: string;
  message: string;
}

export const PAYLOAD_SCHEMA_LIMITS = { bytes: 64 * 1024, depth: 32, keywords: 2_000, reportedErrors: 20 } as const;
const CACHE_SIZE = 500;

export class PayloadSchemaError extends Error {
  override name = 'PayloadSchemaError';
}

const compiled = new Map<string, ValidateFunction>();

function depthOf(value: unknown, limit: number, depth = 0): number {
  if (depth > limit || value === null || typeof value !== 'object') return depth;
  let max = depth;
  for (const child of Object.values(value)) max = Math.max(max, depthOf(child, limit, depth + 1));
  return max;
}

/** JSON with object keys sorted: two items are equal under JSON Schema exactly when these texts are. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

interface UniqueItemsValidate {
  (schema: boolean, data: unknown[]): boolean;
  errors?: Array<{ keyword: string; message: string; params: Record<string, unknown> }>;
}

/** One pass with a set of canonical texts: O(total size), whatever the items are. */
const uniqueItemsKeyword: UniqueItemsValidate = (schema, data) => {
  uniqueItemsKeyword.errors = [];
  if (!schema) return true;
  // Scalars are their own keys (1 and "1" stay apart); arrays and objects go by canonical text.
  const scalars = new Map<unknown, number>();
  const composites = new Map<string, number>();
  for (let j = 0; j < data.length; j++) {
    const item = data[j];
    const composite = item !== null && typeof item === 'object';
    const seen = composite ? composites : scalars;
    const key = composite ? canonicalJson(item) : item;
    const i = seen.get(key);
    if (i !== undefined) {
      uniqueItemsKeyword.errors = [{ keyword: 'uniqueItems', message: `must NOT have duplicate items (items ## ${i} and ${j} are identical)`, params: { i, j } }];
      return false;
    }
    seen.set(key, j);
  }
  return true;
};

/** Subschemas and keywords in a schema: bounds the compiled code and its work per payload node. */
function keywordCount(schema: unknown): number {
  let count = 0;
  const stack = [schema];
  while (stack.length) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    for (const [key, child] of Object.entries(node)) {
      count++;
      // Literal data is not schema: a large enum or const costs a lookup, not a subschema.
      if (key !== 'enum' && key !== 'const' && key !== 'default' && key !== 'examples') stack.push(child);
    }
  }
  return count;
}

/** Compiles (or finds compiled) a schema; throws PayloadSchemaError with Ajv's reason. */
export function compilePayloadSchema(schema: Record<string, unknown>): ValidateFunction {
  const json = JSON.stringify(schema);
  if (json.length > PAYLOAD_SCHEMA_LIMITS.bytes) throw new PayloadSchemaError(`must serialise to at most ${PAYLOAD_SCHEMA_LIMITS.bytes} bytes`);
  if (depthOf(schema, PAYLOAD_SCHEMA_LIMITS.depth) > PAYLOAD_SCHEMA_LIMITS.depth) {
    throw new PayloadSchemaError(`must nest at most ${PAYLOAD_SCHEMA_LIMITS.depth} levels deep`);
  }
  if (keywordCount(schema) > PAYLOAD_SCHEMA_LIMITS.keywords) {
    throw new PayloadSchemaError(`must have at most ${PAYLOAD_SCHEMA_LIMITS.keywords} keywords and properties in all`);
  }
  const key = createHash('sha256').update(json).digest('hex');
  const cached = compiled.get(key);
  if (cached) return cached;

  const ajv = new Ajv2020({ strict: false, allErrors: true, code: { regExp: re2 } });
  (addFormats as unknown as (ajv: Ajv2020) => void)(ajv);
  // Ajv compares every pair of items for `uniqueItems` unless the items are typed scalars: a
  // 140,000-number array stalled the event loop for seconds. Same rule, linear time.
  ajv.removeKeyword('uniqueItems');
  ajv.addKeyword({ keyword: 'uniqueItems', type: 'array', schemaType: 'boolean', errors: true, validate: uniqueItemsKeyword });
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    const reason = (err as Error).message;
    const hint = reason.includes('error parsing regexp') ? ' (patterns use RE2 syntax: no lookarounds or backreferences)' : '';
    throw new PayloadSchemaError(`is not a valid JSON Schema: ${reason}${hint}`);
  }
  if (compiled.size >= CACHE_SIZE) compiled.delete(compiled.keys().next().value!);
  compiled.set(key, validate);
  return validate;
}

function pointerToPath(pointer: string, extra?: unknown): string {
  const segments = pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (typeof extra === 'string') segments.push(extra);
  let path = 'payload';
  for (const segment of segments) {
    if (/^\d+$/.test(segment)) path += `[${segment}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(segment)) path += `.${segment}`;
    else path += `[${JSON.stringify(segment)}]`;
  }
  return path;
}

/** Every way the payload misses the schema (at most 20), as `{path, message}`; empty when it matches. */
export function validatePayload(schema: Record<string, unknown>, payload: unknown): PayloadValidationError[] {
  const validate = compilePayloadSchema(schema);
  if (validate(payload)) return [];
  return (validate.errors ?? []).slice(0, PAYLOAD_SCHEMA_LIMITS.reportedErrors).map((error) => {
    const params = error.params as { missingProperty?: unknown; additionalProperty?: unknown };
    return {
      path: pointerToPath(error.instancePath, params.missingProperty ?? params.additionalProperty),
      message: error.message ?? `fails ${error.keyword}`,
    };
  });
}
