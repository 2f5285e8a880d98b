"""Shared loading of area boundary files (NIL, Municipi, comuni, any profile level): same steps, other columns.

A boundary source serves one level of the territory profile: the pipeline binds it with
`source.for_level(spec)` (level id, expected count, filter and file fields from the profile)
before it calls `load`; unbound, a source falls back to its own defaults (tests, tools).
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd

from etl import geo
from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust
from etl.readers import normalise_header, parse_int


def load_boundaries(
    path: Path,
    *,
    level: str,
    id_columns: list[str],
    name_columns: list[str],
    official_columns: set[str] | None,
    expected_count: int | None,
    default_name: str | None = None,
    ctx: BuildContext | None = None,
    filters: dict[str, str] | None = None,
) -> LoadResult:
    """Read, re-project, validate and repair a boundary file into rows of `districts`.

    `filters` keeps only the features whose property equals the value (e.g. a province code);
    `official_columns=None` means the file is not the publisher's own (trust 'derived' whatever
    its columns). The coordinates must fall in the territory's region (`ctx.territory.region_bbox`).
    """
    frame, fmt = geo.read_vector(path)
    frame = frame.rename(columns={c: normalise_header(c) for c in frame.columns if c != frame.geometry.name})
    frame = frame.set_geometry(frame.geometry.name)
    filter_notes: list[str] = []
    for column, wanted in (filters or {}).items():
        key = normalise_header(column)
        if key not in frame.columns:
            raise SourceError(path, f"manca la proprietà '{column}' su cui il profilo del territorio filtra i confini",
                              "usare il file indicato dal profilo (config/territories/) o correggerne il filtro")
        before = len(frame)
        frame = frame[frame[key].astype("string").str.strip() == str(wanted)].copy()
        filter_notes.append(f"tenute {len(frame)} geometrie su {before} con {column} = {wanted}")
        if frame.empty:
            raise geo.NotInTerritory(path, f"nessuna geometria con {column} = {wanted}: il file descrive un altro territorio",
                                     "niente da fare se il file serve a un altro territorio; altrimenti controllare "
                                     "il filtro del profilo")
    id_col = next((c for c in id_columns if c in frame.columns), None)
    if id_col is None:
        raise SourceError(path, f"manca la colonna dell'identificativo (attese: {', '.join(id_columns)}; "
                          f"trovate: {', '.join(c for c in frame.columns if c != frame.geometry.name)})",
                          "usare il file ufficiale del dataset, che ha la colonna dell'id")
    name_col = next((c for c in name_columns if c in frame.columns), None)
    if ctx is not None:
        territory = ctx.territory
        frame, crs_label, notes = geo.ensure_wgs84(frame, path, territory.region_bbox,
                                                   (territory.area_crs, geo.UTM32_RDN2008))
    else:
        frame, crs_label, notes = geo.ensure_wgs84(frame, path)
    notes = filter_notes + notes
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
    names = names.where(names != "")
    missing = int(names.isna().sum())
    if missing:  # an area without a name is shown by its level and id, never as an empty text
        template = default_name or (level.upper() if level == "nil" else level.capitalize()) + " {id}"
        names = names.fillna(frame["id"].map(lambda i: template.format(id=int(i))))
        if not default_name or name_col is not None:
            notes.append(f"{missing} aree senza nome nel file: usato '{template.format(id='<id>')}'")
    frame["name"] = names.astype(str)

    trust: Trust = "official" if official_columns is not None else "derived"
    if official_columns is not None:
        extra = sorted(set(frame.columns) - official_columns - {"id", "name", frame.geometry.name})
        if extra:
            trust = "derived"
            notes.append("colonne non ufficiali presenti (file rielaborato da terzi): " + ", ".join(extra))
    if expected_count is not None and len(frame) != expected_count:
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
