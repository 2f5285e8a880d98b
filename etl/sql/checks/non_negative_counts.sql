-- check: non_negative_counts
-- description: conteggi, residenti, superfici e posti non sono negativi.
SELECT 'area_counts' AS tbl, 'count' AS col, source_id, path, count(*) AS n FROM area_counts WHERE count < 0 GROUP BY ALL
UNION ALL SELECT 'population', 'residents', source_id, path, count(*) FROM population WHERE residents < 0 GROUP BY ALL
UNION ALL SELECT 'firm_units', 'units', source_id, path, count(*) FROM firm_units WHERE units < 0 GROUP BY ALL
UNION ALL SELECT 'firm_totals', 'firms/units', source_id, path, count(*) FROM firm_totals WHERE firms < 0 OR units < 0 GROUP BY ALL
UNION ALL SELECT 'places', 'area_m2', source_id, path, count(*) FROM places WHERE area_m2 < 0 GROUP BY ALL
UNION ALL SELECT 'places', 'seats', source_id, path, count(*) FROM places WHERE seats < 0 GROUP BY ALL
UNION ALL SELECT 'places', 'employees', source_id, path, count(*) FROM places WHERE employees < 0 GROUP BY ALL
UNION ALL SELECT 'districts', 'area_m2', source_id, NULL, count(*) FROM districts WHERE area_m2 < 0 GROUP BY ALL
ORDER BY 1, 2, 3, 4
