/**
 * Privileges that nest (docs/governance.md, "Who may do what"): a policy object set at a broader
 * securable cannot be replaced or removed by someone who manages only a narrower one; a key minted
 * with a key never outlives it; only administrators and MANAGE on `*` mint keys for others.
 *
 * Service-level against a real GovernanceService (SQLite store, DuckDB-validated policy), then the
 * same rules through HTTP on a real Catchment.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatchmentStore, secretsEqual } from '../../src/catchment/store/index.js';
import { Catalog } from '../../src/governance/catalog.js';
import { GovernanceService, type Identity } from '../../src/governance/service.js';
import { GovernanceStore } from '../../src/governance/store.js';
import { removeDir, TestCatchment, tempDir } from '../support/runtime.js';

const ADMIN_KEY = 'a'.repeat(64);
const HOUR = 3_600_000;

const columns = [
  { name: 'id', type: 'INTEGER' },
  { name: 'region', type: 'VARCHAR' },
  { name: 'email', type: 'VARCHAR' },
];
const CATALOG = Catalog.parse({
  tables: [
    { pond: 'sales', major: 1, name: 'daily', columns },
    { pond: 'sales', major: 2, name: 'daily', columns },
  ],
  selected: { sales: 2 },
});

/**
 * pond_mgr manages every major of sales; daily_mgr the table sales.daily of every major; major_mgr
 * one major (sales@2) and table_mgr one table of one major (sales@2.daily); cat_mgr the catalog.
 */
const POLICY = `
groups:
  - name: platform
principals:
  - name: pond_mgr
  - name: daily_mgr
  - name: major_mgr
  - name: table_mgr
  - name: cat_mgr
  - name: bob
  - name: alice
  - name: root_user
    groups: [platform]
admins: [platform]
grants:
  - { to: pond_mgr, privileges: [MANAGE], on: sales }
  - { to: daily_mgr, privileges: [MANAGE], on: sales.daily }
  - { to: major_mgr, privileges: [MANAGE], on: sales@2 }
  - { to: table_mgr, privileges: [MANAGE], on: sales@2.daily }
  - { to: cat_mgr, privileges: [MANAGE], on: "*" }
  - { to: bob, privileges: [SELECT], on: sales }
`;

let dir: string;
let store: CatchmentStore;
let gov: GovernanceService;
let clock = Date.parse('2026-12-01T00:00:00Z');
const admin: Identity = { principal: 'admin', keyId: null };
const as = (principal: string): Identity => ({ principal, keyId: null });

/** The refusal `fn` throws, as the HTTP layer would classify it, and proof nothing changed. */
async function refused(fn: () => Promise<unknown> | unknown): Promise<{ kind: string; message: string }> {
  const before = gov.current().revision;
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a refusal').toBeInstanceOf(Error);
  expect(gov.current().revision).toBe(before);
  const e = caught as Error & { code?: string };
  return { kind: e.code ?? e.constructor.name, message: e.message };
}

beforeAll(async () => {
  dir = await tempDir('nesting');
  store = CatchmentStore.open(dir);
  gov = new GovernanceService(new GovernanceStore(store.db), {
    adminKey: ADMIN_KEY,
    catalog: async () => CATALOG,
    now: () => clock,
  });
  await gov.applyFile(admin, POLICY, false);
});

afterAll(async () => {
  await gov?.close();
  store?.close();
  await removeDir(dir);
});

