"""Page speed: warm rerun per page (AppTest, server side), map payload size, cold start in a browser.

Run: python bench/bench_pages.py [--reruns 10] [--no-browser]
Prints figures next to the targets (warm rerun < 150 ms, map payload < 300 KB). Figures from
one run only: these machines are noisy, compare ratios within a run.
"""

from __future__ import annotations

import argparse
import json
import os
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

PAGES = ["panoramica", "mappa", "quartiere", "periferie", "makerspace", "spazi_vuoti", "imprese", "obiettivi",
         "dati", "seduta"]
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def warm_reruns(reruns: int) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    print(f"{'pagina':<14} {'prima (ms)':>11} {'rerun caldo mediano (ms)':>25} {'mappe (KB)':>12}  obiettivo")
    for page in PAGES:
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        t0 = time.perf_counter()
        at.run()
        if page != "panoramica":
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
        maps = [len(json.dumps(json.loads(c.proto.spec)).encode()) / 1024 for c in at.get("plotly_chart")
                if '"choroplethmap"' in c.proto.spec or '"scattermap"' in c.proto.spec]
        warm = statistics.median(times)
        payload = ", ".join(f"{m:.0f}" for m in maps) or "-"
        ok = "OK" if warm < 150 and all(m < 300 for m in maps) else "NO"
        print(f"{page:<14} {first:>11.0f} {warm:>25.0f} {payload:>12}  {ok} (<150 ms, <300 KB)")


def cold_start(warehouse: Path) -> None:
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OSSERVATORIO_WAREHOUSE": str(warehouse)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                    break
            except OSError:
                if time.perf_counter() - t0 > 60:
                    raise
                time.sleep(0.1)
        t_health = time.perf_counter() - t0
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2000})
            t1 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/mappa")
            page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot')).some(el => "
                                   "(el._fullData || []).some(t => t.type === 'choroplethmap'))", timeout=120_000)
            t_map = time.perf_counter() - t0
            t_page = time.perf_counter() - t1
            browser.close()
        print(f"avvio a freddo: server pronto {t_health:.1f} s; mappa disegnata {t_map:.1f} s dall'avvio "
              f"({t_page:.1f} s dal caricamento della pagina)")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


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
            cold_start(warehouse)


if __name__ == "__main__":
    main()
