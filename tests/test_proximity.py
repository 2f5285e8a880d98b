"""Vacant spaces to the nearest maker, computed by the build (table place_proximity), and the per-snapshot
score weights and ATECO labels the app reads instead of the configuration on disk.

The tiny city of test_indicators (offsets in metres from the Duomo, EPSG:7791, exact):
    vacant V1 (6000, 300)   nearest makerspace M2 (5600, 0) at 500 m, 1 within 1 km
           V2 (0, -6000)    nearest makerspace M1 (300, 400) at sqrt(300² + 6400²); firm F1 (200, -6000) at 200 m
           V3 (3000, 0)     M2 at 2600 m (M1 at sqrt(2700² + 400²) = 2729.5 m)
           V4 (6490, 490)   M2 at sqrt(890² + 490²) = 1016.0 m: just outside the 1 km radius
           V6 (no coordinates): every measure NULL
"""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from test_indicators import _insert, build_city, place, run, write_configs  # sibling test module

from etl import indicators


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    folder = tmp_path_factory.mktemp("prox")
    con = duckdb.connect(str(folder / "w.duckdb"))
    build_city(con)
    _insert(con, "places", [place("vacant", "V6", 3, 2, None, assignment="file_id")])
    real = (Path(indicators.ROOT) / "config" / "indicators.toml").read_text(encoding="utf-8")
    cfg = write_configs(folder / "cfg", composite=real[real.index("\n[composite.opportunity_score]\n"):],
                        ateco=(Path(indicators.ROOT) / "config" / "ateco_categories.toml").read_text(encoding="utf-8"))
    run(con, cfg)
    return con


def _rows(con: duckdb.DuckDBPyConnection, theme: str) -> dict[str, tuple[object, ...]]:
    rows = con.sql("SELECT source_key, nearest_m, within_m, n_within, nearest_name FROM place_proximity "
                   "WHERE near_theme = ? ORDER BY source_key", params=[theme]).fetchall()
    return {str(r[0]): tuple(r[1:]) for r in rows}


def test_nearest_makerspace_distances(city: duckdb.DuckDBPyConnection) -> None:
    rows = _rows(city, "makerspace")
    assert set(rows) == {"V1", "V2", "V3", "V4", "V6"}
    expected = {"V1": (500.0, 1, "M2"), "V2": (math.hypot(300, 6400), 0, "M1"), "V3": (2600.0, 0, "M2"),
                "V4": (math.hypot(890, 490), 0, "M2")}
    for key, (dist, n, name) in expected.items():
        nearest, within, n_within, nearest_name = rows[key]
        assert nearest == pytest.approx(dist, abs=1e-3), key
        assert (within, n_within, nearest_name) == (int(indicators.NEAR_M), n, name), key
    assert rows["V6"] == (None, 1000, None, None)  # no coordinates: not measured, not 0


def test_nearest_digital_firm(city: duckdb.DuckDBPyConnection) -> None:
    rows = _rows(city, "firm_dm")
    assert rows["V2"][0] == pytest.approx(200.0, abs=1e-3) and rows["V2"][2:] == (1, "F1")
    # F4 is artisan, F3 'other': V1's nearest digital firm is F2 (-300, -300), far away.
    assert rows["V1"][0] == pytest.approx(math.hypot(6300, 600), abs=1e-3) and rows["V1"][3] == "F2"


def test_proximity_agrees_with_the_indicator(city: duckdb.DuckDBPyConnection) -> None:
    """vacant_near_makers_periphery per peripheral area = the vacant places of that area with a
    makerspace or a digital firm within the radius (same targets, same CRS, same radius)."""
    prox = city.sql("SELECT p.district_id, x.source_key, min(x.nearest_m) AS d FROM place_proximity x "
                    "JOIN places p USING (source_id, source_key) WHERE p.theme = 'vacant' GROUP BY ALL").df()
    peripheral = {int(i) for (i,) in city.sql("SELECT district_id FROM district_groups WHERE group_id = 'periferia'"
                                               ).fetchall()}
    near = prox[prox["district_id"].isin(list(peripheral)) & (prox["d"] <= indicators.NEAR_M)]
    counts = near.groupby("district_id").size().to_dict()
    for area in sorted(peripheral):
        (value,), = city.sql("SELECT value FROM indicator_values WHERE indicator_id = 'vacant_near_makers_periphery' "
                             "AND level = 'nil' AND area_id = ?", params=[str(area)]).fetchall()
        assert value == counts.get(area, 0), area
    assert counts == {3: 1, 4: 1}


def test_no_makers_gives_null_rows_not_zero() -> None:
    places = pd.DataFrame([{"theme": "vacant", "source_id": "s", "source_key": "a", "lon": 9.19, "lat": 45.46,
                            "category": None, "name": "a"}])
    frame = indicators.place_proximity_frame(places)
    assert list(frame["near_theme"]) == ["makerspace", "firm_dm"]
    assert frame["nearest_m"].isna().all() and frame["n_within"].isna().all()


def test_score_weights_and_ateco_labels_per_snapshot(city: duckdb.DuckDBPyConnection) -> None:
    cat = indicators.load_catalogue()
    stored = city.sql("SELECT indicator_id, direction, weight FROM scoring_weights WHERE snapshot_id = 'b1' "
                      "ORDER BY sort_order").fetchall()
    assert stored == [(c.indicator, c.direction, c.weight) for c in cat.components]
    labels = city.sql("SELECT category, label_it, label_en FROM ateco_category_labels ORDER BY sort_order").fetchall()
    assert labels[0] == ("digital_manufacturing", "Manifattura digitale e meccatronica",
                         "Digital manufacturing and mechatronics")
    assert [c for c, _, _ in labels][-1] == "other"


def test_unreadable_ateco_file_stores_no_labels(tmp_path: Path) -> None:
    frame, problem = indicators.ateco_labels_frame(tmp_path / "missing.toml")
    assert frame.empty and problem and "missing.toml" in problem
    bad = tmp_path / "bad.toml"
    bad.write_text('[categories.x]\nlabel_it = "X"\n', encoding="utf-8")
    frame, problem = indicators.ateco_labels_frame(bad)
    assert frame.empty and "label_en" in str(problem)
