/**
 * Messages between a Duck and its Ripple host (the sandboxed child process that runs a Pond's
 * TypeScript Ripples). What the host sends is untrusted (Ripple code can call `process.send` itself),
 * so the Duck parses it with these schemas and checks every request against the run it names.
 */
import { z } from 'zod';

/** A Ripple as its module declared it, reported by the host after loading the bundle. */
export interface RippleShape {
  /** Pond-relative module, e.g. `ripples/daily.ts`. */
  file: string;
  name: string;
  parents: string[];
  tables: string[];
}

export type ToHost =
  | { type: 'load'; bundleFile: string }
  | {
      type: 'run';
      run: number;
      ripple: string;
      pond: string;
      pondDir: string;
      f: Date;
      previousF: Date | null;
      /** Source → its published table names (never paths). */
      published: Array<[string, string[]]>;
    }
  | { type: 'reply'; call: number; ok: true; value: unknown }
  | { type: 'reply'; call: number; ok: false; message: string };

const sqlValue = z.union([z.string(), z.number(), z.boolean(), z.bigint(), z.null(), z.date()]);
const sqlParams = z.union([z.array(sqlValue), z.record(z.string(), sqlValue)]).optional();
const id = z.number().int().nonnegative();

export const fromHostSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('loaded'),
    ripples: z.array(
      z.object({
        file: z.string(),
        name: z.string(),
        parents: z.array(z.string()),
        tables: z.array(z.string()),
      }),
    ),
    issues: z.array(z.string()),
  }),
  z.object({ type: z.literal('load-failed'), message: z.string() }),
  z.object({ type: z.literal('sql'), run: id, call: id, query: z.string(), params: sqlParams }),
  z.object({
    type: z.literal('write'),
    run: id,
    call: id,
    table: z.string(),
    selectSql: z.string(),
    params: sqlParams,
  }),
  z.object({
    type: z.literal('log'),
    run: id,
    level: z.enum(['info', 'warn', 'error']),
    message: z.string(),
    fields: z.record(z.string(), z.unknown()).optional(),
  }),
  z.object({ type: z.literal('done'), run: id }),
  z.object({ type: z.literal('failed'), run: id, message: z.string(), stack: z.string().optional() }),
  /** Something went wrong outside any run (a stray rejection): logged, nothing fails. */
  z.object({ type: z.literal('warning'), message: z.string() }),
]);
export type FromHost = z.infer<typeof fromHostSchema>;
