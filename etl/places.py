"""Shared handling of point entities (makerspaces, coworking, vacant spaces, firms).

Every point source builds a frame with at least `source_key, name, address, lon, lat` (and
optionally the file's own area ids: `nil_id_file`, `municipio_file` for the Comune di Milano's
files, `district_id_file` / `parent_id_file` for ids of the territory's own levels), then calls
`finalise_places`, which:
- parses coordinates (decimal commas allowed) and repairs swapped lon/lat, saying so;
- quarantines points outside the territory's areas (rejects with the reason, never silently dropped);
- assigns the finest level (`ctx.fine_level`: NIL in Milan, comune elsewhere) by point-in-polygon,
  and the parent level (`ctx.parent_level`, if the territory has one) by point-in-polygon in the
  parent polygons (not the fine area's parent: NIL and Municipi boundaries do not nest, and a NIL's
  parent by largest overlap is wrong for points near the borders), else by the fine area's parent;
- where the file also gives an id of one of the territory's levels, checks it against the position
  and records a warning only when the point lies more than BORDER_TOLERANCE_M outside the file's
  area (the position wins either way); ids of a level the territory does not have are not used;
- falls back to the file's fine id ('file_id'; parent: the file's, else the fine area's parent) or
  its parent id ('parent_only') for rows without coordinates;
- rejects duplicates: same source key, or same normalised name and address.

Reject reasons are Italian sentences that start with a stable phrase, so that they can be grouped
and, later, translated from a code: "punto fuori dal territorio <nome>: lon, lat",
"longitudine e latitudine invertite", "coordinate mancanti o non numeriche", "<livello> nel file (id)
diverso da quello della posizione", "né coordinate né <livelli> validi", "duplicato: stesso id",
"duplicato: stesso nome e indirizzo".

When every row is outside the territory, `mark_outside_only` raises `etl.geo.NotInTerritory`:
the pipeline records the file as skipped for this territory ("nessun punto nel territorio"),
with its rejects, rather than failed.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from etl import geo
from etl.base import BuildContext, LoadResult, Reject
from etl.readers import parse_int

DUPLICATE_RADIUS_M = 150.0
# A file's own area id is taken to agree with the position when the point lies within this
# distance of the file's area (geocoding and boundary versions differ by a few metres).
BORDER_TOLERANCE_M = 25.0
PLACE_COLUMNS = ["theme", "source_key", "name", "address", "lon", "lat", "district_id", "parent_id", "assignment",
                 "category", "status", "ownership", "area_m2", "seats", "employees", "ateco_code", "ateco_edition",
                 "started_on", "attributes", "geom_wkb"]
# Columns of a point frame that carry the file's own area ids, and the level each one names.
# `district_id_file` / `parent_id_file` are ids of the territory's own finest / parent level.
FILE_ID_LEVELS: dict[str, str] = {"nil_id_file": "nil", "municipio_file": "municipio"}
FINE_FILE_COLUMN = "district_id_file"
PARENT_FILE_COLUMN = "parent_id_file"
# Reasons start with a stable phrase (the part before the first ':' or '('), so they can be grouped.
OUTSIDE_REASON = "punto fuori dal territorio"
ASSIGNMENTS = ["point_in_polygon", "file_id", "parent_only"]


def normalise_text(value: object) -> str:
    """Lower-case, accent-free, single-spaced text for duplicate detection."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = unicodedata.normalize("NFKD", str(value))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return re.sub(r"\b(via|viale|v le|piazza|p za|pza|corso|c so)\b", "", text).strip()


_STREET_WORDS = r"\b(via|viale|v le|piazza|p za|pza|corso|c so)\b"


def normalise_text_series(values: pd.Series) -> pd.Series:
    """`normalise_text` for a whole column, with Arrow string kernels.

    Same result as `values.map(normalise_text)`: ASCII cells (nearly all of them) are
    lowered and cleaned by Arrow's regex engine; only cells with non-ASCII characters go
    through the per-value Python function (accent stripping needs unicodedata).
    """
    text = values.astype("string[pyarrow]")
    non_ascii = ~text.str.isascii().fillna(True).to_numpy(dtype=bool)
    text = text.fillna("")
    fast = text.str.lower().str.replace(r"[^a-z0-9]+", " ", regex=True)
    fast = fast.str.replace(_STREET_WORDS, "", regex=True).str.strip()
    if non_ascii.any():
        fast = fast.copy()
        fast[non_ascii] = [normalise_text(v) for v in text[non_ascii]]
    return fast


