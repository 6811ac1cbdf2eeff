import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog, listVisibleTables } from '../../src/governance/catalog.js';
import { PolicyError } from '../../src/governance/errors.js';
import {
  cloneLossless,
  JsonNumber,
  parseLossless,
  stringifyLossless,
} from '../../src/governance/lossless-json.js';
import { Policy, type PolicyDocumentInput, parseSecurable } from '../../src/governance/policy.js';
import { sameTreeIgnoringLocations } from '../../src/governance/policy-sql.js';
import { Governor } from '../../src/governance/rewrite.js';
import { sanitizeExecutionError } from '../../src/governance/sanitize.js';

const BASE: PolicyDocumentInput = {
  principals: [
    { name: 'alice', kind: 'user' },
    { name: 'bob', kind: 'user' },
    { name: 'etl', kind: 'service' },
    { name: 'board', kind: 'tap' },
    { name: 'root', kind: 'user' },
  ],
  groups: [
    { name: 'everyone', members: ['staff'] },
    { name: 'staff', members: ['analysts', 'etl'] },
    { name: 'analysts', members: ['alice', 'board'] },
    { name: 'ops', members: ['root'] },
  ],
  admins: ['ops'],
  grants: [
    { to: 'everyone', privilege: 'SELECT', on: 'sales@2' },
    { to: 'analysts', privilege: 'SELECT', on: 'sales.daily' },
    { to: 'etl', privilege: 'TRIGGER', on: 'sales' },
    { to: 'bob', privilege: 'DEPLOY', on: '*' },
    { to: 'bob', privilege: 'SELECT', on: 'hr@1.salaries' },
  ],
};

function policyError(input: unknown): PolicyError {
  try {
    Policy.parse(input);
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    return error as PolicyError;
  }
  throw new Error('expected the policy to be rejected');
}

