/**
 * Snapshot capabilities: a short-lived, signed grant to download exactly a query's snapshot files.
 * The Catchment mints one per remote query (it alone holds the key, `<root>/secrets/capability.key`,
 * 0600); a worker presents it to the Catchment's snapshot route, which serves a file only if the
 * capability is genuine, unexpired and names that file with that checksum. Workers never see a
 * path or a credential that outlives the query.
 *
 * Implemented by the data-plane helper; the signatures below are the contract.
 */
export interface CapabilityFile {
  /** Root-relative file name as the snapshot store names it (see SnapshotRef.file and line). */
  pond: string;
  major: number;
  file: string;
  size: number;
  checksum: string;
}

export interface CapabilityClaims {
  files: CapabilityFile[];
  /** Epoch ms after which the capability is refused. */
  expiresAt: number;
}
