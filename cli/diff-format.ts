// The three forms of `tfm diff`'s report: for a terminal (human), for tools (json) and for a
// pull request (github: workflow commands that annotate the spec lines of the change).
import type { KernelChange, ModelDiff, SpecChange, SpecDiff, StepGroup } from './diff.ts';

const MAX_LIST = 12;

const num = (n: number) => n.toLocaleString('en-US');
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const flops = (f: number) => (f >= 1e9 ? `${(f / 1e9).toFixed(2)} GFLOP` : `${(f / 1e6).toFixed(2)} MFLOP`);
const shape = (s: (number | string)[]) => `[${s.join(', ')}]`;

function delta(a: number, b: number, fmt: (x: number) => string): string {
  if (a === b) return `${fmt(b)} (unchanged)`;
  const rel = a ? ((b - a) / a) * 100 : NaN;
  const pct = !a ? '' : Math.abs(rel) >= 0.1 ? ` (${b > a ? '+' : ''}${rel.toFixed(1)}%)` : ` (${b > a ? '+' : ''}${rel.toPrecision(2)}%)`;
  return `${fmt(a)} → ${fmt(b)}${pct}`;
}

/** A spec change as one line: `file:line \`text\` (was \`text\`)`. */
export function changeLabel(c: SpecChange): string {
  const first = (lines: string[]) => `\`${lines[0].trim()}\`${lines.length > 1 ? ` and ${lines.length - 1} more line${lines.length > 2 ? 's' : ''}` : ''}`;
  if (!c.lines.length) return `${c.file}:${c.line} deleted ${first(c.was.lines)}`;
  return `${c.file}:${c.line} ${first(c.lines)}${c.was.lines.length ? ` (was ${first(c.was.lines)})` : ''}`;
}

function causeText(ids: number[], d: SpecDiff): string {
  return ids.map((id) => changeLabel(d.specChanges[id])).join('; ');
}

interface Paint {
  add: (s: string) => string;
  del: (s: string) => string;
  hunk: (s: string) => string;
  bold: (s: string) => string;
}

const plain: Paint = { add: (s) => s, del: (s) => s, hunk: (s) => s, bold: (s) => s };
const ansi: Paint = { add: (s) => `\x1b[32m${s}\x1b[0m`, del: (s) => `\x1b[31m${s}\x1b[0m`, hunk: (s) => `\x1b[36m${s}\x1b[0m`, bold: (s) => `\x1b[1m${s}\x1b[0m` };

function kernelTitle(k: KernelChange): string {
  const names = k.change === 'changed' ? `${k.a} → ${k.b}` : (k.b ?? k.a)!;
  return `${k.change} kernel ${names}: ${k.doc}`;
}

function usedAt(k: KernelChange): string {
  const shown = k.at.slice(0, 3).map((at, i) => (k.lines[i] ? `${at} \`${k.lines[i]}\`` : at)).join(', ');
  return `${k.steps} step${k.steps === 1 ? '' : 's'}${k.at.length ? ` at ${shown}${k.at.length > 3 ? ` and ${k.at.length - 3} more` : ''}` : ''}`;
}

