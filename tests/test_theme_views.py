"""The theme pages' view code (osservatorio.page_views.makerspace / spazi_vuoti / imprese, the shared helpers
in osservatorio.views, the targets in osservatorio.page_views.obiettivi) on tiny hand-made frames and two hand-made
territories (two levels like Milan's, one level like Cremona's): every expected value is computed by hand."""

from __future__ import annotations

import json
import math
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from osservatorio import maps, views
from osservatorio import views as vw
from osservatorio.page_views import imprese as fv
from osservatorio.page_views import makerspace as mv
from osservatorio.page_views import obiettivi as tv
from osservatorio.page_views import spazi_vuoti as sv
from osservatorio.page_views.spazi_vuoti import ScoreComponent
from osservatorio.territory import Level, Territory
from osservatorio.views import ALL

# --- tiny fixtures -----------------------------------------------------------------------------------


def level(id_: str, rank: int, label: str, plural: str, parent: str | None = None) -> Level:
    return Level(id=id_, rank=rank, parent_level=parent, label_it=label, label_en=label, plural_it=plural,
                 plural_en=plural)


#: Two levels (the shape of Milan's profile: NIL grouped in Municipi); no code names these ids.
TWO = Territory(id="citta_prova", name_it="Città di prova", name_en="Test city",
                levels=(level("quartiere", 0, "NIL", "NIL", "zona"), level("zona", 1, "Municipio", "Municipi")),
                centre_lon=9.19, centre_lat=45.46, centre_name_it="Piazza", centre_name_en="Square", area_crs="EPSG:7791")
#: One level (the shape of Cremona's profile: comuni only).
ONE = Territory(id="provincia_prova", name_it="Provincia di prova", name_en="Test province",
                levels=(level("comune", 0, "Comune", "Comuni"),),
                centre_lon=10.02, centre_lat=45.13, centre_name_it="Piazza", centre_name_en="Square", area_crs="EPSG:7791")


def stats() -> pd.DataFrame:
    """Four NIL: 1-2 in Municipio 1, 3-4 in Municipio 2."""
    return pd.DataFrame({"id": [1, 2, 3, 4], "name": ["Uno", "Due", "Tre", "Quattro"],
                         "parent_id": pd.array([1, 1, 2, 2], dtype="Int64")})


def groups() -> pd.DataFrame:
    """Periphery classes: 1 centro, 2 semicentro, 3-4 periferia; plus one priority area."""
    return pd.DataFrame({
        "group_level": ["periphery_class"] * 4 + ["priority_area"],
        "group_id": ["centro", "semicentro", "periferia", "periferia", "piano"],
        "group_name": ["Centro", "Semicentro", "Periferia", "Periferia", "Piano Quartieri"],
        "district_id": [1, 2, 3, 4, 3],
    })


def place(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"source_id": "src", "source_key": "k", "name": "P", "address": "Via X 1", "lon": 9.19,
                               "lat": 45.46, "district_id": 1, "parent_id": 1, "category": None, "status": None,
                               "ownership": None, "area_m2": None, "seats": None, "employees": None, "ateco_code": None,
                               "ateco_edition": None, "started_on": None, "trust": "demo"}
    base.update(kw)
    return base


def places(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for col in ("district_id", "parent_id", "seats"):
        frame[col] = frame[col].astype("Int64")
    for col in ("lon", "lat", "area_m2", "employees"):
        frame[col] = frame[col].astype(float)
    return frame


def catalogue() -> pd.DataFrame:
    return pd.DataFrame({
        "indicator_id": ["a_per_1k", "dist_m", "count_n"],
        "name_it": ["A ogni 1.000", "Distanza", "Numero"],
        "name_en": ["A per 1,000", "Distance", "Count"],
        "description_en": ["A desc", "Distance desc", "Count desc"],
        "unit": ["per 1.000 ab.", "m", "n"],
        "direction": ["higher_better", "lower_better", "higher_better"],
    })


# --- common --------------------------------------------------------------------------------------------


def test_latest_snapshot() -> None:
    assert vw.newest_snapshot(pd.DataFrame({"snapshot_id": []})) is None
    assert vw.newest_snapshot(pd.DataFrame({"snapshot_id": ["new", "old"]})) == "new"


def test_periphery_classes_and_options() -> None:
    classes = vw.periphery_classes(groups())
    assert classes.values.tolist() == [[1, "centro", "Centro"], [2, "semicentro", "Semicentro"],
                                       [3, "periferia", "Periferia"], [4, "periferia", "Periferia"]]
    assert vw.class_options(classes) == [ALL, "centro", "semicentro", "periferia"]  # centre outwards
    assert vw.peripheral_areas(classes) == {3, 4}
    assert vw.periphery_classes(None).empty
    assert vw.class_options(vw.periphery_classes(None)) == [ALL]
    assert vw.parent_options(stats()) == [ALL, "1", "2"]
    assert vw.parent_options(stats().drop(columns="parent_id")) == [ALL]
    assert vw.parent_name(TWO, 3, "it") == "Municipio 3" and vw.parent_name(ONE, 3, "it") == ""
    assert vw.option_label(ALL, "it", "th_all_municipi") == "Tutti i Municipi"
    assert vw.option_label("periferia", "en", "th_all_classes", {"periferia": "Periferia"}) == "Periferia"


def test_selected_areas_and_filter_places() -> None:
    classes = vw.periphery_classes(groups())
    assert vw.selected_areas(stats(), classes, ALL, ALL) is None
    assert vw.selected_areas(stats(), classes, "1", ALL) == {1, 2}
    assert vw.selected_areas(stats(), classes, ALL, "periferia") == {3, 4}
    assert vw.selected_areas(stats(), classes, "1", "periferia") == set()
    frame = places([place(source_key="a", district_id=1, parent_id=1), place(source_key="b", district_id=3, parent_id=2),
                    place(source_key="c", district_id=None, parent_id=2),  # known only by Municipio
                    place(source_key="d", district_id=None, parent_id=None)])
    keys = lambda f: f["source_key"].tolist()  # noqa: E731
    assert keys(vw.filter_places(frame, classes, ALL, ALL)) == ["a", "b", "c", "d"]
    assert keys(vw.filter_places(frame, classes, "2", ALL)) == ["b", "c"]  # the Municipio-only place stays in
    assert keys(vw.filter_places(frame, classes, ALL, "periferia")) == ["b"]  # ... but has no class
    assert keys(vw.filter_places(frame, classes, "1", "periferia")) == []


def test_outline_map_zooms_on_the_selection() -> None:
    geojson = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": i, "properties": {},
         "geometry": {"type": "Polygon",
                      "coordinates": [[[x, 45.4], [x + 0.05, 45.4], [x + 0.05, 45.45], [x, 45.45], [x, 45.4]]]}}
        for i, x in zip([1, 2, 3, 4], [9.0, 9.05, 9.1, 9.15], strict=True)]}
    whole = vw.outline_map(geojson, stats(), None, "t", "it", "white-bg")
    part = vw.outline_map(geojson, stats(), {4}, "t", "it", "white-bg")
    assert whole.layout.map.center.lon == pytest.approx(9.1)
    assert part.layout.map.center.lon == pytest.approx(9.175)
    assert part.layout.map.zoom > whole.layout.map.zoom
    assert list(part.data[0].z) == [0, 0, 0, 1]  # only the selected NIL is tinted
    assert part.layout.map.style == "white-bg"


