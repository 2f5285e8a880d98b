"""The app in a real browser: `streamlit run` on 127.0.0.1, Debian's chromium driven by Playwright.

The pages are discovered from the sidebar navigation, so a page added to app.py is covered
without touching this file. Every page is opened by its own URL (a deep link, as a user would
paste it) in a fresh browser context and must:

- finish running (script idle, no placeholder skeletons, no stale elements) within 60 s;
- show no Streamlit exception, no error message, no "Page not found" dialog;
- log no console error and no uncaught JavaScript error (except the documented harmless
  404s of Streamlit's client for /<page>/_stcore/health and /<page>/_stcore/host-config);
- make no request outside the server (maps must work offline);
- show the demo banner (the warehouse served here is the demo bundle);
- where it has maps: every MapLibre map has loaded, its canvas has a size, and every
  choropleth draws each district of its GeoJSON (the ids MapLibre reports as rendered);
  Panoramica's static SVG map (st.image) is loaded, decoded, visible and has a path per district.

Full-page screenshots go to artifacts/screenshots/<page>.png (git-ignored). Nothing waits a
fixed time: every wait is for a condition in the page, bounded by a timeout.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "artifacts" / "screenshots"
TIMEOUT_MS = 60_000  # 2 slow cores: a map page is ready after about 3-6 s, much later under load
WIDTH, HEIGHT = 1400, 1000  # initial viewport; grown to the content height for the screenshot

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"Debian's chromium is not installed at {CHROMIUM}: apt-get install chromium"),
]

# Pages known to draw a district map, with the fewest districts its choropleth must show. A guard
# against a map silently disappearing; every other map found on any page is checked all the same.
MAP_PAGES = {"mappa": 88, "periferie": 88, "makerspace": 88, "spazi_vuoti": 88, "imprese": 88,
             "quartiere": 1}
#: Pages whose map is a static SVG image (osservatorio.svgmap, no plotly on the first page), with its district count.
SVG_MAP_PAGES = {"": 88, "panoramica": 88}

# Streamlit idle: script finished, connected, no lazy element still a skeleton, nothing stale,
# every plotly chart drawn and every MapLibre map loaded and not moving.
READY_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.dataset.testScriptState !== 'notRunning' || app.dataset.testConnectionState !== 'CONNECTED') {
        return false;
    }
    if (!document.querySelector('[data-testid="stMain"]')) { return false; }
    if (document.querySelector('[data-testid="stElementContainer"] > [data-testid="stSkeleton"], [data-stale="true"]')) {
        return false;
    }
    return Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]')).every(chart => {
        const gd = chart.querySelector('.js-plotly-plot');
        if (!gd || !gd._fullLayout || !gd._fullData) { return false; }
        return Object.keys(gd._fullLayout).filter(k => /^map\\d*$/.test(k)).every(k => {
            const sub = gd._fullLayout[k]._subplot;
            return sub && sub.map && sub.map.loaded() && !sub.map.isMoving();
        });
    });
}"""

# One record per MapLibre subplot of every plotly chart on the page.
MAPS_JS = """() => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')).flatMap(gd =>
    Object.keys(gd._fullLayout).filter(k => /^map\\d*$/.test(k)).map(k => {
        const map = gd._fullLayout[k]._subplot.map;
        const canvas = map.getCanvas();
        const traces = gd._fullData.filter(t => t.visible === true && (t.subplot || 'map') === k);
        const choro = traces.filter(t => t.type === 'choroplethmap');
        const features = new Set();
        let [minx, miny, maxx, maxy] = [Infinity, Infinity, -Infinity, -Infinity];
        const walk = c => {
            if (typeof c[0] === 'number') {
                minx = Math.min(minx, c[0]); maxx = Math.max(maxx, c[0]);
                miny = Math.min(miny, c[1]); maxy = Math.max(maxy, c[1]);
            } else { c.forEach(walk); }
        };
        for (const t of choro) {
            for (const f of ((t.geojson && t.geojson.features) || [])) {
                features.add(String(f.id));
                if (f.geometry) { walk(f.geometry.coordinates); }
            }
        }
        const locations = new Set();
        let nLocations = 0;
        for (const t of choro) {
            for (const l of Array.from(t.locations || [])) { locations.add(String(l)); nLocations += 1; }
        }
        const fills = choro.map(t => `plotly-trace-layer-${t.uid}-fill`).filter(id => map.getLayer(id));
        const rendered = new Set(fills.length ? map.queryRenderedFeatures({layers: fills}).map(f => String(f.id)) : []);
        const view = map.getBounds();
        return {
            title: ((gd.layout.title && gd.layout.title.text) || '').replace(/<[^>]*>/g, ''),
            types: traces.map(t => t.type),
            locations: nLocations,
            distinct_locations: locations.size,
            unknown_locations: Array.from(locations).filter(l => !features.has(l)).slice(0, 5),
            features: features.size,
            rendered: rendered.size,
            canvas: [canvas.clientWidth, canvas.clientHeight],
            style: map.getStyle().layers.length ? map.getStyle().layers[0].id : '',
            data_bounds: choro.length ? [minx, miny, maxx, maxy] : null,
            view_bounds: [view.getWest(), view.getSouth(), view.getEast(), view.getNorth()],
        };
    }))"""

