"""Buildings and areas in a state of degradation and abandonment (Comune di Milano list, 2016).

The file is the GeoJSON that the scandaglio/PianoTerra collective made from the Comune's
Google My Map (`scandaglio/molo`, `_data/places.json`): 192 points, 163 with code A… (degraded),
17 R… (under regeneration) and 12 without a code that the collective added (railway yards and
barracks). See SOURCES.md, section 4.

Mapping into `places` (theme 'vacant'):
- source_key = cod_prog; for the added places a stable key from name and coordinates;
- category = the raw `condition` text; status 'regeneration' (R… or 'Riqualificazione') else
  'degraded';
- ownership from the collective's category: pubblico -> public, privato -> private; caserma
  and scalo -> public (an assumption, said in the notes and in the attributes);
- typology, condition_desc, zona, category, panoId, cod_prog go into `attributes`. The old
  `zona` 1-9 equals today's Municipio; 10 is the collective's placeholder, not a Municipio.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
import shapely.geometry
from pyproj import CRS, Transformer

from etl import geo
from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust
from etl.places import finalise_places, normalise_text
from etl.sources.vacant_common import (
    attributes_json,
    clean_text,
    remap_rejects,
    separate_far_homonyms,
    stable_key,
)

THEME = "vacant"
PLACEHOLDER_ZONA = 10
_NAME_RX = re.compile(r"(edifici.*degrado|degrado.*edifici|abbandon)", re.IGNORECASE)
_OWNERSHIP = {"pubblico": "public", "pubblica": "public", "privato": "private", "privata": "private"}
_ASSUMED_PUBLIC = {"caserma", "scalo"}


@dataclass(frozen=True)
class VacantBuildingsSource:
    """The Comune's 2016 list of degraded/abandoned buildings, as re-published by scandaglio/molo."""

    source_id: str = "vacant_buildings"
    title: str = "Edifici e aree in stato di degrado e abbandono (lista Comune di Milano 2016, via scandaglio/molo)"
    dataset: str | None = None  # never on the open-data portal
    licence: str = ("GPL-3.0 (repository scandaglio/molo); lista originale Comune di Milano 2016 "
                    "senza licenza esplicita — verificare prima di ridistribuire")
    table: str = "places"
    single: bool = True  # one list per build: two copies would only duplicate it

    def find(self, raw_dir: Path) -> list[Path]:
        """places.json inside a 'scandaglio…' folder, or files named like edifici…degrado / …abbandon…."""
        hits = []
        for p in sorted(Path(raw_dir).rglob("*")):
            if not p.is_file() or p.suffix.lower() not in (".json", ".geojson"):
                continue
            in_scandaglio = p.name.lower() == "places.json" and any(
                "scandaglio" in part.lower() for part in p.relative_to(raw_dir).parts[:-1])
            if in_scandaglio or _NAME_RX.search(p.stem):
                hits.append(p)
        return sorted(hits, key=lambda p: (0 if p.name.lower() == "places.json" else 1, str(p)))

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        """Read the FeatureCollection, map its properties, assign NIL/Municipio by position."""
        features, crs_label, notes = read_point_features(path)
        rows: list[dict[str, Any]] = []
        raws: list[dict[str, Any]] = []
        positions: list[int] = []
        rejects: list[Reject] = []
        counts = {"added": 0, "assumed_public": 0, "zona_placeholder": 0, "non_point": 0}
        for i, feature in enumerate(features, start=1):
            raw = _raw_record(feature)
            if not isinstance(feature, dict) or not isinstance(feature.get("properties") or {}, dict):
                rejects.append(Reject(i, raw, "elemento non valido: non è una Feature GeoJSON"))
                continue
            lon, lat, geom_note = feature_point(feature)
            if geom_note:
                counts["non_point"] += 1
                rejects.append(Reject(i, raw, geom_note, "warning"))
            row = map_properties(feature.get("properties") or {}, lon, lat, counts)
            rows.append(row)
            raws.append(raw)
            positions.append(i)
        if not rows:
            raise SourceError(path, "nessun luogo utilizzabile nel file", "controllare che sia il GeoJSON della lista")
        frame = pd.DataFrame(rows)
        frame, homonyms = separate_far_homonyms(frame, raws, detail_col="condition_desc")
        places, place_rejects = finalise_places(frame.drop(columns=["condition_desc", "zona"]), ctx, raws, THEME)
        rejects += remap_rejects(homonyms + place_rejects, positions)
        rejects += _zona_mismatches(places, frame, raws, positions)
        rejects.sort(key=lambda r: (r.row_number or 0))

        notes += _notes(frame, places, counts)
        trust: Trust = "derived"
        return LoadResult(table="places", frame=places, rows_read=len(features), trust=trust, rejects=rejects,
                          notes=notes, crs=crs_label, encoding="utf-8", file_format="geojson")


