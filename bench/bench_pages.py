"""Page speed: warm rerun per page (AppTest, server side), map payload size, cold start in a browser.

Run: python bench/bench_pages.py [--reruns 10] [--no-browser] [--warehouse FILE]
     python bench/bench_pages.py --firms 900000 --real-dir DIR   (regional scale, see (d))
Prints figures next to the targets (warm rerun < 150 ms, map payload < 300 KB). Figures from
one run only: these machines are noisy, compare ratios within a run.

(a) server side: AppTest runs app.py cold (caches cleared), then times the switch to each page (first
    run; the pages declared in app.py, so new pages are measured without editing this file), then N warm
    reruns (median), and sums the bytes of the elements of the last run;
(b) map payload: bytes of each map's plotly JSON as sent to the browser (`proto.spec`);
(c) cold start: chromium is launched first, then `streamlit run`; the time is from the server
    process start to the first page's map drawn in the browser (MAP_DRAWN_JS: the SVG map image loaded, or
    MapLibre loaded with the districts on it).
(d) --firms N: regional scale. The real files of --real-dir (or OSSERVATORIO_REAL_DIR) are linked
    file by file into a temporary raw folder (rglob does not enter linked folders), a seeded synthetic
    business-register extract of N firm points on the real NIL is added (`bench_build.generate`, plus
    2% of rows outside the comune so Dati has tens of thousands of rejected rows), and both the plain
    real folder (the reference) and the scaled one are built with `python -m etl build` in a child
    process. For each warehouse, per page: first run and warm rerun (AppTest), bytes of the elements
    sent (sum of the element protos of an AppTest run), bytes received by chromium over the websocket
    and the `streamlit run` server's VmRSS / VmHWM after each page (/proc/PID/status).
    Goals: warm rerun < 150 ms, first run < 1 s, < 1 MB sent per page, server memory < 500 MB.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.servers import CHROMIUM, app_server, wait_health  # noqa: E402 (after the path)


def declared_pages() -> list[str]:
    """Page files in app.py's navigation order (file name = url_path, see app.py)."""
    names = re.findall(r"st\.Page\(\s*[\"']pages/([\w-]+)\.py[\"']", (ROOT / "app.py").read_text(encoding="utf-8"))
    return names or sorted(p.stem for p in (ROOT / "pages").glob("*.py"))


# The first page is ready when its maps are drawn: every static SVG map image (st.image of osservatorio.svgmap, the
# Panoramica map) loaded and decoded, and every MapLibre map loaded and idle with its choropleth on it (other pages);
# at least one map of either kind.
MAP_DRAWN_JS = """() => {
    const main = document.querySelector('[data-testid="stMain"]') || document;
    const images = Array.from(main.querySelectorAll('[data-testid="stImage"] img[src^="data:image/svg+xml"]'));
    const plots = Array.from(main.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot'));
    const maps = plots.filter(gd => gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot);
    return images.length + maps.length > 0
        && images.every(img => img.complete && img.naturalWidth > 0)
        && maps.every(gd => {
            const m = gd._fullLayout.map._subplot.map;
            return m.loaded() && !m.isMoving() && m.getCanvas().width > 0
                && gd._fullData.some(t => t.type === 'choroplethmap' && m.getLayer(`plotly-trace-layer-${t.uid}-fill`));
        });
}"""
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _sent_bytes(at: object) -> int:
    """Bytes of the element protos of the last AppTest run (a fair proxy of what the browser receives)."""
    total = 0
    for node in at._tree:  # noqa: SLF001 - AppTest exposes no public iterator over every node
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ByteSize"):
            total += proto.ByteSize()
    return total


def warm_reruns(reruns: int, label: str = "", only: list[str] | None = None) -> dict[str, dict[str, float]]:
    """AppTest per page: first run, warm rerun median, map payload, element bytes; the figures per page."""
    import streamlit as st
    from streamlit.logger import set_log_level
    from streamlit.testing.v1 import AppTest

    results: dict[str, dict[str, float]] = {}
    if label:
        print(f"\n== {label}")
    print(f"{'pagina':<14} {'prima (ms)':>11} {'rerun caldo mediano (ms)':>25} {'mappe (KB)':>12} {'elementi (KB)':>14}"
          "  obiettivo")
    for page in [p for p in declared_pages() if not only or p in only]:
        set_log_level("error")  # bare mode (AppTest resets it): silence "No runtime found" and similar warnings
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        t0 = time.perf_counter()
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
        sent = _sent_bytes(at) / 1024
        payload = ", ".join(f"{m:.0f}" for m in maps) or "-"
        ok = "OK" if warm < 150 and first < 1000 and sent < 1024 and all(m < 300 for m in maps) else "NO"
        print(f"{page:<14} {first:>11.0f} {warm:>25.0f} {payload:>12} {sent:>14.0f}  {ok} "
              "(<150 ms caldo, <1000 ms prima, <1024 KB, mappe <300 KB)")
        results[page] = {"first_ms": first, "warm_ms": warm, "sent_kb": sent}
    return results


