"""The build: load every source into a new DuckDB file, then swap it in atomically.

A failed or interrupted build removes its temporary file and leaves the previous
warehouse untouched; readers never see half a build.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import geopandas as gpd
import pandas as pd
import shapely

from etl import __version__, geo
from etl.base import BuildContext, LoadResult, Source, SourceError, sha256_of
from etl.indicators import compute_all
from etl.sql import SCHEMA_VERSION, schema_sql, transform

DEFAULT_WAREHOUSE = Path(__file__).resolve().parent.parent / "data" / "warehouse.duckdb"
Progress = Callable[[str], None]


@dataclass
class SourceSummary:
    """One line of the build summary."""

    source_id: str
    path: str
    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_repaired: int = 0
    trust: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class BuildReport:
    """What a build did; `summaries` has one entry per file found."""

    warehouse: Path
    mode: str
    build_id: str
    summaries: list[SourceSummary] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table and view of the warehouse."""
    con.execute(schema_sql())


def build(
    raw_dir: Path | None,
    out: Path = DEFAULT_WAREHOUSE,
    sources: list[Source] | None = None,
    progress: Progress = print,
) -> BuildReport:
    """Build the warehouse from a raw folder (or the demo bundle when raw_dir is None)."""
    from etl.sources import REGISTRY

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    mode = "demo" if raw_dir is None else "real"
    report = BuildReport(warehouse=out, mode=mode, build_id=uuid.uuid4().hex[:12])
    try:
        con = duckdb.connect(str(tmp))
        try:
            create_schema(con)
            con.execute(
                "INSERT INTO build VALUES (?, ?, ?, NULL, ?, ?, ?)",
                [report.build_id, mode, _now(), None if raw_dir is None else str(raw_dir), __version__, SCHEMA_VERSION],
            )
            if raw_dir is None:
                from etl import demo

                demo.load_demo(con, report, progress)
            else:
                _load_raw(con, Path(raw_dir), sources or REGISTRY, report, progress)
            con.execute(transform("rollup_population_municipio"))
            compute_all(con, report.build_id, mode, out, progress)
            con.execute("UPDATE build SET finished_at = ? WHERE build_id = ?", [_now(), report.build_id])
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, out)
    except BaseException:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    progress(f"Warehouse scritto: {out} ({mode})")
    return report


def _load_raw(con: duckdb.DuckDBPyConnection, raw_dir: Path, sources: list[Source],
              report: BuildReport, progress: Progress) -> None:
    if not raw_dir.is_dir():
        raise SourceError(raw_dir, "la cartella dei dati grezzi non esiste", "indicare una cartella esistente con --raw-dir")
    ctx = BuildContext()
    for source in sources:
        files = source.find(raw_dir)
        if not files:
            progress(f"[{source.source_id}] nessun file trovato in {raw_dir}")
            if source.source_id == "nil_boundaries":
                raise SourceError(raw_dir, "nessun file dei confini NIL (ds964) trovato",
                                  "mettere nella cartella ds964_nil_wm.zip, il GeoJSON o il CSV con WKT")
            continue
        chosen = files[:1] if getattr(source, "single", False) else files
        for path in chosen:
            progress(f"[{source.source_id}] lettura di {path} ...")
            result = source.load(path, ctx)
            write_result(con, source, path, result, ctx)
            report.summaries.append(_summary(source.source_id, str(path), "loaded", result))
        for path in files[len(chosen):]:
            note = f"non usato: per questa fonte è stato caricato {chosen[0]} (preferito per nome o formato)"
            record_skipped(con, source, path, note)
            report.summaries.append(SourceSummary(source.source_id, str(path), "skipped", notes=[note]))


def _summary(source_id: str, path: str, status: str, result: LoadResult) -> SourceSummary:
    return SourceSummary(source_id, path, status, result.rows_read, len(result.frame), result.rows_rejected,
                         result.rows_repaired, result.trust, result.notes)


def record_skipped(con: duckdb.DuckDBPyConnection, source: Source, path: Path, note: str) -> None:
    """A file that was found but not used (a better file of the same source was loaded)."""
    con.execute(
        f"INSERT INTO sources ({SOURCES_COLUMNS}) "  # noqa: S608 constant column list
        "VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL, 0, 0, 0, 0, ?, ?, 'derived', 'skipped', ?, NULL, NULL, NULL)",
        [source.source_id, source.dataset, source.title, str(path), sha256_of(path), path.stat().st_size,
         _now(), source.licence, note],
    )


