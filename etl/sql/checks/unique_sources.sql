-- check: unique_sources
-- description: ogni file di una fonte ha una sola riga di provenienza (chiave source_id, path).
SELECT source_id, path, count(*) AS n
FROM sources
GROUP BY source_id, path
HAVING count(*) > 1
ORDER BY source_id, path
