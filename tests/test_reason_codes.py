"""Reasons of indicator values as codes with parameters (indicator_values.reason_code / reason_params),
translated by osservatorio.i18n.reason_text: every reason the build writes is coded, the Italian
rendering of the code is exactly the stored Italian reason, the English one is English.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from test_indicators import _city_extra, build_city, run, write_configs  # sibling test module
from test_indicators_territory import profile_file

from etl import indicators, territory
from etl.pipeline import build
from osservatorio.i18n import reason_text


def _rows(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str | None, str | None]]:
    return con.sql("SELECT DISTINCT reason, reason_code, reason_params FROM indicator_values "
                   "WHERE reason IS NOT NULL").fetchall()


def _assert_round_trip(rows: list[tuple[str, str | None, str | None]]) -> None:
    uncoded = [r for r, c, _ in rows if c is None]
    assert uncoded == [], uncoded[:5]
    for reason, code, params in rows:
        assert reason_text(code, params, "it") == reason, (code, params)
        english = reason_text(code, params, "en")
        assert english and english != "reason_" + str(code), (code, english)


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> list[duckdb.DuckDBPyConnection]:
    """The tiny city (Milan levels), the city with city totals and counts, the one-level borough."""
    folder = tmp_path_factory.mktemp("reasons")
    real = (indicators.ROOT / "config" / "indicators.toml").read_text(encoding="utf-8")
    composite = real[real.index("\n[composite.opportunity_score]\n"):]
    out = []
    for name, setup in [("city", build_city), ("extra", _city_extra)]:
        con = duckdb.connect(str(folder / f"{name}.duckdb"))
        setup(con)
        run(con, write_configs(folder / name, composite=composite))
        out.append(con)
    profile = territory.parse_profile(profile_file(folder / "borgo"))
    con = duckdb.connect(str(folder / "borgo.duckdb"))
    build_city(con, profile=profile)
    cfg = write_configs(folder / "borgo_cfg", composite=composite)
    del cfg["periphery_path"]
    indicators.compute_all(con, "b1", "real", None, lambda _m: None, territory=profile, **cfg)  # type: ignore[arg-type]
    out.append(con)
    return out


def test_every_reason_is_coded_and_renders_back(warehouses: list[duckdb.DuckDBPyConnection]) -> None:
    for con in warehouses:
        _assert_round_trip(_rows(con))


def test_english_reasons(warehouses: list[duckdb.DuckDBPyConnection]) -> None:
    city, extra, borgo = warehouses
    (code, params), = city.sql("SELECT reason_code, reason_params FROM indicator_values WHERE indicator_id = 'residents' "
                               "AND level = 'nil' AND area_id = '4' AND period = 2021").fetchall()
    assert code == "no_population" and reason_text(code, params, "en") == "population not available"
    (code, params), = city.sql("SELECT reason_code, reason_params FROM indicator_values WHERE indicator_id = 'residents' "
                               "AND level = 'municipio' AND area_id = '2' AND period = 2021").fetchall()
    assert code == "incomplete_sum"
    assert reason_text(code, params, "en") == "incomplete sum: value missing for NIL 4: population not available"
    (code, params), = extra.sql("SELECT reason_code, reason_params FROM indicator_values WHERE indicator_id = "
                                "'firms_dm_units' AND level = 'nil' AND area_id = '1' AND period = 2010").fetchall()
    assert reason_text(code, params, "en") == "no data per NIL (ds171 covers the whole territory)"
    # The level's label rides in the parameters: the borough's areas are 'Quarter' in English.
    (code, params), = borgo.sql("SELECT reason_code, reason_params FROM indicator_values WHERE indicator_id = 'residents' "
                                "AND level = 'territory' AND period = 2021").fetchall()
    assert json.loads(params)["F"] == {"it": "Quartiere", "en": "Quarter"}
    assert reason_text(code, params, "en") == "incomplete sum: value missing for Quarter 4: population not available"
    (code, params), = borgo.sql("SELECT DISTINCT reason_code, reason_params FROM indicator_values "
                                "WHERE indicator_id = 'coworking_periphery_share'").fetchall()
    assert reason_text(code, params, "en") == "no periphery classification for this territory"


def test_reason_text_falls_back_to_the_stored_text() -> None:
    assert reason_text(None, None, "en", "testo") == "testo"
    assert reason_text("no_population", "{not json", "en", "testo") == "testo"
    assert reason_text("no_such_code", "{}", "en", "testo") == "testo"
    assert reason_text("incomplete_sum", json.dumps({"areas": "wrong"}), "en", "testo") == "testo"
    assert reason_text(None, None, "en") == ""


def test_unrecognised_part_leaves_the_reason_uncoded() -> None:
    texts = indicators._Texts(indicators.load_catalogue())
    assert indicators.code_reason("popolazione non disponibile; qualcosa di nuovo", texts) is None
    assert indicators.code_reason("popolazione 2021 (derivata)", texts) == ("population", {"year": 2021, "kind": "derived"})
    assert indicators.split_top("a (b; c); d") == ["a (b; c)", "d"]


@pytest.mark.real
def test_real_milan_reasons_round_trip(real_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "milano.duckdb"
    build(real_dir, out, territory="milano", progress=lambda _m: None)
    con = duckdb.connect(str(out), read_only=True)
    try:
        rows = _rows(con)
        assert len(rows) > 50
        _assert_round_trip(rows)
    finally:
        con.close()
