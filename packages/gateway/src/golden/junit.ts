/** One test case of a JUnit report. `failures` empty means it passed. */
export interface JunitCase {
  readonly name: string;
  readonly classname: string;
  readonly file: string;
  readonly line: number;
  readonly failures: readonly string[];
  readonly timeMs: number;
}

// XML 1.0 §2.2: these code points cannot appear in a document at all, escaped or not
// eslint-disable-next-line no-control-regex -- the control range is what is removed
const NOT_XML_CHAR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

export function escapeXml(text: string): string {
  return text
    .replace(NOT_XML_CHAR, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

/**
 * A JUnit XML report in the dialect CI systems read (Jenkins, GitLab, GitHub
 * test reporters): one `<testsuite>` per case file, one `<testcase>` per case,
 * a `<failure>` carrying the readable differences.
 */
export function junitXml(suiteName: string, cases: readonly JunitCase[]): string {
  const byFile = new Map<string, JunitCase[]>();
  for (const c of cases) byFile.set(c.file, [...(byFile.get(c.file) ?? []), c]);
  const failures = cases.filter((c) => c.failures.length > 0).length;
  const total = cases.reduce((t, c) => t + c.timeMs, 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${escapeXml(suiteName)}" tests="${cases.length}" failures="${failures}" errors="0" time="${seconds(total)}">`,
  ];
  for (const [file, group] of byFile) {
    const groupFailures = group.filter((c) => c.failures.length > 0).length;
    const time = group.reduce((t, c) => t + c.timeMs, 0);
    lines.push(`  <testsuite name="${escapeXml(file)}" tests="${group.length}" failures="${groupFailures}" errors="0" skipped="0" time="${seconds(time)}">`);
    for (const c of group) {
      const attrs = `name="${escapeXml(c.name)}" classname="${escapeXml(c.classname)}" file="${escapeXml(c.file)}" line="${c.line}" time="${seconds(c.timeMs)}"`;
      if (c.failures.length === 0) {
        lines.push(`    <testcase ${attrs}/>`);
        continue;
      }
      lines.push(`    <testcase ${attrs}>`);
      lines.push(`      <failure message="${escapeXml(c.failures[0] ?? '')}" type="golden-mismatch">${escapeXml(c.failures.join('\n'))}</failure>`);
      lines.push('    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}