# One record per static SVG map image (st.image of osservatorio.svgmap) in the main block.
SVG_MAPS_JS = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"] img'))
    .filter(img => (img.src || '').startsWith('data:image/svg+xml;base64,')).map(img => {
        const text = new TextDecoder().decode(Uint8Array.from(atob(img.src.split(',')[1]), c => c.charCodeAt(0)));
        const svg = new DOMParser().parseFromString(text, 'image/svg+xml');
        const box = img.getBoundingClientRect();
        return {complete: img.complete, natural: [img.naturalWidth, img.naturalHeight], box: [box.width, box.height],
                alt: img.alt, areas: svg.querySelectorAll('path').length, parse_error: !!svg.querySelector('parsererror'),
                legend: Array.from(svg.querySelectorAll('text')).map(t => t.textContent)};
    })"""
SVG_LOADED_JS = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"] img'))
    .every(img => img.complete && img.naturalWidth > 0)"""

CONTENT_HEIGHT_JS = """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stMainBlockContainer"]',
    '[data-testid="stAppViewContainer"]'].map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight))"""


@dataclass
class PageVisit:
    """What one page showed; `problem` is set when the page never became ready."""

    path: str
    label: str
    problem: str = ""
    title: str = ""
    main_text: str = ""
    maps: list[dict[str, Any]] = field(default_factory=list)
    svg_maps: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    error_alerts: list[str] = field(default_factory=list)
    not_found: int = 0
    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    screenshot: Path | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                if resp.read().strip() == b"ok":
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not start (exit code {proc.poll()}): {log.read_text()[-2000:]}")
        time.sleep(0.2)  # polling interval of a bounded loop, not a wait for the page


APPSTATE: dict[str, Path] = {}  # server base URL -> its app-state file (tests seed board sessions there)


@contextmanager
def app_server(warehouse: Path, folder: Path, command: tuple[str, ...] = ("streamlit", "run", "app.py"),
               log_name: str = "streamlit.log", seconds: float = 60) -> Iterator[str]:
    """The app over `warehouse` (`python -m streamlit run app.py`, or `command` such as ("osservatorio.serve",)) on a
    free loopback port, its app state and log (`log_name`) in `folder`; yields the base URL, then stops the server."""
    port = _free_port()
    env = {**os.environ, "OSSERVATORIO_WAREHOUSE": str(warehouse), "OSSERVATORIO_APPSTATE": str(folder / "app.sqlite"),
           "OSSERVATORIO_MAP_STYLE": "white-bg", "OSSERVATORIO_AUTO_DEMO": "0"}
    log_path = folder / log_name
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", *command, "--server.port", str(port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    APPSTATE[base] = folder / "app.sqlite"
    try:
        _wait_healthy(base, proc, log_path, seconds=seconds)
        yield base
    finally:
        _stop_group(proc)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A demo warehouse with two snapshots, served by `streamlit run` on a free loopback port."""
    from etl.pipeline import build

    folder = tmp_path_factory.mktemp("browser")
    warehouse = folder / "warehouse.duckdb"
    build(None, warehouse, progress=lambda _m: None)
    build(None, warehouse, progress=lambda _m: None)  # a second snapshot: "change since" columns have values
    with app_server(warehouse, folder) as base:
        yield base


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server's process group (its own session), then reap it; SIGKILL if it hangs."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _harmless(text: str, url: str, base: str) -> bool:
    """Streamlit's client probes /<page>/_stcore/health and /host-config on a sub-path (404)."""
    return "404" in text and re.fullmatch(re.escape(base) + r"/[^?#]+/_stcore/(health|host-config)", url) is not None


