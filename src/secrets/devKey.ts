import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isSecretsKey } from '../config.js';

/**
 * Without SECRETS_KEY the dev stack still encrypts at rest, with a key generated into
 * `DATA_DIR/secrets.key` (mode 0600) on its first start and reused on every later one (a new
 * key would leave earlier rows unreadable). The CLI reads the same file when it opens the dev
 * stack's database. `create: false` answers undefined when there is no file yet; a file that
 * does not hold a key stops the process with one configuration line.
 */
export function devSecretsKey(dataDir: string, options: { create: boolean; onCreate?: (file: string) => void }): string | undefined {
  const file = join(resolve(dataDir), 'secrets.key');
  if (options.create) {
    try {
      writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      options.onCreate?.(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  let key: string;
  try {
    key = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (!isSecretsKey(key)) {
    process.stderr.write(`invalid configuration: ${file} must hold base64 of exactly 32 bytes (or set SECRETS_KEY)\n`);
    process.exit(78);
  }
  return key;
}