# --- makerspace page -----------------------------------------------------------------------------------


def maker_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    makers = places([
        place(source_id="mk", source_key="1", name="Fab Uno", category="fablab", district_id=1, parent_id=1, area_m2=120.4),
        place(source_id="mk", source_key="2", name="Mak Tre", category="makerspace", district_id=3, parent_id=2),
        place(source_id="mk", source_key="3", name="Mak ?", category=None, district_id=None, parent_id=2, trust="official"),
    ])
    cowork = places([place(source_id="cw", source_key="9", name="Cow Quattro", category="coworking", district_id=4, parent_id=2,
                           seats=40)])
    return makers, cowork


def test_maker_places_and_table() -> None:
    makers, cowork = maker_frames()
    both = mv.maker_places(makers, cowork, ALL)
    assert both["theme"].tolist() == ["makerspace"] * 3 + ["coworking"]
    assert mv.maker_places(makers, cowork, "coworking")["name"].tolist() == ["Cow Quattro"]
    assert mv.maker_places(makers.iloc[0:0], cowork.iloc[0:0], ALL).empty
    table = mv.maker_table(both, stats(), vw.periphery_classes(groups()), TWO, "it")
    assert list(table.columns) == ["Nome", "Tipo", "Indirizzo", "NIL", "Municipio", "Classe di periferia", "m²",
                                   "Postazioni", "Fonte", "Affidabilità", "Codice"]
    assert table["Codice"].tolist() == ["mk:1", "mk:2", "mk:3", "cw:9"]
    assert table["Tipo"].tolist() == ["Fablab", "Makerspace", "Makerspace", "Coworking"]
    assert table["NIL"].tolist() == ["1 · Uno", "3 · Tre", "senza NIL", "4 · Quattro"]
    assert table["Classe di periferia"].fillna("-").tolist() == ["Centro", "Periferia", "-", "Periferia"]
    assert table["m²"].tolist()[0] == 120.0
    assert table["Postazioni"].tolist()[3] == 40
    assert table["Affidabilità"].tolist() == ["dimostrativo", "dimostrativo", "ufficiale", "dimostrativo"]
    english = mv.maker_table(both, stats(), vw.periphery_classes(groups()), TWO, "en")
    assert list(english.columns)[:4] == ["Name", "Type", "Address", "NIL"]
    # one level, no periphery classes: no parent column, no class column; the level's own label
    single = mv.maker_table(both, stats(), vw.periphery_classes(None), ONE, "it")
    assert list(single.columns) == ["Nome", "Tipo", "Indirizzo", "Comune", "m²", "Postazioni", "Fonte", "Affidabilità",
                                    "Codice"]
    assert single["Comune"].tolist() == ["1 · Uno", "3 · Tre", "senza comune", "4 · Quattro"]


def test_place_counts_include_zeros_and_unknowns() -> None:
    makers, cowork = maker_frames()
    counts = mv.place_counts(mv.maker_places(makers, cowork, ALL), stats(), vw.periphery_classes(groups()), TWO, "it")
    rows = [tuple(r) for r in counts.values.tolist()]
    assert rows == [
        ("Municipio", "Municipio 1", "Makerspace e fablab", 1),
        ("Municipio", "Municipio 2", "Makerspace e fablab", 2),
        ("Classe di periferia", "Centro", "Makerspace e fablab", 1),
        ("Classe di periferia", "Semicentro", "Makerspace e fablab", 0),
        ("Classe di periferia", "Periferia", "Makerspace e fablab", 1),
        ("Classe di periferia", "dato non disponibile", "Makerspace e fablab", 1),  # the place without a NIL
        ("Municipio", "Municipio 1", "Coworking", 0),
        ("Municipio", "Municipio 2", "Coworking", 1),
        ("Classe di periferia", "Centro", "Coworking", 0),
        ("Classe di periferia", "Semicentro", "Coworking", 0),
        ("Classe di periferia", "Periferia", "Coworking", 1),
    ]
    only_m2 = mv.place_counts(mv.maker_places(makers, cowork, ALL), stats(), vw.periphery_classes(groups()), TWO, "it",
                              ("coworking",), selected={3, 4})
    assert [tuple(r) for r in only_m2.values.tolist()] == [  # Municipio 1 and the classes of NIL 1-2 are not listed
        ("Municipio", "Municipio 2", "Coworking", 1),
        ("Classe di periferia", "Periferia", "Coworking", 1),
    ]
    # one level, no classes: counted per area of that level (the areas with places), the unplaced as 'n.d.'
    single = mv.place_counts(mv.maker_places(makers, cowork, ALL), stats(), vw.periphery_classes(None), ONE, "it",
                             ("makerspace",))
    assert [tuple(r) for r in single.values.tolist()] == [
        ("Comune", "1 · Uno", "Makerspace e fablab", 1), ("Comune", "3 · Tre", "Makerspace e fablab", 1),
        ("Comune", "dato non disponibile", "Makerspace e fablab", 1)]
    assert mv.counts_groupings(ONE, vw.periphery_classes(None), "it") == ["Comune"]
    assert mv.groupings_text(TWO, vw.periphery_classes(groups()), "en") == "municipio and periphery class"
    assert mv.groupings_text(ONE, vw.periphery_classes(None), "it") == "comune"
    assert mv.counts_groupings(TWO, vw.periphery_classes(groups()), "it") == ["Municipio", "Classe di periferia"]
    fig = mv.counts_chart(counts, "it")
    assert [tr.name for tr in fig.data] == ["Makerspace e fablab", "Coworking", "Makerspace e fablab", "Coworking"]
    assert list(fig.data[0].y) == [1, 2]


