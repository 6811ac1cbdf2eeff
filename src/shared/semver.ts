/**
 * Versions are strict SemVer 2.0.0 (MAJOR.MINOR.PATCH, optional pre-release and build parts; no `v`
 * prefix, no whitespace). A Pond's major is its runtime line; a Source is required at a minimum
 * version inside one major. Parsing, ordering and ranges are the `semver` package's.
 */
import semver from 'semver';

/** True for a strict SemVer version exactly as written (the package alone would accept `v1.2.3`). */
export function isSemver(text: string): boolean {
  const v = semver.parse(text);
  if (!v) return false;
  return text === (v.build.length > 0 ? `${v.version}+${v.build.join('.')}` : v.version);
}

/** The major line of a version (its first number). Throws on text that is not a version. */
export function majorOf(version: string): number {
  return semver.major(version);
}

/**
 * Whether `version` meets the minimum `min`. SemVer's precedence puts `1.0.0-rc.1` before `1.0.0`,
 * and a pre-release meets only a minimum of the same MAJOR.MINOR.PATCH that is itself a pre-release
 * (npm's rule): a Source pinned at `1.0.0` is not met by `1.1.0-rc.1` either.
 */
export function satisfiesMinimum(version: string, min: string): boolean {
  return semver.satisfies(version, `>=${min}`);
}

/** Orders versions by SemVer precedence (build metadata ignored). */
export function compareVersions(a: string, b: string): number {
  return semver.compare(a, b);
}
