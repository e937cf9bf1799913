import { describe, expect, it } from 'vitest';
import { prepareTriggerMessage, templateHeaders } from '../../../src/domain/triggers/message.js';
import { compilePayloadSchema, PayloadSchemaError, validatePayload } from '../../../src/domain/triggers/payloadSchema.js';
import { createPayloadValidator, PayloadValidationTimeout } from '../../../src/domain/triggers/payloadValidator.js';

const issueSchema = {
  type: 'object',
  required: ['action', 'issue'],
  properties: {
    action: { enum: ['opened', 'closed'] },
    issue: { type: 'object', required: ['title'], properties: { title: { type: 'string', minLength: 1 }, number: { type: 'integer' } } },
    assignees: { type: 'array', items: { type: 'string', format: 'email' } },
  },
};

describe('validatePayload', () => {
  it('accepts a matching payload', () => {
    expect(validatePayload(issueSchema, { action: 'opened', issue: { title: 'Crash', number: 1 } })).toEqual([]);
  });

  it('reports every mismatch with a payload path and Ajv\'s message', () => {
    const errors = validatePayload(issueSchema, { action: 'reopened', issue: { number: 1.5 }, assignees: ['a@example.com', 'nope'] });
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: 'payload.action', message: 'must be equal to one of the allowed values' },
        { path: 'payload.issue.title', message: 'must have required property \'title\'' },
        { path: 'payload.issue.number', message: 'must be integer' },
        { path: 'payload.assignees[1]', message: 'must match format "email"' },
      ]),
    );
    expect(validatePayload(issueSchema, [1, 2])).toEqual([{ path: 'payload', message: 'must be object' }]);
    expect(validatePayload({ type: 'object', properties: { 'a key': { type: 'string' } } }, { 'a key': 1 })).toEqual([
      { path: 'payload["a key"]', message: 'must be string' },
    ]);
  });

  it('runs caller patterns in linear time, and refuses what needs backtracking when saved', () => {
    // On a backtracking engine this is 2^100000 steps: the test would never finish.
    const evil = { type: 'object', properties: { x: { type: 'string', pattern: '^(a+)+$' } }, patternProperties: { '^(b|b)+$': { type: 'string' } } };
    expect(validatePayload(evil, { x: `${'a'.repeat(100_000)}!`, [`${'b'.repeat(100_000)}!`]: 1 })).toEqual([{ path: 'payload.x', message: 'must match pattern "^(a+)+$"' }]);
    expect(validatePayload(evil, { x: 'aaa', bb: 'fine' })).toEqual([]);
    expect(() => compilePayloadSchema({ type: 'string', pattern: '^(?=a)a' })).toThrow(/RE2 syntax/);
    expect(() => compilePayloadSchema({ type: 'string', pattern: '(a)\\1' })).toThrow(PayloadSchemaError);
  });

  it('keeps uniqueItems\' meaning (deep equality, key order ignored, 1 ≠ "1") in one pass', () => {
    const schema = { type: 'array', uniqueItems: true };
    expect(validatePayload(schema, [1, '1', true, null, [1, 2], { a: 1, b: [2] }])).toEqual([]);
    expect(validatePayload(schema, [{ a: 1, b: [2] }, 3, { b: [2], a: 1 }])).toEqual([
      { path: 'payload', message: 'must NOT have duplicate items (items ## 0 and 2 are identical)' },
    ]);
    expect(validatePayload({ ...schema, uniqueItems: false }, [1, 1])).toEqual([]);
    expect(validatePayload({ properties: { a: { type: 'array', uniqueItems: true } } }, { a: [[1, 2], [1, 2]] })).toHaveLength(1);
  });

  it('reports at most 20 errors', () => {
    const schema = { type: 'array', items: { type: 'string' } };
    expect(validatePayload(schema, Array.from({ length: 50 }, (_, i) => i))).toHaveLength(20);
  });
});

