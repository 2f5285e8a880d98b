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
