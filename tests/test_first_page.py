"""The first page: dataset titles in the page language (real build, AppTest) and the warm-up launcher
(`python -m osservatorio.serve`: warms in the server's process, then serves app.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from etl.pipeline import build
from osservatorio.i18n import TEXTS
from osservatorio.views import dataset_title, dataset_title_cited

ROOT = Path(__file__).resolve().parents[1]
CONFISCATED_IT = "Beni immobili confiscati alla criminalità organizzata"  # ds147 as the publisher titles it


@pytest.fixture(scope="module")
def real_milan(real_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("first-page") / "warehouse.duckdb"
    build(real_dir, path, progress=lambda _m: None)
    return path


def _use(monkeypatch: pytest.MonkeyPatch, warehouse: Path) -> None:
    monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")
    monkeypatch.setenv("OSSERVATORIO_APPSTATE", str(warehouse.with_name("app.sqlite")))


def _overview(lang: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    return at


def _recent_titles(at: AppTest, title_col: str, loaded_col: str) -> list[str]:
    """The title column of the 'latest sources' table (the one with a 'loaded at' column)."""
    frames = [d.value for d in at.dataframe]
    frames = [f.data if hasattr(f, "data") else f for f in frames]  # a Styler keeps its frame in .data
    found = [f for f in frames if isinstance(f, pd.DataFrame) and {title_col, loaded_col} <= set(f.columns)]
    assert found, [list(f.columns) for f in frames if isinstance(f, pd.DataFrame)]
    return [str(x) for x in found[0][title_col]]


def _texts(at: AppTest) -> str:
    return "\n".join([*(m.value for m in at.markdown), *(m.value for m in at.caption), *(m.value for m in at.info)])


# --- titles in the page language --------------------------------------------------------------------------


def test_dataset_title_by_source_id() -> None:
    assert dataset_title("confiscated", CONFISCATED_IT, "it") == CONFISCATED_IT
    assert dataset_title("confiscated", CONFISCATED_IT, "en") == "Real estate confiscated from organised crime"
    assert dataset_title_cited("confiscated", CONFISCATED_IT, "en") == (
        f"Real estate confiscated from organised crime (“{CONFISCATED_IT}”)")
    assert dataset_title_cited("confiscated", CONFISCATED_IT, "it") == CONFISCATED_IT  # never quoted twice in Italian
    # a source the table does not know (an editor's census list): its stored title, in both languages
    assert dataset_title("census_officine_2026", "Officine di quartiere", "en") == "Officine di quartiere"
    assert dataset_title_cited("census_officine_2026", "Officine di quartiere", "en") == "Officine di quartiere"
    # the code's file names never reach the page, whatever the language
    assert dataset_title("census", "Censimento comunale (file descritti in config/census.toml)", "it") == "Censimento comunale"
    assert dataset_title("census", "Censimento comunale (file descritti in config/census.toml)", "en") == "Municipal census"
    assert dataset_title("confiscated", None, "en") == ""  # no stored title: nothing to translate


def test_every_registered_source_has_an_english_title() -> None:
    from etl.sources import REGISTRY

    titled = {s.source_id: s.title for s in REGISTRY if getattr(s, "title", "")}
    assert len(titled) >= 15
    assert sorted(i for i in titled if f"dataset_{i}" not in TEXTS) == []
    assert all(set(TEXTS[f"dataset_{i}"]) == {"it", "en"} for i in titled)


@pytest.mark.real
def test_overview_titles_in_each_language(real_milan: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real Milan build: the Italian page keeps the publisher's titles; the English one describes each dataset in
    English with the original title in quotes (what a reader cites), in the latest-sources table and the details."""
    _use(monkeypatch, real_milan)
    italian = _recent_titles(_overview("it"), "Titolo", "Caricato il")
    assert CONFISCATED_IT in italian
    assert not any("“" in x for x in italian)
    at = _overview("en")
    english = _recent_titles(at, "Title", "Loaded at")
    assert f"Real estate confiscated from organised crime (“{CONFISCATED_IT}”)" in english
    assert "Historic shops (“Botteghe storiche (Comune di Milano, ds290)”)" in english
    assert all(x.endswith("”)") for x in english)  # every stored source is known: each keeps its original title
    assert len(english) == len(italian)
    # the details of a theme without positions name the dataset that would fill it: original title, then English
    details = _texts(at).replace("\\", "")  # Markdown-escaped text, read as shown
    assert "Dataset ds201 “Unità locali per settore di attività (ATECO) e NIL” (Local units by economic sector (ATECO) " \
        "and NIL) of the Comune's portal would provide it" in details
    italian = _texts(_overview("it")).replace("\\", "")
    assert "Il dataset ds201 «Unità locali per settore di attività (ATECO) e NIL» del portale" in italian
    assert "Local units" not in italian


