"""Innovation hubs and districts (config/hubs.toml) -> places, theme 'hub'.

No publisher lists them: the configuration holds facts gathered from the programme's documents and
press pages, each with its source, date and trust label. `find` returns the configuration file
(whatever the raw folder; $OSSERVATORIO_HUBS_CONFIG names another one); `load` keeps the hubs placed in the build's territory:

- a placement with `level` and `area_id` must name an area the build loaded for that level, else
  the hub is a Reject with the reason; on the finest level it fills `district_id` (and `parent_id`
  from the boundaries), assignment 'file_id'; on the parent level `parent_id`, 'parent_only';
- a placement without level puts the hub in the territory but in none of its areas ('parent_only',
  both ids NULL), e.g. a Milan hub whose NIL and Municipio no fact gives.

Coordinates are never written (lon/lat NULL): none was obtained. Every row is 'derived'; the
facts go to `attributes` as JSON ({"facts": [...], "basis_it", "basis_en", "name_en", ...}).
`territories` lists the territories the file places a hub in: the pipeline skips the source,
with the reason, for any other territory (nothing to load is not a failure).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from etl.base import BuildContext, LoadResult, Reject, SourceError

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "hubs.toml"
CONFIG_ENV = "OSSERVATORIO_HUBS_CONFIG"  # another configuration file (the test suite points it to none)
FACT_TRUST = ("official", "derived")
PRECISIONS = ("day", "month", "year")  # how much of `date` the source states (2017-10-01 + month = October 2017)
UNITS = ("m2", "desks", "firms", "employees", "eur")
COLUMNS = {"area_m2": "number", "seats": "number", "started_on": "date"}  # places columns a fact may fill
CATEGORIES = ("innovation_pole", "innovation_district", "impresa40_hub")
HINT = "correggere config/hubs.toml (vedere il commento in cima al file)"


def read_config(path: Path) -> dict[str, Any]:
    """The parsed configuration; SourceError when it cannot be read or has no [[hubs]] list."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(path, f"configurazione degli hub non leggibile ({exc})", HINT) from exc
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(path, f"TOML non valido ({exc})", HINT) from exc
    hubs = doc.get("hubs")
    if not isinstance(hubs, list) or not all(isinstance(h, dict) for h in hubs):
        raise SourceError(path, "manca la lista [[hubs]] degli hub", HINT)
    for number, hub in enumerate(hubs, start=1):
        places = hub.get("places", [])
        if not isinstance(places, list) or not all(isinstance(p, dict) and isinstance(p.get("territory"), str)
                                                   for p in places):
            raise SourceError(path, f"hub {number} ({hub.get('id')!r}): 'places' deve essere una lista [[hubs.places]] "
                                    "con territory", HINT, row=number)
    return doc


def territories_in(path: Path) -> tuple[str, ...]:
    """Ids of the territories the file places at least one hub in (file order)."""
    doc = read_config(path)
    ids = [str(p.get("territory")) for h in doc["hubs"] for p in h.get("places", []) if isinstance(p, dict)]
    return tuple(dict.fromkeys(ids))