def cold_start(warehouse: Path, appstate: Path) -> None:
    """Server process start -> first page (/) with its map drawn in chromium (browser already running)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        base, proc = app_server(ROOT, warehouse, appstate)
        try:
            t_health = wait_health(base, proc, t0, limit=60)
            page.goto(base + "/")
            page.wait_for_function(MAP_DRAWN_JS, timeout=120_000, polling=50)
            t_map = time.perf_counter() - t0
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
            browser.close()
    print(f"avvio a freddo: server pronto {t_health:.1f} s; prima pagina (/) con la mappa disegnata {t_map:.1f} s "
          f"dall'avvio del processo ({t_map - t_health:.1f} s dalla richiesta della pagina)")


def _link_files(src: Path, dest: Path) -> None:
    """Link every file of `src` into `dest` (same sub-folders): rglob does not enter linked folders."""
    for f in src.rglob("*"):
        if f.is_file():
            target = dest / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(f.resolve())


def _outside_rows(path: Path, n: int) -> None:
    """Append `n` firm rows placed east of the comune (rejected by the build: Dati gets tens of thousands of rejects)."""
    import numpy as np

    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(9.6, 9.9, n), rng.uniform(45.35, 45.6, n)
    with open(path, "a", encoding="utf-8", newline="") as fh:
        fh.writelines(f"{90_000_000_000 + i:011d};1;Impresa fuori {i};Via Lontana {i % 50 + 1};62.01.00;2007;{i % 9};"
                      f"01/02/2015;ATTIVA;SRL;{a:.6f};{b:.6f}\n" for i, (a, b) in enumerate(zip(lon, lat, strict=True)))


def _etl_build(raw: Path, out: Path) -> float:
    """`python -m etl build --raw-dir RAW --out OUT` in a child process; seconds (exit 3 = some file failed: accepted)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "etl", "build", "--raw-dir", str(raw), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"build non riuscita ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def scale_warehouses(real_dir: Path, firms: int, work: Path) -> tuple[Path, Path]:
    """(plain real build, real build + `firms` synthetic firm points): both built by the project's CLI."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_build import generate  # the same seeded generator as the build benchmark

    plain_raw, scale_raw = work / "raw_reale", work / f"raw_{firms}"
    _link_files(real_dir, plain_raw)
    _link_files(real_dir, scale_raw)
    csv = scale_raw / f"imprese_{firms}.csv"
    t0 = time.perf_counter()
    generate(csv, firms, real_dir / "comune-milano-nil" / "NIL_WM.zip")
    _outside_rows(csv, firms // 50)
    print(f"CSV sintetico di {firms:,} imprese (+{firms // 50:,} fuori comune) in {time.perf_counter() - t0:.1f} s")
    plain, scale = work / "reale.duckdb", work / f"scala_{firms}.duckdb"
    print(f"build reale: {_etl_build(plain_raw, plain):.1f} s; build con {firms:,} imprese: "
          f"{_etl_build(scale_raw, scale):.1f} s")
    import duckdb

    with duckdb.connect(str(scale), read_only=True) as con:
        n_firms, n_rejects = con.sql("SELECT (SELECT count(*) FROM places WHERE theme = 'firm'), "
                                     "(SELECT count(*) FROM rejects)").fetchall()[0]
    print(f"warehouse in scala: {n_firms:,} imprese puntuali in places, {n_rejects:,} righe in rejects")
    return plain, scale


PAGE_READY_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app && app.dataset.testScriptState === 'notRunning' && app.dataset.testConnectionState === 'CONNECTED'
        && !!document.querySelector('[data-testid="stMain"]')
        && !document.querySelector('[data-testid="stElementContainer"] > [data-testid="stSkeleton"], [data-stale="true"]');
}"""


