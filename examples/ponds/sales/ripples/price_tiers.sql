-- Each product with its price tier; the tier bands ship with this Pond in data/tiers.csv.
WITH tiers AS (
  SELECT tier, CAST(min_price AS DECIMAL(10, 2)) AS min_price, CAST(max_price AS DECIMAL(10, 2)) AS max_price
  FROM read_csv('data/tiers.csv', header = true)
)
SELECT p.product_id, p.name, p.category, p.unit_price, coalesce(t.tier, 'unpriced') AS tier
FROM products.product AS p
LEFT JOIN tiers AS t ON p.unit_price >= t.min_price AND p.unit_price < t.max_price
ORDER BY p.product_id
