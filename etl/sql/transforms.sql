-- name: rollup_population_parent
-- Residents of an area of the parent level (e.g. a Municipio) = sum of its areas of the finest
-- level (by parent_id), only when every such area has a figure from the same file and year
-- (otherwise the sum would silently undercount). Its density must divide by the area of those
-- areas (transform district_density), not by the parent polygon. No-op without a parent level.
INSERT INTO population (level, district_id, year, reference_date, residents, source_id, path, trust)
WITH lv AS (
    SELECT max(CASE WHEN rank = 0 THEN level END) AS fine,
           max(CASE WHEN rank = 1 THEN level END) AS parent
    FROM territory_levels
),
fine_count AS (
    SELECT d.parent_id, count(*) AS n FROM districts d JOIN lv ON d.level = lv.fine GROUP BY d.parent_id
)
SELECT lv.parent, d.parent_id, p.year, max(p.reference_date), sum(p.residents)::BIGINT, p.source_id, p.path,
       CASE WHEN max(p.trust) = 'demo' THEN 'demo' ELSE 'derived' END
FROM population p
JOIN lv ON p.level = lv.fine AND lv.parent IS NOT NULL
JOIN districts d ON d.level = lv.fine AND d.id = p.district_id
JOIN fine_count c ON c.parent_id = d.parent_id
GROUP BY lv.parent, d.parent_id, p.year, p.source_id, p.path, c.n
HAVING count(*) = c.n;

-- name: indicator_population_by_year
-- Residents per area of the finest level and year for the indicators (etl/indicators.py): the year
-- is the stated one, else the year of the reference date; where several files give the same area
-- and year, the most trusted one, then the first path (as population_current).
SELECT district_id, year, residents, trust
FROM (
    SELECT district_id, coalesce(year, year(reference_date)) AS year, residents, trust, path,
           row_number() OVER (
               PARTITION BY district_id, coalesce(year, year(reference_date))
               ORDER BY CASE trust WHEN 'official' THEN 0 WHEN 'derived' THEN 1 ELSE 2 END, path
           ) AS rk
    FROM population
    WHERE level = (SELECT level FROM territory_levels WHERE rank = 0)
)
WHERE rk = 1
ORDER BY district_id, year;

-- name: district_density
-- Density with numerator and denominator of the SAME areas: an area's residents over its own area;
-- a parent area's residents (its population_current row, the sum of its areas by parent) over the
-- area of those areas, not over the parent polygon (e.g. Milan's 2016 Municipi and 2020 NIL do not
-- nest: the polygon's area differs by up to ±19%). For pages that show density next to district_stats.
WITH lv AS (
    SELECT max(CASE WHEN rank = 0 THEN level END) AS fine,
           max(CASE WHEN rank = 1 THEN level END) AS parent
    FROM territory_levels
)
SELECT d.level, d.id, p.residents, p.year AS population_year, a.area_m2 AS area_m2_of_fine,
       CASE WHEN p.residents IS NULL OR a.area_m2 IS NULL OR a.area_m2 = 0 THEN NULL
            ELSE p.residents / (a.area_m2 / 1e6) END AS density_km2
FROM districts d
LEFT JOIN population_current p ON p.level = d.level AND p.district_id = d.id
LEFT JOIN (
    SELECT d.level, d.id, d.area_m2 FROM districts d JOIN lv ON d.level = lv.fine
    UNION ALL
    SELECT lv.parent, d.parent_id, sum(d.area_m2) FROM districts d JOIN lv ON d.level = lv.fine
    WHERE d.parent_id IS NOT NULL AND lv.parent IS NOT NULL
    GROUP BY lv.parent, d.parent_id
) a ON a.level = d.level AND a.id = d.id
ORDER BY d.level, d.id;

-- name: indicator_places
-- The places of the themes whose indicators need them one by one (makerspaces, coworking, vacant:
-- hundreds or thousands of rows), with their text columns, in insertion order (place_row = rowid).
-- Firm points are never read here: see indicator_firm_points and indicator_firm_dm_points.
SELECT rowid AS place_row, theme, district_id, parent_id, lon, lat, category, status, ownership, area_m2,
       seats, employees, trust, source_id, attributes, source_key, name
FROM places
WHERE theme IN ('makerspace', 'coworking', 'vacant')
ORDER BY rowid;

-- name: indicator_place_pairs
-- The distinct (finest area, parent area) pairs of all places, in the order of their first place
-- (first_row = its rowid): the indicators key their atoms on these pairs (etl/indicators.py
-- _Atoms.keys_for), never place by place.
SELECT district_id, parent_id, min(rowid) AS first_row
FROM places
GROUP BY ALL
ORDER BY first_row;

-- name: indicator_firm_points
-- Firm points counted in SQL, one row per area of the finest level, parent area, category, source
-- and trust (a few thousand rows for a million firms): n = points, emp = employees summed where
-- stated, emp_known = points with employees stated (NULL and NaN are 'not stated', as in pandas);
-- first_row = the first place's rowid, so that the indicators key the atoms in the places' order.
SELECT district_id, parent_id, category, source_id, trust, min(rowid) AS first_row,
       count(*)::DOUBLE AS n,
       sum(CASE WHEN employees IS NULL OR isnan(employees) THEN 0.0 ELSE employees END)::DOUBLE AS emp,
       count(*) FILTER (WHERE employees IS NOT NULL AND NOT isnan(employees))::DOUBLE AS emp_known
FROM places
WHERE theme = 'firm'
GROUP BY ALL
ORDER BY first_row;

-- name: indicator_firm_dm_points
-- Located firm points of one category (the digital-manufacturing ones: targets of the vacant spaces'
-- proximity), coordinates and trust only, in insertion order; names are read later only for the
-- nearest ones (place_row = rowid). Parameter: the category.
SELECT rowid AS place_row, lon, lat, trust
FROM places
WHERE theme = 'firm' AND category = ? AND lon IS NOT NULL AND lat IS NOT NULL AND NOT isnan(lon) AND NOT isnan(lat)
ORDER BY rowid;
