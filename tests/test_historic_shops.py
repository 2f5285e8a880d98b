"""Historic shops (ds290): the reshaped JSON export is derived, the portal CSV official; shared point checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pytest

from etl import geo
from etl.base import BuildContext
from etl.sources import historic_shops, municipi, nil

if TYPE_CHECKING:
    from conftest import Helpers


def shop(n: int, name: str, lon: float | None, lat: float | None, stato: str = "attiva", id_nil: str = "1") -> dict[str, Any]:
    return {"n": n, "targa": name, "genere_merceologico": "Sartoria", "anno": 1926, "stato": stato,
            "indirizzo": f"Via {name} {n}", "cap": "20121", "municipio": 1, "id_nil": id_nil, "nil": "X",
            "long_x_4326": lon, "lat_y_4326": lat, "location": None if lat is None else f"({lat}, {lon})"}


@pytest.fixture
def ctx(h: Helpers) -> BuildContext:
    grid = h.nil_grid()
    frame = gpd.GeoDataFrame({"id": [i for i, _ in grid], "name": [f"NIL {i}" for i, _ in grid],
                              "parent_id": [h.grid_parent[i] for i, _ in grid]},
                             geometry=[g for _, g in grid], crs="EPSG:4326")
    return BuildContext.with_areas(frame)


def write_json(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"totale": len(records), "data": records}), encoding="utf-8")
    return path


def test_json_export_is_derived_and_checked(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_json(tmp_path / "botteghe-storiche.json", [
        shop(1, "Brambilla", 9.11, 45.43),
        shop(2, "Lontana", 9.40, 45.43, stato="cessata"),          # outside the city
        shop(3, "Cessata", 9.24, 45.49, stato="Cessata", id_nil="8"),
        shop(3, "Doppia", 9.12, 45.44),                             # same n
    ])
    assert historic_shops.SOURCE.find(tmp_path) == [path]
    result = historic_shops.SOURCE.load(path, ctx)
    frame = result.frame
    assert result.trust == "derived" and result.table == "places"
    assert result.licence == "non indicata (dati di origine Comune di Milano ds290, CC BY 4.0)"
    assert result.origin.startswith("GitHub giusenico/Milano-Platform-v-1.0")
    assert set(frame["theme"]) == {"historic_shop"}
    assert list(frame["name"]) == ["Brambilla", "Cessata"]
    assert list(frame["status"]) == ["attiva", "cessata"]  # 'Cessata' normalised
    assert list(frame["category"]) == ["Sartoria", "Sartoria"]
    assert list(frame["district_id"]) == [1, 8]
    assert json.loads(frame["attributes"].iloc[0])["anno"] == 1926
    rejected = {r.row_number: r.reason for r in result.rejects if r.action == "rejected"}
    assert rejected[2].startswith("punto fuori dal territorio Comune di Milano: 9.40000, 45.43000")
    assert rejected[4] == "duplicato: stesso id della riga 3 (tenuta quella)"
    assert "stato: attiva 1, cessata 1" in result.notes


def test_portal_csv_is_official(tmp_path: Path, ctx: BuildContext, h: Helpers) -> None:
    path = h.write_text(tmp_path / "ds290_economia_botteghe_storiche_2024.csv", [
        "N.;TARGA;GENERE MERCEOLOGICO;ANNO;STATO;INDIRIZZO;CAP;MUNICIPIO;ID_NIL;NIL;LONG_X_4326;LAT_Y_4326;Location",
        "1;Antica Drogheria;Drogheria;1890;Attiva;Via Larga 8;20122;1;1;DUOMO;9,1100;45,4300;",
    ], encoding="cp1252")
    json_path = write_json(tmp_path / "export" / "botteghe-storiche.json", [shop(1, "Brambilla", 9.11, 45.43)])
    assert historic_shops.SOURCE.find(tmp_path) == [path, json_path]  # the official CSV first
    result = historic_shops.SOURCE.load(path, ctx)
    assert result.trust == "official"
    assert result.licence is None  # the source's own CC BY 4.0
    assert list(result.frame["status"]) == ["attiva"]


def test_other_json_not_claimed(tmp_path: Path) -> None:
    write_json(tmp_path / "places.json", [{"name": "x", "lon": 9.1, "lat": 45.4}])
    assert historic_shops.SOURCE.find(tmp_path) == []


@pytest.mark.real
def test_real_botteghe(real_dir: Path) -> None:
    path = real_dir / "milano-platform" / "data-api" / "botteghe-storiche.json"
    zip_path = real_dir / "comune-milano-nil" / "NIL_WM.zip"
    shp = real_dir / "comune-milano-municipi" / "Municipi.shp"
    if not (path.is_file() and zip_path.is_file() and shp.is_file()):
        pytest.skip("botteghe-storiche.json, NIL_WM.zip or Municipi.shp not in the real folder")
    districts = nil.SOURCE.load(zip_path, BuildContext()).frame
    mun = municipi.SOURCE.load(shp, BuildContext()).frame[["id", "name", "geometry"]]
    fine = districts[["id", "name", "geometry"]].copy()
    fine["parent_id"] = geo.parent_by_overlap(districts, mun).to_numpy()
    ctx = BuildContext.with_areas(fine, mun)
    assert historic_shops.SOURCE.find(real_dir) == [path]
    result = historic_shops.SOURCE.load(path, ctx)
    assert len(result.frame) == 626 and result.rows_read == 626
    assert result.frame["status"].value_counts().to_dict() == {"attiva": 506, "cessata": 120}
    assert result.frame["district_id"].notna().all()
    assert result.rows_rejected == 0


@pytest.mark.real
def test_real_botteghe_in_the_citta_metropolitana(real_dir: Path) -> None:
    """The file's id_nil means nothing among comuni: the coordinates place every shop in Milano (15146)."""
    from etl import territory
    from etl.sources import comuni_istat

    path = real_dir / "milano-platform" / "data-api" / "botteghe-storiche.json"
    comuni = real_dir / "openpolis-geojson-italy" / "limits_P_15_municipalities.geojson"
    if not (path.is_file() and comuni.is_file()):
        pytest.skip("botteghe-storiche.json or limits_P_15_municipalities.geojson not in the real folder")
    profile = territory.load("citta_metropolitana_milano")
    frame = comuni_istat.SOURCE.for_level(profile.fine).load(comuni, BuildContext(territory=profile)).frame
    ctx = BuildContext.with_areas(frame[["id", "name", "geometry"]].copy(), territory=profile)
    result = historic_shops.SOURCE.load(path, ctx)
    assert len(result.frame) == 626 and result.rows_rejected == 0
    assert set(result.frame["district_id"]) == {15146} and result.frame["parent_id"].isna().all()
    assert (result.frame["assignment"] == "point_in_polygon").all()
    assert not any("nel file" in r.reason for r in result.rejects)  # no NIL-vs-comune comparison
