"""Data checks (etl/checks.py, etl/sql/checks/*.sql): a clean warehouse passes, each corruption fails its check.

The warehouse is schema.sql executed on a temp DuckDB with a few rows of a fixture territory that no
code names ('testland': 'quartiere' grouped by 'zona'); the parent population comes from the real
transform rollup_population_parent. Constraints the DDL already enforces (primary keys, CHECK lists)
are removed from a copy of the table to prove the check catches what the constraint would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest

from etl import checks
from etl.pipeline import build
from etl.sql import schema_sql, transform

if TYPE_CHECKING:
    from conftest import Helpers

REQUIRED = {
    "unique_districts", "unique_places", "unique_sources", "unique_indicator_values", "territory_one_row",
    "territory_level_ranks", "accepted_levels", "accepted_trust", "places_district_fk", "districts_parent_fk",
    "district_groups_fk", "population_district_fk", "population_parent_sum", "non_negative_counts",
    "snapshot_territory", "periphery_groups_count", "place_proximity_fk",
}


ROWS = [
    "INSERT INTO build (build_id, mode, started_at, finished_at, raw_dir, code_version, schema_version) VALUES ('b1', "
    "'real', now()::TIMESTAMP, NULL, 'raw', 'test', 3)",
    "INSERT INTO territory (territory_id, name_it, name_en, centre_lon, centre_lat, centre_name_it, centre_name_en, "
    "area_crs, bbox_west, bbox_south, bbox_east, bbox_north, profile_version, profile_sha256) VALUES ('testland', 'Terra "
    "di prova', 'Test land', 9.1, 45.4, 'Piazza', 'Square', "
    "'EPSG:7791', 9.0, 45.3, 9.3, 45.6, 't1', 'x')",
    "INSERT INTO territory_levels (level, rank, parent_level, boundary_source, expected_count, label_it, label_en, "
    "plural_it, plural_en, long_it, long_en) VALUES ('quartiere', 0, 'zona', 'q_src', 4, 'Quartiere', 'Quarter', 'Quartieri', "
    "'Quarters', NULL, NULL), ('zona', 1, NULL, 'z_src', 2, 'Zona', 'Zone', 'Zone', 'Zones', NULL, NULL)",
    "INSERT INTO districts (level, id, name, parent_id, area_m2, centroid_lon, centroid_lat, geom_wkb, map_geojson, "
    "source_id, trust) SELECT 'zona', i, 'Z' || i, NULL, 1e6, 9.1, 45.4, '\\x00'::BLOB, '{}', 'z_src', 'official' "
    "FROM range(1, 3) t(i)",
    "INSERT INTO districts (level, id, name, parent_id, area_m2, centroid_lon, centroid_lat, geom_wkb, map_geojson, "
    "source_id, trust) SELECT 'quartiere', i, 'Q' || i, CASE WHEN i <= 2 THEN 1 ELSE 2 END, 5e5, 9.1, 45.4, "
    "'\\x00'::BLOB, '{}', 'q_src', 'official' FROM range(1, 5) t(i)",
    "INSERT INTO population (level, district_id, year, reference_date, residents, source_id, path, trust) SELECT "
    "'quartiere', i, 2022, DATE '2022-12-31', i * 100, 'pop', 'p.csv', 'official' "
    "FROM range(1, 5) t(i)",
    "INSERT INTO sources (source_id, title, path, rows_read, rows_loaded, rows_rejected, loaded_at, licence, trust, status) "
    "VALUES ('pop', 'Popolazione', 'p.csv', 4, 4, 0, now()::TIMESTAMP, 'CC BY 4.0', 'official', 'loaded')",
    "INSERT INTO places (theme, source_id, path, source_key, name, lon, lat, district_id, parent_id, assignment, "
    "area_m2, trust) VALUES ('makerspace', 'mk', 'm.csv', 'a', 'Lab', 9.11, 45.41, 1, 1, 'point_in_polygon', 80, "
    "'derived'), ('hub', 'hubs', 'hubs.toml', 'polo', 'Polo', NULL, NULL, NULL, NULL, 'parent_only', 12000, 'derived'), "
    "('vacant', 'vac', 'v.csv', 'v1', 'Ex', NULL, NULL, 3, 2, 'file_id', NULL, 'official')",
    "INSERT INTO area_counts (level, district_id, theme, year, count, source_id, path, trust) VALUES ('quartiere', 2, "
    "'coworking', 2021, 3, 'cw', 'c.json', 'derived')",
    "INSERT INTO firm_units (district_id, year, ateco_code, ateco_edition, ateco_label, category, units, avg_employees, "
    "source_id, path, trust) VALUES (3, 2021, '01.62.0', '2007', NULL, 'x', 4, NULL, 'fu', 'f.csv', 'official')",
    "INSERT INTO firm_totals (level, area_id, year, ateco_code, ateco_edition, ateco_label, category, firms, units, "
    "employees_firms, employees_units, source_id, path, trust) VALUES ('territory', 'testland', 2010, '01.62.0', '2007', "
    "NULL, 'x', 5, 6, NULL, NULL, "
    "'ft', 't.csv', 'official')",
    "INSERT INTO snapshots (snapshot_id, created_at, mode, catalogue_version, periphery_version, taxonomy_version, "
    "source_versions, territory_id) VALUES ('b1', now()::TIMESTAMP, 'real', 'c', 'p', 't', '{}', 'testland')",
    "INSERT INTO periphery_groups (snapshot_id, group_level, group_id, sort_order, name_it, name_en, min_m, max_m, "
    "is_peripheral, n_areas) VALUES ('b1', 'periphery_class', 'centro', 0, 'Centro', 'Centre', 0, 2000, false, 1)",
    "INSERT INTO place_proximity (source_id, source_key, near_theme, nearest_m, within_m, n_within, nearest_name) "
    "VALUES ('vac', 'v1', 'makerspace', 120.5, 1000, 1, 'Lab')",
    "INSERT INTO district_groups (snapshot_id, group_level, group_id, group_name, district_id, distance_m, basis) VALUES "
    "('b1', 'periphery_class', 'centro', 'Centro', 1, 10.0, 'ring')",
    "INSERT INTO indicator_catalogue (snapshot_id, indicator_id, theme, name_it, name_en, description_it, description_en, "
    "formula, unit, direction, sources, levels) VALUES ('b1', 'dens', 'population', 'Densità', 'Density', 'd', 'd', 'a/b', "
    "'ab/km2', 'neutral', '[]', '[]')",
    "INSERT INTO indicator_values (snapshot_id, indicator_id, level, area_id, period, value, numerator, denominator, "
    "reason, trust) VALUES ('b1', 'dens', 'quartiere', '1', 2022, 1.0, 1, 1, NULL, 'official'), "
    "('b1', 'dens', 'zona', '2', 2022, 1.0, 1, 1, NULL, 'derived'), "
    "('b1', 'dens', 'territory', 'testland', 2022, 1.0, 1, 1, NULL, 'derived'), "
    "('b1', 'dens', 'periphery_class', 'centro', 2022, 1.0, 1, 1, NULL, 'derived'), "
    "('b1', 'dens', 'quartiere', '2', NULL, NULL, NULL, NULL, 'nessun dato', 'official')",
    "INSERT INTO target_status (snapshot_id, target_id, objective, indicator_id, level, area_id, baseline, baseline_date, "
    "target_value, deadline, current_value, expected_value, status, rule) VALUES ('b1', 't1', 'o', 'dens', 'territory', "
    "'testland', 1, NULL, 2, DATE '2030-01-01', "
    "1, 1, 'on_track', 'linea')",
]


def unconstrain(table: str) -> list[str]:
    """Statements that replace a table with a copy without its keys and CHECKs."""
    return [f"CREATE TABLE _copy AS SELECT * FROM {table}",  # noqa: S608 table names of this file
            f"DROP TABLE {table}", f"ALTER TABLE _copy RENAME TO {table}"]


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    connection.execute(schema_sql())
    for statement in ROWS:
        connection.execute(statement)
    connection.execute(transform("rollup_population_parent"))
    yield connection
    connection.close()


def names(failures: list[checks.CheckFailure]) -> set[str]:
    return {f.name for f in failures}


def test_every_check_file_has_its_header_and_the_required_ones_exist() -> None:
    found = {c.name for c in checks.list_checks()}
    assert REQUIRED <= found
    assert all(c.description and c.path.stem == c.name for c in checks.list_checks())


def test_clean_warehouse_passes(con: duckdb.DuckDBPyConnection) -> None:
    # the rollup wrote both zone figures: the sum check has rows to compare
    assert con.sql("SELECT district_id, residents FROM population WHERE level = 'zona' ORDER BY 1").fetchall() == [
        (1, 300), (2, 700)]
    assert checks.run_checks(con) == []


CORRUPTIONS: dict[str, list[str]] = {
    "unique_districts": [*unconstrain("districts"),
                         "INSERT INTO districts SELECT * FROM districts WHERE level = 'zona' AND id = 2"],
    "unique_places": ["INSERT INTO places SELECT * FROM places WHERE source_key = 'a'"],
    "unique_sources": [*unconstrain("sources"), "INSERT INTO sources SELECT * FROM sources"],
    "unique_indicator_values": ["INSERT INTO indicator_values SELECT * FROM indicator_values WHERE period IS NULL"],
    "unique_population": ["INSERT INTO population SELECT * FROM population WHERE level = 'zona' AND district_id = 1"],
    "territory_one_row": ["INSERT INTO territory SELECT 'altrove', name_it, name_en, centre_lon, centre_lat, centre_name_it, "
                          "centre_name_en, area_crs, bbox_west, bbox_south, bbox_east, bbox_north, profile_version, "
                          "profile_sha256 FROM territory"],
    "territory_level_ranks": ["UPDATE territory_levels SET parent_level = 'quartiere' WHERE level = 'zona'"],
    "accepted_levels": ["INSERT INTO firm_totals SELECT * REPLACE ('city' AS level) FROM firm_totals"],
    "accepted_trust": [*unconstrain("places"), "UPDATE places SET trust = 'guessed' WHERE source_key = 'a'"],
    "places_district_fk": ["UPDATE places SET district_id = 99 WHERE source_key = 'a'"],
    "places_parent_fk": ["UPDATE places SET parent_id = 99 WHERE source_key = 'v1'"],
    "places_assignment": ["UPDATE places SET lat = NULL WHERE source_key = 'a'"],
    "districts_parent_fk": ["UPDATE districts SET parent_id = 1 WHERE level = 'zona' AND id = 2"],
    "district_groups_fk": ["UPDATE district_groups SET district_id = 77"],
    "population_district_fk": ["INSERT INTO population SELECT * REPLACE (77 AS district_id, 'o.csv' AS path) FROM population "
                               "WHERE level = 'quartiere' AND district_id = 1"],
    "area_counts_district_fk": ["INSERT INTO area_counts SELECT * REPLACE (77 AS district_id) FROM area_counts"],
    "population_parent_sum": ["UPDATE population SET residents = 301 WHERE level = 'zona' AND district_id = 1"],
    "non_negative_counts": ["UPDATE places SET area_m2 = -5 WHERE source_key = 'a'"],
    "indicator_values_area_fk": ["INSERT INTO indicator_values SELECT * REPLACE ('77' AS area_id) FROM indicator_values "
                                 "WHERE level = 'quartiere' AND area_id = '1'"],
    "snapshot_fk": ["DELETE FROM snapshots"],
    "snapshot_territory": ["UPDATE snapshots SET territory_id = 'altrove'"],
    "periphery_groups_count": ["UPDATE periphery_groups SET n_areas = 2"],
    "place_proximity_fk": ["UPDATE place_proximity SET nearest_m = -1"],
    "not_empty_keys": ["UPDATE districts SET name = '  ' WHERE level = 'zona' AND id = 1"],
}


def test_every_check_has_a_corruption() -> None:
    assert set(CORRUPTIONS) == {c.name for c in checks.list_checks()}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_one_corruption_fails_exactly_its_check(con: duckdb.DuckDBPyConnection, name: str) -> None:
    for statement in CORRUPTIONS[name]:
        con.execute(statement)
    failures = checks.run_checks(con)
    assert names(failures) == {name}
    failure = failures[0]
    assert failure.rows >= 1 and failure.sample and not failure.error
    assert name in failure.message() and failure.description


@pytest.mark.parametrize(("name", "statements"), [
    # a rank past the end (three levels, ranks 0, 1, 3)
    ("territory_level_ranks", ["INSERT INTO territory_levels SELECT * REPLACE ('regione' AS level, 3 AS rank) "
                               "FROM territory_levels WHERE level = 'zona'"]),
    # no level at all
    ("territory_level_ranks", ["DELETE FROM territory_levels"]),
    # an area table may not use the indicator-only levels
    ("accepted_levels", ["INSERT INTO area_counts SELECT * REPLACE ('territory' AS level) FROM area_counts"]),
    # a proximity row of a place that does not exist (and the vacant place without its row)
    ("place_proximity_fk", ["UPDATE place_proximity SET source_key = 'zz'"]),
    # a count without a distance
    ("place_proximity_fk", ["UPDATE place_proximity SET nearest_m = NULL"]),
    # a group with members but no description
    ("periphery_groups_count", ["DELETE FROM periphery_groups"]),
    # an empty place key
    ("not_empty_keys", ["UPDATE places SET source_key = '' WHERE source_key = 'polo'"]),
    # no territory row
    ("territory_one_row", ["DELETE FROM territory"]),
    # a fine area whose parent does not exist
    ("districts_parent_fk", ["UPDATE districts SET parent_id = 9 WHERE level = 'quartiere' AND id = 4"]),
    # a rollup row that lost one of its areas' residents
    ("population_parent_sum", ["UPDATE population SET residents = 1 WHERE level = 'quartiere' AND district_id = 4"]),
    # 'parent_only' with a fine area; a point without its area
    ("places_assignment", ["UPDATE places SET assignment = 'parent_only' WHERE source_key = 'v1'"]),
    ("places_assignment", ["UPDATE places SET district_id = NULL WHERE source_key = 'a'"]),
])
def test_other_corruptions_are_caught(con: duckdb.DuckDBPyConnection, name: str, statements: list[str]) -> None:
    for statement in statements:
        con.execute(statement)
    assert name in names(checks.run_checks(con))


def test_count_and_sample_are_bounded(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("INSERT INTO places SELECT p.* REPLACE ('k' || i AS source_key, -1 AS seats) FROM places p, range(12) t(i) "
                "WHERE source_key = 'a'")
    failures = checks.run_checks(con)
    assert names(failures) == {"non_negative_counts"}
    # one row per table, column and file: 12 bad seats in one file are one offending group
    assert failures[0].rows == 1 and failures[0].sample[0][:2] == ("places", "seats") and failures[0].sample[0][-1] == 12
    con.execute("INSERT INTO places SELECT p.* REPLACE ('d' || i AS source_key) FROM places p, range(7) t(i) "
                "WHERE source_key = 'polo'")
    con.execute("INSERT INTO places SELECT * FROM places WHERE source_key LIKE 'd%'")
    dup = next(f for f in checks.run_checks(con) if f.name == "unique_places")
    assert dup.rows == 7 and len(dup.sample) == checks.SAMPLE_ROWS


def test_other_territory_shapes_pass(con: duckdb.DuckDBPyConnection) -> None:
    """One level only (a province of comuni): no parent ids, no rollup, the checks still pass."""
    con.execute("DELETE FROM population WHERE level = 'zona'")
    con.execute("DELETE FROM districts WHERE level = 'zona'")
    con.execute("DELETE FROM indicator_values WHERE level = 'zona'")
    con.execute("DELETE FROM territory_levels WHERE level = 'zona'")
    con.execute("UPDATE territory_levels SET parent_level = NULL")
    con.execute("UPDATE districts SET parent_id = NULL")
    con.execute("UPDATE places SET parent_id = NULL")
    assert checks.run_checks(con) == []
    con.execute("UPDATE places SET parent_id = 1 WHERE source_key = 'a'")  # there is no parent level any more
    assert names(checks.run_checks(con)) == {"places_parent_fk"}


def test_a_check_that_cannot_run_is_a_failure(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    folder = tmp_path / "checks"
    folder.mkdir()
    (folder / "broken.sql").write_text("-- check: broken\n-- description: tabella inesistente.\nSELECT * FROM nowhere\n",
                                       encoding="utf-8")
    (folder / "fine.sql").write_text("-- check: fine\n-- description: nessuna riga.\nSELECT 1 WHERE false;\n",
                                     encoding="utf-8")
    failures = checks.run_checks(con, folder)
    assert [(f.name, f.rows) for f in failures] == [("broken", 0)]
    assert "nowhere" in failures[0].error and "non eseguibile" in failures[0].message()
    with pytest.raises(checks.ChecksFailed, match="broken"):
        checks.require_checks(con, folder)


def test_a_check_file_without_its_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "named.sql"
    path.write_text("-- check: other_name\n-- description: x.\nSELECT 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="named.sql"):
        checks.parse_check(path)
    path.write_text("SELECT 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="intestazione"):
        checks.parse_check(path)


def test_command_line_reports_and_exits_non_zero(tmp_path: Path, con: duckdb.DuckDBPyConnection,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    con.execute("UPDATE places SET district_id = 99 WHERE source_key = 'a'")
    con.execute("CHECKPOINT")
    con.close()
    assert checks.main([str(tmp_path / "w.duckdb")]) == 1
    out = capsys.readouterr().out
    assert "places_district_fk" in out and f"{len(checks.list_checks()) - 1} controlli superati" in out


def test_demo_warehouse_passes(demo_warehouse: Path) -> None:
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        assert checks.run_checks(con) == []
        # the sum check had Municipio rows to compare with their NIL
        assert con.sql("SELECT count(*) FROM population WHERE level = 'municipio'").fetchall()[0][0] > 0
    finally:
        con.close()


# territory -> (areas of the finest level, hubs, parent population rows the sum check compares > 0)
REAL_BUILDS = {"milano": (88, 1, True), "citta_metropolitana_milano": (133, 2, False), "provincia_cremona": (113, 1, False)}


@pytest.mark.real
@pytest.mark.parametrize("territory_id", sorted(REAL_BUILDS))
def test_real_builds_pass_every_check(real_dir: Path, tmp_path: Path, h: Helpers, monkeypatch: pytest.MonkeyPatch,
                                      territory_id: str) -> None:
    monkeypatch.delenv("OSSERVATORIO_HUBS_CONFIG", raising=False)  # with the real hub list
    out = tmp_path / "w.duckdb"
    build(real_dir, out, progress=h.quiet, territory=territory_id)  # the build runs the checks before the swap
    con = duckdb.connect(str(out), read_only=True)
    try:
        assert checks.run_checks(con) == []
        fine, n_hubs, sums = REAL_BUILDS[territory_id]
        q = "SELECT count(*) FROM districts d JOIN territory_levels t ON t.level = d.level AND t.rank = 0"
        assert con.sql(q).fetchall() == [(fine,)]
        assert con.sql("SELECT count(*) FROM places WHERE theme = 'hub'").fetchall() == [(n_hubs,)]
        parent_rows = con.sql("SELECT count(*) FROM population p JOIN territory_levels t ON t.level = p.level "
                              "AND t.rank = 1").fetchall()[0][0]
        assert (parent_rows > 0) == sums
    finally:
        con.close()