def _open(browser: Browser, base: str, url: str) -> tuple[Page, list[str], list[str]]:
    """A fresh context and page at `url`, with its console errors and outside requests recorded."""
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    errors: list[str] = []
    external: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        url_of = str(msg.location.get("url", ""))
        if msg.type == "error" and not _harmless(msg.text, url_of, base):
            errors.append(f"{msg.text} [{url_of}]")

    def on_request(req: Request) -> None:
        if not req.url.startswith((base + "/", "data:", "blob:")) and req.url != base:
            external.append(req.url)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on("request", on_request)
    try:
        page.goto(url, timeout=TIMEOUT_MS)
    except BaseException:
        context.close()
        raise
    return page, errors, external


def _wait_ready(page: Page) -> None:
    page.wait_for_function(READY_JS, timeout=TIMEOUT_MS, polling=100)


def _texts(page: Page, selector: str) -> list[str]:
    return [t.strip()[:300] for t in page.locator(selector).all_inner_texts()]


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", path).strip("_") or "root"


def _visit(browser: Browser, base: str, path: str, label: str, page: Page | None = None,
           errors: list[str] | None = None, external: list[str] | None = None, shots: Path = SHOTS) -> PageVisit:
    """Open one page (or use an already open one), wait until ready, record what it shows, screenshot."""
    visit = PageVisit(path=path, label=label)
    if page is None:
        try:
            page, errors, external = _open(browser, base, f"{base}/{path}")
        except sync_api.Error as exc:
            visit.problem = f"could not open: {str(exc).splitlines()[0]}"
            return visit
    assert errors is not None and external is not None
    try:
        _wait_ready(page)
        page.wait_for_function(SVG_LOADED_JS, timeout=TIMEOUT_MS, polling=100)
        visit.maps = page.evaluate(MAPS_JS)
        visit.svg_maps = page.evaluate(SVG_MAPS_JS)
        visit.title = page.locator('[data-testid="stMain"] h1').first.inner_text(timeout=TIMEOUT_MS).strip()
        visit.main_text = page.inner_text('[data-testid="stMain"]')
        visit.exceptions = _texts(page, '[data-testid="stException"]')
        visit.error_alerts = _texts(page, '[data-testid="stAlertContentError"]')
        visit.not_found = page.get_by_text("Page not found").count()
        # Streamlit scrolls inside its main block: grow the viewport to the content, then capture.
        height = min(int(page.evaluate(CONTENT_HEIGHT_JS)) + 100, 15_000)
        page.set_viewport_size({"width": WIDTH, "height": max(height, HEIGHT)})
        _wait_ready(page)  # the resize makes the maps redraw
        shots.mkdir(parents=True, exist_ok=True)
        visit.screenshot = shots / f"{_slug(path)}.png"
        page.screenshot(path=str(visit.screenshot), full_page=True)
    except sync_api.Error as exc:  # timeouts included: reported per page by the tests below
        visit.problem = str(exc).splitlines()[0]
    finally:
        visit.console_errors = list(errors)
        visit.external_requests = list(external)
        page.context.close()
    return visit


def _nav_links(page: Page, base: str) -> list[tuple[str, str]]:
    """(path, label) of every page in the sidebar navigation (or top navigation), in order."""
    more = page.locator('[data-testid="stSidebarNavViewButton"]')
    if more.count() and "more" in more.first.inner_text().lower():  # "View N more": show every page
        more.first.click()
    links = page.eval_on_selector_all(
        '[data-testid="stSidebarNav"] a, [data-testid="stSidebarNavLink"], [data-testid="stTopNavLink"]',
        "els => els.map(e => [e.href, e.innerText.trim()])")
    seen: dict[str, str] = {}
    for href, label in links:
        path = href.split("?")[0].split("#")[0].removeprefix(base).strip("/")
        seen.setdefault(path, label)
    return list(seen.items())


