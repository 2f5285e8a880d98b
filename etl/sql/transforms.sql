-- name: rollup_population_municipio
-- Municipio residents = sum of its NIL, only when every NIL of the Municipio has a figure
-- from the same file and year (otherwise the sum would silently undercount).
INSERT INTO population (level, district_id, year, residents, source_id, path, trust)
WITH nil_count AS (
    SELECT municipio, count(*) AS n FROM districts WHERE level = 'nil' GROUP BY municipio
)
SELECT 'municipio', d.municipio, p.year, sum(p.residents)::INTEGER, p.source_id, p.path,
       CASE WHEN max(p.trust) = 'demo' THEN 'demo' ELSE 'derived' END
FROM population p
JOIN districts d ON d.level = 'nil' AND d.id = p.district_id
JOIN nil_count c ON c.municipio = d.municipio
WHERE p.level = 'nil'
GROUP BY d.municipio, p.year, p.source_id, p.path, c.n
HAVING count(*) = c.n;

-- name: indicator_population_by_year
-- Residents per NIL and year for the indicators (etl/indicators.py): where several files give
-- the same NIL and year, the most trusted one, then the first path (as population_current).
SELECT district_id, year, residents, trust
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY district_id, year
        ORDER BY CASE trust WHEN 'official' THEN 0 WHEN 'derived' THEN 1 ELSE 2 END, path
    ) AS rk
    FROM population
    WHERE level = 'nil'
)
WHERE rk = 1
ORDER BY district_id, year;