def test_indicator_ranking_respects_direction_and_missing_values() -> None:
    values = {
        "dist_m": pd.DataFrame({"area_id": ["1", "2", "3"], "value": [900.0, np.nan, 300.0]}),
        "a_per_1k": pd.DataFrame({"area_id": ["1", "2", "3"], "value": [1.234, 5.0, 2.0]}),
        "unknown": pd.DataFrame({"area_id": ["1"], "value": [1.0]}),  # not in the catalogue: skipped
    }
    areas = {"1": "Municipio 1", "2": "Municipio 2", "3": "Municipio 3"}
    table = mv.indicator_ranking(values, catalogue(), areas, "it", {"dist_m": 500.0, "a_per_1k": 2.5}, "Città di prova")
    assert list(table.columns) == ["Pos.", "Area", "Distanza (m)", "A ogni 1.000 (per 1.000 ab.)"]
    # lower is better for the distance: 300 first, 900 second, the NULL last without a rank
    assert table["Area"].tolist() == ["Municipio 3", "Municipio 1", "Municipio 2", "Città di prova"]
    assert table["Pos."].tolist()[:2] == [1, 2]
    assert table["Pos."].isna().tolist() == [False, False, True, True]
    assert table["Distanza (m)"].tolist()[:2] == [300.0, 900.0]
    assert table["A ogni 1.000 (per 1.000 ab.)"].tolist() == [2.0, 1.23, 5.0, 2.5]
    tied = mv.indicator_ranking({"count_n": pd.DataFrame({"area_id": ["1", "2", "3", "4"], "value": [2.0, 5.0, 2.0, 0.0]})},
                                catalogue(), {"1": "a", "2": "b", "3": "c", "4": "d"}, "it")
    assert tied["Pos."].tolist() == [1, 2, 2, 4] and tied["Area"].tolist() == ["b", "a", "c", "d"]  # ties share a rank
    assert mv.ranking_areas(stats(), None, TWO, "it") == ("zona", {"1": "Municipio 1", "2": "Municipio 2"})
    assert mv.ranking_areas(stats(), {4, 2}, TWO, "it") == ("quartiere", {"2": "2 · Due", "4": "4 · Quattro"})
    # one level: every area of it without a filter, and the caption names them
    assert mv.ranking_areas(stats(), None, ONE, "it") == ("comune", {"1": "1 · Uno", "2": "2 · Due", "3": "3 · Tre",
                                                                     "4": "4 · Quattro"})
    assert mv.ranking_caption("comune", ONE, "it").startswith("Comuni ordinati")
    assert "Provincia di prova" in mv.ranking_caption("comune", ONE, "it")
    assert mv.ranking_caption("zona", TWO, "en").startswith("Municipi ranked")
    assert mv.ranking_indicators("coworking")[0] == "coworking_seats_per_1k"
    assert mv.ranking_indicators(ALL)[0] == "makerspaces_per_100k"


# --- vacant page ---------------------------------------------------------------------------------------


def vacant_frame() -> pd.DataFrame:
    return places([
        place(source_id="v", source_key="1", category="Produttivo", status="degraded", ownership="public", area_m2=1000.0),
        place(source_id="v", source_key="2", category="Produttivo", status="regeneration", ownership="private", area_m2=None),
        place(source_id="v", source_key="3", category="Residenza", status="degraded", ownership="private", area_m2=250.0),
        place(source_id="v", source_key="4", category=None, status=None, ownership=None, area_m2=None),
    ])


def test_vacant_breakdown_by_status_ownership_typology() -> None:
    table = sv.vacant_breakdown(vacant_frame(), "it")
    assert list(table.columns) == ["Dimensione", "Valore", "Numero", "m² (noti)", "Spazi con m²"]
    rows = [tuple(None if isinstance(x, float) and math.isnan(x) else x for x in r) for r in table.values.tolist()]
    assert rows == [
        ("Stato", "dato non disponibile", 1, None, 0),
        ("Stato", "degradato", 2, 1250.0, 2),
        ("Stato", "in rigenerazione", 1, None, 0),
        ("Proprietà", "dato non disponibile", 1, None, 0),
        ("Proprietà", "privata", 2, 250.0, 1),
        ("Proprietà", "pubblica", 1, 1000.0, 1),
        ("Tipologia (uso precedente)", "Produttivo", 2, 1000.0, 1),
        ("Tipologia (uso precedente)", "Residenza", 1, 250.0, 1),
        ("Tipologia (uso precedente)", "dato non disponibile", 1, None, 0),
    ]
    assert sv.status_options(vacant_frame()) == [ALL, "degraded", "regeneration"]
    assert sv.filter_status(vacant_frame(), "degraded")["source_key"].tolist() == ["1", "3"]


def proximity(rows: list[tuple[str, str, float | None, int]]) -> pd.DataFrame:
    """place_proximity rows as the build stores them: (source_key, near_theme, nearest_m, within_m)."""
    return pd.DataFrame({"source_id": ["src"] * len(rows), "source_key": [r[0] for r in rows],
                         "near_theme": [r[1] for r in rows], "nearest_m": [r[2] for r in rows],
                         "within_m": [r[3] for r in rows], "n_within": [None] * len(rows), "nearest_name": [None] * len(rows)})


def test_near_from_proximity_flags_and_distances() -> None:
    vacant = places([
        place(source_key="near-maker", lon=9.0, lat=45.500, district_id=3),
        place(source_key="near-firm", lon=9.0, lat=45.520, district_id=3),
        place(source_key="far", lon=9.0, lat=45.560, district_id=4),
        place(source_key="centre", lon=9.0, lat=45.5001, district_id=1),      # not peripheral: left out
        place(source_key="no-xy", lon=None, lat=None, district_id=3),         # no coordinates: left out
        place(source_key="unmeasured", lon=9.0, lat=45.57, district_id=4),    # the build stored nothing for it
    ])
    stored = proximity([("near-maker", "makerspace", 555.0, 1000), ("near-firm", "makerspace", 1667.0, 1000),
                        ("near-firm", "firm_dm", 778.0, 1000), ("far", "makerspace", 6100.0, 1000),
                        ("far", "firm_dm", 3700.0, 1000), ("centre", "makerspace", 10.0, 1000)])
    near = sv.near_from_proximity(vacant, stored, {3, 4})
    assert near["source_key"].tolist() == ["near-maker", "near-firm", "far", "unmeasured"]
    assert near["near"].tolist() == [True, True, False, False]
    assert near["dist_maker_m"].tolist()[:3] == [555.0, 1667.0, 6100.0]
    assert math.isnan(near["dist_firm_m"].iloc[0]) and near["dist_firm_m"].tolist()[1:3] == [778.0, 3700.0]
    assert near["dist_m"].tolist()[:3] == [555.0, 778.0, 3700.0] and math.isnan(near["dist_m"].iloc[3])
    assert sv.near_radius(near) == 1000.0
    # a smaller stored radius drops the firm-only one; nothing stored: every distance NaN, nothing near
    smaller = sv.near_from_proximity(vacant, stored.assign(within_m=600), {3, 4})
    assert smaller["near"].tolist() == [True, False, False, False]
    none = sv.near_from_proximity(vacant, stored.iloc[0:0], {3, 4})
    assert none["dist_m"].isna().all() and not none["near"].any() and sv.near_radius(none) is None
    assert not sv.near_targets_known(none) and sv.near_targets_known(near)
    assert sv.near_from_proximity(vacant, stored, set()).empty

    table = sv.near_table(near, stats(), vw.periphery_classes(groups()), TWO, "it")
    assert table["Codice"].tolist() == ["src:near-maker", "src:near-firm"]
    assert table["Più vicino"].tolist() == ["Makerspace", "Impresa di manifattura digitale"]
    assert table["Municipio"].tolist() == [1, 1]  # the place's own parent area (the fixture's default)
    assert "Municipio" not in sv.near_table(near, stats(), vw.periphery_classes(None), ONE, "it").columns
    full = sv.vacant_table(vacant, stats(), vw.periphery_classes(groups()), near, TWO, "it")
    assert full["Entro 1 km da maker (periferia)"].tolist() == ["sì", "sì", "no", "–", "–", "no"]


# --- opportunity score re-weighting --------------------------------------------------------------------

COMPONENTS = (ScoreComponent("a", "higher", 0.40, "perché A"), ScoreComponent("b", "lower", 0.60, "perché B"))
DIRECTIONS = {"a": "higher", "b": "lower"}


