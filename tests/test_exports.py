"""Export layer: golden bytes for CSV, XLSX/GeoJSON round-trips, safe file names, and the download
menu on the real overview page (AppTest on a demo warehouse built in tmp)."""

from __future__ import annotations

import copy
import io
import json
import re
import sys
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from osservatorio import data, downloads, exports  # noqa: E402
from osservatorio.exports import ExportSpec, SourceRef, export_filename, neutralise, to_csv, to_geojson, to_xlsx  # noqa: E402
from osservatorio.i18n import TEXTS, t  # noqa: E402
from osservatorio.page_views import panoramica  # noqa: E402
from osservatorio.ui import PageContext  # noqa: E402
from osservatorio.warehouse import key_for  # noqa: E402


def golden_frame() -> pd.DataFrame:
    """Int column, float 1234.5, None, dates, formula-like text, '-3' as text, '@x', a negative float."""
    return pd.DataFrame({
        "id": [1, 2, 3],
        "valore": [1234.5, None, -2.5],
        "data": [date(2026, 11, 21), None, date(2026, 1, 5)],
        "nota": ["=SUM(A1)", "-3", "@x"],
        "nome": ["Città Studi", "a;b", 'dice "ciao"'],
    })


# ---------------------------------------------------------------------------------------------
# CSV: exact bytes


def test_standard_csv_golden_bytes() -> None:
    assert to_csv(golden_frame(), "standard") == (
        b"id,valore,data,nota,nome\r\n"
        b"1,1234.5,2026-11-21,'=SUM(A1),Citt\xc3\xa0 Studi\r\n"
        b"2,,,'-3,a;b\r\n"
        b'3,-2.5,2026-01-05,\'@x,"dice ""ciao"""\r\n'
    )


def test_excel_it_csv_golden_bytes() -> None:
    assert to_csv(golden_frame(), "excel_it") == (
        b"\xef\xbb\xbfid;valore;data;nota;nome\r\n"
        b"1;1234,5;21/11/2026;'=SUM(A1);Citt\xc3\xa0 Studi\r\n"
        b'2;;;\'-3;"a;b"\r\n'
        b'3;-2,5;05/01/2026;\'@x;"dice ""ciao"""\r\n'
    )


def test_csv_dtypes_golden_bytes() -> None:
    """Nullable ints, whole floats, datetimes (with and without time), booleans, float32, tiny/huge floats."""
    frame = pd.DataFrame({
        "n": pd.array([5, None], dtype="Int64"),
        "anno": [2023.0, np.nan],
        "giorno": pd.to_datetime(["2026-11-21", None]),
        "ora": pd.to_datetime(["2026-11-21 14:30", "2026-01-05 00:00"]),
        "ok": [True, False],
        "f32": np.array([0.1, 1e20], dtype=np.float32),
        "piccolo": [0.00001, -1234567.125],
        "testo": pd.Series(["riga 1\nriga 2", None], dtype="str"),
    })
    assert to_csv(frame, "standard") == (
        b"n,anno,giorno,ora,ok,f32,piccolo,testo\r\n"
        b'5,2023,2026-11-21,2026-11-21 14:30:00,TRUE,0.1,0.00001,"riga 1\nriga 2"\r\n'
        b",,,2026-01-05 00:00:00,FALSE,100000000000000000000,-1234567.125,\r\n"
    )
    assert to_csv(frame, "excel_it") == (
        b"\xef\xbb\xbfn;anno;giorno;ora;ok;f32;piccolo;testo\r\n"
        b'5;2023;21/11/2026;21/11/2026 14:30:00;TRUE;0,1;0,00001;"riga 1\nriga 2"\r\n'
        b";;;05/01/2026 00:00:00;FALSE;100000000000000000000;-1234567,125;\r\n"
    )


