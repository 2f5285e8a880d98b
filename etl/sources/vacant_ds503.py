"""Abandoned and degraded buildings and areas, official list of the Comune di Milano (ds503).

CSV, `;`, columns `OBJECTID;COD_PROG;INDIRIZZO;TIPO_MACRO;R10;MUNICIPIO;ID_NIL;NIL;LONG_X_4326;
LAT_Y_4326;Location` (SOURCES.md, section 8.1). Recognised by its header (COD_PROG + TIPO_MACRO +
LONG_X_4326 + LAT_Y_4326), never by its name.

Mapping into `places` (theme 'vacant', trust 'official'):
- source_key = COD_PROG; name and address = INDIRIZZO; lon/lat = LONG_X_4326/LAT_Y_4326;
- category = former use from TIPO_MACRO in the shared vocabulary (`vacant_common.FORMER_USES`);
  the raw TIPO_MACRO stays in the attributes;
- status from the code's letter. The file does not define the letters; our reading: 'A' codes
  are the degraded/abandoned buildings of the Comune's list (in the 2016 list every A code has
  a degradation condition), 'R' codes are under regeneration (every R code of the 2016 list has
  condition 'Riqualificazione'), 'S' codes (491-572) are later additions not in the 2016 list,
  with nothing that marks them as under regeneration. So A and S -> 'degraded', R -> 'regeneration';
- ownership NULL (the file does not say); R10 (SI in every row of the known file; its meaning is
  not stated in the file), OBJECTID, the file's NIL name, ID_NIL and MUNICIPIO go to attributes;
  `Location` repeats the coordinates and is not kept;
- ID_NIL and MUNICIPIO are checked against the position by `finalise_places` (warnings; the
  position wins).

Footprints: when the geoportale export (`vacant_footprints`) is in the same raw folder, its
footprints are joined on the code: area_m2 = footprint area in EPSG:7791, geom_wkb = footprint
in EPSG:4326, record-sheet links in attributes. Codes of ds503 without a footprint keep area NULL.
The file states no reference date: `reference_date` stays NULL (said in the notes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from etl import geo
from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust, sha256_of
from etl.places import finalise_places, mark_outside_only, normalise_text
from etl.readers import peek_columns, read_table
from etl.sources import vacant_footprints
from etl.sources.vacant_common import (
    OFFICIAL_LIST_KEY,
    OfficialList,
    attributes_json,
    clean_text,
    former_use,
    it_number,
    remap_rejects,
)

THEME = "vacant"
SIGNATURE = ("cod_prog", "tipo_macro", "long_x_4326", "lat_y_4326")
FOOTPRINT_DISTANCE_M = 50.0  # ds503 point farther than this from its footprint: warning
KNOWN_COPIES = {
    "6d959920e0f733a174c56f87bffad0ab0e91a402d9b2083e937ca7448ae9fcee":
        "copia da GitHub tommif13/test @ 63db2c65e45e1d097c8e2ea686a8965cc48c0342, "
        "data/ds503_aree_edifici_degradati_abbandonati_0_final (1).csv (suffisso ' (1)' tolto dal nome); "
        "dataset ufficiale ds503 del portale dati.comune.milano.it",
}


def is_ds503(path: Path) -> bool:
    """True when the CSV header carries the ds503 signature columns."""
    return set(SIGNATURE) <= set(peek_columns(path))


def find_ds503(raw_dir: Path) -> list[Path]:
    """CSV files with the ds503 header, in path order."""
    return sorted(p for p in Path(raw_dir).rglob("*") if p.is_file() and p.suffix.lower() in (".csv", ".txt")
                  and is_ds503(p))


def read_codes(path: Path) -> set[str]:
    """Every COD_PROG of a ds503 file (upper case)."""
    table = read_table(path, required_any={"cod_prog": ["cod_prog"]})
    return {c.upper() for c in (clean_text(v) for v in table.frame["cod_prog"]) if c}


@dataclass(frozen=True)
class VacantDs503Source:
    """ds503, the Comune's list of abandoned and degraded buildings, enriched with geoportale footprints."""

    source_id: str = "vacant_ds503"
    title: str = "Aree ed edifici degradati e abbandonati (Comune di Milano, ds503)"
    dataset: str | None = "ds503"
    licence: str = "CC BY 4.0 (licenza predefinita del portale; da verificare sulla pagina del dataset)"
    table: str = "places"
    themes: tuple[str, ...] = ("vacant",)
    attribution: str = "Comune di Milano"
    single: bool = True  # one list per build
    # ds503 path -> geoportale export found in the same raw folder by find() (None: no footprints)
    plan: dict[Path, Path | None] = field(default_factory=dict, compare=False, hash=False)

    def find(self, raw_dir: Path) -> list[Path]:
        """ds503 files by header; remembers the geoportale export of the same folder for the footprints."""
        hits = find_ds503(raw_dir)
        exports = vacant_footprints.find_exports(raw_dir)
        for p in hits:
            self.plan[p.resolve()] = exports[0] if exports else None
        return hits

    def load(self, path: Path, ctx: BuildContext, footprints: Path | None = None) -> LoadResult:
        """Read ds503, join the footprints (from `footprints` or the export find() saw), assign districts."""
        path = Path(path)
        table = read_table(path, required_any={c: [c] for c in (*SIGNATURE, "indirizzo")})
        records: list[dict[str, Any]] = table.frame.to_dict("records")
        fp_path = footprints if footprints is not None else self.plan.get(path.resolve())
        notes: list[str] = ["data di riferimento non indicata nel file né nel nome: reference_date vuota"]
        fp: vacant_footprints.Footprints | None = None
        if fp_path is not None:
            try:
                fp = vacant_footprints.read_export(Path(fp_path))
            except SourceError as exc:
                notes.append(f"sagome del geoportale non lette ({exc.problem}): superfici assenti")
        rejects: list[Reject] = [Reject(r, records[r - 1], "riga con un numero di campi diverso dall'intestazione: "
                                        "campi mancanti lasciati vuoti o in eccesso scartati", "warning")
                                 for r in table.frame.attrs.get("ragged_rows", [])]
        areas = fp.area_m2() if fp is not None else pd.Series(dtype=float)
        wkb = vacant_footprints.footprints_wgs84(fp) if fp is not None else {}
        fp_rows = dict(zip(fp.areas["code"], fp.areas.itertuples(index=False), strict=True)) if fp is not None else {}
        rows, raws, positions = [], [], []
        listed: set[str] = set()
        unknown_use: list[str] = []
        for i, rec in enumerate(records, start=1):
            code = (clean_text(rec.get("cod_prog")) or "").upper()
            if not code or not vacant_footprints.is_code(code):
                rejects.append(Reject(i, rec, f"COD_PROG {code or 'assente'!r} non valido (atteso A/R/S + numero)"))
                continue
            listed.add(code)
            category, known = former_use(rec.get("tipo_macro"))
            if not known:
                unknown_use.append(str(rec.get("tipo_macro")))
            status = vacant_footprints.status_of_code(code)
            attrs: dict[str, Any] = {
                "cod_prog": code, "tipo_macro": clean_text(rec.get("tipo_macro")), "r10": clean_text(rec.get("r10")),
                "objectid": clean_text(rec.get("objectid")), "nil_file": clean_text(rec.get("nil")),
                "id_nil_file": clean_text(rec.get("id_nil")), "municipio_file": clean_text(rec.get("municipio")),
            }
            if status is None:
                rejects.append(Reject(i, rec, f"lettera del codice {code} non nota (attese A, R, S): stato non indicato",
                                      "warning"))
            area = np.nan
            geom = None
            match = fp_rows.get(code)
            if match is not None:
                area = float(areas[code])
                geom = wkb[code]
                attrs.update({"link_pdf_vig": match.link_vig, "link_pdf_var": match.link_var,
                              "shape_area_m2": vacant_footprints.round_or_none(match.shape_area),
                              "sagoma": f"geoportale {vacant_footprints.date_text(fp.reference_date if fp else None)}"})
                if match.tipo_macro and match.tipo_macro != attrs["tipo_macro"]:
                    attrs["tipo_macro_geoportale"] = match.tipo_macro
                if match.address and normalise_text(match.address) != normalise_text(rec.get("indirizzo")):
                    attrs["indirizzo_geoportale"] = match.address
            address = clean_text(rec.get("indirizzo"))
            rows.append({
                "source_key": code, "name": address or code, "address": address,
                "lon": rec.get("long_x_4326"), "lat": rec.get("lat_y_4326"),
                "nil_id_file": rec.get("id_nil"), "municipio_file": rec.get("municipio"),
                "category": category, "status": status, "ownership": None, "area_m2": area,
                "attributes": attributes_json(attrs), "geom_wkb": geom,
            })
            raws.append(rec)
            positions.append(i)
        if not rows:
            raise SourceError(path, f"nessuna riga utilizzabile ({len(rejects)} scartate)",
                              "controllare la colonna COD_PROG del file ds503")
        places, place_rejects = finalise_places(pd.DataFrame(rows), ctx, raws, THEME, dedupe_by_name=False,
                                                check_parent=True)
        rejects += remap_rejects(place_rejects, positions)
        dropped: dict[str, str] = {}
        if fp is not None:
            rejects += remap_rejects(_footprint_distance_warnings(places, fp, raws, positions), positions)
            for code in sorted(set(fp.areas["code"]) - listed):
                dropped[code] = (f"non più nell'elenco ds503 (lo riporta l'esportazione del geoportale "
                                 f"{vacant_footprints.date_text(fp.reference_date)})")
            notes += _footprint_notes(places, fp, listed, dropped)
        elif fp_path is None:
            notes.append("esportazione del geoportale (sagome) non trovata nella cartella: superfici e sagome assenti")
        rejects.sort(key=lambda r: (r.row_number or 0))
        ctx.extra[OFFICIAL_LIST_KEY] = OfficialList(
            source_id=self.source_id, label="ds503", listed=listed, dropped=dropped,
            loaded={k: (float(lo), float(la), normalise_text(a)) for k, lo, la, a in
                    zip(places["source_key"], places["lon"], places["lat"], places["address"], strict=True)})
        notes += _notes(places, unknown_use)
        trust: Trust = "official"
        result = LoadResult(table="places", frame=places, rows_read=len(records), trust=trust, rejects=rejects,
                            notes=notes, crs="EPSG:4326 (WGS 84)", encoding=table.encoding,
                            file_format=f"csv sep={table.separator!r}", reference_date=None,
                            attribution=self.attribution, origin=_origin(path))
        return mark_outside_only(result, ctx, path, rows=len(rows))


