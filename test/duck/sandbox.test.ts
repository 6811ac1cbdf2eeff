/**
 * Deployed code reads nothing its deployer could not (issue 7, item 5): a Duck's Ripples, SQL and
 * TypeScript, reach only their Pond version's files, their line's folder and the run's inputs. The
 * Duck's runner is built exactly as a Duck builds it, over a Catchment root laid out as on disk.
 */
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest, tableFilePath } from '../../src/compute/snapshots.js';
import type { RippleRunner } from '../../src/duck/duck.js';
import { RippleError } from '../../src/duck/executor.js';
import { RunLedger } from '../../src/duck/ledger.js';
import { loadPond } from '../../src/duck/loader.js';
import { createRunner } from '../../src/duck/runner.js';
import { PondError } from '../../src/pond/manifest.js';
import { DuckDBInstance } from '../../src/shared/duckdb.js';
import { cleanupTempDirs, MANIFEST_WITH_SOURCES, makePond, tempDir, writeFiles } from '../pond/helpers.js';

const DUCKDB_MODULE = createRequire(import.meta.url).resolve('@duckdb/node-api');
const REPO_PACKAGE_JSON = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../package.json');

let root: string;
let lineDir: string;
let runner: RippleRunner;
const inputs = { 'shop.orders': 'inputs/run-1/shop.orders.parquet' };
let f = Date.parse('2024-05-01T00:00:00Z');

/** Each attack is one Ripple: its name, and what the run's error must say. */
const SQL_ATTACKS: Array<[string, (r: string) => string, RegExp]> = [
  [
    'sql_passwd',
    () => "SELECT content FROM read_text('/etc/passwd')",
    /Permission Error: Cannot access file "\/etc\/passwd"/,
  ],
  [
    'sql_admin_key',
    (r) => `SELECT content FROM read_text('${r}/admin.key')`,
    /Permission Error: Cannot access file ".*\/admin\.key"/,
  ],
  [
    'sql_duck_db',
    (r) => `SELECT content FROM read_blob('${r}/duck.db')`,
    /Permission Error: Cannot access file ".*\/duck\.db"/,
  ],
  [
    'sql_other_pond',
    (r) => `SELECT * FROM read_parquet('${r}/ponds/other/m1/data/secret.parquet')`,
    /Permission Error: Cannot access file ".*\/ponds\/other\/m1\/data\/secret\.parquet"/,
  ],
  [
    'sql_climb',
    () => "SELECT content FROM read_text('data/../../../../admin.key')",
    /Permission Error: Cannot access file "data\/\.\.\/\.\.\/\.\.\/\.\.\/admin\.key"/,
  ],
];

