"""Test data for the review session: a demo warehouse with two snapshots whose differences are known.

`seed_review_warehouse` builds the demo bundle (etl.pipeline.build), then opens the file read-write
and adds an older snapshot 'rv-prev' derived from the current one with planted differences:

- makerspaces_count in NIL `big_nil`: raised by 40 in the current snapshot (a +40 movement, the biggest);
- vacant_count in NIL `vacant_nil`: 7 higher before (a −7 movement);
- makerspaces_count at the whole-territory level (level "territory"): raised by 40 too;
- every target 'on_track' except: T01 was 'off_track' (now improved), T02 is now 'at_risk' (worsened);
- source demo_makerspace had another file (sha256 'a'*64), population_nil was absent (added);
- a taxonomy change 'ateco_categories' recorded on the current snapshot, affecting firms_dm_units.

When the build has no snapshot of its own (a pipeline without indicators), a minimal current
snapshot is written first (makerspaces_count and vacant_count per NIL and for the whole territory, two targets).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb

from etl.pipeline import build

PREV = "rv-prev"
BIG_JUMP = 40.0
VACANT_DROP = 7.0


@dataclass(frozen=True)
class Seeded:
    """What the seeded warehouse holds."""

    path: Path
    current: str        # snapshot id = build id of the warehouse
    previous: str       # PREV
    big_nil: str        # NIL id (text) of the +40 makerspace movement
    vacant_nil: str     # NIL id (text) of the −7 vacant movement


def _quiet(_message: str) -> None:
    """Progress sink."""


def _minimal_current(con: duckdb.DuckDBPyConnection, build_id: str) -> None:
    """A current snapshot from the places table, when the build computed none."""
    versions = {s: ["senza hash: demo://osservatorio"] for (s,) in con.sql("SELECT DISTINCT source_id FROM sources").fetchall()}
    con.execute("INSERT INTO snapshots (snapshot_id, created_at, mode, catalogue_version, periphery_version, taxonomy_version,"
                " source_versions) VALUES (?, now()::TIMESTAMP, 'demo', 'c1', 'p1', 't1', ?)",
                [build_id, json.dumps(versions)])
    for indicator, theme, name_it, name_en, sources in (
            ("makerspaces_count", "makerspace", "Makerspace e fablab", "Makerspaces and fablabs", ["makerspaces"]),
            ("vacant_count", "vacant", "Spazi vuoti", "Vacant spaces", ["vacant_buildings"])):
        con.execute("INSERT INTO indicator_catalogue VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'n', 'higher_better', ?, ?)",
                    [build_id, indicator, theme, name_it, name_en, name_it, name_en, "count", json.dumps(sources),
                     json.dumps(["nil", "territory"])])
        con.execute("""INSERT INTO indicator_values (snapshot_id, indicator_id, level, area_id, period, value, trust)
                       SELECT ?, ?, 'nil', CAST(d.id AS VARCHAR), NULL, count(p.source_key), 'demo'
                       FROM districts d LEFT JOIN places p ON p.district_id = d.id AND p.theme = ?
                       WHERE d.level = 'nil' GROUP BY d.id""", [build_id, indicator, theme])
        con.execute("""INSERT INTO indicator_values (snapshot_id, indicator_id, level, area_id, period, value, trust)
                       SELECT ?, ?, 'territory', 'milano', NULL, count(*), 'demo' FROM places WHERE theme = ?""",
                    [build_id, indicator, theme])
    for target_id, indicator in (("T01", "makerspaces_count"), ("T02", "vacant_count")):
        con.execute("INSERT INTO target_status VALUES (?, ?, 'Obiettivo di prova', ?, 'territory', 'milano', 1,"
                    " DATE '2026-01-01', 100, DATE '2030-12-31', 10, 10, 'on_track', 'regola di prova')",
                    [build_id, target_id, indicator])


def seed_review_warehouse(folder: Path) -> Seeded:
    """Build the demo into folder/warehouse.duckdb and add the older snapshot PREV (see module doc)."""
    path = folder / "warehouse.duckdb"
    report = build(None, path, progress=_quiet)
    current = report.build_id
    con = duckdb.connect(str(path))
    try:
        if not con.sql("SELECT count(*) FROM snapshots WHERE snapshot_id = ?", params=[current]).fetchall()[0][0]:
            _minimal_current(con, current)
        con.execute("DELETE FROM snapshots WHERE snapshot_id <> ?", [current])  # only the two snapshots of the test
        for table in ("indicator_values", "indicator_catalogue", "target_status", "taxonomy_changes", "district_groups"):
            con.execute(f"DELETE FROM {table} WHERE snapshot_id <> ?", [current])  # noqa: S608 fixed names
        created, versions = con.sql("SELECT created_at, source_versions FROM snapshots WHERE snapshot_id = ?",
                                    params=[current]).fetchall()[0]
        old_versions = json.loads(versions)
        old_versions["demo_makerspace"] = ["a" * 64]
        old_versions.pop("population_nil", None)
        con.execute("""INSERT INTO snapshots SELECT * REPLACE (?::VARCHAR AS snapshot_id, ?::TIMESTAMP AS created_at,
                                                                ?::VARCHAR AS source_versions)
                       FROM snapshots WHERE snapshot_id = ?""",
                    [PREV, created - timedelta(days=30), json.dumps(old_versions), current])
        for table in ("indicator_catalogue", "indicator_values", "target_status", "district_groups"):
            con.execute(f"INSERT INTO {table} SELECT * REPLACE (?::VARCHAR AS snapshot_id) FROM {table}"  # noqa: S608
                        " WHERE snapshot_id = ?", [PREV, current])
        big_nil, vacant_nil = con.sql(
            """SELECT (SELECT area_id FROM indicator_values WHERE snapshot_id = $c AND indicator_id = 'makerspaces_count'
                       AND level = 'nil' AND value IS NOT NULL ORDER BY area_id LIMIT 1),
                      (SELECT area_id FROM indicator_values WHERE snapshot_id = $c AND indicator_id = 'vacant_count'
                       AND level = 'nil' AND value IS NOT NULL ORDER BY area_id DESC LIMIT 1)""",
            params={"c": current}).fetchall()[0]
        con.execute("""UPDATE indicator_values SET value = value + ? WHERE snapshot_id = ? AND indicator_id = 'makerspaces_count'
                       AND ((level = 'nil' AND area_id = ?) OR level = 'territory')""", [BIG_JUMP, current, big_nil])
        con.execute("""UPDATE indicator_values SET value = value + ? WHERE snapshot_id = ? AND indicator_id = 'vacant_count'
                       AND level = 'nil' AND area_id = ?""", [VACANT_DROP, PREV, vacant_nil])
        con.execute("UPDATE target_status SET status = 'on_track'")
        con.execute("UPDATE target_status SET status = 'off_track' WHERE snapshot_id = ? AND target_id = 'T01'", [PREV])
        con.execute("UPDATE target_status SET status = 'on_track' WHERE snapshot_id = ? AND target_id = 'T02'", [PREV])
        con.execute("UPDATE target_status SET status = 'at_risk' WHERE snapshot_id = ? AND target_id = 'T02'", [current])
        con.execute("INSERT INTO taxonomy_changes (snapshot_id, component, old_version, new_version, note, affects)"
                    " VALUES (?, 'ateco_categories', 'v-old', 'v-new', 'categorie ATECO riviste', ?)",
                    [current, json.dumps(["firms_dm_units"])])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return Seeded(path, current, PREV, str(big_nil), str(vacant_nil))


FIXTURE_TERRITORY = "borgo_di_prova"  # a territory that no code names: one level, 'rione'
FIXTURE_LEVEL = "rione"


def one_level_copy(source: Path, target: Path) -> Path:
    """A copy of a built warehouse turned into a one-level territory that no code names: the finest level
    becomes 'rione' of territory 'borgo_di_prova' (label 'Rione'), the parent level and every parent id are
    removed, whole-territory rows carry the new territory id. For pages that must work without a parent."""
    import shutil

    shutil.copyfile(source, target)
    con = duckdb.connect(str(target))
    try:
        (fine, parent, old_id), = con.sql(
            """SELECT max(CASE WHEN l.rank = 0 THEN l.level END), max(CASE WHEN l.rank = 1 THEN l.level END),
                      (SELECT territory_id FROM territory) FROM territory_levels l""").fetchall()
        for table in ("districts", "population", "area_counts"):
            if parent:
                con.execute(f"DELETE FROM {table} WHERE level = ?", [parent])  # noqa: S608 fixed names
            con.execute(f"UPDATE {table} SET level = ? WHERE level = ?", [FIXTURE_LEVEL, fine])  # noqa: S608
        con.execute("UPDATE districts SET parent_id = NULL")
        con.execute("UPDATE places SET parent_id = NULL")
        for table in ("indicator_values", "target_status"):
            if parent:
                con.execute(f"DELETE FROM {table} WHERE level = ?", [parent])  # noqa: S608 fixed names
            con.execute(f"UPDATE {table} SET level = ? WHERE level = ?", [FIXTURE_LEVEL, fine])  # noqa: S608
            con.execute(f"UPDATE {table} SET area_id = ? WHERE level = 'territory'", [FIXTURE_TERRITORY])  # noqa: S608
        if parent:
            con.execute("DELETE FROM territory_levels WHERE level = ?", [parent])
        con.execute("""UPDATE territory_levels SET level = ?, parent_level = NULL, label_it = 'Rione', label_en = 'Rione',
                       plural_it = 'Rioni', plural_en = 'Rioni', long_it = 'Rione', long_en = 'Rione' WHERE level = ?""",
                    [FIXTURE_LEVEL, fine])
        con.execute("UPDATE territory SET territory_id = ?, name_it = 'Borgo di prova', name_en = 'Test borough'"
                    " WHERE territory_id = ?", [FIXTURE_TERRITORY, old_id])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return target
