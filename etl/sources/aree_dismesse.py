"""Regione Lombardia "Aree dismesse" (regional survey 2008-2010), polygons exported from its WFS.

WFS: https://www.cartografia.servizirl.it/arcgis2/services/ambiente/aree_dismesse/MapServer/WFSServer
(metadata r_lombar:37d5d480-ef27-44e4-acc3-9ab924786018). The layer covers all of Lombardy;
the export may be GeoJSON (with or without a `crs` member), GML, GeoPackage or a shapefile, in
EPSG:4326, UTM 32N (32632/7791/25832) or Monte Mario / Gauss-Boaga west (3003).

Steps: read -> CRS to EPSG:4326 (recognised from the coordinates when not declared) -> areas
that do not touch the Comune (union of the NIL) are rejected as out of scope -> invalid
polygons repaired -> area in EPSG:7791 -> a representative point of the part inside the
Comune gives lon/lat and, via `finalise_places`, the NIL. The polygon is kept as WKB.
The attribute names of the export are not documented here: every original attribute goes to
`attributes`; id, name, address, type, state and area fields are guessed from common names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from etl import geo
from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust
from etl.places import PLACE_COLUMNS, finalise_places
from etl.readers import normalise_header, parse_number
from etl.sources.vacant_common import (
    attributes_json,
    clean_text,
    json_safe,
    remap_rejects,
    separate_far_homonyms,
    stable_key,
)

THEME = "vacant"
OUTSIDE_REASON = "area fuori dal territorio"  # + name + why: "area fuori dal territorio <nome> (...)"
AREA_TOLERANCE = 0.05  # relative difference between the file's area field and the computed area
_SUFFIX_RANK = [".geojson", ".json", ".gpkg", ".zip", ".shp", ".gml"]
_FILE_RX = re.compile(r"aree.*dismess", re.IGNORECASE)

ID_FIELDS = ["id_area", "cod_area", "codice_area", "codice", "cod", "id", "objectid", "fid", "gml_id", "ogc_fid"]
NAME_FIELDS = ["denominazione", "denominaz", "denom", "nome_area", "nome", "name", "descrizione", "descr",
               "toponimo", "localita"]
ADDRESS_FIELDS = ["indirizzo", "via", "ubicazione", "localizzazione"]
COMUNE_FIELDS = ["comune", "nome_comune", "nome_com", "denom_com", "comune_nome", "des_comune"]
TYPE_FIELDS = ["tipologia", "tipo_area", "tipo", "destinazione", "dest_uso", "uso_precedente", "attivita_prec",
               "attivita", "funzione", "categoria"]
STATE_FIELDS = ["stato", "stato_area", "stato_attuale", "condizione"]
OWNER_FIELDS = ["proprieta", "tipo_proprieta", "proprietario"]
AREA_M2_FIELDS = ["superficie", "superficie_mq", "sup_mq", "sup_tot", "sup_totale", "sup", "area_mq", "area_m2",
                  "area", "shape_area", "st_area_shape", "shape_star"]
AREA_HA_FIELDS = ["superficie_ha", "sup_ha", "area_ha", "ettari"]

# Bounding boxes of Lombardy in the CRSs the regional exports use (generous).
_LOMBARDY_LONLAT = (8.0, 44.5, 11.8, 47.0)
_LOMBARDY_UTM32 = (380_000.0, 4_900_000.0, 720_000.0, 5_200_000.0)
_LOMBARDY_GB_WEST = (1_380_000.0, 4_900_000.0, 1_720_000.0, 5_200_000.0)  # Monte Mario / Italy zone 1


@dataclass(frozen=True)
class AreeDismesseSource:
    """Disused areas of the Lombardy regional survey, clipped to the Comune di Milano."""

    source_id: str = "aree_dismesse"
    title: str = "Aree dismesse (Regione Lombardia, rilievo 2008-2010)"
    dataset: str | None = "r_lombar:37d5d480-ef27-44e4-acc3-9ab924786018"
    licence: str = "Regione Lombardia – verificare licenza del Geoportale (IODL/CC BY)"
    table: str = "places"
    themes: tuple[str, ...] = ("vacant",)
    single: bool = True  # one export per build (GeoJSON preferred over the other formats)

    def find(self, raw_dir: Path) -> list[Path]:
        """Files named like *aree*dismesse*, GeoJSON first; never the Comune's geoportale export of degraded
        buildings (its own loader, `vacant_footprints`, recognises it by content)."""
        from etl.sources import vacant_footprints

        hits = [p for p in Path(raw_dir).rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIX_RANK
                and _FILE_RX.search(p.stem) and not (p.suffix.lower() == ".zip" and vacant_footprints.is_export(p))]
        return sorted(hits, key=lambda p: (_SUFFIX_RANK.index(p.suffix.lower()), str(p)))

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        """Read, re-project, clip to the Comune, repair, measure and assign the areas of one export."""
        fine = ctx.boundaries()
        if fine is None:
            raise RuntimeError(f"confini del livello '{ctx.fine_level}' non caricati prima delle aree dismesse")
        where = ctx.territory.name_it
        outside_reason = f"{OUTSIDE_REASON} {where} (il livello regionale copre tutta la Lombardia: fuori ambito)"
        frame, fmt = geo.read_vector(path)
        frame = _restore_declared_crs(frame, path)
        frame = frame.reset_index(drop=True)
        frame.index = pd.RangeIndex(1, len(frame) + 1)  # index = 1-based row number in the file
        rows_read = len(frame)
        frame, crs_label, notes = to_wgs84(frame, path, ctx.bbox(), where)
        fields = _guess_fields(frame)
        gcol = frame.geometry.name
        raws = {int(i): {str(k): json_safe(v) for k, v in rec.items()}
                for i, rec in zip(frame.index, frame.drop(columns=gcol).to_dict("records"), strict=True)}
        rejects: list[Reject] = []

        city = shapely.union_all(fine.geometry.to_numpy())
        shapely.prepare(city)
        cx0, cy0, cx1, cy1 = city.bounds
        geoms = frame.geometry.to_numpy()
        empty = np.array([g is None or g.is_empty for g in geoms])
        bounds = np.array([g.bounds if not e else (np.nan,) * 4 for g, e in zip(geoms, empty, strict=True)], dtype=float)
        near = ~empty & (bounds[:, 0] <= cx1) & (bounds[:, 2] >= cx0) & (bounds[:, 1] <= cy1) & (bounds[:, 3] >= cy0)
        for row in frame.index[empty]:
            rejects.append(Reject(int(row), raws[int(row)], "geometria assente o vuota"))
        for row in frame.index[~empty & ~near]:
            rejects.append(Reject(int(row), raws[int(row)], outside_reason))

        candidates = frame[near]
        repaired, repair_rejects = geo.repair_polygons(candidates, fields.get("id") or "", path)
        rejects += remap_rejects(repair_rejects, [int(i) for i in candidates.index])
        inside = shapely.intersects(city, repaired.geometry.to_numpy()) if len(repaired) else np.array([], dtype=bool)
        for row in repaired.index[~inside]:
            rejects.append(Reject(int(row), raws[int(row)], outside_reason))
        kept = repaired[inside]
        outside_count = sum(1 for r in rejects if r.reason == outside_reason)
        if kept.empty:
            if outside_count and outside_count == rows_read:
                result = LoadResult(table="places", frame=pd.DataFrame(columns=PLACE_COLUMNS), rows_read=rows_read,
                                    trust="official", rejects=rejects, notes=notes, crs=crs_label,
                                    encoding=frame.attrs.get("encoding"), file_format=fmt)
                raise geo.NotInTerritory(path, f"nessun punto nel territorio {where}: tutte le {rows_read} aree sono "
                                         "fuori dai suoi confini (vedere la tabella rejects)",
                                         "niente da fare se il file descrive un altro territorio", result)
            raise SourceError(path, f"nessuna area nel territorio {where} ({rows_read} lette, {outside_count} fuori dal "
                              f"territorio, {len(rejects) - outside_count} scartate per la geometria; CRS letto: {crs_label})",
                              f"controllare il CRS dell'esportazione o che il livello copra {where}")

        rows, raw_list, positions, extra = self._rows(kept, fields, city, raws, ctx)
        rejects += extra
        unique, dup_geom = _duplicate_geometries([r["geom_key"] for r in rows], raw_list, positions)
        rejects += dup_geom
        rows = [r for r, u in zip(rows, unique, strict=True) if u]
        raw_list = [r for r, u in zip(raw_list, unique, strict=True) if u]
        positions = [p for p, u in zip(positions, unique, strict=True) if u]
        frame_rows, homonyms = separate_far_homonyms(pd.DataFrame(rows).drop(columns=["geom_key"]), raw_list,
                                                     detail_col=None)
        places, place_rejects = finalise_places(frame_rows, ctx, raw_list, THEME)
        rejects += remap_rejects(homonyms + place_rejects, positions)
        rejects.sort(key=lambda r: (r.row_number or 0))

        notes += _notes(fields, rows_read, len(kept), outside_count, rows, places, ctx)
        trust: Trust = "official"
        label = {".gml": "gml", ".gpkg": "geopackage", ".json": "geojson"}.get(path.suffix.lower(), fmt)
        return LoadResult(table="places", frame=places, rows_read=rows_read, trust=trust, rejects=rejects, notes=notes,
                          crs=crs_label, encoding=frame.attrs.get("encoding"), file_format=label)

    @staticmethod
    def _rows(kept: gpd.GeoDataFrame, fields: dict[str, str | None], city: Any, raws: dict[int, dict[str, Any]],
              ctx: BuildContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[int], list[Reject]]:
        """places rows (before districts) for the areas that touch the territory."""
        where = ctx.territory.name_it
        # Names the file's 'comune' field may use inside the territory: the territory's and its areas'.
        known = {where.lower(), re.sub(r"^(comune|provincia|città metropolitana) di\s+", "", where.lower())}
        for level in ctx.territory.levels:
            areas = ctx.boundaries(level.id)
            if areas is not None:
                known.update(str(n).strip().lower() for n in areas["name"])
        geoms = kept.geometry.to_numpy()
        areas = geo.area_m2(kept.geometry)
        rows: list[dict[str, Any]] = []
        raw_list: list[dict[str, Any]] = []
        positions: list[int] = []
        rejects: list[Reject] = []
        file_areas = _file_areas(kept, fields)
        for j, (row, geom) in enumerate(zip(kept.index, geoms, strict=True)):
            row = int(row)
            raw = raws[row]
            share, point = _inside_share_and_point(geom, city)
            area = float(areas[j])
            attrs: dict[str, Any] = dict(raw)
            file_area = file_areas[j]
            if file_area is not None:
                attrs["area_m2_file"] = round(file_area, 1)
                diff = abs(file_area - area) / area if area > 0 else np.inf
                if diff > AREA_TOLERANCE:
                    rejects.append(Reject(row, raw, f"superficie nel file ({file_area:,.0f} m²) diversa da quella calcolata "
                                          f"({area:,.0f} m²) del {diff:.0%}: usata quella calcolata", "warning"))
            if share < 0.999:
                attrs["quota_nel_comune"] = round(share, 3)
                rejects.append(Reject(row, raw, f"area solo in parte nel territorio {where} ({share:.0%}): superficie "
                                      f"dell'intera area, punto e {ctx.territory.fine.label_it} dalla parte nel territorio",
                                      "warning"))
            comune = clean_text(raw.get(fields["comune"])) if fields.get("comune") else None
            if comune and comune.lower() not in known and not any(k and k in comune.lower() for k in known):
                rejects.append(Reject(row, raw, f"comune nel file «{comune}» ma l'area tocca il territorio {where}: tenuta",
                                      "warning"))
            ident = _code(raw.get(fields["id"])) if fields.get("id") else None
            key = ident or stable_key("area", shapely.to_wkt(shapely.normalize(geom), rounding_precision=6))
            name = clean_text(raw.get(fields["name"])) if fields.get("name") else None
            rows.append({
                "source_key": key,
                "name": name or f"Area dismessa {key}",
                "address": clean_text(raw.get(fields["address"])) if fields.get("address") else None,
                "lon": point.x,
                "lat": point.y,
                "category": clean_text(raw.get(fields["type"])) if fields.get("type") else None,
                "status": _status(raw.get(fields["state"]) if fields.get("state") else None, fields.get("state")),
                "ownership": _ownership(raw.get(fields["owner"])) if fields.get("owner") else None,
                "area_m2": area,
                "attributes": attributes_json(attrs),
                "geom_wkb": bytes(shapely.to_wkb(geom)),
                "geom_key": shapely.to_wkb(shapely.normalize(shapely.set_precision(geom, 1e-7)), hex=True),
            })
            raw_list.append(raw)
            positions.append(row)
        return rows, raw_list, positions, [_it(r) for r in rejects]


def _it(r: Reject) -> Reject:
    """Italian thousands separator in the messages (12,345 -> 12.345)."""
    return Reject(r.row_number, r.raw, re.sub(r"(?<=\d),(?=\d{3})", ".", r.reason), r.action)


def to_wgs84(frame: gpd.GeoDataFrame, path: Path, bbox: tuple[float, float, float, float] | None = None,
             where: str = "territorio") -> tuple[gpd.GeoDataFrame, str, list[str]]:
    """EPSG:4326 frame, CRS description and notes, for a territory-only or a Lombardy-wide export.

    An export of the territory's extent (`bbox`, from its boundaries) goes through
    `geo.ensure_wgs84` (same checks as every other layer). That function only accepts that
    extent, so a regional export is handled here: a declared CRS is used as is, a missing one is
    recognised from the coordinates over Lombardy (lon/lat, UTM 32N, Monte Mario / Gauss-Boaga west).
    """
    try:
        return geo.ensure_wgs84(frame, path, bbox) if bbox is not None else geo.ensure_wgs84(frame, path)
    except SourceError:
        pass  # not Milan's extent (or not recognisable there): try the regional extent
    valid = frame.geometry[frame.geometry.notna() & ~frame.geometry.is_empty]
    if valid.empty:
        raise SourceError(path, "nessuna geometria utilizzabile", "controllare il file")
    b = tuple(valid.total_bounds)
    notes: list[str] = []
    if frame.crs is None:
        if _inside(b, _LOMBARDY_LONLAT):
            frame = frame.set_crs(geo.WGS84)
            notes.append("CRS assente: coordinate riconosciute come lon/lat WGS84 (EPSG:4326)")
        elif _inside(b, _LOMBARDY_UTM32):
            frame = frame.set_crs(geo.UTM32_RDN2008)
            notes.append("CRS assente: coordinate riconosciute come UTM 32N (assunto RDN2008, EPSG:7791; "
                         "WGS84/ETRS89 UTM 32N coincidono entro 1 m)")
        elif _inside(b, _LOMBARDY_GB_WEST):
            frame = frame.set_crs("EPSG:3003")
            notes.append("CRS assente: coordinate riconosciute come Monte Mario / Gauss-Boaga fuso Ovest (EPSG:3003)")
        elif _inside((b[1], b[0], b[3], b[2]), _LOMBARDY_LONLAT):
            raise SourceError(path, "CRS assente e coordinate con latitudine e longitudine invertite",
                              "esportare il file con ordine lon/lat (x=longitudine)")
        else:
            box = ",".join(f"{v:.3f}" for v in b)
            raise SourceError(path, f"CRS assente e coordinate non riconoscibili né sul territorio {where} né sulla Lombardia "
                              f"(bbox {box})", "esportare il livello in EPSG:4326 o dichiarare il CRS")
    crs = CRS(frame.crs)
    epsg = crs.to_epsg()
    label = f"EPSG:{epsg} ({crs.name})" if epsg else crs.name
    if epsg == 3003:
        notes.append("Monte Mario -> WGS84 con parametri Helmert (nessuna griglia): precisione di alcuni metri")
    if not crs.equals(CRS(geo.WGS84), ignore_axis_order=True):
        frame = frame.to_crs(geo.WGS84)
    out = frame.geometry[frame.geometry.notna() & ~frame.geometry.is_empty].total_bounds
    if not _inside(tuple(out), _LOMBARDY_LONLAT):
        box = np.round(out, 3).tolist()
        raise SourceError(path, f"dopo la conversione in EPSG:4326 le geometrie non cadono in Lombardia (bbox {box})",
                          "controllare il CRS dichiarato nel file o l'ordine degli assi")
    notes.append(f"estensione più ampia del territorio {where} (livello regionale): tenute solo le aree che lo toccano")
    return frame, label, notes


def _inside(b: tuple[float, ...], box: tuple[float, float, float, float]) -> bool:
    return b[0] >= box[0] and b[1] >= box[1] and b[2] <= box[2] and b[3] <= box[3]


def _restore_declared_crs(frame: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """Put back a CRS that `geo.read_vector` dropped.

    read_vector treats every file that is not a shapefile as GeoJSON and forgets its CRS unless a
    `crs` member is present; GML, GeoPackage and Esri JSON declare it in their own way.
    """
    if frame.crs is not None:
        return frame
    suffix = path.suffix.lower()
    declares = suffix in (".gml", ".gpkg")
    if suffix == ".json":
        with open(path, "rb") as fh:
            declares = b'"spatialReference"' in fh.read(8192)
    if not declares:
        return frame
    try:
        import pyogrio

        crs = pyogrio.read_info(path).get("crs")
    except Exception:  # unreadable metadata: keep the frame without CRS, recognised later
        return frame
    return frame.set_crs(crs, allow_override=True) if crs else frame


def _guess_fields(frame: gpd.GeoDataFrame) -> dict[str, str | None]:
    """Original column names for the roles id, name, address, comune, type, state, owner."""
    by_norm: dict[str, str] = {}
    for c in frame.columns:
        if c != frame.geometry.name:
            by_norm.setdefault(normalise_header(c), c)

    def pick(names: list[str]) -> str | None:
        return next((by_norm[n] for n in names if n in by_norm and frame[by_norm[n]].notna().any()), None)

    return {"id": pick(ID_FIELDS), "name": pick(NAME_FIELDS), "address": pick(ADDRESS_FIELDS),
            "comune": pick(COMUNE_FIELDS), "type": pick(TYPE_FIELDS), "state": pick(STATE_FIELDS),
            "owner": pick(OWNER_FIELDS), "area_m2": pick(AREA_M2_FIELDS), "area_ha": pick(AREA_HA_FIELDS)}


def _file_areas(kept: gpd.GeoDataFrame, fields: dict[str, str | None]) -> list[float | None]:
    """The file's own area in m² per row (None when absent or not numeric)."""
    col, factor = (fields["area_m2"], 1.0) if fields.get("area_m2") else (fields.get("area_ha"), 10_000.0)
    if not col:
        return [None] * len(kept)
    out: list[float | None] = []
    for v in kept[col]:
        try:
            number = parse_number(v)
        except ValueError:
            number = None
        out.append(number * factor if number is not None and number > 0 else None)
    return out


