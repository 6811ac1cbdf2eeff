import { describe, expect, it } from 'vitest';
import { PondError, parseManifest } from '../../src/pond/manifest.js';

function problems(text: string): string[] {
  try {
    parseManifest(text);
  } catch (err) {
    expect(err).toBeInstanceOf(PondError);
    return (err as PondError).issues;
  }
  throw new Error('expected parseManifest to fail');
}

const POND = '[pond]\nname = "sales"\nversion = "1.2.0"\n';

describe('parseManifest', () => {
  it('reads a full manifest', () => {
    const m = parseManifest(
      `${POND}immediate_retries = 2\nsource_retries = 3\n\n[sources]\ntransactions = "1.4.0"\nproducts = "2.0.1?"\n`,
    );
    expect(m).toEqual({
      name: 'sales',
      version: '1.2.0',
      major: 1,
      immediateRetries: 2,
      sourceRetries: 3,
      sources: [
        { name: 'products', minVersion: '2.0.1', major: 2, optional: true },
        { name: 'transactions', minVersion: '1.4.0', major: 1, optional: false },
      ],
    });
  });

  it('defaults retries to 0 and sources to none; accepts pre-release versions', () => {
    const m = parseManifest('[pond]\nname = "x1"\nversion = "0.3.0-rc.1+build.5"\n');
    expect(m).toMatchObject({ major: 0, immediateRetries: 0, sourceRetries: 0, sources: [] });
  });

  it.each([
    [
      'non-semver version',
      '[pond]\nname = "sales"\nversion = "1.2"\n',
      'pond.version: "1.2" is not a semver version (expected MAJOR.MINOR.PATCH)',
    ],
    [
      'leading zero',
      '[pond]\nname = "sales"\nversion = "01.2.0"\n',
      'pond.version: "01.2.0" is not a semver version (expected MAJOR.MINOR.PATCH)',
    ],
    [
      'version not a string',
      '[pond]\nname = "sales"\nversion = 1\n',
      'pond.version: expected a version string like "1.0.0", got 1',
    ],
    ['missing version', '[pond]\nname = "sales"\n', 'pond.version: required field is missing'],
    ['missing name', '[pond]\nversion = "1.0.0"\n', 'pond.name: required field is missing'],
    [
      'uppercase name',
      '[pond]\nname = "Sales"\nversion = "1.0.0"\n',
      'pond.name: "Sales" is not a valid name (lowercase letters, digits and _, starting with a letter)',
    ],
    ['name not a string', '[pond]\nname = 5\nversion = "1.0.0"\n', 'pond.name: expected a string, got 5'],
    [
      'negative retries',
      `${POND}immediate_retries = -1\n`,
      'pond.immediate_retries: -1 is not an integer from 0 to 100',
    ],
    [
      'fractional retries',
      `${POND}source_retries = 1.5\n`,
      'pond.source_retries: 1.5 is not an integer from 0 to 100',
    ],
    [
      'string retries',
      `${POND}source_retries = "2"\n`,
      'pond.source_retries: "2" is not an integer from 0 to 100',
    ],
    [
      'too many retries',
      `${POND}immediate_retries = 1000\n`,
      'pond.immediate_retries: 1000 is not an integer from 0 to 100',
    ],
    [
      'unknown pond field',
      `${POND}type = "inlet"\n`,
      'pond.type: unknown field (allowed: name, version, immediate_retries, source_retries)',
    ],
    ['unknown section', `${POND}[windows]\nx = 1\n`, 'windows: unknown section (allowed: [pond], [sources])'],
    ['missing [pond]', '[sources]\na = "1.0.0"\n', 'pond: required section [pond] is missing'],
    ['[pond] not a table', 'pond = 3\n', 'pond: expected a table ([pond])'],
    [
      'source version not semver',
      `${POND}[sources]\ntransactions = "1.x"\n`,
      'sources.transactions: "1.x" is not a semver version (expected MAJOR.MINOR.PATCH, with a trailing ? for an optional Source)',
    ],
    [
      'source version not a string',
      `${POND}[sources]\ntransactions = 1\n`,
      'sources.transactions: expected a minimum version string like "1.2.0", got 1',
    ],
    [
      'invalid source name',
      `${POND}[sources]\n"My-Src" = "1.0.0"\n`,
      'sources.My-Src: "My-Src" is not a valid name (lowercase letters, digits and _, starting with a letter)',
    ],
    [
      'self as source',
      `${POND}[sources]\nsales = "1.0.0"\n`,
      'sources.sales: a Pond cannot be its own Source',
    ],
    [
      'TOML syntax',
      '[pond]\nname = "sales"\nversion = 1.2.3\n',
      'pond.toml:3:14: illegal character in numeric literal',
    ],
  ])('rejects %s with one clear message', (_case, text, message) => {
    expect(problems(text)).toEqual([message]);
  });

  it('reports every problem at once', () => {
    expect(problems('[pond]\nname = "A"\nversion = "x"\n[extra]\n')).toEqual([
      'pond.name: "A" is not a valid name (lowercase letters, digits and _, starting with a letter)',
      'pond.version: "x" is not a semver version (expected MAJOR.MINOR.PATCH)',
      'extra: unknown section (allowed: [pond], [sources])',
    ]);
  });
});
