"""Benchmark: 1,000,000 firm points + 10,000 vacant spaces + 1,000 makerspaces into the 88 NIL.

Runs the project's real code path, stage by stage, in one process:
1. boundaries: the real NIL (and Municipi) files through their ETL sources and the pipeline
   writer into a temporary DuckDB (this fills the BuildContext exactly as a build does);
   without the real files, the demo districts of etl.demo are used;
2. generate: synthetic points (seeded) in and around Milan, with the usual defects
   (swapped lon/lat, points outside the city, duplicate ids), plus ATECO 2007 codes;
3. classify: programme categories of the firms with etl.ateco_map.classify_table;
4. assign/finalise: etl.places.finalise_places per theme (validation, repair, NIL and
   Municipio assignment, duplicates);
5. load: etl.pipeline.write_result into the `places` table;
and, on the same points, the bare primitive etl.geo.assign_points (shapely.contains_xy per
prepared polygon after a numpy bbox prefilter), then the ratio finalise / primitive.

Targets: assign/finalise within 1.5x of the primitive; whole run under 10 s on 2 cores.

Usage: python bench/bench_assign.py [--firms N] [--vacant N] [--makerspaces N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from etl import ateco_map, geo  # noqa: E402
from etl.base import BuildContext, LoadResult  # noqa: E402
from etl.demo import demo_districts  # noqa: E402
from etl.pipeline import create_schema, write_result  # noqa: E402
from etl.places import finalise_places  # noqa: E402
from etl.sources import municipi as municipi_source  # noqa: E402
from etl.sources import nil as nil_source  # noqa: E402

REAL_DIR = ROOT.parent / "shared" / "data" / "real"
REAL_NIL = REAL_DIR / "comune-milano-nil" / "NIL_WM.zip"
REAL_MUNICIPI = REAL_DIR / "comune-milano-municipi" / "Municipi.shp"
SEED = 20261122
TARGET_RATIO = 1.5
TARGET_TOTAL_S = 10.0
# Frequent ATECO 2007 codes of urban local units, with rough weights (synthetic mix).
ATECO_2007 = [("62.01.00", 6), ("62.02.00", 4), ("63.11.20", 2), ("58.29.00", 1), ("72.19.09", 1),
              ("25.62.00", 3), ("26.51.29", 1), ("27.90.09", 1), ("28.99.99", 1), ("33.12.10", 2),
              ("10.71.10", 3), ("14.13.10", 3), ("15.12.09", 1), ("18.12.00", 2), ("25.11.00", 2),
              ("31.09.90", 1), ("32.12.10", 2), ("32.50.30", 2), ("47.11.40", 20), ("56.10.11", 15),
              ("69.20.11", 10), ("70.22.09", 10), ("68.20.01", 8), ("43.39.01", 6), ("96.02.01", 5)]


@dataclass(frozen=True)
class BenchSource:
    """Lineage entry for the synthetic tables (what the pipeline writer needs)."""

    source_id: str
    title: str
    table: str = "places"
    dataset: str | None = None
    licence: str = "dati sintetici del benchmark"
    single: bool = True

    def find(self, raw_dir: Path) -> list[Path]:
        return []

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:  # pragma: no cover - not used
        raise NotImplementedError


class Timer:
    """Named wall-clock stages, printed in order."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, float]] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.stages.append((name, time.perf_counter() - start))

    def get(self, name: str) -> float:
        return sum(s for n, s in self.stages if n == name)


def load_boundaries(con: duckdb.DuckDBPyConnection, ctx: BuildContext) -> str:
    """Fill the finest level and its parent in ctx.areas through the real sources and writer; returns a description."""
    if REAL_NIL.is_file():
        if REAL_MUNICIPI.is_file():
            result = municipi_source.SOURCE.load(REAL_MUNICIPI, ctx)
            write_result(con, municipi_source.SOURCE, REAL_MUNICIPI, result, ctx)
        result = nil_source.SOURCE.load(REAL_NIL, ctx)
        write_result(con, nil_source.SOURCE, REAL_NIL, result, ctx)
        return f"NIL reali ({REAL_NIL.name}, {len(ctx.ids())} poligoni)"
    nil, mun = demo_districts()
    for src_id, frame in (("municipi_boundaries", mun), ("nil_boundaries", nil)):
        result = LoadResult(table="districts", frame=frame, rows_read=len(frame), trust="demo")
        write_result(con, BenchSource(src_id, src_id, "districts"), "demo://bench", result, ctx)
    return f"NIL dimostrativi (etl.demo, {len(nil)} poligoni): file reale non trovato"