def matrix() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A: 0, 5, 10 (higher is better) -> 0, .5, 1; B: 100, 300, 200 (lower is better) -> 1, 0, .5.
    NIL 4 has no A (with a reason)."""
    values = {
        "a": pd.DataFrame({"area_id": ["1", "2", "3", "4"], "value": [0.0, 5.0, 10.0, np.nan],
                           "reason": [None, None, None, "non periferico"]}),
        "b": pd.DataFrame({"area_id": ["3", "2", "1", "4"], "value": [200.0, 300.0, 100.0, 300.0], "reason": [None] * 4}),
    }
    return sv.component_matrix(values, [1, 2, 3, 4])


def test_component_matrix_aligns_on_nil_ids() -> None:
    values, reasons = matrix()
    assert values.index.tolist() == [1, 2, 3, 4]
    assert values["b"].tolist() == [100.0, 300.0, 200.0, 300.0]
    assert reasons.at[4, "a"] == "non periferico"
    empty, _ = sv.component_matrix({"a": pd.DataFrame({"area_id": [], "value": [], "reason": []})}, [1, 2])
    assert empty["a"].isna().all()


@pytest.mark.parametrize(("weights", "expected"), [
    ({"a": 1, "b": 1}, [50.0, 25.0, 75.0]),          # 100 × (0.5·A + 0.5·B)
    ({"a": 3, "b": 1}, [25.0, 37.5, 87.5]),          # 100 × (0.75·A + 0.25·B)
    ({"a": 30, "b": 10}, [25.0, 37.5, 87.5]),        # weights are relative: same as 3:1
    ({"a": 0, "b": 1}, [100.0, 0.0, 50.0]),          # B alone (inverted)
])
def test_reweighted_scores_by_hand(weights: dict[str, int], expected: list[float]) -> None:
    values, reasons = matrix()
    scores = sv.reweighted_scores(values.iloc[:3], reasons.iloc[:3], weights, DIRECTIONS)
    assert scores["id"].tolist() == [1, 2, 3]
    assert scores["score"].tolist() == pytest.approx(expected)


def test_reweighting_a_nil_missing_a_component() -> None:
    values, reasons = matrix()
    with_a = sv.reweighted_scores(values, reasons, {"a": 1, "b": 1}, DIRECTIONS)
    assert math.isnan(with_a["score"].iloc[3])
    assert "a (non periferico)" in with_a["reason"].iloc[3]
    # B over all four NIL: 100, 300, 200, 300 -> inverted 1, 0, .5, 0; A's weight 0 lets NIL 4 in
    without_a = sv.reweighted_scores(values, reasons, {"a": 0, "b": 5}, DIRECTIONS)
    assert without_a["score"].tolist() == pytest.approx([100.0, 0.0, 50.0, 0.0])
    nothing = sv.reweighted_scores(values, reasons, {"a": 0, "b": 0}, DIRECTIONS)
    assert nothing["score"].isna().all()


def test_weights_url_round_trip_and_normalisation() -> None:
    defaults = sv.default_weights(COMPONENTS)
    assert defaults == {"a": 40, "b": 60}
    assert sv.format_weights(defaults, COMPONENTS) == "40-60"
    assert sv.parse_weights("40-60", COMPONENTS) == {"a": 40, "b": 60}
    assert sv.parse_weights("0-100", COMPONENTS) == {"a": 0, "b": 100}
    for bad in ("", "40", "40-60-10", "40-x", "-40-60", "40-101", "1e2-5", "40- 60", "９-1"):
        assert sv.parse_weights(bad, COMPONENTS) is None, bad
    assert sv.initial_weights(None, COMPONENTS) == ({"a": 40, "b": 60}, False)
    assert sv.initial_weights("10-30", COMPONENTS) == ({"a": 10, "b": 30}, False)
    assert sv.initial_weights("nonsense", COMPONENTS) == ({"a": 40, "b": 60}, True)
    assert sv.normalised_weights({"a": 10, "b": 30}) == {"a": 0.25, "b": 0.75}
    assert sv.normalised_weights({"a": 0, "b": 0}) == {"a": 0.0, "b": 0.0}


def test_weights_table_and_caption() -> None:
    cat = pd.DataFrame({"indicator_id": ["a", "b"], "name_it": ["Alfa", "Beta"], "name_en": ["Alpha", "Beta"],
                        "description_en": ["Alpha desc", "Beta desc"], "unit": ["n", "m"],
                        "direction": ["higher_better", "lower_better"]})
    table = sv.weights_table(COMPONENTS, {"a": 10, "b": 30}, cat, "it")
    assert table.values.tolist() == [
        ["Alfa (numero)", "più alto è meglio", 10, 25.0, 40.0, "perché A"],
        ["Beta (m)", "più basso è meglio", 30, 75.0, 60.0, "perché B"],
    ]
    assert sv.weights_table(COMPONENTS, {"a": 10, "b": 30}, cat, "en")["Why"].tolist() == ["Alpha desc", "Beta desc"]
    assert sv.weights_caption(COMPONENTS, {"a": 10, "b": 30}, cat, "it") == \
        "Punteggio = 25% Alfa + 75% Beta (pesi normalizzati)."
    assert sv.weights_caption(COMPONENTS, {"a": 0, "b": 0}, cat, "en").startswith("All weights are 0")


def test_default_components_come_from_the_stored_weights() -> None:
    stored = pd.DataFrame({"indicator_id": ["vacant_near_makers_periphery", "firms_dm_per_1k", "makerspace_distance_m",
                                            "coworking_seats_per_1k"], "direction": ["higher", "higher", "lower", "higher"],
                           "weight": [0.40, 0.30, 0.15, 0.15], "why": ["a", None, "c", "d"]})
    components = sv.score_components(stored)
    assert components[1].why == "" and components[2].direction == "lower"
    assert sv.score_components(stored.iloc[0:0]) == ()
    assert [c.indicator for c in components] == ["vacant_near_makers_periphery", "firms_dm_per_1k",
                                                 "makerspace_distance_m", "coworking_seats_per_1k"]
    assert sv.default_weights(components) == {"vacant_near_makers_periphery": 40, "firms_dm_per_1k": 30,
                                              "makerspace_distance_m": 15, "coworking_seats_per_1k": 15}


def test_opportunity_map_and_table() -> None:
    values, reasons = matrix()
    scores = sv.reweighted_scores(values, reasons, {"a": 1, "b": 1}, DIRECTIONS)
    geojson = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": i, "properties": {},
         "geometry": {"type": "Polygon", "coordinates": [[[9 + i / 100, 45.4], [9.01 + i / 100, 45.4], [9.01 + i / 100, 45.41],
                                                          [9 + i / 100, 45.4]]]}} for i in range(1, 5)]}
    fig = sv.opportunity_map(geojson, scores, stats(), None, TWO, "it", "white-bg")
    grey, coloured = fig.data
    assert list(grey.locations) == [4]
    assert list(coloured.locations) == [1, 2, 3] and list(coloured.z) == pytest.approx([50.0, 25.0, 75.0])
    table = sv.opportunity_table(scores, values, stats(), vw.periphery_classes(groups()), catalogue(), TWO, "it")
    assert list(table.columns)[:5] == ["Pos.", "Codice NIL", "NIL", "Municipio", "Classe di periferia"]
    assert table["NIL"].tolist() == ["3 · Tre", "1 · Uno", "2 · Due", "4 · Quattro"]
    assert table["Pos."].tolist()[:3] == [1, 2, 3] and pd.isna(table["Pos."].iloc[3])
    assert table["Punteggio (0-100)"].tolist()[:3] == [75.0, 50.0, 25.0]
    assert table["a"].tolist()[:3] == [10.0, 0.0, 5.0]  # raw component values next to the score


# --- firms page ----------------------------------------------------------------------------------------

LABELS = {"digital_manufacturing": "Manifattura digitale", "artisan_manufacturing": "Artigiana", "other": "Altro"}


def test_category_table_shares() -> None:
    units = pd.DataFrame({"year": [2009, 2010, 2010, 2010],
                          "category": ["other", "digital_manufacturing", "other", "artisan_manufacturing"],
                          "units": [99.0, 30.0, 60.0, 10.0], "avg_employees": [1.0, 2.5, 1.5, np.nan]})
    points = pd.DataFrame({"category": ["digital_manufacturing", "digital_manufacturing", "other"],
                           "start_year": [2001, 2002, 2001], "firms": [3, 1, 4], "employees": [10.0, np.nan, 8.0]})
    table = fv.category_table(units, points, LABELS, "it")
    assert table.columns.tolist()[1] == "Unità locali (2010)"  # the latest year only
    assert table.iloc[:, 0].tolist() == ["Manifattura digitale", "Artigiana", "Altro"]  # config order
    assert table.iloc[:, 1].tolist() == [30, 10, 60]
    assert table.iloc[:, 2].tolist() == [30.0, 10.0, 60.0]  # % of 100 units
    assert table.iloc[:, 3].fillna(-1).tolist() == [2.5, -1, 1.5]  # average employees of 2010 (artisan unknown)
    assert table.iloc[:, 4].tolist() == [4, 0, 4]  # a category without point firms has 0 of them
    assert table.iloc[:, 5].tolist() == [50.0, 0.0, 50.0]
    assert table.iloc[:, 6].tolist()[0] == 10.0 and math.isnan(table.iloc[:, 6].tolist()[1])
    only_units = fv.category_table(units, points.iloc[0:0], LABELS, "it")
    assert only_units.iloc[:, 4].isna().all()  # no point-level source at all: unknown, not 0


def test_periods_and_sampling() -> None:
    values = pd.DataFrame({"area_id": ["1", "1", "2"], "period": pd.array([2010, None, 2010], dtype="Int64"),
                           "value": [1.0, 2.0, 3.0]})
    assert fv.period_options(values) == ["corrente", "2010"]
    assert fv.pick_period(values, "corrente")["value"].tolist() == [2.0]
    assert fv.pick_period(values, "2010")["value"].tolist() == [1.0, 3.0]
    assert fv.period_label("corrente", "en") == "current (point-level firms)"
    frame = places([place(source_key=str(i), lon=9.0 + i / 1000) for i in range(10)] + [place(source_key="x", lon=None)])
    drawn, total = fv.sample_points(frame, limit=4)
    assert total == 10 and len(drawn) == 4
    again, _ = fv.sample_points(frame, limit=4)
    assert drawn["source_key"].tolist() == again["source_key"].tolist()  # the same sample on every rerun
    assert len(fv.sample_points(frame, limit=20)[0]) == 10
    assert fv.sampled_caption(10, 10, "it") is None
    assert "1.500 imprese su 12.345" in str(fv.sampled_caption(1500, 12345, "it"))


def test_editions_caption() -> None:
    editions = pd.DataFrame({"kind": ["firm_units", "firm_points"], "source_id": ["ds201", "pts"],
                             "ateco_edition": ["2007", "2025"], "rows": [5, 7], "first_year": [2010, 2001],
                             "last_year": [2010, 2024]})
    assert fv.editions_caption(editions, "it") == ("Unità locali: ATECO 2007 (anni dei dati 2010). "
                                                    "Imprese puntuali: ATECO 2025 (anni di inizio attività 2001–2024).")
    assert fv.editions_caption(editions.iloc[0:0], "en") == "No firm data loaded."


# --- targets page --------------------------------------------------------------------------------------


def targets() -> pd.DataFrame:
    return pd.DataFrame({
        "target_id": ["T1", "T2", "T3", "T4"],
        "objective": ["O1", "O1", "O2", "O2"],
        "indicator_id": ["count_n", "dist_m", "a_per_1k", "count_n"],
        "level": ["territory", "quartiere", "zona", "periphery_class"],
        "area_id": ["citta_prova", "2", "1", "periferia"],
        "baseline": [10.0, 2000.0, 1.0, np.nan],
        "baseline_date": [date(2024, 1, 1), date(2024, 1, 1), date(2024, 1, 1), None],
        "target_value": [30.0, 1000.0, 5.0, 10.0],
        "deadline": [date(2028, 1, 1), date(2028, 1, 1), date(2025, 1, 1), date(2030, 1, 1)],
        "current_value": [22.0, 1900.0, 3.0, np.nan],
        "expected_value": [20.0, 1500.0, 5.0, np.nan],
        "status": ["on_track", "off_track", "off_track", "no_data"],
        "rule": ["r1", "r2", "r3", "r4"],
    })


def test_progress_share() -> None:
    assert tv.progress_share(22.0, 10.0, 30.0) == pytest.approx(60.0)
    assert tv.progress_share(1500.0, 2000.0, 1000.0) == pytest.approx(50.0)  # a decreasing target
    assert tv.progress_share(5.0, 5.0, 5.0) is None
    assert tv.progress_share(np.nan, 1.0, 2.0) is None


def test_target_explanations() -> None:
    rows = targets().to_dict("records")
    as_of = date(2026, 1, 1)
    assert tv.target_explanation(rows[0], as_of, "it") == (
        "Valore attuale 22,00, atteso oggi 20,00 sulla retta da 10,00 (01/01/2024) a 30,00 (01/01/2028) → in linea.")
    # 100 of the 500 expected so far: 20 %
    assert tv.target_explanation(rows[1], as_of, "en") == (
        "Current value 1,900, expected now 1,500 on the line from 2,000 (2024-01-01) to 1,000 (2028-01-01): "
        "20% of the expected progress covered → off track.")
    assert tv.target_explanation(rows[2], as_of, "it") == (
        "Scadenza 01/01/2025 passata: target 5,00, attuale 3,00 → fuori linea.")
    assert tv.target_explanation(rows[3], as_of, "it") == "Valore attuale non disponibile → senza dati."
    no_base = dict(rows[0], baseline=np.nan, baseline_date=None, expected_value=np.nan)
    assert tv.target_explanation(no_base, as_of, "it").startswith("Valore di base non disponibile")


def test_targets_table_filters_and_badges() -> None:
    names = tv.area_names(stats(), groups(), "it", TWO)
    assert names[("territory", "citta_prova")] == "Città di prova"
    assert names[("quartiere", "2")] == "NIL 2 · Due" and names[("zona", "1")] == "Municipio 1"
    one = tv.area_names(stats(), groups(), "it", ONE)
    assert one[("comune", "2")] == "Comune 2 · Due" and not any(k[0] == "zona" for k in one)
    assert names[("periphery_class", "periferia")] == "Periferia"
    frame = targets()
    table = tv.targets_table(frame, catalogue(), names, date(2026, 1, 1), "it")
    assert table["Stato"].tolist() == ["🔵 in linea", "🔴 fuori linea", "🔴 fuori linea", "⚪ senza dati"]
    assert table["Area"].tolist() == ["Città di prova", "NIL 2 · Due", "Municipio 1", "Periferia"]
    assert table["Avanzamento (%)"].tolist()[:3] == [60.0, 10.0, 50.0]
    assert table["Avanzamento atteso (%)"].tolist()[:3] == [50.0, 50.0, 100.0]
    assert table["Regola (testo della build)"].tolist() == ["r1", "r2", "r3", "r4"]
    assert tv.filter_targets(frame, "O1", ALL)["target_id"].tolist() == ["T1", "T2"]
    assert tv.filter_targets(frame, ALL, "off_track")["target_id"].tolist() == ["T2", "T3"]
    assert tv.filter_targets(frame, "O2", "on_track").empty
    assert tv.objective_options(frame) == [ALL, "O1", "O2"]
    assert tv.status_badges(frame, "it") == [("in linea: 1", "blue"), ("a rischio: 0", "orange"),
                                             ("fuori linea: 2", "red"), ("senza dati: 1", "gray")]
    fig = tv.progress_chart(frame, catalogue(), names, "it")
    assert list(fig.data[2].x)[:3] == pytest.approx([60.0, 10.0, 50.0])
    # status colours are the maps' colour-blind-safe ones (blue / orange / dark red), never green against red
    assert list(fig.data[2].marker.color) == [maps.STATUS_COLORS[x] for x in frame["status"]]
    assert "#2ca02c" not in fig.data[2].marker.color


def test_trend_table_and_chart() -> None:
    row = targets().to_dict("records")[0]
    history = pd.DataFrame({"created_at": [datetime(2025, 1, 1, 10), datetime(2026, 1, 1, 9)],
                            "current_value": [15.0, 22.0], "expected_value": [15.0, 20.0], "target_value": [30.0, 30.0],
                            "deadline": [date(2028, 1, 1)] * 2, "status": ["on_track", "on_track"]})
    table = tv.trend_table(history, row, "it")
    assert table["Data"].tolist() == [date(2025, 1, 1), date(2026, 1, 1), date(2024, 1, 1), date(2028, 1, 1)]
    assert table["Atteso oggi"].tolist() == [15.0, 20.0, 10.0, 30.0]
    fig = tv.trend_chart(history, row, "n", "it")
    assert [tr.name for tr in fig.data] == ["Attuale", "Percorso atteso", "Valore target"]
    assert list(fig.data[1].y) == [10.0, 30.0]


# --- vacant places: former use, footprints, record sheets, assumed ownership, secondary sources ------------------


def vacant_real_like() -> pd.DataFrame:
    """Rows shaped like the real loaders: ds503 (official, TIPO_MACRO, record sheet) and places.json (derived)."""
    frame = places([
        place(source_id="ds503", source_key="A120", name="Via \u202eX\u202c 1", category="TERZIARIO", status="degraded",
              ownership="public", area_m2=1234.6, trust="official"),
        place(source_id="molo", source_key="A121", category=None, status="degraded", ownership="public",
              trust="derived"),  # no category: the former use kept in the attributes
        place(source_id="molo", source_key="A122", category=None, status="degraded", ownership=None, trust="derived"),
    ])
    frame["attributes"] = [
        '{"LinkPdfVIG": "https://geoportale.comune.milano.it/schede/A120.pdf", "LinkPdfVAR": "javascript:alert(1)"}',
        '{"typology": "Produttivo", "condition_desc": "Ex officina", "ownership_assumed": true}',
        "not json",
    ]
    return frame


def test_vacant_table_shows_former_use_record_sheet_and_assumptions() -> None:
    table = sv.vacant_table(vacant_real_like(), stats(), vw.periphery_classes(groups()), None, TWO, "it")
    assert table["Tipologia (uso precedente)"].tolist() == ["Terziario", "Produttivo", ""]  # never the condition
    # what decides comes first, in view on a 1280 px screen (issue 15: "Proprietà" was cut on the right)
    assert list(table.columns)[:5] == ["Nome", "Stato", "Proprietà", "Tipologia (uso precedente)", "m²"]
    assert sv.status_name("vacant", "it") == "inutilizzato" and sv.status_name("assigned", "en") == "assigned"
    assert vw.former_use("area_libera", None) == "Area libera" and vw.former_use("PRODUTTIVO", None) == "Produttivo"
    assert table["Scheda ufficiale"].tolist()[0] == "https://geoportale.comune.milano.it/schede/A120.pdf"
    assert table["Scheda ufficiale"].isna().tolist()[1:] == [True, True]  # no javascript: link, nothing invented
    assert table["Proprietà"].tolist() == ["pubblica", "pubblica (assunta)", "dato non disponibile"]
    assert table["Affidabilità"].tolist() == ["ufficiale", "derivato (fonte secondaria)", "derivato (fonte secondaria)"]
    assert table["Nome"][0] == "Via X 1" and table["m²"][0] == 1235.0
    assert sv.public_assumption(vacant_real_like()) == (2, 1, 0)
    assert sv.secondary_count(vacant_real_like()) == (2, ["molo"])
    breakdown = sv.vacant_breakdown(vacant_real_like(), "en")
    owners = breakdown[breakdown["Dimension"] == "Ownership"]
    assert sorted(owners["Value"]) == ["no data", "public", "public (assumed)"]
    hover = vw.place_hover(vacant_real_like(), vw.area_labels(stats()), "senza NIL")
    assert "\u202e" not in hover[0] and hover[0].startswith("Via X 1")


def test_place_hover_escapes_html() -> None:
    frame = places([place(name="<a href='http://x'>clic</a>", address="Via <b>Y</b>")])
    hover = vw.place_hover(frame, vw.area_labels(stats()), "senza NIL")[0]
    assert "<a " not in hover and "&lt;a href=" in hover and "&lt;b&gt;Y" in hover


# --- city-wide firm counts (ds171) ------------------------------------------------------------------------------


def totals() -> pd.DataFrame:
    return pd.DataFrame({"year": [2007, 2007, 2010, 2010], "category": ["other", "digital_manufacturing"] * 2,
                         "firms": [10, 4, 12, 7], "units": [12, 5, 13, 8], "employees_firms": [30.0, 20.0, 31.0, 25.4],
                         "employees_units": [33.0, 21.0, 35.0, 28.0], "codes": [1, 1, 1, 2],
                         "trust": ["official"] * 4, "source_id": ["ds171"] * 4})


def test_firm_totals_table_and_chart() -> None:
    labels = {"digital_manufacturing": "Manifattura digitale", "other": "Altro"}
    table = fv.firm_totals_table(totals(), labels, "it")
    assert list(table.columns) == ["Anno", "Categoria", "Imprese", "Unità locali", "Addetti delle imprese",
                                   "Addetti delle unità locali", "Codici ATECO", "Affidabilità"]
    assert table["Anno"].tolist() == [2007, 2007, 2010, 2010]
    assert table["Categoria"].tolist() == ["Manifattura digitale", "Altro"] * 2  # config order
    assert table["Unità locali"].tolist() == [5, 12, 8, 13] and table["Addetti delle imprese"].tolist()[2] == 25.0
    fig = fv.firm_totals_chart(totals(), labels, "it", "units")
    assert [tr.name for tr in fig.data] == ["Manifattura digitale"]  # 'other' (about 90%) only in the table
    assert fig.layout.yaxis.tickformat == ",d" and fig.layout.separators == ",."  # 150.000, not 150k
    assert list(fig.data[0].x) == [2007, 2010] and list(fig.data[0].y) == [5, 8] and fig.data[0].mode == "lines+markers"
    assert list(fig.layout.xaxis.ticktext) == ["2007", "2010"]  # data years, not 2,007.5
    one = fv.firm_totals_chart(totals()[totals()["year"] == 2010], labels, "en", "firms")
    assert one.data[0].mode == "markers" and one.layout.separators == ".,"


def test_area_counts_table_says_missing_not_zero() -> None:
    counts = pd.DataFrame({"district_id": [1, 3], "year": [2024, 2024], "count": [2, 0], "source_id": ["p", "p"],
                           "trust": ["derived", "derived"]})
    table = mv.area_counts_table(counts, stats(), vw.periphery_classes(groups()), TWO, "it")
    assert table["Numero"].tolist()[0] == 2 and table["Numero"].tolist()[2] == 0
    assert table["Numero"].isna().tolist() == [False, True, False, True]  # NIL 2 and 4 are not in the source
    assert table["Affidabilità"].tolist() == ["derivato", "", "derivato", ""]


def test_target_trend_drops_same_as_and_draws_one_point() -> None:
    row = targets().to_dict("records")[0]
    history = pd.DataFrame({"created_at": [datetime(2026, 1, 1, 9), datetime(2026, 2, 1, 9)],
                            "current_value": [22.0, 22.0], "expected_value": [20.0, 21.0], "target_value": [30.0, 30.0],
                            "deadline": [date(2028, 1, 1)] * 2, "status": ["on_track", "on_track"], "same_as": [None, "S1"]})
    fig = tv.trend_chart(history, row, "n", "it")
    assert len(fig.data[0].x) == 1 and fig.data[0].mode == "markers+text"  # the rebuild adds no point
    assert fig.layout.xaxis.tickformat == "%d/%m/%Y"
    assert tv.trend_chart(history, row, "n", "en").layout.xaxis.tickformat == "%Y-%m-%d"
    assert len(tv.trend_table(history, row, "it")) == 1 + 2  # one snapshot + baseline and deadline


def test_guessed_public_ownership_is_left_out_and_said() -> None:
    frame = places([place(source_key="g1", ownership=None, trust="derived"), place(source_key="g2", ownership="private")])
    frame["attributes"] = ['{"ownership_assumed": true, "ownership_assumed_value": "public"}',
                           '{"ownership_assumed": false}']
    assert sv.public_assumption(frame) == (0, 0, 1)
    table = sv.vacant_table(frame, stats(), vw.periphery_classes(groups()), None, TWO, "it")
    assert table["Proprietà"].tolist() == ["non indicata (ipotesi: pubblica)", "privata"]


def test_editions_caption_names_the_city_totals() -> None:
    editions = pd.DataFrame({"kind": ["firm_totals"], "source_id": ["firms_city"], "ateco_edition": ["2007"], "rows": [3115],
                             "first_year": [2007], "last_year": [2010]})
    assert fv.editions_caption(editions, "it") == "Totali cittadini (ds171): ATECO 2007 (anni dei dati 2007–2010)."


def test_components_without_data_do_not_count_in_the_shares() -> None:
    comps = (ScoreComponent("a", "higher", 0.4, "A"), ScoreComponent("b", "higher", 0.3, "B"),
             ScoreComponent("c", "lower", 0.3, "C"))
    weights = {"a": 40, "b": 30, "c": 30}
    assert sv.effective_weights(weights, {"a", "c"}) == {"a": 40.0, "b": 0.0, "c": 30.0}
    cat = pd.DataFrame({"indicator_id": ["a", "b", "c"], "name_it": ["A", "B", "C"], "unit": ["n", "n", "m"],
                        "direction": ["higher_better", "higher_better", "lower_better"]})
    table = sv.weights_table(comps, weights, cat, "it", valued={"a", "c"})
    assert table["Peso scelto"].tolist() == [40, 30, 30]  # as chosen ...
    assert table["Peso normalizzato (%)"].tolist() == [57.1, 0.0, 42.9]  # ... and as the score applies them
    assert "B" not in sv.weights_caption(comps, sv.effective_weights(weights, {"a", "c"}), cat, "it")


def test_counts_without_points_are_summed_per_parent_area_and_class() -> None:
    classes = vw.periphery_classes(groups(), "en")
    assert classes["class_name"].tolist() == ["Centre", "Semi-centre", "Periphery", "Periphery"]  # page language
    counts = pd.DataFrame({"district_id": [1, 2, 3, 4], "count": [2, 0, 5, 1]})
    rows = mv.area_count_rows(counts, stats(), classes, TWO, "it", "coworking")
    assert rows.values.tolist() == [
        ["Municipio", "Municipio 1", "Coworking", 2], ["Municipio", "Municipio 2", "Coworking", 6],
        ["Classe di periferia", "Centre", "Coworking", 2], ["Classe di periferia", "Semi-centre", "Coworking", 0],
        ["Classe di periferia", "Periphery", "Coworking", 6]]
    assert mv.area_count_rows(counts, stats(), classes, TWO, "it", "coworking", {3})["Numero"].tolist() == [5, 5]
    # one level and no classes: the counts per area, the areas without any left out (no bar of zeros)
    single = mv.area_count_rows(counts, stats(), vw.periphery_classes(None), ONE, "it", "coworking")
    assert single.values.tolist() == [["Comune", "3 · Tre", "Coworking", 5], ["Comune", "1 · Uno", "Coworking", 2],
                                      ["Comune", "4 · Quattro", "Coworking", 1]]
    cat = pd.DataFrame({"indicator_id": ["x"], "name_it": ["X"], "name_en": ["X"], "unit": ["per 100.000 ab."]})
    assert vw.catalogue_name(cat, "x", "en", with_unit=True) == "X (per 100,000 res.)"


def test_map_hovers_show_nil_names_as_text() -> None:
    hostile = pd.DataFrame({"id": [1, 2], "name": ["<a href='http://x'>A</a>", "B\u202e"],
                            "parent_id": pd.array([1, 1], dtype="Int64")})
    geo = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": i, "properties": {},
         "geometry": {"type": "Polygon", "coordinates": [[[9.1 + i / 100, 45.4], [9.11 + i / 100, 45.4],
                                                          [9.11 + i / 100, 45.41], [9.1 + i / 100, 45.4]]]}} for i in (1, 2)]}
    fig = vw.outline_map(geo, hostile, None, "T", "it", "white-bg")
    assert list(fig.data[0].text) == ["1 · &lt;a href=&#x27;http://x&#x27;&gt;A&lt;/a&gt;", "2 · B"]


def test_city_firm_totals_are_not_called_no_source() -> None:
    """With only the ds171 city totals loaded, the firm theme's line says so (never 'no source loaded')."""

    state = views.ThemeState(theme="firm", state="absent", places=0, counts_total=None, counts_districts=0,
                             counts_sources=(), counts_trust=(), candidates=(), failed=(), loaded_themes=("firm_totals",))
    line = views.theme_state_summary(state, "it")
    assert "ds171" in line and "Nessuna fonte" not in line
    assert "ds171" in views.theme_state_summary(state, "en")
    bare = views.ThemeState(theme="firm", state="absent", places=0, counts_total=None, counts_districts=0,
                            counts_sources=(), counts_trust=(), candidates=(), failed=())
    assert "ds171" not in views.theme_state_summary(bare, "it")