describe('policy resolution', () => {
  const policy = Policy.parse(BASE);

  it('resolves nested groups transitively', () => {
    expect([...policy.groupsOf('alice')].sort()).toEqual(['analysts', 'everyone', 'staff']);
    expect([...policy.groupsOf('etl')].sort()).toEqual(['everyone', 'staff']);
    expect(policy.isMember('board', 'everyone')).toBe(true);
    expect(policy.isMember('ALICE', 'Staff')).toBe(true);
    expect(policy.isMember('bob', 'everyone')).toBe(false);
    expect(policy.isMember('ghost', 'everyone')).toBe(false);
    expect(policy.principal('board')).toEqual({ name: 'board', kind: 'tap' });
  });

  it('inherits grants downward: catalog → pond → major → table', () => {
    // pond@2 grant covers every table of major 2 only
    expect(policy.can('etl', 'SELECT', 'sales@2.daily')).toBe(true);
    expect(policy.can('etl', 'SELECT', 'sales@2')).toBe(true);
    expect(policy.can('etl', 'SELECT', 'sales@1.daily')).toBe(false);
    expect(policy.can('etl', 'SELECT', 'sales.daily')).toBe(false);
    expect(policy.can('etl', 'SELECT', 'sales')).toBe(false);
    // a table grant without a major covers that table in every major, nothing beside it
    expect(policy.can('alice', 'SELECT', 'sales@1.daily')).toBe(true);
    expect(policy.can('alice', 'SELECT', 'sales@7.daily')).toBe(true);
    expect(policy.can('alice', 'SELECT', 'sales@1.customers')).toBe(false);
    expect(policy.can('alice', 'SELECT', 'sales@1')).toBe(false);
    // pond grant covers all majors
    expect(policy.can('etl', 'TRIGGER', 'sales@3')).toBe(true);
    expect(policy.can('etl', 'TRIGGER', 'hr')).toBe(false);
    // catalog grant covers everything
    expect(policy.can('bob', 'DEPLOY', 'anything@4')).toBe(true);
    expect(policy.can('bob', 'DEPLOY', { kind: 'catalog' })).toBe(true);
    // a major-specific table grant does not cover other majors
    expect(policy.can('bob', 'SELECT', 'hr@1.salaries')).toBe(true);
    expect(policy.can('bob', 'SELECT', 'hr@2.salaries')).toBe(false);
    expect(policy.can('bob', 'SELECT', 'hr.salaries')).toBe(false);
  });

  it('denies by default: other privileges, unknown principals, ungranted securables', () => {
    expect(policy.can('alice', 'MANAGE', 'sales.daily')).toBe(false);
    expect(policy.can('alice', 'OPERATE', 'sales')).toBe(false);
    expect(policy.can('etl', 'DEPLOY', 'sales')).toBe(false);
    expect(policy.can('ghost', 'SELECT', 'sales@2.daily')).toBe(false);
    expect(policy.can('bob', 'SELECT', 'sales@2.daily')).toBe(false);
    expect(Policy.parse({ principals: [{ name: 'x', kind: 'user' }] }).can('x', 'SELECT', '*')).toBe(false);
  });

  it('gives admins (directly or through groups) every privilege', () => {
    expect(policy.isAdmin('root')).toBe(true);
    expect(policy.isAdmin('alice')).toBe(false);
    for (const privilege of ['SELECT', 'TRIGGER', 'OPERATE', 'DEPLOY', 'MANAGE'] as const) {
      expect(policy.can('root', privilege, 'hr@9.secret')).toBe(true);
      expect(policy.can('root', privilege, 'hr')).toBe(true);
    }
  });

  it('resolves one row filter per table, with a major-specific override', () => {
    const p = Policy.parse({
      ...BASE,
      rowFilters: [
        { table: 'sales.daily', filter: "region = 'EU'" },
        { table: 'sales@2.daily', filter: 'true' },
      ],
      columnMasks: [
        { table: 'Sales.Daily', column: 'Email', mask: "'***'" },
        { table: 'sales@2.daily', column: 'email', mask: 'left(email, 1)' },
        { table: 'sales@2.daily', column: 'name', mask: "'n'" },
      ],
    });
    expect(p.rowFilter('sales', 1, 'daily')).toBe("region = 'EU'");
    expect(p.rowFilter('SALES', 2, 'DAILY')).toBe('true');
    expect(p.rowFilter('sales', 1, 'customers')).toBeUndefined();
    expect([...p.columnMasks('sales', 1, 'daily')]).toEqual([['email', "'***'"]]);
    expect([...p.columnMasks('sales', 2, 'daily')]).toEqual([
      ['email', 'left(email, 1)'],
      ['name', "'n'"],
    ]);
  });

  it('parses securables precisely', () => {
    expect(parseSecurable('*')).toEqual({ kind: 'catalog' });
    expect(parseSecurable('Sales')).toEqual({ kind: 'pond', pond: 'sales' });
    expect(parseSecurable('sales@2')).toEqual({ kind: 'pond', pond: 'sales', major: 2 });
    expect(parseSecurable('sales@2.Daily')).toEqual({
      kind: 'table',
      pond: 'sales',
      major: 2,
      table: 'daily',
    });
    for (const bad of ['', 'a.b.c', 'sales@', 'sales@01', '@2', 'sales.', '*.x', 'sa les']) {
      expect(() => parseSecurable(bad), bad).toThrow(PolicyError);
    }
  });
});

