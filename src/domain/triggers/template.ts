/**
 * The message template of a trigger: plain text with `{{ path | filter }}` expressions that
 * read the sender's payload. Deliberately tiny: no code runs, there are no loops or calls,
 * and a path only ever reads a JSON value's own properties, so a template cannot reach a
 * prototype, a function or anything outside the data it is given.
 *
 *   {{ payload.issue.title }}              dotted keys
 *   {{ payload.commits[0].message }}       array index ([-1] is the last item)
 *   {{ payload["key with spaces"] }}       quoted key
 *   {{ headers.x-github-event }}           request header (lower-case name)
 *   {{ payload.labels | json }}            filters: json, default("…"), upper, lower, trim,
 *                                          truncate(n), length, join(", ")
 *
 * A missing path (or null) renders as the empty string; `default("…")` replaces it.
 * Objects and arrays render as compact JSON.
 */

export const TEMPLATE_ROOTS = ['payload', 'headers', 'trigger'] as const;
export type TemplateRoot = (typeof TEMPLATE_ROOTS)[number];

/** What a template can read; each root is plain JSON data. */
export type TemplateScope = Partial<Record<TemplateRoot, unknown>>;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const FILTERS = ['json', 'default', 'upper', 'lower', 'trim', 'truncate', 'length', 'join'] as const;
type FilterName = (typeof FILTERS)[number];

export const TEMPLATE_LIMITS = { length: 10_000, expressions: 100, depth: 32 } as const;

type Segment = string | number;
interface Filter {
  name: FilterName;
  arg?: string | number;
}
type Part = { kind: 'text'; text: string } | { kind: 'expr'; root: TemplateRoot; path: Segment[]; filters: Filter[] };

export interface CompiledTemplate {
  readonly parts: readonly Part[];
}

export class TemplateError extends Error {
  constructor(
    message: string,
    /** 0-based character offset in the template. */
    readonly position: number,
  ) {
    super(`${message} (at character ${position + 1})`);
    this.name = 'TemplateError';
  }
}

const IDENT = /[A-Za-z0-9_$-]/;

/** Parses (and so validates) a template; throws TemplateError naming what is wrong and where. */
export function parseTemplate(source: string): CompiledTemplate {
  if (source.length > TEMPLATE_LIMITS.length) throw new TemplateError(`a template is at most ${TEMPLATE_LIMITS.length} characters`, TEMPLATE_LIMITS.length);
  const parts: Part[] = [];
  let expressions = 0;
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open === -1) {
      parts.push({ kind: 'text', text: source.slice(i) });
      break;
    }
    if (open > i) parts.push({ kind: 'text', text: source.slice(i, open) });
    if (++expressions > TEMPLATE_LIMITS.expressions) throw new TemplateError(`a template has at most ${TEMPLATE_LIMITS.expressions} expressions`, open);
    const parser = new ExpressionParser(source, open + 2);
    parts.push(parser.parse());
    i = parser.pos;
  }
  return { parts };
}

class ExpressionParser {
  constructor(
    private readonly src: string,
    public pos: number,
  ) {}

  parse(): Part {
    this.skipSpace();
    const rootAt = this.pos;
    const root = this.identifier('a path starting with payload, headers or trigger');
    if (!(TEMPLATE_ROOTS as readonly string[]).includes(root)) {
      throw new TemplateError(`unknown root "${root}": paths start with payload, headers or trigger`, rootAt);
    }
    const path: Segment[] = [];
    for (;;) {
      const at = this.pos;
      if (this.peek() === '.') {
        this.pos++;
        path.push(this.checkKey(this.identifier('a key after "."'), at));
      } else if (this.peek() === '[') {
        this.pos++;
        this.skipSpace();
        const c = this.peek();
        if (c === '"' || c === "'") path.push(this.checkKey(this.string(), at));
        else path.push(this.integer());
        this.skipSpace();
        this.expect(']');
      } else break;
      if (path.length > TEMPLATE_LIMITS.depth) throw new TemplateError(`a path has at most ${TEMPLATE_LIMITS.depth} segments`, at);
    }
    const filters: Filter[] = [];
    this.skipSpace();
    while (this.peek() === '|') {
      this.pos++;
      this.skipSpace();
      filters.push(this.filter());
      this.skipSpace();
    }
    if (!this.src.startsWith('}}', this.pos)) {
      throw new TemplateError(this.pos >= this.src.length ? 'unclosed "{{"' : `unexpected "${this.src[this.pos]}" in an expression`, this.pos);
    }
    this.pos += 2;
    return { kind: 'expr', root: root as TemplateRoot, path, filters };
  }

