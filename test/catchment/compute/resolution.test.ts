/**
 * The compute directory's resolution order (docs/compute.md, "Resolution order"), table by table,
 * against real policies (Policy.parse resolves nested group membership).
 */
import { describe, expect, it } from 'vitest';
import {
  NO_ASSIGNMENT,
  type ResolvableAssignment,
  RouteResolver,
} from '../../../src/catchment/compute/resolution.js';
import type { Subject } from '../../../src/catchment/compute/store.js';
import type { EndpointStatus, EndpointTarget, JobKind } from '../../../src/compute/topology.js';
import { Policy } from '../../../src/governance/policy.js';

// outer ⊃ mid ⊃ inner ⊃ alice; beta ⊃ alice; bob in no group; carol in mid only.
const policy = Policy.parse({
  principals: [
    { name: 'alice', kind: 'user' },
    { name: 'bob', kind: 'user' },
    { name: 'carol', kind: 'user' },
  ],
  groups: [
    { name: 'outer', members: ['mid'] },
    { name: 'mid', members: ['inner', 'carol'] },
    { name: 'inner', members: ['alice'] },
    { name: 'beta', members: ['alice'] },
  ],
});

function endpoint(name: string, status: EndpointStatus = 'active'): EndpointTarget {
  return {
    name,
    url: `grpc://127.0.0.1:${9000 + name.length}`,
    token: `t-${name}`,
    status,
    capacity: null,
    revision: 1,
  };
}

type Row = [subject: string, endpoint: string, isDefault?: boolean, kinds?: JobKind[], fallback?: boolean];

function subjectOf(text: string): Subject {
  if (text === '*') return { kind: 'everyone' };
  const [kind, name] = text.split(':') as ['principal' | 'group', string];
  return { kind, name };
}

function resolver(rows: Row[], endpoints: EndpointTarget[]): RouteResolver {
  const assignments: ResolvableAssignment[] = rows.map(([subject, e, isDefault, kinds, fallback], i) => ({
    id: i + 1,
    subject: subjectOf(subject),
    endpoint: e,
    isDefault: isDefault ?? false,
    fallbackLocal: fallback ?? true,
    jobKinds: kinds ?? ['interactive', 'async'],
  }));
  return new RouteResolver(endpoints, assignments, policy);
}

const ALL = ['w1', 'w2', 'w3', 'w4', 'w5'].map((n) => endpoint(n));

