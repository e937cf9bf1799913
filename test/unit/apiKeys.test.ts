import { describe, expect, it } from 'vitest';
import { generateApiKey, hashSecret, looksLikeApiKey } from '../../src/domain/apiKeys.js';

describe('API keys', () => {
  it('are 64 hex characters behind a readable prefix, listed by their first 8', () => {
    const { key, prefix, hash } = generateApiKey();
    expect(key).toMatch(/^awk_[0-9a-f]{64}$/);
    expect(prefix).toBe(key.slice(4, 12));
    expect(hash).toBe(hashSecret(key));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(key.slice(4));
  });

  it('never repeat', () => {
    const keys = new Set(Array.from({ length: 1000 }, () => generateApiKey().key));
    expect(keys.size).toBe(1000);
  });

  it('recognises only well-formed keys', () => {
    expect(looksLikeApiKey(generateApiKey().key)).toBe(true);
    expect(looksLikeApiKey('awk_short')).toBe(false);
    expect(looksLikeApiKey(`AWK_${'a'.repeat(64)}`)).toBe(false);
    expect(looksLikeApiKey(`awk_${'g'.repeat(64)}`)).toBe(false);
  });
});