def _inside_share_and_point(geom: Any, city: Any) -> tuple[float, Any]:
    """Share of the area inside the Comune and a representative point of that part."""
    if city.contains(geom):
        return 1.0, geom.representative_point()
    try:
        part = shapely.intersection(geom, city)
        part_area = geo.area_m2(gpd.GeoSeries([part, geom], crs=geo.WGS84))
        share = float(part_area[0] / part_area[1]) if part_area[1] > 0 else 1.0
        return share, (part if not part.is_empty else geom).representative_point()
    except shapely.errors.GEOSException:
        return 1.0, geom.representative_point()


def _duplicate_geometries(keys: list[str], raw: list[dict[str, Any]],
                          rows: list[int]) -> tuple[list[bool], list[Reject]]:
    """Which areas to keep (False: the polygon repeats an earlier one exactly) and the rejects.

    `rows[i]` is the file row number of area i.
    """
    first: dict[str, int] = {}
    keep: list[bool] = []
    rejects: list[Reject] = []
    for i, key in enumerate(keys):
        if key in first:
            keep.append(False)
            rejects.append(Reject(rows[i], raw[i], f"duplicato: stessa geometria della riga {rows[first[key]]} "
                                  "(tenuta quella)"))
        else:
            first[key] = i
            keep.append(True)
    return keep, rejects


