"""Makerspaces: the trust follows the layout (ds744 official, the third-party area list derived);
points outside the comune are recorded with their zona, never dropped silently."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pytest

from etl.base import BuildContext
from etl.sources import census, coworking, makerspaces, nil

if TYPE_CHECKING:
    from conftest import Helpers

AREA_LINES = [
    "nome,indirizzo,zona,longitudine,latitudine",
    'Lab Centro,"Via Pinturicchio 24, Milano",Citta Studi,9.1200,45.4300',
    'Lab Fuori,"Via Matteotti 100, Cinisello Balsamo (MI)",Provincia nord,9.2374,45.5527',
    'Lab Nord,"Via Livigno 1, Milano",Bovisa,9.2000,45.4900',
]
DS744_HEADER = ("NOMINATIVO;INDIRIZZO;EMAIL;TEL;WEB;REGOLAMENTO MIT;MQ COMPLESSIVI;SALE RIUNIONI OPEN SPACE;"
                "SALE RIUNIONI DEDICATE;ORARI DI APERTURA;MACCHINE;CORSI FORMAZIONE E USO MACCHINE;ACCESSIBILITA;"
                "CAPACITA DI PROMUOVERE INCONTRI;NOTE;CAP;MUNICIPIO;ID_NIL;NIL;LONG_X_4326;LAT_Y_4326;Location")


@pytest.fixture(autouse=True)
def no_census_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "census_empty.toml"
    cfg.write_text("", encoding="utf-8")
    monkeypatch.setenv(census.CONFIG_ENV, str(cfg))


@pytest.fixture
def ctx(h: Helpers) -> BuildContext:
    grid = h.nil_grid()
    frame = gpd.GeoDataFrame({"id": [i for i, _ in grid], "name": [f"NIL {i}" for i, _ in grid],
                              "parent_id": [h.grid_parent[i] for i, _ in grid]},
                             geometry=[g for _, g in grid], crs="EPSG:4326")
    return BuildContext.with_areas(frame)


def test_area_list_is_derived_and_outside_points_are_recorded(tmp_path: Path, ctx: BuildContext, h: Helpers) -> None:
    path = h.write_text(tmp_path / "fablab_milano_area.csv", AREA_LINES, newline="\n")
    result = makerspaces.SOURCE.load(path, ctx)
    assert result.trust == "derived"
    assert result.licence == "non indicata"
    assert result.origin is not None and "Shpizzi/teseo" in result.origin
    assert list(result.frame["name"]) == ["Lab Centro", "Lab Nord"]
    assert [(r.row_number, r.action, r.reason) for r in result.rejects] == [
        (2, "rejected", "punto fuori dal territorio Comune di Milano: 9.23740, 45.55270 "
                        "(zona: Provincia nord; comune: Cinisello Balsamo (MI))"),
    ]
    assert result.rows_read == 3 and result.rows_rejected == 1
    assert "1 luoghi fuori dal territorio Comune di Milano registrati tra gli scarti (con la zona)" in result.notes


def test_ds744_layout_stays_official(tmp_path: Path, ctx: BuildContext, h: Helpers) -> None:
    path = h.write_text(tmp_path / "ds744_fablab_milano.csv", [
        DS744_HEADER,
        "Opendot;Via Tortona 31;;;;;1.234,5;;;;Laser;sì;sì;;;20144;1;1;Uno;9,1200;45,4300;",
    ], encoding="cp1252")
    result = makerspaces.SOURCE.load(path, ctx)
    assert result.trust == "official"
    assert result.licence is None and result.origin is None  # the source's own CC BY 4.0, from the portal
    assert list(result.frame["name"]) == ["Opendot"]
    assert not any("colonne non previste" in n for n in result.notes)  # the full SOURCES.md column list


def test_official_file_found_before_the_area_list(tmp_path: Path, h: Helpers) -> None:
    area = h.write_text(tmp_path / "z" / "fablab_milano_area.csv", AREA_LINES, newline="\n")
    official = h.write_text(tmp_path / "a" / "FabLab_copia.csv", [DS744_HEADER, "X;Via A 1" + ";" * 20], encoding="cp1252")
    area.touch()  # newer, still second: the layout wins
    assert makerspaces.SOURCE.find(tmp_path) == [official, area]


def test_ds744_found_by_header_whatever_its_name(tmp_path: Path, h: Helpers) -> None:
    renamed = h.write_text(tmp_path / "elenco_laboratori.csv", [DS744_HEADER, "X;Via A 1" + ";" * 20], encoding="cp1252")
    h.write_text(tmp_path / "elenco_spazi.csv", ["NOMINATIVO;INDIRIZZO", "X;Via A 1"])  # too generic to claim
    assert makerspaces.SOURCE.find(tmp_path) == [renamed]


@pytest.mark.real
def test_real_area_list(real_dir: Path) -> None:
    path = real_dir / "fablab-milano-area" / "fablab_milano_area.csv"
    zip_path = real_dir / "comune-milano-nil" / "NIL_WM.zip"
    if not path.is_file() or not zip_path.is_file():
        pytest.skip("fablab_milano_area.csv or NIL_WM.zip not in the real folder")
    ctx = BuildContext.with_areas(nil.SOURCE.load(zip_path, BuildContext()).frame[["id", "name", "geometry"]])
    result = makerspaces.SOURCE.load(path, ctx)
    assert result.trust == "derived"
    assert result.rows_read == 30 and len(result.frame) == 15
    outside = [r for r in result.rejects if r.action == "rejected"]
    assert len(outside) == 15
    assert all(r.reason.startswith("punto fuori dal territorio Comune di Milano: ") and "(zona: " in r.reason
               for r in outside)
    assert sum("comune: Cinisello Balsamo (MI)" in r.reason for r in outside) == 2


def test_coworking_list_found_by_header_whatever_its_name(tmp_path: Path, h: Helpers) -> None:
    renamed = h.write_text(tmp_path / "elenco_qualificato.csv", [
        "SPAZIO,TIPOLOGIA,SEDE,NUMERO POSTAZIONI,ID,LONG_X_4326,LAT_Y_4326", "Cowo,Coworking,Via A 1,10,1,9.12,45.43"],
        newline="\n")
    h.write_text(tmp_path / "spazi.csv", ["SPAZIO,SEDE", "X,Via A 1"], newline="\n")  # too generic to claim
    assert coworking.SOURCE.find(tmp_path) == [renamed]
    assert makerspaces.SOURCE.find(tmp_path) == []


@pytest.mark.real
def test_third_party_list_is_not_recorded_as_ds744(real_dir: Path, tmp_path: Path) -> None:
    """The area list is read by the ds744 loader but is not ds744: its lineage row names no dataset."""
    import duckdb

    from etl.pipeline import build

    raw = tmp_path / "raw"
    raw.mkdir()
    for rel in ("comune-milano-nil/NIL_WM.zip", "fablab-milano-area/fablab_milano_area.csv"):
        (raw / Path(rel).name).symlink_to(real_dir / rel)
    out = tmp_path / "w.duckdb"
    build(raw, out, progress=lambda _m: None)
    con = duckdb.connect(str(out), read_only=True)
    try:
        rows = con.sql("SELECT dataset, trust FROM sources WHERE source_id = 'makerspaces' AND status = 'loaded'").fetchall()
    finally:
        con.close()
    assert rows == [(None, "derived")]


def _comuni_context(real_dir: Path, territory_id: str) -> BuildContext:
    """The territory's comuni from the Openpolis file its profile names, as the pipeline loads them."""
    from etl import territory
    from etl.sources import comuni_istat

    profile = territory.load(territory_id)
    code = profile.fine.filter["prov_istat_code"].lstrip("0")
    path = real_dir / "openpolis-geojson-italy" / f"limits_P_{code}_municipalities.geojson"
    if not path.is_file():
        pytest.skip(f"{path.name} not in the real folder")
    ctx = BuildContext(territory=profile)
    frame = comuni_istat.SOURCE.for_level(profile.fine).load(path, ctx).frame
    return BuildContext.with_areas(frame[["id", "name", "geometry"]].copy(), territory=profile)


