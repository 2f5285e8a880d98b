-- check: indicator_values_area_fk
-- description: l'area di un valore d'indicatore di questa build esiste: un'area del suo livello, il territorio stesso o un gruppo dell'istantanea (lo storico copiato non è ricontrollato).
SELECT v.snapshot_id, v.indicator_id, v.level, v.area_id, count(*) AS n
FROM indicator_values v
WHERE v.snapshot_id IN (SELECT build_id FROM build)
  AND NOT (
       (v.level = 'territory' AND v.area_id IN (SELECT territory_id FROM territory))
    OR (v.level IN ('periphery_class', 'priority_area') AND EXISTS (
           SELECT 1 FROM district_groups g
           WHERE g.snapshot_id = v.snapshot_id AND g.group_level = v.level AND g.group_id = v.area_id))
    OR EXISTS (SELECT 1 FROM districts d WHERE d.level = v.level AND CAST(d.id AS VARCHAR) = v.area_id))
GROUP BY ALL
ORDER BY 1, 2, 3, 4
