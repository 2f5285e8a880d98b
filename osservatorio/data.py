"""Read-only queries on the warehouse: plain functions of a DuckDB connection (no Streamlit).

Values are bound parameters; the only identifier that varies (the district level) is
checked against an allow-list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd

LEVELS = ("nil", "municipio")


class WarehouseError(Exception):
    """The warehouse is missing, unreadable or empty."""


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"livello sconosciuto: {level!r}")
    return level


@dataclass(frozen=True)
class BuildInfo:
    build_id: str
    mode: str
    finished_at: datetime | None
    raw_dir: str | None

    @property
    def is_demo(self) -> bool:
        return self.mode == "demo"


def build_info(con: duckdb.DuckDBPyConnection) -> BuildInfo:
    """The build that produced this warehouse."""
    try:
        rows = con.sql("SELECT build_id, mode, finished_at, raw_dir FROM build ORDER BY started_at DESC LIMIT 1").fetchall()
    except duckdb.CatalogException as exc:
        raise WarehouseError(f"tabella build assente: {exc}") from exc
    if not rows:
        raise WarehouseError("nessuna build registrata")
    return BuildInfo(*rows[0])


def district_stats(con: duckdb.DuckDBPyConnection, level: str = "nil") -> pd.DataFrame:
    """One row per district: id, name, municipio, area, residents, density, trust labels."""
    check_level(level)
    return con.sql(
        """SELECT id, name, municipio, area_m2 / 1e6 AS area_km2, residents, population_year,
                  density_km2, geometry_trust, population_trust, population_source
           FROM district_stats WHERE level = $level ORDER BY id""",
        params={"level": level},
    ).df()


def city_summary(con: duckdb.DuckDBPyConnection) -> dict[str, float | int | None]:
    """Whole-city headline numbers from the NIL level (residents only where known)."""
    row = con.sql(
        """SELECT count(*), sum(area_m2) / 1e6, sum(residents), count(residents),
                  sum(residents) FILTER (WHERE residents IS NOT NULL)
                    / (sum(area_m2) FILTER (WHERE residents IS NOT NULL) / 1e6)
           FROM district_stats WHERE level = 'nil'"""
    ).fetchall()[0]
    n, area, residents, with_pop, density = row
    return {"nil_count": n, "area_km2": area, "residents": residents,
            "nil_without_population": (n - with_pop) if n else 0, "density_km2": density}


def map_geojson(con: duckdb.DuckDBPyConnection, level: str = "nil") -> dict:
    """FeatureCollection of the simplified map geometries, feature id = district id."""
    check_level(level)
    rows = con.sql("SELECT id, map_geojson FROM districts WHERE level = $level ORDER BY id",
                   params={"level": level}).fetchall()
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "id": int(i), "properties": {}, "geometry": json.loads(g)}
                         for i, g in rows]}


def sources(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Lineage: one row per file found by the build."""
    return con.sql(
        """SELECT source_id, dataset, title, path, status, trust, rows_read, rows_loaded, rows_rejected,
                  rows_repaired, loaded_at, licence, crs, encoding, sha256, notes
           FROM sources ORDER BY source_id, status, path"""
    ).df()


def rejects(con: duckdb.DuckDBPyConnection, source_id: str | None = None) -> pd.DataFrame:
    """Rejected, repaired and flagged rows with their reasons."""
    return con.sql(
        """SELECT source_id, path, row_number, action, reason, raw FROM rejects
           WHERE $source_id IS NULL OR source_id = $source_id
           ORDER BY source_id, path, row_number""",
        params={"source_id": source_id},
    ).df()
