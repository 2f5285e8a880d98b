"""Territories: a fourth territory from a profile and its boundary files only; skips; the CLI's territory choice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import shapely
from pyproj import Geod

from etl import cli, geo, pipeline
from etl import territory as territories
from etl.base import BuildContext, SourceError
from etl.pipeline import build, default_out
from etl.sources import comuni_istat

if TYPE_CHECKING:
    from conftest import Helpers

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "territories"
PROFILE = FIXTURES / "valle_fixture.toml"
# The fixture's squares: code -> (name, west, south), 0.05 degrees a side; zone 1 = bottom row.
SQUARES = {101: ("Prato Alto", 9.80, 46.10), 102: ("Prato Basso", 9.85, 46.10),
           103: ("Bosco Alto", 9.80, 46.15), 104: ("Bosco Basso", 9.85, 46.15)}
SIDE = 0.05


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    shutil.copytree(FIXTURES / "valle_fixture_raw", folder)
    return folder


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "warehouse"
    folder.mkdir()
    return folder / "warehouse.duckdb"


def _geodesic_m2(geom: shapely.Geometry) -> float:
    area, _ = Geod(ellps="GRS80").geometry_area_perimeter(geom)
    return abs(area)


def _profile_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = PROFILE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "variant.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_fourth_territory_needs_only_a_profile_and_its_boundary_files(raw: Path, out: Path, h: Helpers) -> None:
    (raw / "nil_vecchi.geojson").write_text((raw / "confini_zone_valle.geojson").read_text())  # a NIL-named file
    report = build(raw, out, progress=h.quiet, territory=PROFILE)
    assert report.failed == [] and report.territory == "valle_fixture"

    assert h.fetch(out, "SELECT territory_id, name_it, name_en, centre_lon, centre_lat, area_crs, bbox_west, bbox_south, "
                        "bbox_east, bbox_north, profile_version FROM territory") == [
        ("valle_fixture", "Valle di prova", "Test valley", 9.85, 46.15, "EPSG:7791",
         pytest.approx(9.80), pytest.approx(46.10), pytest.approx(9.90), pytest.approx(46.20), "test-1")]
    assert h.fetch(out, "SELECT level, rank, parent_level, boundary_source, expected_count, label_it, plural_en "
                        "FROM territory_levels ORDER BY rank") == [
        ("paese", 0, "zona", "areas_geojson", 4, "Paese", "Villages"),
        ("zona", 1, None, "areas_geojson", 2, "Zona", "Zones")]

    # The filter kept the valley's four squares (the fifth is another valley's); parents by largest overlap
    # (the top row's squares overlap zone 1 by a thin strip, zone 2 by the rest).
    rows = h.fetch(out, "SELECT id, name, parent_id, area_m2, trust, source_id FROM districts WHERE level = 'paese' ORDER BY id")
    assert [(i, n, p, t, s) for i, n, p, _, t, s in rows] == [
        (101, "Prato Alto", 1, "derived", "areas_geojson"), (102, "Prato Basso", 1, "derived", "areas_geojson"),
        (103, "Bosco Alto", 2, "derived", "areas_geojson"), (104, "Bosco Basso", 2, "derived", "areas_geojson")]
    for i, _, _, area, _, _ in rows:
        _, west, south = SQUARES[i]
        assert area == pytest.approx(_geodesic_m2(shapely.box(west, south, west + SIDE, south + SIDE)), rel=2e-3)
    assert h.fetch(out, "SELECT id, name FROM districts WHERE level = 'zona' ORDER BY id") == [
        (1, "Zona dei prati"), (2, "Zona dei boschi")]

    # The points land in their squares; the one in the other valley is quarantined with the reason.
    assert h.fetch(out, "SELECT name, district_id, parent_id, assignment FROM places ORDER BY name") == [
        ("Lab Bosco Alto", 103, 2, "point_in_polygon"), ("Lab Bosco Basso", 104, 2, "point_in_polygon"),
        ("Lab Prato Alto", 101, 1, "point_in_polygon"), ("Lab Prato Basso", 102, 1, "point_in_polygon"),
        ("Officina Bosco Basso", 104, 2, "point_in_polygon")]
    (reason,), = h.fetch(out, "SELECT reason FROM rejects WHERE source_id = 'makerspaces'")
    assert reason.startswith("punto fuori dal territorio Valle di prova")

    # Milan's sources are not used, and say why; the catalogue shows it.
    notes = dict(h.fetch(out, "SELECT source_id, notes FROM sources WHERE status = 'skipped'"))
    assert notes["nil_boundaries"] == "il territorio Valle di prova non ha il livello NIL: file non usato"
    states = dict(h.fetch(out, "SELECT source_id, state FROM source_catalogue"))
    assert states["nil_boundaries"] == states["municipi_boundaries"] == states["comuni_istat"] == "skipped"
    assert states["areas_geojson"] == states["makerspaces"] == "loaded"
    assert h.fetch(out, "SELECT count(*) FROM sources WHERE source_id = 'unrecognised'") == [(0,)]


def test_point_file_with_no_point_in_the_territory_is_skipped(raw: Path, out: Path, h: Helpers) -> None:
    (raw / "fablab_valle.csv").write_text("nome,indirizzo,zona,longitudine,latitudine\n"
                                          'Lab Milano,"Via Roma 1, Milano",centro,9.19,45.46\n'
                                          'Lab Rho,"Via Po 2, Rho",ovest,9.04,45.53\n')
    report = build(raw, out, progress=h.quiet, territory=PROFILE)
    assert report.failed == []
    ((status, notes, rows_loaded),) = h.fetch(out, "SELECT status, notes, rows_loaded FROM sources "
                                                   "WHERE source_id = 'makerspaces'")
    assert (status, rows_loaded) == ("skipped", 0)
    assert notes.startswith("nessun punto nel territorio Valle di prova")
    assert h.fetch(out, "SELECT count(*) FROM rejects WHERE source_id = 'makerspaces' "
                        "AND reason LIKE 'punto fuori dal territorio%'") == [(2,)]  # kept, with where each point lies
    assert h.fetch(out, "SELECT state FROM source_catalogue WHERE source_id = 'makerspaces'") == [("skipped",)]
    assert h.fetch(out, "SELECT count(*) FROM places") == [(0,)]


def test_boundaries_outside_the_profile_region_are_refused(raw: Path, out: Path, h: Helpers, tmp_path: Path) -> None:
    rome = _profile_variant(tmp_path, 'area_crs = "EPSG:7791"', 'area_crs = "EPSG:7791"\nregion_bbox = [12.2, 41.7, 12.8, 42.1]')
    out.write_bytes(b"previous")
    with pytest.raises(SourceError, match="CRS assente e coordinate non riconoscibili"):
        build(raw, out, progress=h.quiet, territory=rome)
    assert out.read_bytes() == b"previous"
    assert h.no_leftovers(out.parent, {out.name}) == []


def test_finest_level_without_file_stops_the_build(raw: Path, out: Path, h: Helpers) -> None:
    (raw / "confini_paesi_valle.geojson").unlink()
    with pytest.raises(SourceError, match="nessun file dei confini Paese"):
        build(raw, out, progress=h.quiet, territory=PROFILE)
    assert not out.exists()


def test_profile_naming_an_unknown_loader_is_a_clear_error(raw: Path, out: Path, h: Helpers, tmp_path: Path) -> None:
    bad = _profile_variant(tmp_path, 'boundary_source = "areas_geojson"\nfile = "confini_zone',
                           'boundary_source = "confini_a_mano"\nfile = "confini_zone')
    with pytest.raises(SourceError, match="confini_a_mano.*fonte dei confini che non esiste") as info:
        build(raw, out, progress=h.quiet, territory=bad)
    assert "areas_geojson" in info.value.hint and "comuni_istat" in info.value.hint


def test_cli_territory_and_default_out(raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert default_out(None) == pipeline.DEFAULT_WAREHOUSE
    assert default_out(territories.default_id()) == pipeline.DEFAULT_WAREHOUSE
    assert default_out("provincia_cremona") == pipeline.DEFAULT_WAREHOUSE.with_name("warehouse-provincia_cremona.duckdb")
    # Without --out a non-default territory gets its own file beside the default one (lock and temp files follow it).
    monkeypatch.setattr(pipeline, "DEFAULT_WAREHOUSE", tmp_path / "wh" / "warehouse.duckdb")
    assert cli.main(["build", "--raw-dir", str(raw), "--territory", str(PROFILE)]) == 0
    assert sorted(p.name for p in (tmp_path / "wh").iterdir()) == ["warehouse-valle_fixture.duckdb"]
    capsys.readouterr()
    # An unknown id: ERRORE listing the known ones, nothing built.
    assert cli.main(["build", "--raw-dir", str(raw), "--territory", "atlantide", "--out", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "ERRORE: territorio 'atlantide' sconosciuto" in err
    for known in ("milano", "citta_metropolitana_milano", "provincia_cremona"):
        assert known in err
    assert not (tmp_path / "x.duckdb").exists()


def test_demo_is_only_for_milan(tmp_path: Path, h: Helpers) -> None:
    with pytest.raises(SourceError, match="i dati dimostrativi descrivono Milano"):
        build(None, tmp_path / "demo.duckdb", progress=h.quiet, territory="provincia_cremona")
    assert not (tmp_path / "demo.duckdb").exists()


# --- the Openpolis / ISTAT comuni loader, on a small file of the same shape -----------------------------------

def _comuni_file(path: Path, features: list[tuple[int, str, str, float]]) -> Path:
    """A limits_P_*_municipalities-like GeoJSON: (com_istat_code_num, name, prov_istat_code, west) squares."""
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": json.loads(shapely.to_geojson(shapely.box(w, 45.10, w + 0.04, 45.14))),
         "properties": {"com_istat_code": f"{code:06d}", "com_istat_code_num": code, "name": name,
                        "prov_istat_code": prov, "prov_istat_code_num": int(prov), "prov_acr": "CR"}}
        for code, name, prov, w in features]}
    path.write_text(json.dumps(doc))
    return path


def test_comuni_istat_filters_the_profile_province(tmp_path: Path) -> None:
    path = _comuni_file(tmp_path / "limits_P_19_municipalities.geojson",
                        [(19036, "Cremona", "019", 10.00), (19001, "Acquanegra Cremonese", "019", 9.90),
                         (98001, "Altrove", "098", 9.80)])
    other = _comuni_file(tmp_path / "confini_comuni.json", [(98002, "Fuori", "098", 9.70)])  # found by its properties
    (tmp_path / "altro.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    assert comuni_istat.SOURCE.find(tmp_path) == [path, other]
    profile = territories.load("provincia_cremona")
    source = comuni_istat.SOURCE.for_level(profile.fine)
    result = source.load(path, BuildContext(territory=profile))
    assert sorted(zip(result.frame["id"], result.frame["name"], strict=True)) == [
        (19001, "Acquanegra Cremonese"), (19036, "Cremona")]
    assert set(result.frame["level"]) == {"comune"} and result.trust == "derived"
    assert "tenute 2 geometrie su 3 con prov_istat_code = 019" in result.notes
    assert "attese 113 geometrie, caricate 2" in result.notes  # the profile's expected count
    with pytest.raises(geo.NotInTerritory, match="nessuna geometria con prov_istat_code = 019"):
        source.load(other, BuildContext(territory=profile))
