"""Accessibility (WCAG 2.1 AA, required of Italian public-sector sites).

- Palettes: every colour pair of the maps' categorical palettes stays apart (CIE76 ΔE) when
  protanopia, deuteranopia and tritanopia are simulated (Machado, Oliveira & Fernandes 2009,
  severity 1); the sequential scale's lightness is monotonic in every simulation.
- In chromium (like tests/test_browser.py): axe-core (the copy shipped with axe-playwright-python,
  offline) on every page of the navigation, on the embedded bundle build and on the real build
  (skipped when the real files are absent): no serious or critical violation of the WCAG 2.0/2.1
  A and AA rules; and every page with a district map also shows a table of the districts' values.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from plotly.colors import sample_colorscale

from osservatorio import maps
from osservatorio.indicator_views import CLASS_COLORS

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = "/usr/bin/chromium"  # as in tests/test_browser.py, whose helpers the browser checks use
BROWSER_MARKS = [pytest.mark.browser, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}")]

# --- colour-vision deficiency simulation ---------------------------------------------------------------

# Machado et al. 2009, severity 1.0, on linear RGB.
CVD = {
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602), (0.004733, 0.691367, 0.303900)),
    "normal": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
}
MIN_DELTA_E = 15.0  # two colours this far apart in CIELAB are told apart at a glance on a map


def _rgb(color: str) -> tuple[float, float, float]:
    color = color.strip()
    if color.startswith("rgb"):
        r, g, b = (float(x) for x in color[color.index("(") + 1:color.index(")")].split(",")[:3])
        return r, g, b
    h = color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _lab(color: str, kind: str) -> tuple[float, float, float]:
    """CIELAB (D65) of `color` as seen with the colour-vision type `kind`."""
    def linear(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    rgb = [linear(c) for c in _rgb(color)]
    r, g, b = (min(1.0, max(0.0, sum(m * v for m, v in zip(row, rgb, strict=True)))) for row in CVD[kind])
    x, y, z = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b, \
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_cvd_simulation_tells_known_confusions() -> None:
    """The check can fail: red and green merge for deuteranopes, blue and orange do not."""
    red, green = "#d62728", "#2ca02c"
    assert math.dist(_lab(red, "normal"), _lab(green, "normal")) > 40
    assert math.dist(_lab(red, "deuteranopia"), _lab(green, "deuteranopia")) < MIN_DELTA_E
    assert math.dist(_lab("#0072B2", "deuteranopia"), _lab("#E69F00", "deuteranopia")) > MIN_DELTA_E


PALETTES = {
    "point layers (maps.THEME_COLORS)": maps.THEME_COLORS,
    "target status (maps.STATUS_COLORS)": maps.STATUS_COLORS,
    "better/worse (maps.ASSESS_COLORS)": maps.ASSESS_COLORS,
    "periphery classes + no class (CLASS_COLORS)": {**CLASS_COLORS, "no class": maps.MISSING_COLOR},
}


@pytest.mark.parametrize("name", list(PALETTES))
def test_categorical_palettes_stay_apart_for_colour_blind_readers(name: str) -> None:
    palette = PALETTES[name]
    close = []
    for kind in CVD:
        for (a, ca), (b, cb) in itertools.combinations(palette.items(), 2):
            d = math.dist(_lab(ca, kind), _lab(cb, kind))
            if d < MIN_DELTA_E:
                close.append(f"{a} {ca} / {b} {cb}: ΔE {d:.1f} ({kind})")
    assert not close, f"{name}: colours too close:\n" + "\n".join(close)


def test_sequential_scale_reads_by_lightness() -> None:
    """Low to high values get monotonically darker colours in every colour-vision type, with a clear
    span, and the missing-value grey is not confused with the scale's lightest colour."""
    samples = sample_colorscale(maps.SEQUENTIAL, [i / 10 for i in range(11)])
    for kind in CVD:
        light = [_lab(c, kind)[0] for c in samples]
        assert all(a > b for a, b in itertools.pairwise(light)), f"{kind}: lightness not monotonic: {light}"
        assert light[0] - light[-1] > 50, f"{kind}: lightness span {light[0] - light[-1]:.0f}"
        assert math.dist(_lab(samples[0], kind), _lab(maps.MISSING_COLOR, kind)) > 10, kind