@pytest.mark.parametrize("dialect", ["standard", "excel_it"])
def test_float_and_integer_columns_print_as_every_other_number(dialect: str) -> None:
    """The fast paths for float64 and integer columns write what the cell-by-cell writer writes: shortest decimal,
    never scientific, no trailing '.0', empty for NaN, inf as text; checked on 100,000 values of every magnitude."""
    rng = np.random.default_rng(7)
    floats = np.concatenate([rng.normal(0, 1, 60_000) * 10.0 ** rng.integers(-12, 22, 60_000),
                             np.round(rng.uniform(8, 11, 30_000), 6), rng.integers(-10**6, 10**6, 10_000).astype(float),
                             [0.0, -0.0, np.inf, -np.inf, np.nan, 1e16, 1e-5, 5e-324, 1.7976931348623157e308]])
    ints = rng.integers(-2**62, 2**62, len(floats))
    frame = pd.DataFrame({"x": floats, "n": ints})
    expected = [[exports._csv_cell(v, dialect, False) for v in (x, n)] for x, n in zip(floats, ints, strict=True)]  # noqa: SLF001
    sep = ";" if dialect == "excel_it" else ","
    lines = to_csv(frame, dialect).decode("utf-8-sig").split("\r\n")[1:-1]  # type: ignore[arg-type]
    assert [line.split(sep) if sep in line or not line else [line] for line in lines] == expected
    assert "e" not in "".join(lines).replace("inf", "")


def test_csv_timezone_aware_timestamps() -> None:
    frame = pd.DataFrame({"quando": pd.to_datetime(["2026-07-05 10:00"]).tz_localize("UTC")})
    assert to_csv(frame, "standard") == b"quando\r\n2026-07-05 10:00:00+00:00\r\n"
    assert to_csv(frame, "excel_it") == b"\xef\xbb\xbfquando\r\n05/07/2026 12:00:00\r\n"  # Milan summer time


def test_csv_round_trips_through_pandas() -> None:
    frame = golden_frame()
    back = pd.read_csv(io.BytesIO(to_csv(frame, "excel_it")), sep=";", decimal=",", encoding="utf-8-sig")
    assert back["valore"].tolist()[0] == 1234.5 and back["valore"].tolist()[2] == -2.5
    assert back["id"].dtype.kind == "i"
    back = pd.read_csv(io.BytesIO(to_csv(frame, "standard")))
    assert back["nota"].tolist() == ["'=SUM(A1)", "'-3", "'@x"]


def test_csv_empty_frame_and_unknown_dialect() -> None:
    assert to_csv(pd.DataFrame({"a": pd.Series([], dtype="int64")}), "standard") == b"a\r\n"
    with pytest.raises(ValueError):
        to_csv(golden_frame(), "excel_fr")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Neutralisation


@pytest.mark.parametrize("text", ["=1+1", "+1", "-3", "@x", "\t=1", "\r=1", "  =cmd|' /C calc'!A0", " \t-1",
                                  "\tabc", "\rabc", "\n=1", "\u00a0=1", "\uff1d1"])
def test_dangerous_text_gets_apostrophe(text: str) -> None:
    assert exports.neutralise_text(text) == "'" + text


@pytest.mark.parametrize("text", ["abc", "a=b", "", "'=x", "1-2", "e-mail", "Città", " spazio", "\nabc"])
def test_safe_text_unchanged(text: str) -> None:
    assert exports.neutralise_text(text) == text


@pytest.mark.parametrize("dtype", ["str", "object"])
def test_neutralise_column_is_the_cell_rule(dtype: str) -> None:
    """A text column (its first characters screened before the regex) gets exactly what each cell would get."""
    texts = ["=1+1", "+1", "-3", "@x", "\t=1", "\r=1", "  =cmd", " \t-1", "\tabc", "\rabc", "\n=1", "\u00a0=1", "\uff1d1",
             "\u3000-1", "abc", "a=b", "", "'=x", "1-2", "e-mail", "Città", " spazio", "\nabc", None]
    column = pd.Series(np.random.default_rng(3).choice(np.array(texts, dtype=object), 20_000), dtype=dtype)
    got = neutralise(pd.DataFrame({"c": column}))["c"].tolist()
    want = [exports.neutralise_text(v) if isinstance(v, str) else v for v in column.tolist()]
    assert [None if pd.isna(v) else v for v in got] == [None if pd.isna(v) else v for v in want]
    assert sum(isinstance(v, str) and v.startswith("'") for v in got) > 5_000


