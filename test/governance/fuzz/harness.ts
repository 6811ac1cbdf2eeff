/**
 * Runs one generated query both ways on long-lived DuckDB connections and judges the pair:
 * - governed: Governor.governQuery, then the rewritten SQL over views of the RAW snapshots, named
 *   as the rewritten SQL names them (rawViewsFor — the one place that knows those names);
 * - reference: the user's own text over the principal's physically filtered and masked copies,
 *   with current_principal() and is_member() defined as macros with the principal's answers.
 * One instance per side instead of one per query (QueryExecutor) is what makes 20,000 cases fit in
 * CI; the test also runs a sample through QueryExecutor to show the two agree.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { QueryResult } from '../../../src/compute/query.js';
import { readResult } from '../../../src/compute/results.js';
import { GovernanceError } from '../../../src/governance/errors.js';
import { type GovernedQuery, type GovernedTable, Governor } from '../../../src/governance/rewrite.js';
import { sanitizeExecutionError } from '../../../src/governance/sanitize.js';
import { DuckDBInstance } from '../../../src/shared/duckdb.js';
import type { Snapshots } from '../fixtures.js';
import type { GeneratedQuery } from './generator.js';

/** Hidden values by principal: a match in any governed answer or error is a leak. */
const HIDDEN_FROM_NON_ADMINS: RegExp[] = [
  /zq_user/i,
  /hidden-/i,
  /nm_/i,
  /salary-secret/i,
  /\berin\b/i,
  /\bfrank\b/i,
];
const HIDDEN_FROM: Record<string, RegExp[]> = {
  bob: HIDDEN_FROM_NON_ADMINS,
  dashboard: HIDDEN_FROM_NON_ADMINS,
  // carol's own salary row is hers; the other employees' are not.
  carol: [...HIDDEN_FROM_NON_ADMINS, /\bbob\b/i],
  root: [],
};

export const FUZZ_PRINCIPALS = Object.keys(HIDDEN_FROM);

/** The raw relation each governed table is read through: `schema.name` over a raw snapshot. */
export interface RawView {
  schema: string;
  name: string;
  /** Catalog key ('pond@N.table'), to find the raw file. */
  key: string;
}

/** The raw schema the rewrite is told to use, so the governed connection's views can be reused. */
export const FUZZ_RAW_SCHEMA = 'raw_fuzz';

/**
 * THE name mapping: where the rewritten SQL expects each governed table's raw rows (the table's
 * `relation`, 'schema.view'). If the rewrite changes how it names raw relations, change this.
 */
export function rawViewsFor(governed: GovernedQuery): RawView[] {
  return governed.tables.map((t: GovernedTable) => {
    const [schema, name] = t.relation.split('.') as [string, string];
    return { schema, name, key: t.key };
  });
}

/** What QueryExecutor must be given for the same governed query (same names, raw files). */
export function executorTablesFor(governed: GovernedQuery, snapshots: Snapshots): Map<string, string> {
  return new Map(rawViewsFor(governed).map((v) => [`${v.schema}.${v.name}`, snapshots.raw.get(v.key)!]));
}

export type Outcome = { ok: true; result: QueryResult } | { ok: false; message: string; error: unknown };

const QUERY_TIMEOUT_MS = 10_000;

