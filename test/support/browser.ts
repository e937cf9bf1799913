import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium, installed by scripts/test-deps.sh (npm test's pretest); never a downloaded browser. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless Chromium for browser tests (playwright gives it a fresh profile). The flags keep it
 * off the network: this machine has none beyond loopback, and Chromium's background services
 * would otherwise dial out at start.
 */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
