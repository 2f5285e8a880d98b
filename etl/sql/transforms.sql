-- name: rollup_population_municipio
-- Municipio residents = sum of its NIL (by parent), only when every NIL of the Municipio has a
-- figure from the same file and year (otherwise the sum would silently undercount). Its density
-- must divide by the area of those NIL (transform district_density), not by the Municipio polygon.
INSERT INTO population (level, district_id, year, reference_date, residents, source_id, path, trust)
WITH nil_count AS (
    SELECT municipio, count(*) AS n FROM districts WHERE level = 'nil' GROUP BY municipio
)
SELECT 'municipio', d.municipio, p.year, max(p.reference_date), sum(p.residents)::INTEGER, p.source_id, p.path,
       CASE WHEN max(p.trust) = 'demo' THEN 'demo' ELSE 'derived' END
FROM population p
JOIN districts d ON d.level = 'nil' AND d.id = p.district_id
JOIN nil_count c ON c.municipio = d.municipio
WHERE p.level = 'nil'
GROUP BY d.municipio, p.year, p.source_id, p.path, c.n
HAVING count(*) = c.n;

-- name: indicator_population_by_year
-- Residents per NIL and year for the indicators (etl/indicators.py): the year is the stated one,
-- else the year of the reference date; where several files give the same NIL and year, the most
-- trusted one, then the first path (as population_current).
SELECT district_id, year, residents, trust
FROM (
    SELECT district_id, coalesce(year, year(reference_date)) AS year, residents, trust, path,
           row_number() OVER (
               PARTITION BY district_id, coalesce(year, year(reference_date))
               ORDER BY CASE trust WHEN 'official' THEN 0 WHEN 'derived' THEN 1 ELSE 2 END, path
           ) AS rk
    FROM population
    WHERE level = 'nil'
)
WHERE rk = 1
ORDER BY district_id, year;

-- name: district_density
-- Density with numerator and denominator of the SAME NIL: a NIL's residents over its area; a
-- Municipio's residents (its population_current row, the sum of its NIL by parent) over the area of
-- those NIL, not over the Municipio polygon (the 2016 Municipi and the 2020 NIL do not nest: the
-- polygon's area differs by up to ±19%). For pages that show density next to district_stats.
SELECT d.level, d.id, p.residents, p.year AS population_year, a.area_m2 AS area_m2_of_nil,
       CASE WHEN p.residents IS NULL OR a.area_m2 IS NULL OR a.area_m2 = 0 THEN NULL
            ELSE p.residents / (a.area_m2 / 1e6) END AS density_km2
FROM districts d
LEFT JOIN population_current p ON p.level = d.level AND p.district_id = d.id
LEFT JOIN (
    SELECT 'nil' AS level, id, area_m2 FROM districts WHERE level = 'nil'
    UNION ALL
    SELECT 'municipio', municipio, sum(area_m2) FROM districts WHERE level = 'nil' AND municipio IS NOT NULL
    GROUP BY municipio
) a ON a.level = d.level AND a.id = d.id
ORDER BY d.level, d.id;
