/**
 * Which SnapshotFileSource a worker uses: its shared root when started with `--shared-root`,
 * otherwise downloads from the Catchment into its bounded cache (http-snapshot-source.ts).
 */
import type { WorkerConfig } from './config.js';
import { HttpSnapshotSource } from './http-snapshot-source.js';
import { type LineDataDir, SharedRootSnapshotSource, type SnapshotFileSource } from './snapshot-source.js';

export function snapshotSourceFor(config: WorkerConfig, lineDataDir: LineDataDir): SnapshotFileSource {
  if (config.sharedRoot !== null) return new SharedRootSnapshotSource(config.sharedRoot, lineDataDir);
  return new HttpSnapshotSource({ cacheDir: config.cacheDir, cacheBytes: config.cacheMaxBytes });
}
