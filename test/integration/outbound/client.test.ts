import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient } from '../../../src/outbound/client.js';
import type { OutboundPolicy } from '../../../src/outbound/types.js';
import { canListenOnIpv6Loopback, closedPort, ok, startReceiver, type Receiver } from '../../support/receiver.js';

const LOOPBACK: OutboundPolicy = { requireHttps: false, allowedCidrs: ['127.0.0.0/8', '::1/128'] };
const STRICT: OutboundPolicy = { requireHttps: false, allowedCidrs: [] };

let v4: Receiver;
let v6: Receiver | null = null;
let ipv6 = false;
const opened: Receiver[] = [];

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  opened.push(r);
  return r;
}

beforeAll(async () => {
  v4 = await receiver(ok);
  ipv6 = await canListenOnIpv6Loopback();
  if (ipv6) v6 = await receiver(ok, { host: '::1' });
  else console.warn('::1 is unavailable here: IPv6 loopback cases only check that nothing succeeds');
});
afterAll(async () => {
  await Promise.all(opened.map((r) => r.close()));
});

describe('SSRF guard at connect time', () => {
  it('blocks loopback targets, literal or by name, without the receiver seeing a connection', async () => {
    const logs: string[] = [];
    const client = createHttpClient(STRICT, { log: (_fields, msg) => logs.push(msg) });
    const targets = [`${v4.origin}/hook`, `http://localhost:${v4.port}/hook`, `http://[::1]:${v6?.port ?? v4.port}/hook`];
    for (const url of targets) {
      const res = await client.send({ url, method: 'POST', body: '{}', timeoutMs: 2000 });
      expect(res.error?.kind, url).toBe('blocked');
      expect(res.error?.message).toMatch(/loopback/);
      expect(res.status).toBeNull();
    }
    expect(v4.connections).toBe(0);
    expect(v6?.connections ?? 0).toBe(0);
    expect(logs.filter((m) => m.includes('blocked'))).toHaveLength(3);
  });

  it('reaches the same targets once the allow-list opens loopback', async () => {
    const client = createHttpClient(LOOPBACK);
    for (const url of [`${v4.origin}/hook`, `http://localhost:${v4.port}/hook`]) {
      const res = await client.send({ url, method: 'POST', body: '{"a":1}', timeoutMs: 2000 });
      expect(res.error, url).toBeNull();
      expect(res.status).toBe(200);
      expect(res.body).toBe('hello');
      expect(res.headers['x-receiver']).toBe('yes');
      expect(res.bodyTruncated).toBe(false);
      expect(res.latencyMs).toBeGreaterThanOrEqual(0);
    }
    const viaV6 = await client.send({ url: `http://[::1]:${v6?.port ?? (await closedPort())}/`, timeoutMs: 2000 });
    if (ipv6) expect(viaV6).toMatchObject({ status: 200, body: 'hello', error: null });
    else expect(viaV6.error?.kind).toBe('connection');
  });

  it('checks every resolution at connect time and only connects to allowed addresses', async () => {
    const seen: string[] = [];
    const answers: Record<string, string[]> = { 'mixed.test': ['10.0.0.1', '127.0.0.1'], 'private.test': ['10.0.0.1', '169.254.169.254'] };
    const client = createHttpClient(LOOPBACK, {
      resolve: async (host) => {
        seen.push(host);
        const addresses = answers[host];
        if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
        return addresses.map((address) => ({ address, family: 4 }));
      },
    });
    const before = v4.requests;
    const mixed = await client.send({ url: `http://mixed.test:${v4.port}/`, timeoutMs: 2000 });
    expect(mixed).toMatchObject({ status: 200, error: null });
    expect(v4.requests).toBe(before + 1);

    const blocked = await client.send({ url: `http://private.test:${v4.port}/`, timeoutMs: 2000 });
    expect(blocked.error?.kind).toBe('blocked');
    expect(blocked.error?.message).toMatch(/private.*link-local/);

    const missing = await client.send({ url: `http://missing.test:${v4.port}/`, timeoutMs: 2000 });
    expect(missing.error?.kind).toBe('dns');
    expect(seen).toEqual(['mixed.test', 'private.test', 'missing.test']);
  });

  it('refuses http:// when https is required, before connecting', async () => {
    const before = v4.connections;
    const client = createHttpClient({ ...LOOPBACK, requireHttps: true });
    const res = await client.send({ url: `${v4.origin}/`, timeoutMs: 2000 });
    expect(res.error).toEqual({ kind: 'blocked', message: expect.stringMatching(/https is required/) });
    expect(v4.connections).toBe(before);
  });

  it('reports bad URLs without throwing', async () => {
    const client = createHttpClient(LOOPBACK);
    expect((await client.send({ url: 'not a url', timeoutMs: 500 })).error?.kind).toBe('invalid_url');
    expect((await client.send({ url: 'file:///etc/passwd', timeoutMs: 500 })).error?.kind).toBe('invalid_url');
    await expect(client.send({ url: v4.origin, timeoutMs: 0 })).rejects.toThrow(/timeoutMs/);
  });
});

