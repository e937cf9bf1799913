import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  /** Sent as JSON unless it is already a string (for malformed bodies). */
  body: unknown;
  /** Wait this long before answering (a slow model). */
  delayMs?: number;
}

export interface FakeOpenAi {
  /** Base URL ending in /v1, the way OpenAI-compatible base_url values are written. */
  baseUrl: string;
  origin: string;
  requests: RecordedRequest[];
  /** Queue answers for the next requests; once the queue is empty every request gets `completion('ok')`. */
  answer(...answers: ScriptedAnswer[]): void;
  close(): Promise<void>;
}

export const completion = (content: string | null, usage?: { prompt_tokens: number; completion_tokens: number }): ScriptedAnswer => ({
  status: 200,
  body: {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    ...(usage && { usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } }),
  },
});

export const toolCalls = (content: string | null, calls: Array<{ name: string; arguments: string }>): ScriptedAnswer => ({
  status: 200,
  body: {
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content,
          tool_calls: calls.map((c, i) => ({ id: `call_${i}`, type: 'function', function: { name: c.name, arguments: c.arguments } })),
        },
        finish_reason: 'tool_calls',
      },
    ],
    usage: { prompt_tokens: 20, completion_tokens: 10 },
  },
});

/** The error body shape OpenAI uses. */
export const openAiError = (status: number, message: string, headers?: Record<string, string>): ScriptedAnswer => ({
  status,
  headers,
  body: { error: { message, type: 'invalid_request_error', code: null } },
});

export const malformedJson = (): ScriptedAnswer => ({ status: 200, body: '{"choices": [{"message": ' });

/** A real HTTP server on loopback speaking just enough of the chat-completions API. */
export async function startFakeOpenAi(host = '127.0.0.1'): Promise<FakeOpenAi> {
  const requests: RecordedRequest[] = [];
  const queue: ScriptedAnswer[] = [];
  const pending = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json });
      const answer = queue.shift() ?? completion('ok', { prompt_tokens: 1, completion_tokens: 1 });
      if (!answer.delayMs) return send(res, answer);
      const timer = setTimeout(() => {
        pending.delete(timer);
        send(res, answer);
      }, answer.delayMs);
      pending.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const origin = `http://${host}:${(server.address() as AddressInfo).port}`;

  return {
    baseUrl: `${origin}/v1`,
    origin,
    requests,
    answer: (...answers) => queue.push(...answers),
    close: async () => {
      for (const timer of pending) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: ServerResponse, answer: ScriptedAnswer) {
  // The client may have given up (timeout, abort) while we were "thinking".
  if (res.destroyed) return;
  const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
  res.end(text);
}