def _footprint_distance_warnings(places: pd.DataFrame, fp: vacant_footprints.Footprints, raws: list[dict[str, Any]],
                                 positions: list[int]) -> list[Reject]:
    """Warnings (rows 1-based in the ds503 rows passed to finalise_places) where the point is far from its footprint."""
    by_code = {c: g for c, g in zip(fp.areas["code"], fp.areas.geometry, strict=True)}
    keys = [k for k in places["source_key"] if k in by_code]
    if not keys:
        return []
    sub = places.set_index("source_key").loc[keys]
    pts = gpd.GeoSeries(gpd.points_from_xy(sub["lon"], sub["lat"]), crs=geo.WGS84).to_crs(geo.UTM32_RDN2008)
    index = {r["cod_prog"].upper() if r.get("cod_prog") else "": j for j, r in enumerate(raws)}
    out = []
    for code, pt in zip(keys, pts, strict=True):
        d = float(by_code[code].distance(pt))
        if d > FOOTPRINT_DISTANCE_M and code in index:
            j = index[code]
            out.append(Reject(j + 1, raws[j], f"punto di ds503 a {d:.0f} m dalla sagoma del geoportale dello stesso "
                                              "codice: sagoma e superficie tenute, da verificare", "warning"))
    return out


def _footprint_notes(places: pd.DataFrame, fp: vacant_footprints.Footprints, listed: set[str],
                     dropped: dict[str, str]) -> list[str]:
    with_area = places["area_m2"].notna()
    missing = sorted(set(places["source_key"]) - set(fp.areas["code"]))
    notes = [f"sagome e superfici dall'esportazione del geoportale ({fp.path.name}, "
             f"{vacant_footprints.date_text(fp.reference_date)}): {int(with_area.sum())} edifici su {len(places)} "
             f"con superficie ({it_number(places.loc[with_area, 'area_m2'].sum())} m², area della sagoma in EPSG:7791)",
             f"{len(missing)} codici di ds503 senza sagoma (superficie NULL): {', '.join(missing) or '-'}",
             f"{len(dropped)} codici dell'esportazione non più in ds503, non contati: {', '.join(sorted(dropped)) or '-'}"]
    pts = vacant_footprints.points_wgs84(fp)
    common = [k for k in places["source_key"] if k in pts]
    if common:
        sub = places.set_index("source_key").loc[common]
        a = gpd.GeoSeries(gpd.points_from_xy(sub["lon"], sub["lat"]), crs=geo.WGS84).to_crs(geo.UTM32_RDN2008)
        b = gpd.GeoSeries(gpd.points_from_xy([pts[k][0] for k in common], [pts[k][1] for k in common]),
                          crs=geo.WGS84).to_crs(geo.UTM32_RDN2008)
        d = a.distance(b, align=False).to_numpy()
        notes.append(f"controllo del CRS delle sagome: punti del geoportale (EPSG:7791) e di ds503 (EPSG:4326) per "
                     f"{len(common)} codici: distanza mediana {np.median(d):.1f} m, massima {d.max():.1f} m")
    notes += fp.notes
    return notes


def _notes(places: pd.DataFrame, unknown_use: list[str]) -> list[str]:
    status = places["status"].value_counts()
    cats = places["category"].value_counts()
    notes = [
        "status dalla lettera del codice (non definita nel file): A e S -> degraded, R -> regeneration "
        f"({int(status.get('degraded', 0))} degraded, {int(status.get('regeneration', 0))} regeneration)",
        "category = uso precedente da TIPO_MACRO (vocabolario comune con places.json): "
        + ", ".join(f"{k} {v}" for k, v in cats.items()),
        "proprietà non indicata nel file (ownership vuota); R10 conservato negli attributi (significato non "
        "indicato nel file)",
    ]
    if unknown_use:
        notes.append(f"TIPO_MACRO non riconosciuti (category 'altro'): {', '.join(sorted(set(unknown_use)))}")
    return notes


def _origin(path: Path) -> str | None:
    try:
        return KNOWN_COPIES.get(sha256_of(path))
    except OSError:
        return None


SOURCE = VacantDs503Source()
