/**
 * Pond-run assignments: their targets (`*`, a Pond, or one major line) and the rule that keeps the
 * two families of assignments apart. Queries are routed by who asks, Pond runs by which line runs,
 * so a principal, group or everyone never carries `pond_run` and a Pond target carries nothing else.
 */
import type { JobKind } from '../../compute/topology.js';
import { isReservedName } from '../../governance/line-principals.js';
import { RequestError } from '../../shared/errors.js';
import { describeSubject, type Subject } from './store.js';

/** A deployed line, as targets are checked against. */
export interface DeployedLine {
  pond: string;
  major: number;
}

/** The line a `name@major` target names, or the Pond a `name` target names (major null); null for `*`. */
export function parsePondTarget(target: string): { pond: string; major: number | null } | null {
  if (target === '*') return null;
  const at = target.indexOf('@');
  return at < 0
    ? { pond: target.toLowerCase(), major: null }
    : { pond: target.slice(0, at).toLowerCase(), major: Number(target.slice(at + 1)) };
}

/** 400 when the subject and the job kinds belong to different families. */
export function checkSubjectKinds(subject: Subject, kinds: readonly JobKind[], where = 'job_kinds'): void {
  if (subject.kind === 'pond') {
    const other = kinds.filter((k) => k !== 'pond_run');
    if (other.length > 0)
      throw new RequestError(
        400,
        'invalid_request',
        `${where}: a Pond target takes job kind pond_run only, not ${other.join(', ')}`,
      );
    return;
  }
  if (subject.kind === 'principal' && isReservedName(subject.name))
    throw new RequestError(
      400,
      'invalid_request',
      `principal "${subject.name}" is a Pond line's principal: route its runs with a Pond target (pond ${subject.name.slice('pond.'.length)}, job kind pond_run)`,
    );
  if (kinds.includes('pond_run'))
    throw new RequestError(
      400,
      'invalid_request',
      `${where}: pond_run assignments target Ponds (*, a Pond name, or name@major), not ${describeSubject(subject)}`,
    );
}

/** Why `target` names nothing deployed (a precise message), or undefined when it does. */
export function pondTargetProblem(target: string, lines: readonly DeployedLine[]): string | undefined {
  const parsed = parsePondTarget(target);
  if (!parsed) return undefined;
  const majors = lines.filter((l) => l.pond === parsed.pond).map((l) => l.major);
  if (majors.length === 0) return `no Pond "${parsed.pond}" is deployed`;
  if (parsed.major !== null && !majors.includes(parsed.major))
    return `Pond "${parsed.pond}" has no major line ${parsed.major} (deployed: ${majors
      .sort((a, b) => a - b)
      .join(', ')})`;
  return undefined;
}
