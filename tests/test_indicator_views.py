"""The indicator pages' view code (osservatorio.indicator_views, osservatorio.page_views.{mappa,quartiere,periferie,
panoramica}, the shared helpers of osservatorio.views) and osservatorio.url_state.parse_multi, on tiny hand-made
frames (values computed by hand), for a two-level territory (NIL in Municipi) and a one-level fixture territory
that no code names (comuni of an imaginary valley)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
import pytest

from osservatorio import data, views
from osservatorio import indicator_views as iv
from osservatorio.i18n import LANGS, TEXTS
from osservatorio.page_views import mappa as mv
from osservatorio.page_views import panoramica as pv
from osservatorio.page_views import periferie as fv
from osservatorio.page_views import quartiere as qv
from osservatorio.territory import Level, Territory
from osservatorio.url_state import format_multi, parse_multi

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("panoramica", "mappa", "quartiere", "periferie")
ALL = json.dumps(["nil", "municipio", "periphery_class", "priority_area", "territory"])

MILAN = Territory(
    id="milano", name_it="Comune di Milano", name_en="Municipality of Milan", centre_lon=9.19, centre_lat=45.46,
    centre_name_it="Duomo", centre_name_en="Duomo", area_crs="EPSG:7791",
    levels=(Level("nil", 0, "municipio", "NIL", "NIL", "NIL", "NILs"),
            Level("municipio", 1, None, "Municipio", "Municipio", "Municipi", "Municipi")))
#: A one-level territory named by no code: its areas are comuni with 5-digit ISTAT-like ids.
VALLEY = Territory(
    id="valle_di_prova", name_it="Valle di Prova", name_en="Test Valley", centre_lon=10.0, centre_lat=45.1,
    centre_name_it="Piazza Grande", centre_name_en="Main Square", area_crs="EPSG:7791",
    levels=(Level("comune", 0, None, "Comune", "Municipality", "Comuni", "Municipalities"),))


def catalogue() -> pd.DataFrame:
    rows = [
        ("count_x", "makerspace", "Conteggio", "Count", "Numero di x.", "Number of x.", "count(x)", "n", "higher_better", ALL),
        ("dist_m", "access", "Distanza", "Distance", "Distanza dal più vicino.", "Distance to the nearest.", "min(d)", "m",
         "lower_better", ALL),
        ("rate", "makerspace", "Tasso", "Rate", "x ogni 100.000.", "x per 100,000.", "1e5 x / p", "per 100.000 ab.",
         "weird", ALL),
        ("score", "opportunity", "Punteggio", "Score", "Composito.", "Composite.", "Σ w n", "punti (0-100)", "higher_better",
         json.dumps(["nil"])),
        ("share", "vacant", "Quota", "Share", "Percentuale.", "Percentage.", "100 a / b", "%", "neutral", "not json"),
    ]
    cols = ["indicator_id", "theme", "name_it", "name_en", "description_it", "description_en", "formula", "unit",
            "direction", "levels"]
    return pd.DataFrame(rows, columns=cols)


@pytest.fixture
def metas() -> dict[str, views.IndicatorMeta]:
    return views.indicator_metas(catalogue(), "it", MILAN)


def square(x: float, y: float) -> list[list[list[float]]]:
    return [[[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]]


def geojson(ids: list[int]) -> dict:
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "id": i, "properties": {},
                          "geometry": {"type": "Polygon", "coordinates": square(9.1 + 0.01 * i, 45.45)}} for i in ids]}


def districts(ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"id": ids, "name": [f"N{i}" for i in ids], "parent_id": [1 + i % 2 for i in ids]})


def values(rows: list[tuple[str, float | None, str | None]], period: int | None = None) -> pd.DataFrame:
    return pd.DataFrame({"area_id": [r[0] for r in rows], "period": pd.array([period] * len(rows), dtype="Int64"),
                         "value": [r[1] for r in rows], "numerator": None, "denominator": None,
                         "reason": [r[2] for r in rows], "trust": "demo"})


# --- catalogue ---------------------------------------------------------------------------------------------

def test_parse_levels() -> None:
    assert views.parse_levels('["nil", "territory"]') == ("nil", "territory")
    assert views.parse_levels("not json") == ()
    assert views.parse_levels('{"nil": 1}') == ()
    assert views.parse_levels(None) == ()


def test_indicator_metas(metas: dict[str, views.IndicatorMeta]) -> None:
    assert list(metas) == ["count_x", "dist_m", "rate", "score", "share"]  # catalogue order
    assert [m.is_count for m in metas.values()] == [True, False, False, False, False]
    assert metas["count_x"].name == "Conteggio" and metas["count_x"].unit == "numero"
    assert metas["dist_m"].reverse_scale and not metas["count_x"].reverse_scale
    assert metas["rate"].direction == "neutral"  # unknown direction: no judgement
    assert metas["rate"].decimals == 2 and metas["share"].decimals == 1 and metas["count_x"].decimals == 0
    en = views.indicator_metas(catalogue(), "en")
    assert en["rate"].name == "Rate" and en["rate"].unit == "per 100,000 res." and en["rate"].description == "x per 100,000."
    assert views.unit_label("furlongs", "en") == "furlongs"  # unknown units as written


def test_catalogue_levels_resolved_against_the_territory() -> None:
    """A catalogue may name level roles: they become the territory's level ids; a parent role is dropped in a
    territory with one level; the whole-city level written before territories is 'territory'."""
    assert views.resolve_levels(("fine", "parent", "periphery_class", "territory"), MILAN) == (
        "nil", "municipio", "periphery_class", "territory")
    assert views.resolve_levels(("fine", "parent", "territory"), VALLEY) == ("comune", "territory")
    assert views.resolve_levels(("nil", "city"), None) == ("nil", "territory")
    roles = catalogue().assign(levels=json.dumps(["fine", "parent", "territory"]))
    assert views.indicator_metas(roles, "en", VALLEY)["rate"].levels == ("comune", "territory")


def test_levels_and_map_choices(metas: dict[str, views.IndicatorMeta]) -> None:
    assert mv.map_levels(metas["count_x"], MILAN) == ["nil", "municipio"]
    assert mv.map_levels(metas["score"], MILAN) == ["nil"]
    assert mv.map_levels(metas["share"], MILAN) == []  # malformed levels: not on the map
    assert mv.map_indicators(metas, MILAN) == ["count_x", "dist_m", "rate", "score"]
    assert iv.fine_indicators(metas, MILAN) == ["count_x", "dist_m", "rate", "score"]
    assert pv.overview_map_options(metas, MILAN) == ["density", "count_x", "dist_m", "rate", "score"]
    # the same catalogue in a territory of comuni: no NIL level to draw
    assert mv.map_indicators(metas, VALLEY) == [] and iv.fine_indicators(metas, VALLEY) == []
    valley = views.indicator_metas(catalogue().assign(levels=json.dumps(["comune", "territory"])), "it", VALLEY)
    assert mv.map_levels(valley["rate"], VALLEY) == ["comune"]


def test_format_value(metas: dict[str, views.IndicatorMeta]) -> None:
    assert views.format_value(1234.6, metas["dist_m"], "it") == "1.235 m"
    assert views.format_value(1234.6, metas["dist_m"], "en") == "1,235 m"
    assert views.format_value(12.345, metas["share"], "it") == "12,3 %"
    assert views.format_value(1.9413, metas["rate"], "it", with_unit=False) == "1,94"
    assert views.format_value(float("nan"), metas["rate"], "it") == "dato non disponibile"
    assert views.format_value(None, metas["rate"], "en") == "no data"


# --- map -------------------------------------------------------------------------------------------------

def test_map_frame(metas: dict[str, views.IndicatorMeta]) -> None:
    vals = values([("1", 5.0, None), ("2", None, "popolazione non disponibile"), ("x", 9.0, None)], period=2021)
    frame = iv.map_frame(vals, districts([1, 2, 3]), metas["count_x"], "it")
    assert frame["id"].tolist() == [1, 2, 3]  # every district, in order; the non-numeric area id is ignored
    assert frame["value"].tolist()[0] == 5.0 and frame["value"].isna().tolist() == [False, True, True]
    assert frame["reason"].tolist()[1:] == ["popolazione non disponibile", "nessun valore calcolato per quest'area"]
    assert frame["hover"][0] == "5 numero<br>dati 2021<br>Affidabilità: dimostrativo"
    assert frame["hover"][1] == "2 · N2<br>dato non disponibile: popolazione non disponibile"


def test_map_frame_escapes_names(metas: dict[str, views.IndicatorMeta]) -> None:
    frame = iv.map_frame(values([("1", None, "<b>x</b>")]), pd.DataFrame({"id": [1], "name": ["<script>"]}),
                         metas["count_x"], "it")
    assert "<script>" not in frame["hover"][0] and "&lt;script&gt;" in frame["hover"][0]
    assert "&lt;b&gt;x&lt;/b&gt;" in frame["hover"][0]


def test_indicator_map(metas: dict[str, views.IndicatorMeta]) -> None:
    vals = values([("1", 5.0, None), ("2", None, "popolazione non disponibile"), ("3", 7.0, "1 senza superficie")])
    frame = iv.map_frame(vals, districts([1, 2, 3]), metas["dist_m"], "it")
    fig = iv.indicator_map(geojson([1, 2, 3]), frame, metas["dist_m"], "it", "white-bg")
    missing, present = fig.data
    assert isinstance(missing, go.Choroplethmap) and isinstance(present, go.Choroplethmap)
    assert list(missing.locations) == [2] and list(present.locations) == [1, 3]
    assert "popolazione non disponibile" in missing.text[0] and missing.hovertemplate == "%{text}<extra></extra>"
    assert present.reversescale is True  # lower is better: darker = better
    assert present.colorbar.title.text == "m"  # legend title = unit
    assert "1 senza superficie" in present.customdata[1]
    # each trace carries only the features it draws: the payload is not duplicated
    assert [f["id"] for f in missing.geojson["features"]] == [2]
    assert [f["id"] for f in present.geojson["features"]] == [1, 3]
    assert fig.layout.map.style == "white-bg" and fig.layout.separators == ",."


def test_indicator_map_all_missing(metas: dict[str, views.IndicatorMeta]) -> None:
    frame = iv.map_frame(values([]), districts([1, 2]), metas["count_x"], "en")
    fig = iv.indicator_map(geojson([1, 2]), frame, metas["count_x"], "en", "white-bg")
    assert list(fig.data[0].locations) == [1, 2] and fig.data[0].name == "no data"


def test_selected_area() -> None:
    valid = pd.Series([1, 2, 12])
    assert mv.selected_area([{"curve_number": 1, "location": 12}], valid) == "12"
    assert mv.selected_area([{"location": 12.0}], valid) == "12"
    assert mv.selected_area([{"lat": 45.4, "lon": 9.1}, {"location": 2}], valid) == "2"  # a marker, then a NIL
    assert mv.selected_area([{"location": 99}], valid) is None
    assert mv.selected_area([{"location": "__import__('os')"}], valid) is None
    assert mv.selected_area([], valid) is None


def test_values_table(metas: dict[str, views.IndicatorMeta]) -> None:
    frame = iv.map_frame(values([("1", 1.23456, "nota"), ("2", None, "motivo")], period=2020), districts([1, 2]),
                         metas["rate"], "it")
    table = iv.values_table(frame, metas["rate"], "NIL", "it")
    assert list(table.columns) == ["ID area", "Nome", "Livello", "Valore", "Unità", "Anno dei dati", "Nota / motivo",
                                   "Affidabilità"]
    assert table["Valore"].tolist()[0] == 1.23 and pd.isna(table["Valore"][1])
    assert table["Nota / motivo"].tolist() == ["nota", "motivo"]
    assert table["Anno dei dati"].tolist() == [2020, 2020] and table["Livello"].tolist() == ["NIL", "NIL"]
    undated = iv.map_frame(values([("1", 1.0, None)]), districts([1]), metas["rate"], "it")
    assert "Anno dei dati" not in iv.values_table(undated, metas["rate"], "NIL", "it").columns


def test_map_caption(metas: dict[str, views.IndicatorMeta]) -> None:
    frame = iv.map_frame(values([("1", 1.0, None)]), districts([1, 2]), metas["dist_m"], "it")
    caption = iv.map_caption(frame, metas["dist_m"], "it")
    assert "1 aree su 2" in caption and "scala invertita" in caption


def test_firm_cells() -> None:
    assert mv.firm_cell_sizes([0, 25, 100]) == [4.0, 11.0, 18.0]  # area ∝ count: sqrt(25/100) = 0.5
    assert mv.firm_cell_sizes([]) == []
    assert mv.firm_cell_sizes([0, 0]) == [4.0, 4.0]
    cells = pd.DataFrame({"lon": [9.1, 9.2], "lat": [45.4, 45.5], "firms": [100, 25], "digital": [10, 5], "artisan": [3, 1],
                          "trust": ["demo", "demo, official"]})
    fig = mv.add_firm_cells(go.Figure(), cells, "it")
    trace = fig.data[0]
    assert isinstance(trace, go.Scattermap) and list(trace.marker.size) == [18.0, 11.0]
    assert trace.customdata.tolist() == [[100, 10, 3], [25, 5, 1]]
    assert "%{customdata[0]:,d} imprese" in trace.hovertemplate
    caption = mv.firm_cells_caption(cells, 500, "it")
    assert "125 imprese georeferenziate raggruppate in 2 celle di circa 500 m" in caption
    table = mv.firm_cells_table(cells, "it")
    assert table["Cella"].tolist() == [1, 2] and table["Affidabilità"].tolist() == ["dimostrativo", "dimostrativo, ufficiale"]


def test_points_geojson() -> None:
    table = pd.DataFrame({"id": ["a:1", "a:2"], "lon": [9.123456789, None], "lat": [45.4, None]})
    fc = views.points_geojson(table, "id")  # shared by every page with a point layer
    assert fc["features"] == [{"type": "Feature", "id": "a:1", "properties": {},
                               "geometry": {"type": "Point", "coordinates": [9.123457, 45.4]}}]


def places() -> pd.DataFrame:
    return pd.DataFrame({
        "source_id": ["s", "s"], "source_key": ["1", "2"], "name": ["Fab <1>", None], "address": ["Via A", None],
        "lon": [9.1, None], "lat": [45.4, None], "district_id": pd.array([19036, None], dtype="Int64"),
        "parent_id": [1, 2], "assignment": ["point_in_polygon", "parent_only"], "category": ["fablab", None],
        "status": [None, None],
        "ownership": ["public", None], "area_m2": [120.0, None], "seats": pd.array([None, None], dtype="Int64"),
        "trust": ["demo", "official"]})


def test_places_table_and_hover() -> None:
    table = iv.places_table(places(), "vacant", MILAN, "it")
    assert table["ID (fonte:chiave)"].tolist() == ["s:1", "s:2"]
    assert table["NIL"].tolist()[0] == "19036" and pd.isna(table["NIL"][1])  # ids as codes: never '19.036'
    assert table["Municipio"].tolist() == [1, 2]
    assert table["Proprietà"].tolist() == ["pubblica", ""]
    assert table["Stato"].tolist() == ["", ""]
    assert iv.status_label("regeneration", "it") == "in rigenerazione" and iv.status_label("boh", "it") == "boh"
    assert table["Collocazione nel NIL"].tolist() == ["dalle coordinate", "solo Municipio"]
    one = iv.places_table(places(), "makerspace", VALLEY, "en")  # one level: no parent column
    assert "Municipio" not in one.columns and one["Municipality"].tolist()[0] == "19036"
    assert one["Assignment (municipality)"].tolist() == ["from the coordinates", "Test Valley only"]
    hover = iv.place_hover(places(), "makerspace", "en")
    assert hover[0].startswith("<b>Fab &lt;1&gt;</b><br>Via A") and "120 m²" in hover[0]
    assert hover[1].startswith("<b>(no name)</b>")


# --- district ---------------------------------------------------------------------------------------------

def test_compare() -> None:
    assert qv.compare(110, 100, "higher_better", "it") == "meglio"
    assert qv.compare(104, 100, "higher_better", "it") == "in linea (±5%)"  # within 5 %
    assert qv.compare(90, 100, "lower_better", "it") == "meglio"
    assert qv.compare(110, 100, "lower_better", "en") == "worse"
    assert qv.compare(90, 100, "neutral", "it") == "più basso"
    assert qv.compare(None, 100, "neutral", "it") == "–"
    assert qv.compare(0, 0, "higher_better", "it") == "in linea (±5%)"
    assert qv.compare(5, 0, "higher_better", "it") == "meglio"


def groups() -> pd.DataFrame:
    return pd.DataFrame({
        "group_level": ["periphery_class"] * 5 + ["priority_area"] * 2,
        "group_id": ["centro", "periferia", "periferia", "periferia", "periferia", "pq", "pq"],
        "group_name": ["Centro", "Periferia", "Periferia", "Periferia", "Periferia", "Piano Quartieri", "Piano Quartieri"],
        "district_id": [5, 1, 2, 3, 4, 1, 2],
        "distance_m": [500.0, 6000.0, 5000.0, 7000.0, 8000.0, 6000.0, 5000.0],
        "basis": ["distanza 0.50 km", "distanza 6.00 km", "d", "d", "eccezione", "area", "area"],
    })


def test_groups_helpers() -> None:
    g = groups()
    assert iv.area_class(g, 1) == "periferia" and iv.area_class(g, 99) is None
    assert iv.area_priority_areas(g, 1) == ["Piano Quartieri"] and iv.area_priority_areas(g, 3) == []
    assert fv.group_areas(g, MILAN) == (("periphery_class", "centro"), ("periphery_class", "periferia"),
                                        ("priority_area", "pq"), ("territory", "milano"))
    assert fv.class_options(g, MILAN) == ["centro", "periferia"]
    assert qv.profile_areas(MILAN, 1, 2.0, "periferia") == (("nil", "1"), ("municipio", "2"), ("periphery_class", "periferia"),
                                                            ("territory", "milano"))
    assert qv.profile_areas(MILAN, 1, None, None) == (("nil", "1"), ("territory", "milano"))
    # one level, no classes: the area and the whole territory
    assert qv.profile_areas(VALLEY, 19036, 7, None) == (("comune", "19036"), ("territory", "valle_di_prova"))
    assert iv.has_periphery(g) and not iv.has_periphery(iv.empty_groups())


def test_district_header() -> None:
    stats = pd.DataFrame({"id": [1], "name": ["Uno"], "parent_id": [2], "residents": [12345], "population_year": [2021],
                          "population_trust": ["official"]})
    header = qv.district_header(MILAN, stats, groups(), 1, "it")
    assert header.label == "1 · Uno" and header.parent_id == 2 and header.periphery_class == "periferia"
    assert header.caption == ("NIL · Municipio 2 · Classe: Periferia · Aree prioritarie: Piano Quartieri · "
                              "Residenti: 12.345 (2021, ufficiale)")
    english = qv.district_header(MILAN, stats, iv.empty_groups(), 1, "en").caption
    assert english == "NIL · Municipio 2 · Residents: 12,345 (2021, official)"  # no classes: no class line
    comune = pd.DataFrame({"id": [19036], "name": ["Borgo"], "parent_id": [None], "residents": [None],
                           "population_year": [None], "population_trust": [None]})
    valley = qv.district_header(VALLEY, comune, iv.empty_groups(), 19036, "it")
    assert valley.caption == "Comune · Residenti: dato non disponibile"  # no population is not a zero; no class line
    assert valley.parent_id is None and valley.label == "19036 · Borgo"


def test_profile_table(metas: dict[str, views.IndicatorMeta]) -> None:
    areas = qv.profile_areas(MILAN, 1, 2, "periferia")
    profile = pd.DataFrame({
        "level": ["nil", "municipio", "periphery_class", "territory", "nil", "territory", "municipio", "nil", "territory"],
        "area_id": ["1", "2", "periferia", "milano", "1", "milano", "2", "1", "milano"],
        "indicator_id": ["count_x", "count_x", "count_x", "count_x", "dist_m", "dist_m", "share", "rate", "rate"],
        "period": pd.array([None, None, None, None, None, None, 2020, None, None], dtype="Int64"),
        "value": [3.0, 10.0, 7.0, 20.0, None, 800.0, 12.34, 1.5, 2.0],
        "reason": [None, None, None, None, "nessun makerspace georeferenziato", None, None, None, None],
        "trust": ["demo"] * 9})
    names = {("nil", "1"): "1 · Uno", ("municipio", "2"): "Municipio 2", ("periphery_class", "periferia"): "Periferia",
             ("territory", "milano"): "Comune di Milano"}
    table = qv.profile_table(profile, metas, areas, names, MILAN, "it").set_index("Indicatore")
    assert list(table.columns) == ["Unità", "1 · Uno", "Municipio 2", "Classe: Periferia", "Comune di Milano",
                                   "Rispetto al territorio", "Anno dei dati", "Nota / motivo", "Affidabilità"]
    assert table.loc["Conteggio", ["1 · Uno", "Municipio 2", "Classe: Periferia", "Comune di Milano"]].tolist() == [3, 10, 7, 20]
    assert table.loc["Conteggio", "Rispetto al territorio"] == "– (conteggio: non confrontabile)"  # 3 of 20: not "worse"
    assert table.loc["Tasso", "Rispetto al territorio"] == "più basso"  # a rate: comparable; neutral direction
    assert pd.isna(table.loc["Distanza", "1 · Uno"]) and table.loc["Distanza", "Rispetto al territorio"] == "–"
    assert table.loc["Distanza", "Nota / motivo"] == "nessun makerspace georeferenziato"
    assert table.loc["Quota", "Municipio 2"] == 12.3
    assert table.loc["Quota", "Nota / motivo"] == "indicatore non definito per i NIL"  # malformed levels in the catalogue
    assert table.loc["Punteggio", "Nota / motivo"] == "nessun valore calcolato per quest'area"
    assert table.loc["Quota", "Affidabilità"] == ""
    caption = qv.profile_caption(MILAN, True, "it")
    assert "questo NIL accanto a: Municipio, classe (centro / semicentro / periferia), Comune di Milano." in caption
    assert "this municipality next to: Test Valley." in qv.profile_caption(VALLEY, False, "en")


def test_profile_table_of_a_one_level_territory() -> None:
    """A comune against the whole territory: no parent column; an indicator without comune values says so."""
    metas = views.indicator_metas(catalogue().assign(levels=json.dumps(["comune", "territory"])), "en", VALLEY)
    areas = qv.profile_areas(VALLEY, 19036, None, None)
    profile = pd.DataFrame({"level": ["comune", "territory"], "area_id": ["19036", "valle_di_prova"],
                            "indicator_id": ["rate", "rate"], "period": pd.array([None, None], dtype="Int64"),
                            "value": [None, 2.0], "reason": ["nessuna popolazione per comune", None], "trust": ["official"] * 2})
    names = iv.area_names(VALLEY, {"comune": pd.DataFrame({"id": [19036], "name": ["Borgo"]})}, iv.empty_groups(), "en")
    table = qv.profile_table(profile, metas, areas, names, VALLEY, "en").set_index("Indicator")
    assert list(table.columns) == ["Unit", "19036 · Borgo", "Test Valley", "Compared with the territory", "Data year",
                                   "Note / reason", "Trust"]
    assert table.loc["Rate", "Test Valley"] == 2.0 and pd.isna(table.loc["Rate", "19036 · Borgo"])
    assert table.loc["Rate", "Note / reason"] == "nessuna popolazione per comune"
    assert table.loc["Count", "Note / reason"] == "no value computed for this area"


def test_nil_geojson_and_district_map() -> None:
    one = qv.area_geojson(geojson([1, 2, 3]), 2)
    assert [f["id"] for f in one["features"]] == [2]
    fig = qv.district_map(one, "2 · <Due>", [("makerspace", places()), ("vacant", places().iloc[0:0])], "it", "white-bg")
    assert [type(tr).__name__ for tr in fig.data] == ["Choroplethmap", "Scattermap"]
    assert fig.data[0].name == "2 · &lt;Due&gt;" and len(fig.data[1].lon) == 1  # the place without coordinates is skipped


def test_firm_mix_table() -> None:
    units = pd.DataFrame({"year": [2009, 2010, 2010, 2010], "category": ["other", "other", "digital_manufacturing", "zeta"],
                          "units": [99.0, 30.0, 10.0, 10.0], "avg_employees": [1.0, 2.0, 3.0, 4.0]})
    points = pd.DataFrame({"category": ["digital_manufacturing", "digital_manufacturing", "artisan_manufacturing"],
                           "start_year": [2001, 2002, 2003], "firms": [2, 1, 1], "employees": [5.0, 1.0, 2.0]})
    table = qv.firm_mix_table(units, points, "it")
    assert list(table.columns) == ["Categoria", "Unità locali (2010)", "Quota unità locali (%)", "Imprese georeferenziate",
                                   "Quota imprese (%)"]
    assert table["Categoria"].tolist() == ["Manifattura digitale e meccatronica", "Manifattura artigiana e leggera",
                                           "Altre attività", "zeta"]
    assert table["Unità locali (2010)"].tolist() == [10.0, 0.0, 30.0, 10.0]  # the 2009 row is not the latest year
    assert table["Quota unità locali (%)"].tolist() == [20.0, 0.0, 60.0, 20.0]
    assert table["Quota imprese (%)"].tolist() == [75.0, 25.0, 0.0, 0.0]
    fig = qv.firm_mix_chart(table, "it")
    assert len(fig.data) == 2
    empty = qv.firm_mix_table(units.iloc[0:0], points.iloc[0:0], "it")
    assert empty.empty


def history() -> pd.DataFrame:
    a, b = datetime(2026, 1, 10), datetime(2026, 6, 1)
    return pd.DataFrame({
        "snapshot_id": ["A", "A", "A", "B", "B"], "created_at": [a, a, a, b, b],
        "period": pd.array([2019, 2020, None, 2020, None], dtype="Int64"),
        "value": [1.0, 2.0, 10.0, 3.0, None], "reason": [None, None, None, None, "dati insufficienti"], "trust": ["demo"] * 5})


def test_trend_frame(metas: dict[str, views.IndicatorMeta]) -> None:
    trend = qv.trend_frame(history(), "it")
    years = trend[trend["series"] == "year"]
    assert years["period"].tolist() == [2019, 2020]
    assert years["value"].tolist() == [1.0, 3.0]  # 2020 as revised by the later snapshot B
    assert years["x"].tolist() == [pd.Timestamp(2019, 7, 1), pd.Timestamp(2020, 7, 1)]
    snaps = trend[trend["series"] == "snapshot"]
    assert snaps["snapshot_id"].tolist() == ["A", "B"] and snaps["value"].tolist()[0] == 10.0 and pd.isna(snaps["value"].iloc[1])
    assert qv.trend_caption(trend, "it").startswith("Snapshot: 2. Anni dei dati: 2019–2020 (2). I valori senza anno")
    one = qv.trend_frame(history().iloc[:3], "en")
    assert "Only one snapshot: the trend across snapshots will appear with the next updates." in qv.trend_caption(one, "en")
    fig = qv.trend_chart(trend, metas["count_x"], "1 · Uno", "it")
    assert [tr.name for tr in fig.data] == ["per anno dei dati", "per snapshot"]
    assert "dati insufficienti" in fig.data[1].hovertext[1]
    table = qv.trend_table(trend, metas["count_x"], "it")
    assert table["Serie"].tolist() == ["per anno dei dati"] * 2 + ["per snapshot"] * 2
    assert qv.trend_frame(history().iloc[0:0], "it").empty


# --- periphery ---------------------------------------------------------------------------------------------

def stats() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2, 3, 4, 5], "name": ["A", "B", "C", "D", "E"], "parent_id": [1, 1, 2, 2, 1]})


def test_ranking(metas: dict[str, views.IndicatorMeta]) -> None:
    vals = values([("1", 5.0, None), ("2", 7.0, None), ("3", None, "popolazione non disponibile"), ("4", 7.0, "nota"),
                   ("5", 100.0, None)])
    up = fv.ranking(vals, stats(), groups(), metas["count_x"], MILAN, "it")
    assert up["ID area"].tolist() == [2, 4, 1, 3]  # NIL 5 is in the centre: not ranked with the periphery
    assert up["Municipio"].tolist() == [1, 2, 1, 2]
    assert up["Posizione"].tolist()[:3] == [1, 1, 3] and pd.isna(up["Posizione"].iloc[3])  # ties share a rank; NULL last
    assert up["Nota / motivo"].tolist()[3] == "popolazione non disponibile"
    down = fv.ranking(vals, stats(), groups(), metas["dist_m"], MILAN, "it")
    assert down["ID area"].tolist() == [1, 2, 4, 3] and down["Posizione"].tolist()[:3] == [1, 2, 2]
    centre = fv.ranking(vals, stats(), groups(), metas["count_x"], MILAN, "it", class_id="centro")
    assert centre["ID area"].tolist() == [5]
    assert "più basso" in fv.ranking_caption(metas["dist_m"], MILAN, "it")
    assert "senza giudizio" in fv.ranking_caption(metas["share"], MILAN, "it")
    assert "i comuni senza valore" in fv.ranking_caption(metas["count_x"], VALLEY, "it")
    one = fv.ranking(vals, stats(), groups(), metas["count_x"], VALLEY, "en")  # one level: no parent column
    assert list(one.columns) == ["Rank", "Area id", "Name", "Value", "Unit", "Note / reason", "Trust"]


def test_group_tables(metas: dict[str, views.IndicatorMeta]) -> None:
    g = groups()
    areas = fv.group_areas(g, MILAN)
    names = iv.area_names(MILAN, {"nil": stats(), "municipio": pd.DataFrame({"id": [1, 2], "name": ["Municipio 1", None]})},
                          g, "it")
    assert names[("periphery_class", "periferia")] == "Periferia" and names[("priority_area", "pq")] == "Piano Quartieri"
    assert names[("nil", "3")] == "3 · C" and names[("territory", "milano")] == "Comune di Milano"
    assert names[("municipio", "2")] == "Municipio 2"  # a parent area without a name: its label and id
    english = iv.area_names(MILAN, {}, g.assign(group_name_en=["Centre"] * 5 + ["Neighbourhood Plan"] * 2), "en")
    assert english[("priority_area", "pq")] == "Neighbourhood Plan"
    assert english[("territory", "milano")] == "Municipality of Milan"
    profile = pd.DataFrame({"level": ["periphery_class", "periphery_class", "priority_area", "territory"],
                            "area_id": ["centro", "periferia", "pq", "milano"], "indicator_id": ["rate"] * 4,
                            "period": pd.array([None] * 4, dtype="Int64"), "value": [1.234, 2.345, None, 2.0],
                            "reason": [None, None, "nessun NIL in quest'area", None], "trust": ["demo"] * 4})
    table = fv.group_comparison_table(profile, metas, areas, names, "it").set_index("Indicatore")
    assert list(table.columns) == ["Unità", "Verso", "Centro", "Periferia", "Area: Piano Quartieri", "Comune di Milano"]
    assert table.loc["Tasso", ["Centro", "Periferia", "Comune di Milano"]].tolist() == [1.23, 2.35, 2.0]
    assert pd.isna(table.loc["Tasso", "Area: Piano Quartieri"]) and pd.isna(table.loc["Conteggio", "Centro"])
    assert fv.group_column_help(areas, names, "it") == {"Area: Piano Quartieri": "Area prioritaria: Piano Quartieri"}
    long_name = {**names, ("priority_area", "pq"): "Piano Quartieri – ambito Corvetto, Chiaravalle e Porto di Mare"}
    header = fv.group_column(("priority_area", "pq"), long_name, "it")
    assert header == "Area: Piano Quartieri –…" and len(header) < 30  # short header (the table stays readable at 1280 px)
    assert fv.group_column_help(areas, long_name, "it")[header].endswith("Chiaravalle e Porto di Mare")
    notes = fv.group_notes_table(profile, metas, names, "it")
    assert notes.to_dict("records") == [{"Indicatore": "Tasso", "Area": "Piano Quartieri", "Valore": None,
                                         "Nota / motivo": "nessun NIL in quest'area"}]


def test_class_table_and_map() -> None:
    table = fv.class_table(groups(), stats().assign(parent_id=[1, 1, 2, None, 1]), MILAN, "en")
    assert table["Class"].tolist() == ["Periphery", "Periphery", "Periphery", "Periphery", "Centre"]
    assert table["Distance from the centre (km)"].tolist() == [6.0, 5.0, 7.0, 8.0, 0.5]
    assert table["Priority areas"].tolist() == ["Piano Quartieri", "Piano Quartieri", "", "", ""]
    assert pd.isna(table["Municipio"][3]) and table["Area id"].tolist() == [1, 2, 3, 4, 5]
    assert "Municipio" not in fv.class_table(groups(), stats(), VALLEY, "en").columns
    english = groups().assign(basis_en=["distance 0.50 km", "distance 6.00 km", None, None, "exception", None, None])
    assert fv.class_table(english, stats(), MILAN, "en")["Rule applied"].tolist()[::4] == ["distance 6.00 km", "distance 0.50 km"]
    detail = groups()[groups()["district_id"] != 3]  # NIL 3 unclassified
    fig = fv.class_map(geojson([1, 2, 3, 4, 5]), detail, stats(), "it", "white-bg")
    assert [(tr.name, list(tr.locations)) for tr in fig.data] == [("Centro", [5]), ("Periferia", [1, 2, 4]),
                                                                   ("non classificato", [3])]
    assert fig.data[0].colorscale[0][1] == iv.CLASS_COLORS["centro"]
    assert "eccezione" in fig.data[1].text[2]


def _stored_rule() -> tuple[pd.DataFrame, pd.DataFrame]:
    """periphery_groups and district_group_detail rows as a build stores them: three rings, two priority areas,
    area 49 an exception (its distance is in the semicentro ring, its class periferia)."""
    groups = pd.DataFrame({
        "group_level": ["periphery_class"] * 3 + ["priority_area"] * 2,
        "group_id": ["centro", "semicentro", "periferia", "a", "b"], "sort_order": [0, 1, 2, 0, 1],
        "name_it": ["Centro", "Semicentro", "Periferia", "A", "B"], "name_en": ["Centre", "Inner", "Periphery", "A", "B"],
        "description_it": ["Bastioni", None, "Oltre", None, None], "description_en": ["Ramparts", None, "Beyond", None, None],
        "min_m": [0.0, 2000.0, 4500.0, None, None], "max_m": [2000.0, 4500.0, None, None, None]})
    detail = pd.DataFrame({"group_level": ["periphery_class"] * 3, "group_id": ["centro", "periferia", "periferia"],
                           "district_id": [1, 49, 60], "distance_m": [500.0, 4440.0, 7000.0],
                           "basis": ["distanza 0,5 km", "eccezione in configurazione: Giambellino", "distanza 7 km"],
                           "basis_en": ["distance 0.5 km", "exception in the configuration: Giambellino", "distance 7 km"]})
    return groups, detail


def test_periphery_rule() -> None:
    groups, detail = _stored_rule()
    lines = fv.periphery_rule(groups, detail, "v1", MILAN, "it")
    assert lines[0] == "Versione della classificazione: **v1**."
    assert "- **Centro**: da 0,0 a 2,0 km — Bastioni" in lines
    assert "- **Semicentro**: da 2,0 a 4,5 km" in lines and "- **Periferia**: oltre 4,5 km — Oltre" in lines
    assert "- NIL 49 → Periferia: eccezione in configurazione: Giambellino" in lines  # found by its distance
    assert not any("NIL 60" in x or "NIL 1 " in x for x in lines)  # areas inside their ring are no exception
    assert lines[-1].startswith("Aree prioritarie del programma: 2 gruppi") and lines[-2] == ""  # its own paragraph
    assert lines[lines.index("Eccezioni motivate (1):") - 1] == ""
    assert "punto rappresentativo di ogni NIL (interno al poligono) da Duomo." in "\n".join(lines)
    assert "stored no classification rule" in fv.periphery_rule(groups.iloc[0:0], detail, None, MILAN, "en")[1]
    valley = "\n".join(fv.periphery_rule(groups, detail, "v1", VALLEY, "it"))  # centre named by the territory
    assert "ogni comune (interno al poligono) da Piazza Grande" in valley and "- Comune 49 → Periferia" in valley


# --- overview ------------------------------------------------------------------------------------------------

def profile_frame(value_count: float | None, value_dist: float, level: str = "territory", area: str = "milano") -> pd.DataFrame:
    return pd.DataFrame({"level": [level, level], "area_id": [area, area], "indicator_id": ["count_x", "dist_m"],
                         "period": pd.array([None, 2021], dtype="Int64"), "value": [value_count, value_dist],
                         "reason": [None, "nota"], "trust": ["demo", "demo"]})


def test_headlines(metas: dict[str, views.IndicatorMeta]) -> None:
    inds = ("count_x", "dist_m", "score", "unknown")
    cur, prev = profile_frame(12.0, 800.0), profile_frame(10.0, 800.0)
    items = pv.headlines(cur, prev, metas, "territory", "milano", "it", indicators=inds)
    assert [h.label for h in items] == ["Conteggio", "Distanza"]  # score is NIL-only; unknown ids are skipped
    count, dist = items
    assert (count.value, count.delta, count.delta_color, count.arrow) == ("12", "+2", "normal", "auto")
    assert (dist.value, dist.delta, dist.delta_color, dist.arrow) == ("800 m", "0", "off", "off")  # no change: grey
    assert "dati 2021" in dist.help and "nota" in dist.help and "snapshot precedente: 800 m" in dist.help
    first = pv.headlines(cur, None, metas, "territory", "milano", "it", indicators=inds)
    assert [h.delta for h in first] == [None, None] and "nessuno snapshot precedente" in first[0].help
    broken = pv.headlines(cur, prev, metas, "territory", "milano", "it", affected={"count_x"}, indicators=inds)
    assert [h.delta for h in broken] == [None, "0"] and "non mostrata" in broken[0].help
    level_break = pv.headlines(cur, prev, metas, "territory", "milano", "it", affected={"level:territory"}, indicators=inds)
    assert [h.delta for h in level_break] == [None, None]
    gone = pv.headlines(cur, profile_frame(None, 900.0), metas, "territory", "milano", "en", indicators=inds)
    assert gone[0].delta is None and "missing value" in gone[0].help
    assert (gone[1].delta, gone[1].delta_color, gone[1].arrow) == ("-100", "inverse", "auto")  # lower is better: green


def test_headline_table(metas: dict[str, views.IndicatorMeta]) -> None:
    cur = pd.concat([profile_frame(12.0, 800.0), profile_frame(5.0, 900.0, "periphery_class", "periferia")])
    areas = pv.headline_areas(MILAN, periphery=True)
    assert areas == (("territory", "milano"), ("periphery_class", "periferia"))
    assert pv.headline_areas(VALLEY, periphery=False) == (("territory", "valle_di_prova"),)
    table = pv.headline_table(cur, profile_frame(10.0, 700.0), metas, MILAN, "it", areas, indicators=("count_x", "dist_m"))
    assert table["Area"].tolist() == ["Comune di Milano"] * 2 + ["Periferia"] * 2
    assert pv.headline_area_title("territory", "milano", MILAN, "en") == "Municipality of Milan"
    assert table["Variazione"].tolist()[:2] == [2.0, 100.0] and table["Variazione"].isna().tolist()[2:] == [True, True]
    assert table["Anno dei dati"].tolist()[1] == 2021


def test_affected_indicators() -> None:
    changes = pd.DataFrame({"snapshot_id": ["B", "B", "A"],
                            "affects": ['["firms_dm_units", "level:priority_area"]', None, '["*"]']})
    assert pv.affected_indicators(changes, "B") == {"firms_dm_units", "level:priority_area"}
    assert pv.affected_indicators(changes, "A") == {"*"}
    assert pv.affected_indicators(changes.iloc[0:0], "A") == set()


def test_latest_snapshot_and_captions() -> None:
    snaps = pd.DataFrame({"snapshot_id": ["new", "old"], "created_at": [datetime(2026, 5, 2), datetime(2026, 1, 1)],
                          "periphery_version": ["v2", "v1"]})
    ref = iv.latest_snapshot(snaps)
    assert (ref.snapshot_id, ref.previous_id, ref.periphery_version) == ("new", "old", "v2")
    assert pv.headlines_caption(ref, "it") == "Snapshot del 02/05/2026; la variazione è rispetto allo snapshot precedente (old)."
    alone = iv.latest_snapshot(snaps.iloc[:1])
    assert alone.previous_id is None and "nessuno snapshot precedente" in pv.headlines_caption(alone, "it")
    meta = views.indicator_metas(catalogue(), "en")["dist_m"]
    assert iv.export_metadata(meta, ref, "en") == {"Indicator": "Distance (dist_m)", "Unit": "m", "Formula": "min(d)",
                                                   "Direction": "lower is better", "Snapshot": "new (2026-05-02)"}


def test_place_counts_and_sources() -> None:
    counts = pd.DataFrame({"theme": ["vacant"], "places": [3], "with_nil": [2], "with_coords": [1], "trust": ["demo, official"]})
    table = pv.place_counts_table(counts, MILAN, "it")
    assert "con NIL" in table.columns and "with a Municipality" in pv.place_counts_table(counts, VALLEY, "en").columns
    assert table["Tema"].tolist() == ["Makerspace e fablab", "Coworking", "Spazi vuoti e dismessi", "Botteghe storiche",
                                      "Imprese"]
    # a theme with no rows is not a zero: '–' (NA) and the state of its source
    assert table["Luoghi"].isna().tolist() == [True, True, False, True, True] and table["Luoghi"][2] == 3
    assert table["Affidabilità"][2] == "dimostrativo, ufficiale"
    assert table["Stato della fonte"].tolist() == ["nessuna fonte caricata"] * 2 + ["caricato"] + ["nessuna fonte caricata"] * 2
    sources = pd.DataFrame({"source_id": ["a", "b", "c"], "dataset": ["ds1", None, None], "title": ["A", "B", "C"],
                            "status": ["loaded", "skipped", "loaded"],
                            "loaded_at": [datetime(2026, 1, 1), datetime(2026, 3, 1), datetime(2026, 2, 1)],
                            "rows_loaded": [1, 0, 2], "trust": ["official", "demo", "derived"]})
    recent = pv.recent_sources(sources, "it")
    assert recent["Titolo"].tolist() == ["C", "A"]  # newest first, skipped files out
    assert recent["Dataset"].tolist() == ["–", "ds1"]  # the publisher's code, never the internal id


# --- URL state -----------------------------------------------------------------------------------------------

def test_parse_multi() -> None:
    allowed = ["makerspace", "coworking", "vacant", "firm"]
    assert parse_multi(None, allowed, ["makerspace"]) == (["makerspace"], [])
    assert parse_multi(None, allowed, ["bogus"]) == ([], [])
    assert parse_multi("", allowed, ["makerspace"]) == ([], [])
    assert parse_multi("firm,bogus,makerspace,firm", allowed, []) == (["makerspace", "firm"], ["bogus"])
    assert parse_multi(" vacant , ", allowed, []) == (["vacant"], [])
    assert format_multi(["makerspace", "firm"]) == "makerspace,firm" and format_multi([]) == ""


# --- translations --------------------------------------------------------------------------------------------

DYNAMIC = {
    "level": ("periphery_class", "priority_area"),
    "class": iv.PERIPHERY_CLASSES, "theme": iv.POINT_THEMES, "cat": iv.CATEGORIES, "direction": views.DIRECTIONS,
    "scale": views.DIRECTIONS, "ranking": views.DIRECTIONS, "ownership": ("public", "private"),
    "assign": ("point_in_polygon", "centroid"), "trust": ("official", "derived", "demo"),
    "place_status": iv.PLACE_STATUSES,
}


def test_every_key_is_translated() -> None:
    """Every text key used by the indicator pages exists in Italian and English."""
    files = ["osservatorio/indicator_views.py", "osservatorio/url_state.py", "pages/mappa.py", "pages/quartiere.py",
             "pages/periferie.py", "pages/panoramica.py", *(f"osservatorio/page_views/{p}.py" for p in PAGES)]
    keys: set[str] = {"page_map", "page_district", "page_periphery", "cmp_lower", "cmp_worse"}
    for name in files:
        keys |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']""", (ROOT / name).read_text(encoding="utf-8")))
    keys |= {f"{prefix}_{v}" for prefix, vs in DYNAMIC.items() for v in vs}
    keys |= {key for key, _ in views.UNITS.values()}
    keys |= {f"{k}_of" for k in ("ranking_higher_better", "ranking_lower_better", "ranking_neutral")}
    missing = sorted(k for k in keys if k not in TEXTS or any(not TEXTS[k].get(lang) for lang in LANGS))
    assert missing == []


