"""Downloads a journalist can cite: the zipped Frictionless Data Package behind the CSV buttons and the
XLSX Info sheet carry the sources, licences, the data's own dates and trust labels, read from what the
build stored (a hand-written fixture warehouse; the real build in the `real` test)."""

from __future__ import annotations

import io
import json
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest
from frictionless import validate

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from osservatorio import downloads, exports  # noqa: E402
from osservatorio.exports import ExportSpec  # noqa: E402

BUILT = datetime(2026, 11, 30, 18, 0)
CLICKED = datetime(2026, 12, 1, 9, 30)
POP_URL = "https://dati.comune.milano.it/dataset/ds-pop"
SOURCES = [  # source_id, dataset, title, path, licence, trust, status, reference_date, attribution, origin
    ("nil_boundaries", "ds964", "NIL vigenti", "nil.zip", "CC BY 4.0 – Comune di Milano", "official", "loaded", None,
     None, None),
    ("population_nil_xlsx", None, "Popolazione residente per NIL", "pop.xlsx", "CC BY 4.0 (da verificare)", "official",
     "loaded", date(2022, 12, 31), "Comune di Milano", None),
    ("platform_population", None, "Popolazione (export di terzi)", "nil/", "non indicata", "derived", "loaded", None,
     "Milano-Platform", "GitHub giusenico/Milano-Platform"),
    ("vacant_buildings", None, "Lista edifici abbandonati 2016", "places.json", "non indicata (repository GPL-3.0)",
     "derived", "loaded", date(2016, 1, 1), "Comune di Milano (lista 2016)", "GitHub scandaglio/molo"),
    ("confiscated", "ds147", "Beni confiscati", "ds147.csv", "CC BY 4.0 – Comune di Milano", "official", "failed",
     date(2026, 3, 31), None, None),  # refused: never named as a source of the data
]
CATALOGUE = [  # source_id, themes, dataset, title, portal_url, licence, state
    ("nil_boundaries", '["districts"]', "ds964", "NIL vigenti", "https://dati.comune.milano.it/dataset/ds964", "CC BY 4.0",
     "loaded"),
    ("population_nil_xlsx", '["population"]', None, "Popolazione residente per NIL", POP_URL, "CC BY 4.0", "loaded"),
    ("platform_population", '["population"]', None, "Popolazione (export di terzi)", None, "non indicata", "loaded"),
    ("vacant_buildings", '["vacant"]', None, "Lista 2016", None, "non indicata", "loaded"),
    ("confiscated", '["vacant"]', "ds147", "Beni confiscati", None, "CC BY 4.0", "failed"),
]


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """A temp warehouse with the real schema and a few sources, population years and one indicator."""
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute((ROOT / "etl" / "sql" / "schema.sql").read_text(encoding="utf-8"))
        con.execute("INSERT INTO build VALUES ('b1', 'real', ?, ?, 'raw', 'test', 1)", [BUILT, BUILT])
        for row in SOURCES:
            con.execute("""INSERT INTO sources (source_id, dataset, title, path, rows_read, rows_loaded, rows_rejected,
                                                loaded_at, licence, trust, status, reference_date, attribution, origin)
                           VALUES (?, ?, ?, ?, 10, 10, 0, ?, ?, ?, ?, ?, ?, ?)""",
                        [*row[:4], BUILT, *row[4:]])
        for row in CATALOGUE:
            con.execute("INSERT INTO source_catalogue (source_id, themes, dataset, title, portal_url, licence, state) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", list(row))
        con.execute("""INSERT INTO population VALUES
                         ('nil', 1, 2021, NULL, 100, 'platform_population', 'nil/', 'derived'),
                         ('nil', 2, 2019, NULL, 100, 'platform_population', 'nil/', 'derived'),
                         ('nil', 1, 2022, '2022-12-31', 90, 'population_nil_xlsx', 'p', 'official')""")
        con.execute("""INSERT INTO indicator_catalogue VALUES
                         ('b1', 'population_density', 'population', 'Densità', 'Density', 'd', 'd', 'residents / km2',
                          'ab./km²', 'neutral', '["population_nil_xlsx", "nil_boundaries"]', '["nil"]')""")
    finally:
        con.close()
    return path


def catalogue(path: Path) -> downloads.SourceCatalogue:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return downloads.export_catalogue(con)
    finally:
        con.close()


