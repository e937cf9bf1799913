import { describe, expect, it } from 'vitest';
import { parseTemplate, renderTemplate, TemplateError } from '../../../src/domain/triggers/template.js';

const payload = {
  action: 'opened',
  issue: { title: 'Crash on start', number: 42, labels: [{ name: 'bug' }, { name: 'p1' }], body: null, draft: false },
  commits: [{ message: 'first' }, { message: 'second' }, { message: 'last' }],
  'key with spaces': 'spaced',
  'dash-key': 'dashed',
  tags: ['a', 'b', 'c'],
  nested: { deep: { deeper: { value: 'found' } } },
};
const render = (template: string, scope: Record<string, unknown> = { payload }) => renderTemplate(template, scope);

describe('renderTemplate paths', () => {
  it('reads dotted keys, indexes, negative indexes and quoted keys', () => {
    expect(render('New issue: {{payload.issue.title}} (#{{ payload.issue.number }})')).toBe('New issue: Crash on start (#42)');
    expect(render('{{payload.commits[0].message}} … {{payload.commits[-1].message}} / {{payload.commits.1.message}}')).toBe('first … last / second');
    expect(render(`{{payload["key with spaces"]}} {{payload['dash-key']}} {{payload.dash-key}}`)).toBe('spaced dashed dashed');
    expect(render('{{payload.nested.deep.deeper.value}}')).toBe('found');
  });

  it('renders scalars as text and objects / arrays as compact JSON', () => {
    expect(render('{{payload.issue.draft}} {{payload.issue.number}}')).toBe('false 42');
    expect(render('{{payload.tags}}')).toBe('["a","b","c"]');
    expect(render('{{payload.issue.labels[0]}}')).toBe('{"name":"bug"}');
  });

  it('renders a missing path or null as the empty string (documented), and default() replaces it', () => {
    expect(render('[{{payload.issue.missing}}]')).toBe('[]');
    expect(render('[{{payload.issue.body}}]')).toBe('[]');
    expect(render('[{{payload.commits[99].message}}]')).toBe('[]');
    expect(render('[{{payload.issue.title.deeper}}]')).toBe('[]');
    expect(render('[{{payload.tags.notanindex}}]')).toBe('[]');
    expect(render('{{ payload.issue.body | default("(no description)") }}')).toBe('(no description)');
    expect(render('{{ payload.issue.title | default("x") }}')).toBe('Crash on start');
  });

  it('applies filters left to right', () => {
    expect(render('{{payload.issue.title | json}}')).toBe('"Crash on start"');
    expect(render('{{payload.missing | json}}')).toBe('null');
    expect(render('{{payload.issue.title | upper}} {{payload.action|lower}}')).toBe('CRASH ON START opened');
    expect(render('{{payload.issue.title | truncate(6)}}')).toBe('Crash…');
    expect(render('{{payload.commits | length}} {{payload.issue.title | length}}')).toBe('3 14');
    expect(render('{{payload.tags | join}} / {{payload.tags | join(" + ")}}')).toBe('a, b, c / a + b + c');
    expect(render('{{ payload.issue.body | default("  padded  ") | trim | upper }}')).toBe('PADDED');
  });

  it('reads headers and the trigger, not anything else', () => {
    const scope = { payload, headers: { 'x-github-event': 'issues' }, trigger: { name: 'GitHub issues' } };
    expect(render('{{headers.x-github-event}} via {{trigger.name}}', scope)).toBe('issues via GitHub issues');
    expect(() => render('{{process.env}}')).toThrow(/unknown root "process"/);
  });

  it('keeps plain text, including lone braces, as is', () => {
    expect(render('no expressions } here {')).toBe('no expressions } here {');
    expect(render('')).toBe('');
  });

  it('caps the output length', () => {
    expect(renderTemplate('{{payload.tags | json}}{{payload.tags | json}}', { payload }, 20)).toHaveLength(20);
  });
});

describe('template safety', () => {
  it.each(['__proto__', 'constructor', 'prototype'])('rejects %s as a path segment, dotted or quoted', (key) => {
    expect(() => parseTemplate(`{{payload.${key}}}`)).toThrow(TemplateError);
    expect(() => parseTemplate(`{{payload["${key}"]}}`)).toThrow(/not allowed/);
    expect(() => parseTemplate(`{{payload.issue.${key}.polluted}}`)).toThrow(/not allowed/);
  });

  it('reads own properties only: nothing inherited from Object.prototype or Array.prototype', () => {
    expect(render('[{{payload.toString}}][{{payload.hasOwnProperty}}][{{payload.tags.length}}][{{payload.tags.map}}]')).toBe('[][][][]');
    // JSON.parse makes "__proto__" an own key; a crafted payload still cannot steer a path there.
    const crafted = JSON.parse('{"__proto__": {"polluted": "yes"}, "a": {"b": 1}}');
    expect(render('[{{payload.polluted}}][{{payload.a.b}}]', { payload: crafted })).toBe('[][1]');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('has no code execution: expressions are paths and known filters only', () => {
    for (const bad of ['{{payload.a + 1}}', '{{payload.a()}}', '{{ payload | eval }}', '{{ `x` }}', '{{payload.a | default(payload.b)}}', '{{payload[a]}}']) {
      expect(() => parseTemplate(bad), bad).toThrow(TemplateError);
    }
  });

  it('names what is wrong and where', () => {
    expect(() => parseTemplate('Hi {{payload.name')).toThrow('unclosed "{{" (at character 18)');
    expect(() => parseTemplate('{{payload.a | shout}}')).toThrow(/unknown filter "shout"/);
    expect(() => parseTemplate('{{payload.a | truncate}}')).toThrow(/truncate needs a positive length/);
    expect(() => parseTemplate('{{payload.a | upper(3)}}')).toThrow(/takes no argument/);
    expect(() => parseTemplate('{{}}')).toThrow(/expected a path/);
    expect(() => parseTemplate('{{payload["open]}}')).toThrow(/unclosed string/);
  });

  it('bounds template size, expression count and path depth', () => {
    expect(() => parseTemplate('x'.repeat(10_001))).toThrow(/at most 10000 characters/);
    expect(() => parseTemplate('{{payload.a}}'.repeat(101))).toThrow(/at most 100 expressions/);
    expect(() => parseTemplate(`{{payload${'.a'.repeat(33)}}}`)).toThrow(/at most 32 segments/);
    expect(() => parseTemplate(`{{payload${'.a'.repeat(32)}}}`)).not.toThrow();
  });

  it('allows quotes and closing braces inside filter strings', () => {
    expect(render('{{payload.missing | default("a }} b \\" c")}}')).toBe('a }} b " c');
  });
});
