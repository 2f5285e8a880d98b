-- check: unique_places
-- description: ogni luogo compare una sola volta per tema e file (chiave theme, source_id, path, source_key).
-- Two passes, for registers of millions of places: the keys' hashes first (a GROUP BY of integers), then the
-- exact keys of the places whose hash repeats (a repeated key always repeats its hash; a collision of two
-- different keys is dropped by the exact GROUP BY).
WITH repeated AS (
    SELECT hash(theme, source_id, path, source_key) AS h FROM places GROUP BY h HAVING count(*) > 1
)
SELECT theme, source_id, path, source_key, count(*) AS n
FROM places
WHERE hash(theme, source_id, path, source_key) IN (SELECT h FROM repeated)
GROUP BY theme, source_id, path, source_key
HAVING count(*) > 1
ORDER BY theme, source_id, path, source_key
