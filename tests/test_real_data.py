"""The real open-data files in ../shared/data/real (see SOURCES.md there); skipped when absent.

Set OSSERVATORIO_REAL_DATA to another folder with the same layout to run them elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pytest

from etl import geo
from etl.base import BuildContext, LoadResult
from etl.pipeline import build
from etl.sources import municipi, nil, population

if TYPE_CHECKING:
    from conftest import Helpers

pytestmark = pytest.mark.real

NIL_ZIP = "comune-milano-nil/NIL_WM.zip"
NIL_EXPLORER = "nil-explorer/nil.geojson"
MUNICIPI_SHP = "comune-milano-municipi/Municipi.shp"
MUNICIPI_GEOJSON = "comune-milano-municipi/Municipi.geojson"
POPULATION = "maranzano-milano-mobility/NILS_DataCluster.csv"


def _file(real_dir: Path, relative: str) -> Path:
    path = real_dir / relative
    if not path.is_file():
        pytest.skip(f"real file {relative} not found in {real_dir}")
    return path


def _milan_bounds(result: LoadResult) -> None:
    bounds = tuple(result.frame.total_bounds)
    assert geo._inside(bounds, geo.REGION_BBOX), bounds
    np.testing.assert_allclose(bounds, [9.0406, 45.3867, 9.2780, 45.5359], atol=5e-4)  # SOURCES.md: bbox of the Comune


def test_nil_zip(real_dir: Path) -> None:
    result = nil.SOURCE.load(_file(real_dir, NIL_ZIP), BuildContext())
    frame = result.frame
    assert len(frame) == 88
    assert sorted(frame["id"]) == list(range(1, 89))
    assert result.rejects == []
    assert result.trust == "official"
    assert result.file_format == "shapefile-zip"
    assert result.crs == "EPSG:4326 (WGS 84)"
    assert geo.area_m2(frame.geometry).sum() / 1e6 == pytest.approx(181.76, abs=0.5)
    names = dict(zip(frame["id"], frame["name"], strict=True))
    assert names[1] == "DUOMO"
    assert names[74] == "ROSERIO"  # ds964 naming (the statistical naming calls 74 "Sacco")
    _milan_bounds(result)


def test_nil_explorer_geojson_is_derived(real_dir: Path) -> None:
    result = nil.SOURCE.load(_file(real_dir, NIL_EXPLORER), BuildContext())
    assert len(result.frame) == 88
    assert sorted(result.frame["id"]) == list(range(1, 89))
    assert result.trust == "derived"
    note = next(n for n in result.notes if n.startswith("colonne non ufficiali"))
    assert note == "colonne non ufficiali presenti (file rielaborato da terzi): hmm_state, lisa_class, nil_id, nil_name"
    _milan_bounds(result)


@pytest.mark.parametrize("relative", [MUNICIPI_SHP, MUNICIPI_GEOJSON], ids=["shapefile", "geojson-without-crs"])
def test_municipi(real_dir: Path, relative: str) -> None:
    path = _file(real_dir, relative)
    result = municipi.SOURCE.load(path, BuildContext())
    frame = result.frame
    assert len(frame) == 9
    assert sorted(frame["id"]) == list(range(1, 10))
    assert result.trust == "official"
    assert "RDN2008 / UTM zone 32N" in (result.crs or "")
    if path.suffix == ".geojson":
        assert '"crs"' not in path.read_text()[:4096]
        assert "CRS assente: coordinate riconosciute come RDN2008 / UTM 32N (EPSG:7791)" in result.notes
    _milan_bounds(result)
    stated = gpd.read_file(path)[["MUNICIPIO", "AREA"]].set_index("MUNICIPIO")["AREA"]
    measured = dict(zip(frame["id"], geo.area_m2(frame.geometry), strict=True))
    for municipio, area in stated.items():
        assert measured[int(municipio)] == pytest.approx(area, rel=0.005), municipio


def test_population_data_cluster(real_dir: Path) -> None:
    path = _file(real_dir, POPULATION)
    nil_result = nil.SOURCE.load(_file(real_dir, NIL_ZIP), BuildContext())
    ctx = BuildContext.with_areas(nil_result.frame[["id", "name", "geometry"]])
    result = population.RESEARCH.load(path, ctx)
    assert len(result.frame) == 88
    assert sorted(result.frame["district_id"]) == list(range(1, 89))
    assert int(result.frame["residents"].sum()) == 1_395_274
    assert result.frame["year"].isna().all()  # the file does not state its year
    assert result.trust == "derived"
    assert result.rejects == []
    assert path in population.RESEARCH.find(real_dir)


def test_full_real_build(real_dir: Path, tmp_path: Path, h: Helpers) -> None:
    out = tmp_path / "warehouse.duckdb"
    report = build(real_dir, out, progress=h.quiet)
    assert report.mode == "real"
    assert h.no_leftovers(tmp_path, {out.name}) == []
    assert h.fetch(out, "SELECT level, count(*) FROM districts GROUP BY level ORDER BY level") == [("municipio", 9), ("nil", 88)]
    assert h.fetch(out, "SELECT count(*) FROM districts WHERE level = 'nil' AND parent_id IS NULL") == [(0,)]
    assert h.fetch(out, "SELECT DISTINCT parent_id FROM districts WHERE level = 'nil' ORDER BY 1") == [(i,) for i in range(1, 10)]
    loaded = dict(h.fetch(out, "SELECT source_id, path FROM sources WHERE status = 'loaded' AND source_id LIKE '%boundaries'"))
    assert loaded == {"municipi_boundaries": str(real_dir / MUNICIPI_SHP), "nil_boundaries": str(real_dir / NIL_ZIP)}
    skipped = {p for (p,) in h.fetch(out, "SELECT path FROM sources WHERE status = 'skipped'")}
    assert {str(real_dir / MUNICIPI_GEOJSON), str(real_dir / NIL_EXPLORER)} <= skipped
    # Population: the official 2022 figure for 87 NIL (NIL 8 is absent from that file and falls back
    # to the 2021 derived export), summing to the file's Totale; Municipi are the sum of their NIL.
    (nil_total,) = h.fetch(out, "SELECT sum(residents) FROM district_stats WHERE level = 'nil'")[0]
    assert nil_total == 1_396_673
    assert h.fetch(out, "SELECT population_year, population_trust, count(*) FROM district_stats WHERE level = 'nil' "
                        "GROUP BY ALL ORDER BY 1") == [(2021, "derived", 1), (2022, "official", 87)]
    (mun_total,) = h.fetch(out, "SELECT sum(residents) FROM district_stats WHERE level = 'municipio'")[0]
    assert mun_total == 1_396_673
    # Municipio density over the area of its own NIL (not the Municipio polygon): Municipio 2, 2022.
    (m2_density,) = h.fetch(out, "SELECT density_km2 FROM district_stats WHERE level = 'municipio' AND id = 2")[0]
    nil_area = h.fetch(out, "SELECT sum(area_m2) FROM districts WHERE level = 'nil' AND parent_id = 2")[0][0]
    m2_residents = h.fetch(out, "SELECT residents FROM district_stats WHERE level = 'municipio' AND id = 2")[0][0]
    assert m2_density == pytest.approx(m2_residents / (nil_area / 1e6))
    # Every file of the folder is listed: loaded, skipped (with the reason) or refused.
    states = dict(h.fetch(out, "SELECT status, count(*) FROM sources GROUP BY status"))
    assert states.get("failed", 0) == 0 and states["loaded"] >= 12
    assert h.fetch(out, "SELECT count(*) FROM district_stats WHERE level = 'nil' AND residents IS NULL") == [(0,)]


# --- the other territories, from the same folder -------------------------------------------------------------

COMUNI_P15 = "openpolis-geojson-italy/limits_P_15_municipalities.geojson"
COMUNI_P19 = "openpolis-geojson-italy/limits_P_19_municipalities.geojson"
FABLAB_AREA = "fablab-milano-area/fablab_milano_area.csv"


def test_full_real_build_citta_metropolitana(real_dir: Path, tmp_path: Path, h: Helpers) -> None:
    _file(real_dir, COMUNI_P15)
    fablabs = _file(real_dir, FABLAB_AREA)
    out = tmp_path / "warehouse-citta_metropolitana_milano.duckdb"
    report = build(real_dir, out, progress=h.quiet, territory="citta_metropolitana_milano")
    assert report.failed == []
    assert h.fetch(out, "SELECT level, rank, parent_level, expected_count FROM territory_levels") == [("comune", 0, None, 133)]
    assert h.fetch(out, "SELECT level, count(*), count(parent_id), min(trust) FROM districts GROUP BY ALL") == [
        ("comune", 133, 0, "derived")]
    assert h.fetch(out, "SELECT name FROM districts WHERE id = 15146") == [("Milano",)]
    (west, south, east, north), = h.fetch(out, "SELECT bbox_west, bbox_south, bbox_east, bbox_north FROM territory")
    assert 8.6 < west < 8.8 and 45.1 < south < 45.2 and 9.5 < east < 9.6 and 45.6 < north < 45.7
    # The 30-row area list: 27 inside (15 in the comune of Milan, 12 in 11 other comuni), 3 outside with the reason.
    assert h.fetch(out, "SELECT count(*), count(*) FILTER (district_id = 15146), count(DISTINCT district_id) "
                        "FROM places WHERE theme = 'makerspace' AND district_id IS NOT NULL") == [(27, 15, 11)]
    outside = [r for (r,) in h.fetch(out, "SELECT reason FROM rejects WHERE path = ? ORDER BY reason", [str(fablabs)])]
    assert len(outside) == 3 and all(r.startswith("punto fuori dal territorio Città metropolitana di Milano") for r in outside)
    assert sum("Monza" in r for r in outside) == 1 and sum("Lissone" in r for r in outside) == 1
    assert sum("Origgio" in r for r in outside) == 1
    # The province of Cremona's file and Milan's NIL are listed as not used, with the reason.
    notes = dict(h.fetch(out, "SELECT path, notes FROM sources WHERE status = 'skipped'"))
    assert notes[str(real_dir / COMUNI_P19)].startswith("nessuna geometria con prov_istat_code = 015")
    assert notes[str(real_dir / NIL_ZIP)] == "il territorio Città metropolitana di Milano non ha il livello NIL: file non usato"
    assert h.fetch(out, "SELECT state FROM source_catalogue WHERE source_id = 'nil_boundaries'") == [("skipped",)]


def test_full_real_build_provincia_cremona(real_dir: Path, tmp_path: Path, h: Helpers) -> None:
    _file(real_dir, COMUNI_P19)
    fablabs = _file(real_dir, FABLAB_AREA)
    out = tmp_path / "warehouse-provincia_cremona.duckdb"
    report = build(real_dir, out, progress=h.quiet, territory="provincia_cremona")
    assert report.failed == []
    assert h.fetch(out, "SELECT territory_id, name_it FROM territory") == [("provincia_cremona", "Provincia di Cremona")]
    assert h.fetch(out, "SELECT count(*), count(DISTINCT id) FROM districts WHERE level = 'comune'") == [(113, 113)]
    ((name, area_m2),) = h.fetch(out, "SELECT name, area_m2 FROM districts WHERE id = 19036")
    assert name == "Cremona" and area_m2 / 1e6 == pytest.approx(70.5, abs=0.5)  # ISTAT: 70.49 km2
    assert h.fetch(out, "SELECT path FROM sources WHERE source_id = 'comuni_istat' AND status = 'loaded'") == [
        (str(real_dir / COMUNI_P19),)]
    # Milan's point files describe another territory: skipped, not failed; no place in the warehouse.
    ((status, notes),) = h.fetch(out, "SELECT status, notes FROM sources WHERE path = ?", [str(fablabs)])
    assert status == "skipped" and notes.startswith("nessun punto nel territorio Provincia di Cremona")
    assert h.fetch(out, "SELECT count(*) FROM places") == [(0,)]
