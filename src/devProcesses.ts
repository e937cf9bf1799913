import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What the dev stack records in DATA_DIR about the processes it runs, so that a later start
 * (or the CLI) can tell OUR process from any other program's: a pid alone can be reused, so
 * a record also keeps the process's command line and is trusted only while both still match.
 */
export interface ProcessRecord {
  pid: number;
  /** argv as the process was started; compared with what the OS reports for the pid now. */
  command: string[];
  started_at: string;
  /** dev.lock only: the PGlite folder the dev stack holds open (absent with DATABASE_URL). */
  pglite_dir?: string;
}

/** A start-up refusal a newcomer can act on: printed as its one line, without a stack trace. */
export class OneLineError extends Error {}

/** A dev stack that holds DATA_DIR (its PGlite folder): read by the CLI. */
export const DEV_LOCK_FILE = 'dev.lock';
/** The Temporal dev server the stack started: reaped by the next start if it outlived us. */
export const TEMPORAL_PID_FILE = 'temporal.pid';

/** The command line of a live process, or null when there is none (or it cannot be read). */
export function commandLineOf(pid: number): string[] | null {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: alive but not ours to signal: certainly not a process we started.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return null;
  }
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    // A zombie (exited, not yet reaped) has an empty command line: it is gone.
    return raw === '' ? null : raw.replace(/\0$/, '').split('\0');
  } catch {
    // No /proc (macOS): ps gives the arguments joined by spaces.
    try {
      const out = execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
      return out ? out.split(' ') : null;
    } catch {
      return null;
    }
  }
}

/** The recorded process if it is still running with the command line it was started with. */
export function liveRecordedProcess(dataDir: string, file: string): ProcessRecord | null {
  const record = readRecord(join(dataDir, file));
  if (!record) return null;
  const now = commandLineOf(record.pid);
  return now !== null && now.join(' ') === record.command.join(' ') ? record : null;
}

export function writeRecord(dataDir: string, file: string, record: ProcessRecord): void {
  writeFileSync(join(dataDir, file), `${JSON.stringify(record)}\n`, { mode: 0o600 });
}

export function removeRecord(dataDir: string, file: string, pid: number): void {
  // Only our own record: a second stack that took over the folder keeps its file.
  if (readRecord(join(dataDir, file))?.pid === pid) rmSync(join(dataDir, file), { force: true });
}

function readRecord(path: string): ProcessRecord | null {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as ProcessRecord;
    return Number.isInteger(parsed.pid) && parsed.pid > 1 && Array.isArray(parsed.command) ? parsed : null;
  } catch {
    return null;
  }
}

/** This process's own record: node's argv, as /proc reports it. */
export function ownRecord(): ProcessRecord {
  return { pid: process.pid, command: commandLineOf(process.pid) ?? [process.execPath, ...process.execArgv, ...process.argv.slice(1)], started_at: new Date().toISOString() };
}
