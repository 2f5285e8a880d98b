"""Snapshots, history copy-forward, taxonomy changes and target status (real DuckDB files, no mocks)."""

from __future__ import annotations

import hashlib
import inspect
import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from test_indicators import NOW, ROOT, build_city, run, write_configs  # sibling test module (tests/ is on sys.path)

from etl import pipeline, targets
from etl.indicators import compute_all, load_catalogue
from etl.pipeline import build
from etl.targets import evaluate


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _city(path: Path, **kwargs: object) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    build_city(con, **kwargs)  # type: ignore[arg-type]
    return con


def _two_builds(tmp_path: Path, cfg1: dict[str, Path], cfg2: dict[str, Path],
                today2: date | None = None) -> tuple[duckdb.DuckDBPyConnection, list[str], Path]:
    """Build 1 (installed warehouse) then build 2 with build 1 as `previous`; returns build 2."""
    first = tmp_path / "first.duckdb"
    con1 = _city(first)
    run(con1, cfg1, build_id="b1", now=datetime(2026, 1, 10, 9, 0))
    con1.close()
    con2 = _city(tmp_path / "second.duckdb")
    messages = run(con2, cfg2, build_id="b2", previous=first, now=datetime(2026, 11, 21, 9, 0), today=today2)
    return con2, messages, first


# --- snapshots and history ----------------------------------------------------------------------------------

def test_first_snapshot_without_previous(tmp_path: Path) -> None:
    con = _city(tmp_path / "w.duckdb")
    messages = run(con, write_configs(tmp_path / "cfg"), previous=None)
    assert any("nessun warehouse precedente" in m for m in messages)
    (row,) = con.sql("SELECT snapshot_id, created_at, mode, periphery_version, taxonomy_version, source_versions, "
                     "ateco_editions, notes FROM snapshots").fetchall()
    sid, created, mode, pver, tver, sources, editions, notes = row
    assert (sid, created, mode, pver, notes) == ("b1", NOW, "real", "t1", None)
    assert tver == hashlib.sha256(b"schema_version = 1\n").hexdigest()[:16]
    assert json.loads(sources)["population_nil"] == ["sha-population_nil"]
    assert json.loads(editions) == {"firms_ateco": ["2007"], "src_firm": ["2007"]}
    assert con.sql("SELECT count(*) FROM taxonomy_changes").fetchall() == [(0,)]
    messages = run(_city(tmp_path / "w2.duckdb"), write_configs(tmp_path / "cfg"), previous=tmp_path / "missing.duckdb")
    assert any("non trovato" in m for m in messages)


def test_copy_forward_keeps_history_and_never_writes_previous(tmp_path: Path) -> None:
    cfg = write_configs(tmp_path / "cfg")
    first = tmp_path / "first.duckdb"
    con1 = _city(first)
    run(con1, cfg, build_id="b1", now=datetime(2026, 1, 10, 9, 0))
    con1.close()
    before = _sha(first)
    con2 = _city(tmp_path / "second.duckdb")
    messages = run(con2, cfg, build_id="b2", previous=first, now=datetime(2026, 11, 21, 9, 0))
    assert _sha(first) == before  # attached READ_ONLY, never written
    assert any("copiati 1 snapshot precedenti" in m for m in messages)
    assert con2.sql("SELECT snapshot_id FROM snapshots ORDER BY created_at").fetchall() == [("b1",), ("b2",)]
    for table in ("indicator_values", "district_groups", "indicator_catalogue"):
        counts = dict(con2.sql(f"SELECT snapshot_id, count(*) FROM {table} GROUP BY 1").fetchall())  # noqa: S608
        assert counts["b1"] == counts["b2"] > 0, table
    # Same configuration: nothing that could fake a trend.
    assert con2.sql("SELECT count(*) FROM taxonomy_changes").fetchall() == [(0,)]
    # A third build copies both.
    con2.close()
    con3 = _city(tmp_path / "third.duckdb")
    run(con3, cfg, build_id="b3", previous=tmp_path / "second.duckdb", now=datetime(2026, 12, 1, 9, 0))
    assert con3.sql("SELECT count(*) FROM snapshots").fetchall() == [(3,)]
    history = con3.sql("SELECT snapshot_id, value FROM indicator_values WHERE indicator_id = 'makerspaces_count' "
                       "AND level = 'territory' ORDER BY snapshot_id").fetchall()
    assert history == [("b1", 3.0), ("b2", 3.0), ("b3", 3.0)]


