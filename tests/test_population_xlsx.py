"""Residents per NIL from the statistics office's XLSX: date from the title, sum check, absent NIL never 0."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import openpyxl
import pytest

from etl.base import BuildContext, LoadResult, SourceError
from etl.sources import nil, population_xlsx

if TYPE_CHECKING:
    from conftest import Helpers

TITLE = "Popolazione residente nel Comune di Milano al 30/06/2023"
ROWS = [(1, "Duomo", 50, 50, 100), (2, "Brera", 100, 100, 200), (3, "Giardini P.ta Venezia", 2, 1, 3),
        (5, "Vigentina", 10, 10, 20), (6, "Ticinese", 30, 30, 60), (7, "Magenta", 1, 1, 2)]


def write_sheet(path: Path, rows: list[tuple[Any, ...]] | None = None, total: int | None = 385,
                title: str = TITLE, header: tuple[Any, ...] = ("NIL", None, "Femmine", "Maschi", "Totale")) -> Path:
    """The office's layout: blank row, two titles, header, NIL rows, 'Totale', footer."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([None])
    ws.append([title])
    ws.append(["per NIL (Nuclei di Identità Locale) e sesso"])
    ws.append(list(header))
    for r in ROWS if rows is None else rows:
        ws.append(list(r))
    if total is not None:
        ws.append(["Totale", None, None, None, total])
    ws.append(["Fonte:  Anagrafe della popolazione residente del Comune di Milano -\nElaborazioni:  Unità Servizi Statistici"])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


@pytest.fixture
def ctx(h: Helpers) -> BuildContext:
    grid = h.nil_grid()
    frame = gpd.GeoDataFrame({"id": [i for i, _ in grid], "name": [f"NIL {i}" for i, _ in grid]},
                             geometry=[g for _, g in grid], crs="EPSG:4326")
    return BuildContext.with_areas(frame)


def load(path: Path, ctx: BuildContext) -> LoadResult:
    return population_xlsx.SOURCE.load(path, ctx)


def test_date_from_title_rows_by_id_and_sum_checked(tmp_path: Path, ctx: BuildContext) -> None:
    result = load(write_sheet(tmp_path / "qualunque_nome.xlsx"), ctx)
    frame = result.frame
    assert list(frame.columns) == ["level", "district_id", "year", "reference_date", "residents"]
    assert list(zip(frame["district_id"], frame["residents"], strict=True)) == [(r[0], r[4]) for r in ROWS]
    assert set(frame["year"]) == {2023}  # from the title, not from the file name
    assert {d.date() for d in frame["reference_date"]} == {date(2023, 6, 30)}
    assert result.reference_date == date(2023, 6, 30)
    assert result.trust == "official"
    assert result.licence == "CC BY 4.0 (licenza predefinita del portale; da verificare)"
    assert result.attribution == "Comune di Milano"
    assert "somma delle righe NIL = riga 'Totale' = 385: verificata" in result.notes
    assert result.rows_read == 6


def test_absent_nil_is_a_warning_never_a_zero(tmp_path: Path, ctx: BuildContext) -> None:
    result = load(write_sheet(tmp_path / "p.xlsx"), ctx)  # the grid has NIL 1-8; 4 and 8 are not in the file
    assert 4 not in set(result.frame["district_id"]) and 8 not in set(result.frame["district_id"])
    assert (result.frame["residents"] > 0).all()
    missing = [(r.row_number, r.action, r.reason) for r in result.rejects]
    assert missing == [
        (None, "warning", "NIL 4 (NIL 4) assente nel file: nessun dato di residenti al 30/06/2023 (non è uno zero)"),
        (None, "warning", "NIL 8 (NIL 8) assente nel file: nessun dato di residenti al 30/06/2023 (non è uno zero)"),
    ]
    assert "NIL assenti nel file (nessun dato, non zero): 4, 8" in result.notes
    assert result.rows_rejected == 0