describe('exchange behaviour', () => {
  const client = createHttpClient(LOOPBACK);

  it('sends method, body and headers, with a default user agent', async () => {
    let got: { method?: string; ua?: string; team?: string; body: string } = { body: '' };
    const r = await receiver((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        got = { method: req.method, ua: req.headers['user-agent'], team: req.headers['x-team'] as string, body };
        res.end();
      });
    });
    const res = await client.send({ url: `${r.origin}/x?y=1`, method: 'PUT', body: '{"ü":1}', headers: { 'X-Team': 'blue' }, timeoutMs: 2000 });
    expect(res.status).toBe(200);
    expect(got).toEqual({ method: 'PUT', ua: 'AgentWebhooks/1.0', team: 'blue', body: '{"ü":1}' });
  });

  it('returns a redirect as it is and never follows it', async () => {
    const target = await receiver(ok);
    const redirector = await receiver((_req, res) => {
      res.writeHead(302, { location: `${target.origin}/elsewhere` });
      res.end();
    });
    const res = await client.send({ url: redirector.origin, timeoutMs: 2000 });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`${target.origin}/elsewhere`);
    expect(res.error).toBeNull();
    expect(target.connections).toBe(0);
  });

  it('times out the whole exchange, including a stalled body', async () => {
    const silent = await receiver(() => {});
    const started = Date.now();
    const res = await client.send({ url: silent.origin, timeoutMs: 300 });
    const elapsed = Date.now() - started;
    expect(res.error?.kind).toBe('timeout');
    expect(res.status).toBeNull();
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(800);

    const stalls = await receiver((_req, res) => {
      res.writeHead(200);
      res.write('partial');
    });
    const slow = await client.send({ url: stalls.origin, timeoutMs: 300 });
    expect(slow).toMatchObject({ status: 200, body: 'partial', error: { kind: 'timeout' } });
  });

  it('keeps at most maxResponseBytes of a huge body', async () => {
    const big = await receiver((_req, res) => res.end(Buffer.alloc(5 * 1024 * 1024, 'a')));
    const res = await client.send({ url: big.origin, timeoutMs: 2000, maxResponseBytes: 1000 });
    expect(res).toMatchObject({ status: 200, bodyTruncated: true, error: null });
    expect(res.body).toBe('a'.repeat(1000));
  });

  it('stops reading an endless body at the default cap and drops the connection', async () => {
    let dropped: () => void = () => {};
    const serverSawDrop = new Promise<void>((resolve) => (dropped = resolve));
    const endless = await receiver((_req, res) => {
      res.on('close', dropped);
      const chunk = Buffer.alloc(16 * 1024, 'z');
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const res = await client.send({ url: endless.origin, timeoutMs: 2000 });
    expect(res).toMatchObject({ status: 200, bodyTruncated: true, error: null });
    expect(res.body.length).toBe(2048);
    // The writer never ends on its own, so a close here can only be the client hanging up.
    await serverSawDrop;
  });

  it('reports a dropped connection and a closed port as connection errors', async () => {
    const rude = await receiver((req) => req.socket.destroy());
    const dropped = await client.send({ url: rude.origin, timeoutMs: 2000 });
    expect(dropped.error?.kind).toBe('connection');
    expect(dropped.status).toBeNull();

    const refused = await client.send({ url: `http://127.0.0.1:${await closedPort()}/`, timeoutMs: 2000 });
    expect(refused.error?.kind).toBe('connection');
    expect(refused.error?.message).toMatch(/ECONNREFUSED/);
  });

  it('fails https to a plain-http receiver instead of succeeding', async () => {
    const res = await client.send({ url: `https://127.0.0.1:${v4.port}/`, timeoutMs: 2000 });
    expect(res.status).toBeNull();
    expect(['tls', 'connection']).toContain(res.error?.kind);
  });

  it('verifies certificates unless verifyTls is false', async () => {
    const secure = await receiver(ok, { tls: true });
    const strict = await client.send({ url: secure.origin, timeoutMs: 2000 });
    expect(strict.error?.kind).toBe('tls');
    const lax = await client.send({ url: secure.origin, timeoutMs: 2000, verifyTls: false });
    expect(lax).toMatchObject({ status: 200, body: 'hello', error: null });
  });

  it('stops when the caller aborts', async () => {
    const silent = await receiver(() => {});
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const res = await client.send({ url: silent.origin, timeoutMs: 2000, signal: controller.signal });
    expect(res.error?.kind).toBe('aborted');
    expect(res.latencyMs).toBeLessThan(1000);

    const before = silent.connections;
    const early = await client.send({ url: silent.origin, timeoutMs: 2000, signal: AbortSignal.abort() });
    expect(early.error?.kind).toBe('aborted');
    expect(silent.connections).toBe(before);
  });
});