def test_ateco_taxonomy_change_is_recorded(tmp_path: Path) -> None:
    cfg1 = write_configs(tmp_path / "cfg1", ateco="schema_version = 1\n# versione A\n")
    cfg2 = write_configs(tmp_path / "cfg2", ateco="schema_version = 1\n# versione B: 25.62 spostato\n")
    con, messages, _ = _two_builds(tmp_path, cfg1, cfg2)
    rows = con.sql("SELECT snapshot_id, component, old_version, new_version, note, affects FROM taxonomy_changes").fetchall()
    assert len(rows) == 1
    sid, component, old, new, note, affects = rows[0]
    assert (sid, component) == ("b2", "ateco_categories")
    assert old == hashlib.sha256(b"schema_version = 1\n# versione A\n").hexdigest()[:16]
    assert new == hashlib.sha256(b"schema_version = 1\n# versione B: 25.62 spostato\n").hexdigest()[:16]
    assert "non sono un trend" in note
    assert "firms_dm_units" in json.loads(affects)
    assert any("cambio registrato (ateco_categories)" in m for m in messages)


def test_missing_ateco_file_is_version_none(tmp_path: Path) -> None:
    cfg1 = write_configs(tmp_path / "cfg1", ateco=None)
    cfg2 = write_configs(tmp_path / "cfg2")
    con, _, _ = _two_builds(tmp_path, cfg1, cfg2)
    assert con.sql("SELECT taxonomy_version FROM snapshots ORDER BY created_at").fetchall()[0] == ("none",)
    assert con.sql("SELECT component, old_version FROM taxonomy_changes").fetchall() == [("ateco_categories", "none")]


def test_periphery_changes_are_recorded(tmp_path: Path) -> None:
    cfg1 = write_configs(tmp_path / "cfg1", version="t1")
    cfg2 = write_configs(tmp_path / "cfg2", version="t2", overrides='"2" = { class = "periferia", reason = "prova" }')
    con, _, _ = _two_builds(tmp_path, cfg1, cfg2)
    rows = dict(con.sql("SELECT component, note FROM taxonomy_changes").fetchall())
    assert set(rows) == {"periphery", "district_groups"}
    assert "area 2 esce da semicentro" in rows["district_groups"] and "area 2 entra in periferia" in rows["district_groups"]
    assert con.sql("SELECT old_version, new_version FROM taxonomy_changes WHERE component = 'periphery'").fetchall() == [
        ("t1", "t2")]
    # Each snapshot keeps its own classification.
    assert con.sql("SELECT snapshot_id, group_id FROM district_groups WHERE district_id = 2 AND group_level = 'periphery_class' "
                   "ORDER BY snapshot_id").fetchall() == [("b1", "semicentro"), ("b2", "periferia")]


def test_periphery_edit_without_version_bump_is_flagged(tmp_path: Path) -> None:
    cfg1 = write_configs(tmp_path / "cfg1", version="t1")
    cfg2 = write_configs(tmp_path / "cfg2", version="t1")
    cfg2["periphery_path"].write_text(cfg2["periphery_path"].read_text() + "\n# commento aggiunto\n")
    con, _, _ = _two_builds(tmp_path, cfg1, cfg2)
    rows = con.sql("SELECT component, note FROM taxonomy_changes").fetchall()
    assert rows == [("periphery", "config/periphery.toml modificato senza cambiare 'version': aggiornare la versione")]


def test_catalogue_change_is_recorded(tmp_path: Path) -> None:
    cfg1 = write_configs(tmp_path / "cfg1")
    cfg2 = write_configs(tmp_path / "cfg2")
    cfg2["indicators_path"].write_text(cfg2["indicators_path"].read_text().replace("weight = 0.5", "weight = 0.7", 1))
    con, _, _ = _two_builds(tmp_path, cfg1, cfg2)
    assert con.sql("SELECT component, affects FROM taxonomy_changes").fetchall() == [("catalogue", '["*"]')]