const TS_ATTACKS: Array<[string, (r: string) => string, RegExp]> = [
  [
    'ts_passwd',
    () => "readFileSync('/etc/passwd', 'utf8');",
    /refused by the Ripple sandbox: reading \/etc\/passwd/,
  ],
  [
    'ts_admin_key',
    (r) => `await promises.readFile(${JSON.stringify(`${r}/admin.key`)}, 'utf8');`,
    /refused by the Ripple sandbox: reading .*\/admin\.key/,
  ],
  [
    'ts_duck_db',
    (r) => `readFileSync(${JSON.stringify(`${r}/duck.db`)});`,
    /refused by the Ripple sandbox: reading .*\/duck\.db/,
  ],
  [
    'ts_other_pond',
    (r) => `readFileSync(${JSON.stringify(`${r}/ponds/other/m1/data/secret.csv`)}, 'utf8');`,
    /refused by the Ripple sandbox: reading .*\/ponds\/other\/m1\/data\/secret\.csv/,
  ],
  [
    'ts_import_duckdb',
    // Not a literal: the bundler refuses those at load; at run time the sandbox is what stops it.
    () =>
      `const where = [${JSON.stringify(DUCKDB_MODULE)}][0]; const m = await import(where); await m.DuckDBInstance.create(':memory:');`,
    /refused by the Ripple sandbox: reading .*@duckdb/,
  ],
  [
    'ts_require_duckdb',
    () => `createRequire(${JSON.stringify(REPO_PACKAGE_JSON)})('@duckdb/node-api');`,
    /refused by the Ripple sandbox: reading /,
  ],
  [
    'ts_spawn',
    () => "spawnSync('cat', ['/etc/passwd']);",
    /refused by the Ripple sandbox: starting a child process/,
  ],
  [
    'ts_write_outside',
    (r) => `writeFileSync(${JSON.stringify(`${r}/ponds/other/m1/data/evil.txt`)}, 'x');`,
    /refused by the Ripple sandbox: writing .*\/ponds\/other\/m1\/data\/evil\.txt/,
  ],
  [
    'ts_write_own_code',
    () => "writeFileSync(ctx.file('data/vip.csv'), 'x');",
    /refused by the Ripple sandbox: writing .*\/data\/vip\.csv/,
  ],
  [
    'ts_sql_passwd',
    () => 'await ctx.sql("SELECT content FROM read_text(\'/etc/passwd\')");',
    /Permission Error: Cannot access file "\/etc\/passwd"/,
  ],
  [
    'ts_sql_external_access',
    () => "await ctx.sql('SET enable_external_access = true');",
    /Cannot change configuration option "enable_external_access" - the configuration has been locked/,
  ],
  [
    'ts_sql_allowed_directories',
    () => 'await ctx.sql("SET allowed_directories = [\'/\']");',
    /Cannot change configuration option "allowed_directories" - the configuration has been locked/,
  ],
  [
    'ts_sql_attach_duck_db',
    (r) => `await ctx.sql(${JSON.stringify(`ATTACH '${r}/duck.db' AS stolen`)});`,
    /Permission Error: Cannot access file ".*\/duck\.db"/,
  ],
  ['ts_sql_load_extension', () => "await ctx.sql('LOAD sqlite');", /Permission Error/],
];

function tsRipple(name: string, body: string): string {
  return `export const ${name} = ripple({ name: '${name}', async run(ctx) {\n  ${body}\n} });`;
}

