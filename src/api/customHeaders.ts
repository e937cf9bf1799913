import { z } from 'zod';

/**
 * The one rule set for headers a tenant adds to requests we send (endpoint deliveries, HTTP
 * agent calls). Framing and hop-by-hop headers are ours: a tenant's `Content-Length` or
 * `Transfer-Encoding` would desynchronise the request (smuggling), `Host` would send it to
 * another virtual host than the URL that was checked, `Connection`/`Upgrade` would change
 * the connection. Values must be what Node sends as is: no CR/LF (header injection), no NUL.
 */
const FRAMING_HEADERS = [
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade',
  'te', 'trailer', 'proxy-connection', 'proxy-authorization', 'expect', 'content-type',
] as const;

const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;
/** RFC 9110 field-value characters as Node's http module accepts them. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export const MAX_CUSTOM_HEADERS = 20;

/**
 * Custom headers: `reservedForUs` lists what the sending stage sets itself (e.g. the
 * signature headers of a delivery) on top of the framing headers every request keeps.
 */
export function customHeadersSchema(reservedForUs: readonly string[] = []) {
  const reserved = new Set<string>([...FRAMING_HEADERS, ...reservedForUs.map((h) => h.toLowerCase())]);
  return z
    .record(
      z
        .string()
        .regex(TOKEN, 'must be a valid HTTP header name')
        .refine((h) => !reserved.has(h.toLowerCase()), 'is set by the request itself and cannot be overridden'),
      z
        .string()
        .max(4096)
        .regex(/^[^\r\n]*$/, 'must not contain line breaks')
        .regex(FIELD_VALUE, 'must be printable header text (no control characters)'),
    )
    .refine((h) => Object.keys(h).length <= MAX_CUSTOM_HEADERS, `at most ${MAX_CUSTOM_HEADERS} headers`);
}

/** Names the framing rule refuses, for tests and documentation. */
export const RESERVED_FRAMING_HEADERS: readonly string[] = FRAMING_HEADERS;
