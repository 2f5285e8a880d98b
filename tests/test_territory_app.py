"""The app on territories: one warehouse per territory, chosen with ?territorio=, every page on each.

Fast tests use copies of the demo warehouse whose `territory` row is changed (real DuckDB files, no
mocks). The real tests build the three territories from the real open-data folder into one module
folder (the default Milan warehouse and `warehouse-<id>.duckdb` beside it) and open every page of
app.py on each, in Italian and English.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from etl.pipeline import build
from osservatorio import maps, ui, warehouse
from osservatorio.territory import Territory

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
PAGES = re.findall(r'st\.Page\("(pages/\w+\.py)"', APP.read_text(encoding="utf-8"))
MILANO, METRO, CREMONA = "milano", "citta_metropolitana_milano", "provincia_cremona"
NAMES = {MILANO: {"it": "Comune di Milano", "en": "Municipality of Milan"},
         METRO: {"it": "Città metropolitana di Milano", "en": "Metropolitan City of Milan"},
         CREMONA: {"it": "Provincia di Cremona", "en": "Province of Cremona"}}
RAW_MISSING = re.compile(r"(?<![\w-])(None|nan|NaN|NaT|<NA>)(?![\w-])")
MILAN_LEVELS = re.compile(r"\b(NIL|NILs|Municipio|Municipi)\b")


def test_pages_are_read_from_app_py() -> None:
    assert len(PAGES) >= 12 and "pages/panoramica.py" in PAGES and "pages/carica.py" in PAGES, PAGES


# --- fast: copies of the demo warehouse -------------------------------------------------------------------

def _copy_as(source: Path, target: Path, territory_id: str | None = None, name: str = "") -> Path:
    """A copy of a warehouse; with `territory_id`, its territory row says it describes that territory."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    if territory_id is not None:
        con = duckdb.connect(str(target))
        try:
            con.execute("UPDATE territory SET territory_id = $id, name_it = $n, name_en = $n",
                        {"id": territory_id, "n": name})
        finally:
            con.close()
    return target


