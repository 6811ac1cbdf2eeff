/** The pure answer to "why does this line ignore demand, and what gets it out", over engine states. */
import { describe, expect, it } from 'vitest';
import { type AttentionInput, attentionFor, type LineFacts } from '../../src/catchment/attention.js';
import type { PondStatus } from '../../src/engine/engine.js';

const F = Date.UTC(2026, 0, 2, 3, 4, 5);
const AT = F + 7_000;

const line = (over: Partial<LineFacts> = {}): LineFacts => ({
  pond: 'sales',
  major: 1,
  newestMajor: true,
  status: 'idle',
  lastHalt: null,
  ...over,
});

const input = (over: Partial<AttentionInput> = {}): AttentionInput => ({
  ...line(),
  blockedBy: null,
  windowsClosed: null,
  showErrors: true,
  ...over,
});

describe('attentionFor', () => {
  it.each<PondStatus>(['idle', 'queued', 'running'])('is null for a %s line (it takes demand)', (status) => {
    expect(attentionFor(input({ status }))).toBeNull();
  });

  it('a failed line: since the failed run finished, the first line of its error, clear', () => {
    const lastHalt = { f: F, finishedAt: AT, ripple: 'top5', error: 'Binder Error: no column x\nLINE 1: …' };
    expect(attentionFor(input({ status: 'failed', lastHalt }))).toEqual({
      state: 'failed',
      since: new Date(AT).toISOString(),
      reason: 'the run at F 2026-01-02T03:04:05.000Z failed in Ripple top5: Binder Error: no column x',
      way_out: 'duckstring control clear sales',
    });
  });

  it('hides the error text from callers without OPERATE and still gives the way out', () => {
    const lastHalt = { f: F, finishedAt: AT, ripple: 'top5', error: 'secret row 42' };
    const a = attentionFor(input({ status: 'failed', lastHalt, showErrors: false }));
    expect(a?.reason).toBe(
      'the run at F 2026-01-02T03:04:05.000Z failed in Ripple top5 (its error is shown to holders of OPERATE on sales@1)',
    );
    expect(JSON.stringify(a)).not.toContain('secret');
    expect(a?.way_out).toBe('duckstring control clear sales');
  });

  it('a whole-run failure (no Ripple) and a failure the history does not know', () => {
    expect(
      attentionFor(
        input({
          status: 'failed',
          lastHalt: { f: F, finishedAt: AT, ripple: null, error: 'the Duck went silent' },
        }),
      )?.reason,
    ).toBe('the run at F 2026-01-02T03:04:05.000Z failed: the Duck went silent');
    expect(attentionFor(input({ status: 'failed' }))).toEqual({
      state: 'failed',
      since: null,
      reason: 'its last run failed',
      way_out: 'duckstring control clear sales',
    });
  });

  it('names the major in the command when it is not the newest', () => {
    expect(attentionFor(input({ status: 'killed', major: 1, newestMajor: false }))).toEqual({
      state: 'killed',
      since: null,
      reason: 'killed by an operator',
      way_out: 'duckstring control clear sales -m 1',
    });
  });

  it('a killed run: the kill is dated by the run it cancelled', () => {
    const lastHalt = { f: F, finishedAt: AT, ripple: null, error: 'killed by an operator' };
    expect(attentionFor(input({ status: 'killed', lastHalt }))).toMatchObject({
      since: new Date(AT).toISOString(),
      reason: 'killed by an operator during the run at F 2026-01-02T03:04:05.000Z',
    });
  });

  it('a queued Inlet outside its windows is sleeping until the next one opens', () => {
    const next = { window: 'nightly', at: Date.UTC(2099, 0, 1) };
    expect(attentionFor(input({ status: 'queued', windowsClosed: { next } }))).toEqual({
      state: 'sleeping',
      since: null,
      reason:
        'an Inlet outside its availability windows: the demand waits until window nightly opens at 2099-01-01T00:00:00.000Z',
      way_out: 'duckstring trigger window remove sales nightly',
    });
    expect(
      attentionFor(input({ status: 'queued', newestMajor: false, windowsClosed: { next: null } })),
    ).toEqual({
      state: 'sleeping',
      since: null,
      reason: 'an Inlet whose availability windows will not open again',
      way_out: 'duckstring trigger window list sales -m 1',
    });
    // Without demand there is nothing to hold.
    expect(attentionFor(input({ status: 'idle', windowsClosed: { next } }))).toBeNull();
  });

  it('a blocked line points at the Source that blocks it, never quoting that Source’s error', () => {
    const source = line({
      pond: 'orders',
      major: 0,
      newestMajor: false,
      status: 'failed',
      lastHalt: { f: F, finishedAt: AT, ripple: 'load', error: 'secret' },
    });
    const a = attentionFor(input({ status: 'blocked', blockedBy: source, showErrors: true }));
    expect(a).toEqual({
      state: 'blocked',
      since: new Date(AT).toISOString(),
      reason:
        'its Source orders@0 is failed: the run at F 2026-01-02T03:04:05.000Z failed in Ripple load (its error is shown to holders of OPERATE on orders@0)',
      way_out: 'duckstring control clear orders -m 0',
    });
  });
});
