import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { customSearchAttributes } from '../../workflows/searchAttributes.js';

export interface DevServerOptions {
  cli: string;
  /** gRPC port; 0 picks a free one. */
  port: number;
  /** Web UI port; 0 picks a free one, null disables the UI. */
  uiPort: number | null;
  /** SQLite file for persistence; undefined = in memory (tests). */
  dbFilename?: string;
  namespace: string;
  log?: (line: string) => void;
  startTimeoutMs?: number;
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
  const port = options.port || (await freePort());
  const uiPort = options.uiPort === null ? null : options.uiPort || (await freePort());
  for (const [what, p] of [['gRPC', port], ['Web UI', uiPort]] as const) {
    if (p !== null && (await portInUse(p))) {
      throw new Error(`Temporal dev server: ${what} port ${p} is already in use (another dev stack running?)`);
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
