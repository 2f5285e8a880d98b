"""Indicators of the Osservatorio, computed during the build (never in a page), for one territory.

The catalogue (config/indicators.toml) declares every indicator: names, formula, unit,
direction, sources, level roles and how it aggregates. The roles ('fine', 'parent', 'territory',
'periphery_class', 'priority_area') are resolved against the territory's levels (tables territory /
territory_levels, from config/territories/<id>.toml): values are stored at the profile's level ids,
at 'territory' (area_id = the territory id) and at the periphery groups only where the profile names
a periphery file. Inside this module the finest level's areas are called NIL-like *atoms*:

1. `read_inputs(con, levels)` reads districts, population, places and firm units into an `Inputs`.
2. `atom_values(...)` computes every indicator on *atoms*: each area of the finest level, plus
   pseudo-atoms for places that only have a parent area (`mun:<n>`) or no area at all (`whole`).
   Each atom row carries a numerator, a denominator, counts of items with unknown measures and a
   state: 'ok' (usable for aggregation), 'missing' (inputs missing: excluded, and said so) or 'na'
   (indicator not applicable to this area, e.g. a non-peripheral one).
3. `aggregate(...)` rolls the atoms up to the parent level, periphery class, priority area and the
   territory FROM COUNTS (Σ numerators / Σ denominators), never by averaging ratios.
4. `compute_indicators(...)` returns the long frame written to `indicator_values`, with the reason
   also as a code and parameters (`reason_code`, `reason_params`: see `code_reason`).
5. `compute_all(con, build_id, mode, previous, progress, territory=profile)` is the single entry
   point that the pipeline calls inside the temporary warehouse: periphery groups, catalogue, values,
   snapshot with history copied forward, taxonomy changes, target status, score weights, ATECO
   labels and the vacant-to-maker proximity (`place_proximity`).

Every NULL value has a reason; trust is 'demo' if any input is demo, 'official' only if all
inputs are official, else 'derived'. Pure functions take pandas frames; no Streamlit here.
"""
from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import shapely

from etl import periphery
from etl.scoring import join_reasons as _join
from etl.scoring import score_detail
from etl.sql import transform
from etl.territory import TerritoryProfile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CATALOGUE = ROOT / "config" / "indicators.toml"
DEFAULT_TARGETS = ROOT / "config" / "targets.toml"
DEFAULT_ATECO = ROOT / "config" / "ateco_categories.toml"
# Level ROLES of the catalogue, resolved against the territory profile when the values are stored:
# 'fine' = the profile's finest level (e.g. nil, comune), 'parent' = the level grouping it (e.g.
# municipio; absent in one-level territories), 'periphery_class' / 'priority_area' = the groups of
# the periphery file (only where the profile names one), 'territory' = the whole territory (area_id =
# the territory id).
ROLES = ("fine", "parent", "periphery_class", "priority_area", "territory")
LEVELS = ROLES  # kept for callers of the old name
TERRITORY = "territory"
AGGREGATIONS = ("sum", "sum_known", "ratio", "none")
DIRECTIONS = ("higher_better", "lower_better", "neutral")
NEAR_M = 1000.0
DM = "digital_manufacturing"
AM = "artisan_manufacturing"
VALUE_COLUMNS = ["indicator_id", "level", "area_id", "period", "value", "numerator", "denominator", "reason", "trust"]

# Reasons (Italian, as shown in the pages).
R_NO_POP = "popolazione non disponibile"
R_NO_FIRMS = "nessun dato sulle imprese"
R_NO_MAKERS = "nessun dato sui makerspace"
R_NO_COWORK = "nessun dato sui coworking"
R_NO_VACANT = "nessun dato sugli spazi dismessi"
R_NO_MAKER_POINTS = "nessun makerspace georeferenziato"
R_NO_TARGET_POINTS = "nessun makerspace né impresa di manifattura digitale georeferenziati"
R_NO_MEMBERS = "nessun {F} in quest'area"
R_NO_SEATS = "posti non indicati nella fonte"
R_AREA_COUNTS = "conteggi per {F} da un'esportazione derivata (nessun elenco puntuale dei coworking caricato)"
R_NOT_IN_COUNTS = "{F} assente dal conteggio per {F}"
R_NO_PERIPHERY = "nessuna classificazione della periferia per questo territorio"
R_ASSUMED = "spazi con proprietà solo presunta (ownership_assumed) contati come proprietà non indicata"
# Place themes whose indicators come from `places` (and, for coworking, `area_counts`).
PLACE_THEME_IDS: dict[str, tuple[str, ...]] = {
    "makerspace": ("makerspaces_count", "makerspaces_per_100k", "makerspaces_lab_m2"),
    "coworking": ("coworking_count", "coworking_per_1k", "coworking_periphery_share", "coworking_seats",
                  "coworking_seats_per_1k"),
    "vacant": ("vacant_count", "vacant_known_m2", "vacant_regeneration_share", "vacant_public_count",
               "vacant_private_count", "vacant_public_share"),
}
PLACE_THEME_MISSING = {"makerspace": R_NO_MAKERS, "coworking": R_NO_COWORK, "vacant": R_NO_VACANT}
SEAT_IDS = ("coworking_seats", "coworking_seats_per_1k")

# Label of the items whose measure is unknown, per indicator (for the caveat "n <label>").
UNKNOWN_LABELS = {
    "makerspaces_lab_m2": "makerspace senza superficie indicata",
    "coworking_seats": "coworking senza postazioni indicate",
    "coworking_seats_per_1k": "coworking senza postazioni indicate (valore sottostimato)",
    "firms_dm_avg_employees": "unità di manifattura digitale senza addetti indicati",
    "vacant_known_m2": "spazi dismessi senza superficie indicata",
    "vacant_regeneration_share": "spazi dismessi senza stato indicato",
    "vacant_public_share": "spazi dismessi senza proprietà indicata",
    "vacant_near_makers_periphery": "spazi dismessi periferici senza coordinate (non valutati)",
}
UNKNOWN_LABELS_EN = {
    "makerspaces_lab_m2": "makerspaces without a stated area",
    "coworking_seats": "coworking spaces without stated desks",
    "coworking_seats_per_1k": "coworking spaces without stated desks (value underestimated)",
    "firms_dm_avg_employees": "digital-manufacturing units without stated employees",
    "vacant_known_m2": "vacant spaces without a stated area",
    "vacant_regeneration_share": "vacant spaces without a stated status",
    "vacant_public_share": "vacant spaces without a stated ownership",
    "vacant_near_makers_periphery": "peripheral vacant spaces without coordinates (not assessed)",
}

Progress = Callable[[str], None]


# ---------------------------------------------------------------------------------------
# Catalogue


class CatalogueError(ValueError):
    """config/indicators.toml is missing, malformed or out of step with the code."""


@dataclass(frozen=True)
class IndicatorSpec:
    """One [[indicator]] of the catalogue."""

    id: str
    theme: str
    name_it: str
    name_en: str
    description_it: str
    description_en: str
    formula: str
    unit: str
    direction: str
    sources: tuple[str, ...]
    levels: tuple[str, ...]
    aggregation: str
    scale: float = 1.0
    zero_reason: str = "denominatore nullo"
    na_reason: str = "indicatore non applicabile a quest'area"
    zero_reason_en: str = "zero denominator"
    na_reason_en: str = "indicator not applicable to this area"


@dataclass(frozen=True)
class Component:
    """One component of the composite opportunity score."""

    indicator: str
    direction: str  # 'higher' | 'lower'
    weight: float
    why: str = ""


@dataclass(frozen=True)
class Catalogue:
    """The parsed catalogue; `file_hash` identifies the file version in snapshots."""

    indicators: tuple[IndicatorSpec, ...]
    components: tuple[Component, ...]
    file_hash: str = "none"

    def spec(self, indicator_id: str) -> IndicatorSpec:
        for s in self.indicators:
            if s.id == indicator_id:
                return s
        raise KeyError(indicator_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.indicators)

    @property
    def weights(self) -> dict[str, float]:
        return {c.indicator: c.weight for c in self.components}

    @property
    def directions(self) -> dict[str, str]:
        return {c.indicator: c.direction for c in self.components}


# The indicators this module knows how to compute (the catalogue must list exactly these).
COMPUTED = (
    "residents", "population_density", "makerspaces_count", "makerspaces_per_100k", "makerspaces_lab_m2",
    "coworking_count", "coworking_per_1k", "coworking_periphery_share", "coworking_seats", "coworking_seats_per_1k",
    "firms_dm_units", "firms_dm_per_1k", "firms_dm_share",
    "firms_dm_avg_employees", "firms_am_units", "vacant_count", "vacant_known_m2", "vacant_regeneration_share",
    "vacant_public_count", "vacant_private_count", "vacant_public_share", "makerspace_distance_m",
    "residents_makerspace_1km_share", "vacant_near_makers_periphery", "opportunity_score",
)


def file_hash(path: Path) -> str:
    """sha256 (first 16 hex digits) of a file, or 'none' if it does not exist."""
    return periphery.file_hash(path)


def load_catalogue(path: Path | str = DEFAULT_CATALOGUE) -> Catalogue:
    """Read and check the catalogue (every computed indicator present, fields valid)."""
    path = Path(path)
    if not path.is_file():
        raise CatalogueError(f"{path}: catalogo degli indicatori mancante")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path}: TOML non valido ({exc})") from exc
    return parse_catalogue(data, file_hash(path), str(path))


def parse_catalogue(data: Mapping[str, Any], hash_text: str = "none", where: str = "indicators.toml") -> Catalogue:
    """Build a Catalogue from the TOML mapping; raises CatalogueError on any inconsistency."""
    specs = []
    for raw in data.get("indicator", []):
        try:
            spec = IndicatorSpec(
                id=str(raw["id"]), theme=str(raw["theme"]), name_it=str(raw["name_it"]), name_en=str(raw["name_en"]),
                description_it=str(raw["description_it"]), description_en=str(raw["description_en"]),
                formula=str(raw["formula"]), unit=str(raw["unit"]), direction=str(raw["direction"]),
                sources=tuple(str(s) for s in raw["sources"]), levels=tuple(str(lv) for lv in raw["levels"]),
                aggregation=str(raw["aggregation"]), scale=float(raw.get("scale", 1.0)),
                zero_reason=str(raw.get("zero_reason", "denominatore nullo")),
                na_reason=str(raw.get("na_reason", "indicatore non applicabile a quest'area")),
                zero_reason_en=str(raw.get("zero_reason_en", "zero denominator")),
                na_reason_en=str(raw.get("na_reason_en", "indicator not applicable to this area")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogueError(f"{where}: indicatore {raw.get('id', '?')}: campo mancante o non valido ({exc})") from exc
        if spec.direction not in DIRECTIONS:
            raise CatalogueError(f"{where}: {spec.id}: direction {spec.direction!r} non valida ({', '.join(DIRECTIONS)})")
        if spec.aggregation not in AGGREGATIONS:
            raise CatalogueError(f"{where}: {spec.id}: aggregation {spec.aggregation!r} non valida")
        bad = [lv for lv in spec.levels if lv not in ROLES]
        if bad or not spec.levels:
            raise CatalogueError(f"{where}: {spec.id}: livelli non validi {bad} (ruoli ammessi: {', '.join(ROLES)})")
        if spec.aggregation == "none" and spec.levels != ("fine",):
            raise CatalogueError(f"{where}: {spec.id}: aggregation 'none' vale solo per levels = ['fine']")
        specs.append(spec)
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise CatalogueError(f"{where}: id di indicatore ripetuti")
    missing = [i for i in COMPUTED if i not in ids]
    unknown = [i for i in ids if i not in COMPUTED]
    if missing or unknown:
        raise CatalogueError(f"{where}: il catalogo non corrisponde al codice (mancano {missing}; sconosciuti {unknown})")
    comps = []
    for raw in data.get("composite", {}).get("opportunity_score", {}).get("component", []):
        comp = Component(str(raw["indicator"]), str(raw.get("direction", "higher")), float(raw["weight"]),
                         str(raw.get("why", "")))
        if comp.indicator not in ids or comp.indicator == "opportunity_score":
            raise CatalogueError(f"{where}: componente del punteggio sconosciuta: {comp.indicator}")
        if comp.direction not in ("higher", "lower") or comp.weight < 0:
            raise CatalogueError(f"{where}: componente {comp.indicator}: direction 'higher'/'lower' e peso >= 0")
        comps.append(comp)
    if not comps or sum(c.weight for c in comps) <= 0:
        raise CatalogueError(f"{where}: [composite.opportunity_score] senza componenti con peso positivo")
    return Catalogue(tuple(specs), tuple(comps), hash_text)


def catalogue_frame(cat: Catalogue, levels: Levels | None = None, has_periphery: bool = True) -> pd.DataFrame:
    """Rows for the indicator_catalogue table (without snapshot_id).

    `levels` holds the stored level ids of the catalogue's roles for this territory (a role the
    territory lacks is left out); {F}/{P}/{T} in names and descriptions become its labels.
    """
    lv = levels or Levels.default()
    rows = []
    for s in cat.indicators:
        formula = s.formula
        if s.id == "opportunity_score":
            parts = [f"{c.indicator} ({c.direction}, peso {c.weight:g})" for c in cat.components]
            formula = f"{formula}. Componenti predefinite: {'; '.join(parts)}"
        stored = [lv.level_of(r) for r in s.levels if has_periphery or r not in ("periphery_class", "priority_area")]
        rows.append({"indicator_id": s.id, "theme": s.theme, "name_it": lv.fill(s.name_it), "name_en": lv.fill(s.name_en, "en"),
                     "description_it": lv.fill(s.description_it), "description_en": lv.fill(s.description_en, "en"),
                     "formula": lv.fill(formula), "unit": s.unit, "direction": s.direction,
                     "sources": json.dumps(list(s.sources)), "levels": json.dumps([x for x in stored if x])})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# Inputs


@dataclass
class Inputs:
    """Everything the indicators need, as plain frames.

    fine:               areas of the finest level: id, parent_id (nullable), area_m2,
                        centroid_lon, centroid_lat, trust
    parents:            ids of the areas of the parent level (empty in a one-level territory)
    population:         district_id, year (nullable), residents, trust: best source per area and year
    population_current: district_id, year, residents, trust: one row per area (view population_current)
    places:             theme, district_id, parent_id, lon, lat, category, status, ownership,
                        area_m2, seats, employees, trust (optional: source_id, attributes, source_key,
                        name, place_row): from a warehouse only the themes of PLACE_THEMES_READ, one row
                        per place; a frame made by hand may also hold firm rows (theme 'firm')
    firm_points:        firm points counted per district_id, parent_id, category, source_id, trust:
                        n, emp (employees summed where stated), emp_known, first_row (None: counted
                        from the firm rows of `places`)
    firm_dm_points:     located digital-manufacturing firm points: place_row, lon, lat, trust (None:
                        from `places`); their names are read only for the nearest ones
    place_pairs:        distinct (district_id, parent_id) of all places in the order of their first
                        place (None: from `places`); the atoms are keyed on these pairs
    firm_units:         district_id, year, category, units, avg_employees, trust
    area_counts:        level, district_id, theme, year, count, trust, source_id (counts without points, finest level)
    firm_totals:        year, category, firms, units, employees_units, trust, source_id (level 'territory')
    source_years:       source_id -> year of sources.reference_date (the data's edition), when stated
    source_datasets:    source_id -> publisher's dataset code (for reasons)
    levels:             the territory's level ids and labels (fine, parent, territory id)

    `fine` and `parent_id` hold the profile's finest and parent level, whatever those are.
    """

    fine: pd.DataFrame        # areas of the finest level: id, parent_id, area_m2, centroid, trust
    parents: list[int]        # ids of the parent level's areas (empty without a parent level)
    population: pd.DataFrame
    population_current: pd.DataFrame
    places: pd.DataFrame
    firm_units: pd.DataFrame
    area_counts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["level", "district_id", "theme", "year", "count", "trust", "source_id"]))
    firm_totals: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["year", "category", "firms", "units", "employees_units", "trust", "source_id"]))
    source_years: dict[str, int] = field(default_factory=dict)
    source_datasets: dict[str, str] = field(default_factory=dict)
    levels: Levels = field(default_factory=lambda: Levels.default())
    firm_points: pd.DataFrame | None = None
    firm_dm_points: pd.DataFrame | None = None
    place_pairs: pd.DataFrame | None = None


