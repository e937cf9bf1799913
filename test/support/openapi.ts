import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { expect } from 'vitest';

type Doc = { paths: Record<string, Record<string, any>>; components: Record<string, any> };

/**
 * Checks real responses against the served OpenAPI document, so the document is tested as
 * the contract it claims to be, not just as valid YAML-shaped JSON.
 */
export class ContractChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly cache = new Map<string, ReturnType<Ajv2020['compile']>>();

  constructor(private readonly doc: Doc) {
    (addFormats as unknown as (ajv: Ajv2020) => void)(this.ajv);
    this.ajv.addSchema({ $id: 'openapi', components: doc.components });
  }

  /** Finds the documented operation for a concrete path like /v1/agents/123. */
  private operation(method: string, path: string) {
    const bare = path.split('?')[0]!;
    for (const [template, ops] of Object.entries(this.doc.paths)) {
      const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      if (pattern.test(bare) && ops[method.toLowerCase()]) return { template, op: ops[method.toLowerCase()] };
    }
    return undefined;
  }

  expectDocumented(method: string, path: string, response: { status: number; headers: Headers; body: unknown }) {
    const found = this.operation(method, path);
    expect(found, `${method} ${path} is not in the OpenAPI document`).toBeDefined();
    const documented = found!.op.responses[String(response.status)];
    expect(documented, `${method} ${found!.template} does not document status ${response.status}`).toBeDefined();
    const contentType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
    const media = documented.content?.[contentType];
    if (!documented.content) {
      expect(response.body ?? '', `${method} ${found!.template} ${response.status} should have no body`).toBe('');
      return;
    }
    expect(media, `${method} ${found!.template} ${response.status} does not document ${contentType}`).toBeDefined();
    const key = `${method} ${found!.template} ${response.status} ${contentType}`;
    let validate = this.cache.get(key);
    if (!validate) {
      const schema = JSON.parse(JSON.stringify(media.schema).replaceAll('"#/components/', '"openapi#/components/'));
      validate = this.ajv.compile(schema);
      this.cache.set(key, validate);
    }
    const ok = validate(response.body);
    expect(ok, `${key}: ${this.ajv.errorsText(validate.errors)}\n${JSON.stringify(response.body).slice(0, 500)}`).toBe(true);
  }
}
