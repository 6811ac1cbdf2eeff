/**
 * Entry point of a Duck process (`duckstring duck`). Everything it needs comes from the environment:
 * `DUCKSTRING_CATCHMENT_URL` and `DUCKSTRING_DUCK_TOKEN`; `DUCKSTRING_DUCK` (the line, `name@major`)
 * saves one request when the Catchment spawns the Duck itself. `DUCKSTRING_DUCK_STORAGE=http` makes
 * it keep its line in its own work directory (`DUCKSTRING_DUCK_WORKDIR`) and reach the Catchment's
 * data over HTTP only, whatever the Catchment's config says (see storage.ts).
 */
import { type Answer, ApiUnreachable, CatchmentApi } from '../api/client.js';
import { duckWhoami } from '../api/duck.js';
import type { ResponseOf } from '../api/endpoint.js';
import { isLineId } from '../shared/ids.js';
import { Duck } from './duck.js';
import { createRunner } from './runner.js';

/** The Duck cannot start: a missing or wrong setting, or a refused token. */
export class DuckSetupError extends Error {}

export async function runDuckFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const url = env.DUCKSTRING_CATCHMENT_URL;
  const token = env.DUCKSTRING_DUCK_TOKEN;
  const missing = [
    ['DUCKSTRING_CATCHMENT_URL', url],
    ['DUCKSTRING_DUCK_TOKEN', token],
  ].filter(([, v]) => !v);
  if (missing.length > 0)
    throw new DuckSetupError(`duck: missing environment ${missing.map(([k]) => k).join(', ')}`);
  // The line is optional: a Duck started by hand (e.g. on another machine) learns it from its token.
  let line = env.DUCKSTRING_DUCK;
  if (!line) {
    line = await whoami(url!, token!);
  }
  if (!isLineId(line)) {
    throw new DuckSetupError(`duck: DUCKSTRING_DUCK must be "name@major", got "${line}"`);
  }
  // Output goes to a log file the Catchment opened; never let a broken stream take the Duck down.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const log = (msg: string, data?: Record<string, unknown>) =>
    process.stderr.write(
      `${JSON.stringify({ time: Date.now(), duck: line, pid: process.pid, msg, ...data })}\n`,
    );
  const storage = env.DUCKSTRING_DUCK_STORAGE;
  if (storage !== undefined && storage !== '' && storage !== 'local' && storage !== 'http')
    throw new DuckSetupError(`duck: DUCKSTRING_DUCK_STORAGE must be "local" or "http", got "${storage}"`);
  const orphanMs = env.DUCKSTRING_DUCK_ORPHAN_MS ? Number(env.DUCKSTRING_DUCK_ORPHAN_MS) : undefined;
  const duck = new Duck({
    catchmentUrl: url!,
    token: token!,
    line,
    runnerFactory: createRunner,
    log,
    ...(storage === 'http' ? { storage: 'http' as const } : {}),
    ...(env.DUCKSTRING_DUCK_WORKDIR ? { workDir: env.DUCKSTRING_DUCK_WORKDIR } : {}),
    ...(orphanMs !== undefined && Number.isFinite(orphanMs) ? { orphanMs } : {}),
  });
  const onSignal = () => {
    duck.stop();
    // In-flight Ripples are re-run from the ledger by the next Duck; do not hang on them.
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await duck.start();
  await duck.loop();
}

async function whoami(url: string, token: string): Promise<string> {
  let answer: Answer<ResponseOf<typeof duckWhoami>>;
  try {
    answer = await new CatchmentApi(url, token).exchange(duckWhoami, {});
  } catch (err) {
    const failure = err instanceof ApiUnreachable ? err.failure : (err as Error);
    throw new DuckSetupError(`duck: cannot reach the Catchment at ${url}: ${failure.message}`);
  }
  if (answer.status < 200 || answer.status >= 300)
    throw new DuckSetupError(`duck: the Catchment at ${url} refused this Duck token (${answer.status})`);
  return answer.body.line;
}
