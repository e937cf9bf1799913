import { promises as dns } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { blockedReason, type ParsedCidr } from './ssrf.js';

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to every address it has (dns.lookup with all: true by default). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) => dns.lookup(hostname, { all: true });

/** Raised inside the socket's lookup so Node aborts the connection before any packet is sent. */
export class BlockedAddressError extends Error {
  readonly code = 'ERR_OUTBOUND_BLOCKED';
}

/**
 * A `lookup` for http.request: Node calls it while connecting, and connects only to what it
 * returns. Filtering here (not in a pre-flight resolve) is what makes the check hold against
 * DNS rebinding — there is no second resolution between the check and the connect.
 * Forbidden addresses are dropped; if none is left the connection fails as blocked.
 */
export function guardedLookup(allowed: readonly ParsedCidr[], resolve: Resolver): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    resolve(hostname).then(
      (addresses) => {
        const candidates = addresses.filter((a) => family === 0 || a.family === family);
        if (candidates.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          err.code = 'ENOTFOUND';
          callback(err, '');
          return;
        }
        const permitted = candidates.filter((a) => blockedReason(a.address, allowed) === null);
        const first = permitted[0];
        if (!first) {
          const reasons = candidates.map((a) => blockedReason(a.address, allowed)).join('; ');
          callback(new BlockedAddressError(`${hostname} resolves only to forbidden addresses: ${reasons}`), '');
          return;
        }
        if (options.all) callback(null, permitted);
        else callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}
