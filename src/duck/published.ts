/**
 * Which Source tables a run may read, by name only (paths stay with the Duck): shared by the Duck,
 * which resolves `source.table` for SQL Ripples, and the Ripple host, which answers `ctx.readTable`.
 */

/** Source name → its published table names, for every Source the Pond declares. */
export type PublishedTables = ReadonlyMap<string, readonly string[]>;

/** Why `ref` (`source.table`) cannot be read in this run, or null if it can. */
export function missingSnapshot(ref: string, published: PublishedTables): string | null {
  const [source = '', table = ''] = ref.split('.');
  const tables = published.get(source);
  if (!tables) {
    const declared = [...published.keys()];
    return `"${source}" is not a Source of this Pond (${declared.length > 0 ? `declared: ${declared.join(', ')}` : 'pond.toml declares no Sources'})`;
  }
  if (tables.includes(table)) return null;
  if (tables.length === 0) return `Source "${source}" has no published snapshot`;
  return `Source "${source}" has no published table "${table}" (published: ${[...tables].sort().join(', ')})`;
}