def test_older_schema_starts_history_fresh(tmp_path: Path) -> None:
    old = tmp_path / "old.duckdb"
    with duckdb.connect(str(old)) as c:
        c.execute("CREATE TABLE snapshots (snapshot_id VARCHAR, created_at TIMESTAMP)")
        c.execute("INSERT INTO snapshots VALUES ('ancient', now()::TIMESTAMP)")
    before = _sha(old)
    con = _city(tmp_path / "w.duckdb")
    messages = run(con, write_configs(tmp_path / "cfg"), previous=old)
    assert _sha(old) == before
    assert any("schema precedente incompatibile" in m and "storico ripartito" in m for m in messages)
    assert con.sql("SELECT snapshot_id FROM snapshots").fetchall() == [("b1",)]
    (component, note), = con.sql("SELECT component, note FROM taxonomy_changes").fetchall()
    assert component == "history" and "1 snapshot precedenti non copiati" in note
    assert "storico ripartito" in con.sql("SELECT notes FROM snapshots").fetchall()[0][0]


def test_warehouse_without_indicator_tables(tmp_path: Path) -> None:
    old = tmp_path / "old.duckdb"
    with duckdb.connect(str(old)) as c:
        c.execute("CREATE TABLE districts (id INTEGER)")
    con = _city(tmp_path / "w.duckdb")
    messages = run(con, write_configs(tmp_path / "cfg"), previous=old)
    assert any("non ha storico degli indicatori" in m for m in messages)
    assert con.sql("SELECT count(*) FROM taxonomy_changes").fetchall() == [(0,)]


def test_other_mode_history_is_not_mixed(tmp_path: Path) -> None:
    cfg = write_configs(tmp_path / "cfg")
    first = tmp_path / "first.duckdb"
    con1 = _city(first)
    run(con1, cfg, build_id="d1", mode="demo")
    con1.close()
    con2 = _city(tmp_path / "second.duckdb")
    messages = run(con2, cfg, build_id="r1", mode="real", previous=first)
    assert any("1 snapshot in modalità diversa non copiati" in m for m in messages)
    assert con2.sql("SELECT snapshot_id FROM snapshots").fetchall() == [("r1",)]


def _pipeline_calls_compute_all() -> bool:
    return "compute_all" in inspect.getsource(pipeline)


def test_two_demo_builds_keep_history(tmp_path: Path) -> None:
    """etl.pipeline.build(None, path) twice; until the pipeline calls compute_all, the test does."""
    out = tmp_path / "warehouse.duckdb"
    ids = []
    for _ in range(2):
        if _pipeline_calls_compute_all():
            ids.append(build(None, out, progress=lambda _m: None).build_id)
            continue
        # Same sequence as the wired pipeline: build into a temp file, compute with the installed one as previous.
        tmp = tmp_path / "next.duckdb"
        report = build(None, tmp, progress=lambda _m: None)
        con = duckdb.connect(str(tmp))
        compute_all(con, report.build_id, report.mode, out if out.exists() else None, lambda _m: None)
        con.close()
        tmp.replace(out)
        ids.append(report.build_id)
    con = duckdb.connect(str(out), read_only=True)
    try:
        assert [r[0] for r in con.sql("SELECT snapshot_id FROM snapshots ORDER BY created_at").fetchall()] == ids
        assert con.sql("SELECT DISTINCT mode FROM snapshots").fetchall() == [("demo",)]
        per_snapshot = dict(con.sql("SELECT snapshot_id, count(*) FROM indicator_values GROUP BY 1").fetchall())
        assert per_snapshot[ids[0]] == per_snapshot[ids[1]] > 1000
        assert con.sql("SELECT DISTINCT trust FROM indicator_values").fetchall() == [("demo",)]
        assert con.sql("SELECT count(*) FROM taxonomy_changes").fetchall() == [(0,)]
        # The demo is deterministic: the same value in both snapshots (no false trend).
        vals = con.sql("SELECT DISTINCT value FROM indicator_values WHERE indicator_id = 'makerspaces_count' "
                       "AND level = 'territory'").fetchall()
        assert len(vals) == 1
        assert con.sql("SELECT count(DISTINCT snapshot_id) FROM target_status").fetchall() == [(2,)]
    finally:
        con.close()


# --- targets: the rule ------------------------------------------------------------------------------------------

B_DATE, DEADLINE = date(2025, 1, 1), date(2029, 1, 1)
TODAY = date(2027, 1, 1)
EXPECTED = 1.0 + 2.0 * (TODAY - B_DATE).days / (DEADLINE - B_DATE).days  # ~ 2.0 (half-way)


