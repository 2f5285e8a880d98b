"""The app in a real browser: `streamlit run` on 127.0.0.1, Debian's chromium driven by Playwright.

Every page listed in the sidebar navigation is opened by its own URL (a deep link, as a user
would paste it), must finish running without an error element or console error, and, where it
has a map, must have drawn the districts. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("OSSERVATORIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "artifacts" / "screenshots"
# Harmless console noise of Streamlit's client (engineering-notes.md): health probes on sub-paths.
IGNORED_CONSOLE = ("_stcore/health", "_stcore/host-config", "favicon")

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
                       reason=f"Debian's chromium is not installed ({CHROMIUM}): apt-get install chromium"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A demo warehouse with two snapshots, served by `streamlit run` on a free loopback port."""
    from etl.pipeline import build

    folder = tmp_path_factory.mktemp("browser")
    warehouse = folder / "warehouse.duckdb"
    build(None, warehouse, progress=lambda _m: None)
    build(None, warehouse, progress=lambda _m: None)
    port = _free_port()
    env = {**os.environ, "OSSERVATORIO_WAREHOUSE": str(warehouse), "OSSERVATORIO_APPSTATE": str(folder / "app.sqlite"),
           "OSSERVATORIO_MAP_STYLE": "white-bg", "OSSERVATORIO_AUTO_DEMO": "0"}
    log = open(folder / "streamlit.log", "wb")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start: {(folder / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                      args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser: object, url: str) -> tuple[object, object, list[str]]:
    """Open a URL in a fresh context; wait until Streamlit has finished running the page."""
    # A tall viewport: Streamlit scrolls inside its main block, so everything is drawn and captured.
    context = browser.new_context(viewport={"width": 1400, "height": 5000})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} [{m.location.get('url', '')}]") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=90_000)
    # The status widget shows while the script runs; wait until it has been gone for a moment.
    page.wait_for_function(
        """() => {
            const busy = document.querySelector('[data-testid="stStatusWidget"]');
            const now = performance.now();
            if (busy) { window.__idleSince = undefined; return false; }
            if (window.__idleSince === undefined) { window.__idleSince = now; }
            return now - window.__idleSince > 1500;
        }""",
        timeout=90_000, polling=250,
    )
    return context, page, errors


def _nav_paths(browser: object, base: str) -> list[str]:
    context, page, _ = _open(browser, base + "/")
    try:
        hrefs = page.eval_on_selector_all('[data-testid="stSidebarNav"] a', "els => els.map(e => e.href)")
    finally:
        context.close()  # type: ignore[attr-defined]
    return [h.split("?")[0].replace(base, "").strip("/") for h in hrefs]


MAP_STATE_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => {
    const data = el._fullData || [];
    const choro = data.filter(t => t.type === 'choroplethmap');
    const canvas = el.querySelector('canvas');
    return {
        locations: choro.reduce((n, t) => n + (t.locations ? t.locations.length : 0), 0),
        canvas: canvas ? canvas.width * canvas.height : 0,
    };
})"""


# Pages that must draw a district map, with the fewest districts it must contain. Pages found in
# the navigation but not listed here are still checked for errors.
MAP_PAGES = {"": 88, "panoramica": 88, "mappa": 88, "periferie": 88, "makerspace": 88, "spazi_vuoti": 88,
             "imprese": 88, "quartiere": 1}


def _check_page(browser: object, base: str, path: str) -> dict:
    context, page, errors = _open(browser, f"{base}/{path}")
    try:
        maps: list[dict] = []
        need = MAP_PAGES.get(path)
        if need is not None:
            # Plotly draws after the script has finished: wait for the districts and the canvas.
            page.wait_for_function(f"() => ({MAP_STATE_JS})().some(m => m.locations >= {need} && m.canvas > 0)",
                                   timeout=90_000, polling=250)
        maps = page.evaluate(MAP_STATE_JS)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{path or 'root'}.png"))
        exceptions = page.locator('[data-testid="stException"]').count()
        alerts = page.locator('[data-testid="stAlertContentError"]').count()
        not_found = page.get_by_text("Page not found").count()
        real_errors = [e for e in errors if not any(k in e for k in IGNORED_CONSOLE)]
        return {"maps": maps, "exceptions": exceptions, "alerts": alerts, "not_found": not_found,
                "console": real_errors, "title": page.inner_text('[data-testid="stMain"] h1')}
    finally:
        context.close()  # type: ignore[attr-defined]


def test_deep_link_as_first_request_of_a_fresh_server(server: str, browser: object) -> None:
    """The server's very first page view is a deep link: it must get the app's navigation
    (titles from the translation table), not Streamlit's legacy listing of pages/ files."""
    context, page, errors = _open(browser, f"{server}/quartiere?nil=12")
    try:
        labels = page.eval_on_selector_all('[data-testid="stSidebarNav"] a', "els => els.map(e => e.innerText.trim())")
        assert "Mappa" in labels and "Quartiere" in labels, labels
        assert "app" not in labels and "quartiere" not in labels, labels
        assert "MACIACHINI" in page.inner_text('[data-testid="stMain"]')
        assert page.get_by_text("Page not found").count() == 0
    finally:
        context.close()  # type: ignore[attr-defined]


def test_every_page_loads_by_deep_link_and_draws_its_map(server: str, browser: object) -> None:
    paths = _nav_paths(browser, server)
    assert len(paths) >= 9, f"navigation lists too few pages: {paths}"
    assert set(MAP_PAGES) - {""} <= set(paths) | {"panoramica"}, f"a map page is missing from the navigation: {paths}"
    for path in paths:
        result = _check_page(browser, server, path)
        assert result["exceptions"] == 0, f"{path}: Streamlit exception on the page"
        assert result["alerts"] == 0, f"{path}: error message on the page"
        assert result["not_found"] == 0, f"{path}: 'Page not found' dialog on a deep link"
        assert result["console"] == [], f"{path}: console errors {result['console'][:3]}"
        if path in MAP_PAGES:
            assert any(m["locations"] >= MAP_PAGES[path] and m["canvas"] > 0 for m in result["maps"]), path


def test_map_page_draws_all_88_nil(server: str, browser: object) -> None:
    result = _check_page(browser, server, "mappa")
    assert max(m["locations"] for m in result["maps"]) == 88
    assert all(m["canvas"] > 0 for m in result["maps"] if m["locations"])


def test_language_and_demo_banner(server: str, browser: object) -> None:
    context, page, _ = _open(browser, f"{server}/panoramica?lang=en")
    try:
        assert page.inner_text('[data-testid="stMain"] h1').strip() == "Overview"
        assert "demo data" in page.inner_text("body").lower()
    finally:
        context.close()  # type: ignore[attr-defined]
    context, page, _ = _open(browser, f"{server}/panoramica")
    try:
        assert page.inner_text('[data-testid="stMain"] h1').strip() == "Panoramica"
        assert "dimostrativi" in page.inner_text("body")
    finally:
        context.close()  # type: ignore[attr-defined]


def test_district_deep_link_opens_that_nil(server: str, browser: object) -> None:
    context, page, _ = _open(browser, f"{server}/quartiere?nil=12")
    try:
        assert "MACIACHINI" in page.inner_text('[data-testid="stMain"]')
    finally:
        context.close()  # type: ignore[attr-defined]