@pytest.fixture(scope="module")
def visits(server: str, browser: Browser) -> dict[str, PageVisit]:
    """Every page of the navigation, visited once. The root URL is the default page."""
    for old in SHOTS.glob("*.png"):
        old.unlink()
    page, errors, external = _open(browser, server, server + "/")
    _wait_ready(page)
    links = _nav_links(page, server)
    root_label = next((label for path, label in links if path == ""), "")
    result = {"": _visit(browser, server, "", root_label, page, errors, external)}
    for path, label in links:
        if path not in result:
            result[path] = _visit(browser, server, path, label)
    return result


def test_deep_link_as_first_request_of_a_fresh_server(server: str, browser: Browser) -> None:
    """The server's very first page view is a deep link: it must get the app's navigation
    (titles from the translation table), not Streamlit's legacy listing of pages/ files.
    Must stay the first test of this module (it needs a server nobody has visited yet)."""
    page, errors, _ = _open(browser, server, f"{server}/quartiere?nil=12")
    try:
        _wait_ready(page)
        labels = [label for _, label in _nav_links(page, server)]
        assert "Mappa" in labels and "Quartiere" in labels, labels
        assert "app" not in labels and "quartiere" not in labels, labels
        assert "MACIACHINI" in page.inner_text('[data-testid="stMain"]')
        assert page.get_by_text("Page not found").count() == 0
        assert errors == [], errors
    finally:
        page.context.close()


def test_navigation_lists_the_pages(visits: dict[str, PageVisit]) -> None:
    """Guard against a silent discovery failure (a changed test id would make every check vacuous)."""
    assert len(visits) >= 2, f"navigation not found or lists one page: {sorted(visits)}"
    missing = (set(MAP_PAGES) | set(SVG_MAP_PAGES)) - set(visits)
    assert not missing, f"pages known to have a map are missing from the navigation: {sorted(missing)}"


def test_every_page_runs_without_errors(visits: dict[str, PageVisit], subtests: pytest.Subtests) -> None:
    for path, v in visits.items():
        with subtests.test(msg=f"/{path} ({v.label})"):
            assert not v.problem, f"/{path}: never became ready: {v.problem}"
            assert v.exceptions == [], f"/{path}: Streamlit exception: {v.exceptions}"
            assert v.error_alerts == [], f"/{path}: error message: {v.error_alerts}"
            assert v.not_found == 0, f"/{path}: 'Page not found' dialog"
            assert v.console_errors == [], f"/{path}: console errors: {v.console_errors[:5]}"
            assert v.external_requests == [], f"/{path}: requests outside the server: {v.external_requests[:5]}"
            assert v.title, f"/{path}: no page title (h1)"
            assert "dimostrativi" in v.main_text, f"/{path}: demo banner missing on a demo warehouse"
            assert v.screenshot is not None and v.screenshot.stat().st_size > 10_000, f"/{path}: no screenshot"


def test_every_map_draws_its_districts(visits: dict[str, PageVisit], subtests: pytest.Subtests) -> None:
    for path, v in visits.items():
        with subtests.test(msg=f"/{path} ({v.label})"):
            assert not v.problem, f"/{path}: never became ready: {v.problem}"
            for m in v.maps:
                where = f"/{path}, map {m['title']!r}"
                assert m["canvas"][0] > 0 and m["canvas"][1] > 0, f"{where}: MapLibre canvas has no size {m['canvas']}"
                assert m["style"] == "white-bg", f"{where}: basemap {m['style']!r} needs the internet"
                if "choroplethmap" not in m["types"]:
                    continue
                assert m["features"] > 0, f"{where}: choropleth without GeoJSON features"
                assert m["unknown_locations"] == [], f"{where}: locations not in the GeoJSON: {m['unknown_locations']}"
                assert m["locations"] == m["distinct_locations"] == m["features"], (
                    f"{where}: {m['locations']} locations ({m['distinct_locations']} distinct) for "
                    f"{m['features']} districts: each district must be drawn once (grey when it has no value)")
                assert m["rendered"] == m["features"], f"{where}: MapLibre drew {m['rendered']} of {m['features']} districts"
            need = MAP_PAGES.get(path)
            if need is not None:
                drawn = [m["rendered"] for m in v.maps if "choroplethmap" in m["types"]]
                assert drawn and max(drawn) >= need, f"/{path}: expected a map of {need} districts, drew {drawn}"
                if need == 88:
                    assert 88 in [m["locations"] for m in v.maps], f"/{path}: no choropleth of all 88 NIL"
            for m in v.svg_maps:
                check_svg_map(m, f"/{path}")
            if path in SVG_MAP_PAGES:
                assert [m["areas"] for m in v.svg_maps] == [SVG_MAP_PAGES[path]], f"/{path}: SVG maps {v.svg_maps}"


