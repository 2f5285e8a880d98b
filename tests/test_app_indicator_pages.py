"""The indicator pages (Mappa, Quartiere, Periferie, Panoramica) through AppTest, on real demo warehouses."""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from etl.pipeline import build

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
PAGES = {"map": "pages/mappa.py", "district": "pages/quartiere.py", "periphery": "pages/periferie.py",
         "overview": "pages/panoramica.py"}
TITLES = {"it": {"map": "Mappa", "district": "Quartiere", "periphery": "Periferie", "overview": "Panoramica"},
          "en": {"map": "Map", "district": "District", "periphery": "Peripheries", "overview": "Overview"}}


def quiet(_message: str) -> None:
    """Progress sink for the builds."""


def snapshot_count(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(con.sql("SELECT count(*) FROM snapshots").fetchall()[0][0])
    finally:
        con.close()


def build_with_indicators(path: Path, previous: Path | None = None) -> Path:
    """A demo warehouse with a snapshot. Until the pipeline calls compute_all itself, call it here."""
    report = build(None, path, progress=quiet)
    if snapshot_count(path) == 0:
        from etl.indicators import compute_all

        con = duckdb.connect(str(path))
        try:
            compute_all(con, report.build_id, "demo", previous, quiet)
            con.execute("CHECKPOINT")
        finally:
            con.close()
    return path


def modified_copy(source: Path, target: Path, statements: list[str]) -> Path:
    """`source` with `statements` applied, rewritten into a fresh file (COPY FROM DATABASE) so that the
    file has no free blocks left by the deletes."""
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
        con.execute("CHECKPOINT")
    finally:
        con.close()
    scratch.unlink()
    return target


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Warehouses built once: one snapshot, two snapshots, none (indicator tables emptied), and an old
    file without the indicator tables at all."""
    folder = tmp_path_factory.mktemp("indicator_pages")
    one = build_with_indicators(folder / "one.duckdb")
    two_prev = folder / "two_prev.duckdb"
    shutil.copy(one, two_prev)
    two = folder / "two.duckdb"
    shutil.copy(two_prev, two)  # the pipeline builds over the installed file and reads it as `previous`
    build_with_indicators(two, previous=two_prev)
    if snapshot_count(two) < 2:  # the build did not carry the history forward: add a second snapshot in place
        from etl.indicators import compute_all

        con = duckdb.connect(str(two))
        try:
            compute_all(con, "second-snapshot", "demo", None, quiet)
            con.execute("CHECKPOINT")
        finally:
            con.close()
    tables = ("snapshots", "indicator_values", "indicator_catalogue", "district_groups", "taxonomy_changes", "target_status")
    none = modified_copy(one, folder / "none.duckdb", [f"DELETE FROM {t}" for t in tables])  # noqa: S608 fixed names
    old = modified_copy(none, folder / "old.duckdb", [f"DROP TABLE {t}" for t in tables])  # noqa: S608 fixed names
    # No makerspace source in this build (ds744 registered, absent) and coworking only as counts per NIL.
    nosource = modified_copy(one, folder / "nosource.duckdb", [
        "DELETE FROM places WHERE theme IN ('makerspace', 'coworking')",
        "UPDATE source_catalogue SET state = 'absent' WHERE source_id = 'makerspaces'",  # the build's own entry
        "INSERT INTO area_counts SELECT 'nil', id, 'coworking', 2024, id % 3, 'platform_nil', 'c.json', 'derived' "
        "FROM districts WHERE level = 'nil'",
        "UPDATE indicator_values SET value = NULL, reason = 'nessuna fonte dei makerspace' "
        "WHERE indicator_id IN ('makerspaces_count', 'makerspaces_per_100k')",
    ])
    return {"one": one, "two": two, "none": none, "old": old, "nosource": nosource}


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch, warehouses: dict[str, Path]) -> Iterator[Callable[[str], Path]]:
    """Point the app at one of the warehouses (offline map style, no automatic demo); empty caches."""
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")

    def choose(name: str) -> Path:
        monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(warehouses[name]))
        st.cache_data.clear()
        st.cache_resource.clear()
        return warehouses[name]

    choose("one")
    yield choose
    st.cache_data.clear()
    st.cache_resource.clear()


def open_page(page: str, **params: str) -> AppTest:
    """Run the app on one page with the given query parameters (as a link would)."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.switch_page(PAGES[page])
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == []


def typed(value: Any) -> list[Any]:
    """Plotly writes numeric arrays as {'dtype', 'bdata'} (base64); plain lists stay lists."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).tolist()
    return list(value)


def chart(at: AppTest, index: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def overview_svg(at: AppTest) -> str:
    """Panoramica's map: the SVG inside its st.image data URL."""
    (image,) = at.get("image")
    return base64.b64decode(image.proto.imgs[0].url.split(",", 1)[1]).decode("utf-8")


def choropleth_locations(spec: dict) -> list[int]:
    return sorted(int(x) for tr in spec["data"] if tr["type"] == "choroplethmap" for x in typed(tr["locations"]))


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def unescape(markdown: str) -> str:
    """Text escaped with views.md_text, as the reader sees it."""
    return re.sub(r"\\(.)", r"\1", markdown)


def peripheral_with_most_values(path: Path) -> set[str]:
    """The peripheral NIL with the most indicator values in the latest snapshot (the district page opens on one)."""
    from osservatorio import data

    con = duckdb.connect(str(path), read_only=True)
    try:
        snapshot = str(data.snapshots(con)["snapshot_id"].iloc[0])
        groups = data.district_groups(con, snapshot)
        counts = data.area_value_counts(con, snapshot)
    finally:
        con.close()
    classes = groups[groups["group_level"] == "periphery_class"]
    peripheral = set(classes.loc[classes["group_id"] == "periferia", "district_id"])
    counts = counts[counts["district_id"].isin(peripheral)]
    return {str(i) for i in counts.loc[counts["with_value"] == counts["with_value"].max(), "district_id"]}


# --- every page renders ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders(use: Callable[[str], Path], page: str, lang: str) -> None:
    at = open_page(page, lang=lang)
    ok(at)
    assert at.title[0].value == TITLES[lang][page]
    for spec in (chart(at, i) for i in range(len(at.get("plotly_chart")))):
        types = {tr["type"] for tr in spec["data"]}
        assert not types & {"choropleth", "scattergeo", "choroplethmapbox", "scattermapbox"}  # MapLibre only: offline
        if "map" in spec["layout"]:
            assert spec["layout"]["map"]["style"] == "white-bg"


@pytest.mark.parametrize("warehouse", ["none", "old"])
@pytest.mark.parametrize("page", ["map", "district", "periphery", "overview"])
def test_pages_without_snapshot_say_so(use: Callable[[str], Path], page: str, warehouse: str) -> None:
    use(warehouse)
    at = open_page(page)
    ok(at)
    assert any("nessuno snapshot" in i for i in infos(at)), infos(at)


# --- Mappa ---------------------------------------------------------------------------------------------------

def test_map_defaults(use: Callable[[str], Path]) -> None:
    at = open_page("map")
    ok(at)
    assert at.selectbox(key="url_indicatore").value == "makerspaces_per_100k"
    assert at.selectbox(key="url_livello").value == "nil"
    assert at.checkbox(key="url_strati_makerspace").value and not at.checkbox(key="url_strati_firm").value
    spec = chart(at)
    assert choropleth_locations(spec) == list(range(1, 89))
    assert sum(len(tr["geojson"]["features"]) for tr in spec["data"] if tr["type"] == "choroplethmap") == 88  # no duplicates
    present = [tr for tr in spec["data"] if tr["type"] == "choroplethmap" and tr.get("showscale") is not False][0]
    assert present["colorbar"]["title"]["text"] == "per 100.000 ab."  # legend title = unit
    assert [tr["name"] for tr in spec["data"] if tr["type"] == "scattermap"] == ["Makerspace e fablab"]
    assert len(at.dataframe[0].value) == 88
    assert len(at.get("download_button")) >= 4  # CSV, CSV Excel-IT, XLSX, GeoJSON


def test_indicator_change_updates_the_map(use: Callable[[str], Path]) -> None:
    at = open_page("map")
    before = at.get("plotly_chart")[0].proto.spec
    at.selectbox(key="url_indicatore").set_value("makerspace_distance_m").run()
    ok(at)
    after = at.get("plotly_chart")[0].proto.spec
    assert after != before
    spec = json.loads(after)
    assert spec["layout"]["title"]["text"] == "Distanza dal makerspace più vicino"
    present = [tr for tr in spec["data"] if tr["type"] == "choroplethmap" and tr.get("showscale") is not False][0]
    assert present["reversescale"] is True  # lower is better
    assert at.query_params["indicatore"] == "makerspace_distance_m"


def test_level_switch(use: Callable[[str], Path]) -> None:
    at = open_page("map")
    at.selectbox(key="url_livello").set_value("municipio").run()
    ok(at)
    assert choropleth_locations(chart(at)) == list(range(1, 10))
    assert len(at.dataframe[0].value) == 9
    assert at.query_params["livello"] == "municipio"


def test_nil_only_indicator_offers_nil_only(use: Callable[[str], Path]) -> None:
    at = open_page("map", indicatore="opportunity_score", livello="municipio")
    ok(at)
    assert at.selectbox(key="url_livello").options == ["NIL"]
    assert any("'municipio'" in i for i in infos(at))  # the link's level is not valid for this indicator: said so


def test_layers(use: Callable[[str], Path]) -> None:
    at = open_page("map")
    at.checkbox(key="url_strati_firm").check().run()
    at.checkbox(key="url_strati_makerspace").uncheck().run()
    ok(at)
    names = [tr["name"] for tr in chart(at)["data"] if tr["type"] == "scattermap"]
    assert names == ["Imprese"]
    assert at.query_params["strati"] == "firm"
    assert any("celle di circa 500 m" in c.value for c in at.caption)  # aggregation is stated
    at.checkbox(key="url_strati_firm").uncheck().run()
    ok(at)
    assert [tr for tr in chart(at)["data"] if tr["type"] == "scattermap"] == []
    assert at.query_params["strati"] == ""


def test_query_param_round_trip(use: Callable[[str], Path]) -> None:
    at = open_page("map", indicatore="vacant_count", livello="municipio", strati="vacant,firm")
    ok(at)
    assert infos(at) == []
    assert at.selectbox(key="url_indicatore").value == "vacant_count"
    assert at.selectbox(key="url_livello").value == "municipio"
    assert [th for th in ("makerspace", "coworking", "vacant", "firm") if at.checkbox(key=f"url_strati_{th}").value] == \
        ["vacant", "firm"]
    assert {k: at.query_params[k] for k in ("indicatore", "livello", "strati")} == \
        {"indicatore": "vacant_count", "livello": "municipio", "strati": "vacant,firm"}
    assert choropleth_locations(chart(at)) == list(range(1, 10))


def test_unknown_url_values_fall_back(use: Callable[[str], Path]) -> None:
    at = open_page("map", indicatore="__import__('os').system('x')", livello="quartiere", strati="makerspace,<script>")
    ok(at)
    messages = infos(at)
    assert len(messages) == 3, messages
    assert at.selectbox(key="url_indicatore").value == "makerspaces_per_100k"
    assert at.selectbox(key="url_livello").value == "nil"
    assert at.checkbox(key="url_strati_makerspace").value
    assert at.query_params["strati"] == "makerspace"  # the bad value is gone from the link


def test_click_on_a_nil_opens_its_profile(use: Callable[[str], Path]) -> None:
    """A click on a NIL (a Plotly selection event with its location) switches to the district page."""
    at = open_page("map")
    proto = at.get("plotly_chart")[0].proto
    if not hasattr(at, "_run") or not hasattr(at, "_tree"):
        pytest.skip("AppTest internals changed: cannot inject a chart selection")
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    states = at._tree.get_widget_states()
    selection = WidgetState(id=proto.id)
    selection.string_value = json.dumps({"selection": {"points": [{"curve_number": 1, "point_index": 11, "location": 12}],
                                                       "point_indices": [11], "box": [], "lasso": []}})
    states.widgets.append(selection)
    at._run(widget_state=states)
    ok(at)
    assert at.header[0].value.startswith("12 · ")
    assert at.query_params["nil"] == "12" and at.query_params["lang"] == "it"


def test_profile_link_fallback(use: Callable[[str], Path]) -> None:
    at = open_page("map", lang="en")
    ok(at)
    at.selectbox(key="map_profile_pick").set_value("12").run()
    links = [el for el in at.get("page_link") if el.proto.label == "Open the profile"]
    assert len(links) == 1
    assert "nil=12" in links[0].proto.query_string and "lang=en" in links[0].proto.query_string


def test_english(use: Callable[[str], Path]) -> None:
    at = open_page("map", lang="en", indicatore="firms_dm_share")
    ok(at)
    assert at.selectbox(key="url_indicatore").label == "Indicator"
    assert chart(at)["layout"]["title"]["text"] == "Digital-manufacturing share of local units"
    assert "Area id" in at.dataframe[0].value.columns


# --- Quartiere -------------------------------------------------------------------------------------------------

def test_district_from_url(use: Callable[[str], Path]) -> None:
    at = open_page("district", nil="12")
    ok(at)
    assert at.selectbox(key="url_nil").value == "12"
    header = unescape(at.header[0].value)
    assert header.startswith("12 · ")
    profile = at.dataframe[0].value
    assert header in profile.columns and "Comune di Milano" in profile.columns  # the territory's name, from the warehouse
    assert any(c.startswith("Municipio ") for c in profile.columns)
    assert any(c.startswith("Classe: ") for c in profile.columns)
    assert "Affidabilità" in profile.columns and set(profile["Affidabilità"]) <= {"dimostrativo", ""}
    titles = [s.value for s in at.subheader]
    assert titles == ["Indicatori del NIL", "Luoghi del programma nel NIL", "Azioni del programma",
                      "Imprese per categoria del programma", "Andamento"]
    assert len(at.get("plotly_chart")) == 3  # NIL map, firm mix, trend


def test_district_unknown_nil_falls_back(use: Callable[[str], Path]) -> None:
    at = open_page("district", nil="999")
    ok(at)
    assert any("'999'" in i for i in infos(at))
    assert at.selectbox(key="url_nil").value in peripheral_with_most_values(use("one"))  # not "1 · DUOMO"


def test_district_trend_indicator(use: Callable[[str], Path]) -> None:
    at = open_page("district", nil="12", indicatore="residents")
    ok(at)
    trend = chart(at, 2)
    assert trend["data"][0]["name"] == "per anno dei dati"
    assert len(typed(trend["data"][0]["y"])) >= 2  # demo residents: several years


# --- Periferie -------------------------------------------------------------------------------------------------

def test_periphery(use: Callable[[str], Path]) -> None:
    at = open_page("periphery")
    ok(at)
    spec = chart(at)
    assert [tr["name"] for tr in spec["data"]] == ["Centro", "Semicentro", "Periferia"]
    assert choropleth_locations(spec) == list(range(1, 89))
    text = " ".join(m.value for m in at.markdown)
    assert "Versione della classificazione" in text and "Duomo" in text
    comparison = at.dataframe[1].value
    assert {"Centro", "Semicentro", "Periferia", "Comune di Milano"} <= set(comparison.columns)
    assert at.selectbox(key="url_indicatore").value == "opportunity_score"
    ranking = at.dataframe[-1].value
    ranked = ranking.dropna(subset=["Valore"])
    assert list(ranked["Valore"]) == sorted(ranked["Valore"], reverse=True)  # higher is better: best first
    assert ranking["Posizione"].iloc[0] == 1


def test_periphery_ranking_lower_is_better(use: Callable[[str], Path]) -> None:
    at = open_page("periphery", indicatore="makerspace_distance_m", classe="semicentro")
    ok(at)
    ranking = at.dataframe[-1].value.dropna(subset=["Valore"])
    assert list(ranking["Valore"]) == sorted(ranking["Valore"])  # lower is better: nearest first


# --- Panoramica ------------------------------------------------------------------------------------------------

def test_overview_one_snapshot(use: Callable[[str], Path]) -> None:
    at = open_page("overview")
    ok(at)
    assert any("nessuno snapshot precedente" in c.value for c in at.caption)
    labels = [m.label for m in at.metric]
    assert labels[:5] == ["Residenti", "NIL", "Superficie (km²)", "Densità (ab./km²)", "NIL senza popolazione"]
    assert labels.count("Makerspace e fablab") == 2  # city and periphery
    assert all(m.delta in ("", None) for m in at.metric)
    assert len(at.get("plotly_chart")) == 0 and at.selectbox(key="url_mappa").value == "density"  # a static SVG map
    assert "<svg" in overview_svg(at)


def test_overview_two_snapshots_and_map_choice(use: Callable[[str], Path]) -> None:
    use("two")
    at = open_page("overview")
    ok(at)
    assert any("rispetto allo snapshot precedente" in c.value for c in at.caption)
    deltas = [m.delta for m in at.metric[5:]]
    assert deltas and all(d not in ("", None) for d in deltas)  # the same demo data twice: every change is 0
    density = overview_svg(at)
    at.selectbox(key="url_mappa").set_value("makerspaces_per_100k").run()
    ok(at)
    chosen = overview_svg(at)
    assert chosen != density and "Makerspace" in chosen and not at.get("plotly_chart")
    assert at.query_params["mappa"] == "makerspaces_per_100k"
    link = at.get("page_link")[0].proto  # the interactive map of the same indicator, same language
    assert link.page == "mappa" and "indicatore=makerspaces_per_100k" in link.query_string and "lang=it" in link.query_string


# --- warm reruns -----------------------------------------------------------------------------------------------

def test_warm_rerun_reads_nothing_again(use: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from osservatorio import data

    calls: list[str] = []
    for name in ("indicator_values", "catalogue", "map_geojson", "district_stats", "places", "firm_cells"):
        original = getattr(data, name)

        def counting(*args: Any, _original: Callable[..., Any] = original, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(data, name, counting)
    at = open_page("map", strati="makerspace,firm")
    ok(at)
    assert calls
    calls.clear()
    at.checkbox(key="url_strati_coworking").check().run()  # only the coworking layer is new
    ok(at)
    assert calls == ["places"]
    calls.clear()
    at.checkbox(key="url_strati_coworking").uncheck().run()
    ok(at)
    assert calls == []


# --- untrusted text, sources that were never loaded, defaults with values ------------------------------------------

# What Markdown would render as a link, an image, a directive, LaTeX or HTML if left unescaped.
ACTIVE_MARKDOWN = re.compile(r"(?<!\\)[\[\]!<$]|(?<!\\)https?(?<!\\):|www(?<!\\)\.|(?<!\\):[a-z/]+(?<!\\)\[")


def test_url_values_are_shown_as_text(use: Callable[[str], Path]) -> None:
    at = open_page("map", indicatore="![x](http://host/x.png)", strati="[Accedi](http://x)")
    ok(at)
    messages = [i for i in infos(at) if "non è valido" in i]
    assert len(messages) == 2, infos(at)
    for message in messages:
        assert not ACTIVE_MARKDOWN.search(message), message  # no remote image, no link
    assert "![x](http://host/x.png)" in unescape(messages[0]) and "[Accedi](http://x)" in unescape(messages[1])


def test_theme_without_source_is_not_a_zero(use: Callable[[str], Path]) -> None:
    use("nosource")
    at = open_page("district", nil="5")
    ok(at)
    texts = infos(at)
    assert any(t.startswith("Nessuna fonte caricata per i makerspace e fablab") and len(t) < 200 for t in texts), texts
    details = [c.value for c in at.caption]  # the detail sits in an expander under the one-line box
    assert any(t.startswith("Nessuna fonte caricata per i makerspace e fablab") and "ds744 «FabLab Milano»" in t
               and "Scaricarlo e ricostruire i dati" in t for t in details), details
    texts = texts + details
    assert not any("Nessun elemento (makerspace" in c.value for c in at.caption)
    assert any("conteggio per NIL" in t and "platform\\_nil" in t for t in texts), texts  # coworking: counts, no list
    at = open_page("map", strati="makerspace,coworking")
    ok(at)
    assert [tr["name"] for tr in chart(at)["data"] if tr["type"] == "scattermap"] == []  # no empty layers drawn
    assert any("Nessuna fonte caricata per i makerspace" in t for t in infos(at))
    assert any("Per gli spazi di coworking ci sono solo conteggi per NIL" in t for t in infos(at)), infos(at)
    assert at.checkbox(key="url_strati_makerspace").label.endswith("— senza dati")
    at = open_page("overview")
    ok(at)
    counts = next(d.value for d in at.dataframe if "Stato della fonte" in d.value.columns)
    row = counts[counts["Tema"] == "Makerspace e fablab"].iloc[0]
    assert row["Luoghi"] == "–" and row["Stato della fonte"] == "nessuna fonte caricata"  # shown as missing, not 0
    assert counts[counts["Tema"] == "Coworking"].iloc[0]["Stato della fonte"] == "solo conteggi per NIL"


def test_default_indicator_has_values(use: Callable[[str], Path]) -> None:
    use("nosource")
    at = open_page("map")
    ok(at)
    box = at.selectbox(key="url_indicatore")
    assert box.value not in ("makerspaces_per_100k", "makerspaces_count")  # the usual default has no values here
    labels = list(box.options)  # as shown
    assert sorted(labels[-2:]) == ["Makerspace e fablab — senza dati", "Makerspace ogni 100.000 residenti — senza dati"]
    assert sum(label.endswith("— senza dati") for label in labels) == 2  # marked, and last
    at = open_page("periphery", indicatore="makerspaces_count")
    ok(at)  # chosen by link: shown, and marked
    assert at.selectbox(key="url_indicatore").value == "makerspaces_count"


# --- other territories: a fixture territory no code names, and a real one-level territory ----------------------

FIXTURES = ROOT / "tests" / "fixtures" / "territories"
#: Words of Milan's levels that a page of another territory must never show.
MILAN_WORDS = re.compile(r"\bNIL\b|\bNILs\b|Municip|Milan")


def page_texts(at: AppTest) -> list[str]:
    """The texts the page itself writes: titles, messages, labels, table headers and text cells (captions are left out:
    they quote the data's own words, source titles such as 'FabLab Milano' and the catalogue's indicator descriptions)."""
    texts: list[str] = []
    for kind in ("markdown", "subheader", "header", "title", "info", "warning", "error", "success"):
        texts += [str(e.value) for e in getattr(at, kind)]
    texts += [f"{m.label} {m.value}" for m in at.metric]
    texts += [f"{b.label} {' '.join(map(str, b.options))}" for b in at.selectbox]
    texts += [c.label for c in at.checkbox] + [e.label for e in at.expander]
    for frame in (d.value for d in at.dataframe):
        texts.append(" | ".join(map(str, frame.columns)))
        texts += [str(v) for col in frame.columns if (frame[col].dtype == object or str(frame[col].dtype) == "str")
                  and col not in ("Titolo", "Title") for v in frame[col].head(100)]  # source titles are the data's words
    return texts


@pytest.fixture(scope="module")
def valley(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture territory of tests/fixtures/territories (villages in zones, a fablab list), built once."""
    folder = tmp_path_factory.mktemp("valley")
    raw = folder / "raw"
    shutil.copytree(FIXTURES / "valle_fixture_raw", raw)
    out = folder / "warehouse-valle_fixture.duckdb"
    build(raw, out, progress=quiet, territory=FIXTURES / "valle_fixture.toml")
    return out


@pytest.fixture(scope="module")
def cremona(tmp_path_factory: pytest.TempPathFactory, real_dir: Path) -> Path:
    """The Provincia di Cremona (one level: its comuni) from the real files, built once."""
    out = tmp_path_factory.mktemp("cremona") / "warehouse-provincia_cremona.duckdb"
    build(real_dir, out, progress=quiet, territory="provincia_cremona")
    return out


def point_at(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(path))
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize("page", list(PAGES))
def test_pages_of_a_territory_no_code_names(monkeypatch: pytest.MonkeyPatch, valley: Path, page: str, lang: str) -> None:
    """Villages in zones: the pages name the villages and zones as the profile does, never NIL, Municipio or Milan."""
    point_at(monkeypatch, valley)
    at = open_page(page, lang=lang)
    ok(at)
    texts = page_texts(at)
    assert [t for t in texts if MILAN_WORDS.search(t)] == []
    captions = [unescape(c.value) for c in at.caption if not c.value.startswith(("Dati:", "Data:"))]
    assert [c for c in captions if re.search(r"(questo|this|ogni|each|un|a|per) (NIL|Municipio)\b", c)] == []
    assert any(("Valle di prova" if lang == "it" else "Test valley") in t for t in texts + [c.value for c in at.caption])
    assert not any(re.search(r"\b(None|nan)\b", t) for t in texts)


def test_fixture_territory_area_links_and_levels(monkeypatch: pytest.MonkeyPatch, valley: Path) -> None:
    """The area URL parameter is the level id (?paese=...); the map offers the profile's two levels; the periphery
    page says the territory has no classification."""
    point_at(monkeypatch, valley)
    con = duckdb.connect(str(valley), read_only=True)
    try:
        villages = [str(r[0]) for r in con.sql("SELECT id FROM districts WHERE level = 'paese' ORDER BY id").fetchall()]
    finally:
        con.close()
    at = open_page("district", paese=villages[-1])
    ok(at)
    assert at.selectbox(key="url_paese").value == villages[-1] and at.selectbox(key="url_paese").label == "Area (Paese)"
    assert unescape(at.header[0].value).startswith(f"{villages[-1]} · ")
    profile = at.dataframe[0].value
    assert "Rispetto al territorio" in profile.columns and "Valle di prova" in profile.columns
    at = open_page("map")
    ok(at)
    assert [o.split(" — ")[0] for o in at.selectbox(key="url_livello").options] == ["Paese", "Zona"]
    assert any("Un clic su un paese apre il suo profilo" in c.value for c in at.caption)
    links = [el for el in at.get("page_link") if el.proto.label == "Apri il profilo"]
    assert links and "paese=" in links[0].proto.query_string and "nil=" not in links[0].proto.query_string
    at = open_page("periphery")
    ok(at)
    assert any("non contiene una classificazione dei paesi" in i for i in infos(at)), infos(at)


def test_one_level_territory_has_no_parent(monkeypatch: pytest.MonkeyPatch, cremona: Path) -> None:
    """The comuni of the Provincia di Cremona: no level picker, no parent column; the ids are shown as codes."""
    point_at(monkeypatch, cremona)
    at = open_page("map", lang="en")
    ok(at)
    assert [b.key for b in at.selectbox if b.key == "url_livello"] == []
    values = at.dataframe[0].value
    assert "Municipio" not in values.columns and set(values["Level"]) == {"Comune"}
    assert len(values) == 113
    at = open_page("overview")
    ok(at)
    labels = [m.label for m in at.metric]
    assert labels[:5] == ["Residenti", "Comuni", "Superficie (km²)", "Densità (ab./km²)", "Comuni senza popolazione"]
    areas = next(d.value for d in at.dataframe if "Superficie (km²)" in d.value.columns)
    assert list(areas.columns)[:3] == ["ID area", "Nome", "Superficie (km²)"]  # no parent column
    assert "19036" in {str(v) for v in areas["ID area"]}  # Cremona, ISTAT code as written
    at = open_page("district", comune="19036")
    ok(at)
    assert unescape(at.header[0].value) == "19036 · Cremona"
    assert "Comune (confini ISTAT 2023) · Residenti: dato non disponibile" in [unescape(c.value) for c in at.caption]
    profile = at.dataframe[0].value
    assert list(profile.columns)[2:4] == ["19036 · Cremona", "Provincia di Cremona"]  # the comune, then the territory