def test_neutralise_frame_keeps_numbers_and_dtypes() -> None:
    frame = pd.DataFrame({
        "=head": ["=a", "b"],
        "num": [-2.5, 3.0],
        "int": [-3, 4],
        "mixed": pd.Series([-3, "-3"], dtype=object),
        "cat": pd.Categorical(["+a", None]),
        "quando": pd.to_datetime(["2026-01-01", None]),
    })
    before = frame.copy()
    out = neutralise(frame)
    assert list(out.columns) == ["'=head", "num", "int", "mixed", "cat", "quando"]
    assert out["'=head"].tolist() == ["'=a", "b"]
    assert out["num"].tolist() == [-2.5, 3.0] and out["num"].dtype == np.float64
    assert out["int"].tolist() == [-3, 4] and out["int"].dtype == np.int64
    assert out["mixed"].tolist() == [-3, "'-3"]
    assert out["cat"].iloc[0] == "'+a" and pd.isna(out["cat"].iloc[1])
    assert out["quando"].dtype == frame["quando"].dtype
    pd.testing.assert_frame_equal(frame, before)  # input untouched
    pd.testing.assert_frame_equal(neutralise(out), out)  # idempotent


# ---------------------------------------------------------------------------------------------
# XLSX


def test_xlsx_round_trip() -> None:
    metadata = {"Fonte": "Comune di Milano", "Filtri": "=HYPERLINK(\"http://x\")", "Dati aggiornati al": "21/11/2026"}
    workbook = openpyxl.load_workbook(io.BytesIO(to_xlsx(golden_frame(), "nil_popolazione", metadata)))
    assert workbook.sheetnames == ["nil_popolazione", "Info"]
    sheet = workbook["nil_popolazione"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows == [
        ("id", "valore", "data", "nota", "nome"),
        (1, 1234.5, datetime(2026, 11, 21), "'=SUM(A1)", "Città Studi"),
        (2, None, None, "'-3", "a;b"),
        (3, -2.5, datetime(2026, 1, 5), "'@x", 'dice "ciao"'),
    ]
    assert sheet["C2"].number_format == "DD/MM/YYYY"
    assert sheet["A2"].data_type == "n" and sheet["B4"].data_type == "n"  # numbers stay numbers
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)  # no formula anywhere
    assert sheet["A1"].font.bold and sheet.freeze_panes == "A2"
    info = list(workbook["Info"].iter_rows(values_only=True))
    assert info == [("Fonte", "Comune di Milano"), ("Filtri", "'=HYPERLINK(\"http://x\")"),
                    ("Dati aggiornati al", "21/11/2026")]


def test_xlsx_sheet_names_and_control_characters() -> None:
    frame = pd.DataFrame({"a": ["x\x00y\x07z"]})
    names = openpyxl.load_workbook(io.BytesIO(to_xlsx(frame, "NIL: dati/[x]?" + "y" * 40, {}))).sheetnames
    assert names == ["NIL_ dati__x__yyyyyyyyyyyyyyyyy", "Info"]
    workbook = openpyxl.load_workbook(io.BytesIO(to_xlsx(frame, "info", {})))
    assert workbook.sheetnames == ["info_", "Info"]
    assert workbook["info_"]["A2"].value == "xyz"


# ---------------------------------------------------------------------------------------------
# GeoJSON


def layer() -> dict:
    square = {"type": "Polygon", "coordinates": [[[9.1, 45.4], [9.2, 45.4], [9.2, 45.5], [9.1, 45.4]]]}
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": 1, "properties": {}, "geometry": square},
        {"type": "Feature", "id": 2, "properties": {"old": "=x"}, "geometry": square},
        {"type": "Feature", "id": 3, "properties": {}, "geometry": square},
    ]}


