import { createServer } from 'node:http';

/**
 * The local webhook receiver, a process of its own. `POST /hook` records every hit
 * (event id, the body's timestamp = events.created_at, arrival time, answered status) and
 * answers 200, or 503 on every Nth request when told to fail. Control endpoints:
 * `POST /_reset?fail_every=N` (0 = never fail) and `GET /_hits`, `GET /_count`. Env: PORT.
 */
type Hit = [id: string, storedAt: number, at: number, ok: 0 | 1];

let hits: Hit[] = [];
let requests = 0;
let failEvery = 0;
let okIds = new Set<string>();

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://receiver');
  if (url.pathname === '/_reset') {
    hits = [];
    requests = 0;
    okIds = new Set();
    failEvery = Number(url.searchParams.get('fail_every') ?? 0);
    res.writeHead(204).end();
    return;
  }
  if (url.pathname === '/_hits') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(hits));
    return;
  }
  if (url.pathname === '/_count') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ requests, ok: okIds.size }));
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const at = Date.now();
    requests += 1;
    const ok = !(failEvery > 0 && requests % failEvery === 0);
    let id = '';
    let storedAt = Number.NaN;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: string; timestamp?: string };
      id = body.id ?? '';
      storedAt = body.timestamp ? Date.parse(body.timestamp) : Number.NaN;
    } catch {
      /* not JSON: still a hit */
    }
    hits.push([id, storedAt, at, ok ? 1 : 0]);
    if (ok && id) okIds.add(id);
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(ok ? '{"ok":true}' : '{"ok":false}');
  });
});
const port = Number(process.env.PORT ?? 0);
server.listen(port, '127.0.0.1', () => process.stdout.write(`receiver listening on ${port}\n`));
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
