-- check: districts_parent_fk
-- description: il parent_id di un'area del livello più fine è un'area del livello superiore; gli altri livelli non hanno parent_id.
SELECT d.level, d.id, d.parent_id,
       CASE WHEN t.rank = 0 THEN 'area superiore inesistente' ELSE 'parent_id su un livello senza livello superiore' END AS problem
FROM districts d
LEFT JOIN territory_levels t ON t.level = d.level
WHERE d.parent_id IS NOT NULL
  AND (t.rank IS DISTINCT FROM 0
       OR NOT EXISTS (SELECT 1 FROM districts p WHERE p.level = t.parent_level AND p.id = d.parent_id))
ORDER BY d.level, d.id