def _status_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, from /proc/PID/status."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def browser_visits(warehouse: Path, appstate: Path, label: str, only: list[str] | None = None) -> dict[str, dict[str, float]]:
    """`streamlit run` on `warehouse`; chromium opens every page in turn: websocket bytes received per page
    and the server's VmRSS / VmHWM after it (all of the server's processes: one, streamlit has no workers)."""
    from playwright.sync_api import sync_playwright

    results: dict[str, dict[str, float]] = {}
    base, proc = app_server(ROOT, warehouse, appstate)
    try:
        wait_health(base, proc, time.perf_counter(), limit=60)
        rss0, _ = _status_mb(proc.pid)
        print(f"\n== {label}: browser (chromium), server appena avviato {rss0:.0f} MB")
        print(f"{'pagina':<14} {'ricevuti ws (KB)':>17} {'pronta (s)':>11} {'VmRSS (MB)':>11} {'VmHWM (MB)':>11}  obiettivo")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            received = [0]

            def on_ws(ws: object) -> None:
                ws.on("framereceived", lambda payload: received.__setitem__(0, received[0] + len(payload)))  # type: ignore[attr-defined]

            page.on("websocket", on_ws)
            for name in [p for p in declared_pages() if not only or p in only]:
                received[0] = 0
                t0 = time.perf_counter()
                page.goto(f"{base}/{name}")
                page.wait_for_selector('[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"]',
                                       timeout=180_000)  # the page's script has started (not the empty shell)
                page.wait_for_function(PAGE_READY_JS, timeout=180_000, polling=100)
                ready = time.perf_counter() - t0
                page.wait_for_timeout(500)  # late frames (forward messages after the script ended)
                page.wait_for_function(PAGE_READY_JS, timeout=180_000, polling=100)
                rss, hwm = _status_mb(proc.pid)
                kb = received[0] / 1024
                ok = "OK" if kb < 1024 and rss < 500 else "NO"
                print(f"{name:<14} {kb:>17.0f} {ready:>11.1f} {rss:>11.0f} {hwm:>11.0f}  {ok} (<1024 KB, <500 MB)")
                results[name] = {"ws_kb": kb, "rss_mb": rss, "hwm_mb": hwm, "ready_s": ready}
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    return results


def _summary(plain: dict[str, dict[str, float]], scale: dict[str, dict[str, float]], firms: int) -> None:
    """Scale vs plain real build, page by page (ratios of one run)."""
    print(f"\n== rapporto: {firms:,} imprese / build reale (stessa esecuzione)")
    print(f"{'pagina':<14} {'rerun caldo (ms)':>22} {'prima (ms)':>20} {'elementi (KB)':>20}")
    for page, s in scale.items():
        p = plain.get(page)
        if not p:
            continue
        print(f"{page:<14} {s['warm_ms']:>8.0f} / {p['warm_ms']:<5.0f}{s['warm_ms'] / max(p['warm_ms'], 1e-9):>5.1f}x "
              f"{s['first_ms']:>6.0f} / {p['first_ms']:<5.0f}{s['first_ms'] / max(p['first_ms'], 1e-9):>5.1f}x "
              f"{s['sent_kb']:>6.0f} / {p['sent_kb']:<5.0f}{s['sent_kb'] / max(p['sent_kb'], 1e-9):>5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reruns", type=int, default=10)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--warehouse", type=Path, default=None,
                        help="measure this warehouse (e.g. one built from real files) instead of a fresh demo")
    parser.add_argument("--firms", type=int, default=None,
                        help="regional scale: the real build plus N synthetic firm points (needs --real-dir)")
    parser.add_argument("--real-dir", type=Path, default=os.environ.get("OSSERVATORIO_REAL_DIR"),
                        help="folder of the real files (default: OSSERVATORIO_REAL_DIR)")
    parser.add_argument("--keep", type=Path, default=None, help="with --firms: build (or reuse) the warehouses here")
    parser.add_argument("--pages", nargs="*", default=None, help="measure only these pages (file names)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped bench still stops its streamlit server (finally)

    with tempfile.TemporaryDirectory() as tmp:
        if args.firms:
            if args.real_dir is None or not (Path(args.real_dir) / "comune-milano-nil").is_dir():
                raise SystemExit("indicare la cartella dei dati reali con --real-dir o OSSERVATORIO_REAL_DIR")
            work = args.keep or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            plain, scale = work / "reale.duckdb", work / f"scala_{args.firms}.duckdb"
            if not (plain.exists() and scale.exists()):  # --keep reuses the builds of an earlier run
                plain, scale = scale_warehouses(Path(args.real_dir).resolve(), args.firms, work)
            os.environ["OSSERVATORIO_APPSTATE"] = str(Path(tmp) / "app.sqlite")
            measured = {}
            for label, warehouse in (("build reale (riferimento)", plain), (f"build con {args.firms:,} imprese", scale)):
                os.environ["OSSERVATORIO_WAREHOUSE"] = str(warehouse)
                measured[label] = warm_reruns(args.reruns, label, args.pages)
            _summary(measured["build reale (riferimento)"], measured[f"build con {args.firms:,} imprese"], args.firms)
            if not args.no_browser:
                for label, warehouse in (("build reale (riferimento)", plain), (f"build con {args.firms:,} imprese", scale)):
                    browser_visits(warehouse, Path(tmp) / f"app_{warehouse.stem}.sqlite", label, args.pages)
            return
        from etl.pipeline import build

        warehouse = args.warehouse or Path(tmp) / "warehouse.duckdb"
        if args.warehouse is None:
            build(None, warehouse, progress=lambda _m: None)
        os.environ["OSSERVATORIO_WAREHOUSE"] = str(warehouse)
        os.environ["OSSERVATORIO_APPSTATE"] = str(Path(tmp) / "app.sqlite")
        warm_reruns(args.reruns, only=args.pages)
        if not args.no_browser:
            cold_start(warehouse, Path(tmp) / "app_cold.sqlite")


if __name__ == "__main__":
    main()
