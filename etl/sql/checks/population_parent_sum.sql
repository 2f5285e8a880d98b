-- check: population_parent_sum
-- description: i residenti di un'area del livello superiore ricavati dalla somma (stesso file e anno) sono uguali alla somma delle sue aree fini.
WITH lv AS (
    SELECT max(CASE WHEN rank = 0 THEN level END) AS fine,
           max(CASE WHEN rank = 1 THEN level END) AS parent
    FROM territory_levels
),
fine AS (
    SELECT d.parent_id, p.year, p.source_id, p.path, sum(p.residents) AS residents, count(*) AS n
    FROM population p
    JOIN lv ON p.level = lv.fine
    JOIN districts d ON d.level = p.level AND d.id = p.district_id
    GROUP BY d.parent_id, p.year, p.source_id, p.path
)
SELECT p.district_id, p.year, p.source_id, p.path, p.residents, f.residents AS sum_of_fine, f.n AS fine_areas
FROM population p
JOIN lv ON p.level = lv.parent
LEFT JOIN fine f ON f.parent_id = p.district_id AND f.year IS NOT DISTINCT FROM p.year
                AND f.source_id = p.source_id AND f.path = p.path
WHERE EXISTS (SELECT 1 FROM population q WHERE q.level = lv.fine AND q.source_id = p.source_id AND q.path = p.path)
  AND p.residents IS DISTINCT FROM f.residents
ORDER BY p.source_id, p.path, p.year, p.district_id