def test_geojson_merge() -> None:
    source = layer()
    original = copy.deepcopy(source)
    frame = pd.DataFrame({"ID NIL": ["1", 2, 99], "Nome": ["Duomo", "=Brera", "fuori"],
                          "Densità": [1234.5, np.nan, 1.0]}, )
    raw = to_geojson(source, frame, "ID NIL", metadata={"Fonte": "demo"})
    assert "Densità".encode() in raw and b"\\u" not in raw  # UTF-8, not escaped
    out = json.loads(raw)
    assert out["type"] == "FeatureCollection" and out["metadata"] == {"Fonte": "demo"}
    props = {f["id"]: f["properties"] for f in out["features"]}
    assert props == {
        1: {"ID NIL": "1", "Nome": "Duomo", "Densità": 1234.5},
        2: {"old": "'=x", "ID NIL": 2, "Nome": "'=Brera", "Densità": None},
        3: {"ID NIL": None, "Nome": None, "Densità": None},
    }
    assert out["features"][0]["geometry"] == source["features"][0]["geometry"]
    assert source == original  # input untouched


def test_geojson_golden_bytes_and_feature_id() -> None:
    source = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"codice": 7}, "geometry": None}]}
    frame = pd.DataFrame({"codice": [7.0], "n": [3]})
    assert to_geojson(source, frame, "codice", feature_id="codice") == (
        b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"codice":7.0,"n":3},"geometry":null}]}'
    )


def test_geojson_rejects_duplicate_ids_and_missing_column() -> None:
    with pytest.raises(ValueError):
        to_geojson(layer(), pd.DataFrame({"id": [1, 1]}), "id")
    with pytest.raises(KeyError):
        to_geojson(layer(), pd.DataFrame({"id": [1]}), "nope")


# ---------------------------------------------------------------------------------------------
# File names

SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*(?:__[a-z0-9_-]+)*\.[a-z0-9]+$")


def test_filename_example() -> None:
    name = export_filename("nil_densità", {"livello": "nil", "indicatore": "makerspace_per_100k"}, date(2026, 11, 21), "csv")
    assert name == "nil_densita__indicatore-makerspace_per_100k__livello-nil__2026-11-21.csv"
    assert export_filename("nil_popolazione", {}, "2026-11-21", ".XLSX") == "nil_popolazione__2026-11-21.xlsx"
    assert export_filename("nil", {}, datetime(2026, 11, 21, 23, 59), "geojson") == "nil__2026-11-21.geojson"
    assert export_filename("nil", {"vuoto": ""}, None, "csv") == "nil__vuoto.csv"


@pytest.mark.parametrize(("base", "filters", "snapshot"), [
    ("../../etc", {}, "2026-11-21"),
    ("../../etc/passwd", {"../x": "..\\..\\win", "k": "/abs/path"}, date(2026, 11, 21)),
    ("Città Studi – Lambrate", {"Zona": "Niguarda-Cà Granda", "Anno": "2026"}, "21/11/2026"),
    ("a" * 500, {"k" * 200: "é" * 500}, date(2026, 11, 21)),
    ("", {"": ""}, ""),
    ("..", {}, None),
    ("con", {}, None),
    ("日本語", {"x": "\x00\n\t"}, date(2026, 11, 21)),
])
def test_filename_hostile_input(base: str, filters: dict[str, str], snapshot: date | str | None) -> None:
    name = export_filename(base, filters, snapshot, "csv")
    assert SAFE_NAME.match(name), name
    assert ".." not in name and "/" not in name and "\\" not in name and " " not in name
    assert name.isascii() and len(name) <= exports.MAX_FILENAME_STEM + len(".csv")
    assert name.removesuffix(".csv").lower() not in {"con", "prn", "aux", "nul"}


def test_filename_values() -> None:
    assert export_filename("../../etc", {}, None, "csv") == "etc.csv"
    assert export_filename("Città Studi", {"Zona": "Cà Granda / Niguarda"}, None, "csv") == \
        "citta-studi__zona-ca-granda-niguarda.csv"
    long_a = export_filename("x" * 300, {"k": "a"}, date(2026, 11, 21), "csv")
    long_b = export_filename("x" * 300, {"k": "b"}, date(2026, 11, 21), "csv")
    assert long_a != long_b and long_a.endswith("__2026-11-21.csv") and len(long_a) == exports.MAX_FILENAME_STEM + 4
    assert export_filename("", {}, None, "csv") == "export.csv"
    with pytest.raises(ValueError):
        export_filename("x", {}, None, "../")


