import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CAPABILITY_KEY_FILE,
  type CapabilityClaims,
  canonicalJson,
  claimedFile,
  loadOrCreateCapabilityKey,
  mintCapability,
  verifyCapability,
} from '../../../src/compute/capability.js';

const NOW = 1_800_000_000_000;
const key = randomBytes(32);
const claims: CapabilityClaims = {
  files: [
    { pond: 'sales', major: 1, file: 'orders/abc.parquet', size: 1234, checksum: '1234:99' },
    { pond: 'sales', major: 1, file: 'customers/def.parquet', size: 55, checksum: '55:98' },
  ],
  expiresAt: NOW + 60_000,
};

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

describe('snapshot capabilities', () => {
  it('verifies a capability it minted and returns exactly the claims', () => {
    const token = mintCapability(key, claims);
    const verdict = verifyCapability(key, token, NOW);
    expect(verdict).toEqual({ ok: true, claims });
    expect(mintCapability(key, claims)).toBe(token);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  it('signs only the declared fields', () => {
    const extra = { ...claims, admin: true } as unknown as CapabilityClaims;
    const verdict = verifyCapability(key, mintCapability(key, extra), NOW);
    expect(verdict.ok && Object.keys(verdict.claims).sort()).toEqual(['expiresAt', 'files']);
  });

  it('refuses tampered claims', () => {
    const [, sig] = mintCapability(key, claims).split('.');
    const widened = {
      ...claims,
      files: [...claims.files, { ...claims.files[0]!, file: 'secret/x.parquet' }],
    };
    const verdict = verifyCapability(key, `${b64(canonicalJson(widened))}.${sig}`, NOW);
    expect(verdict).toMatchObject({ ok: false, reason: 'signature' });
    const later = { ...claims, expiresAt: NOW + 10 * 86_400_000 };
    expect(verifyCapability(key, `${b64(canonicalJson(later))}.${sig}`, NOW)).toMatchObject({
      ok: false,
      reason: 'signature',
    });
  });

  it('refuses a tampered mac', () => {
    const [payload, sig] = mintCapability(key, claims).split('.');
    const bytes = Buffer.from(sig!, 'base64url');
    bytes[0] = bytes[0]! ^ 1;
    expect(verifyCapability(key, `${payload}.${bytes.toString('base64url')}`, NOW)).toMatchObject({
      ok: false,
      reason: 'signature',
    });
    expect(verifyCapability(key, `${payload}.${sig!.slice(0, 10)}`, NOW)).toMatchObject({
      ok: false,
      reason: 'signature',
    });
  });

  it('refuses an expired capability, at and after its expiry', () => {
    const token = mintCapability(key, claims);
    expect(verifyCapability(key, token, claims.expiresAt - 1).ok).toBe(true);
    expect(verifyCapability(key, token, claims.expiresAt)).toMatchObject({ ok: false, reason: 'expired' });
    expect(verifyCapability(key, token, claims.expiresAt + 1)).toMatchObject({
      ok: false,
      reason: 'expired',
    });
  });

  it('refuses a capability minted with another key', () => {
    const token = mintCapability(randomBytes(32), claims);
    expect(verifyCapability(key, token, NOW)).toMatchObject({ ok: false, reason: 'signature' });
  });

  it('refuses garbage without throwing', () => {
    for (const garbage of [undefined, 42, '', '.', 'abc', 'a.b.c', 'a b.c', '!!.??', `${b64('x')}.`]) {
      expect(verifyCapability(key, garbage, NOW)).toMatchObject({ ok: false, reason: 'malformed' });
    }
    // Correctly signed but not claims: refused as malformed, after the MAC check.
    const signed = (text: string) => {
      const payload = Buffer.from(text, 'utf8');
      const mac = createHmac('sha256', key).update(payload).digest();
      return `${payload.toString('base64url')}.${mac.toString('base64url')}`;
    };
    expect(verifyCapability(key, signed('not json'), NOW)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifyCapability(key, signed('{"files":"x","expiresAt":1}'), NOW)).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
  });

  it('refuses a short key', () => {
    expect(() => mintCapability(randomBytes(8), claims)).toThrow(/at least 32 bytes/);
  });

  it('finds a claimed file only by exact pond, major and name', () => {
    expect(claimedFile(claims, { pond: 'sales', major: 1, file: 'orders/abc.parquet' })).toBe(
      claims.files[0],
    );
    expect(claimedFile(claims, { pond: 'sales', major: 2, file: 'orders/abc.parquet' })).toBeUndefined();
    expect(claimedFile(claims, { pond: 'sale', major: 1, file: 'orders/abc.parquet' })).toBeUndefined();
    expect(claimedFile(claims, { pond: 'sales', major: 1, file: 'orders/abc.parquet/' })).toBeUndefined();
  });
});

describe('the capability key file', () => {
  const roots: string[] = [];
  afterEach(() => {
    for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
  });
  function root(): string {
    const r = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-capkey-'));
    roots.push(r);
    return r;
  }

  it('is created once with mode 0600 in a 0700 directory and read back unchanged', () => {
    const r = root();
    const first = loadOrCreateCapabilityKey(r);
    expect(first.length).toBe(32);
    const file = path.join(r, CAPABILITY_KEY_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(loadOrCreateCapabilityKey(r).equals(first)).toBe(true);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['capability.key']);
  });

  it('refuses a key readable by others, and a malformed key', () => {
    const r = root();
    loadOrCreateCapabilityKey(r);
    const file = path.join(r, CAPABILITY_KEY_FILE);
    fs.chmodSync(file, 0o644);
    expect(() => loadOrCreateCapabilityKey(r)).toThrow(/mode 0644; it must be 0600/);
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, 'short');
    expect(() => loadOrCreateCapabilityKey(r)).toThrow(/malformed/);
  });
});
