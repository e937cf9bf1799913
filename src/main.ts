import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { createApp } from './api/index.js';
import { loadConfigOrExit } from './config.js';
import { openDatabase } from './db/connect.js';
import { createLogger } from './logger.js';
import { onShutdown, requireDatabaseUrl } from './process.js';
import { databaseReachable } from './db/health.js';
import { temporalReachable } from './temporal/client.js';
import { startTracing, stopTracing, temporalClientInterceptors } from './telemetry.js';
import { describeConnection, exitOnTlsFailure, temporalConnectionOptionsOrExit } from './temporal/connection.js';
import { retryWithinDeadline } from './temporal/deadline.js';
import { outboundClient } from './outbound/fromConfig.js';
import { refuseUnencryptedInProduction, secretBoxFromConfig, warnWhenUnencrypted } from './secrets/box.js';

/** `npm run api`: the HTTP API alone, against external Postgres and Temporal. */
const config = loadConfigOrExit();
const temporalOptions = temporalConnectionOptionsOrExit(config);
const log = createLogger(config.LOG_LEVEL, 'api');
const tracing = startTracing('agent-webhooks-api'); // off unless OTEL_EXPORTER_OTLP_ENDPOINT is set
const databaseUrl = requireDatabaseUrl(config, 'npm run api');
refuseUnencryptedInProduction(config);
const database = await openDatabase({ url: databaseUrl, poolSize: config.DATABASE_POOL_SIZE, preparedStatements: config.DATABASE_PREPARED_STATEMENTS });
// After the configuration checks: a process that refuses to start says only why.
warnWhenUnencrypted(config, log);
// Lazy: the API comes up (and /readyz says why it is not ready) even while Temporal is down.
// Its retries end at each call's deadline: a caller gets its 503 on time.
const connection = Connection.lazy({ ...temporalOptions, interceptors: [retryWithinDeadline()] });
if (temporalOptions.tls) {
  // A refused TLS handshake is a configuration mismatch, not an outage: say so and stop.
  connection.workflowService.getSystemInfo({}).catch((err: unknown) => exitOnTlsFailure(err, temporalOptions));
}
const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors: temporalClientInterceptors() });

const app = createApp({
  config,
  db: database.db,
  temporal,
  log,
  readiness: { database: () => databaseReachable(database.db), temporal: () => temporalReachable(connection) },
  listen: database.listen,
  http: outboundClient(config, log),
  secrets: secretBoxFromConfig(config),
  clock: () => new Date(),
});
const server: Server = app.listen(config.PORT, config.HOST, () => {
  log.info({ port: config.PORT, host: config.HOST, database: database.location, temporal: temporalOptions.address, temporal_connection: describeConnection(temporalOptions), tracing }, 'api listening');
});

onShutdown(config, log, async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve()); // stops accepting, waits for in-flight requests
    server.closeIdleConnections();
  });
  await connection.close();
  await database.close();
  await stopTracing();
});
