-- check: unique_places
-- description: ogni luogo compare una sola volta per tema e file (chiave theme, source_id, path, source_key).
SELECT theme, source_id, path, source_key, count(*) AS n
FROM places
GROUP BY theme, source_id, path, source_key
HAVING count(*) > 1
ORDER BY theme, source_id, path, source_key