def frame() -> pd.DataFrame:
    """Ids, a name with a formula, a unit in a header, a missing number, dates and a boolean."""
    return pd.DataFrame({
        "ID NIL": [1, 2, 3],
        "Nome": ["=HYPERLINK(\"http://x\")", "Città Studi", "-3"],
        "Densità (ab./km²)": [7212.5, None, 11.81],
        "Residenti": pd.array([1000, None, 2342], dtype="Int64"),
        "Data": [date(2022, 12, 31), None, date(2016, 1, 1)],
        "Periferia": [True, False, True],
    })


def unpack(raw: bytes, folder: Path) -> dict:
    """Extract a download's zip into `folder` (made here); the parsed datapackage.json."""
    folder.mkdir()
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert archive.testzip() is None
        archive.extractall(folder)
    return json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))


def errors(report: object) -> list[str]:
    return [e.message for e in report.errors] + [e.message for task in report.tasks for e in task.errors]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# What the build stored


def test_catalogue_reads_the_build(warehouse: Path) -> None:
    found = catalogue(warehouse)
    by_id = {s.source_id: s for s in found.sources}
    # the refused ds147 is not named as a source of the data
    assert set(by_id) == {"nil_boundaries", "population_nil_xlsx", "platform_population", "vacant_buildings"}
    assert by_id["population_nil_xlsx"].reference_date == date(2022, 12, 31) and by_id["population_nil_xlsx"].url == POP_URL
    assert by_id["platform_population"].years == (2019, 2021) and by_id["platform_population"].reference_date is None
    assert by_id["vacant_buildings"].origin == "GitHub scandaglio/molo" and by_id["vacant_buildings"].trust == "derived"
    assert found.indicators["population_density"] == ("population_nil_xlsx", "nil_boundaries")


def test_sources_chosen_by_the_export(warehouse: Path) -> None:
    found = catalogue(warehouse)

    def ids(base: str, **kwargs: object) -> list[str]:
        return [s.source_id for s in downloads.select_sources(found, base, **kwargs)]  # type: ignore[arg-type]

    assert ids("mappa_population_density") == ["nil_boundaries", "population_nil_xlsx"]  # the indicator's own sources
    assert ids("spazi_vuoti") == ["nil_boundaries", "vacant_buildings"]
    assert ids("nil_popolazione") == ["nil_boundaries", "platform_population", "population_nil_xlsx"]
    assert ids("panoramica_indicatori") == ["nil_boundaries", "platform_population", "population_nil_xlsx", "vacant_buildings"]
    assert ids("note_seduta") == []  # notes written in the app have no data source
    assert ids("x", sources=["vacant_buildings", "confiscated"]) == ["vacant_buildings"]
    assert ids("x", themes=["vacant"]) == ["nil_boundaries", "vacant_buildings"]


# ---------------------------------------------------------------------------------------------
# The data package