def test_district_values_on_one_level_with_reasons_in_the_page_language() -> None:
    values = pd.DataFrame({"area_id": ["1", "2"], "period": [None, None], "value": [2.5, np.nan],
                           "numerator": [5.0, np.nan], "denominator": [2.0, np.nan],
                           "reason": [None, "popolazione non disponibile"], "reason_code": [None, "no_population"],
                           "reason_params": [None, "{}"], "trust": ["official", None]})
    table = fv.district_values(values, stats(), vw.periphery_classes(None), catalogue(), "a_per_1k", ONE, "en")
    assert list(table.columns)[:3] == ["Comune code", "Comune", "A per 1,000 (per 1,000 res.)"]  # no parent, no class
    assert table["Reason"].tolist()[:2] == ["", "population not available"]
    assert table["A per 1,000 (per 1,000 res.)"].tolist()[0] == 2.5 and table["A per 1,000 (per 1,000 res.)"].isna().sum() == 3
    two = fv.district_values(values.drop(columns=["reason_code", "reason_params"]), stats(), vw.periphery_classes(groups()),
                             catalogue(), "a_per_1k", TWO, "it")
    assert list(two.columns)[:5] == ["Codice NIL", "NIL", "Municipio", "Classe di periferia", "A ogni 1.000 (per 1.000 ab.)"]
    assert two["Motivo"].tolist()[1] == "popolazione non disponibile"  # no code stored: the stored text


