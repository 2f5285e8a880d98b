"""The theme pages (Makerspace, Spazi vuoti, Imprese, Obiettivi) through AppTest, on real warehouses.

One demo warehouse is built for the module: two builds, so the second snapshot carries the first
in its history, with a small targets file of this test (every status occurs). The indicators come
from etl.indicators.compute_all: called here only if etl.pipeline.build does not call it yet.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import etl.indicators as indicators
import etl.targets as etl_targets
from etl.pipeline import build
from osservatorio import data, views
from osservatorio.page_views import spazi_vuoti as sv

if TYPE_CHECKING:
    from conftest import Helpers

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGES = {"makerspace": "pages/makerspace.py", "vacant": "pages/spazi_vuoti.py", "firms": "pages/imprese.py",
         "targets": "pages/obiettivi.py"}
TARGETS_TOML = """
[[target]]
id = "T1"
objective = "Più makerspace in periferia"
indicator = "makerspaces_count"
level = "periphery_class"
area = "periferia"
target = 30
deadline = "2030-12-31"
baseline = 5
baseline_date = "2024-01-01"

[[target]]
id = "T2"
objective = "Più makerspace in periferia"
indicator = "makerspace_distance_m"
level = "territory"
area = "milano"
target = 100
deadline = "2029-06-30"
baseline = 2000
baseline_date = "2025-01-01"

[[target]]
id = "T3"
objective = "Manifattura digitale diffusa"
indicator = "firms_dm_per_1k"
level = "territory"
area = "milano"
target = 50
deadline = "2030-12-31"
baseline = 1
baseline_date = "2024-01-01"

[[target]]
id = "T4"
objective = "Manifattura digitale diffusa"
indicator = "vacant_near_makers_periphery"
level = "periphery_class"
area = "centro"
target = 10
deadline = "2030-12-31"
"""


def quiet(_message: str) -> None:
    """Progress callback that prints nothing."""


def build_with_indicators(path: Path, raw_dir: Path | None = None) -> None:
    """etl.pipeline.build, then compute_all when the pipeline did not record a snapshot itself.

    The installed warehouse (if any) is kept aside first, so that its snapshots are copied forward.
    """
    previous = None
    if path.exists():
        previous = path.with_name(path.name + ".previous")
        shutil.copy(path, previous)
    report = build(raw_dir, path, progress=quiet)
    con = duckdb.connect(str(path))
    try:
        if con.sql("SELECT count(*) FROM snapshots WHERE snapshot_id = $b", params={"b": report.build_id}).fetchall()[0][0] == 0:
            indicators.compute_all(con, report.build_id, report.mode, previous, quiet)
    finally:
        con.close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo warehouse with two snapshots and the targets above (built once for the module)."""
    folder = tmp_path_factory.mktemp("themes")
    targets_file = folder / "targets.toml"
    targets_file.write_text(TARGETS_TOML, encoding="utf-8")
    path = folder / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(indicators, "DEFAULT_TARGETS", targets_file)
        mp.setattr(etl_targets, "DEFAULT_TARGETS", targets_file)
        build_with_indicators(path)
        build_with_indicators(path)
    return path


@pytest.fixture(scope="module")
def bare_warehouse(tmp_path_factory: pytest.TempPathFactory, h: Helpers) -> Path:
    """A real-mode warehouse from the small raw folder: boundaries and population, no places, no firms."""
    folder = tmp_path_factory.mktemp("bare")
    path = folder / "warehouse.duckdb"
    build(h.write_raw_dir(folder / "raw"), path, progress=quiet)
    return path


def use(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(path))
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")