describe('row filters and masks nest', () => {
  it('a Pond-wide filter cannot be overridden or removed for one major by who manages only that major', async () => {
    await gov.setRowFilter(as('daily_mgr'), 'sales.daily', "region = 'EU'");
    for (const who of ['major_mgr', 'table_mgr']) {
      const set = await refused(() => gov.setRowFilter(as(who), 'sales@2.daily', 'true'));
      expect(set).toEqual({
        kind: 'permission_denied',
        message:
          'permission denied: sales.daily has a row filter for every major, which sales@2.daily would override for major 2; that needs MANAGE on sales.daily',
      });
      expect((await refused(() => gov.setRowFilter(as(who), 'sales.daily', null))).kind).toBe(
        'permission_denied',
      );
      expect(gov.policy().rowFilter('sales', 2, 'daily')).toBe("region = 'EU'");
    }
    // Who manages sales.daily (or the Pond) may override it for one major, and the override then
    // stays theirs: the manager of the major cannot remove it either.
    await gov.setRowFilter(as('daily_mgr'), 'sales@2.daily', "region = 'EU' AND id > 0");
    expect(gov.policy().rowFilter('sales', 2, 'daily')).toBe("region = 'EU' AND id > 0");
    expect((await refused(() => gov.setRowFilter(as('major_mgr'), 'sales@2.daily', null))).kind).toBe(
      'permission_denied',
    );
    await gov.setRowFilter(as('pond_mgr'), 'sales@2.daily', null);
    await gov.setRowFilter(as('pond_mgr'), 'sales.daily', null);
    expect(gov.policy().rowFilter('sales', 2, 'daily')).toBeUndefined();
  });

  it('without a Pond-wide filter the manager of one major sets its own; a later Pond-wide one is not silently pre-empted', async () => {
    await gov.setRowFilter(as('table_mgr'), 'sales@2.daily', 'true');
    const preempted = await refused(() => gov.setRowFilter(as('pond_mgr'), 'sales.daily', "region = 'EU'"));
    expect(preempted).toEqual({
      kind: 'conflict',
      message:
        'sales@2.daily already has a row filter of its own, which would override this one on sales.daily for that major: remove it first, or set both in one policy file',
    });
    // administrators too: the point is that nobody is surprised by the override
    expect((await refused(() => gov.setRowFilter(admin, 'sales.daily', "region = 'EU'"))).kind).toBe(
      'conflict',
    );
    await gov.setRowFilter(as('pond_mgr'), 'sales@2.daily', null);
    await gov.setRowFilter(as('pond_mgr'), 'sales.daily', "region = 'EU'");
    // set in this order, replacing the Pond-wide filter later is fine: its manager allowed the override
    await gov.setRowFilter(as('pond_mgr'), 'sales@2.daily', "region <> 'EU'");
    await gov.setRowFilter(as('pond_mgr'), 'sales.daily', "region = 'US'");
    expect(gov.policy().rowFilter('sales', 1, 'daily')).toBe("region = 'US'");
    expect(gov.policy().rowFilter('sales', 2, 'daily')).toBe("region <> 'EU'");
    await gov.setRowFilter(admin, 'sales@2.daily', null);
    await gov.setRowFilter(admin, 'sales.daily', null);
  });

  it('masks nest per column', async () => {
    const mask = "CASE WHEN is_member('platform') THEN email ELSE '***' END";
    await gov.setColumnMask(as('pond_mgr'), 'sales.daily', 'email', mask);
    const replaced = await refused(() =>
      gov.setColumnMask(as('major_mgr'), 'sales@2.daily', 'email', 'email'),
    );
    expect(replaced).toEqual({
      kind: 'permission_denied',
      message:
        'permission denied: sales.daily has a mask on column email for every major, which sales@2.daily would override for major 2; that needs MANAGE on sales.daily',
    });
    expect((await refused(() => gov.setColumnMask(as('table_mgr'), 'sales.daily', 'email', null))).kind).toBe(
      'permission_denied',
    );
    expect(gov.policy().columnMasks('sales', 2, 'daily').get('email')).toBe(mask);
    // another column has no Pond-wide mask: the manager of the major may mask it for that major
    await gov.setColumnMask(as('major_mgr'), 'sales@2.daily', 'region', "'?'");
    expect(gov.policy().columnMasks('sales', 2, 'daily').get('region')).toBe("'?'");
    expect(gov.policy().columnMasks('sales', 1, 'daily').has('region')).toBe(false);
    // ...and then a Pond-wide mask of that column must not be silently overridden on major 2
    expect((await refused(() => gov.setColumnMask(admin, 'sales.daily', 'region', "'!'"))).message).toMatch(
      /^sales@2\.daily already has a mask on column region of its own/,
    );
    await gov.setColumnMask(as('major_mgr'), 'sales@2.daily', 'region', null);
    await gov.setColumnMask(as('pond_mgr'), 'sales.daily', 'email', null);
  });

  it('filters and masks still need MANAGE on the table itself', async () => {
    expect((await refused(() => gov.setRowFilter(as('major_mgr'), 'sales@1.daily', 'true'))).message).toBe(
      'permission denied: MANAGE on sales@1.daily',
    );
    expect((await refused(() => gov.setRowFilter(as('bob'), 'sales.daily', 'true'))).kind).toBe(
      'permission_denied',
    );
  });
});