def test_hub_facts_are_plain_text_in_the_page_language() -> None:
    attributes = json.dumps({"basis_it": "Nel comune *X*", "basis_en": "In the comune *X*", "facts": [
        {"text_it": "Area di circa 12.000 m²", "text_en": "A site of about 12,000 m²", "value": 12000, "unit": "m2",
         "source": "Caso di studio", "url": None, "date": "2017-10-01", "date_precision": "month", "trust": "derived"},
        {"text_it": "Inaugurato", "text_en": "Opened", "value": None, "unit": None, "source": "Stampa",
         "url": "https://example.org/a", "date": "2017-06-10", "date_precision": "day", "trust": "official"}]})
    basis, facts = vw.hub_facts(attributes, "en")
    assert basis == "In the comune *X*"  # plain: the page escapes it, the view keeps the words
    assert facts["Fact"].tolist() == ["A site of about 12,000 m²", "Opened"]
    assert facts["Value"].tolist() == ["12,000 m²", "–"] and facts["Date of the fact"].tolist() == ["10/2017", "2017-06-10"]
    assert facts["Source"].tolist() == ["Caso di studio", "Stampa (https://example.org/a)"]
    it_basis, it_facts = vw.hub_facts(attributes, "it")
    assert it_basis == "Nel comune *X*" and it_facts["Valore"].tolist() == ["12.000 m²", "–"]
    assert it_facts["Data del fatto"].tolist() == ["10/2017", "10/06/2017"]
    assert it_facts["Affidabilità"].tolist()[1] == "ufficiale"
    assert vw.hub_facts(None, "it")[1].empty and vw.hub_facts("not json", "en")[1].empty


