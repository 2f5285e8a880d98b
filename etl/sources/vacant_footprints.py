"""Degraded and abandoned buildings from the Comune's geoportale: points and footprints (zip, 2019-06-03).

`OpenData_ImmDegrado.zip` holds two shapefiles of the same 178 buildings as ds503 (see
SOURCES.md, section 8.2): `Immobili_abbandonati_e_degradati_punti` (points) and
`..._aree` (footprints, with `Shape_Area`). Fields: `Cod_prog`, `INDIRIZZO`, `TIPO_MACRO`,
`LinkPdfVIG`, `LinkPdfVAR` (links to the official record sheets, written with a Windows `\\`).
The .prj says "RDN2008/TM32" (ESRI name, UTM 32N parameters on GRS80): the CRS is set
explicitly to EPSG:7791 (RDN2008 / UTM 32N, E-N) after checking that the coordinates fall on
Milan in that CRS; areas are measured there, geometries are stored in EPSG:4326.

Two roles, decided from what is in the raw folder (never from the file name):
- a ds503 file is also present: ds503 is the list (`vacant_ds503`, which reads this zip to add
  footprints, areas and record-sheet links). This loader then loads no rows; it records the
  codes that ds503 no longer lists as not current ("non più nell'elenco ds503");
- no ds503: the zip alone is the official list (points for the position, footprints for area
  and geometry).
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from etl import geo
from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust, sha256_of
from etl.places import PLACE_COLUMNS, finalise_places, mark_outside_only, normalise_text
from etl.sources.vacant_common import (
    OFFICIAL_LIST_KEY,
    OfficialList,
    attributes_json,
    clean_text,
    former_use,
    it_number,
    json_safe,
    remap_rejects,
)

THEME = "vacant"
REQUIRED_FIELDS = {"cod_prog", "linkpdfvig"}  # with TIPO_MACRO: what makes a dbf this export
AREA_TOLERANCE = 0.01  # relative difference between Shape_Area and the computed area that is reported
# The copy described in SOURCES.md (section 8.2): origin stated only for that exact file.
KNOWN_COPIES = {
    "2b76a60e5bd2753957520da04c4f97dd2a42d5e3fb1f3d362bebcacf3645cd1c":
        "copia da GitHub tommif13/test @ ea65e087b9984d3cdaa647ac0ffdcf8fda054833, data/OpenData_ImmDegrado.zip "
        "(esportazione del geoportale del Comune di Milano)",
}
_CODE_RX = re.compile(r"^[A-Z]\d+$")
_UTM_MILAN = (480_000.0, 5_000_000.0, 540_000.0, 5_070_000.0)


@dataclass
class MergedResult(LoadResult):
    """A file read only to enrich another source's rows: no rows of its own, by design (not a failure).

    `merged_into` names the source whose rows carry this file's data. The pipeline must write its
    lineage and rejects as 'loaded' instead of refusing it for having no rows.
    """

    merged_into: str = ""


@dataclass
class Footprints:
    """The export as read: one row per code of the footprint layer, plus the points layer."""

    path: Path
    areas: gpd.GeoDataFrame      # code, address, tipo_macro, link_vig, link_var, shape_area, row, geometry (EPSG:7791)
    points: gpd.GeoDataFrame     # code, row, geometry (EPSG:7791)
    reference_date: dt.date | None
    crs_label: str
    notes: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)  # rows of the footprint layer (1-based)
    raws: dict[int, dict[str, Any]] = field(default_factory=dict)  # footprint row -> raw values

    def area_m2(self) -> pd.Series:
        """Footprint area by code, measured in EPSG:7791."""
        return pd.Series(self.areas.geometry.area.to_numpy(), index=self.areas["code"].to_numpy())


def dbf_fields(data: bytes) -> list[str]:
    """Field names of a dBASE file header (lower case); empty list if it is not one."""
    if len(data) < 33:
        return []
    try:
        header_len = struct.unpack("<H", data[8:10])[0]
    except struct.error:
        return []
    names = []
    for off in range(32, min(header_len, len(data)) - 1, 32):
        if data[off] == 0x0D:
            break
        names.append(data[off:off + 11].split(b"\x00", 1)[0].decode("ascii", "replace").strip().lower())
    return names


def is_export(path: Path) -> bool:
    """True when `path` is a zip whose shapefiles carry Cod_prog + LinkPdfVIG + TIPO_MACRO (this export)."""
    try:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if name.lower().endswith(".dbf") and not name.startswith("__MACOSX"):
                    with zf.open(name) as fh:
                        fields = set(dbf_fields(fh.read(4096)))
                    if REQUIRED_FIELDS <= fields and "tipo_macro" in fields:
                        return True
    except (zipfile.BadZipFile, OSError, KeyError):
        return False
    return False


def find_exports(raw_dir: Path) -> list[Path]:
    """Zip files of this export in a raw folder (by content), in path order."""
    return sorted(p for p in Path(raw_dir).rglob("*") if p.is_file() and p.suffix.lower() == ".zip" and is_export(p))


def _layers(path: Path) -> tuple[str | None, str | None, dt.date | None]:
    """(footprint .shp member, point .shp member, date of the newest member) of the zip, by geometry type."""
    import pyogrio

    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.filename.startswith("__MACOSX")]
        shps = sorted(i.filename for i in infos if i.filename.lower().endswith(".shp"))
        dates = [dt.date(*i.date_time[:3]) for i in infos if i.date_time[0] >= 1990]
    polygons = points = None
    for name in shps:
        try:
            kind = str(pyogrio.read_info(f"zip://{Path(path).resolve()}!{name}").get("geometry_type") or "")
        except Exception:  # pyogrio raises several types for an unreadable member: read_export reports it
            kind = "Polygon" if "aree" in name.lower() else "Point" if "punt" in name.lower() else ""
        if "polygon" in kind.lower():
            polygons = polygons or name
        elif "point" in kind.lower():
            points = points or name
    return polygons, points, (max(dates) if dates else None)


def _read_layer(path: Path, member: str) -> tuple[gpd.GeoDataFrame, str | None]:
    """One shapefile of the zip, and its .prj text (None when absent)."""
    try:
        frame = gpd.read_file(f"zip://{Path(path).resolve()}!{member}")
    except Exception as exc:  # pyogrio raises several types for unreadable shapefiles
        raise SourceError(path, f"shapefile {member} illeggibile ({type(exc).__name__}: {exc})",
                          "scaricare di nuovo lo zip dal geoportale") from exc
    prj_name = re.sub(r"\.shp$", ".prj", member, flags=re.IGNORECASE)
    try:
        with zipfile.ZipFile(path) as zf:
            names = {n.lower(): n for n in zf.namelist()}
            prj = zf.read(names[prj_name.lower()]).decode("latin-1") if prj_name.lower() in names else None
    except (zipfile.BadZipFile, KeyError):
        prj = None
    return frame, prj


def _set_crs(frame: gpd.GeoDataFrame, prj: str | None, path: Path, member: str) -> tuple[gpd.GeoDataFrame, str, list[str]]:
    """Set EPSG:7791 explicitly when the coordinates are UTM 32N on Milan (checked), else refuse."""
    valid = frame.geometry[frame.geometry.notna() & ~frame.geometry.is_empty]
    if valid.empty:
        raise SourceError(path, f"{member}: nessuna geometria", "controllare lo zip")
    minx, miny, maxx, maxy = valid.total_bounds
    in_utm = _UTM_MILAN[0] <= minx and maxx <= _UTM_MILAN[2] and _UTM_MILAN[1] <= miny and maxy <= _UTM_MILAN[3]
    notes: list[str] = []
    prj_says_utm32 = bool(prj) and "transverse_mercator" in prj.lower() and re.search(
        r"central_meridian\"?,\s*9(\.0+)?\]", prj.lower()) is not None
    if in_utm:
        if prj is None:
            notes.append(f"{member}: file .prj assente; coordinate riconosciute come RDN2008 / UTM 32N (EPSG:7791)")
        elif not prj_says_utm32:
            notes.append(f"{member}: il .prj non descrive UTM 32N ma le coordinate cadono su Milano in UTM 32N: "
                         "usato EPSG:7791")
        return frame.set_crs(geo.UTM32_RDN2008, allow_override=True), "EPSG:7791 (RDN2008 / UTM zone 32N)", notes
    box = f"{minx:.0f},{miny:.0f},{maxx:.0f},{maxy:.0f}"
    raise SourceError(path, f"{member}: coordinate non in RDN2008 / UTM 32N su Milano (bbox {box})",
                      "usare l'esportazione originale del geoportale (RDN2008/TM32) o controllare il .prj")


def _link(value: object) -> str | None:
    """A record-sheet URL with the Windows separator replaced: '...PDF_VIG\\VIG_A104.pdf' -> '.../VIG_A104.pdf'."""
    text = clean_text(value)
    return text.replace("\\", "/") if text else None


def read_export(path: Path) -> Footprints:
    """Read both layers, set and check the CRS, repair footprints; row problems become rejects."""
    path = Path(path)
    if not is_export(path):
        raise SourceError(path, "lo zip non contiene l'esportazione del geoportale degli immobili degradati "
                          "(campi Cod_prog, TIPO_MACRO, LinkPdfVIG)", "usare OpenData_ImmDegrado.zip del geoportale")
    poly_member, point_member, ref_date = _layers(path)
    if poly_member is None:
        raise SourceError(path, "nello zip manca lo shapefile delle sagome (…_aree.shp)",
                          "usare lo zip completo del geoportale (punti e aree)")
    raw_areas, prj = _read_layer(path, poly_member)
    raw_areas, crs_label, notes = _set_crs(raw_areas, prj, path, Path(poly_member).name)
    cols = {c.lower(): c for c in raw_areas.columns}
    gcol = raw_areas.geometry.name
    raws = {i + 1: {k: json_safe(v) for k, v in rec.items()}
            for i, rec in enumerate(raw_areas.drop(columns=gcol).to_dict("records"))}
    rejects: list[Reject] = []
    codes = [(clean_text(v) or "").upper() for v in raw_areas[cols["cod_prog"]]]
    keep = np.ones(len(raw_areas), dtype=bool)
    seen: dict[str, int] = {}
    for i, code in enumerate(codes, start=1):
        if not _CODE_RX.match(code):
            rejects.append(Reject(i, raws[i], f"codice Cod_prog {code or 'assente'!r} non valido (atteso A/R/S + numero)"))
            keep[i - 1] = False
        elif code in seen:
            rejects.append(Reject(i, raws[i], f"duplicato: stesso Cod_prog della riga {seen[code]} (tenuta quella)"))
            keep[i - 1] = False
        else:
            seen[code] = i
    rows = np.arange(1, len(raw_areas) + 1)
    areas = gpd.GeoDataFrame({
        "code": codes,
        "address": [clean_text(v) for v in raw_areas[cols["indirizzo"]]] if "indirizzo" in cols else None,
        "tipo_macro": [clean_text(v) for v in raw_areas[cols["tipo_macro"]]],
        "link_vig": [_link(v) for v in raw_areas[cols["linkpdfvig"]]],
        "link_var": [_link(v) for v in raw_areas[cols["linkpdfvar"]]] if "linkpdfvar" in cols else None,
        "shape_area": pd.to_numeric(raw_areas[cols["shape_area"]], errors="coerce") if "shape_area" in cols else np.nan,
        "row": rows,
    }, geometry=raw_areas.geometry.to_numpy(), crs=raw_areas.crs)[keep]
    repaired, repair_rejects = geo.repair_polygons(areas, "code", path, row_numbers=areas["row"].tolist())
    rejects += [Reject(r.row_number, raws.get(r.row_number or 0, r.raw), r.reason, r.action) for r in repair_rejects]

    points = gpd.GeoDataFrame({"code": [], "row": []}, geometry=[], crs=geo.UTM32_RDN2008)
    if point_member is None:
        notes.append("nello zip manca lo shapefile dei punti: posizione dal punto interno della sagoma")
    else:
        raw_points, prj_pt = _read_layer(path, point_member)
        raw_points, _, pt_notes = _set_crs(raw_points, prj_pt, path, Path(point_member).name)
        notes += pt_notes
        pcols = {c.lower(): c for c in raw_points.columns}
        if "cod_prog" in pcols:
            pcodes = [(clean_text(v) or "").upper() for v in raw_points[pcols["cod_prog"]]]
            points = gpd.GeoDataFrame({"code": pcodes, "row": np.arange(1, len(raw_points) + 1)},
                                      geometry=raw_points.geometry.to_numpy(), crs=raw_points.crs)
            points = points[points["code"].str.match(_CODE_RX.pattern) & points.geometry.notna()]
            points = points.drop_duplicates("code")
    fp = Footprints(path=path, areas=repaired.reset_index(drop=True), points=points.reset_index(drop=True),
                    reference_date=ref_date, crs_label=crs_label, notes=notes, rejects=rejects, raws=raws)
    fp.notes += area_check_notes(fp)
    rejects += area_check_rejects(fp)
    return fp


def area_check_rejects(fp: Footprints) -> list[Reject]:
    """Warnings where the computed footprint area differs from the file's Shape_Area by more than AREA_TOLERANCE."""
    out = []
    computed = fp.areas.geometry.area.to_numpy()
    for row, code, file_area, area in zip(fp.areas["row"], fp.areas["code"], fp.areas["shape_area"], computed, strict=True):
        if pd.notna(file_area) and area > 0 and abs(file_area - area) / area > AREA_TOLERANCE:
            out.append(Reject(int(row), fp.raws.get(int(row), {"Cod_prog": code}),
                              f"Shape_Area nel file ({it_number(file_area)} m²) diversa dall'area calcolata in EPSG:7791 "
                              f"({it_number(area)} m²): usata quella calcolata", "warning"))
    return out


