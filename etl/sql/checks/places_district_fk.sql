-- check: places_district_fk
-- description: ogni luogo assegnato a un'area punta a un'area esistente del livello più fine.
SELECT p.theme, p.source_id, p.source_key, p.district_id
FROM places p
WHERE p.district_id IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM districts d JOIN territory_levels t ON t.level = d.level AND t.rank = 0
      WHERE d.id = p.district_id)
ORDER BY p.theme, p.source_id, p.source_key
