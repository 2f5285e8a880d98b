"""The app follows the warehouse file: a new build is served without a restart, the old one is closed
(no handle on a deleted file), queries in flight finish; bad files give a clear message; every page
says where its data come from.

The server test starts `streamlit run app.py` on a free loopback port, opens the Dati page in
Debian's chromium (Playwright), rebuilds the warehouse in another process and waits for the page
to show the new build id; then it reads /proc/<server pid>/fd.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from etl.pipeline import build
from osservatorio import data, warehouse
from osservatorio.warehouse import BadWarehouse, Registry, key_for

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
READY_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app && app.dataset.testScriptState === 'notRunning' && app.dataset.testConnectionState === 'CONNECTED'
        && !!document.querySelector('[data-testid="stMain"]');
}"""


def quiet(_message: str) -> None:
    """A progress callback that prints nothing."""


def build_id_of(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return str(con.sql("SELECT build_id FROM build").fetchall()[0][0])
    finally:
        con.close()


def rebuild_in_subprocess(out: Path) -> None:
    """`python -m etl build --demo --out OUT` where the CLI has --demo, else the pipeline from a subprocess."""
    helptext = subprocess.run([sys.executable, "-m", "etl", "build", "--help"], cwd=ROOT, capture_output=True, text=True,
                              timeout=60).stdout
    if "--demo" in helptext:
        cmd = [sys.executable, "-m", "etl", "build", "--demo", "--out", str(out)]
    else:
        cmd = [sys.executable, "-c", "import sys; from pathlib import Path; from etl.pipeline import build; "
               "build(None, Path(sys.argv[1]), progress=lambda _m: None)", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def deleted_handles(pid: int, name: str) -> list[str]:
    """Open files of process `pid` whose target mentions `name` and is marked '(deleted)'."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if name in target and "(deleted)" in target:
            found.append(target)
    return found


# --- the registry (no Streamlit) ---------------------------------------------------------------------------

def test_registry_switches_to_a_new_build_and_closes_the_old_one(demo_warehouse: Path, tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    shutil.copy(demo_warehouse, path)
    registry = Registry()
    first = key_for(path)
    assert first is not None
    with registry.lease(first) as cur:
        old_id = cur.sql("SELECT build_id FROM build").fetchall()[0][0]
    new_id = build(None, path, progress=quiet).build_id  # os.replace of a new file
    assert new_id != old_id
    # The old build stays open (instance cache) until the registry sees the new identity.
    assert deleted_handles(os.getpid(), path.name)
    second = key_for(path)
    assert second is not None and second != first
    with registry.lease(second) as cur:
        assert cur.sql("SELECT build_id FROM build").fetchall()[0][0] == new_id
    assert deleted_handles(os.getpid(), path.name) == []
    assert (registry.opened, registry.closed) == (2, 1)
    # A late run still holding the old key gets the current build, nothing is reopened.
    with registry.lease(first) as cur:
        assert cur.sql("SELECT build_id FROM build").fetchall()[0][0] == new_id
    assert (registry.opened, registry.closed) == (2, 1)
    registry.close_all()
    assert registry.closed == 2


def test_a_switch_waits_for_queries_in_flight(demo_warehouse: Path, tmp_path: Path) -> None:
    """A query running in another session on the old build finishes; then the old build is closed once."""
    path = tmp_path / "w.duckdb"
    shutil.copy(demo_warehouse, path)
    registry = Registry(drain_timeout_s=30)
    first = key_for(path)
    assert first is not None
    leased, replaced, results = threading.Event(), threading.Event(), {}

    def long_query() -> None:
        with registry.lease(first) as cur:
            leased.set()
            replaced.wait(30)
            time.sleep(0.3)  # the other session is now waiting to switch
            results["in_flight"] = cur.sql("SELECT count(*) FROM districts").fetchall()[0][0]
            results["in_flight_build"] = cur.sql("SELECT build_id FROM build").fetchall()[0][0]

    worker = threading.Thread(target=long_query)
    worker.start()
    assert leased.wait(30)
    old_id = build_id_of(demo_warehouse)
    new_id = build(None, path, progress=quiet).build_id
    second = key_for(path)
    assert second is not None
    replaced.set()
    started = time.monotonic()
    with registry.lease(second) as cur:
        waited = time.monotonic() - started
        assert "in_flight" in results, "the switch did not wait for the query in flight"
        assert cur.sql("SELECT build_id FROM build").fetchall()[0][0] == new_id
    worker.join(30)
    assert results["in_flight"] > 0 and results["in_flight_build"] == old_id
    assert waited >= 0.2
    assert (registry.opened, registry.closed) == (2, 1)
    registry.close_all()


def test_a_plain_cursor_holds_its_lease_until_it_is_dropped(demo_warehouse: Path, tmp_path: Path) -> None:
    """`queries._cursor` (for query functions not yet using `_q`): the lease ends when the cursor goes."""
    path = tmp_path / "w.duckdb"
    shutil.copy(demo_warehouse, path)
    registry = Registry(drain_timeout_s=0.5)
    first = key_for(path)
    assert first is not None
    cur = registry.cursor(first)
    assert cur.sql("SELECT count(*) FROM build").fetchall() == [(1,)]
    del cur  # CPython frees it at once: the lease ends
    new_id = build(None, path, progress=quiet).build_id
    second = key_for(path)
    assert second is not None
    started = time.monotonic()
    with registry.lease(second) as fresh:
        assert fresh.sql("SELECT build_id FROM build").fetchall()[0][0] == new_id
    assert time.monotonic() - started < 0.4  # no wait for a lease that had ended
    assert (registry.opened, registry.closed) == (2, 1)
    registry.close_all()


# --- the app (AppTest) -------------------------------------------------------------------------------------

@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.setenv("OSSERVATORIO_APPSTATE", str(tmp_path / "appstate.sqlite"))
    monkeypatch.delenv("OSSERVATORIO_READ_ONLY", raising=False)

    def use(path: Path, auto: bool = False) -> None:
        monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(path))
        monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "1" if auto else "0")
        st.cache_data.clear()

    yield use
    warehouse.REGISTRY.close_all()
    st.cache_data.clear()


def run_page(page: str = "pages/dati.py", **params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at


def unescape(markdown: str) -> str:
    """The text a Markdown-escaped message shows (backslash escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def captions(at: AppTest) -> list[str]:
    return [unescape(c.value) for c in at.caption]


def test_app_serves_a_new_build_without_restart(app_env: Callable[..., None], demo_warehouse: Path,
                                                tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    shutil.copy(demo_warehouse, path)
    app_env(path)
    old_id = build_id_of(path)
    at = run_page()
    assert not at.exception
    assert any(old_id in c for c in captions(at)), captions(at)
    new_id = build(None, path, progress=quiet).build_id
    at.run()
    assert not at.exception
    assert any(new_id in c for c in captions(at)), captions(at)
    assert deleted_handles(os.getpid(), path.name) == []


def _truncated(src: Path, dst: Path) -> None:
    raw = src.read_bytes()
    dst.write_bytes(raw[: len(raw) // 2])


def _zero(_src: Path, dst: Path) -> None:
    dst.write_bytes(b"")


def _unrelated(_src: Path, dst: Path) -> None:
    con = duckdb.connect(str(dst))
    try:
        con.execute("CREATE TABLE build (id INTEGER, target VARCHAR)")  # a build table of another program
        con.execute("INSERT INTO build VALUES (1, 'x86_64')")
        con.execute("CREATE TABLE artefacts (name VARCHAR)")
    finally:
        con.close()


def _no_views(src: Path, dst: Path) -> None:
    shutil.copy(src, dst)
    con = duckdb.connect(str(dst))
    try:
        con.execute("DROP VIEW district_stats")
        con.execute("DROP VIEW population_current")
        con.execute("UPDATE build SET schema_version = 1")
        con.execute("CHECKPOINT")
    finally:
        con.close()


BAD_FILES = {
    "truncated": (_truncated, "non è un database DuckDB integro"),
    "zero_bytes": (_zero, "non è un database DuckDB integro"),
    "unrelated_schema": (_unrelated, "non è un warehouse dell'Osservatorio"),
    "old_schema_without_views": (_no_views, "mancano district_stats, population_current"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
@pytest.mark.parametrize("page", ["pages/panoramica.py", "pages/seduta.py"])
def test_bad_warehouse_gives_a_message_not_an_exception(case: str, page: str, app_env: Callable[..., None],
                                                        demo_warehouse: Path, tmp_path: Path) -> None:
    make, problem = BAD_FILES[case]
    path = tmp_path / "bad.duckdb"
    make(demo_warehouse, path)
    before = path.read_bytes()
    app_env(path, auto=True)  # a bad file is never replaced by an automatic build
    at = run_page(page)
    assert not at.exception, [e.value for e in at.exception]
    errors = [unescape(e.value) for e in at.error]
    assert len(errors) == 1, errors
    assert "non è leggibile" in errors[0] and problem in errors[0] and "python -m etl build" in errors[0], errors
    assert path.read_bytes() == before  # a bad file is reported, never rebuilt over
    at = run_page(page, lang="en")
    assert not at.exception
    assert "cannot be read" in at.error[0].value and "Rebuild it with `python -m etl build`" in at.error[0].value
    assert str(path) in unescape(at.error[0].value)


def test_bad_warehouse_replaced_by_a_good_build(app_env: Callable[..., None], demo_warehouse: Path,
                                                tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    path.write_bytes(b"")
    app_env(path)
    at = run_page()
    assert at.error and not at.exception
    shutil.copy(demo_warehouse, path.with_name("new.duckdb"))
    os.replace(path.with_name("new.duckdb"), path)
    at.run()
    assert not at.exception and [e.value for e in at.error] == []
    assert any(build_id_of(demo_warehouse) in c for c in captions(at))


def test_check_warehouse_accepts_a_build(demo_con: duckdb.DuckDBPyConnection) -> None:
    warehouse.check_warehouse(demo_con)
    with pytest.raises(data.WarehouseError):
        raise BadWarehouse("x", "wh_no_build")


# --- the data origin line ----------------------------------------------------------------------------------

def test_demo_pages_show_the_demo_label_once(app_env: Callable[..., None], demo_warehouse: Path) -> None:
    app_env(demo_warehouse)
    for page in ("pages/panoramica.py", "pages/dati.py"):
        at = run_page(page)
        assert not at.exception
        assert sum("Dati dimostrativi" in w.value for w in at.warning) == 1
        assert not any(c.startswith("Dati:") for c in captions(at))


def test_real_build_pages_show_attribution_and_licence(app_env: Callable[..., None], tmp_path: Path,
                                                       demo_warehouse: Path) -> None:
    """A real build's sources: the line names the attribution, the datasets and the licence, once."""
    path = tmp_path / "real.duckdb"
    shutil.copy(demo_warehouse, path)
    con = duckdb.connect(str(path))
    try:
        con.execute("UPDATE build SET mode = 'real'")
        con.execute("UPDATE sources SET trust = 'official', status = 'loaded', attribution = 'Comune di Milano', "
                    "licence = 'CC BY 4.0'")
        datasets = [r[0] for r in con.sql("SELECT dataset FROM sources ORDER BY dataset").fetchall()]
        con.execute("UPDATE sources SET attribution = NULL, licence = 'IODL 2.0', title = 'Fonte senza attribuzione', "
                    "dataset = NULL WHERE source_id = (SELECT min(source_id) FROM sources)")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    assert datasets
    app_env(path)
    for page, lang, word in (("pages/panoramica.py", "it", "Dati: "), ("pages/seduta.py", "en", "Data: ")):
        at = run_page(page, lang=lang)
        assert not at.exception
        lines = [c for c in captions(at) if c.startswith(word)]
        assert len(lines) == 1, captions(at)
        assert "Comune di Milano (" in lines[0] and "CC BY 4.0" in lines[0], lines[0]
        assert "fonte senza attribuzione" in lines[0].lower() and "IODL 2.0" in lines[0]
        assert not [w for w in at.warning if "dimostrativ" in w.value or "Demo data" in w.value]


def test_provenance_line_groups_by_publisher_and_licence() -> None:
    import pandas as pd

    rows = [  # source_id, dataset, title, licence, attribution
        ("a", "ds964", "NIL", "CC BY 4.0 – Comune di Milano", None),  # older build: no attribution column value
        ("b", "ds379", "Municipi", "CC BY 4.0", "Comune di Milano"),
        ("c", "ds1", "x", "CC BY 4.0", "Comune di Milano"),
        ("d", "ds2", "y", "CC BY 4.0", "Comune di Milano"),
        ("e", "ds3", "z", "CC BY 4.0", "Comune di Milano"),
        ("f", "ds171", "w", "CC BY 4.0 (licenza predefinita del portale; da verificare)", "Comune di Milano"),
        ("g", None, "Censimento", "IODL 2.0", "ISTAT"),
        ("h", None, "Popolazione", "non indicata (dati di origine Comune di Milano, CC BY 4.0)",
         "Comune di Milano (elaborazione di terzi: Milano-Platform)"),
        ("i", "ds9", "Vecchia", "CC BY 4.0", None),
    ]
    frame = pd.DataFrame(rows, columns=["source_id", "dataset", "title", "licence", "attribution"]).assign(
        trust="official", reference_date=None)
    assert warehouse.provenance_line(frame) == (
        "Comune di Milano (ds964, ds379, ds1, ds2, …), CC BY 4.0; Comune di Milano (ds171), CC BY 4.0 (da verificare); "
        "ISTAT (Censimento), IODL 2.0; Comune di Milano (Popolazione), licenza non indicata; ds9: CC BY 4.0")
    english = warehouse.provenance_line(frame, "en")
    assert english is not None and "(to be checked)" in english and "licence not stated" in english
    assert warehouse.provenance_line(frame.iloc[0:0]) is None


# --- a real server -----------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Debian's chromium is not installed at {CHROMIUM}")
def test_running_server_serves_the_new_build(tmp_path: Path, demo_warehouse: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_warehouse, path)
    old_id = build_id_of(path)
    port = _free_port()
    env = {**os.environ, "OSSERVATORIO_WAREHOUSE": str(path), "OSSERVATORIO_APPSTATE": str(tmp_path / "app.sqlite"),
           "OSSERVATORIO_MAP_STYLE": "white-bg", "OSSERVATORIO_AUTO_DEMO": "0"}
    env.pop("OSSERVATORIO_READ_ONLY", None)
    log_path = tmp_path / "streamlit.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
             "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.2)
        with urllib.request.urlopen(f"{base}/dati", timeout=10) as resp:
            assert resp.status == 200
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(f"{base}/dati", timeout=90_000)
                page.wait_for_function(READY_JS, timeout=90_000, polling=100)
                page.get_by_text(re.compile(re.escape(old_id))).first.wait_for(timeout=90_000)
                rebuild_in_subprocess(path)
                new_id = build_id_of(path)
                assert new_id != old_id
                started = time.monotonic()
                while True:  # the page shows the new build on its next run (a reload), within seconds
                    page.reload(timeout=90_000)
                    page.wait_for_function(READY_JS, timeout=90_000, polling=100)
                    text = page.locator('[data-testid="stMain"]').inner_text()
                    if new_id in text:
                        break
                    assert time.monotonic() - started < 15, f"still showing {old_id}: {text[:500]}"
                assert old_id not in text
                print(f"new build shown {time.monotonic() - started:.1f} s after the rebuild")
            finally:
                browser.close()
        assert deleted_handles(proc.pid, path.name) == []
        assert proc.poll() is None
    finally:
        _stop(proc)


# --- the default build on a fresh machine ------------------------------------------------------------------

def test_default_build_is_the_committed_bundle(tmp_path: Path) -> None:
    """No warehouse: the official bundle is built (through the build's own lock: no outer lock to deadlock on)."""
    from etl import bundle

    if not bundle.available(bundle.BUNDLE_DIR):
        pytest.skip(f"no embedded bundle at {bundle.BUNDLE_DIR}")
    path = tmp_path / "w.duckdb"
    assert warehouse.ensure_warehouse(path) == "bundle"
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.sql("SELECT mode, raw_dir FROM build").fetchall() == [("real", str(bundle.BUNDLE_DIR))]
    finally:
        con.close()
    assert warehouse.ensure_warehouse(path) is None  # there is one now: nothing is built
    assert not path.with_name(path.name + ".lock").exists()


def test_default_build_without_a_bundle_is_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from etl import bundle

    monkeypatch.setattr(bundle, "BUNDLE_DIR", tmp_path / "no_bundle")
    path = tmp_path / "w.duckdb"
    assert warehouse.ensure_warehouse(path) == "demo"
    assert build_id_of(path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.sql("SELECT mode FROM build").fetchall() == [("demo",)]
    finally:
        con.close()


def test_sessions_arriving_together_build_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from etl import bundle

    monkeypatch.setattr(bundle, "BUNDLE_DIR", tmp_path / "no_bundle")  # the demo: quicker
    path = tmp_path / "w.duckdb"
    barrier = threading.Barrier(4)
    results: list[str | None] = []
    errors: list[BaseException] = []

    def visit() -> None:
        barrier.wait()
        try:
            results.append(warehouse.ensure_warehouse(path))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=visit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert errors == []
    assert len(results) == 4 and results.count("demo") == 1 and results.count(None) == 3


def test_a_build_running_elsewhere_is_waited_for_not_repeated(tmp_path: Path, demo_warehouse: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holds the build lock: the visit waits for its file instead of building again."""
    from etl import bundle, pipeline

    monkeypatch.setattr(bundle, "BUNDLE_DIR", tmp_path / "no_bundle")
    path = tmp_path / "w.duckdb"
    outcome: dict[str, object] = {}

    def visit() -> None:
        try:
            outcome["result"] = warehouse.ensure_warehouse(path, wait_s=60)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcome["error"] = exc

    with pipeline.build_lock(path, command="test: the other build"):
        worker = threading.Thread(target=visit)
        worker.start()
        time.sleep(1.0)  # the visit is now waiting on the lock
        assert worker.is_alive() and not path.exists()
        shutil.copy(demo_warehouse, path.with_name("other.tmp"))
        os.replace(path.with_name("other.tmp"), path)  # the other build swaps its file in
    worker.join(60)
    assert outcome == {"result": None}
    assert build_id_of(path) == build_id_of(demo_warehouse)  # not rebuilt


def test_a_failed_automatic_build_is_a_message(app_env: Callable[..., None], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle that cannot be built (no NIL boundaries in it): the page says so, no traceback, no file."""
    from etl import bundle

    broken = tmp_path / "bundle"
    broken.mkdir()
    (broken / bundle.MANIFEST).write_text("{}", encoding="utf-8")
    monkeypatch.setattr(bundle, "BUNDLE_DIR", broken)
    path = tmp_path / "data" / "w.duckdb"
    app_env(path, auto=True)
    at = run_page("pages/panoramica.py")
    assert not at.exception, [e.value for e in at.exception]
    errors = [unescape(e.value) for e in at.error]
    assert len(errors) == 1 and "la costruzione automatica non è riuscita" in errors[0], errors
    assert "NIL" in errors[0] and "python -m etl build" in errors[0]
    assert not path.exists()
