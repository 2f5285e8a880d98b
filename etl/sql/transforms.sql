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
