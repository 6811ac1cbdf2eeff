/**
 * Loads a Pond directory: pond.toml, then every Ripple under `ripples/`.
 *
 * - `ripples/*.ts` are compiled with esbuild into one ESM bundle, which a sandboxed Ripple host
 *   (src/duck/ripple-host.ts) imports; every exported `ripple(...)` is a Ripple. Compile errors
 *   surface here, as `file:line:column: message`.
 *   A Ripple may import only `duckstring/pond`, Node built-ins and files inside the Pond, so what
 *   `pond check` accepts is exactly what a deployed copy can run.
 * - `ripples/NAME.sql` is one SELECT whose result becomes table NAME; its parents are the Ripples
 *   that write the tables it reads (found with DuckDB's parser), and every `x.table` it reads must
 *   name a Source declared in pond.toml.
 *
 * Every problem found is reported at once in a `PondError`.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import type { RippleSpec } from '../engine/topology.js';
import { validateTopology } from '../engine/topology.js';
import { PondError, type PondManifest, parseManifest } from '../pond/manifest.js';
import { nameProblem, tableNameProblem } from '../pond/names.js';
import { analyzeSelect } from '../pond/sql-refs.js';
import { DuckDBInstance } from '../shared/duckdb.js';
import { BUNDLE_DIR, RippleHost, writeBundle } from './ripple-host-client.js';

export interface LoadedRipple {
  name: string;
  kind: 'sql' | 'ts';
  /** Pond-relative file that declares it, e.g. `ripples/daily_sales.sql`. */
  file: string;
  /** Ripples of this Pond that must finish first (sorted). */
  parents: string[];
  /** Tables it writes. A `.sql` Ripple writes exactly the table named after it. */
  tables: string[];
  /** `source.table` references found in a `.sql` Ripple (TS Ripples read dynamically). */
  sourceReads: string[];
  /** The SELECT of a `.sql` Ripple. */
  sql?: string;
}

export interface LoadedPond {
  /** Absolute Pond directory. */
  dir: string;
  manifest: PondManifest;
  /** In a topological order (parents first; ties by name). */
  ripples: LoadedRipple[];
  /** Every table the Pond writes (what gets published), sorted. */
  tables: string[];
  /** The Ripple graph as the engine takes it. */
  rippleSpecs: RippleSpec[];
  /** The compiled TS Ripples (one ESM file), run only inside a Ripple host; null without TS Ripples. */
  bundleFile: string | null;
}

const RIPPLES_DIR = 'ripples';

export async function loadPond(dir: string): Promise<LoadedPond> {
  const root = path.resolve(dir);
  const manifestFile = path.join(root, 'pond.toml');
  if (!existsSync(manifestFile)) {
    const what = existsSync(root) ? 'no pond.toml in it' : 'directory does not exist';
    throw new PondError([`${root}: not a Pond (${what})`]);
  }
  const manifest = parseManifest(await readFile(manifestFile, 'utf8'), 'pond.toml');
  const files = await listRippleFiles(root);
  const issues: string[] = [];

  const { ripples: tsRipples, bundleFile } = await loadTsRipples(
    root,
    files.filter((f) => f.endsWith('.ts')),
    issues,
  );
  const sqlFiles = files.filter((f) => f.endsWith('.sql'));
  if (issues.length > 0) throw new PondError(issues);
  if (tsRipples.length + sqlFiles.length === 0) {
    throw new PondError([
      `a Pond needs at least one Ripple (add ${RIPPLES_DIR}/NAME.sql or a ${RIPPLES_DIR}/*.ts exporting ripple(...))`,
    ]);
  }

  // Who writes which table: TS Ripples declare theirs, a .sql Ripple writes the table named after it.
  // Several Ripples may write one table (their writes queue); a reader then depends on all of them.
  const writers = new Map<string, LoadedRipple[]>();
  const sqlRipples: LoadedRipple[] = sqlFiles.map((file) => {
    const name = path.basename(file, '.sql');
    return { name, kind: 'sql', file, parents: [], tables: [name], sourceReads: [] };
  });
  for (const r of [...tsRipples, ...sqlRipples]) {
    const nameIssue = nameProblem(r.name);
    if (nameIssue) issues.push(`${r.file}: Ripple ${nameIssue}`);
    for (const table of r.tables) {
      const tableIssue = tableNameProblem(table);
      if (tableIssue) issues.push(`${r.file}: ${tableIssue}`);
      else writers.set(table, [...(writers.get(table) ?? []), r]);
    }
  }
  if (issues.length > 0) throw new PondError(issues);

  await inferSqlParents(root, manifest, sqlRipples, writers, issues);
  const ripples = [...tsRipples, ...sqlRipples].sort((a, b) => a.name.localeCompare(b.name));
  const rippleSpecs: RippleSpec[] = ripples.map((r) => ({
    name: r.name,
    parents: r.parents.map((p) => ({ name: p, optional: false })),
  }));
  for (const issue of validateTopology(
    [
      {
        name: manifest.name,
        sources: [],
        ripples: rippleSpecs,
        windows: [],
        immediateRetries: manifest.immediateRetries,
        sourceRetries: manifest.sourceRetries,
        alwaysRun: false,
      },
    ],
    'pond',
  )) {
    const at = /ripples\[(\d+)\]/.exec(issue.path);
    const ripple = at ? ripples[Number(at[1])] : undefined;
    issues.push(ripple ? `${ripple.file}: ${issue.message}` : issue.message);
  }
  if (issues.length > 0) throw new PondError(issues);

  return {
    dir: root,
    manifest,
    bundleFile,
    ripples: topologicalOrder(ripples),
    tables: [...writers.keys()].sort(),
    rippleSpecs,
  };
}

