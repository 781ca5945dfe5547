import { CountersignError, GoldenCase } from '@countersign/core';
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';

/** A case and where it was written, so a failure points back at the file. */
export interface LocatedCase {
  readonly file: string;
  readonly line: number;
  readonly case: GoldenCase;
}

const MAX_ALIASES = 100;

function fail(file: string, problems: string[]): never {
  const count = problems.length === 1 ? '1 issue' : `${problems.length} issues`;
  throw new CountersignError('GOLDEN_CASE_INVALID', `case file \`${file}\` is invalid: ${count}\n${problems.map((p) => `  ${p}`).join('\n')}`, { file, problems });
}

function offsetOf(doc: Document.Parsed, path: readonly PropertyKey[]): number {
  // walk up until a node exists: a missing key is reported where its parent is
  for (let n = path.length; n >= 0; n--) {
    const node: unknown = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as (string | number)[], true);
    if (node !== null && typeof node === 'object' && 'range' in node && Array.isArray(node.range)) return node.range[0] as number;
  }
  return 0;
}

function message(text: string): string {
  const trimmed = text.replace(/\.$/, '');
  return trimmed.charAt(0).toLowerCase() + trimmed.slice(1);
}

/**
 * Parse one YAML case file: a list of cases, or a single case mapping.
 * Throws GOLDEN_CASE_INVALID with `file:line:col` for each problem.
 */
export function parseCaseFile(text: string, file: string): LocatedCase[] {
  const lineCounter = new LineCounter();
  const where = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true, merge: false });
  } catch {
    fail(file, [`${file}:1:1: cannot be parsed as YAML`]);
  }
  const yamlProblems = [...doc.errors, ...doc.warnings];
  if (yamlProblems.length > 0) fail(file, yamlProblems.map((e) => `${where(e.pos[0])}: ${message(e.message.split('\n')[0] ?? 'malformed YAML')}`));
  if (!isSeq(doc.contents) && !isMap(doc.contents)) fail(file, [`${file}:1:1: expected a list of cases or one case mapping`]);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch {
    fail(file, [`${file}:1:1: aliases expand too far; write the cases out without them`]);
  }
  const single = !Array.isArray(raw);
  const result = z.array(GoldenCase).min(1, 'a case file holds at least one case').safeParse(single ? [raw] : raw);
  if (!result.success) {
    fail(
      file,
      result.error.issues.map((issue) => {
        const path = single ? issue.path.slice(1) : issue.path;
        const pointer = path.map(String).join('.');
        return `${where(offsetOf(doc, path))}: ${pointer === '' ? '' : `\`${pointer}\` `}${message(issue.message)}`;
      }),
    );
  }
  return result.data.map((c, i) => ({ file, line: lineCounter.linePos(offsetOf(doc, single ? [] : [i])).line, case: c }));
}