describe('policy validation', () => {
  it('rejects group cycles, naming the cycle', () => {
    const error = policyError({
      principals: [{ name: 'a', kind: 'user' }],
      groups: [
        { name: 'g1', members: ['g2', 'a'] },
        { name: 'g2', members: ['g3'] },
        { name: 'g3', members: ['g1'] },
      ],
    });
    expect(error.issues).toEqual(['group membership cycle: g1 → g2 → g3 → g1']);
    const self = policyError({ principals: [], groups: [{ name: 'g', members: ['g'] }] });
    expect(self.issues).toEqual(['group membership cycle: g → g']);
  });

  it('lists every problem at once, with its place', () => {
    const error = policyError({
      principals: [
        { name: 'alice', kind: 'user' },
        { name: 'Alice', kind: 'service' },
      ],
      groups: [{ name: 'g', members: ['nobody', 'alice', 'alice'] }],
      admins: ['ghost'],
      grants: [
        { to: 'g', privilege: 'TRIGGER', on: 'sales.daily' },
        { to: 'zed', privilege: 'SELECT', on: 'sales' },
        { to: 'g', privilege: 'SELECT', on: 'not a securable' },
      ],
      rowFilters: [
        { table: 'sales.daily', filter: 'true' },
        { table: 'SALES.daily', filter: 'false' },
      ],
      columnMasks: [
        { table: 'sales.daily', column: 'email', mask: "'x'" },
        { table: 'sales.daily', column: 'EMAIL', mask: "'y'" },
      ],
    });
    expect(error.issues).toEqual([
      'principal "Alice" clashes with principal "alice" (names are case-insensitive)',
      'group "g": member "nobody" is neither a principal nor a group',
      'group "g": member "alice" is listed twice',
      'admins: "ghost" is neither a principal nor a group',
      'grants[0]: TRIGGER cannot be granted on a table (only SELECT or MANAGE)',
      'grants[1]: "zed" is neither a principal nor a group',
      'grants[2]: "not a securable" is not a securable: use *, pond, pond@major, pond.table or pond@major.table',
      'rowFilters[1]: SALES.daily already has a row filter (one per table)',
      'columnMasks[1]: sales.daily.EMAIL already has a mask (one per column)',
    ]);
  });

  it('rejects malformed documents with zod paths', () => {
    expect(policyError({ principals: [{ name: 'a', kind: 'robot' }] }).issues[0]).toMatch(
      /^principals\.0\.kind: /,
    );
    expect(
      policyError({ principals: [], grants: [{ to: 'a', privilege: 'READ', on: '*' }] }).issues[0],
    ).toMatch(/^grants\.0\.privilege: /);
    expect(policyError({ principals: [], extra: 1 }).issues[0]).toMatch(/Unrecognized key/);
    expect(
      policyError({ principals: [], rowFilters: [{ table: 'daily', filter: 'true' }] }).issues[0],
    ).toMatch(/pond\.table/);
    expect(policyError({ principals: [], rowFilters: [{ table: 'a.b', filter: '  ' }] }).issues[0]).toMatch(
      /empty/,
    );
    expect(policyError(null).issues).toHaveLength(1);
  });
});

