"""Geometry helpers for the ETL: reading, CRS checks, repair, simplification, assignment.

All geometry is stored in EPSG:4326; areas and distances are measured in the territory's metric
CRS (`TerritoryProfile.area_crs`, RDN2008 / UTM 32N = EPSG:7791 for the Lombard profiles).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from etl.base import Reject, SourceError
from etl.readers import read_table
from etl.territory import REGION_LOMBARDIA

WGS84 = "EPSG:4326"
UTM32_RDN2008 = "EPSG:7791"  # RDN2008 / UTM zone 32N (E-N), the metric CRS of the Lombard profiles
# Box every boundary file must fall in when no territory says otherwise (profiles: `region_bbox`);
# catches a wrong CRS or swapped axes. Points are then checked against the territory's own boundaries.
REGION_BBOX = REGION_LOMBARDIA
Box = tuple[float, float, float, float]
# Start of the reject reason of a point outside the territory's areas (etl/places.py): a file whose
# every rejected row has it is 'skipped' for this territory ("nessun punto nel territorio"), not failed.
OUTSIDE_REASON_PREFIX = "punto fuori"


class NotInTerritory(SourceError):
    """A file that describes another territory (no feature or point falls in this one): skipped, not failed.

    `result` is what the loader produced (its rejects are kept, saying where each row lies).
    """

    def __init__(self, path: Path | str, problem: str, hint: str, result: object | None = None):
        super().__init__(path, problem, hint)
        self.result = result
SIMPLIFY_TOLERANCE = 0.0002  # degrees; measured: 88 NIL -> about 86 KB of GeoJSON
MAP_PRECISION = 1e-5  # degrees (about 1 m)


def _zip_member(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            shps = [n for n in zf.namelist() if n.lower().endswith(".shp") and not n.startswith("__MACOSX")]
    except zipfile.BadZipFile as exc:
        raise SourceError(path, f"il file non è un archivio zip leggibile ({exc})",
                          "scaricare di nuovo il file (download interrotto o archivio di altro tipo, es. RAR)") from exc
    if not shps:
        raise SourceError(path, "lo zip non contiene uno shapefile (.shp)",
                          "usare lo zip ufficiale del dataset o il GeoJSON")
    return f"zip://{path.resolve()}!{shps[0]}"


def read_vector(path: Path) -> tuple[gpd.GeoDataFrame, str]:
    """Read a zipped shapefile, shapefile, GeoJSON or CSV-with-WKT. Returns (frame, format)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise SourceError(path, "il file è vuoto", "controllare il download")
    if suffix == ".csv":
        return _read_wkt_csv(path), "csv-wkt"
    target = _zip_member(path) if suffix == ".zip" else str(path)
    try:
        frame = gpd.read_file(target)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise SourceError(path, f"file geografico illeggibile ({type(exc).__name__}: {exc})",
                          "verificare che il file sia completo (shp+shx+dbf+prj) o usare il GeoJSON") from exc
    if len(frame) == 0:
        raise SourceError(path, "il file non contiene geometrie", "controllare il download")
    fmt = {".zip": "shapefile-zip", ".shp": "shapefile", ".geojson": "geojson", ".json": "geojson"}.get(suffix, suffix[1:])
    # GeoJSON without a "crs" member is read as EPSG:4326 by GDAL even when its coordinates are
    # projected (the real Municipi.geojson): treat it as CRS-less and recognise the coordinates.
    # Other formats (GML, GeoPackage, Esri JSON) keep the CRS they declare.
    if fmt == "geojson" and not _geojson_declares_crs(path) and '"esriGeometryType"' not in _head(path) \
            and "geometryType" not in _head(path):
        frame = frame.set_crs(None, allow_override=True)
    return frame, fmt


def _head(path: Path, size: int = 4096) -> str:
    with open(path, "rb") as fh:
        return fh.read(size).decode("utf-8", errors="ignore")


def _geojson_declares_crs(path: Path) -> bool:
    """Whether a GeoJSON file has a top-level 'crs' member, wherever it is (also after the features).

    The head is checked first (the usual place); otherwise the whole document is parsed, since a
    '"crs"' string may also occur inside a feature's properties.
    """
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if b'"crs"' in head.split(b'"features"', 1)[0]:
        return True
    data = Path(path).read_bytes()
    if b'"crs"' not in data:
        return False
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return False  # GDAL read it, so it is close to JSON: treat as undeclared, the coordinates decide
    return isinstance(doc, dict) and doc.get("crs") is not None


