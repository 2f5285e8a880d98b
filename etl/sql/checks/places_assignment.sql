-- check: places_assignment
-- description: il modo di assegnazione corrisponde ai dati (punto nel poligono con coordinate e area; solo livello superiore senza area fine; coordinate sempre in coppia).
SELECT theme, source_id, source_key, assignment, district_id, parent_id, lon, lat,
       CASE WHEN (lon IS NULL) <> (lat IS NULL) THEN 'una sola coordinata'
            WHEN assignment = 'point_in_polygon' AND (lon IS NULL OR district_id IS NULL)
                THEN 'point_in_polygon senza coordinate o senza area'
            WHEN assignment = 'parent_only' AND district_id IS NOT NULL THEN 'parent_only con un''area fine'
            ELSE 'file_id o centroid senza area' END AS problem
FROM places
WHERE (lon IS NULL) <> (lat IS NULL)
   OR (assignment = 'point_in_polygon' AND (lon IS NULL OR district_id IS NULL))
   OR (assignment = 'parent_only' AND district_id IS NOT NULL)
   OR (assignment IN ('file_id', 'centroid') AND district_id IS NULL AND parent_id IS NULL)
ORDER BY theme, source_id, source_key