describe('policy SQL checked against the catalog (DuckDB binder)', () => {
  let governor: Governor;
  const catalog = Catalog.parse({
    tables: [
      {
        pond: 'sales',
        major: 1,
        name: 'daily',
        columns: [
          { name: 'region', type: 'VARCHAR' },
          { name: 'email', type: 'VARCHAR' },
          { name: 'amount', type: 'DECIMAL(12,2)' },
        ],
      },
    ],
    selected: { sales: 1 },
  });
  const withSql = (
    rowFilters: { table: string; filter: string }[],
    columnMasks: { table: string; column: string; mask: string }[] = [],
  ) =>
    Policy.parse({
      principals: [{ name: 'a', kind: 'user' }],
      groups: [{ name: 'g', members: ['a'] }],
      rowFilters,
      columnMasks,
    });
  const issuesOf = async (policy: Policy): Promise<readonly string[]> => {
    const error = await governor.validatePolicy(policy, catalog).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PolicyError);
    return (error as PolicyError).issues;
  };

  beforeAll(async () => {
    governor = await Governor.create();
  });
  afterAll(() => governor.close());

  it('accepts well-formed filters and masks', async () => {
    await governor.validatePolicy(
      withSql(
        [
          {
            table: 'sales.daily',
            filter: "is_member('g') OR region = current_principal() OR daily.region IN ('EU', 'US')",
          },
        ],
        [
          {
            table: 'sales.daily',
            column: 'email',
            mask: "CASE WHEN is_member('g') THEN email ELSE '***' END",
          },
          { table: 'sales.daily', column: 'amount', mask: 'NULL' },
        ],
      ),
      catalog,
    );
  });

  it('rejects each kind of bad expression precisely', async () => {
    const cases: [string, RegExp][] = [
      ['region = ', /row filter of sales@1\.daily: not a valid SQL expression/],
      ['true) OR (SELECT 1 FROM x', /subqueries are not allowed/],
      // Inside the parentheses this is one row value, rejected by its type.
      ['1, 2', /yields STRUCT/],
      ['1) AS x, (2', /must be a single SQL expression/],
      ['true FROM sales.daily', /not a valid SQL expression/],
      ['true) FROM (SELECT 1', /must be a single SQL expression/],
      ['region IN (SELECT region FROM sales.daily)', /subqueries are not allowed/],
      ['nope = 1', /column nope is not a column of sales@1\.daily/],
      ['other.region = 1', /column other\.region is not a column/],
      ["is_member('nosuch')", /is_member\('nosuch'\): no such group/],
      ['is_member(region)', /exactly one string literal/],
      ["current_setting('threads') = '1'", /function current_setting\(\) is not allowed/],
      ['region', /yields VARCHAR, expected BOOLEAN/],
      ["region = 'EU' -- comment", /./],
      ['$1', /parameters are not allowed/],
      ['no_such_function(region)', /function no_such_function\(\) is not allowed: it is not on the list/],
    ];
    for (const [filter, expected] of cases) {
      if (filter.endsWith('-- comment')) {
        // A trailing comment cannot swallow the closing parenthesis: it is simply a comment.
        await governor.validatePolicy(withSql([{ table: 'sales.daily', filter }]), catalog);
        continue;
      }
      const issues = await issuesOf(withSql([{ table: 'sales.daily', filter }]));
      expect(issues.join('\n'), filter).toMatch(expected);
    }
  });

  it('checks mask types and columns', async () => {
    const issues = await issuesOf(
      withSql(
        [],
        [
          { table: 'sales.daily', column: 'amount', mask: "'hidden'" },
          { table: 'sales.daily', column: 'missing', mask: "'x'" },
          { table: 'sales.daily', column: 'email', mask: 'count(*) OVER ()' },
        ],
      ),
    );
    expect(issues).toContain('mask of sales@1.daily.missing: the table has no such column');
    expect(issues.join('\n')).toMatch(
      /mask of sales@1\.daily\.amount: yields VARCHAR, expected DECIMAL\(12,2\)/,
    );
    expect(issues.join('\n')).toMatch(/mask of sales@1\.daily\.email: window functions are not allowed/);
  });
});

describe('catalog', () => {
  it('validates its input and lists only what the caller may see', () => {
    const catalog = Catalog.parse({
      tables: [
        { pond: 'sales', major: 1, name: 'daily', columns: [{ name: 'email', type: 'VARCHAR' }] },
        { pond: 'sales', major: 2, name: 'daily', columns: [{ name: 'email', type: 'VARCHAR' }] },
        { pond: 'hr', major: 1, name: 'salaries', columns: [{ name: 'x', type: 'INTEGER' }] },
      ],
      selected: { sales: 2, hr: 1 },
    });
    const policy = Policy.parse({
      principals: [{ name: 'a', kind: 'user' }],
      grants: [{ to: 'a', privilege: 'SELECT', on: 'sales' }],
      rowFilters: [{ table: 'sales@2.daily', filter: 'true' }],
      columnMasks: [{ table: 'sales.daily', column: 'email', mask: "'x'" }],
    });
    expect(listVisibleTables(policy, 'a', catalog)).toEqual([
      {
        key: 'sales@1.daily',
        pond: 'sales',
        major: 1,
        name: 'daily',
        selected: false,
        filtered: false,
        columns: [{ name: 'email', type: 'VARCHAR', masked: true }],
      },
      {
        key: 'sales@2.daily',
        pond: 'sales',
        major: 2,
        name: 'daily',
        selected: true,
        filtered: true,
        columns: [{ name: 'email', type: 'VARCHAR', masked: true }],
      },
    ]);
    expect(listVisibleTables(policy, 'ghost', catalog)).toEqual([]);
    expect(catalog.find('SALES', undefined, 'Daily')?.key).toBe('sales@2.daily');
  });

  it('rejects bad catalogs precisely', () => {
    const bad = (input: unknown): string => {
      try {
        Catalog.parse(input);
      } catch (error) {
        return (error as PolicyError).issues.join('\n');
      }
      throw new Error('accepted');
    };
    const column = [{ name: 'a', type: 'INTEGER' }];
    expect(bad({ tables: [{ pond: 'x', major: 1, name: 't', columns: [] }], selected: {} })).toMatch(
      /columns/,
    );
    expect(
      bad({
        tables: [{ pond: 'x', major: 1, name: 't', columns: [{ name: 'a', type: 'INT; DROP' }] }],
        selected: {},
      }),
    ).toMatch(/not a DuckDB type/);
    expect(
      bad({ tables: [{ pond: 'x', major: 1, name: 't', columns: column }], selected: { x: 2 } }),
    ).toMatch(/selected major x@2 has no tables/);
    expect(
      bad({
        tables: [
          { pond: 'x', major: 1, name: 't', columns: column },
          { pond: 'X', major: 1, name: 'T', columns: column },
        ],
        selected: {},
      }),
    ).toMatch(/x@1\.t is listed twice/);
  });
});

