import { readFileSync } from 'node:fs';
import { ripple } from 'duckstring/pond';

/** How much data to generate: data/generator.json (edit it to change the volume). */
interface GeneratorSettings {
  rows: number;
  start: string;
  days: number;
  stores: number;
  products: number;
  seed: number;
}

function readSettings(file: string): GeneratorSettings {
  const s = JSON.parse(readFileSync(file, 'utf8')) as GeneratorSettings;
  for (const key of ['rows', 'days', 'stores', 'products', 'seed'] as const) {
    if (!Number.isSafeInteger(s[key]) || s[key] < 0)
      throw new Error(`data/generator.json: ${key} must be a non-negative integer`);
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s.start)) throw new Error('data/generator.json: start must be YYYY-MM-DD');
  return s;
}

/**
 * Point-of-sale transactions, generated deterministically: the same settings always give the
 * same rows (DuckDB's hash() of the row number stands in for randomness). Transactions are spread
 * evenly over `days` days from `start`.
 */
export const ingest = ripple({
  name: 'ingest',
  tables: ['transaction'],
  async run(ctx) {
    const s = readSettings(ctx.file('data/generator.json'));
    const periodSeconds = s.days * 86_400;
    const { rows } = await ctx.writeTable(
      'transaction',
      `SELECT
         i + 1 AS transaction_id,
         TIMESTAMP '${s.start}' + to_seconds(CAST(i * ${periodSeconds} // greatest(${s.rows}, 1) AS BIGINT)) AS created_at,
         CAST(1 + hash(i, ${s.seed}, 'store') % ${s.stores} AS INTEGER) AS store_id,
         CAST(1 + hash(i, ${s.seed}, 'product') % ${s.products} AS INTEGER) AS product_id,
         CAST(1 + hash(i, ${s.seed}, 'quantity') % 8 AS INTEGER) AS quantity
       FROM range(${s.rows}) AS t(i)`,
    );
    ctx.log.info('generated transactions', { rows, from: s.start, days: s.days });
  },
});