describe('keep-alive pool', () => {
  it('sends sequential requests to one origin over one TCP connection', async () => {
    const r = await receiver(ok);
    const client = createHttpClient(LOOPBACK);
    for (let i = 0; i < 3; i++) expect(await client.send({ url: `${r.origin}/hook`, method: 'POST', body: `{"n":${i}}`, timeoutMs: 2000 })).toMatchObject({ status: 200, error: null });
    expect(r.requests).toBe(3);
    expect(r.connections).toBe(1);
    client.close?.();
  });

  it('opens at most maxSocketsPerOrigin connections; the other requests wait for one', async () => {
    const r = await receiver((_req, res) => setTimeout(() => ok(_req, res), 200));
    const client = createHttpClient(LOOPBACK, { pool: { maxSocketsPerOrigin: 2 } });
    const answers = await Promise.all(Array.from({ length: 5 }, () => client.send({ url: r.origin, timeoutMs: 10_000 })));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(r.requests).toBe(5);
    expect(r.connections).toBe(2);
    client.close?.();
  });

  it('checks the address of every new connection; a pooled one never carries another host or a re-resolved name', async () => {
    const r = await receiver(ok);
    const answers: Record<string, string> = { 'flip.test': '127.0.0.1', 'evil.test': '10.0.0.1' };
    const resolved: string[] = [];
    const client = createHttpClient(LOOPBACK, {
      pool: { idleTimeoutMs: 300 },
      resolve: async (host) => {
        resolved.push(`${host}=${answers[host]}`);
        return [{ address: answers[host]!, family: 4 }];
      },
    });
    expect(await client.send({ url: `http://flip.test:${r.port}/`, timeoutMs: 2000 })).toMatchObject({ status: 200, error: null });
    expect(r.connections).toBe(1);

    // Same address and port as the idle pooled socket, other name: resolved and refused.
    const evil = await client.send({ url: `http://evil.test:${r.port}/`, timeoutMs: 2000 });
    expect(evil.error?.kind).toBe('blocked');
    expect(evil.error?.message).toMatch(/private/);

    // The name now points at the metadata address: the pooled socket stays with 127.0.0.1 …
    answers['flip.test'] = '169.254.169.254';
    expect(await client.send({ url: `http://flip.test:${r.port}/`, timeoutMs: 2000 })).toMatchObject({ status: 200, error: null });
    expect(r.connections).toBe(1);
    // … and once it has idled out, the next connection is resolved again and refused.
    await new Promise((resolve) => setTimeout(resolve, 800));
    const rebound = await client.send({ url: `http://flip.test:${r.port}/`, timeoutMs: 2000 });
    expect(rebound.error?.kind).toBe('blocked');
    expect(rebound.error?.message).toMatch(/link-local/);
    expect(r.connections).toBe(1);
    expect(r.requests).toBe(2);
    expect(resolved).toEqual(['flip.test=127.0.0.1', 'evil.test=10.0.0.1', 'flip.test=169.254.169.254']);
    client.close?.();
  });
});