def test_pages_name_no_level_and_no_place() -> None:
    """The indicator pages and their view code take levels, labels and the territory's name from the warehouse:
    no level id ('nil', 'municipio', 'city'), no Milan word and no NIL/Municipio text key is written in them."""
    files = ["osservatorio/indicator_views.py", *(f"pages/{p}.py" for p in PAGES),
             *(f"osservatorio/page_views/{p}.py" for p in PAGES)]
    literal = re.compile(r"""["'](nil|municipio|city|milano)["']|\bMilan|"""
                         r"""\bt\(\s*["'](level_nil|level_municipio|col_nil|col_municipio|"""
                         r"""city_name|col_id|kpi_nil|choose_nil)["']""")
    found = []
    for name in files:
        code = "\n".join(line for line in (ROOT / name).read_text(encoding="utf-8").splitlines()
                         if not line.lstrip().startswith(("#", "(r\"")))  # the Italian-reason patterns quote the ETL's words
        found += [f"{name}: {m.group(0)}" for m in literal.finditer(code)]
    assert found == []


# --- untrusted text ------------------------------------------------------------------------------------------


# What Markdown (st.markdown / st.info / st.header / st.caption) would turn into a link, an image, a Streamlit
# directive, LaTeX or HTML when the text is NOT escaped: an unescaped bracket or '!', an unescaped scheme or
# 'www.', a ':name[' directive, '$' or '<'.
ACTIVE_MARKDOWN = re.compile(r"(?<!\\)[\[\]!<$]|(?<!\\)https?(?<!\\):|www(?<!\\)\.|(?<!\\):[a-z/]+(?<!\\)\[")


