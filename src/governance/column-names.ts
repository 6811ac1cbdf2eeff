/**
 * The names DuckDB itself gives a query's result columns. An unaliased item such as
 * `(SELECT max(x) FROM sales.daily)` is named after its own text, which the rewrite changes; the
 * rewrite therefore sets the original name as an explicit alias. Writing that name back from the
 * parse tree is lossy (`CAST(x AS "DATE")` comes back as `CAST(x AS DATE)`, `CROSS JOIN` as a
 * comma), so the names are taken from DuckDB: the caller's own text is bound, never executed,
 * against empty stand-ins of the catalog's tables on the parser's private instance.
 */
import type { Catalog } from './catalog.js';
import { quoteIdentifier } from './policy-sql.js';
import type { DuckSqlParser } from './sql-parser.js';

export class ColumnNames {
  private built: { signature: string; schemas: string[] } | undefined;
  private building: Promise<void> = Promise.resolve();

  constructor(private readonly parser: DuckSqlParser) {}

  /** The result column names of `sql` as DuckDB names them, or null when it cannot bind here. */
  async of(sql: string, catalog: Catalog): Promise<string[] | null> {
    try {
      await this.ensure(catalog);
      return (await this.parser.describe(sql)).map((c) => c.name);
    } catch {
      return null;
    }
  }

  private ensure(catalog: Catalog): Promise<void> {
    const signature = catalogSignature(catalog);
    this.building = this.building
      .catch(() => undefined)
      .then(async () => {
        if (this.built?.signature === signature) return;
        const statements: string[] = [];
        for (const schema of this.built?.schemas ?? []) {
          statements.push(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
        }
        const schemas = new Set<string>();
        const tables: string[] = [];
        for (const t of catalog.all()) {
          const columns = t.columns.map((c) => `${quoteIdentifier(c.name)} ${c.type}`).join(', ');
          const qualifiers = [`${t.pond}@${t.major}`];
          if (catalog.selectedMajor(t.pond) === t.major) qualifiers.push(t.pond);
          for (const q of qualifiers) {
            schemas.add(q);
            tables.push(`CREATE TABLE ${quoteIdentifier(q)}.${quoteIdentifier(t.name)} (${columns})`);
          }
        }
        for (const schema of schemas)
          statements.push(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
        statements.push(...tables);
        // Stand-ins for the policy functions; the rewrite replaces the real calls by constants.
        statements.push(
          `CREATE OR REPLACE MACRO current_principal() AS ''`,
          `CREATE OR REPLACE MACRO is_member(g) AS false`,
        );
        // Until the build succeeds, every schema it may have created is dropped by the next one.
        this.built = { signature: '', schemas: [...new Set([...(this.built?.schemas ?? []), ...schemas])] };
        await this.parser.runTrusted(statements.join(';\n'));
        this.built = { signature, schemas: [...schemas] };
      });
    return this.building;
  }
}

function catalogSignature(catalog: Catalog): string {
  return JSON.stringify(
    catalog.all().map((t) => [t.key, catalog.selectedMajor(t.pond) === t.major, t.columns]),
  );
}