def synthetic_points(ctx: BuildContext, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points clustered around each NIL (more in small central ones), 2% in the hinterland,
    0.5% with lon/lat swapped."""
    areas = ctx.boundaries()
    assert areas is not None
    geoms = areas.geometry.to_numpy()
    centres = shapely.get_coordinates(shapely.point_on_surface(geoms))
    spread = np.sqrt(shapely.area(geoms)) / 3.0
    weight = 1.0 / np.maximum(shapely.area(geoms), 1e-6) ** 0.3
    which = rng.choice(len(geoms), size=n, p=weight / weight.sum())
    lon = centres[which, 0] + rng.normal(0.0, spread[which])
    lat = centres[which, 1] + rng.normal(0.0, spread[which])
    x0, y0, x1, y1 = areas.total_bounds
    out = rng.random(n) < 0.02  # hinterland: a ring around the city
    lon[out] = rng.uniform(x0 - 0.08, x1 + 0.08, out.sum())
    lat[out] = np.where(rng.random(out.sum()) < 0.5, rng.uniform(y0 - 0.08, y0 - 0.005, out.sum()),
                        rng.uniform(y1 + 0.005, y1 + 0.08, out.sum()))
    swap = rng.random(n) < 0.005
    lon[swap], lat[swap] = lat[swap].copy(), lon[swap].copy()
    return lon, lat


def numbered(prefix: str, n: int, start: int = 1) -> pd.Series:
    """'prefix1', 'prefix2', ... built with Arrow string kernels (no Python loop)."""
    return prefix + pd.Series(np.arange(start, start + n)).astype("string[pyarrow]")


def firm_frame(ctx: BuildContext, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Synthetic firm list: ids (0.1% repeated), names, addresses, lon/lat, ATECO 2007 codes."""
    lon, lat = synthetic_points(ctx, n, rng)
    keys = numbered("IT", n)
    dup = np.flatnonzero(rng.random(n) < 0.001)
    dup = dup[dup > 0]
    keys.iloc[dup] = keys.iloc[dup - 1].to_numpy()
    codes, weights = zip(*ATECO_2007, strict=True)
    p = np.array(weights, dtype=float)
    code_idx = rng.choice(len(codes), size=n, p=p / p.sum())
    return pd.DataFrame({
        "source_key": keys,
        "name": numbered("Impresa ", n),
        "address": numbered("Via della Sperimentazione ", n),
        "lon": lon,
        "lat": lat,
        "ateco_code": pd.Categorical.from_codes(code_idx, categories=list(codes)).astype(str),
        "ateco_edition": "2007",
        "employees": rng.integers(1, 50, n).astype(float),
    })


def simple_frame(ctx: BuildContext, n: int, rng: np.random.Generator, prefix: str) -> pd.DataFrame:
    """Vacant spaces or makerspaces: id, name, address, lon/lat."""
    lon, lat = synthetic_points(ctx, n, rng)
    return pd.DataFrame({"source_key": numbered(prefix, n), "name": numbered(f"{prefix} ", n),
                         "address": numbered("Piazza del Test ", n), "lon": lon, "lat": lat,
                         "area_m2": rng.uniform(50, 5000, n).round(0)})


def profiled(enabled: bool, func: Callable[[], Any]) -> tuple[Any, str]:
    """Run func, optionally under cProfile; returns (result, top of the profile)."""
    if not enabled:
        return func(), ""
    prof = cProfile.Profile()
    prof.enable()
    result = func()
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
    return result, buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=1_000_000)
    parser.add_argument("--vacant", type=int, default=10_000)
    parser.add_argument("--makerspaces", type=int, default=1_000)
    parser.add_argument("--profile", action="store_true", help="profile finalise_places (slower; cProfile top 15)")
    args = parser.parse_args(argv)

    run_start = time.perf_counter()
    timer = Timer()
    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory(prefix="bench_assign_") as tmp:
        con = duckdb.connect(os.path.join(tmp, "bench.duckdb"))
        try:
            ctx = BuildContext()
            with timer.stage("boundaries"):
                create_schema(con)
                where = load_boundaries(con, ctx)
            with timer.stage("generate"):
                frames = {"firm": firm_frame(ctx, args.firms, rng),
                          "vacant": simple_frame(ctx, args.vacant, rng, "VAC"),
                          "makerspace": simple_frame(ctx, args.makerspaces, rng, "MKR")}
            with timer.stage("classify"):
                firms = frames["firm"]
                classes = ateco_map.classify_table(firms["ateco_code"], "2007")
                frames["firm"] = firms.assign(category=classes["category"].to_numpy(),
                                              ateco_code=classes["ateco_code"].to_numpy())
            results: dict[str, tuple[pd.DataFrame, list[Any]]] = {}
            reports: list[str] = []
            inner: dict[str, float] = {}  # finalise_places' own stage timings, summed over the themes
            for theme, frame in frames.items():
                with timer.stage("assign/finalise"):
                    (rows, rejects), report = profiled(args.profile and theme == "firm",
                                                       lambda f=frame, t=theme: finalise_places(
                                                           f, ctx, None, t, dedupe_by_name=t != "firm", timings=inner))
                results[theme] = (rows, rejects)
                if report:
                    reports.append(report)
            with timer.stage("load"):
                for theme, (rows, rejects) in results.items():
                    result = LoadResult(table="places", frame=rows, rows_read=len(frames[theme]), trust="demo",
                                        rejects=rejects)
                    write_result(con, BenchSource(f"bench_{theme}", f"benchmark {theme}"), f"bench://{theme}",
                                 result, ctx)
            loaded = con.sql("SELECT theme, count(*), count(district_id), count(parent_id) FROM places "
                             "GROUP BY theme ORDER BY theme").fetchall()
            rejected = con.sql("SELECT count(*) FROM rejects").fetchall()[0][0]
            # The bare primitive on exactly the same points (swaps already repaired or not: the same input).
            lon = np.concatenate([f["lon"].to_numpy(dtype=float) for f in frames.values()])
            lat = np.concatenate([f["lat"].to_numpy(dtype=float) for f in frames.values()])
            with timer.stage("primitive (geo.assign_points)"):
                assigned = geo.assign_points(lon, lat, ctx.boundaries())  # type: ignore[arg-type]
        finally:
            con.close()
    total = time.perf_counter() - run_start

    n_points = sum(len(f) for f in frames.values())
    print(f"Benchmark assegnazione ai NIL: {n_points:,} punti ({args.firms:,} imprese, {args.vacant:,} spazi vuoti, "
          f"{args.makerspaces:,} makerspace); {where}; {os.cpu_count()} CPU")
    print(f"{'fase':<32}{'secondi':>10}")
    for name in dict.fromkeys(n for n, _ in timer.stages):
        label = "assign/finalise (3 temi)" if name == "assign/finalise" else name
        print(f"{label:<32}{timer.get(name):>10.3f}")
    print(f"{'totale (esecuzione intera)':<32}{total:>10.3f}")
    primitive = timer.get("primitive (geo.assign_points)")
    print("dentro assign/finalise: " + ", ".join(f"{k} {v:.3f} s" for k, v in inner.items()))
    ratio = inner["assign"] / primitive
    print(f"rapporto assegnazione/primitiva: {ratio:.2f}x (assegnazione = coordinate, inversioni lon/lat, "
          f"punto-in-poligono, Municipio; obiettivo <= {TARGET_RATIO}x: {'OK' if ratio <= TARGET_RATIO else 'NON RAGGIUNTO'})")
    full = timer.get("assign/finalise") / primitive
    print(f"rapporto con validazione completa (quarantena, duplicati, output): {full:.2f}x; "
          f"totale < {TARGET_TOTAL_S:.0f} s: {'OK' if total < TARGET_TOTAL_S else 'NON RAGGIUNTO'}")
    print(f"punti nei NIL (primitiva): {(assigned > 0).sum():,}; righe caricate per tema: "
          + ", ".join(f"{t}={n:,} (NIL {k:,}, Municipio {m:,})" for t, n, k, m in loaded)
          + f"; righe in rejects: {rejected:,}")
    reasons = Counter(r.reason.split(" (")[0].split(":")[0] for _, rej in results.values() for r in rej)
    print("motivi: " + "; ".join(f"{k} = {v:,}" for k, v in reasons.most_common()))
    for report in reports:
        print("\nprofilo di finalise_places (tema firm, cProfile, ordinato per tempo proprio):")
        print("\n".join(line for line in report.splitlines() if line.strip())[:4000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
