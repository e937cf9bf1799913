import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandLineOf, DEV_LOCK_FILE, TEMPORAL_PID_FILE, type ProcessRecord } from '../../src/devProcesses.js';
import { findTemporalCli } from '../../src/temporal/cli.js';
import { freePort } from '../../src/temporal/devServer.js';
import { exitOf, spawnEntry, startDevStack } from '../support/processes.js';
import { request } from '../support/stack.js';

/**
 * What a newcomer meets with `npm run dev`: after a kill -9 the next start reaps the Temporal
 * server the dead stack left behind (and only that one), the CLI refuses to write beside a
 * running stack, and logs are readable in a terminal. Real processes, real ports.
 */
const run = promisify(execFile);
let dataDir: string;
let env: Record<string, string>;
const spawned: Array<{ pid?: number; kill(signal?: NodeJS.Signals): boolean }> = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'aw-dev-'));
  env = {
    PORT: String(await freePort()),
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
    TEMPORAL_CLI: await findTemporalCli({ explicitPath: process.env.TEMPORAL_CLI, toolsDir: resolve('.tools') }),
  };
});

afterAll(async () => {
  for (const child of spawned) child.kill('SIGKILL');
  // Whatever Temporal server the last stack recorded, in case a test failed half-way.
  const record = readRecord(TEMPORAL_PID_FILE);
  if (record && commandLineOf(record.pid)?.join(' ') === record.command.join(' ')) process.kill(record.pid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

function readRecord(file: string): ProcessRecord | null {
  const path = join(dataDir, file);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ProcessRecord) : null;
}

async function start() {
  const stack = await startDevStack(dataDir, env);
  spawned.push(stack.child);
  return stack;
}

async function stop(child: ReturnType<typeof spawnEntry>) {
  child.kill('SIGTERM');
  return exitOf(child);
}

/** A program that is not ours, listening on a port: `node -e` with a TCP server. */
async function foreignListener(port: number) {
  const foreign = spawn(
    process.execPath,
    ['-e', `require('node:net').createServer().listen(${port}, '127.0.0.1', () => console.log('listening'))`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  spawned.push(foreign);
  await new Promise<void>((r) => foreign.stdout!.once('data', () => r()));
  return foreign;
}

describe('npm run dev after kill -9', () => {
  it('reaps the Temporal server the killed stack left behind and starts again; the CLI refuses while it runs', async () => {
    const first = await start();
    const temporal = readRecord(TEMPORAL_PID_FILE)!;
    expect(commandLineOf(temporal.pid)).toEqual(temporal.command);
    expect(temporal.command.join(' ')).toContain(join(dataDir, 'temporal.sqlite'));
    expect(readRecord(DEV_LOCK_FILE)).toMatchObject({ pid: first.child.pid, pglite_dir: join(dataDir, 'pglite') });

    // (b) The CLI would open the same PGlite folder: one clear line, and nothing written.
    const cli = spawnEntry('src/cli.ts', { DATA_DIR: dataDir }, ['org', 'create', '--name', 'Beside dev']);
    expect((await exitOf(cli)).code).toBe(75);
    expect(cli.output().trim()).toBe(`npm run dev (pid ${first.child.pid}) holds the database in ${join(dataDir, 'pglite')}: stop it first (Ctrl-C), then run this again`);

    // A second stack on the same DATA_DIR would fight over the same files: refused too.
    const twin = spawnEntry('src/dev.ts', { ...env, DATA_DIR: dataDir, PORT: String(await freePort()) });
    expect((await exitOf(twin)).code).toBe(1);
    expect(twin.output().trim()).toBe(`another dev stack (pid ${first.child.pid}) is running with DATA_DIR=${dataDir}: stop it first`);
    expect(commandLineOf(temporal.pid)).toEqual(temporal.command);

    first.child.kill('SIGKILL');
    await exitOf(first.child);
    // The trap: the killed stack's Temporal server lives on, holding its port.
    expect(commandLineOf(temporal.pid)).toEqual(temporal.command);

    const second = await start();
    expect(second.child.output()).toContain(`stopping the Temporal dev server (pid ${temporal.pid}) left running by an earlier dev stack`);
    expect(commandLineOf(temporal.pid)).toBeNull();
    const next = readRecord(TEMPORAL_PID_FILE)!;
    expect(next.pid).not.toBe(temporal.pid);
    // The restarted stack answers with the key it wrote (PGlite may not keep the killed
    // stack's last writes, so the demo org can be a new one).
    const agents = await request(second.credentials.api_url, '/v1/agents', { key: second.credentials.api_key });
    expect(agents.status).toBe(200);

    expect((await stop(second.child)).code).toBe(0);
    expect(commandLineOf(next.pid)).toBeNull();
    expect(readRecord(DEV_LOCK_FILE)).toBeNull();
    expect(readRecord(TEMPORAL_PID_FILE)).toBeNull();

    // With the stack stopped the CLI works on the same folder, and the org stays.
    const create = spawnEntry('src/cli.ts', { DATA_DIR: dataDir }, ['org', 'create', '--name', 'After dev']);
    expect((await exitOf(create)).code, create.output()).toBe(0);
  }, 300_000);

  it('never signals another program: a recycled pid in the record, or a port held by something else', async () => {
    const otherDir = mkdtempSync(join(tmpdir(), 'aw-dev-foreign-'));
    const port = await freePort();
    const foreign = await foreignListener(port);
    // A record whose pid now belongs to another program (the pid was reused): not ours.
    writeFileSync(join(otherDir, TEMPORAL_PID_FILE), JSON.stringify({ pid: foreign.pid, command: [env.TEMPORAL_CLI, 'server', 'start-dev'], started_at: new Date().toISOString() }));
    const dev = spawnEntry('src/dev.ts', { ...env, DATA_DIR: otherDir, TEMPORAL_DEV_PORT: String(port) });
    spawned.push(dev);
    expect((await exitOf(dev)).code).toBe(1);
    expect(dev.output().trim().split('\n').at(-1)).toBe(
      `Temporal dev server: gRPC port ${port} is held by another program (not a Temporal server this dev stack started): stop it or set TEMPORAL_DEV_PORT`,
    );
    expect(dev.output()).not.toContain('stopping the Temporal dev server');
    expect(foreign.exitCode).toBeNull();
    expect(commandLineOf(foreign.pid!)).not.toBeNull();
    foreign.kill('SIGKILL');
    rmSync(otherDir, { recursive: true, force: true });
  }, 120_000);
});

describe('logs', () => {
  it('are pretty lines in a terminal and JSON lines in a pipe', async () => {
    const line = "import('./src/logger.ts').then((m) => m.createLogger('info', 'dev').info({ run_id: 'r-1', authorization: 'Bearer awk_secret' }, 'hello'))";
    const command = `${process.execPath} --import tsx -e "${line}"`;
    // `script` runs the command on a pseudo-terminal, as a developer's shell would.
    const { stdout: terminal } = await run('script', ['-qec', command, '/dev/null']);
    expect(terminal).toMatch(/INFO.*\(dev\).*hello/);
    expect(terminal).toContain('run_id');
    expect(terminal).not.toContain('{"level"');
    expect(terminal).not.toContain('awk_secret');

    const { stdout: piped } = await run(process.execPath, ['--import', 'tsx', '-e', line]);
    expect(JSON.parse(piped)).toMatchObject({ level: 30, name: 'dev', msg: 'hello', run_id: 'r-1', authorization: '[redacted]' });
  });
});