def check_svg_map(m: dict[str, Any], where: str) -> None:
    """A static SVG map image: loaded and decoded, well-formed, visible at a readable size, with alt text."""
    assert m["complete"] and m["natural"][0] > 0, f"{where}: SVG map not loaded {m}"
    assert not m["parse_error"], f"{where}: the SVG map does not parse"
    assert m["box"][0] >= 600 and m["box"][1] >= 300, f"{where}: SVG map drawn at {m['box']} px: too small to read"
    assert m["alt"].startswith(("Mappa: ", "Map: ")), f"{where}: SVG map without alt text: {m['alt']!r}"


def test_every_map_shows_all_of_its_districts(visits: dict[str, PageVisit]) -> None:
    """The initial view must contain the districts' bounds (MapLibre traces have no fitbounds)."""
    cut_maps: list[str] = []
    for path, v in visits.items():
        for m in v.maps:
            if m["data_bounds"] is None:
                continue
            (x0, y0, x1, y1), (w, s, e, n) = m["data_bounds"], m["view_bounds"]
            tol = 0.002 * max(x1 - x0, y1 - y0)  # a couple of pixels
            cut = {"west": w - x0, "south": s - y0, "east": x1 - e, "north": y1 - n}
            sides = [f"{side} by {deg:.4f}°" for side, deg in cut.items() if deg > tol]
            if sides:
                cut_maps.append(f"/{path} {m['title']!r}: {', '.join(sides)} (canvas {m['canvas'][0]}x{m['canvas'][1]} px)")
    assert not cut_maps, "maps that cut off part of the districts:\n" + "\n".join(cut_maps)


def test_language_from_url_and_from_the_selector(server: str, browser: Browser) -> None:
    """?lang=en shows English; choosing Italiano in the sidebar switches back, with the demo banner."""
    page, errors, _ = _open(browser, server, f"{server}/?lang=en")
    try:
        _wait_ready(page)
        main = page.locator('[data-testid="stMain"]')
        assert main.locator("h1").first.inner_text().strip() == "Overview"
        assert "Demo data" in main.inner_text()
        assert "Map" in [label for _, label in _nav_links(page, server)]
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name="Italiano").click()
        main.locator("h1", has_text="Panoramica").wait_for(timeout=TIMEOUT_MS)
        _wait_ready(page)
        assert "dimostrativi" in main.get_by_test_id("stAlertContentWarning").first.inner_text()
        assert "lang=it" in page.url
        assert errors == [], errors
    finally:
        page.context.close()


def test_seduta_keeps_its_tab_after_preparing_the_pdf(server: str, browser: Browser) -> None:
    """After "Prepara il PDF" in the Verbale tab the page reruns and must stay on that tab with the
    download in view (it jumped to the first tab and the download hid in another one)."""
    from datetime import date

    from osservatorio.board_store import BoardStore

    store = BoardStore(APPSTATE[server])
    session = store.create_session(date.today(), "Seduta di prova del browser", "", None, None, author="test")
    page, errors, _ = _open(browser, server, f"{server}/seduta?lang=it&seduta={session.session_id}")
    try:
        _wait_ready(page)
        main = page.locator('[data-testid="stMain"]')
        main.get_by_role("tab", name="Verbale").click()
        _wait_ready(page)
        make = main.get_by_role("button", name="Prepara il PDF")
        if make.is_disabled():
            pytest.skip(f"the PDF cannot be made here: {main.get_by_test_id('stAlertContentInfo').all_inner_texts()}")
        make.click()
        _wait_ready(page)
        selected = [s.strip() for s in main.locator('[role="tab"][aria-selected="true"]').all_inner_texts()]
        assert selected == ["Verbale"], f"open tab after the action: {selected}"
        main.get_by_role("button", name="Scarica il verbale (PDF)").wait_for(timeout=TIMEOUT_MS)
        assert errors == [], errors
    finally:
        page.context.close()