# --- axe-core and map tables in chromium -----------------------------------------------------------------

AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
               "resultTypes": ["violations"]}
BLOCKING = ("serious", "critical")

# Every plotly map on the page and the largest number of districts with a value on one of its choropleths,
# every static SVG map and its districts drawn in a value's colour;
# every data table (Streamlit's grid exposes its row count) and its number of rows.
MAPS_AND_TABLES_JS = """() => {
    const MISSING = '__MISSING__';
    // Districts drawn in a colour that carries a value: the choropleth traces but the missing-grey one; a
    // single flat trace without a scale is only the outline under points (one colour, no value).
    const valued = gd => {
        const traces = gd._fullData.filter(t => t.type === 'choroplethmap' && t.visible === true
            && !(Array.isArray(t.colorscale) && t.colorscale.every(c => String(c[1]).toLowerCase() === MISSING)));
        const flat = t => t.showscale === false && new Set(Array.from(t.z || [])).size <= 1;
        if (traces.length === 1 && flat(traces[0])) { return 0; }
        return traces.reduce((n, t) => n + Array.from(t.locations || []).length, 0);
    };
    const maps = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot'))
        .filter(gd => gd._fullLayout && Object.keys(gd._fullLayout).some(k => /^map\\d*$/.test(k)))
        .map(gd => ({
            title: ((gd.layout.title && gd.layout.title.text) || '').replace(/<[^>]*>/g, ''),
            valued: valued(gd),
        }));
    // Static SVG maps (st.image of osservatorio.svgmap): one path per district, grey when it has no value.
    const svgs = Array.from(document.querySelectorAll('[data-testid="stMain"] img'))
        .filter(img => (img.src || '').startsWith('data:image/svg+xml;base64,'))
        .map(img => {
            const text = new TextDecoder().decode(Uint8Array.from(atob(img.src.split(',')[1]), c => c.charCodeAt(0)));
            const svg = new DOMParser().parseFromString(text, 'image/svg+xml');
            const paths = Array.from(svg.querySelectorAll('path'));
            return {kind: 'svg', title: img.alt || '',
                    valued: paths.filter(p => (p.getAttribute('fill') || '').toLowerCase() !== MISSING).length};
        });
    maps.push(...svgs);
    const tables = Array.from(document.querySelectorAll('[data-testid="stDataFrame"], [data-testid="stTable"]'))
        .map(el => {
            const grid = el.querySelector('[aria-rowcount]');
            return grid ? Number(grid.getAttribute('aria-rowcount')) - 1 : el.querySelectorAll('tbody tr').length;
        });
    return {maps, tables};
}""".replace("__MISSING__", maps.MISSING_COLOR.lower())
GRIDS_DRAWN_JS = """() => Array.from(document.querySelectorAll('[data-testid="stDataFrame"]'))
    .every(el => el.querySelector('[aria-rowcount]'))"""


@dataclass
class A11yVisit:
    """axe-core's blocking violations and the maps and tables of one page."""

    path: str
    problem: str = ""
    violations: list[str] = field(default_factory=list)
    maps: list[dict[str, Any]] = field(default_factory=list)
    tables: list[int] = field(default_factory=list)


def _serve(warehouse: Path, folder: Path) -> Iterator[str]:
    from test_browser import app_server

    with app_server(warehouse, folder) as base:
        yield base


def _describe(violation: dict[str, Any]) -> str:
    nodes = violation.get("nodes", [])
    def why(node: dict[str, Any]) -> str:
        checks = node.get("any") or node.get("all") or node.get("none") or [{}]
        return str(checks[0].get("message", ""))[:160]

    where = "; ".join(f"{' '.join(map(str, n.get('target', [])))[-120:]} <{n.get('html', '')[:100]}> {why(n)}" for n in nodes[:3])
    return f"{violation['impact']} {violation['id']} ({violation['help']}), {len(nodes)} element(s): {where}"