@pytest.mark.parametrize("dialect", ["standard", "excel_it"])
def test_data_package_is_valid_and_cites_its_sources(warehouse: Path, tmp_path: Path, dialect: str) -> None:
    out = tmp_path / "zip"
    chosen = downloads.select_sources(catalogue(warehouse), "nil_popolazione")
    territory = exports.TerritoryRef("citta_prova", "Città di prova",
                                     (("quartiere", "Quartiere (confini 2020)"), ("zona", "Zona")))
    spec = ExportSpec("nil_popolazione", {"livello": "nil"}, BUILT.date(), {"Build": "b1"}, sources=chosen,
                      territory=territory)
    raw = downloads.data_package_zip(frame(), spec, "it", dialect, generated_at=CLICKED)  # type: ignore[arg-type]
    assert raw == downloads.data_package_zip(frame(), spec, "it", dialect, generated_at=CLICKED)  # type: ignore[arg-type]
    package = unpack(raw, out)
    suffix = "_excel_it" if dialect == "excel_it" else ""
    csv_name = f"nil_popolazione{suffix}__livello-nil__2026-11-30.csv"
    assert sorted(p.name for p in out.iterdir()) == sorted(["datapackage.json", csv_name, "LEGGIMI.txt"])

    report = validate(str(out / "datapackage.json"))
    assert report.valid, errors(report)
    assert report.tasks[0].stats["rows"] == 3

    assert package["name"] == f"nil-popolazione{suffix.replace('_', '-')}-livello-nil-2026-11-30"
    assert package["created"] == "2026-12-01T09:30:00+01:00"  # the file's date ...
    assert "30/11/2026" in package["description"]  # ... and the build's, each called what it is
    assert "(Città di prova)" in package["description"]  # the territory the rows describe, and its levels
    assert package["territory"] == {"id": "citta_prova", "name": "Città di prova",
                                    "levels": [{"id": "quartiere", "name": "Quartiere (confini 2020)"},
                                               {"id": "zona", "name": "Zona"}]}
    assert package["licenses"] == [
        {"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/", "title": "CC BY 4.0 – Comune di Milano"},
        {"name": "notspecified", "title": "non indicata"},
        {"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/", "title": "CC BY 4.0 (da verificare)"},
    ]
    sources = {s["source_id"]: s for s in package["sources"]}
    assert list(sources) == ["nil_boundaries", "platform_population", "population_nil_xlsx"]
    assert sources["population_nil_xlsx"]["reference_date"] == "2022-12-31"
    assert sources["population_nil_xlsx"]["path"] == POP_URL and sources["population_nil_xlsx"]["trust"] == "official"
    assert sources["population_nil_xlsx"]["attribution"] == "Comune di Milano"
    assert sources["platform_population"]["reference_date"] is None and sources["platform_population"]["years"] == [2019, 2021]
    assert sources["platform_population"]["origin"] == "GitHub giusenico/Milano-Platform"
    assert sources["nil_boundaries"]["title"] == "NIL vigenti (ds964)"

    resource = package["resources"][0]
    assert resource["path"] == csv_name and resource["schema"]["missingValues"] == [""]
    fields = {f["name"]: f for f in resource["schema"]["fields"]}
    assert [f["type"] for f in fields.values()] == ["integer", "string", "number", "integer", "date", "boolean"]
    assert fields["Densità (ab./km²)"]["description"] == "unità di misura: ab./km²"
    if dialect == "excel_it":
        assert fields["Densità (ab./km²)"]["decimalChar"] == "," and fields["Data"]["format"] == "%d/%m/%Y"
        assert resource["dialect"]["delimiter"] == ";"

    text = (out / csv_name).read_bytes()
    assert text == exports.to_csv(frame(), dialect)  # type: ignore[arg-type]
    assert b"'=HYPERLINK" in text and b"'-3" in text  # formula-looking cells are still neutralised
    readme = (out / "LEGGIMI.txt").read_text(encoding="utf-8")
    assert "Popolazione residente per NIL: 31/12/2022" in readme and "Elaborazione del: 30/11/2026" in readme
    assert "Territorio: Città di prova" in readme
    assert "Livelli delle aree (dal più fine): Quartiere (confini 2020) › Zona" in readme
    assert "Popolazione (export di terzi): anni 2019–2021" in readme and "Affidabilità: derivato" in readme


def test_validation_catches_a_wrong_schema(warehouse: Path, tmp_path: Path) -> None:
    """The validator reads the data: a CSV that does not match its schema is reported (the test above can fail)."""
    out = tmp_path / "zip"
    spec = ExportSpec("x", sources=catalogue(warehouse).sources)
    package = unpack(downloads.data_package_zip(frame(), spec, "en", "standard", generated_at=CLICKED), out)
    package["resources"][0]["schema"]["fields"][1]["type"] = "integer"  # "Nome" holds names
    (out / "datapackage.json").write_text(json.dumps(package), encoding="utf-8")
    report = validate(str(out / "datapackage.json"))
    assert not report.valid and any("type" in e.lower() for e in errors(report))
    assert (out / "README.txt").exists()


def test_empty_and_unsourced_export_is_still_valid(tmp_path: Path) -> None:
    out = tmp_path / "zip"
    empty = pd.DataFrame({"Nota": pd.Series([], dtype="str"), "Quando": pd.Series([], dtype="datetime64[s]")})
    package = unpack(downloads.data_package_zip(empty, ExportSpec("note_seduta"), "it", "standard", generated_at=CLICKED),
                     out)
    assert package["sources"] == [] and package["licenses"] == [{"name": "notspecified", "title": "non indicata"}]
    report = validate(str(out / "datapackage.json"))
    assert report.valid, errors(report)


