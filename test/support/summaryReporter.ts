import type { Reporter, TestModule } from 'vitest/node';
import './figures.js';

/**
 * Ends the run with the figures the chaos and security tests counted (one table) and the
 * plain `N passed, N failed` line that CI tooling reads.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>) {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const figures = new Map<string, number>();
    for (const module of testModules) {
      let failedHere = 0;
      for (const test of module.children.allTests()) {
        for (const [name, value] of Object.entries(test.meta().figures ?? {})) figures.set(name, (figures.get(name) ?? 0) + value);
        const state = test.result().state;
        if (state === 'passed') counts.passed++;
        else if (state === 'failed') failedHere++;
        else counts.skipped++;
      }
      // A file whose setup failed has no failed test of its own: count the file itself.
      counts.failed += failedHere || (module.state() === 'failed' ? 1 : 0);
    }
    if (figures.size) {
      const width = Math.max(...[...figures.keys()].map((name) => name.length));
      const rows = [...figures].sort(([a], [b]) => a.localeCompare(b)).map(([name, value]) => `  ${name.padEnd(width)}  ${value}`);
      process.stdout.write(`\nchaos & security:\n${rows.join('\n')}\n`);
    }
    const skipped = counts.skipped ? `, ${counts.skipped} skipped` : '';
    process.stdout.write(`\ntests: ${counts.passed} passed, ${counts.failed} failed${skipped}\n`);
  }
}