def test_spec_filename_variant() -> None:
    spec = ExportSpec("nil_popolazione", {"livello": "nil"}, date(2026, 11, 21), {"Fonte": "x"})
    assert spec.filename("csv") == "nil_popolazione__livello-nil__2026-11-21.csv"
    assert spec.filename("csv", variant="excel_it") == "nil_popolazione_excel_it__livello-nil__2026-11-21.csv"


# ---------------------------------------------------------------------------------------------
# Download menu (Streamlit side)


def test_new_texts_have_both_languages() -> None:
    for key in ("dl_csv", "dl_csv_excel_it", "dl_xlsx", "dl_geojson", "dl_csv_help", "dl_csv_excel_it_help",
                "dl_xlsx_help", "dl_geojson_help", "meta_dataset", "meta_filters", "meta_no_filters", "meta_snapshot",
                "meta_rows", "meta_generated_at", "meta_source", "meta_trust", "meta_build", "meta_demo",
                "meta_demo_note", "meta_data_dates", "meta_licences", "meta_no_sources", "meta_processed", "meta_sources",
                "meta_attribution", "meta_licence", "meta_data_date", "meta_url", "meta_origin", "meta_year", "meta_years",
                "meta_date_not_stated", "meta_unit_of", "dp_title", "dp_description", "dp_readme_name", "dp_readme_intro"):
        assert set(TEXTS[key]) == {"it", "en"}, key