# --- the other territories: the Provincia di Cremona and the Città metropolitana built from the real files,
# chosen with ?territorio= ------------------------------------------------------------------------------------

CREMONA = "provincia_cremona"
METRO = "citta_metropolitana_milano"
TERRITORY_NAMES = {CREMONA: "Provincia di Cremona", METRO: "Città metropolitana di Milano"}
MILAN_LEVEL_WORDS = re.compile(r".{0,60}\b(?:NIL|Municipio|Municipi)\b.{0,40}")


@pytest.fixture(scope="module")
def territory_server(tmp_path_factory: pytest.TempPathFactory, real_dir: Path) -> Iterator[str]:
    """The demo as the default warehouse and the real builds of Cremona and the Città metropolitana beside it
    (warehouse-<id>.duckdb)."""
    from etl.pipeline import build

    folder = tmp_path_factory.mktemp("browser-territory")
    build(None, folder / "warehouse.duckdb", progress=lambda _m: None)
    for territory in TERRITORY_NAMES:
        build(real_dir, folder / f"warehouse-{territory}.duckdb", progress=lambda _m: None, territory=territory)
    with app_server(folder / "warehouse.duckdb", folder) as base:
        yield base


@pytest.mark.real
@pytest.mark.parametrize("territory", [CREMONA, METRO])
def test_every_page_of_another_territory(territory_server: str, browser: Browser, territory: str,
                                         subtests: pytest.Subtests) -> None:
    """Every page with ?territorio=<id>: ready, no exception, no error box, no console error, the territory
    named, no NIL/Municipio words, each comuni map draws every comune it has. Screenshots in
    artifacts/screenshots/<id>/."""
    shots = SHOTS / territory
    for old in shots.glob("*.png"):
        old.unlink()
    page, errors, external = _open(browser, territory_server, f"{territory_server}/?territorio={territory}")
    _wait_ready(page)
    links = _nav_links(page, territory_server)
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Territorio").wait_for(
        timeout=TIMEOUT_MS)  # the territory selectbox (its value is not in the text: the pages below name it)
    page.context.close()
    assert len(links) >= 12, links
    for path, label in links:
        with subtests.test(msg=f"/{path} ({label})"):
            v = _visit(browser, territory_server, f"{path}?territorio={territory}", label, shots=shots)
            assert not v.problem, f"/{path}: never became ready: {v.problem}"
            assert v.exceptions == [], f"/{path}: Streamlit exception: {v.exceptions}"
            assert v.error_alerts == [], f"/{path}: error message: {v.error_alerts}"
            assert v.not_found == 0 and v.console_errors == [], (v.not_found, v.console_errors[:5])
            assert v.external_requests == [], v.external_requests[:5]
            assert TERRITORY_NAMES[territory] in v.main_text, f"/{path}: the territory is not named"
            milan_words = MILAN_LEVEL_WORDS.findall(v.main_text)
            assert not milan_words, f"/{path}: Milan's levels on a comuni page: {milan_words[:3]}"
            for m in v.maps:
                if "choroplethmap" in m["types"]:
                    assert m["rendered"] == m["features"] > 0, f"/{path} {m['title']!r}: {m['rendered']} of {m['features']}"
            for m in v.svg_maps:  # Panoramica's static map: every comune drawn
                check_svg_map(m, f"/{path}")
                assert m["areas"] > 100, f"/{path}: the SVG map draws {m['areas']} comuni"
            if path in SVG_MAP_PAGES:
                assert len(v.svg_maps) == 1, f"/{path}: {len(v.svg_maps)} SVG maps"
            assert v.screenshot is not None and v.screenshot.stat().st_size > 10_000, f"/{path}: no screenshot"


