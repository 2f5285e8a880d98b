"""etl.readers: Italian CSV dialects (cp1252, BOM, ';', decimal commas) and clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from etl.base import Reject, SourceError
from etl.readers import (
    INT32_MAX,
    decode_bytes,
    normalise_header,
    parse_int,
    parse_number,
    read_table,
    sniff_separator,
    unique_names,
)

if TYPE_CHECKING:
    from conftest import Helpers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Numero UL (media)", "numero_ul_media"),
        ("\ufeffIdNIL", "idnil"),
        ("Densità", "densita"),
        ("  ID_NIL  ", "id_nil"),
        ("Popolazione totale 2021", "popolazione_totale_2021"),
        ("%", ""),
    ],
)
def test_normalise_header(raw: str, expected: str) -> None:
    assert normalise_header(raw) == expected


def test_unique_names() -> None:
    assert unique_names(["nil", "anno", "nil", "nil"]) == ["nil", "anno", "nil_2", "nil_3"]


@pytest.mark.parametrize(
    ("raw", "decimal_comma", "expected"),
    [
        ("1.234,5", None, 1234.5),
        ("1234,5", None, 1234.5),
        ("1,234.5", None, 1234.5),
        ("1234.5", None, 1234.5),
        ("-12,25", None, -12.25),
        ("1.234.567", True, 1234567.0),
        ("1.234", True, 1234.0),  # Italian thousands dot
        ("1.234", None, 1.234),  # without the hint a lone dot is a decimal point
        ("1,234", False, 1234.0),
        (" 1 234 ", None, 1234.0),
        ("1e3", None, 1000.0),
        (7, None, 7.0),
        (2.5, None, 2.5),
        ("", None, None),
        ("NA", None, None),
        ("n/a", None, None),
        ("-", None, None),
        (None, None, None),
        (float("nan"), None, None),
    ],
)
def test_parse_number(raw: object, decimal_comma: bool | None, expected: float | None) -> None:
    assert parse_number(raw, decimal_comma=decimal_comma) == expected


@pytest.mark.parametrize("raw", ["abc", "12a", "1.2.3", "--1"])
def test_parse_number_rejects_text(raw: str) -> None:
    with pytest.raises(ValueError, match="non è un numero"):
        parse_number(raw)


def test_parse_int() -> None:
    assert parse_int("16.889") == 16889
    assert parse_int("12.0") == 12
    assert parse_int("1.234.567") == 1234567
    assert parse_int("42") == 42
    assert parse_int("") is None
    with pytest.raises(ValueError, match="non è un numero intero"):
        parse_int("1,5")
    with pytest.raises(ValueError, match="non è un numero"):
        parse_int("Duomo")


@pytest.mark.parametrize(
    ("header", "expected"),
    [("a;b;c", ";"), ("a,b,c", ","), ("a\tb\tc", "\t"), ("a|b|c", "|"), ("solo", ","), ("a;b,c", ";")],
)
def test_sniff_separator(header: str, expected: str) -> None:
    assert sniff_separator(header) == expected


def test_decode_bytes(tmp_path: Path) -> None:
    assert decode_bytes("\ufeffCittà".encode(), tmp_path / "x.csv") == ("Città", "utf-8")
    assert decode_bytes("Città".encode("cp1252"), tmp_path / "x.csv") == ("Città", "cp1252")


def test_cp1252_semicolon_decimal_comma(tmp_path: Path, h: Helpers) -> None:
    path = h.write_text(tmp_path / "quartieri.csv", [
        "IdNIL;NIL;Densità;Superficie (m²)",
        "1;Città Studi;12,5;1.234,56",
        "2;Brera;;7,25",
    ], encoding="cp1252")
    table = read_table(path, required_any={"id": ["idnil"]})
    assert table.encoding == "cp1252"
    assert table.separator == ";"
    assert table.original_columns == ["IdNIL", "NIL", "Densità", "Superficie (m²)"]
    assert list(table.frame.columns) == ["idnil", "nil", "densita", "superficie_m2"]
    assert table.frame.to_dict("records") == [
        {"idnil": "1", "nil": "Città Studi", "densita": "12,5", "superficie_m2": "1.234,56"},
        {"idnil": "2", "nil": "Brera", "densita": None, "superficie_m2": "7,25"},  # empty cell -> None
    ]
    assert [parse_number(v) for v in table.frame["superficie_m2"]] == [1234.56, 7.25]
    assert table.frame.attrs["ragged_rows"] == []


def test_utf8_bom_comma_quoted(tmp_path: Path, h: Helpers) -> None:
    path = h.write_text(tmp_path / "bom.csv", [
        "\ufeffID_NIL,NIL,Residenti",
        '9,"Porta Garibaldi, Porta Nuova",1000',
        "11,Isola,2000",
        "",
        "",
    ], encoding="utf-8", newline="\n")
    table = read_table(path)
    assert table.encoding == "utf-8"
    assert table.separator == ","
    assert list(table.frame.columns) == ["id_nil", "nil", "residenti"]  # no BOM in the first name
    assert table.frame["nil"].tolist() == ["Porta Garibaldi, Porta Nuova", "Isola"]  # trailing blank lines dropped


def test_ragged_rows_are_padded_and_recorded(tmp_path: Path, h: Helpers) -> None:
    path = h.write_text(tmp_path / "ragged.csv", ["a;b;c", "1;2;3", "4;5", "6;7;8;9"])
    table = read_table(path)
    assert table.frame.values.tolist() == [["1", "2", "3"], ["4", "5", None], ["6", "7", "8"]]
    assert table.frame.attrs["ragged_rows"] == [2, 3]


def test_repeated_and_blank_headers(tmp_path: Path, h: Helpers) -> None:
    path = h.write_text(tmp_path / "dup.csv", ["NIL;nil;;NIL", "a;b;c;d"])
    assert list(read_table(path).frame.columns) == ["nil", "nil_2", "col_2", "nil_3"]


def _error(path: Path, **kwargs: object) -> SourceError:
    with pytest.raises(SourceError) as info:
        read_table(path, **kwargs)  # type: ignore[arg-type]
    err = info.value
    assert err.path == str(path)
    assert str(err).startswith(f"{path}: " if err.row is None else f"{path}, riga {err.row}: ")  # file first
    assert "Cosa fare:" in str(err)
    return err


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "vuoto.csv"
    path.write_bytes(b"")
    assert _error(path).problem == "il file è vuoto"


def test_whitespace_only_file(tmp_path: Path) -> None:
    path = tmp_path / "spazi.csv"
    path.write_bytes(b" \r\n\r\n\t\n")
    assert _error(path).problem == "il file è vuoto"


def test_header_only(tmp_path: Path, h: Helpers) -> None:
    path = h.write_text(tmp_path / "intestazione.csv", ["IdNIL;Residenti", "", ";"])
    assert _error(path).problem == "il file ha l'intestazione ma nessuna riga di dati"


def test_wrong_separator_names_columns_found(tmp_path: Path, h: Helpers) -> None:
    path = h.write_text(tmp_path / "spazi.csv", ["IdNIL Residenti", "1 100"])
    err = _error(path, required_any={"id": ["idnil", "id_nil"]})
    assert err.problem == "manca la colonna 'id' (attese: idnil, id_nil; trovate: idnil_residenti; separatore letto: ',')"


def test_missing_column(tmp_path: Path, h: Helpers) -> None:
    path = h.write_text(tmp_path / "senza_residenti.csv", ["IdNIL;NIL", "1;Duomo"])
    err = _error(path, required_any={"id": ["idnil"], "residenti": ["residenti", "totale"]})
    assert "manca la colonna 'residenti'" in err.problem
    assert "trovate: idnil, nil" in err.problem
    assert "separatore letto: ';'" in err.problem


def test_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "binario.csv"
    path.write_bytes(b"id;nome\n1;\x81\x8d\x90\n")  # invalid UTF-8 and undefined in cp1252
    err = _error(path)
    assert err.problem.startswith("codifica dei caratteri non riconosciuta")


def test_source_error_with_row() -> None:
    err = SourceError("/raw/x.csv", "valore non valido", "correggere", row=3)
    assert str(err) == "/raw/x.csv, riga 3: valore non valido. Cosa fare: correggere"
    assert (err.path, err.row) == ("/raw/x.csv", 3)


def test_reject_raw_json_keeps_accents() -> None:
    reject = Reject(2, {"nil": "Città Studi", "n": 3}, "motivo")
    assert reject.raw_json() == '{"nil": "Città Studi", "n": 3}'
    assert reject.action == "rejected"


# --- files the csv module reads wrongly or not at all ------------------------------------------------

def test_cells_over_the_csv_default_limit(tmp_path: Path) -> None:
    """A real NIL polygon as WKT is 139 KB; the csv module's default limit is 131,072 characters."""
    ring = ", ".join(f"9.{i:06d} 45.{i:06d}" for i in range(7000))  # about 140 KB
    wkt = f"POLYGON (({ring}, 9.000000 45.000000))"
    big = "x" * 1_000_000  # a 1 MB text cell
    path = tmp_path / "grande.csv"
    path.write_text(f'ID_NIL;WKT;NOTE\n1;"{wkt}";"{big}"\n2;POINT (9 45);breve\n', encoding="utf-8")
    assert len(wkt) > 131_072
    table = read_table(path)
    assert table.frame["wkt"].tolist() == [wkt, "POINT (9 45)"]
    assert table.frame["note"].str.len().tolist() == [1_000_000, 5]


