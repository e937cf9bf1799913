import type { Middleware } from 'koa';
import { AppError } from '../../errors.js';
import type { AppState } from '../context.js';
import { parseMultipart, parseUrlEncoded, type FormOptions } from './formBody.js';

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Reads a JSON body with a size limit. Keeps the raw bytes (signature checks need them) and
 * answers 413 / 415 / 400 problems for oversized, non-JSON and malformed bodies. With `forms`
 * (token and trigger URLs only) urlencoded and multipart fields are read too, into the same
 * object a JSON body would give (see formBody.ts); every other route keeps answering 415.
 */
export function jsonBody(limitBytes: number, forms?: FormOptions): Middleware<AppState> {
  return async (ctx, next) => {
    const declared = ctx.request.length;
    const chunked = ctx.get('transfer-encoding') !== '';
    if (!WITH_BODY.has(ctx.method) || (!declared && !chunked)) return next();

    const kind = ctx.is('application/json', '+json') ? 'json' : forms ? ctx.is('urlencoded', 'multipart/form-data') || null : null;
    if (!kind) {
      throw new AppError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        forms
          ? 'Send the request body as application/json, application/x-www-form-urlencoded or multipart/form-data'
          : 'Send the request body as application/json',
      );
    }
    if (declared && declared > limitBytes) {
      throw new AppError(413, 'PAYLOAD_TOO_LARGE', `The request body exceeds ${limitBytes} bytes`);
    }
    const raw = await readLimited(ctx.req, limitBytes);
    ctx.state.rawBody = raw;
    if (kind === 'multipart/form-data') {
      ctx.state.body = await parseMultipart(raw, ctx.headers, limitBytes, forms!);
      return next();
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new AppError(400, kind === 'json' ? 'MALFORMED_JSON' : 'MALFORMED_FORM', 'The request body is not valid UTF-8');
    }
    if (kind === 'urlencoded') {
      ctx.state.body = text.trim() === '' ? undefined : parseUrlEncoded(text, forms!);
      return next();
    }
    try {
      ctx.state.body = text.trim() === '' ? undefined : JSON.parse(text);
    } catch (err) {
      throw new AppError(400, 'MALFORMED_JSON', `The request body is not valid JSON: ${(err as Error).message}`);
    }
    return next();
  };
}

async function readLimited(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > limit) throw new AppError(413, 'PAYLOAD_TOO_LARGE', `The request body exceeds ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
