-- check: not_empty_keys
-- description: chiavi e nomi obbligatori non sono testi vuoti (un NOT NULL non basta: '' passa).
-- places: trim() only on keys that start with a space, a control or a non-ASCII character (a key trimmed to ''
-- cannot start with a printable ASCII character), so a register's millions of keys are not all trimmed.
SELECT 'places' AS tbl, 'source_key' AS col, source_id, count(*) AS n FROM places
WHERE (ascii(source_key) <= 32 OR ascii(source_key) > 126) AND trim(source_key) = '' GROUP BY ALL
UNION ALL SELECT 'districts', 'name', source_id, count(*) FROM districts WHERE trim(name) = '' GROUP BY ALL
UNION ALL SELECT 'sources', 'path', source_id, count(*) FROM sources WHERE trim(path) = '' GROUP BY ALL
UNION ALL SELECT 'indicator_values', 'area_id', indicator_id, count(*) FROM indicator_values WHERE trim(area_id) = '' GROUP BY ALL
UNION ALL SELECT 'territory_levels', 'label_it/label_en', level, count(*) FROM territory_levels
WHERE trim(label_it) = '' OR trim(label_en) = '' OR trim(plural_it) = '' OR trim(plural_en) = '' GROUP BY ALL
ORDER BY 1, 2, 3
