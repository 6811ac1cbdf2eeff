/**
 * `duckstring compute …` and the policy file's `compute` section against a real Catchment: tokens
 * from an environment variable or stdin only, every command's output, `explain`, and `policy apply`
 * making compute exactly what the file says, atomically with the rest of the policy.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/main.js';
import { removeDir, TestCatchment, tempDir } from '../../support/runtime.js';

let work: string;
let c: TestCatchment;
const TOKEN = 'cli-token-abcdef0123456789';

async function cli(args: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli([...args, '--catchment', c.url, '--key', c.running.adminKey], {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    readStdin: async () => stdin ?? '',
  });
  return { code, out: out.join(''), err: err.join('') };
}

const BASE_POLICY = `
groups:
  - name: beta
principals:
  - name: alice
    groups: [beta]
  - name: bob
`;

beforeAll(async () => {
  work = await tempDir('compute-cli');
  c = await TestCatchment.start(path.join(work, 'root'));
  const file = path.join(work, 'base.yaml');
  await writeFile(file, BASE_POLICY);
  expect((await cli(['policy', 'apply', file])).code).toBe(0);
}, 60_000);

afterAll(async () => {
  delete process.env.DS_TEST_W1_TOKEN;
  delete process.env.DS_TEST_W2_TOKEN;
  await c?.close();
  await removeDir(work);
});

describe('duckstring compute', () => {
  it('endpoint create takes the token from an env var or stdin, never a flag', async () => {
    const flag = await cli([
      'compute',
      'endpoint',
      'create',
      'w0',
      '--url',
      'grpc://127.0.0.1:9444',
      '--token',
      TOKEN,
    ]);
    expect(flag.code).toBe(2);
    expect(flag.err).toMatch(/never passed on the command line.*--token-env VAR or --token-stdin/);
    const none = await cli(['compute', 'endpoint', 'create', 'w0', '--url', 'grpc://127.0.0.1:9444']);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/--token-env VAR or --token-stdin/);
    const unset = await cli([
      'compute',
      'endpoint',
      'create',
      'w0',
      '--url',
      'grpc://127.0.0.1:9444',
      '--token-env',
      'DS_TEST_UNSET_VAR',
    ]);
    expect(unset.code).toBe(2);
    expect(unset.err).toMatch(/environment variable DS_TEST_UNSET_VAR is not set/);
    expect((await cli(['compute', 'endpoint', 'list'])).out).not.toMatch(/w0/);

    process.env.DS_TEST_W1_TOKEN = TOKEN;
    const viaEnv = await cli([
      'compute',
      'endpoint',
      'create',
      'w1',
      '--url',
      'grpc://127.0.0.1:9444',
      '--token-env',
      'DS_TEST_W1_TOKEN',
      '--capacity',
      '4',
    ]);
    expect(viaEnv.code, viaEnv.err).toBe(0);
    expect(viaEnv.out).toMatch(
      /registered w1 {2}grpc:\/\/127\.0\.0\.1:9444 {2}active {2}capacity 4 {2}revision 1/,
    );
    const viaStdin = await cli(
      ['compute', 'endpoint', 'create', 'w2', '--url', 'grpcs://worker.example:443', '--token-stdin'],
      `${TOKEN}-2\n`,
    );
    expect(viaStdin.code, viaStdin.err).toBe(0);
    const dup = await cli(
      ['compute', 'endpoint', 'create', 'w2', '--url', 'grpc://h:1', '--token-stdin'],
      'x',
    );
    expect(dup.code).toBe(2);
    expect(dup.err).toMatch(/compute endpoint "w2" already exists/);
    const badUrl = await cli(
      ['compute', 'endpoint', 'create', 'w3', '--url', 'grpc://h', '--token-stdin'],
      'x',
    );
    expect(badUrl.code).toBe(2);
    expect(badUrl.err).toMatch(/needs a host and a port/);

    const list = await cli(['compute', 'endpoint', 'list']);
    expect(list.out).toMatch(/w1 +grpc:\/\/127\.0\.0\.1:9444 +active +4 +1 +0/);
    expect(list.out).toMatch(/w2 +grpcs:\/\/worker\.example:443 +active +none +1 +0/);
    expect(list.out).not.toContain(TOKEN);
  });

  it('update, assign, explain, unassign, health, delete', async () => {
    const upd = await cli(
      ['compute', 'endpoint', 'update', 'w2', '--token-stdin', '--status', 'draining'],
      'rotated-token',
    );
    expect(upd.code, upd.err).toBe(0);
    expect(upd.out).toMatch(/updated w2: token, status/);
    expect(upd.out).toMatch(/draining .*revision 2/);
    expect((await cli(['compute', 'endpoint', 'update', 'w2'])).err).toMatch(/name something to change/);

    const a1 = await cli([
      'compute',
      'assign',
      'w1',
      '--group',
      'beta',
      '--default',
      '--kinds',
      'interactive',
    ]);
    expect(a1.code, a1.err).toBe(0);
    expect(a1.out).toMatch(/assignment \d+: group beta → w1 \(default\), fallback on, kinds interactive/);
    const a2 = await cli(['compute', 'assign', 'w2', '--everyone', '--no-fallback']);
    expect(a2.out).toMatch(/everyone → w2, fallback off, kinds interactive,async/);
    const both = await cli(['compute', 'assign', 'w1', '--principal', 'alice', '--group', 'beta']);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/exactly one of --principal NAME, --group NAME, --everyone or --pond TARGET/);
    const kind = await cli(['compute', 'assign', 'w1', '--principal', 'alice', '--kinds', 'batch']);
    expect(kind.err).toMatch(/unknown job kind "batch"/);
    const who = await cli(['compute', 'assign', 'w1', '--principal', 'zed']);
    expect(who.err).toMatch(/no principal "zed"/);

    const explain = await cli(['compute', 'explain', 'alice']);
    expect(explain.code, explain.err).toBe(0);
    expect(explain.out).toMatch(
      /alice interactive: w1 \(grpc:\/\/127\.0\.0\.1:9444, fallback on\)\n {2}because the default assignment of group beta \(a direct member\) → w1/,
    );
    // w2 (everyone) is draining: async has nothing left.
    expect(explain.out).toMatch(/alice async: local\n {2}because no assignment applies/);
    expect(explain.out).toMatch(/not w2 \(assignment \d+, everyone\): endpoint not active \(draining\)/);
    const json = JSON.parse((await cli(['compute', 'explain', 'bob', '--kind', 'async', '--json'])).out);
    expect(json.routes).toHaveLength(1);
    expect(json.routes[0].placement).toBe('local');

    const health = await cli(['compute', 'endpoint', 'health', 'w1']);
    expect(health.out).toMatch(/health: unknown/);
    const show = await cli(['compute', 'endpoint', 'show', 'w1']);
    expect(show.out).toMatch(/group beta +w1 +yes +on +interactive/);

    const un = await cli(['compute', 'unassign', 'w2', '--everyone']);
    expect(un.code, un.err).toBe(0);
    expect(un.out).toMatch(/removed assignment \d+: everyone → w2/);
    expect((await cli(['compute', 'unassign', 'w2', '--everyone'])).err).toMatch(
      /no assignment of everyone to compute endpoint "w2"/,
    );
    const assignments = await cli(['compute', 'assignments']);
    expect(assignments.out).toMatch(/group beta +w1/);
    expect(assignments.out).not.toMatch(/everyone/);

    const del = await cli(['compute', 'endpoint', 'delete', 'w1']);
    expect(del.out).toBe('deleted w1 (and 1 assignment)\n');
    expect((await cli(['compute', 'endpoint', 'delete', 'w2'])).out).toBe('deleted w2 (and 0 assignments)\n');
    expect((await cli(['compute', 'endpoint', 'show', 'w1'])).err).toMatch(/no compute endpoint "w1"/);
  });
});

describe('the policy file compute section', () => {
  const file = (name: string) => path.join(work, name);
  const withCompute = (extra: string) => `${BASE_POLICY}
compute:
  endpoints:
    - name: pw1
      url: grpc://127.0.0.1:9601
      token_env: DS_TEST_W1_TOKEN
      capacity: 2
    - name: pw2
      url: grpc://127.0.0.1:9602
      token_env: DS_TEST_W2_TOKEN
  assignments:
    - endpoint: pw1
      group: beta
      default: true
    - endpoint: pw2
      principal: bob
      fallback_local: false
      job_kinds: [async]
${extra}`;

  it('a missing env var refuses the whole file: nothing applied', async () => {
    delete process.env.DS_TEST_W2_TOKEN;
    process.env.DS_TEST_W1_TOKEN = TOKEN;
    await writeFile(file('c1.yaml'), withCompute('  # v1'));
    const out = await cli(['policy', 'apply', file('c1.yaml')]);
    expect(out.code).toBe(2);
    expect(out.err).toMatch(
      /environment variable DS_TEST_W2_TOKEN \(a token_env\) is not set; nothing was applied/,
    );
    expect((await cli(['compute', 'endpoint', 'list'])).out).not.toMatch(/pw1/);
    // The Catchment refuses it too when the value is not sent.
    const direct = await c.api('POST', '/api/policy/apply', {
      file: withCompute(''),
      env: { DS_TEST_W1_TOKEN: TOKEN },
    });
    expect(direct.status).toBe(422);
    expect(direct.body.error.message).toMatch(
      /compute\.endpoints\.1\.token_env: environment variable DS_TEST_W2_TOKEN is not set/,
    );
  });

  it('applies endpoints and assignments with the policy, then makes compute exactly what the file says', async () => {
    process.env.DS_TEST_W2_TOKEN = `${TOKEN}-two`;
    const dry = await cli(['policy', 'apply', file('c1.yaml'), '--dry-run']);
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).toMatch(/\+ compute endpoint pw1 grpc:\/\/127\.0\.0\.1:9601 \(active, capacity 2\)/);
    expect((await cli(['compute', 'endpoint', 'list'])).out).not.toMatch(/pw1/);

    const applied = await cli(['policy', 'apply', file('c1.yaml')]);
    expect(applied.code, applied.err).toBe(0);
    expect(applied.out).toMatch(
      /\+ compute assignment group beta → pw1 \(default, fallback on, interactive,async\)/,
    );
    expect(applied.out).toMatch(/\+ compute assignment principal bob → pw2 \(fallback off, async\)/);
    expect(applied.out).not.toContain(TOKEN);
    const explain = await c.api('GET', '/api/compute/explain/bob?kind=async');
    expect(explain.body.routes[0].endpoints).toEqual([
      expect.objectContaining({ name: 'pw2', fallback_local: false }),
    ]);
    expect((await cli(['policy', 'apply', file('c1.yaml')])).out).toMatch(/policy is up to date: no changes/);

    // Same file, one token rotated, one endpoint and its assignment dropped, one assignment changed.
    process.env.DS_TEST_W1_TOKEN = `${TOKEN}-rotated`;
    await writeFile(
      file('c2.yaml'),
      `${BASE_POLICY}  - name: dave
compute:
  endpoints:
    - name: pw1
      url: grpc://127.0.0.1:9601
      token_env: DS_TEST_W1_TOKEN
      capacity: 2
  assignments:
    - endpoint: pw1
      group: beta
      default: false
`,
    );
    const second = await cli(['policy', 'apply', file('c2.yaml')]);
    expect(second.code, second.err).toBe(0);
    expect(second.out).toMatch(/\+ principal dave \(user\)/);
    expect(second.out).toMatch(/~ compute endpoint pw1: token replaced/);
    expect(second.out).toMatch(/- compute endpoint pw2/);
    expect(second.out).toMatch(/- compute assignment principal bob → pw2/);
    expect(second.out).toMatch(/~ compute assignment group beta → pw1 \(fallback on, interactive,async\)/);
    const shown = await c.api('GET', '/api/compute/endpoints/pw1');
    expect(shown.body.endpoint.revision).toBe(2);
    expect((await c.api('GET', '/api/compute/endpoints')).body.endpoints).toHaveLength(1);

    // Audited as one policy change listing the compute diff; no token anywhere in the log.
    const audit = await c.api('GET', '/api/audit?kind=change&limit=10000');
    const applies = (
      audit.body.entries as { action: string; decision: string; detail: { compute?: string[] } }[]
    ).filter((e) => e.action === 'policy.apply' && e.decision === 'allowed' && e.detail.compute?.length);
    // One entry for the whole file: the policy's diff and the compute diff together.
    expect(applies[0]!.detail.compute).toContain('~ compute endpoint pw1: token replaced');
    expect((applies[0]!.detail as { diff?: string[] }).diff).toEqual(['+ principal dave (user)']);
    expect(applies[1]!.detail.compute).toContain(
      '+ compute endpoint pw2 grpc://127.0.0.1:9602 (active, capacity none)',
    );
    const text = JSON.stringify(audit.body);
    expect(text).not.toContain(TOKEN);

    // Only administrators apply policy files, compute sections included (MANAGE on * is not enough).
    expect((await c.api('POST', '/api/grants', { to: 'bob', privileges: ['MANAGE'], on: '*' })).status).toBe(
      200,
    );
    const bobKey = (await c.api('POST', '/api/keys', { principal: 'bob' })).body.key;
    const refused = await c.api('POST', '/api/policy/apply', { file: withCompute(''), env: {} }, bobKey);
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toBe('permission denied: only administrators may apply a policy file');

    // A file without a compute section leaves compute alone.
    expect((await cli(['policy', 'apply', path.join(work, 'base.yaml')])).code).toBe(0);
    expect((await c.api('GET', '/api/compute/endpoints')).body.endpoints).toHaveLength(1);
  });

  it('an invalid section, or one naming an unknown group, changes neither policy nor compute', async () => {
    const before = [
      (await c.api('GET', '/api/compute/endpoints')).body,
      (await c.api('GET', '/api/compute/assignments')).body,
      (await c.api('GET', '/api/policy')).body,
    ];
    const cases: [string, RegExp][] = [
      [
        `${BASE_POLICY}  - name: carol\ncompute:\n  endpoints:\n    - {name: pw1, url: "http://x:1", token_env: DS_TEST_W1_TOKEN}\n`,
        /compute\.endpoints\.0\.url: "http:\/\/x:1" is not a worker address/,
      ],
      [
        `${BASE_POLICY}  - name: carol\ncompute:\n  endpoints:\n    - {name: pw1, url: "grpc://x:1", token_env: DS_TEST_W1_TOKEN}\n  assignments:\n    - {endpoint: pw1, group: gamma}\n`,
        /compute\.assignments\.0\.group: no group "gamma" in the policy/,
      ],
      [
        `${BASE_POLICY}  - name: carol\ncompute:\n  endpoints: []\n  assignments:\n    - {endpoint: nope, everyone: true}\n`,
        /compute\.assignments\.0\.endpoint: no endpoint "nope" in compute\.endpoints/,
      ],
      [
        `${BASE_POLICY}  - name: carol\ncompute:\n  endpoints:\n    - {name: pw1, url: "grpc://x:1", token_env: DS_TEST_W1_TOKEN}\n  assignments:\n    - {endpoint: pw1, everyone: true, job_kinds: [pond]}\n`,
        /compute\.assignments\.0\.job_kinds: unknown job kind "pond"/,
      ],
      [
        `${BASE_POLICY}  - name: carol\ncompute:\n  endpoints:\n    - {name: pw1, url: "grpc://x:1", token: "inline"}\n`,
        /compute\.endpoints\.0/,
      ],
    ];
    for (const [text, message] of cases) {
      await writeFile(file('bad.yaml'), text);
      const out = await cli(['policy', 'apply', file('bad.yaml')]);
      expect(out.code, text).toBe(2);
      expect(out.err, text).toMatch(message);
    }
    const after = [
      (await c.api('GET', '/api/compute/endpoints')).body,
      (await c.api('GET', '/api/compute/assignments')).body,
      (await c.api('GET', '/api/policy')).body,
    ];
    expect(after).toEqual(before);
  });
});