  private filter(): Filter {
    const at = this.pos;
    const name = this.identifier('a filter name');
    if (!(FILTERS as readonly string[]).includes(name)) throw new TemplateError(`unknown filter "${name}" (known: ${FILTERS.join(', ')})`, at);
    const filter: Filter = { name: name as FilterName };
    this.skipSpace();
    if (this.peek() === '(') {
      this.pos++;
      this.skipSpace();
      const c = this.peek();
      filter.arg = c === '"' || c === "'" ? this.string() : this.integer();
      this.skipSpace();
      this.expect(')');
    }
    if (filter.name === 'default' && typeof filter.arg !== 'string') throw new TemplateError('default needs a quoted text, e.g. default("none")', at);
    if (filter.name === 'truncate' && (typeof filter.arg !== 'number' || filter.arg < 1)) {
      throw new TemplateError('truncate needs a positive length, e.g. truncate(200)', at);
    }
    if (filter.name === 'join' && filter.arg !== undefined && typeof filter.arg !== 'string') throw new TemplateError('join takes a quoted separator', at);
    if (!['default', 'truncate', 'join'].includes(filter.name) && filter.arg !== undefined) {
      throw new TemplateError(`filter "${filter.name}" takes no argument`, at);
    }
    return filter;
  }

  /** Blocks the keys that lead from data to the object model, even as quoted keys. */
  private checkKey(key: string, at: number): string {
    if (FORBIDDEN_KEYS.has(key)) throw new TemplateError(`"${key}" is not allowed in a path`, at);
    return key;
  }

  private identifier(what: string): string {
    const start = this.pos;
    while (this.pos < this.src.length && IDENT.test(this.src[this.pos]!)) this.pos++;
    if (this.pos === start) throw new TemplateError(`expected ${what}`, start);
    return this.src.slice(start, this.pos);
  }

  private integer(): number {
    const match = /^-?\d{1,9}/.exec(this.src.slice(this.pos, this.pos + 10));
    if (!match) throw new TemplateError('expected an integer or a quoted key', this.pos);
    this.pos += match[0].length;
    return Number(match[0]);
  }

  /** A single- or double-quoted string; backslash escapes the next character. */
  private string(): string {
    const quote = this.src[this.pos]!;
    const start = this.pos;
    let out = '';
    this.pos++;
    while (this.pos < this.src.length && this.src[this.pos] !== quote) {
      if (this.src[this.pos] === '\\') this.pos++;
      if (this.pos < this.src.length) out += this.src[this.pos++];
    }
    if (this.pos >= this.src.length) throw new TemplateError('unclosed string', start);
    this.pos++;
    return out;
  }

  private expect(char: string) {
    if (this.peek() !== char) throw new TemplateError(`expected "${char}"`, this.pos);
    this.pos++;
  }

  private peek() {
    return this.src[this.pos];
  }

  private skipSpace() {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }
}

/** One step down a JSON value: own properties of objects, in-range indexes of arrays, nothing else. */
function step(value: unknown, segment: Segment): unknown {
  if (Array.isArray(value)) {
    const index = typeof segment === 'number' ? segment : /^(0|[1-9]\d{0,8})$/.test(segment) ? Number(segment) : undefined;
    if (index === undefined) return undefined;
    const at = index < 0 ? value.length + index : index;
    return at >= 0 && at < value.length ? value[at] : undefined;
  }
  if (value !== null && typeof value === 'object') {
    const key = String(segment);
    if (FORBIDDEN_KEYS.has(key) || !Object.hasOwn(value, key)) return undefined;
    return (value as Record<string, unknown>)[key];
  }
  return undefined;
}

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value) ?? '';
}

function applyFilter(value: unknown, filter: Filter): unknown {
  switch (filter.name) {
    case 'json':
      return JSON.stringify(value ?? null);
    case 'default':
      return value === undefined || value === null || value === '' ? filter.arg : value;
    case 'upper':
      return text(value).toUpperCase();
    case 'lower':
      return text(value).toLowerCase();
    case 'trim':
      return text(value).trim();
    case 'truncate': {
      const max = filter.arg as number;
      const s = text(value);
      return s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`;
    }
    case 'length':
      if (Array.isArray(value) || typeof value === 'string') return value.length;
      return value !== null && typeof value === 'object' ? Object.keys(value).length : 0;
    case 'join':
      return Array.isArray(value) ? value.map(text).join((filter.arg as string | undefined) ?? ', ') : value;
  }
}

/**
 * Renders a template against the scope. Output stops growing at `maxLength` characters (the
 * rest is cut), so a template that repeats a large payload cannot build a huge message.
 */
export function renderTemplate(template: CompiledTemplate | string, scope: TemplateScope, maxLength = 50_000): string {
  const compiled = typeof template === 'string' ? parseTemplate(template) : template;
  let out = '';
  for (const part of compiled.parts) {
    if (part.kind === 'text') out += part.text;
    else {
      let value = Object.hasOwn(scope, part.root) ? scope[part.root] : undefined;
      for (const segment of part.path) value = step(value, segment);
      for (const filter of part.filters) value = applyFilter(value, filter);
      out += text(value);
    }
    if (out.length >= maxLength) return out.slice(0, maxLength);
  }
  return out;
}
