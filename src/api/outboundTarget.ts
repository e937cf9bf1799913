import { invalid } from '../errors.js';
import { blockedReason, isIpLiteral, parseAllowedCidrs } from '../outbound/ssrf.js';
import type { AppDeps } from './context.js';

/**
 * Up-front checks of a URL we will POST to (callback_url, outgoing_url, endpoint url): HTTPS in
 * production and no private IP literal. Host names are checked again at connect time, against
 * what they resolve to then. `field` names the input in the 422 details.
 */
export function checkOutboundTarget(deps: Pick<AppDeps, 'config'>, url: string, field: string): void {
  const parsed = new URL(url);
  if (deps.config.APP_ENV === 'production' && parsed.protocol !== 'https:') throw invalid({ [field]: 'must use https' });
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (isIpLiteral(host) && blockedReason(host, parseAllowedCidrs(deps.config.OUTBOUND_ALLOWED_CIDRS))) {
    // A developer pointing at a receiver on their own machine needs to know the way out; a
    // tenant of a production server has no business with the operator's settings.
    throw invalid({
      [field]:
        deps.config.APP_ENV === 'development'
          ? `must not point at a private, loopback or link-local address (${host}); for local receivers in development, ` +
            'allow their range with OUTBOUND_ALLOWED_CIDRS, e.g. OUTBOUND_ALLOWED_CIDRS=127.0.0.0/8'
          : 'must not point at a private, loopback or link-local address',
    });
  }
}