beforeAll(async () => {
  root = await tempDir('duckstring-sandbox-');
  lineDir = path.join(root, 'ponds', 'demo', 'm1');
  await writeFiles(root, {
    'admin.key': 'ADMIN-SECRET\n',
    'ponds/other/m1/data/secret.csv': 'secret\nhidden\n',
  });
  const db = new Database(path.join(root, 'duck.db'));
  db.exec("CREATE TABLE api_keys (hash TEXT); INSERT INTO api_keys VALUES ('h')");
  db.close();
  await mkdir(path.join(lineDir, 'inputs', 'run-1'), { recursive: true });
  const scratch = await DuckDBInstance.create(':memory:');
  const conn = await scratch.connect();
  await conn.run(
    `COPY (SELECT 'hidden' AS secret) TO '${root}/ponds/other/m1/data/secret.parquet' (FORMAT parquet)`,
  );
  await conn.run(
    `COPY (SELECT * FROM (VALUES (1, 'ana', 10.5), (2, 'bo', 4.0), (3, 'ana', 1.5)) t(id, customer, amount)) TO '${lineDir}/${inputs['shop.orders']}' (FORMAT parquet)`,
  );
  conn.closeSync();
  scratch.closeSync();

  const codeDir = path.join(root, 'ponds', 'demo', '1.0.0');
  const files: Record<string, string> = {
    'pond.toml': MANIFEST_WITH_SOURCES('shop = "1.0.0"'),
    'data/vip.csv': 'customer\nana\n',
    'ripples/sql_ok.sql':
      "SELECT o.id, o.customer, v.customer IS NOT NULL AS vip FROM shop.orders o LEFT JOIN read_csv('data/vip.csv') v USING (customer) ORDER BY o.id",
    'ripples/ts_ok.ts': `import { readFileSync } from 'node:fs';
import { ripple } from 'duckstring/pond';
export const ts_ok = ripple({ name: 'ts_ok', async run(ctx) {
  const vips = readFileSync(ctx.file('data/vip.csv'), 'utf8').trim().split('\\n').slice(1);
  ctx.log.info('vips', { n: vips.length });
  await ctx.writeTable('ts_ok', "SELECT o.id, o.amount FROM " + ctx.readTable('shop.orders') + " o JOIN read_csv('data/vip.csv') v USING (customer) WHERE $n = 1 ORDER BY o.id", { n: vips.length });
} });
export const ts_env = ripple({ name: 'ts_env', async run(ctx) {
  await ctx.writeTable('ts_env', 'SELECT $keys AS keys', { keys: Object.keys(process.env).filter((k) => k !== 'TZ').join(',') });
} });
export const ts_exit = ripple({ name: 'ts_exit', run() { process.exit(3); } });
`,
  };
  for (const [name, sql] of SQL_ATTACKS) files[`ripples/${name}.sql`] = sql(root);
  files['ripples/attacks.ts'] = [
    "import { readFileSync, writeFileSync, promises } from 'node:fs';",
    "import { createRequire } from 'node:module';",
    "import { spawnSync } from 'node:child_process';",
    "import { ripple } from 'duckstring/pond';",
    ...TS_ATTACKS.map(([name, body]) => tsRipple(name, body(root))),
  ].join('\n');
  await writeFiles(codeDir, files);

  runner = await createRunner({
    line: 'demo@1',
    name: 'demo',
    major: 1,
    version: '1.0.0',
    codeDir,
    registryPath: path.join(lineDir, 'registry.duckdb'),
    dataDir: path.join(lineDir, 'data'),
    ledgerPath: path.join(lineDir, 'pond.db'),
    ripples: [],
    immediateRetries: 0,
    // Must never be read: a Ripple's Sources are its run's inputs.
    sources: { shop: path.join(root, 'ponds', 'other', 'm1', 'data') },
    pollWaitMs: 1000,
    watchdogMs: 30_000,
  });
});

afterAll(async () => {
  await runner?.close();
  await cleanupTempDirs();
});

async function refusal(ripple: string, runInputs: Record<string, string> = inputs): Promise<Error> {
  try {
    await runner.run(ripple, f++, runInputs);
  } catch (err) {
    return err as Error;
  }
  throw new Error(`expected Ripple ${ripple} to fail`);
}

describe('a deployed SQL Ripple reaches only its own files', () => {
  for (const [name, , expected] of SQL_ATTACKS) {
    it(`${name} fails the run, naming what was refused`, async () => {
      const err = await refusal(name);
      expect(err).toBeInstanceOf(RippleError);
      expect(err.message).toMatch(new RegExp(`^Ripple "${name}" \\(ripples/${name}\\.sql\\) failed: `));
      expect(err.message).toMatch(expected);
    });
  }
});

describe('a deployed TypeScript Ripple reaches only its own files', () => {
  for (const [name, , expected] of TS_ATTACKS) {
    it(`${name} fails the run, naming what was refused`, async () => {
      const err = await refusal(name);
      expect(err).toBeInstanceOf(RippleError);
      expect(err.message).toMatch(new RegExp(`^Ripple "${name}" \\(ripples/attacks\\.ts\\) failed: `));
      expect(err.message).toMatch(expected);
    });
  }

  it('sees none of the Duck environment (its token above all)', async () => {
    process.env.DUCKSTRING_DUCK_TOKEN = 'secret-token';
    try {
      await runner.run('ts_env', f, inputs);
    } finally {
      delete process.env.DUCKSTRING_DUCK_TOKEN;
    }
    await runner.publish(f++);
    expect(await publishedRows('ts_env')).toEqual([{ keys: '' }]);
  });

  it('a Ripple ending its host fails alone; the next TS Ripple gets a fresh host', async () => {
    const err = await refusal('ts_exit');
    expect(err).toBeInstanceOf(RippleError);
    expect(err.message).toMatch(/the Ripple host exited \(code 3\)/);
    await runner.run('ts_ok', f++, inputs);
  });
});

