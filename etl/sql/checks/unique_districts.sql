-- check: unique_districts
-- description: ogni area compare una sola volta per livello (chiave level, id).
SELECT level, id, count(*) AS n
FROM districts
GROUP BY level, id
HAVING count(*) > 1
ORDER BY level, id
