"""Buildings and areas in a state of degradation and abandonment (Comune di Milano list, 2016), secondary source.

The file is the GeoJSON that the scandaglio/PianoTerra collective made from the Comune's
Google My Map (`scandaglio/molo`, `_data/places.json`): 192 points, 163 with code A… (degraded),
17 R… (under regeneration) and 12 without a code that the collective added (railway yards and
barracks). See SOURCES.md, section 4. A third-party copy of a 2016 list: trust 'derived'.

The official list (ds503, else the geoportale export) is loaded first and recorded in
`ctx.extra[vacant_common.OFFICIAL_LIST_KEY]`; a building it already counts is never counted
twice: same code, or same address (street words and house number) within SAME_BUILDING_M, is a
'warning' reject ("stesso edificio già caricato da ds503 …"); a code the official files show as
dropped from ds503 is rejected as not current. Other codes load as derived.

Mapping into `places` (theme 'vacant'):
- source_key = cod_prog; for the added places a stable key from name and coordinates, with
  attributes `added_by` = 'scandaglio/PianoTerra';
- category = former use from `typology` (shared vocabulary `vacant_common.FORMER_USES`), never the
  condition; the raw `condition` goes to attributes;
- status 'regeneration' (R… or condition 'Riqualificazione'), 'degraded' for the Comune's coded
  places; for the added places 'vacant' only when the condition says 'Inutilizzato', else NULL;
- ownership is NOT set: the collective's `category` (pubblico/privato, caserma/scalo) is its
  own classification, kept in attributes as `ownership_assumed` = true (the flag the app and the
  indicators read), `ownership_assumed_value` ('public'/'private') and `ownership_assumed_from`;
- typology, condition, condition_desc, zona, category, panoId, cod_prog go into `attributes`.
  The old `zona` 1-9 equals today's Municipio; 10 is the collective's placeholder.
"""

from __future__ import annotations

import datetime as dt
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
from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust, sha256_of
from etl.places import PLACE_COLUMNS, finalise_places, level_ids, mark_outside_only, normalise_text
from etl.sources.vacant_common import (
    OFFICIAL_LIST_KEY,
    OfficialList,
    attributes_json,
    clean_text,
    distance_m,
    former_use,
    remap_rejects,
    separate_far_homonyms,
    stable_key,
)

THEME = "vacant"
PLACEHOLDER_ZONA = 10
_NAME_RX = re.compile(r"(edifici.*degrado|degrado.*edifici|abbandon)", re.IGNORECASE)
_OWNERSHIP = {"pubblico": "public", "pubblica": "public", "privato": "private", "privata": "private",
              "caserma": "public", "scalo": "public"}
ADDED_BY = "scandaglio/PianoTerra"
SAME_BUILDING_M = 100.0  # same address this close to an official building: the same building
NEAR_BUILDING_M = 50.0  # a different address this close: loaded, with a warning
REFERENCE_DATE = dt.date(2016, 1, 1)  # the list is "del 2016": only the year is known
KNOWN_COPIES = {
    "febc113b3f91a54a1383c64e648420cf798d0da892eee9e733235409f803b383":
        "copia da GitHub scandaglio/molo @ f278bee66182da2a001d56b69591ca27b4308c4c (2017-01-29), _data/places.json; "
        "esportazione della Google My Map del Comune (lista 2016), ricategorizzata dal collettivo scandaglio/PianoTerra",
}