def area_check_notes(fp: Footprints) -> list[str]:
    """One note comparing the computed areas with Shape_Area."""
    computed = fp.areas.geometry.area.to_numpy()
    file_area = fp.areas["shape_area"].to_numpy(dtype=float)
    ok = ~np.isnan(file_area) & (computed > 0)
    if not ok.any():
        return ["Shape_Area assente: area solo calcolata in EPSG:7791"]
    diff = np.abs(file_area[ok] - computed[ok]) / computed[ok]
    return [f"area delle sagome calcolata in EPSG:7791 ({it_number(computed.sum())} m² in tutto) confrontata con "
            f"Shape_Area: scarto massimo {it_number(diff.max() * 100, 4)}%"]


def points_wgs84(fp: Footprints) -> dict[str, tuple[float, float]]:
    """code -> (lon, lat) of the export's own points."""
    if fp.points.empty:
        return {}
    pts = fp.points.to_crs(geo.WGS84)
    return {c: (g.x, g.y) for c, g in zip(pts["code"], pts.geometry, strict=True)}


def footprints_wgs84(fp: Footprints) -> dict[str, bytes]:
    """code -> footprint as WKB in EPSG:4326."""
    geoms = fp.areas.to_crs(geo.WGS84).geometry.to_numpy()
    return {c: bytes(shapely.to_wkb(g)) for c, g in zip(fp.areas["code"], geoms, strict=True)}


