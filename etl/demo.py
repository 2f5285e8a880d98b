"""The demo bundle: a plausible, clearly synthetic Milan made by this code, no network needed.

Districts are a Voronoi tessellation of one interior point per real NIL (real ids and names),
clipped to a smooth outline around them; Municipi are unions of their NIL. Values are drawn
from a seeded generator, denser in the centre. Everything is labelled trust='demo'. The demo is
Milan-shaped: it needs a profile with the levels 'nil' (finest) and 'municipio' (the default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from etl import geo
from etl.base import BuildContext, LoadResult, SourceError
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
        for district_id, value in zip(nil["id"], base * trend, strict=True):
            rows.append({"level": "nil", "district_id": int(district_id), "year": year, "residents": int(round(value))})
    return pd.DataFrame(rows)


# (ATECO 2007 code, programme category, share of demo firms) — categories as in
# config/ateco_categories.toml; a test checks that they agree.
DEMO_ATECO: list[tuple[str, str, float]] = [
    ("26.11", "digital_manufacturing", 0.04),
    ("27.12", "digital_manufacturing", 0.03),
    ("28.41", "digital_manufacturing", 0.03),
    ("33.12", "digital_manufacturing", 0.05),
    ("14.13", "artisan_manufacturing", 0.06),
    ("31.09", "artisan_manufacturing", 0.04),
    ("32.12", "artisan_manufacturing", 0.03),
    ("62.01", "digital_services", 0.12),
    ("63.11", "digital_services", 0.05),
    ("47.19", "other", 0.30),
    ("56.10", "other", 0.25),
]
# Peripheral NIL where the demo programme has more activity (ids from NIL_REFERENCE).
DEMO_HOTSPOTS = {49: 3.0, 53: 2.5, 35: 3.0, 77: 3.0, 76: 2.0, 17: 2.0, 41: 2.0, 20: 2.5}


def _points_in(geom: shapely.Geometry, count: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """`count` random points inside a polygon (rejection sampling in its bounding box)."""
    x0, y0, x1, y1 = geom.bounds
    out: list[tuple[float, float]] = []
    while len(out) < count:
        xs = rng.uniform(x0, x1, count * 3)
        ys = rng.uniform(y0, y1, count * 3)
        inside = shapely.contains_xy(geom, xs, ys)
        out.extend(zip(xs[inside].tolist(), ys[inside].tolist(), strict=True))
    return [(round(x, 6), round(y, 6)) for x, y in out[:count]]


def demo_places(nil: gpd.GeoDataFrame) -> pd.DataFrame:
    """Synthetic makerspaces, coworking spaces, vacant spaces and firms (columns of `places`)."""
    rng = np.random.default_rng(SEED + 1)
    weights = np.array([DEMO_HOTSPOTS.get(int(i), 1.0) for i in nil["id"]])
    rows: list[dict] = []

    def scatter(theme: str, total: int, make: Callable[[int, int], dict], skew: float = 1.0) -> None:
        w = weights**skew
        counts = rng.multinomial(total, w / w.sum())
        for (district_id, geom), k in zip(zip(nil["id"], nil.geometry, strict=True), counts, strict=True):
            for j, (lon, lat) in enumerate(_points_in(geom, int(k), rng)):
                rows.append({"theme": theme, "lon": lon, "lat": lat, **make(int(district_id), j)})

    scatter("makerspace", 24, lambda n, j: {
        "source_key": f"demo-mk-{n}-{j}", "name": f"Fablab demo {n}.{j}", "address": f"Via Dimostrativa {n}, {j + 1}",
        "area_m2": float(rng.integers(80, 900)), "category": "fablab" if rng.random() < 0.6 else "makerspace"}, skew=1.5)
    scatter("coworking", 110, lambda n, j: {
        "source_key": f"demo-cw-{n}-{j}", "name": f"Coworking demo {n}.{j}", "address": f"Via Esempio {n}, {j + 1}",
        "seats": int(rng.integers(8, 120)), "category": "coworking"}, skew=0.3)
    scatter("vacant", 190, lambda n, j: {
        "source_key": f"demo-vu-{n}-{j}", "name": f"Spazio vuoto demo {n}.{j}", "address": f"Via Vuota {n}, {j + 1}",
        "area_m2": float(rng.integers(200, 20000)) if rng.random() < 0.6 else None,
        "status": "regeneration" if rng.random() < 0.12 else "degraded",
        "ownership": "public" if rng.random() < 0.35 else "private",
        "category": str(rng.choice(["Produttivo", "Residenza", "Terziario", "Area libera"]))}, skew=1.2)
    codes = [c for c, _, _ in DEMO_ATECO]
    cats = {c: k for c, k, _ in DEMO_ATECO}
    shares = np.array([s for _, _, s in DEMO_ATECO])

    def firm(n: int, j: int) -> dict:
        code = str(rng.choice(codes, p=shares / shares.sum()))
        return {"source_key": f"demo-fi-{n}-{j}", "name": f"Impresa demo {n}.{j}", "address": None,
                "ateco_code": code, "ateco_edition": "2007", "category": cats[code], "status": "active",
                "employees": float(max(1, round(rng.lognormal(1.0, 0.9)))),
                "started_on": pd.Timestamp("2000-01-01") + pd.Timedelta(days=int(rng.integers(0, 9000)))}

    scatter("firm", 4000, firm, skew=0.8)
    frame = pd.DataFrame(rows)
    frame["assignment"] = "point_in_polygon"
    frame["started_on"] = pd.to_datetime(frame["started_on"]).dt.date
    return frame


def demo_firm_units(nil: gpd.GeoDataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """Aggregated local units per NIL and ATECO code for 2010 (the ds201 layout)."""
    rng = np.random.default_rng(SEED + 2)
    residents = population[population["year"] == population["year"].min()].set_index("district_id")["residents"]
    rows = []
    for district_id in nil["id"]:
        base = residents.get(int(district_id), 500) / 1000 * 6 * DEMO_HOTSPOTS.get(int(district_id), 1.0) ** 0.5
        for code, category, share in DEMO_ATECO:
            units = int(rng.poisson(base * share * 10))
            if units:
                rows.append({"district_id": int(district_id), "year": 2010, "ateco_code": code, "ateco_edition": "2007",
                             "ateco_label": None, "category": category, "units": units,
                             "avg_employees": round(float(rng.uniform(1.5, 12.0)), 2)})
    return pd.DataFrame(rows)


def load_demo(con: duckdb.DuckDBPyConnection, report: BuildReport, progress: Progress,
              ctx: BuildContext | None = None) -> None:
    """Write the demo bundle through the same writer as real files (into `ctx.areas` as a real build)."""
    from etl.pipeline import _summary, write_result

    ctx = ctx if ctx is not None else BuildContext()
    levels = [lv.id for lv in ctx.territory.levels]
    if levels != ["nil", "municipio"]:
        raise SourceError(DEMO_PATH, f"i dati dimostrativi descrivono Milano (NIL e Municipi); il territorio "
                                     f"{ctx.territory.name_it} ha i livelli {', '.join(levels)}",
                          "costruire la demo per il territorio predefinito (senza --territory) o usare --raw-dir")
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

    places = demo_places(nil)
    fine = ctx.areas["nil"]
    parent_of = {int(i): int(m) for i, m in zip(fine["id"], fine["parent_id"], strict=True)}
    places["district_id"] = geo.assign_points(places["lon"].to_numpy(), places["lat"].to_numpy(), fine)
    places["parent_id"] = places["district_id"].map(parent_of)
    for theme, title in [("makerspace", "Makerspace e fablab (dimostrativi)"), ("coworking", "Coworking (dimostrativi)"),
                         ("vacant", "Spazi vuoti e dismessi (dimostrativi)"), ("firm", "Imprese (dimostrative)")]:
        part = places[places["theme"] == theme].reset_index(drop=True)
        source = DemoSource(f"demo_{theme}", title, "places")
        result = LoadResult(table="places", frame=part, rows_read=len(part), trust="demo",
                            notes=["valori e posizioni sintetici"], crs=geo.WGS84, file_format="generated")
        progress(f"[{source.source_id}] demo: {len(part)} luoghi generati")
        write_result(con, source, DEMO_PATH, result, ctx)
        report.summaries.append(_summary(source.source_id, DEMO_PATH, "loaded", result))
    units = demo_firm_units(nil, pop)
    source = DemoSource("demo_firm_units", "Unità locali per NIL e ATECO 2007 (dimostrative)", "firm_units")
    result = LoadResult(table="firm_units", frame=units, rows_read=len(units), trust="demo",
                        notes=["conteggi sintetici, anno 2010 come ds201"], file_format="generated")
    progress(f"[{source.source_id}] demo: {len(units)} righe generate")
    write_result(con, source, DEMO_PATH, result, ctx)
    report.summaries.append(_summary(source.source_id, DEMO_PATH, "loaded", result))
