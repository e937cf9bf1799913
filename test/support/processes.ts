import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Credentials } from '../../src/dev.js';
import { eventually } from './stack.js';

/** Runs one of the project's entry points the way npm scripts do: one node process, no wrapper. */
export function spawnEntry(
  entry: string,
  env: Record<string, string | undefined>,
  args: string[] = [],
): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return Object.assign(child, { output: () => output });
}

export async function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode };
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Starts the dev launcher and waits for its ready signal, the credentials file. */
export async function startDevStack(dataDir: string, env: Record<string, string | undefined>) {
  const file = join(dataDir, 'credentials.json');
  rmSync(file, { force: true });
  const child = spawnEntry('src/dev.ts', { ...env, DATA_DIR: dataDir });
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`dev stack exited with ${child.exitCode}: ${child.output()}`);
        return existsSync(file) ? true : undefined;
      },
      'the dev stack to write credentials.json',
      90_000,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { child, credentials: JSON.parse(readFileSync(file, 'utf8')) as Credentials };
}