@pytest.mark.parametrize("newline", ["\r", "mixed"], ids=["cr-only", "mixed"])
def test_cr_only_and_mixed_line_endings(tmp_path: Path, newline: str) -> None:
    lines = ["IdNIL;NIL;Residenti", "1;Duomo;100", '2;"Brera\rcentro";200', "3;Isola;300"]
    if newline == "mixed":
        data = lines[0] + "\r\n" + lines[1] + "\n" + lines[2] + "\r" + lines[3] + "\r\n"
    else:
        data = "\r".join(lines) + "\r"
    path = tmp_path / "righe.csv"
    path.write_bytes(data.encode("cp1252"))
    table = read_table(path)
    assert table.frame.values.tolist() == [["1", "Duomo", "100"], ["2", "Brera\ncentro", "200"], ["3", "Isola", "300"]]
    assert table.frame.attrs["ragged_rows"] == []


def test_header_and_rows_with_different_separators(tmp_path: Path, h: Helpers) -> None:
    path = h.write_text(tmp_path / "misto.csv", ["IdNIL;NIL;Residenti", "1,Duomo,100", "2,Brera,200", "3,Isola,300"])
    err = _error(path)
    assert err.problem == "l'intestazione è separata da ';' ma le righe di dati da ',' (3 righe su 3 non hanno 3 campi)"
    assert err.row == 1