def parse_coords(values: pd.Series | None, n: int) -> np.ndarray:
    """Vectorised coordinate parsing: floats, or text with a decimal point or comma; NaN if bad."""
    if values is None:
        return np.full(n, np.nan)
    if pd.api.types.is_numeric_dtype(values):
        return np.array(values.to_numpy(dtype=float, na_value=np.nan), dtype=float, copy=True)
    text = values.astype("string").str.strip().str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _int_column(values: pd.Series | None, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, -1, dtype=np.int64)
    num = pd.to_numeric(values.astype("string").str.strip(), errors="coerce")
    num = num.where(num.notna() & (num % 1 == 0), -1)
    return num.to_numpy(dtype=float, na_value=-1).astype(np.int64)


def _file_ids(frame: pd.DataFrame, level: str | None, generic: str, file_levels: Mapping[str, str],
              n: int) -> tuple[np.ndarray, list[str]]:
    """The file's ids of `level` (-1 where none): the generic column where it has a value, else the
    column of FILE_ID_LEVELS naming that level; and the columns used."""
    out = np.full(n, -1, dtype=np.int64)
    used: list[str] = []
    if level is None:
        return out, used
    for column in [generic, *(c for c, lv in file_levels.items() if lv == level)]:
        if column in frame.columns:
            values = _int_column(frame[column], n)
            out = np.where(out > 0, out, values)
            used.append(column)
    return out, used


@dataclass
class RejectGroup:
    """Rows (0-based positions) that `locate` rejected, repaired or flagged, with one reason each (or one for all)."""

    positions: np.ndarray
    reason: str | list[str]
    action: str = "rejected"

    def reasons(self) -> list[str]:
        return [self.reason] * len(self.positions) if isinstance(self.reason, str) else list(self.reason)


@dataclass
class Location:
    """Where each row of a point frame goes: arrays aligned with the frame, and the row problems."""

    lon: np.ndarray  # swapped pairs repaired; NaN without a point
    lat: np.ndarray
    has_point: np.ndarray
    district_id: np.ndarray  # -1 where none
    parent_id: np.ndarray  # -1 where none
    assignment: np.ndarray  # int8 codes into ASSIGNMENTS
    keep: np.ndarray
    groups: list[RejectGroup]


