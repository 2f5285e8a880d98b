"""Periphery classification of a territory's finest areas and the programme's priority areas.

The file is the one the territory profile names (`periphery = "periphery.toml"` for Milan); a
territory without one has no classification (no district_groups rows, said in the snapshot).
Default rule, explainable in one sentence: an area is *centro*, *semicentro* or *periferia*
according to the straight-line distance of its representative point (districts.centroid_lon/lat,
a point guaranteed inside the polygon) from the territory's centre (the profile's [centre]; the
file's own [centre] only when no profile is given), measured in metres in the profile's metric CRS
(EPSG:7791 for the Lombard profiles). Ring limits come from the file (Milan: < 2.0 km ~ inside the
Bastioni, 2.0-4.5 km ~ inside the outer ring road, beyond: periferia). Per-area overrides, each with
its reason, win over the rings. Priority areas are named lists of area ids. Every name and reason
has an Italian and an English text (`name` / `name_en`, ...); both are stored.

The config carries a `version` string that every snapshot records, and its file hash is recorded
too, so an edit that forgets to bump the version is still detected (etl/snapshots.py).
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyproj import Transformer

from etl.geo import UTM32_RDN2008, WGS84

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "periphery.toml"
GROUP_COLUMNS = ["group_level", "group_id", "group_name", "group_name_en", "district_id", "distance_m", "basis",
                 "basis_en"]


class PeripheryConfigError(ValueError):
    """config/periphery.toml is missing or malformed."""


@dataclass(frozen=True)
class Ring:
    """One class of the default rule: NIL closer than `max_m` (None = no upper limit)."""

    class_id: str
    name: str
    max_m: float | None
    description: str = ""
    name_en: str = ""
    description_en: str = ""


@dataclass(frozen=True)
class Override:
    """A NIL whose class is fixed by hand, with the reason."""

    district_id: int
    class_id: str
    reason: str
    reason_en: str = ""


@dataclass(frozen=True)
class PriorityArea:
    """A named group of NIL (e.g. one area of the programme, or all of them)."""

    area_id: str
    name: str
    nil_ids: tuple[int, ...]
    rationale: str = ""
    name_en: str = ""
    rationale_en: str = ""


@dataclass(frozen=True)
class PeripheryConfig:
    """The parsed config file; `file_hash` is the sha256 (first 16 hex) of its bytes."""

    version: str
    centre_name: str
    centre_lon: float
    centre_lat: float
    rings: tuple[Ring, ...]
    overrides: tuple[Override, ...] = ()
    priority_areas: tuple[PriorityArea, ...] = ()
    file_hash: str = "none"
    warnings: list[str] = field(default_factory=list)
    centre_name_en: str = ""
    peripheral_class: str = ""   # the class of the periphery indicators (default: the outermost ring)

    @property
    def class_names(self) -> dict[str, str]:
        return {r.class_id: r.name for r in self.rings}

    @property
    def class_names_en(self) -> dict[str, str]:
        return {r.class_id: r.name_en or r.name for r in self.rings}

    @property
    def peripheral(self) -> str:
        return self.peripheral_class or self.rings[-1].class_id

    def with_centre(self, lon: float, lat: float, name_it: str, name_en: str) -> PeripheryConfig:
        """The same rule measured from another centre (the territory profile's)."""
        return replace(self, centre_lon=float(lon), centre_lat=float(lat), centre_name=name_it, centre_name_en=name_en)


def file_hash(path: Path) -> str:
    """sha256 (first 16 hex digits) of a file's bytes, or 'none' when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return "none"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def load_config(path: Path | str = DEFAULT_CONFIG) -> PeripheryConfig:
    """Read and check config/periphery.toml (raises PeripheryConfigError with the problem)."""
    path = Path(path)
    if not path.is_file():
        raise PeripheryConfigError(f"{path}: file di configurazione della periferia mancante")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PeripheryConfigError(f"{path}: TOML non valido ({exc})") from exc
    return parse_config(data, file_hash(path), str(path))


def parse_config(data: dict[str, Any], hash_text: str = "none", where: str = "periphery.toml") -> PeripheryConfig:
    """Build a PeripheryConfig from the TOML mapping (checks ring order and class ids)."""
    try:
        version = str(data["version"])
        centre = data.get("centre") or {}
        rings = tuple(
            Ring(str(r["id"]), str(r["name"]), None if r.get("max_m") is None else float(r["max_m"]),
                 str(r.get("description", "")), str(r.get("name_en", "")), str(r.get("description_en", "")))
            for r in data["ring"]
        )
        centre_lon = float(centre["lon"]) if "lon" in centre else float("nan")
        centre_lat = float(centre["lat"]) if "lat" in centre else float("nan")
    except (KeyError, TypeError, ValueError) as exc:
        raise PeripheryConfigError(f"{where}: campo mancante o non valido ({exc})") from exc
    if not rings or rings[-1].max_m is not None or any(r.max_m is None for r in rings[:-1]):
        raise PeripheryConfigError(f"{where}: l'ultimo anello deve essere senza max_m, tutti gli altri con max_m")
    limits = [r.max_m for r in rings[:-1]]
    if limits != sorted(limits):  # type: ignore[type-var]
        raise PeripheryConfigError(f"{where}: gli anelli devono essere in ordine di distanza crescente")
    ids = {r.class_id for r in rings}
    overrides = []
    for key, spec in (data.get("overrides") or {}).items():
        cls = str(spec.get("class", ""))
        if cls not in ids:
            raise PeripheryConfigError(f"{where}: eccezione per il NIL {key}: classe {cls!r} sconosciuta")
        if not spec.get("reason"):
            raise PeripheryConfigError(f"{where}: eccezione per il NIL {key} senza motivazione (reason)")
        overrides.append(Override(int(key), cls, str(spec["reason"]), str(spec.get("reason_en", ""))))
    areas = []
    for spec in data.get("priority_area", []):
        try:
            members = spec["areas"] if "areas" in spec else spec["nil"]
            areas.append(PriorityArea(str(spec["id"]), str(spec["name"]), tuple(int(i) for i in members),
                                      str(spec.get("rationale", "")), str(spec.get("name_en", "")),
                                      str(spec.get("rationale_en", ""))))
        except (KeyError, TypeError, ValueError) as exc:
            raise PeripheryConfigError(f"{where}: area prioritaria non valida ({exc})") from exc
    if len({a.area_id for a in areas}) != len(areas):
        raise PeripheryConfigError(f"{where}: id di area prioritaria ripetuto")
    peripheral = str(data.get("peripheral_class", ""))
    if peripheral and peripheral not in ids:
        raise PeripheryConfigError(f"{where}: peripheral_class {peripheral!r} non è una classe degli anelli")
    return PeripheryConfig(version=version, centre_name=str(centre.get("name", "centro")),
                           centre_lon=centre_lon, centre_lat=centre_lat, rings=rings,
                           overrides=tuple(overrides), priority_areas=tuple(areas), file_hash=hash_text,
                           centre_name_en=str(centre.get("name_en", centre.get("name", "centre"))),
                           peripheral_class=peripheral)


_TRANSFORMERS: dict[str, Transformer] = {}


def to_metres(lon: np.ndarray, lat: np.ndarray, crs: str = UTM32_RDN2008) -> tuple[np.ndarray, np.ndarray]:
    """lon/lat (EPSG:4326) -> easting/northing in metres in a metric CRS (default EPSG:7791)."""
    if crs not in _TRANSFORMERS:
        _TRANSFORMERS[crs] = Transformer.from_crs(WGS84, crs, always_xy=True)
    x, y = _TRANSFORMERS[crs].transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


CLASS_COLUMNS = ["district_id", "class_id", "class_name", "class_name_en", "distance_m", "basis", "basis_en"]


def classify(nil: pd.DataFrame, cfg: PeripheryConfig, crs: str = UTM32_RDN2008) -> pd.DataFrame:
    """Class of each area. Input columns: id, centroid_lon, centroid_lat.

    Returns district_id, class_id, class_name(_en), distance_m (from the centre, metres in `crs`) and
    basis / basis_en (the rule that decided, in words).
    """
    if np.isnan(cfg.centre_lon) or np.isnan(cfg.centre_lat):
        raise PeripheryConfigError("periferia: nessun centro (né dal profilo del territorio né dal file [centre])")
    x, y = to_metres(nil["centroid_lon"].to_numpy(), nil["centroid_lat"].to_numpy(), crs)
    cx, cy = to_metres(np.array([cfg.centre_lon]), np.array([cfg.centre_lat]), crs)
    dist = np.hypot(x - cx[0], y - cy[0])
    overrides = {o.district_id: o for o in cfg.overrides}
    rows = []
    for district_id, d in zip(nil["id"].astype(int), dist, strict=True):
        ring = next(r for r in cfg.rings if r.max_m is None or d < r.max_m)
        basis = f"distanza {d / 1000:.2f} km da {cfg.centre_name} ({_ring_text(ring, cfg)})"
        basis_en = f"distance {d / 1000:.2f} km from {cfg.centre_name_en or cfg.centre_name} ({_ring_text(ring, cfg, 'en')})"
        cls = ring.class_id
        if int(district_id) in overrides:
            o = overrides[int(district_id)]
            cls = o.class_id
            basis = f"eccezione in configurazione: {o.reason} (per distanza sarebbe {ring.class_id}, {basis})"
            basis_en = (f"exception in the configuration: {o.reason_en or o.reason} (by distance it would be "
                        f"{ring.class_id}, {basis_en})")
        rows.append({"district_id": int(district_id), "class_id": cls, "class_name": cfg.class_names[cls],
                     "class_name_en": cfg.class_names_en[cls], "distance_m": float(d), "basis": basis,
                     "basis_en": basis_en})
    return pd.DataFrame(rows, columns=CLASS_COLUMNS)


def _ring_text(ring: Ring, cfg: PeripheryConfig, lang: str = "it") -> str:
    i = cfg.rings.index(ring)
    lo = 0.0 if i == 0 else cfg.rings[i - 1].max_m
    if ring.max_m is None:
        return f"{'beyond' if lang == 'en' else 'oltre'} {lo / 1000:.1f} km"  # type: ignore[operator]
    return f"{lo / 1000:.1f}-{ring.max_m / 1000:.1f} km"  # type: ignore[operator]


def district_groups(nil: pd.DataFrame, cfg: PeripheryConfig, crs: str = UTM32_RDN2008,
                    label: str = "NIL") -> tuple[pd.DataFrame, list[str]]:
    """Rows for the district_groups table (without snapshot_id) and warnings.

    One row per area for its periphery class; one row per (priority area, area). Priority-area
    ids that are not among the areas are dropped with a warning; so are overrides of unknown
    areas. `label` names the areas in the warnings (the level's label, e.g. 'NIL').
    """
    classes = classify(nil, cfg, crs)
    warnings: list[str] = []
    known = set(classes["district_id"])
    for o in cfg.overrides:
        if o.district_id not in known:
            warnings.append(f"periferia: eccezione per {label} {o.district_id}, che non esiste tra le aree caricate")
    out = [classes.assign(group_level="periphery_class").rename(
        columns={"class_id": "group_id", "class_name": "group_name", "class_name_en": "group_name_en"})]
    dist = classes.set_index("district_id")["distance_m"]
    for area in cfg.priority_areas:
        missing = [i for i in area.nil_ids if i not in known]
        if missing:
            warnings.append(f"periferia: l'area prioritaria {area.area_id} cita {label} inesistenti {missing}: ignorati")
        ids = [i for i in area.nil_ids if i in known]
        out.append(pd.DataFrame({
            "group_level": "priority_area", "group_id": area.area_id, "group_name": area.name,
            "group_name_en": area.name_en or area.name,
            "district_id": ids, "distance_m": [float(dist[i]) for i in ids],
            "basis": _join_basis(area.rationale), "basis_en": _join_basis_en(area.rationale_en or area.rationale),
        }, columns=GROUP_COLUMNS))
    groups = pd.concat(out, ignore_index=True)[GROUP_COLUMNS]
    groups["district_id"] = groups["district_id"].astype("int64")
    return groups, warnings


def empty_groups_frame() -> pd.DataFrame:
    """No groups: the frame of a territory without a periphery file."""
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "district_id" else ("float" if c == "distance_m" else object))
                         for c in GROUP_COLUMNS})


def _join_basis(rationale: str) -> str:
    return f"area prioritaria da configurazione: {rationale}" if rationale else "area prioritaria da configurazione"


def _join_basis_en(rationale: str) -> str:
    return f"priority area from the configuration: {rationale}" if rationale else "priority area from the configuration"