describe('helpers', () => {
  it('keeps JSON numbers exactly', () => {
    const text = '{"a":18446744073709551615,"b":50.0,"c":[-1e5,"x\\"y",true,null],"__proto__":{"d":1}}';
    const parsed = parseLossless(text);
    expect(stringifyLossless(parsed)).toBe(text);
    expect((parsed as Record<string, unknown>).a).toEqual(new JsonNumber('18446744073709551615'));
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    for (const bad of ['{', '[1,]', '{"a" 1}', '01', '"\\x"', '1 2', '"a\u0001b"', '"abc', ' "a'])
      expect(() => parseLossless(bad), bad).toThrow(SyntaxError);
    const copy = cloneLossless(parsed);
    expect(stringifyLossless(copy)).toBe(text);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
  });

  it('compares trees apart from their source positions', () => {
    const tree = (text: string) => parseLossless(text);
    const a = tree('{"class":"X","query_location":3,"n":1.0,"c":[{"query_location":7,"v":"s"}]}');
    expect(
      sameTreeIgnoringLocations(a, tree('{"class":"X","query_location":9,"n":1.0,"c":[{"v":"s"}]}')),
    ).toBe(true);
    for (const other of [
      '{"class":"X","n":1,"c":[{"v":"s"}]}',
      '{"class":"X","n":1.0,"c":[{"v":"t"}]}',
      '{"n":1.0,"class":"X","c":[{"v":"s"}]}',
      '{"class":"X","n":1.0,"c":[{"v":"s"},null]}',
      '{"class":"X","n":"1.0","c":[{"v":"s"}]}',
      '{"class":"X","n":1.0,"c":[{"v":"s"}],"d":null}',
    ])
      expect(sameTreeIgnoringLocations(a, tree(other)), other).toBe(false);
  });

  it('sanitizes execution errors, keeping the detail for the audit log', () => {
    const leaky = Object.assign(new Error("Conversion Error: Could not convert string 'HIDDEN-7' to INT32"), {
      code: 'execution_failed',
    });
    const a = sanitizeExecutionError(leaky);
    const b = sanitizeExecutionError(leaky);
    expect(a.publicMessage).toBe(`the query failed while executing (error id ${a.errorId})`);
    expect(a.publicMessage).not.toContain('HIDDEN');
    expect(a.detail).toContain('HIDDEN-7');
    expect(a.code).toBe('execution_failed');
    expect(a.errorId).not.toBe(b.errorId);
    const timeout = sanitizeExecutionError(
      Object.assign(new Error('query exceeded its time limit of 5 ms'), {
        code: 'timeout',
        detail: 'INTERRUPT Error',
      }),
    );
    expect(timeout.code).toBe('timeout');
    expect(timeout.publicMessage).toMatch(/^query exceeded its time limit of 5 ms \(error id /);
    expect(timeout.detail).toBe('query exceeded its time limit of 5 ms\nINTERRUPT Error');
    expect(sanitizeExecutionError('plain string').detail).toBe('plain string');
  });
});
