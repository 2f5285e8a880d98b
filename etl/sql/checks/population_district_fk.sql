-- check: population_district_fk
-- description: ogni cifra di popolazione è di un'area esistente del suo livello.
SELECT p.level, p.district_id, p.year, p.source_id, p.path
FROM population p
WHERE NOT EXISTS (SELECT 1 FROM districts d WHERE d.level = p.level AND d.id = p.district_id)
ORDER BY p.level, p.district_id, p.year, p.source_id
