/**
 * Deployed Pond versions (tables `ponds`, `pond_versions`): one immutable row per uploaded artifact, with
 * its checksum, manifest and root-relative source path. Identity is recorded only here. Deploying (record
 * + select + seed budgets) spans repositories and is `CatchmentStore.deploy`.
 */
import type { Selectable } from 'kysely';
import { z } from 'zod';
import { NotFoundError } from './errors.js';
import { versionSourceRel } from './layout.js';
import { lineSchema, parse, pondNameSchema, versionSchema } from './schemas.js';
import { decodeJsonColumn, type SqlRunner } from './sql.js';
import type { PondVersionsTable } from './tables.js';

export type JsonObject = { [key: string]: unknown };

export interface PondVersion {
  pond: string;
  version: string;
  major: number;
  /** SHA-256 (hex) of the uploaded archive. */
  checksum: string;
  manifest: JsonObject;
  /** Root-relative; resolve with `store.resolve()`. */
  sourcePath: string;
  deployedAt: number;
}

const jsonObjectSchema = z.record(z.unknown());

/** A stored row as the domain shape; the manifest column is checked to be a JSON object. */
export function toPondVersion(r: Selectable<PondVersionsTable>): PondVersion {
  return {
    pond: r.pond,
    version: r.version,
    major: r.major,
    checksum: r.checksum,
    manifest: decodeJsonColumn('manifest', jsonObjectSchema, r.manifest),
    sourcePath: r.source_path,
    deployedAt: r.deployed_at,
  };
}

export class VersionRepository {
  constructor(private readonly sql: SqlRunner) {}

  /**
   * Records a new version (and its Pond, on the first deploy). Inputs are already validated by the
   * caller; a version that exists fails on the primary key, since versions are immutable.
   */
  insert(v: {
    pond: string;
    version: string;
    major: number;
    checksum: string;
    manifestJson: string;
    atMs: number;
  }): void {
    const b = this.sql.build;
    this.sql.run(b.insertInto('ponds').orIgnore().values({ name: v.pond, created_at: v.atMs }));
    this.sql.run(
      b.insertInto('pond_versions').values({
        pond: v.pond,
        version: v.version,
        major: v.major,
        checksum: v.checksum,
        manifest: v.manifestJson,
        source_path: versionSourceRel(v.pond, v.version),
        deployed_at: v.atMs,
      }),
    );
  }

  get(name: string, version: string): PondVersion | null {
    const row = this.sql.first(
      this.sql.build
        .selectFrom('pond_versions')
        .selectAll()
        .where('pond', '=', parse('pond name', pondNameSchema, name))
        .where('version', '=', parse('version', versionSchema, version)),
    );
    return row ? toPondVersion(row) : null;
  }

  /** Every Pond ever deployed, by name. */
  listPonds(): string[] {
    return this.sql.all(this.sql.build.selectFrom('ponds').select('name').orderBy('name')).map((r) => r.name);
  }

  /** Throws NotFoundError unless `version` was deployed on that major line. */
  requireOnLine(name: string, major: number, version: string): void {
    const l = parse('line', lineSchema, { pond: name, major });
    const row = this.sql.first(
      this.sql.build
        .selectFrom('pond_versions')
        .select('version')
        .where('pond', '=', l.pond)
        .where('major', '=', l.major)
        .where('version', '=', version),
    );
    if (!row) throw new NotFoundError(`pond "${name}" has no deployed version ${version} on major ${major}`);
  }
}
