"""Benchmark: the build stages after loading (history, indicators, programme, data checks) at register scale.

For each size (default 1 M added firm points; any with --firms) it:
1. copies a built warehouse (--warehouse; default: a fresh demo build) and adds N synthetic firm points
   to `places` in SQL (seeded: categories in the register's proportions, 5% without employees, 1% in
   another parent area than their area's, 0.5% known only by their parent area, JSON attributes);
2. empties the tables the post-load stages write (snapshots, indicator values, groups, proximity,
   targets, programme), keeping an untouched copy as the previous build for the history;
3. in a child process (its own memory), times each stage with its peak RSS (VmHWM, reset before
   each stage): read_inputs, compute_indicators and place_proximity_frame alone, the history copy
   (copy_forward, rolled back), the whole `compute_all` as the pipeline calls it (history +
   indicators + snapshot + targets), `programme.write_programme`, `checks.run_checks`;
4. as the reference, in the same run: a plain SQL GROUP BY of the firm points per area and category,
   and checks that its digital- and artisan-manufacturing counts equal the stored indicator values.

Prints seconds, peak MB, MB per million firm points and the ratio of the post-load total to the
reference. Goals (issue 11): the whole build within 2x of a plain DuckDB + shapely script, peak
memory under 1 GB per million rows, 5 M rows on this machine.

Usage: python bench/bench_post_load.py [--warehouse W.duckdb] [--firms 1000000 5000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEED = 0.20261201
# Tables written after loading (compute_all, write_programme): emptied before the stages run.
POST_LOAD_TABLES = ("snapshots", "taxonomy_changes", "district_groups", "indicator_catalogue", "indicator_values",
                    "periphery_groups", "scoring_weights", "ateco_category_labels", "target_status", "programme_lines",
                    "programme_objectives", "place_proximity")

ADD_FIRMS = """
INSERT INTO places (theme, source_id, path, source_key, name, address, lon, lat, district_id, parent_id, assignment,
                    category, status, ownership, area_m2, seats, employees, ateco_code, ateco_edition, started_on,
                    attributes, geom_wkb, trust)
WITH fine AS (
    SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, parent_id, centroid_lon, centroid_lat
    FROM districts WHERE level = (SELECT level FROM territory_levels WHERE rank = 0)
),
parents AS (SELECT list(DISTINCT parent_id ORDER BY parent_id) AS ids FROM fine WHERE parent_id IS NOT NULL),
draws AS (
    SELECT i, random() AS r_area, random() AS r_cat, random() AS r_emp, random() AS r_odd, random() AS dx, random() AS dy
    FROM range(?) t(i)
),
firms AS (
    SELECT d.*, f.id AS area, f.parent_id AS area_parent, f.centroid_lon, f.centroid_lat, p.ids AS parent_ids
    FROM draws d JOIN fine f ON f.k = floor(d.r_area * (SELECT count(*) FROM fine))::BIGINT CROSS JOIN parents p
)
SELECT 'firm', 'bench_firms', '/bench/imprese.csv', 'BENCH' || lpad(i::VARCHAR, 9, '0'), 'Impresa di prova ' || i, NULL,
       CASE WHEN r_odd < 0.005 THEN NULL ELSE centroid_lon + (dx - 0.5) * 0.004 END,
       CASE WHEN r_odd < 0.005 THEN NULL ELSE centroid_lat + (dy - 0.5) * 0.004 END,
       CASE WHEN r_odd < 0.005 THEN NULL ELSE area END,
       CASE WHEN r_odd >= 0.005 AND r_odd < 0.015 AND len(parent_ids) > 0
            THEN parent_ids[1 + (i % len(parent_ids))::BIGINT] ELSE area_parent END,
       CASE WHEN r_odd < 0.005 THEN 'parent_only' ELSE 'point_in_polygon' END,
       CASE WHEN r_cat < 0.07 THEN 'digital_manufacturing' WHEN r_cat < 0.21 THEN 'artisan_manufacturing'
            WHEN r_cat < 0.33 THEN 'digital_services' ELSE 'other' END,
       'active', NULL, NULL, NULL,
       CASE WHEN r_emp < 0.05 THEN NULL ELSE floor(r_emp * 20) END, '62.01.00', '2007', NULL,
       '{"forma_giuridica": "SRL", "stato_attivita": "attiva", "progressivo_ul": "' || (i % 9) || '"}', NULL, 'derived'
