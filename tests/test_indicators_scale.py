"""The indicators at register scale: firm points are counted in SQL, never fetched one by one with their texts.

- read_inputs on a warehouse whose firm places carry huge attributes, names and keys: the inputs hold
  no firm row and no firm text, only counts per area / parent / category / source / trust, and the
  indicator values and proximities equal those computed from the places one by one;
- the vectorised atom keys (`_Atoms.keys_for`) equal `key_for` row by row, sub- and pseudo-atoms
  included, in the same order.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from test_indicators import PERIPHERY_TEMPLATE, _insert, build_city, place  # sibling test module (tests/ is on sys.path)

from etl import indicators, periphery
from etl.indicators import Inputs, Levels, _Atoms

BIG = 20_000  # characters of each firm's attributes: 300 firms = 6 MB of text if they were fetched
N_FIRMS = 300


def _firm(i: int) -> dict[str, object]:
    """A firm point in one of the fixture's areas, with huge texts; some only by parent, some in another parent."""
    spots = [(1, 1, (100, 100)), (2, 1, (3100, 50)), (3, 2, (6100, 0)), (4, 2, (50, -6050)), (1, 2, (150, 150)),
             (None, 2, None)]
    district, parent, offset = spots[i % len(spots)]
    category = ("digital_manufacturing", "artisan_manufacturing", "other")[i % 3]
    return place("firm", f"K{i:05d}-" + "k" * 200, district, parent, offset, trust="derived", category=category,
                 employees=None if i % 7 == 0 else float(i % 5), ateco_edition="2007", name=f"Impresa {i} " + "n" * 500,
                 attributes='{"note": "' + "x" * BIG + '"}', source_id="firms_points", path="/fixture/imprese.csv")


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path_factory.mktemp("scale") / "w.duckdb"))
    build_city(con)
    _insert(con, "places", [_firm(i) for i in range(N_FIRMS)])
    return con


def _per_place_inputs(con: duckdb.DuckDBPyConnection) -> Inputs:
    """The inputs as they were read before: every place one by one, firms included, with their texts."""
    inp = indicators.read_inputs(con)
    places = con.sql("SELECT theme, district_id, parent_id, lon, lat, category, status, ownership, area_m2, seats, "
                     "employees, trust, source_id, attributes, source_key, name FROM places").df()
    inp.places, inp.firm_points, inp.firm_dm_points, inp.place_pairs = places, None, None, None
    return inp


def _groups(inp: Inputs, folder: Path) -> tuple[pd.DataFrame, str]:
    cfg_path = folder / "periphery.toml"
    cfg_path.write_text(PERIPHERY_TEMPLATE.format(version="t1", overrides=""), encoding="utf-8")
    cfg = periphery.load_config(cfg_path)
    groups, _ = periphery.district_groups(inp.fine, cfg, inp.levels.area_crs, inp.levels.fine_it)
    return groups, cfg.peripheral


def test_inputs_hold_counts_not_firm_rows(register: duckdb.DuckDBPyConnection) -> None:
    inp = indicators.read_inputs(register)
    assert not (inp.places["theme"] == "firm").any()
    assert inp.firm_points is not None and inp.firm_dm_points is not None and inp.place_pairs is not None
    for frame in (inp.firm_points, inp.firm_dm_points, inp.place_pairs):
        assert not {"attributes", "name", "source_key", "address"} & set(frame.columns)
    assert int(inp.firm_points["n"].sum()) == N_FIRMS + 4  # the fixture's own four firm points too
    assert len(inp.firm_points) <= 30  # one row per area, parent, category, source and trust
    stated = sum(1 for i in range(N_FIRMS) if i % 7 != 0) + 3
    assert int(inp.firm_points["emp_known"].sum()) == stated
    assert inp.firm_points["emp"].sum() == sum(float(i % 5) for i in range(N_FIRMS) if i % 7 != 0) + 16.0
    dm_located = sum(1 for i in range(N_FIRMS) if i % 3 == 0 and i % 6 != 5) + 2
    assert len(inp.firm_dm_points) == dm_located
    text_bytes = sum(int(f.memory_usage(deep=True).sum()) for f in (inp.places, inp.firm_points, inp.firm_dm_points))
    assert text_bytes < 500_000, text_bytes  # fetching the firms' texts would be over 6 MB


def test_values_equal_the_per_place_computation(register: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    fast = indicators.read_inputs(register)
    slow = _per_place_inputs(register)
    groups, peripheral = _groups(fast, tmp_path)
    cat = indicators.load_catalogue()
    a = indicators.compute_indicators(fast, groups, cat, (), peripheral)
    b = indicators.compute_indicators(slow, groups, cat, (), peripheral)
    pd.testing.assert_frame_equal(a, b)
    firm_rows = a[a["indicator_id"].isin(indicators.FIRM_IDS) & a["value"].notna()]
    assert len(firm_rows) > 20  # the firm points did reach the values
    near_a = indicators.place_proximity_frame(fast.places, fast.levels.area_crs, firm_dm=fast.firm_dm_points,
                                              names=indicators.place_names(register))
    near_b = indicators.place_proximity_frame(slow.places, slow.levels.area_crs)
    pd.testing.assert_frame_equal(near_a, near_b)
    firm_names = near_a.loc[near_a["near_theme"] == "firm_dm", "nearest_name"].dropna()
    assert len(firm_names) and all(str(n).startswith(("Impresa ", "F")) for n in firm_names)


def _fine() -> Inputs:
    fine = pd.DataFrame({"id": [1, 2, 3, 4], "parent_id": pd.array([1, 1, 2, None], dtype="Int32"),
                         "area_m2": 1e6, "centroid_lon": 9.19, "centroid_lat": 45.46, "trust": "official"})
    empty = pd.DataFrame()
    return Inputs(fine, [1, 2], empty, empty, empty, empty, levels=Levels("nil", "municipio", "milano"))


def test_vectorised_keys_equal_key_for() -> None:
    rows = [(1, 1), (1, 2), (None, 2), (3, 1), (99, None), (None, None), (2, 2), (1, 2), (4, 2), (99, 1), (3, None),
            (np.nan, 1.0), (2.0, pd.NA), (4, None), (None, 2), (3, 1)]
    d = [r[0] for r in rows]
    m = [r[1] for r in rows]
    one = _Atoms.from_inputs(_fine())
    expected = [one.key_for(a, b) for a, b in zip(d, m, strict=True)]
    many = _Atoms.from_inputs(_fine())
    got = many.keys_for(pd.Series(d, dtype=object), pd.Series(m, dtype=object))
    assert got == expected
    assert {"sub:1:2", "sub:3:1", "sub:2:2", "mun:2", "mun:1", "whole"} <= set(got)
    assert many.keys == one.keys  # pseudo- and sub-atoms added in the same order
    assert (many.district_id, many.parent_area, many.parent) == (one.district_id, one.parent_area, one.parent)
    assert many.keys_for([], []) == []
    ints = _Atoms.from_inputs(_fine()).keys_for(pd.array([1, 3, None], dtype="Int32"), pd.array([2, 2, 1], dtype="Int32"))
    assert ints == ["sub:1:2", "fin:3", "mun:1"]