def _read_wkt_csv(path: Path) -> gpd.GeoDataFrame:
    table = read_table(path, required_any={"geometria WKT": ["wkt", "geometry", "geom", "the_geom", "geo_shape"]})
    frame = table.frame
    col = next(c for c in ["wkt", "geometry", "geom", "the_geom", "geo_shape"] if c in frame.columns)
    geoms = []
    for i, text in enumerate(frame[col]):
        try:
            geoms.append(shapely.from_wkt(text) if text else None)
        except shapely.errors.GEOSException as exc:
            raise SourceError(path, f"WKT non valido ({exc})", "correggere la geometria della riga", row=i + 1) from exc
    # The portal publishes the WKT CSV in EPSG:4326 (file name ..._4326.csv).
    out = gpd.GeoDataFrame(frame.drop(columns=[col]), geometry=geoms, crs=None)
    out.attrs["encoding"] = table.encoding
    return out


def projected_box(bbox: Box, crs: str) -> Box:
    """The lon/lat box `bbox` expressed in a projected CRS (west, south, east, north), densified edges."""
    transformer = Transformer.from_crs(WGS84, crs, always_xy=True)
    west, south, east, north = transformer.transform_bounds(*bbox, densify_pts=21)
    return (float(west), float(south), float(east), float(north))


def ensure_wgs84(frame: gpd.GeoDataFrame, path: Path, bbox: Box = REGION_BBOX,
                 projected: Sequence[str] = (UTM32_RDN2008,)) -> tuple[gpd.GeoDataFrame, str, list[str]]:
    """Bring a frame to EPSG:4326, recognising files without CRS by their coordinates.

    `bbox` is the lon/lat box the geometries must fall in (the region of the territory);
    a file without CRS whose coordinates fall in that box expressed in one of the `projected`
    CRSs is read in that CRS. Returns (frame, crs description, notes). Raises SourceError when
    the coordinates do not fall in the box in any known CRS (wrong CRS, swapped axes).
    """
    notes: list[str] = []
    valid = frame.geometry[~frame.geometry.is_empty & frame.geometry.notna()]
    if valid.empty:
        raise SourceError(path, "nessuna geometria utilizzabile", "controllare il file")
    minx, miny, maxx, maxy = valid.total_bounds
    if frame.crs is None:
        found = next((c for c in dict.fromkeys(projected) if _inside((minx, miny, maxx, maxy), projected_box(bbox, c))),
                     None)
        if _inside((minx, miny, maxx, maxy), bbox):
            frame = frame.set_crs(WGS84)
            notes.append("CRS assente: coordinate riconosciute come lon/lat WGS84 (EPSG:4326)")
        elif found is not None:
            frame = frame.set_crs(found)
            label = "RDN2008 / UTM 32N (EPSG:7791)" if found == UTM32_RDN2008 else _crs_label(found)
            notes.append(f"CRS assente: coordinate riconosciute come {label}")
        elif _inside((miny, minx, maxy, maxx), bbox):
            raise SourceError(path, "CRS assente e coordinate con latitudine e longitudine invertite",
                              "esportare il file con ordine lon/lat (x=longitudine)")
        else:
            box = f"{minx:.3f},{miny:.3f},{maxx:.3f},{maxy:.3f}"
            raise SourceError(path, f"CRS assente e coordinate non riconoscibili (bbox {box})",
                              "aggiungere il file .prj o esportare in EPSG:4326")
    crs_text = _crs_label(frame.crs)
    if not CRS(frame.crs).equals(CRS(WGS84), ignore_axis_order=True):
        frame = frame.to_crs(WGS84)
    bounds = frame.geometry[~frame.geometry.is_empty].total_bounds
    if not _inside(tuple(bounds), bbox):
        box = np.round(bounds, 3).tolist()
        raise SourceError(path, f"dopo la conversione in EPSG:4326 le geometrie non cadono nella regione del territorio "
                                f"(bbox {box}, attesa dentro {list(bbox)})",
                          "controllare il CRS dichiarato nel file (.prj) o l'ordine degli assi")
    return frame, crs_text, notes


def _crs_label(crs: object) -> str:
    c = CRS(crs)
    epsg = c.to_epsg()
    return f"EPSG:{epsg} ({c.name})" if epsg else c.name


def _inside(b: tuple[float, float, float, float], box: tuple[float, float, float, float]) -> bool:
    return b[0] >= box[0] and b[1] >= box[1] and b[2] <= box[2] and b[3] <= box[3]


def raw_values(row: pd.Series) -> dict[str, object]:
    """A row's values for a Reject: missing values as None (NaN is not valid JSON), numpy scalars as Python."""
    out: dict[str, object] = {}
    for key, value in row.items():
        if value is not None and not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value):
            value = None
        out[str(key)] = value.item() if isinstance(value, np.generic) else value
    return out