async function listRippleFiles(root: string): Promise<string[]> {
  const dir = path.join(root, RIPPLES_DIR);
  if (!existsSync(dir) || !(await stat(dir)).isDirectory()) return [];
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter(
      (e) => e.isFile() && (e.name.endsWith('.sql') || (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))),
    )
    .map((e) => `${RIPPLES_DIR}/${e.name}`)
    .sort();
}

/** The SDK source the bundle uses for `duckstring/pond`: compiled JS in dist, TS when run from src. */
function sdkEntry(): string {
  const js = fileURLToPath(new URL('../pond/sdk.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('../pond/sdk.ts', import.meta.url));
}

const BUILTINS = new Set(builtinModules);

/** Keeps a Ripple bundle self-contained: only the SDK, Node built-ins and the Pond's own files. */
function pondImportsPlugin(root: string): esbuild.Plugin {
  return {
    name: 'duckstring-pond-imports',
    setup(build) {
      build.onResolve({ filter: /^duckstring\/pond$/ }, () => ({ path: sdkEntry() }));
      build.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === 'entry-point' || args.path.startsWith('.') || path.isAbsolute(args.path)) {
          if (args.resolveDir && args.kind !== 'entry-point') {
            const target = path.resolve(args.resolveDir, args.path);
            if (target !== root && !target.startsWith(root + path.sep)) {
              return { errors: [{ text: `cannot import "${args.path}": it is outside the Pond directory` }] };
            }
          }
          return undefined;
        }
        const bare = args.path.replace(/^node:/, '');
        if (args.path.startsWith('node:') || BUILTINS.has(bare)) return { path: args.path, external: true };
        return {
          errors: [
            {
              text: `cannot import "${args.path}": a Ripple may import only duckstring/pond, Node built-ins and files inside the Pond`,
            },
          ],
        };
      });
    },
  };
}

function formatEsbuildMessage(m: esbuild.Message): string {
  const loc = m.location;
  return loc ? `${loc.file}:${loc.line}:${loc.column + 1}: ${m.text}` : m.text;
}

