"""Mappa interaction timing in chromium: change the indicator or the level, measure until the map is redrawn.

Run: python bench/bench_interaction.py [--warehouse FILE] [--runs 6]
(without --warehouse a fresh build of the embedded bundle is measured).

For every change the page records, with performance.now():
- t0: the click on the new option;
- the script run on the server: Streamlit's `data-test-script-state` from 'running' to 'notRunning'
  (server rerun plus the delta messages; the browser draws meanwhile);
- the end: READY_JS of the browser tests true (script idle, nothing stale, every MapLibre map loaded and
  idle) and the map's data changed (its title, districts or values differ from before the change).
The payload is the bytes of the websocket frames received between the click and the end.
"Draw" is the time from the script's end to the map drawn. First page: the server process start ->
/mappa with its map drawn (browser already running), and the same from the page request.
Prints min / median / max per measure next to the targets (interaction < 1.5 s, first page < 4 s), and the
same click on a one-selectbox Streamlit app (its own server, same browser) as the reference of the run.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from test_browser import CHROMIUM, CHROMIUM_ARGS, READY_JS  # noqa: E402  (one definition of "ready")

from bench.servers import wait_health  # noqa: E402 (after the path)

# Records the last click and the script-state transitions, from the page's own clock.
PROBE_JS = """() => {
    if (window.__probe) { return; }
    window.__probe = {click: 0, runs: []};
    document.addEventListener('click', () => { window.__probe.click = performance.now(); }, true);
    const app = document.querySelector('[data-testid="stApp"]');
    let started = null;
    new MutationObserver(() => {
        const state = app.dataset.testScriptState;
        if (state === 'running' && started === null) { started = performance.now(); }
        if (state === 'notRunning' && started !== null) {
            window.__probe.runs.push([started, performance.now()]); started = null;
        }
    }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""

# What the map shows: title, number of districts, sum of the values (changes with indicator or level).
SIGNATURE_JS = """() => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot'))
    .filter(gd => gd._fullLayout && gd._fullLayout.map).map(gd => {
        const choro = (gd._fullData || []).filter(t => t.type === 'choroplethmap');
        const n = choro.reduce((a, t) => a + Array.from(t.locations || []).length, 0);
        const s = choro.reduce((a, t) => a + Array.from(t.z || []).reduce((b, z) => b + (+z || 0), 0), 0);
        return `${(gd.layout.title && gd.layout.title.text) || ''}|${n}|${s.toFixed(6)}`;
    }).join('#')"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The reference in the same run: a one-selectbox Streamlit app whose title follows the choice.
REFERENCE_APP = 'import streamlit as st\nc = st.selectbox("scelta", ["a", "b", "c"])\nst.title(f"Scelta {c}")\n'
TITLE_JS = """() => { const h = document.querySelector('[data-testid="stMain"] h1'); return h ? h.innerText : ''; }"""


def _start(warehouse: Path, appstate: Path, port: int, script: str = "app.py") -> subprocess.Popen[bytes]:
    env = {**os.environ, "OSSERVATORIO_WAREHOUSE": str(warehouse), "OSSERVATORIO_APPSTATE": str(appstate),
           "OSSERVATORIO_MAP_STYLE": "white-bg", "OSSERVATORIO_AUTO_DEMO": "0"}
    return subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _ready_and_changed(page: Any, before: str) -> None:
    page.wait_for_function(f"([b]) => ({READY_JS})() && ({SIGNATURE_JS})() !== b && ({SIGNATURE_JS})() !== ''",
                           arg=[before], timeout=120_000, polling="raf")


def _change(page: Any, select_index: int, option_index: int, received: list[int]) -> dict[str, float]:
    """Pick option `option_index` of the `select_index`-th selectbox of the page; return the timings."""
    before = page.evaluate(SIGNATURE_JS)
    page.evaluate("() => { window.__probe.runs = []; }")
    box = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').nth(select_index)
    box.click()
    option = page.get_by_role("option").nth(option_index)
    received.clear()
    option.click()
    _ready_and_changed(page, before)
    end = page.evaluate("() => performance.now()")
    probe = page.evaluate("() => window.__probe")
    click = probe["click"]
    runs = [r for r in probe["runs"] if r[1] >= click]
    server = (runs[-1][1] - runs[0][0]) / 1000 if runs else float("nan")
    script_end = runs[-1][1] if runs else click
    return {"total": (end - click) / 1000, "server": server, "draw": (end - script_end) / 1000,
            "payload_kb": sum(received) / 1024}


def _options(page: Any, select_index: int) -> int:
    box = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').nth(select_index)
    box.click()
    n = page.get_by_role("option").count()
    page.keyboard.press("Escape")
    return int(n)


def reference_changes(browser: Any, folder: Path, runs: int) -> list[float]:
    """Click -> new title drawn, `runs` times, on the one-selectbox reference app (its own server)."""
    script = folder / "riferimento.py"
    script.write_text(REFERENCE_APP, encoding="utf-8")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(folder / "nessuno.duckdb", folder / "ref.sqlite", port, str(script))
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    out = []
    try:
        wait_health(base, proc, time.perf_counter())
        page.goto(base)
        page.wait_for_function(f"() => ({READY_JS})() && ({TITLE_JS})() !== ''", timeout=120_000, polling="raf")
        page.evaluate(PROBE_JS)
        for i in range(runs):
            before = page.evaluate(TITLE_JS)
            page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').first.click()
            page.get_by_role("option").nth((i + 1) % 3).click()
            page.wait_for_function(f"([b]) => ({READY_JS})() && ({TITLE_JS})() !== b", arg=[before], timeout=120_000,
                                   polling="raf")
            out.append((page.evaluate("() => performance.now()") - page.evaluate("() => window.__probe.click")) / 1000)
    finally:
        page.close()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    return out


def _summary(name: str, values: list[float], unit: str, target: float | None = None) -> str:
    good = [v for v in values if v == v]  # NaN out
    if not good:
        return f"{name:<34} -"
    lo, med, hi = min(good), statistics.median(good), max(good)
    ok = "" if target is None else ("  OK" if med < target else f"  NO (obiettivo < {target:g} {unit})")
    return f"{name:<34} min {lo:8.2f}  mediana {med:8.2f}  max {hi:8.2f} {unit}{ok}"


def run(warehouse: Path, runs: int, lang: str) -> None:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        received: list[int] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(len(f))))
        t0 = time.perf_counter()
        proc = _start(warehouse, Path(tmp) / "app.sqlite", port)
        try:
            t_health = wait_health(base, proc, t0)
            t_req = time.perf_counter()
            page.goto(f"{base}/mappa?lang={lang}")
            _ready_and_changed(page, "")
            t_first = time.perf_counter()
            first_kb = sum(received) / 1024
            page.evaluate(PROBE_JS)
            n_ind, n_lvl = _options(page, 0), _options(page, 1)
            results: dict[str, list[dict[str, float]]] = {"indicatore": [], "livello": []}
            for i in range(runs):
                # indicator: alternate between the first few options (those with values come first)
                results["indicatore"].append(_change(page, 0, (i + 1) % min(n_ind, 3), received))
                if n_lvl > 1:
                    results["livello"].append(_change(page, 1, (i + 1) % n_lvl, received))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        try:
            reference = reference_changes(browser, Path(tmp), runs)
        finally:
            browser.close()
    print(f"magazzino: {warehouse.name}; lingua {lang}; {runs} cambi per tipo; {n_ind} indicatori, {n_lvl} livelli")
    ref = statistics.median(reference)
    print(_summary("riferimento: clic -> titolo nuovo", reference, "s") + "  (app di una selectbox, stesso browser)")
    print(f"prima pagina /mappa: server pronto {t_health:.2f} s; mappa disegnata {t_first - t0:.2f} s dall'avvio "
          f"del processo, {t_first - t_req:.2f} s dalla richiesta ({first_kb:.0f} KB ricevuti)"
          + ("  OK" if t_first - t_req < 4 else "  NO (obiettivo < 4 s dalla richiesta)"))
    for kind, rows in results.items():
        if not rows:
            continue
        print(f"-- cambio di {kind}")
        print(_summary("clic -> mappa disegnata", [r["total"] for r in rows], "s", 1.5)
              + f"  ({statistics.median(r['total'] for r in rows) / ref:.1f}x il riferimento)")
        print(_summary("  rerun sul server (script attivo)", [r["server"] for r in rows], "s"))
        print(_summary("  disegno dopo la fine dello script", [r["draw"] for r in rows], "s"))
        print(_summary("  dati ricevuti (websocket)", [r["payload_kb"] for r in rows], "KB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, default=None, help="a built warehouse (default: a fresh bundle build)")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--lang", default="it", choices=["it", "en"])
    args = parser.parse_args()
    if args.warehouse is not None:
        run(args.warehouse, args.runs, args.lang)
        return
    from etl.pipeline import build

    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Path(tmp) / "warehouse.duckdb"
        build(None, warehouse, progress=lambda _m: None)
        run(warehouse, args.runs, args.lang)


if __name__ == "__main__":
    main()
