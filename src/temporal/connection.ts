import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { ConfigError, type Config } from '../config.js';

/**
 * One place that turns the TEMPORAL_* settings into connection options, for the client
 * (`Connection`, in the API and CLI) and the worker (`NativeConnection`) alike: plain TCP for
 * a local dev server; TLS, mutual TLS or an API key (Temporal Cloud) for a real cluster.
 */
export interface TemporalConnectionOptions {
  address: string;
  /** False for plain TCP; a TLSConfig (possibly empty: system roots, no client certificate) otherwise. */
  tls: TLSConfig | false;
  apiKey?: string;
}

type TemporalSettings = Pick<
  Config,
  'TEMPORAL_ADDRESS' | 'TEMPORAL_TLS' | 'TEMPORAL_TLS_CERT' | 'TEMPORAL_TLS_KEY' | 'TEMPORAL_TLS_CA' | 'TEMPORAL_TLS_SERVER_NAME' | 'TEMPORAL_API_KEY'
>;

export const DEFAULT_TEMPORAL_ADDRESS = 'localhost:7233';

/**
 * Reads and checks the certificate material now, at start-up: a missing file, a key that is
 * not a key, or a certificate that does not belong to its key is an operator's mistake that
 * should stop the process with one line naming the variable (ConfigError), not surface later
 * as an opaque handshake failure.
 */
export function temporalConnectionOptions(config: TemporalSettings, address = config.TEMPORAL_ADDRESS ?? DEFAULT_TEMPORAL_ADDRESS): TemporalConnectionOptions {
  const wantsTls =
    config.TEMPORAL_TLS ??
    Boolean(config.TEMPORAL_TLS_CERT || config.TEMPORAL_TLS_KEY || config.TEMPORAL_TLS_CA || config.TEMPORAL_TLS_SERVER_NAME || config.TEMPORAL_API_KEY);
  if (!wantsTls) return { address, tls: false };
  if (config.TEMPORAL_TLS === false && config.TEMPORAL_API_KEY) {
    // An API key over plain TCP would travel in the clear.
    throw new ConfigError('TEMPORAL_TLS', 'cannot be false while TEMPORAL_API_KEY is set (the key would be sent unencrypted)');
  }

  const tls: TLSConfig = {};
  if (config.TEMPORAL_TLS_SERVER_NAME) tls.serverNameOverride = config.TEMPORAL_TLS_SERVER_NAME;
  if (config.TEMPORAL_TLS_CA) {
    const ca = readMaterial('TEMPORAL_TLS_CA', config.TEMPORAL_TLS_CA);
    parseCertificate('TEMPORAL_TLS_CA', ca);
    tls.serverRootCACertificate = ca;
  }
  if (config.TEMPORAL_TLS_CERT || config.TEMPORAL_TLS_KEY) {
    if (!config.TEMPORAL_TLS_CERT) throw new ConfigError('TEMPORAL_TLS_CERT', 'is required when TEMPORAL_TLS_KEY is set (a client certificate and its key go together)');
    if (!config.TEMPORAL_TLS_KEY) throw new ConfigError('TEMPORAL_TLS_KEY', 'is required when TEMPORAL_TLS_CERT is set (a client certificate and its key go together)');
    const crt = readMaterial('TEMPORAL_TLS_CERT', config.TEMPORAL_TLS_CERT);
    const key = readMaterial('TEMPORAL_TLS_KEY', config.TEMPORAL_TLS_KEY);
    const certificate = parseCertificate('TEMPORAL_TLS_CERT', crt);
    let privateKey;
    try {
      privateKey = createPrivateKey(key);
    } catch {
      throw new ConfigError('TEMPORAL_TLS_KEY', `(${config.TEMPORAL_TLS_KEY}) is not a readable unencrypted PEM private key`);
    }
    if (!certificate.checkPrivateKey(privateKey)) {
      throw new ConfigError('TEMPORAL_TLS_KEY', `(${config.TEMPORAL_TLS_KEY}) is not the private key of the certificate in TEMPORAL_TLS_CERT`);
    }
    tls.clientCertPair = { crt, key };
  }
  return { address, tls, ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY } : {}) };
}

function readMaterial(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(variable, `(${path}) cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function parseCertificate(variable: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new ConfigError(variable, 'is not a PEM certificate');
  }
}

/** How the process describes its connection in logs: never the key, never file contents. */
export function describeConnection(options: TemporalConnectionOptions): string {
  if (!options.tls) return 'plain';
  const parts = ['tls'];
  if (options.tls.clientCertPair) parts.push('client certificate');
  if (options.apiKey) parts.push('api key');
  return parts.join(' + ');
}

/**
 * A TLS failure is a configuration mismatch between us and the cluster (wrong CA, wrong or
 * missing client certificate, wrong server name), not an outage: waiting will not fix it.
 * Returns a plain sentence for the operator, or undefined when `err` is something else.
 */
export function tlsFailure(err: unknown, options: TemporalConnectionOptions): string | undefined {
  if (!options.tls) return undefined;
  const message = (err as Error)?.message ?? String(err);
  const detail = TLS_PATTERNS.map((p) => p.exec(message)?.[0]).find(Boolean);
  if (!detail) return undefined;
  return (
    `Temporal at ${options.address} refused the TLS handshake (${detail.trim()}): check TEMPORAL_TLS_CA, ` +
    'TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY and TEMPORAL_TLS_SERVER_NAME against the cluster'
  );
}

const TLS_PATTERNS = [
  /invalid peer certificate[^"\n)]*/i,
  /InvalidCertificate\(\w+\)/,
  /certificate verify failed[^"\n)]*/i,
  /unable to (?:get local issuer|verify the first) certificate/i,
  /self[- ]signed certificate(?: in certificate chain)?/i,
  /Hostname\/IP does not match certificate's altnames[^"\n]*/i,
  /(?:received fatal )?alert[:\s]+\w*(?:Certificate|Unknown|Handshake)\w*/i,
  /(?:tls|ssl|handshake)[^"\n]{0,80}(?:error|fail|alert)[^"\n]{0,80}/i,
  /(?:HTTP status code|status:?)\s*(?:400|401|403|495|496)\b[^"\n]{0,60}/i,
];

/** For entry points: the options, or one line naming the variable and exit 78 (EX_CONFIG). */
export function temporalConnectionOptionsOrExit(config: TemporalSettings, address?: string): TemporalConnectionOptions {
  try {
    return temporalConnectionOptions(config, address);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

/** A refused handshake stops the process with one plain line (exit 78); anything else is left to the caller. */
export function exitOnTlsFailure(err: unknown, options: TemporalConnectionOptions): void {
  const sentence = tlsFailure(err, options);
  if (!sentence) return;
  process.stderr.write(`${sentence}\n`);
  process.exit(78);
}
