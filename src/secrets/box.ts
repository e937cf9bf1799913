import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Encryption at rest for secrets we must read back (signing secrets, trigger HMAC secrets,
 * credential header values): AES-256-GCM, a random 12-byte IV per value, stored as
 * `enc:v1:<keyId>:<base64url(iv|ciphertext|tag)>`. Secrets we only compare (API keys, token
 * URLs) are hashed instead and never come through here.
 */
export interface SecretBox {
  /** False without SECRETS_KEY: values are stored as given. */
  readonly encrypts: boolean;
  seal(plain: string): string;
  /** Plaintext as stored before encryption existed passes through, so old rows keep working. */
  open(stored: string): string;
  /** True when `stored` is plaintext or sealed with a key other than SECRETS_KEY (always false without a key). */
  needsReseal(stored: string): boolean;
}

/** Never carries a plaintext or a key: only the key id, which is a fingerprint. */
export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

const PREFIX = 'enc:';
const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** First 8 hex characters of SHA-256 of the key: names the key without revealing it. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** `current` seals (null: store plaintext); `current` and every `previous` key open. */
export function createSecretBox(current: Buffer | null, previous: readonly Buffer[] = []): SecretBox {
  const keys = new Map<string, Buffer>();
  for (const key of [...(current ? [current] : []), ...previous]) {
    if (key.length !== 32) throw new SecretBoxError('a secrets key must be exactly 32 bytes');
    if (!keys.has(keyIdOf(key))) keys.set(keyIdOf(key), key);
  }
  const currentId = current ? keyIdOf(current) : null;

  return {
    encrypts: current !== null,
    needsReseal(stored) {
      if (!currentId) return false;
      return !stored.startsWith(`${PREFIX}${VERSION}:${currentId}:`);
    },
    seal(plain) {
      if (!current) return plain;
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      const sealed = Buffer.concat([iv, cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${PREFIX}${VERSION}:${currentId}:${sealed.toString('base64url')}`;
    },
    open(stored) {
      if (!stored.startsWith(PREFIX)) return stored;
      const [, version, keyId, payload] = stored.split(':');
      if (version !== VERSION || !keyId || payload === undefined) throw new SecretBoxError(`unreadable sealed value: expected enc:${VERSION}:<keyId>:<data>`);
      const key = keys.get(keyId);
      if (!key) {
        throw new SecretBoxError(
          current || keys.size
            ? `value sealed with key ${keyId}, which is neither SECRETS_KEY nor in SECRETS_KEY_PREVIOUS`
            : `value sealed with key ${keyId}, but SECRETS_KEY is not set`,
        );
      }
      const data = Buffer.from(payload, 'base64url');
      if (data.length < IV_BYTES + TAG_BYTES) throw new SecretBoxError(`sealed value (key ${keyId}) is truncated`);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretBoxError(`sealed value (key ${keyId}) failed authentication: it was altered or sealed with another key`);
      }
    },
  };
}

/** The box as configured: SECRETS_KEY seals, SECRETS_KEY_PREVIOUS keys still open. */
export function secretBoxFromConfig(config: { SECRETS_KEY?: string; SECRETS_KEY_PREVIOUS: readonly string[] }): SecretBox {
  const decode = (key: string) => Buffer.from(key, 'base64');
  return createSecretBox(config.SECRETS_KEY ? decode(config.SECRETS_KEY) : null, config.SECRETS_KEY_PREVIOUS.map(decode));
}

export const UNENCRYPTED_WARNING = 'SECRETS_KEY is not set: signing secrets and credential headers are stored unencrypted';

/** Header maps keep their names readable (they are shown masked); each value is sealed on its own. */
export function sealHeaders(box: SecretBox, headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, box.seal(value)]));
}

export function openHeaders(box: SecretBox, headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, box.open(value)]));
}

/**
 * Production api and worker refuse to start without SECRETS_KEY (one line, exit 78) unless the
 * operator explicitly allows plaintext secrets: a forgotten key must not silently store every
 * signing secret readable in the database and its backups.
 */
export function refuseUnencryptedInProduction(config: { APP_ENV: string; SECRETS_KEY?: string; ALLOW_UNENCRYPTED_SECRETS: boolean }): void {
  if (config.APP_ENV !== 'production' || config.SECRETS_KEY || config.ALLOW_UNENCRYPTED_SECRETS) return;
  process.stderr.write(
    'invalid configuration: SECRETS_KEY is required in production (generate one with `openssl rand -base64 32`), ' +
      'or set ALLOW_UNENCRYPTED_SECRETS=true to store signing secrets unencrypted\n',
  );
  process.exit(78);
}

/** With ALLOW_UNENCRYPTED_SECRETS, production api and worker still say once at start that secrets are not encrypted at rest. */
export function warnWhenUnencrypted(config: { APP_ENV: string; SECRETS_KEY?: string }, log: { warn(msg: string): void }): void {
  if (config.APP_ENV === 'production' && !config.SECRETS_KEY) log.warn(UNENCRYPTED_WARNING);
}
