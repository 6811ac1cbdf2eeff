/**
 * `duckstring pond init NAME`: a small Pond that passes `pond check` and `pond run` as created —
 * one `.sql` Ripple reading a data file shipped in the Pond, one TS Ripple building on it.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DomainError } from '../shared/errors.js';
import { nameProblem } from './names.js';

/** `pond init` refused: a bad name, or files it would overwrite. */
export class ScaffoldError extends DomainError {
  constructor(message: string) {
    super({ code: 'scaffold_refused', httpStatus: 400, message });
  }
}

function files(name: string): Record<string, string> {
  return {
    'pond.toml': `[pond]
name = "${name}"
version = "0.1.0"      # semver; the major (0) is the runtime line
immediate_retries = 0  # Ripple re-attempts inside one run
source_retries = 0     # extra runs after a failure, taken when Sources advance

# Sources this Pond reads, with the minimum compatible version (same major).
# A trailing ? makes a Source optional.
[sources]
# other_pond = "1.0.0"
`,
    'ripples/cities.sql': `-- A .sql Ripple: its SELECT becomes the table named after the file (cities).
-- Paths are relative to the Pond's root; Sources are read as source.table.
SELECT city, country, population
FROM read_csv('data/cities.csv')
`,
    'ripples/countries.ts': `import { ripple } from 'duckstring/pond';

// A TypeScript Ripple. Its parents run first; it writes the tables it declares.
export const countries = ripple({
  name: 'countries',
  parents: ['cities'],
  async run(ctx) {
    const { rows } = await ctx.writeTable(
      'countries',
      \`SELECT country, count(*) AS cities, sum(population) AS population
       FROM cities GROUP BY country ORDER BY country\`,
    );
    ctx.log.info('countries written', { rows });
  },
});
`,
    'data/cities.csv': `city,country,population
Lisbon,Portugal,545000
Porto,Portugal,232000
Madrid,Spain,3300000
Valencia,Spain,790000
Lyon,France,516000
`,
    'sample/README.md': `Sample Source data for \`duckstring pond run\`: one file per Source table,
\`sample/<source>/<table>.parquet\` (or \`.csv\` / \`.json\`). Not uploaded on deploy.
`,
    'README.md': `# ${name}

A duckstring Pond.

- \`ripples/*.sql\`: one SELECT each; the result becomes the table named after the file.
- \`ripples/*.ts\`: \`ripple({ name, parents, tables, run(ctx) })\` from \`duckstring/pond\`.
- \`data/\`: files shipped with the Pond (\`read_csv('data/x.csv')\`, \`ctx.file('data/x.csv')\`).
- \`sample/<source>/<table>.csv\`: Source data for local runs.

\`\`\`
duckstring pond check     # validate, print the Ripple graph
duckstring pond run       # run every Ripple once, locally
\`\`\`
`,
    '.gitignore': 'node_modules/\n*.duckdb\n*.duckdb.wal\nout/\n',
  };
}

/** Creates the Pond files under `dir`; refuses to overwrite anything. Returns the files written. */
export async function scaffoldPond(name: string, dir: string): Promise<string[]> {
  const problem = nameProblem(name);
  if (problem) throw new ScaffoldError(`Pond name ${problem}`);
  const root = path.resolve(dir);
  if (existsSync(path.join(root, 'pond.toml')))
    throw new ScaffoldError(`${root} already holds a Pond (pond.toml exists)`);
  const content = files(name);
  const clashes = Object.keys(content).filter((f) => existsSync(path.join(root, f)));
  if (clashes.length > 0) throw new ScaffoldError(`${root}: would overwrite ${clashes.join(', ')}`);
  for (const [file, text] of Object.entries(content)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text, { flag: 'wx' });
  }
  return Object.keys(content);
}