@pytest.mark.parametrize(("current", "status"), [
    (2.5, "on_track"),          # beyond the expected value
    (EXPECTED, "on_track"),     # exactly on the line
    (1.6, "at_risk"),           # 0.6 of ~1.0 expected progress = 60 %
    (1.2, "off_track"),         # 20 %
    (0.8, "off_track"),         # went backwards
    (None, "no_data"),
])
def test_status_rule_higher_better(current: float | None, status: str) -> None:
    ev = evaluate(current, 1.0, B_DATE, 3.0, DEADLINE, TODAY, "higher_better")
    assert ev.status == status
    assert ev.expected == pytest.approx(EXPECTED)
    assert ev.rule.startswith(targets.RULE)


@pytest.mark.parametrize(("current", "status"), [(1400.0, "on_track"), (1700.0, "at_risk"), (1800.0, "off_track")])
def test_status_rule_lower_better(current: float, status: str) -> None:
    # From 2,000 m to 1,000 m; half-way in time the expected value is 1,500 m.
    ev = evaluate(current, 2000.0, date(2026, 1, 1), 1000.0, date(2028, 1, 1), date(2027, 1, 1), "lower_better")
    assert ev.expected == pytest.approx(2000 - 1000 * 365 / 730)
    assert ev.status == status


def test_status_past_deadline() -> None:
    after = date(2029, 6, 1)
    assert evaluate(3.1, 1.0, B_DATE, 3.0, DEADLINE, after).status == "on_track"
    late = evaluate(2.9, 1.0, B_DATE, 3.0, DEADLINE, after)
    assert late.status == "off_track" and "non raggiunto" in late.rule  # never 'at_risk' after the deadline
    assert evaluate(None, 1.0, B_DATE, 3.0, DEADLINE, after).status == "no_data"
    assert evaluate(3.0, 1.0, B_DATE, 3.0, DEADLINE, DEADLINE).status == "on_track"


def test_targets_file_errors() -> None:
    cat = load_catalogue(ROOT / "config" / "indicators.toml")
    good = {"id": "X", "objective": "o", "indicator": "makerspaces_count", "level": "territory", "area": "milano",
            "target": 1, "deadline": "2030-01-01"}
    assert len(targets.parse_targets({"target": [good]}, cat).targets) == 1
    with pytest.raises(targets.TargetsConfigError, match="indicatore sconosciuto"):
        targets.parse_targets({"target": [{**good, "indicator": "zz"}]}, cat)
    with pytest.raises(targets.TargetsConfigError, match="livello"):
        targets.parse_targets({"target": [{**good, "indicator": "opportunity_score"}]}, cat)
    with pytest.raises(targets.TargetsConfigError, match="insieme"):
        targets.parse_targets({"target": [{**good, "baseline": 1.0}]}, cat)
    with pytest.raises(targets.TargetsConfigError, match="data non valida"):
        targets.parse_targets({"target": [{**good, "deadline": "31/12/2030"}]}, cat)
    real = targets.load_targets(ROOT / "config" / "targets.toml", cat)
    assert len(real.targets) >= 3


# --- targets: stored status per snapshot ------------------------------------------------------------------------

TARGETS = """
[[target]]
id = "given"
objective = "Makerspace in periferia"
indicator = "makerspaces_per_100k"
level = "periphery_class"
area = "periferia"
baseline = 10.0
baseline_date = "2026-01-01"
target = 40.0
deadline = "2027-01-01"

[[target]]
id = "from_history"
objective = "Coworking in città"
indicator = "coworking_count"
level = "territory"
area = "milano"
target = 13.0
deadline = "2028-01-01"

[[target]]
id = "nodata"
objective = "Residenti"
indicator = "residents"
level = "territory"
area = "milano"
target = 1.0
deadline = "2030-01-01"

[[target]]
id = "late"
objective = "Spazi dismessi"
indicator = "vacant_count"
level = "territory"
area = "milano"
target = 10.0
deadline = "2026-06-30"
"""


