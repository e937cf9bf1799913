/**
 * Builds the web console (web/ → web/dist, git-ignored) when it is missing or older than its
 * sources: `npm run dev` and the test setup call this, so a fresh clone needs only `npm ci`.
 *
 *   node --import tsx scripts/buildConsole.ts [--force]
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = ['web/src', 'web/index.html', 'web/vite.config.ts', 'sdk', 'package-lock.json'];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

export function consoleIsStale(): boolean {
  const index = join(root, 'web/dist/index.html');
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  return SOURCES.some((source) => newestMtime(join(root, source)) > built);
}

/** Builds with Vite in this process (≈1 s); a no-op when the build is current. */
export async function ensureConsoleBuilt(options: { force?: boolean } = {}): Promise<boolean> {
  if (!options.force && !consoleIsStale()) return false;
  const { build } = await import('vite');
  await build({ configFile: join(root, 'web/vite.config.ts'), logLevel: 'warn' });
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const built = await ensureConsoleBuilt({ force: process.argv.includes('--force') });
  process.stdout.write(built ? 'console built into web/dist\n' : 'console is up to date (web/dist)\n');
}