@dataclass(frozen=True)
class VacantBuildingsSource:
    """The Comune's 2016 list of degraded/abandoned buildings, as re-published by scandaglio/molo."""

    source_id: str = "vacant_buildings"
    title: str = "Edifici e aree in stato di degrado e abbandono (lista Comune di Milano 2016, via scandaglio/molo)"
    dataset: str | None = None  # never on the open-data portal
    licence: str = "non indicata (repository GPL-3.0; l'elenco 2016 del Comune non ha licenza aperta esplicita)"
    attribution: str = "Comune di Milano (lista 2016); elaborazione scandaglio/PianoTerra (scandaglio/molo)"
    table: str = "places"
    themes: tuple[str, ...] = ("vacant",)
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
        """Read the FeatureCollection, drop what the official list already counts, assign NIL/Municipio."""
        features, crs_label, notes = read_point_features(path)
        rows: list[dict[str, Any]] = []
        raws: list[dict[str, Any]] = []
        positions: list[int] = []
        rejects: list[Reject] = []
        counts = {"added": 0, "assumed": 0, "zona_placeholder": 0, "non_point": 0, "same_code": 0, "same_address": 0,
                  "not_current": 0, "unknown_use": 0}
        official = ctx.extra.get(OFFICIAL_LIST_KEY)
        official = official if isinstance(official, OfficialList) else None
        # The list's zona is Milan's Municipio number: used only where the territory has Milan's Municipi.
        municipi = level_ids(ctx, "municipio") if ctx.parent_level == "municipio" else set()
        for i, feature in enumerate(features, start=1):
            raw = _raw_record(feature)
            if not isinstance(feature, dict) or not isinstance(feature.get("properties") or {}, dict):
                rejects.append(Reject(i, raw, "elemento non valido: non è una Feature GeoJSON"))
                continue
            lon, lat, geom_note = feature_point(feature)
            if geom_note:
                counts["non_point"] += 1
                rejects.append(Reject(i, raw, geom_note, "warning"))
            row = map_properties(feature.get("properties") or {}, lon, lat, counts, municipi)
            if official is not None:
                verdict = official_verdict(row, official)
                if verdict is not None:
                    kind, action, reason = verdict
                    counts[kind] += 1
                    rejects.append(Reject(i, raw, reason, action))  # type: ignore[arg-type]
                    continue
            rows.append(row)
            raws.append(raw)
            positions.append(i)
        if not rows and official is not None and any(r.action == "warning" for r in rejects):
            # Every place is already counted by the official list: nothing new, not a broken file.
            rejects.sort(key=lambda r: (r.row_number or 0))
            notes.append(f"tutti i luoghi sono già nell'elenco ufficiale ({official.label}) o scartati: nessuna riga nuova")
            return LoadResult(table="places", frame=pd.DataFrame(columns=PLACE_COLUMNS), rows_read=len(features),
                              trust="derived", rejects=rejects, notes=notes, crs=crs_label, encoding="utf-8",
                              file_format="geojson", reference_date=REFERENCE_DATE, attribution=self.attribution,
                              origin=_origin(path))
        if not rows:
            raise SourceError(path, "nessun luogo utilizzabile nel file", "controllare che sia il GeoJSON della lista")
        frame = pd.DataFrame(rows)
        frame, homonyms = separate_far_homonyms(frame, raws, detail_col="condition_desc")
        helper_columns = ["condition_desc", "zona", "near_note", "attributes_code"]
        places, place_rejects = finalise_places(frame.drop(columns=helper_columns), ctx, raws, THEME)
        rejects += remap_rejects(homonyms + place_rejects, positions)
        rejects += _zona_mismatches(places, frame, raws, positions, municipi)
        rejects += [Reject(positions[j], raws[j], note, "warning") for j, note in enumerate(frame["near_note"])
                    if isinstance(note, str) and note and frame.at[j, "source_key"] in set(places["source_key"])]
        rejects.sort(key=lambda r: (r.row_number or 0))

        notes += _notes(frame, places, counts, official, len(features), sum(r.action == "rejected" for r in rejects))
        trust: Trust = "derived"
        result = LoadResult(table="places", frame=places, rows_read=len(features), trust=trust, rejects=rejects,
                            notes=notes, crs=crs_label, encoding="utf-8", file_format="geojson",
                            reference_date=REFERENCE_DATE, attribution=self.attribution, origin=_origin(path))
        return mark_outside_only(result, ctx, path, rows=len(rows))


def _same_address(a: str, b: str) -> bool:
    """Same house number(s) and the street words of one contained in the other's (word order ignored)."""
    ta, tb = a.split(), b.split()
    na, nb = {t for t in ta if t.isdigit()}, {t for t in tb if t.isdigit()}
    wa, wb = {t for t in ta if not t.isdigit()}, {t for t in tb if not t.isdigit()}
    if not na or not nb or not (na & nb) or not wa or not wb:
        return False
    return wa <= wb or wb <= wa