def test_target_status_stored_per_snapshot(tmp_path: Path) -> None:
    cfg = write_configs(tmp_path / "cfg", targets=TARGETS)
    con, _, _ = _two_builds(tmp_path, cfg, cfg, today2=date(2026, 7, 2))
    rows = {r[0]: r[1:] for r in con.sql(
        "SELECT target_id, baseline, baseline_date, current_value, expected_value, status, rule FROM target_status "
        "WHERE snapshot_id = 'b2'").fetchall()}
    # periferia: 20 per 100k (NIL 4 excluded). Line 10 -> 40 over 2026; on 2 July (182 of 365 days) it expects ~25.
    base, bdate, cur, exp, status, rule = rows["given"]
    assert (base, bdate, cur) == (10.0, date(2026, 1, 1), 20.0)
    assert exp == pytest.approx(10 + 30 * 182 / 365)
    assert status == "at_risk" and "a rischio" in rule  # 10 of ~14.96 expected = 67 %
    # Baseline from the first snapshot of the history (b1, 2026-01-10): 3 coworking spaces.
    base, bdate, cur, exp, status, _ = rows["from_history"]
    assert (base, bdate, cur) == (3.0, date(2026, 1, 10), 3.0)
    elapsed, span = (date(2026, 7, 2) - date(2026, 1, 10)).days, (date(2028, 1, 1) - date(2026, 1, 10)).days
    assert exp == pytest.approx(3 + 10 * elapsed / span)
    assert status == "off_track"  # no progress at all
    # City residents are NULL (NIL 4 has no population): no data.
    assert rows["nodata"][2] is None and rows["nodata"][4] == "no_data"
    # Deadline passed, 4 vacant spaces instead of 10.
    assert rows["late"][4] == "off_track" and "scadenza 2026-06-30 passata" in rows["late"][5]
    # The first snapshot kept its own status rows.
    assert con.sql("SELECT count(*) FROM target_status WHERE snapshot_id = 'b1'").fetchall() == [(4,)]


# --- same inputs, same configuration: no new trend point ---------------------------------------------------------

def test_rebuilding_the_same_folder_marks_same_as(tmp_path: Path, h: object) -> None:
    """Build twice from the same folder -> the second snapshot has same_as = the first; a changed file
    (or a changed configuration) makes a real new point again."""
    raw = h.write_raw_dir(tmp_path / "raw")  # type: ignore[attr-defined]
    out = tmp_path / "warehouse.duckdb"
    first = build(raw, out, progress=lambda _m: None).build_id
    second = build(raw, out, progress=lambda _m: None).build_id
    lines = list(h.population_lines)  # type: ignore[attr-defined]
    lines[2] = "2;Brera;2100;21,0"
    h.write_text(raw / "popolazione" / "popolazione_residenti.csv", lines, encoding="cp1252")  # type: ignore[attr-defined]
    third = build(raw, out, progress=lambda _m: None).build_id
    fourth = build(raw, out, progress=lambda _m: None).build_id
    con = duckdb.connect(str(out), read_only=True)
    try:
        rows = dict(con.sql("SELECT snapshot_id, same_as FROM snapshots").fetchall())
    finally:
        con.close()
    assert rows == {first: None, second: first, third: None, fourth: third}


def test_same_as_compares_every_input() -> None:
    from etl.snapshots import SnapshotInfo, same_as_previous

    new = SnapshotInfo("b2", datetime(2026, 1, 2), "real", "cat", "v1", "ph", "tax", "tgt", {"s": ["x"]}, {})
    prev = {"snapshot_id": "b1", "mode": "real", "catalogue_version": "cat", "periphery_version": "v1",
            "periphery_hash": "ph", "taxonomy_version": "tax", "targets_version": "tgt",
            "source_versions": json.dumps({"s": ["x"]}), "ateco_editions": "{}"}
    assert same_as_previous(prev, new) == "b1"
    assert same_as_previous(None, new) is None
    for name, other in [("catalogue_version", "cat2"), ("periphery_hash", "ph2"), ("targets_version", None),
                        ("source_versions", json.dumps({"s": ["y"]})), ("ateco_editions", json.dumps({"f": ["2007"]})),
                        ("mode", "demo")]:
        assert same_as_previous({**prev, name: other}, new) is None, name


