import type { Client } from '@temporalio/client';
import type { ParameterizedContext } from 'koa';
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { HttpClient } from '../outbound/types.js';
import type { SecretBox } from '../secrets/box.js';

export interface AuthContext {
  /** An API key (`awk_…`) or a portal session (`aps_…`): both carry scopes and an optional agent. */
  kind: 'api_key' | 'portal_session';
  orgId: string;
  /** The API key's or the portal session's id. */
  keyId: string;
  keyName: string;
  /** API keys: the first 8 hex characters of the key; portal sessions: null. */
  keyPrefix: string | null;
  /** Portal sessions end at this time; API keys: null (they last until revoked). */
  expiresAt: Date | null;
  /** Set for agent-scoped keys: they see and act on this agent only. */
  agentId: string | null;
  scopes: readonly string[];
}

export interface AppState {
  requestId: string;
  log: Logger;
  auth?: AuthContext;
  /** Set when the operator's ADMIN_TOKEN authenticated a route open to both it and API keys. */
  admin?: boolean;
  /** The org a request acts for, once a token URL or trigger is found (API keys: `auth.orgId`); logged. */
  orgId?: string;
  /** Parsed JSON body (undefined when the request had none). */
  body?: unknown;
  rawBody?: Buffer;
}

export interface ReadinessChecks {
  database(): Promise<boolean>;
  temporal(): Promise<boolean>;
}

/** Everything the API needs, built by the composition root (main, dev launcher, tests). */
export interface AppDeps {
  config: Config;
  db: Kysely<Database>;
  temporal: Client;
  log: Logger;
  readiness: ReadinessChecks;
  /** LISTEN/NOTIFY of the database: SSE streams wake on stored run events from any process. */
  listen: (channel: string, onNotify: (payload: string) => void) => Promise<() => Promise<void>>;
  /** Where the Temporal SDK exports its runtime metrics, when this process runs a worker too (dev). */
  sdkMetricsAddress?: string;
  /** The SSRF-guarded outbound client (endpoint test pings). */
  http: HttpClient;
  /** Seals secrets and credential headers before they are stored; opens them to sign or send. */
  secrets: SecretBox;
  /** Now, for everything the API stamps or compares (tests pass a fixed or shifted one). */
  clock: () => Date;
}

export type AppContext = ParameterizedContext<AppState>;
