-- check: territory_level_ranks
-- description: i livelli del territorio hanno rango 0..n-1 senza buchi, almeno uno, e ciascuno è raggruppato dal livello di rango successivo.
WITH lv AS (SELECT level, rank, parent_level, count(*) OVER () AS n FROM territory_levels)
SELECT 'nessun livello' AS problem, NULL AS level, NULL::INTEGER AS rank, NULL AS parent_level
WHERE NOT EXISTS (SELECT 1 FROM territory_levels)
UNION ALL
SELECT 'rango fuori da 0..n-1', level, rank, parent_level FROM lv WHERE rank < 0 OR rank >= n
UNION ALL
SELECT 'livello superiore diverso da quello di rango successivo', a.level, a.rank, a.parent_level
FROM territory_levels a
LEFT JOIN territory_levels b ON b.rank = a.rank + 1
WHERE a.parent_level IS DISTINCT FROM b.level
ORDER BY 1, 3, 2