def test_target_dates_come_from_the_data(tmp_path: Path) -> None:
    """A list dated 2024 (sources.reference_date): the baseline is dated 31/12/2024, not the build day,
    and the current value is judged where the line was at the data's date."""
    toml = """
[[target]]
id = "makers"
objective = "Makerspace in città"
indicator = "makerspaces_count"
level = "territory"
area = "milano"
target = 9.0
deadline = "2030-12-31"
"""
    cfg = write_configs(tmp_path / "cfg", targets=toml)
    con = _city(tmp_path / "w.duckdb")
    con.execute("UPDATE sources SET reference_date = DATE '2024-03-01' WHERE source_id = 'src_makerspace'")
    run(con, cfg, today=date(2026, 11, 21))
    (base, bdate, cur, exp, status, rule), = con.sql(
        "SELECT baseline, baseline_date, current_value, expected_value, status, rule FROM target_status").fetchall()
    assert (base, bdate, cur, exp, status) == (3.0, date(2024, 12, 31), 3.0, 3.0, "on_track")
    assert "al 2024-12-31" in rule
    assert targets.data_date(None, date(2026, 1, 1)) == date(2026, 1, 1)
    assert targets.data_date(2030, date(2026, 1, 1)) == date(2026, 1, 1)  # never later than the evaluation
    assert targets.data_date(2016, date(2026, 1, 1)) == date(2016, 12, 31)


def test_targets_belong_to_a_territory_and_use_level_roles(tmp_path: Path) -> None:
    """A target of another territory is not evaluated; a 'parent' target is stored at the territory's
    parent level (Municipio here) and left out in a one-level territory."""
    extra = """
territory = "milano"

[[target]]
id = "cremona_only"
objective = "Altro territorio"
indicator = "makerspaces_count"
level = "territory"
area = "provincia_cremona"
territory = "provincia_cremona"
target = 5.0
deadline = "2030-01-01"

[[target]]
id = "by_parent"
objective = "Makerspace nel Municipio 2"
indicator = "makerspaces_count"
level = "parent"
area = "2"
target = 5.0
deadline = "2030-01-01"
"""
    cfg = write_configs(tmp_path / "cfg", targets=extra)
    con = _city(tmp_path / "w.duckdb")
    run(con, cfg)
    rows = con.sql("SELECT target_id, level, area_id, current_value FROM target_status").fetchall()
    assert rows == [("by_parent", "municipio", "2", 2.0)]
    one_level = load_catalogue()
    from etl.indicators import Levels
    from etl.targets import evaluate_targets, load_targets

    tcfg = load_targets(cfg["targets_path"], one_level)
    assert [t.territory_id for t in tcfg.targets] == ["provincia_cremona", "milano"]
    status = evaluate_targets(con, "b1", tcfg, one_level, date(2026, 1, 1),
                              Levels(fine="comune", parent=None, territory_id="milano"))
    assert status.empty


def test_history_survives_a_previous_warehouse_without_the_newer_tables(tmp_path: Path) -> None:
    """periphery_groups, scoring_weights, ateco_category_labels and snapshots.territory_id are newer than
    the history: a previous warehouse without them is still copied (its snapshots count as Milan's)."""
    cfg = write_configs(tmp_path / "cfg")
    first = tmp_path / "first.duckdb"
    con1 = _city(first)
    run(con1, cfg, build_id="b1", now=datetime(2026, 1, 10, 9, 0))
    for table in ("periphery_groups", "scoring_weights", "ateco_category_labels"):
        con1.execute(f"DROP TABLE {table}")
    con1.execute("ALTER TABLE snapshots DROP COLUMN territory_id")
    con1.close()
    con2 = _city(tmp_path / "second.duckdb")
    messages = run(con2, cfg, build_id="b2", previous=first, now=datetime(2026, 11, 21, 9, 0))
    assert any("copiati 1 snapshot precedenti (real, milano)" in m for m in messages)
    assert con2.sql("SELECT snapshot_id, territory_id FROM snapshots ORDER BY 1").fetchall() == [
        ("b1", "milano"), ("b2", "milano")]
    assert con2.sql("SELECT DISTINCT snapshot_id FROM scoring_weights").fetchall() == [("b2",)]


def test_history_of_another_territory_is_not_copied(tmp_path: Path) -> None:
    cfg = write_configs(tmp_path / "cfg")
    first = tmp_path / "first.duckdb"
    con1 = _city(first)
    run(con1, cfg, build_id="b1", now=datetime(2026, 1, 10, 9, 0))
    con1.execute("UPDATE snapshots SET territory_id = 'provincia_cremona'")
    con1.close()
    con2 = _city(tmp_path / "second.duckdb")
    messages = run(con2, cfg, build_id="b2", previous=first, now=datetime(2026, 11, 21, 9, 0))
    assert any("copiati 0 snapshot" in m and "1 snapshot di un altro territorio non copiati" in m for m in messages)
    assert con2.sql("SELECT snapshot_id FROM snapshots").fetchall() == [("b2",)]