const cases: {
  name: string;
  rows: Row[];
  principal: string;
  kind?: JobKind;
  endpoints?: EndpointTarget[];
  expect: string[];
  reason?: RegExp;
}[] = [
  {
    name: 'nothing assigned: local',
    rows: [],
    principal: 'alice',
    expect: [],
    reason: /^no assignment applies$/,
  },
  {
    name: "a principal's own default beats a group default",
    rows: [
      ['group:inner', 'w1', true],
      ['principal:alice', 'w2', true],
    ],
    principal: 'alice',
    expect: ['w2'],
    reason: /own default assignment → w2/,
  },
  {
    name: "a principal's own non-default beats a group default (distance first)",
    rows: [
      ['group:inner', 'w1', true],
      ['principal:alice', 'w2', false],
    ],
    principal: 'alice',
    expect: ['w2'],
  },
  {
    name: 'a nearer group beats a farther one',
    rows: [
      ['group:outer', 'w1', true],
      ['group:mid', 'w2', true],
      ['group:inner', 'w3', false],
    ],
    principal: 'alice',
    expect: ['w3'],
    reason: /group inner \(a direct member\)/,
  },
  {
    name: 'nesting depth counts: mid is 2 away from alice, 1 from carol',
    rows: [
      ['group:mid', 'w2'],
      ['group:beta', 'w1'],
    ],
    principal: 'alice',
    expect: ['w1'],
  },
  {
    name: 'the same groups for carol: mid is direct',
    rows: [
      ['group:mid', 'w2'],
      ['group:outer', 'w1'],
    ],
    principal: 'carol',
    expect: ['w2'],
  },
  {
    name: 'at equal distance a default beats a non-default',
    rows: [
      ['group:beta', 'w1', false],
      ['group:inner', 'w2', true],
    ],
    principal: 'alice',
    expect: ['w2'],
  },
  {
    name: 'ties are one pool, in endpoint-name order',
    rows: [
      ['group:inner', 'w3', true],
      ['group:beta', 'w1', true],
      ['principal:bob', 'w2', true],
    ],
    principal: 'alice',
    expect: ['w1', 'w3'],
    reason: /groups beta, inner/,
  },
  {
    name: 'one candidate per endpoint even when two subjects of the tier name it',
    rows: [
      ['group:inner', 'w1'],
      ['group:beta', 'w1'],
    ],
    principal: 'alice',
    expect: ['w1'],
  },
  {
    name: 'a draining endpoint is skipped and the next tier wins',
    rows: [
      ['principal:alice', 'w1', true],
      ['group:inner', 'w2', true],
    ],
    endpoints: [endpoint('w1', 'draining'), endpoint('w2')],
    principal: 'alice',
    expect: ['w2'],
  },
  {
    name: 'an inactive endpoint leaves the rest of its tier',
    rows: [
      ['group:inner', 'w1'],
      ['group:inner', 'w2'],
    ],
    endpoints: [endpoint('w1', 'inactive'), endpoint('w2')],
    principal: 'alice',
    expect: ['w2'],
  },
  {
    name: 'everyone comes after every group',
    rows: [
      ['*', 'w1', true],
      ['group:outer', 'w2', false],
    ],
    principal: 'alice',
    expect: ['w2'],
  },
  {
    name: 'everyone applies to a principal in no group',
    rows: [
      ['*', 'w1', true],
      ['group:outer', 'w2', true],
    ],
    principal: 'bob',
    expect: ['w1'],
    reason: /the default assignment of everyone/,
  },
  {
    name: 'kinds filter: an async-only assignment does not route interactive queries',
    rows: [
      ['principal:alice', 'w1', true, ['async']],
      ['group:inner', 'w2', false, ['interactive']],
    ],
    principal: 'alice',
    kind: 'interactive',
    expect: ['w2'],
  },
  {
    name: 'kinds filter: and does route async ones',
    rows: [
      ['principal:alice', 'w1', true, ['async']],
      ['group:inner', 'w2', false, ['interactive']],
    ],
    principal: 'alice',
    kind: 'async',
    expect: ['w1'],
  },
  {
    name: 'names are case-insensitive',
    rows: [['principal:ALICE', 'W1', true]],
    principal: 'Alice',
    expect: ['w1'],
  },
  {
    name: "another principal's assignment does not apply",
    rows: [['principal:alice', 'w1', true]],
    principal: 'bob',
    expect: [],
    reason: new RegExp(NO_ASSIGNMENT),
  },
  {
    name: 'an unknown principal gets only everyone',
    rows: [
      ['group:outer', 'w1'],
      ['*', 'w2'],
    ],
    principal: 'nobody',
    expect: ['w2'],
  },
];

describe('resolution order', () => {
  for (const c of cases) {
    it(c.name, () => {
      const r = resolver(c.rows, c.endpoints ?? ALL);
      const decision = r.route(c.principal, c.kind ?? 'interactive');
      expect(decision.candidates.map((x) => x.endpoint.name)).toEqual(c.expect);
      if (c.reason) expect(decision.reason).toMatch(c.reason);
    });
  }

  it("carries each candidate's fallback flag, token and assignment", () => {
    const r = resolver(
      [
        ['group:inner', 'w1', true, undefined, false],
        ['group:beta', 'w2', true, undefined, true],
      ],
      ALL,
    );
    const { candidates } = r.route('alice', 'interactive');
    expect(candidates.map((c) => [c.endpoint.name, c.fallbackLocal, c.endpoint.token, c.assignment])).toEqual(
      [
        ['w1', false, 't-w1', 'assignment 1 (group inner, default)'],
        ['w2', true, 't-w2', 'assignment 2 (group beta, default)'],
      ],
    );
  });

  it('answers the same object again until rebuilt (no work on the hot path)', () => {
    const r = resolver([['group:outer', 'w1']], ALL);
    expect(r.route('alice', 'interactive')).toBe(r.route('ALICE', 'interactive'));
    expect(r.route('alice', 'interactive')).not.toBe(r.route('alice', 'async'));
  });

  it('explains every applicable assignment and what became of it', () => {
    const r = resolver(
      [
        ['group:inner', 'w1', true],
        ['group:outer', 'w2', true],
        ['principal:alice', 'w3', true, ['async']],
        ['*', 'w4'],
        ['principal:bob', 'w5'],
      ],
      [endpoint('w1'), endpoint('w2'), endpoint('w3'), endpoint('w4', 'draining'), endpoint('w5')],
    );
    const considered = r.consider('alice', 'interactive');
    expect(considered.map((c) => [c.assignment.endpoint, c.distance, c.outcome])).toEqual([
      ['w3', 0, 'job kind not covered'],
      ['w1', 1, 'chosen'],
      ['w2', 3, 'outranked'],
      ['w4', null, 'endpoint not active'],
    ]);
  });
});