def read_point_features(path: Path) -> tuple[list[Any], str, list[str]]:
    """The features of a GeoJSON FeatureCollection, with coordinates brought to lon/lat WGS84.

    A declared non-WGS84 `crs` member is honoured (points re-projected); without one, the
    coordinates are taken as lon/lat (RFC 7946) unless they look like UTM 32N around Milan.
    Returns (features, CRS description, notes). Raises SourceError for unusable files.
    """
    data = Path(path).read_bytes()
    if not data.strip():
        raise SourceError(path, "il file è vuoto", "controllare il download o l'esportazione")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(path, f"JSON non leggibile ({exc})", "controllare che il file sia GeoJSON completo") from exc
    if isinstance(doc, list):
        features = doc
    elif isinstance(doc, dict) and isinstance(doc.get("features"), list):
        features = doc["features"]
    else:
        raise SourceError(path, "il JSON non è una FeatureCollection GeoJSON (manca l'elenco 'features')",
                          "esportare la mappa come GeoJSON")
    if not features:
        raise SourceError(path, "la FeatureCollection non contiene elementi", "controllare il download")
    notes: list[str] = []
    declared = _declared_crs(doc)
    source_crs: CRS | None = None
    if declared is not None and not declared.equals(CRS(geo.WGS84), ignore_axis_order=True):
        source_crs = declared
    elif declared is None and _looks_utm(features):
        source_crs = CRS(geo.UTM32_RDN2008)
        notes.append("CRS assente: coordinate riconosciute come RDN2008 / UTM 32N (EPSG:7791) e convertite")
    if source_crs is None:
        label = "EPSG:4326 (WGS 84)" + ("" if declared is not None else ", assunto (GeoJSON senza 'crs')")
        return features, label, notes
    transformer = Transformer.from_crs(source_crs, CRS(geo.WGS84), always_xy=True)
    converted = [_transform_feature(f, transformer) for f in features]
    epsg = source_crs.to_epsg()
    label = f"EPSG:{epsg} ({source_crs.name})" if epsg else source_crs.name
    if declared is not None:
        notes.append(f"coordinate convertite da {label} a EPSG:4326")
    return converted, label, notes


def _declared_crs(doc: object) -> CRS | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("crs"), dict):
        return None
    name = (doc["crs"].get("properties") or {}).get("name")
    try:
        return CRS.from_user_input(name) if name else None
    except Exception:  # pyproj raises CRSError for unknown names
        return None


def _looks_utm(features: list[Any]) -> bool:
    xs = []
    for f in features[:200]:
        lon, lat, _ = feature_point(f) if isinstance(f, dict) else (np.nan, np.nan, None)
        if not np.isnan(lon):
            xs.append((lon, lat))
    if not xs:
        return False
    x, y = np.median(np.array(xs), axis=0)
    return 400_000 <= x <= 800_000 and 4_900_000 <= y <= 5_200_000


def _transform_feature(feature: Any, transformer: Transformer) -> Any:
    if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
        return feature
    try:
        geom = shapely.geometry.shape(feature["geometry"])
        moved = shapely.transform(geom, lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1])))
        return {**feature, "geometry": shapely.geometry.mapping(moved)}
    except Exception:  # malformed geometry: left as is, feature_point reports it
        return feature


def feature_point(feature: dict[str, Any]) -> tuple[float, float, str | None]:
    """(lon, lat, warning) of a feature: the point itself, or a representative point of another geometry."""
    geom = feature.get("geometry")
    if not isinstance(geom, dict):
        return np.nan, np.nan, None
    coords = geom.get("coordinates")
    if geom.get("type") == "Point" and isinstance(coords, (list, tuple)) and len(coords) >= 2:
        return _to_float(coords[0]), _to_float(coords[1]), None
    try:
        shape = shapely.geometry.shape(geom)
    except Exception:  # shapely raises several types for malformed GeoJSON
        return np.nan, np.nan, f"geometria non leggibile ({geom.get('type')}): coordinate ignorate"
    if shape.is_empty:
        return np.nan, np.nan, None
    if shape.geom_type == "MultiPoint" and len(shape.geoms) == 1:
        return shape.geoms[0].x, shape.geoms[0].y, None
    pt = shape.representative_point()
    return pt.x, pt.y, f"geometria {shape.geom_type} invece di un punto: usato un punto interno"


def _to_float(value: object) -> float:
    try:
        return float(str(value).replace(",", ".")) if value is not None else np.nan
    except ValueError:
        return np.nan


def _raw_record(feature: Any) -> dict[str, Any]:
    if not isinstance(feature, dict):
        return {"feature": feature}
    props = feature.get("properties")
    raw = dict(props) if isinstance(props, dict) else {"properties": props}
    raw["geometry"] = feature.get("geometry")
    return raw


