/**
 * A Pond run's inputs: its Sources' published tables as the line's own principal may see them.
 *
 * Before a run is dispatched, each table of each Source's current snapshot is governed for the
 * line's principal (`SELECT * FROM "src@M".table` through the rewrite: grants, row filter, masks)
 * and written as Parquet under the line's folder, `inputs/<source>@<major>/<table>-<key>.parquet`.
 * The Duck is given these files and nothing else of its Sources. A table the principal may not
 * read is left out (a Ripple naming it fails like an unknown table).
 *
 * File names are immutable: the key hashes the governed SQL (which carries the filter and masks as
 * they apply to this principal) and the snapshot file it reads, so a re-run or a second run over the
 * same snapshot reuses the file, and a policy change affecting the table produces a new one. When
 * the governed relation is the table itself (no filter, no mask) the file is the published snapshot
 * copied as is (not a hard link: a Ripple may write in its line's folder, and
 * must not reach the Source's published file through it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Catalog } from '../governance/catalog.js';
import { linePrincipal } from '../governance/line-principals.js';
import type { Policy } from '../governance/policy.js';
import type { Governor } from '../governance/rewrite.js';
import { sanitizeExecutionError } from '../governance/sanitize.js';
import type { GovernanceService } from '../governance/service.js';
import { DomainError } from '../shared/errors.js';
import type { DataService } from './data.js';
import { linePaths } from './store/index.js';

export const INPUTS_DIR = 'inputs';

/** Queries writing inputs may take longer than an interactive query. */
const EXPORT_TIMEOUT_MS = 10 * 60_000;

export interface LineRef {
  name: string;
  major: number;
}

/** A run could not be given its inputs; the message is safe for the line's run history. */
export class InputsError extends DomainError {
  constructor(message: string) {
    super({ code: 'inputs_unavailable', httpStatus: 500, message });
  }
}

interface GovernContext {
  governor: Governor;
  principal: string;
  policy: Policy;
  revision: number;
  catalog: Catalog;
  files: ReadonlyMap<string, string>;
  lineDir: string;
}

export class GovernedInputs {
  constructor(
    private readonly root: string,
    private readonly data: DataService,
    private readonly governance: GovernanceService,
  ) {}

  /**
   * Materialises the inputs of one run of `line` reading `sources`: 'source.table' → Parquet path
   * relative to the line's folder.
   */
  async materialise(line: LineRef, sources: readonly LineRef[]): Promise<Record<string, string>> {
    const principal = linePrincipal(line.name, line.major);
    const { policy } = this.governance.current();
    if (!policy.principal(principal)) {
      throw new InputsError(
        `the Pond line ${line.name}@${line.major} runs as principal "${principal}", which is not in the policy; redeploy the line (as an administrator) to create it`,
      );
    }
    const lineDir = linePaths(this.root, line.name, line.major).dir;
    // One policy and one read of the manifests for the whole run, so its inputs are consistent.
    const { revision } = this.governance.current();
    const { catalog, files, release } = await this.data.snapshot(true);
    try {
      const ctx: GovernContext = {
        governor: await this.governance.queryGovernor(),
        principal,
        policy,
        revision,
        catalog,
        files,
        lineDir,
      };
      const inputs: Record<string, string> = {};
      for (const source of sources) {
        for (const table of catalog.all()) {
          if (table.pond !== source.name || table.major !== source.major) continue;
          const securable = {
            kind: 'table',
            pond: table.pond,
            major: table.major,
            table: table.name,
          } as const;
          if (!policy.can(principal, 'SELECT', securable)) continue;
          const file = files.get(table.key);
          if (!file) continue;
          const rel = await this.materialiseTable(ctx, source, table.name, file);
          inputs[`${source.name}.${table.name}`] = rel;
        }
      }
      return inputs;
    } finally {
      release();
    }
  }