describe('Policy.groupDistances', () => {
  it('gives the shortest nesting distance to every group', () => {
    expect(Object.fromEntries(policy.groupDistances('alice'))).toEqual({
      inner: 1,
      beta: 1,
      mid: 2,
      outer: 3,
    });
    expect(Object.fromEntries(policy.groupDistances('carol'))).toEqual({ mid: 1, outer: 2 });
    expect(policy.groupDistances('bob').size).toBe(0);
  });

  it('takes the shorter path when a group is reachable twice', () => {
    const p = Policy.parse({
      principals: [{ name: 'u', kind: 'user' }],
      groups: [
        { name: 'top', members: ['a', 'u'] },
        { name: 'a', members: ['b'] },
        { name: 'b', members: ['u'] },
      ],
    });
    expect(Object.fromEntries(p.groupDistances('u'))).toEqual({ top: 1, b: 1, a: 2 });
  });
});

describe('Pond runs', () => {
  const pond = (name: string, e: string, isDefault = false): ResolvableAssignment => ({
    id: 0,
    subject: { kind: 'pond', name },
    endpoint: e,
    isDefault,
    fallbackLocal: true,
    jobKinds: ['pond_run'],
  });
  const build = (rows: ResolvableAssignment[]) =>
    new RouteResolver(
      ['w1', 'w2', 'w3', 'w4'].map((n) => endpoint(n)),
      rows.map((r, i) => ({ ...r, id: i + 1 })),
      policy,
    );
  const names = (r: RouteResolver, line: string) =>
    r.route(line, 'pond_run').candidates.map((c) => c.endpoint.name);

  it('the line’s own target beats its Pond’s, which beats every Pond', () => {
    const r = build([pond('*', 'w3'), pond('sales', 'w2'), pond('sales@2', 'w1')]);
    expect(names(r, 'sales@2')).toEqual(['w1']);
    expect(r.route('sales@2', 'pond_run').reason).toBe("the line's own assignment (pond sales@2) → w1");
    expect(names(r, 'sales@1')).toEqual(['w2']);
    expect(r.route('sales@1', 'pond_run').reason).toBe('the assignment of pond sales → w2');
    expect(names(r, 'reports@1')).toEqual(['w3']);
    expect(names(build([pond('sales', 'w2')]), 'reports@1')).toEqual([]);
    expect(build([]).route('sales@1', 'pond_run').reason).toBe(NO_ASSIGNMENT);
  });

  it('keeps queries and Pond runs apart, whatever a row says', () => {
    const r = build([
      { ...pond('sales', 'w1'), jobKinds: ['pond_run', 'interactive'] },
      {
        id: 0,
        subject: { kind: 'everyone' },
        endpoint: 'w2',
        isDefault: false,
        fallbackLocal: true,
        jobKinds: ['interactive', 'pond_run'],
      },
    ]);
    expect(names(r, 'sales@1')).toEqual(['w1']);
    expect(names(r, 'reports@1')).toEqual([]);
    expect(r.route('sales', 'interactive').candidates.map((c) => c.endpoint.name)).toEqual(['w2']);
    expect(r.consider('sales@1', 'pond_run').map((c) => [c.assignment.id, c.distance, c.outcome])).toEqual([
      [1, 1, 'chosen'],
    ]);
  });

  it('a default target wins its tier; several endpoints share one', () => {
    const r = build([pond('sales', 'w2'), pond('sales', 'w1'), pond('sales', 'w4', true)]);
    expect(names(r, 'sales@1')).toEqual(['w4']);
    const shared = build([pond('sales', 'w2'), pond('sales', 'w1')]);
    expect(names(shared, 'sales@1')).toEqual(['w1', 'w2']);
  });
});
