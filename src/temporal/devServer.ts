import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time.js';
import { customSearchAttributes } from '../../workflows/searchAttributes.js';
import { commandLineOf, liveRecordedProcess, OneLineError, removeRecord, TEMPORAL_PID_FILE, writeRecord } from '../devProcesses.js';

/** The dev stack's namespace retention: a day of closed workflows to inspect in the Web UI. */
export const DEV_NAMESPACE_RETENTION_HOURS = 24;

export interface DevServerOptions {
  cli: string;
  /** gRPC port; 0 picks a free one. */
  port: number;
  /** Web UI port; 0 picks a free one, null disables the UI. */
  uiPort: number | null;
  /** SQLite file for persistence; undefined = in memory (tests). */
  dbFilename?: string;
  namespace: string;
  /**
   * How long closed workflows stay in the namespace (its retention), in hours. The dev server
   * creates the namespace with 24 h; set here it is applied once the server answers.
   */
  retentionHours?: number;
  log?: (line: string) => void;
  startTimeoutMs?: number;
  /**
   * Where to record the server's pid and command line (the dev stack's DATA_DIR). A server
   * recorded there that outlived its stack (kill -9) is stopped before a new one starts.
   */
  stateDir?: string;
}

export interface DevServer {
  address: string;
  uiUrl: string | null;
  namespace: string;
  pid: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

async function portInUse(port: number): Promise<boolean> {
  return new Promise((resolveUse) => {
    const server = createServer();
    server.once('error', () => resolveUse(true));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveUse(false)));
  });
}

/**
 * Starts `temporal server start-dev` as a child process with the project's search attributes
 * registered, and resolves once its frontend answers a health check.
 */
export async function startTemporalDevServer(options: DevServerOptions): Promise<DevServer> {
  if (options.stateDir) await reapOrphan(options.stateDir, options.log);
  const port = options.port || (await freePort());
  const uiPort = options.uiPort === null ? null : options.uiPort || (await freePort());
  for (const [what, p, setting] of [['gRPC', port, 'TEMPORAL_DEV_PORT'], ['Web UI', uiPort, 'TEMPORAL_UI_PORT']] as const) {
    if (p !== null && (await portInUse(p))) {
      throw new OneLineError(
        `Temporal dev server: ${what} port ${p} is held by another program (not a Temporal server this dev stack started): stop it or set ${setting}`,
      );
    }
  }

  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  args.push('--namespace', options.namespace);
  if (uiPort === null) args.push('--headless');
  else args.push('--ui-port', String(uiPort), '--ui-disable-news-fetch');
  if (options.dbFilename) args.push('--db-filename', options.dbFilename, '--sqlite-pragma', 'journal_mode=WAL');
  for (const key of customSearchAttributes) {
    args.push('--search-attribute', `${key.name}=${key.type === SearchAttributeType.KEYWORD_LIST ? 'KeywordList' : 'Keyword'}`);
  }
  args.push(
    '--dynamic-config-value', 'frontend.enableExecuteMultiOperation=true',
    '--dynamic-config-value', 'system.enableEagerWorkflowStart=true',
  );

  // Own process group: a terminal's Ctrl-C reaches us, and we stop the server last, after the
  // worker has drained against it.
  const child = spawn(options.cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const stateDir = options.stateDir;
  if (stateDir && child.pid) {
    writeRecord(stateDir, TEMPORAL_PID_FILE, { pid: child.pid, command: [options.cli, ...args], started_at: new Date().toISOString() });
    child.once('exit', () => removeRecord(stateDir, TEMPORAL_PID_FILE, child.pid!));
  }
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  // A parent that exits without calling stop() must not leave the server behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) =>
      reject(new Error(`Temporal dev server exited early (code ${code}, signal ${signal}): ${output.trim().slice(-1500)}`)),
    );
    child.once('error', (err) => reject(new Error(`Temporal dev server failed to start: ${err.message}`)));
  });
  exited.catch(() => undefined);

  const address = `127.0.0.1:${port}`;
  const ready = waitForFrontend(address, options.startTimeoutMs ?? 60_000);
  try {
    await Promise.race([ready, exited]);
  } catch (err) {
    process.removeListener('exit', killOnExit);
    await stopChild(child);
    throw err;
  }
  if (options.retentionHours) await setNamespaceRetention(address, options.namespace, options.retentionHours);
  options.log?.(`Temporal dev server on ${address}${uiPort ? `, Web UI http://127.0.0.1:${uiPort}` : ''}`);

  return {
    address,
    uiUrl: uiPort === null ? null : `http://127.0.0.1:${uiPort}`,
    namespace: options.namespace,
    pid: child.pid!,
    stop: async () => {
      process.removeListener('exit', killOnExit);
      await stopChild(child);
    },
  };
}

/**
 * Stops the Temporal server an earlier dev stack recorded in `stateDir` if it still runs with
 * the very command line recorded (same binary, ports and database file): a recycled pid or any
 * other program is never signalled. Reaping rather than reusing it: its ports or namespace
 * may differ from this start's settings, and a fresh server reopens the same SQLite file.
 */
async function reapOrphan(stateDir: string, log?: (line: string) => void): Promise<void> {
  const orphan = liveRecordedProcess(stateDir, TEMPORAL_PID_FILE);
  if (!orphan) {
    rmSync(join(stateDir, TEMPORAL_PID_FILE), { force: true }); // stale: that process is gone
    return;
  }
  log?.(`stopping the Temporal dev server (pid ${orphan.pid}) left running by an earlier dev stack`);
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(orphan.pid, name);
    } catch {
      /* already gone */
    }
  };
  signal('SIGTERM');
  const started = Date.now();
  while (commandLineOf(orphan.pid) !== null && Date.now() - started < 20_000) {
    if (Date.now() - started > 10_000) signal('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
  }
  removeRecord(stateDir, TEMPORAL_PID_FILE, orphan.pid);
}

/** Sets a namespace's retention (closed workflows' histories are deleted that long after they close). */
export async function setNamespaceRetention(address: string, namespace: string, hours: number): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    await connection.workflowService.updateNamespace({ namespace, config: { workflowExecutionRetentionTtl: msToTs(hours * 3_600_000) } });
  } finally {
    await connection.close();
  }
}

async function waitForFrontend(address: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`Temporal dev server on ${address} did not become ready in ${timeoutMs} ms: ${String(lastError)}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await gone;
  clearTimeout(timer);
}
