/**
 * Entry point of a Duck process (`duckstring duck`). Everything it needs comes from the environment:
 * `DUCKSTRING_CATCHMENT_URL`, `DUCKSTRING_DUCK_TOKEN` and `DUCKSTRING_DUCK` (the line, `name@major`).
 */
import { Duck } from './duck.js';
import { createRunner } from './runner.js';

export async function runDuckFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const url = env.DUCKSTRING_CATCHMENT_URL;
  const token = env.DUCKSTRING_DUCK_TOKEN;
  const line = env.DUCKSTRING_DUCK;
  const missing = [
    ['DUCKSTRING_CATCHMENT_URL', url],
    ['DUCKSTRING_DUCK_TOKEN', token],
    ['DUCKSTRING_DUCK', line],
  ].filter(([, v]) => !v);
  if (missing.length > 0) {
    process.stderr.write(`duck: missing environment ${missing.map(([k]) => k).join(', ')}\n`);
    return 2;
  }
  if (!/^[a-z][a-z0-9_]*@\d+$/.test(line!)) {
    process.stderr.write(`duck: DUCKSTRING_DUCK must be "name@major", got "${line}"\n`);
    return 2;
  }
  // Output goes to a log file the Catchment opened; never let a broken stream take the Duck down.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const log = (msg: string, data?: Record<string, unknown>) =>
    process.stderr.write(
      `${JSON.stringify({ time: Date.now(), duck: line, pid: process.pid, msg, ...data })}\n`,
    );
  const duck = new Duck({ catchmentUrl: url!, token: token!, line: line!, runnerFactory: createRunner, log });
  const onSignal = () => {
    duck.stop();
    // In-flight Ripples are re-run from the ledger by the next Duck; do not hang on them.
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await duck.start();
  await duck.loop();
  return 0;
}
