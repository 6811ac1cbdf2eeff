/**
 * The router over real gRPC connections to scripted workers: placement, the query's own errors,
 * fallback and its absence, health and the breaker, least outstanding and capacity, endpoint
 * changes without restart, canaries, and the token never leaving.
 */
import { createHook } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mintCapability, verifyCapability } from '../../../src/compute/capability.js';
import {
  RowBatchSchema,
  SchemaSchema,
} from '../../../src/compute/grpc/gen/duckstring/worker/v1/worker_pb.js';
import type { QueryResult } from '../../../src/compute/query.js';
import { QueryError } from '../../../src/compute/query.js';
import type { QueryBackend, QueryBackendRequest } from '../../../src/compute/query-backend.js';
import { readRemoteRoutingFlags } from '../../../src/compute/remote/flags.js';
import {
  ComputeUnavailable,
  createRemoteRouting,
  type RemoteRouting,
} from '../../../src/compute/remote/index.js';
import { type Placement, placementLabel } from '../../../src/compute/topology.js';
import { ManualClock } from '../../support/manual-clock.js';
import { PlainDirectory } from './directory.js';
import { answer, encode, type ScriptedWorker, startScriptedWorker } from './scripted-worker.js';

const COLUMNS = [
  { name: 'id', type: 'BIGINT' },
  { name: 'note', type: 'VARCHAR' },
];
const REMOTE_ROWS = [
  [1, 'a'],
  [2, null],
  ['9007199254740993', 'big'],
];
const LOCAL: QueryResult = { columns: COLUMNS, rows: [[0, 'local']], row_count: 1, truncated: false };
const ON = { FEATURE_REMOTE_ROUTING: '1', FEATURE_INTERNAL_GRPC: '1' };

/** The local executor's port: counts what reached it. */
class CountingLocal implements QueryBackend {
  calls = 0;
  async execute(_request: QueryBackendRequest): Promise<QueryResult> {
    this.calls += 1;
    return LOCAL;
  }
}

const request: QueryBackendRequest = {
  sql: 'SELECT 1',
  tables: [
    {
      relation: 'sales@1.orders',
      snapshot: { pond: 'sales', major: 1, table: 'orders', file: 'orders/abc.parquet', checksum: '10:1' },
    },
  ],
  principal: 'alice',
  timeoutMs: 5_000,
};

const workers: ScriptedWorker[] = [];
let routing: RemoteRouting | undefined;
afterEach(async () => {
  await routing?.stop();
  routing = undefined;
  for (const w of workers.splice(0)) await w.close();
});

async function worker(token = `tok-${randomBytes(8).toString('hex')}`, port = 0): Promise<ScriptedWorker> {
  const w = await startScriptedWorker(token, port);
  w.execute = answer(COLUMNS, REMOTE_ROWS);
  workers.push(w);
  return w;
}

const key = randomBytes(32);
function setup(env: Record<string, string> = ON, groups: Record<string, string[]> = {}) {
  const isMember = (p: string, g: string) => (groups[p] ?? []).includes(g);
  const directory = new PlainDirectory(isMember);
  const local = new CountingLocal();
  const clock = new ManualClock(Date.now());
  routing = createRemoteRouting({
    directory,
    flags: readRemoteRoutingFlags(env),
    isMember,
    local,
    clock,
    grant: {
      sizeOf: () => 10,
      capability: (files, ttlMs) => mintCapability(key, { files, expiresAt: Date.now() + ttlMs }),
      snapshotUrl: () => 'http://127.0.0.1:7474',
    },
    breaker: { failureThreshold: 2, openMs: 1_000 },
  });
  const r = routing;
  const run = async (principal = 'alice') => {
    const placements: Placement[] = [];
    const result = await r.router.execute({ ...request, principal }, 'interactive', (p) =>
      placements.push(p),
    );
    return { result, placement: placementLabel(placements.at(-1)!), placements };
  };
  return { directory, local, clock, routing: r, run };
}

