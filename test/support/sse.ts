export interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: any;
  at: number;
}

/**
 * A minimal Server-Sent Events client over fetch: reads frames until the server ends the
 * stream, `stopAfter` events have arrived (then disconnects), or the timeout passes.
 */
export async function readSse(
  url: string,
  options: { key: string; lastEventId?: string; stopAfter?: number; timeoutMs?: number },
): Promise<{ status: number; contentType: string | null; events: SseEvent[]; heartbeats: number; ended: boolean }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 30_000);
  const headers: Record<string, string> = { authorization: `Bearer ${options.key}`, accept: 'text/event-stream' };
  if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
  const events: SseEvent[] = [];
  let heartbeats = 0;
  let ended = false;
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
        const fields = Object.fromEntries(frame.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
        if (fields.data === undefined) continue;
        events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data), at: Date.now() });
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
  return { status: response.status, contentType: response.headers.get('content-type'), events, heartbeats, ended };
}