@pytest.mark.parametrize("hostile", ["![x](http://host/x.png)", "[Accedi](http://x)", "<img src=x onerror=alert(1)>",
                                     ":red[ALLARME] :material/warning:", "$x^2$", "www.example.com", "**grassetto**"])
def test_md_text_leaves_nothing_active(hostile: str) -> None:
    assert ACTIVE_MARKDOWN.search(hostile) or "*" in hostile  # the raw value would render (the check can fail)
    escaped = views.md_text(hostile)
    assert not ACTIVE_MARKDOWN.search(escaped)
    assert "**" not in escaped.replace("\\*", "")
    assert re.sub(r"\\(.)", r"\1", escaped) == hostile  # shown literally: the same characters once unescaped


def test_plain_removes_bidi_controls_and_newlines() -> None:
    name = "Via \u202eanoliM\u202c 1\nriga\u2066x\u2069"
    assert views.plain(name) == "Via anoliM 1 rigax"
    assert not any(c in views.md_text(name) for c in views.BIDI_CONTROLS)
    assert views.plain(None) == "" and views.plain(float("nan")) == ""
    header = qv.district_header(MILAN, pd.DataFrame({"id": [7], "name": ["Q\u202eRE"], "parent_id": [2], "residents": [None],
                                                     "population_year": [None], "population_trust": [None]}),
                                iv.empty_groups(), 7, "it")
    assert header.label == "7 · QRE"