def _text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _fact(raw: Any, number: int) -> tuple[dict[str, Any] | None, str | None]:
    """(fact as stored, None) or (None, why it is refused)."""
    if not isinstance(raw, dict):
        return None, f"fatto {number}: non è una tabella [[hubs.facts]]"
    missing = [k for k in ("id", "text_it", "text_en", "source") if _text(raw, k) is None]
    if missing:
        return None, f"fatto {number}: mancano {', '.join(missing)}"
    fid = _text(raw, "id")
    if _text(raw, "url") is None and _text(raw, "document") is None:
        return None, f"fatto '{fid}': manca dove lo dice la fonte (url o document)"
    trust = raw.get("trust")
    if trust not in FACT_TRUST:
        return None, f"fatto '{fid}': trust {trust!r} non ammesso (usare {' o '.join(FACT_TRUST)})"
    value, unit = raw.get("value"), raw.get("unit")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        return None, f"fatto '{fid}': value {value!r} non è un numero non negativo"
    if (value is None) != (unit is None):
        return None, f"fatto '{fid}': value e unit vanno indicati insieme"
    if unit is not None and unit not in UNITS:
        return None, f"fatto '{fid}': unit {unit!r} non ammessa (usare {', '.join(UNITS)})"
    when = raw.get("date")
    if when is not None and not isinstance(when, date):
        return None, f"fatto '{fid}': date {when!r} non è una data TOML (AAAA-MM-GG)"
    precision = _text(raw, "date_precision") or ("day" if when is not None else None)
    if precision is not None and (when is None or precision not in PRECISIONS):
        return None, f"fatto '{fid}': date_precision {precision!r} senza data o non ammessa (usare {', '.join(PRECISIONS)})"
    column = raw.get("column")
    if column == "started_on" and precision != "day":
        return None, f"fatto '{fid}': una data al {precision} non riempie started_on (sembrerebbe un giorno esatto)"
    if column is not None:
        if column not in COLUMNS:
            return None, f"fatto '{fid}': column {column!r} non ammessa (usare {', '.join(COLUMNS)})"
        if (COLUMNS[column] == "number" and value is None) or (COLUMNS[column] == "date" and when is None):
            return None, f"fatto '{fid}': column {column} senza il valore che la riempie"
    return {
        "id": fid, "text_it": _text(raw, "text_it"), "text_en": _text(raw, "text_en"),
        "value": value, "unit": unit, "source": _text(raw, "source"), "url": _text(raw, "url"),
        "document": _text(raw, "document"), "date": when.isoformat() if isinstance(when, date) else None,
        "date_precision": precision,
        "trust": trust, "column": column,
    }, None


def _placement(hub: dict[str, Any], ctx: BuildContext) -> tuple[dict[str, Any] | None, str | None]:
    """Where the hub sits in ctx's territory: (district_id, parent_id, assignment, basis) or why not."""
    profile = ctx.territory
    mine = [p for p in hub.get("places", []) if isinstance(p, dict) and p.get("territory") == profile.id]
    if len(mine) > 1:
        return None, f"{len(mine)} collocazioni nel territorio {profile.id}: ne serve una"
    place = mine[0]
    basis = {"basis_it": _text(place, "basis_it"), "basis_en": _text(place, "basis_en")}
    if basis["basis_it"] is None or basis["basis_en"] is None:
        return None, "collocazione senza basis_it / basis_en (perché l'hub è in quell'area)"
    level, area = place.get("level"), place.get("area_id")
    if level is None and area is None:
        return {"district_id": None, "parent_id": None, "assignment": "parent_only", **basis}, None
    if level is None or isinstance(area, bool) or not isinstance(area, int):
        return None, "collocazione con level senza area_id intero (o area_id senza level)"
    spec = profile.level(str(level))
    if spec is None:
        return None, f"il territorio {profile.name_it} non ha il livello '{level}'"
    areas = ctx.boundaries(spec.id)
    if areas is None:
        return None, f"confini del livello {spec.label_it} non caricati: l'area {area} non è verificabile"
    if area not in ctx.ids(spec.id):
        return None, (f"{spec.label_it} {area} non è tra le aree del territorio {profile.name_it} "
                      f"({len(areas)} {spec.plural_it} caricati)")
    if spec.rank == 0:
        parent = None
        if "parent_id" in areas.columns:
            match = areas.loc[areas["id"].astype("int64") == area, "parent_id"]
            parent = None if match.empty or pd.isna(match.iloc[0]) else int(match.iloc[0])
        return {"district_id": area, "parent_id": parent, "assignment": "file_id", **basis}, None
    return {"district_id": None, "parent_id": area, "assignment": "parent_only", **basis}, None


