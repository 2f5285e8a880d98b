"""Bad files are refused cleanly: a failed source with problem, row and what to do, never a traceback.

Also: every data-looking file of the raw folder is accounted for (unrecognised ones listed), the
source catalogue is filled, and a bundle manifest's provenance reaches `sources`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import geopandas as gpd
import pandas as pd
import pytest
import shapely

from etl import bundle, cli, geo
from etl.base import BuildContext, LoadResult, Reject, SourceError, sha256_of
from etl.pipeline import UNRECOGNISED, BuildReport, build
from etl.readers import read_table
from etl.sources import REGISTRY, municipi, nil, population

if TYPE_CHECKING:
    from conftest import Helpers

BASE = [municipi.SOURCE, nil.SOURCE, population.SOURCE]


@pytest.fixture
def raw(tmp_path: Path, h: Helpers) -> Path:
    return h.write_raw_dir(tmp_path / "raw")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "warehouse"
    folder.mkdir()
    return folder / "warehouse.duckdb"


def _row(out: Path, h: Helpers, path: Path | str) -> tuple[Any, ...]:
    (row,) = h.fetch(out, "SELECT source_id, status, notes, sha256, bytes, rows_loaded FROM sources WHERE path = ?",
                     [str(path)])
    return row


def _only_failure(report: BuildReport, path: Path | str) -> str:
    (failed,) = report.failed
    assert failed.path == str(path)
    (note,) = failed.notes
    assert "Cosa fare: " in note
    return note


# --- a found path that is not a usable file ---------------------------------------------------------------

@dataclass(frozen=True)
class NaiveCsvSource:
    """Finds by name only (directories and links included, like a careless glob) and reads with read_table."""

    pattern: str = "strano*"
    source_id: str = "naive"
    title: str = "naive"
    dataset: str | None = None
    licence: str = "-"
    table: str = "population"

    def find(self, raw_dir: Path) -> list[Path]:
        return sorted(raw_dir.glob(self.pattern))

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        if path.suffix == ".xlsx":
            frame = pd.read_excel(path, engine="openpyxl")  # the reader raises on a corrupt workbook
        else:
            frame = read_table(path).frame
        rows = pd.DataFrame({"level": "nil", "district_id": frame.iloc[:, 0].astype(int), "year": None,
                             "residents": frame.iloc[:, 1].astype(int)})
        return LoadResult(table="population", frame=rows, rows_read=len(rows), trust="derived")


def _directory(raw: Path) -> Path:
    path = raw / "strano.csv"
    path.mkdir()
    (path / "dentro.txt").write_text("x")
    return path


def _symlink_loop(raw: Path) -> Path:
    path = raw / "strano.csv"
    os.symlink(path.name, path)  # points at itself
    return path


def _broken_symlink(raw: Path) -> Path:
    path = raw / "strano.csv"
    os.symlink("non_esiste.csv", path)
    return path


def _empty(raw: Path) -> Path:
    path = raw / "strano.csv"
    path.write_bytes(b"")
    return path


def _corrupt_xlsx(raw: Path) -> Path:
    path = raw / "strano.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 40 + b"non un workbook")
    return path


PATH_CASES = {
    "directory": (_directory, "è una cartella, non un file"),
    "symlink loop": (_symlink_loop, "collegamento simbolico circolare"),
    "broken symlink": (_broken_symlink, "collegamento simbolico interrotto"),
    "0-byte file": (_empty, "il file è vuoto (0 byte)"),
    "corrupt xlsx": (_corrupt_xlsx, "archivio danneggiato o di altro tipo"),
}


@pytest.mark.parametrize("case", list(PATH_CASES))
def test_unusable_found_path_fails_that_source_only(raw: Path, out: Path, h: Helpers, case: str) -> None:
    make, problem = PATH_CASES[case]
    path = make(raw)
    report = build(raw, out, sources=[*BASE, NaiveCsvSource()], progress=h.quiet)
    note = _only_failure(report, path)
    assert note.startswith(problem)
    source_id, status, notes, sha, size, loaded = _row(out, h, path)
    assert (source_id, status, notes, loaded) == ("naive", "failed", note, 0)
    if case == "corrupt xlsx":  # a readable file: its identity is recorded
        assert (sha, size) == (sha256_of(path), path.stat().st_size)
    else:
        assert (sha, size) == (None, None)
    assert h.fetch(out, "SELECT count(*) FROM population WHERE level = 'nil' AND source_id = 'population_nil'") == [(8,)]
    assert h.fetch(out, "SELECT count(*) FROM population WHERE source_id = 'naive'") == [(0,)]


def test_corrupt_xlsx_claimed_by_a_registered_source(raw: Path, out: Path, h: Helpers,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The official population workbook's name, garbage content: exit 3, the reason, no traceback."""
    path = raw / "popolazione" / "NIL_sesso_2022.xlsx"
    path.write_bytes(b"PK\x03\x04 questo non e' un xlsx")
    assert cli.main(["build", "--raw-dir", str(raw), "--out", str(out)]) == 3
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "FILE NON CARICATI (1)" in captured.err
    assert str(path) in captured.err
    source_id, status, notes, *_ = _row(out, h, path)
    assert status == "failed" and "Cosa fare: " in notes
    assert h.fetch(out, "SELECT count(*) FROM districts WHERE level = 'nil'") == [(8,)]