def map_properties(props: dict[str, Any], lon: float, lat: float, counts: dict[str, int]) -> dict[str, Any]:
    """One `places` row (before district assignment) from a feature's properties."""
    cod = clean_text(props.get("cod_prog"))
    name = clean_text(props.get("name"))
    address = clean_text(props.get("address"))
    condition = clean_text(props.get("condition"))
    condition_desc = clean_text(props.get("condition_desc"))
    project_cat = clean_text(props.get("category"))
    zona_raw = clean_text(props.get("zona"))
    zona = _zona(zona_raw)
    attributes: dict[str, Any] = {
        "cod_prog": cod,
        "typology": clean_text(props.get("typology")),
        "condition_desc": condition_desc,
        "zona": zona_raw,
        "category": project_cat,
        "panoId": clean_text(props.get("panoId")),
    }
    if cod is None:
        counts["added"] += 1
        coords = "" if np.isnan(lon) or np.isnan(lat) else f"{lon:.5f},{lat:.5f}"
        key = stable_key("molo", normalise_text(name or address), coords)
        attributes["origine"] = "aggiunto dal collettivo scandaglio/PianoTerra (non nella lista del Comune)"
    else:
        key = cod.upper()
        attributes["origine"] = "lista Comune di Milano 2016"
    if zona == PLACEHOLDER_ZONA:
        counts["zona_placeholder"] += 1
        attributes["zona_nota"] = "zona 10: segnaposto del collettivo, non un Municipio"
    cat_norm = (project_cat or "").lower()
    ownership = _OWNERSHIP.get(cat_norm)
    if cat_norm in _ASSUMED_PUBLIC:
        ownership = "public"
        counts["assumed_public"] += 1
        attributes["ownership_nota"] = "proprietà pubblica assunta (caserma/scalo ferroviario), non dichiarata dalla fonte"
    regeneration = (cod or "").upper().startswith("R") or (condition or "").lower() == "riqualificazione"
    return {
        "source_key": key,
        "name": name or address or condition_desc,
        "address": address,
        "lon": lon,
        "lat": lat,
        "municipio_file": zona if zona is not None and 1 <= zona <= 9 else None,
        "category": condition,
        "status": "regeneration" if regeneration else "degraded",
        "ownership": ownership,
        "area_m2": np.nan,
        "attributes": attributes_json(attributes),
        "geom_wkb": None,
        "condition_desc": condition_desc,
        "zona": zona,
    }


def _zona(value: str | None) -> int | None:
    if value is None:
        return None
    m = re.fullmatch(r"(?:zona\s*)?(\d{1,2})(?:\.0)?", value.strip(), re.IGNORECASE)
    return int(m.group(1)) if m else None


def _zona_mismatches(places: pd.DataFrame, frame: pd.DataFrame, raws: list[dict[str, Any]],
                     positions: list[int]) -> list[Reject]:
    """Warnings where the file's zona (1-9) differs from the Municipio of the position."""
    by_key = {k: i for i, k in enumerate(frame["source_key"])}
    out = []
    for key, mun, assignment in zip(places["source_key"], places["municipio"], places["assignment"], strict=True):
        i = by_key.get(key)
        if i is None or assignment != "point_in_polygon" or pd.isna(mun):
            continue
        zona = frame.at[i, "zona"]
        if zona is not None and not pd.isna(zona) and 1 <= int(zona) <= 9 and int(zona) != int(mun):
            out.append(Reject(positions[i], raws[i], f"zona nel file ({int(zona)}) diversa dal Municipio della "
                              f"posizione ({int(mun)}): usato quello della posizione", "warning"))
    return out


def _notes(frame: pd.DataFrame, places: pd.DataFrame, counts: dict[str, int]) -> list[str]:
    notes = [
        "lista del Comune del 2016 ricategorizzata da terzi: lo stato attuale dei luoghi può essere cambiato",
        "category = condizione originale ('condition'); status 'regeneration' per cod_prog R… o condizione "
        f"'Riqualificazione', altrimenti 'degraded' ({int((places['status'] == 'regeneration').sum())} regeneration, "
        f"{int((places['status'] == 'degraded').sum())} degraded caricati)",
    ]
    if counts["added"]:
        notes.append(f"{counts['added']} luoghi aggiunti dal collettivo senza cod_prog: chiave stabile "
                     "'molo-…' calcolata da nome e coordinate")
    if counts["zona_placeholder"]:
        notes.append(f"{counts['zona_placeholder']} luoghi con zona 10 (segnaposto del collettivo, non un Municipio): "
                     "Municipio ricavato dalla posizione")
    if counts["assumed_public"]:
        notes.append(f"proprietà pubblica assunta per {counts['assumed_public']} caserme/scali ferroviari "
                     "(categoria del collettivo, non dichiarata dalla fonte)")
    if counts["non_point"]:
        notes.append(f"{counts['non_point']} geometrie non puntuali ridotte a un punto interno")
    unknown = int(places["ownership"].isna().sum())
    notes.append(f"proprietà non indicata per {unknown} luoghi (categoria del collettivo assente o non di proprietà)")
    return notes


SOURCE = VacantBuildingsSource()
