import { describe, expect, it } from 'vitest';
import { escapeXml, junitXml } from './junit.js';

describe('junitXml', () => {
  it('groups cases by file and carries differences as failures', () => {
    const xml = junitXml('payments golden', [
      { name: 'ok', classname: 'payments.golden', file: 'a.yaml', line: 1, failures: [], timeMs: 1.5 },
      { name: 'bad <one>', classname: 'payments.golden', file: 'a.yaml', line: 9, failures: ['step 1 x@prod: risk expected "high", got "low"', 'second'], timeMs: 0.5 },
      { name: 'other', classname: 'payments.golden', file: 'b.yaml', line: 1, failures: [], timeMs: 0 },
    ]);
    expect(xml).toBe(
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="payments golden" tests="3" failures="1" errors="0" time="0.002">',
        '  <testsuite name="a.yaml" tests="2" failures="1" errors="0" skipped="0" time="0.002">',
        '    <testcase name="ok" classname="payments.golden" file="a.yaml" line="1" time="0.002"/>',
        '    <testcase name="bad &lt;one&gt;" classname="payments.golden" file="a.yaml" line="9" time="0.001">',
        '      <failure message="step 1 x@prod: risk expected &quot;high&quot;, got &quot;low&quot;" type="golden-mismatch">step 1 x@prod: risk expected &quot;high&quot;, got &quot;low&quot;\nsecond</failure>',
        '    </testcase>',
        '  </testsuite>',
        '  <testsuite name="b.yaml" tests="1" failures="0" errors="0" skipped="0" time="0.000">',
        '    <testcase name="other" classname="payments.golden" file="b.yaml" line="1" time="0.000"/>',
        '  </testsuite>',
        '</testsuites>',
        '',
      ].join('\n'),
    );
  });

  it('replaces characters XML cannot carry and escapes markup', () => {
    expect(escapeXml('a\u0000b\u001bc & \'d\'')).toBe('a\ufffdb\ufffdc &amp; &apos;d&apos;');
    expect(escapeXml('tab\tand\nnewline')).toBe('tab\tand\nnewline');
  });
});
