/** The docs harness itself: a harness that passes everything would prove nothing about the docs. */
import { describe, expect, it } from 'vitest';
import { compareOutput, mask } from './compare.js';
import { parseDoc } from './markdown.js';
import { parseCommandLine } from './shell.js';

describe('compareOutput', () => {
  it('masks what differs between honest runs, and only that', () => {
    expect(mask('12:06:11  ✔ sales published in 2.1 s, 73,220 rows written')).toBe(
      '<clock> ✔ sales published in <duration>, 73,220 rows written',
    );
    expect(compareOutput(['(5 rows)'], ['(6 rows)'])).toContain('- (5 rows)');
    expect(
      compareOutput(['at 2026-11-23T12:56:20.193Z on :7474'], ['at 2027-01-01T00:00:00.000Z on :7474']),
    ).toBeNull();
  });

  it('lets … stand for lines or text, and reports the first line that cannot match', () => {
    expect(compareOutput(['a', '…', 'd'], ['a', 'b', 'c', 'd'])).toBeNull();
    expect(compareOutput(['a', '…'], ['a'])).toBeNull();
    expect(compareOutput(['pulse x@0: now …'], ['pulse x@0: now queued'])).toBeNull();
    const report = compareOutput(['a', '…', 'z'], ['a', 'b']);
    expect(report).toContain('- z');
    expect(report).toContain('+ (end of output)');
    expect(compareOutput(['a'], ['a', 'extra'])).toContain('printed, not documented');
  });
});

describe('parseDoc', () => {
  it('refuses a block that is neither run, data nor excused', () => {
    const doc = ['```', 'some text', '```', '', '```sh', 'ls', '```'].join('\n');
    expect(parseDoc(doc).problems).toEqual([expect.stringContaining('line 1: a block that is neither run')]);
  });

  it('runs sh blocks and transcripts, and reads markers', () => {
    const doc = [
      '<!-- not run: serves forever -->',
      '```sh',
      'npm start',
      '```',
      '<!-- file: p.yaml -->',
      '```yaml',
      'a: 1',
      '```',
      '```',
      '$ duckstring whoami',
      'admin (user, administrator); groups: admins',
      '```',
      '```sh',
      'duckstring status',
      '```',
      'prose',
      '```',
      'output of the sh block',
      '```',
      '<!-- not run: -->',
      '```sh',
      'x',
      '```',
    ].join('\n');
    const parsed = parseDoc(doc);
    expect(parsed.steps.map((s) => s.kind)).toEqual(['file', 'transcript', 'commands', 'output']);
    expect(parsed.skipped[0]).toMatchObject({ reason: 'serves forever' });
    expect(parsed.problems).toEqual([expect.stringContaining('"not run" needs a reason')]);
  });
});

describe('parseCommandLine', () => {
  it('expands variables and substitutions, and splits like a shell', async () => {
    const vars = new Map([['Q', 'SELECT 1 AS "n"']]);
    const line = await parseCommandLine(
      `K=$(cat key) duckstring query "$Q" --key '$K' && echo done # comment`,
      (n) => vars.get(n),
      async (cmd) => `<${cmd}>\n`,
    );
    expect(line.sequence).toEqual([
      { assignments: [['K', '<cat key>']], argv: ['duckstring', 'query', 'SELECT 1 AS "n"', '--key', '$K'] },
      { assignments: [], argv: ['echo', 'done'] },
    ]);
    const exported = await parseCommandLine(
      'export A=1 B=$X',
      () => '2',
      async () => '',
    );
    expect(exported.sequence[0]!.assignments).toEqual([
      ['A', '1'],
      ['B', '2'],
    ]);
    await expect(
      parseCommandLine(
        'ls | grep x',
        () => undefined,
        async () => '',
      ),
    ).rejects.toThrow(/tail -N/);
  });
});