def _status(value: object, field: str | None) -> str | None:
    """'regeneration' / 'vacant' from a state field; 'vacant' when the layer has no state field."""
    if field is None:
        return "vacant"  # the layer is a census of disused areas
    text = (clean_text(value) or "").lower()
    if re.search(r"riqualific|recuper|riconvers|rigenera|cantiere|in\s+corso", text):
        return "regeneration"
    if re.search(r"dismess|abbandon|inutilizz|non\s+utilizz|degrad", text):
        return "vacant"
    return None


def _ownership(value: object) -> str | None:
    text = (clean_text(value) or "").lower()
    public, private = "pubblic" in text, "privat" in text
    if public and not private:
        return "public"
    if private and not public:
        return "private"
    return None


def _code(value: object) -> str | None:
    text = clean_text(value)
    if text is None:
        return None
    return re.sub(r"^(\d+)\.0+$", r"\1", text)


def _notes(fields: dict[str, str | None], rows_read: int, touching: int, outside: int,
           rows: list[dict[str, Any]], places: pd.DataFrame, ctx: BuildContext) -> list[str]:
    found = ", ".join(f"{k}={v}" for k, v in fields.items() if v) or "nessuno"
    where = ctx.territory.name_it
    notes = [
        f"{rows_read} aree lette, {touching} toccano il territorio {where}, {outside} fuori dal territorio (scartate)",
        f"campi riconosciuti: {found}; tutti gli attributi originali in 'attributes'",
        "superficie calcolata in RDN2008 / UTM 32N (EPSG:7791) sull'intera area; "
        f"lon/lat = punto interno della parte nel territorio, {ctx.territory.fine.label_it} per punto in poligono",
        "rilievo regionale 2008-2010: lo stato attuale delle aree può essere cambiato",
    ]
    if not fields.get("state"):
        notes.append("nessun campo di stato: status 'vacant' per tutte (censimento di aree dismesse)")
    if not fields.get("id"):
        notes.append("nessun campo identificativo: chiave stabile 'area-…' calcolata dalla geometria")
    if fields.get("area_m2") or fields.get("area_ha"):
        notes.append(f"superficie del file confrontata con quella calcolata (scarto tollerato {AREA_TOLERANCE:.0%})")
    return notes


SOURCE = AreeDismesseSource()
