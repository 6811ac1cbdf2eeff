/** Attempt numbers in the Duck's run ledger survive the Duck: a re-run is never "attempt 1" twice. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RunLedger } from '../../src/duck/ledger.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('RunLedger.attemptStarted', () => {
  it('numbers a launch after the last one at the same F, across a restart, and per F', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'duckstring-ledger-'));
    const file = path.join(dir, 'pond.db');
    let ledger = new RunLedger(file);
    expect(ledger.attemptStarted('b', 1000, 1)).toBe(1);
    expect(ledger.attemptStarted('b', 1000, 2)).toBe(2); // an immediate retry, as the engine numbers it
    ledger.close();

    // The Duck died mid-attempt; the new one's engine starts counting at 1 again.
    ledger = new RunLedger(file);
    expect(ledger.attemptStarted('b', 1000, 1)).toBe(3);
    expect(ledger.attemptStarted('a', 1000, 1)).toBe(1); // other Ripples count on their own
    expect(ledger.attemptStarted('b', 2000, 1)).toBe(1); // and a new F starts over

    // Once b completes F 2000, F 1000 can no longer run: its count is dropped, the current one kept.
    ledger.rippleCompleted('b', 2000);
    expect(ledger.attemptStarted('b', 2000, 1)).toBe(2); // a Force at the same F
    expect(ledger.attemptStarted('b', 1000, 1)).toBe(1);
    ledger.close();
  });
});
