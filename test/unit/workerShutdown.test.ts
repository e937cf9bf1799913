import { describe, expect, it } from 'vitest';
import { workerShutdownGraceSeconds } from '../../src/temporal/worker.js';

describe('the worker drain fits in SHUTDOWN_TIMEOUT_SECONDS', () => {
  it('leaves time to close connections after the activities drain', () => {
    expect(workerShutdownGraceSeconds(30)).toBe(25);
    expect(workerShutdownGraceSeconds(120)).toBe(115);
    expect(workerShutdownGraceSeconds(10)).toBe(5);
    expect(workerShutdownGraceSeconds(1)).toBe(1);
    for (let t = 1; t <= 600; t++) expect(workerShutdownGraceSeconds(t)).toBeLessThanOrEqual(t);
  });
});
