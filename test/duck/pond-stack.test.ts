/** The stack a failed Ripple leaves on the Catchment: the Pond's frames, relative to the Pond. */
import { describe, expect, it } from 'vitest';
import { pondRelativeStack } from '../../src/duck/pond-stack.js';

const POND = '/srv/root/ponds/top/1.0.0';

describe('pondRelativeStack', () => {
  it('keeps the message and the Pond’s frames, relative, and drops every other frame', () => {
    const stack = [
      'Error: no rows for',
      'this day',
      `    at Object.run (${POND}/ripples/top5.ts:8:31)`,
      `    at helper (file://${POND}/lib/util.ts:3:9)`,
      '    at run (file:///tmp/duckstring-bundles/4f3a.mjs:120:7)',
      '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
      '    at /srv/root/ponds/other/1.0.0/ripples/x.ts:1:1',
      '    at async Promise.all (index 0)',
    ].join('\n');
    expect(pondRelativeStack(stack, POND)).toBe(
      [
        'Error: no rows for',
        'this day',
        '    at Object.run (ripples/top5.ts:8:31)',
        '    at helper (lib/util.ts:3:9)',
      ].join('\n'),
    );
  });

  it('names the Pond’s files relative in the message too, and leaves a stack with no Pond frame its message', () => {
    const stack = `Error: cannot read ${POND}/data/x.csv\n    at read (node:fs:1:1)`;
    expect(pondRelativeStack(stack, `${POND}/`)).toBe('Error: cannot read data/x.csv');
  });
});