# --- integers out of range -----------------------------------------------------------------------------

@dataclass(frozen=True)
class FixedResult:
    """A source whose load returns a prepared LoadResult (what a loader without range checks would produce)."""

    result: LoadResult
    source_id: str = "fixed"
    title: str = "fixed"
    dataset: str | None = None
    licence: str = "-"
    table: str = "places"

    def find(self, raw_dir: Path) -> list[Path]:
        return [raw_dir / "popolazione" / "popolazione_residenti.csv"]

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        return self.result


def _places(seats: list[int]) -> pd.DataFrame:
    n = len(seats)
    return pd.DataFrame({"theme": "coworking", "source_key": [f"k{i}" for i in range(n)], "name": [f"C{i}" for i in range(n)],
                         "lon": 9.15, "lat": 45.45, "district_id": 1, "parent_id": 1, "assignment": "point_in_polygon",
                         "seats": seats})


def test_seats_beyond_32_bits_fail_with_file_and_row(raw: Path, out: Path, h: Helpers) -> None:
    frame = _places([10, 20, 3_000_000_000])
    frame.attrs["row_numbers"] = [2, 5, 9]  # the file's rows (the loader skipped some)
    source = FixedResult(LoadResult(table="places", frame=frame, rows_read=9, trust="derived"))
    report = build(raw, out, sources=[*BASE, source], progress=h.quiet)
    note = _only_failure(report, source.find(raw)[0])
    assert note.startswith("valore 3000000000 fuori dall'intervallo della colonna places.seats "
                           "(INTEGER: da -2147483648 a 2147483647) (source_key='k2'); 1 valori fuori intervallo (riga 9). ")
    assert h.fetch(out, "SELECT count(*) FROM places") == [(0,)]  # nothing of that file
    with pytest.raises(SourceError) as info:
        build(raw, out, sources=[*BASE, source], progress=h.quiet, strict=True)
    assert info.value.row == 9


def test_units_beyond_32_bits_as_python_ints(raw: Path, out: Path, h: Helpers) -> None:
    frame = pd.DataFrame({"district_id": [1, 2], "year": [2010, 2010], "ateco_code": ["25.62", "25.62"], "ateco_edition": "2007",
                          "category": "digital", "units": pd.array([5, 2**40], dtype=object), "avg_employees": 1.0})
    source = FixedResult(LoadResult(table="firm_units", frame=frame, rows_read=2, trust="official"), table="firm_units")
    report = build(raw, out, sources=[*BASE, source], progress=h.quiet)
    note = _only_failure(report, source.find(raw)[0])
    assert f"valore {2**40} fuori dall'intervallo della colonna firm_units.units" in note
    assert "(riga 2)" in note
    assert h.fetch(out, "SELECT count(*) FROM firm_units") == [(0,)]


