"""The read side: osservatorio.data queries on real DuckDB files, and the Panoramica page through AppTest."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pytest
import shapely
import streamlit as st
from streamlit.testing.v1 import AppTest

from etl.pipeline import build
from osservatorio import data

if TYPE_CHECKING:
    from conftest import Helpers

APP = Path(__file__).resolve().parents[1] / "app.py"
DEMO_YEAR = 2021  # the latest year of the demo population


# --- osservatorio.data on the demo warehouse -------------------------------------------------------------

def test_build_info(demo_con: duckdb.DuckDBPyConnection) -> None:
    info = data.build_info(demo_con)
    assert info.mode == "demo"
    assert info.is_demo
    assert info.raw_dir is None
    assert info.finished_at is not None


def test_build_info_on_an_empty_database(tmp_path: Path) -> None:
    duckdb.connect(str(tmp_path / "vuoto.duckdb")).close()
    con = duckdb.connect(str(tmp_path / "vuoto.duckdb"), read_only=True)
    try:
        with pytest.raises(data.WarehouseError, match="tabella build assente"):
            data.build_info(con)
    finally:
        con.close()


def test_district_stats_nil(demo_con: duckdb.DuckDBPyConnection) -> None:
    stats = data.district_stats(demo_con, "nil")
    assert list(stats.columns) == ["id", "name", "parent_id", "area_km2", "residents", "population_year", "density_km2",
                                   "geometry_trust", "population_trust", "population_source"]
    assert stats["id"].tolist() == list(range(1, 89))
    latest = dict(demo_con.sql("SELECT district_id, residents FROM population WHERE level = 'nil' AND year = $y",
                               params={"y": DEMO_YEAR}).fetchall())
    assert dict(zip(stats["id"], stats["residents"], strict=True)) == latest  # the latest year is the current figure
    assert set(stats["population_year"]) == {DEMO_YEAR}
    np.testing.assert_allclose(stats["density_km2"], stats["residents"] / stats["area_km2"])
    assert set(stats["geometry_trust"]) == set(stats["population_trust"]) == {"demo"}
    assert set(stats["population_source"]) == {"population_nil"}
    assert stats["parent_id"].between(1, 9).all()


def test_district_stats_municipio(demo_con: duckdb.DuckDBPyConnection) -> None:
    stats = data.district_stats(demo_con, "municipio")
    nil = data.district_stats(demo_con, "nil")
    assert stats["id"].tolist() == list(range(1, 10))
    assert stats["parent_id"].isna().all()
    expected = nil.groupby("parent_id")["residents"].sum()
    assert dict(zip(stats["id"], stats["residents"], strict=True)) == {int(k): int(v) for k, v in expected.items()}
    np.testing.assert_allclose(stats["area_km2"].sum(), nil["area_km2"].sum(), rtol=1e-9)


def test_territory_summary(demo_con: duckdb.DuckDBPyConnection) -> None:
    summary = data.territory_summary(demo_con)
    nil = data.district_stats(demo_con, "nil")
    assert summary["level"] == "nil"  # the finest level the build stored, not a literal of the app
    assert summary["area_count"] == 88
    assert summary["residents"] == int(nil["residents"].sum())
    assert summary["areas_without_population"] == 0
    assert summary["area_km2"] == pytest.approx(nil["area_km2"].sum())
    assert summary["density_km2"] == pytest.approx(nil["residents"].sum() / nil["area_km2"].sum())


@pytest.mark.parametrize(("level", "count"), [("nil", 88), ("municipio", 9)])
def test_map_geojson(demo_con: duckdb.DuckDBPyConnection, level: str, count: int) -> None:
    collection = data.map_geojson(demo_con, level)
    assert collection["type"] == "FeatureCollection"
    assert [f["id"] for f in collection["features"]] == list(range(1, count + 1))
    for feature in collection["features"]:
        geom = shapely.geometry.shape(feature["geometry"])
        assert geom.geom_type in ("Polygon", "MultiPolygon")
        assert geom.is_valid and not geom.is_empty
    json.dumps(collection)  # serialisable as is


def test_sources(demo_con: duckdb.DuckDBPyConnection) -> None:
    frame = data.sources(demo_con)
    assert {"source_id", "path", "status", "trust", "rows_read", "rows_loaded", "licence", "notes"} <= set(frame.columns)
    foundation = frame[frame["source_id"].isin(["municipi_boundaries", "nil_boundaries", "population_nil"])]
    assert foundation[["source_id", "status", "trust", "rows_loaded"]].values.tolist() == [
        ["municipi_boundaries", "loaded", "demo", 9],
        ["nil_boundaries", "loaded", "demo", 88],
        ["population_nil", "loaded", "demo", 528],
    ]
    assert set(frame["trust"]) == {"demo"}


def test_rejects_empty_on_demo(demo_con: duckdb.DuckDBPyConnection) -> None:
    frame = data.rejects(demo_con)
    assert frame.empty
    assert list(frame.columns) == ["source_id", "path", "row_number", "action", "reason", "raw"]


def test_rejects_filter_by_source(tmp_path: Path, h: Helpers) -> None:
    out = tmp_path / "warehouse.duckdb"
    build(h.write_raw_dir(tmp_path / "raw"), out, progress=h.quiet)
    con = duckdb.connect(str(out), read_only=True)
    try:
        every = data.rejects(con)
        assert every[["source_id", "row_number", "action", "reason"]].values.tolist() == [
            ["population_nil", 9, "rejected", "NIL 99 sconosciuto: non è tra i NIL caricati"],
        ]
        assert json.loads(every["raw"].iloc[0])["nil"] == "Quartiere inesistente"
        assert len(data.rejects(con, "population_nil")) == 1
        assert data.rejects(con, "nil_boundaries").empty
    finally:
        con.close()


@pytest.mark.parametrize("level", ["quartiere", "NIL", "", "nil'; DROP TABLE districts; --", "municipio ", "comune",
                                   "territory"])
def test_check_level_rejects_unknown_levels(demo_con: duckdb.DuckDBPyConnection, level: str) -> None:
    with pytest.raises(ValueError, match="livello sconosciuto"):
        data.check_level(level, data.area_levels(demo_con))
    with pytest.raises(ValueError, match="livello sconosciuto"):
        data.district_stats(demo_con, level)
    with pytest.raises(ValueError, match="livello sconosciuto"):
        data.map_geojson(demo_con, level)
    assert demo_con.sql("SELECT count(*) FROM districts").fetchall() == [(97,)]


def test_check_level_accepts_the_levels_of_the_warehouse(demo_con: duckdb.DuckDBPyConnection) -> None:
    levels = data.area_levels(demo_con)
    assert levels == ("nil", "municipio")  # territory_levels, finest first
    assert [data.check_level(level, levels) for level in levels] == ["nil", "municipio"]
    assert data.check_indicator_level("territory", levels) == "territory"
    assert data.check_indicator_level("periphery_class", levels) == "periphery_class"
    with pytest.raises(ValueError, match="livello sconosciuto"):
        data.check_indicator_level("city", levels)  # renamed 'territory' in schema 3
    with pytest.raises(ValueError, match="livello sconosciuto"):
        data.indicator_values(demo_con, "x", "makerspaces", "comune")


def test_a_one_level_territory_accepts_only_its_level(tmp_path: Path) -> None:
    """A territory whose only level is 'comune' (schema applied by hand, no build): 'nil' is refused."""
    from etl.sql import schema_sql

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        con.execute(schema_sql())
        con.execute("""INSERT INTO territory VALUES ('provincia_x', 'Provincia X', 'Province X', 10.0, 45.1, 'Piazza',
                       'Square', 'EPSG:7791', 9.5, 44.9, 10.5, 45.5, 'v1', 'sha')""")
        con.execute("""INSERT INTO territory_levels VALUES ('comune', 0, NULL, 'comuni_istat', 3, 'Comune', 'Comune',
                       'Comuni', 'Comuni', NULL, NULL)""")
        assert data.area_levels(con) == ("comune",)
        assert data.district_stats(con, "comune").empty
        assert data.territory_summary(con)["level"] == "comune"
        assert data.territory_summary(con)["residents"] is None  # no population: never a zero
        with pytest.raises(ValueError, match="livello sconosciuto"):
            data.district_stats(con, "nil")
        with pytest.raises(ValueError, match="livello sconosciuto"):
            data.area_counts(con, "coworking", "municipio")
    finally:
        con.close()


# --- the Panoramica page (AppTest, in process) ----------------------------------------------------------

@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh warehouse path, offline map style, and empty Streamlit caches before and after."""
    path = tmp_path / "data" / "warehouse.duckdb"
    monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(path))
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.delenv("OSSERVATORIO_AUTO_DEMO", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield path
    st.cache_data.clear()
    st.cache_resource.clear()


def run_app(lang: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if lang:
        at.query_params["lang"] = lang
    at.run()
    return at


SVG = "{http://www.w3.org/2000/svg}"


def map_svg(at: AppTest) -> ET.Element:
    """Panoramica's one map: a static SVG shown by st.image (no plotly chart on the first page, issue 15)."""
    assert len(at.get("plotly_chart")) == 0
    images = at.get("image")
    assert len(images) == 1
    url = images[0].proto.imgs[0].url
    assert url.startswith("data:image/svg+xml;base64,")
    assert images[0].proto.imgs[0].alt.startswith(("Mappa: ", "Map: "))
    return ET.fromstring(base64.b64decode(url.split(",", 1)[1]))


def chart_locations(at: AppTest) -> list[int]:
    """The area ids the map draws, from each area path's <title> ("id · name: value")."""
    root = map_svg(at)
    paths = root.findall(f".//{SVG}path")
    titles = [p.find(f"{SVG}title") for p in paths]
    return sorted(int(re.match(r"\d+", t.text or "").group()) for t in titles if t is not None)  # type: ignore[union-attr]


def unescape(markdown: str) -> str:
    """A message whose values are Markdown-escaped, as the reader sees it."""
    return re.sub(r"\\(.)", r"\1", markdown)


def build_mode(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return str(con.sql("SELECT mode FROM build ORDER BY started_at DESC LIMIT 1").fetchall()[0][0])
    finally:
        con.close()


def test_fresh_machine_builds_the_demo(app_env: Path) -> None:
    assert not app_env.exists()
    at = run_app()
    assert not at.exception, [e.value for e in at.exception]
    assert app_env.exists()  # the app asked the ETL for the demo bundle
    banners = [w.value for w in at.warning]
    if build_mode(app_env) == "demo":  # the default bundle may be demo data or an embedded real bundle
        assert any("dimostrativi" in b for b in banners), banners
    else:
        assert not any("dimostrativi" in b for b in banners), banners
    assert [e.value for e in at.error] == []
    labels = [m.label for m in at.metric]  # the population row first; the programme headlines follow (indicator tests)
    assert labels[:5] == ["Residenti", "NIL", "Superficie (km²)", "Densità (ab./km²)", "NIL senza popolazione"]
    values = {m.label: m.value for m in at.metric}
    assert values["NIL"] == "88"
    con = duckdb.connect(str(app_env), read_only=True)
    try:
        summary = data.territory_summary(con)
    finally:
        con.close()
    residents = summary["residents"]
    assert values["NIL senza popolazione"] == str(summary["areas_without_population"])  # as built, not assumed
    assert values["Residenti"] == f"{residents:,}".replace(",", ".")  # Italian thousands dots
    assert chart_locations(at) == list(range(1, 89))


def test_english(app_env: Path) -> None:
    at = run_app(lang="en")
    assert not at.exception
    assert [m.label for m in at.metric][:5] == ["Residents", "NILs", "Area (km²)", "Density (inh./km²)",
                                                "NILs without population"]
    assert any("Demo data" in w.value for w in at.warning) == (build_mode(app_env) == "demo")
    assert "," in {m.label: m.value for m in at.metric}["Residents"]  # English thousands commas
    assert chart_locations(at) == list(range(1, 89))


def test_unreadable_warehouse(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")
    app_env.parent.mkdir(parents=True)
    garbage = b"questo non e' un file DuckDB\x00\xff" * 200
    app_env.write_bytes(garbage)
    at = run_app()
    assert not at.exception, [e.value for e in at.exception]
    errors = [unescape(e.value) for e in at.error]
    assert len(errors) == 1
    assert errors[0].startswith(f"Il warehouse {app_env} non è leggibile")
    assert "python -m etl build" in errors[0]
    assert len(at.metric) == 0
    assert app_env.read_bytes() == garbage  # the app never writes over a warehouse


def test_missing_warehouse_without_auto_demo(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")
    at = run_app()
    assert not at.exception, [e.value for e in at.exception]
    errors = [unescape(e.value) for e in at.error]
    assert errors == [f"Il warehouse non esiste ancora: {app_env}. Costruirlo con `python -m etl build`."]
    assert len(at.metric) == 0
    assert not app_env.exists()


def test_warehouse_before_territories_asks_for_a_rebuild(app_env: Path, demo_warehouse: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A build of schema 2 (no territory tables) is the 'rebuild' message, not an exception."""
    import shutil

    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")
    app_env.parent.mkdir(parents=True)
    shutil.copy(demo_warehouse, app_env)
    con = duckdb.connect(str(app_env))
    try:
        con.execute("DROP TABLE territory")
        con.execute("DROP TABLE territory_levels")
    finally:
        con.close()
    at = run_app()
    assert not at.exception, [e.value for e in at.exception]
    errors = [unescape(e.value) for e in at.error]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"Il warehouse {app_env} non è leggibile"), errors
    assert "mancano territory, territory_levels" in errors[0] and "python -m etl build" in errors[0]
    assert len(at.metric) == 0


def test_real_mode_warehouse_has_no_demo_banner(app_env: Path, h: Helpers) -> None:
    """A warehouse built from files: no demo banner, the page counts the NIL it has."""
    build(h.write_raw_dir(app_env.parent / "raw"), app_env, progress=h.quiet)
    at = run_app()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("dimostrativi" in w.value for w in at.warning)
    values = {m.label: m.value for m in at.metric}
    assert values["NIL"] == "8"
    assert values["Residenti"] == "36.234"
    assert chart_locations(at) == list(range(1, 9))


def test_wide_tables_bound_long_text_columns() -> None:
    """A table with many columns gives long texts a bounded width, so the columns on the right stay in view
    (Quartiere's 'Anno dei dati', Dati's licence and path were cut off)."""
    def page() -> None:
        import pandas as pd

        from osservatorio import ui

        frame = pd.DataFrame({"Indicatore": ["Unità locali di manifattura digitale ogni 1.000 residenti"],
                              "Unità": ["per 1.000 res."], "NIL": [1.5], "Municipio": [2.5], "Classe": [3.5],
                              "Milano": [4.5], "Confronto": ["migliore della città (conteggio non comparabile)"]})
        ui.table(frame, "it")
        ui.table(frame[["Indicatore", "NIL"]], "it")

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    wide, narrow = (json.loads(d.proto.columns) if d.proto.columns else {} for d in at.dataframe)
    assert wide["Indicatore"]["width"] == "medium" and wide["Confronto"]["width"] == "medium"
    assert "Unità" not in wide and "Indicatore" not in narrow
