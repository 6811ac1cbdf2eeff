/**
 * The Duck jobs long poll hands a job only to the line's current Duck: a poll that was waiting when
 * a replacement Duck was issued a new token (the old Duck orphaned, e.g. its worker died) must not
 * take the replacement's job — the job stays queued for the Duck holding the current token.
 */
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DuckService } from '../../src/catchment/app/duck-service.js';
import { removeDir, TestCatchment, tempDir, writePond } from '../support/runtime.js';

let work: string;
let c: TestCatchment;

beforeAll(async () => {
  work = await tempDir('duck-jobs');
  c = await TestCatchment.start(path.join(work, 'root'));
  const pond = await writePond(work, { name: 'p', files: { 'ripples/t.sql': 'SELECT 1 AS x' } });
  expect((await c.deploy(pond)).status).toBe(201);
});

afterAll(async () => {
  await c?.close();
  await removeDir(work);
});

it("a poll whose token was replaced while it waited gives its job back to the current Duck's poll", async () => {
  const { catchment } = c.running;
  const service = new DuckService(catchment);
  const line = { pond: 'p', major: 1 };
  const register = () =>
    catchment.store.registerDuck({ pond: 'p', major: 1, pid: null, atMs: Date.now() }).token;
  const orphan = register();
  const waiting = service.jobs(line, 60_000, orphan);
  const current = register();
  catchment.jobs.push('p@1', { kind: 'stop' });
  expect(await waiting).toEqual([]);
  expect(await service.jobs(line, 0, current)).toEqual([{ kind: 'stop' }]);
});
