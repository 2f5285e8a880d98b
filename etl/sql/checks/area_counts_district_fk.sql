-- check: area_counts_district_fk
-- description: ogni conteggio per area (area_counts) e ogni unità locale per area (firm_units) è di un'area esistente.
SELECT 'area_counts' AS tbl, c.level, c.district_id, c.source_id, c.path
FROM area_counts c
WHERE NOT EXISTS (SELECT 1 FROM districts d WHERE d.level = c.level AND d.id = c.district_id)
UNION ALL
SELECT 'firm_units', t.level, f.district_id, f.source_id, f.path
FROM firm_units f
CROSS JOIN (SELECT level FROM territory_levels WHERE rank = 0) t
WHERE NOT EXISTS (SELECT 1 FROM districts d WHERE d.level = t.level AND d.id = f.district_id)
ORDER BY 1, 2, 3, 4
