"""Page speed: warm rerun per page (AppTest, server side), map payload size, cold start in a browser.

Run: python bench/bench_pages.py [--reruns 10] [--no-browser] [--warehouse FILE]
Prints figures next to the targets (warm rerun < 150 ms, map payload < 300 KB). Figures from
one run only: these machines are noisy, compare ratios within a run.

(a) server side: AppTest runs app.py cold, switches to each page (the pages declared in app.py,
    so new pages are measured without editing this file), then times N warm reruns (median);
(b) map payload: bytes of each map's plotly JSON as sent to the browser (`proto.spec`);
(c) cold start: chromium is launched first, then `streamlit run`; the time is from the server
    process start to the first page's map drawn in the browser (MapLibre loaded, districts on it).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def declared_pages() -> list[str]:
    """Page files in app.py's navigation order (file name = url_path, see app.py)."""
    names = re.findall(r"st\.Page\(\s*[\"']pages/([\w-]+)\.py[\"']", (ROOT / "app.py").read_text(encoding="utf-8"))
    return names or sorted(p.stem for p in (ROOT / "pages").glob("*.py"))


# The first page is ready when its maps are drawn: MapLibre loaded and idle, choropleth on it.
MAP_DRAWN_JS = """() => {
    const plots = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot'));
    const maps = plots.filter(gd => gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot);
    return maps.length > 0 && maps.every(gd => {
        const m = gd._fullLayout.map._subplot.map;
        return m.loaded() && !m.isMoving() && m.getCanvas().width > 0
            && gd._fullData.some(t => t.type === 'choroplethmap' && m.getLayer(`plotly-trace-layer-${t.uid}-fill`));
    });
}"""
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def warm_reruns(reruns: int) -> None:
    import streamlit as st
    from streamlit.logger import set_log_level
    from streamlit.testing.v1 import AppTest

    print(f"{'pagina':<14} {'prima (ms)':>11} {'rerun caldo mediano (ms)':>25} {'mappe (KB)':>12}  obiettivo")
    for page in declared_pages():
        set_log_level("error")  # bare mode (AppTest resets it): silence "No runtime found" and similar warnings
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        t0 = time.perf_counter()
        at.run()
        at.switch_page(f"pages/{page}.py").run()
        first = (time.perf_counter() - t0) * 1000
        if at.exception:
            print(f"{page:<14} ERRORE: {at.exception[0].value}")
            continue
        times = []
        for _ in range(reruns):
            t0 = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - t0) * 1000)
        maps = [len(c.proto.spec.encode()) / 1024 for c in at.get("plotly_chart")
                if '"choroplethmap"' in c.proto.spec or '"scattermap"' in c.proto.spec]
        warm = statistics.median(times)
        payload = ", ".join(f"{m:.0f}" for m in maps) or "-"
        ok = "OK" if warm < 150 and all(m < 300 for m in maps) else "NO"
        print(f"{page:<14} {first:>11.0f} {warm:>25.0f} {payload:>12}  {ok} (<150 ms, <300 KB)")


def cold_start(warehouse: Path, appstate: Path) -> None:
    """Server process start -> first page (/) with its map drawn in chromium (browser already running)."""
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OSSERVATORIO_WAREHOUSE": str(warehouse), "OSSERVATORIO_APPSTATE": str(appstate),
           "OSSERVATORIO_MAP_STYLE": "white-bg"}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as resp:
                        if resp.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.perf_counter() - t0 > 60:
                    raise RuntimeError("streamlit did not start within 60 s")
                time.sleep(0.05)
            t_health = time.perf_counter() - t0
            page.goto(base + "/")
            page.wait_for_function(MAP_DRAWN_JS, timeout=120_000, polling=50)
            t_map = time.perf_counter() - t0
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
            browser.close()
    print(f"avvio a freddo: server pronto {t_health:.1f} s; prima pagina (/) con la mappa disegnata {t_map:.1f} s "
          f"dall'avvio del processo ({t_map - t_health:.1f} s dalla richiesta della pagina)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reruns", type=int, default=10)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--warehouse", type=Path, default=None,
                        help="measure this warehouse (e.g. one built from real files) instead of a fresh demo")
    args = parser.parse_args()
    from etl.pipeline import build

    with tempfile.TemporaryDirectory() as tmp:
        warehouse = args.warehouse or Path(tmp) / "warehouse.duckdb"
        if args.warehouse is None:
            build(None, warehouse, progress=lambda _m: None)
        os.environ["OSSERVATORIO_WAREHOUSE"] = str(warehouse)
        os.environ["OSSERVATORIO_APPSTATE"] = str(Path(tmp) / "app.sqlite")
        warm_reruns(args.reruns)
        if not args.no_browser:
            cold_start(warehouse, Path(tmp) / "app_cold.sqlite")


if __name__ == "__main__":
    main()