def test_url_value_message_is_escaped() -> None:
    from osservatorio.i18n import t

    value = "![x](http://host/x.png)"
    raw = t("url_value_unknown", "it", param="indicatore", value=value, fallback="A")
    safe = t("url_value_unknown", "it", param="indicatore", value=views.md_text(value), fallback="A")
    assert ACTIVE_MARKDOWN.search(raw) and not ACTIVE_MARKDOWN.search(safe)


# --- source states (schema 2 tables on a fixture warehouse) ----------------------------------------------------

def fixture_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """A warehouse with only the schema-2 rows these tests need (no build)."""
    from etl.pipeline import create_schema

    con = duckdb.connect(str(path))
    create_schema(con)
    con.execute("""INSERT INTO territory VALUES ('milano', 'Comune di Milano', 'Municipality of Milan', 9.19, 45.46, 'Duomo',
                   'Duomo', 'EPSG:7791', 9.0, 45.3, 9.3, 45.6, 'v1', 'sha')""")
    con.execute("""INSERT INTO territory_levels VALUES ('nil', 0, 'municipio', 'nil_boundaries', 88, 'NIL', 'NIL', 'NIL', 'NILs',
                   NULL, NULL), ('municipio', 1, NULL, 'municipi_boundaries', 9, 'Municipio', 'Municipio', 'Municipi',
                   'Municipi', NULL, NULL)""")
    con.execute("""INSERT INTO source_catalogue VALUES
        ('makerspaces', '["makerspace"]', 'ds744', 'FabLab Milano',
         'https://dati.comune.milano.it/dataset/x/ds744_fablab_milano.csv', 'ds744_fablab_milano.csv', 'CC BY 4.0', 'absent'),
        ('coworking', '["coworking"]', NULL, 'Coworking – elenco qualificato', NULL, 'coworking.csv', NULL, 'absent'),
        ('platform_nil', '["coworking", "population"]', NULL, 'Conteggi per NIL', NULL, NULL, NULL, 'loaded'),
        ('vacant_ds503', '["vacant"]', 'ds503', 'Aree ed edifici degradati', NULL, 'ds503_*.csv', NULL, 'failed'),
        ('firms_ds171', '["firm_totals"]', 'ds171', 'Imprese per ATECO', NULL, NULL, NULL, 'loaded')""")
    con.execute("""INSERT INTO sources (source_id, dataset, title, path, rows_read, rows_loaded, rows_rejected, loaded_at,
                                        licence, trust, status, notes)
                   VALUES ('vacant_ds503', 'ds503', 'Aree ed edifici degradati', 'x.csv', 0, 0, 0, now(), 'CC BY 4.0',
                           'official', 'failed', 'colonna COD_PROG assente: [clic](http://evil)')""")
    con.execute("""INSERT INTO area_counts VALUES ('nil', 1, 'coworking', 2024, 3, 'platform_nil', 'c.json', 'derived'),
                                                  ('nil', 2, 'coworking', 2024, 0, 'platform_nil', 'c.json', 'derived'),
                                                  ('nil', 2, 'coworking', 2023, 5, 'platform_nil', 'c.json', 'derived')""")
    con.execute("""INSERT INTO firm_totals VALUES
        ('territory', 'milano', 2007,
         '01.62.0', '2007', 'x', 'other', 10, 12, 30, 33, 'ds171', 'f.csv', 'official'),
        ('territory', 'milano', 2007,
         '25.62.0', '2007', 'y', 'digital_manufacturing', 4, 5, 20, 21, 'ds171', 'f.csv', 'official'),
        ('territory', 'milano', 2010,
         '25.62.0', '2007', 'y', 'digital_manufacturing', 6, 7, 25, 26, 'ds171', 'f.csv', 'official'),
        ('territory', 'milano', 2010,
         '25.61.0', '2007', 'z', 'digital_manufacturing', 1, 1, NULL, 2, 'ds171', 'f.csv', 'official')""")
    con.execute("""INSERT INTO snapshots (snapshot_id, created_at, mode, catalogue_version, periphery_version, taxonomy_version,
                                          source_versions, same_as) VALUES
        ('A', '2026-01-01', 'real', 'c', 'p', 't', '{}', NULL), ('B', '2026-02-01', 'real', 'c', 'p', 't', '{}', 'A')""")
    con.execute("""INSERT INTO indicator_values (snapshot_id, indicator_id, level, area_id, period, value, reason, trust) VALUES
        ('A', 'k', 'nil', '1', NULL, 2, NULL, 'official'), ('B', 'k', 'nil', '1', NULL, 2, NULL, 'official'),
        ('B', 'k', 'nil', '2', NULL, NULL, 'nessuna fonte', 'official'),
        ('B', 'e', 'nil', '1', NULL, NULL, 'nessuna fonte', 'official'),
        ('B', 'e', 'territory', 'milano', NULL, 4, NULL, 'official')""")
    return con