def test_nil_id_that_would_wrap_to_32_bits(raw: Path, out: Path, h: Helpers) -> None:
    """numpy's astype('int32') silently wraps 2**31+5 to a negative id: refused instead."""
    (raw / "nil" / "ds964_nil_wm.zip").unlink()
    grid = h.nil_grid()
    ids = [i for i, _ in grid[:7]] + [2**31 + 5]
    path = h.write_geojson(raw / "nil" / "nil.geojson", [{"ID_NIL": i} for i in ids], [g for _, g in grid])
    with pytest.raises(SourceError) as info:
        build(raw, out, progress=h.quiet)  # no NIL: fatal
    assert info.value.path == str(path)
    assert f"valore {2**31 + 5} fuori dall'intervallo della colonna districts.id" in info.value.problem


# --- geometry -------------------------------------------------------------------------------------------------

def test_geojson_crs_member_after_the_features(tmp_path: Path, h: Helpers) -> None:
    """Gauss-Boaga (EPSG:3003) coordinates are not guessable: the CRS must be read even at the end of the file."""
    boxes = [g for _, g in h.nil_grid()]
    projected = [shapely.segmentize(g, 50.0) for g in gpd.GeoSeries(boxes, crs="EPSG:4326").to_crs("EPSG:3003")]
    doc = {"type": "FeatureCollection",
           "features": [{"type": "Feature", "properties": {"ID_NIL": i + 1}, "geometry": json.loads(shapely.to_geojson(g))}
                        for i, g in enumerate(projected)],
           "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3003"}}}
    path = tmp_path / "nil.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert path.read_bytes().index(b'"crs"') > 65_536  # far beyond any head the reader might peek at
    frame, fmt = geo.read_vector(path)
    assert fmt == "geojson"
    frame, crs, notes = geo.ensure_wgs84(frame, path)
    assert crs.startswith("EPSG:3003")
    assert notes == []
    for got, want in zip(frame.geometry, boxes, strict=True):
        assert shapely.hausdorff_distance(got, want) < 1e-5


def test_geojson_crs_inside_properties_is_not_a_declaration(tmp_path: Path, h: Helpers) -> None:
    utm = h.to_utm([g for _, g in h.municipi_grid()])
    path = h.write_geojson(tmp_path / "m.geojson", [{"MUNICIPIO": 1, "crs": "nota"}, {"MUNICIPIO": 2, "crs": "x"}], utm)
    frame, _ = geo.read_vector(path)
    assert frame.crs is None  # still recognised from the coordinates
    _, crs, notes = geo.ensure_wgs84(frame, path)
    assert crs.startswith("EPSG:7791") and notes


def test_nil_wkt_csv_with_a_polygon_over_the_csv_field_limit(raw: Path, out: Path, h: Helpers) -> None:
    """The real ds964 WKT CSV has a 139 KB polygon; the csv module refuses fields over 131,072 characters by default."""
    (raw / "nil" / "ds964_nil_wm.zip").unlink()
    grid = h.nil_grid()
    dense = [shapely.segmentize(g, 0.000015) for _, g in grid]  # every polygon densified
    lines = ["ID_NIL;NIL;WKT"] + [f'{i};NIL {i};"{shapely.to_wkt(g, rounding_precision=7)}"' for (i, _), g in zip(grid, dense,
                                                                                                              strict=True)]
    assert max(len(x) for x in lines) > 139_000
    path = h.write_text(raw / "nil" / "ds964_nil_wm_4326.csv", lines)
    report = build(raw, out, progress=h.quiet)
    assert not report.failed
    assert h.fetch(out, "SELECT status, rows_loaded FROM sources WHERE path = ?", [str(path)]) == [("loaded", 8)]


# --- a point file with no usable row ---------------------------------------------------------------------------