def locate(frame: pd.DataFrame, ctx: BuildContext, require_point: bool = False, check_parent: bool = False,
           file_levels: Mapping[str, str] | None = None) -> Location:
    """Coordinates, swap repair, the territory's areas and the file's own ids of every row of `frame`.

    `frame` needs only `lon`, `lat` and the file-id columns (see `finalise_places`); positions in the
    returned groups are 0-based rows of `frame`, in the order the checks run.
    """
    fine_areas = ctx.boundaries()
    if fine_areas is None:
        raise RuntimeError(f"confini del livello '{ctx.fine_level}' non caricati prima delle fonti di punti")
    fine_spec = ctx.territory.fine
    parent_spec = ctx.territory.parent
    parent_areas = ctx.boundaries(ctx.parent_level) if ctx.parent_level else None
    file_levels = FILE_ID_LEVELS if file_levels is None else file_levels
    frame = frame.reset_index(drop=True)
    n = len(frame)
    groups: list[RejectGroup] = []

    def reject(mask: np.ndarray, reason: str | list[str], action: str = "rejected") -> None:
        idx = np.flatnonzero(mask)
        if idx.size:
            groups.append(RejectGroup(idx, reason, action))

    lon = parse_coords(frame.get("lon"), n)
    lat = parse_coords(frame.get("lat"), n)
    has_point = ~(np.isnan(lon) | np.isnan(lat))
    # The territory's box comes from its own areas (Milan, Cremona, ...), with a margin.
    bx0, by0, bx1, by1 = fine_areas.total_bounds
    x0, y0, x1, y1 = bx0 - 0.05, by0 - 0.05, bx1 + 0.05, by1 + 0.05
    in_box = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    swapped = has_point & ~in_box & (lat >= x0) & (lat <= x1) & (lon >= y0) & (lon <= y1)
    lon[swapped], lat[swapped] = lat[swapped].copy(), lon[swapped].copy()
    reject(swapped, "longitudine e latitudine invertite: scambiate", "repaired")
    keep = np.ones(n, dtype=bool)
    if require_point:
        reject(~has_point, "coordinate mancanti o non numeriche")
        keep &= has_point

    fine_pt = np.full(n, -1, dtype=np.int64)
    if has_point.any():
        fine_pt[has_point] = geo.assign_points(lon[has_point], lat[has_point], fine_areas)
    outside = keep & has_point & (fine_pt < 0)
    name = ctx.territory.name_it
    reject(outside, [f"{OUTSIDE_REASON} {name}: {lon[i]:.5f}, {lat[i]:.5f}"
                     for i in np.flatnonzero(outside)] if outside.any() else "")
    keep &= ~outside

    fine_to_parent = _fine_to_parent(ctx)
    fine_file, fine_cols = _file_ids(frame, ctx.fine_level, FINE_FILE_COLUMN, file_levels, n)
    parent_file, parent_cols = _file_ids(frame, ctx.parent_level, PARENT_FILE_COLUMN, file_levels, n)
    known = np.isin(fine_file, np.fromiter(ctx.ids(), dtype=np.int64))
    mismatch = keep & has_point & (fine_file > 0) & (fine_file != fine_pt)
    if mismatch.any():
        far = distance_to_districts(lon, lat, fine_file, fine_areas) > BORDER_TOLERANCE_M
        mismatch &= far
    reject(mismatch, [f"{fine_spec.label_it} nel file ({fine_file[i]}) diverso da quello della posizione ({fine_pt[i]}): "
                      "usato quello della posizione" for i in np.flatnonzero(mismatch)], "warning")
    parent_pt = parent_of_points(lon, lat, fine_pt, ctx)
    if check_parent and parent_areas is not None and parent_spec is not None:
        par_mismatch = keep & has_point & (parent_file > 0) & (parent_pt > 0) & (parent_file != parent_pt)
        if par_mismatch.any():
            par_mismatch &= distance_to_districts(lon, lat, parent_file, parent_areas) > BORDER_TOLERANCE_M
        reject(par_mismatch, [f"{parent_spec.label_it} nel file ({parent_file[i]}) diverso da quello della posizione "
                              f"({parent_pt[i]}): usato quello della posizione" for i in np.flatnonzero(par_mismatch)],
               "warning")
    by_file = keep & ~has_point & known
    if parent_areas is not None:
        parent_ids = np.fromiter((int(i) for i in parent_areas["id"]), dtype=np.int64)
    else:
        parent_ids = np.unique(np.fromiter(fine_to_parent.values(), dtype=np.int64))
    by_parent = keep & ~has_point & ~known & np.isin(parent_file, parent_ids)
    nowhere = keep & ~has_point & ~known & ~by_parent
    if nowhere.any():
        reject(nowhere, _nowhere_reasons(frame, nowhere, ctx, file_levels, [*fine_cols, *parent_cols]))
    keep &= ~nowhere

    district_id = np.where(has_point, fine_pt, np.where(by_file, fine_file, -1))
    # Without a point: the file's own parent id when valid, else the parent of the file's fine area.
    parent_of_fine = _lookup(fine_to_parent, district_id)
    parent_valid = np.isin(parent_file, parent_ids)
    parent_id = np.where(has_point, parent_pt,
                         np.where(by_file & parent_valid, parent_file,
                                  np.where(district_id > 0, parent_of_fine,
                                           np.where(by_parent, parent_file, -1))))
    assignment = np.where(has_point, 0, np.where(by_file, 1, 2)).astype(np.int8)
    return Location(lon, lat, has_point, district_id, parent_id, assignment, keep, groups)