def test_category_labels_come_from_the_snapshot() -> None:
    stored = pd.DataFrame({"category": ["digital_manufacturing", "artisan_manufacturing"],
                           "label_it": ["Manifattura digitale", "Manifattura artigiana"],
                           "label_en": ["Digital manufacturing", ""]})
    assert fv.category_labels(stored, "en") == {"digital_manufacturing": "Digital manufacturing",
                                                 "artisan_manufacturing": "Manifattura artigiana"}
    assert list(fv.category_labels(stored, "it").values()) == ["Manifattura digitale", "Manifattura artigiana"]
    assert fv.category_labels(stored.iloc[0:0], "it") == {}


def test_opportunity_table_columns_fit_at_1280_px() -> None:
    values, reasons = matrix()
    values = values.rename(columns={"a": "a_per_1k", "b": "dist_m"})
    reasons = reasons.rename(columns={"a": "a_per_1k", "b": "dist_m"})
    scores = sv.reweighted_scores(values, reasons, {"a_per_1k": 1, "dist_m": 1},
                                  {"a_per_1k": DIRECTIONS["a"], "dist_m": DIRECTIONS["b"]})
    for territory, lang, area in ((TWO, "it", "NIL"), (ONE, "en", "Comune")):
        table = sv.opportunity_table(scores, values, stats(), vw.periphery_classes(groups()), catalogue(), territory, lang)
        columns = sv.opportunity_columns(table, values, catalogue(), territory, lang)
        assert list(columns) == list(table.columns)  # every column has a view, in the table's order
        assert sum(v.width for v in columns.values()) <= 860
        assert [c for c, v in columns.items() if v.pinned] == [area]
        full = "A ogni 1.000 (per 1.000 ab.)" if lang == "it" else "A per 1,000 (per 1,000 res.)"
        assert columns[full].label == "Comp. 1" and columns[full].help == full  # the download keeps the full header
        assert all(len(v.label) <= 12 for v in columns.values() if v.label != area)