describe('grants nest', () => {
  it('a grant made at a broader securable is revoked only there, by who manages it', async () => {
    const broad = await refused(() => gov.setGrant(as('major_mgr'), 'bob', ['SELECT'], 'sales', false));
    expect(broad).toEqual({ kind: 'permission_denied', message: 'permission denied: MANAGE on sales' });
    // A revoke on the narrower securable would remove nothing and leave bob reading sales@2: refused.
    const narrow = await refused(() => gov.setGrant(as('major_mgr'), 'bob', ['SELECT'], 'sales@2', false));
    expect(narrow).toEqual({
      kind: 'conflict',
      message:
        'bob holds SELECT on sales@2 through the grant on sales, which a revoke on sales@2 cannot remove: revoke it on sales (needs MANAGE there)',
    });
    expect(gov.can(as('bob'), 'SELECT', 'sales@2.daily')).toBe(true);
    // Within the major, its manager grants and revokes as before.
    expect((await gov.setGrant(as('major_mgr'), 'alice', ['SELECT'], 'sales@2.daily', true)).diff).toEqual([
      '+ grant SELECT on sales@2.daily to alice',
    ]);
    expect((await gov.setGrant(as('table_mgr'), 'alice', ['SELECT'], 'sales@2.daily', false)).diff).toEqual([
      '- grant SELECT on sales@2.daily to alice',
    ]);
    // A revoke of nothing, with nothing broader, still answers "no change".
    expect((await gov.setGrant(as('major_mgr'), 'alice', ['SELECT'], 'sales@2', false)).changed).toBe(false);
    expect((await gov.setGrant(as('pond_mgr'), 'bob', ['SELECT'], 'sales', false)).changed).toBe(true);
    expect(gov.can(as('bob'), 'SELECT', 'sales@2.daily')).toBe(false);
    await gov.setGrant(admin, 'bob', ['SELECT'], 'sales', true);
  });
});

describe('keys nest', () => {
  /** Mints a key for `principal` as `who` and returns the identity it authenticates as. */
  function mint(who: Identity, principal: string, expiresAt?: number | null) {
    const made = gov.createKey(who, principal, { expiresAt: expiresAt ?? null });
    return { ...made, id: gov.authenticate(made.key, secretsEqual) };
  }

  it('a key minted with an expiring key expires no later than it', () => {
    const t0 = clock;
    const first = mint(admin, 'alice', t0 + HOUR);
    expect(first.info.expiresAt).toBe(t0 + HOUR);
    // no expiry asked: it gets the minting key's
    const child = mint(first.id, 'alice');
    expect(child.info.expiresAt).toBe(t0 + HOUR);
    // an earlier expiry is kept; a later one is refused and mints nothing
    expect(mint(first.id, 'alice', t0 + HOUR / 2).info.expiresAt).toBe(t0 + HOUR / 2);
    const before = gov.listKeys(admin, 'alice').length;
    const later = (() => {
      try {
        mint(child.id, 'alice', t0 + 2 * HOUR);
      } catch (error) {
        return error as Error;
      }
    })();
    expect(later?.message).toBe(
      'invalid policy: expires_at: must not be later than 2026-12-01T01:00:00.000Z, when the key you are using expires (a key never outlives the key that minted it)',
    );
    expect(gov.listKeys(admin, 'alice')).toHaveLength(before);
    // the whole chain dies together
    clock = t0 + HOUR;
    for (const k of [first, child])
      expect(() => gov.authenticate(k.key, secretsEqual)).toThrow('invalid API key');
    clock = t0;
  });

  it('the root admin key and keys without expiry mint keys without expiry', () => {
    const forever = mint(admin, 'alice');
    expect(forever.info.expiresAt).toBeNull();
    expect(mint(forever.id, 'alice').info.expiresAt).toBeNull();
    const rootUser = mint(admin, 'root_user', clock + HOUR);
    // an administrator's expiring key caps what it mints, for anyone
    expect(mint(rootUser.id, 'bob').info.expiresAt).toBe(clock + HOUR);
  });

  it('only administrators and MANAGE on * mint keys for other principals; nobody else learns who exists', () => {
    const denied = (who: Identity, principal: string) => {
      try {
        gov.createKey(who, principal, {});
      } catch (error) {
        return {
          kind: (error as { code?: string }).code ?? (error as Error).constructor.name,
          message: (error as Error).message,
        };
      }
      throw new Error('expected a refusal');
    };
    for (const who of ['bob', 'major_mgr', 'pond_mgr']) {
      const existing = denied(as(who), 'alice');
      const unknown = denied(as(who), 'nobody_at_all');
      expect(existing).toEqual({
        kind: 'permission_denied',
        message:
          'permission denied: only administrators may create keys for other principals (or hold MANAGE on *)',
      });
      expect(unknown).toEqual(existing);
    }
    const forBob = mint(as('cat_mgr'), 'bob');
    expect(forBob.id.principal).toBe('bob');
    // a key of an administrator would make its holder one
    expect(denied(as('cat_mgr'), 'root_user')).toEqual({
      kind: 'permission_denied',
      message: 'permission denied: only administrators may create keys for administrators',
    });
    expect(denied(as('cat_mgr'), 'admin').kind).toBe('permission_denied');
    expect(denied(as('cat_mgr'), 'nobody_at_all')).toEqual({
      kind: 'not_found',
      message: 'no principal "nobody_at_all"',
    });
    // cat_mgr lists and revokes non-administrators' keys; an administrator's key id looks unknown
    expect(gov.listKeys(as('cat_mgr'), 'bob').map((k) => k.id)).toContain(forBob.info.id);
    expect(gov.revokeKey(as('cat_mgr'), forBob.info.id).revokedAt).toBe(clock);
    const adminKey = mint(admin, 'root_user');
    expect(() => gov.revokeKey(as('cat_mgr'), adminKey.info.id)).toThrow(`no key "${adminKey.info.id}"`);
    expect(() => gov.listKeys(as('cat_mgr'), 'root_user')).toThrow(/only administrators/);
    expect(() => gov.revokeKey(as('bob'), adminKey.info.id)).toThrow(`no key "${adminKey.info.id}"`);
    // everyone still mints for themselves
    expect(mint(as('bob'), 'bob').id.principal).toBe('bob');
  });
});