def finalise_places(frame: pd.DataFrame, ctx: BuildContext, raw: list[dict] | None, theme: str,
                    require_point: bool = False, dedupe_by_name: bool = True,
                    timings: dict[str, float] | None = None,
                    check_parent: bool = False,
                    file_levels: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, list[Reject]]:
    """Validate, de-duplicate and assign areas of the territory's levels; returns (places rows, rejects).

    `check_parent=True` also warns where the file's parent-level id disagrees with the parent
    area of the position (beyond BORDER_TOLERANCE_M); off by default because some loaders make
    that check themselves from the returned `parent_id`.

    `file_levels` maps the frame's file-id columns to the level they name (default
    FILE_ID_LEVELS: `nil_id_file` -> 'nil', `municipio_file` -> 'municipio'); only the columns
    of the territory's own levels are used.

    `dedupe_by_name=False` skips the name+address duplicate check, for files whose own ids are
    reliable (a business-register extract): duplicates by id are still rejected.

    `raw[i]` is the original record of frame row i for the rejects table (None: use the
    frame row itself); row numbers are 1-based positions in the file. The area work is
    `locate` (vectorised; the point-in-polygon step is bench/bench_assign.py's). `timings`,
    when given, receives the seconds spent in each stage: assign (coordinates, swap repair,
    point-in-polygon, parent), rejects (building the quarantine records), dedupe, output.
    """
    clock = time.perf_counter
    t_start = clock()
    spent = {"rejects": 0.0}
    frame = frame.reset_index(drop=True)
    n = len(frame)
    rejects: list[Reject] = []

    def reject(mask: np.ndarray, reason: str | list[str], action: str = "rejected") -> None:
        t0 = clock()
        idx = np.flatnonzero(mask)
        if idx.size:
            records = [raw[i] for i in idx] if raw is not None else _records(frame, idx)
            for j, (i, record) in enumerate(zip(idx, records, strict=True)):
                text = reason if isinstance(reason, str) else reason[j]
                rejects.append(Reject(int(i) + 1, record, text, action))  # type: ignore[arg-type]
        spent["rejects"] += clock() - t0

    where = locate(frame, ctx, require_point=require_point, check_parent=check_parent, file_levels=file_levels)
    for group in where.groups:
        mask = np.zeros(n, dtype=bool)
        mask[group.positions] = True
        reject(mask, group.reason, group.action)
    lon, lat, has_point, keep = where.lon, where.lat, where.has_point, where.keep.copy()
    district_id, parent_id = where.district_id, where.parent_id
    # A categorical, not a million-string array (that alone cost as much as the point-in-polygon step).
    assignment = pd.Categorical.from_codes(where.assignment, categories=ASSIGNMENTS)
    t_assigned = clock()
    rejects_in_assign = spent["rejects"]

    dup_key, first_key = _repeats(frame["source_key"], keep)
    reject(dup_key, [f"duplicato: stesso id della riga {first_key[i]} (tenuta quella)" for i in np.flatnonzero(dup_key)])
    keep &= ~dup_key
    if not dedupe_by_name:
        return _timed_output(frame, keep, theme, has_point, lon, lat, district_id, parent_id, assignment, rejects,
                             timings, t_start, t_assigned, rejects_in_assign, spent)
    blank = pd.Series([None] * n, dtype=object)
    columns = [frame["name"] if "name" in frame else blank, frame["address"] if "address" in frame else blank]
    names, addrs = (normalise_text_series(c) for c in columns)
    pair = (names + "|" + addrs).where(keep & (names != "").to_numpy() & (addrs != "").to_numpy())
    dup_pair, first_pair = _repeats(pair, pair.notna().to_numpy())
    # Same name and address but far apart (e.g. two railway yards filed under one square) are
    # different places: only rows within DUPLICATE_RADIUS_M of the first one count as duplicates.
    if dup_pair.any():
        idx = np.flatnonzero(dup_pair)
        first = first_pair[idx] - 1
        both = has_point[idx] & has_point[first]
        dx = (lon[idx] - lon[first]) * 111_320 * np.cos(np.radians(lat[idx]))
        dy = (lat[idx] - lat[first]) * 110_540
        far = both & (np.hypot(dx, dy) > DUPLICATE_RADIUS_M)
        dup_pair[idx[far]] = False
    reject(dup_pair, [f"duplicato: stesso nome e indirizzo della riga {first_pair[i]} (tenuta quella)"
                      for i in np.flatnonzero(dup_pair)])
    keep &= ~dup_pair
    return _timed_output(frame, keep, theme, has_point, lon, lat, district_id, parent_id, assignment, rejects,
                         timings, t_start, t_assigned, rejects_in_assign, spent)


def _nowhere_reasons(frame: pd.DataFrame, mask: np.ndarray, ctx: BuildContext, file_levels: Mapping[str, str],
                     used: list[str]) -> list[str]:
    """Why each row in `mask` (no point, no usable id) cannot be placed."""
    labels = "/".join(lv.label_it for lv in ctx.territory.levels)
    plain = f"né coordinate né {labels} validi: impossibile collocarlo"
    # Ids of levels this territory does not have (e.g. a Milan NIL id in a territory of comuni).
    foreign = [(c, lv) for c, lv in file_levels.items() if c in frame.columns and c not in used
               and not ctx.territory.has_level(lv)]
    if not foreign:
        return [plain] * int(mask.sum())
    ids = {c: _int_column(frame[c], len(frame)) for c, _ in foreign}
    out = []
    for i in np.flatnonzero(mask):
        named = [lv for c, lv in foreign if ids[c][i] > 0]
        out.append(plain if not named else
                   f"né coordinate né {labels} validi: il file dà solo l'id del livello '{', '.join(named)}', "
                   f"che il territorio {ctx.territory.name_it} non ha; impossibile collocarlo")
    return out


