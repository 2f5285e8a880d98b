"""Boundary files (NIL and Municipi): every format the portal uses, CRS traps, repairs, clear errors."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from etl import geo
from etl.base import BuildContext, LoadResult, SourceError
from etl.sources import municipi, nil

if TYPE_CHECKING:
    from conftest import Helpers

BOWTIE = shapely.Polygon([(9.20, 45.42), (9.24, 45.46), (9.24, 45.42), (9.20, 45.46), (9.20, 45.42)])
ROME = shapely.box(12.40, 41.85, 12.55, 41.93)


def load_nil(path: Path) -> LoadResult:
    return nil.SOURCE.load(path, BuildContext())


def load_municipi(path: Path) -> LoadResult:
    return municipi.SOURCE.load(path, BuildContext())


def assert_grid(result: LoadResult, h: Helpers, tolerance: float = 1e-9) -> None:
    """The 8 NIL of the grid, in EPSG:4326, geometry unchanged."""
    grid = dict(h.nil_grid())
    frame = result.frame
    assert frame.crs == "EPSG:4326"
    assert frame["id"].tolist() == list(range(1, 9))
    assert set(frame["level"]) == {"nil"}
    for i, geom in zip(frame["id"], frame.geometry, strict=True):
        assert shapely.normalize(geom).equals_exact(shapely.normalize(grid[i]), tolerance), i  # shapefiles reorient rings
    assert result.rows_read == 8
    assert result.rejects == []
    assert "attese 88 geometrie, caricate 8" in result.notes


# --- formats -------------------------------------------------------------------------------------

def test_geojson_lonlat_without_crs(tmp_path: Path, h: Helpers) -> None:
    grid = h.nil_grid()
    path = h.write_geojson(tmp_path / "nil.geojson", [{"ID_NIL": i, "NIL": f"NIL {i}"} for i, _ in grid],
                           [g for _, g in grid])
    result = load_nil(path)
    assert_grid(result, h)
    assert result.frame["name"].tolist() == [f"NIL {i}" for i in range(1, 9)]
    assert result.trust == "official"
    assert result.crs == "EPSG:4326 (WGS 84)"
    assert result.file_format == "geojson"
    assert "CRS assente: coordinate riconosciute come lon/lat WGS84 (EPSG:4326)" in result.notes


def test_geojson_with_crs_member(tmp_path: Path, h: Helpers) -> None:
    grid = h.nil_grid()
    path = h.write_geojson(tmp_path / "nil.geojson", [{"ID_NIL": i} for i, _ in grid], [g for _, g in grid],
                           crs_name="urn:ogc:def:crs:OGC:1.3:CRS84")
    result = load_nil(path)
    assert_grid(result, h)
    assert not any(n.startswith("CRS assente") for n in result.notes)
    # No name column: the level's label and the id (never an empty text, which a data check refuses).
    assert result.frame["name"].tolist() == [f"NIL {i}" for i, _ in grid]


@pytest.mark.parametrize("member_dir", ["", "ds964_nil_wm"])
def test_zipped_shapefile(tmp_path: Path, h: Helpers, member_dir: str) -> None:
    names = ["DUOMO", "CITTA' STUDI", "BRERA", "ISOLA", "GORLA", "NIGUARDA", "BOVISA", "ROSERIO"]
    path = h.write_zipped_shapefile(tmp_path / "ds964_nil_wm.zip", h.nil_frame(names=names), member_dir=member_dir)
    member = f"{member_dir}/NIL_WM.shp" if member_dir else "NIL_WM.shp"
    assert geo._zip_member(path) == f"zip://{path.resolve()}!{member}"
    result = load_nil(path)
    assert_grid(result, h)
    assert result.frame["name"].tolist() == names
    assert result.file_format == "shapefile-zip"
    assert result.crs == "EPSG:4326 (WGS 84)"


def test_zip_ignores_macosx_shadow_files(tmp_path: Path, h: Helpers) -> None:
    path = h.write_zipped_shapefile(tmp_path / "nil.zip", h.nil_frame(), member_dir="dati")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("__MACOSX/dati/._NIL_WM.shp", b"\x00\x05\x16\x07")
    assert geo._zip_member(path).endswith("!dati/NIL_WM.shp")


def test_projected_shapefile_with_prj(tmp_path: Path, h: Helpers) -> None:
    mun = h.municipi_grid()
    utm = h.to_utm([g for _, g in mun])
    frame = gpd.GeoDataFrame({"MUNICIPIO": [1, 2], "AREA": [g.area for g in utm]}, geometry=utm, crs="EPSG:7791")
    result = load_municipi(h.write_shapefile(tmp_path, "Municipi", frame))
    assert result.crs == "EPSG:7791 (RDN2008 / UTM zone 32N)"
    assert result.file_format == "shapefile"
    assert result.frame["id"].tolist() == [1, 2]
    assert result.frame["name"].tolist() == ["Municipio 1", "Municipio 2"]  # default_name: the file has none
    assert result.trust == "official"
    for (_, box), geom in zip(mun, result.frame.geometry, strict=True):
        assert shapely.hausdorff_distance(box, geom) < 1e-7  # back to lon/lat within 1 cm


def test_projected_geojson_without_crs_like_real_municipi(tmp_path: Path, h: Helpers) -> None:
    """Municipi.geojson on the portal: EPSG:7791 coordinates and no `crs` member."""
    mun = h.municipi_grid()
    utm = h.to_utm([g for _, g in mun])
    areas = [g.area for g in utm]
    props = [{"MUNICIPIO": i, "AREA": a, "PERIMETRO": g.length} for (i, _), a, g in zip(mun, areas, utm, strict=True)]
    path = h.write_geojson(tmp_path / "Municipi.geojson", props, utm)
    assert '"crs"' not in path.read_text()
    result = load_municipi(path)
    assert result.crs == "EPSG:7791 (RDN2008 / UTM zone 32N)"
    assert "CRS assente: coordinate riconosciute come RDN2008 / UTM 32N (EPSG:7791)" in result.notes
    assert result.frame["id"].tolist() == [1, 2]
    bounds = result.frame.total_bounds
    assert geo._inside(tuple(bounds), geo.REGION_BBOX)
    np.testing.assert_allclose(bounds, [9.10, 45.42, 9.25, 45.50], atol=1e-7)
    np.testing.assert_allclose(geo.area_m2(result.frame.geometry), areas, rtol=0.005)


def test_projected_shapefile_without_prj_is_recognised(tmp_path: Path, h: Helpers) -> None:
    utm = h.to_utm([g for _, g in h.municipi_grid()])
    path = h.write_shapefile(tmp_path, "Municipi", gpd.GeoDataFrame({"MUNICIPIO": [1, 2]}, geometry=utm, crs="EPSG:7791"))
    path.with_suffix(".prj").unlink()
    result = load_municipi(path)
    assert result.crs == "EPSG:7791 (RDN2008 / UTM zone 32N)"
    assert "CRS assente: coordinate riconosciute come RDN2008 / UTM 32N (EPSG:7791)" in result.notes


def test_wkt_csv_cp1252_semicolon(tmp_path: Path, h: Helpers) -> None:
    lines = ["ID_NIL;NIL;Valido_dal;WKT"] + [f"{i};Città {i};05/02/2020;{g.wkt}" for i, g in h.nil_grid()]
    path = h.write_text(tmp_path / "ds964_nil_wm_4326.csv", lines, encoding="cp1252")
    result = load_nil(path)
    assert_grid(result, h)
    assert result.frame["name"].tolist() == [f"Città {i}" for i in range(1, 9)]
    assert result.encoding == "cp1252"
    assert result.file_format == "csv-wkt"
    assert result.trust == "official"


def test_wkt_csv_utf8_bom_comma_quoted(tmp_path: Path, h: Helpers) -> None:
    lines = ["\ufeffID_NIL,NIL,geometry"] + [f'{i},"Zona {i}, Milano","{g.wkt}"' for i, g in h.nil_grid()]
    result = load_nil(h.write_text(tmp_path / "nil.csv", lines, newline="\n"))
    assert_grid(result, h)
    assert result.encoding == "utf-8"
    assert result.frame["name"].iloc[0] == "Zona 1, Milano"


# --- bad input: one clear SourceError naming the file -----------------------------------------------

def _empty(tmp: Path, h: Helpers) -> Path:
    (tmp / "nil.geojson").write_bytes(b"")
    return tmp / "nil.geojson"


def _empty_collection(tmp: Path, h: Helpers) -> Path:
    return h.write_geojson(tmp / "nil.geojson", [], [])


def _truncated_json(tmp: Path, h: Helpers) -> Path:
    (tmp / "nil.geojson").write_text('{"type": "FeatureCollection", "features": [{"type": "Feat')
    return tmp / "nil.geojson"


def _not_a_zip(tmp: Path, h: Helpers) -> Path:
    (tmp / "ds964_nil_wm.zip").write_bytes(b"Rar!\x1a\x07\x00" + bytes(range(256)))  # the RAR the third party called .zip
    return tmp / "ds964_nil_wm.zip"


def _zip_without_shp(tmp: Path, h: Helpers) -> Path:
    with zipfile.ZipFile(tmp / "nil.zip", "w") as zf:
        zf.writestr("leggimi.txt", "niente")
    return tmp / "nil.zip"


def _shp_without_shx(tmp: Path, h: Helpers) -> Path:
    path = h.write_shapefile(tmp, "NIL_WM", h.nil_frame())
    path.with_suffix(".shx").unlink()
    return path


def _wkt_header_only(tmp: Path, h: Helpers) -> Path:
    return h.write_text(tmp / "nil.csv", ["ID_NIL;NIL;WKT"])


def _csv_without_wkt(tmp: Path, h: Helpers) -> Path:
    return h.write_text(tmp / "nil.csv", ["ID_NIL;NIL;LON;LAT", "1;Duomo;9,19;45,46"])


def _missing_id_column(tmp: Path, h: Helpers) -> Path:
    grid = h.nil_grid()
    return h.write_geojson(tmp / "nil.geojson", [{"CODICE": i} for i, _ in grid], [g for _, g in grid])


def _not_milan(tmp: Path, h: Helpers) -> Path:
    return h.write_geojson(tmp / "nil.geojson", [{"ID_NIL": 1}], [ROME])


def _swapped(tmp: Path, h: Helpers) -> Path:
    grid = h.nil_grid()
    return h.write_geojson(tmp / "nil.geojson", [{"ID_NIL": i} for i, _ in grid], [h.swap_xy(g) for _, g in grid])


def _declared_wgs84_but_projected(tmp: Path, h: Helpers) -> Path:
    grid = h.nil_grid()
    return h.write_geojson(tmp / "nil.geojson", [{"ID_NIL": i} for i, _ in grid], h.to_utm([g for _, g in grid]),
                           crs_name="urn:ogc:def:crs:OGC:1.3:CRS84")


def _only_points(tmp: Path, h: Helpers) -> Path:
    return h.write_geojson(tmp / "nil.geojson", [{"ID_NIL": 1}, {"ID_NIL": 2}],
                           [shapely.Point(9.19, 45.46), shapely.Point(9.2, 45.47)])


BAD_FILES: list[tuple[Callable[[Path, Helpers], Path], str]] = [
    (_empty, "il file è vuoto"),
    (_empty_collection, "il file non contiene geometrie"),
    (_truncated_json, "file geografico illeggibile"),
    (_not_a_zip, "il file non è un archivio zip leggibile"),
    (_zip_without_shp, "lo zip non contiene uno shapefile (.shp)"),
    (_shp_without_shx, "file geografico illeggibile"),
    (_wkt_header_only, "il file ha l'intestazione ma nessuna riga di dati"),
    (_csv_without_wkt, "manca la colonna 'geometria WKT'"),
    (_missing_id_column, "manca la colonna dell'identificativo (attese: id_nil, idnil, district_id; trovate: codice)"),
    (_not_milan, "CRS assente e coordinate non riconoscibili (bbox 12.400,41.850,12.550,41.930)"),
    (_swapped, "CRS assente e coordinate con latitudine e longitudine invertite"),
    (_declared_wgs84_but_projected, "dopo la conversione in EPSG:4326 le geometrie non cadono nella regione del territorio"),
    (_only_points, "nessuna geometria valida"),
]


@pytest.mark.parametrize(("make", "problem"), BAD_FILES, ids=[f.__name__.strip("_") for f, _ in BAD_FILES])
def test_bad_boundary_file(tmp_path: Path, h: Helpers, make: Callable[[Path, Helpers], Path], problem: str) -> None:
    path = make(tmp_path, h)
    with pytest.raises(SourceError) as info:
        load_nil(path)
    err = info.value
    assert err.path == str(path)
    assert str(err).startswith(f"{path}: ")
    assert problem in err.problem
    assert err.hint


def test_bad_wkt_names_the_row(tmp_path: Path, h: Helpers) -> None:
    box = shapely.box(9.1, 45.42, 9.2, 45.5)
    path = h.write_text(tmp_path / "nil.csv", ["ID_NIL;WKT", f"1;{box.wkt}", "2;POLYGON ((9.1 45.4, 9.2"])
    with pytest.raises(SourceError) as info:
        load_nil(path)
    assert info.value.row == 2
    assert str(info.value).startswith(f"{path}, riga 2: WKT non valido")


def test_empty_wkt_cell_is_a_reject_not_a_crash(tmp_path: Path, h: Helpers) -> None:
    """An empty geometry cell rejects its row (pandas 3 must not turn it into NaN)."""
    box = shapely.box(9.1, 45.42, 9.2, 45.5)
    path = h.write_text(tmp_path / "nil.csv", ["ID_NIL;NIL;WKT", f"1;A;{box.wkt}", "2;B;"])
    result = load_nil(path)
    assert result.frame["id"].tolist() == [1]
    assert [(r.row_number, r.reason, r.action) for r in result.rejects] == [(2, "geometria assente o vuota", "rejected")]


# --- row problems: rejected or repaired, with reasons and file row numbers --------------------------

def test_duplicate_and_bad_ids_are_rejected(tmp_path: Path, h: Helpers) -> None:
    grid = h.nil_grid()
    props = [{"ID_NIL": "1"}, {"ID_NIL": "2"}, {"ID_NIL": "2"}, {"ID_NIL": "x"}, {"ID_NIL": "0"}, {"ID_NIL": ""}]
    path = h.write_geojson(tmp_path / "nil.geojson", props, [g for _, g in grid[:6]])
    result = load_nil(path)
    assert result.frame["id"].tolist() == [1, 2]
    assert result.frame.geometry.iloc[1].equals(grid[1][1])  # the first row with id 2 is kept
    assert [(r.row_number, r.reason, r.action) for r in result.rejects] == [
        (3, "identificativo id_nil=2 duplicato: tenuta la prima riga", "rejected"),
        (4, "identificativo id_nil='x' mancante o non numerico", "rejected"),
        (5, "identificativo id_nil='0' mancante o non numerico", "rejected"),
        (6, "identificativo id_nil='' mancante o non numerico", "rejected"),
    ]
    assert result.rejects[0].raw == {"id_nil": "2"}
    assert (result.rows_read, result.rows_rejected, result.rows_repaired) == (6, 4, 0)


def test_bowtie_is_repaired_and_recorded(tmp_path: Path, h: Helpers) -> None:
    grid = h.nil_grid()
    # A duplicate before the bow-tie: the repair must still name the bow-tie's own row (3).
    path = h.write_geojson(tmp_path / "nil.geojson", [{"ID_NIL": 1}, {"ID_NIL": 1}, {"ID_NIL": 3}],
                           [grid[0][1], grid[1][1], BOWTIE])
    assert not BOWTIE.is_valid
    result = load_nil(path)
    assert result.frame["id"].tolist() == [1, 3]
    repaired = result.frame.geometry.iloc[1]
    assert repaired.is_valid
    assert repaired.geom_type == "MultiPolygon"
    assert len(repaired.geoms) == 2
    assert repaired.area == pytest.approx(0.0008, rel=1e-9)  # two triangles of 0.04 x 0.02 / 2 degrees
    assert [(r.row_number, r.action) for r in result.rejects] == [(2, "rejected"), (3, "repaired")]
    assert result.rejects[1].reason == "poligono non valido riparato con make_valid (Self-intersection[9.22 45.44])"
    assert (result.rows_rejected, result.rows_repaired) == (1, 1)


def test_reject_raw_values_are_valid_json(tmp_path: Path, h: Helpers) -> None:
    """A missing number in a rejected row is stored as null, not as NaN (which is not JSON)."""
    grid = h.nil_grid()
    props = [{"ID_NIL": 1, "Shape_Area": 10.5}, {"ID_NIL": 1, "Shape_Area": None}, {"ID_NIL": 3, "Shape_Area": 1.0}]
    path = h.write_geojson(tmp_path / "nil.geojson", props, [grid[0][1], grid[1][1], BOWTIE])
    result = load_nil(path)
    assert [r.raw for r in result.rejects] == [{"id_nil": 1, "shape_area": None}, {"id_nil": 3, "shape_area": 1.0, "id": 3}]

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} in raw JSON")

    for reject in result.rejects:
        json.loads(reject.raw_json(), parse_constant=no_constants)


def test_null_and_point_geometries_are_rejected(tmp_path: Path, h: Helpers) -> None:
    grid = h.nil_grid()
    path = h.write_geojson(tmp_path / "nil.geojson", [{"ID_NIL": 1}, {"ID_NIL": 2}, {"ID_NIL": 3}],
                           [grid[0][1], None, shapely.Point(9.2, 45.45)])
    result = load_nil(path)
    assert result.frame["id"].tolist() == [1]
    assert [(r.row_number, r.reason) for r in result.rejects] == [
        (2, "geometria assente o vuota"),
        (3, "geometria di tipo Point, attesa un'area"),
    ]


def test_third_party_columns_make_the_file_derived(tmp_path: Path, h: Helpers) -> None:
    grid = h.nil_grid()
    props = [{"ID_NIL": i, "NIL": f"N{i}", "district_id": i, "lisa_class": "HH"} for i, _ in grid]
    result = load_nil(h.write_geojson(tmp_path / "nil.geojson", props, [g for _, g in grid]))
    assert result.trust == "derived"
    assert "colonne non ufficiali presenti (file rielaborato da terzi): district_id, lisa_class" in result.notes


# --- finding files ----------------------------------------------------------------------------------

def test_find_ranks_formats(tmp_path: Path, h: Helpers) -> None:
    grid = h.nil_grid()
    geojson = h.write_geojson(tmp_path / "b" / "nil.geojson", [{"ID_NIL": 1}], [grid[0][1]])
    zipped = h.write_zipped_shapefile(tmp_path / "a" / "ds964_nil_wm.zip", h.nil_frame(), member_dir="x")
    wkt = h.write_text(tmp_path / "ds964_nil_wm_4326.csv", ["ID_NIL;WKT", f"1;{grid[0][1].wkt}"])
    h.write_text(tmp_path / "popolazione_nil.csv", ["ID_NIL;Residenti", "1;100"])  # a NIL csv without geometry
    h.write_text(tmp_path / "NILS_DataCluster.csv", ["IdNIL,Residenti", "1,100"])
    assert nil.SOURCE.find(tmp_path) == [zipped, geojson, wkt]

    utm = h.to_utm([g for _, g in h.municipi_grid()])
    shp = h.write_shapefile(tmp_path / "m", "Municipi", gpd.GeoDataFrame({"MUNICIPIO": [1, 2]}, geometry=utm, crs=7791))
    mgeo = h.write_geojson(tmp_path / "m" / "Municipi.geojson", [{"MUNICIPIO": 1}, {"MUNICIPIO": 2}], utm)
    assert municipi.SOURCE.find(tmp_path) == [shp, mgeo]


# --- geometry helpers ---------------------------------------------------------------------------------

def test_parent_by_overlap(h: Helpers) -> None:
    parents = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[g for _, g in h.municipi_grid()], crs="EPSG:4326")
    children = gpd.GeoDataFrame(
        {"id": [1, 2, 3]},
        geometry=[
            shapely.box(9.15, 45.43, 9.185, 45.44),  # 0.025 west of 9.175, 0.010 east -> Municipio 1
            shapely.box(9.17, 45.43, 9.20, 45.44),  # 0.005 west, 0.025 east -> Municipio 2
            shapely.box(9.50, 45.43, 9.60, 45.44),  # outside every Municipio
        ],
        crs="EPSG:4326",
    )
    result = geo.parent_by_overlap(children, parents)
    assert str(result.dtype) == "Int64"
    assert result.iloc[:2].tolist() == [1, 2]
    assert pd.isna(result.iloc[2])


def test_assign_points(h: Helpers) -> None:
    polygons = gpd.GeoDataFrame({"id": [i for i, _ in h.nil_grid()]}, geometry=[g for _, g in h.nil_grid()], crs=4326)
    lon = np.array([9.11, 9.24, 9.11, 9.24, 9.30, 9.16])
    lat = np.array([45.43, 45.43, 45.49, 45.49, 45.45, 45.41])
    assert geo.assign_points(lon, lat, polygons).tolist() == [1, 4, 5, 8, -1, -1]


def test_map_geometries_keep_the_tiling(h: Helpers) -> None:
    grid = h.nil_grid()
    series = gpd.GeoSeries([g for _, g in grid], crs="EPSG:4326")
    out = [shapely.from_geojson(s) for s in geo.map_geometries(series)]
    for (_, box), geom in zip(grid, out, strict=True):
        assert geom.is_valid
        assert shapely.hausdorff_distance(box, geom) <= 1e-5  # boxes survive simplification, rounded to 1e-5
    assert shapely.union_all(out).area == pytest.approx((9.25 - 9.10) * (45.50 - 45.42), rel=1e-6)  # no gaps
    collection = geo.geojson_feature_collection([i for i, _ in grid], geo.map_geometries(series))
    assert [f["id"] for f in collection["features"]] == list(range(1, 9))
    assert json.loads(json.dumps(collection))["type"] == "FeatureCollection"


def test_crs_less_coordinates_are_recognised_anywhere_in_the_region(tmp_path: Path) -> None:
    """Not only around Milan: a CRS-less UTM 32N square on Cremona is read as EPSG:7791, one on Rome is refused."""
    cremona_utm = gpd.GeoSeries([shapely.Point(10.02, 45.13).buffer(0.01)], crs=geo.WGS84).to_crs(geo.UTM32_RDN2008)
    frame = gpd.GeoDataFrame({"id": [1]}, geometry=list(cremona_utm), crs=None)
    out, label, notes = geo.ensure_wgs84(frame, tmp_path / "cremona.geojson")
    assert notes == ["CRS assente: coordinate riconosciute come RDN2008 / UTM 32N (EPSG:7791)"]
    assert out.geometry.iloc[0].centroid.distance(shapely.Point(10.02, 45.13)) < 1e-4
    rome = gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.Point(12.48, 41.90).buffer(0.01)], crs=None)
    with pytest.raises(SourceError, match="CRS assente e coordinate non riconoscibili"):
        geo.ensure_wgs84(rome, tmp_path / "roma.geojson")
    # A territory elsewhere declares its region: then Rome is fine and Cremona is not.
    lazio = (11.4, 40.7, 14.1, 42.9)
    assert geo.ensure_wgs84(rome, tmp_path / "roma.geojson", lazio)[2] == [
        "CRS assente: coordinate riconosciute come lon/lat WGS84 (EPSG:4326)"]
    cremona = gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.Point(10.02, 45.13).buffer(0.01)], crs=geo.WGS84)
    with pytest.raises(SourceError, match="non cadono nella regione del territorio"):
        geo.ensure_wgs84(cremona, tmp_path / "cremona.geojson", lazio)
