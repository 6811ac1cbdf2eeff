/**
 * The supervision policy over an in-memory fleet and a manual clock: liveness, the start-up grace,
 * idling and exits, with time moved explicitly (no processes, no sleeps).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { DuckSupervisor, type SupervisorHooks } from '../../src/catchment/supervisor.js';
import { ManualClock } from '../support/manual-clock.js';
import { MemoryFleet } from '../support/memory-fleet.js';

const LINE = 'sales@1';

let clock: ManualClock;
let fleet: MemoryFleet;
let lost: Array<{ line: string; reason: string }>;
let logs: Array<{ msg: string; level?: string; data?: Record<string, unknown> }>;
let inFlight: boolean;
let keepWarm: boolean;

function supervisor(opts: { livenessMs?: number; startupGraceMs?: number; idleMs?: number } = {}) {
  const hooks: SupervisorHooks = {
    issueToken: () => 'token',
    spawned: () => {},
    inFlight: () => inFlight,
    keepWarm: () => keepWarm,
    duckLost: (line, reason) => lost.push({ line, reason }),
    log: (msg, data, level) => logs.push({ msg, ...(level ? { level } : {}), ...(data ? { data } : {}) }),
  };
  const s = new DuckSupervisor(
    {
      catchmentUrl: () => 'http://catchment.test',
      livenessMs: opts.livenessMs ?? 2000,
      ...(opts.startupGraceMs !== undefined ? { startupGraceMs: opts.startupGraceMs } : {}),
      idleMs: opts.idleMs ?? 60_000,
      fleet,
      clock,
    },
    hooks,
  );
  s.start();
  return s;
}

beforeEach(() => {
  clock = new ManualClock();
  fleet = new MemoryFleet();
  lost = [];
  logs = [];
  inFlight = true;
  keepWarm = false;
});

describe('start-up grace', () => {
  it('a Duck that starts slowly (silent far past the liveness window, within the grace) is not declared dead', () => {
    const s = supervisor({ livenessMs: 2000, startupGraceMs: 30_000 });
    s.ensure(LINE);
    clock.advance(29_000);
    expect(lost).toEqual([]);
    expect(fleet.of(LINE)[0]!.running).toBe(true);
    // It dials in at last; from then on, liveness counts from its contacts.
    s.contact(LINE, true);
    clock.advance(1900);
    expect(lost).toEqual([]);
    clock.advance(1000);
    expect(lost).toEqual([{ line: LINE, reason: 'Duck silent for 3 s during a run' }]);
    expect(fleet.of(LINE)[0]!.signals).toEqual(['kill']);
  });

  it('a Duck that never dials in is declared dead once the grace has passed, with a reason and a log saying so', () => {
    const s = supervisor({ livenessMs: 2000, startupGraceMs: 10_000 });
    s.ensure(LINE);
    clock.advance(10_000);
    expect(lost).toEqual([]);
    clock.advance(1000);
    expect(lost).toEqual([
      { line: LINE, reason: 'Duck did not dial in within its start-up grace of 10 s during a run' },
    ]);
    expect(logs.find((l) => l.msg === 'duck missed start-up grace')).toMatchObject({
      level: 'warn',
      data: { line: LINE, startupGraceMs: 10_000 },
    });
    expect(fleet.of(LINE)[0]!.running).toBe(false);
    // Declared dead once, not on every pass.
    clock.advance(60_000);
    expect(lost).toHaveLength(1);
  });

  it('defaults to a grace of at least a minute, and never less than the liveness window', () => {
    const s = supervisor({ livenessMs: 2000 });
    s.ensure(LINE);
    clock.advance(60_000);
    expect(lost).toEqual([]);
    clock.advance(1000);
    expect(lost).toHaveLength(1);

    lost = [];
    const long = supervisor({ livenessMs: 90_000 });
    long.ensure('other@1');
    clock.advance(89_000);
    expect(lost).toEqual([]);
    clock.advance(2000);
    expect(lost.map((l) => l.line)).toEqual(['other@1']);
  });

  it('an adopted Duck gets the grace to dial back in to a restarted Catchment', () => {
    const id = fleet.leftRunning(LINE);
    const s = supervisor({ livenessMs: 2000, startupGraceMs: 20_000 });
    expect(s.adopt(LINE, id)).toBe(true);
    clock.advance(15_000);
    expect(lost).toEqual([]);
    s.contact(LINE);
    clock.advance(2500);
    expect(lost.map((l) => l.reason)).toEqual(['Duck silent for 3 s during a run']);
  });
});

describe('liveness and exits', () => {
  it('silence does not count while no run is in flight', () => {
    inFlight = false;
    keepWarm = true;
    const s = supervisor({ livenessMs: 2000, startupGraceMs: 5000 });
    s.ensure(LINE);
    s.contact(LINE);
    clock.advance(120_000);
    expect(lost).toEqual([]);
    expect(fleet.of(LINE)[0]!.running).toBe(true);
  });

  it('a Duck that exits during a run fails it; a stopped one does not', () => {
    const s = supervisor();
    s.ensure(LINE);
    fleet.exit(fleet.of(LINE)[0]!, 'SIGKILL');
    expect(lost).toEqual([{ line: LINE, reason: 'Duck process exited (SIGKILL) during a run' }]);
    s.ensure(LINE);
    expect(fleet.of(LINE)).toHaveLength(2);
    s.terminate(LINE, true);
    expect(lost).toHaveLength(1);
  });

  it('an idle Duck without a standing trigger is stopped after the idle time', () => {
    inFlight = false;
    const s = supervisor({ idleMs: 10_000 });
    s.ensure(LINE);
    clock.advance(9000);
    expect(fleet.of(LINE)[0]!.running).toBe(true);
    s.contact(LINE); // a bare poll is not work
    clock.advance(2000);
    expect(fleet.of(LINE)[0]!.signals).toEqual(['stop']);
    expect(lost).toEqual([]);
  });
});
