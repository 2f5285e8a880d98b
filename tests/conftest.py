"""Shared fixtures: tiny files written by the tests themselves, temp warehouses, real-data lookup.

Every geometry is a shapely box around Milan (lon 9.10-9.25, lat 45.42-45.50), so areas and
parents are computable by hand. Nothing here mocks the database: warehouses are real DuckDB
files in tmp_path.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import geopandas as gpd
import pytest
import shapely

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) does not put the repo on sys.path
    sys.path.insert(0, str(ROOT))

from etl.pipeline import build  # noqa: E402

# The app's stores (notes, actions, target revisions) default to files under data/: the suite, and
# every server it starts, writes them to a temporary folder instead (a test that sets its own wins).
_STATE_DIR = Path(tempfile.mkdtemp(prefix="osservatorio-tests-"))
for _var, _name in (("OSSERVATORIO_APPSTATE", "appstate.sqlite"), ("OSSERVATORIO_PROGRAMME", "programme.sqlite"),
                    ("OSSERVATORIO_CALIBRATION", "calibration.sqlite")):
    os.environ.setdefault(_var, str(_STATE_DIR / _name))
# The hub source reads config/hubs.toml in every build, whatever the raw folder: test builds read no
# hub list (a file that does not exist) unless a test names one (tests/test_hubs.py).
os.environ.setdefault("OSSERVATORIO_HUBS_CONFIG", str(_STATE_DIR / "no-hubs.toml"))

# The real open-data files live in `shared/`, a sibling of the repository root.
DEFAULT_REAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"

# The test city: lon 9.10-9.25 split into 4 columns, lat 45.42-45.50 split into 2 rows.
WEST, EAST, SOUTH, NORTH = 9.10, 9.25, 45.42, 45.50
MID_LON = 9.175  # Municipio 1 is west of it, Municipio 2 east


def nil_grid() -> list[tuple[int, shapely.Polygon]]:
    """8 NIL boxes: ids 1-4 in the south row, 5-8 in the north row, west to east."""
    xs = [WEST + i * (EAST - WEST) / 4 for i in range(5)]
    ys = [SOUTH, (SOUTH + NORTH) / 2, NORTH]
    out = []
    for r in range(2):
        for c in range(4):
            out.append((r * 4 + c + 1, shapely.box(xs[c], ys[r], xs[c + 1], ys[r + 1])))
    return out


def municipi_grid() -> list[tuple[int, shapely.Polygon]]:
    """2 Municipi: 1 = west half, 2 = east half (each the union of 4 NIL)."""
    return [(1, shapely.box(WEST, SOUTH, MID_LON, NORTH)), (2, shapely.box(MID_LON, SOUTH, EAST, NORTH))]


# NIL id -> parent Municipio in the grid above (columns 1-2 west, 3-4 east).
GRID_PARENT = {1: 1, 2: 1, 3: 2, 4: 2, 5: 1, 6: 1, 7: 2, 8: 2}


def to_utm(geoms: Sequence[shapely.Geometry]) -> list[shapely.Geometry]:
    """EPSG:4326 -> RDN2008 / UTM 32N (EPSG:7791), like the real Municipi files."""
    return list(gpd.GeoSeries(list(geoms), crs="EPSG:4326").to_crs("EPSG:7791"))


def swap_xy(geom: shapely.Geometry) -> shapely.Geometry:
    """Lat/lon instead of lon/lat."""
    return shapely.transform(geom, lambda c: c[:, ::-1])


def write_geojson(path: Path, props: Sequence[dict[str, Any]], geoms: Sequence[shapely.Geometry | None],
                  crs_name: str | None = None) -> Path:
    """A FeatureCollection written by hand: with a `crs` member only when crs_name is given."""
    doc: dict[str, Any] = {"type": "FeatureCollection"}
    if crs_name:
        doc["crs"] = {"type": "name", "properties": {"name": crs_name}}
    doc["features"] = [
        {"type": "Feature", "properties": dict(p),
         "geometry": None if g is None else json.loads(shapely.to_geojson(g))}
        for p, g in zip(props, geoms, strict=True)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def write_shapefile(folder: Path, stem: str, frame: gpd.GeoDataFrame) -> Path:
    """An ESRI shapefile (shp+shx+dbf+prj+cpg) named stem.shp in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.shp"
    frame.to_file(path, driver="ESRI Shapefile")
    return path