describe('what a Ripple may do still works', () => {
  it('SQL and TS Ripples read their inputs and shipped data files, and write tables', async () => {
    const runF = f++;
    const [sql, ts] = await Promise.all([
      runner.run('sql_ok', runF, inputs),
      runner.run('ts_ok', runF, inputs),
    ]);
    expect(sql.rows).toBe(3);
    expect(ts.rows).toBe(2);
    await runner.publish(runF);
    expect(await publishedRows('sql_ok')).toEqual([
      { id: 1, customer: 'ana', vip: true },
      { id: 2, customer: 'bo', vip: false },
      { id: 3, customer: 'ana', vip: true },
    ]);
    expect(await publishedRows('ts_ok')).toEqual([
      { id: 1, amount: 10.5 },
      { id: 3, amount: 1.5 },
    ]);
  });

  it('inputs must lie inside the line folder', async () => {
    for (const bad of ['../../other/m1/data/secret.parquet', `${root}/ponds/other/m1/data/secret.parquet`]) {
      const err = await refusal('sql_ok', { 'shop.orders': bad });
      expect(err.message).toBe(`input shop.orders: "${bad}" is not a path inside the line's folder`);
    }
  });

  it('a Source without an input is unpublished for the run, whatever the Source directory holds', async () => {
    const err = await refusal('sql_ok', {});
    expect(err.message).toMatch(/reads shop\.orders, but Source "shop" has no published snapshot/);
  });
});

describe('loading a Pond runs its modules in the sandbox', () => {
  it('a module reading a secret at top level fails to load, naming what was refused', async () => {
    const dir = await makePond({
      'ripples/greedy.ts': `import { readFileSync } from 'node:fs';
import { ripple } from 'duckstring/pond';
export const key = readFileSync(${JSON.stringify(`${root}/admin.key`)}, 'utf8');
export const greedy = ripple({ name: 'greedy', run() {} });`,
    });
    const err = await loadPond(dir).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PondError);
    expect((err as PondError).message).toMatch(
      /ripples: loading the Ripple modules failed: refused by the Ripple sandbox: reading .*\/admin\.key/,
    );
  });
});

describe('the run ledger keeps each run with its inputs', () => {
  it('a restarted Duck finds the inputs of an incomplete run', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'pond.db');
    const first = new RunLedger(file);
    first.beginRun(5, 0, '1.0.0', { 'shop.orders': 'inputs/run-5/shop.orders.parquet' });
    first.close();
    const again = new RunLedger(file);
    expect(again.inputs(5)).toEqual({ 'shop.orders': 'inputs/run-5/shop.orders.parquet' });
    again.endRun(5);
    expect(again.inputs(5)).toEqual({});
    again.close();
  });

  it('a ledger from before inputs gains the column', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'pond.db');
    const old = new Database(file);
    old.exec(
      'CREATE TABLE runs (f REAL PRIMARY KEY, immediate_retries INTEGER NOT NULL, version TEXT NOT NULL)',
    );
    old.exec("INSERT INTO runs VALUES (7, 0, '1.0.0')");
    old.close();
    const ledger = new RunLedger(file);
    expect(ledger.inputs(7)).toEqual({});
    expect(ledger.read().runs).toEqual([{ f: 7, immediateRetries: 0 }]);
    ledger.close();
  });
});

async function publishedRows(table: string): Promise<Record<string, unknown>[]> {
  const dataDir = path.join(lineDir, 'data');
  const manifest = await readManifest(dataDir);
  const entry = manifest?.tables[table];
  if (!entry) throw new Error(`${table} is not published`);
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const file = tableFilePath(dataDir, entry);
    return (await conn.runAndReadAll(`SELECT * FROM read_parquet('${file}')`)).getRowObjectsJS();
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
