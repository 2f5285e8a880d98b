"""Shared handling of point entities (makerspaces, coworking, vacant spaces, firms).

Every point source builds a frame with at least `source_key, name, address, lon, lat` (and
optionally `nil_id_file`, `municipio_file` from the file itself), then calls `finalise_places`,
which:
- parses coordinates (decimal commas allowed) and repairs swapped lon/lat, saying so;
- quarantines points outside the city (rejects with the reason, never silently dropped);
- assigns the NIL by point-in-polygon in the NIL polygons and the Municipio by point-in-polygon in
  the Municipi polygons (not the NIL's parent: NIL and Municipi boundaries do not nest, and a NIL's
  parent by largest overlap is wrong for points near the borders); where the file also gives a NIL
  id (or, with `check_municipio`, a Municipio), checks it against the position and records a
  warning only when the point lies more than BORDER_TOLERANCE_M outside the file's district (the
  position wins either way);
- falls back to the file's NIL id (Municipio: the file's, else the NIL's parent), or its
  Municipio, for rows without coordinates;
- rejects duplicates: same source key, or same normalised name and address.
"""

from __future__ import annotations

import re
import time
import unicodedata

import numpy as np
import pandas as pd

from etl import geo
from etl.base import BuildContext, Reject
from etl.readers import parse_int

DUPLICATE_RADIUS_M = 150.0
# A file's own NIL/Municipio is taken to agree with the position when the point lies within this
# distance of the file's district (geocoding and boundary versions differ by a few metres).
BORDER_TOLERANCE_M = 25.0
PLACE_COLUMNS = ["theme", "source_key", "name", "address", "lon", "lat", "district_id", "municipio", "assignment",
                 "category", "status", "ownership", "area_m2", "seats", "employees", "ateco_code", "ateco_edition",
                 "started_on", "attributes", "geom_wkb"]


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