def test_unterminated_quote_merging_rows_is_refused(tmp_path: Path, h: Helpers) -> None:
    lines = ["IdNIL;NIL;Residenti", "1;Duomo;100", '2;"Brera;200'] + [f"{i};NIL {i};{i}00" for i in range(3, 40)]
    path = h.write_text(tmp_path / "virgolette.csv", lines, newline="\n")
    err = _error(path)
    assert err.problem.startswith("virgolette non chiuse: ")
    assert err.row == 2  # the row where the quote opens


def test_unterminated_quote_in_the_last_column_is_refused(tmp_path: Path, h: Helpers) -> None:
    lines = ["IdNIL;Note", '1;"inizio'] + [f"{i};nota {i}" for i in range(2, 12)]
    path = h.write_text(tmp_path / "virgolette2.csv", lines, newline="\n")
    err = _error(path)
    assert err.problem.startswith("virgolette non chiuse: ")
    assert err.row == 1


def test_a_quoted_multiline_address_is_kept(tmp_path: Path, h: Helpers) -> None:
    lines = ["Nome;Indirizzo;Municipio", 'Fablab;"Via Roma 1\nscala B, piano 2";1', "Officina;Via Po 2;2"]
    path = h.write_text(tmp_path / "indirizzi.csv", lines, newline="\n")
    assert read_table(path).frame["indirizzo"].tolist() == ["Via Roma 1\nscala B, piano 2", "Via Po 2"]


def test_parse_int_bounds() -> None:
    assert parse_int("3.000.000.000") == 3_000_000_000  # no bounds: parsed exactly
    assert parse_int("9007199254740993") == 9007199254740993  # above 2**53: no float rounding
    assert parse_int("2147483647", lo=0, hi=INT32_MAX) == INT32_MAX
    with pytest.raises(ValueError, match="fuori dall'intervallo ammesso"):
        parse_int("3.000.000.000", lo=0, hi=INT32_MAX)  # 3 billion residents / seats
    with pytest.raises(ValueError, match="fuori dall'intervallo ammesso"):
        parse_int("2147483648", hi=INT32_MAX)  # would wrap to a negative 32-bit id
    with pytest.raises(ValueError, match="fuori dall'intervallo ammesso"):
        parse_int("-1", lo=0)
    assert parse_int("", lo=0, hi=10) is None
