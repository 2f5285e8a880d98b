-- check: territory_one_row
-- description: il warehouse descrive esattamente un territorio (una riga nella tabella territory).
SELECT count(*) AS territories, string_agg(territory_id, ', ' ORDER BY territory_id) AS ids
FROM territory
HAVING count(*) <> 1
