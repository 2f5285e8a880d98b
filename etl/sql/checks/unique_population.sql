-- check: unique_population
-- description: un file dà al più una cifra per area e anno (altrimenti le somme per livello superiore raddoppiano).
SELECT level, district_id, year, source_id, path, count(*) AS n
FROM population
GROUP BY level, district_id, year, source_id, path
HAVING count(*) > 1
ORDER BY level, district_id, year, source_id, path
