import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { createHttpClient } from './client.js';
import type { HttpClient } from './types.js';

/** The outbound client as configured: HTTPS only in production, the SSRF allow-list, warnings logged. */
export function outboundClient(config: Config, log: Logger): HttpClient {
  return createHttpClient(
    { requireHttps: config.APP_ENV === 'production', allowedCidrs: config.OUTBOUND_ALLOWED_CIDRS },
    { log: (fields, msg) => log.warn(fields, msg) },
  );
}
