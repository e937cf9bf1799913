import type { IncomingHttpHeaders } from 'node:http';
import busboy from 'busboy';
import { AppError } from '../../errors.js';

/**
 * Form bodies (`application/x-www-form-urlencoded`, `multipart/form-data`) as the JSON object a
 * route's schema checks, for the routes automation platforms call with forms (Zapier's
 * "Webhooks by Zapier" POST sends form data by default).
 *
 * - Every value is a string: forms carry no numbers or booleans.
 * - Bracket names nest: `context[region]=APAC` → `{context: {region: "APAC"}}`, up to
 *   {@link MAX_DEPTH} levels; `tags[]=a&tags[]=b` and a repeated name (`tag=a&tag=b`) make arrays.
 * - `jsonFields` (per route) may instead carry a JSON object as one text value:
 *   `context={"region":"APAC"}`.
 * - A multipart file part is refused (415), not dropped: a run takes text, and silently losing
 *   an attachment the sender meant to send is worse than telling them.
 */
export interface FormOptions {
  /** Fields whose text value, when it is a string, is parsed as a JSON object. */
  jsonFields?: readonly string[];
}

const MAX_FIELDS = 1000;
const MAX_DEPTH = 5;
const NAME = /^([^[\]]+)((?:\[[^[\]]*\])*)$/;

type Node = Record<string, unknown> | unknown[];

const malformed = (message: string) => new AppError(400, 'MALFORMED_FORM', message);

/** An own property only: `__proto__` and friends are plain keys here, as JSON.parse makes them. */
function own(node: Node, key: string): unknown {
  return Object.hasOwn(node, key) ? (node as Record<string, unknown>)[key] : undefined;
}

function put(node: Node, key: string, value: unknown) {
  if (Array.isArray(node)) {
    if (key !== '') throw malformed('Mixed [] and [key] under one form field name');
    node.push(value);
    return;
  }
  Object.defineProperty(node, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Adds one field to the object being built, following its bracket path. */
export function addField(target: Record<string, unknown>, name: string, value: string): void {
  const match = NAME.exec(name);
  const path = match ? [match[1]!, ...[...match[2]!.matchAll(/\[([^[\]]*)\]/g)].map((m) => m[1]!)] : [name];
  if (path.length - 1 > MAX_DEPTH) throw malformed(`Form field ${JSON.stringify(name.slice(0, 100))} nests deeper than ${MAX_DEPTH} levels`);
  let node: Node = target;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    const nextIsList = path[i + 1] === '';
    if (key === '' && i > 0) throw malformed(`Form field ${JSON.stringify(name.slice(0, 100))}: [] may only come last`);
    const existing = own(node, key);
    if (existing === undefined) {
      const child: Node = nextIsList ? [] : {};
      put(node, key, child);
      node = child;
    } else if (typeof existing === 'object' && existing !== null && Array.isArray(existing) === nextIsList) {
      node = existing as Node;
    } else {
      throw malformed(`Form field ${JSON.stringify(path[0])} is used both as a value and as a group`);
    }
  }
  const last = path[path.length - 1]!;
  const existing = Array.isArray(node) ? undefined : own(node, last);
  if (existing === undefined) put(node, last, value);
  else if (Array.isArray(existing) && path.length === 1) existing.push(value);
  else if (typeof existing === 'string') put(node, last, [existing, value]);
  else throw malformed(`Form field ${JSON.stringify(path[0])} is used both as a value and as a group`);
}

function applyJsonFields(body: Record<string, unknown>, options: FormOptions) {
  for (const field of options.jsonFields ?? []) {
    const value = own(body, field);
    if (typeof value !== 'string') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new AppError(400, 'VALIDATION_FAILED', 'The request is invalid', {
        [field]: `must be a JSON object, or sent as ${field}[key]=value fields`,
      });
    }
    put(body, field, parsed);
  }
}

export function parseUrlEncoded(text: string, options: FormOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  let count = 0;
  for (const [name, value] of new URLSearchParams(text)) {
    if (++count > MAX_FIELDS) throw new AppError(413, 'PAYLOAD_TOO_LARGE', `A form body may carry at most ${MAX_FIELDS} fields`);
    addField(body, name, value);
  }
  applyJsonFields(body, options);
  return body;
}

export async function parseMultipart(raw: Buffer, headers: IncomingHttpHeaders, limitBytes: number, options: FormOptions) {
  const body: Record<string, unknown> = {};
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers,
      defParamCharset: 'utf8',
      limits: { fieldSize: limitBytes, fields: MAX_FIELDS, parts: MAX_FIELDS, fieldNameSize: 1000 },
    });
  } catch (err) {
    throw malformed(`The multipart body cannot be read: ${(err as Error).message}`);
  }
  await new Promise<void>((resolve, reject) => {
    let failure: AppError | undefined;
    const fail = (err: AppError) => {
      failure ??= err;
    };
    parser.on('field', (name, value) => {
      try {
        if (!failure) addField(body, name, value);
      } catch (err) {
        fail(err as AppError);
      }
    });
    parser.on('file', (name, stream, info) => {
      stream.resume();
      fail(
        new AppError(
          415,
          'UNSUPPORTED_MEDIA_TYPE',
          `File parts are not accepted (field ${JSON.stringify(name)}, file ${JSON.stringify(info.filename ?? '')}): send text fields only`,
        ),
      );
    });
    const tooMany = () => fail(new AppError(413, 'PAYLOAD_TOO_LARGE', `A form body may carry at most ${MAX_FIELDS} fields`));
    parser.on('fieldsLimit', tooMany);
    parser.on('partsLimit', tooMany);
    parser.on('error', (err: Error) => reject(malformed(`The multipart body cannot be read: ${err.message}`)));
    parser.on('close', () => (failure ? reject(failure) : resolve()));
    parser.end(raw);
  });
  applyJsonFields(body, options);
  return body;
}
