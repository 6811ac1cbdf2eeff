/**
 * Deploying a Pond archive as a principal: DEPLOY on the catalog, or on the line the archive deploys
 * to (read from the archive before deploying), then the deploy itself (../deploy.ts).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GovernanceError } from '../../governance/errors.js';
import type { GovernanceService, Identity } from '../../governance/service.js';
import { unpackPond } from '../../pond/archive.js';
import { parseManifest } from '../../pond/manifest.js';
import { majorOf } from '../../shared/semver.js';
import type { Catchment } from '../catchment.js';
import { type DeployOutcome, deployArchive } from '../deploy.js';
import type { LineRef } from './line-access.js';

export class DeployService {
  constructor(
    private readonly catchment: Catchment,
    private readonly governance: GovernanceService,
  ) {}

  async deploy(who: Identity, archive: Buffer): Promise<DeployOutcome> {
    if (!this.governance.can(who, 'DEPLOY', { kind: 'catalog' })) {
      const line = await archiveLine(archive);
      if (!line) {
        throw new GovernanceError(
          'permission_denied',
          'permission denied: DEPLOY (the archive could not be read to tell which Pond it deploys)',
        );
      }
      this.governance.require(who, 'DEPLOY', { kind: 'pond', pond: line.pond, major: line.major });
    }
    return deployArchive(this.catchment, archive, who);
  }
}

/**
 * The line an archive would deploy to, read before deploying so DEPLOY can be checked on it; null
 * when the archive is unreadable (the deploy itself then answers with the precise error).
 */
async function archiveLine(archive: Buffer): Promise<LineRef | null> {
  const dir = await mkdtemp(path.join(tmpdir(), 'duckstring-peek-'));
  try {
    const target = path.join(dir, 'pond');
    await unpackPond(archive, target);
    const manifest = parseManifest(await readFile(path.join(target, 'pond.toml'), 'utf8'));
    return { pond: manifest.name, major: majorOf(manifest.version) };
  } catch {
    return null;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
