"""Indicators: hand-computed expectations on a tiny city, at every level, NULLs with reasons.

The test city (real DuckDB, schema from etl.pipeline.create_schema, no mocks) has 4 square NIL
of 1 km x 1 km, placed by their centre at known offsets (metres, EPSG:7791) from the Duomo:

    NIL 1 (0, 0)       Municipio 1   10,000 residents (2021), 9,800 (2020)   -> centro
    NIL 2 (3000, 0)    Municipio 1   20,000 (2021), 19,000 (2020)            -> semicentro
    NIL 3 (6000, 0)    Municipio 2    5,000 (2021),  5,100 (2020)            -> periferia
    NIL 4 (0, -6000)   Municipio 2   no population                           -> periferia

Places (offsets in metres from the Duomo):
    makerspace M1 NIL 1 (300, 400) 200 m2; M2 NIL 3 (5600, 0) m2 unknown;
               M3 no coordinates, Municipio 2 only, 100 m2
    coworking  C1 NIL 2 50 seats; C2 NIL 2 seats unknown; C3 NIL 3 10 seats   (trust 'derived')
    vacant     V1 NIL 3 (6000, 300) regeneration, public, 1000 m2
               V2 NIL 4 (0, -6000) degraded, private, m2 unknown
               V3 NIL 2 (3000, 0) status and ownership unknown, 500 m2
               V4 NIL 3 (6490, 490) degraded, private, 300 m2
    firms      F1 NIL 4 (200, -6000) digital manufacturing, 4 employees
               F2 NIL 1 (-300, -300) digital manufacturing, employees unknown
               F3 NIL 1 (-200, 200) other, 10 employees; F4 NIL 3 (6200, -300) artisan, 2 employees
firm_units (ds201 layout, 2010): NIL 1 dm 3 units x 2.0 employees, other 7 x 1.0;
    NIL 2 dm 1 unit (employees unknown), artisan 2 x 3.0; NIL 4 dm 2 x 5.0.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from etl import indicators, periphery, territory
from etl.demo_reference import NIL_REFERENCE
from etl.indicators import compute_all, opportunity_score, opportunity_score_detail
from etl.pipeline import build, create_schema, write_territory
from etl.territory import TerritoryProfile

ROOT = Path(__file__).resolve().parents[1]
DUOMO = (9.1900, 45.4642)
_TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:7791", always_xy=True)
_TO_LL = Transformer.from_crs("EPSG:7791", "EPSG:4326", always_xy=True)
X0, Y0 = _TO_UTM.transform(*DUOMO)
CENTRES = {1: (0.0, 0.0), 2: (3000.0, 0.0), 3: (6000.0, 0.0), 4: (0.0, -6000.0)}
PARENT = {1: 1, 2: 1, 3: 2, 4: 2}
POP = {1: {2020: 9800, 2021: 10000}, 2: {2020: 19000, 2021: 20000}, 3: {2020: 5100, 2021: 5000}}
NOW = datetime(2026, 11, 21, 12, 0, 0)

TEST_COMPOSITE = """
[composite.opportunity_score]

[[composite.opportunity_score.component]]
indicator = "makerspaces_per_100k"
direction = "higher"
weight = 0.5

