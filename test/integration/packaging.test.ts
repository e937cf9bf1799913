import { spawn, execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, inject } from 'vitest';
import { freePort } from '../../src/temporal/devServer.js';
import { exitOf } from '../support/processes.js';
import { eventually, request } from '../support/stack.js';

const run = promisify(execFile);
const root = resolve('.');

/** A process the way an operator starts it: its own command line, output kept for assertions. */
function start(command: string, args: string[], options: { cwd: string; env?: Record<string, string> }) {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: `npm run` starts node under a shell, and stopping means stopping all of them.
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  return Object.assign(child, { output: () => output });
}

describe('.env', () => {
  // A checkout of the project whose .env is the test's own (the real one may hold a developer's).
  const checkout = mkdtempSync(join(tmpdir(), 'aw-envfile-'));
  for (const entry of ['package.json', 'node_modules', 'src', 'workflows', 'activities', 'tsconfig.json']) symlinkSync(join(root, entry), join(checkout, entry));
  afterAll(() => rmSync(checkout, { recursive: true, force: true }));

  it('cp .env.example .env && npm run api: the api reads .env, and asks for SECRETS_KEY until it is set', async () => {
    copyFileSync(join(root, '.env.example'), join(checkout, '.env'));
    const first = start('npm', ['run', '--silent', 'api'], { cwd: checkout });
    expect((await exitOf(first)).code).toBe(78);
    // Past DATABASE_URL (set in .env.example): the next thing production asks for is the key.
    expect(first.output()).not.toContain('DATABASE_URL is required');
    expect(first.output().trim()).toMatch(/^invalid configuration: SECRETS_KEY is required in production/m);

    // Following .env.example's instructions: a generated key, and this machine's ports.
    const port = await freePort();
    const env = readFileSync(join(checkout, '.env'), 'utf8')
      .replace(/^SECRETS_KEY=.*$/m, `SECRETS_KEY=${randomBytes(32).toString('base64')}`)
      .replace(/^PORT=.*$/m, `PORT=${port}\nHOST=127.0.0.1`)
      .replace(/^DATABASE_URL=.*$/m, `DATABASE_URL=${inject('databaseUrl') ?? 'postgres://postgres@127.0.0.1:1/unreachable'}`)
      .replace(/^TEMPORAL_ADDRESS=.*$/m, `TEMPORAL_ADDRESS=${inject('temporalAddress')}`);
    writeFileSync(join(checkout, '.env'), env);
    const api = start('npm', ['run', '--silent', 'api'], { cwd: checkout });
    try {
      const health = await eventually(async () => {
        if (api.exitCode !== null) throw new Error(`the api exited: ${api.output()}`);
        return request(`http://127.0.0.1:${port}`, '/healthz').catch(() => undefined);
      }, 'the api to listen on the port .env names');
      expect(health.status).toBe(200);
    } finally {
      // The whole group: SIGTERM to npm alone would leave its node child serving on the port.
      if (api.exitCode === null) process.kill(-api.pid!, 'SIGTERM');
      await exitOf(api);
    }
  }, 180_000);
});

describe('npm run build', () => {
  it('compiles to JavaScript: node dist/src/main.js serves the API and dist/src/worker.js polls with the built workflow bundle', async () => {
    await run('npm', ['run', '--silent', 'build'], { cwd: root, maxBuffer: 16 * 1024 * 1024, timeout: 300_000 });
    expect(existsSync(join(root, 'dist/src/main.js'))).toBe(true);
    expect(existsSync(join(root, 'dist/workflow-bundle.js'))).toBe(true);

    const port = await freePort();
    const common = {
      DATABASE_URL: inject('sharedPostgresUrl') ?? 'postgres://postgres@127.0.0.1:1/unreachable',
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `build-${randomUUID()}`,
      SECRETS_KEY: randomBytes(32).toString('base64'),
      METRICS_PORT: '0',
    };
    // No tsx anywhere: plain node on the compiled files.
    const api = start(process.execPath, ['dist/src/main.js'], { cwd: root, env: { ...common, PORT: String(port), HOST: '127.0.0.1' } });
    const worker = start(process.execPath, ['dist/src/worker.js'], { cwd: root, env: { ...common, WORKFLOW_BUNDLE_PATH: 'dist/workflow-bundle.js' } });
    try {
      const health = await eventually(async () => {
        if (api.exitCode !== null) throw new Error(`the api exited: ${api.output()}`);
        return request(`http://127.0.0.1:${port}`, '/healthz').catch(() => undefined);
      }, 'the compiled api to answer');
      expect(health.status).toBe(200);
      await eventually(async () => {
        if (worker.exitCode !== null) throw new Error(`the worker exited: ${worker.output()}`);
        return worker.output().includes('worker running') ? true : undefined;
      }, 'the compiled worker to poll', 60_000);
    } finally {
      api.kill('SIGTERM');
      worker.kill('SIGTERM');
      await Promise.all([exitOf(api), exitOf(worker)]);
    }
    expect(api.exitCode).toBe(0);
  }, 400_000);
});