describe('remote routing', () => {
  it('runs a routed query on its worker and assembles the streamed batches into the result', async () => {
    const w = await worker();
    const { directory, run, local } = setup();
    directory.addEndpoint({ name: 'w1', url: w.url, token: w.token });
    directory.assign({ subject: 'alice', endpoint: 'w1', fallbackLocal: true });
    let spec: unknown;
    const inner = w.execute;
    w.execute = (s, ctx) => {
      spec = s;
      return inner(s, ctx);
    };
    const { result, placement } = await run();
    expect(placement).toBe('remote:w1');
    expect(result).toEqual({ columns: COLUMNS, rows: REMOTE_ROWS, row_count: 3, truncated: false });
    expect(local.calls).toBe(0);
    expect(w.seenAuth).toContain(`Bearer ${w.token}`);
    const s = spec as { sql: string; tables: Array<{ file: string; size: bigint }>; capability: string };
    expect(s.sql).toBe('SELECT 1');
    expect(s.tables.map((t) => [t.file, t.size])).toEqual([['orders/abc.parquet', 10n]]);
    const verdict = verifyCapability(key, s.capability, Date.now());
    expect(verdict).toMatchObject({ ok: true });
  });

  it('leaves no timer behind once a routed query has answered (a process can exit at once)', async () => {
    const w = await worker();
    const { directory, run } = setup();
    directory.addEndpoint({ name: 'w1', url: w.url, token: w.token });
    directory.assign({ subject: 'alice', endpoint: 'w1', fallbackLocal: true });
    await run(); // connects first: the connection's own timers are not the call's
    const timers = new Map<number, { hasRef?: () => boolean }>();
    const hook = createHook({
      init(id, type, _trigger, resource) {
        if (type === 'Timeout') timers.set(id, resource as { hasRef?: () => boolean });
      },
      destroy(id) {
        timers.delete(id);
      },
    }).enable();
    try {
      const { placement } = await run();
      expect(placement).toBe('remote:w1');
      // The call's deadline (the query's whole time limit) kept a Catchment alive for ~30 s after Ctrl-C.
      await new Promise((resolve) => setImmediate(resolve));
      const pending = [...timers.values()].filter((t) => t.hasRef?.() === true);
      expect(pending.map((t) => (t as { _idleTimeout?: number })._idleTimeout)).toEqual([]);
    } finally {
      hook.disable();
    }
  });

  it("surfaces the query's own error from the worker as a local run would, without fallback", async () => {
    const w = await worker();
    const { directory, run, local, routing } = setup();
    directory.addEndpoint({ name: 'w1', url: w.url, token: w.token });
    directory.assign({ subject: 'alice', endpoint: 'w1', fallbackLocal: true });
    w.execute = async function* () {
      yield* [];
      throw new ConnectError('Out of Memory: the query needs more than 1 GiB', Code.ResourceExhausted, {
        'x-duckstring-error-code': 'resource_limit',
      });
    };
    const error = await run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryError);
    expect(error).toMatchObject({ code: 'resource_limit', httpStatus: 422 });
    expect(local.calls).toBe(0);
    expect(routing.health.health('w1')).toMatchObject({ healthy: true, breaker: 'closed' });
  });

  it('falls back to local when the worker is unreachable, and says why', async () => {
    const w = await worker();
    const { directory, run, local, routing } = setup();
    directory.addEndpoint({ name: 'w1', url: w.url, token: w.token });
    directory.assign({ subject: 'alice', endpoint: 'w1', fallbackLocal: true });
    await w.close();
    const { result, placement, placements } = await run();
    expect(result).toEqual(LOCAL);
    expect(placement).toBe('fallback:w1');
    expect(placements.at(-1)).toEqual({ kind: 'fallback', endpoint: 'w1', reason: 'unavailable' });
    expect(local.calls).toBe(1);
    expect(routing.status().endpoints[0]).toMatchObject({
      name: 'w1',
      failures: { unavailable: 1 },
      fallbacks: { unavailable: 1 },
    });
  });

  it('answers 503 naming the endpoint when fallback is off, and never runs locally', async () => {
    const w = await worker();
    const { directory, run, local } = setup();
    directory.addEndpoint({ name: 'w1', url: w.url, token: w.token });
    directory.assign({ subject: 'alice', endpoint: 'w1', fallbackLocal: false });
    await w.close();
    const error = await run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ComputeUnavailable);
    expect(error).toMatchObject({ code: 'compute_unavailable', httpStatus: 503, expose: true });
    expect((error as Error).message).toMatch(/"w1".*fallback to local execution is off/);
    expect(local.calls).toBe(0);
  });

  it('falls back on a stream that stops half-way or sends a malformed batch', async () => {
    const w = await worker();
    const { directory, run } = setup();
    directory.addEndpoint({ name: 'w1', url: w.url, token: w.token });
    directory.assign({ subject: 'alice', endpoint: 'w1', fallbackLocal: true });
    w.execute = async function* () {
      yield { case: 'schema', value: create(SchemaSchema, { columns: COLUMNS }) };
      yield { case: 'batch', value: create(RowBatchSchema, { rowsJson: encode([[1, 'a']]), rowCount: 1 }) };
    };
    expect((await run()).placements.at(-1)).toEqual({ kind: 'fallback', endpoint: 'w1', reason: 'protocol' });
    w.execute = async function* () {
      yield { case: 'schema', value: create(SchemaSchema, { columns: COLUMNS }) };
      yield { case: 'batch', value: create(RowBatchSchema, { rowsJson: encode([[1]]), rowCount: 1 }) };
    };
    expect((await run()).placements.at(-1)).toMatchObject({ kind: 'fallback', reason: 'protocol' });
  });

  it('a wrong token: unhealthy with reason "authentication", queries go straight to fallback, the token appears nowhere', async () => {
    const w = await worker('the-right-token');
    const { directory, run, routing } = setup();
    const secret = 'wrong-token-S3CRET';
    directory.addEndpoint({ name: 'w1', url: w.url, token: secret });
    directory.assign({ subject: 'alice', endpoint: 'w1', fallbackLocal: true });
    await routing.health.checkAll();
    expect(routing.health.health('w1')).toMatchObject({ healthy: false, reason: 'authentication' });
    const before = w.executeCalls;
    const { placements } = await run();
    expect(placements).toEqual([{ kind: 'fallback', endpoint: 'w1', reason: 'authentication' }]);
    expect(w.executeCalls).toBe(before);
    directory.assignments = [{ subject: 'alice', endpoint: 'w1', fallbackLocal: false }];
    const error = (await run().catch((e: unknown) => e)) as ComputeUnavailable;
    expect(error.message).toContain('refused the endpoint token');
    const everything = JSON.stringify([
      routing.status(),
      routing.health.report(),
      error.message,
      String(error.stack),
    ]);
    expect(everything).not.toContain(secret);
    // Fixing the token takes effect without a restart.
    directory.update('w1', { token: 'the-right-token' });
    await routing.health.checkAll();
    expect(routing.health.health('w1')).toMatchObject({ healthy: true });
    expect((await run()).placement).toBe('remote:w1');
  });

  it('opens the breaker after repeated failures, and a restarted worker on the same address is used again', async () => {
    const w = await worker();
    const port = w.port;
    const { directory, run, routing, clock } = setup();
    directory.addEndpoint({ name: 'w1', url: w.url, token: w.token });
    directory.assign({ subject: 'alice', endpoint: 'w1', fallbackLocal: true });
    await w.close();
    expect((await run()).placements.at(-1)).toMatchObject({ reason: 'unavailable' });
    expect((await run()).placements.at(-1)).toMatchObject({ reason: 'unavailable' });
    await routing.health.checkAll();
    expect(routing.health.health('w1')).toMatchObject({ healthy: false });
    const again = await worker(w.token, port);
    const calls = again.executeCalls;
    expect((await run()).placement).toBe('fallback:w1');
    expect(again.executeCalls).toBe(calls);
    clock.advance(1_000);
    await routing.health.checkAll();
    expect(routing.health.health('w1')).toMatchObject({ healthy: true, breaker: 'closed' });
    expect((await run()).placement).toBe('remote:w1');
  });

  it('shares load by least outstanding queries and respects capacity', async () => {
    const w1 = await worker();
    const w2 = await worker();
    const { directory, run } = setup();
    directory.addEndpoint({ name: 'w1', url: w1.url, token: w1.token, capacity: 1 });
    directory.addEndpoint({ name: 'w2', url: w2.url, token: w2.token, capacity: 1 });
    directory.assign({ subject: '*', endpoint: 'w1', fallbackLocal: true });
    directory.assign({ subject: '*', endpoint: 'w2', fallbackLocal: true });
    let releaseHeld!: () => void;
    const held = new Promise<void>((resolve) => {
      releaseHeld = resolve;
    });
    let started!: () => void;
    const isStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    const quick = w1.execute;
    w1.execute = (s, ctx) =>
      (async function* () {
        started();
        await held;
        yield* quick(s, ctx);
      })();
    const first = run();
    await isStarted;
    expect((await run()).placement).toBe('remote:w2');
    w2.execute = (s, ctx) =>
      (async function* () {
        started();
        await held;
        yield* quick(s, ctx);
      })();
    const second = run();
    // Both endpoints are at capacity: the third query falls back rather than queue behind them.
    await new Promise((resolve) => setImmediate(resolve));
    const third = await run();
    expect(third.placements.at(-1)).toMatchObject({ kind: 'fallback', reason: 'resource' });
    releaseHeld();
    expect((await first).placement).toBe('remote:w1');
    expect((await second).placement).toBe('remote:w2');
  });

  it('routes only when both flags are on, and only the canary audience', async () => {
    const w = await worker();
    const off = setup({ FEATURE_REMOTE_ROUTING: '1' });
    off.directory.addEndpoint({ name: 'w1', url: w.url, token: w.token });
    off.directory.assign({ subject: '*', endpoint: 'w1', fallbackLocal: true });
    expect((await off.run()).placement).toBe('local');
    expect(off.routing.router.plan('alice', 'interactive')).toMatchObject({
      kind: 'local',
      reason: 'remote routing is off (FEATURE_INTERNAL_GRPC)',
    });
    await off.routing.stop();
    const canary = setup({ ...ON, REMOTE_CANARY_USERS: 'alice,group:beta' }, { carol: ['beta'] });
    canary.directory.addEndpoint({ name: 'w1', url: w.url, token: w.token });
    canary.directory.assign({ subject: '*', endpoint: 'w1', fallbackLocal: true });
    expect((await canary.run('alice')).placement).toBe('remote:w1');
    expect((await canary.run('carol')).placement).toBe('remote:w1');
    expect((await canary.run('dave')).placement).toBe('local');
  });

  it('checks health in the background on the injected clock, never per query', async () => {
    const w = await worker();
    const { directory, run, routing, clock } = setup();
    directory.addEndpoint({ name: 'w1', url: w.url, token: w.token });
    directory.assign({ subject: 'alice', endpoint: 'w1', fallbackLocal: true });
    routing.start();
    await vi.waitFor(() => expect(routing.health.health('w1')?.lastCheckAt).not.toBeNull());
    const checks = w.healthCalls;
    for (let i = 0; i < 5; i++) expect((await run()).placement).toBe('remote:w1');
    expect(w.healthCalls).toBe(checks);
    clock.advance(5_000);
    await vi.waitFor(() => expect(w.healthCalls).toBe(checks + 1));
    clock.advance(5_000);
    await vi.waitFor(() => expect(w.healthCalls).toBe(checks + 2));
  });

  it('a draining worker is skipped by its health, and a deleted endpoint loses its connection', async () => {
    const w = await worker();
    const { directory, run, routing } = setup();
    directory.addEndpoint({ name: 'w1', url: w.url, token: w.token });
    directory.assign({ subject: 'alice', endpoint: 'w1', fallbackLocal: true });
    expect((await run()).placement).toBe('remote:w1');
    expect(routing.pool.connected()).toEqual(['w1']);
    w.draining = true;
    await routing.health.checkAll();
    expect(routing.health.health('w1')).toMatchObject({ healthy: false, reason: 'draining' });
    expect((await run()).placements).toEqual([{ kind: 'fallback', endpoint: 'w1', reason: 'draining' }]);
    directory.remove('w1');
    await routing.health.checkAll();
    expect(routing.pool.connected()).toEqual([]);
    expect((await run()).placement).toBe('local');
  });
});