@pytest.mark.parametrize(("text", "name"), [
    ("CC BY 4.0 – Comune di Milano", "CC-BY-4.0"),
    ("CC BY 4.0 (licenza predefinita del portale; da verificare)", "CC-BY-4.0"),
    ("non indicata (dati di origine Comune di Milano, CC BY 4.0)", "notspecified"),  # the copy has none
    ("da verificare: gli estratti del Registro Imprese hanno condizioni d'uso InfoCamere", "notspecified"),
    ("IODL 2.0", "IODL-2.0"),
    ("", "notspecified"),
])
def test_licence_names(text: str, name: str) -> None:
    licence = exports.licence_descriptor(text)
    assert licence["name"] == name and licence["title"] == (text or "non indicata")


# ---------------------------------------------------------------------------------------------
# The XLSX Info sheet


def test_xlsx_info_gives_the_data_dates_not_the_build_date(warehouse: Path) -> None:
    chosen = downloads.select_sources(catalogue(warehouse), "spazi_vuoti")
    spec = ExportSpec("spazi_vuoti", {}, BUILT.date(), {"Build": "b1"}, sources=chosen)
    info = downloads.export_info(spec, "it", 3, generated_at=CLICKED)
    raw = exports.to_xlsx(frame(), "spazi_vuoti", info, downloads.sources_table(spec, "it"))
    workbook = openpyxl.load_workbook(io.BytesIO(raw))
    rows = list(workbook["Info"].iter_rows(values_only=True))
    pairs = {r[0]: r[1] for r in rows if r[0] is not None}
    assert "Dati aggiornati al" not in pairs
    assert pairs["Data dei dati (per fonte)"] == \
        "NIL vigenti (ds964): non indicata dalla fonte; Lista edifici abbandonati 2016: 2016"
    assert pairs["Elaborazione del"] == "30/11/2026" and pairs["File generato il"] == "01/12/2026 09:30"
    assert pairs["Licenze"] == "CC BY 4.0; licenza non indicata"
    header = rows.index(("Fonte", "Attribuzione", "Licenza", "Data dei dati", "Affidabilità", "Pagina del dataset",
                         "Provenienza della copia"))
    assert rows[header + 1:] == [
        ("NIL vigenti (ds964)", None, "CC BY 4.0 – Comune di Milano", "non indicata dalla fonte", "ufficiale",
         "https://dati.comune.milano.it/dataset/ds964", None),
        ("Lista edifici abbandonati 2016", "Comune di Milano (lista 2016)", "non indicata (repository GPL-3.0)", "2016",
         "derivato", None, "GitHub scandaglio/molo"),
    ]
    assert all(v is None for v in rows[header - 1])  # an empty row between the rows and the table
    assert all(c.data_type != "f" for row in workbook["Info"].iter_rows() for c in row)
    assert workbook["spazi_vuoti"]["B2"].value == "'=HYPERLINK(\"http://x\")"  # still neutralised


def test_menu_offers_the_zips(warehouse: Path) -> None:
    spec = ExportSpec("nil_popolazione", {}, BUILT.date(), sources=catalogue(warehouse).sources)
    files = downloads.export_files(frame(), spec, "en")
    assert [(f.label, f.file_name, f.mime) for f in files] == [
        ("CSV", "nil_popolazione__2026-11-30.zip", "application/zip"),
        ("CSV for Italian Excel", "nil_popolazione_excel_it__2026-11-30.zip", "application/zip"),
        ("Excel (XLSX)", "nil_popolazione__2026-11-30.xlsx", exports.XLSX_MIME),
    ]
    with zipfile.ZipFile(io.BytesIO(files[1].build())) as archive:
        assert archive.read("nil_popolazione_excel_it__2026-11-30.csv").startswith("\ufeffID NIL;".encode())
        assert "Data date (per source)" in archive.read("README.txt").decode("utf-8")


