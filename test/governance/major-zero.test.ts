/**
 * Major 0 is a real major line (semver's 0.y.z, what `pond init` scaffolds): it can be granted,
 * queried as `"pond@0".t` and as `pond.t` when it is the selected line, and its line principal
 * parses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../src/governance/catalog.js';
import { parseLinePrincipal } from '../../src/governance/line-principals.js';
import { formatSecurable, Policy, parseSecurable } from '../../src/governance/policy.js';
import { Governor } from '../../src/governance/rewrite.js';

let governor: Governor;
beforeAll(async () => {
  governor = await Governor.create();
});
afterAll(() => governor?.close());

const catalog = Catalog.parse({
  tables: [{ pond: 'cities', major: 0, name: 'countries', columns: [{ name: 'name', type: 'VARCHAR' }] }],
  selected: { cities: 0 },
});

describe('major 0', () => {
  it('is a securable, and leading zeros are not', () => {
    expect(parseSecurable('cities@0')).toEqual({ kind: 'pond', pond: 'cities', major: 0 });
    expect(formatSecurable(parseSecurable('cities@0.countries'))).toBe('cities@0.countries');
    expect(() => parseSecurable('cities@00')).toThrow(/without leading zeros/);
    expect(parseLinePrincipal('pond.cities@0')).toEqual({ pond: 'cities', major: 0 });
  });

  it('can be granted and queried by both names', async () => {
    const policy = Policy.parse({
      principals: [{ name: 'ann', kind: 'user' }],
      grants: [{ to: 'ann', privilege: 'SELECT', on: 'cities@0' }],
    });
    for (const sql of ['SELECT * FROM "cities@0".countries', 'SELECT * FROM cities.countries']) {
      const governed = await governor.governQuery(sql, { principal: 'ann', policy, catalog });
      expect(
        governed.tables.map((t) => t.key),
        sql,
      ).toEqual(['cities@0.countries']);
    }
  });
});
