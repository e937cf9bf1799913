import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fmt, fmtRatio } from './stats.js';

/** One line of the results table: our figure next to the engine's own (or the bare stack's) limit. */
export interface Row {
  section: string;
  figure: string;
  ours: number;
  unit: string;
  baselineName: string;
  baseline: number;
  /** ours / baseline. */
  ratio: number;
  /** Which direction is better for this figure, so a reader knows how to read the ratio. */
  better: 'higher' | 'lower';
}

function cells(row: Row): string[] {
  return [row.figure, fmt(row.ours, row.unit), row.baselineName, fmt(row.baseline, row.unit), fmtRatio(row.ratio), row.better === 'higher' ? '↑' : '↓'];
}

const HEAD = ['figure', 'ours', 'baseline', 'baseline value', 'ours/baseline', 'better'];

export function renderText(rows: Row[]): string {
  const table = rows.map((r) => [r.section, ...cells(r)]);
  const head = ['section', ...HEAD];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  const line = (cols: string[]) => cols.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...table.map(line)].join('\n');
}

export function renderMarkdown(rows: Row[]): string {
  const out: string[] = [];
  let section = '';
  for (const row of rows) {
    if (row.section !== section) {
      section = row.section;
      out.push('', `**${section}**`, '', `| ${HEAD.join(' | ')} |`, `|${HEAD.map((_, i) => (i === 0 || i === 2 ? '---' : '---:')).join('|')}|`);
    }
    out.push(`| ${cells(row).join(' | ')} |`);
  }
  return out.join('\n').trim();
}

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

/** Replaces the generated part of BENCHMARKS.md (between the markers); the rest is hand-written. */
export function updateBenchmarksMd(path: string, generated: string): void {
  const block = `${START}\n${generated.trim()}\n${END}`;
  if (!existsSync(path)) {
    writeFileSync(path, `# Benchmarks\n\n${block}\n`);
    return;
  }
  const text = readFileSync(path, 'utf8');
  const from = text.indexOf(START);
  const to = text.indexOf(END);
  writeFileSync(path, from >= 0 && to > from ? `${text.slice(0, from)}${block}${text.slice(to + END.length)}` : `${text.trimEnd()}\n\n${block}\n`);
}