def official_verdict(row: dict[str, Any], official: OfficialList) -> tuple[str, str, str] | None:
    """(counter, action, reason) when the official list already counts this place or dropped it; None to load it.

    Sets row['near_note'] when an official building with another address is very close.
    """
    code = str(row["attributes_code"] or "")
    label = official.label
    if code and code in official.loaded:
        return "same_code", "warning", f"stesso edificio già caricato da {label} (codice {code}): non contato due volte"
    if code and code in official.dropped:
        return "not_current", "rejected", f"{code}: {official.dropped[code]}; non contato come attuale"
    if code and code in official.listed:
        return "same_code", "warning", (f"codice {code} presente in {label} ma scartato lì (vedi gli scarti di {label}): "
                                        "non contato due volte")
    lon, lat = row["lon"], row["lat"]
    if np.isnan(lon) or np.isnan(lat):
        return None
    address = normalise_text(row["address"])
    best: tuple[float, str] | None = None
    for other, (olon, olat, oaddr) in official.loaded.items():
        if np.isnan(olon):
            continue
        d = distance_m(lon, lat, olon, olat)
        if d <= SAME_BUILDING_M and address and oaddr and _same_address(address, oaddr):
            own = f"; codice 2016 {code}" if code else ""
            return "same_address", "warning", (f"stesso edificio già caricato da {label} (codice {other}, stesso indirizzo "
                                               f"a {d:.0f} m{own}): non contato due volte")
        if d <= NEAR_BUILDING_M and (best is None or d < best[0]):
            best = (d, other)
    if best is not None:
        row["near_note"] = (f"a {best[0]:.0f} m dall'edificio {best[1]} di {label} con un altro indirizzo: "
                            "caricato, possibile stesso edificio da verificare")
    return None


def _origin(path: Path) -> str | None:
    try:
        return KNOWN_COPIES.get(sha256_of(path))
    except OSError:
        return None


def read_point_features(path: Path) -> tuple[list[Any], str, list[str]]:
    """The features of a GeoJSON FeatureCollection, with coordinates brought to lon/lat WGS84.

    A declared non-WGS84 `crs` member is honoured (points re-projected); without one, the
    coordinates are taken as lon/lat (RFC 7946) unless they look like UTM 32N (northern Italy).
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


def map_properties(props: dict[str, Any], lon: float, lat: float, counts: dict[str, int],
                   municipi: set[int] | frozenset[int] = frozenset()) -> dict[str, Any]:
    """One `places` row (before district assignment) from a feature's properties."""
    cod = clean_text(props.get("cod_prog"))
    cod = cod.upper() if cod else None
    name = clean_text(props.get("name"))
    address = clean_text(props.get("address"))
    condition = clean_text(props.get("condition"))
    condition_desc = clean_text(props.get("condition_desc"))
    project_cat = clean_text(props.get("category"))
    typology = clean_text(props.get("typology"))
    zona_raw = clean_text(props.get("zona"))
    zona = _zona(zona_raw)
    category, known = former_use(typology)
    if not known:
        counts["unknown_use"] += 1
    attributes: dict[str, Any] = {
        "cod_prog": cod,
        "typology": typology,
        "condition": condition,
        "condition_desc": condition_desc,
        "zona": zona_raw,
        "category": project_cat,
        "panoId": clean_text(props.get("panoId")),
    }
    if cod is None:
        counts["added"] += 1
        coords = "" if np.isnan(lon) or np.isnan(lat) else f"{lon:.5f},{lat:.5f}"
        key = stable_key("molo", normalise_text(name or address), coords)
        attributes["added_by"] = ADDED_BY
        attributes["origine"] = "aggiunto dal collettivo scandaglio/PianoTerra (non nella lista del Comune)"
    else:
        key = cod
        attributes["origine"] = "lista Comune di Milano 2016"
    if zona == PLACEHOLDER_ZONA:
        counts["zona_placeholder"] += 1
        attributes["zona_nota"] = "zona 10: segnaposto del collettivo, non un Municipio"
    assumed = _OWNERSHIP.get((project_cat or "").lower())
    if assumed:
        counts["assumed"] += 1
        attributes["ownership_assumed"] = True
        attributes["ownership_assumed_value"] = assumed
        attributes["ownership_assumed_from"] = f"categoria del collettivo «{project_cat}» (non una proprietà dichiarata)"
    cond = (condition or "").lower()
    if (cod or "").startswith("R") or cond == "riqualificazione":
        status: str | None = "regeneration"
    elif cod is not None:
        status = "degraded"
    else:
        status = "vacant" if cond in ("inutilizzato", "inutilizzo", "non utilizzato") else None
    return {
        "source_key": key,
        "name": name or address or condition_desc,
        "address": address,
        "lon": lon,
        "lat": lat,
        "municipio_file": zona if zona is not None and zona in municipi else None,
        "category": category,
        "status": status,
        "ownership": None,
        "area_m2": np.nan,
        "attributes": attributes_json(attributes),
        "geom_wkb": None,
        "condition_desc": condition_desc,
        "zona": zona,
        "near_note": None,
        "attributes_code": cod,
    }


