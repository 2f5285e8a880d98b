-- check: place_proximity_fk
-- description: ogni distanza memorizzata è di uno spazio vuoto esistente, non negativa, con il conteggio solo quando c'è la distanza; ogni spazio vuoto ha la sua riga per ogni tema misurato.
WITH vacant AS (SELECT DISTINCT source_id, source_key FROM places WHERE theme = 'vacant'),
themes AS (SELECT DISTINCT near_theme FROM place_proximity)
SELECT 'spazio vuoto inesistente' AS problem, x.source_id, x.source_key, x.near_theme
FROM place_proximity x
WHERE NOT EXISTS (SELECT 1 FROM vacant v WHERE v.source_id = x.source_id AND v.source_key = x.source_key)
UNION ALL
SELECT 'distanza o conteggio incoerenti', source_id, source_key, near_theme
FROM place_proximity
WHERE nearest_m < 0 OR n_within < 0 OR within_m <= 0 OR (nearest_m IS NULL) <> (n_within IS NULL)
UNION ALL
SELECT 'riga mancante', v.source_id, v.source_key, t.near_theme
FROM vacant v CROSS JOIN themes t
WHERE NOT EXISTS (SELECT 1 FROM place_proximity x
                  WHERE x.source_id = v.source_id AND x.source_key = v.source_key AND x.near_theme = t.near_theme)
ORDER BY 1, 2, 3, 4
