/**
 * The stored compute directory over a real duck.db: tokens encrypted at rest under a 0600 key,
 * cascade on endpoint delete, routes following writes and policy revisions, subscribers told.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoredComputeDirectory } from '../../../src/catchment/compute/directory.js';
import { normalizeEndpointUrl, parseEndpointUrl } from '../../../src/catchment/compute/endpoint-url.js';
import { ComputeStore } from '../../../src/catchment/compute/store.js';
import { COMPUTE_KEY_FILE, TokenCipher } from '../../../src/catchment/compute/token-cipher.js';
import { CatchmentStore } from '../../../src/catchment/store/index.js';
import { Policy } from '../../../src/governance/policy.js';

let tmp: string;
let root: string;
let catchmentStore: CatchmentStore;
let store: ComputeStore;

const policyV1 = Policy.parse({
  principals: [
    { name: 'alice', kind: 'user' },
    { name: 'bob', kind: 'user' },
  ],
  groups: [{ name: 'beta', members: ['alice'] }],
});
const policyV2 = Policy.parse({
  principals: [
    { name: 'alice', kind: 'user' },
    { name: 'bob', kind: 'user' },
  ],
  groups: [{ name: 'beta', members: ['alice', 'bob'] }],
});

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'compute-directory-'));
  root = path.join(tmp, 'root');
  catchmentStore = CatchmentStore.open(root);
  store = new ComputeStore(catchmentStore.db);
});

afterEach(() => {
  catchmentStore.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('TokenCipher', () => {
  it('creates a 0600 key once and decrypts what it encrypted, bound to the endpoint name', () => {
    const a = TokenCipher.forRoot(root);
    const file = path.join(root, COMPUTE_KEY_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const key = fs.readFileSync(file);
    expect(key.length).toBe(32);
    const sealed = a.encrypt('s3cret-token', 'w1');
    expect(sealed).not.toContain('s3cret');
    expect(a.encrypt('s3cret-token', 'w1')).not.toBe(sealed); // a fresh IV each time
    // A second start reads the same key.
    expect(TokenCipher.forRoot(root).decrypt(sealed, 'W1')).toBe('s3cret-token');
    expect(fs.readFileSync(file).equals(key)).toBe(true);
    // Moved to another endpoint's row, or tampered with, it does not decrypt.
    expect(() => a.decrypt(sealed, 'w2')).toThrow(/cannot be decrypted/);
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    expect(() => a.decrypt([...parts.slice(0, 3), body.toString('base64url')].join('.'), 'w1')).toThrow(
      /cannot be decrypted/,
    );
    expect(() => a.decrypt('garbage', 'w1')).toThrow(/not in a known format/);
  });

  it('refuses a key file others can read', () => {
    TokenCipher.forRoot(root);
    fs.chmodSync(path.join(root, COMPUTE_KEY_FILE), 0o644);
    expect(() => TokenCipher.forRoot(root)).toThrow(/mode 0644; it must be 0600/);
  });

  it('a different key cannot read the tokens', () => {
    const sealed = TokenCipher.forRoot(root).encrypt('tok', 'w1');
    expect(() => TokenCipher.fromKey(Buffer.alloc(32, 7)).decrypt(sealed, 'w1')).toThrow(
      /cannot be decrypted/,
    );
  });
});

describe('endpoint URLs', () => {
  it.each([
    ['grpc://127.0.0.1:9444', 'grpc://127.0.0.1:9444'],
    ['GRPCS://worker-1.internal:443', 'grpcs://worker-1.internal:443'],
    ['grpc://[::1]:9444', 'grpc://[::1]:9444'],
    ['grpc://localhost:1', 'grpc://localhost:1'],
  ])('accepts %s', (url, normalized) => {
    expect(normalizeEndpointUrl(url)).toBe(normalized);
  });

  it.each([
    ['http://h:1', /scheme must be grpc or grpcs/],
    ['grpc://h', /needs a host and a port/],
    ['grpc://h:0', /port must be 1–65535/],
    ['grpc://h:65536', /port must be 1–65535/],
    ['grpc://h:09', /port must be 1–65535/],
    ['grpc://h:1/path', /path, query or fragment/],
    ['grpc://h:1?x=1', /path, query or fragment/],
    ['grpc://u:p@h:1', /credentials/],
    ['grpc://h_x:1', /not a host name/],
    ['grpc://[zz]:1', /not an IPv6 address/],
    ['grpc://h:1 ', /whitespace/],
    ['grpc://:1', /needs a host and a port/],
  ])('refuses %s', (url, message) => {
    expect(() => parseEndpointUrl(url)).toThrow(message);
  });
});

describe('StoredComputeDirectory', () => {
  it('routes from what is stored, follows writes and policy revisions, and tells subscribers', () => {
    const cipher = TokenCipher.forRoot(root);
    let current = { revision: 1, policy: policyV1 };
    const directory = new StoredComputeDirectory(store, cipher, () => current);
    let notified = 0;
    const unsubscribe = directory.subscribe(() => notified++);

    expect(directory.route('alice', 'interactive')).toEqual({
      candidates: [],
      reason: 'no assignment applies',
    });
    const w1 = store.insertEndpoint(
      {
        name: 'w1',
        url: 'grpc://127.0.0.1:9444',
        tokenCiphertext: cipher.encrypt('tok-1', 'w1'),
        status: 'active',
        capacity: 4,
      },
      1000,
    );
    store.insertAssignment(
      {
        subject: { kind: 'group', name: 'beta' },
        endpointId: w1.id,
        isDefault: true,
        fallbackLocal: true,
        jobKinds: ['interactive'],
      },
      1000,
    );
    directory.changed();
    expect(notified).toBe(1);
    expect(directory.endpoints()).toEqual([
      {
        name: 'w1',
        url: 'grpc://127.0.0.1:9444',
        token: 'tok-1',
        status: 'active',
        capacity: 4,
        revision: 1,
      },
    ]);
    expect(directory.route('alice', 'interactive').candidates.map((c) => c.endpoint.name)).toEqual(['w1']);
    expect(directory.route('bob', 'interactive').candidates).toEqual([]);

    // bob joins beta: a new policy revision, no directory write.
    current = { revision: 2, policy: policyV2 };
    expect(directory.route('bob', 'interactive').candidates.map((c) => c.endpoint.name)).toEqual(['w1']);

    // The token is ciphertext in duck.db.
    const raw = catchmentStore.db.prepare('SELECT token_ciphertext FROM compute_endpoints').get() as {
      token_ciphertext: string;
    };
    expect(raw.token_ciphertext).not.toContain('tok-1');

    // Deleting the endpoint deletes its assignments.
    store.deleteEndpoint(w1.id);
    directory.changed();
    expect(store.listAssignments()).toEqual([]);
    expect(directory.endpoints()).toEqual([]);
    expect(directory.route('alice', 'interactive').candidates).toEqual([]);
    expect(notified).toBe(2);
    unsubscribe();
    directory.changed();
    expect(notified).toBe(2);
  });

  it('an endpoint whose token no longer decrypts is never routed to, and routing of the others goes on', () => {
    const lost = TokenCipher.fromKey(Buffer.alloc(32, 1));
    const cipher = TokenCipher.forRoot(root);
    const directory = new StoredComputeDirectory(store, cipher, () => ({ revision: 1, policy: policyV1 }));
    const broken = store.insertEndpoint(
      {
        name: 'broken',
        url: 'grpc://h:1',
        tokenCiphertext: lost.encrypt('t', 'broken'),
        status: 'active',
        capacity: null,
      },
      1,
    );
    const fine = store.insertEndpoint(
      {
        name: 'fine',
        url: 'grpc://h:2',
        tokenCiphertext: cipher.encrypt('t2', 'fine'),
        status: 'active',
        capacity: null,
      },
      1,
    );
    for (const e of [broken, fine]) {
      store.insertAssignment(
        {
          subject: { kind: 'everyone' },
          endpointId: e.id,
          isDefault: false,
          fallbackLocal: true,
          jobKinds: ['interactive'],
        },
        1,
      );
    }
    directory.changed();
    expect(directory.route('bob', 'interactive').candidates.map((c) => c.endpoint.name)).toEqual(['fine']);
    expect(directory.endpoints().find((e) => e.name === 'broken')).toMatchObject({
      status: 'inactive',
      token: '',
    });
    expect(directory.problem('BROKEN')).toMatch(/stored token of endpoint "broken" cannot be decrypted/);
    expect(directory.problem('fine')).toBeUndefined();
    // The router cannot change what the directory hands out.
    expect(() => {
      (directory.endpoints()[0] as { token: string }).token = 'x';
    }).toThrow();
  });

  it('names are unique case-insensitively, one assignment per subject and endpoint', () => {
    const cipher = TokenCipher.forRoot(root);
    const w1 = store.insertEndpoint(
      {
        name: 'W1',
        url: 'grpc://h:1',
        tokenCiphertext: cipher.encrypt('t', 'W1'),
        status: 'active',
        capacity: null,
      },
      1,
    );
    expect(store.getEndpoint('w1')?.id).toBe(w1.id);
    expect(() =>
      store.insertEndpoint(
        {
          name: 'w1',
          url: 'grpc://h:2',
          tokenCiphertext: cipher.encrypt('t', 'w1'),
          status: 'active',
          capacity: null,
        },
        1,
      ),
    ).toThrow(/UNIQUE/);
    const a = {
      subject: { kind: 'principal', name: 'alice' } as const,
      endpointId: w1.id,
      isDefault: false,
      fallbackLocal: true,
      jobKinds: ['async' as const],
    };
    store.insertAssignment(a, 1);
    expect(() => store.insertAssignment({ ...a, subject: { kind: 'principal', name: 'ALICE' } }, 1)).toThrow(
      /UNIQUE/,
    );
    expect(store.findAssignment({ kind: 'principal', name: 'Alice' }, w1.id)?.jobKinds).toEqual(['async']);
  });
});