def test_export_info_rows() -> None:
    source = ExportSpec("x").sources  # no sources: said so, never a date
    assert source == ()
    spec = ExportSpec("nil_popolazione", {"livello": "nil"}, date(2026, 11, 21), {"Affidabilità": "ufficiale"},
                      sources=(SourceRef("population_nil_xlsx", "Popolazione residente per NIL", "CC BY 4.0 – Comune di Milano",
                                         "official", reference_date=date(2022, 12, 31)),
                               SourceRef("vacant_buildings", "Lista 2016", "non indicata", "derived",
                                         reference_date=date(2016, 1, 1)),
                               SourceRef("platform_population", "Export Milano-Platform", "non indicata", "derived",
                                         years=(2021, 2021)),
                               SourceRef("firms_city", "Imprese", "CC BY 4.0", "official", dataset="ds171", years=(2007, 2010)),
                               SourceRef("x", "Senza data", "non indicata", "derived")))
    info = downloads.export_info(spec, "it", 1234, generated_at=datetime(2026, 11, 22, 9, 5))
    assert info == {"Dati": "nil_popolazione", "Filtri": "livello = nil",
                    "Data dei dati (per fonte)": "Popolazione residente per NIL: 31/12/2022; Lista 2016: 2016; "
                                                 "Export Milano-Platform: anno 2021; Imprese (ds171): anni 2007–2010; "
                                                 "Senza data: non indicata dalla fonte",
                    "Licenze": "CC BY 4.0; licenza non indicata", "Affidabilità": "ufficiale", "Righe": "1.234",
                    "Elaborazione del": "21/11/2026", "File generato il": "22/11/2026 09:05"}
    assert "Dati aggiornati al" not in info  # the build date is never presented as the data's date
    empty = downloads.export_info(ExportSpec("x"), "en", 1, generated_at=datetime(2026, 11, 22, 9, 5))
    assert empty["Filters"] == "none" and empty["Processed on"] == "no data"
    assert empty["Data date (per source)"] == "no data source (content entered in the app)"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo bundle, built by the app itself on first run (OSSERVATORIO_WAREHOUSE in tmp)."""
    import streamlit as st

    path = tmp_path_factory.mktemp("exports_wh") / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OSSERVATORIO_WAREHOUSE", str(path))
        patch.setenv("OSSERVATORIO_AUTO_DEMO", "1")
        st.cache_data.clear()
        st.cache_resource.clear()
        yield path
        st.cache_data.clear()
        st.cache_resource.clear()


def run_app(lang: str | None = None):  # noqa: ANN201 - AppTest
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    if lang:
        at.query_params["lang"] = lang
    return at.run()


def test_overview_shows_download_menu(warehouse: Path) -> None:
    at = run_app()
    assert not at.exception, [e.value for e in at.exception]
    assert warehouse.exists()
    # the NIL table's menu (key "nil_table"); the page has other menus too (headlines, what is new)
    labels = [button.proto.label for button in at.get("download_button") if "nil_table" in button.proto.id]
    assert labels == ["CSV", "CSV per Excel italiano", "Excel (XLSX)", "GeoJSON"]


def test_overview_download_menu_in_english(warehouse: Path) -> None:
    at = run_app("en")
    assert not at.exception, [e.value for e in at.exception]
    assert [b.proto.label for b in at.get("download_button") if "nil_table" in b.proto.id] == \
        ["CSV", "CSV for Italian Excel", "Excel (XLSX)", "GeoJSON"]


def test_overview_files_from_demo_data(warehouse: Path) -> None:
    """The files behind the overview buttons, built from the demo warehouse as the page builds them."""
    run_app()  # make sure the bundle exists
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        info = data.build_info(con)
        stats = data.district_stats(con, "nil")
        layer_ = data.map_geojson(con, "nil")
        territory = data.territory(con)
    finally:
        con.close()
    ctx = PageContext(lang="it", key=key_for(warehouse), info=info, map_style="white-bg",  # type: ignore[arg-type]
                      territory=territory)
    table = panoramica.districts_table(stats, territory, "it")
    spec = downloads.page_spec(ctx, "nil_popolazione", metadata={t("meta_trust", "it"): "caption"})
    files = {f.kind: f for f in downloads.export_files(table, spec, "it", layer_, t("col_area_id", "it"))}
    assert info.finished_at is not None
    day = info.finished_at.date().isoformat()
    assert files["csv"].file_name == f"nil_popolazione__{day}.zip"
    assert files["csv_it"].file_name == f"nil_popolazione_excel_it__{day}.zip"

    archive = zipfile.ZipFile(io.BytesIO(files["csv_it"].build()))
    assert sorted(archive.namelist()) == sorted(["datapackage.json", f"nil_popolazione_excel_it__{day}.csv", "LEGGIMI.txt"])
    csv_it = archive.read(f"nil_popolazione_excel_it__{day}.csv")
    assert csv_it.startswith(f"\ufeff{t('col_area_id', 'it')};Nome;Municipio;".encode())
    back = pd.read_csv(io.BytesIO(csv_it), sep=";", decimal=",", encoding="utf-8-sig")
    assert len(back) == len(table)
    assert np.allclose(back["Densità (ab./km²)"].astype(float), table["Densità (ab./km²)"].astype(float), equal_nan=True)
    assert b".0;" not in csv_it  # whole numbers (ids, residents, years) never print as 123.0

    workbook = openpyxl.load_workbook(io.BytesIO(files["xlsx"].build()))
    info_rows = {row[0]: row[1] for row in workbook["Info"].iter_rows(values_only=True) if row[0] is not None}
    assert spec.sources and all(s.title in info_rows["Data dei dati (per fonte)"] for s in spec.sources)
    assert info_rows["Fonte"] == "Attribuzione" and info_rows["Licenze"]  # the sources table follows the rows
    assert info_rows["Affidabilità"] == "caption" and info_rows["Build"] == info.build_id
    assert info_rows["Elaborazione del"] == info.finished_at.strftime("%d/%m/%Y")
    assert "Dati aggiornati al" not in info_rows
    assert info_rows["Territorio"] == "Comune di Milano"  # the territory and its levels, finest first
    assert info_rows["Livelli delle aree (dal più fine)"] == " › ".join(lv.long("it") for lv in territory.levels)
    assert json.loads(archive.read("datapackage.json"))["territory"]["id"] == "milano"
    assert workbook["nil_popolazione"].max_row == len(table) + 1

    collection = json.loads(files["geojson"].build())
    assert len(collection["features"]) == len(layer_["features"])
    assert all(t("col_area_id", "it") in f["properties"] for f in collection["features"])
