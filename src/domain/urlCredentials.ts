/**
 * `https://user:pass@host/x`: credentials in a URL end up in logs, delivery lists and screen
 * shares, and every reader echoes URLs back. We refuse them on input (one rule for every URL
 * field: endpoint url, callback_url, outgoing_url, provider url/base_url) and point to custom
 * headers, which are stored sealed and masked on read. A row stored before the rule has its
 * userinfo masked wherever the URL is read back.
 */
export const URL_CREDENTIALS_MESSAGE =
  'must not contain a user name or password (user:pass@host): send credentials in a custom header (e.g. Authorization) instead';

const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i;

export function hasUrlCredentials(url: string): boolean {
  return USERINFO.test(url);
}

/** `https://user:pass@host/x` → `https://***@host/x`; any other URL unchanged, byte for byte. */
export function maskUrlCredentials<T extends string | null>(url: T): T {
  return (url === null ? url : url.replace(USERINFO, '$1***@')) as T;
}
