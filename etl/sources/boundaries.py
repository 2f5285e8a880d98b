"""Shared loading of district boundary files (NIL and Municipi): same steps, other columns."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd

from etl import geo
from etl.base import LoadResult, Reject, SourceError, Trust
from etl.readers import normalise_header, parse_int


def load_boundaries(
    path: Path,
    *,
    level: str,
    id_columns: list[str],
    name_columns: list[str],
    official_columns: set[str],
    expected_count: int,
    default_name: str | None = None,
) -> LoadResult:
    """Read, re-project, validate and repair a boundary file into rows of `districts`."""
    frame, fmt = geo.read_vector(path)
    frame = frame.rename(columns={c: normalise_header(c) for c in frame.columns if c != frame.geometry.name})
    frame = frame.set_geometry(frame.geometry.name)
    id_col = next((c for c in id_columns if c in frame.columns), None)
    if id_col is None:
        raise SourceError(path, f"manca la colonna dell'identificativo (attese: {', '.join(id_columns)}; "
                          f"trovate: {', '.join(c for c in frame.columns if c != frame.geometry.name)})",
                          "usare il file ufficiale del dataset, che ha la colonna dell'id")
    name_col = next((c for c in name_columns if c in frame.columns), None)
    frame, crs_label, notes = geo.ensure_wgs84(frame, path)
    rows_read = len(frame)

    rejects: list[Reject] = []
    ids: list[int | None] = []
    seen: set[int] = set()
    for i, value in enumerate(frame[id_col]):
        raw = geo.raw_values(frame.iloc[i].drop(labels=frame.geometry.name))
        try:
            parsed = parse_int(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed <= 0:
            rejects.append(Reject(i + 1, raw, f"identificativo {id_col}={value!r} mancante o non numerico"))
            ids.append(None)
        elif parsed in seen:
            rejects.append(Reject(i + 1, raw, f"identificativo {id_col}={parsed} duplicato: tenuta la prima riga"))
            ids.append(None)
        else:
            seen.add(parsed)
            ids.append(parsed)
    frame["id"] = pd.array(ids, dtype="Int64")
    kept = frame["id"].notna().to_numpy()
    row_numbers = [i + 1 for i in range(len(frame)) if kept[i]]  # file rows, for the repair rejects
    frame = frame[kept].copy()
    frame, geo_rejects = geo.repair_polygons(frame, "id", path, row_numbers)
    rejects.extend(geo_rejects)
    if frame.empty:
        raise SourceError(path, "nessuna geometria valida", "controllare il file")

    if name_col is not None:
        names = frame[name_col].astype("string").str.strip()
    else:
        names = pd.Series([None] * len(frame), index=frame.index, dtype="string")
    if default_name:
        names = names.fillna(frame["id"].map(lambda i: default_name.format(id=int(i))))
    frame["name"] = names.fillna("").astype(str)

    extra = sorted(set(frame.columns) - official_columns - {"id", "name", frame.geometry.name})
    trust: Trust = "official"
    if extra:
        trust = "derived"
        notes.append("colonne non ufficiali presenti (file rielaborato da terzi): " + ", ".join(extra))
    if len(frame) != expected_count:
        notes.append(f"attese {expected_count} geometrie, caricate {len(frame)}")

    out = gpd.GeoDataFrame({"level": level, "id": frame["id"].astype(int), "name": frame["name"]},
                           geometry=frame.geometry.values, crs=geo.WGS84)
    return LoadResult(table="districts", frame=out, rows_read=rows_read, trust=trust, rejects=rejects,
                      notes=notes, crs=crs_label, encoding=frame.attrs.get("encoding"), file_format=fmt)


def find_by_name(raw_dir: Path, pattern: str, suffix_rank: list[str]) -> list[Path]:
    """Files whose stem matches the regex `pattern` (case-insensitive), ranked by suffix preference."""
    rx = re.compile(pattern, re.IGNORECASE)
    hits = [p for p in Path(raw_dir).rglob("*") if p.is_file() and rx.search(p.stem)
            and p.suffix.lower() in suffix_rank]
    return sorted(hits, key=lambda p: (suffix_rank.index(p.suffix.lower()), str(p)))