describe('compilePayloadSchema', () => {
  it('rejects invalid schemas, remote $refs, and oversized or deeply nested ones', () => {
    expect(() => compilePayloadSchema({ type: 'thing' })).toThrow(PayloadSchemaError);
    expect(() => compilePayloadSchema({ $ref: 'https://attacker.example/schema.json' })).toThrow(/can't resolve reference/);
    expect(() => compilePayloadSchema({ description: 'x'.repeat(70_000) })).toThrow(/at most 65536 bytes/);
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 40; i++) deep = { type: 'object', properties: { a: deep } };
    expect(() => compilePayloadSchema(deep)).toThrow(/levels deep/);
    const wide = { type: 'object', properties: Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`p${i}`, { type: 'string' }])) };
    expect(() => compilePayloadSchema(wide)).toThrow(/at most 2000 keywords/);
    expect(() => compilePayloadSchema({ enum: Array.from({ length: 3000 }, (_, i) => i) })).not.toThrow();
  });

  it('keeps each schema\'s $id to itself: two triggers may use the same $id with different rules', () => {
    const a = { $id: 'https://example.com/event', type: 'object', required: ['a'] };
    const b = { $id: 'https://example.com/event', type: 'object', required: ['b'] };
    expect(validatePayload(a, { a: 1 })).toEqual([]);
    expect(validatePayload(b, { a: 1 })).toEqual([{ path: 'payload.b', message: 'must have required property \'b\'' }]);
  });
});

describe('prepareTriggerMessage', () => {
  const trigger = { id: 't-1', name: 'GitHub issues', message_template: '[{{headers.x-github-event}}] {{payload.issue.title}}', input_schema: issueSchema };

  it('renders the message when the payload matches', async () => {
    const prepared = await prepareTriggerMessage(trigger, { action: 'opened', issue: { title: 'Crash' } }, { 'X-GitHub-Event': 'issues' });
    expect(prepared).toEqual({ message: '[issues] Crash', validationErrors: [] });
  });

  it('returns the schema errors when it does not', async () => {
    expect((await prepareTriggerMessage(trigger, { action: 'opened' }, {})).validationErrors).toEqual([
      { path: 'payload.issue', message: 'must have required property \'issue\'' },
    ]);
  });

  it('treats an empty message as an error', async () => {
    const blank = { ...trigger, message_template: '  {{payload.nothing}} ', input_schema: null };
    expect((await prepareTriggerMessage(blank, {}, {})).validationErrors).toEqual([{ path: 'message_template', message: 'rendered an empty message for this payload' }]);
  });

  it('hides credential headers from templates', () => {
    expect(templateHeaders({ Authorization: 'Bearer awk_x', Cookie: 'sid=1', 'X-Api-Key': 'k', 'X-Multi': ['a', 'b'], Host: 'h' })).toEqual({
      'x-multi': 'a, b',
      host: 'h',
    });
  });
});

describe('validation off the event loop', () => {
  it('refuses a payload whose schema costs exponential time at the deadline, while the event loop keeps turning', async () => {
    const defs: Record<string, unknown> = { a0: { type: 'number' } };
    for (let i = 1; i <= 30; i++) defs[`a${i}`] = { allOf: [{ $ref: `#/$defs/a${i - 1}` }, { $ref: `#/$defs/a${i - 1}` }] };
    const costly = { $defs: defs, $ref: '#/$defs/a30' };
    const validator = createPayloadValidator(1_500);
    try {
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 10);
      const started = Date.now();
      const outcome = await validator.validate(costly, 1).then(() => 'answered', (err: unknown) => err);
      clearInterval(ticker);
      expect(outcome).toBeInstanceOf(PayloadValidationTimeout);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(ticks).toBeGreaterThan(20); // the loop ran while the thread was busy
      // The next job runs on a fresh thread.
      expect(await validator.validate({ type: 'string' }, 1)).toEqual([{ path: 'payload', message: 'must be string' }]);
      // A schema that recurses on the same value is a refusal, not a crash.
      const loop = { $defs: { t: { allOf: [{ $ref: '#/$defs/t' }] } }, $ref: '#/$defs/t' };
      expect((await validator.validate(loop, 1))[0]!.message).toMatch(/could not be validated/);
    } finally {
      await validator.close();
    }
  }, 60_000);
});
