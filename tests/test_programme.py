"""The programme: configuration into the warehouse, the actions register (audit trail, concurrent edits,
repeated submits, read-only), and the funds ledger on a fixture whose answer is worked out by hand."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from etl import programme as etl_programme
from etl.base import SourceError
from etl.pipeline import create_schema
from osservatorio import programme as pg
from osservatorio.programme_store import (
    Action,
    ConflictError,
    PlaceRef,
    ProgrammeStore,
    ReadOnlyError,
    ValidationError,
    clean_action,
    demo_path,
)

ROOT = Path(__file__).resolve().parents[1]


# --- configuration ---------------------------------------------------------------------------------

def test_config_has_the_six_lines_of_2017_and_the_envelope(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        create_schema(con)
        etl_programme.write_programme(con, ROOT / "config" / "programme.toml", progress=lambda _m: None)
        lines = pg.read_lines(con)
        objectives = pg.read_objectives(con)
    finally:
        con.close()
    assert list(lines["line_id"]) == ["studio", "comunicazione", "laboratori", "spazi", "investimento", "formazione"]
    assert all("13/04/2017" in s for s in lines["source"])
    amount, funding = pg.envelope(lines)
    assert amount == 10_000_000 and funding == ("comune",)
    assert set(objectives["line_id"]) == set(lines["line_id"])  # every line has at least one objective
    assert all("proposta" in b for b in objectives["basis"])  # objectives are marked as a proposal to confirm


def test_bad_config_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "programme.toml"
    bad.write_text('[[line]]\nid = "x"\nname_it = "X"\n', encoding="utf-8")
    with pytest.raises(SourceError, match="name_en"):
        etl_programme.load_programme(bad)
    bad.write_text('[envelope]\namount_eur = -5\nline = "x"\nfunding_sources=["comune"]\nsource="s"\n'
                   '[[line]]\nid="x"\nname_it="X"\nname_en="X"\ndescription_it="d"\ndescription_en="d"\nsource="s"\n',
                   encoding="utf-8")
    with pytest.raises(SourceError, match="amount_eur"):
        etl_programme.load_programme(bad)
    assert etl_programme.load_programme(tmp_path / "missing.toml") is None


def test_build_stores_the_programme(demo_con: duckdb.DuckDBPyConnection) -> None:
    assert len(pg.read_lines(demo_con)) == 6
    assert pg.envelope(pg.read_lines(demo_con))[0] == 10_000_000


# --- register --------------------------------------------------------------------------------------

def _action(**extra: object) -> Action:
    values: dict[str, object] = {"title": "Fablab a Quarto Oggiaro", "line": "laboratori", "places": [("nil", "5")],
                                 "budget_allocated": "1000", "status": "proposed"}
    values.update(extra)
    return clean_action(values, lines=["laboratori", "spazi"])


def test_create_edit_and_audit_trail(tmp_path: Path) -> None:
    store = ProgrammeStore(tmp_path / "p.sqlite")
    first = store.create(_action(), "ana@comune.milano.it", "prima versione")
    assert (first.action_id, first.version, first.duplicate) == (1, 1, False)
    second = store.edit(1, 1, _action(status="approved", budget_committed=800), "bruno@comune.milano.it", "approvata in seduta")
    assert second.version == 2 and set(second.fields) == {"status", "budget_committed"}
    current = store.get(1)
    assert current is not None and current.status == "approved" and current.budget_committed == 800
    assert current.created_by == "ana@comune.milano.it" and current.updated_by == "bruno@comune.milano.it"
    trail = store.history(1)
    assert [(c.version, c.changed_by, c.reason) for c in trail] == [
        (1, "ana@comune.milano.it", "prima versione"), (2, "bruno@comune.milano.it", "approvata in seduta")]
    assert trail[0].action.status == "proposed"  # the old version is kept, not overwritten
    con = sqlite3.connect(tmp_path / "p.sqlite")
    try:
        with pytest.raises(sqlite3.DatabaseError, match="non si sovrascrivono"):
            con.execute("UPDATE action_changes SET reason = 'x'")
        with pytest.raises(sqlite3.DatabaseError, match="non si cancella"):
            con.execute("DELETE FROM action_changes")
    finally:
        con.close()


def test_edit_needs_a_reason_and_a_change(tmp_path: Path) -> None:
    store = ProgrammeStore(tmp_path / "p.sqlite")
    store.create(_action(), "ana")
    with pytest.raises(ValidationError) as err:
        store.edit(1, 1, _action(status="approved"), "ana", "  ")
    assert err.value.code == "pg_reason_required"
    with pytest.raises(ValidationError) as err:
        store.edit(1, 1, _action(), "ana", "nulla")
    assert err.value.code == "pg_no_change"
    assert len(store.history()) == 1


def test_concurrent_edits_from_two_sessions(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    ProgrammeStore(path).create(_action(), "ana")
    one, two = ProgrammeStore(path), ProgrammeStore(path)  # two browser sessions, both opened version 1
    one.edit(1, 1, _action(status="approved"), "ana", "approvata")
    with pytest.raises(ConflictError) as err:
        two.edit(1, 1, _action(budget_allocated=5000), "bruno", "più budget")
    assert err.value.params["who"] == "ana" and err.value.params["version"] == 2
    assert ProgrammeStore(path).get(1).budget_allocated == 1000  # type: ignore[union-attr]
    # Two threads racing on the same version: exactly one wins.
    outcomes: list[str] = []

    def attempt(who: str, amount: int) -> None:
        try:
            ProgrammeStore(path).edit(1, 2, _action(status="approved", budget_allocated=amount), who, "gara")
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt, args=(f"u{i}", 2000 + i)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    assert [c.version for c in ProgrammeStore(path).history(1)] == [1, 2, 3]


def test_double_submit_stores_one_change(tmp_path: Path) -> None:
    store = ProgrammeStore(tmp_path / "p.sqlite")
    a, b = store.create(_action(), "ana"), store.create(_action(), "ana")
    assert b.duplicate and b.action_id == a.action_id
    e1 = store.edit(1, 1, _action(status="running"), "ana", "partita")
    e2 = store.edit(1, 1, _action(status="running"), "ana", "partita")  # same click again, same base version
    assert e2.duplicate and e2.version == e1.version == 2
    assert len(store.history()) == 2


def test_validation(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        _action(line="inesistente")
    assert err.value.code == "pg_bad_line"
    for bad, code in (({"title": ""}, "pg_required"), ({"status": "x"}, "pg_bad_status"),
                      ({"budget_spent": -1}, "pg_bad_amount"), ({"funding_source": "bank"}, "pg_bad_funding"),
                      ({"start_date": "2025-05-01", "end_date": "2025-01-01"}, "pg_dates_order"),
                      ({"places": [("Castle!", "1")]}, "pg_bad_place"), ({"places": [("nil", "x")]}, "pg_bad_place")):
        with pytest.raises(ValidationError) as err:
            _action(**bad)
        assert err.value.code == code, bad


def test_read_only_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    ro = ProgrammeStore(path, read_only=True)
    assert ro.actions() == []
    with pytest.raises(ReadOnlyError):
        ro.create(_action(), "ana")
    assert list(tmp_path.iterdir()) == []
    ProgrammeStore(path).create(_action(), "ana")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert [a.title for a in ProgrammeStore(path, read_only=True).actions()] == ["Fablab a Quarto Oggiaro"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert demo_path(path).name == "p.demo.sqlite"


# --- ledger on a fixture with a known answer -------------------------------------------------------

PLACES = pd.DataFrame([
    {"kind": "nil", "ref": "1", "name": "Uno", "district_id": 1, "parent_id": 1, "lon": 9.1, "lat": 45.4},
    {"kind": "nil", "ref": "5", "name": "Cinque", "district_id": 5, "parent_id": 2, "lon": 9.2, "lat": 45.5},
    {"kind": "municipio", "ref": "2", "name": "Municipio 2", "district_id": None, "parent_id": 2, "lon": 9.2, "lat": 45.5},
    {"kind": "vacant", "ref": "v:9", "name": "Capannone", "district_id": 1, "parent_id": 1, "lon": 9.11, "lat": 45.41},
])
CLASSES = pd.DataFrame({"district_id": [1, 5], "class_id": ["periferia", "centro"]})


def _ledger_actions() -> list[Action]:
    return [
        Action(title="A1", line="spazi", places=(PlaceRef("nil", "1"), PlaceRef("nil", "5")), budget_allocated=1000,
               budget_committed=600, budget_spent=100, funding_source="comune", private_investment=300, action_id=1),
        Action(title="A2", line="laboratori", budget_allocated=200, budget_committed=200, funding_source="private",
               action_id=2),
        Action(title="A3", line="spazi", places=(PlaceRef("municipio", "2"),), budget_allocated=400, budget_committed=400,
               budget_spent=400, funding_source="regione", private_investment=100, action_id=3),
    ]


def test_ledger_sums() -> None:
    alloc = pg.allocations(_ledger_actions(), PLACES, CLASSES)
    by_mun = pg.ledger(alloc, "parent").set_index("group")
    assert by_mun.loc["1", ["allocated", "committed", "spent"]].tolist() == [500, 300, 50]
    assert by_mun.loc["2", ["allocated", "committed", "spent"]].tolist() == [900, 700, 450]
    assert by_mun.loc[pg.NO_PLACE, ["allocated", "committed"]].tolist() == [200, 200]
    by_class = pg.ledger(alloc, "class").set_index("group")
    assert by_class.loc["periferia", "committed"] == 300 and by_class.loc["centro", "committed"] == 300
    assert by_class.loc[pg.NO_PLACE, "committed"] == 600  # a Municipio has no class; A2 has no place
    by_line = pg.ledger(alloc, "line").set_index("group")
    assert by_line.loc["spazi", ["allocated", "actions"]].tolist() == [1400, 2]
    for frame in (by_mun, by_class, by_line):  # every view adds up to the register's totals
        assert frame["allocated"].sum() == 1600 and frame["committed"].sum() == 1200 and frame["spent"].sum() == 500
    assert pg.ledger(alloc, "line", ["spazi", "laboratori"])["group"].tolist() == ["spazi", "laboratori"]
    assert pg.ledger(alloc, "parent")["group"].tolist() == ["1", "2", pg.NO_PLACE]  # no place last
    lev = pg.leverage(_ledger_actions())
    assert (lev.private_eur, lev.public_eur) == (600, 1000) and lev.ratio == pytest.approx(0.6)
    use = pg.envelope_use(_ledger_actions(), 10_000, ("comune",))
    assert (use.allocated, use.committed, use.spent, use.available) == (1000, 600, 100, 9000)
    pvc = pg.periphery_vs_centre(alloc)
    assert list(pvc["group"]) == ["centro", "periferia", pg.NO_PLACE]
    assert pvc["share"].tolist() == [0.25, 0.25, 0.5]


def test_leverage_without_public_money_is_none() -> None:
    assert pg.leverage([Action(title="x", line="spazi", private_investment=5)]).ratio is None
    assert pg.ledger(pg.allocations([], PLACES, CLASSES), "line").empty


def test_filters_by_place() -> None:
    actions = _ledger_actions()
    assert [a.title for a in pg.filter_actions(actions, parent_id=2, places=PLACES)] == ["A1", "A3"]
    assert [a.title for a in pg.filter_actions(actions, district_id=1, places=PLACES)] == ["A1"]
    assert [a.title for a in pg.filter_actions(actions, line="spazi", status="proposed")] == ["A1", "A3"]


@pytest.mark.real
def test_real_build_stores_lines_and_resolves_places(real_dir: Path, tmp_path: Path) -> None:
    """On the real files: the six lines and the envelope are stored; every NIL and Municipio, the vacant
    buildings and the makerspaces can be named by an action, each with its Municipio."""
    from etl.pipeline import build

    out = tmp_path / "real.duckdb"
    build(real_dir, out, progress=lambda _m: None)
    con = duckdb.connect(str(out), read_only=True)
    try:
        lines, index = pg.read_lines(con), pg.read_place_index(con)
    finally:
        con.close()
    assert len(lines) == 6 and pg.envelope(lines)[0] == 10_000_000
    counts = index.groupby("kind").size().to_dict()
    assert counts["nil"] == 88 and counts["municipio"] == 9
    assert counts["vacant"] > 0 and counts["makerspace"] > 0
    assert index["parent_id"].notna().all()  # confiscated properties have only a Municipio: still placeable


# --- territories: area kinds are the territory's level ids ---------------------------------------------

COMUNI = pd.DataFrame([  # a one-level territory (Provincia di Cremona-like): comuni, no parent level
    {"kind": "comune", "ref": "19036", "name": "Cremona", "district_id": 19036, "parent_id": None, "lon": 10.02, "lat": 45.13},
    {"kind": "comune", "ref": "19035", "name": "Crema", "district_id": 19035, "parent_id": None, "lon": 9.68, "lat": 45.36},
    {"kind": "hub", "ref": "hubs:polo_cremona", "name": "Polo tecnologico", "district_id": 19036, "parent_id": None,
     "lon": 10.03, "lat": 45.14},
])


def test_area_kinds_follow_the_territory_levels() -> None:
    values = {"title": "Bando", "line": "spazi", "places": [("comune", "19036"), ("hub", "hubs:polo_cremona")]}
    action = clean_action(values, lines=["spazi"], levels=["comune"])
    assert [p.key() for p in action.places] == ["comune:19036", "hub:hubs:polo_cremona"]
    assert action.places[0].is_area and not action.places[1].is_area
    with pytest.raises(ValidationError) as err:  # Milan's level id in Cremona's territory
        clean_action({**values, "places": [("nil", "5")]}, lines=["spazi"], levels=["comune"])
    assert err.value.code == "pg_bad_place"
    # Milan's stored kinds 'nil' / 'municipio' are Milan's level ids: read and checked as such, nothing to migrate
    assert clean_action(_action().content() | {"places": [["nil", "5"]]}, lines=["laboratori"],
                        levels=["nil", "municipio"]).places == (PlaceRef("nil", "5"),)


def test_ledger_of_a_one_level_territory_has_no_parent_money() -> None:
    actions = [Action(title="C1", line="spazi", places=(PlaceRef("comune", "19036"), PlaceRef("hub", "hubs:polo_cremona")),
                      budget_allocated=1000, budget_committed=500, action_id=1)]
    alloc = pg.allocations(actions, COMUNI, pd.DataFrame({"district_id": [19036], "class_id": ["centro"]}))
    assert alloc["district_id"].tolist() == [19036, 19036] and alloc["parent_id"].isna().all()
    assert pg.ledger(alloc, "parent")["group"].tolist() == [pg.NO_PLACE]  # no parent level: nothing split by parent
    assert pg.ledger(alloc, "class").set_index("group").loc["centro", "committed"] == 500
    assert [a.title for a in pg.filter_actions(actions, district_id=19036, places=COMUNI)] == ["C1"]
    demo = pg.demo_actions(COMUNI, ["laboratori", "investimento", "formazione"], "comune", None)
    assert {p.kind for a in demo for p in a.places} <= {"comune", "makerspace", "vacant"}
    assert any(p.kind == "comune" for a in demo for p in a.places)


def test_board_decides_a_proposed_action_in_a_session(tmp_path: Path) -> None:
    from osservatorio.auth import User
    from osservatorio.board_store import PermissionDenied

    store = ProgrammeStore(tmp_path / "p.sqlite")
    store.create(_action(), "ana@comune.it", "proposta")
    with pytest.raises(PermissionDenied):  # a viewer (e.g. a withdrawn editor role) cannot decide
        store.decide(1, 1, "approved", 7, User("vera@comune.it", "Vera", "viewer"), "no")
    with pytest.raises(ValidationError) as err:
        store.decide(1, 1, "running", 7, "ana@comune.it", "x")
    assert err.value.code == "pg_bad_decision"
    postponed = store.decide(1, 1, "postponed", 7, User("ed@comune.it", "Ed", "editor"), "serve un preventivo")
    assert (postponed.version, postponed.session_id, postponed.action.status) == (2, 7, "postponed")
    approved = store.decide(1, 2, "approved", 8, "ed@comune.it", "preventivo arrivato")
    assert approved.changed_by == "ed@comune.it" and approved.session_id == 8
    assert [c.action.status for c in store.decisions(7)] == ["postponed"]
    assert [c.action.status for c in store.decisions(8)] == ["approved"]
    with pytest.raises(ValidationError) as err:  # approved: no longer awaiting a decision
        store.decide(1, 3, "rejected", 9, "ed@comune.it", "ripensamento")
    assert err.value.code == "pg_not_decidable"
    with pytest.raises(ConflictError):  # decided on an older version than the stored one
        store.decide(1, 1, "rejected", 9, "ed@comune.it", "vecchio modulo")


@pytest.mark.real
def test_real_cremona_build_places_actions_on_its_comuni(real_dir: Path, tmp_path: Path) -> None:
    """Provincia di Cremona from the real files: one level, its 113 comuni, no parent: an action can name any
    comune; its money is split by line and class only (no parent area), and the evaluation finds its comune."""
    from datetime import date

    from etl.pipeline import build
    from osservatorio import data
    from osservatorio.evaluation import resolve_actions

    out = tmp_path / "cremona.duckdb"
    build(real_dir, out, progress=lambda _m: None, territory="provincia_cremona")
    con = duckdb.connect(str(out), read_only=True)
    try:
        territory, index = data.territory(con), pg.read_place_index(con)
    finally:
        con.close()
    assert territory.level_ids == ("comune",) and territory.parent is None
    comuni = index[index["kind"] == "comune"]
    assert len(comuni) == 113 and index["parent_id"].isna().all()
    cremona = comuni.loc[comuni["name"] == "Cremona", "ref"].iloc[0]
    action = clean_action({"title": "Polo", "line": "laboratori", "places": [("comune", cremona)], "start_date": "2024-01-01",
                           "indicators": ["residents"]}, lines=["laboratori"], levels=list(territory.level_ids))
    alloc = pg.allocations([action], index, pd.DataFrame({"district_id": [], "class_id": []}))
    assert alloc["district_id"].tolist() == [int(cremona)] and pg.ledger(alloc, "parent")["group"].tolist() == [pg.NO_PLACE]
    ok, skipped = resolve_actions([action], index, "comune", None)
    assert ok[0].treated_areas == (int(cremona),) and not skipped
    assert date(2024, 1, 1) == ok[0].start


def test_programma_view_follows_the_territory_levels() -> None:
    """page_views.programma: the parent filter and split exist only with a parent level, under its id."""
    from osservatorio.page_views import programma as view
    from osservatorio.territory import Level, Territory

    def territory(*levels: tuple[str, str]) -> Territory:
        return Territory("t", "T", "T", tuple(Level(i, r, None, lab, lab, lab + "i", lab + "s") for r, (i, lab) in
                                              enumerate(levels)), 9.0, 45.0, "c", "c", "EPSG:7791")

    two, one = territory(("nil", "NIL"), ("municipio", "Municipio")), territory(("comune", "Comune"))
    assert view.ledger_splits(two, True) == ["line", "municipio", "class"]
    assert view.ledger_splits(one, True) == ["line", "class"] and view.ledger_splits(one, False) == ["line"]
    assert view.split_by(two, "municipio") == "parent" and view.split_by(one, "class") == "class"
    assert view.split_label(two, "municipio", "it") == "per Municipio"
    assert view.split_label(two, "class", "en") == "by periphery class"
    assert view.parent_filter_options(PLACES, two) == ["2"] and view.parent_filter_options(COMUNI, one) == []
    assert "Municipio" in view.ledger_rule(two, "it") and "Municipio" not in view.ledger_rule(one, "it")
    alloc = pg.allocations(_ledger_actions(), PLACES, CLASSES)
    table = view.ledger_table(pg.ledger(alloc, "parent"), "parent", pd.DataFrame(columns=["line_id"]),
                              pd.DataFrame(columns=["class_id", "class_name"]), "it", territory=two)
    assert table["Gruppo"].tolist() == ["Municipio 1", "Municipio 2", "senza luogo / non attribuibile"]