def write_result(con: duckdb.DuckDBPyConnection, source: Source, path: Path | str, result: LoadResult,
                 ctx: BuildContext) -> None:
    """Write one file's rows, its rejects and its lineage row."""
    path_text = str(path)
    if result.table == "districts":
        _write_districts(con, result, source.source_id, ctx)
    elif result.table in ("population", "places", "firm_units", "firm_totals", "area_counts"):
        frame = result.frame.assign(source_id=source.source_id, path=path_text, trust=result.trust)
        _insert_frame(con, result.table, frame)
    else:
        raise ValueError(f"tabella di destinazione sconosciuta: {result.table}")
    if result.rejects:
        rejects = pd.DataFrame(
            [{"source_id": source.source_id, "path": path_text, "row_number": r.row_number,
              "raw": r.raw_json(), "reason": r.reason, "action": r.action} for r in result.rejects]
        )
        _insert_frame(con, "rejects", rejects)
    p = Path(path_text)
    is_file = p.is_file()
    con.execute(
        f"INSERT INTO sources ({SOURCES_COLUMNS}) "  # noqa: S608 constant column list
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'loaded', ?, ?, ?, ?)",
        [source.source_id, source.dataset, source.title, path_text, sha256_of(p) if is_file else None,
         p.stat().st_size if is_file else None, result.file_format, result.crs, result.encoding,
         result.rows_read, len(result.frame), result.rows_rejected, result.rows_repaired, _now(),
         result.licence or source.licence, result.trust, "; ".join(result.notes) or None,
         result.reference_date, result.attribution or getattr(source, "attribution", None),
         result.origin or getattr(source, "origin", None)],
    )


SOURCES_COLUMNS = ("source_id, dataset, title, path, sha256, bytes, file_format, crs, encoding, rows_read, rows_loaded, "
                   "rows_rejected, rows_repaired, loaded_at, licence, trust, status, notes, reference_date, attribution, origin")

_TABLE_COLUMNS = {
    "population": ["level", "district_id", "year", "reference_date", "residents", "source_id", "path", "trust"],
    "places": ["theme", "source_id", "path", "source_key", "name", "address", "lon", "lat", "nil_id", "municipio",
               "assignment", "category", "status", "ownership", "area_m2", "seats", "employees", "ateco_code",
               "ateco_edition", "started_on", "attributes", "geom_wkb", "trust"],
    "firm_units": ["nil_id", "year", "ateco_code", "ateco_edition", "ateco_label", "category", "units",
                   "avg_employees", "source_id", "path", "trust"],
    "firm_totals": ["level", "area_id", "year", "ateco_code", "ateco_edition", "ateco_label", "category", "firms", "units",
                    "employees_firms", "employees_units", "source_id", "path", "trust"],
    "area_counts": ["level", "district_id", "theme", "year", "count", "source_id", "path", "trust"],
    "rejects": ["source_id", "path", "row_number", "raw", "reason", "action"],
    "districts": ["level", "id", "name", "municipio", "area_m2", "centroid_lon", "centroid_lat",
                  "geom_wkb", "map_geojson", "source_id", "trust"],
}


def _insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Insert a DataFrame into an allow-listed table, columns in schema order."""
    columns = _TABLE_COLUMNS[table]  # KeyError for anything not allow-listed
    con.register("_incoming", frame.reindex(columns=columns))  # optional columns become NULL
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _incoming")  # noqa: S608 allow-listed
    finally:
        con.unregister("_incoming")


def _write_districts(con: duckdb.DuckDBPyConnection, result: LoadResult, source_id: str, ctx: BuildContext) -> None:
    frame: gpd.GeoDataFrame = result.frame  # type: ignore[assignment]
    level = str(frame["level"].iloc[0])
    frame = frame.sort_values("id").reset_index(drop=True)
    if level == "municipio":
        ctx.municipi = frame[["id", "name", "geometry"]].copy()
        parents = pd.Series([pd.NA] * len(frame), dtype="Int64")
    else:
        ctx.nil = frame[["id", "name", "geometry"]].copy()
        if ctx.municipi is not None:
            parents = geo.parent_by_overlap(frame, ctx.municipi)
            ctx.nil["municipio"] = parents.to_numpy()
        else:
            parents = pd.Series([pd.NA] * len(frame), dtype="Int64")
            result.notes.append("Municipi non caricati: Municipio dei NIL non assegnato")
    centroids = frame.geometry.to_crs(geo.UTM32_RDN2008).representative_point().to_crs(geo.WGS84)
    rows = pd.DataFrame({
        "level": level,
        "id": frame["id"].astype("int32"),
        "name": frame["name"],
        "municipio": parents.astype("Int32").to_numpy(),
        "area_m2": geo.area_m2(frame.geometry),
        "centroid_lon": centroids.x.to_numpy(),
        "centroid_lat": centroids.y.to_numpy(),
        "geom_wkb": [bytes(b) for b in shapely.to_wkb(frame.geometry.to_numpy())],
        "map_geojson": geo.map_geometries(frame.geometry),
        "source_id": source_id,
        "trust": result.trust,
    })
    _insert_frame(con, "districts", rows)
