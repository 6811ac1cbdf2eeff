import { describe, expect, it } from 'vitest';
import { compareVersions, isSemver, majorOf, satisfiesMinimum } from '../../src/shared/semver.js';

describe('versions', () => {
  it('accepts strict SemVer exactly as written, nothing looser', () => {
    for (const v of [
      '0.1.0',
      '1.2.3',
      '1.0.0-rc.1',
      '1.0.0-alpha.beta.1',
      '1.0.0+build.5',
      '2.0.0-rc.1+sha.abc',
    ]) {
      expect(isSemver(v), v).toBe(true);
    }
    for (const v of [
      '1.0',
      '01.0.0',
      '1.0.0-01',
      'v1.0.0',
      '=1.0.0',
      ' 1.0.0',
      '1.0.0 ',
      '1.0.0-',
      '1.2.3-a..b',
      '',
    ]) {
      expect(isSemver(v), JSON.stringify(v)).toBe(false);
    }
  });

  it('reads the major line', () => {
    expect(majorOf('0.4.1')).toBe(0);
    expect(majorOf('12.0.0-rc.1+b')).toBe(12);
    expect(() => majorOf('1.0')).toThrow();
  });

  it('a pre-release does not satisfy a plain minimum (it once did: 1.0.0-rc.1 met 1.0.0)', () => {
    expect(satisfiesMinimum('1.0.0-rc.1', '1.0.0')).toBe(false);
    expect(satisfiesMinimum('1.1.0-rc.1', '1.0.0')).toBe(false);
    expect(satisfiesMinimum('1.0.0-rc.2', '1.0.0-rc.1')).toBe(true);
    expect(satisfiesMinimum('1.0.0-rc.1', '1.0.0-rc.2')).toBe(false);
  });

  it('a release meets minimums at or below it, by precedence rather than text', () => {
    expect(satisfiesMinimum('1.0.0', '1.0.0')).toBe(true);
    expect(satisfiesMinimum('1.10.0', '1.9.0')).toBe(true);
    expect(satisfiesMinimum('1.2.0', '1.10.0')).toBe(false);
    expect(satisfiesMinimum('1.0.0', '1.0.0-rc.1')).toBe(true);
    expect(satisfiesMinimum('1.2.0+build.7', '1.2.0')).toBe(true);
  });

  it('orders by SemVer precedence', () => {
    const sorted = ['1.0.0', '1.0.0-rc.1', '1.0.0-alpha', '0.9.9', '1.0.0-rc.10', '1.0.0-rc.2'].sort(
      compareVersions,
    );
    expect(sorted).toEqual(['0.9.9', '1.0.0-alpha', '1.0.0-rc.1', '1.0.0-rc.2', '1.0.0-rc.10', '1.0.0']);
  });
});
