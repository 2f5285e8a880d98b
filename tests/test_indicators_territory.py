"""Indicators of a territory that no code names: one level, no periphery file, its own centre.

The tiny city of test_indicators (four 1 km squares, same places and residents) is described by a
fixture profile `borgo_di_prova` with a single level `quartiere` and no periphery file: values are
stored at 'quartiere' and 'territory' (area_id = 'borgo_di_prova'), never at a parent level or at
periphery groups; the periphery indicators are NULL with the reason, never 0; reasons name the
level by its label; the snapshot says that there is no periphery classification.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from test_indicators import NOW, ROOT, Getter, build_city, check, getter, write_configs  # sibling test module

from etl import indicators, territory
from etl.territory import TerritoryProfile

PROFILE = """
id = "borgo_di_prova"
version = "t-1"
name_it = "Borgo di prova"
name_en = "Test borough"
area_crs = "EPSG:7791"

[centre]
lon = {lon}
lat = {lat}
name_it = "Piazza"
name_en = "Square"

[[levels]]
id = "quartiere"
boundary_source = "quartieri_prova"
label_it = "Quartiere"
label_en = "Quarter"
plural_it = "Quartieri"
plural_en = "Quarters"
"""


def profile_file(folder: Path, lon: float = 9.19, lat: float = 45.4642, periphery: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "borgo_di_prova.toml"
    text = PROFILE.format(lon=lon, lat=lat)
    if periphery:
        text = text.replace('area_crs = "EPSG:7791"\n', f'area_crs = "EPSG:7791"\nperiphery = "{periphery}"\n')
    path.write_text(text, encoding="utf-8")
    return path


def run(con: duckdb.DuckDBPyConnection, cfg: dict[str, Path], profile: TerritoryProfile) -> list[str]:
    """compute_all as the pipeline calls it, with the build's profile."""
    messages: list[str] = []
    indicators.compute_all(con, "b1", "real", None, messages.append, now=NOW, territory=profile, **cfg)  # type: ignore[arg-type]
    return messages


@pytest.fixture(scope="module")
def borgo(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    folder = tmp_path_factory.mktemp("borgo")
    profile = territory.parse_profile(profile_file(folder))
    con = duckdb.connect(str(folder / "w.duckdb"))
    build_city(con, profile=profile)
    real = (ROOT / "config" / "indicators.toml").read_text(encoding="utf-8")
    cfg = write_configs(folder / "config", composite=real[real.index("\n[composite.opportunity_score]\n"):])
    del cfg["periphery_path"]  # the profile names no periphery file
    messages = run(con, cfg, profile)
    assert any("nessuna classificazione della periferia" in m for m in messages)
    return con


@pytest.fixture(scope="module")
def get(borgo: duckdb.DuckDBPyConnection) -> Getter:
    return getter(borgo)


def test_levels_are_the_profile_levels(borgo: duckdb.DuckDBPyConnection) -> None:
    levels = {lv for (lv,) in borgo.sql("SELECT DISTINCT level FROM indicator_values").fetchall()}
    assert levels == {"quartiere", "territory"}
    assert borgo.sql("SELECT DISTINCT area_id FROM indicator_values WHERE level = 'territory'").fetchall() == [
        ("borgo_di_prova",)]
    assert borgo.sql("SELECT count(*) FROM district_groups").fetchall() == [(0,)]
    (notes, version, tid), = borgo.sql("SELECT notes, periphery_version, territory_id FROM snapshots").fetchall()
    assert "nessuna classificazione della periferia" in notes and version == "none" and tid == "borgo_di_prova"
    stored = {lv for (lv,) in borgo.sql("SELECT DISTINCT unnest(levels::VARCHAR[]) FROM indicator_catalogue").fetchall()}
    assert stored == {"quartiere", "territory"}
    # Catalogue texts name this territory's level, never Milan's NIL.
    texts = borgo.sql("SELECT string_agg(name_it || description_it || formula || name_en || description_en, ' ') "
                      "FROM indicator_catalogue").fetchall()[0][0]
    assert "NIL" not in texts and "{F" not in texts
    (desc_it, desc_en), = borgo.sql("SELECT description_it, description_en FROM indicator_catalogue "
                                    "WHERE indicator_id = 'coworking_periphery_share'").fetchall()
    assert "in Quartieri periferici (al livello Quartiere" in desc_it and "peripheral Quarters (0 or 100 at Quarter" in desc_en


def test_values_as_in_milan_without_parent(get: Getter) -> None:
    # Same hand-computed counts as the Milan fixture; the makerspace known only by its Municipio
    # counts in the territory (no parent level here).
    check(get, "makerspaces_count", {("quartiere", 1): 1, ("quartiere", 2): 0, ("quartiere", 3): 1,
                                     ("territory", "borgo_di_prova"): 3})
    check(get, "residents", {("quartiere", 1): 10000, ("quartiere", 4): "^popolazione non disponibile$",
                             ("territory", "borgo_di_prova"): "^somma incompleta: valore mancante per Quartiere 4: "},
          period=2021)


def test_periphery_indicators_are_null_with_the_reason(get: Getter) -> None:
    reason = f"^{indicators.R_NO_PERIPHERY}$"
    check(get, "coworking_periphery_share", {("quartiere", 2): reason, ("quartiere", 3): reason,
                                             ("territory", "borgo_di_prova"): reason})
    check(get, "vacant_near_makers_periphery", {("quartiere", 3): reason, ("territory", "borgo_di_prova"): reason})
    # The default score's periphery component has no value anywhere: dropped, and every row says so.
    for area in (1, 2, 3, 4):
        why = get("opportunity_score", "quartiere", area)[3]
        assert "componenti escluse perché senza dati: vacant_near_makers_periphery" in why, (area, why)


def test_no_periphery_file_means_no_zero(borgo: duckdb.DuckDBPyConnection) -> None:
    zeros = borgo.sql("SELECT count(*) FROM indicator_values WHERE indicator_id IN "
                      "('coworking_periphery_share', 'vacant_near_makers_periphery') AND value IS NOT NULL").fetchall()
    assert zeros == [(0,)]


def test_centre_comes_from_the_profile(tmp_path: Path) -> None:
    """The Milan periphery rule measured from another centre: the profile's, not the file's."""
    # Centre 6 km east of the Duomo: area 3 (at 6 km) becomes centro, area 1 (at 6 km) periferia.
    from test_indicators import ll

    lon, lat = ll(6000, 0)
    (tmp_path / "cfg").mkdir()
    per = ROOT / "config" / "periphery.toml"
    profile = territory.parse_profile(profile_file(tmp_path / "p", lon, lat, periphery=per.name))
    assert profile.periphery == "periphery.toml"
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    build_city(con, profile=profile)
    cfg = write_configs(tmp_path / "cfg")
    messages = run(con, cfg, profile)
    assert not any("nessuna classificazione" in m for m in messages)
    rows = dict(con.sql("SELECT district_id, group_id FROM district_groups WHERE group_level = 'periphery_class'")
                .fetchall())
    assert rows == {1: "periferia", 2: "semicentro", 3: "centro", 4: "periferia"}
    (basis,), = con.sql("SELECT basis FROM district_groups WHERE district_id = 3 AND group_level = 'periphery_class'"
                        ).fetchall()
    assert basis.startswith("distanza 0.00 km da Piazza")
    (basis_en,), = con.sql("SELECT basis_en FROM district_groups WHERE district_id = 2 "
                           "AND group_level = 'periphery_class'").fetchall()
    assert basis_en == "distance 3.00 km from Square (2.0-4.5 km)"
