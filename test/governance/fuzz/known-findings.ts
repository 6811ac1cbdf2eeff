/**
 * Wrong answers the fuzzer found in the rewrite that were not fixed when it was written (none is a
 * leak: a report with a hidden value, a raw path, or a must-refuse query that ran never matches).
 * The fuzzer counts a matching case as a known finding instead of a failure and prints how many it
 * met; remove an entry when its fix lands — the fuzzer then fails if the shape still goes wrong.
 */
import type { CaseReport } from './harness.js';

export interface KnownFinding {
  id: string;
  /** What goes wrong, with a minimal reproduction. */
  summary: string;
  matches(report: CaseReport): boolean;
}

/**
 * Findings fixed in the rewrite, kept as corpus-fuzz.ts entries: `kept-column-name-differs` (an
 * unaliased item beside a star was named from json_deserialize_sql's text, not DuckDB's),
 * `cross-join-becomes-comma` (json_deserialize_sql wrote `a CROSS JOIN b JOIN c` as `a , b JOIN c`,
 * which binds as `a , (b JOIN c)`) and `same-table-name-twice` (two unaliased `daily` tables from
 * different majors got the same alias). A matcher must never excuse a hidden value, a raw path, or
 * a query that should have been refused: it matches wrong-answer problems only.
 */
export const KNOWN_FINDINGS: KnownFinding[] = [
  {
    id: 'internal-error-on-governed-plan',
    summary:
      'DuckDB raises an INTERNAL Error binding the rewritten text of some nested LATERAL joins that the ' +
      'original text binds fine; the governed query fails (no data). Repro (carol): SELECT l4.c3, ' +
      "[l8.c6, left(l8.c7, 4)], count(*) OVER (PARTITION BY k) FROM (VALUES ('EU', 1), ('US', 2), " +
      "('APAC', 3)) v1(r, k), LATERAL (SELECT (hash(r) % 1000)::BIGINT AS c3 FROM sales.daily t2 WHERE " +
      't2.qty = v1.k) l4 CROSS JOIN LATERAL (SELECT max(customer_email) OVER (PARTITION BY t5.id) AS c6, ' +
      't5.region AS c7 FROM Sales.DAILY AS t5 WHERE t5.id = v1.k QUALIFY count(*) OVER () <= 3) l8 WHERE ' +
      'v1.r >= \'APAC\' ORDER BY 1 — governed: INTERNAL Error: Failed to bind column reference "r".',
    matches: (report) =>
      report.problems.length > 0 &&
      report.problems.every((p) => p.startsWith('the reference succeeded but the governed query failed')) &&
      report.governed?.ok === false &&
      /^INTERNAL Error: Failed to bind column reference/.test(report.governed.message),
  },
];