/** One DuckDB connection, used by one query at a time; views are (re)pointed just before a query. */
class SerialDatabase {
  private queue: Promise<unknown> = Promise.resolve();
  /** '"schema"."name"' → the file it reads now. */
  private readonly views = new Map<string, string>();

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  /**
   * Loads each snapshot into an in-memory table (`src."pond@N.table"`): scans cost less than
   * re-reading Parquet for every query, and afterwards the database reads no file at all.
   */
  static async open(files: readonly string[]): Promise<SerialDatabase> {
    const instance = await DuckDBInstance.create(':memory:', {
      threads: '1',
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    });
    const connection = await instance.connect();
    const statements = ['CREATE SCHEMA src'];
    for (const file of new Set(files)) {
      statements.push(
        `CREATE TABLE src.${quoteIdent(file)} AS SELECT * FROM read_parquet(${quoteLiteral(file)})`,
      );
    }
    await connection.run(statements.join('; '));
    // Not lockDown(): its lock_configuration would forbid switching the optimizer off for a
    // re-check; only SELECT statements (checked by the rewrite or written by the generator) run here.
    await connection.run(
      "SET memory_limit = '512MiB'; SET preserve_insertion_order = false; SET enable_external_access = false",
    );
    return new SerialDatabase(instance, connection);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Inside the queue: points each view at its file, creating or replacing only what changed. */
  private async pointViews(views: readonly { schema: string; name: string; file: string }[]): Promise<void> {
    const statements: string[] = [];
    for (const v of views) {
      const id = `${quoteIdent(v.schema)}.${quoteIdent(v.name)}`;
      if (this.views.get(id) === v.file) continue;
      this.views.set(id, v.file);
      statements.push(
        `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(v.schema)}`,
        `CREATE OR REPLACE VIEW ${id} AS SELECT * FROM src.${quoteIdent(v.file)}`,
      );
    }
    if (statements.length > 0) await this.connection.run(statements.join('; '));
  }

  /** Creates or repoints views (outside a query). */
  defineViews(views: readonly { schema: string; name: string; file: string }[]): Promise<void> {
    return this.serial(() => this.pointViews(views));
  }

  exec(sql: string): Promise<void> {
    return this.serial(async () => {
      await this.connection.run(sql);
    });
  }

  /** Runs one query, after pointing `views` at their files (atomically: no other query in between). */
  run(
    sql: string,
    views: readonly { schema: string; name: string; file: string }[] = [],
    optimizer = true,
  ): Promise<Outcome> {
    return this.serial(async () => {
      await this.pointViews(views);
      if (!optimizer) await this.connection.run('PRAGMA disable_optimizer');
      const timer = setTimeout(() => this.connection.interrupt(), QUERY_TIMEOUT_MS);
      try {
        // Materialised, not streamed: the answers are small, and chunk-by-chunk reads of a
        // streaming result cost more main-thread time per case than the rows themselves.
        const result = await this.connection.run(sql);
        return { ok: true as const, result: await readResult(result, { rowCountLimit: 20_000 }) };
      } catch (error) {
        return { ok: false as const, message: (error as Error).message, error };
      } finally {
        clearTimeout(timer);
        if (!optimizer) await this.connection.run('PRAGMA enable_optimizer');
      }
    });
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

export interface FuzzFixture {
  /** Two governors (each owns a parser instance that works on one call at a time) run in parallel. */
  governors: Governor[];
  snapshots: Snapshots;
  /** Directory holding the raw snapshots: must never appear in an answer or error. */
  rawDirectory: string;
  governed: SerialDatabase;
  references: Map<string, SerialDatabase>;
  close(): void;
}

/** Which snapshot each principal's reference reads, by query name ('sales.daily', 'sales@2.daily', …). */
function referenceTables(principal: string, s: Snapshots): Map<string, string> {
  if (principal === 'root') return s.rawByQueryName;
  // Everyone else in the fixture sees sales as bob does (EU rows, masks); hr only as carol sees it.
  const out = new Map(s.bobReference);
  for (const [name, file] of s.carolReference) if (name.startsWith('hr')) out.set(name, file);
  return out;
}

export async function openFuzzFixture(snapshots: Snapshots, rawDirectory: string): Promise<FuzzFixture> {
  const governors = [await Governor.create(), await Governor.create()];
  await governors[0]!.validatePolicy(snapshots.policy, snapshots.catalog);
  const governed = await SerialDatabase.open([...snapshots.raw.values()]);
  const references = new Map<string, SerialDatabase>();
  for (const principal of FUZZ_PRINCIPALS) {
    const tables = referenceTables(principal, snapshots);
    const db = await SerialDatabase.open([...new Set(tables.values())]);
    await db.defineViews(
      [...tables].map(([name, file]) => {
        const [schema, table] = name.split('.') as [string, string];
        return { schema, name: table, file };
      }),
    );
    const groups = [...snapshots.policy.groupsOf(principal)].map(quoteLiteral);
    await db.exec(
      `CREATE MACRO current_principal() AS ${quoteLiteral(principal)}; CREATE MACRO is_member(g) AS lower(g) IN (${groups.length > 0 ? groups.join(', ') : 'NULL'})`,
    );
    references.set(principal, db);
  }
  return {
    governors,
    snapshots,
    rawDirectory,
    governed,
    references,
    close() {
      for (const governor of governors) governor.close();
      governed.close();
      for (const db of references.values()) db.close();
    },
  };
}

export type Verdict =
  | 'refused'
  | 'same'
  | 'both-failed'
  | 'error-one-side'
  | 'optimizer-dependent'
  | 'problem';

/** Errors raised while evaluating expressions over rows (as opposed to binding the query). */
const RUNTIME_ERROR = /^(Conversion Error|Invalid Input Error|Out of Range Error): /;
const INTERNAL_ERROR = /^(Invalid Error|INTERNAL Error): /;

export interface CaseReport {
  query: GeneratedQuery;
  verdict: Verdict;
  problems: string[];
  governedSql?: string;
  governed?: Outcome;
  reference?: Outcome;
  refusal?: string;
}

let turn = 0;

export function governQuery(fx: FuzzFixture, query: GeneratedQuery): Promise<GovernedQuery> {
  turn = (turn + 1) % fx.governors.length;
  return fx.governors[turn]!.governQuery(query.sql, {
    principal: query.principal,
    policy: fx.snapshots.policy,
    catalog: fx.snapshots.catalog,
    rawSchema: FUZZ_RAW_SCHEMA,
  });
}

/** Runs the governed SQL on the fast path (the long-lived connection over raw views). */
export async function runGoverned(
  fx: FuzzFixture,
  governed: GovernedQuery,
  optimizer = true,
): Promise<Outcome> {
  const views = rawViewsFor(governed).map((v) => ({ ...v, file: fx.snapshots.raw.get(v.key)! }));
  return fx.governed.run(governed.sql, views, optimizer);
}

/** Every problem with one text the caller (or the audit log) could see. */
function leaksIn(text: string, principal: string, rawDirectory: string, where: string): string[] {
  const out: string[] = [];
  for (const pattern of HIDDEN_FROM[principal] ?? HIDDEN_FROM_NON_ADMINS) {
    const m = pattern.exec(text);
    if (m) out.push(`${where} contains hidden value "${m[0]}": ${excerpt(text, m.index)}`);
  }
  if (text.includes(rawDirectory)) out.push(`${where} contains the raw snapshot directory`);
  return out;
}

function excerpt(text: string, at: number): string {
  return JSON.stringify(text.slice(Math.max(0, at - 80), at + 80));
}

/** Rows as comparable text: floats to 12 significant digits (aggregation order may differ). */
export function canonicalRows(result: QueryResult, ordered: boolean): string[] {
  const rows = result.rows.map((r) =>
    JSON.stringify(r, (_k, v: unknown) =>
      typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(12)) : v,
    ),
  );
  return ordered ? rows : rows.sort();
}

export async function runCase(fx: FuzzFixture, query: GeneratedQuery): Promise<CaseReport> {
  const { principal } = query;
  const reference = fx.references.get(principal)!;
  let governed: GovernedQuery;
  try {
    governed = await governQuery(fx, query);
  } catch (error) {
    if (!(error instanceof GovernanceError)) {
      return {
        query,
        verdict: 'problem',
        problems: [`governQuery threw ${(error as Error)?.name}: ${(error as Error)?.message}`],
      };
    }
    const problems = leaksIn(error.message, principal, fx.rawDirectory, 'the refusal message');
    return {
      query,
      verdict: problems.length > 0 ? 'problem' : 'refused',
      problems,
      refusal: `${error.code}: ${error.message}`,
    };
  }
  const [got, want] = await Promise.all([runGoverned(fx, governed), reference.run(query.sql)]);
  const problems: string[] = [];
  if (query.mustRefuse) problems.push('the query calls a refused function or table but was not refused');
  if (got.ok) {
    problems.push(
      ...leaksIn(
        JSON.stringify([got.result.columns, got.result.rows]),
        principal,
        fx.rawDirectory,
        'the governed answer',
      ),
    );
  } else {
    problems.push(...leaksIn(got.message, principal, fx.rawDirectory, 'the governed error (audit detail)'));
    const sanitized = sanitizeExecutionError(got.error);
    problems.push(
      ...leaksIn(sanitized.publicMessage, principal, fx.rawDirectory, 'the governed error (public message)'),
    );
  }
  let verdict: Verdict = 'same';
  const differences = compareOutcomes(got, want, query.ordered);
  if (differences === 'error-one-side') verdict = 'error-one-side';
  else if (differences.length > 0) {
    // DuckDB's optimiser sometimes answers one of two equivalent queries wrongly (decorrelated
    // aggregates, internal errors). If both agree with the optimiser off, the rewrite is not at fault.
    const [plainGot, plainWant] = await Promise.all([
      runGoverned(fx, governed, false),
      reference.run(query.sql, [], false),
    ]);
    const plain = compareOutcomes(plainGot, plainWant, query.ordered);
    if (plain !== 'error-one-side' && plain.length === 0) verdict = 'optimizer-dependent';
    else problems.push(...differences);
  }
  if (problems.length > 0) verdict = 'problem';
  else if (verdict === 'same' && !got.ok) verdict = 'both-failed';
  return { query, verdict, problems, governedSql: governed.sql, governed: got, reference: want };
}

/**
 * How two outcomes differ ([] when they agree). DuckDB does not fix the order in which it evaluates
 * expressions, and the governed plan has optimisation barriers the reference lacks, so an error
 * raised on data (a failed cast, error()) may hit one side only: 'error-one-side', tolerated and
 * counted (a hidden value in its text is still a failure, checked separately).
 */
function compareOutcomes(got: Outcome, want: Outcome, ordered: boolean): string[] | 'error-one-side' {
  const dataError = (o: Outcome) => !o.ok && RUNTIME_ERROR.test(o.message);
  const problems: string[] = [];
  if (want.ok && !got.ok) {
    if (dataError(got)) return 'error-one-side';
    problems.push(`the reference succeeded but the governed query failed: ${firstLine(got.message)}`);
  } else if (!want.ok && got.ok) {
    // An internal DuckDB error on the reference side is DuckDB's bug, not the rewrite's.
    if (dataError(want) || INTERNAL_ERROR.test(want.message)) return 'error-one-side';
    problems.push(`the reference failed (${firstLine(want.message)}) but the governed query returned data`);
  } else if (want.ok && got.ok) {
    const gotColumns = JSON.stringify(got.result.columns);
    const wantColumns = JSON.stringify(want.result.columns);
    if (gotColumns !== wantColumns)
      problems.push(`columns differ: governed ${gotColumns}, reference ${wantColumns}`);
    if (got.result.truncated !== want.result.truncated) problems.push('one answer was truncated');
    else {
      const a = canonicalRows(got.result, ordered);
      const b = canonicalRows(want.result, ordered);
      if (a.length !== b.length || a.some((row, i) => row !== b[i])) {
        problems.push(`rows differ: governed ${a.length} rows, reference ${b.length} rows`);
      }
    }
  }
  return problems;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 200);
}

/** A failure as text that reproduces it: seed, case, principal, SQL, rewritten SQL, both answers. */
export function describeCase(report: CaseReport, seed: number, index: number): string {
  const show = (o: Outcome | undefined) =>
    o === undefined
      ? '-'
      : o.ok
        ? `${o.result.rows.length} rows ${JSON.stringify(o.result.columns.map((c) => `${c.name}:${c.type}`))} ${JSON.stringify(o.result.rows.slice(0, 5)).slice(0, 600)}`
        : `error: ${o.message.slice(0, 400)}`;
  return [
    `case #${index} (reproduce: DUCKSTRING_FUZZ_SEED=${seed} DUCKSTRING_FUZZ_ONLY=${index} npx vitest run test/governance/fuzz-)`,
    `  principal: ${report.query.principal}`,
    `  sql:       ${report.query.sql}`,
    `  problems:  ${report.problems.join('\n             ')}`,
    `  governed:  ${report.governedSql ?? report.refusal ?? '-'}`,
    `  got:       ${show(report.governed)}`,
    `  reference: ${show(report.reference)}`,
  ].join('\n');
}