def repair_polygons(frame: gpd.GeoDataFrame, id_col: str, path: Path,
                    row_numbers: Sequence[int] | None = None) -> tuple[gpd.GeoDataFrame, list[Reject]]:
    """Repair invalid polygons with make_valid (keeping the areal part); record each repair.

    Geometries that are empty or not areal after repair are returned as rejects.
    `row_numbers` are the 1-based rows of the file (default: position in `frame`), so that
    a reject names the right row even after earlier rows were dropped.
    """
    rejects: list[Reject] = []
    keep = np.ones(len(frame), dtype=bool)
    geoms = frame.geometry.to_numpy().copy()
    rows = list(row_numbers) if row_numbers is not None else list(range(1, len(frame) + 1))
    for i, g in enumerate(geoms):
        row = int(rows[i])
        raw = raw_values(frame.iloc[i].drop(labels=frame.geometry.name))
        if g is None or g.is_empty:
            rejects.append(Reject(row, raw, "geometria assente o vuota"))
            keep[i] = False
            continue
        if not g.is_valid:
            reason = shapely.is_valid_reason(g)
            fixed = shapely.make_valid(g)
            polys = [p for p in getattr(fixed, "geoms", [fixed]) if p.geom_type in ("Polygon", "MultiPolygon")]
            fixed = shapely.union_all(polys) if polys else None
            if fixed is None or fixed.is_empty:
                rejects.append(Reject(row, raw, f"poligono non valido e non riparabile ({reason})"))
                keep[i] = False
                continue
            geoms[i] = fixed
            rejects.append(Reject(row, raw, f"poligono non valido riparato con make_valid ({reason})", "repaired"))
        if geoms[i].geom_type not in ("Polygon", "MultiPolygon"):
            rejects.append(Reject(row, raw, f"geometria di tipo {geoms[i].geom_type}, attesa un'area"))
            keep[i] = False
    out = frame.copy()
    out[frame.geometry.name] = geoms
    return out[keep].copy(), rejects


def area_m2(geoms: gpd.GeoSeries, crs: str = UTM32_RDN2008) -> np.ndarray:
    """Areas in m2, measured in a metric CRS (the territory's `area_crs`)."""
    return geoms.to_crs(crs).area.to_numpy()


def map_geometries(geoms: gpd.GeoSeries, tolerance: float = SIMPLIFY_TOLERANCE) -> list[str]:
    """Coverage-simplified, rounded GeoJSON strings: neighbours stay gap-free."""
    snapped = shapely.set_precision(geoms.to_numpy(), 1e-6)
    simplified = shapely.coverage_simplify(snapped, tolerance)
    rounded = shapely.set_precision(simplified, MAP_PRECISION)
    # set_precision can collapse a tiny polygon; fall back to the snapped geometry then.
    rounded = np.where(shapely.is_empty(rounded), snapped, rounded)
    return [shapely.to_geojson(g) for g in rounded]


def parent_by_overlap(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, crs: str = UTM32_RDN2008) -> pd.Series:
    """For each child polygon, the id of the parent polygon it overlaps most (NaN if none), measured in `crs`."""
    c = children.to_crs(crs)
    p = parents.to_crs(crs)
    result = []
    tree = shapely.STRtree(p.geometry.to_numpy())
    for geom in c.geometry:
        idx = tree.query(geom, predicate="intersects")
        if len(idx) == 0:
            result.append(np.nan)
            continue
        areas = shapely.area(shapely.intersection(geom, p.geometry.to_numpy()[idx]))
        result.append(p["id"].to_numpy()[idx[int(np.argmax(areas))]])
    return pd.Series(result, index=children.index, dtype="Int64")


def assign_points(lon: np.ndarray, lat: np.ndarray, polygons: gpd.GeoDataFrame) -> np.ndarray:
    """District id for each point (-1 when outside every polygon).

    The fastest primitive measured here: shapely.contains_xy per prepared polygon, after a
    numpy bounding-box prefilter (engineering-notes.md).
    """
    out = np.full(len(lon), -1, dtype=np.int64)
    geoms = polygons.geometry.to_numpy()
    ids = polygons["id"].to_numpy()
    shapely.prepare(geoms)
    bounds = shapely.bounds(geoms)
    for geom, pid, (x0, y0, x1, y1) in zip(geoms, ids, bounds, strict=True):
        cand = np.flatnonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1) & (out < 0))
        if cand.size:
            hit = shapely.contains_xy(geom, lon[cand], lat[cand])
            out[cand[hit]] = pid
    return out


def geojson_feature_collection(ids: list[int], geojsons: list[str]) -> dict:
    """A FeatureCollection with the district id as feature id."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": int(i), "properties": {"id": int(i)}, "geometry": json.loads(g)}
            for i, g in zip(ids, geojsons, strict=True)
        ],
    }