def _zona(value: str | None) -> int | None:
    if value is None:
        return None
    m = re.fullmatch(r"(?:zona\s*)?(\d{1,2})(?:\.0)?", value.strip(), re.IGNORECASE)
    return int(m.group(1)) if m else None


def _zona_mismatches(places: pd.DataFrame, frame: pd.DataFrame, raws: list[dict[str, Any]],
                     positions: list[int], municipi: set[int]) -> list[Reject]:
    """Warnings where the file's zona (a Municipio id in `municipi`) differs from the Municipio of the position."""
    by_key = {k: i for i, k in enumerate(frame["source_key"])}
    out = []
    for key, mun, assignment in zip(places["source_key"], places["parent_id"], places["assignment"], strict=True):
        i = by_key.get(key)
        if i is None or assignment != "point_in_polygon" or pd.isna(mun):
            continue
        zona = frame.at[i, "zona"]
        if zona is not None and not pd.isna(zona) and int(zona) in municipi and int(zona) != int(mun):
            out.append(Reject(positions[i], raws[i], f"zona nel file ({int(zona)}) diversa dal Municipio della "
                              f"posizione ({int(mun)}): usato quello della posizione", "warning"))
    return out


def _notes(frame: pd.DataFrame, places: pd.DataFrame, counts: dict[str, int], official: OfficialList | None,
           read: int, rejected: int) -> list[str]:
    notes = [
        "lista del Comune del 2016 ricategorizzata da terzi (fonte secondaria): lo stato attuale dei luoghi può essere "
        "cambiato; reference_date 2016-01-01 perché è noto solo l'anno",
        "category = uso precedente ('typology', vocabolario comune con ds503), non la condizione (negli attributi); "
        f"status: {int((places['status'] == 'regeneration').sum())} regeneration, "
        f"{int((places['status'] == 'degraded').sum())} degraded, {int((places['status'] == 'vacant').sum())} vacant, "
        f"{int(places['status'].isna().sum())} non indicati",
    ]
    if official is None:
        notes.append("nessun elenco ufficiale (ds503 o geoportale) caricato prima: nessun controllo dei doppioni con "
                     "l'elenco del Comune")
    else:
        avoided = counts["same_code"] + counts["same_address"]
        notes.append(f"doppioni evitati: {avoided} luoghi già contati da {official.label} ({counts['same_code']} per "
                     f"codice, {counts['same_address']} per indirizzo e posizione con codice diverso), registrati come "
                     f"avvisi e non caricati; codici non più nell'elenco ds503, scartati: {counts['not_current']}; "
                     f"{read} letti = {len(places)} caricati + {avoided} doppioni + {rejected} scartati")
        coded = int((~places["source_key"].str.startswith("molo-")).sum())
        notes.append(f"{coded} codici della lista 2016 assenti dall'elenco ufficiale caricati come derived (possono non "
                     "essere più attuali)")
    if counts["added"]:
        notes.append(f"{counts['added']} luoghi aggiunti dal collettivo senza cod_prog (attributes added_by = "
                     f"'{ADDED_BY}'): chiave stabile 'molo-…' calcolata da nome e coordinate")
    if counts["zona_placeholder"]:
        notes.append(f"{counts['zona_placeholder']} luoghi con zona 10 (segnaposto del collettivo, non un Municipio): "
                     "Municipio ricavato dalla posizione")
    notes.append(f"proprietà (ownership) non impostata: per {counts['assumed']} luoghi la categoria del collettivo "
                 "(pubblico/privato, caserma/scalo) è solo un'ipotesi (attributes.ownership_assumed, valore in "
                 "ownership_assumed_value)")
    if counts["unknown_use"]:
        notes.append(f"{counts['unknown_use']} tipologie non riconosciute: category 'altro'")
    if counts["non_point"]:
        notes.append(f"{counts['non_point']} geometrie non puntuali ridotte a un punto interno")
    return notes


SOURCE = VacantBuildingsSource()
