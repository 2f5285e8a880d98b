"""A city's own census of places (makerspaces, coworking, vacant spaces) loaded without code.

Each census file is declared in a TOML file (default `config/census.toml`; the environment
variable OSSERVATORIO_CENSUS_CONFIG points to another one): file-name pattern, theme, trust
label, licence and the mapping from our fields to the file's column headers. Columns not
mapped go to `attributes`. Nothing here assumes Milan's columns: a Cremona list with
'Denominazione', 'X', 'Y' in UTM 32N is described by its own entry (see the shipped example).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from etl.base import BuildContext, LoadResult, SourceError, Trust
from etl.readers import normalise_header
from etl.sources.point_files import (
    FIELD_LABELS,
    PointTable,
    build_places,
    candidate_files,
    file_matches,
    read_point_file,
)

CONFIG_ENV = "OSSERVATORIO_CENSUS_CONFIG"
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "census.toml"
THEMES = ("makerspace", "coworking", "vacant")
TRUSTS = ("official", "derived", "demo")
MAPPABLE = ("source_key", "name", "address", "lon", "lat", "location", "nil_id_file", "municipio_file",
            "district_id_file", "parent_id_file", "area_m2", "seats", "category", "status", "ownership")
# Fields that place a row without lon/lat (area ids of a level, or a "(lat, lon)" text).
LOCATING = frozenset({"location", "nil_id_file", "municipio_file", "district_id_file", "parent_id_file"})
VALUE_MAPPABLE = ("category", "status", "ownership")
SUFFIXES = (".csv", ".xlsx", ".xlsm", ".xls")
_ENTRY_KEYS = {"id", "title", "pattern", "theme", "trust", "licence", "license", "sheet", "header_row", "crs",
               "columns", "values"}


@dataclass(frozen=True)
class CensusEntry:
    """One configured census file family."""

    id: str
    title: str
    patterns: tuple[str, ...]
    theme: str
    trust: Trust
    licence: str
    columns: dict[str, tuple[str, ...]]
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    sheet: str | int | None = None
    header_row: int = 1
    crs: str | None = None


def config_path(explicit: Path | None = None) -> tuple[Path, bool]:
    """(path, chosen explicitly): the argument, else $OSSERVATORIO_CENSUS_CONFIG, else the default."""
    if explicit is not None:
        return Path(explicit), True
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env), True
    return DEFAULT_CONFIG, False


def load_config(path: Path | None = None) -> list[CensusEntry]:
    """The census entries of a config file; [] when the default file does not exist."""
    cfg, explicit = config_path(path)
    if not cfg.is_file():
        if explicit:
            raise SourceError(cfg, "file di configurazione dei censimenti non trovato",
                              f"controllare il percorso indicato in {CONFIG_ENV}")
        return []
    try:
        data = tomllib.loads(cfg.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(cfg, f"configurazione dei censimenti non leggibile ({exc})",
                          "correggere la sintassi TOML (virgolette, parentesi quadre)") from exc
    entries = data.get("census", [])
    if not isinstance(entries, list):
        raise SourceError(cfg, "'census' deve essere una lista di voci [[census]]", "vedere l'esempio in config/census.toml")
    return [_entry(cfg, i + 1, e) for i, e in enumerate(entries)]


def _entry(cfg: Path, number: int, raw: Any) -> CensusEntry:
    def fail(problem: str, hint: str = "vedere l'esempio commentato in config/census.toml") -> SourceError:
        return SourceError(cfg, f"voce [[census]] n. {number}: {problem}", hint)

    if not isinstance(raw, dict):
        raise fail("non è una tabella")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise fail(f"chiavi sconosciute: {', '.join(unknown)} (ammesse: {', '.join(sorted(_ENTRY_KEYS))})")
    patterns = raw.get("pattern")
    patterns = [patterns] if isinstance(patterns, str) else patterns
    if not patterns or not all(isinstance(p, str) and p.strip() for p in patterns):
        raise fail("manca 'pattern' (es. \"censimento_*.xlsx\" o una lista di modelli)")
    theme = raw.get("theme")
    if theme not in THEMES:
        raise fail(f"'theme' = {theme!r} non valido (ammessi: {', '.join(THEMES)})")
    trust = raw.get("trust", "derived")
    if trust not in TRUSTS:
        raise fail(f"'trust' = {trust!r} non valido (ammessi: {', '.join(TRUSTS)})")
    columns_raw = raw.get("columns")
    if not isinstance(columns_raw, dict) or not columns_raw:
        raise fail("manca la tabella [census.columns] con la corrispondenza campo = \"intestazione del file\"")
    columns: dict[str, tuple[str, ...]] = {}
    for key, value in columns_raw.items():
        if key not in MAPPABLE:
            raise fail(f"campo {key!r} sconosciuto in [census.columns] (ammessi: {', '.join(MAPPABLE)}); "
                       "le colonne non elencate finiscono comunque negli attributi")
        names = [value] if isinstance(value, str) else value
        if not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise fail(f"[census.columns] {key}: serve il nome della colonna (o una lista di nomi alternativi)")
        columns[key] = tuple(names)
    if "name" not in columns:
        raise fail("[census.columns] deve indicare almeno la colonna 'name'")
    if ("lon" in columns) != ("lat" in columns):
        raise fail("[census.columns] indica solo una tra 'lon' e 'lat': servono entrambe")
    if not (columns.keys() & {"lon", *LOCATING}):
        raise fail("[census.columns] deve indicare come collocare i luoghi: 'lon' e 'lat', oppure "
                   "'nil_id_file', 'municipio_file', 'district_id_file' o 'parent_id_file'")
    values_raw = raw.get("values", {})
    if not isinstance(values_raw, dict) or not all(isinstance(v, dict) for v in values_raw.values()):
        raise fail("[census.values.<campo>] deve contenere coppie \"valore nel file\" = \"valore\"")
    values: dict[str, dict[str, str]] = {}
    for key, mapping in values_raw.items():
        if key not in VALUE_MAPPABLE:
            raise fail(f"[census.values.{key}]: ricodifica ammessa solo per {', '.join(VALUE_MAPPABLE)}")
        if key == "ownership" and not set(mapping.values()) <= {"public", "private"}:
            raise fail("[census.values.ownership]: i valori ammessi sono \"public\" e \"private\"")
        values[key] = {str(a): str(b) for a, b in mapping.items()}
    sheet = raw.get("sheet")
    if sheet is not None and not isinstance(sheet, (str, int)):
        raise fail("'sheet' deve essere il nome del foglio o il suo numero (0 = primo)")
    header_row = raw.get("header_row", 1)
    if not isinstance(header_row, int) or header_row < 1:
        raise fail("'header_row' deve essere un numero di riga da 1 in su")
    crs = raw.get("crs")
    if crs is not None and not isinstance(crs, str):
        raise fail("'crs' deve essere un testo come \"EPSG:32632\"")
    licence = raw.get("licence", raw.get("license"))
    entry_id = str(raw.get("id") or f"censimento_{number}")
    return CensusEntry(
        id=entry_id, title=str(raw.get("title") or entry_id), patterns=tuple(patterns), theme=theme,
        trust=cast(Trust, trust), licence=str(licence) if licence else "", columns=columns, values=values,
        sheet=sheet, header_row=header_row,
        crs=None if crs is None or crs.strip().upper() in ("EPSG:4326", "WGS84") else crs.strip(),
    )


def claimed_by_census(path: Path, raw_dir: Path | None = None) -> bool:
    """Whether a configured census entry takes this file (other sources then leave it alone)."""
    try:
        entries = load_config()
    except SourceError:
        return False  # the census source itself reports the broken config
    return any(file_matches(path, raw_dir, list(e.patterns)) for e in entries)


@dataclass(frozen=True)
class CensusSource:
    source_id: str = "census"
    title: str = "Censimento comunale (file descritti in config/census.toml)"
    dataset: str | None = None
    licence: str = "indicata per ogni file in config/census.toml (vedere le note)"
    table: str = "places"
    themes: tuple[str, ...] = ("makerspace", "coworking", "vacant", "firm")
    single: bool = False  # every configured census file found is loaded
    config: Path | None = None  # None: $OSSERVATORIO_CENSUS_CONFIG, else config/census.toml

    def find(self, raw_dir: Path) -> list[Path]:
        entries = load_config(self.config)
        files = candidate_files(raw_dir, SUFFIXES)
        out: list[Path] = []
        for entry in entries:
            out += [p for p in files if p not in out and file_matches(p, raw_dir, list(entry.patterns))]
        return out

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        cfg, _ = config_path(self.config)
        # `load` does not know the raw folder: try the pattern against every parent folder.
        entry = next((e for e in load_config(self.config)
                      if any(file_matches(path, parent, list(e.patterns)) for parent in path.parents)), None)
        if entry is None:
            raise SourceError(path, f"nessuna voce di {cfg} corrisponde al nome del file",
                              "aggiungere una voce [[census]] con un 'pattern' adatto")
        table = read_point_file(path, sheet=entry.sheet, header_row=entry.header_row)
        columns, resolve_notes = _resolve(path, cfg, entry, table)
        notes = [f"censimento '{entry.id}': {entry.title} (configurazione {cfg})",
                 f"licenza: {entry.licence or 'non indicata in configurazione'}", *resolve_notes]
        return build_places(path, table, columns, ctx, entry.theme, entry.trust, value_maps=entry.values,
                            crs=entry.crs, notes=notes)


def _resolve(path: Path, cfg: Path, entry: CensusEntry, table: PointTable) -> tuple[dict[str, str], list[str]]:
    """(our field -> normalised column of the file, notes), as configured.

    The name column and at least one configured location column must be in the file
    (SourceError naming what is missing); other configured columns that are absent leave
    their field empty, with a note.
    """
    found: dict[str, str] = {}
    missing: dict[str, str] = {}
    for fld, names in entry.columns.items():
        column = next((normalise_header(n) for n in names if normalise_header(n) in table.frame.columns), None)
        if column is None:
            missing[fld] = f"{fld} ({FIELD_LABELS.get(fld, fld)}) = {' | '.join(repr(n) for n in names)}"
        else:
            found[fld] = column
    located = ("lon" in found and "lat" in found) or bool(found.keys() & LOCATING)
    if "name" not in found or not located:
        headers = ", ".join(repr(h) for h in table.original_columns)
        problem = "colonna del nome" if "name" not in found else "colonne per collocare i luoghi"
        raise SourceError(path, f"{problem} indicate in configurazione ('{entry.id}') non presenti nel file: "
                          f"{'; '.join(missing.values())}; intestazioni trovate: {headers}",
                          f"correggere [census.columns] in {cfg} oppure l'intestazione del file")
    notes = []
    if missing:
        notes.append("colonne indicate in configurazione ma assenti nel file (campi lasciati vuoti): "
                     + "; ".join(missing.values()))
    if ("lon" in found) != ("lat" in found):  # one coordinate alone is useless
        found.pop("lon", None)
        found.pop("lat", None)
    return found, notes


SOURCE = CensusSource()