FROM firms
WHERE r_odd >= 0.005 OR area_parent IS NOT NULL
"""

REFERENCE = ("SELECT district_id, category, count(*) FROM places WHERE theme = 'firm' AND district_id IS NOT NULL "
             "GROUP BY ALL")


def _memory() -> tuple[float, float]:
    """(current RSS, peak RSS since the last reset) in MB."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak

    def kb(key: str) -> float:
        return int(status.split(key + ":")[1].split("kB")[0]) / 1024

    return kb("VmRSS"), kb("VmHWM")


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)
    except OSError:
        pass


def child(work: str, previous: str) -> None:
    """Run the stages on `work` (post-load tables empty); print one JSON line."""
    sys.path.insert(0, str(ROOT))
    import duckdb

    from etl import checks, indicators, periphery, programme, snapshots
    from etl.sql import transform

    con = duckdb.connect(work)
    out: list[dict[str, Any]] = []

    def stage(name: str, func: Callable[[], Any], total: bool = True) -> Any:
        _reset_peak()
        start = time.perf_counter()
        result = func()
        seconds = time.perf_counter() - start
        out.append({"stage": name, "seconds": seconds, "peak_mb": _memory()[1], "total": total})
        return result

    notes: list[str] = []
    profile = indicators._stored_profile(con, notes.append)
    levels = indicators.read_levels(con, profile)
    inp = stage("read_inputs (alone)", lambda: indicators.read_inputs(con, levels), total=False)
    per = indicators._periphery_for(profile, None)
    cfg = periphery.load_config(per) if per else None
    if cfg is not None and profile is not None:
        cfg = cfg.with_centre(profile.centre_lon, profile.centre_lat, profile.centre_name_it, profile.centre_name_en)
    groups = (periphery.district_groups(inp.fine, cfg, levels.area_crs, levels.fine_it)[0] if cfg
              else periphery.empty_groups_frame())
    cat = indicators.load_catalogue()
    stage("compute_indicators (alone)",
          lambda: indicators.compute_indicators(inp, groups, cat, (), cfg.peripheral if cfg else None), total=False)
    firm_dm = indicators.firm_inputs(inp)[2]
    stage("place_proximity_frame (alone)", lambda: indicators.place_proximity_frame(
        inp.places, levels.area_crs, firm_dm=firm_dm, names=indicators.place_names(con)), total=False)
    mode = str(con.sql("SELECT mode FROM build").fetchall()[0][0])
    stage("history copy_forward (alone)", lambda: snapshots.copy_forward(con, Path(previous), mode, notes.append,
                                                                          territory_id=levels.territory_id), total=False)
    for table in snapshots.HISTORY_TABLES:  # compute_all copies the history again
        con.execute(f"DELETE FROM {table}")  # noqa: S608 fixed names
    con.execute("BEGIN")
    stage("rollup_population_parent", lambda: con.execute(transform("rollup_population_parent")))
    con.execute("ROLLBACK")  # the copied warehouse already holds its result
    stage("compute_all (history + indicators)",
          lambda: indicators.compute_all(con, "bench", mode, Path(previous), notes.append, territory=profile))
    stage("write_programme", lambda: programme.write_programme(con, progress=notes.append))
    failures = stage("run_checks", lambda: checks.run_checks(con))
    reference = stage("reference: SQL GROUP BY per area, category", lambda: con.sql(REFERENCE).fetchall(), total=False)
    ref = {(int(d), str(c)): int(n) for d, c, n in reference}
    stored = con.sql("SELECT indicator_id, area_id, value FROM indicator_values WHERE snapshot_id = 'bench' AND level = ? "
                     "AND indicator_id IN ('firms_dm_units', 'firms_am_units') AND value IS NOT NULL",
                     params=[levels.fine]).fetchall()
    has_units = con.sql("SELECT count(*) FROM firm_units").fetchall()[0][0] > 0
    category = {"firms_dm_units": indicators.DM, "firms_am_units": indicators.AM}
    mismatches = [(i, a, v) for i, a, v in stored if not has_units and ref.get((int(a), category[i]), 0) != int(v)]
    firms = con.sql("SELECT count(*) FROM places WHERE theme = 'firm'").fetchall()[0][0]
    con.close()
    print(json.dumps({"stages": out, "failures": [f.name for f in failures], "firms": firms,
                      "compared": 0 if has_units else len(stored), "mismatches": mismatches[:5]}))