@dataclass(frozen=True)
class Levels:
    """The territory's levels as the indicators use them: ids, Italian/English labels, territory id
    (an empty label falls back to the level id). `Levels.default()`: the default profile's."""

    fine: str
    parent: str | None
    territory_id: str
    fine_it: str = ""
    fine_en: str = ""
    parent_it: str = ""
    parent_en: str = ""
    territory_it: str = ""
    territory_en: str = ""
    area_crs: str = "EPSG:7791"
    fine_pl_it: str = ""
    fine_pl_en: str = ""

    @classmethod
    def default(cls) -> Levels:
        """The levels of the default territory profile (config/territories, `default = true`)."""
        from etl import territory as territory_mod

        return cls.from_profile(territory_mod.load())

    def level_of(self, role: str) -> str | None:
        """The stored level id of a catalogue role (None: the territory has no such level)."""
        if role == "fine":
            return self.fine
        if role == "parent":
            return self.parent
        return role

    def fill(self, text: str, lang: str = "it") -> str:
        """A text with the {F} / {P} / {T} placeholders replaced by this territory's labels."""
        en = lang == "en"
        fine = (self.fine_en if en else self.fine_it) or self.fine
        plural = (self.fine_pl_en if en else self.fine_pl_it) or fine
        parent = ((self.parent_en if en else self.parent_it) or self.parent) if self.parent else ""
        territory = (self.territory_en if en else self.territory_it) or self.territory_id
        return text.replace("{Fp}", plural).replace("{F}", fine).replace("{P}", parent).replace("{T}", territory)

    @classmethod
    def from_profile(cls, profile: TerritoryProfile) -> Levels:
        parent = profile.parent
        return cls(fine=profile.fine.id, parent=parent.id if parent else None, territory_id=profile.id,
                   fine_it=profile.fine.label_it, fine_en=profile.fine.label_en,
                   parent_it=parent.label_it if parent else "", parent_en=parent.label_en if parent else "",
                   territory_it=profile.name_it, territory_en=profile.name_en, area_crs=profile.area_crs,
                   fine_pl_it=profile.fine.plural_it, fine_pl_en=profile.fine.plural_en)


def read_levels(con: duckdb.DuckDBPyConnection, profile: TerritoryProfile | None = None) -> Levels:
    """The levels the build stored (tables territory, territory_levels); the profile where they are empty."""
    base = Levels.from_profile(profile) if profile is not None else None
    rows = con.sql("SELECT level, rank, label_it, label_en, plural_it, plural_en FROM territory_levels ORDER BY rank").fetchall()
    terr = con.sql("SELECT territory_id, name_it, name_en, area_crs FROM territory").fetchall()
    if not rows:
        if base is None:
            from etl import territory as territory_mod

            base = Levels.from_profile(territory_mod.load())
        return base
    fine = rows[0]
    parent = rows[1] if len(rows) > 1 else None
    tid, name_it, name_en, crs = terr[0] if terr else (
        (base.territory_id, base.territory_it, base.territory_en, base.area_crs) if base else ("territorio", "", "", "EPSG:7791"))
    return Levels(fine=str(fine[0]), parent=str(parent[0]) if parent else None, territory_id=str(tid),
                  fine_it=str(fine[2]), fine_en=str(fine[3]), parent_it=str(parent[2]) if parent else "",
                  parent_en=str(parent[3]) if parent else "", territory_it=str(name_it), territory_en=str(name_en),
                  area_crs=str(crs), fine_pl_it=str(fine[4]), fine_pl_en=str(fine[5]))


def read_inputs(con: duckdb.DuckDBPyConnection, levels: Levels | None = None) -> Inputs:
    """Read the inputs from a warehouse connection, for the territory's levels."""
    lv = levels or read_levels(con)
    fine = [lv.fine]
    fine_areas = con.sql("SELECT id, parent_id, area_m2, centroid_lon, centroid_lat, trust FROM districts "
                  "WHERE level = ? ORDER BY id", params=fine).df()
    parents: list[int] = []
    if lv.parent is not None:
        parents = [int(r[0]) for r in con.sql(
            "SELECT DISTINCT id FROM districts WHERE level = ? "
            "UNION SELECT DISTINCT parent_id FROM districts WHERE level = ? AND parent_id IS NOT NULL ORDER BY 1",
            params=[lv.parent, lv.fine]).fetchall()]
    population = con.sql(transform("indicator_population_by_year")).df()
    current = con.sql("SELECT district_id, coalesce(year, year(reference_date)) AS year, residents, trust "
                      "FROM population_current WHERE level = ?", params=fine).df()
    # Places one by one only for the small themes; firm points are counted in SQL (a register has millions).
    places = con.sql(transform("indicator_places")).df()
    firm_points = con.sql(transform("indicator_firm_points")).df()
    firm_dm_points = con.sql(transform("indicator_firm_dm_points"), params=[DM]).df()
    pairs = con.sql(transform("indicator_place_pairs")).df()
    if lv.parent is None:
        places["parent_id"] = pd.NA
        firm_points["parent_id"] = pd.NA
        pairs = pairs.assign(parent_id=pd.NA).drop_duplicates(["district_id", "parent_id"])
    firm_units = con.sql("SELECT district_id, year, category, units, avg_employees, trust FROM firm_units").df()
    area_counts = con.sql("SELECT level, district_id, theme, year, count, trust, source_id FROM area_counts "
                          "WHERE level = ?", params=fine).df()
    firm_totals = con.sql("SELECT year, category, firms, units, employees_units, trust, source_id FROM firm_totals "
                          "WHERE level = 'territory'").df()
    years = {str(s): int(y) for s, y in con.sql(
        "SELECT source_id, max(year(reference_date)) FROM sources WHERE status = 'loaded' "
        "AND reference_date IS NOT NULL GROUP BY source_id").fetchall()}
    datasets = {str(s): str(d) for s, d in con.sql(
        "SELECT source_id, min(dataset) FROM sources WHERE dataset IS NOT NULL GROUP BY source_id").fetchall()}
    return Inputs(fine_areas, parents, population, current, places, firm_units, area_counts, firm_totals, years, datasets, lv,
                  firm_points, firm_dm_points, pairs)


FIRM_POINT_KEYS = ["district_id", "parent_id", "category", "source_id", "trust"]
FIRM_POINT_COLUMNS = [*FIRM_POINT_KEYS, "first_row", "n", "emp", "emp_known"]


def count_firm_points(points: pd.DataFrame) -> pd.DataFrame:
    """Firm points (one row per place) counted as the SQL transform indicator_firm_points does."""
    if points.empty:
        return pd.DataFrame(columns=FIRM_POINT_COLUMNS)
    emp = pd.to_numeric(points["employees"], errors="coerce").astype(float) if "employees" in points else None
    frame = pd.DataFrame({k: points[k] if k in points else None for k in FIRM_POINT_KEYS}, index=points.index)
    frame = frame.assign(first_row=np.arange(len(points)), n=1.0,
                         emp=emp.fillna(0.0) if emp is not None else 0.0,
                         emp_known=emp.notna().astype(float) if emp is not None else 0.0)
    g = frame.groupby(FIRM_POINT_KEYS, dropna=False, sort=False).agg(
        first_row=("first_row", "min"), n=("n", "sum"), emp=("emp", "sum"), emp_known=("emp_known", "sum"))
    return g.reset_index().sort_values("first_row", kind="stable").reset_index(drop=True)[FIRM_POINT_COLUMNS]


def _located(frame: pd.DataFrame) -> pd.Series:
    return frame["lon"].notna() & frame["lat"].notna()