def test_reject_reasons_read_in_english() -> None:
    """The ETL stores reject reasons in Italian; the English data page shows their known phrases in English and
    keeps the values from the files (codes, coordinates, names) as stored."""
    cases = {
        "punto fuori dal territorio Comune di Milano: 9.04185, 45.43983 (zona: Provincia ovest; comune: Cusago (MI))":
            "point outside the territory Comune di Milano: 9.04185, 45.43983 (zone: Provincia ovest; comune: Cusago (MI))",
        "stesso edificio già caricato da ds503 (codice A653, stesso indirizzo a 6 m; codice 2016 A137): non contato due volte":
            "same building already loaded from ds503 (code A653, same address 6 m away; 2016 code A137): not counted twice",
        "NIL 8 (PARCO SEMPIONE) assente nel file: nessun dato di residenti al 31/12/2022 (non è uno zero)":
            "NIL 8 (PARCO SEMPIONE) absent from the file: no residents figure at 31/12/2022 (not a zero)",
    }
    for italian, english in cases.items():
        assert vw.reject_reason(italian, "en") == english
        assert vw.reject_reason(italian, "it") == italian
    assert vw.reject_reason("una frase nuova", "en") == "una frase nuova"  # unknown: as stored, never lost
    assert vw.reject_reason(None, "en") == ""
    frame = pd.DataFrame({"source_id": ["s"], "path": ["p"], "row_number": [3], "action": ["rejected"],
                          "reason": ["duplicato"], "raw": ["{}"]})
    assert vw.rejects_table(frame, "en")["Reason"].tolist() == ["duplicate"]
