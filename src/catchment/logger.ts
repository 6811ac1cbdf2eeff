/** Structured logs (pino) for the Catchment: JSON lines to stderr, or to a file under the root. */
import { pino } from 'pino';
import type { CatchmentOptions } from './catchment.js';

export function catchmentLogger(destination: number | string = 2): NonNullable<CatchmentOptions['log']> {
  const logger = pino(
    { name: 'catchment' },
    pino.destination({ dest: destination, sync: true, mkdir: true }),
  );
  return (level, msg, data) => logger[level](data ?? {}, msg);
}