def test_schema2_queries(tmp_path: Path) -> None:
    con = fixture_warehouse(tmp_path / "w.duckdb")
    try:
        counts = data.area_counts(con, "coworking")
        assert counts[["district_id", "year", "count"]].values.tolist() == [[1, 2024, 3], [2, 2024, 0]]  # latest year
        totals = data.firm_totals_by_category(con)
        dm10 = totals[(totals["year"] == 2010) & (totals["category"] == "digital_manufacturing")].iloc[0]
        assert (dm10["firms"], dm10["units"], dm10["employees_units"], dm10["codes"]) == (7, 8, 28.0, 2)
        cov = data.indicator_coverage(con, "B")
        assert cov[["indicator_id", "level", "with_value", "areas"]].values.tolist() == [
            ["e", "nil", 0, 1], ["e", "territory", 1, 1], ["k", "nil", 1, 2]]
        assert views.valued_indicators(cov, ("nil", "municipio")) == {"k"} and views.valued_indicators(cov) == {"e", "k"}
        assert views.valued_indicators(cov, ("territory",)) == {"e"}
        assert data.area_value_counts(con, "B").values.tolist() == [[1, 1], [2, 0]]
        history = data.indicator_history(con, "k", "nil", "1")
        assert history["same_as"].tolist()[1] == "A"
        trend = qv.trend_frame(history, "it")
        assert trend["snapshot_id"].tolist() == ["A"]  # B repeats A's inputs: no second point
        snaps = data.snapshots(con)
        assert snaps["same_as"].iloc[0] == "A" and pd.isna(snaps["same_as"].iloc[1])
        assert list(data.sources(con).columns)[-3:] == ["reference_date", "attribution", "origin"]
        catalogue, sources = data.source_catalogue(con), data.sources(con)
    finally:
        con.close()

    absent = views.theme_state("makerspace", catalogue, sources, 0, None)
    assert absent.state == "absent" and not absent.loaded
    text = views.theme_state_text(absent, "it")
    assert text.startswith("Nessuna fonte caricata per i makerspace e fablab")
    assert "ds744 «FabLab Milano» del portale del Comune lo fornirebbe" in text and "Scaricarlo e ricostruire i dati" in text
    assert "https://dati.comune.milano.it/dataset/x/ds744_fablab_milano.csv" in text
    assert "Dataset ds744 “FabLab Milano”" in views.theme_state_text(absent, "en")

    failed = views.theme_state("vacant", catalogue, sources, 0, None)
    assert failed.state == "failed" and failed.failed[0].reason.startswith("colonna COD_PROG assente")
    text = views.theme_state_text(failed, "it")
    assert "non è stato caricato perché il file è stato rifiutato: colonna COD\\_PROG assente" in text
    assert not ACTIVE_MARKDOWN.search(text)  # the reason's link is inert (no download address to show here)
    assert "\\[clic\\]\\(http\\:\\/\\/evil\\)" in text
    # a refused second source next to a loaded one: the places are there, the refusal is still said
    both = views.theme_state("vacant", catalogue, sources, 192, None)
    assert both.state == "points" and "rifiutato" in views.theme_state_text(both, "it")

    cw = views.theme_state("coworking", catalogue, sources, 0, counts)
    assert cw.state == "counts" and cw.counts_total == 3 and cw.counts_districts == 2 and cw.loaded
    text = views.theme_state_text(cw, "it")
    assert "solo conteggi per NIL: 3 in 2 NIL (fonte platform\\_nil, derivato)" in text
    assert "Non c'è un elenco dei singoli luoghi" in text and "Coworking – elenco qualificato" in text

    totals_state = views.theme_state("firm_totals", catalogue, sources, len(totals), None)
    assert totals_state.state == "points" and views.theme_state_text(totals_state, "it") == ""
    nothing = views.theme_state("historic_shop", catalogue, sources, 0, None)
    assert views.theme_state_text(nothing, "en").endswith("No source registered in this build provides it.")
    table = pv.place_counts_table(pd.DataFrame(columns=["theme", "places", "with_nil", "with_coords", "trust"]), MILAN, "it",
                                  {"coworking": cw, "makerspace": absent})
    row = table[table["Tema"] == "Coworking"].iloc[0]
    assert row["Luoghi"] == 3 and row["con coordinate"] == 0 and row["Stato della fonte"] == "solo conteggi per NIL"
    assert pd.isna(table[table["Tema"] == "Makerspace e fablab"].iloc[0]["Luoghi"])


