/**
 * Which SnapshotFileSource a worker uses: its shared root when started with `--shared-root`,
 * otherwise downloads from the Catchment (the HTTP source with its bounded cache, plugged in here).
 */

import { QueryError } from '../query.js';
import type { WorkerConfig } from './config.js';
import { SharedRootSnapshotSource, type SnapshotFileSource } from './snapshot-source.js';

export function snapshotSourceFor(config: WorkerConfig): SnapshotFileSource {
  if (config.sharedRoot !== null) return new SharedRootSnapshotSource(config.sharedRoot);
  return {
    open: async () => {
      throw new QueryError(
        'snapshot_unavailable',
        'this worker cannot download snapshots yet: start it with --shared-root DIR',
      );
    },
  };
}
