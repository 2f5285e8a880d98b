-- check: periphery_groups_count
-- description: in questa build il numero di aree di ogni gruppo (periphery_groups.n_areas) è quello delle sue aree in district_groups, e ogni gruppo usato è descritto.
WITH members AS (
    SELECT snapshot_id, group_level, group_id, count(*) AS n
    FROM district_groups
    WHERE snapshot_id IN (SELECT build_id FROM build)
    GROUP BY ALL
),
described AS (
    SELECT snapshot_id, group_level, group_id, n_areas
    FROM periphery_groups
    WHERE snapshot_id IN (SELECT build_id FROM build)
)
SELECT coalesce(d.snapshot_id, m.snapshot_id) AS snapshot_id, coalesce(d.group_level, m.group_level) AS group_level,
       coalesce(d.group_id, m.group_id) AS group_id, d.n_areas, coalesce(m.n, 0) AS members
FROM described d
FULL OUTER JOIN members m USING (snapshot_id, group_level, group_id)
WHERE d.n_areas IS NULL OR d.n_areas <> coalesce(m.n, 0)
ORDER BY 1, 2, 3