def test_sum_that_disagrees_with_totale_refuses_the_file(tmp_path: Path, ctx: BuildContext) -> None:
    with pytest.raises(SourceError) as info:
        load(write_sheet(tmp_path / "p.xlsx", total=386), ctx)
    assert "la somma delle righe NIL (385) è diversa dalla riga 'Totale' (386)" in info.value.problem


def test_row_problems(tmp_path: Path, ctx: BuildContext) -> None:
    rows = [(1, "Duomo", 50, 50, 100), (99, "Altrove", 1, 1, 2), (2, "Brera", 60, 50, 100), ("nota", None, None, None, None),
            (1, "Duomo bis", 1, 1, 2)]
    result = load(write_sheet(tmp_path / "p.xlsx", rows=rows, total=204), ctx)
    assert list(result.frame["district_id"]) == [1, 2]
    reasons = [(r.row_number, r.action, r.reason) for r in result.rejects if r.row_number is not None]
    assert reasons == [
        (2, "rejected", "NIL 99 sconosciuto: non è tra i NIL caricati"),
        (3, "warning", "Femmine (60) + Maschi (50) = 110 diverso dal Totale (100): usato il Totale"),
        (4, "rejected", "NIL='nota': riga non riferita a un NIL (id non numerico)"),
        (5, "rejected", "NIL 1 duplicato: tenuta la prima riga"),
    ]
    assert "residenti caricati 200 su 204 (righe scartate: vedi rejects)" in result.notes


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 non un vero xlsx", b"NIL;Totale\n1;100\n"])
def test_unreadable_xlsx_is_a_source_error(tmp_path: Path, ctx: BuildContext, content: bytes) -> None:
    path = tmp_path / "NIL_sesso_2022.xlsx"
    path.write_bytes(content)
    with pytest.raises(SourceError) as info:
        load(path, ctx)
    assert info.value.path == str(path)
    assert "vuoto" in info.value.problem or "illeggibile" in info.value.problem
    assert population_xlsx.SOURCE.find(tmp_path) == [path]  # found by its name, so the build says why it fails


def test_sheet_without_title_date_is_refused(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_sheet(tmp_path / "p.xlsx", title="Popolazione residente per NIL")
    with pytest.raises(SourceError, match="foglio non riconosciuto"):
        load(path, ctx)


def test_find_by_content(tmp_path: Path) -> None:
    wanted = write_sheet(tmp_path / "a" / "tavola_17.xlsx")
    other = openpyxl.Workbook()
    other.active.append(["NOMINATIVO", "INDIRIZZO"])
    other.save(tmp_path / "fablab.xlsx")
    write_sheet(tmp_path / "senza_data.xlsx", title="Elenco dei NIL")  # no 'Popolazione residente ... al' title
    assert population_xlsx.SOURCE.find(tmp_path) == [wanted]


# --------------------------------------------------------------------------- real file

@pytest.mark.real
def test_real_nil_sesso_2022(real_dir: Path) -> None:
    path = real_dir / "comune-milano-popolazione-nil-2022" / "NIL_sesso_2022.xlsx"
    zip_path = real_dir / "comune-milano-nil" / "NIL_WM.zip"
    if not path.is_file() or not zip_path.is_file():
        pytest.skip("NIL_sesso_2022.xlsx or NIL_WM.zip not in the real folder")
    nil_result = nil.SOURCE.load(zip_path, BuildContext())
    ctx = BuildContext.with_areas(nil_result.frame[["id", "name", "geometry"]])
    assert path in population_xlsx.SOURCE.find(real_dir)
    result = load(path, ctx)
    assert len(result.frame) == 87
    assert int(result.frame["residents"].sum()) == 1_396_673
    assert set(result.frame["year"]) == {2022}
    assert result.reference_date == date(2022, 12, 31)
    assert 8 not in set(result.frame["district_id"])
    assert [(r.action, r.reason) for r in result.rejects] == [
        ("warning", "NIL 8 (PARCO SEMPIONE) assente nel file: nessun dato di residenti al 31/12/2022 (non è uno zero)")]
    assert "somma delle righe NIL = riga 'Totale' = 1.396.673: verificata" in result.notes
