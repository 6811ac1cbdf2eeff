-- Units sold per day, store and product (from the transactions Source).
SELECT
  CAST(created_at AS DATE) AS sale_date,
  store_id,
  product_id,
  CAST(sum(quantity) AS BIGINT) AS units,
  count(*) AS transactions
FROM transactions.transaction
GROUP BY ALL
ORDER BY sale_date, store_id, product_id