def test_schema2_queries_on_an_older_warehouse(tmp_path: Path) -> None:
    """A warehouse without the schema-2 tables gives empty frames, not an error."""
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:
        con.execute("CREATE TABLE sources (source_id VARCHAR, dataset VARCHAR, title VARCHAR, path VARCHAR, status VARCHAR, "
                    "trust VARCHAR, rows_read INT, rows_loaded INT, rows_rejected INT, rows_repaired INT, loaded_at TIMESTAMP, "
                    "licence VARCHAR, crs VARCHAR, encoding VARCHAR, sha256 VARCHAR, notes VARCHAR)")
        assert data.source_catalogue(con).empty and data.firm_totals_by_category(con).empty
        assert data.area_counts(con, "coworking").empty
        assert data.sources(con).columns[-1] == "origin"
    finally:
        con.close()


# --- defaults that open on values ----------------------------------------------------------------------------

def test_pickers_put_indicators_with_values_first() -> None:
    assert views.with_values_first(["a", "b", "c", "d"], {"c", "a"}) == ["a", "c", "b", "d"]
    assert views.default_choice(["a", "b", "c"], {"c"}, preferred="a") == "c"  # the preferred one has no values
    assert views.default_choice(["a", "b", "c"], {"a", "c"}, preferred="c") == "c"
    assert views.default_choice(["a", "b"], set(), preferred="b") == "a"
    assert views.choice_label("Coworking", False, "it") == "Coworking — senza dati"
    assert views.choice_label("Coworking", False, "en") == "Coworking — no data" and views.choice_label("X", True, "it") == "X"


