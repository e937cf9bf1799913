import type { PayloadValidationError } from './payloadSchema.js';
import { PayloadValidationTimeout, validatePayloadOffThread } from './payloadValidator.js';
import { renderTemplate } from './template.js';

/** The longest run message (as POST /v1/agents/{id}/runs accepts). */
export const MAX_MESSAGE_LENGTH = 50_000;

/** Headers a template may never read: credentials of other systems that happen to ride along. */
const HIDDEN_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key']);

export interface TriggerMessageSource {
  id: string;
  name: string;
  message_template: string;
  input_schema: Record<string, unknown> | null;
}

export interface PreparedMessage {
  message: string;
  /** Empty when an invocation with this payload would start a run. */
  validationErrors: PayloadValidationError[];
}

/** Request headers as the template sees them: lower-case names, one string each, credentials removed. */
export function templateHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HIDDEN_HEADERS.has(lower)) continue;
    out[lower] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Off the event loop with a deadline: a payload too costly for its schema is refused, never waited out. */
async function checkPayload(schema: Record<string, unknown>, payload: unknown): Promise<PayloadValidationError[]> {
  try {
    return await validatePayloadOffThread(schema, payload);
  } catch (err) {
    if (err instanceof PayloadValidationTimeout) return [{ path: 'payload', message: err.message }];
    throw err;
  }
}

/**
 * Checks the payload against the trigger's input schema and renders its message. A message
 * that renders empty is an error too: a run needs something to say.
 */
export async function prepareTriggerMessage(
  trigger: TriggerMessageSource,
  payload: unknown,
  headers: Record<string, string | string[] | undefined>,
): Promise<PreparedMessage> {
  const validationErrors = trigger.input_schema ? await checkPayload(trigger.input_schema, payload) : [];
  const message = renderTemplate(
    trigger.message_template,
    { payload, headers: templateHeaders(headers), trigger: { id: trigger.id, name: trigger.name } },
    MAX_MESSAGE_LENGTH,
  );
  if (validationErrors.length === 0 && message.trim() === '') {
    validationErrors.push({ path: 'message_template', message: 'rendered an empty message for this payload' });
  }
  return { message, validationErrors };
}