  private async materialiseTable(
    ctx: GovernContext,
    source: LineRef,
    table: string,
    file: string,
  ): Promise<string> {
    const { governor, principal, policy, revision, catalog, files, lineDir } = ctx;
    const sql = `SELECT * FROM "${source.name}@${source.major}".${table}`;
    let governed: Awaited<ReturnType<Governor['governQuery']>>;
    try {
      governed = await governor.governQuery(sql, { principal, policy, catalog });
    } catch (error) {
      this.audit(principal, 'denied', { sql, reason: (error as Error).message });
      throw new InputsError(
        `reading Source table ${source.name}.${table} as ${principal} was refused: ${(error as Error).message}`,
      );
    }
    const identity =
      policy.rowFilter(source.name, source.major, table) === undefined &&
      policy.columnMasks(source.name, source.major, table).size === 0;
    // The raw relations' schema is minted per query; the file name must not depend on it.
    let stable = governed.sql;
    for (const t of governed.tables) stable = stable.replaceAll(t.relation.split('.')[0]!, 'raw');
    const key = createHash('sha256')
      .update(`${identity ? 'raw' : stable}\0${file}`)
      .digest('hex')
      .slice(0, 20);
    const rel = path.join(INPUTS_DIR, `${source.name}@${source.major}`, `${table}-${key}.parquet`);
    const destination = path.join(lineDir, rel);
    if (await exists(destination)) return rel;
    await mkdir(path.dirname(destination), { recursive: true, mode: 0o700 });
    const partial = `${destination}.${randomBytes(4).toString('hex')}.partial.parquet`;
    const detail: Record<string, unknown> = {
      sql,
      rewritten_sql: governed.sql,
      tables: governed.tables.map((t) => t.key),
      policy_revision: revision,
      input: rel,
      mode: identity ? 'file' : 'governed',
    };
    try {
      if (identity) {
        // A copy (copy-on-write where the filesystem can), never a hard link: Ripples may write in
        // their line's folder, and through a link they would rewrite the Source's published file.
        await copyFile(file, partial, constants.COPYFILE_FICLONE);
      } else {
        const tables = new Map<string, string>();
        for (const t of governed.tables) {
          const f = files.get(t.key);
          if (f) tables.set(t.relation, f);
        }
        const { rows } = await this.data.executor.exportParquet(
          governed.sql,
          { tables, limits: { timeoutMs: EXPORT_TIMEOUT_MS } },
          partial,
        );
        detail.rows = rows;
      }
      await rename(partial, destination);
    } catch (error) {
      await rm(partial, { force: true });
      const safe = sanitizeExecutionError(error, new Map(governed.tables.map((t) => [t.relation, t.key])));
      this.audit(principal, 'failed', { ...detail, error_id: safe.errorId, error: safe.detail });
      throw new InputsError(
        `could not prepare Source table ${source.name}.${table} for this run: ${safe.publicMessage}`,
      );
    }
    this.audit(principal, 'allowed', detail);
    return rel;
  }

  /**
   * Deletes the line's input files that no run still needs (`keep`: paths relative to the line's
   * folder). Files of runs in flight must be in `keep`.
   */
  async collect(line: LineRef, keep: ReadonlySet<string>): Promise<string[]> {
    const base = path.join(linePaths(this.root, line.name, line.major).dir, INPUTS_DIR);
    const deleted: string[] = [];
    const dirs = await readdir(base).catch(() => [] as string[]);
    for (const dir of dirs) {
      for (const name of await readdir(path.join(base, dir)).catch(() => [] as string[])) {
        const rel = path.join(INPUTS_DIR, dir, name);
        if (keep.has(rel)) continue;
        // A partial file belongs to a materialisation still running, unless a crash left it behind.
        if (name.endsWith('.partial.parquet')) {
          const st = await stat(path.join(base, dir, name)).catch(() => null);
          if (!st || Date.now() - st.mtimeMs < 2 * EXPORT_TIMEOUT_MS) continue;
        }
        await rm(path.join(base, dir, name), { force: true });
        deleted.push(rel);
      }
    }
    return deleted;
  }

  private audit(
    principal: string,
    decision: 'allowed' | 'denied' | 'failed',
    detail: Record<string, unknown>,
  ) {
    this.governance.store.audit({
      at: Date.now(),
      principal,
      kind: 'query',
      action: 'pond_input',
      decision,
      detail,
    });
  }
}

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => null))?.isFile() ?? false;
}
