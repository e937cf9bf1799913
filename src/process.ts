import type { Config } from './config.js';
import type { Logger } from './logger.js';

/**
 * Runs `shutdown` once on SIGINT/SIGTERM, bounded by SHUTDOWN_TIMEOUT_SECONDS; a second
 * signal or the deadline exits at once. Composition roots register their cleanup here.
 */
export function onShutdown(config: Config, log: Logger, shutdown: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      log.error('shutdown took too long: exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_SECONDS * 1000);
    deadline.unref();
    shutdown(signal)
      .then(() => process.exit(0))
      .catch((err) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** Production processes share one database: PGlite is a single-process embedded default. */
export function requireDatabaseUrl(config: Config, command: string): string {
  if (!config.DATABASE_URL) {
    process.stderr.write(
      `invalid configuration: DATABASE_URL is required for ${command} (the embedded PGlite database is for \`npm run dev\`)\n`,
    );
    process.exit(78);
  }
  return config.DATABASE_URL;
}