@pytest.fixture
def folder(tmp_path: Path, demo_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The default warehouse (demo, Milan) and a second territory 'prova' beside it; caches cleared."""
    default = _copy_as(demo_warehouse, tmp_path / "data" / "warehouse.duckdb")
    _copy_as(demo_warehouse, tmp_path / "data" / "warehouse-prova.duckdb", "prova", "Territorio di prova")
    monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(default))
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield default.parent
    st.cache_data.clear()
    st.cache_resource.clear()


def test_available_lists_the_default_first_then_the_siblings(folder: Path) -> None:
    (folder / "warehouse-prova.duckdb.tmp-123-abcd").write_bytes(b"x")  # a build in progress: never offered
    (folder / "warehouse-rotto.duckdb").write_bytes(b"non e' un database" * 100)  # unusable: left out
    _copy_as(folder / "warehouse.duckdb", folder / "warehouse-doppio.duckdb")  # repeats 'milano': left out
    found = warehouse.available(folder / "warehouse.duckdb")
    assert [(a.territory_id, a.is_default, Path(a.key.path).name) for a in found] == [
        ("milano", True, "warehouse.duckdb"), ("prova", False, "warehouse-prova.duckdb")]
    assert found[1].name("it") == "Territorio di prova"
    assert warehouse.sibling_path(folder / "warehouse.duckdb", "prova") == folder / "warehouse-prova.duckdb"
    with pytest.raises(ValueError):
        warehouse.sibling_path(folder / "warehouse.duckdb", "../fuori")


def _run(page: str = "pages/panoramica.py", **params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_territorio_picks_the_warehouse_and_the_selectbox_lists_the_names(folder: Path) -> None:
    at = _run(territorio="prova")
    assert [e.value for e in at.error] == []
    box = at.sidebar.selectbox(key="url_territorio")
    assert box.options == ["Comune di Milano", "Territorio di prova"]
    assert box.value == "prova"
    assert any(c.value.startswith("Territorio di prova") for c in at.caption), [c.value for c in at.caption]
    at = _run()
    assert at.sidebar.selectbox(key="url_territorio").value == "milano"
    assert "territorio" not in at.query_params  # the default keeps the link short
    assert any(c.value.startswith("Comune di Milano") for c in at.caption)


def test_unknown_territorio_falls_back_to_the_default_with_a_notice(folder: Path) -> None:
    at = _run(territorio="atlantide")
    notices = [i.value for i in at.info if "atlantide" in i.value]
    assert len(notices) == 1 and "Comune di Milano" in notices[0].replace("\\", ""), [i.value for i in at.info]
    assert at.sidebar.selectbox(key="url_territorio").value == "milano"
    assert [e.value for e in at.error] == []


def test_one_warehouse_means_no_territory_selectbox(folder: Path) -> None:
    (folder / "warehouse-prova.duckdb").unlink()
    at = _run()
    assert [s for s in at.sidebar.selectbox if s.key == "url_territorio"] == []
    at = _run(territorio="prova")  # the other warehouse is gone: the notice, the default shown
    assert any("prova" in i.value for i in at.info), [i.value for i in at.info]


def test_choosing_in_the_sidebar_switches_the_warehouse(folder: Path) -> None:
    at = _run()
    at.sidebar.selectbox(key="url_territorio").set_value("prova").run()
    assert not at.exception
    assert at.query_params["territorio"] == ["prova"] or at.query_params["territorio"] == "prova"
    assert any(c.value.startswith("Territorio di prova") for c in at.caption)


def test_link_params_keep_language_and_territory(folder: Path) -> None:
    territory = Territory("prova", "Prova", "Test", (), 9.0, 45.0, "c", "c", "EPSG:7791")
    ctx = ui.PageContext("en", warehouse.WarehouseKey("x", "y"), None, "white-bg", territory, "prova")  # type: ignore[arg-type]
    assert ui.link_params(ctx, nil=42, empty=None) == {"lang": "en", "territorio": "prova", "nil": "42"}
    default = ui.PageContext("it", warehouse.WarehouseKey("x", "y"), None, "white-bg", territory)  # type: ignore[arg-type]
    assert ui.link_params(default) == {"lang": "it"}


def test_bad_default_with_a_good_sibling(folder: Path) -> None:
    """The default is unreadable: asked for, the page says so; the other territory still opens by its link."""
    (folder / "warehouse.duckdb").write_bytes(b"rotto" * 1000)
    at = _run()
    assert len(at.error) == 1 and "non è leggibile" in at.error[0].value
    at = _run(territorio="prova")
    assert [e.value for e in at.error] == []
    assert any(c.value.startswith("Territorio di prova") for c in at.caption)


def test_map_view_fills_the_width_and_fits_the_area() -> None:
    """Milan's outline filled 38 % of an 879 px canvas (height 460 px fitted, zoom -0.2): now most of it."""
    milan = (9.0409, 45.3898, 9.2780, 45.5382)
    center, zoom, height = maps.view(milan)
    lon_span_px = 512 * 2 ** zoom * (milan[2] - milan[0]) / 360
    assert lon_span_px / 879 > 0.7  # measured in chromium: 79 % of the panoramica canvas
    assert lon_span_px <= maps.MAP_WIDTH_PX  # nothing cut on the narrowest canvas fitted for
    assert maps.MAP_MIN_HEIGHT_PX <= height - maps.TITLE_PX - maps.LEGEND_PX <= maps.MAP_MAX_HEIGHT_PX
    assert center == {"lon": pytest.approx(9.15945), "lat": pytest.approx(45.464)}
    wide = maps.view((9.0, 45.0, 11.0, 45.3))[2]
    assert wide < height  # a wide area gets a lower map
    assert maps.bounds_of({"features": []}) == maps.NO_GEOMETRY_BOUNDS  # no Milan fallback
    territory = Territory("x", "X", "X", (), 10.0, 45.1, "c", "c", "EPSG:7791", bbox=(9.4, 44.9, 10.5, 45.6))
    assert maps.territory_bounds(territory) == (9.4, 44.9, 10.5, 45.6)


# --- real: the three territories built from the real files --------------------------------------------------

@pytest.fixture(scope="module")
def territories_dir(tmp_path_factory: pytest.TempPathFactory, real_dir: Path) -> Path:
    """Milan as the default warehouse, the Città metropolitana and Cremona beside it, built from the real files."""
    folder = tmp_path_factory.mktemp("territories")
    with pytest.MonkeyPatch.context() as mp:  # these builds read the real hub list, as a real build does
        mp.setenv("OSSERVATORIO_HUBS_CONFIG", str(ROOT / "config" / "hubs.toml"))
        for tid, name in ((MILANO, "warehouse.duckdb"), (METRO, f"warehouse-{METRO}.duckdb"),
                          (CREMONA, f"warehouse-{CREMONA}.duckdb")):
            build(real_dir, folder / name, progress=lambda _m: None, territory=tid)
    return folder


@pytest.fixture
def real_env(territories_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(territories_dir / "warehouse.duckdb"))
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield territories_dir
    st.cache_data.clear()
    st.cache_resource.clear()


def shown_text(at: AppTest, cells: bool = True) -> list[str]:
    """Every text a reader sees in the main area: Markdown, captions, boxes, headers, metrics, table headers and
    (with `cells`) cells."""
    texts = [e.value for kind in (at.markdown, at.caption, at.info, at.warning, at.error, at.subheader, at.header,
                                  at.title, at.success) for e in kind]
    texts += [m.label for m in at.metric] + [str(m.value) for m in at.metric]
    for frame in at.dataframe:
        value = frame.value
        value = value.data if hasattr(value, "data") and not hasattr(value, "columns") else value
        texts += [str(c) for c in value.columns]
        if cells:
            texts += [v for col in value.columns for v in value[col].tolist() if isinstance(v, str)]
            texts += [str(v) for col in value.columns for v in value[col].tolist() if v is None]
    return [str(x) for x in texts]


@pytest.mark.real
def test_real_territories_are_offered(real_env: Path) -> None:
    found = warehouse.available(real_env / "warehouse.duckdb")
    assert [a.territory_id for a in found] == [MILANO, METRO, CREMONA]
    assert [a.name("it") for a in found] == [NAMES[t]["it"] for t in (MILANO, METRO, CREMONA)]


@pytest.mark.real
@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize("territory", [MILANO, METRO, CREMONA])
def test_every_page_on_every_territory(real_env: Path, territory: str, lang: str, subtests: pytest.Subtests) -> None:
    """Every page of app.py: no exception, no error box, no raw None/nan, the territory named; the comuni
    territories speak of comuni, never of NIL or Municipi."""
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.query_params["lang"] = lang
    if territory != MILANO:
        at.query_params["territorio"] = territory
    at.run()
    name = NAMES[territory][lang]
    seen_comuni = False
    for page in PAGES:
        with subtests.test(msg=f"{territory} {lang} {page}"):
            at.switch_page(page).run()
            assert not at.exception, (page, [e.value[:300] for e in at.exception])
            assert [e.value for e in at.error] == [], page
            captions = [c.value.replace("\\", "") for c in at.caption]
            assert any(c.startswith(name) for c in captions), (page, captions[:3])
            texts = shown_text(at)
            raw = [(page, x[:160]) for x in texts if RAW_MISSING.search(x.replace("\\", ""))]
            assert not raw, raw
            if territory != MILANO:
                # the Data page lists every file of the raw folder: the titles of Milan's datasets and the reason
                # each was skipped ('il territorio ... non ha il livello NIL') are lineage, not the page's words
                said = shown_text(at, cells=page != "pages/dati.py")
                milan_words = [(page, x[:160]) for x in said if MILAN_LEVELS.search(x.replace("\\", ""))]
                assert not milan_words, milan_words
                seen_comuni = seen_comuni or any(re.search(r"\b[Cc]omun[ei]\b", x) for x in texts)
    if territory != MILANO:
        assert seen_comuni, f"{territory}: no page speaks of its comuni"


@pytest.mark.real
@pytest.mark.parametrize("lang", ["it", "en"])
def test_cremona_profile_shows_the_polo_tecnologico_with_its_facts(real_env: Path, lang: str) -> None:
    """The hub of the Provincia di Cremona (no coordinates: placed in the comune) is on its area's profile and on
    the map page, with each fact and its source."""
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.query_params.update({"lang": lang, "territorio": CREMONA, "comune": "19036"})
    at.run()
    at.switch_page("pages/quartiere.py").run()
    assert not at.exception, [e.value[:300] for e in at.exception]
    texts = shown_text(at)
    assert any("Polo tecnologico di Cremona" in x for x in texts), [x for x in texts if "Polo" in x]
    facts = next(f.value for f in at.dataframe if ("Fact" if lang == "en" else "Fatto") in f.value.columns)
    assert ("12,000 m²" if lang == "en" else "12.000 m²") in facts[("Value" if lang == "en" else "Valore")].tolist()
    assert any("Cobox" in str(x) for x in facts.iloc[:, 0])
    mappa = AppTest.from_file(str(APP), default_timeout=180)
    mappa.query_params.update({"lang": lang, "territorio": CREMONA, "strati": "hub"})
    mappa.run()
    mappa.switch_page("pages/mappa.py").run()
    assert not mappa.exception, [e.value[:300] for e in mappa.exception]
    assert any("CRIT" in e.label for e in mappa.expander), [e.label for e in mappa.expander]
