import type { Middleware } from 'koa';
import { AppError } from '../../errors.js';
import type { AppState } from '../context.js';

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Reads a JSON body with a size limit. Keeps the raw bytes (signature checks need them) and
 * answers 413 / 415 / 400 problems for oversized, non-JSON and malformed bodies.
 */
export function jsonBody(limitBytes: number): Middleware<AppState> {
  return async (ctx, next) => {
    const declared = ctx.request.length;
    const chunked = ctx.get('transfer-encoding') !== '';
    if (!WITH_BODY.has(ctx.method) || (!declared && !chunked)) return next();

    if (!ctx.is('application/json', '+json')) {
      throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json');
    }
    if (declared && declared > limitBytes) {
      throw new AppError(413, 'PAYLOAD_TOO_LARGE', `The request body exceeds ${limitBytes} bytes`);
    }
    const raw = await readLimited(ctx.req, limitBytes);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new AppError(400, 'MALFORMED_JSON', 'The request body is not valid UTF-8');
    }
    try {
      ctx.state.body = text.trim() === '' ? undefined : JSON.parse(text);
    } catch (err) {
      throw new AppError(400, 'MALFORMED_JSON', `The request body is not valid JSON: ${(err as Error).message}`);
    }
    ctx.state.rawBody = raw;
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