function stepLines(title: string, groups: StepGroup[], sign: string): string[] {
  const out = groups.slice(0, MAX_LIST).map((g) => `    ${sign}${g.steps} at ${g.at || '(no spec line)'}${g.line ? ` \`${g.line}\`` : ''}: ${g.kernels.join(', ')}`);
  if (groups.length > MAX_LIST) out.push(`    … and ${groups.length - MAX_LIST} more spec lines`);
  return [`  ${title}`, ...out];
}

function modelHuman(m: ModelDiff, d: SpecDiff, p: Paint): string[] {
  const out: string[] = [];
  const title = `model ${m.model}${m.was ? ` (was ${m.was})` : ''}`;
  if (m.status === 'added' || m.status === 'removed') {
    out.push(p.bold(`${title}: ${m.status}, ${m.kernelCount[m.status === 'added' ? 1 : 0]} kernels, ${num(m.params.count[m.status === 'added' ? 1 : 0])} parameters`));
    return out;
  }
  const k = m.kernels.changes;
  const count = (c: string) => k.filter((x) => x.change === c).length;
  out.push(p.bold(`${title}: ${count('changed')} kernel${count('changed') === 1 ? '' : 's'} changed, ${count('added')} added, ${count('removed')} removed, ${m.kernels.unchanged} unchanged`));
  for (const c of k) {
    out.push('', p.bold(kernelTitle(c)), `  called by ${usedAt(c)}`, `  caused by ${causeText(c.causes, d)}`);
    const label = c.causes.map((id) => { const sc = d.specChanges[id]; return `${sc.file}:${sc.line}${sc.lines.length ? ` \`${sc.lines[0].trim()}\`` : ''}`; }).join(', ');
    for (const h of c.hunks) {
      out.push(p.hunk(`${h.header} ${label}`));
      for (const l of h.lines) out.push(l.startsWith('+') ? p.add(l) : l.startsWith('-') ? p.del(l) : l);
    }
  }
  out.push('', p.bold('program'));
  out.push(`  parameters    ${delta(m.params.count[0], m.params.count[1], num)}`);
  // Parameter changes grouped by the spec changes that cause them.
  const byCause = new Map<string, typeof m.params.changes>();
  for (const c of m.params.changes) byCause.set(c.causes.join(','), [...(byCause.get(c.causes.join(',')) ?? []), c]);
  for (const [, pc] of byCause) {
    out.push(`    caused by ${causeText(pc[0].causes, d)}`);
    for (const c of pc.slice(0, MAX_LIST)) {
      const what = c.change === 'added' ? p.add(`+ ${c.name} ${shape(c.b!.shape)}`) : c.change === 'removed' ? p.del(`- ${c.name} ${shape(c.a!.shape)}`) : `~ ${c.name} ${c.change === 'shape' ? `${shape(c.a!.shape)} → ${shape(c.b!.shape)}` : c.change === 'init' ? `init ${c.a!.init} → ${c.b!.init}` : `weight decay ${c.a!.decay ? 'on' : 'off'} → ${c.b!.decay ? 'on' : 'off'}`}`;
      out.push(`      ${what}`);
    }
    if (pc.length > MAX_LIST) out.push(`      … and ${pc.length - MAX_LIST} more parameters`);
  }
  out.push(`  FLOPs/token   ${delta(m.flopsPerToken[0], m.flopsPerToken[1], flops)}`);
  out.push(`  peak memory   ${delta(m.peakBytes[0], m.peakBytes[1], mib)}`);
  if (m.textureBytes) out.push(`  textures      ${delta(m.textureBytes[0], m.textureBytes[1], mib)}`);
  out.push(`  kernels       ${delta(m.kernelCount[0], m.kernelCount[1], num)}`);
  out.push(`  steps         ${delta(m.steps.count[0], m.steps.count[1], num)}`);
  if (m.steps.added.length || m.steps.removed.length) {
    out.push(`    caused by ${causeText(m.steps.causes, d)}`);
    if (m.steps.added.length) out.push(...stepLines('  new steps', m.steps.added, '+').map((l) => `  ${l}`));
    if (m.steps.removed.length) out.push(...stepLines('  steps gone', m.steps.removed, '-').map((l) => `  ${l}`));
  }
  const other = m.programSections.filter((s) => !['params', 'steps'].includes(s) || (s === 'steps' && !m.steps.added.length && !m.steps.removed.length && !k.length));
  if (other.length) out.push(`  program.json also differs in: ${other.join(', ')}`);
  return out;
}

/** The report for a terminal; empty when the generated code is identical. */
export function formatHuman(d: SpecDiff, color = false): string {
  if (d.identical) return '';
  const p = color ? ansi : plain;
  const out = [`tfm diff ${d.a} → ${d.b} (target ${d.target})`, 'spec changes:', ...d.specChanges.map((c) => `  ${changeLabel(c)}`)];
  for (const m of d.models) if (m.status !== 'identical') out.push('', ...modelHuman(m, d, p));
  return out.join('\n') + '\n';
}

export function formatJson(d: SpecDiff): string {
  return JSON.stringify(d, null, 1) + '\n';
}

/** GitHub Actions workflow commands: one notice per spec change at its line, saying what it
 *  does to the generated code. */
export function formatGithub(d: SpecDiff): string {
  if (d.identical) return '';
  const prop = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/:/g, '%3A').replace(/,/g, '%2C');
  const msg = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const out: string[] = [];
  for (const c of d.specChanges) {
    const lines: string[] = [];
    for (const m of d.models) {
      if (m.status === 'identical') continue;
      if (m.status === 'added' || m.status === 'removed') {
        lines.push(`model ${m.model} ${m.status}`);
        continue;
      }
      const ks = m.kernels.changes.filter((k) => k.causes.includes(c.id));
      for (const k of ks.slice(0, MAX_LIST)) lines.push(`${m.model}: ${k.change} kernel ${k.b ?? k.a} (${k.doc}; ${usedAt(k)})`);
      if (ks.length > MAX_LIST) lines.push(`${m.model}: … and ${ks.length - MAX_LIST} more kernels`);
      const ps = m.params.changes.filter((x) => x.causes.includes(c.id));
      if (ps.length) lines.push(`${m.model}: ${ps.length} parameter${ps.length === 1 ? '' : 's'} ${[...new Set(ps.map((x) => x.change))].join('/')} (${num(m.params.count[0])} → ${num(m.params.count[1])} parameters)`);
      if (m.steps.causes.includes(c.id)) lines.push(`${m.model}: steps ${num(m.steps.count[0])} → ${num(m.steps.count[1])}`);
    }
    if (!lines.length) continue;
    const endLine = c.line + Math.max(0, c.lines.length - 1);
    out.push(`::notice file=${prop(c.file)},line=${c.line},endLine=${endLine},title=${prop(`tfm diff (${d.target}): ${changeLabel(c)}`)}::${msg(lines.join('\n'))}`);
  }
  return out.join('\n') + (out.length ? '\n' : '');
}
