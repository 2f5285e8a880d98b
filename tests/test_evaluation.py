"""Difference in differences of an action (osservatorio.evaluation) on fixtures whose answer is known."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from osservatorio.evaluation import (
    MIN_AREAS,
    ActionRef,
    Observation,
    actions_from_rows,
    did,
    evaluate_actions,
    observations_from_rows,
    summary_lines,
)

START = date(2022, 6, 1)
BEFORE, AFTER = date(2021, 12, 31), date(2023, 12, 31)


def panel(n_comparison: int = 6) -> tuple[list[Observation], dict[int, str]]:
    """NIL 1 (the action's) goes 10 → 16; comparison NIL 2.. (periphery) go v → v + 2, 3 (mean 2.5);
    NIL 90 is central and moves by 100 (must be ignored); NIL 50 has another action (ignored)."""
    obs = [Observation(1, date(2020, 12, 31), 9.0), Observation(1, BEFORE, 10.0), Observation(1, AFTER, 16.0)]
    classes = {1: "periferia", 90: "centro", 50: "periferia"}
    for k in range(n_comparison):
        nil = 2 + k
        classes[nil] = "periferia"
        step = 2.0 if k % 2 == 0 else 3.0
        obs += [Observation(nil, date(2020, 12, 31), 4.0 + k), Observation(nil, BEFORE, 5.0 + k),
                Observation(nil, AFTER, 5.0 + k + step)]
    obs += [Observation(90, BEFORE, 0.0), Observation(90, AFTER, 100.0), Observation(50, BEFORE, 0.0),
            Observation(50, AFTER, 50.0)]
    return obs, classes


def test_known_answer() -> None:
    obs, classes = panel()
    action = ActionRef("A1", 1, START, ("x",))
    result = did(action, "x", obs, classes, treated_nils=[1, 50])
    assert result.treated is not None and result.treated.change == pytest.approx(6.0)
    assert result.n_comparison == 6
    assert sorted(c.district_id for c in result.comparison) == [2, 3, 4, 5, 6, 7]
    assert result.comparison_change == pytest.approx(2.5)
    assert result.effect == pytest.approx(3.5)
    assert result.data_dates == (BEFORE, AFTER)
    assert result.caveats == ()
    assert result.conclusive
    assert (result.points_before, result.points_after) == (2, 1)


def test_other_actions_nil_left_out_only_when_listed() -> None:
    obs, classes = panel()
    result = did(ActionRef("A1", 1, START, ("x",)), "x", obs, classes)
    assert result.n_comparison == 7  # NIL 50 counted when it has no action
    assert result.comparison_change == pytest.approx((2 + 3 + 2 + 3 + 2 + 3 + 50) / 7)


def test_few_areas_caveat() -> None:
    obs, classes = panel(n_comparison=MIN_AREAS - 1)
    result = did(ActionRef("A1", 1, START, ("x",)), "x", obs, classes, treated_nils=[50])
    assert result.n_comparison == MIN_AREAS - 1
    assert "few_areas" in result.caveats and not result.conclusive
    assert result.effect is not None  # the number is there, with its caveat


def test_no_point_before_or_after() -> None:
    obs, classes = panel()
    late = did(ActionRef("A1", 1, date(2019, 1, 1), ("x",)), "x", obs, classes)
    assert late.treated is None and late.effect is None and "no_before" in late.caveats
    future = did(ActionRef("A1", 1, date(2025, 1, 1), ("x",)), "x", obs, classes)
    assert future.treated is None and "no_after" in future.caveats and not future.conclusive


def test_single_point_before_and_other_dates() -> None:
    obs, classes = panel()
    obs = [o for o in obs if not (o.district_id == 1 and o.day.year == 2020)]
    obs = [o for o in obs if not (o.district_id == 2 and o.day == AFTER)] + [Observation(2, date(2022, 12, 31), 7.0)]
    result = did(ActionRef("A1", 1, START, ("x",)), "x", obs, classes, treated_nils=[50])
    assert "single_before" in result.caveats and "other_dates" in result.caveats
    assert date(2022, 12, 31) in result.data_dates


def test_unknown_class() -> None:
    obs, classes = panel()
    extra = [Observation(999, BEFORE, 1), Observation(999, AFTER, 2)]
    result = did(ActionRef("A1", 999, START, ("x",)), "x", obs + extra, classes)
    assert "no_class" in result.caveats and result.n_comparison == 0 and result.effect is None


def test_adapter_and_batch() -> None:
    rows = [("A1", 1, "2022-06-01", ["x"], "Fablab"), ("A2", None, "2022-06-01", ["x"]),
            ("A3", "50", date(2022, 6, 1), ("x", "y"))]
    actions = actions_from_rows(rows)
    assert [a.action_id for a in actions] == ["A1", "A3"] and actions[0].title == "Fablab" and actions[1].district_id == 50
    obs, classes = panel()
    results = evaluate_actions(actions, {"x": obs}, classes)
    assert [(r.action_id, r.indicator_id) for r in results] == [("A1", "x"), ("A3", "x"), ("A3", "y")]
    assert results[0].effect == pytest.approx(3.5)  # NIL 50 has an action: left out of A1's comparison
    assert results[2].treated is None and "no_data" in results[2].caveats  # indicator y: no value at all


def test_observations_missing_values_are_not_zero() -> None:
    rows = [(1, "2021-12-31", None), (1, "2021-12-31", float("nan")), (2, "2021-12-31", "x"), (3, "2021-12-31", 4),
            (3, "2021-12-31", 5)]
    obs = observations_from_rows(rows)
    assert obs == [Observation(3, date(2021, 12, 31), 5.0)]


def test_register_adapter_reads_the_programme_store(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    programme_store = pytest.importorskip("osservatorio.programme_store")
    from osservatorio.evaluation import register_actions

    monkeypatch.setenv("OSSERVATORIO_PROGRAMME", str(tmp_path / "programme.sqlite"))
    monkeypatch.delenv("OSSERVATORIO_READ_ONLY", raising=False)
    assert register_actions(INDEX, "nil", "municipio") == ([], [])  # no register yet: nothing, and no file created
    assert not (tmp_path / "programme.sqlite").exists()
    store = programme_store.ProgrammeStore(tmp_path / "programme.sqlite")
    Action, PlaceRef = programme_store.Action, programme_store.PlaceRef
    store.create(Action(title="Fablab di quartiere", line="laboratori", places=(PlaceRef("nil", "1"),),
                        start_date=START, indicators=("x",)), "ed@comune.it", "prima azione")
    store.create(Action(title="Senza luogo", line="laboratori", start_date=START, indicators=("x",)), "ed@comune.it", "x")
    (action,), (skipped,) = register_actions(INDEX, "nil", "municipio")
    assert (action.district_id, action.start, action.indicator_ids, action.title) == (1, START, ("x",), "Fablab di quartiere")
    assert (skipped.title, skipped.reason) == ("Senza luogo", "no_place")
    obs, classes = panel()
    result = evaluate_actions([action], {"x": obs}, classes)[0]
    assert result.effect == pytest.approx((16 - 10) - (2 + 3 + 2 + 3 + 2 + 3 + 50) / 7)


# Place index of a two-level territory: areas 1..7, 50 and 90 of level 'nil'; 1 and 2..4 in parent 'municipio' 9,
# 5..7 in parent 8; a vacant building in area 1 and a hub with no area; a parent 3 with no areas in this build.
INDEX = pd.DataFrame(
    [{"kind": "nil", "ref": str(i), "district_id": i, "parent_id": 9 if i <= 4 else 8 if i <= 7 else 7} for i in
     (1, 2, 3, 4, 5, 6, 7, 50, 90)]
    + [{"kind": "municipio", "ref": r, "district_id": None, "parent_id": int(r)} for r in ("7", "8", "9", "3")]
    + [{"kind": "vacant", "ref": "v:1", "district_id": 1, "parent_id": 9},
       {"kind": "hub", "ref": "h:1", "district_id": None, "parent_id": None},
       {"kind": "vacant", "ref": "conf:8", "district_id": None, "parent_id": 8}])  # known only by its parent


def test_actions_on_a_place_or_a_parent_area_are_evaluated_on_their_areas() -> None:
    from osservatorio.evaluation import resolve_actions
    from osservatorio.programme_store import Action, PlaceRef

    register = [
        Action(title="Capannone", line="spazi", places=(PlaceRef("vacant", "v:1"),), start_date=START, indicators=("x",),
               action_id=1),
        Action(title="Bando", line="investimento", places=(PlaceRef("municipio", "9"),), start_date=START,
               indicators=("x",), action_id=2),
        Action(title="Polo", line="laboratori", places=(PlaceRef("hub", "h:1"),), start_date=START, indicators=("x",),
               action_id=3),
        Action(title="Vuoto", line="spazi", places=(PlaceRef("municipio", "3"),), start_date=START, indicators=("x",),
               action_id=4),
        Action(title="Senza data", line="spazi", places=(PlaceRef("nil", "1"),), indicators=("x",), action_id=5),
        Action(title="Senza indicatori", line="spazi", places=(PlaceRef("nil", "1"),), start_date=START, action_id=6),
        Action(title="Altro territorio", line="spazi", places=(PlaceRef("comune", "19036"),), start_date=START,
               indicators=("x",), action_id=7),
    ]
    only_parent = Action(title="Bene confiscato", line="spazi", places=(PlaceRef("vacant", "conf:8"),), start_date=START,
                         indicators=("x",), action_id=8)
    (conf,), _ = resolve_actions([only_parent], INDEX, "nil", "municipio")
    assert (conf.treated_areas, conf.basis) == ((5, 6, 7), ("parent",))
    ok, skipped = resolve_actions(register, INDEX, "nil", "municipio")
    assert [(a.action_id, a.treated_areas, a.basis) for a in ok] == [("1", (1,), ("place",)),
                                                                     ("2", (1, 2, 3, 4), ("parent",))]
    assert [(n.action_id, n.reason) for n in skipped] == [("3", "not_located"), ("4", "not_located"), ("5", "no_start"),
                                                          ("6", "no_indicators"), ("7", "not_located")]
    # the parent-area action: mean change of its 4 areas, comparison = the other periphery areas without action
    obs, classes = panel()
    result = did(ok[1], "x", obs, classes, treated_nils=[1, 2, 3, 4, 50])
    assert result.n_treated == 4 and len(result.treated_areas) == 4
    assert result.treated is not None and result.treated.change == pytest.approx((6 + 2 + 3 + 2) / 4)
    assert sorted(c.district_id for c in result.comparison) == [5, 6, 7]
    assert result.comparison_change == pytest.approx((3 + 2 + 3) / 3)
    assert result.effect == pytest.approx(13 / 4 - 8 / 3) and "few_areas" in result.caveats
    # a one-level territory (no parent level): a parent kind is not located
    _ok, skipped_one = resolve_actions(register[1:2], INDEX, "nil", None)
    assert [n.reason for n in skipped_one] == ["not_located"]


def test_treated_areas_with_missing_data_or_mixed_classes_are_said() -> None:
    obs, classes = panel()
    classes = {**classes, 2: "centro"}
    action = ActionRef("A", 1, START, ("x",), areas=(1, 2, 999))
    result = did(action, "x", obs, classes)
    assert "some_treated_missing" in result.caveats and "mixed_classes" in result.caveats
    assert result.n_treated == 3 and len(result.treated_areas) == 2
    assert result.comparison_class == "centro, periferia"
    assert 90 in {c.district_id for c in result.comparison}  # the central area is comparable to the central treated one
    lines = summary_lines(result, "en", str)
    assert any("2 of the action's 3 areas" in line for line in lines)
    assert any("different periphery classes" in line for line in lines)


def test_default_start_spans_the_latest_change() -> None:
    from datetime import timedelta

    from osservatorio.evaluation import default_start

    obs, _ = panel()
    assert default_start(obs) == BEFORE + timedelta(days=1)
    assert default_start([Observation(1, BEFORE, 1.0)]) is None


def test_no_value_at_all_is_said_once() -> None:
    obs, classes = panel()
    result = did(ActionRef("A1", 777, START, ("x",)), "x", obs, {**classes, 777: "periferia"})
    assert "no_data" in result.caveats and "no_before" not in result.caveats and "no_after" not in result.caveats
    assert not result.conclusive and result.treated is None


def test_obiettivi_view_names_the_treated_areas() -> None:
    from osservatorio.page_views import obiettivi as view
    from osservatorio.territory import Level

    fine = Level("rione", 0, None, "Rione", "Rione", "Rioni", "Rioni")
    action = ActionRef("A", 1, START, ("x",), areas=tuple(range(1, 9)), basis=("parent",))
    lines = view.treated_lines(action, {1: "Uno\u202e\n"}, fine, "it")
    assert lines[0].startswith("Aree dell'azione (Rioni): 1 · Uno") and lines[0].endswith("(+2)")
    assert "\n" not in lines[0] and "\u202e" not in lines[0]  # names from files: one plain line
    assert lines[1] == "aree contenute nell'area più ampia dell'azione" and lines[2] == "Data di inizio: 01/06/2022"
    catalogue = pd.DataFrame({"indicator_id": ["a", "b"], "levels": ['["rione", "territory"]', '["territory"]']})
    assert view.fine_indicators(catalogue, fine) == ["a"]
    groups = pd.DataFrame({"group_level": ["periphery_class", "priority_area"], "group_id": ["p", "q"],
                           "group_name": ["periferia", "Q"], "district_id": [3, 4]})
    assert view.periphery_classes(groups) == {3: "periferia"} and view.periphery_classes(groups.iloc[0:0]) == {}
