-- check: places_parent_fk
-- description: il livello superiore di un luogo (parent_id) è un'area esistente del livello superiore del territorio.
SELECT p.theme, p.source_id, p.source_key, p.parent_id
FROM places p
WHERE p.parent_id IS NOT NULL  -- an anti join on the level's ids (districts.id is NOT NULL)
  AND p.parent_id NOT IN (SELECT d.id FROM districts d JOIN territory_levels t ON t.level = d.level AND t.rank = 1)
ORDER BY p.theme, p.source_id, p.source_key
