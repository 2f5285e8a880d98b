-- check: accepted_trust
-- description: ogni riga ha un'etichetta di affidabilità ammessa (official, derived, demo).
WITH used AS (
    SELECT 'sources' AS tbl, trust, count(*) AS n FROM sources GROUP BY trust
    UNION ALL SELECT 'districts', trust, count(*) FROM districts GROUP BY trust
    UNION ALL SELECT 'population', trust, count(*) FROM population GROUP BY trust
    UNION ALL SELECT 'places', trust, count(*) FROM places GROUP BY trust
    UNION ALL SELECT 'firm_units', trust, count(*) FROM firm_units GROUP BY trust
    UNION ALL SELECT 'firm_totals', trust, count(*) FROM firm_totals GROUP BY trust
    UNION ALL SELECT 'area_counts', trust, count(*) FROM area_counts GROUP BY trust
    UNION ALL SELECT 'indicator_values', trust, count(*) FROM indicator_values GROUP BY trust
)
SELECT tbl, trust, n
FROM used
WHERE trust IS NULL OR trust NOT IN ('official', 'derived', 'demo')
ORDER BY tbl, trust
