/** Governed queries over published snapshots. */
import { z } from 'zod/v4';
import { endpoint } from './endpoint.js';

export const query = endpoint({
  method: 'POST',
  path: '/api/query',
  summary:
    'Run one governed SELECT over published snapshots (grants, row filters and masks applied); tables are pond.table or "pond@2".table',
  auth: 'principal',
  body: z.object({ sql: z.string().min(1, 'sql must not be empty') }).strict(),
  response: z.object({
    columns: z.array(z.object({ name: z.string(), type: z.string() })),
    /** One array per row, in column order; values as JSON (see docs for each DuckDB type). */
    rows: z.array(z.array(z.unknown())),
    row_count: z.number().int(),
    /** True when the result had more rows than the row limit; `rows` holds the first ones. */
    truncated: z.boolean(),
  }),
});