def test_warmed_server_serves_the_first_pages(tmp_path: Path, browser: Browser) -> None:
    """`python -m osservatorio.serve` (warm-up in the server's process, then Streamlit's server): a deep link as
    the very first request and the root URL both draw their maps, with the app's navigation and no error."""
    from etl.pipeline import build

    warehouse = tmp_path / "warehouse.duckdb"
    build(None, warehouse, progress=lambda _m: None)
    log_path = tmp_path / "serve.log"
    with app_server(warehouse, tmp_path, ("osservatorio.serve",), log_name="serve.log", seconds=120) as base:
        for path in ("mappa", ""):
            visit = _visit(browser, base, path, path or "root", shots=tmp_path / "shots")
            assert not visit.problem, f"/{path}: never became ready: {visit.problem}"
            assert visit.exceptions == [] and visit.error_alerts == [], (visit.exceptions, visit.error_alerts)
            assert visit.console_errors == [], visit.console_errors[:5]
            assert visit.not_found == 0
            assert "dimostrativi" in visit.main_text
            if path == "":  # Panoramica: its map is a static SVG image
                assert [m["areas"] for m in visit.svg_maps] == [88], visit.svg_maps
                check_svg_map(visit.svg_maps[0], "/ (serve)")
                continue
            drawn = [m for m in visit.maps if "choroplethmap" in m["types"]]
            assert drawn and all(m["rendered"] >= 88 for m in drawn), visit.maps
    warmed = [line for line in log_path.read_text(errors="replace").splitlines() if line.startswith("Riscaldamento")]
    assert warmed and "pages/mappa.py" in warmed[0], warmed


# --- Panoramica on the real Milan build: the static SVG map, in both languages --------------------------------

@pytest.mark.real
def test_panoramica_svg_map_on_the_real_build(tmp_path: Path, browser: Browser, real_dir: Path) -> None:
    """/panoramica on the real build at 1440x900, Italian and English: the map image is loaded, decoded, visible and
    large, draws the 88 NIL with a legend in the page's number format, and links to the interactive map in the same
    language; no plotly chart on the page. Screenshots in artifacts/screenshots/real/panoramica_<lang>.png."""
    from etl.pipeline import build

    warehouse = tmp_path / "warehouse.duckdb"
    build(real_dir, warehouse, progress=lambda _m: None)
    shots = SHOTS / "real"
    shots.mkdir(parents=True, exist_ok=True)
    thousands = {"it": re.compile(r"^\d{1,3}(\.\d{3})+ – \d{1,3}(\.\d{3})+$"),
                 "en": re.compile(r"^\d{1,3}(,\d{3})+ – \d{1,3}(,\d{3})+$")}
    with app_server(warehouse, tmp_path) as base:
        for lang in ("it", "en"):
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(f"uncaught: {exc}"))
            try:
                page.goto(f"{base}/panoramica?lang={lang}", timeout=TIMEOUT_MS)
                _wait_ready(page)
                page.wait_for_function(SVG_LOADED_JS, timeout=TIMEOUT_MS, polling=100)
                image = page.locator('[data-testid="stMain"] [data-testid="stImage"] img').first
                image.scroll_into_view_if_needed()
                assert image.is_visible()
                (m,) = page.evaluate(SVG_MAPS_JS)
                check_svg_map(m, f"/panoramica?lang={lang}")
                assert m["areas"] == 88, m["areas"]
                assert m["box"][0] >= 800, f"the map is {m['box']} px wide in a 1440 px window"
                ranges = [x for x in m["legend"] if " – " in x]
                assert len(ranges) >= 3 and all(thousands[lang].match(x) for x in ranges[:-1]), m["legend"]
                assert page.locator('[data-testid="stPlotlyChart"]').count() == 0  # no plotly on the first page
                link = page.locator('[data-testid="stMain"] a[href*="mappa"]').first
                assert f"lang={lang}" in (link.get_attribute("href") or ""), link.get_attribute("href")
                page.screenshot(path=str(shots / f"panoramica_{lang}.png"))
                assert errors == [], errors
            finally:
                context.close()
