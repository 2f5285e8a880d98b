-- check: snapshot_fk
-- description: valori d'indicatore, gruppi di aree e catalogo appartengono a un'istantanea registrata (snapshots).
SELECT 'indicator_values' AS tbl, snapshot_id, count(*) AS n FROM indicator_values
WHERE snapshot_id NOT IN (SELECT snapshot_id FROM snapshots) GROUP BY ALL
UNION ALL SELECT 'district_groups', snapshot_id, count(*) FROM district_groups
WHERE snapshot_id NOT IN (SELECT snapshot_id FROM snapshots) GROUP BY ALL
UNION ALL SELECT 'indicator_catalogue', snapshot_id, count(*) FROM indicator_catalogue
WHERE snapshot_id NOT IN (SELECT snapshot_id FROM snapshots) GROUP BY ALL
ORDER BY 1, 2
