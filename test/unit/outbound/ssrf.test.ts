import { describe, expect, it } from 'vitest';
import { blockedReason, isIpLiteral, parseAllowedCidrs } from '../../../src/outbound/ssrf.js';

/** [address as a URL host or resolved address, what the reason must mention] */
const BLOCKED: Array<[string, RegExp]> = [
  ['127.0.0.1', /loopback/],
  ['127.255.255.254', /loopback/],
  ['::1', /loopback/],
  ['[::1]', /loopback/],
  ['0.0.0.0', /unspecified/],
  ['0.1.2.3', /unspecified/],
  ['::', /unspecified/],
  ['10.0.0.1', /private/],
  ['172.16.0.1', /private/],
  ['172.31.255.255', /private/],
  ['192.168.1.1', /private/],
  ['169.254.169.254', /link-local/],
  ['169.254.0.1', /link-local/],
  ['fe80::1', /link-local/],
  ['fe80::1%eth0', /link-local/],
  ['100.64.0.1', /carrier-grade NAT/],
  ['100.127.255.255', /carrier-grade NAT/],
  ['224.0.0.1', /multicast/],
  ['239.255.255.250', /multicast/],
  ['ff02::1', /multicast/],
  ['240.0.0.1', /reserved/],
  ['255.255.255.255', /broadcast/],
  ['198.18.0.1', /reserved/],
  ['192.0.0.8', /reserved/],
  ['192.0.2.1', /reserved/],
  ['198.51.100.7', /reserved/],
  ['203.0.113.9', /reserved/],
  ['2001:db8::1', /reserved/],
  ['fd00:ec2::254', /unique-local/],
  ['fc00::1', /unique-local/],
  ['::ffff:127.0.0.1', /loopback/],
  ['::ffff:10.0.0.1', /private/],
  ['::ffff:7f00:1', /loopback/],
  ['[::ffff:a9fe:a9fe]', /link-local/],
  ['::7f00:1', /IPv4-compatible.*127\.0\.0\.1/],
  ['::ffff:0:a00:1', /IPv4-translated.*10\.0\.0\.1/],
  ['64:ff9b::a00:1', /NAT64.*10\.0\.0\.1/],
  ['64:ff9b::7f00:1', /NAT64.*127\.0\.0\.1/],
  ['64:ff9b:1::1', /local-use NAT64/],
  ['2002:0a00:0001::', /6to4.*10\.0\.0\.1/],
  ['2002:a9fe:a9fe::1', /6to4.*169\.254\.169\.254/],
  ['2001::1', /Teredo/],
  ['not-an-ip', /not an IP address/],
];

const PUBLIC = ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '[2606:4700:4700::1111]', '64:ff9b::808:808', '2002:808:808::1', '::ffff:8.8.8.8'];

describe('blockedReason with an empty allow-list', () => {
  it.each(BLOCKED)('blocks %s', (address, reason) => {
    expect(blockedReason(address, [])).toMatch(reason);
  });

  it.each(PUBLIC)('allows the public address %s', (address) => {
    expect(blockedReason(address, [])).toBeNull();
  });
});

describe('hosts as new URL() normalises them', () => {
  // WHATWG URL parsing rewrites numeric IPv4 spellings and mapped IPv6 before we see the
  // host; these cases pin that the guard judges the normalised form.
  it.each([
    ['http://2130706433/', '127.0.0.1'],
    ['http://0x7f.1/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['http://0xa9fea9fe/', '169.254.169.254'],
    ['http://0/', '0.0.0.0'],
    ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]'],
    ['http://[0:0:0:0:0:ffff:169.254.169.254]/', '[::ffff:a9fe:a9fe]'],
  ])('%s → %s is blocked', (url, host) => {
    const { hostname } = new URL(url);
    expect(hostname).toBe(host);
    expect(isIpLiteral(hostname)).toBe(true);
    expect(blockedReason(hostname, [])).not.toBeNull();
  });
});

describe('the allow-list', () => {
  const loopback = parseAllowedCidrs('127.0.0.0/8,::1/128');

  it('opens exactly loopback', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', '::ffff:127.0.0.1']) {
      expect(blockedReason(address, loopback), address).toBeNull();
    }
    for (const address of ['10.0.0.1', '169.254.169.254', '::2', 'fd00::1', '64:ff9b::7f00:1']) {
      expect(blockedReason(address, loopback), address).not.toBeNull();
    }
  });

  it('still allows public addresses', () => {
    expect(blockedReason('8.8.8.8', loopback)).toBeNull();
  });
});

describe('parseAllowedCidrs', () => {
  it('accepts a comma-separated string or a list, ignoring blanks', () => {
    expect(parseAllowedCidrs(' 127.0.0.0/8 , ,::1/128 ').map((c) => c.text)).toEqual(['127.0.0.0/8', '::1/128']);
    expect(parseAllowedCidrs(['10.0.0.0/8'])).toHaveLength(1);
    expect(parseAllowedCidrs('')).toEqual([]);
  });

  it('treats a bare address as a single host', () => {
    const [only] = parseAllowedCidrs('10.1.2.3');
    expect(only?.prefix).toBe(32);
    expect(blockedReason('10.1.2.3', parseAllowedCidrs('10.1.2.3'))).toBeNull();
    expect(blockedReason('10.1.2.4', parseAllowedCidrs('10.1.2.3'))).not.toBeNull();
  });

  it.each(['10.1/8', '10.0.0.0/33', 'localhost', '::1/129', '127.0.0.0/8x'])('rejects %s with a clear message', (bad) => {
    expect(() => parseAllowedCidrs(bad)).toThrow(new RegExp(`invalid CIDR.*"${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`));
  });
});

describe('isIpLiteral', () => {
  it('recognises literals and rejects names', () => {
    expect(isIpLiteral('127.0.0.1')).toBe(true);
    expect(isIpLiteral('[::1]')).toBe(true);
    expect(isIpLiteral('::1')).toBe(true);
    expect(isIpLiteral('localhost')).toBe(false);
    expect(isIpLiteral('example.com')).toBe(false);
  });
});