# --- the warm-up launcher ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.real
def test_serve_warms_then_serves(real_milan: Path, tmp_path: Path) -> None:
    """The launcher runs the first pages without a session (no page fails), then Streamlit's server answers its
    health endpoint and serves the app on the port given with the usual `streamlit run` option."""
    port = _free_port()
    env = {**os.environ, "OSSERVATORIO_WAREHOUSE": str(real_milan), "OSSERVATORIO_AUTO_DEMO": "0",
           "OSSERVATORIO_MAP_STYLE": "white-bg", "OSSERVATORIO_APPSTATE": str(tmp_path / "app.sqlite")}
    err = tmp_path / "serve.err"
    with err.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "osservatorio.serve", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false"],
                                cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            answer = b""
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                        answer = resp.read().strip()
                        break
                except OSError:
                    time.sleep(0.2)  # polling interval of a bounded wait
            assert answer == b"ok", err.read_text(errors="replace")[-2000:]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
                assert resp.status == 200 and b'<div id="root">' in resp.read()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
    log = err.read_text(errors="replace")
    warmed = next(line for line in log.splitlines() if line.startswith("Riscaldamento in"))
    assert "pages/panoramica.py" in warmed and "pages/mappa.py" in warmed, warmed
    assert "non riuscito" not in log
    assert "No runtime found" not in log  # bare mode's warnings are silenced during the warm-up
    assert "[server] config option section was detected" not in log  # the server's options were read before


def test_serve_refuses_another_script() -> None:
    out = subprocess.run([sys.executable, "-m", "osservatorio.serve", "altro.py"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0
    assert "avvia solo app.py" in out.stderr


# --- Mappa: the built map is reused per fingerprint -----------------------------------------------------------


def test_points_fingerprint_follows_the_points() -> None:
    from osservatorio.page_views.mappa import points_fingerprint

    points = pd.DataFrame({"lon": [9.19, 9.21], "lat": [45.46, 45.48], "title": ["Officina", "Laboratorio"]})
    same = points_fingerprint(points.copy(), ["a", "b"])
    assert points_fingerprint(points, ["a", "b"]) == same
    moved = points.assign(lon=[9.19, 9.22])
    assert points_fingerprint(moved, ["a", "b"]) != same
    assert points_fingerprint(points, ["a", "c"]) != same  # renamed: its hover text changes
    assert points_fingerprint(points.iloc[:1], ["a"]) != same
    assert points_fingerprint(points.iloc[:0], []) == (0, hash(()))


def _map_spec(at: AppTest) -> dict:
    import json

    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    maps = [c for c in charts if any(tr.get("type") == "choroplethmap" for tr in c.get("data", []))]
    assert len(maps) == 1
    return maps[0]


@pytest.mark.real
def test_mappa_rebuilds_only_what_changed(real_milan: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing the indicator draws the new indicator; going back draws the first one again, the same map as
    before (served from the figure cache, not a stale figure of the other choice)."""
    _use(monkeypatch, real_milan)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/mappa.py").run()
    assert not at.exception, at.exception
    first = _map_spec(at)
    box = at.selectbox[0]
    original = box.index
    box.select_index(1 if original != 1 else 2).run()
    second = _map_spec(at)
    assert second["layout"]["title"] != first["layout"]["title"]
    at.selectbox[0].select_index(original).run()
    assert _map_spec(at) == first
