/**
 * Portal links, as an operator's customer uses them: a single-use link opens the console limited
 * to one agent with chosen scopes, and the session it starts ends (revoked or expired) with a
 * clear sign-out. Needs POST /v1/portal-sessions, /exchange and GET /v1/me (branch console-api).
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.js';
import { expectAccessible, expectNoConsoleErrors, openConsole, PHONE, screenshot, type ConsolePage } from '../support/console.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

const ADMIN_TOKEN = 'console-portal-test-admin-token';
let stack: TestStack;
let browser: Browser;
let org: { orgId: string; apiKey: string };
let mine: { id: string; name: string };
let other: { id: string; name: string };
const opened: ConsolePage[] = [];

beforeAll(async () => {
  stack = await startTestStack({ config: { ADMIN_TOKEN } });
  browser = await launchBrowser();
  org = await stack.newOrg('Portal org');
  for (const name of ['Acme support bot', 'Internal bot']) {
    const agent = await stack.api('/v1/agents', { key: org.apiKey, body: { name, provider: { kind: 'echo' } } });
    expect(agent.status).toBe(201);
    await stack.api(`/v1/agents/${agent.body.id}/runs`, { key: org.apiKey, body: { message: `hello ${name}` } });
    if (name.startsWith('Acme')) mine = { id: agent.body.id, name };
    else other = { id: agent.body.id, name };
  }
  await eventually(async () => {
    const runs = await stack.api('/v1/runs', { key: org.apiKey });
    return runs.body.data.filter((r: { status: string }) => r.status === 'completed').length === 2 ? true : undefined;
  }, 'both runs completed');
});
afterAll(async () => {
  for (const c of opened) await c.close().catch(() => undefined);
  await browser?.close();
  await stack?.close();
});

async function issueLink(expiresInSeconds = 3600) {
  const created = await stack.api('/v1/portal-sessions', {
    key: ADMIN_TOKEN,
    body: { org_id: org.orgId, agent_id: mine.id, name: 'Acme', scopes: ['agents:read', 'runs:read', 'webhooks:read', 'webhooks:write'], expires_in_seconds: expiresInSeconds },
  });
  expect(created.status).toBe(201);
  expect(created.body.url).toMatch(new RegExp(`^${stack.baseUrl}/console/#portal=\\S+$`));
  return created.body as { id: string; url: string; expires_at: string };
}

async function open(url: string, viewport?: typeof PHONE) {
  const c = await openConsole(browser, stack.baseUrl, viewport, url.slice(stack.baseUrl.length));
  opened.push(c);
  return c;
}

describe('a portal link', () => {
  it('opens the console once, limited to one agent and to the scopes it was issued with', async () => {
    const link = await issueLink();
    const linkToken = link.url.split('#portal=')[1]!;
    const c = await open(link.url);
    const { page } = c;

    // Exchanged on first load: the console lands on its agent, and the link token leaves the URL.
    await page.getByRole('heading', { level: 1, name: mine.name }).waitFor();
    expect(page.url()).toBe(`${stack.baseUrl}/console/`);
    const stored = (await page.evaluate('JSON.stringify(sessionStorage)')) as string;
    expect(stored).not.toContain(linkToken);
    expect(stored).toContain('portal_session');
    expect(await page.evaluate('JSON.stringify(localStorage)')).toBe('{}');

    // Only what the scopes allow: runs and agents; no keys, endpoints, events or credits.
    const nav = page.getByRole('navigation', { name: 'Sections' });
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Runs', 'Agents']);
    expect(await page.getByRole('button', { name: 'Edit agent' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Delete agent' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Create token URL' }).waitFor();
    await page.getByText('Console link').waitFor();
    await expectAccessible(page, 'portal: agent page');
    await screenshot(page, 'portal-01-agent');

    await nav.getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('link', { name: mine.name }).waitFor();
    expect(await page.getByRole('link', { name: other.name }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'New agent' }).count()).toBe(0);

    await nav.getByRole('link', { name: 'Runs' }).click();
    await page.locator('tbody tr[data-run-id]').first().waitFor();
    expect(await page.locator('tbody tr[data-run-id]').count()).toBe(1);
    expect(await page.locator('main').textContent()).not.toContain(other.name);
    expect(await page.getByLabel('Agent').count()).toBe(0);
    await expectAccessible(page, 'portal: runs');
    await screenshot(page, 'portal-02-runs');

    // The link works once: a second browser gets a clear message.
    const again = await open(link.url);
    await again.page.getByText('This console link has already been used or has expired.', { exact: false }).waitFor();
    await again.page.getByLabel('API key').waitFor();
    await expectAccessible(again.page, 'portal: used link');
    await screenshot(again.page, 'portal-03-used-link');

    // Revoked by the operator: the next request signs the console out, saying why.
    const revoked = await stack.api(`/v1/portal-sessions/${link.id}`, { method: 'DELETE', key: ADMIN_TOKEN });
    expect(revoked.status).toBe(204);
    // The next request signs it out: the user's click, or the runs page's own refresh if it comes first.
    const signedOut = page.getByText('Your console session has expired or was revoked.', { exact: false });
    await nav
      .getByRole('link', { name: 'Agents' })
      .click({ timeout: 5_000 })
      .catch(async (err: unknown) => {
        if (!(await signedOut.isVisible())) throw err;
      });
    await signedOut.waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expectNoConsoleErrors(c, [401]);
    expectNoConsoleErrors(again, [404]);
  });

  it('starts a session that expires: the console signs out at the next request after expires_at', async () => {
    const link = await issueLink(6);
    const c = await open(link.url, PHONE);
    const { page } = c;
    await page.getByRole('heading', { level: 1, name: mine.name }).waitFor();
    await screenshot(page, 'portal-04-phone');
    const wait = new Date(link.expires_at).getTime() - Date.now() + 500;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // The next request after expires_at signs the console out: the user's click, or the agent
    // page's own refresh if it comes first (on a busy machine it often does, and the link is gone).
    const expired = page.getByText('Your console session has expired or was revoked.', { exact: false });
    const runs = page.getByRole('link', { name: 'Runs' });
    await runs.or(expired).first().waitFor();
    if (!(await expired.isVisible())) {
      await runs.click({ timeout: 5_000 }).catch(async (err: unknown) => {
        if (!(await expired.isVisible())) throw err;
      });
    }
    await expired.waitFor();
    await page.getByLabel('API key').waitFor();
    expectNoConsoleErrors(c, [401]);
  });
});