@pytest.fixture(autouse=True)
def clean_caches() -> Iterator[None]:
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def demo(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use(monkeypatch, warehouse)
    return warehouse


def open_page(page: str, params: dict[str, str] | None = None) -> AppTest:
    """Run the app once (the router registers the pages), then the page with the given URL parameters."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(PAGES[page]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart(at: AppTest, title_part: str) -> dict[str, Any]:
    found = [s for s in specs(at) if title_part in s["layout"].get("title", {}).get("text", "")]
    assert len(found) == 1, [s["layout"].get("title", {}).get("text") for s in specs(at)]
    return found[0]


def frame_by_column(at: AppTest, column: str) -> Any:
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


# --- every page renders ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("lang", ["it", "en"])
def test_every_page_renders(demo: Path, page: str, lang: str) -> None:
    at = open_page(page, {"lang": lang})
    assert [e.value for e in at.error] == []
    title = {"makerspace": ("Makerspace", "Makerspaces"), "vacant": ("Spazi vuoti", "Vacant spaces"),
             "firms": ("Imprese", "Firms"), "targets": ("Obiettivi", "Targets")}[page]
    assert at.title[0].value == title[lang == "en"]
    assert at.get("plotly_chart"), "every theme page draws at least one chart"
    for spec in specs(at):  # maps: MapLibre traces with the offline style only
        map_traces = [t for t in spec["data"] if t["type"] in ("choroplethmap", "scattermap", "choropleth", "scattergeo")]
        assert all(t["type"] in ("choroplethmap", "scattermap") for t in map_traces)
        if map_traces:
            assert spec["layout"]["map"]["style"] == "white-bg"
    assert at.get("download_button"), "every table and chart is downloadable"
    for frame in at.dataframe:  # exported as is: a repeated header would make an ambiguous CSV
        assert frame.value.columns.is_unique, list(frame.value.columns)
    if lang == "en":
        labels = [b.label for b in at.get("download_button")]
        assert "CSV for Italian Excel" in labels


def test_english_labels(demo: Path) -> None:
    at = open_page("makerspace", {"lang": "en"})
    table = frame_by_column(at, "Seats")
    assert list(table.columns)[:4] == ["Name", "Type", "Address", "NIL"]
    assert {s.label for s in at.selectbox} >= {"Type of space", "Municipio", "Periphery class"}
    at = open_page("targets", {"lang": "en"})
    statuses = frame_by_column(at, "Rule applied")["Status"].tolist()
    assert "🟠 at risk" in statuses and "🔴 off track" in statuses


# --- Makerspace: filters in the URL -----------------------------------------------------------------------


def test_makerspace_filter_changes_the_output(demo: Path) -> None:
    at = open_page("makerspace")
    every = frame_by_column(at, "Postazioni")
    assert set(every["Tipo"]) == {"Makerspace", "Fablab", "Coworking"}
    at.selectbox(key="url_municipio").set_value("3").run()
    assert not at.exception
    only = frame_by_column(at, "Postazioni")
    assert 0 < len(only) < len(every)
    assert set(only["Municipio"]) == {3}
    assert at.query_params["municipio"] == "3"
    ranking = frame_by_column(at, "Pos.")  # a district filter ranks the NIL of the selection
    assert all(a.split(" · ")[0].isdigit() for a in ranking["Area"].iloc[:-1])
    at.selectbox(key="url_tema").set_value("coworking").run()
    assert set(frame_by_column(at, "Postazioni")["Tipo"]) == {"Coworking"}
    assert at.query_params["tema"] == "coworking"


def test_makerspace_url_round_trip_and_unknown_value(demo: Path) -> None:
    at = open_page("makerspace", {"municipio": "3", "periferia": "periferia"})
    assert at.selectbox(key="url_municipio").value == "3"
    assert at.selectbox(key="url_periferia").value == "periferia"
    table = frame_by_column(at, "Postazioni")
    assert set(table["Municipio"]) <= {3}
    assert set(table["Classe di periferia"]) == {"Periferia"}
    spec = chart(at, "Makerspace e coworking")
    tinted = [z for z in spec["data"][0]["z"]]
    assert 0 < sum(tinted) < len(tinted)  # the map tints the selected NIL only

    at = open_page("makerspace", {"municipio": "99", "tema": "<script>"})
    messages = infos(at)
    assert any("'99'" in m and "municipio" in m for m in messages), messages
    assert any("'\\<script\\>'" in m and "tema" in m for m in messages), messages  # escaped: shown, not run
    assert at.selectbox(key="url_municipio").value == views.ALL
    assert len(frame_by_column(at, "Postazioni")) == 134  # 24 makerspaces + 110 coworking: no filter


# --- Spazi vuoti: weights change the opportunity map ------------------------------------------------------


def test_weight_slider_changes_the_opportunity_map(demo: Path) -> None:
    at = open_page("vacant")
    before = chart(at, "Punteggio di opportunità")
    assert "pesi" not in at.query_params
    at.slider(key="w_vacant_near_makers_periphery").set_value(0).run()
    assert not at.exception
    after = chart(at, "Punteggio di opportunità")
    assert after != before
    assert at.query_params["pesi"] == "0-30-15-15"
    # without the periphery-only component every NIL gets a score: no grey "n.d." layer left
    assert [t["name"] for t in after["data"] if t["type"] == "choroplethmap"] == ["Punteggio di opportunità per NIL"]
    assert len(frame_by_column(at, "Punteggio (0-100)").dropna(subset=["Punteggio (0-100)"])) == 88
    weights = frame_by_column(at, "Peso normalizzato (%)")
    assert weights["Peso normalizzato (%)"].tolist() == [0.0, 50.0, 25.0, 25.0]
    at.button(key="w_reset").click().run()
    assert chart(at, "Punteggio di opportunità") == before
    assert "pesi" not in at.query_params


def test_weights_from_the_url(demo: Path) -> None:
    at = open_page("vacant", {"pesi": "0-30-15-15"})
    assert at.slider(key="w_vacant_near_makers_periphery").value == 0
    from_url = chart(at, "Punteggio di opportunità")
    at = open_page("vacant")
    at.slider(key="w_vacant_near_makers_periphery").set_value(0).run()
    assert chart(at, "Punteggio di opportunità") == from_url
    at = open_page("vacant", {"pesi": "1-2-x"})
    assert any("'1-2-x'" in m and "pesi" in m for m in infos(at))
    assert at.slider(key="w_vacant_near_makers_periphery").value == 40


def test_default_weights_reproduce_the_stored_score(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        snap = views.newest_snapshot(data.snapshots(con))
        assert snap
        fine = data.territory(con).fine.id
        components = sv.score_components(data.scoring_weights(con, snap))  # what the build stored
        ids = data.district_stats(con, fine)["id"].tolist()
        values, reasons = sv.component_matrix(
            {c.indicator: data.indicator_values(con, snap, c.indicator, fine) for c in components}, ids)
        stored = data.indicator_values(con, snap, "opportunity_score", fine)
    finally:
        con.close()
    scores = sv.reweighted_scores(values, reasons, sv.default_weights(components),
                                  {c.indicator: c.direction for c in components})
    stored_by_id = dict(zip(stored["area_id"].astype(int), stored["value"], strict=True))
    np.testing.assert_allclose(scores["score"], [stored_by_id[i] for i in scores["id"]], equal_nan=True)
    assert scores["score"].notna().sum() == 49  # the peripheral NIL of the demo


def test_near_list_matches_the_etl_indicator(warehouse: Path) -> None:
    """The page's list of vacant places near makers (from the stored place_proximity) counts, per peripheral
    area, exactly what the ETL's indicator stored."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        snap = views.newest_snapshot(data.snapshots(con))
        assert snap
        fine = data.territory(con).fine.id
        classes = views.periphery_classes(data.district_groups(con, snap))
        proximity = data.place_proximity(con)
        near = sv.near_from_proximity(data.places(con, "vacant"), proximity, views.peripheral_areas(classes))
        stored = data.indicator_values(con, snap, "vacant_near_makers_periphery", fine)
    finally:
        con.close()
    assert len(proximity) > 0, "the build stores the distance of every vacant place to the nearest maker"
    per_area = near.groupby("district_id")["near"].sum()
    counted = stored.dropna(subset=["value"])
    assert len(counted) == len(views.peripheral_areas(classes))
    assert near["near"].any()
    for area, value in zip(counted["area_id"], counted["value"], strict=True):
        assert per_area.get(int(area), 0) == value, area


def test_vacant_filters_and_near_list(demo: Path) -> None:
    at = open_page("vacant", {"stato": "regeneration", "periferia": "periferia"})
    table = frame_by_column(at, "Tipologia (uso precedente)")
    assert set(table["Stato"]) == {"in rigenerazione"}
    assert set(table["Classe di periferia"]) == {"Periferia"}
    near = frame_by_column(at, "Più vicino")
    assert 0 < len(near) <= len(table)
    assert set(near["Stato"]) == {"in rigenerazione"}
    at.selectbox(key="url_periferia").set_value("centro").run()
    assert any("Nessuno spazio dismesso vicino" in m for m in infos(at))


# --- Imprese ---------------------------------------------------------------------------------------------


def test_firms_indicator_and_period(demo: Path) -> None:
    at = open_page("firms")
    assert any("ATECO 2007" in m and "config/" not in m for m in infos(at)), infos(at)
    before = chart(at, "ogni 1.000 residenti")
    assert at.selectbox(key="url_periodo").value == "corrente"
    at.selectbox(key="url_periodo").set_value("2010").run()
    assert not at.exception
    assert chart(at, "ogni 1.000 residenti") != before
    assert at.query_params["periodo"] == "2010"
    at.selectbox(key="url_indicatore").set_value("firms_dm_share").run()
    share = chart(at, "Quota di manifattura digitale")
    assert share["data"][-1]["type"] == "scattermap"  # the firm point layer


def test_firms_nil_filter_and_sampling(demo: Path) -> None:
    at = open_page("firms", {"nil": "12", "categoria": "*"})
    assert at.selectbox(key="url_nil").value == "12"
    city = open_page("firms", {"categoria": "*"})
    assert any("campione fisso di 1.500 imprese su 4.000" in c.value for c in city.caption)
    mix_nil = frame_by_column(at, "Imprese puntuali")
    mix_city = frame_by_column(city, "Imprese puntuali")
    assert mix_nil["Imprese puntuali"].sum() < mix_city["Imprese puntuali"].sum()


# --- Obiettivi ---------------------------------------------------------------------------------------------


def test_targets_statuses_and_trend(demo: Path) -> None:
    at = open_page("targets")
    table = frame_by_column(at, "Regola applicata")
    assert table["Target"].tolist() == ["T3", "T4", "T1", "T2"]  # by objective, then id
    assert sorted(table["Stato"]) == sorted(["🔵 in linea", "🟠 a rischio", "🔴 fuori linea", "⚪ senza dati"])
    assert all(isinstance(r, str) and "→" in r for r in table["Regola applicata"])
    trend = chart(at, "Target T3")
    names = [t["name"] for t in trend["data"]]
    assert names == ["Attuale", "Percorso atteso", "Valore target"]
    con = duckdb.connect(str(demo), read_only=True)
    try:
        snaps = con.sql("SELECT count(*), count(*) FILTER (WHERE same_as IS NULL) FROM snapshots").fetchall()[0]
    finally:
        con.close()
    assert snaps[0] == 2  # two builds
    assert len(trend["data"][0]["x"]) == snaps[1]  # one point per snapshot with new inputs (a plain rebuild adds none)
    at.selectbox(key="url_target").set_value("T1").run()
    assert chart(at, "Target T1")
    assert at.query_params["target"] == "T1"


def test_targets_filters_in_the_url(demo: Path) -> None:
    at = open_page("targets", {"stato": "at_risk"})
    assert frame_by_column(at, "Regola applicata")["Target"].tolist() == ["T2"]
    at = open_page("targets", {"obiettivo": "Manifattura digitale diffusa", "target": "T1"})
    assert frame_by_column(at, "Regola applicata")["Target"].tolist() == ["T3", "T4"]
    assert any("'T1'" in m for m in infos(at))  # T1 is not in the selection: fallback to the first one
    at = open_page("targets", {"stato": "on_track", "obiettivo": "Manifattura digitale diffusa"})
    assert any("Nessun target per questa selezione" in m for m in infos(at))


# --- graceful degradation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("page", list(PAGES))
def test_pages_without_theme_data(bare_warehouse: Path, monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    """Boundaries and population only (indicators possibly not computed): clear messages, no traceback."""
    use(monkeypatch, bare_warehouse)
    at = open_page(page)
    assert [e.value for e in at.error] == []
    if page == "targets" and not infos(at):  # targets configured: shown, without data where there is none
        statuses = frame_by_column(at, "Regola applicata")["Stato"]
        assert len(statuses) > 0
    else:
        assert infos(at), "the page says what is missing"


def test_vacant_page_without_makers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Vacant spaces but no makerspace or firm points: the near list says why it is empty."""
    path = tmp_path / "warehouse.duckdb"
    build_with_indicators(path)
    con = duckdb.connect(str(path))
    try:
        con.execute("DELETE FROM places WHERE theme IN ('makerspace', 'firm')")
        # what the build stores when no maker has coordinates: the vacant places, without a distance
        con.execute("UPDATE place_proximity SET nearest_m = NULL, n_within = NULL, nearest_name = NULL")
    finally:
        con.close()
    use(monkeypatch, path)
    at = open_page("vacant")
    assert any("la vicinanza non è misurabile" in m for m in infos(at)), infos(at)
    assert len(frame_by_column(at, "Tipologia (uso precedente)")) == 190


def test_targets_page_without_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "warehouse.duckdb"
    with monkeypatch.context() as mp:
        missing = tmp_path / "nessun-target.toml"
        mp.setattr(indicators, "DEFAULT_TARGETS", missing)
        mp.setattr(etl_targets, "DEFAULT_TARGETS", missing)
        build_with_indicators(path)
    use(monkeypatch, path)
    at = open_page("targets")
    assert any("config/targets.toml" in m for m in infos(at))


# --- schema 2: city-wide firm counts, refused sources, assumed ownership ------------------------------------------


def modified_copy(source: Path, target: Path, statements: list[str]) -> Path:
    """`source` with `statements` applied, rewritten into a fresh file (COPY FROM DATABASE: no free blocks)."""
    scratch = target.with_suffix(".scratch.duckdb")
    shutil.copy(source, scratch)
    con = duckdb.connect(str(scratch))
    try:
        for statement in statements:
            con.execute(statement)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    con = duckdb.connect(str(target))
    try:
        con.execute(f"ATTACH '{scratch}' AS src (READ_ONLY)")
        con.execute(f"COPY FROM DATABASE src TO {target.stem}")
        con.execute("DETACH src")
    finally:
        con.close()
    scratch.unlink()
    return target


@pytest.fixture(scope="module")
def schema2_warehouse(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo warehouse with ds171 city totals, no per-NIL firm data, a refused ds503 file and three vacant
    places from a file with former use, record sheet and an assumed public ownership."""
    totals = ", ".join(f"('territory', 'milano', {y}, '{code}', '2007', 'x', '{cat}', {f}, {u}, {e}, {e + 1}, 'firms_city', "
                       f"'ds171.csv', 'official')"
                       for y in (2007, 2008, 2009, 2010)
                       for code, cat, f, u, e in (("25.62.0", "digital_manufacturing", 100 + y % 10, 120 + y % 10, 900),
                                                  ("47.11.0", "other", 5000, 5200, 30000)))
    return modified_copy(warehouse, tmp_path_factory.mktemp("schema2") / "schema2.duckdb", [
        f"INSERT INTO firm_totals VALUES {totals}",  # noqa: S608 literal test rows
        "DELETE FROM firm_units",
        "DELETE FROM places WHERE theme = 'firm'",
        "UPDATE source_catalogue SET state = 'failed' WHERE source_id = 'vacant_ds503'",
        """INSERT INTO sources (source_id, dataset, title, path, rows_read, rows_loaded, rows_rejected, loaded_at, licence,
                                trust, status, notes)
           VALUES ('vacant_ds503', 'ds503', 'Aree ed edifici degradati', 'ds503.csv', 0, 0, 0, now(), 'CC BY 4.0',
                   'official', 'failed', 'manca la colonna COD_PROG')""",
        """UPDATE places SET ownership = 'public',
                  attributes = '{"TIPO_MACRO": "PRODUTTIVO", "LinkPdfVIG": "https://geoportale.example/A1.pdf",
                                 "ownership_assumed": true}'
           WHERE theme = 'vacant' AND source_key IN (SELECT source_key FROM places WHERE theme = 'vacant'
                                                     ORDER BY source_key LIMIT 3)""",
    ])


def test_firms_city_totals_without_nil_detail(schema2_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, schema2_warehouse)
    at = open_page("firms")
    assert [s.value for s in at.subheader][:2] == ["Comune di Milano: tutto il territorio, per anno (ds171)",
                                                   "Dettaglio per NIL (ds201 e imprese puntuali)"]
    table = frame_by_column(at, "Addetti delle unità locali")
    assert table["Anno"].tolist() == [2007, 2007, 2008, 2008, 2009, 2009, 2010, 2010]
    dm = table[table["Categoria"] == "Manifattura digitale e meccatronica"]
    assert dm["Unità locali"].tolist() == [127, 128, 129, 120]
    assert any("non ha dettaglio per NIL / municipio" in c.value for c in at.caption)
    spec = chart(at, "Comune di Milano: unità locali per categoria e anno")
    assert spec["data"][0]["x"] == [2007, 2008, 2009, 2010] and spec["layout"]["xaxis"]["ticktext"][0] == "2007"
    # one line in the box, the dataset that would fill it in the details below
    assert any("Nessuna fonte caricata per le unità locali aggregate (formato ds201)" in m for m in infos(at)), infos(at)
    assert any("ds201" in c.value for c in at.caption), [c.value for c in at.caption]
    assert not any("Nessun dato sulle imprese per questa selezione" in m for m in infos(at))
    en = open_page("firms", {"lang": "en"})
    assert "Municipality of Milan: whole territory, by year (ds171)" in [s.value for s in en.subheader]


def test_vacant_former_use_assumed_ownership_and_refused_source(schema2_warehouse: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, schema2_warehouse)
    at = open_page("vacant")
    warnings = [w.value for w in at.warning]
    assert any("rifiutato" in w for w in warnings), warnings  # one line; the file and its reason in the details
    details = [c.value for c in at.caption]
    assert any("ds503" in c and "rifiutato" in c and "manca la colonna COD\\_PROG" in c for c in details), details
    table = frame_by_column(at, "Tipologia (uso precedente)")
    assert (table["Tipologia (uso precedente)"] == "Produttivo").sum() >= 3
    assert (table["Proprietà"] == "pubblica (assunta)").sum() == 3
    assert (table["Scheda ufficiale"] == "https://geoportale.example/A1.pdf").sum() == 3
    assert any("di cui 3 con proprietà assunta" in c.value for c in at.caption), [c.value for c in at.caption]


# --- a territory with one level ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_level_warehouse(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo warehouse told it describes a territory with one level ('Comune', no parent level): the pages must
    take labels and levels from the warehouse, not from what Milan has."""
    return modified_copy(warehouse, tmp_path_factory.mktemp("one") / "one.duckdb", [
        "UPDATE territory SET name_it = 'Provincia di prova', name_en = 'Test province'",
        "DELETE FROM territory_levels WHERE rank > 0",
        """UPDATE territory_levels SET label_it = 'Comune', label_en = 'Comune', plural_it = 'Comuni',
                  plural_en = 'Comuni', long_it = 'Comune', long_en = 'Comune', parent_level = NULL""",
    ])


@pytest.mark.parametrize("page", ["makerspace", "vacant", "firms"])
@pytest.mark.parametrize("lang", ["it", "en"])
def test_one_level_territory_has_no_parent_column_or_filter(one_level_warehouse: Path, monkeypatch: pytest.MonkeyPatch,
                                                            page: str, lang: str) -> None:
    use(monkeypatch, one_level_warehouse)
    at = open_page(page, {"lang": lang})
    assert [e.value for e in at.error] == []
    assert "Municipio" not in {s.label for s in at.selectbox}
    headers = [str(c) for d in at.dataframe for c in d.value.columns]
    assert headers and "Municipio" not in headers and "NIL" not in headers, headers
    texts = [e.value for kind in (at.caption, at.info, at.subheader, at.markdown) for e in kind]
    said = " ".join(x for x in texts if not x.startswith(("Dati:", "Data:")))  # the origin line names its datasets
    assert "Municipi" not in said and " NIL" not in said and "Milan" not in said, said[:600]
    if page == "makerspace":
        assert "Comune" in headers
        assert frame_by_column(at, "Pos." if lang == "it" else "Rank")["Area"].iloc[-1] == \
            ("Provincia di prova" if lang == "it" else "Test province")  # the whole territory's row
    if page == "firms":
        assert at.selectbox(key="url_nil").label == "Comune"  # the area filter is the level's, under its id


# --- the real folder ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_warehouse(real_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("real") / "warehouse.duckdb"
    build(real_dir, path, progress=quiet)
    return path


@pytest.mark.real
def test_real_build_pages_tell_the_truth(real_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the real files: ds171 city totals on Imprese (186.472 local units in 2010, no NIL detail), vacant places
    with former use and record sheets, coworking known only as per-NIL counts."""
    use(monkeypatch, real_warehouse)
    at = open_page("firms")
    table = frame_by_column(at, "Addetti delle unità locali")
    assert int(table.loc[table["Anno"] == 2010, "Unità locali"].sum()) == 186_472
    assert sorted(set(table["Anno"])) == [2007, 2008, 2009, 2010]
    assert any("ds201" in m for m in [*infos(at), *(c.value for c in at.caption)])  # the dataset that would give NIL detail
    at = open_page("vacant")
    places = frame_by_column(at, "Tipologia (uso precedente)")
    assert {"Produttivo", "Residenziale", "Terziario"} <= set(places["Tipologia (uso precedente)"])
    assert not set(places["Tipologia (uso precedente)"]) & {"Degrado/Inutilizzo", "Riqualificazione"}  # never the condition
    assert (places["Scheda ufficiale"].astype(str).str.startswith("https://geoportale.comune.milano.it/")).sum() >= 170
    at = open_page("makerspace")
    assert any("solo conteggi per NIL" in m and "110" in m for m in infos(at)), infos(at)


ALL_PAGES = ("pages/panoramica.py", "pages/mappa.py", "pages/quartiere.py", "pages/periferie.py", "pages/makerspace.py",
             "pages/spazi_vuoti.py", "pages/imprese.py", "pages/dati.py", "pages/seduta.py", "pages/obiettivi.py")
# What must never reach a user: raw keys of missing values, file names of the code, developer words.
LEAKS = re.compile(r"\b(?:trust|status|cat|class|place_status|th_vstatus|th_owner|level|theme)_(?:nan|None|NaT)\b|"
                   r"config/|\.toml\b|\betl\.|EPSG:|\bwarehouse\b|\[composite|count\(|\bNone\b|\bnan\b")
# The Dati page is the detail for data officers: a file's coordinate system (EPSG code) is part of that detail.
DATA_PAGE_LEAKS = re.compile(LEAKS.pattern.replace("EPSG:|", ""))


def shown_text(at: AppTest) -> list[str]:
    """Every text a user reads on the page: Markdown, captions, boxes, metric labels, table headers and cells."""
    texts = [e.value for kind in (at.markdown, at.caption, at.info, at.warning, at.error, at.subheader, at.title)
             for e in kind]
    texts += [m.label for m in at.metric] + [str(m.value) for m in at.metric]
    for frame in at.dataframe:
        value = frame.value
        texts += [str(c) for c in value.columns]
        texts += [v for col in value.columns for v in value[col].tolist() if isinstance(v, str)]  # pandas 3: str dtype
    return texts


@pytest.mark.real
@pytest.mark.parametrize("lang", ["it", "en"])
def test_real_build_shows_no_raw_keys_or_developer_words(real_warehouse: Path, monkeypatch: pytest.MonkeyPatch,
                                                         lang: str) -> None:
    """Every page on the real build, in both languages: no 'trust_nan', no None/nan, no config file or module
    name; one clear data-origin line per publisher; a theme without data says so in one short line."""
    use(monkeypatch, real_warehouse)
    at = AppTest.from_file(str(APP), default_timeout=120)
    if lang == "en":
        at.query_params["lang"] = "en"
    at.run()
    for page in ALL_PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        pattern = DATA_PAGE_LEAKS if page == "pages/dati.py" else LEAKS
        texts = shown_text(at)
        if page == "pages/dati.py":  # the build's instruction to the data officer for an unrecognised file names the file to edit
            texts = [x for x in texts if not x.startswith("nessuna fonte riconosce questo file")]
        leaks = [(page, text[:200]) for text in texts if pattern.search(text.replace("\\", ""))]
        assert not leaks, leaks
        origin = [c.value for c in at.caption if c.value.startswith(("Dati:", "Data:"))]
        assert len(origin) == 1 and origin[0].count("Comune di Milano") == 1, (page, origin)
        for box in [*at.info, *at.warning]:
            assert len(box.value) <= 260, (page, box.value)  # one line; the detail is in an expander
        if page != "pages/dati.py":  # sentences name a source as readers know it, never by its internal id
            ids = {r[0] for r in duckdb.connect(str(real_warehouse), read_only=True).sql(
                "SELECT source_id FROM sources").fetchall() if "_" in r[0]}  # 'makerspaces' is also a word
            said = [e.value for kind in (at.caption, at.info, at.warning) for e in kind]
            named = [(page, x[:160]) for x in said for sid in ids if re.search(rf"(?<![\w:]){sid}(?![\w:])", x)]
            assert not named, named


def test_data_page_names_the_territory_and_lists_loaded_sources_first(one_level_warehouse: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, one_level_warehouse)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("pages/dati.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(c.value.startswith("Territorio: Provincia di prova. Livelli delle aree, dal più fine: Comune")
               for c in at.caption), [c.value for c in at.caption]
    states = frame_by_column(at, "Righe lette")["Stato"].tolist()
    assert "caricato" in states and states == sorted(states, key=lambda s: s != "caricato")  # loaded first
