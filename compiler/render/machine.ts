// Machine-readable diagnostics: JSON, GitHub Actions workflow commands, SARIF 2.1.0.
import { CODES, placed, type Diagnostic, type Label } from '../../common/diagnostics.ts';
import { visible } from './human.ts';
import type { SourceMap, Span } from '../../common/source.ts';

interface Located {
  file: string;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
}

function locate(span: Span, sources: SourceMap): Located {
  const f = sources.get(span.file);
  if (!f) return { file: span.file, line: 1, col: 1, endLine: 1, endCol: 1 };
  const a = f.position(span.start);
  const b = f.position(span.end);
  return { file: span.file, line: a.line, col: a.col, endLine: b.line, endCol: b.col };
}

export function renderJson(diags: Diagnostic[], sources: SourceMap): string {
  const label = (l: Label) => ({ ...locate(l.span, sources), start: l.span.start, end: l.span.end, message: l.message ?? null });
  const list = diags.map((d) => ({ code: d.code, severity: d.severity, message: d.message, primary: placed(d.primary.span) ? label(d.primary) : null, secondary: d.secondary.map(label), note: d.note ?? null, help: d.help ?? null }));
  return JSON.stringify({ diagnostics: list, errors: diags.filter((d) => d.severity === 'error').length, warnings: diags.filter((d) => d.severity === 'warning').length }, null, 2);
}

/** GitHub escapes: `%`, CR and LF in messages; additionally `:` and `,` in properties. */
const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
/** Text from a spec inside a message or a path is made visible first (see human.ts). */
const plain = (s: string) => s.split('\n').map(visible).join('\n');
const escapeProperty = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

export function renderGithub(diags: Diagnostic[], sources: SourceMap): string {
  return diags
    .map((d) => {
      const at = locate(d.primary.span, sources);
      const where = placed(d.primary.span) ? [`file=${escapeProperty(visible(at.file))}`, `line=${at.line}`, `col=${at.col}`, `endLine=${at.endLine}`, `endColumn=${at.endCol}`] : [];
      const props = [...where, `title=${escapeProperty(d.code)}`].join(',');
      const text = `${d.message}${d.primary.message ? ` (${d.primary.message})` : ''}${d.note ? `\nnote: ${d.note}` : ''}${d.help ? `\nhelp: ${d.help}` : ''}`;
      return `::${d.severity} ${props}::${escapeData(plain(text))}`;
    })
    .join('\n');
}

export function renderSarif(diags: Diagnostic[], sources: SourceMap, toolVersion: string): string {
  const codes = Object.keys(CODES) as (keyof typeof CODES)[];
  const region = (span: Span) => {
    const at = locate(span, sources);
    return { startLine: at.line, startColumn: at.col, endLine: at.endLine, endColumn: at.endCol };
  };
  const location = (l: Label) => ({
    physicalLocation: { artifactLocation: { uri: l.span.file }, region: region(l.span) },
    ...(l.message ? { message: { text: l.message } } : {}),
  });
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'tfm',
            version: toolVersion,
            rules: codes.map((code) => ({ id: code, name: CODES[code].title.replace(/(^|\s)(\w)/g, (_, __, c: string) => c.toUpperCase()), shortDescription: { text: CODES[code].title }, defaultConfiguration: { level: CODES[code].severity } })),
          },
        },
        results: diags.map((d) => ({
          ruleId: d.code,
          ruleIndex: codes.indexOf(d.code),
          level: d.severity,
          message: { text: [d.message, d.note ? `note: ${d.note}` : '', d.help ? `help: ${d.help}` : ''].filter(Boolean).join('\n') },
          locations: placed(d.primary.span) ? [location(d.primary)] : [],
          ...(d.secondary.length ? { relatedLocations: d.secondary.map((l, i) => ({ id: i, ...location(l) })) } : {}),
        })),
      },
    ],
  };
  return JSON.stringify(sarif, null, 2);
}
