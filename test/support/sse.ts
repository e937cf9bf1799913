export interface SseEvent {
  id: string | undefined;
  /** The frame's `event:` field: seed 004's frames have none (the type is inside data). */
  event: string | undefined;
  /** Every field name the frame carried, in order. */
  fields: string[];
  data: any;
  at: number;
}

/**
 * A minimal Server-Sent Events client over fetch: reads frames until the server ends the
 * stream, `stopAfter` events have arrived (then disconnects), or the timeout passes.
 */
export async function readSse(
  url: string,
  options: { key?: string; lastEventId?: string; stopAfter?: number; timeoutMs?: number },
): Promise<{ status: number; contentType: string | null; events: SseEvent[]; heartbeats: number; ended: boolean; endedAt?: number }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 30_000);
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
  const events: SseEvent[] = [];
  let heartbeats = 0;
  let ended = false;
  let endedAt: number | undefined;
  const response = await fetch(url, { headers, signal: controller.signal });
  try {
    if (!response.body || response.status !== 200) return { status: response.status, contentType: response.headers.get('content-type'), events, heartbeats, ended };
    const decoder = new TextDecoder();
    let buffer = '';
    const reader = response.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        endedAt = Date.now();
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      let split: number;
      while ((split = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, split);
        buffer = buffer.slice(split + 2);
        if (frame.startsWith(':')) {
          heartbeats++;
          continue;
        }
        const pairs = frame.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()] as const);
        const fields = Object.fromEntries(pairs);
        if (fields.data === undefined) continue;
        events.push({ id: fields.id, event: fields.event, fields: pairs.map(([name]) => name), data: JSON.parse(fields.data), at: Date.now() });
        if (options.stopAfter !== undefined && events.length >= options.stopAfter) {
          controller.abort();
          return { status: response.status, contentType: response.headers.get('content-type'), events, heartbeats, ended };
        }
      }
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  } finally {
    clearTimeout(timer);
  }
  return { status: response.status, contentType: response.headers.get('content-type'), events, heartbeats, ended, endedAt };
}
