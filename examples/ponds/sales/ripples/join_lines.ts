import { ripple } from 'duckstring/pond';

/**
 * Sale lines: daily units priced with the product catalog. Lines whose product is missing from
 * the catalog are dropped, and counted in the log so a catalog gap is visible.
 */
export const joinLines = ripple({
  name: 'join_lines',
  parents: ['daily_sales', 'price_tiers'],
  tables: ['sale_line'],
  async run(ctx) {
    const [orphans] = await ctx.sql<{ lines: bigint }>(
      `SELECT count(*) AS lines FROM daily_sales d ANTI JOIN price_tiers p USING (product_id)`,
    );
    if (orphans && orphans.lines > 0n) {
      ctx.log.warn('daily sales for products missing from the catalog were dropped', {
        lines: orphans.lines,
      });
    }
    const { rows } = await ctx.writeTable(
      'sale_line',
      `SELECT
         d.sale_date, d.store_id, d.product_id,
         p.name AS product_name, p.category, p.tier,
         d.units, d.transactions, p.unit_price,
         CAST(d.units * p.unit_price AS DECIMAL(18, 2)) AS revenue
       FROM daily_sales AS d
       JOIN price_tiers AS p USING (product_id)
       ORDER BY d.sale_date, d.store_id, d.product_id`,
    );
    ctx.log.info('sale lines written', { rows });
  },
});
