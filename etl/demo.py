"""The demo bundle: a plausible, clearly synthetic Milan made by this code, no network needed.

Districts are a Voronoi tessellation of one interior point per real NIL (real ids and names),
clipped to a smooth outline around them; Municipi are unions of their NIL. Values are drawn
from a seeded generator, denser in the centre. Everything is labelled trust='demo'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from etl import geo
from etl.base import BuildContext, LoadResult
from etl.demo_reference import NIL_REFERENCE

if TYPE_CHECKING:
    import duckdb

    from etl.pipeline import BuildReport, Progress

SEED = 20261121
DUOMO = (9.1900, 45.4642)
DEMO_PATH = "demo://osservatorio"


@dataclass(frozen=True)
class DemoSource:
    """Lineage entry for one demo table."""

    source_id: str
    title: str
    table: str
    dataset: str | None = None
    licence: str = "Dati dimostrativi generati dal progetto (non usare per decisioni)"
    single: bool = True

    def find(self, raw_dir: Path) -> list[Path]:
        return []

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:  # pragma: no cover - not used
        raise NotImplementedError


def demo_districts() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(nil, municipi) GeoDataFrames in EPSG:4326 with columns level, id, name, geometry."""
    ref = pd.DataFrame(NIL_REFERENCE, columns=["id", "name", "municipio", "lon", "lat"])
    seeds = gpd.GeoSeries(gpd.points_from_xy(ref["lon"], ref["lat"]), crs=geo.WGS84).to_crs(geo.UTM32_RDN2008)
    outline = shapely.convex_hull(shapely.MultiPoint(list(seeds))).buffer(1200, quad_segs=16)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(list(seeds)), extend_to=outline.buffer(5000))
    # voronoi_polygons does not keep input order: match each cell to the seed inside it.
    cell_list = list(cells.geoms)
    ordered = []
    for pt in seeds:
        ordered.append(next(c for c in cell_list if c.contains(pt)).intersection(outline))
    nil = gpd.GeoDataFrame({"level": "nil", "id": ref["id"], "name": ref["name"], "municipio": ref["municipio"]},
                           geometry=ordered, crs=geo.UTM32_RDN2008).to_crs(geo.WGS84)
    nil["geometry"] = shapely.set_precision(nil.geometry.to_numpy(), 1e-7)
    mun = nil.dissolve(by="municipio", as_index=False)[["municipio", "geometry"]]
    mun = gpd.GeoDataFrame({"level": "municipio", "id": mun["municipio"].astype(int),
                            "name": [f"Municipio {m}" for m in mun["municipio"]]},
                           geometry=mun.geometry.values, crs=geo.WGS84)
    return nil[["level", "id", "name", "geometry"]], mun


def demo_population(nil: gpd.GeoDataFrame, years: range = range(2016, 2022)) -> pd.DataFrame:
    """Synthetic residents per NIL and year: dense in the centre, thin in the agricultural edge."""
    rng = np.random.default_rng(SEED)
    area_km2 = geo.area_m2(nil.geometry) / 1e6
    cent = nil.geometry.to_crs(geo.UTM32_RDN2008).centroid.to_crs(geo.WGS84)
    dist_km = np.hypot((cent.x - DUOMO[0]) * 78.0, (cent.y - DUOMO[1]) * 111.0)
    density = 14000 * np.exp(-dist_km / 6.0) * rng.uniform(0.6, 1.3, len(nil))
    base = np.maximum(density * area_km2, 150)
    rows = []
    for k, year in enumerate(years):
        trend = 1 + 0.004 * k + rng.normal(0, 0.004, len(nil))
        for nil_id, value in zip(nil["id"], base * trend, strict=True):
            rows.append({"level": "nil", "district_id": int(nil_id), "year": year, "residents": int(round(value))})
    return pd.DataFrame(rows)


def load_demo(con: duckdb.DuckDBPyConnection, report: BuildReport, progress: Progress) -> None:
    """Write the demo bundle through the same writer as real files."""
    from etl.pipeline import _summary, write_result

    ctx = BuildContext()
    nil, mun = demo_districts()
    items = [
        (DemoSource("municipi_boundaries", "Municipi (dimostrativi)", "districts"), mun),
        (DemoSource("nil_boundaries", "NIL (dimostrativi, tassellazione generata)", "districts"), nil),
    ]
    for source, frame in items:
        progress(f"[{source.source_id}] demo: {len(frame)} geometrie generate")
        result = LoadResult(table="districts", frame=frame, rows_read=len(frame), trust="demo",
                            notes=["dati dimostrativi generati dal codice"], crs=geo.WGS84, file_format="generated")
        write_result(con, source, DEMO_PATH, result, ctx)
        report.summaries.append(_summary(source.source_id, DEMO_PATH, "loaded", result))
    pop = demo_population(nil)
    source = DemoSource("population_nil", "Popolazione per NIL (dimostrativa)", "population")
    result = LoadResult(table="population", frame=pop, rows_read=len(pop), trust="demo",
                        notes=["valori sintetici"], file_format="generated")
    progress(f"[{source.source_id}] demo: {len(pop)} righe generate")
    write_result(con, source, DEMO_PATH, result, ctx)
    report.summaries.append(_summary(source.source_id, DEMO_PATH, "loaded", result))