[[composite.opportunity_score.component]]
indicator = "makerspace_distance_m"
direction = "lower"
weight = 0.5
"""

PERIPHERY_TEMPLATE = """
version = "{version}"
[centre]
name = "Duomo"
lon = 9.1900
lat = 45.4642
[[ring]]
id = "centro"
name = "Centro"
max_m = 2000
[[ring]]
id = "semicentro"
name = "Semicentro"
max_m = 4500
[[ring]]
id = "periferia"
name = "Periferia"
[overrides]
{overrides}
[[priority_area]]
id = "test_area"
name = "Area di prova"
nil = [2, 4]
rationale = "prova"
"""


def ll(dx: float, dy: float) -> tuple[float, float]:
    """lon/lat of the point (dx, dy) metres east/north of the Duomo, in EPSG:7791."""
    lon, lat = _TO_LL.transform(X0 + dx, Y0 + dy)
    return float(lon), float(lat)


def square(cx: float, cy: float, half: float = 500.0) -> shapely.Polygon:
    corners = [ll(cx + sx * half, cy + sy * half) for sx, sy in [(-1, -1), (1, -1), (1, 1), (-1, 1)]]
    return shapely.Polygon(corners)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    frame = pd.DataFrame(rows)
    con.register("_fx", frame)
    try:
        cols = ", ".join(frame.columns)
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _fx")  # noqa: S608 test fixture
    finally:
        con.unregister("_fx")


def place(theme: str, key: str, district_id: int | None, municipio: int | None, offset: tuple[float, float] | None,
          trust: str = "official", **extra: Any) -> dict[str, Any]:
    lon, lat = ll(*offset) if offset else (None, None)
    row = {"theme": theme, "source_id": f"src_{theme}", "path": f"/fixture/{theme}.csv", "source_key": key, "name": key,
           "lon": lon, "lat": lat, "district_id": district_id, "parent_id": municipio,
           "assignment": "point_in_polygon" if offset else "parent_only", "category": None, "status": None,
           "ownership": None, "area_m2": None, "seats": None, "employees": None, "trust": trust}
    row.update(extra)
    return row


PLACES = [
    place("makerspace", "M1", 1, 1, (300, 400), area_m2=200.0),
    place("makerspace", "M2", 3, 2, (5600, 0)),
    place("makerspace", "M3", None, 2, None, area_m2=100.0),
    place("coworking", "C1", 2, 1, (3100, 100), trust="derived", seats=50),
    place("coworking", "C2", 2, 1, (2900, -100), trust="derived"),
    place("coworking", "C3", 3, 2, (6100, -200), trust="derived", seats=10),
    place("vacant", "V1", 3, 2, (6000, 300), status="regeneration", ownership="public", area_m2=1000.0),
    place("vacant", "V2", 4, 2, (0, -6000), status="degraded", ownership="private"),
    place("vacant", "V3", 2, 1, (3000, 0), area_m2=500.0),
    place("vacant", "V4", 3, 2, (6490, 490), status="degraded", ownership="private", area_m2=300.0),
]
FIRM_POINTS = [
    place("firm", "F1", 4, 2, (200, -6000), category="digital_manufacturing", employees=4.0, ateco_edition="2007"),
    place("firm", "F2", 1, 1, (-300, -300), category="digital_manufacturing", ateco_edition="2007"),
    place("firm", "F3", 1, 1, (-200, 200), category="other", employees=10.0, ateco_edition="2007"),
    place("firm", "F4", 3, 2, (6200, -300), category="artisan_manufacturing", employees=2.0, ateco_edition="2007"),
]
FIRM_UNITS = [
    (1, "digital_manufacturing", 3, 2.0), (1, "other", 7, 1.0), (2, "digital_manufacturing", 1, None),
    (2, "artisan_manufacturing", 2, 3.0), (4, "digital_manufacturing", 2, 5.0),
]


def build_city(con: duckdb.DuckDBPyConnection, *, firms: bool = True, trust: str = "official",
               profile: TerritoryProfile | None = None) -> None:
    """Schema + the tiny city described in the module docstring (territory: the Milan profile's levels,
    or `profile`'s: its finest level gets the four areas, its parent level, if any, the two groups)."""
    profile = profile or territory.load("milano")
    fine, parent = profile.fine.id, (profile.parent.id if profile.parent else None)
    create_schema(con)
    write_territory(con, profile)
    con.execute("INSERT INTO build VALUES ('fixture', 'real', now()::TIMESTAMP, NULL, '0', '0', 1)")
    rows = []
    for i, (cx, cy) in CENTRES.items():
        geom = square(cx, cy)
        lon, lat = ll(cx, cy)
        rows.append({"level": fine, "id": i, "name": f"Area {i}", "parent_id": PARENT[i] if parent else None,
                     "area_m2": 1e6, "centroid_lon": lon, "centroid_lat": lat, "geom_wkb": shapely.to_wkb(geom),
                     "map_geojson": shapely.to_geojson(geom), "source_id": "nil_boundaries", "trust": trust})
    for m in (1, 2) if parent else ():
        geom = shapely.union_all([square(*CENTRES[i]) for i in CENTRES if PARENT[i] == m])
        c = geom.representative_point()
        rows.append({"level": parent, "id": m, "name": f"Municipio {m}", "parent_id": None, "area_m2": 2e6,
                     "centroid_lon": c.x, "centroid_lat": c.y, "geom_wkb": shapely.to_wkb(geom),
                     "map_geojson": shapely.to_geojson(geom), "source_id": "municipi_boundaries", "trust": trust})
    _insert(con, "districts", rows)
    _insert(con, "population", [{"level": fine, "district_id": i, "year": y, "residents": r, "source_id": "population_nil",
                                 "path": "/fixture/pop.csv", "trust": trust}
                                for i, years in POP.items() for y, r in years.items()])
    places = [dict(p, trust="demo" if trust == "demo" else p["trust"]) for p in PLACES + (FIRM_POINTS if firms else [])]
    if parent is None:
        places = [dict(p, parent_id=None, assignment="centroid" if p["assignment"] == "parent_only" else p["assignment"])
                  for p in places]
    _insert(con, "places", places)
    if firms:
        _insert(con, "firm_units", [{"district_id": n, "year": 2010, "ateco_code": "26.1", "ateco_edition": "2007",
                                     "ateco_label": None, "category": c, "units": u, "avg_employees": a,
                                     "source_id": "firms_ateco", "path": "/fixture/ds201.csv", "trust": trust}
                                    for n, c, u, a in FIRM_UNITS])
    sources = [("nil_boundaries", "/fixture/nil.zip"), ("population_nil", "/fixture/pop.csv"),
               ("src_makerspace", "/fixture/makerspace.csv")] + ([("firms_ateco", "/fixture/ds201.csv")] if firms else [])
    for sid, path in sources:
        con.execute("INSERT INTO sources (source_id, dataset, title, path, sha256, bytes, file_format, crs, encoding, "
                    "rows_read, rows_loaded, rows_rejected, rows_repaired, loaded_at, licence, trust, status, notes) "
                    "VALUES (?, NULL, ?, ?, ?, 1, 'csv', NULL, NULL, 1, 1, 0, 0, now()::TIMESTAMP, "
                    "'CC BY 4.0', ?, 'loaded', NULL)", [sid, sid, path, f"sha-{sid}", trust])


def write_configs(folder: Path, *, version: str = "t1", overrides: str = "", composite: str = TEST_COMPOSITE,
                  targets: str = "", ateco: str | None = "schema_version = 1\n") -> dict[str, Path]:
    """Temporary config files: the real catalogue with a test composite, a test periphery file."""
    folder.mkdir(parents=True, exist_ok=True)
    real = (ROOT / "config" / "indicators.toml").read_text(encoding="utf-8")
    cat = folder / "indicators.toml"
    cat.write_text(real[: real.index("\n[composite.opportunity_score]\n")] + "\n" + composite, encoding="utf-8")
    per = folder / "periphery.toml"
    per.write_text(PERIPHERY_TEMPLATE.format(version=version, overrides=overrides), encoding="utf-8")
    tgt = folder / "targets.toml"
    tgt.write_text(targets, encoding="utf-8")
    ateco_path = folder / "ateco_categories.toml"
    if ateco is not None:
        ateco_path.write_text(ateco, encoding="utf-8")
    return {"indicators_path": cat, "periphery_path": per, "targets_path": tgt, "ateco_path": ateco_path}


def run(con: duckdb.DuckDBPyConnection, cfg: dict[str, Path], build_id: str = "b1", mode: str = "real",
        previous: Path | None = None, now: datetime = NOW, today: date | None = None) -> list[str]:
    messages: list[str] = []
    compute_all(con, build_id, mode, previous, messages.append, now=now, today=today, **cfg)  # type: ignore[arg-type]
    return messages


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    folder = tmp_path_factory.mktemp("city")
    con = duckdb.connect(str(folder / "w.duckdb"))
    build_city(con)
    run(con, write_configs(folder / "config"))
    return con


@pytest.fixture(scope="module")
def city_no_firms(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    folder = tmp_path_factory.mktemp("city_nofirms")
    con = duckdb.connect(str(folder / "w.duckdb"))
    build_city(con, firms=False)
    run(con, write_configs(folder / "config"))
    return con


Getter = Callable[..., tuple[Any, ...]]


def getter(con: duckdb.DuckDBPyConnection) -> Getter:
    def get(indicator: str, level: str, area: str | int, period: int | None = None) -> tuple[Any, ...]:
        rows = con.sql(
            "SELECT value, numerator, denominator, reason, trust FROM indicator_values WHERE snapshot_id = 'b1' "
            "AND indicator_id = $i AND level = $l AND area_id = $a AND period IS NOT DISTINCT FROM $p",
            params={"i": indicator, "l": level, "a": str(area), "p": period}).fetchall()
        assert len(rows) == 1, (indicator, level, area, period, rows)
        return rows[0]
    return get


@pytest.fixture(scope="module")
def get(city: duckdb.DuckDBPyConnection) -> Getter:
    return getter(city)


def check(get: Getter, indicator: str, expected: dict[tuple[str, str | int], float | None | str],
          period: int | None = None) -> None:
    """expected: (level, area) -> number, or a regex the reason must match when the value is NULL."""
    for (level, area), exp in expected.items():
        value, _num, _den, reason, _trust = get(indicator, level, area, period)
        where = f"{indicator} {level} {area} period={period}: value={value} reason={reason!r}"
        if isinstance(exp, str):
            assert value is None, where
            assert reason and re.search(exp, reason), where
        else:
            assert value == pytest.approx(exp, rel=1e-9, abs=1e-9), where


NO_POP = "^popolazione non disponibile$"


# --- periphery classes and groups ------------------------------------------------------------------

def test_periphery_classes_by_distance(city: duckdb.DuckDBPyConnection) -> None:
    rows = city.sql("SELECT group_id, district_id, distance_m, basis FROM district_groups "
                    "WHERE group_level = 'periphery_class' ORDER BY district_id").fetchall()
    assert [(g, n) for g, n, _, _ in rows] == [("centro", 1), ("semicentro", 2), ("periferia", 3), ("periferia", 4)]
    assert [d for _, _, d, _ in rows] == pytest.approx([0.0, 3000.0, 6000.0, 6000.0], abs=1e-3)
    assert rows[1][3].startswith("distanza 3.00 km da Duomo (2.0-4.5 km)")
    assert city.sql("SELECT district_id FROM district_groups WHERE group_level = 'priority_area' AND group_id = 'test_area' "
                    "ORDER BY district_id").fetchall() == [(2,), (4,)]


def test_periphery_override_changes_groups_and_aggregates(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    build_city(con)
    run(con, write_configs(tmp_path / "cfg", overrides='"2" = { class = "periferia", reason = "prova di eccezione" }'))
    (basis,), = con.sql("SELECT basis FROM district_groups WHERE group_level = 'periphery_class' AND district_id = 2 "
                        "AND group_id = 'periferia'").fetchall()
    assert "eccezione in configurazione: prova di eccezione" in basis and "sarebbe semicentro" in basis
    get = getter(con)
    # periferia = NIL 2 (0 makerspaces, 20,000 residents), 3 (1, 5,000), 4 (no population: excluded).
    check(get, "makerspaces_per_100k", {("periphery_class", "periferia"): 1 / 25000 * 1e5})
    # No area is semicentro now: the class is stored with 0 areas and has no values (no area to point to).
    assert con.sql("SELECT count(*) FROM indicator_values WHERE area_id = 'semicentro'").fetchall() == [(0,)]
    assert con.sql("SELECT n_areas, name_it, min_m, max_m, is_peripheral FROM periphery_groups "
                   "WHERE group_id = 'semicentro'").fetchall() == [(0, "Semicentro", 2000.0, 4500.0, False)]
    assert "esclusi NIL 4: popolazione non disponibile" in get("makerspaces_per_100k", "periphery_class", "periferia")[3]


def test_real_periphery_config_is_valid() -> None:
    milano = territory.load("milano")
    assert milano.periphery == "periphery.toml"
    cfg = periphery.load_config(ROOT / "config" / milano.periphery).with_centre(
        milano.centre_lon, milano.centre_lat, milano.centre_name_it, milano.centre_name_en)
    ref = pd.DataFrame(NIL_REFERENCE, columns=["id", "name", "municipio", "centroid_lon", "centroid_lat"])
    groups, warnings = periphery.district_groups(ref, cfg)
    assert warnings == []
    # Issue 15: every class, exception and priority area has its English text.
    assert groups["group_name_en"].notna().all() and groups["basis_en"].notna().all()
    assert all(r.name_en and r.description_en for r in cfg.rings)
    assert all(o.reason_en for o in cfg.overrides) and all(a.name_en and a.rationale_en for a in cfg.priority_areas)
    classes = groups[groups["group_level"] == "periphery_class"]
    assert set(zip(classes["group_name"], classes["group_name_en"], strict=True)) == {
        ("Centro", "Centre"), ("Semicentro", "Inner ring"), ("Periferia", "Periphery")}
    by_basis = dict(zip(classes["district_id"], classes["basis_en"], strict=True))
    assert by_basis[49].startswith("exception in the configuration: Giambellino: beyond the outer ring road")
    classes = groups[groups["group_level"] == "periphery_class"]
    assert len(classes) == 88 and set(classes["group_id"]) == {"centro", "semicentro", "periferia"}
    by_id = dict(zip(classes["district_id"], classes["group_id"], strict=True))
    assert by_id[1] == "centro" and by_id[87] == "periferia"
    assert by_id[49] == by_id[35] == by_id[57] == "periferia"  # overrides
    assert "piano_quartieri" in set(groups["group_id"])


def test_periphery_config_errors() -> None:
    base = {"version": "x", "centre": {"lon": 9.19, "lat": 45.46},
            "ring": [{"id": "a", "name": "A", "max_m": 10}, {"id": "b", "name": "B"}]}
    periphery.parse_config(base)
    with pytest.raises(periphery.PeripheryConfigError, match="classe"):
        periphery.parse_config({**base, "overrides": {"3": {"class": "zz", "reason": "r"}}})
    with pytest.raises(periphery.PeripheryConfigError, match="motivazione"):
        periphery.parse_config({**base, "overrides": {"3": {"class": "a"}}})
    with pytest.raises(periphery.PeripheryConfigError, match="ultimo anello"):
        periphery.parse_config({**base, "ring": [{"id": "a", "name": "A", "max_m": 10}]})


# --- population ----------------------------------------------------------------------------------------

def test_residents_per_year(get: Getter) -> None:
    for year, exp in [(2021, (10000, 20000, 5000)), (2020, (9800, 19000, 5100))]:
        check(get, "residents", {
            ("nil", 1): exp[0], ("nil", 2): exp[1], ("nil", 3): exp[2], ("nil", 4): NO_POP,
            ("municipio", 1): exp[0] + exp[1],
            ("municipio", 2): r"^somma incompleta: valore mancante per NIL 4: popolazione non disponibile$",
            ("territory", "milano"): "^somma incompleta", ("periphery_class", "centro"): exp[0],
            ("periphery_class", "semicentro"): exp[1], ("periphery_class", "periferia"): "^somma incompleta",
            ("priority_area", "test_area"): "^somma incompleta"}, period=year)


# --- makerspaces -----------------------------------------------------------------------------------------

def test_makerspaces(get: Getter) -> None:
    check(get, "makerspaces_count", {
        ("nil", 1): 1, ("nil", 2): 0, ("nil", 3): 1, ("nil", 4): 0, ("municipio", 1): 1,
        ("municipio", 2): 2,  # NIL 3 + the makerspace known only by Municipio
        ("territory", "milano"): 3, ("periphery_class", "centro"): 1, ("periphery_class", "semicentro"): 0,
        ("periphery_class", "periferia"): 1, ("priority_area", "test_area"): 0})
    assert "senza NIL" in get("makerspaces_count", "municipio", 2)[3]
    assert get("makerspaces_count", "municipio", 1)[3] is None
    check(get, "makerspaces_per_100k", {
        ("nil", 1): 10.0, ("nil", 2): 0.0, ("nil", 3): 20.0, ("nil", 4): NO_POP,
        ("municipio", 1): 1 / 30000 * 1e5, ("municipio", 2): 2 / 5000 * 1e5, ("territory", "milano"): 3 / 35000 * 1e5,
        ("periphery_class", "centro"): 10.0, ("periphery_class", "semicentro"): 0.0,
        ("periphery_class", "periferia"): 20.0, ("priority_area", "test_area"): 0.0})
    value, num, den, reason, _ = get("makerspaces_per_100k", "municipio", 2)
    assert (num, den) == (2.0, 5000.0)
    assert reason.startswith("calcolato su 1 di 2 NIL; esclusi NIL 4: popolazione non disponibile")
    check(get, "makerspaces_lab_m2", {
        ("nil", 1): 200.0, ("nil", 2): 0.0, ("nil", 3): r"^makerspace senza superficie indicata: 1 \(nessun valore noto\)$",
        ("nil", 4): 0.0, ("municipio", 1): 200.0, ("municipio", 2): 100.0, ("territory", "milano"): 300.0,
        ("periphery_class", "periferia"): "nessun valore noto"})
    assert "makerspace senza superficie indicata: 1" in get("makerspaces_lab_m2", "territory", "milano")[3]


# --- coworking ---------------------------------------------------------------------------------------------

def test_coworking(get: Getter) -> None:
    check(get, "coworking_count", {("nil", 1): 0, ("nil", 2): 2, ("nil", 3): 1, ("nil", 4): 0,
                                   ("municipio", 1): 2, ("municipio", 2): 1, ("territory", "milano"): 3,
                                   ("periphery_class", "centro"): 0, ("periphery_class", "semicentro"): 2,
                                   ("periphery_class", "periferia"): 1})
    check(get, "coworking_seats", {("nil", 1): 0.0, ("nil", 2): 50.0, ("nil", 3): 10.0, ("municipio", 1): 50.0,
                                   ("municipio", 2): 10.0, ("territory", "milano"): 60.0, ("periphery_class", "centro"): 0.0,
                                   ("periphery_class", "semicentro"): 50.0, ("periphery_class", "periferia"): 10.0})
    assert get("coworking_seats", "nil", 2)[3] == "coworking senza postazioni indicate: 1"
    check(get, "coworking_seats_per_1k", {
        ("nil", 1): 0.0, ("nil", 2): 2.5, ("nil", 3): 2.0, ("nil", 4): NO_POP,
        ("municipio", 1): 50 / 30000 * 1000, ("municipio", 2): 2.0, ("territory", "milano"): 60 / 35000 * 1000,
        ("periphery_class", "semicentro"): 2.5})
    assert "valore sottostimato" in get("coworking_seats_per_1k", "territory", "milano")[3]


# --- firms -----------------------------------------------------------------------------------------------------

def test_firm_points_period_null(get: Getter) -> None:
    check(get, "firms_dm_units", {("nil", 1): 1, ("nil", 2): 0, ("nil", 3): 0, ("nil", 4): 1, ("municipio", 1): 1,
                                  ("municipio", 2): 1, ("territory", "milano"): 2, ("periphery_class", "periferia"): 1})
    check(get, "firms_am_units", {("nil", 3): 1, ("nil", 1): 0, ("municipio", 2): 1, ("territory", "milano"): 1,
                                  ("periphery_class", "centro"): 0, ("periphery_class", "periferia"): 1})
    check(get, "firms_dm_share", {("nil", 1): 50.0, ("nil", 2): "^nessuna unità locale nell'area$", ("nil", 3): 0.0,
                                  ("nil", 4): 100.0, ("municipio", 1): 50.0, ("municipio", 2): 50.0,
                                  ("territory", "milano"): 50.0, ("periphery_class", "centro"): 50.0,
                                  ("periphery_class", "semicentro"): "^nessuna unità locale",
                                  ("periphery_class", "periferia"): 50.0})
    check(get, "firms_dm_avg_employees", {
        ("nil", 1): r"^unità di manifattura digitale senza addetti indicati: 1 \(nessun valore noto\)$",
        ("nil", 2): "^nessuna unità di manifattura digitale con addetti noti$", ("nil", 4): 4.0,
        ("municipio", 1): "nessun valore noto", ("municipio", 2): 4.0, ("territory", "milano"): 4.0,
        ("periphery_class", "centro"): "nessun valore noto", ("periphery_class", "periferia"): 4.0})
    check(get, "firms_dm_per_1k", {("nil", 1): 0.1, ("nil", 2): 0.0, ("nil", 3): 0.0, ("nil", 4): NO_POP,
                                   ("municipio", 1): 1 / 30000 * 1000, ("municipio", 2): 0.0,
                                   ("territory", "milano"): 1 / 35000 * 1000, ("periphery_class", "centro"): 0.1,
                                   ("periphery_class", "periferia"): 0.0})


def test_firm_units_period_2010(get: Getter) -> None:
    check(get, "firms_dm_units", {("nil", 1): 3, ("nil", 2): 1, ("nil", 3): 0, ("nil", 4): 2, ("municipio", 1): 4,
                                  ("municipio", 2): 2, ("territory", "milano"): 6, ("periphery_class", "centro"): 3,
                                  ("periphery_class", "semicentro"): 1, ("periphery_class", "periferia"): 2}, period=2010)
    check(get, "firms_am_units", {("nil", 2): 2, ("municipio", 1): 2, ("territory", "milano"): 2,
                                  ("periphery_class", "semicentro"): 2, ("periphery_class", "periferia"): 0}, period=2010)
    check(get, "firms_dm_share", {("nil", 1): 30.0, ("nil", 2): 100 / 3, ("nil", 3): "^nessuna unità locale",
                                  ("nil", 4): 100.0, ("municipio", 1): 400 / 13, ("municipio", 2): 100.0,
                                  ("territory", "milano"): 40.0, ("periphery_class", "centro"): 30.0,
                                  ("periphery_class", "periferia"): 100.0}, period=2010)
    check(get, "firms_dm_avg_employees", {("nil", 1): 2.0, ("nil", 2): "nessun valore noto", ("nil", 4): 5.0,
                                          ("municipio", 1): 2.0, ("municipio", 2): 5.0, ("territory", "milano"): 16 / 5,
                                          ("periphery_class", "semicentro"): "nessun valore noto",
                                          ("periphery_class", "periferia"): 5.0}, period=2010)
    _, num, den, reason, _ = get("firms_dm_avg_employees", "territory", "milano", 2010)
    assert (num, den) == (16.0, 5.0)  # Σ units x average employees / Σ units with the figure
    assert "senza addetti indicati: 1" in reason
    # Population of 2010 is not available: the current (2021) one is used, and said so.
    check(get, "firms_dm_per_1k", {("nil", 1): 0.3, ("nil", 2): 0.05, ("nil", 3): 0.0, ("nil", 4): NO_POP,
                                   ("municipio", 1): 4 / 30000 * 1000, ("territory", "milano"): 4 / 35000 * 1000,
                                   ("periphery_class", "semicentro"): 0.05, ("periphery_class", "periferia"): 0.0},
          period=2010)
    assert "popolazione 2021, non del 2010" in get("firms_dm_per_1k", "nil", 1, 2010)[3]


def test_no_firm_data_at_all(city_no_firms: duckdb.DuckDBPyConnection) -> None:
    get = getter(city_no_firms)
    for ind in indicators.FIRM_IDS:
        n = city_no_firms.sql("SELECT count(*) FROM indicator_values WHERE indicator_id = $i", params={"i": ind}).fetchall()
        assert n == [(4 + 2 + 3 + 1 + 1,)]  # every area once, period NULL
        check(get, ind, {("nil", 1): f"^{indicators.R_NO_FIRMS}$", ("municipio", 2): f"^{indicators.R_NO_FIRMS}$",
                         ("periphery_class", "periferia"): f"^{indicators.R_NO_FIRMS}$",
                         ("priority_area", "test_area"): f"^{indicators.R_NO_FIRMS}$",
                         ("territory", "milano"): f"^{indicators.R_NO_FIRMS}$"})
    # Opportunity without firm points: makerspaces only (V2 is near F1 only, so it no longer counts).
    check(get, "vacant_near_makers_periphery", {("nil", 3): 1, ("nil", 4): 0, ("territory", "milano"): 1})
    assert "solo i makerspace" in get("vacant_near_makers_periphery", "nil", 3)[3]


# --- vacant spaces ---------------------------------------------------------------------------------------

def test_vacant(get: Getter) -> None:
    check(get, "vacant_count", {("nil", 1): 0, ("nil", 2): 1, ("nil", 3): 2, ("nil", 4): 1, ("municipio", 1): 1,
                                ("municipio", 2): 3, ("territory", "milano"): 4, ("periphery_class", "periferia"): 3})
    check(get, "vacant_known_m2", {("nil", 1): 0.0, ("nil", 2): 500.0, ("nil", 3): 1300.0,
                                   ("nil", 4): r"^spazi dismessi senza superficie indicata: 1 \(nessun valore noto\)$",
                                   ("municipio", 1): 500.0, ("municipio", 2): 1300.0, ("territory", "milano"): 1800.0,
                                   ("periphery_class", "semicentro"): 500.0, ("periphery_class", "periferia"): 1300.0})
    check(get, "vacant_regeneration_share", {
        ("nil", 1): "^nessuno spazio dismesso con stato noto nell'area$",
        ("nil", 2): r"^spazi dismessi senza stato indicato: 1 \(nessun valore noto\)$", ("nil", 3): 50.0, ("nil", 4): 0.0,
        ("municipio", 1): "nessun valore noto", ("municipio", 2): 100 / 3, ("territory", "milano"): 100 / 3,
        ("periphery_class", "centro"): "^nessuno spazio dismesso con stato noto", ("periphery_class", "periferia"): 100 / 3})
    check(get, "vacant_public_count", {("nil", 3): 1, ("nil", 4): 0, ("municipio", 2): 1, ("territory", "milano"): 1,
                                       ("periphery_class", "semicentro"): 0, ("periphery_class", "periferia"): 1})
    check(get, "vacant_private_count", {("nil", 3): 1, ("nil", 4): 1, ("municipio", 2): 2, ("territory", "milano"): 2,
                                        ("periphery_class", "centro"): 0, ("periphery_class", "periferia"): 2})
    check(get, "vacant_public_share", {("nil", 1): "^nessuno spazio dismesso con proprietà nota", ("nil", 3): 50.0,
                                       ("nil", 4): 0.0, ("municipio", 2): 100 / 3, ("territory", "milano"): 100 / 3,
                                       ("periphery_class", "semicentro"): "nessun valore noto",
                                       ("periphery_class", "periferia"): 100 / 3})
    assert get("vacant_public_share", "territory", "milano")[1:3] == (1.0, 3.0)


# --- access ---------------------------------------------------------------------------------------------------

def test_distance_to_nearest_makerspace(get: Getter) -> None:
    d = {1: 500.0, 2: 2600.0, 3: 400.0, 4: math.hypot(300, 6400)}  # M2 is nearer than M1 for NIL 2
    for district_id, dist in d.items():
        value, *_ = get("makerspace_distance_m", "nil", district_id)
        assert value == pytest.approx(dist, abs=0.01)
    # NIL 4 has a distance but no population: value kept, excluded from the weighted means.
    assert get("makerspace_distance_m", "nil", 4)[3] == "popolazione non disponibile"
    # Above NIL: residents-weighted mean, Σ(residents x distance) / Σ residents.
    for (level, area), exp in {("municipio", 1): (10000 * 500 + 20000 * 2600) / 30000, ("municipio", 2): 400.0,
                               ("territory", "milano"): (10000 * 500 + 20000 * 2600 + 5000 * 400) / 35000,
                               ("periphery_class", "semicentro"): 2600.0}.items():
        assert get("makerspace_distance_m", level, area)[0] == pytest.approx(exp, abs=0.01)
    check(get, "residents_makerspace_1km_share", {
        ("nil", 1): 100.0, ("nil", 2): 0.0, ("nil", 3): 100.0, ("nil", 4): NO_POP, ("municipio", 1): 100 / 3,
        ("municipio", 2): 100.0, ("territory", "milano"): 100 * 15000 / 35000, ("periphery_class", "periferia"): 100.0})


# --- opportunity -------------------------------------------------------------------------------------------------

def test_vacant_near_makers_in_periphery(get: Getter) -> None:
    # V1 is 500 m from M2; V4 is 1,016 m from M2 and near only an artisan firm; V2 is 200 m from F1.
    check(get, "vacant_near_makers_periphery", {
        ("nil", 1): "^indicatore definito solo per le aree NIL periferiche$", ("nil", 2): "solo per le aree NIL periferiche",
        ("nil", 3): 1, ("nil", 4): 1, ("municipio", 1): "^nessuna area NIL a cui l'indicatore si applichi",
        ("municipio", 2): 2, ("territory", "milano"): 2, ("periphery_class", "periferia"): 2,
        ("periphery_class", "centro"): "nessuna area NIL", ("priority_area", "test_area"): 1})


def _scores(d4: float) -> dict[int, float | None]:
    lo, hi = 400.0, d4
    dist_norm = {1: 1 - (500 - lo) / (hi - lo), 2: 1 - (2600 - lo) / (hi - lo), 3: 1.0}
    per_norm = {1: 0.5, 2: 0.0, 3: 1.0}  # 10, 0, 20 per 100k
    return {i: 100 * (0.5 * per_norm[i] + 0.5 * dist_norm[i]) for i in (1, 2, 3)}


def test_opportunity_score_stored(get: Getter) -> None:
    exp = _scores(math.hypot(300, 6400))
    for district_id, score in exp.items():
        assert get("opportunity_score", "nil", district_id)[0] == pytest.approx(score, abs=1e-6)
    value, _, _, reason, _ = get("opportunity_score", "nil", 4)
    assert value is None and reason == "componenti mancanti: makerspaces_per_100k (popolazione non disponibile)"


def test_opportunity_score_two_weight_sets(city: duckdb.DuckDBPyConnection) -> None:
    comps = city.sql("SELECT area_id, indicator_id, value FROM indicator_values WHERE level = 'nil' AND indicator_id IN "
                     "('makerspaces_per_100k', 'makerspace_distance_m')").df()
    frame = comps.pivot(index="area_id", columns="indicator_id", values="value").astype(float)
    directions = {"makerspaces_per_100k": "higher", "makerspace_distance_m": "lower"}
    only_density = opportunity_score(frame, {"makerspaces_per_100k": 1, "makerspace_distance_m": 0}, directions)
    assert only_density.to_dict() == pytest.approx({"1": 50.0, "2": 0.0, "3": 100.0, "4": math.nan}, nan_ok=True)
    only_access = opportunity_score(frame, {"makerspaces_per_100k": 0, "makerspace_distance_m": 2.5}, directions)
    d4 = math.hypot(300, 6400)
    assert only_access.to_dict() == pytest.approx({"1": 100 * (1 - 100 / (d4 - 400)), "2": 100 * (1 - 2200 / (d4 - 400)),
                                                   "3": 100.0, "4": 0.0})
    # Default weights from the test catalogue (0.5 / 0.5) reproduce the stored score.
    both = opportunity_score(frame, {"makerspaces_per_100k": 1, "makerspace_distance_m": 1}, directions)
    assert both[["1", "2", "3"]].tolist() == pytest.approx([_scores(d4)[i] for i in (1, 2, 3)])


def test_opportunity_score_rules() -> None:
    comps = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [5.0, 5.0, 5.0], "c": [None, None, None]}, index=["x", "y", "z"])
    detail = opportunity_score_detail(comps, {"a": 1, "b": 1, "c": 1}, {"a": "lower", "b": "higher", "c": "higher"})
    # constant b normalises to 0; c has no data anywhere: dropped and said so; a is inverted.
    assert detail["score"].tolist() == pytest.approx([50.0, 25.0, 0.0])
    assert detail["reason"].tolist() == ["componenti escluse perché senza dati: c"] * 3
    with pytest.raises(ValueError, match="sconosciute"):
        opportunity_score(comps, {"zz": 1})
    with pytest.raises(ValueError, match=">= 0"):
        opportunity_score(comps, {"a": -1})
    assert opportunity_score(comps, {"a": 0}).isna().all()


# --- trust, catalogue, invariants ----------------------------------------------------------------------------

def test_trust_labels(get: Getter, tmp_path: Path) -> None:
    assert get("makerspaces_count", "nil", 1)[4] == "official"
    assert get("makerspaces_per_100k", "territory", "milano")[4] == "official"
    assert get("coworking_count", "nil", 2)[4] == "derived"  # coworking source is derived
    assert get("makerspaces_per_100k", "nil", 4)[4] == "derived"  # NULL: never 'official'
    con = duckdb.connect(str(tmp_path / "d.duckdb"))
    build_city(con, trust="demo")
    run(con, write_configs(tmp_path / "cfg"))
    assert con.sql("SELECT DISTINCT trust FROM indicator_values").fetchall() == [("demo",)]


def test_catalogue_stored_and_every_level_present(city: duckdb.DuckDBPyConnection) -> None:
    cat = indicators.load_catalogue(ROOT / "config" / "indicators.toml")
    stored = {r[0] for r in city.sql("SELECT indicator_id FROM indicator_catalogue").fetchall()}
    assert stored == set(indicators.COMPUTED) == set(cat.ids)
    n_areas = {"nil": 4, "municipio": 2, "periphery_class": 3, "priority_area": 1, "territory": 1}
    stored_level = {"fine": "nil", "parent": "municipio"}
    for spec in cat.indicators:
        for level in (stored_level.get(r, r) for r in spec.levels):
            areas = city.sql("SELECT count(DISTINCT area_id) FROM indicator_values WHERE indicator_id = $i AND level = $l",
                             params={"i": spec.id, "l": level}).fetchall()[0][0]
            assert areas == n_areas[level], (spec.id, level)
        bad = set(n_areas) - {stored_level.get(r, r) for r in spec.levels}
        assert city.sql("SELECT count(*) FROM indicator_values WHERE indicator_id = $i AND list_contains($b, level)",
                        params={"i": spec.id, "b": sorted(bad)}).fetchall() == [(0,)]
    assert city.sql("SELECT count(*) FROM indicator_values WHERE value IS NULL AND reason IS NULL").fetchall() == [(0,)]
    (formula,), = city.sql("SELECT formula FROM indicator_catalogue WHERE indicator_id = 'opportunity_score'").fetchall()
    assert "makerspaces_per_100k (higher, peso 0.5)" in formula


def test_catalogue_errors() -> None:
    import tomllib

    data = tomllib.loads((ROOT / "config" / "indicators.toml").read_text(encoding="utf-8"))
    indicators.parse_catalogue(data)
    broken = {**data, "indicator": data["indicator"][1:]}
    with pytest.raises(indicators.CatalogueError, match="mancano"):
        indicators.parse_catalogue(broken)
    bad_dir = {**data, "indicator": [{**data["indicator"][0], "direction": "up"}, *data["indicator"][1:]]}
    with pytest.raises(indicators.CatalogueError, match="direction"):
        indicators.parse_catalogue(bad_dir)


# --- density, per-NIL counts, city-wide firm totals, population years, positions, editions -----------------------

def test_density_uses_area_of_the_same_nil(get: Getter) -> None:
    """Σ residents / Σ area of the NIL that have residents (NIL 4 has none: its km² are not counted)."""
    check(get, "population_density", {("nil", 1): 10000.0, ("nil", 4): NO_POP, ("municipio", 1): 15000.0,
                                      ("municipio", 2): 5000.0, ("territory", "milano"): 35000 / 3,
                                      ("periphery_class", "periferia"): 5000.0}, period=2021)
    _, num, den, reason, _ = get("population_density", "municipio", 2, 2021)
    assert (num, den) == (5000.0, 1.0)
    assert "esclusi NIL 4" in reason and "popolazione 2021" in reason


def test_district_density_transform_matches_numerator_and_denominator(tmp_path: Path) -> None:
    """The Municipio polygon (here 3 km²) is not the area of its NIL (2 km²): density uses the NIL's."""
    from etl.sql import transform

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    build_city(con, firms=False)
    con.execute(transform("rollup_population_parent"))
    con.execute("UPDATE districts SET area_m2 = 3e6 WHERE level = 'municipio' AND id = 1")
    rows = {(lv, i): (r, a, d) for lv, i, r, _y, a, d in con.sql(transform("district_density")).fetchall()}
    assert rows[("municipio", 1)] == (30000, 2e6, 15000.0)
    assert rows[("nil", 1)] == (10000, 1e6, 10000.0)
    assert rows[("municipio", 2)][0] is None and rows[("municipio", 2)][2] is None  # NIL 4 has no figure: no rollup


def _city_extra(con: duckdb.DuckDBPyConnection) -> None:
    """The tiny city without firm data and coworking points, plus: per-NIL coworking counts (NIL 4
    absent), ds171-like city totals for 2009-2010, official 2022 residents for NIL 1-2 only, a vacant
    place of NIL 3 lying in Municipio 1 with an assumed ownership, list editions in `sources`."""
    build_city(con, firms=False)
    con.execute("DELETE FROM places WHERE theme = 'coworking'")
    _insert(con, "area_counts", [{"level": "nil", "district_id": n, "theme": "coworking", "year": None, "count": c,
                                  "source_id": "coworking_counts", "path": "/fixture/nil.json", "trust": "derived"}
                                 for n, c in [(1, 0), (2, 2), (3, 1)]])
    totals = [(2009, "digital_manufacturing", 8, 24.0), (2009, "artisan_manufacturing", 4, None), (2009, "other", 88, 100.0),
              (2010, "digital_manufacturing", 10, 30.0), (2010, "artisan_manufacturing", 5, 9.0), (2010, "other", 85, 90.0)]
    _insert(con, "firm_totals", [{"level": "territory", "area_id": "milano", "year": y, "ateco_code": f"{j:02d}.00.0",
                                  "ateco_edition": "2007", "category": c, "firms": u, "units": u, "employees_firms": e,
                                  "employees_units": e, "source_id": "firms_city", "path": "/fixture/ds171.csv",
                                  "trust": "official"} for j, (y, c, u, e) in enumerate(totals)])
    _insert(con, "population", [{"level": "nil", "district_id": n, "year": 2022, "reference_date": date(2022, 12, 31),
                                 "residents": r, "source_id": "population_xlsx", "path": "/fixture/2022.xlsx",
                                 "trust": "official"} for n, r in [(1, 11000), (2, 21000)]])
    _insert(con, "places", [place("vacant", "V5", 3, 1, (6000, -300), ownership="public",
                                  attributes=json.dumps({"ownership_assumed": True}))])
    for sid, path, dataset, ref in [("src_vacant", "/fixture/vacant.csv", "ds503", date(2016, 6, 30)),
                                    ("firms_city", "/fixture/ds171.csv", "ds171", None)]:
        con.execute("INSERT INTO sources (source_id, dataset, title, path, sha256, bytes, file_format, crs, encoding, "
                    "rows_read, rows_loaded, rows_rejected, rows_repaired, loaded_at, licence, trust, status, notes, "
                    "reference_date) VALUES (?, ?, ?, ?, 'x', 1, 'csv', NULL, NULL, 1, 1, 0, 0, now()::TIMESTAMP, "
                    "'CC BY 4.0', 'official', 'loaded', NULL, ?)", [sid, dataset, sid, path, ref])
    con.execute("UPDATE sources SET reference_date = DATE '2024-03-01' WHERE source_id = 'src_makerspace'")


@pytest.fixture(scope="module")
def extra(tmp_path_factory: pytest.TempPathFactory) -> Getter:
    folder = tmp_path_factory.mktemp("city_extra")
    con = duckdb.connect(str(folder / "w.duckdb"))
    _city_extra(con)
    run(con, write_configs(folder / "config"))
    return getter(con)


def test_coworking_from_per_nil_counts(extra: Getter) -> None:
    not_in_counts = indicators.Levels.default().fill(indicators.R_NOT_IN_COUNTS)
    assert not_in_counts == "NIL assente dal conteggio per NIL"
    check(extra, "coworking_count", {("nil", 1): 0, ("nil", 2): 2, ("nil", 3): 1,
                                     ("nil", 4): f"^{not_in_counts}$", ("municipio", 1): 2,
                                     ("periphery_class", "semicentro"): 2, ("territory", "milano"): "^somma incompleta"})
    assert indicators.Levels.default().fill(indicators.R_AREA_COUNTS) in extra("coworking_count", "municipio", 1)[3]
    assert extra("coworking_count", "nil", 2)[4] == "derived"
    check(extra, "coworking_per_1k", {("nil", 2): 2 / 21000 * 1000, ("municipio", 1): 2 / 32000 * 1000,
                                      ("territory", "milano"): 3 / 37000 * 1000})
    check(extra, "coworking_periphery_share", {("nil", 3): 100.0, ("nil", 1): "^nessun coworking nell'area",
                                               ("nil", 2): 0.0, ("territory", "milano"): 100 / 3})
    for ind in indicators.SEAT_IDS:
        check(extra, ind, {("nil", 2): f"^{indicators.R_NO_SEATS}$", ("territory", "milano"): f"^{indicators.R_NO_SEATS}$"})


def test_city_firm_totals_per_year(extra: Getter) -> None:
    for year, (dm, am, total, emp) in {2009: (8, 4, 100, 24.0), 2010: (10, 5, 100, 30.0)}.items():
        check(extra, "firms_dm_units", {("territory", "milano"): dm, ("nil", 1): r"^dati per NIL non disponibili \(ds171",
                                        ("municipio", 1): "per l'intero territorio"}, period=year)
        check(extra, "firms_am_units", {("territory", "milano"): am}, period=year)
        check(extra, "firms_dm_share", {("territory", "milano"): 100 * dm / total}, period=year)
        check(extra, "firms_dm_avg_employees", {("territory", "milano"): emp / dm}, period=year)
        # NIL 4 has no population: no city rate rather than a rate over part of the city.
        check(extra, "firms_dm_per_1k", {("territory", "milano"): r"^popolazione del territorio incompleta \(NIL 4\)$"},
              period=year)
        assert extra("firms_dm_units", "territory", "milano", year)[4] == "official"
    with pytest.raises(AssertionError):
        extra("firms_dm_units", "territory", "milano", None)  # no undated row next to the years


def test_population_years_are_said(extra: Getter) -> None:
    check(extra, "residents", {("nil", 1): 11000, ("nil", 3): 5000, ("nil", 4): NO_POP, ("municipio", 1): 32000,
                               ("territory", "milano"): "^somma incompleta"}, period=2022)
    assert "dato 2022 non presente" in extra("residents", "nil", 3, 2022)[3]
    assert "popolazione 2021" in extra("residents", "nil", 3, 2022)[3]
    check(extra, "makerspaces_per_100k", {("territory", "milano"): 3 / 37000 * 1e5, ("nil", 1): 1 / 11000 * 1e5}, period=2024)
    assert "popolazione 2022; NIL 3: popolazione 2021" in extra("makerspaces_per_100k", "territory", "milano", 2024)[3]
    assert extra("makerspaces_per_100k", "nil", 1, 2024)[3] == "popolazione 2022"
    assert extra("makerspaces_per_100k", "municipio", 1, 2024)[3] == "popolazione 2022"


def test_place_counts_in_the_municipio_of_its_position(extra: Getter) -> None:
    """V5 is in NIL 3 (parent Municipio 2) but its position is in Municipio 1."""
    check(extra, "vacant_count", {("nil", 3): 3, ("municipio", 1): 2, ("municipio", 2): 3, ("territory", "milano"): 5,
                                  ("periphery_class", "periferia"): 4}, period=2016)
    # Assumed ownership is not ownership: V5 counts as unknown.
    check(extra, "vacant_public_count", {("nil", 3): 1, ("municipio", 1): 0, ("territory", "milano"): 1}, period=2016)
    check(extra, "vacant_public_share", {("nil", 3): 50.0, ("territory", "milano"): 100 / 3}, period=2016)
    assert f"{indicators.R_ASSUMED}: 1" in extra("vacant_public_share", "nil", 3, 2016)[3]
    assert f"{indicators.R_ASSUMED}: 1" in extra("vacant_public_count", "municipio", 1, 2016)[3]
    assert indicators.merge_notes([f"a; {indicators.R_ASSUMED}: 2", f"{indicators.R_ASSUMED}: 3; a", "b"]) == [
        "a", f"{indicators.R_ASSUMED}: 5", "b"]


def test_period_is_the_edition_of_the_list(extra: Getter) -> None:
    check(extra, "makerspaces_count", {("nil", 1): 1, ("territory", "milano"): 3}, period=2024)
    check(extra, "makerspace_distance_m", {("nil", 1): 500.0}, period=2024)
    with pytest.raises(AssertionError):
        extra("makerspaces_count", "territory", "milano", None)


def test_theme_period_and_population_notes() -> None:
    assert indicators.theme_period(["a", "b"], {"a": 2016, "b": 2026}) == (
        2026, "edizioni diverse delle fonti: a 2016, b 2026")
    assert indicators.theme_period(["a"], {"a": 2016}) == (2016, None)
    assert indicators.theme_period(["a", "c"], {"a": 2016})[0] == 2016
    assert indicators.theme_period(["c"], {}) == (None, None)
    assert indicators._pop_note({1: "2022", 2: "2022", 8: "2021 (derivata)"}) == (
        "popolazione 2022; {F} 8: popolazione 2021 (derivata)")
    assert indicators.pop_label(None, "derived") == "senza anno (derivata)"


# --- real files ------------------------------------------------------------------------------------------------------

def _build_with_indicators(raw: Path | None, out: Path) -> None:
    """etl.pipeline.build, plus compute_all when the pipeline does not call it yet."""
    report = build(raw, out, progress=lambda _m: None)
    con = duckdb.connect(str(out))
    try:
        if con.sql("SELECT count(*) FROM snapshots").fetchall() == [(0,)]:
            compute_all(con, report.build_id, report.mode, None, lambda _m: None)
    finally:
        con.close()


# Additive place indicators -> (theme, SQL filter, measure) recomputed from `places` by Municipio.
PLACE_SUMS = {
    "makerspaces_count": ("makerspace", "TRUE", "1"),
    "makerspaces_lab_m2": ("makerspace", "TRUE", "area_m2"),
    "coworking_count": ("coworking", "TRUE", "1"),
    "coworking_seats": ("coworking", "TRUE", "seats"),
    # a confiscated property already assigned is in use, not vacant (etl.indicators.in_use)
    "vacant_count": ("vacant", "coalesce(status, '') <> 'assigned'", "1"),
    "vacant_known_m2": ("vacant", "coalesce(status, '') <> 'assigned'", "area_m2"),
}


def _value(con: duckdb.DuckDBPyConnection, ind: str, level: str, area: str, period: object = None) -> Any:
    rows = con.sql("SELECT value FROM indicator_values WHERE indicator_id = $i AND level = $l AND area_id = $a "
                   "AND period IS NOT DISTINCT FROM $p", params={"i": ind, "l": level, "a": area, "p": period}).fetchall()
    assert len(rows) == 1, (ind, level, area, period, rows)
    return rows[0][0]


def _period(con: duckdb.DuckDBPyConnection, ind: str) -> Any:
    """The current period of an indicator at city level (undated first, else the latest year)."""
    return con.sql("SELECT period FROM indicator_values WHERE indicator_id = $i AND level = 'territory' "
                   "ORDER BY period DESC NULLS FIRST LIMIT 1", params={"i": ind}).fetchall()[0][0]


@pytest.mark.real
def test_real_city_totals_equal_sum_of_districts(real_dir: Path, tmp_path: Path) -> None:
    """Real files: totals recomputed independently (from places by Municipio of position, from NIL by
    parent for residents, from firm_totals for the city), ratios from counts, no NULL without reason."""
    out = tmp_path / "real.duckdb"
    _build_with_indicators(real_dir, out)
    con = duckdb.connect(str(out), read_only=True)
    try:
        parent = dict(con.sql("SELECT id, parent_id FROM districts WHERE level = 'nil'").fetchall())
        municipi = [str(m) for (m,) in con.sql("SELECT id FROM districts WHERE level = 'municipio' ORDER BY id").fetchall()]
        assert con.sql("SELECT count(*) FROM indicator_values WHERE value IS NULL AND reason IS NULL").fetchall() == [(0,)]
        checked = 0
        # Residents: Municipio = Σ its NIL (by parent), city = Σ NIL, in every year.
        values = con.sql("SELECT level, area_id, period, value FROM indicator_values WHERE indicator_id = 'residents'").df()
        for period, part in values.groupby("period"):
            nil = part[part["level"] == "nil"]
            assert nil["value"].notna().all(), period
            city = part.loc[part["level"] == "territory", "value"].iloc[0]
            assert city == pytest.approx(nil["value"].sum(), rel=1e-12)
            for m in municipi:
                exp = nil.loc[nil["area_id"].astype(int).map(parent) == int(m), "value"].sum()
                assert part.loc[(part["level"] == "municipio") & (part["area_id"] == m), "value"].iloc[0] == exp
            checked += 1
        # Places: a Municipio counts the places of its polygon (position), whatever their NIL's parent.
        for ind, (theme, where, measure) in PLACE_SUMS.items():
            n_theme = con.sql("SELECT count(*) FROM places WHERE theme = $t", params={"t": theme}).fetchall()[0][0]
            if n_theme == 0:
                continue
            period = _period(con, ind)
            by_mun = dict(con.sql(f"SELECT parent_id::VARCHAR, sum({measure}) FROM places WHERE theme = $t AND {where} "  # noqa: S608
                                  "GROUP BY 1", params={"t": theme}).fetchall())
            total = con.sql(f"SELECT sum({measure}) FROM places WHERE theme = $t AND {where}",  # noqa: S608
                            params={"t": theme}).fetchall()[0][0]
            city = _value(con, ind, "territory", "milano", period)
            if total is None:
                assert city is None
                continue
            assert city == pytest.approx(float(total), rel=1e-9), ind
            for m in municipi:
                got = _value(con, ind, "municipio", m, period)
                assert (got or 0.0) == pytest.approx(float(by_mun.get(m) or 0.0), rel=1e-9), (ind, m)
            checked += 1
        assert checked >= 3
        # Ratios are recomputed from counts, not averaged: city share = Σ numerators / Σ denominators.
        period = _period(con, "population_density")
        rows = con.sql("SELECT sum(numerator), sum(denominator) FROM indicator_values WHERE indicator_id = "
                       "'population_density' AND level = 'nil' AND period IS NOT DISTINCT FROM $p",
                       params={"p": period}).fetchall()[0]
        assert _value(con, "population_density", "territory", "milano", period) == pytest.approx(rows[0] / rows[1], rel=1e-9)
        vacant = con.sql("SELECT status, ownership, attributes FROM places WHERE theme = 'vacant' "
                         "AND coalesce(status, '') <> 'assigned'").df()
        if len(vacant):
            assumed = vacant["attributes"].map(
                lambda t: bool(json.loads(t).get("ownership_assumed")) if isinstance(t, str) else False).astype(bool)
            owner = vacant["ownership"].where(~assumed)
            status = vacant["status"]
            expected = {"vacant_regeneration_share": ((status == "regeneration").sum(), status.notna().sum()),
                        "vacant_public_share": ((owner == "public").sum(), owner.notna().sum())}
            for ind, (num, den) in expected.items():
                city = _value(con, ind, "territory", "milano", _period(con, ind))
                assert (city is None) == (den == 0), ind
                if den:
                    assert city == pytest.approx(100.0 * num / den, rel=1e-9), ind
    finally:
        con.close()


@pytest.mark.real
def test_real_every_indicator_with_input_has_a_value(real_dir: Path, tmp_path: Path) -> None:
    """The acceptance test on the real folder: each indicator whose input is loaded has values."""
    out = tmp_path / "real.duckdb"
    _build_with_indicators(real_dir, out)
    con = duckdb.connect(str(out), read_only=True)
    try:
        def q(sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
            return con.sql(sql, params=params).fetchall()

        def n_nil(ind: str) -> int:
            period = _period(con, ind)
            return int(q("SELECT count(value) FROM indicator_values WHERE indicator_id = $i AND level = 'nil' "
                         "AND period IS NOT DISTINCT FROM $p", {"i": ind, "p": period})[0][0])

        n_districts = q("SELECT count(*) FROM districts WHERE level = 'nil'")[0][0]
        has = {t for (t,) in q("SELECT DISTINCT theme FROM places")}
        assert n_nil("population_density") == n_districts
        if "makerspace" in has:
            for ind in ("makerspaces_count", "makerspace_distance_m"):
                assert n_nil(ind) == n_districts, ind
        if "vacant" in has:
            assert n_nil("vacant_count") == n_districts
            assert _value(con, "vacant_count", "territory", "milano", _period(con, "vacant_count")) == \
                q("SELECT count(*) FROM places WHERE theme = 'vacant' AND coalesce(status, '') <> 'assigned'")[0][0]
        cow = q("SELECT count(*), sum(count) FROM area_counts WHERE theme = 'coworking' AND level = 'nil'")[0]
        if "coworking" not in has and cow[0]:
            assert n_nil("coworking_count") == cow[0]
            assert _value(con, "coworking_count", "territory", "milano", _period(con, "coworking_count")) == cow[1]
            (reason,) = q("SELECT DISTINCT reason FROM indicator_values WHERE indicator_id = 'coworking_seats'")[0]
            assert reason == indicators.R_NO_SEATS
        years = [y for (y,) in q("SELECT DISTINCT year FROM firm_totals WHERE level = 'territory' ORDER BY 1")]
        if years and not q("SELECT count(*) FROM firm_units")[0][0]:
            for ind in indicators.FIRM_IDS:
                got = q("SELECT period FROM indicator_values WHERE indicator_id = $i AND level = 'territory' "
                        "AND value IS NOT NULL ORDER BY 1", {"i": ind})
                assert [p for (p,) in got] == years, ind
            for y in years:
                (units,) = q("SELECT sum(units) FROM firm_totals WHERE level = 'territory' AND year = $y", {"y": y})[0]
                (den,) = q("SELECT denominator FROM indicator_values WHERE indicator_id = 'firms_dm_share' "
                           "AND level = 'territory' AND period = $y", {"y": y})[0]
                assert den == units
            if 2010 in years:
                assert q("SELECT sum(units) FROM firm_totals WHERE year = 2010")[0][0] == 186_472
            reasons = q("SELECT DISTINCT reason FROM indicator_values WHERE indicator_id = 'firms_dm_units' AND level = 'nil'")
            assert len(reasons) == 1 and "per l'intero territorio" in reasons[0][0]
        # Per-capita values name the population year; a total mixing years lists the exceptions.
        for (reason,) in q("SELECT reason FROM indicator_values WHERE indicator_id = 'makerspaces_per_100k' "
                           "AND value IS NOT NULL"):
            assert re.search(r"popolazione (\d{4}|senza anno)", reason or ""), reason
    finally:
        con.close()


def test_assigned_confiscated_property_is_in_use_not_vacant() -> None:
    from etl.indicators import in_use

    frame = pd.DataFrame({"status": ["assigned", None, "degraded", "vacant"]})
    assert in_use(frame).tolist() == [True, False, False, False]
    assert in_use(pd.DataFrame({"status": []})).tolist() == []