def test_default_nil_is_peripheral_with_data() -> None:
    nil_stats = pd.DataFrame({"id": [1, 2, 3, 4, 5], "name": list("ABCDE")})
    grp = pd.DataFrame({"group_level": ["periphery_class"] * 5, "group_id": ["centro", "semicentro", "periferia", "periferia",
                                                                             "periferia"],
                        "group_name": ["C", "S", "P", "P", "P"], "district_id": [1, 2, 3, 4, 5]})
    counts = pd.DataFrame({"district_id": [1, 3, 4, 5], "with_value": [20, 8, 10, 10]})
    places_by_nil = pd.DataFrame({"district_id": [4, 5, 5], "theme": ["vacant", "vacant", "makerspace"], "places": [1, 1, 1]})
    assert iv.default_area(nil_stats, grp, counts, places_by_nil) == "5"  # 10 values like NIL 4, more places
    assert iv.default_area(nil_stats, grp, counts) == "4"  # tie without places: the lowest id
    assert iv.default_area(nil_stats, iv.empty_groups(), counts) == "1"  # no classes: the NIL with most values


def test_trend_single_point_is_one_labelled_marker(metas: dict[str, views.IndicatorMeta]) -> None:
    one = pd.DataFrame({"snapshot_id": ["A"], "created_at": [datetime(2026, 12, 1, 9, 41)],
                        "period": pd.array([None], dtype="Int64"), "value": [3.0], "reason": [None], "trust": ["official"],
                        "same_as": [None]})
    fig = qv.trend_chart(qv.trend_frame(one, "it"), metas["count_x"], "1 · Uno", "it")
    assert fig.data[0].mode == "markers+text" and list(fig.data[0].text) == ["3 numero"]
    assert list(fig.layout.xaxis.ticktext) == ["01/12/2026"] and len(fig.layout.xaxis.tickvals) == 1
    start, end = fig.layout.xaxis.range
    assert pd.Timestamp(end) - pd.Timestamp(start) > pd.Timedelta(days=300)  # a year around it, not milliseconds
    yearly = one.assign(period=pd.array([2022], dtype="Int64"))
    fig = qv.trend_chart(qv.trend_frame(yearly, "en"), metas["count_x"], "1 · Uno", "en")
    assert list(fig.layout.xaxis.ticktext) == ["2022"]


def test_firm_layer_without_points_names_the_city_totals() -> None:
    catalogue = pd.DataFrame({"source_id": ["firms_city", "firms_points"], "themes": ['["firm_totals"]', '["places"]'],
                              "dataset": ["ds171", None], "title": ["Imprese per ATECO", "Imprese puntuali"],
                              "portal_url": [None, None], "file_hint": [None, None], "licence": [None, None],
                              "state": ["loaded", "absent"]})
    state = views.theme_state("firm", catalogue, pd.DataFrame(columns=["source_id", "status", "notes"]), 0, None)
    text = views.theme_state_text(state, "it")
    assert state.state == "absent" and "solo i totali cittadini ds171" in text and "«Imprese puntuali»" in text


def test_tables_write_numbers_in_the_page_language_and_no_none() -> None:
    from osservatorio import ui

    frame = pd.DataFrame({"ID NIL": [1, 2], "Anno": pd.array([2022, None], dtype="Int64"), "Valore": [1234.5, None],
                          "Unità locali": [186472, 5], "Scheda ufficiale": ["https://x/a.pdf", None], "Nome": ["A", None]})
    styler, config = ui.styled(frame, "it", keep=("Scheda ufficiale",))
    shown = styler.data
    assert shown["Valore"].tolist() == ["1.234,5", "–"] and shown["Anno"].tolist() == ["2022", "–"]  # no None, no nan
    assert shown["Nome"].tolist() == ["A", "–"] and shown["Scheda ufficiale"].tolist() == ["https://x/a.pdf", ""]
    assert shown["Unità locali"].tolist() == [186472, 5]  # a full numeric column stays numeric (sorts as numbers) ...
    html_text = styler.to_html()
    assert "186.472" in html_text and "186,472" not in html_text  # ... written with Italian separators
    assert set(config) == {"Anno", "Valore"}
    en, _ = ui.styled(frame, "en")
    assert en.data["Valore"].tolist() == ["1,234.5", "–"] and "186,472" in en.to_html()


def test_catalogue_table_lists_states(tmp_path: Path) -> None:
    con = fixture_warehouse(tmp_path / "w.duckdb")
    try:
        table = views.catalogue_table(data.source_catalogue(con), data.sources(con), "it")
        sources = views.sources_table(data.sources(con), "it")
    finally:
        con.close()
    assert table["Stato"].tolist() == ["caricata", "caricata", "rifiutata", "assente", "assente"]
    assert table["Fonte"].tolist() == ["firms_ds171", "platform_nil", "vacant_ds503", "coworking", "makerspaces"]
    assert table["Pagina o download"].tolist()[-1].startswith("https://dati.comune.milano.it/")
    assert sources["Stato"].tolist() == ["rifiutato"] and "Data dei dati" in sources.columns


def test_table_dates_in_the_page_language() -> None:
    from datetime import date as d

    from osservatorio import ui

    frame = pd.DataFrame({"Data": [d(2026, 12, 1), d(2025, 1, 31)], "Scadenza": [d(2030, 12, 31), None],
                          "Caricato il": pd.to_datetime(["2026-12-01 09:41", "2026-12-01 00:00"])})
    styler, _ = ui.styled(frame, "it")
    html_text = styler.to_html()
    assert "01/12/2026" in html_text and "31/01/2025" in html_text and "2026-12-01" not in html_text
    assert styler.data["Scadenza"].tolist() == ["31/12/2030", "–"]
    assert "01/12/2026 09:41" in html_text
    assert "2030-12-31" in ui.styled(frame, "en")[0].data["Scadenza"].tolist()


# --- the data-origin line, labels of missing values, users' words -------------------------------------------------


