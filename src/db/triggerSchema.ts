import type { ColumnType, Selectable } from 'kysely';
import type { SignatureEncoding, TriggerScheme } from '../domain/triggers/signatures.js';

/** Tables of third-party triggers (see src/api/triggers); composed into Database in schema.ts. */
export interface TriggerTables {
  triggers: TriggersTable;
}

export interface TriggersTable {
  id: string;
  org_id: string;
  agent_id: string;
  name: string;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  scheme: TriggerScheme;
  /**
   * The HMAC secret of a signed scheme, kept as given: verifying a signature needs the key
   * itself. Shown once (create / rotate); null for `none`.
   */
  secret: string | null;
  /** `none` only: SHA-256 (hex) of the token URL's token; the token itself is never stored. */
  token_hash: string | null;
  token_prefix: string | null;
  /** `hmac-sha256` only: where the signature and the sender's delivery id arrive. */
  signature_header: string | null;
  signature_encoding: SignatureEncoding | null;
  delivery_id_header: string | null;
  message_template: string;
  /** jsonb JSON Schema, written as a JSON string (or SQL null). */
  input_schema: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  rate_limit_per_minute: ColumnType<number, number | undefined, number>;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  updated_at: ColumnType<Date, Date | string, Date | string>;
  last_invoked_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export type Trigger = Selectable<TriggersTable>;
