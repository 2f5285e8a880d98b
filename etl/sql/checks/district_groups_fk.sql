-- check: district_groups_fk
-- description: ogni area di un gruppo (classe di periferia, area prioritaria) di questa build è un'area del livello più fine (lo storico copiato non è ricontrollato).
SELECT g.snapshot_id, g.group_level, g.group_id, g.district_id
FROM district_groups g
WHERE g.snapshot_id IN (SELECT build_id FROM build)
  AND NOT EXISTS (
    SELECT 1 FROM districts d JOIN territory_levels t ON t.level = d.level AND t.rank = 0
    WHERE d.id = g.district_id)
ORDER BY g.snapshot_id, g.group_level, g.group_id, g.district_id