def origin_of(path: Path) -> str | None:
    """The origin text of a known copy (by sha256), None for any other file."""
    try:
        return KNOWN_COPIES.get(sha256_of(path))
    except OSError:
        return None


@dataclass(frozen=True)
class VacantFootprintsSource:
    """The geoportale export: enrichment of ds503 when present, otherwise the official list itself."""

    source_id: str = "vacant_footprints"
    title: str = "Immobili abbandonati e degradati: punti e sagome (geoportale del Comune di Milano, 2019-06-03)"
    dataset: str | None = None  # geoportale export, not a dataset of the open-data portal
    licence: str = ("CC BY 4.0 (licenza non dichiarata nello zip: si assume quella predefinita del portale, come per "
                    "ds503; da verificare)")
    table: str = "places"
    themes: tuple[str, ...] = ("vacant",)
    attribution: str = "Comune di Milano"
    single: bool = True  # one export per build
    # path -> ds503 file found in the same raw folder by find() (None: the zip is the list)
    plan: dict[Path, Path | None] = field(default_factory=dict, compare=False, hash=False)

    def find(self, raw_dir: Path) -> list[Path]:
        """Zips with the export's fields (by content); remembers whether a ds503 file is in the folder."""
        from etl.sources import vacant_ds503

        hits = find_exports(raw_dir)
        lists = vacant_ds503.find_ds503(raw_dir)
        for p in hits:
            self.plan[p.resolve()] = lists[0] if lists else None
        return hits

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        """Enrichment role when ds503 is (or will be) loaded in this build, else the zip is the list."""
        path = Path(path)
        official = ctx.extra.get(OFFICIAL_LIST_KEY)
        ds503_path = self.plan.get(path.resolve())
        if isinstance(official, OfficialList) and official.source_id == "vacant_ds503":
            result = self._enrichment(path, set(official.listed), ctx)
            if not official.loaded:  # ds503 placed no building in this territory: nothing to enrich
                raise geo.NotInTerritory(path, f"nessun punto nel territorio {ctx.territory.name_it}: l'elenco ds503, "
                                         "a cui si uniscono le sagome, non vi ha edifici",
                                         "niente da fare se il file descrive un altro territorio", result)
            return result
        if ds503_path is not None:
            from etl.sources import vacant_ds503

            try:
                codes = vacant_ds503.read_codes(ds503_path)
            except SourceError as exc:  # ds503 unusable: the export is the list after all
                result = self._as_list(path, ctx)
                result.notes.insert(0, f"file ds503 presente ma non leggibile ({exc.problem}): l'esportazione del "
                                       "geoportale è usata come elenco")
                return result
            return self._enrichment(path, codes, ctx)
        return self._as_list(path, ctx)

    def _enrichment(self, path: Path, ds503_codes: set[str], ctx: BuildContext) -> LoadResult:
        """No rows: ds503 carries the footprints; codes ds503 no longer lists are recorded as not current."""
        fp = read_export(path)
        rejects = list(fp.rejects)
        gone = []
        for code, row in zip(fp.areas["code"], fp.areas["row"], strict=True):
            if code not in ds503_codes:
                gone.append(code)
                rejects.append(Reject(int(row), fp.raws.get(int(row), {"Cod_prog": code}),
                                      f"{code}: non più nell'elenco ds503 (l'esportazione del geoportale "
                                      f"{date_text(fp.reference_date)} lo riporta, ds503 no): non contato come attuale"))
        joined = len(fp.areas) - len(gone)
        notes = [f"ds503 presente: questo zip non carica righe proprie; sagome, aree e link alle schede unite a {joined} "
                 f"edifici di ds503 (fonte 'vacant_ds503')",
                 f"{len(gone)} codici non più nell'elenco ds503, non contati come attuali: {', '.join(sorted(gone)) or '-'}",
                 *fp.notes]
        rejects.sort(key=lambda r: (r.row_number or 0))
        empty = pd.DataFrame(columns=PLACE_COLUMNS)
        trust: Trust = "official"
        return MergedResult(merged_into="vacant_ds503", table="places", frame=empty, rows_read=len(fp.raws), trust=trust,
                            rejects=rejects, notes=notes,
                            crs=fp.crs_label, encoding="ascii (dBASE)", file_format="shapefile (zip)",
                            reference_date=fp.reference_date, attribution=self.attribution, origin=origin_of(path))

    def _as_list(self, path: Path, ctx: BuildContext) -> LoadResult:
        """The zip alone: one place per footprint code (position from the export's point)."""
        fp = read_export(path)
        pts = points_wgs84(fp)
        wkb = footprints_wgs84(fp)
        reps = fp.areas.to_crs(geo.WGS84).geometry.representative_point()
        areas = fp.area_m2()
        rows, raws, positions = [], [], []
        rejects = list(fp.rejects)
        unknown_use: list[str] = []
        no_point = 0
        for j, rec in enumerate(fp.areas.itertuples(index=False)):
            code = rec.code
            lon, lat = pts.get(code, (np.nan, np.nan))
            if np.isnan(lon):
                no_point += 1
                lon, lat = reps.iloc[j].x, reps.iloc[j].y
            category, known = former_use(rec.tipo_macro)
            if not known:
                unknown_use.append(str(rec.tipo_macro))
            rows.append({
                "source_key": code, "name": rec.address or code, "address": rec.address, "lon": lon, "lat": lat,
                "category": category, "status": status_of_code(code), "ownership": None,
                "area_m2": float(areas[code]), "geom_wkb": wkb[code],
                "attributes": attributes_json({
                    "cod_prog": code, "tipo_macro": rec.tipo_macro, "link_pdf_vig": rec.link_vig,
                    "link_pdf_var": rec.link_var, "shape_area_m2": round_or_none(rec.shape_area),
                    "elenco": f"geoportale {date_text(fp.reference_date)}",
                }),
            })
            raws.append(fp.raws.get(int(rec.row), {"Cod_prog": code}))
            positions.append(int(rec.row))
        places, place_rejects = finalise_places(pd.DataFrame(rows), ctx, raws, THEME, dedupe_by_name=False)
        rejects += remap_rejects(place_rejects, positions)
        rejects.sort(key=lambda r: (r.row_number or 0))
        ctx.extra[OFFICIAL_LIST_KEY] = OfficialList(
            source_id=self.source_id, label=f"geoportale {date_text(fp.reference_date)}", listed=set(fp.areas["code"]),
            loaded={k: (lo, la, normalise_text(a)) for k, lo, la, a in
                    zip(places["source_key"], places["lon"], places["lat"], places["address"], strict=True)})
        status = places["status"].value_counts()
        notes = [f"nessun file ds503 nella cartella: l'esportazione del geoportale ({date_text(fp.reference_date)}) "
                 "è l'elenco ufficiale",
                 f"status da Cod_prog: {int(status.get('degraded', 0))} degraded (A/S), "
                 f"{int(status.get('regeneration', 0))} regeneration (R)",
                 *fp.notes]
        if no_point:
            notes.append(f"{no_point} codici senza punto: posizione dal punto interno della sagoma")
        if unknown_use:
            notes.append(f"TIPO_MACRO non riconosciuti (category 'altro'): {', '.join(sorted(set(unknown_use)))}")
        trust: Trust = "official"
        result = LoadResult(table="places", frame=places, rows_read=len(fp.raws), trust=trust, rejects=rejects,
                            notes=notes, crs=fp.crs_label, encoding="ascii (dBASE)", file_format="shapefile (zip)",
                            reference_date=fp.reference_date, attribution=self.attribution, origin=origin_of(path))
        return mark_outside_only(result, ctx, path, rows=len(rows))


def is_code(code: str) -> bool:
    """True for a programme code: one letter and digits ('A412', 'R130', 'S531')."""
    return _CODE_RX.match(code) is not None


def status_of_code(code: str) -> str | None:
    """'regeneration' for R codes, 'degraded' for A and S codes, None otherwise (see vacant_ds503)."""
    first = code[:1].upper()
    return "regeneration" if first == "R" else "degraded" if first in ("A", "S") else None


def date_text(value: dt.date | None) -> str:
    return value.isoformat() if value else "senza data"


def round_or_none(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else round(number, 1)


SOURCE = VacantFootprintsSource()