def hub_rows(doc: dict[str, Any], ctx: BuildContext) -> tuple[list[dict[str, Any]], list[Reject], int]:
    """(places rows, rejects, hubs read) for the hubs placed in ctx's territory."""
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    read = 0
    seen: set[str] = set()
    for number, hub in enumerate(doc["hubs"], start=1):
        places = [p for p in hub.get("places", []) if isinstance(p, dict)]
        if not any(p.get("territory") == ctx.territory.id for p in places):
            continue
        read += 1
        raw = {k: hub.get(k) for k in ("id", "name_it", "category")}

        def refuse(reason: str, raw: dict[str, Any] = raw, number: int = number) -> None:
            rejects.append(Reject(number, raw, f"hub '{raw.get('id')}': {reason}"))

        hid, name = _text(hub, "id"), _text(hub, "name_it")
        if hid is None or name is None or _text(hub, "name_en") is None:
            refuse("mancano id, name_it o name_en")
            continue
        if hid in seen:
            refuse("id ripetuto nel file")
            continue
        seen.add(hid)
        category = hub.get("category")
        if category not in CATEGORIES:
            refuse(f"category {category!r} non ammessa (usare {', '.join(CATEGORIES)})")
            continue
        if any(k in hub for k in ("lon", "lat", "coordinates")):
            refuse("coordinate nel file: nessuna fonte le ha fornite, non vanno scritte")
            continue
        facts_raw = hub.get("facts", [])
        if not isinstance(facts_raw, list) or not facts_raw:
            refuse("nessun fatto [[hubs.facts]]: un hub senza fatti e fonti non si carica")
            continue
        facts, problems = [], []
        for i, fraw in enumerate(facts_raw, start=1):
            fact, why = _fact(fraw, i)
            (facts.append(fact) if fact is not None else problems.append(why))
        if problems:
            refuse("; ".join(str(p) for p in problems))
            continue
        where, why = _placement(hub, ctx)
        if where is None:
            refuse(str(why))
            continue
        filled: dict[str, Any] = {}
        for fact in facts:
            column = fact["column"]
            if column is not None and column not in filled:
                filled[column] = date.fromisoformat(fact["date"]) if COLUMNS[column] == "date" else fact["value"]
        attributes = {"name_en": _text(hub, "name_en"), "basis_it": where["basis_it"], "basis_en": where["basis_en"],
                      "facts": facts, "config_version": doc.get("version")}
        rows.append({
            "theme": "hub", "source_key": hid, "name": name, "address": _text(hub, "address"),
            "lon": None, "lat": None, "district_id": where["district_id"], "parent_id": where["parent_id"],
            "assignment": where["assignment"], "category": category, "status": None,
            "area_m2": filled.get("area_m2"), "seats": filled.get("seats"), "started_on": filled.get("started_on"),
            "attributes": json.dumps(attributes, ensure_ascii=False),
        })
    return rows, rejects, read


@dataclass(frozen=True)
class HubsSource:
    source_id: str = "hubs"
    title: str = "Poli e distretti dell'innovazione (fatti raccolti da documenti pubblici)"
    dataset: str | None = None
    licence: str = "fatti da documenti e pagine pubbliche citati per ciascun fatto (nessun file di dati)"
    table: str = "places"
    themes: tuple[str, ...] = ("hub",)
    file_hint: str = "config/hubs.toml (configurazione del progetto, non un file della cartella dei dati)"
    config: Path | None = None  # None: $OSSERVATORIO_HUBS_CONFIG, else config/hubs.toml

    @property
    def path(self) -> Path:
        return Path(self.config or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)

    @property
    def territories(self) -> tuple[str, ...] | None:
        """Territories with at least one hub (the pipeline skips the others); None when unreadable (load says why)."""
        try:
            return territories_in(self.path) if self.path.is_file() else None
        except SourceError:
            return None

    def find(self, raw_dir: Path) -> list[Path]:
        return [self.path] if self.path.is_file() else []

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        doc = read_config(path)
        rows, rejects, read = hub_rows(doc, ctx)
        notes = [f"hub collocati nel territorio {ctx.territory.name_it}: {len(rows)}, senza coordinate (nessuna fonte "
                 "le fornisce): sulle mappe solo per area, non come punti"]
        frame = pd.DataFrame(rows, columns=["theme", "source_key", "name", "address", "lon", "lat", "district_id",
                                            "parent_id", "assignment", "category", "status", "area_m2", "seats",
                                            "started_on", "attributes"])
        for column in ("district_id", "parent_id", "seats"):
            frame[column] = frame[column].astype("Int64")
        for column in ("lon", "lat", "area_m2"):
            frame[column] = frame[column].astype("float64")
        return LoadResult(table="places", frame=frame, rows_read=read, trust="derived", rejects=rejects, notes=notes,
                          file_format="toml", encoding="utf-8")


SOURCE = HubsSource()