describe('through HTTP', () => {
  let work: string;
  let c: TestCatchment;
  const keys: Record<string, string> = {};
  const api = (who: string, method: string, route: string, body?: unknown) =>
    c.api(method, route, body, keys[who] ?? null);

  beforeAll(async () => {
    work = await tempDir('nesting-http');
    c = await TestCatchment.start(path.join(work, 'root'));
    keys.admin = c.running.adminKey;
    expect((await api('admin', 'POST', '/api/policy/apply', { file: POLICY })).status).toBe(200);
    for (const name of ['major_mgr', 'cat_mgr', 'bob']) {
      keys[name] = (await api('admin', 'POST', '/api/keys', { principal: name })).body.key;
    }
  });

  afterAll(async () => {
    await c?.close();
    await removeDir(work);
  });

  it('the manager of one major cannot replace or remove a Pond-wide mask', async () => {
    const mask = { as: "CASE WHEN is_member('platform') THEN email ELSE '***' END" };
    expect((await api('admin', 'PUT', '/api/column-masks/sales.daily/email', mask)).status).toBe(200);
    const before = (await api('admin', 'GET', '/api/policy')).body;
    const replace = await api('major_mgr', 'PUT', '/api/column-masks/sales@2.daily/email', { as: 'email' });
    expect(replace).toEqual({
      status: 403,
      body: {
        error: {
          code: 'permission_denied',
          message:
            'permission denied: sales.daily has a mask on column email for every major, which sales@2.daily would override for major 2; that needs MANAGE on sales.daily',
        },
      },
    });
    expect((await api('major_mgr', 'DELETE', '/api/column-masks/sales.daily/email')).status).toBe(403);
    expect((await api('major_mgr', 'DELETE', '/api/column-masks/sales@2.daily/email')).status).toBe(403);
    expect((await api('admin', 'GET', '/api/policy')).body).toEqual(before);
    const revoke = await api('major_mgr', 'POST', '/api/revokes', {
      to: 'bob',
      privileges: ['SELECT'],
      on: 'sales@2',
    });
    expect(revoke.status).toBe(409);
    expect(revoke.body.error.code).toBe('conflict');
  });

  it('a key minted with an expiring key over HTTP expires with it; only MANAGE on * mints for others', async () => {
    const expires = new Date(Date.now() + HOUR).toISOString();
    const short = await api('admin', 'POST', '/api/keys', { principal: 'bob', expires_at: expires });
    expect(short.status).toBe(201);
    keys.bob_short = short.body.key;
    const child = await api('bob_short', 'POST', '/api/keys', { principal: 'bob' });
    expect(child.status).toBe(201);
    expect(child.body.expires_at).toBe(expires);
    const later = await api('bob_short', 'POST', '/api/keys', {
      principal: 'bob',
      expires_at: new Date(Date.now() + 2 * HOUR).toISOString(),
    });
    expect(later.status).toBe(422);
    expect(later.body.error.message).toMatch(/a key never outlives the key that minted it/);
    expect((await api('major_mgr', 'POST', '/api/keys', { principal: 'bob' })).status).toBe(403);
    const byCat = await api('cat_mgr', 'POST', '/api/keys', { principal: 'bob' });
    expect(byCat.status).toBe(201);
    expect((await c.api('GET', '/api/whoami', undefined, byCat.body.key)).body.principal).toBe('bob');
    expect((await api('cat_mgr', 'POST', '/api/keys', { principal: 'root_user' })).status).toBe(403);
  });
});
