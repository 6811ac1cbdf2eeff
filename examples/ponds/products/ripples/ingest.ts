import { ripple } from 'duckstring/pond';

/**
 * The product catalog, read from data/catalog.csv shipped inside this Pond (relative paths in
 * SQL resolve against the Pond's root). Types are fixed here so a catalog edit cannot silently
 * turn prices into text.
 */
export const ingest = ripple({
  name: 'ingest',
  tables: ['product'],
  async run(ctx) {
    const { rows } = await ctx.writeTable(
      'product',
      `SELECT product_id, name, category, unit_price
       FROM read_csv('data/catalog.csv', header = true,
         columns = {'product_id': 'INTEGER', 'name': 'VARCHAR', 'category': 'VARCHAR', 'unit_price': 'DECIMAL(10,2)'})
       ORDER BY product_id`,
    );
    const [dupes] = await ctx.sql<{ n: bigint }>(
      'SELECT count(*) - count(DISTINCT product_id) AS n FROM product',
    );
    if (dupes && dupes.n > 0n)
      throw new Error(`data/catalog.csv lists ${dupes.n} product_id(s) more than once`);
    ctx.log.info('catalog loaded', { rows });
  },
});
