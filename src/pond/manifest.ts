/**
 * pond.toml: a Pond's identity (name, semver version → major line), its retry budgets and the
 * Sources it reads. Parsed with smol-toml, validated with zod; every problem is reported as
 * `<field path>: <what is wrong>` so the author knows which line to fix.
 */
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { DomainError } from '../shared/errors.js';
import { isSemver, majorOf } from '../shared/semver.js';
import { nameProblem } from './names.js';

export interface SourceRequirement {
  name: string;
  /** Minimum compatible version inside `major`. */
  minVersion: string;
  major: number;
  /** A trailing `?` in pond.toml: the Pond runs even when this Source is absent. */
  optional: boolean;
}

export interface PondManifest {
  name: string;
  version: string;
  /** The runtime line: Ponds with different majors run side by side. */
  major: number;
  immediateRetries: number;
  sourceRetries: number;
  sources: SourceRequirement[];
}

/** A pond.toml (or Pond) that cannot be used; `issues` holds one line per problem. */
export class PondError extends DomainError {
  constructor(readonly issues: string[]) {
    super({ code: 'invalid_pond', httpStatus: 422, message: issues.join('\n'), details: issues });
  }
}

/** A retry budget above this is almost certainly a typo, and would retry a broken Pond for hours. */
export const MAX_RETRIES = 100;

const show = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return String(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'a table';
  return String(value);
};

const MISSING = 'required field is missing';

const nameField = z.unknown().superRefine((value, ctx) => {
  if (value === undefined) ctx.addIssue({ code: 'custom', message: MISSING });
  else if (typeof value !== 'string')
    ctx.addIssue({ code: 'custom', message: `expected a string, got ${show(value)}` });
  else {
    const problem = nameProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }
});

const versionField = z.unknown().superRefine((value, ctx) => {
  if (value === undefined) ctx.addIssue({ code: 'custom', message: MISSING });
  else if (typeof value !== 'string') {
    ctx.addIssue({ code: 'custom', message: `expected a version string like "1.0.0", got ${show(value)}` });
  } else if (!isSemver(value)) {
    ctx.addIssue({
      code: 'custom',
      message: `${show(value)} is not a semver version (expected MAJOR.MINOR.PATCH)`,
    });
  }
});

const retriesField = z.unknown().superRefine((value, ctx) => {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_RETRIES) {
    ctx.addIssue({ code: 'custom', message: `${show(value)} is not an integer from 0 to ${MAX_RETRIES}` });
  }
});

const sourceValue = z.unknown().superRefine((value, ctx) => {
  if (typeof value !== 'string') {
    ctx.addIssue({
      code: 'custom',
      message: `expected a minimum version string like "1.2.0", got ${show(value)}`,
    });
    return;
  }
  const version = value.endsWith('?') ? value.slice(0, -1) : value;
  if (!isSemver(version)) {
    ctx.addIssue({
      code: 'custom',
      message: `${show(value)} is not a semver version (expected MAJOR.MINOR.PATCH, with a trailing ? for an optional Source)`,
    });
  }
});

const POND_FIELDS = ['name', 'version', 'immediate_retries', 'source_retries'] as const;

const manifestSchema = z
  .object({
    pond: z
      .object(
        {
          name: nameField,
          version: versionField,
          immediate_retries: retriesField.optional(),
          source_retries: retriesField.optional(),
        },
        { invalid_type_error: 'expected a table ([pond])' },
      )
      .strict(`unknown field (allowed: ${POND_FIELDS.join(', ')})`),
    sources: z
      .record(z.string(), sourceValue, { invalid_type_error: 'expected a table ([sources])' })
      .optional(),
  })
  .strict('unknown section (allowed: [pond], [sources])');

/** `pond.version`, `sources."my-src"`: how a TOML key path is written. */
function tomlPath(path: ReadonlyArray<string | number>): string {
  return path
    .map((key) => (/^[A-Za-z0-9_-]+$/.test(String(key)) ? String(key) : JSON.stringify(key)))
    .join('.');
}

function formatIssue(issue: z.ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${tomlPath([...issue.path, key])}: ${issue.message}`);
  }
  const path = tomlPath(issue.path);
  if (issue.code === 'invalid_type' && issue.received === 'undefined') {
    if (issue.path.length === 1) return [`${path}: required section [${path}] is missing`];
    return [`${path}: ${MISSING}`];
  }
  if (path === '') return [`pond.toml: ${issue.message}`];
  return [`${path}: ${issue.message}`];
}

/**
 * Parses and validates pond.toml text. `file` names the file in TOML syntax errors. Throws a
 * `PondError` listing every problem.
 */
export function parseManifest(text: string, file = 'pond.toml'): PondManifest {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const reason = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
      throw new PondError([`${file}:${err.line}:${err.column}: ${reason}`]);
    }
    throw err;
  }
  const parsed = manifestSchema.safeParse(doc);
  const issues = parsed.success ? [] : parsed.error.issues.flatMap(formatIssue);
  const ownName = (doc.pond as Record<string, unknown> | undefined)?.name;
  const sourceTable = doc.sources;
  if (sourceTable !== null && typeof sourceTable === 'object' && !Array.isArray(sourceTable)) {
    for (const key of Object.keys(sourceTable)) {
      const problem = nameProblem(key);
      if (problem) issues.push(`${tomlPath(['sources', key])}: ${problem}`);
      else if (key === ownName) issues.push(`${tomlPath(['sources', key])}: a Pond cannot be its own Source`);
    }
  }
  if (!parsed.success || issues.length > 0) throw new PondError(issues);

  const pond = parsed.data.pond;
  const sources: SourceRequirement[] = Object.entries(parsed.data.sources ?? {}).map(([name, value]) => {
    const text = value as string;
    const optional = text.endsWith('?');
    const minVersion = optional ? text.slice(0, -1) : text;
    return { name, minVersion, major: majorOf(minVersion), optional };
  });
  sources.sort((a, b) => a.name.localeCompare(b.name));
  const version = pond.version as string;
  return {
    name: pond.name as string,
    version,
    major: majorOf(version),
    immediateRetries: Number(pond.immediate_retries ?? 0),
    sourceRetries: Number(pond.source_retries ?? 0),
    sources,
  };
}