def firm_inputs(inp: Inputs) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(places without firms, counted firm points, located digital-manufacturing firm points) of the inputs:
    as read from the warehouse, or from the firm rows of a `places` frame made by hand."""
    is_firm = (inp.places["theme"] == "firm") if len(inp.places) else pd.Series(False, index=inp.places.index)
    others = inp.places[~is_firm]
    if inp.firm_points is not None and inp.firm_dm_points is not None:
        return others, inp.firm_points, inp.firm_dm_points
    firms = inp.places[is_firm]
    counted = inp.firm_points if inp.firm_points is not None else count_firm_points(firms)
    if inp.firm_dm_points is not None:
        return others, counted, inp.firm_dm_points
    dm = firms[(firms["category"] == DM).fillna(False).astype(bool) & _located(firms)] if len(firms) else firms
    dm = dm.assign(place_row=dm["place_row"] if "place_row" in dm else np.arange(len(dm)))
    return others, counted, dm[[c for c in ("place_row", "lon", "lat", "trust", "name") if c in dm]]


def place_pairs(inp: Inputs) -> pd.DataFrame:
    """Distinct (district_id, parent_id) of all places in the order of their first place."""
    if inp.place_pairs is not None:
        return inp.place_pairs
    return inp.places[["district_id", "parent_id"]].drop_duplicates()


# ---------------------------------------------------------------------------------------
# Small helpers


def combine_trust(values: Iterable[object]) -> str:
    """'demo' if any is demo, 'official' only if all are official, else 'derived'."""
    vals = {str(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))}
    if "demo" in vals:
        return "demo"
    if vals and vals == {"official"}:
        return "official"
    return "derived"


def _isnum(x: object) -> bool:
    return x is not None and not pd.isna(x)  # type: ignore[arg-type]


def _f(x: object) -> float | None:
    return float(x) if _isnum(x) else None  # type: ignore[arg-type]


@dataclass
class _Atoms:
    """Atom keys: each NIL, plus pseudo-atoms for places without NIL."""

    keys: list[str]
    district_id: dict[str, int | None]
    parent_area: dict[str, int | None]  # atom -> id of its area of the parent level
    parent: dict[str, str] = field(default_factory=dict)  # sub-atom -> its NIL's atom

    @classmethod
    def from_inputs(cls, inp: Inputs) -> _Atoms:
        keys: list[str] = []
        district_id: dict[str, int | None] = {}
        mun: dict[str, int | None] = {}
        for i, m in zip(inp.fine["id"], inp.fine["parent_id"], strict=True):
            k = f"fin:{int(i)}"
            keys.append(k)
            district_id[k] = int(i)
            mun[k] = int(m) if _isnum(m) else None
        return cls(keys, district_id, mun)

    def key_for(self, district_id: object, parent_id: object) -> str:
        """The atom of a place or a firm-units row (adds a pseudo-atom when needed).

        A place whose Municipio (from its position) differs from its NIL's parent Municipio gets a
        sub-atom `sub:<area>:<parent>`: it counts in its NIL (and the NIL's groups) but in the
        Municipio where it actually is. NIL and Municipi boundaries do not nest.
        """
        if _isnum(district_id) and f"fin:{int(district_id)}" in self.district_id:  # type: ignore[arg-type]
            main = f"fin:{int(district_id)}"  # type: ignore[arg-type]
            parent = self.parent_area.get(main)
            if _isnum(parent_id) and parent is not None and int(parent_id) != parent:  # type: ignore[call-overload]
                k = f"sub:{int(district_id)}:{int(parent_id)}"  # type: ignore[call-overload]
                if k not in self.district_id:
                    self.keys.append(k)
                    self.district_id[k] = int(district_id)  # type: ignore[call-overload]
                    self.parent_area[k] = int(parent_id)  # type: ignore[call-overload]
                    self.parent[k] = main
                return k
            return main
        if _isnum(parent_id):
            k = f"mun:{int(parent_id)}"  # type: ignore[arg-type]
            if k not in self.district_id:
                self.keys.append(k)
                self.district_id[k] = None
                self.parent_area[k] = int(parent_id)  # type: ignore[arg-type]
            return k
        if "whole" not in self.district_id:
            self.keys.append("whole")
            self.district_id["whole"] = None
            self.parent_area["whole"] = None
        return "whole"

    def keys_for(self, district_ids: Iterable[object], parent_ids: Iterable[object]) -> list[str]:
        """`key_for` of many rows at once: called once per distinct (area, parent) pair, in the order of
        the pairs' first rows (so pseudo- and sub-atoms are added in the same order as row by row),
        then spread back to the rows with numpy."""
        d = _int_or_na(district_ids)
        m = _int_or_na(parent_ids)
        if len(d) != len(m):
            raise ValueError("district_ids e parent_ids di lunghezza diversa")
        if not len(d):
            return []
        codes, uniques = pd.factorize(pd.MultiIndex.from_arrays([d, m]))
        keyed = np.array([self.key_for(None if pd.isna(a) else int(a), None if pd.isna(b) else int(b))
                          for a, b in uniques], dtype=object)
        return keyed[codes].tolist()

    @property
    def nil_keys(self) -> list[str]:
        return [k for k in self.keys if k.startswith("fin:")]

    @property
    def sub_keys(self) -> list[str]:
        return [k for k in self.keys if k.startswith("sub:")]


def _int_or_na(values: Iterable[object]) -> pd.Series:
    """Ids as nullable integers (truncated like int(), missing -> NA), for keys_for."""
    x = pd.to_numeric(pd.Series(list(values) if not isinstance(values, pd.Series) else values, dtype=object),
                      errors="coerce").astype(float)
    return pd.Series(np.trunc(x.to_numpy()), dtype="Float64").astype("Int64").reset_index(drop=True)


def _row(indicator: str, atom: str, period: int | None = None, *, num: float | None = None, den: float | None = None,
         n_known: float = 0.0, n_unknown: float = 0.0, state: str = "ok", reason: str | None = None,
         trust: str = "derived", direct: float | None = None, note: str | None = None,
         pop: str | None = None) -> dict[str, Any]:
    """One atom row. state: ok / missing (reason says why) / na (not applicable).

    `pop` labels the population figure behind a per-capita row (e.g. '2022', '2021 (derivata)').
    """
    return {"indicator_id": indicator, "atom": atom, "period": period, "num": num, "den": den, "n_known": n_known,
            "n_unknown": n_unknown, "state": state, "reason": reason, "trust": trust, "direct": direct, "note": note,
            "pop": pop}


def pop_label(year: object, trust: object) -> str:
    """How a population figure is described in reasons: '2022', '2021 (derivata)', 'senza anno (derivata)'."""
    text = str(int(year)) if _isnum(year) else "senza anno"  # type: ignore[call-overload]
    return f"{text} (derivata)" if trust == "derived" else (f"{text} (demo)" if trust == "demo" else text)


def theme_period(source_ids: Iterable[object], source_years: Mapping[str, int]) -> tuple[int | None, str | None]:
    """Period of values built from these sources: the latest stated edition year; a note when editions differ."""
    ids = sorted({str(s) for s in source_ids if s is not None and not pd.isna(s)})  # type: ignore[call-overload]
    years = {s: source_years.get(s) for s in ids}
    known = [y for y in years.values() if y is not None]
    if not known:
        return None, None
    note = None
    if len(set(years.values())) > 1:
        note = "edizioni diverse delle fonti: " + ", ".join(f"{s} {y if y is not None else 'senza data'}"
                                                              for s, y in years.items())
    return max(known), note


# ---------------------------------------------------------------------------------------
# Atom values


def atom_values(inp: Inputs, groups: pd.DataFrame, peripheral: str | None = None) -> tuple[pd.DataFrame, _Atoms]:
    """Numerators/denominators of every indicator (except the score) on every atom.

    `groups` is the district_groups frame (group_level, group_id, district_id, ...); the periphery
    class `peripheral` (PeripheryConfig.peripheral; None: no classification) defines the peripheral areas. Without periphery
    classes (no periphery file for the territory) the periphery indicators are NULL with the reason.
    """
    atoms = _Atoms.from_inputs(inp)
    pairs = place_pairs(inp)
    atoms.keys_for(pairs["district_id"], pairs["parent_id"])  # every atom of the places, in their order
    others, firm_points, firm_dm = firm_inputs(inp)
    places = others.copy()
    for col in ("source_id", "attributes"):
        if col not in places:
            places[col] = None
    places["atom"] = atoms.keys_for(places["district_id"], places["parent_id"])
    firm_points = firm_points.assign(atom=atoms.keys_for(firm_points["district_id"], firm_points["parent_id"]))
    firm_units = inp.firm_units.copy()
    firm_units["atom"] = atoms.keys_for(firm_units["district_id"], [None] * len(firm_units))
    nil_trust = {f"fin:{int(i)}": str(t) for i, t in zip(inp.fine["id"], inp.fine["trust"], strict=True)}
    district_trust = combine_trust(inp.fine["trust"]) if len(inp.fine) else "derived"
    pop_cur = {f"fin:{int(r.district_id)}": (float(r.residents), r.year, str(r.trust))
               for r in inp.population_current.itertuples() if _isnum(r.residents)}
    classified = groups["group_level"] == "periphery_class"
    periferia: set[int] | None = None
    if peripheral is not None and classified.any():
        periferia = set(groups.loc[classified & (groups["group_id"] == peripheral), "district_id"].astype(int))
    rows: list[dict[str, Any]] = []
    rows += _residents(inp, atoms)
    rows += _density(inp, atoms, pop_cur, nil_trust)
    counts = inp.area_counts
    for theme in PLACE_THEME_IDS:
        part = places[places["theme"] == theme]
        if theme == "vacant":
            part = part[~in_use(part)]
        nil_counts = counts[(counts["level"] == inp.levels.fine) & (counts["theme"] == theme)] if len(counts) else counts
        if theme == "coworking" and part.empty and len(nil_counts):
            rows += _coworking_counts(nil_counts, atoms, pop_cur, nil_trust, periferia, inp.source_years)
        else:
            rows += _place_theme(theme, part, atoms, pop_cur, nil_trust, district_trust, periferia, inp.source_years)
    rows += _firms(inp, firm_points, firm_units, atoms, pop_cur, nil_trust, district_trust)
    rows += _access(inp, places, atoms, pop_cur, nil_trust)
    rows += _opportunity(inp, places, atoms, periferia, nil_trust, firm_dm, has_firm_points=len(firm_points) > 0)
    frame = pd.DataFrame(rows, columns=list(_row("x", "x").keys()))
    frame["period"] = frame["period"].astype("Int64")
    return frame, atoms


def in_use(places: pd.DataFrame) -> pd.Series:
    """Places of the vacant theme that are in use: a confiscated property already assigned to an
    organisation is a public asset, not a vacant space, so the vacant indicators leave it out."""
    if places.empty or "status" not in places:
        return pd.Series(False, index=places.index)
    return (places["status"].astype("string") == "assigned").fillna(False).astype(bool)


def _pop_den(atom: str, pop_cur: dict[str, tuple[float, Any, str]]) -> tuple[float | None, str | None]:
    """Residents of an atom for per-capita rates: pseudo- and sub-atoms have 0 (their places are counted,
    their people are in the NIL's own atom)."""
    if not atom.startswith("fin:"):
        return 0.0, None
    got = pop_cur.get(atom)
    return (got[0], got[2]) if got else (None, None)


def _pop_of(atom: str, pop_cur: dict[str, tuple[float, Any, str]]) -> str | None:
    """Label of the population figure of a NIL atom (None for pseudo-atoms or when missing)."""
    got = pop_cur.get(atom) if atom.startswith("fin:") else None
    return pop_label(got[1], got[2]) if got else None


def _residents(inp: Inputs, atoms: _Atoms) -> list[dict[str, Any]]:
    """Residents per NIL and year (period = year).

    Undated figures only when no dated figure exists (an undated row would otherwise look like the
    current one next to dated years). In the latest year, a NIL without a figure of that year takes
    its current figure (view population_current, e.g. an older derived year) and says so, so that the
    current total is complete and its mixed years are listed ("NIL 8: popolazione 2021 (derivata)").
    """
    rows = []
    pop = inp.population
    dated = sorted({int(y) for y in pop["year"] if _isnum(y)})
    years: list[int | None] = list(dated) if dated else [None]
    by_key = {(int(r.district_id), None if not _isnum(r.year) else int(r.year)): (float(r.residents), str(r.trust))
              for r in pop.itertuples()}
    current = {int(r.district_id): (float(r.residents), r.year, str(r.trust))
               for r in inp.population_current.itertuples() if _isnum(r.residents)}
    latest = dated[-1] if dated else None
    for year in years:
        fill = year is not None and year == latest and any(
            (atoms.district_id[k], year) not in by_key and atoms.district_id[k] in current for k in atoms.nil_keys)
        for k in atoms.nil_keys:
            nil = int(atoms.district_id[k])  # type: ignore[arg-type]
            got = by_key.get((nil, year))
            if got is not None:
                rows.append(_row("residents", k, year, num=got[0], trust=got[1],
                                 pop=pop_label(year, got[1]) if fill else None))
            elif fill and nil in current:
                res, cur_year, trust = current[nil]
                label = pop_label(cur_year, trust)
                rows.append(_row("residents", k, year, num=res, trust=trust, pop=label,
                                 note=f"dato {year} non presente: usato l'anno più recente disponibile"))
            else:
                rows.append(_row("residents", k, year, state="missing", reason=R_NO_POP, trust=combine_trust(pop["trust"])))
    return rows


def _density(inp: Inputs, atoms: _Atoms, pop_cur: dict[str, tuple[float, Any, str]],
             nil_trust: dict[str, str]) -> list[dict[str, Any]]:
    """Residents per km²: Σ residents / Σ area of the SAME NIL that have a population figure.

    Period = the latest population year among the NIL (older years are named per NIL in the reason).
    """
    rows = []
    area = {f"fin:{int(i)}": float(a) for i, a in zip(inp.fine["id"], inp.fine["area_m2"], strict=True) if _isnum(a)}
    years = [int(y) for _, y, _ in pop_cur.values() if _isnum(y)]
    period = max(years) if years else None
    for k in atoms.nil_keys:
        got = pop_cur.get(k)
        if got is None or k not in area:
            rows.append(_row("population_density", k, period, state="missing", reason=R_NO_POP, trust=nil_trust[k]))
        else:
            rows.append(_row("population_density", k, period, num=got[0], den=area[k] / 1e6,
                             pop=pop_label(got[1], got[2]), trust=combine_trust([got[2], nil_trust[k]])))
    return rows


def _ownership_assumed(attributes: pd.Series) -> np.ndarray:
    """True where a place's attributes (JSON) flag its ownership as assumed, not stated by the source."""
    out = np.zeros(len(attributes), dtype=bool)
    for i, text in enumerate(attributes):
        if isinstance(text, str) and "ownership_assumed" in text:
            try:
                out[i] = bool(json.loads(text).get("ownership_assumed"))
            except (json.JSONDecodeError, AttributeError):
                out[i] = False
    return out


def _place_theme(theme: str, part: pd.DataFrame, atoms: _Atoms, pop_cur: dict[str, tuple[float, Any, str]],
                 nil_trust: dict[str, str], district_trust: str, periferia: set[int] | None = None,  # None: no classes
                 source_years: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """Counts, known sums and shares of one place theme on every atom (period = the lists' edition year)."""
    ids = PLACE_THEME_IDS[theme]
    rows: list[dict[str, Any]] = []
    if part.empty:
        for k in atoms.nil_keys:
            for ind in ids:
                rows.append(_row(ind, k, state="missing", reason=PLACE_THEME_MISSING[theme], trust=nil_trust[k]))
        return rows
    period, edition_note = theme_period(part["source_id"] if "source_id" in part else [], source_years or {})
    theme_trust = set(part["trust"].astype(str))
    g = part.groupby("atom")
    count = g.size()
    area_known = part["area_m2"].notna()
    m2 = part["area_m2"].where(area_known, 0.0).groupby(part["atom"]).sum()
    m2_known = area_known.groupby(part["atom"]).sum()
    seats_known = part["seats"].notna()
    seats = pd.to_numeric(part["seats"], errors="coerce").fillna(0.0).groupby(part["atom"]).sum()
    n_seats_known = seats_known.groupby(part["atom"]).sum()
    status = part["status"].astype("string")
    regen = (status == "regeneration").fillna(False).groupby(part["atom"]).sum()
    status_known = status.notna().groupby(part["atom"]).sum()
    assumed = _ownership_assumed(part["attributes"]) if "attributes" in part else np.zeros(len(part), dtype=bool)
    owner = part["ownership"].astype("string").where(~assumed)
    public = (owner == "public").fillna(False).groupby(part["atom"]).sum()
    private = (owner == "private").fillna(False).groupby(part["atom"]).sum()
    owner_known = owner.notna().groupby(part["atom"]).sum()
    n_assumed = pd.Series(assumed, index=part.index).groupby(part["atom"]).sum()

    def get(s: pd.Series, k: str) -> float:
        return float(s.get(k, 0.0))

    present_atoms = [k for k in atoms.keys if k.startswith("fin:") or k in count.index]
    for k in present_atoms:
        trust = combine_trust(theme_trust | {nil_trust.get(k, district_trust)})
        n = get(count, k)
        res, pop_trust = _pop_den(k, pop_cur)
        pop = _pop_of(k, pop_cur)
        trust_pop = combine_trust(theme_trust | {nil_trust.get(k, district_trust)} | ({pop_trust} if pop_trust else set()))
        out: list[dict[str, Any]] = []
        if theme == "makerspace":
            out.append(_row("makerspaces_count", k, num=n, trust=trust))
            if res is None:
                out.append(_row("makerspaces_per_100k", k, state="missing", reason=R_NO_POP, trust=trust_pop))
            else:
                out.append(_row("makerspaces_per_100k", k, num=n, den=res, trust=trust_pop, pop=pop))
            known = get(m2_known, k)
            out.append(_row("makerspaces_lab_m2", k, num=get(m2, k), n_known=known, n_unknown=n - known, trust=trust))
        elif theme == "coworking":
            out.append(_row("coworking_count", k, num=n, trust=trust))
            out += _coworking_derived(k, n, res, pop, trust_pop, trust, atoms, periferia)
            known = get(n_seats_known, k)
            out.append(_row("coworking_seats", k, num=get(seats, k), n_known=known, n_unknown=n - known, trust=trust))
            if res is None:
                out.append(_row("coworking_seats_per_1k", k, state="missing", reason=R_NO_POP, trust=trust_pop))
            else:
                out.append(_row("coworking_seats_per_1k", k, num=get(seats, k), den=res, n_known=known,
                                n_unknown=n - known, trust=trust_pop, pop=pop))
        else:
            out.append(_row("vacant_count", k, num=n, trust=trust))
            known = get(m2_known, k)
            out.append(_row("vacant_known_m2", k, num=get(m2, k), n_known=known, n_unknown=n - known, trust=trust))
            sk = get(status_known, k)
            out.append(_row("vacant_regeneration_share", k, num=get(regen, k), den=sk, n_known=sk, n_unknown=n - sk,
                            trust=trust))
            note = f"{R_ASSUMED}: {int(get(n_assumed, k))}" if get(n_assumed, k) > 0 else None
            out.append(_row("vacant_public_count", k, num=get(public, k), trust=trust, note=note))
            out.append(_row("vacant_private_count", k, num=get(private, k), trust=trust, note=note))
            ok = get(owner_known, k)
            out.append(_row("vacant_public_share", k, num=get(public, k), den=ok, n_known=ok, n_unknown=n - ok,
                            trust=trust, note=note))
        for r in out:
            r["period"] = period
            if edition_note and r["state"] == "ok":
                r["note"] = _join(r["note"], edition_note)
        rows += out
    return rows


def _coworking_derived(k: str, n: float, res: float | None, pop: str | None, trust_pop: str, trust: str,
                       atoms: _Atoms, periferia: set[int] | None) -> list[dict[str, Any]]:
    """Coworking spaces per 1,000 residents and the share located in peripheral NIL, for one atom."""
    out = []
    if res is None:
        out.append(_row("coworking_per_1k", k, state="missing", reason=R_NO_POP, trust=trust_pop))
    else:
        out.append(_row("coworking_per_1k", k, num=n, den=res, trust=trust_pop, pop=pop))
    nil = atoms.district_id.get(k)
    if periferia is None:
        out.append(_row("coworking_periphery_share", k, state="missing", reason=R_NO_PERIPHERY, trust=trust))
        return out
    in_peri = nil is not None and nil in periferia
    out.append(_row("coworking_periphery_share", k, num=n if in_peri else 0.0, den=n, trust=trust))
    return out


def _coworking_counts(counts: pd.DataFrame, atoms: _Atoms, pop_cur: dict[str, tuple[float, Any, str]],
                      nil_trust: dict[str, str], periferia: set[int] | None,
                      source_years: Mapping[str, int]) -> list[dict[str, Any]]:
    """Coworking indicators from per-NIL counts (area_counts) when no coworking point list is loaded.

    Counts give count-based indicators at NIL level and above (0 is a real 0 there); seats are NULL
    (the counts say nothing about seats). Several files for one NIL: the latest year, then the first.
    """
    best = counts.assign(_y=counts["year"].fillna(-1)).sort_values(["district_id", "_y", "source_id"],
                                                                   ascending=[True, False, True])
    best = best.drop_duplicates("district_id")
    by_nil = {int(r.district_id): (float(r.count), str(r.trust)) for r in best.itertuples()}
    years = {int(y) for y in best["year"] if _isnum(y)}
    if years:
        period: int | None = max(years)
    else:
        period, _ = theme_period(best["source_id"], source_years)
    rows: list[dict[str, Any]] = []
    for k in atoms.nil_keys:
        got = by_nil.get(int(atoms.district_id[k]))  # type: ignore[arg-type]
        if got is None:
            for ind in PLACE_THEME_IDS["coworking"]:
                reason = R_NO_SEATS if ind in SEAT_IDS else R_NOT_IN_COUNTS
                rows.append(_row(ind, k, period, state="missing", reason=reason, trust=nil_trust[k]))
            continue
        n, src_trust = got
        trust = combine_trust([src_trust, nil_trust[k]])
        res, pop_trust = _pop_den(k, pop_cur)
        trust_pop = combine_trust([src_trust, nil_trust[k]] + ([pop_trust] if pop_trust else []))
        out = [_row("coworking_count", k, num=n, trust=trust)]
        out += _coworking_derived(k, n, res, _pop_of(k, pop_cur), trust_pop, trust, atoms, periferia)
        for r in out:
            r["period"] = period
            if r["state"] == "ok":
                r["note"] = _join(r["note"], R_AREA_COUNTS)
        rows += out
        for ind in SEAT_IDS:
            rows.append(_row(ind, k, period, state="missing", reason=R_NO_SEATS, trust=trust))
    return rows


FIRM_IDS = ("firms_dm_units", "firms_dm_per_1k", "firms_dm_share", "firms_dm_avg_employees", "firms_am_units")


def _firms(inp: Inputs, points: pd.DataFrame, units: pd.DataFrame, atoms: _Atoms,
           pop_cur: dict[str, tuple[float, Any, str]], nil_trust: dict[str, str],
           district_trust: str) -> list[dict[str, Any]]:
    """Firm indicators from ds201 units (period = year) and from point firms (period = the list's edition).

    `points` are the firm points counted per area, parent, category, source and trust (count_firm_points,
    or the SQL transform indicator_firm_points): n, emp, emp_known, atom.

    City-wide totals (firm_totals, ds171) have no NIL: when they are the only firm data the NIL rows
    are missing with the reason (one per year) and `city_firm_rows` fills the city level.
    """
    rows: list[dict[str, Any]] = []
    if units.empty and points.empty:
        totals_years = sorted({int(y) for y in inp.firm_totals["year"] if _isnum(y)})
        reason = _firms_city_only_reason(inp) if totals_years else R_NO_FIRMS
        for year in totals_years or [None]:
            for k in atoms.nil_keys:
                for ind in FIRM_IDS:
                    rows.append(_row(ind, k, year, state="missing", reason=reason, trust=nil_trust[k]))
        return rows
    pop_year = {(int(r.district_id), int(r.year)): (float(r.residents), str(r.trust))
                for r in inp.population.itertuples() if _isnum(r.year)}
    frames: list[tuple[int | None, pd.DataFrame]] = []
    if not units.empty:
        u = units.assign(n=units["units"].astype(float),
                         emp=(units["units"] * units["avg_employees"]).astype(float),
                         emp_known=units["units"].where(units["avg_employees"].notna(), 0).astype(float))
        for year, part in u.groupby("year"):
            frames.append((int(year), part))  # type: ignore[call-overload]
    if not points.empty:
        p = points.astype({"n": float, "emp": float, "emp_known": float})
        point_period, _ = theme_period(p["source_id"], inp.source_years)
        frames.append((point_period, p))
    for period, part in frames:
        src_trust = set(part["trust"].astype(str))
        dm = part[part["category"] == DM]
        tot = part.groupby("atom")["n"].sum()
        dm_n = dm.groupby("atom")["n"].sum()
        dm_emp = dm.groupby("atom")["emp"].sum()
        dm_known = dm.groupby("atom")["emp_known"].sum()
        am_n = part[part["category"] == AM].groupby("atom")["n"].sum()
        present = [k for k in atoms.keys if k.startswith("fin:") or k in tot.index]
        for k in present:
            trust = combine_trust(src_trust | {nil_trust.get(k, district_trust)})
            n_dm = float(dm_n.get(k, 0.0))
            rows.append(_row("firms_dm_units", k, period, num=n_dm, trust=trust))
            rows.append(_row("firms_am_units", k, period, num=float(am_n.get(k, 0.0)), trust=trust))
            rows.append(_row("firms_dm_share", k, period, num=n_dm, den=float(tot.get(k, 0.0)), trust=trust))
            known = float(dm_known.get(k, 0.0))
            rows.append(_row("firms_dm_avg_employees", k, period, num=float(dm_emp.get(k, 0.0)), den=known,
                             n_known=known, n_unknown=n_dm - known, trust=trust))
            # Per-capita: population of the same year when the source has a year and it exists.
            note = None
            pop = None
            if not k.startswith("fin:"):
                res, pt = 0.0, None
            elif period is not None and (atoms.district_id[k], period) in pop_year:
                res, pt = pop_year[(atoms.district_id[k], period)]  # type: ignore[index]
                pop = pop_label(period, pt)
            else:
                res, pt = _pop_den(k, pop_cur)
                pop = _pop_of(k, pop_cur)
                if res is not None and period is not None:
                    cur_year = pop_cur[k][1]
                    note = (f"popolazione {int(cur_year) if _isnum(cur_year) else 'senza anno'}, "
                            f"non del {period} come le imprese")
            if res is None:
                rows.append(_row("firms_dm_per_1k", k, period, state="missing", reason=R_NO_POP,
                                 trust=combine_trust(src_trust | {nil_trust.get(k, district_trust)})))
            else:
                rows.append(_row("firms_dm_per_1k", k, period, num=n_dm, den=res, note=note, pop=pop,
                                 trust=combine_trust(src_trust | {nil_trust.get(k, district_trust)} | ({pt} if pt else set()))))
    return rows


def _firms_city_only_reason(inp: Inputs) -> str:
    """Reason of the NULL NIL firm values when only city-wide totals exist."""
    sids = sorted({str(s) for s in inp.firm_totals["source_id"] if isinstance(s, str)})
    codes = sorted({inp.source_datasets.get(s, s) for s in sids}) or ["la fonte"]
    verb = "è" if len(codes) == 1 else "sono"
    return f"dati per {{F}} non disponibili ({', '.join(codes)} {verb} per l'intero territorio)"


def city_firm_rows(inp: Inputs, skip_periods: Iterable[int | None] = ()) -> pd.DataFrame:
    """City-level firm indicators from city-wide totals (firm_totals), one set per data year.

    firms_dm_units / firms_am_units = Σ local units of the category; firms_dm_share = 100 × dm units /
    all units; firms_dm_avg_employees = Σ employees of dm units / Σ dm units (rows with employees);
    firms_dm_per_1k = 1000 × dm units / city residents (same year if every NIL has it, else the current
    population, said in the reason). Years in `skip_periods` (covered by NIL data) are left out.
    """
    ft = inp.firm_totals
    if ft.empty:
        return pd.DataFrame(columns=VALUE_COLUMNS)
    skip = {int(p) for p in skip_periods if p is not None and not pd.isna(p)}  # type: ignore[call-overload]
    nil_ids = [int(i) for i in inp.fine["id"]]
    cur = {int(r.district_id): (float(r.residents), r.year, str(r.trust))
           for r in inp.population_current.itertuples() if _isnum(r.residents)}
    out = []
    for year, part in ft.groupby("year"):
        y = int(year)  # type: ignore[call-overload]
        if y in skip:
            continue
        trust = combine_trust(part["trust"])
        units = pd.to_numeric(part["units"], errors="coerce")
        emp = pd.to_numeric(part["employees_units"], errors="coerce")
        total = float(units.sum())
        is_dm = (part["category"] == DM).to_numpy()
        dm = float(units[is_dm].sum())
        am = float(units[(part["category"] == AM).to_numpy()].sum())
        emp_ok = is_dm & emp.notna().to_numpy() & units.notna().to_numpy()
        dm_emp, dm_emp_units = float(emp[emp_ok].sum()), float(units[emp_ok].sum())
        out.append(("firms_dm_units", TERRITORY, inp.levels.territory_id, y, dm, dm, None, None, trust))
        out.append(("firms_am_units", TERRITORY, inp.levels.territory_id, y, am, am, None, None, trust))
        out.append(("firms_dm_share", TERRITORY, inp.levels.territory_id, y, 100.0 * dm / total if total else None, dm, total,
                    None if total else "nessuna unità locale nella fonte", trust if total else _null_trust(trust)))
        unknown = dm - dm_emp_units
        caveat = f"{UNKNOWN_LABELS['firms_dm_avg_employees']}: {int(unknown)}" if unknown > 0 else None
        out.append(("firms_dm_avg_employees", TERRITORY, inp.levels.territory_id, y,
                    dm_emp / dm_emp_units if dm_emp_units else None,
                    dm_emp, dm_emp_units, caveat or (None if dm_emp_units else "nessuna unità con addetti noti"),
                    trust if dm_emp_units else _null_trust(trust)))
        same_year = inp.population[(inp.population["year"] == y)] if len(inp.population) else inp.population
        by_nil = {int(r.district_id): (float(r.residents), str(r.trust)) for r in same_year.itertuples()}
        if nil_ids and all(i in by_nil for i in nil_ids):
            res = sum(by_nil[i][0] for i in nil_ids)
            note = f"popolazione {pop_label(y, combine_trust(t for _, t in by_nil.values()))}"
            ptrust = combine_trust(t for _, t in by_nil.values())
        elif nil_ids and all(i in cur for i in nil_ids):
            res = sum(cur[i][0] for i in nil_ids)
            note = _join(_pop_note({i: pop_label(cur[i][1], cur[i][2]) for i in nil_ids}),
                         f"non del {y} come le imprese")
            ptrust = combine_trust(cur[i][2] for i in nil_ids)
        else:
            lacking = [str(i) for i in nil_ids if i not in cur]
            out.append(("firms_dm_per_1k", TERRITORY, inp.levels.territory_id, y, None, None, None,
                        f"popolazione del territorio incompleta ({{F}} {', '.join(lacking) or '-'})", _null_trust(trust)))
            continue
        out.append(("firms_dm_per_1k", TERRITORY, inp.levels.territory_id, y, 1000.0 * dm / res if res else None, dm, res,
                    note if res else "popolazione nulla", combine_trust([trust, ptrust])))
    return pd.DataFrame(out, columns=VALUE_COLUMNS)


def _pop_note(labels: Mapping[Any, str]) -> str | None:
    """'popolazione 2022' or 'popolazione 2022; NIL 8: popolazione 2021 (derivata)' for mixed years."""
    if not labels:
        return None
    tally: dict[str, list[str]] = {}
    for nil, label in labels.items():
        tally.setdefault(label, []).append(str(nil))
    main = max(tally, key=lambda lb: (len(tally[lb]), lb))
    parts = [f"popolazione {main}"]
    for label in sorted(tally):
        if label != main:
            ids = sorted(tally[label], key=lambda x: (len(x), x))
            parts.append(f"{{F}} {', '.join(ids)}: popolazione {label}")
    return "; ".join(parts)


def _xy(frame: pd.DataFrame, crs: str = "EPSG:7791") -> tuple[np.ndarray, np.ndarray]:
    return periphery.to_metres(frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float), crs)


def _access(inp: Inputs, places: pd.DataFrame, atoms: _Atoms, pop_cur: dict[str, tuple[float, Any, str]],
            nil_trust: dict[str, str]) -> list[dict[str, Any]]:
    """Distance from each NIL's representative point to the nearest makerspace; 1 km share."""
    rows: list[dict[str, Any]] = []
    makers = places[places["theme"] == "makerspace"]
    located = makers[makers["lon"].notna() & makers["lat"].notna()]
    ids = ("makerspace_distance_m", "residents_makerspace_1km_share")
    if located.empty:
        reason = R_NO_MAKERS if makers.empty else R_NO_MAKER_POINTS
        for k in atoms.nil_keys:
            for ind in ids:
                rows.append(_row(ind, k, state="missing", reason=reason, trust=nil_trust[k]))
        return rows
    mx, my = _xy(located, inp.levels.area_crs)
    tree = shapely.STRtree(shapely.points(mx, my))
    cx, cy = periphery.to_metres(inp.fine["centroid_lon"].to_numpy(dtype=float), inp.fine["centroid_lat"].to_numpy(dtype=float),
                                 inp.levels.area_crs)
    _, dist = tree.query_nearest(shapely.points(cx, cy), return_distance=True, all_matches=False)
    maker_trust = set(located["trust"].astype(str))
    period, edition_note = theme_period(located["source_id"] if "source_id" in located else [], inp.source_years)
    for district_id, d in zip(inp.fine["id"].astype(int), dist, strict=True):
        k = f"fin:{district_id}"
        res, pt = _pop_den(k, pop_cur)
        pop = _pop_of(k, pop_cur)
        trust = combine_trust(maker_trust | {nil_trust[k]} | ({pt} if pt else set()))
        near = float(d) <= NEAR_M
        if res is None:
            rows.append(_row("makerspace_distance_m", k, period, state="missing", reason=R_NO_POP, direct=float(d),
                             trust=combine_trust(maker_trust | {nil_trust[k]})))
            rows.append(_row("residents_makerspace_1km_share", k, period, state="missing", reason=R_NO_POP,
                             trust=trust))
        else:
            rows.append(_row("makerspace_distance_m", k, period, num=res * float(d), den=res, direct=float(d),
                             trust=trust, pop=pop, note=edition_note))
            rows.append(_row("residents_makerspace_1km_share", k, period, num=res if near else 0.0, den=res,
                             trust=trust, pop=pop, note=edition_note))
    return rows


def _opportunity(inp: Inputs, places: pd.DataFrame, atoms: _Atoms, periferia: set[int] | None,
                 nil_trust: dict[str, str], firm_dm: pd.DataFrame | None = None,
                 has_firm_points: bool = False) -> list[dict[str, Any]]:
    """Vacant places in peripheral NIL within 1 km of a makerspace or a digital-manufacturing firm point.

    `places` without firms; `firm_dm` the located digital-manufacturing firm points (lon, lat, trust);
    `has_firm_points`: whether any firm point (of any category) was loaded.
    """
    ind = "vacant_near_makers_periphery"
    rows: list[dict[str, Any]] = []
    if periferia is None:
        return [_row(ind, k, state="missing", reason=R_NO_PERIPHERY, trust=nil_trust.get(k, "derived"))
                for k in atoms.nil_keys]
    vacant = places[places["theme"] == "vacant"]
    makers = places[(places["theme"] == "makerspace") & _located(places)]
    dm = firm_dm if firm_dm is not None else places.iloc[0:0]
    targets = pd.concat([makers[["lon", "lat", "trust"]], dm[["lon", "lat", "trust"]]], ignore_index=True)
    missing = R_NO_VACANT if vacant.empty else (R_NO_TARGET_POINTS if targets.empty else None)
    note: str | None = None
    if missing is None and not has_firm_points:
        note = "imprese puntuali non disponibili: contati solo i makerspace"
    trust_src = set(vacant["trust"].astype(str)) | set(targets["trust"].astype(str))
    in_peri = vacant[vacant["district_id"].isin(list(periferia))]
    located = in_peri[in_peri["lon"].notna() & in_peri["lat"].notna()]
    near_count: pd.Series = pd.Series(dtype=float)
    if missing is None and not located.empty:
        tree = shapely.STRtree(shapely.points(*_xy(targets, inp.levels.area_crs)))
        vx, vy = _xy(located, inp.levels.area_crs)
        left, _ = tree.query(shapely.points(vx, vy), predicate="dwithin", distance=NEAR_M)
        near = np.zeros(len(located), dtype=bool)
        near[np.unique(left)] = True
        near_count = pd.Series(near.astype(float), index=located.index).groupby(located["atom"]).sum()
    unlocated = (in_peri["lon"].isna() | in_peri["lat"].isna()).groupby(in_peri["atom"]).sum()
    period, edition_note = theme_period(vacant["source_id"] if "source_id" in vacant else [], inp.source_years)
    note = _join(note, edition_note)
    subs = [k for k in atoms.sub_keys if atoms.district_id[k] in periferia and (k in near_count.index or k in unlocated.index)]
    for k in atoms.nil_keys + subs:
        trust_k = nil_trust.get(atoms.parent.get(k, k), "derived")
        if atoms.district_id[k] not in periferia:
            rows.append(_row(ind, k, period, state="na", trust=trust_k))
        elif missing is not None:
            rows.append(_row(ind, k, period, state="missing", reason=missing, trust=trust_k))
        else:
            unknown = float(unlocated.get(k, 0.0))
            rows.append(_row(ind, k, period, num=float(near_count.get(k, 0.0)), n_known=0.0, n_unknown=unknown,
                             note=note, trust=combine_trust(trust_src | {trust_k})))
    return rows


# ---------------------------------------------------------------------------------------
# Finishing (value + reason from num/den) and aggregation


def _finish(spec: IndicatorSpec, num: float | None, den: float | None, n_known: float,
            n_unknown: float) -> tuple[float | None, str | None]:
    """Value and reason (NULL reason or caveat) from summed counts, per the aggregation rule."""
    label = UNKNOWN_LABELS.get(spec.id, "elementi senza dato")
    caveat = f"{label}: {int(n_unknown)}" if n_unknown > 0 else None
    if spec.aggregation in ("sum", "sum_known"):
        if spec.aggregation == "sum_known" and n_known == 0 and n_unknown > 0:
            return None, f"{label}: {int(n_unknown)} (nessun valore noto)"
        return num, caveat
    # ratio
    if n_unknown > 0 and n_known == 0:
        return None, f"{label}: {int(n_unknown)} (nessun valore noto)"
    if den is None or num is None:
        return None, "dati insufficienti"
    if den == 0:
        return None, spec.zero_reason
    return spec.scale * num / den, caveat


def _collapse_sub_atoms(atoms_frame: pd.DataFrame, atoms: _Atoms) -> pd.DataFrame:
    """The NIL atoms' rows with their sub-atoms' counts added (a NIL counts all its places).

    Sums in the sub-atoms' order, on plain lists (no per-cell pandas access): the same additions, in the
    same order, as row by row, so the values are bit for bit the same.
    """
    main = atoms_frame[atoms_frame["atom"].str.startswith("fin:")].copy()
    sub = atoms_frame[atoms_frame["atom"].str.startswith("sub:") & (atoms_frame["state"] == "ok")]
    if sub.empty:
        return main
    where = {(r[0], None if pd.isna(r[1]) else int(r[1]), r[2]): pos
             for pos, r in enumerate(main[["indicator_id", "period", "atom"]].itertuples(index=False))}
    cols = ("num", "den", "n_known", "n_unknown", "trust", "note")
    vals: dict[str, list[Any]] = {c: main[c].tolist() for c in cols}
    state = main["state"].tolist()
    num, den, n_known, n_unknown, trust, note = (vals[c] for c in cols)
    for r in sub[["indicator_id", "period", "atom", *cols]].itertuples(index=False):
        pos = where.get((r.indicator_id, None if pd.isna(r.period) else int(r.period), atoms.parent[r.atom]))
        if pos is None or state[pos] != "ok":
            continue  # the NIL itself is missing (e.g. no population): its value stays NULL
        for values, add in ((num, r.num), (den, r.den)):
            if _isnum(add):
                base = values[pos]
                values[pos] = (float(base) if _isnum(base) else 0.0) + float(add)
        n_known[pos] = float(n_known[pos]) + float(r.n_known)
        n_unknown[pos] = float(n_unknown[pos]) + float(r.n_unknown)
        trust[pos] = combine_trust([trust[pos], r.trust])
        if isinstance(r.note, str):
            parts = [str(note[pos])] if isinstance(note[pos], str) else []
            note[pos] = "; ".join(merge_notes([*parts, r.note]))
    for c in cols:
        main[c] = pd.Series(vals[c], index=main.index, dtype=main[c].dtype)
    return main


# Notes whose trailing count is summed when rows are combined ("<label>: 3" + "<label>: 2" -> "<label>: 5").
SUMMED_NOTES = (R_ASSUMED,)


def merge_notes(texts: Iterable[object]) -> list[str]:
    """The distinct parts of several notes ("a; b"), in order, with the counts of SUMMED_NOTES added up."""
    out: dict[str, None] = {}
    sums: dict[str, int] = {}
    for text in texts:
        if not isinstance(text, str):
            continue
        for part in text.split("; "):
            label, _, count = part.rpartition(": ")
            if label in SUMMED_NOTES and count.isdigit():
                if label not in sums:
                    out[label] = None
                sums[label] = sums.get(label, 0) + int(count)
            else:
                out[part] = None
    return [f"{p}: {sums[p]}" if p in sums else p for p in out]


def nil_rows(atoms_frame: pd.DataFrame, atoms: _Atoms, cat: Catalogue) -> pd.DataFrame:
    """NIL-level rows of indicator_values from the atom frame."""
    out = []
    for r in _collapse_sub_atoms(atoms_frame, atoms).itertuples(index=False):
        spec = cat.spec(r.indicator_id)
        period = None if pd.isna(r.period) else int(r.period)
        area = str(atoms.district_id[r.atom])
        if r.state == "na":
            out.append((spec.id, "fine", area, period, None, None, None, spec.na_reason, _null_trust(r.trust)))
            continue
        if r.state == "missing":
            value = _f(r.direct)  # e.g. a distance is known even when the NIL's population is not
            out.append((spec.id, "fine", area, period, value, None, None, r.reason,
                        r.trust if value is not None else _null_trust(r.trust)))
            continue
        value, reason = _finish(spec, _f(r.num), _f(r.den), float(r.n_known), float(r.n_unknown))
        if _isnum(r.direct):
            value = float(r.direct)
        den = _f(r.den) if spec.aggregation == "ratio" else None
        pop = f"popolazione {r.pop}" if isinstance(r.pop, str) else None
        out.append((spec.id, "fine", area, period, value, _f(r.num), den, _join(reason, r.note, pop),
                    r.trust if value is not None else _null_trust(r.trust)))
    return pd.DataFrame(out, columns=VALUE_COLUMNS)


def _members(groups: pd.DataFrame, atoms: _Atoms, parents: Iterable[int],
             territory_id: str) -> list[tuple[str, str, list[str]]]:
    """(level role, area_id, atom keys) for every aggregate area."""
    out: list[tuple[str, str, list[str]]] = []
    for m in parents:
        out.append(("parent", str(m), [k for k in atoms.keys if atoms.parent_area.get(k) == m]))
    for level in ("periphery_class", "priority_area"):
        sub = groups[groups["group_level"] == level]
        for gid, part in sub.groupby("group_id", sort=True):
            ids = {int(i) for i in part["district_id"]}
            out.append((level, str(gid), [k for k in atoms.keys if k[:4] in ("fin:", "sub:") and atoms.district_id[k] in ids]))
    out.append((TERRITORY, territory_id, list(atoms.keys)))
    return out


def aggregate(atoms_frame: pd.DataFrame, atoms: _Atoms, groups: pd.DataFrame, parents: Iterable[int],
              cat: Catalogue, empty_groups: Iterable[tuple[str, str]] = (), territory_id: str = TERRITORY) -> pd.DataFrame:
    """Roll atoms up to every aggregate area from counts (Σ num / Σ den), with reasons.

    Rules: 'sum' is NULL when a member area is missing (an incomplete sum would undercount);
    'sum_known' and 'ratio' use the members that can be computed and list the excluded ones;
    'na' members are ignored; a pseudo-atom (places known only by their parent area) counts in
    that parent area and in the territory. Vectorised: one groupby over (indicator, period, level, area).
    """
    members = _members(groups, atoms, parents, territory_id)
    mem = pd.DataFrame([(lv, area, k) for lv, area, keys in members for k in keys], columns=["level", "area_id", "atom"])
    aggregated = [s.id for s in cat.indicators if s.aggregation != "none"]
    f = atoms_frame[atoms_frame["indicator_id"].isin(aggregated)].merge(mem, on="atom")
    levels_ok = {s.id: set(s.levels) for s in cat.indicators}
    f = f.loc[np.array([lv in levels_ok[i] for i, lv in zip(f["indicator_id"], f["level"], strict=True)], dtype=bool)]
    ok = f["state"] == "ok"
    is_nil = f["atom"].str.startswith("fin:")
    in_nil = is_nil | f["atom"].str.startswith("sub:")  # sub-atoms are places inside a NIL
    f = f.assign(
        _ok=ok.astype(int), _ok_nil=(ok & is_nil).astype(int), _missing=(f["state"] == "missing").astype(int),
        _applicable_nil=((f["state"] != "na") & is_nil).astype(int),
        _num=f["num"].astype(float).where(ok, 0.0).fillna(0.0), _den=f["den"].astype(float).where(ok, 0.0).fillna(0.0),
        _den_known=(ok & f["den"].notna()).astype(int),
        _nk=f["n_known"].astype(float).where(ok, 0.0), _nu=f["n_unknown"].astype(float).where(ok, 0.0),
        _pseudo=f["num"].astype(float).where(ok & ~in_nil, 0.0).fillna(0.0),
    )
    keys = ["indicator_id", "period", "level", "area_id"]
    g = f.groupby(keys, dropna=False, sort=True).agg(
        num=("_num", "sum"), den=("_den", "sum"), n_known=("_nk", "sum"), n_unknown=("_nu", "sum"), n_ok=("_ok", "sum"),
        n_ok_nil=("_ok_nil", "sum"), n_missing=("_missing", "sum"), n_applicable_nil=("_applicable_nil", "sum"),
        pseudo=("_pseudo", "sum"), trust=("trust", combine_trust))
    notes = {_norm_key(k): sorted(merge_notes(part_["note"]))  # type: ignore[arg-type]
             for k, part_ in f[ok & f["note"].notna()].groupby(keys, dropna=False)}
    pop_notes: dict[tuple[Any, ...], str | None] = {}
    with_pop = f[ok & f["pop"].notna() & is_nil]
    for key, part in with_pop.groupby(keys, dropna=False):
        labels = dict(zip([atoms.district_id[a] for a in part["atom"]], part["pop"], strict=True))
        pop_notes[_norm_key(key)] = _pop_note(labels)  # type: ignore[arg-type]
    miss = f[f["state"] == "missing"].copy()
    miss["_label"] = [str(atoms.district_id[a]) if atoms.district_id.get(a) is not None else a for a in miss["atom"]]
    missing_by: dict[tuple[Any, ...], dict[str, list[str]]] = {}
    for row in miss[[*keys, "reason", "_label"]].itertuples(index=False):
        missing_by.setdefault(tuple(row[:4]), {}).setdefault(str(row[4]), []).append(str(row[5]))
    out = []
    for key, r in zip(g.index, g.itertuples(index=False), strict=True):
        spec = cat.spec(str(key[0]))
        period = None if pd.isna(key[1]) else int(key[1])
        pop_note = pop_notes.get(_norm_key(key))
        out.append(_aggregate_one(spec, str(key[2]), str(key[3]), period, r, missing_by.get(tuple(key), {}),
                                  notes.get(_norm_key(key), []) + ([pop_note] if isinstance(pop_note, str) else [])))
    # Areas without any member NIL (e.g. a ring no NIL falls in): NULL with the reason.
    combos = atoms_frame[["indicator_id", "period"]].drop_duplicates().itertuples(index=False)
    areas = [(lv, a) for lv, a, keys_ in members if not keys_] + list(empty_groups)
    for ind, period in combos:
        spec = cat.spec(str(ind))
        if spec.aggregation == "none":
            continue
        for lv, a in areas:
            if lv in spec.levels:
                out.append((spec.id, lv, a, None if pd.isna(period) else int(period), None, None, None, R_NO_MEMBERS,
                            "derived"))
    return pd.DataFrame(out, columns=VALUE_COLUMNS)


def _norm_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """(indicator, period, level, area) with the period as int or None (NA-safe dict key)."""
    return (str(key[0]), None if pd.isna(key[1]) else int(key[1]), str(key[2]), str(key[3]))


def _null_trust(trust: str) -> str:
    """Trust of a NULL value: never 'official' (there is no published value behind it)."""
    return "demo" if trust == "demo" else "derived"


def _aggregate_one(spec: IndicatorSpec, level: str, area: str, period: int | None, r: Any,
                   missing: dict[str, list[str]], notes: list[str]) -> tuple[Any, ...]:
    """One aggregate row from the grouped sums `r` (see aggregate)."""
    trust = str(r.trust)
    if r.n_ok == 0 and r.n_missing == 0:
        return (spec.id, level, area, period, None, None, None,
                f"nessuna area {{F}} a cui l'indicatore si applichi ({spec.na_reason})", _null_trust(trust))
    excluded = "; ".join(f"{{F}} {', '.join(v)}: {reason}" for reason, v in missing.items()) if missing else None
    if r.n_ok == 0:
        reason = next(iter(missing)) if len(missing) == 1 else f"dati mancanti ({excluded})"
        return (spec.id, level, area, period, None, None, None, reason, _null_trust(trust))
    if excluded and spec.aggregation == "sum":
        return (spec.id, level, area, period, None, None, None, f"somma incompleta: valore mancante per {excluded}",
                _null_trust(trust))
    num = float(r.num)
    den = float(r.den) if spec.aggregation == "ratio" else None
    value, reason = _finish(spec, num, den, float(r.n_known), float(r.n_unknown))
    calc = f"calcolato su {int(r.n_ok_nil)} di {int(r.n_applicable_nil)} {{F}}; esclusi {excluded}" if excluded else None
    pseudo = "comprende luoghi senza {F} (collocati solo per area superiore o per territorio)" if float(r.pseudo) != 0 else None
    return (spec.id, level, area, period, value, num, den, _join(reason, calc, *notes, pseudo),
            trust if value is not None else _null_trust(trust))


# ---------------------------------------------------------------------------------------
# Reason codes: the Italian reason (template form, {F} = the finest level's label) as a code and
# JSON parameters, so that the views translate it (templates reason_<code> in osservatorio/i18n.py,
# rendered by osservatorio.i18n.reason_text). A reason of several parts ("a; b") is code 'multi' with
# params {"parts": [[code, params], ...]}; a reason with any part not recognised gets no code (the
# views show the Italian text). Parameter values are numbers, strings, {"it": .., "en": ..} for texts
# from the configuration, nested [code, params] reasons, or lists of {"ids": .., "reason": [..]}.

SIMPLE_REASONS = {
    R_NO_POP: "no_population", R_NO_FIRMS: "no_firms", R_NO_MAKERS: "no_makers", R_NO_COWORK: "no_coworking",
    R_NO_VACANT: "no_vacant", R_NO_MAKER_POINTS: "no_maker_points", R_NO_TARGET_POINTS: "no_target_points",
    R_NO_MEMBERS: "no_members", R_NO_SEATS: "no_seats", R_AREA_COUNTS: "area_counts", R_NOT_IN_COUNTS: "not_in_counts",
    R_NO_PERIPHERY: "no_periphery", "imprese puntuali non disponibili: contati solo i makerspace": "firm_points_missing",
    "nessuna unità locale nella fonte": "no_units_in_source", "nessuna unità con addetti noti": "no_units_with_employees",
    "dati insufficienti": "insufficient_data", "punteggio non calcolabile": "score_not_computable",
    "nessuna componente con peso positivo e dati": "score_no_components", "popolazione nulla": "population_zero",
    "comprende luoghi senza {F} (collocati solo per area superiore o per territorio)": "places_without_area",
}
_YEAR = r"(?P<year>\d{4}|senza anno)(?: \((?P<kind>derivata|demo)\))?"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [(code, re.compile(rx)) for code, rx in [
    ("ownership_assumed", re.escape(R_ASSUMED) + r": (?P<n>\d+)"),
    ("population", "popolazione " + _YEAR),
    ("year_fallback", r"dato (?P<year>\d{4}) non presente: usato l'anno più recente disponibile"),
    ("population_other_year", r"popolazione (?P<pyear>\d{4}|senza anno), non del (?P<year>\d{4}) come le imprese"),
    ("not_same_year", r"non del (?P<year>\d{4}) come le imprese"),
    ("editions", r"edizioni diverse delle fonti: (?P<list>.+)"),
    ("territory_only", r"dati per \{F\} non disponibili \((?P<codes>.+) (?:è|sono) per l'intero territorio\)"),
    ("territory_population_incomplete", r"popolazione del territorio incompleta \(\{F\} (?P<ids>[^)]*)\)"),
    ("score_dropped", r"componenti escluse perché senza dati: (?P<components>.+)"),
    ("score_missing", r"componenti mancanti: (?P<list>.+)"),
    ("no_applicable", r"nessuna area \{F\} a cui l'indicatore si applichi \((?P<text>.+)\)"),
    ("missing_data", r"dati mancanti \((?P<inner>.+)\)"),
    ("population_areas", r"\{F\} (?P<ids>\d+(?:, \d+)*): popolazione " + _YEAR),
]]
_AREA_ITEM = re.compile(r"\{F\} (?P<ids>\d+(?:, \d+)*): (?P<reason>.+)")
_FIRST_EXCL = re.compile(r"somma incompleta: valore mancante per (?P<item>.+)")
_CALC = re.compile(r"calcolato su (?P<n>\d+) di (?P<m>\d+) \{F\}")


def split_top(text: str, sep: str = "; ") -> list[str]:
    """`text` split at `sep` outside parentheses."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif depth == 0 and text.startswith(sep, i):
            out.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    out.append(text[start:])
    return out


class _Texts:
    """Italian -> English of the configuration texts a reason can contain (catalogue, unknown labels)."""

    def __init__(self, cat: Catalogue | None) -> None:
        self.catalogue: dict[str, str] = {}
        for spec in cat.indicators if cat else ():
            self.catalogue[spec.zero_reason] = spec.zero_reason_en
            self.catalogue[spec.na_reason] = spec.na_reason_en
        self.unknown = {UNKNOWN_LABELS[k]: UNKNOWN_LABELS_EN[k] for k in UNKNOWN_LABELS}
        self.unknown["elementi senza dato"] = "items without data"


def _bi(it: str, en: str) -> dict[str, str]:
    return {"it": it, "en": en}


def _year_params(m: re.Match[str]) -> dict[str, Any]:
    year = m.group("year")
    kind = {"derivata": "derived", "demo": "demo"}.get(m.group("kind") or "")
    return {"year": None if year == "senza anno" else int(year), "kind": kind}


def code_part(text: str, texts: _Texts) -> tuple[str, dict[str, Any]] | None:
    """[code, params] of one reason part, or None when it is not a known form."""
    if text in SIMPLE_REASONS:
        return SIMPLE_REASONS[text], {}
    if text in texts.catalogue:
        return "catalogue_text", {"text": _bi(text, texts.catalogue[text])}
    label, _, tail = text.rpartition(": ")
    if label in texts.unknown:
        m = re.fullmatch(r"(\d+)( \(nessun valore noto\))?", tail)
        if m:
            return ("unknown_items_none" if m.group(2) else "unknown_items"), {
                "what": _bi(label, texts.unknown[label]), "n": int(m.group(1))}
    for code, rx in _PATTERNS:
        m = rx.fullmatch(text)
        if not m:
            continue
        if code == "ownership_assumed":
            return code, {"n": int(m.group("n"))}
        if code in ("population", "population_areas"):
            params = _year_params(m)
            if code == "population_areas":
                params["ids"] = m.group("ids")
            return code, params
        if code == "year_fallback" or code == "not_same_year":
            return code, {"year": int(m.group("year"))}
        if code == "population_other_year":
            py = m.group("pyear")
            return code, {"pyear": None if py == "senza anno" else int(py), "year": int(m.group("year"))}
        if code == "editions":
            items = []
            for item in m.group("list").split(", "):
                src, _, year = item.rpartition(" ")
                if year == "data" and src.endswith(" senza"):
                    items.append([src[: -len(" senza")], None])
                elif year.isdigit() and src:
                    items.append([src, int(year)])
                else:
                    return None
            return code, {"editions": items}
        if code == "territory_only":
            return code, {"codes": m.group("codes")}
        if code == "territory_population_incomplete":
            return code, {"ids": m.group("ids")}
        if code == "score_dropped":
            return code, {"components": m.group("components")}
        if code == "score_missing":
            comps = []
            for item in split_top(m.group("list"), ", "):
                cm = re.fullmatch(r"(\w+)(?: \((.+)\))?", item)
                if cm is None:
                    return None
                why = code_reason(cm.group(2), texts) if cm.group(2) else None
                if cm.group(2) and why is None:
                    return None
                comps.append({"id": cm.group(1), "reason": list(why) if why else None})
            return code, {"components": comps}
        if code == "no_applicable":
            inner = m.group("text")
            if inner not in texts.catalogue:
                return None
            return code, {"text": _bi(inner, texts.catalogue[inner])}
        if code == "missing_data":
            areas = _area_items(split_top(m.group("inner")), texts)
            return (code, {"areas": areas}) if areas is not None else None
    return None


def _area_items(items: list[str], texts: _Texts) -> list[dict[str, Any]] | None:
    out = []
    for item in items:
        m = _AREA_ITEM.fullmatch(item)
        inner = code_part(m.group("reason"), texts) if m else None
        if m is None or inner is None:
            return None
        out.append({"ids": m.group("ids"), "reason": list(inner)})
    return out


_POP_NOTE = re.compile("popolazione " + _YEAR)


def _is_exclusion(token: str) -> bool:
    """'{F} 4, 5: <why excluded>' (not a population note '{F} 8: popolazione 2021 (derivata)')."""
    m = _AREA_ITEM.fullmatch(token)
    return m is not None and _POP_NOTE.fullmatch(m.group("reason")) is None


def code_reason(reason: str | None, texts: _Texts) -> tuple[str, dict[str, Any]] | None:
    """(code, params) of a whole reason in template form; None when any part is not recognised."""
    if not reason:
        return None
    tokens = split_top(reason)
    parts: list[list[Any]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        first = _FIRST_EXCL.fullmatch(tok)
        calc = _CALC.fullmatch(tok)
        if first or (calc and i + 1 < len(tokens) and tokens[i + 1].startswith("esclusi {F} ")):
            items = [first.group("item")] if first else [tokens[i + 1][len("esclusi "):]]
            j = i + 1 if first else i + 2
            while j < len(tokens) and _is_exclusion(tokens[j]):
                items.append(tokens[j])
                j += 1
            areas = _area_items(items, texts)
            if areas is None:
                return None
            if first:
                parts.append(["incomplete_sum", {"areas": areas}])
            else:
                parts.append(["calculated_on", {"n": int(calc.group("n")), "m": int(calc.group("m")),  # type: ignore[union-attr]
                                                "areas": areas}])
            i = j
            continue
        got = code_part(tok, texts)
        if got is None:
            return None
        parts.append(list(got))
        i += 1
    if len(parts) == 1:
        return parts[0][0], parts[0][1]
    return "multi", {"parts": parts}


def reason_columns(reasons: Iterable[object], texts: _Texts, levels: Levels) -> tuple[list[Any], list[Any]]:
    """reason_code and reason_params (JSON) for reasons in template form; the level labels ride along."""
    codes: list[Any] = []
    params: list[Any] = []
    label = _bi(levels.fine_it, levels.fine_en)
    cache: dict[str, tuple[str, str] | None] = {}
    for r in reasons:
        if not isinstance(r, str) or not r:
            codes.append(None)
            params.append(None)
            continue
        if r not in cache:
            got = code_reason(r, texts)
            cache[r] = None if got is None else (got[0], json.dumps({**got[1], "F": label}, ensure_ascii=False))
        hit = cache[r]
        codes.append(hit[0] if hit else None)
        params.append(hit[1] if hit else None)
    return codes, params


# ---------------------------------------------------------------------------------------
# Composite opportunity score


def opportunity_score_detail(components: pd.DataFrame, weights: Mapping[str, float],
                             directions: Mapping[str, str] | None = None,
                             component_reasons: pd.DataFrame | None = None) -> pd.DataFrame:
    """Score (0-100) and reason per row of `components` (`etl.scoring.score_detail`); `directions`
    default to the catalogue's."""
    return score_detail(components, weights, dict(directions) if directions is not None else _default_directions(),
                        component_reasons)


def opportunity_score(components: pd.DataFrame, weights: Mapping[str, float],
                      directions: Mapping[str, str] | None = None) -> pd.Series:
    """The composite opportunity score (0-100, NaN where not computable) with the given weights.

    `components`: one row per area, one column per component indicator (raw values, e.g. the
    NIL values of the current snapshot). `directions` ('higher'/'lower' per component) default
    to the catalogue's. The UI calls this with user-chosen weights; rules in
    `opportunity_score_detail`.
    """
    return opportunity_score_detail(components, weights, directions)["score"]


def _default_directions() -> dict[str, str]:
    try:
        return load_catalogue().directions
    except CatalogueError:
        return {}


def _current_period(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (indicator, area): the undated value if any, else the latest period."""
    f = frame.assign(_undated=frame["period"].isna(), _p=frame["period"].fillna(-1))
    f = f.sort_values(["_undated", "_p"], ascending=[False, False])
    return f.drop_duplicates(["indicator_id", "level", "area_id"]).drop(columns=["_undated", "_p"])


def score_rows(nil_values: pd.DataFrame, cat: Catalogue) -> pd.DataFrame:
    """NIL rows of opportunity_score from the NIL values of the components (default weights)."""
    comps = [c.indicator for c in cat.components]
    cur = _current_period(nil_values[nil_values["indicator_id"].isin(comps)])
    values = cur.pivot(index="area_id", columns="indicator_id", values="value").reindex(columns=comps)
    reasons = cur.pivot(index="area_id", columns="indicator_id", values="reason").reindex(columns=comps)
    trusts = cur.groupby("area_id")["trust"].agg(combine_trust)
    detail = opportunity_score_detail(values.astype(float), cat.weights, cat.directions, reasons)
    rows = [("opportunity_score", "fine", str(a), None, None if pd.isna(s) else float(s), None, None,
             r if isinstance(r, str) else None, trusts.get(a, "derived"))
            for a, s, r in zip(detail.index, detail["score"], detail["reason"], strict=True)]
    frame = pd.DataFrame(rows, columns=VALUE_COLUMNS)
    # A NULL score always has a reason.
    frame.loc[frame["value"].isna() & frame["reason"].isna(), "reason"] = "punteggio non calcolabile"
    return frame


def compute_indicators(inp: Inputs, groups: pd.DataFrame, cat: Catalogue,
                       empty_groups: Iterable[tuple[str, str]] = (), peripheral: str | None = None) -> pd.DataFrame:
    """All indicator values (long frame, columns VALUE_COLUMNS) at every level of the catalogue."""
    atoms_frame, atoms = atom_values(inp, groups, peripheral)
    nil = nil_rows(atoms_frame, atoms, cat)
    agg = aggregate(atoms_frame, atoms, groups, inp.parents, cat, empty_groups, inp.levels.territory_id)
    score = score_rows(nil, cat)
    out = pd.concat([nil, agg, score], ignore_index=True)
    if len(inp.firm_totals):
        has_nil_firms = not (inp.firm_units.empty and firm_inputs(inp)[1].empty)
        covered = set(out.loc[out["indicator_id"].isin(FIRM_IDS) & out["value"].notna(), "period"].dropna())
        city = city_firm_rows(inp, covered if has_nil_firms else ())
        if len(city):
            drop = (out["indicator_id"].isin(FIRM_IDS) & (out["level"] == TERRITORY)
                    & out["period"].isin(list(city["period"])))
            out = pd.concat([out[~drop], city], ignore_index=True)
    allowed = {s.id: set(s.levels) for s in cat.indicators}
    out = out.loc[np.array([lv in allowed[i] for i, lv in zip(out["indicator_id"], out["level"], strict=True)], dtype=bool)]
    # Roles -> the territory's level ids; a role the territory lacks (no parent level) has no rows.
    stored = out["level"].map({r: inp.levels.level_of(r) for r in ROLES})
    out = out.assign(level=stored)[stored.notna()]
    out["reason_code"], out["reason_params"] = reason_columns(out["reason"], _Texts(cat), inp.levels)
    out["reason"] = [inp.levels.fill(r) if isinstance(r, str) else None for r in out["reason"]]
    out["period"] = out["period"].astype("Int64")
    for col in ("value", "numerator", "denominator"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    bad = out["value"].isna() & out["reason"].isna()
    if bad.any():  # a NULL must always say why (the table has a CHECK too)
        raise AssertionError(f"valori NULL senza motivo: {out[bad].head().to_dict('records')}")
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------------------
# Entry point for the pipeline


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, columns: list[str]) -> None:
    """Insert a frame into one of the indicator tables (allow-listed), columns by name."""
    if table not in ("indicator_values", "indicator_catalogue", "district_groups", "target_status",
                     "taxonomy_changes", "snapshots", "periphery_groups", "scoring_weights", "ateco_category_labels",
                     "place_proximity"):
        raise ValueError(table)
    if frame.empty:
        return
    con.register("_ind_incoming", frame[columns])
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _ind_incoming")  # noqa: S608 allow-listed
    finally:
        con.unregister("_ind_incoming")


@dataclass
class ConfigPaths:
    """Where compute_all reads its configuration (tests pass temporary files)."""

    indicators: Path = DEFAULT_CATALOGUE
    periphery: Path = periphery.DEFAULT_CONFIG
    targets: Path = DEFAULT_TARGETS
    ateco: Path = DEFAULT_ATECO


PERIPHERY_GROUP_COLUMNS = ["group_level", "group_id", "sort_order", "name_it", "name_en", "description_it",
                           "description_en", "min_m", "max_m", "is_peripheral", "n_areas"]
PROXIMITY_COLUMNS = ["source_id", "source_key", "near_theme", "nearest_m", "within_m", "n_within", "nearest_name"]
# Targets of place_proximity: near_theme -> which places (makerspaces; digital-manufacturing firm points).
PROXIMITY_TARGETS = {"makerspace": ("makerspace", None), "firm_dm": ("firm", DM)}


def group_ids(cfg: periphery.PeripheryConfig) -> list[tuple[str, str]]:
    """(group_level, group_id) of every class and priority area of a periphery file, in file order."""
    return ([("periphery_class", r.class_id) for r in cfg.rings]
            + [("priority_area", a.area_id) for a in cfg.priority_areas])


def periphery_groups_frame(cfg: periphery.PeripheryConfig, groups: pd.DataFrame) -> pd.DataFrame:
    """Rows of periphery_groups (without snapshot_id): every class and priority area, both languages."""
    counts = groups.groupby(["group_level", "group_id"]).size().to_dict() if len(groups) else {}
    rows: list[dict[str, Any]] = []
    lower = 0.0
    for i, r in enumerate(cfg.rings):
        rows.append({"group_level": "periphery_class", "group_id": r.class_id, "sort_order": i, "name_it": r.name,
                     "name_en": r.name_en or r.name, "description_it": r.description or None,
                     "description_en": r.description_en or None, "min_m": lower, "max_m": r.max_m,
                     "is_peripheral": r.class_id == cfg.peripheral,
                     "n_areas": int(counts.get(("periphery_class", r.class_id), 0))})
        lower = r.max_m if r.max_m is not None else lower
    for i, a in enumerate(cfg.priority_areas):
        rows.append({"group_level": "priority_area", "group_id": a.area_id, "sort_order": i, "name_it": a.name,
                     "name_en": a.name_en or a.name, "description_it": a.rationale or None,
                     "description_en": a.rationale_en or None, "min_m": None, "max_m": None, "is_peripheral": False,
                     "n_areas": int(counts.get(("priority_area", a.area_id), 0))})
    frame = pd.DataFrame(rows, columns=PERIPHERY_GROUP_COLUMNS)
    return frame.astype({"min_m": float, "max_m": float})


def scoring_weights_frame(cat: Catalogue) -> pd.DataFrame:
    """Rows of scoring_weights (without snapshot_id): the score's components and default weights."""
    return pd.DataFrame([{"indicator_id": c.indicator, "sort_order": i, "direction": c.direction, "weight": c.weight,
                          "why": c.why or None} for i, c in enumerate(cat.components)],
                        columns=["indicator_id", "sort_order", "direction", "weight", "why"])


def ateco_labels_frame(path: Path) -> tuple[pd.DataFrame, str | None]:
    """Rows of ateco_category_labels (without snapshot_id) from the categories file, and the problem
    when it cannot be read (then no rows: the pages say the labels are missing, never invent them)."""
    columns = ["category", "sort_order", "label_it", "label_en", "description"]
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return pd.DataFrame(columns=columns), f"{Path(path).name}: {exc}"
    rows = []
    for i, (key, spec) in enumerate((data.get("categories") or {}).items()):
        if not isinstance(spec, dict) or not spec.get("label_it") or not spec.get("label_en"):
            return pd.DataFrame(columns=columns), f"{Path(path).name}: categoria {key} senza label_it/label_en"
        rows.append({"category": str(key), "sort_order": i, "label_it": str(spec["label_it"]),
                     "label_en": str(spec["label_en"]), "description": str(spec.get("description", "")) or None})
    return pd.DataFrame(rows, columns=columns), None


PlaceNames = Callable[[list[int]], Mapping[int, object]]


def place_names(con: duckdb.DuckDBPyConnection) -> PlaceNames:
    """A reader of places.name by rowid (place_row) for a few places (the nearest targets)."""
    def read(rows: list[int]) -> Mapping[int, object]:
        if not rows:
            return {}
        found = con.sql("SELECT rowid, name FROM places WHERE rowid IN (SELECT unnest(?::BIGINT[]))",
                        params=[sorted({int(r) for r in rows})]).fetchall()
        return {int(r): n for r, n in found}
    return read


def place_proximity_frame(places: pd.DataFrame, crs: str = "EPSG:7791", radius_m: float = NEAR_M,
                          firm_dm: pd.DataFrame | None = None, names: PlaceNames | None = None) -> pd.DataFrame:
    """Rows of place_proximity: every vacant place against each target theme (PROXIMITY_TARGETS).

    Distances in metres in the territory's metric CRS, as the indicator vacant_near_makers_periphery
    measures them (same targets, same radius). nearest_m / n_within / nearest_name are NULL when the
    vacant place has no coordinates or no target of the theme has any; one row per (source_id,
    source_key): a key repeated in two files of one source keeps the first. The firm targets are
    `firm_dm` (located digital-manufacturing points: place_row, lon, lat; default: the firm rows of
    `places`); targets without a `name` column get the names of the nearest ones from `names`.
    """
    vacant = places[places["theme"] == "vacant"].drop_duplicates(["source_id", "source_key"])
    if vacant.empty:
        return pd.DataFrame(columns=PROXIMITY_COLUMNS)
    located = (vacant["lon"].notna() & vacant["lat"].notna()).to_numpy()
    out = []
    for near_theme, (theme, category) in PROXIMITY_TARGETS.items():
        if theme == "firm" and firm_dm is not None:
            targets = firm_dm[firm_dm["lon"].notna() & firm_dm["lat"].notna()]
        else:
            sel = (places["theme"] == theme) & places["lon"].notna() & places["lat"].notna()
            if category is not None:
                sel &= (places["category"] == category).fillna(False).astype(bool)
            targets = places[sel]
        nearest = np.full(len(vacant), np.nan)
        n_within = np.full(len(vacant), np.nan)
        near_names: list[object] = [None] * len(vacant)
        if len(targets) and located.any():
            tree = shapely.STRtree(shapely.points(*_xy(targets, crs)))
            pts = shapely.points(*_xy(vacant[located], crs))
            (src, tgt), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
            where = np.flatnonzero(located)
            nearest[where[src]] = dist
            if "name" in targets:
                target_names = targets["name"].tolist()
            elif names is not None and "place_row" in targets:
                rows = targets["place_row"].to_numpy()
                found = names([int(rows[t]) for t in np.unique(tgt)])
                target_names = {int(t): found.get(int(rows[t])) for t in np.unique(tgt)}
            else:
                target_names = {}
            for s_i, t_i in zip(src, tgt, strict=True):
                near_names[where[s_i]] = target_names[t_i] if "name" in targets else target_names.get(int(t_i))
            left, _ = tree.query(pts, predicate="dwithin", distance=radius_m)
            counts = np.bincount(left, minlength=len(pts))
            n_within[where] = counts
        for i, row in enumerate(vacant.itertuples(index=False)):
            known = not np.isnan(nearest[i])
            out.append((row.source_id, row.source_key, near_theme, float(nearest[i]) if known else None, int(radius_m),
                        int(n_within[i]) if known else None, near_names[i] if known else None))
    frame = pd.DataFrame(out, columns=PROXIMITY_COLUMNS)
    return frame.astype({"n_within": "Int64", "nearest_m": float})


def _periphery_for(profile: TerritoryProfile | None, periphery_path: Path | None) -> Path | None:
    """The periphery file of the build: the explicit path, else the profile's (config/<file>), else None."""
    if periphery_path is not None:
        return Path(periphery_path)
    if profile is not None and profile.periphery:
        return ROOT / "config" / profile.periphery
    return None


def _stored_profile(con: duckdb.DuckDBPyConnection, progress: Progress) -> TerritoryProfile | None:
    """The profile of the territory the build stored (table territory, a file in config/territories),
    the default profile when the table is empty, None when the stored id has no profile file (then the
    levels come from territory_levels and there is no periphery file; said via `progress`)."""
    from etl import territory as territory_mod

    rows = con.sql("SELECT territory_id FROM territory").fetchall()
    if rows:
        try:
            return territory_mod.load(str(rows[0][0]))
        except territory_mod.ProfileError as exc:
            progress(f"[indicatori] profilo del territorio non trovato ({exc}): livelli dal warehouse, nessuna periferia")
            return None
    profile = territory_mod.load()
    progress(f"[indicatori] tabella territory vuota: uso il profilo predefinito ({profile.id})")
    return profile


def compute_all(con: duckdb.DuckDBPyConnection, build_id: str, mode: str, previous: Path | None,
                progress: Progress, *, indicators_path: Path | None = None, periphery_path: Path | None = None,
                targets_path: Path | None = None, ateco_path: Path | None = None, now: datetime | None = None,
                today: date | None = None, territory: TerritoryProfile | None = None) -> None:
    """Compute and store indicators, groups, snapshot, history and targets for one build.

    Called by etl.pipeline.build() inside the temporary warehouse, after the population
    roll-up and before the swap. `previous` is the installed warehouse (None / missing / older
    schema: history starts fresh, said via `progress`); it is ATTACHed READ_ONLY and never
    written. `territory` is the build's profile (default: the one stored in table `territory`);
    levels come from `territory_levels`, the periphery file from the profile (none: no periphery
    classes, said in the snapshot notes). Config paths default to <repo>/config/...; `now`
    (snapshot time) and `today` (target evaluation date, default = snapshot date) are for tests.
    """
    from etl import snapshots, targets

    profile = territory or _stored_profile(con, progress)
    levels = read_levels(con, profile)
    per_path = _periphery_for(profile, periphery_path)
    paths = ConfigPaths(
        indicators=Path(indicators_path or DEFAULT_CATALOGUE), periphery=per_path or Path("none"),
        targets=Path(targets_path or DEFAULT_TARGETS), ateco=Path(ateco_path or DEFAULT_ATECO))
    created = now or _now()
    cat = load_catalogue(paths.indicators)
    pcfg = None
    if per_path is not None:
        pcfg = periphery.load_config(per_path)
        if profile is not None:
            pcfg = pcfg.with_centre(profile.centre_lon, profile.centre_lat, profile.centre_name_it, profile.centre_name_en)
    tcfg = targets.load_targets(paths.targets, cat)

    copied = snapshots.copy_forward(con, previous, mode, progress, territory_id=levels.territory_id)
    inp = read_inputs(con, levels)
    notes = None
    if pcfg is None:
        groups = periphery.empty_groups_frame()
        notes = f"{R_NO_PERIPHERY} ({levels.territory_it}): nessuna classe di periferia né area prioritaria"
        progress(f"[indicatori] {notes}")
    else:
        groups, warnings = periphery.district_groups(inp.fine, pcfg, levels.area_crs, levels.fine_it)
        for w in warnings:
            progress(w)
        present = {(lv, str(g)) for lv, g in zip(groups["group_level"], groups["group_id"], strict=True)}
        empty = [f"{lv} {g}" for lv, g in group_ids(pcfg) if (lv, g) not in present]
        if empty:  # stored in periphery_groups with n_areas = 0; no values without an area to point to
            progress(f"[indicatori] gruppi di periferia senza aree {levels.fine_it} (nessun valore): {', '.join(empty)}")
    values = compute_indicators(inp, groups, cat, (), pcfg.peripheral if pcfg else None)

    snap = snapshots.SnapshotInfo(
        snapshot_id=build_id, created_at=created, mode=mode, catalogue_version=cat.file_hash,
        periphery_version=pcfg.version if pcfg else "none", periphery_hash=pcfg.file_hash if pcfg else "none",
        taxonomy_version=file_hash(paths.ateco), targets_version=tcfg.file_hash,
        source_versions=snapshots.source_versions(con), ateco_editions=snapshots.ateco_editions(con), notes=notes,
        territory_id=levels.territory_id)
    snapshots.record_snapshot(con, snap, groups, copied, progress)
    _insert(con, "district_groups", groups.assign(snapshot_id=build_id), ["snapshot_id", *periphery.GROUP_COLUMNS])
    _insert(con, "indicator_catalogue", catalogue_frame(cat, levels, pcfg is not None).assign(snapshot_id=build_id),
            ["snapshot_id", "indicator_id", "theme", "name_it", "name_en", "description_it", "description_en",
             "formula", "unit", "direction", "sources", "levels"])
    _insert(con, "indicator_values", values.assign(snapshot_id=build_id),
            ["snapshot_id", *VALUE_COLUMNS, "reason_code", "reason_params"])
    if pcfg is not None:
        _insert(con, "periphery_groups", periphery_groups_frame(pcfg, groups).assign(snapshot_id=build_id),
                ["snapshot_id", *PERIPHERY_GROUP_COLUMNS])
    _insert(con, "scoring_weights", scoring_weights_frame(cat).assign(snapshot_id=build_id),
            ["snapshot_id", "indicator_id", "sort_order", "direction", "weight", "why"])
    labels, problem = ateco_labels_frame(paths.ateco)
    if problem:
        progress(f"[indicatori] etichette delle categorie ATECO non salvate: {problem}")
    _insert(con, "ateco_category_labels", labels.assign(snapshot_id=build_id),
            ["snapshot_id", "category", "sort_order", "label_it", "label_en", "description"])
    _, _, firm_dm = firm_inputs(inp)
    proximity = place_proximity_frame(inp.places, levels.area_crs, firm_dm=firm_dm, names=place_names(con))
    _insert(con, "place_proximity", proximity, PROXIMITY_COLUMNS)
    status = targets.evaluate_targets(con, build_id, tcfg, cat, today or created.date(), levels)
    _insert(con, "target_status", status.assign(snapshot_id=build_id),
            ["snapshot_id", *targets.STATUS_COLUMNS])
    n_null = int(values["value"].isna().sum())
    per_text = f"periferia v{pcfg.version}" if pcfg else "senza periferia"
    progress(f"[indicatori] snapshot {build_id} ({levels.territory_id}): {len(values)} valori ({n_null} NULL con motivo), "
             f"{len(status)} target, {per_text}, catalogo {cat.file_hash}")
