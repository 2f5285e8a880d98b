-- check: accepted_levels
-- description: i livelli delle tabelle per area sono livelli del territorio (territory_levels); indicatori e totali ammettono anche 'territory', 'periphery_class', 'priority_area'.
WITH known AS (SELECT level FROM territory_levels),
used AS (
    SELECT 'districts' AS tbl, level, count(*) AS n FROM districts GROUP BY level
    UNION ALL SELECT 'population', level, count(*) FROM population GROUP BY level
    UNION ALL SELECT 'area_counts', level, count(*) FROM area_counts GROUP BY level
    UNION ALL SELECT 'indicator_values', level, count(*) FROM indicator_values GROUP BY level
    UNION ALL SELECT 'firm_totals', level, count(*) FROM firm_totals GROUP BY level
    UNION ALL SELECT 'target_status', level, count(*) FROM target_status GROUP BY level
)
SELECT tbl, level, n
FROM used
WHERE level IS NULL
   OR (level NOT IN (SELECT level FROM known)
       AND NOT (tbl IN ('indicator_values', 'firm_totals', 'target_status')
                AND level IN ('territory', 'periphery_class', 'priority_area')))
ORDER BY tbl, level
