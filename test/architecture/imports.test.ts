/**
 * The module boundaries of docs/architecture.md, enforced: every relative import in src/ must go to
 * its own module or to one the "may import" table of that document allows. The table is read from
 * the document itself, so the picture a reader sees and the rule the code keeps cannot drift apart.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(import.meta.dirname, '../..');
const SRC = path.join(REPO, 'src');

/** Module → the modules it may import, from the table in docs/architecture.md. */
function allowedImports(): Map<string, Set<string> | 'everything above'> {
  const doc = readFileSync(path.join(REPO, 'docs/architecture.md'), 'utf8');
  const table = new Map<string, Set<string> | 'everything above'>();
  for (const line of doc.split('\n')) {
    const row = /^\|\s*`src\/([a-z]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!row) continue;
    const rule = row[2]!.trim();
    if (rule.startsWith('everything above')) table.set(row[1]!, 'everything above');
    else table.set(row[1]!, new Set([...rule.matchAll(/`([a-z]+)`/g)].map((m) => m[1]!)));
  }
  return table;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

const moduleOf = (file: string): string => path.relative(SRC, file).split(path.sep)[0]!;

/** Relative import and re-export specifiers of a file (type-only ones count: they couple too). */
function relativeImports(text: string): string[] {
  const specifiers: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"`;]*?from\s+'(\.[^']+)'/g))
    specifiers.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g)) specifiers.push(m[1]!);
  return specifiers;
}

describe('module boundaries (docs/architecture.md)', () => {
  const table = allowedImports();
  const modules = readdirSync(SRC, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);

  it('the document lists every module under src/', () => {
    const order = [...table.keys()];
    expect(order.length).toBeGreaterThan(5);
    const missing = modules.filter((m) => !table.has(m));
    expect(missing, 'modules missing from the "may import" table').toEqual([]);
  });

  it('every relative import stays inside what its module may import', () => {
    const order = [...table.keys()];
    const violations: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const from = moduleOf(file);
      const rule = table.get(from);
      for (const spec of relativeImports(readFileSync(file, 'utf8'))) {
        const target = path.resolve(path.dirname(file), spec);
        if (!target.startsWith(SRC + path.sep)) continue;
        const to = moduleOf(target);
        if (to === from) continue;
        const ok =
          rule === 'everything above'
            ? order.indexOf(to) >= 0 && order.indexOf(to) < order.indexOf(from)
            : rule?.has(to) === true;
        if (!ok) violations.push(`${path.relative(REPO, file)} imports ${spec} (src/${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('the engine imports nothing outside itself, not even node built-ins', () => {
    const offenders = sourceFiles(path.join(SRC, 'engine')).filter((file) =>
      /from\s+'(node:|[a-z@])/.test(readFileSync(file, 'utf8')),
    );
    expect(offenders).toEqual([]);
  });

  it('DuckDB values come through src/shared/duckdb.ts (require(), not an ESM import of the package)', () => {
    // An ESM value import of @duckdb/node-api costs every process ~0.1 CPU-s (see that module).
    const offenders = sourceFiles(SRC).filter(
      (file) =>
        !file.endsWith(path.join('shared', 'duckdb.ts')) &&
        /(?:^|\n)\s*import\s+(?!type\b)[^;]*?from\s+'@duckdb\/node-api'/.test(readFileSync(file, 'utf8')),
    );
    expect(offenders).toEqual([]);
  });
});
