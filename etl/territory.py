"""Territory profiles: which area levels a territory has, where their boundaries come from, labels.

A profile is one TOML file in `config/territories/` (see `milano.toml` for the fields). The build
reads the profile it is given and stores it (tables `territory`, `territory_levels`); the app
reads what the build stored. Levels are listed finest first: `levels[0]` is the level of maps,
rankings and profiles, `levels[1]` (optional) groups it.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PROFILES_DIR = Path(__file__).resolve().parent.parent / "config" / "territories"
_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Lombardia (west, south, east, north, EPSG:4326) with a margin: the default `region_bbox` of a profile.
REGION_LOMBARDIA = (8.45, 44.65, 11.45, 46.65)


class ProfileError(ValueError):
    """A territory profile that cannot be used: names the file, the field and what to do."""


@dataclass(frozen=True)
class LevelSpec:
    """One area level of a territory (e.g. NIL, Municipio, comune)."""

    id: str
    rank: int                     # 0 = finest
    boundary_source: str          # source_id of the boundary loader
    label_it: str
    label_en: str
    plural_it: str
    plural_en: str
    long_it: str = ""
    long_en: str = ""
    expected_count: int | None = None
    filter: dict[str, str] = field(default_factory=dict)  # feature property -> required value
    # For the generic boundary loader (boundary_source = "areas_geojson"): the file name pattern
    # (glob, searched in the raw folder), the property with the integer id and the one with the name.
    file: str = ""
    id_column: str = ""
    name_column: str = ""


@dataclass(frozen=True)
class TerritoryProfile:
    """A territory: its levels (finest first), centre, metric CRS and optional periphery file."""

    id: str
    version: str
    name_it: str
    name_en: str
    levels: tuple[LevelSpec, ...]
    centre_lon: float
    centre_lat: float
    centre_name_it: str
    centre_name_en: str
    area_crs: str = "EPSG:7791"
    # Box (west, south, east, north, EPSG:4326) every boundary file of the territory must fall in:
    # catches a wrong CRS or swapped axes before the territory's own boundaries are known.
    region_bbox: tuple[float, float, float, float] = REGION_LOMBARDIA
    periphery: str | None = None   # file name in config/ (centre, rings, exceptions, priority areas)
    default: bool = False
    path: str = ""
    sha256: str = ""

    @property
    def fine(self) -> LevelSpec:
        return self.levels[0]

    @property
    def parent(self) -> LevelSpec | None:
        return self.levels[1] if len(self.levels) > 1 else None

    def level(self, level_id: str) -> LevelSpec | None:
        return next((lv for lv in self.levels if lv.id == level_id), None)

    def has_level(self, level_id: str) -> bool:
        return self.level(level_id) is not None

    def parent_of(self, level_id: str) -> str | None:
        """The id of the level that groups `level_id`, or None."""
        ids = [lv.id for lv in self.levels]
        i = ids.index(level_id) if level_id in ids else -1
        return ids[i + 1] if 0 <= i < len(ids) - 1 else None


def _text(data: dict, key: str, path: Path, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"{path}: il campo '{key}' manca o non è un testo. Cosa fare: aggiungerlo al profilo")
    return value.strip()


def parse_profile(path: Path) -> TerritoryProfile:
    """Read and check one profile file."""
    try:
        raw = Path(path).read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path}: profilo non leggibile ({exc}). Cosa fare: correggere il file TOML") from exc
    tid = _text(data, "id", path)
    if not _ID.match(tid):
        raise ProfileError(f"{path}: id '{tid}' non valido. Cosa fare: usare lettere minuscole, cifre e _")
    levels_raw = data.get("levels")
    if not isinstance(levels_raw, list) or not levels_raw:
        raise ProfileError(f"{path}: nessun livello ([[levels]]). Cosa fare: dichiarare almeno un livello")
    if len(levels_raw) > 2:
        raise ProfileError(f"{path}: {len(levels_raw)} livelli; il prodotto ne gestisce al più due "
                           "(uno fine e uno che lo raggruppa). Cosa fare: tenerne due")
    levels = []
    seen: set[str] = set()
    for rank, lv in enumerate(levels_raw):
        if not isinstance(lv, dict):
            raise ProfileError(f"{path}: livello {rank + 1} non è una tabella. Cosa fare: usare [[levels]]")
        lid = _text(lv, "id", path)
        if not _ID.match(lid) or lid in seen or lid in RESERVED_LEVELS:
            raise ProfileError(f"{path}: id di livello '{lid}' non valido, ripetuto o riservato. "
                               "Cosa fare: sceglierne un altro")
        seen.add(lid)
        expected = lv.get("expected_count")
        if expected is not None and (not isinstance(expected, int) or expected <= 0):
            raise ProfileError(f"{path}: expected_count del livello '{lid}' non è un intero positivo")
        flt = lv.get("filter", {})
        if not isinstance(flt, dict):
            raise ProfileError(f"{path}: filter del livello '{lid}' non è una tabella")
        levels.append(LevelSpec(
            id=lid, rank=rank, boundary_source=_text(lv, "boundary_source", path),
            label_it=_text(lv, "label_it", path), label_en=_text(lv, "label_en", path),
            plural_it=_text(lv, "plural_it", path), plural_en=_text(lv, "plural_en", path),
            long_it=_text(lv, "long_it", path, False), long_en=_text(lv, "long_en", path, False),
            expected_count=expected, filter={str(k): str(v) for k, v in flt.items()},
            file=_text(lv, "file", path, False), id_column=_text(lv, "id_column", path, False),
            name_column=_text(lv, "name_column", path, False)))
    centre = data.get("centre")
    if not isinstance(centre, dict):
        raise ProfileError(f"{path}: manca [centre] (lon, lat, name_it, name_en)")
    try:
        lon, lat = float(centre["lon"]), float(centre["lat"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{path}: [centre] senza lon/lat numerici. Cosa fare: indicarli in gradi WGS84") from exc
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ProfileError(f"{path}: [centre] fuori dai limiti di lon/lat ({lon}, {lat})")
    periphery = data.get("periphery")
    region = data.get("region_bbox", list(REGION_LOMBARDIA))
    try:
        west, south, east, north = (float(v) for v in region)
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"{path}: region_bbox non è [ovest, sud, est, nord] in gradi. Cosa fare: correggerlo") from exc
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ProfileError(f"{path}: region_bbox {region} non valido (ovest < est, sud < nord, in gradi WGS84)")
    return TerritoryProfile(
        id=tid, version=_text(data, "version", path), name_it=_text(data, "name_it", path),
        name_en=_text(data, "name_en", path), levels=tuple(levels), centre_lon=lon, centre_lat=lat,
        centre_name_it=_text(centre, "name_it", path), centre_name_en=_text(centre, "name_en", path),
        area_crs=str(data.get("area_crs", "EPSG:7791")), region_bbox=(west, south, east, north),
        periphery=str(periphery) if periphery else None,
        default=bool(data.get("default", False)), path=str(path), sha256=hashlib.sha256(raw).hexdigest())


# Level ids the indicator tables use for groups of areas; a profile cannot name a level so.
RESERVED_LEVELS = frozenset({"territory", "periphery_class", "priority_area"})


def available(profiles_dir: Path | None = None) -> dict[str, Path]:
    """Profile id -> file, for every profile in the folder (ids from the file name stem)."""
    folder = Path(profiles_dir or PROFILES_DIR)
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def default_id(profiles_dir: Path | None = None) -> str:
    """The profile marked `default = true` (the first one when none is)."""
    found = available(profiles_dir)
    if not found:
        raise ProfileError(f"nessun profilo di territorio in {profiles_dir or PROFILES_DIR}")
    for tid, path in found.items():
        if parse_profile(path).default:
            return tid
    return next(iter(found))


def load(territory: str | Path | None = None, profiles_dir: Path | None = None) -> TerritoryProfile:
    """A profile by id (a file in the profiles folder) or by path; None = the default profile."""
    if territory is None:
        territory = default_id(profiles_dir)
    candidate = Path(territory)
    if candidate.suffix == ".toml" and candidate.is_file():
        return parse_profile(candidate)
    found = available(profiles_dir)
    if str(territory) not in found:
        raise ProfileError(f"territorio '{territory}' sconosciuto. Cosa fare: sceglierne uno tra "
                           f"{', '.join(found) or '(nessuno)'} o aggiungere un profilo in config/territories/")
    profile = parse_profile(found[str(territory)])
    if profile.id != str(territory):
        raise ProfileError(f"{found[str(territory)]}: l'id '{profile.id}' non corrisponde al nome del file")
    return profile
