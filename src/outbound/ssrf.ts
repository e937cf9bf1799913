import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** One entry of the SSRF allow-list (OUTBOUND_ALLOWED_CIDRS). */
export interface ParsedCidr {
  /** As configured, for log lines. */
  readonly text: string;
  readonly network: Address;
  readonly prefix: number;
}

/**
 * Parses the allow-list: a comma-separated string or a list. Strict four-part IPv4 only, so
 * a typo like "10.1/8" fails loudly instead of opening an unexpected range.
 */
export function parseAllowedCidrs(list: string | readonly string[]): ParsedCidr[] {
  const items = typeof list === 'string' ? list.split(',') : list;
  const parsed: ParsedCidr[] = [];
  for (const raw of items) {
    const text = raw.trim();
    if (text === '') continue;
    const withPrefix = text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`;
    const valid = ipaddr.IPv4.isValidCIDRFourPartDecimal(withPrefix) || ipaddr.IPv6.isValidCIDR(withPrefix);
    if (!valid) {
      throw new Error(`invalid CIDR in the outbound allow-list: "${text}" (expected e.g. 127.0.0.0/8 or ::1/128)`);
    }
    const [network, prefix] = ipaddr.parseCIDR(withPrefix);
    // An IPv4-mapped IPv6 range would never match: addresses are judged in their IPv4 form.
    if (network.kind() === 'ipv6' && (network as ipaddr.IPv6).isIPv4MappedAddress() && prefix >= 96) {
      parsed.push({ text, network: (network as ipaddr.IPv6).toIPv4Address(), prefix: prefix - 96 });
    } else {
      parsed.push({ text, network, prefix });
    }
  }
  return parsed;
}

/** True for a host that is an IP address (brackets allowed): Node connects to it without DNS. */
export function isIpLiteral(host: string): boolean {
  return isIP(stripBrackets(host)) !== 0;
}

const IPV4_REASONS: Record<string, string> = {
  unspecified: 'an unspecified address (0.0.0.0/8)',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address (incl. cloud metadata 169.254.169.254)',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT address (100.64.0.0/10)',
  private: 'a private (RFC 1918) address',
  reserved: 'a reserved, documentation or benchmarking address',
  as112: 'an AS112 sink address',
  amt: 'an AMT relay address',
};

const IPV6_REASONS: Record<string, string> = {
  unspecified: 'the unspecified address (::)',
  linkLocal: 'a link-local address (fe80::/10)',
  multicast: 'a multicast address (ff00::/8)',
  loopback: 'a loopback address',
  uniqueLocal: 'a unique-local address (fc00::/7, incl. fd00:ec2::254)',
  deprecatedSiteLocal: 'a site-local address (fec0::/10)',
  discard: 'a discard-only address (100::/64)',
  teredo: 'a Teredo tunnel address (embedded IPv4 cannot be judged)',
  benchmarking: 'a benchmarking address',
  reserved: 'a reserved or documentation address',
};

const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');
const UNSPECIFIED_OR_LOOPBACK = ipaddr.parseCIDR('::/127');

/**
 * Why the system must not connect to `address`, or null when it may. Anything that is not
 * plain global unicast is refused unless the allow-list opens it; IPv6 forms that carry an
 * IPv4 address (mapped, compatible, NAT64, 6to4) are judged by the IPv4 address inside,
 * because that is where the packets end up.
 */
export function blockedReason(address: string, allowed: readonly ParsedCidr[]): string | null {
  let parsed: Address;
  try {
    parsed = ipaddr.parse(stripBrackets(address));
  } catch {
    return `${address} is not an IP address`;
  }
  const effective = parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()
    ? (parsed as ipaddr.IPv6).toIPv4Address()
    : parsed;
  if (isAllowed(effective, allowed) || isAllowed(parsed, allowed)) return null;
  const reason = effective.kind() === 'ipv4' ? ipv4Reason(effective as ipaddr.IPv4) : ipv6Reason(effective as ipaddr.IPv6);
  return reason === null ? null : `${address} is ${reason}`;
}

function ipv4Reason(address: ipaddr.IPv4): string | null {
  const range = address.range();
  if (range === 'unicast') return null;
  return IPV4_REASONS[range] ?? `in the special-purpose range "${range}"`;
}

function ipv6Reason(address: ipaddr.IPv6): string | null {
  const p = address.parts;
  const embedded = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  let inner: ipaddr.IPv4 | null = null;
  let via = '';
  if (address.match(IPV4_COMPATIBLE) && !address.match(UNSPECIFIED_OR_LOOPBACK)) {
    inner = embedded(p[6]!, p[7]!);
    via = 'an IPv4-compatible';
  } else if (address.range() === 'rfc6145') {
    inner = embedded(p[6]!, p[7]!);
    via = 'an IPv4-translated';
  } else if (address.match(NAT64_WELL_KNOWN)) {
    inner = embedded(p[6]!, p[7]!);
    via = 'a NAT64';
  } else if (address.range() === '6to4') {
    inner = embedded(p[1]!, p[2]!);
    via = 'a 6to4';
  }
  if (inner) {
    const reason = ipv4Reason(inner);
    return reason === null ? null : `${via} address embedding ${inner.toString()}, ${reason}`;
  }
  const range = address.range();
  if (range === 'unicast') return null;
  if (range === 'rfc6052') return 'a local-use NAT64 address (64:ff9b:1::/48)';
  return IPV6_REASONS[range] ?? `in the special-purpose range "${range}"`;
}

function isAllowed(address: Address, allowed: readonly ParsedCidr[]): boolean {
  return allowed.some((cidr) => cidr.network.kind() === address.kind() && address.match(cidr.network, cidr.prefix));
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
