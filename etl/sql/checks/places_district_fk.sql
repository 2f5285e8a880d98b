-- check: places_district_fk
-- description: ogni luogo assegnato a un'area punta a un'area esistente del livello più fine.
SELECT p.theme, p.source_id, p.source_key, p.district_id
FROM places p
WHERE p.district_id IS NOT NULL  -- an anti join on the level's ids (districts.id is NOT NULL)
  AND p.district_id NOT IN (SELECT d.id FROM districts d JOIN territory_levels t ON t.level = d.level AND t.rank = 0)
ORDER BY p.theme, p.source_id, p.source_key