def prepare(source: Path, n: int, folder: Path) -> tuple[Path, Path]:
    """(work copy with n more firm points and empty post-load tables, previous build with the same points)."""
    import duckdb

    previous = folder / f"previous_{n}.duckdb"
    work = folder / f"work_{n}.duckdb"
    shutil.copy(source, previous)
    con = duckdb.connect(str(previous))
    try:
        con.execute(f"SELECT setseed({SEED})")
        if n:
            con.execute(ADD_FIRMS, [n])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    shutil.copy(previous, work)
    con = duckdb.connect(str(work))
    try:
        for table in POST_LOAD_TABLES:
            con.execute(f"DELETE FROM {table}")  # noqa: S608 fixed names
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return work, previous


def demo_warehouse(folder: Path) -> Path:
    """A fresh demo build (no files needed)."""
    sys.path.insert(0, str(ROOT))
    from etl import pipeline

    out = folder / "demo.duckdb"
    pipeline.build(None, out, progress=lambda _m: None)
    return out


def report(n: int, result: dict[str, Any]) -> None:
    firms = int(result["firms"])
    print(f"\n{n:,} firm points added ({firms:,} in places); checks failed: {result['failures'] or 'none'}; "
          f"reference counts compared: {result['compared']}, mismatches: {result['mismatches'] or 'none'}")
    print(f"  {'stage':44s} {'seconds':>8s} {'peak MB':>8s} {'MB/M rows':>10s}")
    for s in result["stages"]:
        per_m = s["peak_mb"] / (firms / 1e6) if firms else float("nan")
        mark = "" if s["total"] else "  (not in total)"
        print(f"  {s['stage']:44s} {s['seconds']:8.2f} {s['peak_mb']:8.0f} {per_m:10.0f}{mark}")
    total = sum(s["seconds"] for s in result["stages"] if s["total"])
    peak = max(s["peak_mb"] for s in result["stages"] if s["total"])
    ref = next(s["seconds"] for s in result["stages"] if s["stage"].startswith("reference"))
    print(f"  post-load total {total:.2f} s, peak {peak:.0f} MB; reference GROUP BY {ref:.3f} s "
          f"(ratio {total / ref if ref else float('nan'):.0f}x; the reference does no indicator, history or check)")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--warehouse", type=Path, default=None, help="a built warehouse (default: a fresh demo build)")
    parser.add_argument("--firms", type=int, nargs="*", default=[1_000_000], help="firm points to add, per run")
    parser.add_argument("--keep", type=Path, default=None, help="keep the warehouses in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_post_load_") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        source = args.warehouse or demo_warehouse(folder)
        print(f"warehouse: {source}")
        for n in args.firms:
            work, previous = prepare(source, n, folder)
            done = subprocess.run([sys.executable, __file__, "--child", str(work), str(previous)], capture_output=True,
                                  text=True, check=False)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"the stages failed at {n:,} firm points")
            report(n, json.loads(done.stdout.strip().splitlines()[-1]))
            if not args.keep:
                work.unlink(missing_ok=True)
                previous.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