def outside_only(rejects: list[Reject], rows: int) -> int:
    """How many rows were rejected as outside the territory, when that is every one of `rows` (else 0)."""
    n = sum(1 for r in rejects if r.action == "rejected" and r.reason.startswith(OUTSIDE_REASON))
    return n if rows > 0 and n >= rows else 0


def mark_outside_only(result: LoadResult, ctx: BuildContext, path: object, rows: int | None = None) -> LoadResult:
    """`result` as is, unless the file has no row at all inside the territory: then NotInTerritory.

    The pipeline records such a file as 'skipped' for this territory, its rejects kept ("nessun
    punto nel territorio"), not as 'failed': the file is fine, it describes another place. The
    pipeline also recognises it on its own when every rejected row starts with OUTSIDE_REASON; this
    covers files where some rows were set aside before the position was checked (warnings, e.g.
    places an official list already counts). `rows`: the rows that reached `finalise_places`
    (default: rows_read).
    """
    from etl.geo import NotInTerritory

    rows = result.rows_read if rows is None else rows
    n = outside_only(result.rejects, rows)
    if len(result.frame) == 0 and n:
        raise NotInTerritory(str(path), f"nessun punto nel territorio {ctx.territory.name_it}: tutte le {n} righe con "
                             "coordinate sono fuori dai suoi confini (vedere la tabella rejects)",
                             "niente da fare se il file descrive un altro territorio; altrimenti controllare le coordinate",
                             result)
    return result


def _timed_output(frame: pd.DataFrame, keep: np.ndarray, theme: str, has_point: np.ndarray, lon: np.ndarray,
                  lat: np.ndarray, district_id: np.ndarray, parent_id: np.ndarray, assignment: pd.Categorical,
                  rejects: list[Reject], timings: dict[str, float] | None, t_start: float, t_assigned: float,
                  rejects_in_assign: float, spent: dict[str, float]) -> tuple[pd.DataFrame, list[Reject]]:
    t_deduped = time.perf_counter()
    result = _output(frame, keep, theme, has_point, lon, lat, district_id, parent_id, assignment, rejects)
    if timings is not None:
        timings["assign"] = timings.get("assign", 0.0) + (t_assigned - t_start) - rejects_in_assign
        timings["rejects"] = timings.get("rejects", 0.0) + spent["rejects"]
        timings["dedupe"] = timings.get("dedupe", 0.0) + (t_deduped - t_assigned) - (spent["rejects"] - rejects_in_assign)
        timings["output"] = timings.get("output", 0.0) + time.perf_counter() - t_deduped
    return result


def _output(frame: pd.DataFrame, keep: np.ndarray, theme: str, has_point: np.ndarray, lon: np.ndarray,
            lat: np.ndarray, district_id: np.ndarray, parent_id: np.ndarray, assignment: pd.Categorical,
            rejects: list[Reject]) -> tuple[pd.DataFrame, list[Reject]]:
    """The kept rows in `places` layout, and the rejects in file order."""
    out = frame.assign(
        theme=theme,
        lon=np.where(has_point, lon, np.nan),
        lat=np.where(has_point, lat, np.nan),
        district_id=pd.Series(district_id, dtype="Int32").where(district_id > 0),
        parent_id=pd.Series(parent_id, dtype="Int32").where(parent_id > 0),
        assignment=assignment,
    )
    out = out[keep].reindex(columns=PLACE_COLUMNS)
    rejects.sort(key=lambda r: (r.row_number or 0))
    return out.reset_index(drop=True), rejects


