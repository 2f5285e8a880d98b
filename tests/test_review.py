"""Review-session comparison logic (osservatorio.review) on tiny hand-made fixtures, then on a seeded warehouse."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from osservatorio import review
from osservatorio.board_store import BoardStore, Note, PlaceKey, Session
from osservatorio.territory import Level, Territory

try:
    from tests.review_fixtures import BIG_JUMP, VACANT_DROP, Seeded, seed_review_warehouse
except ModuleNotFoundError:  # `pytest` run from inside tests/
    from review_fixtures import BIG_JUMP, VACANT_DROP, Seeded, seed_review_warehouse

NAN = math.nan
B_SPREAD = 10 * math.sqrt(2 / 3)
SHA_A, SHA_B = "a" * 64, "b" * 64


def changes(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """Rows like data.indicator_changes: indicator, area, previous, current (change computed)."""
    frame = pd.DataFrame(rows, columns=["indicator_id", "area_id", "previous", "current"])
    frame["change"] = frame["current"] - frame["previous"]
    return frame


CATALOGUE = pd.DataFrame({
    "indicator_id": ["a", "b", "c", "d"],
    "name_it": ["Indicatore A", "Indicatore B", "Indicatore C", "Indicatore D"],
    "name_en": ["Indicator A", "Indicator B", "Indicator C", "Indicator D"],
    "theme": ["makerspace", "vacant", "population", "firms"],
    "unit": ["n", "m", "ab.", "%"],
    "direction": ["higher_better", "lower_better", "neutral", "higher_better"],
    "sources": [json.dumps(["makerspaces"]), json.dumps(["vacant_buildings", "aree_dismesse"]),
                json.dumps(["population_nil"]), json.dumps(["firms_ateco"])],
})

# a: previous values 2 and 4 (mean 3, population std 1); x moves +4, y stays, z appears.
# b: previous 10, 30, 20 (mean 20, population std 10·√(2/3) ≈ 8.165); x −10 (better: lower is better),
#    y +5 (worse), w disappears.
# c: previous 5 and 5 (std 0) -> spread of the current values 9 and 5 (std 2); x +4 -> scaled 2.
# d: one area, previous 0: no spread, no percentage; it is ranked last.
TINY = changes([
    ("a", "x", 2, 6), ("a", "y", 4, 4), ("a", "z", NAN, 1),
    ("b", "x", 10, 0), ("b", "y", 30, 35), ("b", "w", 20, NAN),
    ("c", "x", 5, 9), ("c", "y", 5, 5),
    ("d", "x", 0, 3),
])


def row(frame: pd.DataFrame, indicator: str, area: str) -> pd.Series:
    return frame[(frame["indicator_id"] == indicator) & (frame["area_id"] == area)].iloc[0]


# --- movements ---------------------------------------------------------------------------------------------

def test_movements_classify_and_scale_by_hand() -> None:
    moves = review.movements(TINY, CATALOGUE)
    expected = {  # (kind, pct_change, spread, scaled_change, assessment)
        ("a", "x"): ("changed", 2.0, 1.0, 4.0, "better"),
        ("a", "y"): ("unchanged", 0.0, 1.0, 0.0, "neutral"),
        ("a", "z"): ("appeared", NAN, 1.0, NAN, "neutral"),
        ("b", "x"): ("changed", -1.0, B_SPREAD, -10 / B_SPREAD, "better"),
        ("b", "y"): ("changed", 5 / 30, B_SPREAD, 5 / B_SPREAD, "worse"),
        ("b", "w"): ("disappeared", NAN, B_SPREAD, NAN, "neutral"),
        ("c", "x"): ("changed", 0.8, 2.0, 2.0, "neutral"),
        ("c", "y"): ("unchanged", 0.0, 2.0, 0.0, "neutral"),
        ("d", "x"): ("changed", NAN, NAN, NAN, "better"),
    }
    assert len(moves) == len(expected)
    for (indicator, area), (kind, pct, spread, scaled, assessment) in expected.items():
        got = row(moves, indicator, area)
        assert got["kind"] == kind, (indicator, area)
        for name, value in (("pct_change", pct), ("spread", spread), ("scaled_change", scaled)):
            assert (math.isnan(got[name]) and math.isnan(value)) or got[name] == pytest.approx(value), (indicator, area, name)
        assert got["assessment"] == assessment, (indicator, area)
        assert got["explained_by"] == []


def test_top_movements_rank_by_scaled_change_then_absolute_change() -> None:
    moves = review.movements(TINY, CATALOGUE)
    top = review.top_movements(moves, 10)
    assert list(zip(top["indicator_id"], top["area_id"], strict=True)) == [
        ("a", "x"), ("c", "x"), ("b", "x"), ("b", "y"), ("d", "x")]  # |4| > |2| > |−1.22| > |0.61| > no spread
    assert len(review.top_movements(moves, 2)) == 2
    per = review.top_per_indicator(moves, 1)
    assert list(zip(per["indicator_id"], per["area_id"], strict=True)) == [("a", "x"), ("b", "x"), ("c", "x"), ("d", "x")]
    assert len(review.top_per_indicator(moves, 5)) == 5  # unchanged / appeared / disappeared are not movements


def test_movements_of_nothing() -> None:
    empty = review.movements(pd.DataFrame(columns=["indicator_id", "area_id", "previous", "current", "change"]))
    assert empty.empty and list(empty.columns) == review.MOVE_COLUMNS
    assert review.top_movements(empty).empty and review.top_per_indicator(empty).empty


# --- targets -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("before", "after", "change"), [
    ("off_track", "on_track", "improved"), ("at_risk", "on_track", "improved"), ("off_track", "at_risk", "improved"),
    ("on_track", "at_risk", "worsened"), ("on_track", "off_track", "worsened"), ("at_risk", "off_track", "worsened"),
    ("on_track", "no_data", "data_lost"), ("no_data", "off_track", "data_gained"), ("no_data", "no_data", "unchanged"),
    ("at_risk", "at_risk", "unchanged"), (None, "on_track", "new"), ("on_track", None, "removed"),
])
def test_target_change(before: str | None, after: str | None, change: str) -> None:
    assert review.target_change(before, after) == change


def test_target_changes_side_by_side() -> None:
    def targets(rows: list[tuple[str, str, float | None]]) -> pd.DataFrame:
        return pd.DataFrame([{"target_id": i, "objective": f"obiettivo {i}", "indicator_id": "a", "level": "city",
                              "area_id": "milano", "target_value": 10.0, "deadline": pd.Timestamp("2030-12-31"),
                              "current_value": v, "expected_value": 5.0, "status": s, "rule": "r"} for i, s, v in rows])

    now = targets([("T1", "on_track", 6.0), ("T2", "at_risk", 3.0), ("T3", "no_data", None), ("T5", "on_track", 9.0)])
    before = targets([("T1", "off_track", 2.0), ("T2", "at_risk", 3.5), ("T3", "on_track", 4.0), ("T4", "on_track", 1.0)])
    out = review.target_changes(now, before).set_index("target_id")
    assert out["change"].to_dict() == {"T1": "improved", "T2": "unchanged", "T3": "data_lost", "T4": "removed",
                                       "T5": "new"}
    assert out["changed"].to_dict() == {"T1": True, "T2": False, "T3": True, "T4": True, "T5": True}
    assert out.loc["T1", "previous_value"] == 2.0 and out.loc["T1", "current_value"] == 6.0
    assert out.loc["T4", "objective"] == "obiettivo T4" and out.loc["T4", "status"] is None  # kept from the old side
    only_now = review.target_changes(now, None)
    assert set(only_now["change"]) == {"new"}


# --- places ------------------------------------------------------------------------------------------------

def test_place_diff_by_source_and_key() -> None:
    before = [PlaceKey("makerspace", "mk", "1", "Fablab Uno", 1), PlaceKey("makerspace", "mk", "2", "Fablab Due", 2),
              PlaceKey("vacant", "vb", "1", "Ex fonderia", 5), PlaceKey("coworking", "cw", "1", "Cowo", 3)]
    after = [PlaceKey("makerspace", "mk", "1", "Fablab Uno (nuovo nome)", 1),  # same key: not new
             PlaceKey("makerspace", "mk2", "2", "Fablab Due bis", 2),  # same key, other source: new
             PlaceKey("vacant", "vb", "1", "Ex fonderia", 5), PlaceKey("vacant", "vb", "7", "Ex cinema", None),
             PlaceKey("coworking", "cw", "2", "Cowo 2", 3)]  # coworking is not compared
    diff = review.place_diff(after, before, "s2", "s1")
    assert diff.available
    assert list(zip(diff.new["theme"], diff.new["source_id"], diff.new["source_key"], strict=True)) == [
        ("makerspace", "mk2", "2"), ("vacant", "vb", "7")]
    assert list(zip(diff.lost["theme"], diff.lost["source_id"], diff.lost["source_key"], strict=True)) == [
        ("makerspace", "mk", "2")]
    assert diff.lost.iloc[0]["name"] == "Fablab Due" and diff.new.iloc[1]["name"] == "Ex cinema"
    assert pd.isna(diff.new.iloc[1]["district_id"])
    assert diff.counts() == {"makerspace": (1, 1), "vacant": (1, 0)}
    same = review.place_diff(after, after, "s2", "s2")
    assert same.new.empty and same.lost.empty


def test_place_diff_unavailable_and_inferred_from_unchanged_hashes() -> None:
    sources = pd.DataFrame({"source_id": ["mk", "vb", "va"], "change": ["unchanged", "unchanged", "updated"],
                            "previous": [SHA_A, SHA_B, SHA_A], "current": [SHA_A, SHA_B, SHA_B]})
    diff = review.place_diff([PlaceKey("makerspace", "mk", "1")], None, "s2", "s1",
                             theme_sources={"makerspace": {"mk"}, "vacant": {"vb", "va"}}, source_changes=sources)
    assert not diff.available and diff.missing == ("s1",)
    assert diff.inferred_unchanged == ("makerspace",)  # vacant: one of its sources changed
    no_hash = sources.assign(previous="senza hash: demo://x", current="senza hash: demo://x")
    diff = review.place_diff(None, None, "s2", "s1", theme_sources={"makerspace": {"mk"}}, source_changes=no_hash)
    assert diff.missing == ("s2", "s1") and diff.inferred_unchanged == ()  # no real hash: nothing inferred
    assert diff.counts() == {"makerspace": (0, 0), "vacant": (0, 0)}


# --- data changes and explanations --------------------------------------------------------------------

def test_source_changes() -> None:
    before = json.dumps({"mk": [SHA_A], "vb": [SHA_A, SHA_B], "old": [SHA_A], "pop": [SHA_B]})
    after = json.dumps({"mk": [SHA_B], "vb": [SHA_B, SHA_A], "new": [SHA_A], "pop": [SHA_B]})
    out = review.source_changes(after, before).set_index("source_id")["change"].to_dict()
    assert out == {"mk": "updated", "vb": "unchanged", "old": "removed", "new": "added", "pop": "unchanged"}
    assert review.parse_versions("not json") == {} and review.parse_versions(None) == {}
    assert review.parse_versions('{"x": "abc"}') == {"x": ("abc",)}


def test_version_changes() -> None:
    before = {"catalogue_version": "c1", "periphery_version": "p1", "taxonomy_version": "t1", "targets_version": None}
    after = {"catalogue_version": "c1", "periphery_version": "p2", "taxonomy_version": "t1", "targets_version": "g1"}
    out = review.version_changes(after, before)
    assert list(map(tuple, out.to_numpy())) == [("periphery_version", "p1", "p2"), ("targets_version", None, "g1")]
    assert review.version_changes(after, None).empty


def test_taxonomy_between_takes_changes_after_the_older_snapshot() -> None:
    snaps = pd.DataFrame({"snapshot_id": ["s1", "s2", "s3"],
                          "created_at": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"])})
    tax = pd.DataFrame({"snapshot_id": ["s1", "s2", "s3"], "component": ["c1", "c2", "c3"]})
    assert list(review.taxonomy_between(tax, snaps, "s3", "s1")["component"]) == ["c2", "c3"]
    assert list(review.taxonomy_between(tax, snaps, "s1", "s3")["component"]) == ["c2", "c3"]  # either order
    assert list(review.taxonomy_between(tax, snaps, "s2", "s1")["component"]) == ["c2"]
    assert review.taxonomy_between(tax, snaps, "s2", "s2").empty
    assert review.taxonomy_between(tax, snaps, "s2", "gone").empty


def test_explain_links_movements_to_data_changes() -> None:
    moves = review.movements(TINY, CATALOGUE)
    sources = pd.DataFrame({"source_id": ["makerspaces", "demo_vacant", "population_nil", "firms_ateco"],
                            "change": ["updated", "added", "unchanged", "updated"]})
    taxonomy = pd.DataFrame({"component": ["ateco_categories", "periphery", "catalogue"],
                             "affects": [json.dumps(["d"]), json.dumps(["level:priority_area"]), None]})
    out = review.explain(moves, CATALOGUE, sources, taxonomy, "nil")
    reasons = {(i, a): r for i, a, r in zip(out["indicator_id"], out["area_id"], out["explained_by"], strict=True)}
    assert reasons[("a", "x")] == [("source", "makerspaces"), ("taxonomy", "catalogue")]
    assert reasons[("b", "x")] == [("source", "demo_vacant"), ("taxonomy", "catalogue")]  # demo_<theme> by stem
    assert reasons[("c", "x")] == [("taxonomy", "catalogue")]  # population_nil did not change
    assert reasons[("d", "x")] == [("source", "firms_ateco"), ("taxonomy", "ateco_categories"), ("taxonomy", "catalogue")]
    assert reasons[("a", "y")] == []  # unchanged: nothing to explain
    by_level = review.explain(moves, CATALOGUE, sources.iloc[0:0], taxonomy.iloc[1:2], "priority_area")
    assert by_level["explained_by"].iloc[0] == [("taxonomy", "periphery")]
    assert review.explained_text([("source", "mk"), ("taxonomy", "periphery")], "it") == \
        "fonte aggiornata: mk; cambio di classificazione: periphery"


@pytest.mark.parametrize(("source", "feeds", "expected"), [
    ("makerspaces", ["makerspaces"], True), ("demo_makerspace", ["makerspaces"], True),
    ("demo_firm_units", ["firms_ateco", "firms_points"], True), ("demo_vacant", ["vacant_buildings"], True),
    ("demo_coworking", ["makerspaces"], False), ("vacant_buildings", ["makerspaces"], False),
    ("coworking_extra", ["coworking"], False),  # the stem rule is only for demo sources
])
def test_source_feeds(source: str, feeds: list[str], expected: bool) -> None:
    assert review.source_feeds(source, feeds) is expected


# --- sessions and the default comparison ------------------------------------------------------------------

def session(session_id: int, held_on: str, snapshot_id: str | None) -> Session:
    return Session(session_id, date.fromisoformat(held_on), f"S{session_id}", (), snapshot_id, None, "Ada",
                   datetime(2026, 1, 1, tzinfo=UTC))


SNAPS = pd.DataFrame({"snapshot_id": ["s1", "s2", "s3"],
                      "created_at": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"])})


def test_previous_session_and_snapshot() -> None:
    sessions = [session(1, "2026-01-15", "s1"), session(2, "2026-02-15", "s2"), session(3, "2026-02-15", "s3")]
    assert review.previous_session(sessions, date(2026, 2, 15), 3).session_id == 2  # same day: by id
    assert review.previous_session(sessions, date(2026, 2, 15), 2).session_id == 1
    assert review.previous_session(sessions, date(2026, 2, 15)).session_id == 3  # a new session comes after all
    assert review.previous_session(sessions, date(2026, 1, 15), 1) is None
    assert review.snapshot_ids(SNAPS) == ["s3", "s2", "s1"]
    assert review.previous_snapshot(SNAPS, "s3") == "s2"
    assert review.previous_snapshot(SNAPS, "s1") is None
    assert review.previous_snapshot(SNAPS, "gone") is None


def test_default_compare_is_the_previous_sessions_snapshot() -> None:
    sessions = [session(1, "2026-01-15", "s1"), session(2, "2026-02-15", "gone"), session(3, "2026-03-15", "s3")]
    assert review.default_compare(sessions, SNAPS, "s3", date(2026, 3, 20)) == "s3"  # previous session: same data
    assert review.default_compare(sessions, SNAPS, "s3", date(2026, 3, 15), 3) == "s2"  # its snapshot is gone
    assert review.default_compare(sessions[:1], SNAPS, "s3", date(2026, 3, 1)) == "s1"
    assert review.default_compare([], SNAPS, "s3", date(2026, 3, 1)) == "s2"  # first session: the snapshot before
    assert review.default_compare([], SNAPS, "s1", date(2026, 3, 1)) is None


# --- formatting and labels ----------------------------------------------------------------------------------

def test_formats() -> None:
    assert review.fmt_value(1234.6, "it") == "1.235" and review.fmt_value(12.34, "it") == "12,3"
    assert review.fmt_value(0.456, "en") == "0.46" and review.fmt_value(NAN, "it") == "–"
    assert review.fmt_change(40.0, "it") == "+40" and review.fmt_change(-7.0, "it") == "−7"
    assert review.fmt_pct(0.125, "it") == "+12,5%" and review.fmt_pct(-1.0, "en") == "−100.0%"
    assert review.fmt_timestamp(datetime(2026, 11, 20, 9, 30, tzinfo=UTC), "it") == "20/11/2026 10:30"  # Milan, CET
    assert review.fmt_timestamp(datetime(2026, 7, 1, 9, 30), "en") == "2026-07-01 11:30"  # naive = UTC, CEST


def _territory(levels: list[tuple[str, str, str]], tid: str = "milano", name: str = "Comune di Milano") -> Territory:
    return Territory(id=tid, name_it=name, name_en=name, levels=tuple(
        Level(id=i, rank=r, parent_level=None, label_it=lab, label_en=lab, plural_it=pl, plural_en=pl)
        for r, (i, lab, pl) in enumerate(levels)), centre_lon=9.19, centre_lat=45.46, centre_name_it="c", centre_name_en="c",
        area_crs="EPSG:7791")


MILANO = _territory([("nil", "NIL", "NIL"), ("municipio", "Municipio", "Municipi")])
CREMONA = _territory([("comune", "Comune", "Comuni")], "provincia_cremona", "Provincia di Cremona")


def test_labels() -> None:
    names = review.district_names(pd.DataFrame({"id": [1, 12], "name": ["Duomo", "Bovisa"]}),
                                  pd.DataFrame({"group_level": ["priority_area"], "group_id": ["pq"],
                                                "group_name": ["Piano Quartieri"]}))
    assert review.area_label("nil", "12", names, "it", MILANO) == "12 · Bovisa"
    assert review.area_label(None, "12", names, "it", MILANO) == "12 · Bovisa"  # None: the finest level
    assert review.area_label("nil", "99", names, "it", MILANO) == "NIL 99"
    assert review.area_label("municipio", "3", names, "it", MILANO) == "Municipio 3"
    assert review.area_label("territory", "milano", names, "en", MILANO) == "Comune di Milano"
    assert review.area_label("priority_area", "pq", names, "it", MILANO) == "Piano Quartieri (area prioritaria)"
    assert review.area_label("periphery_class", "periferia", names, "en", MILANO) == "periferia (periphery class)"
    assert review.indicator_label(CATALOGUE, "a", "en") == "Indicator A"
    assert review.indicator_label(CATALOGUE, "zz", "it") == "zz"
    note = Note(1, 1, "note", "district", "nil:12", "t", "Ada", datetime(2026, 1, 1, tzinfo=UTC))
    assert review.note_target_label(note, CATALOGUE, names, pd.DataFrame(), {}, "it", MILANO) == "Area: 12 · Bovisa"
    # a one-level territory: its level's label, its name for the whole; a Milan level it lacks is named by its id
    comuni = review.district_names(pd.DataFrame({"id": [19036], "name": ["Cremona"]}))
    assert review.area_label("comune", "19036", comuni, "it", CREMONA) == "19036 · Cremona"
    assert review.area_label("comune", "1", comuni, "en", CREMONA) == "Comune 1"
    assert review.area_label("territory", "provincia_cremona", comuni, "it", CREMONA) == "Provincia di Cremona"
    assert review.area_label("municipio", "3", comuni, "it", CREMONA) == "municipio 3"
    parent_names = review.district_names(pd.DataFrame({"id": [1], "name": ["Uno"]}), None,
                                         pd.DataFrame({"id": [3], "name": ["Municipio 3"]}), "municipio")
    assert parent_names["municipio:3"] == "Municipio 3"
    assert review.area_label("municipio", "3", parent_names, "it", MILANO) == "Municipio 3"


# --- the whole comparison on a seeded warehouse -------------------------------------------------------------

@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed_review_warehouse(tmp_path_factory.mktemp("review"))


def test_compare_on_the_seeded_warehouse(seeded: Seeded, tmp_path: Path) -> None:
    con = duckdb.connect(str(seeded.path), read_only=True)
    try:
        reader = review.ConnectionReader(con)
        store = BoardStore(tmp_path / "appstate.sqlite")
        result = review.compare(reader, seeded.current, seeded.previous, store.snapshot_places)
        top = review.top_movements(result.moves, 3)
        assert (top.iloc[0]["indicator_id"], top.iloc[0]["area_id"]) == ("makerspaces_count", seeded.big_nil)
        assert top.iloc[0]["change"] == BIG_JUMP
        assert ("source", "demo_makerspace") in top.iloc[0]["explained_by"]
        vacant = row(result.moves, "vacant_count", seeded.vacant_nil)
        assert vacant["change"] == -VACANT_DROP and vacant["kind"] == "changed"
        assert int((result.moves["kind"] == "changed").sum()) == 2  # only the planted differences
        city = row(result.city, "makerspaces_count", "milano")  # level 'territory', area id = the territory id
        assert city["change"] == BIG_JUMP
        assert result.territory is not None and result.fine_level == "nil"
        changed = result.targets[result.targets["changed"]].set_index("target_id")["change"].to_dict()
        assert changed == {"T01": "improved", "T02": "worsened"}
        assert result.sources.set_index("source_id").loc[["demo_makerspace", "population_nil"], "change"].tolist() == [
            "updated", "added"]
        assert list(result.taxonomy["component"]) == ["ateco_categories"]
        assert not result.places.available and result.places.missing == (seeded.previous,)
        keys = review.current_place_keys(reader)
        makers = [k for k in keys if k.theme == "makerspace"]
        store.record_places(seeded.previous, [k for k in keys if k != makers[0]]
                            + [PlaceKey("vacant", "demo_vacant", "gone-1", "Capannone chiuso", 5)])
        result = review.compare(reader, seeded.current, seeded.previous, store.snapshot_places)
        assert result.places.available
        assert list(result.places.new["source_key"]) == [makers[0].source_key]
        assert list(result.places.lost["source_key"]) == ["gone-1"]
        summary = result.summary()
        assert summary["makerspaces_new"] == 1 and summary["vacant_lost"] == 1 and summary["targets_changed"] == 2
        assert summary["targets_improved"] == 1 and summary["targets_worsened"] == 1
        assert review.key_indicators(result)[:2] == list(dict.fromkeys(result.targets["indicator_id"]))[:2]
        reverse = review.compare(reader, seeded.previous, seeded.current, store.snapshot_places)
        assert row(reverse.moves, "makerspaces_count", seeded.big_nil)["change"] == -BIG_JUMP
        assert list(reverse.places.new["source_key"]) == ["gone-1"]  # the store's keys for the older snapshot
        alone = review.compare(reader, seeded.current, None)
        assert not alone.comparable and alone.moves.empty and set(alone.targets["change"]) == {"new"}
        nothing = review.compare(reader, None, None)
        assert nothing.snapshot is None and nothing.targets.empty
    finally:
        con.close()


def test_plain_text_removes_bidi_controls() -> None:
    controls = "".join(chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
    assert review.plain_text(f"a{controls}b") == "ab"
    assert review.plain_text("exe.\u202egpj") == "exe.gpj"
    assert review.plain_text("città «ok» \u200d") == "città «ok» \u200d"  # other characters stay
    assert review.plain_text(None) == ""


def test_seduta_view_offers_the_actions_awaiting_a_decision() -> None:
    from osservatorio.page_views import seduta as view
    from osservatorio.programme_store import Action

    actions = [Action(title=t, line="spazi", status=s, action_id=i, version=v) for i, (t, s, v) in
               enumerate([("a", "approved", 1), ("b\u202e", "postponed", 3), ("c", "proposed", 1), ("d", "rejected", 2)], 1)]
    waiting = view.waiting_actions(list(reversed(actions)))
    assert [a.action_id for a in waiting] == [2, 3]
    titles, versions = view.action_choices(waiting)
    assert titles == {"2": "2 · b", "3": "3 · c"} and versions == {2: 3, 3: 1}
    assert view.note_area_refs({"12": "x", "3": "y", "priority_area:pq": "z"}, CREMONA) == ["comune:3", "comune:12"]