def test_origin_line_one_group_per_publisher() -> None:
    """One line per publisher with its datasets and main licence; sources to check or without a licence counted;
    an attribution that repeats the licence ('Comune di Milano — dati aperti, CC BY 4.0') is the same publisher."""
    from osservatorio.ui import origin_line

    frame = pd.DataFrame({
        "source_id": ["nil", "municipi", "vac", "pop", "fab"],
        "dataset": ["ds964", "ds379", "ds503", None, "ds744"],
        "title": ["NIL", "Municipi", "Aree degradate", "Popolazione residente per NIL e sesso (Comune, config/x.toml)", "FabLab"],
        "licence": ["CC BY 4.0", "CC BY 4.0", "CC BY 4.0 (licenza predefinita; da verificare)",
                    "CC BY 4.0 (da verificare)", "non indicata"],
        "trust": ["official", "official", "official", "official", "derived"],
        "attribution": ["Comune di Milano — dati aperti, CC BY 4.0", "Comune di Milano", "Comune di Milano",
                        "Comune di Milano", None],
        "reference_date": [None, None, None, pd.Timestamp("2022-12-31"), None],
    })
    line = origin_line(frame, "it")
    assert line == ("Comune di Milano (ds964, ds379, ds503, popolazione residente per NIL 2022) — CC BY 4.0; "
                    "licenza da verificare per 2 dataset · altre fonti (ds744) — licenza non indicata")
    assert "licence to be checked for 2 datasets" in origin_line(frame, "en")
    assert origin_line(frame[frame["trust"] == "demo"], "it") is None


def test_missing_value_labels_are_a_dash() -> None:
    """A label looked up for a missing value is the missing mark (was 'trust_nan' in the NIL table)."""
    from osservatorio.i18n import t

    assert views.trust_label(float("nan"), "it") == "dato non disponibile"
    assert views.trust_label(None, "en") == "no data"
    assert t("trust_nan", "it") == "–" and t("status_None", "en") == "–"
    assert t("no_such_key_here", "it") == "no_such_key_here"  # a real gap still shows itself


def test_catalogue_titles_and_short_theme_lines_in_users_words() -> None:
    assert views.user_title("Censimento comunale (file descritti in config/census.toml)") == "Censimento comunale"
    assert views.user_title("Coworking – elenco (Comune di Milano)") == "Coworking – elenco (Comune di Milano)"


def test_reasons_in_the_english_ui() -> None:
    """The ETL writes reasons in Italian: the English UI translates each known phrase, keeps the rest."""
    stored = ("popolazione 2022; NIL 8: popolazione 2021 (derivata); "
              "spazi dismessi senza superficie indicata: 2 (nessun valore noto)")
    assert iv.reason_text(stored, "en") == ("population 2022; NIL 8: population 2021 (derived); "
                                            "vacant spaces without stated area: 2 (no known value)")
    assert iv.reason_text(stored, "it") == stored
    assert iv.reason_text("frase nuova", "en") == "frase nuova" and iv.reason_text(None, "en") == ""
    assert iv.reason_text("edizioni diverse delle fonti: confiscated 2026, vacant_ds503 senza data", "en") == \
        "sources of different editions: confiscated 2026, vacant_ds503 undated"


def test_periphery_rule_in_english_has_no_italian_descriptions() -> None:
    """The rule in English uses the English texts the build stored (descriptions, the exception's basis)."""
    groups, detail = _stored_rule()
    english = "\n".join(fv.periphery_rule(groups, detail, "v1", MILAN, "en"))
    assert "Bastioni" not in english and "eccezione" not in english and "Ramparts" in english and "Beyond" in english
    assert "NIL 49 → Periphery: exception in the configuration: Giambellino" in english
    italian = "\n".join(fv.periphery_rule(groups, detail, "v1", MILAN, "it"))
    assert "Bastioni" in italian and "eccezione in configurazione" in italian


def test_reason_codes_are_translated_when_stored() -> None:
    """A value's reason code (with its parameters) goes through i18n.reason_text when the helper exists;
    otherwise, and without a code, the stored Italian sentence is translated phrase by phrase."""
    from osservatorio import i18n

    frame = pd.DataFrame({"reason": ["popolazione 2022", None], "reason_code": [None, None], "reason_params": [None, None]})
    assert iv.reasons_of(frame, "en") == ["population 2022", None]
    if getattr(i18n, "reason_text", None) is None:
        pytest.skip("i18n.reason_text not there yet: stored codes cannot be translated")
    code = next(k[len("reason_"):] for k in TEXTS if k.startswith("reason_") and "{" not in TEXTS[k]["en"]
                and k not in ("reason_no_row", "reason_not_at_level", "reason_not_at_level_of"))
    coded = iv.reason_text("frase italiana", "en", code, None)
    assert coded == TEXTS[f"reason_{code}"]["en"] and coded != "frase italiana"


def test_hubs_listed_by_area_and_actions_layer() -> None:
    """Hubs without coordinates are listed with the area they are in (finest, else parent, else the territory)."""
    hubs = pd.DataFrame({"source_id": ["hubs"] * 3, "source_key": ["polo", "mind", "regione"],
                         "name": ["Polo <tecnologico>", "MIND", "Hub regionale"], "address": ["Via Dante 1", None, None],
                         "lon": [10.02, None, None], "lat": [45.13, None, None],
                         "district_id": pd.array([19036, None, None], dtype="Int64"),
                         "parent_id": pd.array([None, 8, None], dtype="Int64"), "trust": ["derived"] * 3})
    names = views.level_names(MILAN, {"nil": pd.DataFrame({"id": [19036], "name": ["Centro"]}),
                                      "municipio": pd.DataFrame({"id": [8], "name": [None]})}, "it")
    table = mv.hubs_table(hubs, MILAN, names, "it")
    assert table["Dove"].tolist() == ["19036 · Centro", "Municipio 8", "Comune di Milano"]
    assert table["Posizione"].tolist() == ["sì", "senza coordinate", "senza coordinate"]
    assert mv.hubs_table(hubs, VALLEY, {}, "en")["Where"].tolist()[1:] == ["Test Valley", "Test Valley"]
    shown = table.drop(columns=["lon", "lat", "ID (fonte:chiave)"])
    assert set(mv.hubs_columns("it")) == set(shown.columns) and sum(c.width for c in mv.hubs_columns("it").values()) <= 820
    fig = mv.add_hub_layer(go.Figure(), hubs, "it")
    assert len(fig.data) == 1 and len(fig.data[0].lon) == 1 and "&lt;tecnologico&gt;" in fig.data[0].text[0]
    points = pd.DataFrame({"lon": [9.2], "lat": [45.5], "title": ["Azione"]})
    layer = mv.add_action_layer(go.Figure(), points, ["Azione<br>NIL 3"], "en")
    assert layer.data[0].name == "Actions" and list(layer.data[0].text) == ["Azione<br>NIL 3"]
    assert len(mv.add_action_layer(go.Figure(), points.iloc[0:0], [], "en").data) == 0


def test_wide_tables_get_short_headers_that_fit() -> None:
    """Issue 15: the profile and comparison grids show short headers (full ones as help) in widths that fit the
    page at 1280 px (about 820 px of content); the downloads keep the full headers."""
    metas = views.indicator_metas(catalogue(), "it", MILAN)
    areas = qv.profile_areas(MILAN, 1, 2, "periferia")
    names = {("nil", "1"): "1 · Uno", ("municipio", "2"): "Municipio 2", ("periphery_class", "periferia"): "Periferia",
             ("territory", "milano"): "Comune di Milano"}
    profile = pd.DataFrame({"level": ["nil"], "area_id": ["1"], "indicator_id": ["rate"],
                            "period": pd.array([2020], dtype="Int64"), "value": [1.0], "reason": [None], "trust": ["demo"]})
    table = qv.profile_table(profile, metas, areas, names, MILAN, "it")
    columns = qv.profile_columns(table, areas, names, MILAN, "it")
    assert set(columns) == set(table.columns)  # every column has its short header
    assert [columns[c].label for c in table.columns] == ["Indicatore", "Unità", "NIL", "Municipio", "Classe", "Territorio",
                                                         "Confronto", "Anno", "Nota / motivo", "Affidabilità"]
    assert columns["Anno dei dati"].help == "Anno dei dati" and columns["1 · Uno"].help == "1 · Uno"
    assert sum(c.width for c in columns.values()) <= 860 and columns["Indicatore"].pinned  # the main column at 1280 px
    config = iv.column_config({"Anno dei dati": {"alignment": "right"}}, columns)
    assert config["Anno dei dati"] == {"alignment": "right", "label": "Anno", "help": "Anno dei dati", "width": 44}
    assert config["Indicatore"]["pinned"] is True

    g = groups()
    group_areas = fv.group_areas(g.assign(group_id=g["group_id"].where(g["group_level"] != "priority_area", "pq")), MILAN)
    long_names = {**names, ("priority_area", "pq"): "Giambellino - Lorenteggio (Piano Quartieri)",
                  ("periphery_class", "centro"): "Centro"}
    empty = pd.DataFrame(columns=["indicator_id", "level", "area_id", "value"])
    comparison = fv.group_comparison_table(empty, metas, group_areas, long_names, "en")
    (classes, first), (priority, second) = fv.comparison_parts(comparison, group_areas, long_names, "en")
    assert list(classes.columns) == ["Indicator", "Unit", "Direction", "Centro", "Periferia", "Comune di Milano"]
    assert first["Comune di Milano"].label == "Territory" and list(priority.columns)[2:] == ["Area: Giambellino - Lor…"]
    assert second["Area: Giambellino - Lor…"].label == "Giambellino" and second["Area: Giambellino - Lor…"].help.endswith(
        "(Piano Quartieri)")
    assert views.inline_label("NILs") == "NILs" and views.inline_label("Comune") == "comune"
