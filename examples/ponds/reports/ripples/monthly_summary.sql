-- Revenue, units and transactions per month and product category (from the sales Source).
SELECT
  year(sale_date) AS year,
  month(sale_date) AS month,
  category,
  sum(revenue) AS total_revenue,
  CAST(sum(units) AS BIGINT) AS units_sold,
  CAST(sum(transactions) AS BIGINT) AS tx_count
FROM sales.sale_line
GROUP BY ALL
ORDER BY year, month, category