def finalise_places(frame: pd.DataFrame, ctx: BuildContext, raw: list[dict] | None, theme: str,
                    require_point: bool = False, dedupe_by_name: bool = True,
                    timings: dict[str, float] | None = None,
                    check_municipio: bool = False) -> tuple[pd.DataFrame, list[Reject]]:
    """Validate, de-duplicate and assign districts; returns (places rows, rejects).

    `check_municipio=True` also warns where the file's `municipio_file` disagrees with the
    Municipio of the position (beyond BORDER_TOLERANCE_M); off by default because some loaders
    make that check themselves from the returned `municipio`.

    `dedupe_by_name=False` skips the name+address duplicate check, for files whose own ids are
    reliable (a business-register extract): duplicates by id are still rejected.

    `raw[i]` is the original record of frame row i for the rejects table (None: use the
    frame row itself); row numbers are 1-based positions in the file. Vectorised: a
    million points take about 3.5 s on 2 cores, 0.4 s of which is the point-in-polygon
    step (bench/bench_assign.py). `timings`, when given, receives the seconds spent in each
    stage: assign (coordinates, swap repair, point-in-polygon, Municipio), rejects (building
    the quarantine records), dedupe, output.
    """
    clock = time.perf_counter
    t_start = clock()
    spent = {"rejects": 0.0}
    if ctx.nil is None:
        raise RuntimeError("NIL boundaries must be loaded before point sources")
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

    lon = parse_coords(frame.get("lon"), n)
    lat = parse_coords(frame.get("lat"), n)
    has_point = ~(np.isnan(lon) | np.isnan(lat))
    # The city's box comes from its own districts (works for Milan, Cremona, ...), with a margin.
    bx0, by0, bx1, by1 = ctx.nil.total_bounds
    x0, y0, x1, y1 = bx0 - 0.05, by0 - 0.05, bx1 + 0.05, by1 + 0.05
    in_box = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    swapped = has_point & ~in_box & (lat >= x0) & (lat <= x1) & (lon >= y0) & (lon <= y1)
    lon[swapped], lat[swapped] = lat[swapped].copy(), lon[swapped].copy()
    reject(swapped, "longitudine e latitudine invertite: scambiate", "repaired")
    keep = np.ones(n, dtype=bool)
    if require_point:
        reject(~has_point, "coordinate mancanti o non numeriche")
        keep &= has_point

    nil_pt = np.full(n, -1, dtype=np.int64)
    if has_point.any():
        nil_pt[has_point] = geo.assign_points(lon[has_point], lat[has_point], ctx.nil)
    outside = keep & has_point & (nil_pt < 0)
    city = str(ctx.extra.get("city", "Milano"))
    reject(outside, [f"punto fuori dal Comune di {city} ({lon[i]:.5f}, {lat[i]:.5f})"
                     for i in np.flatnonzero(outside)] if outside.any() else "")
    keep &= ~outside

    nil_to_mun = _nil_to_municipio(ctx)
    nil_file = _int_column(frame.get("nil_id_file"), n)
    mun_file = _int_column(frame.get("municipio_file"), n)
    known = np.isin(nil_file, np.fromiter(ctx.nil_ids(), dtype=np.int64))
    mismatch = keep & has_point & (nil_file > 0) & (nil_file != nil_pt)
    if mismatch.any():
        far = distance_to_districts(lon, lat, nil_file, ctx.nil) > BORDER_TOLERANCE_M
        mismatch &= far
    reject(mismatch, [f"NIL nel file ({nil_file[i]}) diverso da quello della posizione ({nil_pt[i]}): "
                      "usato quello della posizione" for i in np.flatnonzero(mismatch)], "warning")
    mun_pt = municipio_of_points(lon, lat, nil_pt, ctx)
    if check_municipio and ctx.municipi is not None:
        mun_mismatch = keep & has_point & (mun_file > 0) & (mun_pt > 0) & (mun_file != mun_pt)
        if mun_mismatch.any():
            mun_mismatch &= distance_to_districts(lon, lat, mun_file, ctx.municipi) > BORDER_TOLERANCE_M
        reject(mun_mismatch, [f"Municipio nel file ({mun_file[i]}) diverso da quello della posizione ({mun_pt[i]}): "
                              "usato quello della posizione" for i in np.flatnonzero(mun_mismatch)], "warning")
    by_file = keep & ~has_point & known
    municipi_ids = (np.fromiter((int(i) for i in ctx.municipi["id"]), dtype=np.int64) if ctx.municipi is not None
                    else np.unique(np.fromiter(_nil_to_municipio(ctx).values(), dtype=np.int64)))
    by_mun = keep & ~has_point & ~known & np.isin(mun_file, municipi_ids)
    nowhere = keep & ~has_point & ~known & ~by_mun
    reject(nowhere, "né coordinate né NIL/Municipio validi: impossibile collocarlo")
    keep &= ~nowhere

    district_id = np.where(has_point, nil_pt, np.where(by_file, nil_file, -1))
    mun_of_nil = np.array([nil_to_mun.get(int(i), -1) for i in range(int(district_id.max(initial=0)) + 1)] or [-1])
    # Without a point: the file's own Municipio when valid, else the parent of the file's NIL.
    mun_valid = np.isin(mun_file, municipi_ids)
    municipio = np.where(has_point, mun_pt,
                         np.where(by_file & mun_valid, mun_file,
                                  np.where(district_id > 0, mun_of_nil[np.clip(district_id, 0, None)],
                                           np.where(by_mun, mun_file, -1))))
    # A categorical, not a million-string array (that alone cost as much as the point-in-polygon step).
    assignment = pd.Categorical.from_codes(np.where(has_point, 0, np.where(by_file, 1, 2)).astype(np.int8),
                                           categories=["point_in_polygon", "file_id", "municipio_only"])
    t_assigned = clock()
    rejects_in_assign = spent["rejects"]

    dup_key, first_key = _repeats(frame["source_key"], keep)
    reject(dup_key, [f"duplicato: stesso id della riga {first_key[i]} (tenuta quella)" for i in np.flatnonzero(dup_key)])
    keep &= ~dup_key
    if not dedupe_by_name:
        return _timed_output(frame, keep, theme, has_point, lon, lat, district_id, municipio, assignment, rejects,
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
    return _timed_output(frame, keep, theme, has_point, lon, lat, district_id, municipio, assignment, rejects,
                         timings, t_start, t_assigned, rejects_in_assign, spent)


def _timed_output(frame: pd.DataFrame, keep: np.ndarray, theme: str, has_point: np.ndarray, lon: np.ndarray,
                  lat: np.ndarray, district_id: np.ndarray, municipio: np.ndarray, assignment: pd.Categorical,
                  rejects: list[Reject], timings: dict[str, float] | None, t_start: float, t_assigned: float,
                  rejects_in_assign: float, spent: dict[str, float]) -> tuple[pd.DataFrame, list[Reject]]:
    t_deduped = time.perf_counter()
    result = _output(frame, keep, theme, has_point, lon, lat, district_id, municipio, assignment, rejects)
    if timings is not None:
        timings["assign"] = timings.get("assign", 0.0) + (t_assigned - t_start) - rejects_in_assign
        timings["rejects"] = timings.get("rejects", 0.0) + spent["rejects"]
        timings["dedupe"] = timings.get("dedupe", 0.0) + (t_deduped - t_assigned) - (spent["rejects"] - rejects_in_assign)
        timings["output"] = timings.get("output", 0.0) + time.perf_counter() - t_deduped
    return result


def _output(frame: pd.DataFrame, keep: np.ndarray, theme: str, has_point: np.ndarray, lon: np.ndarray,
            lat: np.ndarray, district_id: np.ndarray, municipio: np.ndarray, assignment: pd.Categorical,
            rejects: list[Reject]) -> tuple[pd.DataFrame, list[Reject]]:
    """The kept rows in `places` layout, and the rejects in file order."""
    out = frame.assign(
        theme=theme,
        lon=np.where(has_point, lon, np.nan),
        lat=np.where(has_point, lat, np.nan),
        district_id=pd.Series(district_id, dtype="Int32").where(district_id > 0),
        municipio=pd.Series(municipio, dtype="Int32").where(municipio > 0),
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


def municipio_of_points(lon: np.ndarray, lat: np.ndarray, district_id: np.ndarray, ctx: BuildContext) -> np.ndarray:
    """Municipio of each point by point-in-polygon in the Municipi polygons (-1 where unknown).

    A point inside a NIL but outside every Municipio polygon (the Municipi file is an older
    boundary version) falls back to its NIL's parent; without Municipi polygons, the NIL's parent.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    district_id = np.asarray(district_id, dtype=np.int64)
    out = np.full(len(lon), -1, dtype=np.int64)
    has_point = ~(np.isnan(lon) | np.isnan(lat))
    if ctx.municipi is not None and has_point.any():
        out[has_point] = geo.assign_points(lon[has_point], lat[has_point], ctx.municipi)
    nil_to_mun = _nil_to_municipio(ctx)
    missing = has_point & (out < 0) & (district_id > 0)
    out[missing] = [nil_to_mun.get(int(i), -1) for i in district_id[missing]]
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


def _nil_to_municipio(ctx: BuildContext) -> dict[int, int]:
    if ctx.nil is None or "municipio" not in ctx.nil:
        return {}
    return {int(i): int(m) for i, m in zip(ctx.nil["id"], ctx.nil["municipio"], strict=True) if pd.notna(m)}