/** Compiles the TS Ripple modules and has a Ripple host describe them (problems go to `issues`). */
async function loadTsRipples(
  root: string,
  files: string[],
  issues: string[],
): Promise<{ ripples: LoadedRipple[]; bundleFile: string | null }> {
  if (files.length === 0) return { ripples: [], bundleFile: null };
  const entry = [
    ...files.map((f, i) => `import * as m${i} from ${JSON.stringify(`./${f}`)};`),
    `export default [${files.map((f, i) => `[${JSON.stringify(f)}, m${i}]`).join(', ')}];`,
  ].join('\n');
  let code: string;
  try {
    const result = await esbuild.build({
      stdin: { contents: entry, resolveDir: root, sourcefile: '<ripples>', loader: 'js' },
      absWorkingDir: root,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      outfile: path.join(BUNDLE_DIR, 'bundle.mjs'),
      sourcemap: 'inline',
      write: false,
      logLevel: 'silent',
      plugins: [pondImportsPlugin(root)],
    });
    code = result.outputFiles[0]?.text ?? '';
  } catch (err) {
    const failure = err as esbuild.BuildFailure;
    if (!Array.isArray(failure.errors)) throw err;
    issues.push(...failure.errors.map(formatEsbuildMessage));
    return { ripples: [], bundleFile: null };
  }
  const bundleFile = await writeBundle('', code);
  // The modules run (top-level code included) only inside a sandboxed Ripple host, never in this
  // process: loading a Pond must not hand its code the loader's files (a Catchment loads uploads).
  let described: Awaited<ReturnType<typeof RippleHost.start>>;
  try {
    described = await RippleHost.start(root, bundleFile);
  } catch (err) {
    issues.push(`${RIPPLES_DIR}: loading the Ripple modules failed: ${(err as Error).message}`);
    return { ripples: [], bundleFile };
  }
  described.host.close();
  issues.push(...described.issues);
  const ripples = described.ripples.map(
    (shape): LoadedRipple => ({
      name: shape.name,
      kind: 'ts',
      file: shape.file,
      parents: [...new Set(shape.parents)].sort(),
      tables: [...new Set(shape.tables)],
      sourceReads: [],
    }),
  );
  return { ripples, bundleFile };
}

/** Parses each .sql Ripple and derives its parents from the tables it reads. */
async function inferSqlParents(
  root: string,
  manifest: PondManifest,
  sqlRipples: LoadedRipple[],
  writers: Map<string, LoadedRipple[]>,
  issues: string[],
): Promise<void> {
  if (sqlRipples.length === 0) return;
  const sources = new Set(manifest.sources.map((s) => s.name));
  const declared =
    sources.size > 0 ? `declared: ${[...sources].join(', ')}` : 'pond.toml declares no Sources';
  // Only parses the Ripples' SQL; locked down all the same, since that SQL is someone else's code.
  const instance = await DuckDBInstance.create(':memory:', {
    enable_external_access: 'false',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const conn = await instance.connect();
  try {
    for (const r of sqlRipples) {
      const text = await readFile(path.join(root, r.file), 'utf8');
      const analysis = await analyzeSelect(conn, text);
      if (!analysis.ok) {
        issues.push(`${r.file}: ${analysis.error}`);
        continue;
      }
      r.sql = text;
      const parents = new Set<string>();
      const reads = new Set<string>();
      for (const ref of analysis.refs) {
        if (ref.catalog !== '') {
          issues.push(
            `${r.file}: "${ref.catalog}.${ref.schema}.${ref.table}": three-part names are not allowed (read a Source as source.table)`,
          );
        } else if (ref.schema !== '') {
          if (sources.has(ref.schema)) reads.add(`${ref.schema}.${ref.table}`);
          else
            issues.push(
              `${r.file}: reads "${ref.schema}.${ref.table}" but "${ref.schema}" is not a Source of this Pond (${declared})`,
            );
        } else if (/[./\\]/.test(ref.table)) {
          // `FROM 'data/x.csv'`: a data file shipped in the Pond, not a table.
        } else {
          const tableWriters = writers.get(ref.table);
          if (tableWriters) for (const w of tableWriters) parents.add(w.name);
          else {
            const tables = [...writers.keys()].sort().join(', ');
            issues.push(
              `${r.file}: reads table "${ref.table}", which no Ripple of this Pond writes (tables: ${tables}); read a Source's table as source.table`,
            );
          }
        }
      }
      r.parents = [...parents].sort();
      r.sourceReads = [...reads].sort();
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** Kahn's algorithm, taking ready Ripples by name so the order is stable. Input must be acyclic. */
function topologicalOrder(ripples: LoadedRipple[]): LoadedRipple[] {
  const pending = new Map(ripples.map((r) => [r.name, new Set(r.parents)]));
  const byName = new Map(ripples.map((r) => [r.name, r]));
  const order: LoadedRipple[] = [];
  while (pending.size > 0) {
    const ready = [...pending.entries()]
      .filter(([, parents]) => parents.size === 0)
      .map(([name]) => name)
      .sort();
    if (ready.length === 0)
      throw new Error('topologicalOrder: cycle (validateTopology should have caught it)');
    for (const name of ready) {
      pending.delete(name);
      order.push(byName.get(name)!);
      for (const parents of pending.values()) parents.delete(name);
    }
  }
  return order;
}
