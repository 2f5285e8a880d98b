"""Imprese's point download at register scale: time, peak memory and file size per format.

Each build runs in a fresh process (peak memory = the process's high-water mark above what it held before the
click), exactly as the Imprese page makes it: the CSV Data Package (standard and "per Excel italiano") chunk by
chunk (`ChunkedFrame`, as the page passes it), against the same zip built from the whole frame in the same run (the
reference, and the way it was built before), and the GeoJSON (built whole; the page offers it only up to
`downloads.GEOJSON_MAX_FEATURES`). Whole register (every category) and one category.

    python bench/bench_downloads.py --warehouse W.duckdb [--category digital_manufacturing] [--skip-geojson]
                                    [--repeat 3] [--skip-category]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(warehouse: str, category: str | None, kind: str) -> dict[str, float]:
    """One download built in this process; prints its figures as JSON."""
    sys.path.insert(0, str(ROOT))
    os.environ["OSSERVATORIO_WAREHOUSE"] = warehouse
    from streamlit.logger import set_log_level

    set_log_level("error")
    from osservatorio import downloads, queries
    from osservatorio.exports import ExportSpec
    from osservatorio.i18n import t
    from osservatorio.page_views import imprese as fv
    from osservatorio.warehouse import key_for

    key = key_for(warehouse)
    assert key is not None, warehouse
    territory = queries.territory(key)
    stats = queries.district_stats(key, territory.fine.id)
    rows, _ = queries.firm_points_located(key, None, category)
    load = queries.firm_points_loader(key, None, category, rows)
    table = load.map(lambda f: fv.firm_table(f, stats, {}, territory, "it"))
    spec = ExportSpec(base="imprese_puntuali", filters={"categoria": category or "*"})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if kind == "geojson":
        files = {f.kind: f for f in downloads.export_files(lambda: table(), spec, "it",
                                                           geojson=lambda: fv.firm_points_geojson(load()),
                                                           id_col=t("th_col_place_id", "it"))}
        payload = files["geojson"].build()  # built whole: what the page did before the limit
    else:
        dialect = "excel_it" if kind.startswith("csv_it") else "standard"
        payload = downloads.data_package_zip(table() if kind.endswith("_whole") else table, spec, "it", dialect)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": rows, "seconds": seconds, "before_mb": before, "peak_mb": peak, "bytes": len(payload)}


def _run(warehouse: str, category: str | None, kind: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", kind, "--warehouse", warehouse, "--category", category or ""]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", default=os.environ.get("OSSERVATORIO_WAREHOUSE", str(ROOT / "data" / "warehouse.duckdb")))
    parser.add_argument("--category", default="digital_manufacturing", help="the one category measured besides all")
    parser.add_argument("--skip-geojson", action="store_true", help="skip the (slow, memory-hungry) whole GeoJSON")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each build, interleaved; the median is printed")
    parser.add_argument("--skip-category", action="store_true", help="the whole register only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.warehouse, args.category or None, args.child)))
        return
    kinds = ["csv_whole", "csv", "csv_it_whole", "csv_it"] + ([] if args.skip_geojson else ["geojson"])
    print(f"warehouse {args.warehouse}; median of {args.repeat}, interleaved")
    print(f"{'selection':<24} {'format':<14} {'rows':>9} {'s':>7} {'peak +MB':>9} {'file MB':>8}  vs whole-frame")
    for category in ([None] if args.skip_category else [None, args.category]):
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
        for _ in range(args.repeat):
            for kind in kinds:
                runs[kind].append(_run(args.warehouse, category, kind))
        figures = {k: {"rows": v[0]["rows"], "bytes": v[0]["bytes"],
                       "seconds": statistics.median(r["seconds"] for r in v),
                       "peak": statistics.median(r["peak_mb"] - r["before_mb"] for r in v)} for k, v in runs.items()}
        for kind, r in figures.items():
            ref = figures.get(kind + "_whole")
            ratio = f"time {r['seconds'] / ref['seconds']:.2f}x, peak {r['peak'] / max(ref['peak'], 1):.2f}x" if ref else ""
            print(f"{category or 'all categories':<24} {kind:<14} {int(r['rows']):>9,} {r['seconds']:>7.1f} "
                  f"{r['peak']:>9,.0f} {r['bytes'] / 2**20:>8.1f}  {ratio}", flush=True)

if __name__ == "__main__":
    main()
