import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.js';
import {
  DESKTOP,
  expectAccessible,
  expectNoConsoleErrors,
  expectNoInjection,
  MARKUP,
  openConsole,
  PHONE,
  screenshot,
  signIn,
  type ConsolePage,
} from '../support/console.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let browser: Browser;
let receiver: Receiver;
let org: { orgId: string; apiKey: string };
const opened: ConsolePage[] = [];

beforeAll(async () => {
  stack = await startTestStack();
  browser = await launchBrowser();
  receiver = await startReceiver();
  org = await stack.newOrg('Console org');
});
afterAll(async () => {
  for (const c of opened) await c.close().catch(() => undefined);
  await browser?.close();
  await receiver?.close();
  await stack?.close();
});

async function open(viewport = DESKTOP, path?: string) {
  const c = await openConsole(browser, stack.baseUrl, viewport, path);
  opened.push(c);
  return c;
}

describe('the console is served by the API', () => {
  it('at /console with a strict Content-Security-Policy, local assets only and an SPA fallback', async () => {
    const index = await fetch(`${stack.baseUrl}/console/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(index.headers.get('referrer-policy')).toBe('no-referrer');
    expect(index.headers.get('x-frame-options')).toBe('DENY');

    // Every script and stylesheet is this origin's, under /console/assets/; nothing inline.
    const html = await index.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(2);
    for (const ref of refs) expect(ref, ref).toMatch(/^(\/console\/assets\/[\w.-]+|data:,)$/);
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|<style/);

    const script = refs.find((r) => r.endsWith('.js'))!;
    const asset = await fetch(`${stack.baseUrl}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(asset.headers.get('content-security-policy')).toBe(csp);

    // Deep links answer the app (the SPA routes them); unknown assets and traversal are 404s.
    const deep = await fetch(`${stack.baseUrl}/console/runs/123?status=failed`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toBe(html);
    expect((await fetch(`${stack.baseUrl}/console/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${stack.baseUrl}/console/assets/..%2f..%2fpackage.json`)).status).toBe(404);
    const bare = await fetch(`${stack.baseUrl}/console`, { redirect: 'manual' });
    expect(bare.status).toBe(308);
    expect(bare.headers.get('location')).toBe('/console/');
  });
});

describe('a new user in the console', () => {
  let agentId: string;

  it('signs in with a key (kept in this tab only), creates an agent and a token URL shown once', async () => {
    const c = await open();
    const { page } = c;
    await page.getByRole('heading', { name: 'Agent Webhooks console' }).waitFor();
    await expectAccessible(page, 'sign-in');
    await screenshot(page, '01-sign-in');

    // A wrong key is refused with a message, and the console stays signed out.
    await page.getByLabel('API key').fill(`awk_${'0'.repeat(64)}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('The API does not accept this key.').waitFor();

    await signIn(page, org.apiKey);
    expect(page.url()).not.toContain(org.apiKey);
    expect(await page.evaluate('JSON.stringify(localStorage)')).toBe('{}');
    expect(await page.evaluate('JSON.stringify(sessionStorage)')).toContain(org.apiKey);
    await page.getByText('No runs match.', { exact: false }).waitFor();
    await expectAccessible(page, 'runs (empty)');

    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByText('No agents yet.', { exact: false }).waitFor();
    await expectAccessible(page, 'agents (empty)');
    await page.getByRole('button', { name: 'New agent' }).click();
    const dialog = page.getByRole('dialog', { name: 'New agent' });
    await dialog.getByLabel('Name').fill(`Support ${MARKUP}`);
    await dialog.getByLabel('Instructions').fill('Answer politely.');
    await dialog.getByLabel('Provider').selectOption('echo');
    await dialog.getByLabel('Echo delay (ms)').fill('4000');
    await dialog.getByLabel('Allow callback URLs').check();
    await dialog.getByLabel('Run timeout (seconds)').fill('120');
    await expectAccessible(page, 'new agent dialog');
    await screenshot(page, '02-new-agent');
    await dialog.getByRole('button', { name: 'Create agent' }).click();

    // The agent page: its name, markup included, is text.
    const title = page.getByRole('heading', { level: 1 });
    await expect.poll(() => title.textContent()).toBe(`Support ${MARKUP}`);
    agentId = /\/console\/agents\/([0-9a-f-]+)/.exec(page.url())![1]!;
    const stored = await stack.api(`/v1/agents/${agentId}`, { key: org.apiKey });
    expect(stored.body).toMatchObject({ name: `Support ${MARKUP}`, allow_callback_urls: true, run_timeout_seconds: 120, provider: { kind: 'echo', delay_ms: 4000 } });
    await expectNoInjection(page);

    await page.getByLabel('Token URL name').fill('Website chat');
    await page.getByLabel('Rate limit per minute').fill('30');
    await page.getByRole('button', { name: 'Create token URL' }).click();
    const created = page.getByRole('dialog', { name: 'Token URL created' });
    const url = (await created.getByTestId('secret').textContent())!;
    expect(url).toMatch(new RegExp(`^${stack.baseUrl}/api/webhook/\\S+$`));
    expect(await created.getByTestId('curl').textContent()).toContain(`curl -X POST '${url}'`);
    await expectAccessible(page, 'token URL created dialog');
    await screenshot(page, '03-token-url-shown-once');
    await created.getByRole('button', { name: 'Close' }).click();
    await created.waitFor({ state: 'hidden' });

    // Never shown again: the list has the prefix only, and the page holds no copy of the token.
    const token = url.split('/').pop()!;
    const row = page.getByRole('row', { name: /Website chat/ });
    await row.waitFor();
    expect(await row.getByLabel('Rate limit per minute of Website chat').inputValue()).toBe('30');
    expect(await row.textContent()).toContain(token.slice(0, 8));
    expect(await page.content()).not.toContain(token);
    await expectAccessible(page, 'agent page');

    // Pause and resume from the list.
    await page.getByRole('button', { name: 'Pause Website chat' }).click();
    await page.getByRole('button', { name: 'Resume Website chat' }).click();
    await page.getByRole('button', { name: 'Pause Website chat' }).waitFor();

    // The token URL called with plain HTTP: the run appears on the runs page and completes live.
    await page.getByRole('link', { name: 'Runs' }).click();
    await page.getByText('No runs match.', { exact: false }).waitFor();
    const call = fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: `Hello ${MARKUP}` }) });
    const runRow = page.locator('tbody tr[data-run-id]').first();
    await runRow.getByText('processing').waitFor({ timeout: 30_000 });
    await screenshot(page, '04-run-processing');
    await runRow.getByText('completed').waitFor({ timeout: 30_000 });
    const reply = (await (await call).json()) as { run_id: string; response: string };
    expect(await runRow.getAttribute('data-run-id')).toBe(reply.run_id);
    await expectAccessible(page, 'runs');
    await screenshot(page, '05-run-completed');

    // The run page: the reply (markup as text), usage, credits and the streamed events.
    await runRow.getByRole('link').click();
    await page.getByTestId('run-result').waitFor();
    expect(await page.getByTestId('run-result').textContent()).toBe(reply.response);
    expect(reply.response).toContain(MARKUP);
    await page.locator('.events li').filter({ hasText: 'run_completed' }).waitFor();
    await page.getByRole('heading', { name: 'Conversation' }).waitFor();
    await expectNoInjection(page);
    await expectAccessible(page, 'run page');
    await screenshot(page, '06-run-page');
    expectNoConsoleErrors(c, [401] /* the wrong key tried first */);
  });

  it('follows a run live on its page (SSE over fetch) and can cancel one', async () => {
    const slow = (await stack.api('/v1/agents', { key: org.apiKey, body: { name: 'Slow agent', provider: { kind: 'echo', delay_ms: 4000 } } })).body.id as string;
    const c = await open();
    const { page } = c;
    await signIn(page, org.apiKey);
    const started = await stack.api(`/v1/agents/${slow}/runs`, { key: org.apiKey, body: { message: 'follow me' } });
    expect(started.status).toBe(202);
    await page.goto(`/console/runs/${started.body.run_id}`);
    await page.getByText('Live: following the run…').waitFor();
    await page.getByRole('button', { name: 'Cancel run' }).waitFor();
    await page.locator('.events li').filter({ hasText: 'run_completed' }).waitFor({ timeout: 30_000 });
    await page.getByTestId('run-result').waitFor();
    expect(await page.getByTestId('run-result').textContent()).toBe('Echo: follow me');
    expect(await page.getByRole('button', { name: 'Cancel run' }).count()).toBe(0);

    const second = await stack.api(`/v1/agents/${slow}/runs`, { key: org.apiKey, body: { message: 'cancel me' } });
    await page.goto(`/console/runs/${second.body.run_id}`);
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await eventually(async () => ((await stack.api(`/v1/runs/${second.body.run_id}`, { key: org.apiKey })).body.status === 'cancelled' ? true : undefined), 'run cancelled');
    await page.locator('.pill').filter({ hasText: 'cancelled' }).first().waitFor({ timeout: 30_000 });
    expectNoConsoleErrors(c);
  });

  it('creates an endpoint to a local receiver, pings it, sees deliveries with every attempt and retries one', async () => {
    const agent = (await stack.api('/v1/agents', { key: org.apiKey, body: { name: 'Delivering agent', provider: { kind: 'echo' } } })).body.id as string;
    const c = await open();
    const { page } = c;
    await signIn(page, org.apiKey);
    await page.getByRole('link', { name: 'Endpoints' }).click();
    await page.getByText('No endpoints yet.').waitFor();
    await page.getByRole('button', { name: 'New endpoint' }).click();
    const dialog = page.getByRole('dialog', { name: 'New endpoint' });
    await dialog.getByLabel('URL').fill(receiver.url);
    await dialog.getByLabel('Name', { exact: true }).fill('Local receiver');
    await dialog.getByLabel('run.completed').check();
    await dialog.getByLabel('Custom headers').fill(`X-Team: ${MARKUP}`);
    await dialog.getByLabel('Retries').fill('0');
    await dialog.getByLabel('Timeout (seconds)').fill('5');
    await expectAccessible(page, 'new endpoint dialog');
    await dialog.getByRole('button', { name: 'Create endpoint' }).click();
    const secretDialog = page.getByRole('dialog', { name: 'Endpoint signing secret' });
    const secret = (await secretDialog.getByTestId('secret').textContent())!;
    expect(secret).toMatch(/^whsec_/);
    await secretDialog.getByRole('button', { name: 'Close' }).click();
    expect(await page.content()).not.toContain(secret);

    await page.getByRole('link', { name: 'Local receiver' }).click();
    await page.getByRole('heading', { name: 'Local receiver' }).waitFor();
    await page.getByRole('button', { name: 'Send test ping' }).click();
    await expect.poll(() => page.getByTestId('ping-result').textContent()).toContain('delivered — HTTP 200');

    // A run's run.completed delivery fails once (500, no retries), then a retry from the console succeeds.
    receiver.answer(500);
    const before = receiver.received.length;
    const run = await stack.api(`/v1/agents/${agent}/runs`, { key: org.apiKey, body: { message: 'deliver me' } });
    expect(run.status).toBe(202);
    const delivery = page.locator('li.delivery').filter({ hasText: 'failed' }).first();
    await delivery.waitFor({ timeout: 40_000 });
    await delivery.getByRole('cell', { name: '500', exact: true }).waitFor();
    await screenshot(page, '07-delivery-failed');
    const id = await delivery.getAttribute('data-delivery-id');
    await delivery.getByRole('button', { name: /^Retry delivery/ }).click();
    await page.getByText(/Retry queued for delivery/).waitFor();
    const retried = page.locator(`li.delivery[data-delivery-id="${id}"]`);
    await retried.locator('.pill').filter({ hasText: 'succeeded' }).waitFor({ timeout: 30_000 });
    await retried.getByRole('cell', { name: '200', exact: true }).waitFor();
    expect(await retried.locator('tbody tr').count()).toBe(2);
    expect(receiver.received.length - before).toBeGreaterThanOrEqual(2);
    expect(receiver.received.at(-1)!.headers['x-team']).toBe(MARKUP);
    await expectAccessible(page, 'endpoint page');
    await screenshot(page, '08-endpoint-deliveries');

    // The event log: filter by type, open the event, its payload and its deliveries.
    await page.getByRole('link', { name: 'Events', exact: true }).click();
    await page.getByLabel('Type').selectOption('run.completed');
    await page.getByRole('link', { name: 'run.completed' }).first().click();
    await page.getByRole('heading', { name: 'Payload' }).waitFor();
    await page.locator('li.delivery').first().waitFor();
    await expectNoInjection(page);
    await expectAccessible(page, 'event page');
    await screenshot(page, '09-event');
    expectNoConsoleErrors(c);
  });

  it('creates a key with chosen scopes (shown once) and revokes it: the console using it signs out', async () => {
    const limitedTo = (await stack.api('/v1/agents', { key: org.apiKey, body: { name: 'Key agent', provider: { kind: 'echo' } } })).body.id as string;
    await stack.api(`/v1/agents/${limitedTo}/runs`, { key: org.apiKey, body: { message: 'a run the limited key can see' } });
    const admin = await open();
    await signIn(admin.page, org.apiKey);
    await admin.page.getByRole('link', { name: 'API keys' }).click();
    await admin.page.getByLabel('Key name').fill('Reader <img src=x onerror="window.__xss=4">');
    await admin.page.getByLabel('Limit to agent').selectOption(limitedTo);
    for (const scope of ['agents:read', 'runs:read', 'runs:write']) await admin.page.getByLabel(scope, { exact: true }).uncheck();
    for (const scope of ['runs:read', 'agents:read']) await admin.page.getByLabel(scope, { exact: true }).check();
    await admin.page.getByRole('button', { name: 'Create key' }).click();
    const shown = admin.page.getByRole('dialog', { name: 'API key created' });
    const key = (await shown.getByTestId('secret').textContent())!;
    expect(key).toMatch(/^awk_[0-9a-f]{64}$/);
    await shown.getByRole('button', { name: 'Close' }).click();
    expect(await admin.page.content()).not.toContain(key);
    const row = admin.page.getByRole('row', { name: /Reader/ });
    expect(await row.textContent()).toContain(`awk_${key.slice(4, 12)}…`);
    expect(await row.textContent()).toMatch(/^(?=.*runs:read)(?=.*agents:read)(?!.*runs:write)/);
    await expectNoInjection(admin.page);
    await expectAccessible(admin.page, 'API keys');
    await screenshot(admin.page, '10-api-keys');

    const user = await open();
    await signIn(user.page, key);
    await user.page.getByRole('link', { name: 'Runs' }).click();
    await user.page.locator('tbody tr[data-run-id]').first().waitFor();

    await admin.page.getByRole('button', { name: /^Revoke Reader/ }).click();
    await row.getByText(/^revoked/).waitFor();

    // The next request with the revoked key answers 401: the console signs out and says why.
    await user.page.getByRole('link', { name: 'Agents' }).click();
    await user.page.getByText('The API no longer accepts this key', { exact: false }).waitFor();
    await user.page.getByLabel('API key').waitFor();
    expect(await user.page.evaluate('sessionStorage.length')).toBe(0);
    await screenshot(user.page, '11-signed-out-after-revoke');
    expectNoConsoleErrors(admin);
    // Until GET /v1/me lands the console cannot know this key's scopes and asks for what it may not read (403).
    const scopesUnknown = (await stack.api('/v1/me', { key: org.apiKey })).status === 404;
    expectNoConsoleErrors(user, scopesUnknown ? [401, 403] : [401]);
  });

  it('creates a GitHub trigger (secret shown once), tests its template with a sample payload, and disables it', async () => {
    const agent = (await stack.api('/v1/agents', { key: org.apiKey, body: { name: 'Triggered agent', provider: { kind: 'echo' } } })).body.id as string;
    const c = await open();
    const { page } = c;
    await signIn(page, org.apiKey);
    await page.goto(`/console/agents/${agent}`);
    await page.getByText('No triggers.').waitFor();
    await page.getByRole('button', { name: 'New trigger' }).click();
    const dialog = page.getByRole('dialog', { name: 'New trigger' });
    await dialog.getByLabel('Trigger name').fill('GitHub issues');
    await dialog.getByLabel('Signature scheme').selectOption('github');
    await dialog.getByLabel('Message template').fill('Issue {{ payload.issue.title }} by {{ payload.sender.login | default("someone") }}');
    await expectAccessible(page, 'new trigger dialog');
    await dialog.getByRole('button', { name: 'Create trigger' }).click();
    const created = page.getByRole('dialog', { name: 'Trigger created' });
    const secret = (await created.getByTestId('secret').textContent())!;
    expect(secret.length).toBeGreaterThanOrEqual(16);
    expect(await created.getByTestId('invoke-url').textContent()).toMatch(new RegExp(`^${stack.baseUrl}/`));
    await created.getByRole('button', { name: 'Close' }).click();
    expect(await page.content()).not.toContain(secret);

    await page.getByRole('button', { name: 'Test template of GitHub issues' }).click();
    const tester = page.getByRole('dialog', { name: 'Template tester' });
    await tester.getByLabel('Sample payload (JSON)').fill(JSON.stringify({ issue: { title: MARKUP } }));
    await tester.getByRole('button', { name: 'Render message' }).click();
    await expect.poll(() => tester.getByTestId('rendered').textContent()).toBe(`Issue ${MARKUP} by someone`);
    await expectNoInjection(page);
    await expectAccessible(page, 'template tester');
    await screenshot(page, '12-trigger-template-tester');
    await tester.getByRole('button', { name: 'Close' }).click();

    await page.getByRole('button', { name: 'Disable GitHub issues' }).click();
    await page.getByRole('button', { name: 'Enable GitHub issues' }).waitFor();
    const stored = await stack.api(`/v1/agents/${agent}/triggers`, { key: org.apiKey });
    expect(stored.body.data[0]).toMatchObject({ name: 'GitHub issues', scheme: 'github', enabled: false });
    expectNoConsoleErrors(c);
  });

  it('warns on every page when the credit balance is low, and shows the ledger', async () => {
    const poor = await stack.newOrg('Poor org', 40);
    const c = await open();
    await signIn(c.page, poor.apiKey);
    const banner = c.page.getByRole('alert').filter({ hasText: 'Credit balance is low' });
    await banner.waitFor();
    expect(await banner.textContent()).toContain('40 left');
    await banner.getByRole('link', { name: 'See credits' }).click();
    await c.page.getByText('Balance: 40 credits').waitFor();
    await c.page.getByRole('region', { name: 'Credit ledger' }).getByRole('cell', { name: 'grant', exact: true }).waitFor();
    await expectAccessible(c.page, 'credits (low balance)');
    await screenshot(c.page, '13-credits-low-balance');
    expectNoConsoleErrors(c);
  });

  it('every screen passes axe at 1280×800 and 390×844 and fits a phone without sideways scrolling', async () => {
    // Something on every screen, whether or not the tests above ran.
    const agent = (await stack.api('/v1/agents', { key: org.apiKey, body: { name: 'Screens agent', provider: { kind: 'echo' } } })).body.id as string;
    await stack.api('/v1/endpoints', { key: org.apiKey, body: { url: receiver.url, events: ['run.completed'], agent_ids: [agent] } });
    await stack.api(`/v1/agents/${agent}/runs`, { key: org.apiKey, body: { message: 'for the screens' } });
    await eventually(async () => ((await stack.api(`/v1/events?agent_id=${agent}`, { key: org.apiKey })).body.data.length ? true : undefined), 'an event');
    agentId ??= agent;
    for (const [viewport, tag] of [
      [DESKTOP, 'desktop'],
      [PHONE, 'phone'],
    ] as const) {
      const c = await open(viewport);
      await signIn(c.page, org.apiKey);
      const endpoint = (await stack.api('/v1/endpoints', { key: org.apiKey })).body.data[0].id as string;
      const event = (await stack.api('/v1/events', { key: org.apiKey })).body.data[0].id as string;
      const run = (await stack.api('/v1/runs', { key: org.apiKey })).body.data[0].run_id as string;
      const screens = ['/runs', `/runs/${run}`, '/agents', `/agents/${agentId}`, '/keys', '/endpoints', `/endpoints/${endpoint}`, '/events', `/events/${event}`, '/credits', '/nowhere'];
      for (const path of screens) {
        await c.page.goto(`/console${path}`);
        await c.page.locator('main h1').first().waitFor();
        // Polled through locators: a string predicate would be eval'd in the page, which our CSP forbids.
        await eventually(async () => ((await c.page.locator('.loading').count()) === 0 ? true : undefined), `${path} loaded (${tag})`, 15_000);
        await expectAccessible(c.page, `${path} (${tag})`);
        const overflow = (await c.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
        const widest = overflow > 0 ? await c.page.evaluate(`[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 5).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`) : [];
        expect(overflow, `${path} scrolls sideways on ${tag}: ${JSON.stringify(widest)}`).toBeLessThanOrEqual(0);
        await screenshot(c.page, `screen-${tag}${path.replace(/\//g, '-').replace(/-[0-9a-f-]{36}/, '-detail')}`);
      }
      // Keyboard: Tab reaches the skip link first, then the navigation, with a visible focus ring.
      await c.page.goto('/console/runs');
      await c.page.locator('main h1').waitFor();
      await c.page.keyboard.press('Tab');
      expect(await c.page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
      await c.page.keyboard.press('Tab');
      const focus = (await c.page.evaluate('({ text: document.activeElement.textContent, outline: getComputedStyle(document.activeElement).outlineStyle })')) as {
        text: string;
        outline: string;
      };
      expect(focus.text).toBe('Runs');
      expect(focus.outline).toBe('solid');
      expectNoConsoleErrors(c);
    }
  });
});
