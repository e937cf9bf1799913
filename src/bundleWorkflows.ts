import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { bundleWorkflows } from './temporal/worker.js';

/**
 * `npm run bundle-workflows -- <file>`: writes the workflow bundle a worker loads with
 * WORKFLOW_BUNDLE_PATH, so a (re)started worker polls within a second instead of bundling
 * `workflows/` first. The Docker image builds it at image build time.
 */
const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: npm run bundle-workflows -- <output file>\n');
  process.exit(64);
}
const bundle = await bundleWorkflows();
writeFileSync(resolve(out), bundle.code);
process.stdout.write(`workflow bundle written to ${resolve(out)} (${Math.round(bundle.code.length / 1024)} KiB)\n`);
