/**
 * Deploying a Pond archive: unpack into staging, load and compile it (a syntax error fails here, not
 * in a run), check its Sources exist at a compatible version and that the graph stays acyclic, then
 * record the immutable version and switch the line's selection in one transaction. Any failure leaves
 * the Catchment exactly as it was.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { loadPond } from '../duck/loader.js';
import { validateTopology } from '../engine/topology.js';
import type { Identity } from '../governance/service.js';
import { BOOTSTRAP_ADMIN } from '../governance/store.js';
import { ArchiveError, unpackPond } from '../pond/archive.js';
import { PondError } from '../pond/manifest.js';
import { RequestError } from '../shared/errors.js';
import { isDuckdbReservedName, lineId } from '../shared/ids.js';
import { satisfiesMinimum } from '../shared/semver.js';
import type { Catchment, StoredManifest } from './catchment.js';
import { checkLineAccess, type LineAccess, prepareLineAccess } from './pond-principals.js';
import { placeVersionSource, resolveInRoot, versionSourceRel } from './store/index.js';

export interface DeployOutcome {
  name: string;
  version: string;
  major: number;
  checksum: string;
  /** False when this exact version was already deployed (an idempotent redeploy or a rollback). */
  created: boolean;
  previousVersion: string | null;
  ripples: string[];
  tables: string[];
  /** The principal the line runs as (null when the Catchment runs without governance). */
  principal: string | null;
  /** Source lines this deploy granted the principal SELECT on. */
  granted: string[];
}

/**
 * Deploys as `deployer` (who the HTTP route already checked holds DEPLOY on the line); the line's
 * principal may read every Source afterwards, or the deploy is refused (pond-principals.ts).
 */
export async function deployArchive(
  catchment: Catchment,
  archive: Buffer,
  deployer: Identity = { principal: BOOTSTRAP_ADMIN, keyId: null },
): Promise<DeployOutcome> {
  const root = catchment.options.root;
  const checksum = createHash('sha256').update(archive).digest('hex');
  const stagingRoot = path.join(root, 'ponds', '.staging');
  await mkdir(stagingRoot, { recursive: true });
  const staged = path.join(stagingRoot, `deploy-${catchment.clock.now()}-${randomBytes(4).toString('hex')}`);
  /** The version directory placed inside the deploy transaction; removed again if it rolls back. */
  let placedDir: string | null = null;
  try {
    try {
      await unpackPond(archive, staged);
    } catch (err) {
      if (err instanceof ArchiveError) throw new RequestError(400, 'invalid_archive', err.message);
      throw err;
    }
    let loaded: Awaited<ReturnType<typeof loadPond>>;
    try {
      loaded = await loadPond(staged);
    } catch (err) {
      if (err instanceof PondError) throw new RequestError(422, 'invalid_pond', err.message, err.issues);
      throw err;
    }
    const m = loaded.manifest;
    const store = catchment.store;
    const governance = catchment.governance;
    // Refused Sources answer 403 before any other check, so the answer does not tell whether they exist.
    const access: LineAccess | null = governance
      ? checkLineAccess(
          governance,
          deployer,
          { name: m.name, major: m.major },
          m.sources.map((s) => {
            const selected = store.getSelectedVersion(s.name, s.major);
            const tables = selected ? ((selected.manifest as unknown as StoredManifest).tables ?? []) : null;
            return { name: s.name, major: s.major, tables };
          }),
        )
      : null;
    const problems: string[] = [];
    if (isDuckdbReservedName(m.name)) {
      problems.push(
        `pond.name: "${m.name}" is reserved (queries name tables as pond.table, and DuckDB owns that name)`,
      );
    }
    for (const s of m.sources) {
      const selected = store.getSelectedVersion(s.name, s.major);
      if (!selected) {
        if (!s.optional)
          problems.push(
            `sources.${s.name}: unknown source Pond "${s.name}" (major ${s.major}) — deploy it first`,
          );
        continue;
      }
      if (!satisfiesMinimum(selected.version, s.minVersion)) {
        problems.push(
          `sources.${s.name}: needs ${s.name} ≥ ${s.minVersion} in major ${s.major}, deployed is ${selected.version}`,
        );
      }
    }
    const stored: StoredManifest = {
      name: m.name,
      version: m.version,
      major: m.major,
      sources: m.sources
        .filter((s) => s.optional === false || store.getSelectedVersion(s.name, s.major) !== null)
        .map((s) => ({ name: s.name, major: s.major, minVersion: s.minVersion, optional: s.optional })),
      ripples: loaded.rippleSpecs,
      immediateRetries: m.immediateRetries,
      sourceRetries: m.sourceRetries,
      tables: loaded.tables,
    };
    const id = lineId(m.name, m.major);
    const specs = catchment.specs().filter((p) => p.name !== id);
    specs.push({
      name: id,
      sources: stored.sources.map((s) => ({ name: lineId(s.name, s.major), optional: s.optional })),
      ripples: stored.ripples,
      windows: [],
      immediateRetries: 0,
      sourceRetries: 0,
      alwaysRun: false,
    });
    for (const issue of validateTopology(specs)) {
      if (/cycle/.test(issue.message))
        problems.push(`sources: deploying ${id} would create a ${issue.message}`);
    }
    if (problems.length > 0) throw new RequestError(422, 'invalid_pond', problems.join('\n'), problems);
    const policyChange =
      governance && access
        ? await prepareLineAccess(governance, deployer, { name: m.name, major: m.major }, access)
        : null;

    const result = store.deploy(
      {
        name: m.name,
        version: m.version,
        checksum,
        manifest: stored as unknown as Record<string, unknown>,
        budgets: { immediateRetries: m.immediateRetries, sourceRetries: m.sourceRetries },
        atMs: catchment.clock.now(),
      },
      {
        beforeCommit: (r) => {
          if (policyChange) {
            try {
              policyChange.commit();
            } catch {
              throw new RequestError(409, 'conflict', 'the policy changed during this deploy; deploy again');
            }
          }
          if (r.created && placeVersionSource(root, m.name, m.version, staged)) {
            placedDir = resolveInRoot(root, versionSourceRel(m.name, m.version));
          }
        },
      },
    );
    catchment.reloadTopology();
    return {
      name: m.name,
      version: m.version,
      major: m.major,
      checksum,
      created: result.created,
      previousVersion: result.previousVersion,
      ripples: loaded.ripples.map((r) => r.name),
      tables: loaded.tables,
      principal: access?.principal ?? null,
      granted: access?.grants ?? [],
    };
  } catch (err) {
    // A policy change stored inside a deploy transaction that rolled back must not stay cached.
    catchment.governance?.reload();
    if (placedDir) await rm(placedDir, { recursive: true, force: true });
    throw err;
  } finally {
    await rm(staged, { recursive: true, force: true });
  }
}