def _audit(browser: Browser, base: str, path: str) -> A11yVisit:
    from axe_playwright_python.sync_playwright import Axe
    from test_browser import CONTENT_HEIGHT_JS, TIMEOUT_MS, _open, _wait_ready, sync_api

    visit = A11yVisit(path=path)
    try:
        page, _errors, _external = _open(browser, base, f"{base}/{path}")
    except sync_api.Error as exc:
        visit.problem = f"could not open: {str(exc).splitlines()[0]}"
        return visit
    try:
        _wait_ready(page)
        # Open every folded section (tables of the maps are often there) and show the whole page: the
        # data grids are drawn only when on screen, and axe checks the folded content too.
        page.eval_on_selector_all('[data-testid="stMain"] [data-testid="stExpander"] details:not([open]) > summary',
                                  "els => els.forEach(e => e.click())")
        height = min(int(page.evaluate(CONTENT_HEIGHT_JS)) + 100, 15_000)
        page.set_viewport_size({"width": 1400, "height": max(height, 1000)})
        _wait_ready(page)
        # the grids of the sections just opened mount after the rerun is idle
        page.wait_for_function(GRIDS_DRAWN_JS, timeout=TIMEOUT_MS, polling=100)
        found = page.evaluate(MAPS_AND_TABLES_JS)
        visit.maps, visit.tables = found["maps"], found["tables"]
        results = Axe().run(page, options=AXE_OPTIONS)
        visit.violations = [_describe(v) for v in results.response["violations"] if v.get("impact") in BLOCKING]
    except sync_api.Error as exc:
        visit.problem = str(exc).splitlines()[0]
    finally:
        page.context.close()
    return visit


@pytest.fixture(scope="module", params=["bundle", pytest.param("real", marks=pytest.mark.real)])
def audits(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, A11yVisit]:
    """Every page of the navigation, audited once, on the bundle build and on the real build."""
    pytest.importorskip("axe_playwright_python", reason="axe-playwright-python is not installed")
    tb = pytest.importorskip("test_browser", reason="Playwright's Python package is not installed")
    from etl.pipeline import build

    raw_dir = request.getfixturevalue("real_dir") if request.param == "real" else None
    folder = tmp_path_factory.mktemp(f"a11y_{request.param}")
    warehouse = folder / "warehouse.duckdb"
    build(raw_dir, warehouse, progress=lambda _m: None)
    server = _serve(warehouse, folder)
    base = next(server)
    try:
        with tb.sync_api.sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, args=tb.CHROMIUM_ARGS)
            try:
                page, _e, _x = tb._open(chromium, base, base + "/")
                try:
                    tb._wait_ready(page)
                    links = tb._nav_links(page, base)
                finally:
                    page.context.close()
                paths = [path for path, _label in links]
                if request.param == "bundle":  # the English pages too (other strings, other lengths)
                    paths += [f"{path}?lang=en" for path, _label in links]
                return {path: _audit(chromium, base, path) for path in paths}
            finally:
                chromium.close()
    finally:
        server.close()


@BROWSER_MARKS[0]
@BROWSER_MARKS[1]
def test_axe_finds_no_serious_violation(audits: dict[str, A11yVisit], subtests: pytest.Subtests) -> None:
    assert len(audits) >= 2, f"navigation not found: {sorted(audits)}"
    for path, v in audits.items():
        with subtests.test(msg=f"/{path}"):
            assert not v.problem, f"/{path}: {v.problem}"
            assert v.violations == [], f"/{path}: axe-core:\n" + "\n".join(v.violations)


@BROWSER_MARKS[0]
@BROWSER_MARKS[1]
def test_every_map_has_a_table_of_its_values(audits: dict[str, A11yVisit], subtests: pytest.Subtests) -> None:
    """A map is not readable by everybody: its districts' values must also be in a table on the page."""
    assert any(v.maps for v in audits.values()), "no page showed a map: the check would be vacuous"
    assert any(m.get("kind") == "svg" and m["valued"] for v in audits.values() for m in v.maps), \
        "no static SVG map with values was checked (Panoramica's)"
    for path, v in audits.items():
        with subtests.test(msg=f"/{path}"):
            assert not v.problem, f"/{path}: {v.problem}"
            for m in v.maps:
                if m["valued"] == 0:
                    continue  # points only, or no district with a value
                assert any(n >= m["valued"] for n in v.tables), (
                    f"/{path}: map {m['title']!r} colours {m['valued']} districts, tables have {v.tables} rows")
