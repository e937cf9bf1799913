import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';

const run = promisify(execFile);

export interface CompiledBench {
  /** The no-op workflow's bundle for the baseline worker (prebuilt, as the app's worker loads its own). */
  noopBundlePath: string;
  /** The app's prebuilt workflow bundle (`npm run build` writes it; the image sets WORKFLOW_BUNDLE_PATH to it). */
  appBundlePath: string;
  /** The image's NODE_OPTIONS (V8 heap settings), read from the Dockerfile so the two cannot drift. */
  nodeOptions: string;
}

/** NODE_OPTIONS of the Dockerfile's runtime stage. */
export function productionNodeOptions(dockerfile = readFileSync(resolve('Dockerfile'), 'utf8')): string {
  const match = /^\s*(?:ENV\s+)?NODE_OPTIONS=(?:"([^"]*)"|(\S+))/m.exec(dockerfile);
  if (!match) throw new Error('the Dockerfile sets no NODE_OPTIONS: the bench runs the processes as the image does');
  return match[1] ?? match[2]!;
}

/**
 * Production runs compiled JavaScript (`npm run build`, then `node dist/src/main.js` and
 * `node dist/src/worker.js` with the prebuilt workflow bundle, as the Dockerfile does), so the
 * bench measures that, built once per bench run from the working tree: the app with `npm run
 * build` itself, the baselines' processes (bench/processes, bench/temporal) with tsc into the
 * same dist/, and the no-op workflow bundled here, once, like the app's.
 */
export async function buildForBench(tmp: string, log: (line: string) => void): Promise<CompiledBench> {
  const started = Date.now();
  await run('npm', ['run', 'build'], { maxBuffer: 16 * 2 ** 20 });
  await run(process.execPath, [resolve('node_modules/typescript/bin/tsc'), '-p', 'bench/tsconfig.processes.json'], { maxBuffer: 16 * 2 ** 20 });
  const noop = await bundleWorkflowCode({ workflowsPath: resolve('bench/temporal/workflows.ts'), logger: new DefaultLogger('WARN') });
  const noopBundlePath = join(tmp, 'noop-workflow-bundle.js');
  writeFileSync(noopBundlePath, noop.code);
  log(`built dist/ (npm run build + the baselines' processes) and the no-op bundle in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { noopBundlePath, appBundlePath: resolve('dist/workflow-bundle.js'), nodeOptions: productionNodeOptions() };
}
