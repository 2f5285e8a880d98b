"""The build: real-mode build from test-written files, atomic swap, clear CLI errors, demo bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest
import shapely

from etl import cli, demo
from etl.base import BuildContext, LoadResult, SourceError, sha256_of
from etl.demo_reference import NIL_REFERENCE
from etl.pipeline import build
from etl.sources import municipi, nil, population
from osservatorio import data

if TYPE_CHECKING:
    from conftest import Helpers

ROOT = Path(__file__).resolve().parents[1]
TOTAL = 1234 + 2000 + 3000 + 4000 + 5000 + 6000 + 7000 + 8000  # residents of the test raw folder


@pytest.fixture
def raw(tmp_path: Path, h: Helpers) -> Path:
    return h.write_raw_dir(tmp_path / "raw")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "warehouse"
    folder.mkdir()
    return folder / "warehouse.duckdb"


@pytest.fixture(scope="module")
def previous_warehouse(tmp_path_factory: pytest.TempPathFactory, h: Helpers) -> bytes:
    """The bytes of a good build of the test raw folder (copied where a test needs a previous warehouse)."""
    base = tmp_path_factory.mktemp("previous")
    path = base / "warehouse.duckdb"
    build(h.write_raw_dir(base / "raw"), path, progress=h.quiet)
    return path.read_bytes()


# --- a real-mode build of tiny test-written files ----------------------------------------------------

def test_build_from_raw_folder(raw: Path, out: Path, h: Helpers) -> None:
    report = build(raw, out, progress=h.quiet)
    assert h.no_leftovers(out.parent, {"warehouse.duckdb"}) == []
    assert report.mode == "real"
    assert [(s.source_id, s.status, s.rows_read, s.rows_loaded, s.rows_rejected, s.trust) for s in report.summaries] == [
        ("municipi_boundaries", "loaded", 2, 2, 0, "official"),
        ("nil_boundaries", "loaded", 8, 8, 0, "official"),
        ("population_nil", "loaded", 9, 8, 1, "derived"),
    ]

    # Districts: ids, parents by overlap, names, trust.
    assert h.fetch(out, "SELECT id, name, parent_id, trust FROM districts WHERE level = 'nil' ORDER BY id") == [
        (i, f"NIL {i}", h.grid_parent[i], "official") for i in range(1, 9)
    ]
    assert h.fetch(out, "SELECT id, name, parent_id, trust FROM districts WHERE level = 'municipio' ORDER BY id") == [
        (1, "Municipio 1", None, "official"), (2, "Municipio 2", None, "official"),
    ]
    # The NIL tile the Municipi exactly; each Municipio keeps the area the file states.
    (nil_area, mun_area), = h.fetch(out, "SELECT sum(area_m2) FILTER (level = 'nil'), sum(area_m2) FILTER (level = 'municipio') "
                                         "FROM districts")
    assert nil_area == pytest.approx(mun_area, rel=1e-6)
    stated = json.loads((raw / "municipi" / "Municipi.geojson").read_text())["features"]
    areas = dict(h.fetch(out, "SELECT id, area_m2 FROM districts WHERE level = 'municipio'"))
    for feature in stated:
        assert areas[feature["properties"]["MUNICIPIO"]] == pytest.approx(feature["properties"]["AREA"], rel=0.005)
    # Stored geometry is the input geometry, in lon/lat.
    for i, wkb, centroid_lon, centroid_lat in h.fetch(out, "SELECT id, geom_wkb, centroid_lon, centroid_lat FROM districts "
                                                          "WHERE level = 'nil' ORDER BY id"):
        geom = shapely.from_wkb(wkb)
        assert shapely.hausdorff_distance(geom, dict(h.nil_grid())[i]) < 1e-9
        assert geom.contains(shapely.Point(centroid_lon, centroid_lat))

    # Population: per NIL as in the file, Municipi rolled up from their NIL.
    assert h.fetch(out, "SELECT district_id, year, residents, trust FROM population WHERE level = 'nil' ORDER BY 1") == [
        (i, None, v, "derived") for i, v in h.population.items()
    ]
    assert h.fetch(out, "SELECT district_id, residents, trust FROM population WHERE level = 'municipio' ORDER BY 1") == [
        (1, 1234 + 2000 + 5000 + 6000, "derived"), (2, 3000 + 4000 + 7000 + 8000, "derived"),
    ]

    # The unknown NIL is in `rejects`, with its row and raw values.
    pop_path = raw / "popolazione" / "popolazione_residenti.csv"
    (reject,) = h.fetch(out, "SELECT source_id, path, row_number, reason, action, raw FROM rejects")
    assert reject[:5] == ("population_nil", str(pop_path), 9, "NIL 99 sconosciuto: non è tra i NIL caricati", "rejected")
    assert json.loads(reject[5]) == {"idnil": "99", "nil": "Quartiere inesistente", "residenti": "10", "densita": "1,0"}

    # Lineage: what was read, how, and its checksum.
    lineage = h.fetch(out, "SELECT source_id, path, sha256, bytes, crs, encoding, rows_read, rows_loaded, rows_rejected, "
                           "trust, status FROM sources ORDER BY source_id")
    mun_path, nil_path = raw / "municipi" / "Municipi.geojson", raw / "nil" / "ds964_nil_wm.zip"
    assert lineage == [
        ("municipi_boundaries", str(mun_path), sha256_of(mun_path), mun_path.stat().st_size,
         "EPSG:7791 (RDN2008 / UTM zone 32N)", None, 2, 2, 0, "official", "loaded"),
        ("nil_boundaries", str(nil_path), sha256_of(nil_path), nil_path.stat().st_size,
         "EPSG:4326 (WGS 84)", None, 8, 8, 0, "official", "loaded"),
        ("population_nil", str(pop_path), sha256_of(pop_path), pop_path.stat().st_size,
         None, "cp1252", 9, 8, 1, "derived", "loaded"),
    ]
    ((mode, raw_dir, finished),) = h.fetch(out, "SELECT mode, raw_dir, finished_at FROM build")
    assert (mode, raw_dir) == ("real", str(raw))
    assert finished is not None

    con = duckdb.connect(str(out), read_only=True)
    try:
        summary = data.territory_summary(con)
        assert summary["nil_count"] == 8
        assert summary["residents"] == TOTAL
        assert summary["nil_without_population"] == 0
        assert summary["area_km2"] == pytest.approx(nil_area / 1e6)
        assert summary["density_km2"] == pytest.approx(TOTAL / (nil_area / 1e6))
        assert len(data.map_geojson(con, "municipio")["features"]) == 2
    finally:
        con.close()


def test_second_boundary_file_is_recorded_as_skipped(raw: Path, out: Path, h: Helpers) -> None:
    grid = h.nil_grid()
    extra = h.write_geojson(raw / "nil" / "nil.geojson", [{"ID_NIL": i} for i, _ in grid], [g for _, g in grid])
    build(raw, out, progress=h.quiet)
    chosen = raw / "nil" / "ds964_nil_wm.zip"
    rows = h.fetch(out, "SELECT path, status, notes FROM sources WHERE source_id = 'nil_boundaries' ORDER BY status")
    assert [(path, status) for path, status, _ in rows] == [(str(chosen), "loaded"), (str(extra), "skipped")]
    assert rows[0][2] == "attese 88 geometrie, caricate 8"
    assert rows[1][2].startswith("non usato")
    assert chosen.name in rows[1][2]  # the note says which file was used instead


def test_repairs_and_rejects_reach_the_warehouse(raw: Path, out: Path, h: Helpers) -> None:
    grid = h.nil_grid()
    bowtie = shapely.Polygon([(9.22, 45.465), (9.24, 45.495), (9.24, 45.465), (9.22, 45.495), (9.22, 45.465)])
    (raw / "nil" / "ds964_nil_wm.zip").unlink()
    props = [{"ID_NIL": i} for i, _ in grid[:7]] + [{"ID_NIL": 7}, {"ID_NIL": 8}]
    path = h.write_geojson(raw / "nil" / "nil.geojson", props, [g for _, g in grid[:7]] + [grid[7][1], bowtie])
    build(raw, out, progress=h.quiet)
    assert h.fetch(out, "SELECT source_id, row_number, action, reason FROM rejects ORDER BY source_id, row_number") == [
        ("nil_boundaries", 8, "rejected", "identificativo id_nil=7 duplicato: tenuta la prima riga"),
        ("nil_boundaries", 9, "repaired", "poligono non valido riparato con make_valid (Self-intersection[9.23 45.48])"),
        ("population_nil", 9, "rejected", "NIL 99 sconosciuto: non è tra i NIL caricati"),
    ]
    assert h.fetch(out, "SELECT rows_read, rows_loaded, rows_rejected, rows_repaired FROM sources "
                        "WHERE path = ?", [str(path)]) == [(9, 8, 1, 1)]
    ((wkb, area),) = h.fetch(out, "SELECT geom_wkb, area_m2 FROM districts WHERE level = 'nil' AND id = 8")
    assert shapely.from_wkb(wkb).is_valid
    assert area > 0


# --- bad input: a clear error naming the file, and nothing half-written ------------------------------

@dataclass(frozen=True)
class BadCase:
    name: str
    make: Callable[[Path, Helpers], Path]  # breaks the raw folder; returns the path the error must name
    problem: str
    hard: bool = False  # no warehouse can be built (raw folder or NIL boundaries): always an error


def _replace_nil(raw: Path, name: str, content: bytes) -> Path:
    (raw / "nil" / "ds964_nil_wm.zip").unlink()
    path = raw / "nil" / name
    path.write_bytes(content)
    return path


def _write_pop(raw: Path, content: bytes) -> Path:
    path = raw / "popolazione" / "popolazione_residenti.csv"
    path.write_bytes(content)
    return path


def _swapped_nil(raw: Path, h: Helpers) -> Path:
    (raw / "nil" / "ds964_nil_wm.zip").unlink()
    grid = h.nil_grid()
    return h.write_geojson(raw / "nil" / "nil.geojson", [{"ID_NIL": i} for i, _ in grid], [h.swap_xy(g) for _, g in grid])


def _rome_nil(raw: Path, h: Helpers) -> Path:
    (raw / "nil" / "ds964_nil_wm.zip").unlink()
    return h.write_geojson(raw / "nil" / "nil.geojson", [{"ID_NIL": 1}], [shapely.box(12.40, 41.85, 12.55, 41.93)])


def _no_nil(raw: Path, h: Helpers) -> Path:
    (raw / "nil" / "ds964_nil_wm.zip").unlink()
    return raw


def _far_municipi(raw: Path, h: Helpers) -> Path:
    path = raw / "municipi" / "Municipi.geojson"
    return h.write_geojson(path, [{"MUNICIPIO": 1}], [shapely.box(600_000, 4_000_000, 610_000, 4_010_000)])


BAD_CASES = [
    BadCase("missing raw folder", lambda raw, h: raw / "non_esiste", "la cartella dei dati grezzi non esiste", hard=True),
    BadCase("no NIL file", _no_nil, "nessun file dei confini NIL (ds964) trovato", hard=True),
    BadCase("empty NIL file", lambda raw, h: _replace_nil(raw, "nil.geojson", b""), "il file è vuoto", hard=True),
    BadCase("NIL zip that is a RAR", lambda raw, h: _replace_nil(raw, "ds964_nil_wm.zip", b"Rar!\x1a\x07\x00junk"),
            "il file non è un archivio zip leggibile", hard=True),
    BadCase("NIL lat/lon swapped", _swapped_nil, "CRS assente e coordinate con latitudine e longitudine invertite",
            hard=True),
    BadCase("NIL not in Milan", _rome_nil, "CRS assente e coordinate non riconoscibili", hard=True),
    BadCase("Municipi not in Milan", _far_municipi, "CRS assente e coordinate non riconoscibili"),
    BadCase("population header only", lambda raw, h: _write_pop(raw, "IdNIL;Residenti;Densità\r\n".encode("cp1252")),
            "il file ha l'intestazione ma nessuna riga di dati"),
    BadCase("population wrong separator", lambda raw, h: _write_pop(raw, b"IdNIL;Residenti\r\n1,100\r\n2,200\r\n"),
            "l'intestazione è separata da ';' ma le righe di dati da ','"),
    BadCase("population only unknown NIL",
            lambda raw, h: _write_pop(raw, "IdNIL;NIL;Residenti\r\n120;Città;5\r\n".encode("cp1252")),
            "nessuna riga valida di popolazione (1 scartate; la prima: NIL 120 sconosciuto"),
]


def _expect_source_error(raw_dir: Path, out: Path, named: Path, problem: str, h: Helpers, strict: bool = False) -> None:
    with pytest.raises(SourceError) as info:
        build(raw_dir, out, progress=h.quiet, strict=strict)
    err = info.value
    assert err.path == str(named)
    assert str(err).startswith(f"{named}: " if err.row is None else f"{named}, riga {err.row}: ")
    assert problem in err.problem


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.name for c in BAD_CASES])
def test_bad_input_strict_keeps_previous_warehouse(raw: Path, out: Path, h: Helpers, previous_warehouse: bytes,
                                                   case: BadCase) -> None:
    named = case.make(raw, h)
    out.write_bytes(previous_warehouse)
    _expect_source_error(named if case.name == "missing raw folder" else raw, out, named, case.problem, h, strict=True)
    assert out.read_bytes() == previous_warehouse
    assert h.no_leftovers(out.parent, {out.name}) == []


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.name for c in BAD_CASES])
def test_bad_input_is_isolated_unless_it_is_fatal(raw: Path, out: Path, h: Helpers, previous_warehouse: bytes,
                                                  case: BadCase) -> None:
    """Without --strict a bad file is recorded as failed and the rest is built; no NIL is still fatal."""
    named = case.make(raw, h)
    out.write_bytes(previous_warehouse)
    if case.hard:
        _expect_source_error(named if case.name == "missing raw folder" else raw, out, named, case.problem, h)
        assert out.read_bytes() == previous_warehouse
        assert h.no_leftovers(out.parent, {out.name}) == []
        return
    report = build(raw, out, progress=h.quiet)
    assert out.read_bytes() != previous_warehouse  # the new warehouse is swapped in
    assert h.no_leftovers(out.parent, {out.name}) == []
    (failed,) = report.failed
    assert failed.path == str(named)
    assert case.problem in failed.notes[0] and "Cosa fare:" in failed.notes[0]
    ((status, notes, rows_loaded, sha),) = h.fetch(out, "SELECT status, notes, rows_loaded, sha256 FROM sources WHERE path = ?",
                                                   [str(named)])
    assert (status, rows_loaded, sha) == ("failed", 0, sha256_of(named))
    assert notes == failed.notes[0]
    assert h.fetch(out, "SELECT count(*) FROM districts WHERE level = 'nil'") == [(8,)]  # the rest was built
    table = "population" if "population" in case.name else "districts"
    level_filter = "level = 'nil'" if table == "population" else "level = 'municipio'"
    assert h.fetch(out, f"SELECT count(*) FROM {table} WHERE {level_filter}") == [(0,)]  # noqa: S608 nothing of the bad file
    assert [s.source_id for s in report.summaries if s.status == "loaded"] == [
        sid for sid in ("municipi_boundaries", "nil_boundaries", "population_nil") if sid != failed.source_id]


@pytest.mark.parametrize("case", [c for c in BAD_CASES if c.name in {"NIL lat/lon swapped", "population header only"}],
                         ids=lambda c: c.name)
def test_bad_input_on_first_build_writes_nothing(raw: Path, out: Path, h: Helpers, case: BadCase) -> None:
    named = case.make(raw, h)
    _expect_source_error(raw, out, named, case.problem, h, strict=True)
    assert h.no_leftovers(out.parent, set()) == []


# --- atomic swap ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Exploding:
    """A source that finds one file and fails while loading it, after the boundaries were written."""

    exc: BaseException
    source_id: str = "exploding"
    title: str = "exploding"
    dataset: str | None = None
    licence: str = "-"
    table: str = "population"
    single: bool = True

    def find(self, raw_dir: Path) -> list[Path]:
        return [next(raw_dir.rglob("*.csv"))]

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        assert ctx.boundaries("municipio") is not None and ctx.boundaries("nil") is not None  # written earlier
        raise self.exc


def test_interrupted_build_keeps_previous_warehouse(raw: Path, out: Path, h: Helpers, previous_warehouse: bytes) -> None:
    out.write_bytes(previous_warehouse)
    with pytest.raises(KeyboardInterrupt):
        build(raw, out, sources=[municipi.SOURCE, nil.SOURCE, Exploding(KeyboardInterrupt())], progress=h.quiet)
    assert out.read_bytes() == previous_warehouse
    assert h.no_leftovers(out.parent, {out.name}) == []
    assert h.fetch(out, "SELECT count(*) FROM population WHERE level = 'nil'") == [(8,)]  # still readable, still whole


def test_unexpected_reader_error_fails_that_file_only(raw: Path, out: Path, h: Helpers, previous_warehouse: bytes) -> None:
    out.write_bytes(previous_warehouse)
    sources = [municipi.SOURCE, nil.SOURCE, Exploding(RuntimeError("disco pieno"))]
    with pytest.raises(SourceError, match=r"errore imprevisto nella lettura \(RuntimeError: disco pieno\)"):
        build(raw, out, sources=sources, progress=h.quiet, strict=True)
    assert out.read_bytes() == previous_warehouse
    report = build(raw, out, sources=sources, progress=h.quiet)
    (failed,) = report.failed
    assert failed.source_id == "exploding"
    assert failed.notes[0].startswith("errore imprevisto nella lettura (RuntimeError: disco pieno). Cosa fare: ")
    assert h.fetch(out, "SELECT status FROM sources WHERE source_id = 'exploding'") == [("failed",)]
    assert h.no_leftovers(out.parent, {out.name}) == []


def test_failure_in_a_registered_source_keeps_previous_warehouse(raw: Path, out: Path, h: Helpers,
                                                                 previous_warehouse: bytes,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out.write_bytes(previous_warehouse)
    calls: list[str] = []

    def boom(self: object, path: Path, ctx: BuildContext) -> LoadResult:
        calls.append(path.name)
        assert ctx.boundaries() is not None  # NIL were already written to the temp file
        raise KeyboardInterrupt

    monkeypatch.setattr(type(population.SOURCE), "load", boom)
    with pytest.raises(KeyboardInterrupt):
        build(raw, out, progress=h.quiet)
    assert calls == ["popolazione_residenti.csv"]
    assert out.read_bytes() == previous_warehouse
    assert h.no_leftovers(out.parent, {out.name}) == []


def test_successful_rebuild_replaces_the_file(raw: Path, out: Path, h: Helpers, previous_warehouse: bytes) -> None:
    out.write_bytes(previous_warehouse)
    before = h.fetch(out, "SELECT build_id FROM build")
    h.write_text(raw / "popolazione" / "popolazione_residenti.csv", ["IdNIL;Residenti", "1;1"])
    report = build(raw, out, progress=h.quiet)
    assert h.fetch(out, "SELECT build_id FROM build") == [(report.build_id,)] != before
    assert h.fetch(out, "SELECT district_id, residents FROM population WHERE level = 'nil'") == [(1, 1)]
    assert h.no_leftovers(out.parent, {out.name}) == []


# --- command line --------------------------------------------------------------------------------------

def test_cli_subprocess_bad_raw_dir(tmp_path: Path) -> None:
    target = tmp_path / "x" / "warehouse.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "etl", "build", "--raw-dir", str(tmp_path / "BAD"), "--out", str(target)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"ERRORE: {tmp_path / 'BAD'}: la cartella dei dati grezzi non esiste" in proc.stderr
    assert "Il warehouse precedente non è stato modificato." in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not target.exists()
    assert not target.parent.exists() or list(target.parent.iterdir()) == []  # no temp file left behind


def test_cli_bad_file(raw: Path, out: Path, previous_warehouse: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _replace_nil(raw, "ds964_nil_wm.zip", b"Rar!\x1a\x07\x00junk")
    out.write_bytes(previous_warehouse)
    assert cli.main(["build", "--raw-dir", str(raw), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert f"ERRORE: {bad}: il file non è un archivio zip leggibile" in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert out.read_bytes() == previous_warehouse


def test_cli_interrupted(raw: Path, out: Path, previous_warehouse: bytes, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    import etl.sources

    out.write_bytes(previous_warehouse)
    monkeypatch.setattr(etl.sources, "REGISTRY", [municipi.SOURCE, nil.SOURCE, Exploding(KeyboardInterrupt())])
    assert cli.main(["build", "--raw-dir", str(raw), "--out", str(out)]) == 130
    assert "Interrotto: il warehouse precedente non è stato modificato." in capsys.readouterr().err
    assert out.read_bytes() == previous_warehouse
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_cli_success_prints_summary(raw: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["build", "--raw-dir", str(raw), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    text = captured.out  # the summary; progress lines are log records printed to stderr
    assert f"Warehouse scritto: {out} (real)" in captured.err
    assert "Territorio: Comune di Milano (milano; livelli: nil, municipio)" in captured.err
    assert "Warehouse scritto" not in text
    assert "Riepilogo (real, build " in text
    (line,) = [x for x in text.splitlines() if x.startswith("population_nil ")]
    assert line.split()[:6] == ["population_nil", "loaded", "9", "8", "1", "0"]  # read, loaded, rejected, repaired
    assert f"Righe scartate o riparate: tabella 'rejects' in {out}" in text


# --- demo bundle ---------------------------------------------------------------------------------------

def test_demo_districts(demo_warehouse: Path, h: Helpers) -> None:
    nil_rows = h.fetch(demo_warehouse, "SELECT id, name, parent_id FROM districts WHERE level = 'nil' ORDER BY id")
    assert [r[0] for r in nil_rows] == list(range(1, 89))
    assert nil_rows == [(i, name, mun) for i, name, mun, _, _ in NIL_REFERENCE]  # real ids, names and parents
    assert h.fetch(demo_warehouse, "SELECT id, name, parent_id FROM districts WHERE level = 'municipio' ORDER BY id") == [
        (i, f"Municipio {i}", None) for i in range(1, 10)
    ]
    assert h.fetch(demo_warehouse, "SELECT count(*) FROM districts WHERE level = 'nil' AND parent_id IS NULL") == [(0,)]
    # The NIL tile the city: no overlaps, same total area as the Municipi.
    geoms = [shapely.from_wkb(w) for (w,) in h.fetch(demo_warehouse, "SELECT geom_wkb FROM districts WHERE level = 'nil'")]
    assert all(g.is_valid and not g.is_empty for g in geoms)
    (nil_area, mun_area), = h.fetch(demo_warehouse, "SELECT sum(area_m2) FILTER (level = 'nil'), "
                                                    "sum(area_m2) FILTER (level = 'municipio') FROM districts")
    assert nil_area == pytest.approx(mun_area, rel=1e-6)
    assert shapely.union_all(geoms).area == pytest.approx(sum(g.area for g in geoms), rel=1e-6)


def test_demo_is_labelled_demo_everywhere(demo_warehouse: Path, h: Helpers) -> None:
    assert h.fetch(demo_warehouse, "SELECT mode, raw_dir, finished_at IS NOT NULL FROM build") == [("demo", None, True)]
    tables = [t for (t,) in h.fetch(demo_warehouse, "SELECT table_name FROM information_schema.columns "
                                                    "WHERE column_name = 'trust' ORDER BY table_name")]
    assert {"districts", "population", "sources"} <= set(tables)
    for table in tables:
        assert h.fetch(demo_warehouse, f"SELECT count(*) FROM {table} WHERE trust IS DISTINCT FROM 'demo'") == [(0,)], table  # noqa: S608
    loaded = dict(h.fetch(demo_warehouse, "SELECT source_id, rows_loaded FROM sources"))
    assert (loaded["municipi_boundaries"], loaded["nil_boundaries"], loaded["population_nil"]) == (9, 88, 88 * 6)
    assert h.fetch(demo_warehouse, "SELECT DISTINCT path FROM sources") == [(demo.DEMO_PATH,)]
    assert h.fetch(demo_warehouse, "SELECT count(*) FROM rejects") == [(0,)]


def test_demo_population_rolls_up(demo_warehouse: Path, h: Helpers) -> None:
    assert h.fetch(demo_warehouse, "SELECT year, count(*) FROM population WHERE level = 'nil' GROUP BY year ORDER BY year") == [
        (y, 88) for y in range(2016, 2022)
    ]
    nil_pop = h.fetch(demo_warehouse, "SELECT d.parent_id, p.year, p.residents FROM population p "
                                      "JOIN districts d ON d.level = 'nil' AND d.id = p.district_id WHERE p.level = 'nil'")
    expected: dict[tuple[int, int], int] = {}
    for mun, year, residents in nil_pop:
        expected[(mun, year)] = expected.get((mun, year), 0) + residents
    rolled = h.fetch(demo_warehouse, "SELECT district_id, year, residents FROM population WHERE level = 'municipio'")
    assert {(m, y): r for m, y, r in rolled} == expected
    assert len(rolled) == 9 * 6
    assert h.fetch(demo_warehouse, "SELECT min(residents) >= 150 FROM population WHERE level = 'nil'") == [(True,)]


def test_demo_is_deterministic() -> None:
    nil_a, mun_a = demo.demo_districts()
    nil_b, _ = demo.demo_districts()
    assert nil_a.geometry.equals(nil_b.geometry)
    assert demo.demo_population(nil_a).equals(demo.demo_population(nil_b))
    assert len(mun_a) == 9


def test_demo_build_leaves_only_the_warehouse(demo_warehouse: Path, h: Helpers) -> None:
    assert h.no_leftovers(demo_warehouse.parent, {demo_warehouse.name}) == []


# --- data checks before the swap ----------------------------------------------------------------------

@dataclass(frozen=True)
class OrphanPopulation:
    """A source whose rows name an area the territory does not have (no loader check stops them)."""

    source_id: str = "orphan_population"
    title: str = "orphan"
    dataset: str | None = None
    licence: str = "-"
    table: str = "population"
    single: bool = True

    def find(self, raw_dir: Path) -> list[Path]:
        return [next(raw_dir.rglob("*.csv"))]

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        import pandas as pd

        frame = pd.DataFrame({"level": ["nil", "nil"], "district_id": [1, 999], "year": [2020, 2020],
                              "residents": [10, 20]})
        return LoadResult(table="population", frame=frame, rows_read=2, trust="derived")


def test_failed_data_check_stops_the_build_before_the_swap(raw: Path, out: Path, h: Helpers, previous_warehouse: bytes,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from etl import pipeline

    out.write_bytes(previous_warehouse)
    sources = [municipi.SOURCE, nil.SOURCE, OrphanPopulation()]
    with pytest.raises(pipeline.ChecksFailed) as info:
        build(raw, out, sources=sources, progress=h.quiet)
    assert [(f.name, f.rows) for f in info.value.failures] == [("population_district_fk", 1)]
    assert "population_district_fk: 1 righe" in str(info.value)
    assert out.read_bytes() == previous_warehouse  # nothing swapped
    assert h.no_leftovers(out.parent, {out.name}) == []
    # Through the CLI: exit 2, the check and its row count named on stderr, previous warehouse kept.
    import etl.sources

    monkeypatch.setattr(etl.sources, "REGISTRY", sources)
    assert cli.main(["build", "--raw-dir", str(raw), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ERRORE:" in err and "population_district_fk: 1 righe" in err
    assert "Il warehouse precedente non è stato modificato." in err
    assert out.read_bytes() == previous_warehouse