@pytest.mark.real
def test_real_area_list_in_the_citta_metropolitana(real_dir: Path) -> None:
    """27 of the 30 in the 133 comuni (15 in Milano 15146, 12 in 10 others); Monza, Lissone, Origgio outside."""
    path = real_dir / "fablab-milano-area" / "fablab_milano_area.csv"
    if not path.is_file():
        pytest.skip("fablab_milano_area.csv not in the real folder")
    ctx = _comuni_context(real_dir, "citta_metropolitana_milano")
    assert len(ctx.ids()) == 133
    result = makerspaces.SOURCE.load(path, ctx)
    assert result.rows_read == 30 and len(result.frame) == 27
    by_comune = result.frame["district_id"].value_counts()
    assert by_comune[15146] == 15 and int(by_comune.drop(15146).sum()) == 12
    assert (result.frame["assignment"] == "point_in_polygon").all() and result.frame["parent_id"].isna().all()
    outside = [r for r in result.rejects if r.action == "rejected"]
    assert all(r.reason.startswith("punto fuori dal territorio Città metropolitana di Milano: ") for r in outside)
    assert sorted(r.reason.split("comune: ")[1].split(" (")[0] for r in outside) == ["Lissone", "Monza", "Origgio"]


@pytest.mark.real
def test_real_area_list_in_cremona_is_not_in_territory(real_dir: Path) -> None:
    from etl.geo import NotInTerritory

    path = real_dir / "fablab-milano-area" / "fablab_milano_area.csv"
    if not path.is_file():
        pytest.skip("fablab_milano_area.csv not in the real folder")
    ctx = _comuni_context(real_dir, "provincia_cremona")
    with pytest.raises(NotInTerritory, match="nessun punto nel territorio Provincia di Cremona: tutte le 30 righe") as err:
        makerspaces.SOURCE.load(path, ctx)
    assert len(err.value.result.rejects) == 30  # kept: each says where the lab lies
