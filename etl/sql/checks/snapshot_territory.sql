-- check: snapshot_territory
-- description: lo storico non mescola territori: ogni istantanea è del territorio di questo warehouse.
SELECT s.snapshot_id, s.territory_id, (SELECT string_agg(territory_id, ', ') FROM territory) AS warehouse_territory
FROM snapshots s
WHERE s.territory_id IS NOT NULL AND s.territory_id NOT IN (SELECT territory_id FROM territory)
ORDER BY s.snapshot_id