def test_file_with_every_row_rejected_fails_and_keeps_its_rejects(raw: Path, out: Path, h: Helpers,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rejects = [Reject(i, {"nome": f"Lab {i}"}, "fuori dal Comune di Milano (Roma)") for i in (1, 2, 3)]
    result = LoadResult(table="places", frame=_places([]).iloc[0:0], rows_read=3, trust="derived", rejects=rejects)
    source = FixedResult(result)
    report = build(raw, out, sources=[*BASE, source], progress=h.quiet)
    note = _only_failure(report, source.find(raw)[0])
    assert note.startswith("nessuna riga utilizzabile (3 lette, 3 scartate; la prima: riga 1: fuori dal Comune di Milano")
    assert h.fetch(out, "SELECT status, rows_read, rows_loaded, rows_rejected FROM sources WHERE source_id = 'fixed'") == [
        ("failed", 3, 0, 3)]
    assert h.fetch(out, "SELECT row_number, reason FROM rejects WHERE source_id = 'fixed' ORDER BY 1") == [
        (i, "fuori dal Comune di Milano (Roma)") for i in (1, 2, 3)]


@dataclass
class _Merged(LoadResult):
    merged_into: str = ""


def test_file_merged_into_another_source_is_loaded_without_rows(raw: Path, out: Path, h: Helpers) -> None:
    """A file read only to enrich another source's rows has none of its own: not a failure."""
    rejects = [Reject(4, {"cod": "R1"}, "non più nell'elenco")]
    result = _Merged(table="places", frame=_places([]).iloc[0:0], rows_read=5, trust="official", rejects=rejects,
                     merged_into="population_nil")
    report = build(raw, out, sources=[*BASE, FixedResult(result)], progress=h.quiet)
    assert not report.failed
    assert h.fetch(out, "SELECT status, rows_read, rows_loaded, rows_rejected FROM sources WHERE source_id = 'fixed'") == [
        ("loaded", 5, 0, 1)]


def test_real_point_loader_with_every_point_outside_milan(raw: Path, out: Path, h: Helpers,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = h.write_text(raw / "makers" / "ds744_makerspace_fablab.csv", [
        "NOMINATIVO;INDIRIZZO;LONG_X_4326;LAT_Y_4326;ID_NIL",
        "Lab Roma;Via del Corso 1;12.4800;41.9000;1",
        "Lab Ostia;Via Ostia 2;12.2900;41.7300;2",
    ])
    # A file of another place is not a refused file: skipped for this territory, its rows kept as rejects.
    assert cli.main(["build", "--raw-dir", str(raw), "--out", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    source_id, status, notes, *_ = _row(out, h, path)
    assert (source_id, status) == ("makerspaces", "skipped")
    assert notes.startswith("nessun punto nel territorio Comune di Milano")
    assert h.fetch(out, "SELECT count(*) FROM places WHERE source_id = 'makerspaces'") == [(0,)]
    assert h.fetch(out, "SELECT count(*) FROM rejects WHERE path = ? AND reason LIKE 'punto fuori dal territorio%'",
                   [str(path)]) == [(2,)]


# --- every file listed ------------------------------------------------------------------------------------------

def test_unrecognised_files_are_listed_with_their_header(raw: Path, out: Path, h: Helpers) -> None:
    mystery = h.write_text(raw / "varie" / "misterioso.csv", ["Codice;Valore;Colore", "1;2;rosso"])
    (raw / "varie" / "LEGGIMI.md").write_text("# note")
    (raw / bundle.MANIFEST).write_text("{}")
    streets = h.write_shapefile(raw / "strade", "strade", gpd.GeoDataFrame(
        {"NOME": ["Via A"]}, geometry=[shapely.LineString([(9.1, 45.45), (9.2, 45.46)])], crs="EPSG:4326"))
    # Municipi also as a shapefile: claimed (skipped), and its sidecars are not listed
    mun = h.municipi_grid()
    h.write_shapefile(raw / "municipi", "Municipi", gpd.GeoDataFrame(
        {"MUNICIPIO": [i for i, _ in mun]}, geometry=[g for _, g in mun], crs="EPSG:4326"))
    report = build(raw, out, sources=BASE, progress=h.quiet)
    listed = h.fetch(out, "SELECT path, status, notes, sha256 FROM sources WHERE source_id = ? ORDER BY path", [UNRECOGNISED])
    assert [(p, s) for p, s, _, _ in listed] == [(str(streets), "skipped"), (str(mystery), "skipped")]
    notes = {p: n for p, _, n, _ in listed}
    assert notes[str(mystery)].startswith("nessuna fonte riconosce questo file: intestazione trovata: codice, valore, colore. "
                                          "Cosa fare: ")
    assert "campi: NOME" in notes[str(streets)]
    assert listed[1][3] == sha256_of(mystery)
    assert [s.path for s in report.unrecognised] == [str(streets), str(mystery)]  # folder order
    assert not report.failed
    assert h.fetch(out, "SELECT count(*) FROM sources WHERE path LIKE '%.dbf' OR path LIKE '%.md' OR path LIKE '%.prj'") == [(0,)]


def test_source_catalogue_has_every_registered_source(raw: Path, out: Path, h: Helpers) -> None:
    _write_bad_population(raw)
    build(raw, out, progress=h.quiet)
    rows = {r[0]: r[1:] for r in h.fetch(out, "SELECT source_id, themes, dataset, portal_url, state FROM source_catalogue")}
    assert set(rows) == {s.source_id for s in REGISTRY}
    assert rows["nil_boundaries"][3] == "loaded"
    assert rows["population_nil"][3] == "failed"
    assert json.loads(rows["population_nil"][0]) == ["population"]
    assert rows["nil_boundaries"][2].startswith("https://dati.comune.milano.it/dataset/")
    absent = [sid for sid, r in rows.items() if r[3] == "absent"]
    assert "makerspaces" in absent
    for source in REGISTRY:
        themes = json.loads(rows[source.source_id][0])
        assert themes == list(getattr(source, "themes", None) or [source.table])


def _write_bad_population(raw: Path) -> Path:
    path = raw / "popolazione" / "popolazione_residenti.csv"
    path.write_bytes("IdNIL;Residenti;Densità\r\n".encode("cp1252"))
    return path


# --- provenance from a bundle manifest -------------------------------------------------------------------------

def test_manifest_provenance_fills_what_the_file_does_not_say(raw: Path, out: Path, h: Helpers,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {"dataset": "ds205", "title": "Popolazione", "publisher": "Comune di Milano", "licence": "CC BY 4.0 (manifest)",
             "licence_note": None, "attribution": "Comune di Milano – manifest", "origin": "https://example.org/origine",
             "reference_date": "2022-12-31", "sha256": "0" * 64}
    seen: list[Path] = []

    def read_manifest(raw_dir: Path) -> dict[str, dict[str, Any]]:
        seen.append(raw_dir)
        return {"popolazione/popolazione_residenti.csv": entry, "varie/altro.csv": dict(entry, title="Altro")}

    monkeypatch.setattr(bundle, "read_manifest", read_manifest)
    other = h.write_text(raw / "varie" / "altro.csv", ["x;y", "1;2"])
    build(raw, out, sources=BASE, progress=h.quiet)
    assert seen == [raw]
    pop = raw / "popolazione" / "popolazione_residenti.csv"
    assert h.fetch(out, "SELECT licence, attribution, origin, reference_date FROM sources WHERE path = ?", [str(pop)]) == [
        ("CC BY 4.0 (manifest)", "Comune di Milano – manifest", "https://example.org/origine", date(2022, 12, 31))]
    assert h.fetch(out, "SELECT source_id, title, licence FROM sources WHERE path = ?", [str(other)]) == [
        (UNRECOGNISED, "Altro", "CC BY 4.0 (manifest)")]
    # A file not in the manifest keeps the source's own licence.
    nil_path = raw / "nil" / "ds964_nil_wm.zip"
    assert h.fetch(out, "SELECT licence, origin FROM sources WHERE path = ?", [str(nil_path)]) == [(nil.SOURCE.licence, None)]


def test_load_result_provenance_wins_over_the_manifest(raw: Path, out: Path, h: Helpers,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _places([4])
    result = LoadResult(table="places", frame=frame, rows_read=1, trust="derived", licence="ODbL (file)",
                        reference_date=date(2020, 1, 1), attribution="dal file", origin="https://example.org/file")
    source = FixedResult(result)
    monkeypatch.setattr(bundle, "read_manifest", lambda raw_dir: {"popolazione/popolazione_residenti.csv": {
        "licence": "manifest", "attribution": "manifest", "origin": "manifest", "reference_date": "2022-12-31"}})
    build(raw, out, sources=[municipi.SOURCE, nil.SOURCE, source], progress=h.quiet)
    assert h.fetch(out, "SELECT licence, reference_date, attribution, origin FROM sources WHERE source_id = 'fixed'") == [
        ("ODbL (file)", date(2020, 1, 1), "dal file", "https://example.org/file")]


# --- command line ----------------------------------------------------------------------------------------------

def test_cli_failed_source_exit_3_and_swapped(raw: Path, out: Path, h: Helpers, capsys: pytest.CaptureFixture[str]) -> None:
    build(raw, out, progress=h.quiet)
    before = h.fetch(out, "SELECT build_id FROM build")
    bad = _write_bad_population(raw)
    assert cli.main(["build", "--raw-dir", str(raw), "--out", str(out)]) == 3
    captured = capsys.readouterr()
    assert f"  population_nil: {bad}\n      il file ha l'intestazione ma nessuna riga di dati. Cosa fare: " in captured.err
    assert "Traceback" not in captured.out + captured.err
    assert h.fetch(out, "SELECT build_id FROM build") != before  # the new warehouse is in place
    assert h.fetch(out, "SELECT count(*) FROM population") == [(0,)]


def test_cli_strict_exit_2_and_untouched(raw: Path, out: Path, h: Helpers, capsys: pytest.CaptureFixture[str]) -> None:
    build(raw, out, progress=h.quiet)
    previous = out.read_bytes()
    bad = _write_bad_population(raw)
    assert cli.main(["build", "--raw-dir", str(raw), "--out", str(out), "--strict"]) == 2
    err = capsys.readouterr().err
    assert f"ERRORE: {bad}: il file ha l'intestazione ma nessuna riga di dati" in err
    assert "Il warehouse precedente non è stato modificato." in err
    assert out.read_bytes() == previous


def test_cli_without_raw_dir_and_without_bundle(tmp_path: Path, out: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle, "BUNDLE_DIR", tmp_path / "nessun_bundle")
    assert cli.main(["build", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ERRORE: nessun dato da cui costruire" in err and "--raw-dir" in err and "--demo" in err
    assert not out.exists()


def test_cli_without_raw_dir_builds_the_bundle(raw: Path, out: Path, h: Helpers, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (raw / bundle.MANIFEST).write_text("{}")
    monkeypatch.setattr(bundle, "BUNDLE_DIR", raw)
    assert cli.main(["build", "--out", str(out)]) == 0
    assert h.fetch(out, "SELECT mode, raw_dir FROM build") == [("real", str(raw))]
    assert cli.main(["build", "--demo", "--out", str(out)]) == 0
    assert h.fetch(out, "SELECT mode, raw_dir FROM build") == [("demo", None)]
    assert cli.main(["build", "--demo", "--raw-dir", str(raw), "--out", str(out)]) == 2


@pytest.mark.real
def test_build_report_for_a_real_folder_accounts_for_every_data_file(real_dir: Path, tmp_path: Path, h: Helpers) -> None:
    """On the real files: every data-looking file is loaded, skipped, failed or listed as unrecognised."""
    from etl.pipeline import data_files

    out = tmp_path / "real.duckdb"
    report = build(real_dir, out, progress=h.quiet)
    recorded = {p for (p,) in h.fetch(out, "SELECT path FROM sources")}
    folders = [Path(p) for p in recorded if Path(p).is_dir()]
    for path in data_files(real_dir):
        assert str(path) in recorded or any(folder in path.parents for folder in folders), path
    assert report.summaries
    con = duckdb.connect(str(out), read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM source_catalogue").fetchall() == [(len({s.source_id for s in REGISTRY}),)]
    finally:
        con.close()