def _repeats(values: pd.Series, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Among the rows in `mask` with a non-null value: (row repeats an earlier row's value,
    1-based row of the value's first occurrence). One hash pass (factorize), no groupby."""
    n = len(values)
    codes, _ = pd.factorize(values, use_na_sentinel=True)  # null -> -1
    codes = np.where(mask, codes, -1)
    valid = codes >= 0
    first = np.zeros(n, dtype=np.int64)
    if valid.any():
        pos = np.flatnonzero(valid)
        uniq, first_idx = np.unique(codes[pos], return_index=True)
        first_of_code = np.zeros(int(uniq.max()) + 1, dtype=np.int64)
        first_of_code[uniq] = pos[first_idx]
        first[pos] = first_of_code[codes[pos]]
    return valid & (first != np.arange(n)), first + 1


def _records(frame: pd.DataFrame, idx: np.ndarray) -> list[dict]:
    """frame rows `idx` as dicts (without geom_wkb); column lists are much faster than to_dict."""
    columns = [c for c in frame.columns if c != "geom_wkb"]
    part = frame.iloc[idx]
    values = [part[c].tolist() for c in columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _int_or_none(value: object) -> int | None:
    try:
        return parse_int(value)
    except (ValueError, TypeError):
        return None


def parent_of_points(lon: np.ndarray, lat: np.ndarray, district_id: np.ndarray, ctx: BuildContext) -> np.ndarray:
    """Parent-level area of each point by point-in-polygon in the parent polygons (-1 where unknown).

    A point inside a fine area but outside every parent polygon (e.g. the Municipi file is an
    older boundary version) falls back to its fine area's parent; without parent polygons, the
    fine area's parent. A territory with one level: all -1.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    district_id = np.asarray(district_id, dtype=np.int64)
    out = np.full(len(lon), -1, dtype=np.int64)
    if ctx.parent_level is None:
        return out
    has_point = ~(np.isnan(lon) | np.isnan(lat))
    parents = ctx.boundaries(ctx.parent_level)
    if parents is not None and has_point.any():
        out[has_point] = geo.assign_points(lon[has_point], lat[has_point], parents)
    fine_to_parent = _fine_to_parent(ctx)
    missing = has_point & (out < 0) & (district_id > 0)
    out[missing] = _lookup(fine_to_parent, district_id[missing])
    return out


def distance_to_districts(lon: np.ndarray, lat: np.ndarray, district_id: np.ndarray, polygons: object) -> np.ndarray:
    """Metres (EPSG:7791) from each point to the polygon of `district_id[i]` (inf if unknown or no point)."""
    import geopandas as gpd

    frame: gpd.GeoDataFrame = polygons  # type: ignore[assignment]
    out = np.full(len(lon), np.inf)
    wanted = ~(np.isnan(lon) | np.isnan(lat)) & (np.asarray(district_id) > 0)
    if not wanted.any():
        return out
    utm = frame.to_crs(geo.UTM32_RDN2008)
    by_id = dict(zip((int(i) for i in utm["id"]), utm.geometry.to_numpy(), strict=True))
    idx = np.flatnonzero(wanted)
    pts = gpd.GeoSeries(gpd.points_from_xy(lon[idx], lat[idx]), crs=geo.WGS84).to_crs(geo.UTM32_RDN2008).to_numpy()
    for j, i in enumerate(idx):
        geom = by_id.get(int(district_id[i]))
        if geom is not None:
            out[i] = float(geom.distance(pts[j]))
    return out


def _lookup(mapping: dict[int, int], keys: np.ndarray) -> np.ndarray:
    """mapping[k] for each key (-1 where absent), vectorised (a million keys: no Python loop)."""
    keys = np.asarray(keys, dtype=np.int64)
    out = np.full(len(keys), -1, dtype=np.int64)
    if not mapping or not len(keys):
        return out
    src = np.fromiter(mapping.keys(), dtype=np.int64, count=len(mapping))
    dst = np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping))
    order = np.argsort(src)
    src, dst = src[order], dst[order]
    pos = np.clip(np.searchsorted(src, keys), 0, len(src) - 1)
    hit = src[pos] == keys
    out[hit] = dst[pos[hit]]
    return out


def level_ids(ctx: BuildContext, level: str | None) -> set[int]:
    """Ids of a level of the territory: its loaded boundaries, else (parent level) the parents named
    by the fine areas; empty for a level the territory does not have."""
    if level is None or not ctx.territory.has_level(level):
        return set()
    ids = ctx.ids(level)
    if not ids and level == ctx.parent_level:
        ids = set(_fine_to_parent(ctx).values())
    return ids


def _fine_to_parent(ctx: BuildContext) -> dict[int, int]:
    """Fine area id -> its parent's id, from the `parent_id` column of the fine boundaries (if any)."""
    fine = ctx.boundaries()
    if ctx.parent_level is None or fine is None or "parent_id" not in fine:
        return {}
    return {int(i): int(m) for i, m in zip(fine["id"], fine["parent_id"], strict=True) if pd.notna(m)}
