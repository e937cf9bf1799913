import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import { createSecretBox, keyIdOf, openHeaders, sealHeaders, secretBoxFromConfig, SecretBoxError } from '../../../src/secrets/box.js';

const key = randomBytes(32);
const oldKey = randomBytes(32);
const SECRET = 'whsec_c2VjcmV0LXZhbHVlLWZvci10ZXN0cw==';

describe('secret box', () => {
  it('round-trips a value in the documented envelope, named by the key fingerprint', () => {
    const box = createSecretBox(key);
    const sealed = box.seal(SECRET);
    const keyId = createHash('sha256').update(key).digest('hex').slice(0, 8);
    expect(keyIdOf(key)).toBe(keyId);
    expect(sealed).toMatch(new RegExp(`^enc:v1:${keyId}:[A-Za-z0-9_-]+$`));
    expect(sealed).not.toContain(SECRET);
    // 12-byte IV + ciphertext (same length as the UTF-8 plaintext) + 16-byte tag.
    expect(Buffer.from(sealed.split(':')[3]!, 'base64url')).toHaveLength(12 + Buffer.byteLength(SECRET) + 16);
    expect(box.open(sealed)).toBe(SECRET);
    expect(box.open(box.seal(''))).toBe('');
    expect(box.open(box.seal('Bearer ünïcødé ✓'))).toBe('Bearer ünïcødé ✓');
  });

  it('seals the same plaintext differently every time (random IV)', () => {
    const box = createSecretBox(key);
    const sealed = new Set(Array.from({ length: 50 }, () => box.seal(SECRET)));
    expect(sealed.size).toBe(50);
    for (const value of sealed) expect(box.open(value)).toBe(SECRET);
  });

  it('passes plaintext written before encryption through unchanged, with or without a key', () => {
    expect(createSecretBox(key).open(SECRET)).toBe(SECRET);
    expect(createSecretBox(null).open('Bearer legacy-token')).toBe('Bearer legacy-token');
  });

  it('stores values as given when no key is configured', () => {
    const box = createSecretBox(null);
    expect(box.encrypts).toBe(false);
    expect(box.seal(SECRET)).toBe(SECRET);
    expect(createSecretBox(key).encrypts).toBe(true);
  });

  it('opens values sealed with a previous key and seals new ones with the current key', () => {
    const sealedBefore = createSecretBox(oldKey).seal(SECRET);
    const rotated = createSecretBox(key, [oldKey]);
    expect(rotated.open(sealedBefore)).toBe(SECRET);
    expect(rotated.seal(SECRET)).toMatch(new RegExp(`^enc:v1:${keyIdOf(key)}:`));
  });

  it('refuses a value sealed with an unknown key, naming only the key id', () => {
    const sealed = createSecretBox(oldKey).seal(SECRET);
    for (const box of [createSecretBox(key), createSecretBox(null)]) {
      let error: unknown;
      try {
        box.open(sealed);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SecretBoxError);
      const message = (error as Error).message;
      expect(message).toContain(keyIdOf(oldKey));
      expect(message).toMatch(/SECRETS_KEY/);
      for (const leak of [SECRET, oldKey.toString('base64'), key.toString('base64'), oldKey.toString('hex')]) expect(message).not.toContain(leak);
    }
  });

  it('refuses a tampered, truncated or malformed value without revealing anything', () => {
    const box = createSecretBox(key);
    const sealed = box.seal(SECRET);
    const [prefix, version, keyId, payload] = sealed.split(':') as [string, string, string, string];
    const bytes = Buffer.from(payload, 'base64url');
    for (const index of [0, 12, bytes.length - 1]) {
      const flipped = Buffer.from(bytes);
      flipped[index]! ^= 0x01;
      const tampered = [prefix, version, keyId, flipped.toString('base64url')].join(':');
      expect(() => box.open(tampered)).toThrow(SecretBoxError);
      expect(() => box.open(tampered)).toThrow(/failed authentication/);
    }
    expect(() => box.open(`enc:v1:${keyId}:${bytes.subarray(0, 20).toString('base64url')}`)).toThrow(/truncated/);
    expect(() => box.open(`enc:v2:${keyId}:${payload}`)).toThrow(/unreadable sealed value/);
    expect(() => box.open('enc:v1')).toThrow(SecretBoxError);
    try {
      box.open(sealed.slice(0, -2) + (sealed.endsWith('AA') ? 'BB' : 'AA'));
    } catch (err) {
      expect((err as Error).message).not.toContain(SECRET);
    }
  });

  it('seals each header value on its own, keeping the names readable', () => {
    const box = createSecretBox(key);
    const sealed = sealHeaders(box, { Authorization: 'Bearer abc-123', 'X-Tenant': 'acme' });
    expect(Object.keys(sealed)).toEqual(['Authorization', 'X-Tenant']);
    expect(JSON.stringify(sealed)).not.toMatch(/abc-123|acme/);
    expect(openHeaders(box, sealed)).toEqual({ Authorization: 'Bearer abc-123', 'X-Tenant': 'acme' });
    expect(openHeaders(box, { 'X-Legacy': 'plain' })).toEqual({ 'X-Legacy': 'plain' });
  });

  it('is built from SECRETS_KEY and SECRETS_KEY_PREVIOUS', () => {
    const sealedBefore = createSecretBox(oldKey).seal(SECRET);
    const other = randomBytes(32);
    const config = parseConfig({ SECRETS_KEY: key.toString('base64'), SECRETS_KEY_PREVIOUS: `${other.toString('base64')}, ${oldKey.toString('base64')}` });
    const box = secretBoxFromConfig(config);
    expect(box.open(sealedBefore)).toBe(SECRET);
    expect(createSecretBox(key).open(box.seal(SECRET))).toBe(SECRET);
    expect(secretBoxFromConfig(parseConfig({})).encrypts).toBe(false);
  });
});
