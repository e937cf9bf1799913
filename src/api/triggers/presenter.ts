import { randomBytes } from 'node:crypto';
import { publicUrl, type Config } from '../../config.js';
import type { Trigger } from '../../db/triggerSchema.js';
import { hashSecret } from '../../domain/apiKeys.js';

export const TRIGGER_TOKEN_PREFIX = 'trg_';

/** `trg_` + 32 random bytes (base64url): for scheme none the token is the whole credential. */
export function generateTriggerToken() {
  const token = `${TRIGGER_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashSecret(token), prefix: `${token.slice(0, 12)}...` };
}

export const signedInvokeUrl = (config: Config, id: string) => `${publicUrl(config)}/v1/triggers/${id}/invoke`;
export const tokenInvokeUrl = (config: Config, token: string) => `${publicUrl(config)}/api/triggers/${token}`;

export function presentTrigger(config: Config, trigger: Trigger) {
  return {
    id: trigger.id,
    agent_id: trigger.agent_id,
    name: trigger.name,
    enabled: trigger.enabled,
    scheme: trigger.scheme,
    signature_header: trigger.signature_header,
    signature_encoding: trigger.signature_encoding,
    delivery_id_header: trigger.delivery_id_header,
    message_template: trigger.message_template,
    input_schema: trigger.input_schema,
    rate_limit_per_minute: trigger.rate_limit_per_minute,
    invoke_url: trigger.scheme === 'none' ? null : signedInvokeUrl(config, trigger.id),
    token_prefix: trigger.token_prefix,
    created_at: trigger.created_at.toISOString(),
    updated_at: trigger.updated_at.toISOString(),
    last_invoked_at: trigger.last_invoked_at?.toISOString() ?? null,
  };
}

/** The one response that carries the credential: after creation or rotation, never again. */
export function presentTriggerWithSecret(config: Config, trigger: Trigger, token: string | null) {
  return {
    ...presentTrigger(config, trigger),
    invoke_url: token ? tokenInvokeUrl(config, token) : signedInvokeUrl(config, trigger.id),
    secret: trigger.secret,
    token,
  };
}
