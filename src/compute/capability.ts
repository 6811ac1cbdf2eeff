/**
 * Snapshot capabilities: a short-lived, signed grant to download exactly a query's snapshot files.
 * The Catchment mints one per remote query (it alone holds the key, `<root>/secrets/capability.key`,
 * 0600); a worker presents it to the Catchment's snapshot route, which serves a file only if the
 * capability is genuine, unexpired and names that file with that checksum. Workers never see a
 * path or a credential that outlives the query.
 *
 * Format: `base64url(canonical JSON of the claims) . base64url(HMAC-SHA256(key, that JSON))`. The
 * MAC covers the exact bytes carried, so verification never re-serializes; canonical JSON (sorted
 * keys, no whitespace) only makes minting deterministic, which keeps tokens comparable in tests and
 * logs of their length.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod/v4';
import { createKeyFileOnce, readKeyFile } from '../shared/key-file.js';
import type { SnapshotRef } from './snapshot-store.js';

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

/**
 * The Catchment's route serving snapshot files to capability holders
 * (`GET <prefix>/<pond>/<major>/<file>`); a query's `snapshot_url` is the Catchment's base URL.
 */
export const SNAPSHOT_ROUTE_PREFIX = '/internal/snapshots';

/** Where the key lives, relative to the Catchment root. */
export const CAPABILITY_KEY_FILE = path.join('secrets', 'capability.key');
export const CAPABILITY_KEY_BYTES = 32;

/**
 * Why a capability was refused. `malformed`: not two base64url parts, or claims that do not parse;
 * `signature`: the MAC does not match (tampered, or minted with another key); `expired`.
 */
export type CapabilityRefusal = 'malformed' | 'signature' | 'expired';

export type CapabilityVerdict =
  | { ok: true; claims: CapabilityClaims }
  | { ok: false; reason: CapabilityRefusal; message: string };

const fileSchema = z.strictObject({
  pond: z.string().min(1),
  major: z.number().int().nonnegative(),
  file: z.string().min(1),
  size: z.number().int().nonnegative(),
  checksum: z.string(),
});
const claimsSchema = z.strictObject({
  files: z.array(fileSchema),
  expiresAt: z.number().int(),
});

const PART = /^[A-Za-z0-9_-]+$/;

/** JSON with object keys sorted at every level and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function mac(key: Buffer, payload: Buffer): Buffer {
  return createHmac('sha256', key).update(payload).digest();
}

function checkKey(key: Buffer): void {
  if (key.length < CAPABILITY_KEY_BYTES) {
    throw new Error(`capability key must be at least ${CAPABILITY_KEY_BYTES} bytes`);
  }
}

export function mintCapability(key: Buffer, claims: CapabilityClaims): string {
  checkKey(key);
  // Only the declared fields are signed: an extra property on a caller's object must not ride along.
  const payload = Buffer.from(canonicalJson(claimsSchema.parse(pick(claims))), 'utf8');
  return `${payload.toString('base64url')}.${mac(key, payload).toString('base64url')}`;
}

function pick(claims: CapabilityClaims): CapabilityClaims {
  return {
    expiresAt: claims.expiresAt,
    files: claims.files.map((f) => ({
      pond: f.pond,
      major: f.major,
      file: f.file,
      size: f.size,
      checksum: f.checksum,
    })),
  };
}

/**
 * Checks a presented capability: the MAC first (constant-time), and only then the claims it signs,
 * so nothing an attacker wrote is parsed before it is known to be ours. `now` is epoch ms.
 */
export function verifyCapability(key: Buffer, token: unknown, now: number): CapabilityVerdict {
  checkKey(key);
  if (typeof token !== 'string') return refuse('malformed', 'capability is missing');
  const parts = token.split('.');
  if (parts.length !== 2 || !PART.test(parts[0]!) || !PART.test(parts[1]!)) {
    return refuse('malformed', 'capability is not of the form <claims>.<mac>');
  }
  const payload = Buffer.from(parts[0]!, 'base64url');
  const presented = Buffer.from(parts[1]!, 'base64url');
  const expected = mac(key, payload);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
    return refuse('signature', 'capability signature does not match');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    return refuse('malformed', 'capability claims are not JSON');
  }
  const claims = claimsSchema.safeParse(parsed);
  if (!claims.success) return refuse('malformed', 'capability claims do not have the expected shape');
  if (!(now < claims.data.expiresAt)) return refuse('expired', 'capability has expired');
  return { ok: true, claims: claims.data };
}

function refuse(reason: CapabilityRefusal, message: string): CapabilityVerdict {
  return { ok: false, reason, message };
}

/** The claimed file with exactly this pond, major and name, if the capability lists it. */
export function claimedFile(
  claims: CapabilityClaims,
  wanted: { pond: string; major: number; file: string },
): CapabilityFile | undefined {
  return claims.files.find(
    (f) => f.pond === wanted.pond && f.major === wanted.major && f.file === wanted.file,
  );
}

/**
 * The Catchment's capability key from `<root>/secrets/capability.key`, created (32 random bytes,
 * 0600) on first use; see src/shared/key-file.ts for how it is created and checked.
 */
export function loadOrCreateCapabilityKey(root: string): Buffer {
  const file = path.join(root, CAPABILITY_KEY_FILE);
  createKeyFileOnce(file, randomBytes(CAPABILITY_KEY_BYTES), 'capability key');
  const key = readKeyFile(file, 'capability key');
  if (key.length !== CAPABILITY_KEY_BYTES) {
    throw new Error(
      `capability key ${file} is malformed (expected ${CAPABILITY_KEY_BYTES} bytes); delete it to mint a new one`,
    );
  }
  return key;
}

/** A query's snapshot file as a worker receives it (the proto SnapshotFile, size as a number). */
export interface GrantedFile extends CapabilityFile {
  /** The name the SQL uses for it. */
  relation: string;
  table: string;
}

/**
 * What the Catchment sends a worker with a query: its files (size from the file itself, so the
 * worker can check what it downloads) and one capability to download exactly them, valid for
 * `ttlMs` (the query's time limit plus a margin for the downloads). The caller holds the files'
 * leases for as long as the query runs, as for a local query.
 */
export async function grantSnapshotFiles(
  store: { pathOf(ref: SnapshotRef): string },
  tables: ReadonlyArray<{ relation: string; snapshot: SnapshotRef }>,
  options: { key: Buffer; now: number; ttlMs: number },
): Promise<{ files: GrantedFile[]; capability: string; expiresAt: number }> {
  const files: GrantedFile[] = [];
  for (const { relation, snapshot } of tables) {
    const st = await fs.promises.stat(store.pathOf(snapshot));
    files.push({
      relation,
      pond: snapshot.pond,
      major: snapshot.major,
      table: snapshot.table,
      file: snapshot.file,
      size: st.size,
      checksum: snapshot.checksum,
    });
  }
  const expiresAt = options.now + options.ttlMs;
  return { files, capability: mintCapability(options.key, { files, expiresAt }), expiresAt };
}
