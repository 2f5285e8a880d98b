-- check: unique_indicator_values
-- description: un solo valore per istantanea, indicatore, livello, area e periodo (periodo vuoto compreso).
SELECT snapshot_id, indicator_id, level, area_id, period, count(*) AS n
FROM indicator_values
GROUP BY snapshot_id, indicator_id, level, area_id, period
HAVING count(*) > 1
ORDER BY snapshot_id, indicator_id, level, area_id, period