def write_zipped_shapefile(path: Path, frame: gpd.GeoDataFrame, member_dir: str = "", stem: str = "NIL_WM") -> Path:
    """A zip holding one shapefile, optionally inside a sub-folder (the `zip://a.zip!sub/x.shp` case)."""
    staging = path.parent / f".staging-{path.stem}"
    shp = write_shapefile(staging, stem, frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for part in sorted(staging.iterdir()):
            zf.write(part, f"{member_dir}/{part.name}" if member_dir else part.name)
    for part in staging.iterdir():
        part.unlink()
    staging.rmdir()
    assert shp.suffix == ".shp"
    return path


def write_text(path: Path, lines: Sequence[str], encoding: str = "utf-8", newline: str = "\r\n") -> Path:
    """A text file with the given encoding and line ending (the last line ends too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def nil_frame(ids: Sequence[int] | None = None, names: Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """The NIL grid as an EPSG:4326 GeoDataFrame with the official ds964 column names."""
    grid = dict(nil_grid())
    ids = list(ids or grid)
    names = list(names or [f"NIL {i}" for i in ids])
    return gpd.GeoDataFrame({"ID_NIL": ids, "NIL": names}, geometry=[grid[i] for i in ids], crs="EPSG:4326")


def write_raw_dir(folder: Path, population_lines: Sequence[str] | None = None) -> Path:
    """A complete small raw folder, in the awkward formats of the real portal:

    - Municipi: projected GeoJSON (EPSG:7791 coordinates) with no `crs` member;
    - NIL: zipped shapefile inside a sub-folder of the zip;
    - population: cp1252 CSV with ';', accents, thousands dots and an unknown NIL (99).
    """
    mun = municipi_grid()
    utm = to_utm([g for _, g in mun])
    write_geojson(folder / "municipi" / "Municipi.geojson",
                  [{"MUNICIPIO": i, "AREA": round(g.area, 1)} for (i, _), g in zip(mun, utm, strict=True)], utm)
    write_zipped_shapefile(folder / "nil" / "ds964_nil_wm.zip", nil_frame(), member_dir="ds964")
    if population_lines is None:
        population_lines = POPULATION_LINES
    write_text(folder / "popolazione" / "popolazione_residenti.csv", population_lines, encoding="cp1252")
    return folder


# Residents per NIL of the standard raw folder; row 9 (NIL 99) is unknown and must be rejected.
POPULATION = {1: 1234, 2: 2000, 3: 3000, 4: 4000, 5: 5000, 6: 6000, 7: 7000, 8: 8000}
POPULATION_LINES = [
    "IdNIL;NIL;Residenti;Densità",
    "1;Città Studi;1.234;12,5",  # thousands dot
    "2;Brera;2000;20,0",
    "3;Porta Romana;3000;30,0",
    "4;Santa Giulia;4000;40,0",
    "5;Quarto Oggiaro;5000;50,0",
    "6;Bovisa;6000;60,0",
    "7;Niguarda;7000;70,0",
    "8;Gorla;8000;80,0",
    "99;Quartiere inesistente;10;1,0",
]


def no_leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Names in folder other than `keep` (temp builds, WAL files...)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def fetch(path: Path, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one query on a warehouse file opened read-only, then close it."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(sql, params=params).fetchall()
    finally:
        con.close()


def quiet(_message: str) -> None:
    """A progress callback that prints nothing."""


@dataclass(frozen=True)
class Helpers:
    """The helpers above, handed to tests as one fixture (test modules do not import conftest)."""

    nil_grid: Callable[[], list[tuple[int, shapely.Polygon]]] = nil_grid
    municipi_grid: Callable[[], list[tuple[int, shapely.Polygon]]] = municipi_grid
    grid_parent: dict[int, int] = field(default_factory=lambda: dict(GRID_PARENT))
    population: dict[int, int] = field(default_factory=lambda: dict(POPULATION))
    population_lines: list[str] = field(default_factory=lambda: list(POPULATION_LINES))
    to_utm: Callable[..., list[shapely.Geometry]] = to_utm
    swap_xy: Callable[[shapely.Geometry], shapely.Geometry] = swap_xy
    write_geojson: Callable[..., Path] = write_geojson
    write_shapefile: Callable[..., Path] = write_shapefile
    write_zipped_shapefile: Callable[..., Path] = write_zipped_shapefile
    write_text: Callable[..., Path] = write_text
    nil_frame: Callable[..., gpd.GeoDataFrame] = nil_frame
    write_raw_dir: Callable[..., Path] = write_raw_dir
    no_leftovers: Callable[[Path, set[str]], list[str]] = no_leftovers
    fetch: Callable[..., list[tuple[Any, ...]]] = fetch
    quiet: Callable[[str], None] = quiet


@pytest.fixture(scope="session")
def h() -> Helpers:
    return Helpers()


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo build for the whole session (read it only read-only)."""
    out = tmp_path_factory.mktemp("demo") / "warehouse.duckdb"
    build(None, out, progress=quiet)
    return out


@pytest.fixture
def demo_con(demo_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        yield con
    finally:
        con.close()


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The real open-data folder; the test is skipped (with the reason) when it is absent."""
    env = os.environ.get("OSSERVATORIO_REAL_DATA")
    path = Path(env) if env else DEFAULT_REAL_DIR
    if not path.is_dir():
        origin = "OSSERVATORIO_REAL_DATA" if env else "default location (sibling `shared` folder of the repo)"
        pytest.skip(f"real open-data files not found at {path} ({origin}); "
                    "set OSSERVATORIO_REAL_DATA to the folder that holds SOURCES.md")
    return path


@pytest.fixture(autouse=True)
def _close_app_connections() -> Iterator[None]:
    """Each test starts and ends with no warehouse connection held by the app's process-wide registry
    (a test that rewrites a warehouse in place must not be served the old build by a previous test)."""
    from osservatorio.warehouse import REGISTRY

    REGISTRY.close_all()
    yield
    REGISTRY.close_all()
