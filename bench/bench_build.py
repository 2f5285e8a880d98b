"""Benchmark: a firm point file from CSV on disk to warehouse, against a plain DuckDB + shapely script.

For each size (100 k and 1 M rows; 3 M with --large; any with --rows) it:
1. generates a synthetic `imprese_<n>.csv` (seeded) on the real NIL: ATECO 2007 codes with their
   edition column, ids with local-unit numbers, employees, start dates, states, an extra column,
   and the usual defects (1% swapped lon/lat, 1% outside the city, 0.5% repeated ids);
2. project: runs `etl.pipeline.build` with the NIL, Municipi and firm-point sources in a child
   process (CSV reader, loader, validation, point-in-polygon, places and rejects written);
3. reference, same run: a plain script in a child process doing the same work with DuckDB
   `read_csv` and shapely `contains_xy` per prepared polygon after a bbox prefilter (same swap
   repair, outside and duplicate-id rejects, places and rejects written in DuckDB);
4. checks that the per-NIL counts are identical and prints time, peak memory (child's
   `resource.getrusage` max RSS) and the ratios; also the bare point-in-polygon step of the
   project (`etl.geo.assign_points`) against the reference's.

Goals: whole build within 2x of the reference; peak memory under 1 GB per million rows.

Usage: python bench/bench_build.py --real-dir DIR [--rows N ...] [--large] [--keep]
       (or set OSSERVATORIO_REAL_DIR; DIR holds comune-milano-nil/ and comune-milano-municipi/)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261201
ATECO_2007 = [("62.01.00", 6), ("62.02.00", 4), ("63.11.20", 2), ("58.29.00", 1), ("72.19.09", 1),
              ("25.62.00", 3), ("26.51.29", 1), ("27.90.09", 1), ("28.99.99", 1), ("33.12.10", 2),
              ("10.71.10", 3), ("14.13.10", 3), ("15.12.09", 1), ("18.12.00", 2), ("25.11.00", 2),
              ("31.09.90", 1), ("32.12.10", 2), ("32.50.30", 2), ("47.11.40", 20), ("56.10.11", 15),
              ("69.20.11", 10), ("70.22.09", 10), ("68.20.01", 8), ("43.39.01", 6), ("96.02.01", 5)]
HEADER = ("codice_fiscale;progressivo_ul;denominazione;indirizzo;codice_ateco;edizione_ateco;addetti;"
          "data_inizio_attivita;stato_attivita;forma_giuridica;lon;lat\n")

PROJECT = r"""
import json, logging, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
logging.basicConfig(level=logging.INFO, format="    %(message)s")
from etl import pipeline
from etl.sources import firms_points, municipi, nil
raw, out = Path(sys.argv[2]), Path(sys.argv[3])
t = time.perf_counter()
pipeline.build(raw, out, sources=[nil.SOURCE, municipi.SOURCE, firms_points.SOURCE], progress=lambda m: None)
seconds = time.perf_counter() - t
import duckdb
con = duckdb.connect(str(out), read_only=True)
counts = con.sql("SELECT district_id, count(*) FROM places WHERE source_id = 'firms_points' GROUP BY 1").fetchall()
rejects = con.sql("SELECT count(*) FROM rejects WHERE source_id = 'firms_points' AND action = 'rejected'").fetchall()
print(json.dumps({"seconds": seconds, "counts": {str(k): v for k, v in counts}, "rejected": rejects[0][0],
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

REFERENCE = r"""
import json, resource, sys, time
from pathlib import Path
import duckdb, geopandas as gpd, numpy as np, shapely
csv, nil_zip, out = sys.argv[1], sys.argv[2], sys.argv[3]
Path(out).unlink(missing_ok=True)
t = time.perf_counter()
nil = gpd.read_file(nil_zip).to_crs(4326)
ids = nil[[c for c in nil.columns if c.upper() in ("ID_NIL", "IDNIL", "NIL_ID")][0]].astype(int).to_numpy()
geoms = nil.geometry.to_numpy()
con = duckdb.connect(out)
con.execute("SET threads TO 2")
con.execute("CREATE TABLE raw AS SELECT row_number() OVER () AS row_number, * FROM read_csv(?, delim=';', "
            "header=true, all_varchar=true)", [csv])
tab = con.sql("SELECT try_cast(replace(lon, ',', '.') AS DOUBLE), try_cast(replace(lat, ',', '.') AS DOUBLE) "
              "FROM raw ORDER BY row_number").fetchnumpy()
lon, lat = (np.asarray(v, dtype=float) for v in tab.values())
x0, y0, x1, y1 = (b + d for b, d in zip(nil.total_bounds, (-0.05, -0.05, 0.05, 0.05)))
inside = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
swap = ~inside & (lat >= x0) & (lat <= x1) & (lon >= y0) & (lon <= y1)
lon[swap], lat[swap] = lat[swap].copy(), lon[swap].copy()
t_pip = time.perf_counter()
shapely.prepare(geoms)
district_id = np.full(len(lon), -1, dtype=np.int64)
for g, pid, (a, b, c, d) in zip(geoms, ids, shapely.bounds(geoms)):
    cand = np.flatnonzero((lon >= a) & (lon <= c) & (lat >= b) & (lat <= d) & (district_id < 0))
    if cand.size:
        district_id[cand[shapely.contains_xy(g, lon[cand], lat[cand])]] = pid
pip = time.perf_counter() - t_pip
import pyarrow as pa
con.register("pos", pa.table({"row_number": np.arange(1, len(lon) + 1), "lon": lon, "lat": lat, "district_id": district_id,
                              "swapped": swap}))
con.execute("CREATE TABLE located AS SELECT r.*, p.lon AS x, p.lat AS y, p.district_id, p.swapped, row_number() OVER "
            "(PARTITION BY r.codice_fiscale, r.progressivo_ul, p.district_id > 0 ORDER BY r.row_number) AS k "
            "FROM raw r JOIN pos p USING (row_number)")
con.execute("CREATE TABLE places AS SELECT row_number, codice_fiscale || '/' || coalesce(progressivo_ul, '0') AS "
            "source_key, denominazione AS name, indirizzo AS address, x AS lon, y AS lat, district_id, codice_ateco, "
            "try_cast(addetti AS DOUBLE) AS employees FROM located WHERE district_id > 0 AND k = 1")
con.execute("CREATE TABLE rejects AS SELECT row_number, CASE WHEN district_id < 0 THEN 'fuori' ELSE 'duplicato' END AS "
            "reason FROM located WHERE district_id < 0 OR k > 1 UNION ALL SELECT row_number, 'scambiate' FROM located "
            "WHERE swapped")
counts = con.sql("SELECT district_id, count(*) FROM places GROUP BY 1").fetchall()
rejected = con.sql("SELECT count(*) FROM rejects WHERE reason <> 'scambiate'").fetchall()[0][0]
con.close()
print(json.dumps({"seconds": time.perf_counter() - t, "pip_seconds": pip, "counts": {str(k): v for k, v in counts},
                  "rejected": rejected, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

PIP_PROJECT = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import duckdb, geopandas as gpd, numpy as np
from etl import geo
nil = gpd.read_file(sys.argv[3]).to_crs(4326)
nil["id"] = nil[[c for c in nil.columns if c.upper() in ("ID_NIL", "IDNIL", "NIL_ID")][0]].astype(int)
tab = duckdb.sql("SELECT try_cast(lon AS DOUBLE), try_cast(lat AS DOUBLE) FROM read_csv(?, delim=';', header=true, "
                 "all_varchar=true)", params=[sys.argv[2]]).fetchnumpy()
lon, lat = (np.asarray(v, dtype=float) for v in tab.values())
t = time.perf_counter()
geo.assign_points(lon, lat, nil)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def generate(path: Path, n: int, nil_zip: Path) -> None:
    """A seeded synthetic firm list on the real NIL, written in 500 k-row blocks."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(SEED + n)
    nil = gpd.read_file(nil_zip).to_crs(4326)
    x0, y0, x1, y1 = nil.total_bounds
    city = shapely.union_all(nil.geometry.to_numpy())
    shapely.prepare(city)
    codes = np.array([c for c, _ in ATECO_2007])
    weights = np.array([w for _, w in ATECO_2007], dtype=float)
    states = np.array(["ATTIVA"] * 8 + ["INATTIVA", "SOSPESA"])
    forms = np.array(["SRL", "SPA", "SNC", "SAS", "DI"])
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER)
        for start in range(0, n, 500_000):
            m = min(500_000, n - start)
            ids = np.arange(start, start + m)
            dup = rng.random(m) < 0.005  # repeats an earlier id with the same local-unit number
            ids[dup] = np.maximum(ids[dup] - rng.integers(1, 1000, dup.sum()), 0)
            lon, lat = rng.uniform(x0, x1, 2 * m), rng.uniform(y0, y1, 2 * m)
            inside = shapely.contains_xy(city, lon, lat)  # points in the city, then the defects
            lon, lat = lon[inside][:m], lat[inside][:m]
            out = rng.random(m) < 0.01
            lon[out] += 0.3
            swap = rng.random(m) < 0.01
            lon[swap], lat[swap] = lat[swap].copy(), lon[swap].copy()
            code = codes[rng.choice(len(codes), m, p=weights / weights.sum())]
            year = rng.integers(1950, 2025, m)
            emp = rng.integers(0, 40, m)
            lines = [f"{i:011d};1;Impresa {i} {f};Via Roma {i % 300 + 1};{c};2007;{e};01/0{1 + i % 9}/{y};{s};{f};"
                     f"{a:.6f};{b:.6f}\n"
                     for i, c, e, y, s, f, a, b in zip(ids, code, emp, year, states[rng.integers(0, 10, m)],
                                                      forms[rng.integers(0, 5, m)], lon, lat, strict=True)]
            fh.writelines(lines)


def run_child(script: str, *args: str) -> dict:
    """Run a child Python process; its JSON result plus its own peak RSS."""
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr[-3000:]}")
    for line in proc.stderr.splitlines():
        if line.startswith("    "):
            print(line)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench(n: int, real_dir: Path, work: Path) -> dict:
    """One size: generate, project build, reference, comparison."""
    nil_zip = real_dir / "comune-milano-nil" / "NIL_WM.zip"
    raw = work / f"raw_{n}"
    raw.mkdir(exist_ok=True)
    for name in ("comune-milano-nil", "comune-milano-municipi"):  # file links: rglob does not enter linked folders
        (raw / name).mkdir(exist_ok=True)
        for f in (real_dir / name).iterdir():
            if not (raw / name / f.name).exists():
                (raw / name / f.name).symlink_to(f)
    csv = raw / f"imprese_{n}.csv"
    t = time.perf_counter()
    if not csv.exists():  # a kept folder reuses its files (same seed, same rows)
        generate(csv, n, nil_zip)
    print(f"{n:>9,} rows: CSV generated in {time.perf_counter() - t:.1f} s ({csv.stat().st_size / 1e6:.0f} MB)")
    project = run_child(PROJECT, str(ROOT), str(raw), str(work / f"project_{n}.duckdb"))
    reference = run_child(REFERENCE, str(csv), str(nil_zip), str(work / f"reference_{n}.duckdb"))
    pip = run_child(PIP_PROJECT, str(ROOT), str(csv), str(nil_zip))
    same = project["counts"] == reference["counts"]
    row = {"rows": n, "project_s": project["seconds"], "reference_s": reference["seconds"],
           "ratio": project["seconds"] / reference["seconds"], "project_mb": project["maxrss_kb"] / 1024,
           "reference_mb": reference["maxrss_kb"] / 1024, "pip_ratio": pip["seconds"] / reference["pip_seconds"],
           "same_counts": same, "rejected": (project["rejected"], reference["rejected"])}
    print(f"{n:>9,} rows: project {row['project_s']:.1f} s, {row['project_mb']:.0f} MB peak | reference "
          f"{row['reference_s']:.1f} s, {row['reference_mb']:.0f} MB | ratio {row['ratio']:.2f}x | point-in-polygon "
          f"{pip['seconds']:.2f} s vs {reference['pip_seconds']:.2f} s ({row['pip_ratio']:.2f}x) | per-NIL counts "
          f"{'identical' if same else 'DIFFERENT'} | rejected {project['rejected']} vs {reference['rejected']}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--real-dir", type=Path, default=os.environ.get("OSSERVATORIO_REAL_DIR"))
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--large", action="store_true", help="also 3,000,000 rows")
    parser.add_argument("--keep", type=Path, default=None, help="keep the files in this folder")
    args = parser.parse_args()
    if args.real_dir is None or not (Path(args.real_dir) / "comune-milano-nil").is_dir():
        raise SystemExit("indicare la cartella dei dati reali con --real-dir o OSSERVATORIO_REAL_DIR")
    sizes = list(args.rows) + ([3_000_000] if args.large else [])
    with tempfile.TemporaryDirectory(prefix="bench_build_") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = [bench(n, Path(args.real_dir).resolve(), work) for n in sizes]
    print("\nrows       project_s  reference_s  ratio  project_MB  MB/M rows  pip_ratio  same")
    for r in rows:
        print(f"{r['rows']:>9,}  {r['project_s']:9.1f}  {r['reference_s']:11.1f}  {r['ratio']:5.2f}  "
              f"{r['project_mb']:10.0f}  {r['project_mb'] / (r['rows'] / 1e6):9.0f}  {r['pip_ratio']:9.2f}  "
              f"{r['same_counts']}")
    _ = resource  # peak memory is read inside each child


if __name__ == "__main__":
    main()