def test_no_workbook_beyond_the_excel_row_limit(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A register-sized list offers its CSVs but not an XLSX (minutes and gigabytes in the server); the button
    says why. The frame callable is never called to find out."""
    spec = ExportSpec("imprese_puntuali", {}, BUILT.date(), sources=catalogue(warehouse).sources)
    monkeypatch.setattr(downloads, "XLSX_MAX_ROWS", 2)

    def never() -> pd.DataFrame:
        raise AssertionError("the rows were read to build the menu")

    files = {f.kind: f for f in downloads.export_files(never, spec, "it", row_count=3)}
    assert [k for k, f in files.items() if f.disabled] == ["xlsx"]
    assert files["xlsx"].help.startswith("Non preparato: 3 righe, oltre il limite di 2")
    eager = {f.kind: f for f in downloads.export_files(frame(), spec, "en")}
    assert len(frame()) > 2 and eager["xlsx"].disabled and "over the limit of 2" in eager["xlsx"].help
    under = {f.kind: f for f in downloads.export_files(never, spec, "it", row_count=2)}
    assert not any(f.disabled for f in under.values())


def test_no_geojson_beyond_the_feature_limit(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond GEOJSON_MAX_FEATURES the GeoJSON button is greyed out, saying why and that the CSV has lon/lat, in
    both languages; neither the rows nor the layer are made to find out."""
    spec = ExportSpec("imprese_puntuali", {}, BUILT.date(), sources=catalogue(warehouse).sources)
    monkeypatch.setattr(downloads, "GEOJSON_MAX_FEATURES", 5)

    def never() -> pd.DataFrame:
        raise AssertionError("the rows were read to build the menu")

    def no_layer() -> dict:
        raise AssertionError("the layer was made to build the menu")

    files = {f.kind: f for f in downloads.export_files(never, spec, "it", geojson=no_layer, id_col="Codice", row_count=6)}
    assert [k for k, f in files.items() if f.disabled] == ["geojson"]
    assert files["geojson"].help.startswith("Non preparato: 6 righe, oltre il limite di 5") and "lon/lat" in files["geojson"].help
    assert files["geojson"].build() == b""
    english = {f.kind: f for f in downloads.export_files(never, spec, "en", geojson=no_layer, id_col="Codice",
                                                         row_count=1_234_567)}
    assert "1,234,567 rows, over the limit of 5" in english["geojson"].help and "lon/lat" in english["geojson"].help
    chunked = exports.ChunkedFrame(lambda: iter([frame()]), rows=6)  # a ChunkedFrame says its own row count
    assert {f.kind: f for f in downloads.export_files(chunked, spec, "it", geojson=no_layer, id_col="ID NIL")}[
        "geojson"].disabled
    under = {f.kind: f for f in downloads.export_files(never, spec, "it", geojson=no_layer, id_col="Codice", row_count=5)}
    assert not any(f.disabled for f in under.values())


# ---------------------------------------------------------------------------------------------
# Chunk by chunk: the same bytes as the whole frame

ROWS = 3_500


def register(path: Path) -> None:
    """A temp DuckDB table of ROWS rows with what a CSV can get wrong: NULLs (also a whole chunk of them), dates,
    timestamps at midnight in the first rows and with a time later, decimals, quotes, semicolons, new lines and
    formulas in names, an integer column whose NULLs fall in one chunk only, booleans with gaps."""
    con = duckdb.connect(str(path))
    try:
        con.execute("""CREATE TABLE firms AS SELECT
            i AS id,
            CASE i % 7 WHEN 0 THEN 'Officina "La Pinza"; srl' WHEN 1 THEN '=SUM(A1)' WHEN 2 THEN NULL
                       WHEN 3 THEN 'Riga' || chr(10) || 'due, tre' ELSE 'Impresa ' || i END AS name,
            CASE WHEN i % 5 = 0 THEN NULL ELSE (i * 1.25)::DECIMAL(12, 2) END AS capital,
            CASE WHEN i % 3 = 0 THEN NULL ELSE 9.1 + i / 1000.0 END AS lon,
            CASE WHEN i BETWEEN 1200 AND 1300 THEN NULL ELSE i % 40 END AS employees,
            CASE WHEN i % 4 = 0 THEN NULL ELSE DATE '2000-01-01' + (i % 9000)::INTEGER END AS started_on,
            TIMESTAMP '2024-01-01' + to_days(i) + CASE WHEN i > 2500 THEN INTERVAL 90 MINUTE ELSE INTERVAL 0 MINUTE END
                AS checked_at,
            CASE WHEN i % 11 = 0 THEN NULL ELSE i % 2 = 0 END AS active,
            CASE WHEN i BETWEEN 1000 AND 1999 THEN NULL ELSE 'nota ' || i END AS note
            FROM range(1, $rows + 1) r(i)""", {"rows": ROWS})
    finally:
        con.close()


def duckdb_chunks(path: Path, size: int) -> exports.ChunkedFrame:
    """The table read as the Imprese page reads the register: fetch_df_chunk on a cursor of its own (`size` vectors)."""
    def chunks() -> Iterator[pd.DataFrame]:
        con = duckdb.connect(str(path), read_only=True)
        try:
            result = con.execute("SELECT * FROM firms ORDER BY id")
            while len(chunk := result.fetch_df_chunk(size)):
                yield chunk
        finally:
            con.close()

    return exports.ChunkedFrame(chunks, rows=ROWS)


def sliced_chunks(whole: pd.DataFrame, size: int) -> exports.ChunkedFrame:
    return exports.ChunkedFrame(lambda: (whole.iloc[i:i + size] for i in range(0, max(len(whole), 1), size)), len(whole))


@pytest.mark.parametrize("dialect", ["standard", "excel_it"])
def test_chunked_data_package_is_the_whole_frames_byte_for_byte(warehouse: Path, tmp_path: Path, dialect: str) -> None:
    path = tmp_path / "register.duckdb"
    register(path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        whole = con.sql("SELECT * FROM firms ORDER BY id").df()
    finally:
        con.close()
    spec = ExportSpec("imprese_puntuali", {"categoria": "*"}, BUILT.date(), sources=catalogue(warehouse).sources)
    expected = downloads.data_package_zip(whole, spec, "it", dialect, generated_at=CLICKED)  # type: ignore[arg-type]
    views = [sliced_chunks(whole, 1_000), duckdb_chunks(path, 1)]  # 1,000 rows; DuckDB's 2,048-row vectors
    for chunked in views:
        assert len(list(chunked.chunks())) > 1
        raw = downloads.data_package_zip(chunked, spec, "it", dialect, generated_at=CLICKED)  # type: ignore[arg-type]
        with zipfile.ZipFile(io.BytesIO(raw)) as got, zipfile.ZipFile(io.BytesIO(expected)) as want:
            assert got.namelist() == want.namelist()
            for member in want.namelist():
                assert got.read(member) == want.read(member), member
        assert raw == expected  # the zip itself too: same headers, same deflate stream
    package = unpack(raw, tmp_path / "zip")
    fields = {f["name"]: f["type"] for f in package["resources"][0]["schema"]["fields"]}
    assert fields == {"id": "integer", "name": "string", "capital": "number", "lon": "number", "employees": "integer",
                      "started_on": "date", "checked_at": "datetime", "active": "boolean", "note": "string"}
    report = validate(str(tmp_path / "zip" / "datapackage.json"))
    assert report.valid, errors(report)
    assert report.tasks[0].stats["rows"] == ROWS
    text = next((tmp_path / "zip").glob("*.csv")).read_text(encoding="utf-8-sig")
    assert "'=SUM(A1)" in text and "2024-01-02 00:00:00" in text.replace("02/01/2024 00:00:00", "2024-01-02 00:00:00")
    readme = (tmp_path / "zip" / "LEGGIMI.txt").read_text(encoding="utf-8")
    assert "Righe: 3.500" in readme  # the row count, known only once every chunk is written


def test_chunked_without_a_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only deployment may have no writable temporary folder: the chunks are then spooled in memory, same bytes."""
    whole = frame()
    spec = ExportSpec("x", {}, BUILT.date())
    expected = downloads.data_package_zip(whole, spec, "it", "excel_it", generated_at=CLICKED)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no_such_folder"))
    with pytest.raises(OSError):
        tempfile.TemporaryFile()  # noqa: SIM115 - the folder is missing indeed
    assert downloads.data_package_zip(sliced_chunks(whole, 2), spec, "it", "excel_it", generated_at=CLICKED) == expected


def test_chunked_schema_follows_every_chunk() -> None:
    """Types decided over all chunks, as over the whole frame: an all-missing chunk says nothing, whole days in the
    first chunk and a time of day in the last make datetimes (the first chunk is rewritten), ints and floats a number."""
    whole = pd.DataFrame({
        "when": pd.to_datetime(["2024-01-01 00:00", "2024-01-02 00:00", "2024-01-03 10:30"]),
        "value": [1, 2, 3],
        "mixed": [None, None, date(2024, 5, 1)],
    })
    parts = [whole.iloc[:2], whole.iloc[2:].assign(value=[3.5])]
    chunked = exports.ChunkedFrame(lambda: iter(parts))
    reference = pd.concat(parts, ignore_index=True)
    for dialect in ("standard", "excel_it"):
        spooled = exports.spool_csv(chunked, dialect)  # type: ignore[arg-type]
        try:
            spooled.file.seek(0)
            assert spooled.file.read() == exports.to_csv(reference, dialect)  # type: ignore[arg-type]
            assert spooled.rows == 3
            assert spooled.schema(dialect) == exports.table_schema(reference, dialect)  # type: ignore[arg-type]
        finally:
            spooled.file.close()
    assert [f["type"] for f in exports.table_schema(reference)["fields"]] == ["datetime", "number", "date"]
    with pytest.raises(ValueError, match="colonne diverse"):
        exports.spool_csv(exports.ChunkedFrame(lambda: iter([whole, whole.rename(columns={"value": "v"})])), "standard")


def test_units_in_field_descriptions() -> None:
    columns = ["Tipologia (uso precedente)", "Entro 1 km da maker (periferia)", "Distanza (m)", "m²", "Densità (ab./km²)",
               "Quota (%)", "Valore", "Nome"]
    found = downloads.field_descriptions(pd.DataFrame(columns=columns), "it", {"Unità": "per 1.000 ab."})
    assert found == {"Distanza (m)": "unità di misura: m", "m²": "unità di misura: m²",
                     "Densità (ab./km²)": "unità di misura: ab./km²", "Quota (%)": "unità di misura: %",
                     "Valore": "unità di misura: per 1.000 ab."}  # qualifiers in brackets are not units
    assert downloads.field_descriptions(pd.DataFrame(columns=["Value"]), "en") == {}  # no unit known: none invented


# ---------------------------------------------------------------------------------------------
# The real build: what a journalist downloads from Panoramica and Spazi vuoti


@pytest.mark.real
def test_real_overview_and_vacant_downloads(real_dir: Path, tmp_path: Path) -> None:
    from etl.pipeline import build
    from osservatorio import queries, views
    from osservatorio.page_views import panoramica
    from osservatorio.page_views import spazi_vuoti as sv
    from osservatorio.ui import PageContext
    from osservatorio.warehouse import key_for

    path = tmp_path / "real.duckdb"
    build(real_dir, path, progress=lambda _m: None)
    key = key_for(path)
    assert key is not None
    info = queries.build_info(key)
    territory = queries.territory(key)
    stats = queries.district_stats(key, territory.fine.id)
    snapshot = views.newest_snapshot(queries.snapshots(key))
    classes = views.periphery_classes(queries.district_groups(key, snapshot) if snapshot else None, "it")
    ctx = PageContext(lang="it", key=key, info=info, map_style="white-bg", territory=territory)
    vacant = queries.places(key, "vacant")
    tables = {"nil_popolazione": panoramica.districts_table(stats, territory, "it"),
              "spazi_vuoti": sv.vacant_table(vacant, stats, classes, None, territory, "it")}
    for base, table in tables.items():
        spec = downloads.page_spec(ctx, base)
        for dialect in ("standard", "excel_it"):
            out = tmp_path / f"{base}_{dialect}"
            package = unpack(downloads.data_package_zip(table, spec, "it", dialect), out)  # type: ignore[arg-type]
            report = validate(str(out / "datapackage.json"))
            assert report.valid, errors(report)
            assert report.tasks[0].stats["rows"] == len(table) > 0
            assert package["territory"]["id"] == territory.id == "milano"
            assert [lv["id"] for lv in package["territory"]["levels"]] == list(territory.level_ids)
            dates = {s["source_id"]: s["reference_date"] for s in package["sources"]}
            assert dates.get("nil_boundaries", "absent") is None  # listed, its date honestly unknown
            assert all(lic["name"] in ("CC-BY-4.0", "notspecified") for lic in package["licenses"])
            if base == "nil_popolazione":  # the official 2022 population, not the build date
                assert dates["population_nil_xlsx"] == "2022-12-31"
            else:
                assert dates["vacant_buildings"] == "2016-01-01" and dates["vacant_footprints"] == "2019-06-03"
                assert "population_nil_xlsx" not in dates
        info_rows = downloads.export_info(spec, "it", len(table))
        assert info_rows["Territorio"] == "Comune di Milano"
        assert info.finished_at is not None and info_rows["Elaborazione del"] == info.finished_at.strftime("%d/%m/%Y")
        expected = "31/12/2022" if base == "nil_popolazione" else "Edifici e aree in stato di degrado"
        assert expected in info_rows["Data dei dati (per fonte)"]
