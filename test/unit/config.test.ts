import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, publicUrl } from '../../src/config.js';

describe('parseConfig', () => {
  it('applies defaults', () => {
    const config = parseConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.APP_ENV).toBe('production');
    expect(config.TEMPORAL_NAMESPACE).toBe('default');
    expect(config.DATABASE_URL).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names the variable and the problem for a bad value', () => {
    expect(() => parseConfig({ PORT: 'abc' })).toThrow(ConfigError);
    expect(() => parseConfig({ PORT: 'abc' })).toThrow(/^invalid configuration: PORT must be a whole number between 1 and 65535 \(got "abc"\)$/);
    expect(() => parseConfig({ PORT: '70000' })).toThrow(/PORT/);
    expect(() => parseConfig({ APP_ENV: 'staging' })).toThrow(/APP_ENV/);
    expect(() => parseConfig({ TEMPORAL_ADDRESS: 'http://x' })).toThrow(/TEMPORAL_ADDRESS must be host:port/);
  });

  it('never echoes secrets it rejects', () => {
    try {
      parseConfig({ ADMIN_TOKEN: 'short-secret' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/ADMIN_TOKEN/);
      expect((err as Error).message).not.toContain('short-secret');
    }
    expect(() => parseConfig({ DATABASE_URL: 'mysql://u:hunter2@h/db' })).toThrow(/^(?!.*hunter2).*DATABASE_URL/);
  });

  it('accepts SECRETS_KEY only as base64 of exactly 32 bytes, and never echoes it', () => {
    const key = Buffer.alloc(32, 9).toString('base64');
    expect(parseConfig({ SECRETS_KEY: key }).SECRETS_KEY).toBe(key);
    expect(parseConfig({}).SECRETS_KEY).toBeUndefined();
    expect(parseConfig({}).SECRETS_KEY_PREVIOUS).toEqual([]);
    for (const bad of ['hunter2-passphrase', Buffer.alloc(16, 1).toString('base64'), Buffer.alloc(32, 1).toString('hex'), `${key}x`]) {
      try {
        parseConfig({ SECRETS_KEY: bad });
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as Error).message).toBe('invalid configuration: SECRETS_KEY must be base64 of exactly 32 bytes (openssl rand -base64 32)');
      }
    }
    const previous = Buffer.alloc(32, 3).toString('base64');
    expect(parseConfig({ SECRETS_KEY: key, SECRETS_KEY_PREVIOUS: ` ${previous} ,${key}` }).SECRETS_KEY_PREVIOUS).toEqual([previous, key]);
    expect(() => parseConfig({ SECRETS_KEY_PREVIOUS: `${previous},not-a-key` })).toThrow(/^invalid configuration: SECRETS_KEY_PREVIOUS must be comma-separated keys, each base64 of exactly 32 bytes[^"]*$/);
  });

  it('treats empty strings as unset and lets entry points choose defaults', () => {
    const config = parseConfig({ PORT: '', APP_ENV: '' }, { APP_ENV: 'development', PORT: '4000' });
    expect(config.PORT).toBe(4000);
    expect(config.APP_ENV).toBe('development');
  });

  it('builds public links from PUBLIC_URL or the port', () => {
    expect(publicUrl(parseConfig({ PORT: '8080' }))).toBe('http://localhost:8080');
    expect(publicUrl(parseConfig({ PUBLIC_URL: 'https://hooks.example.com/' }))).toBe('https://hooks.example.com');
  });
});
