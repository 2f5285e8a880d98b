"""Robust readers for the tabular files of Italian open-data portals.

Italian CSVs come as UTF-8 (with or without BOM) or cp1252, separated by ';' or ',',
with decimal commas and thousands dots. Everything is read as text first; numbers are
parsed per cell so that one bad cell rejects one row, not the file.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from etl.base import BuildContext, SourceError

_SEPARATORS = [";", ",", "\t", "|"]
# The csv module refuses fields over 131,072 characters by default; a real NIL polygon as WKT is
# 139 KB. 64 MB is far above any legitimate cell and still bounds memory on a corrupt file.
FIELD_SIZE_LIMIT = 64 * 1024 * 1024
csv.field_size_limit(FIELD_SIZE_LIMIT)
# Bounds of the warehouse's INTEGER (32-bit) and BIGINT columns.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass
class Table:
    """A text table as read from a file, with how it was read."""

    frame: pd.DataFrame  # all values str (or None for empty cells); normalised headers
    original_columns: list[str]
    encoding: str
    separator: str


def normalise_header(name: str) -> str:
    """'Numero UL (media)' -> 'numero_ul_media'; strips accents and BOMs."""
    text = unicodedata.normalize("NFKD", str(name).replace("\ufeff", ""))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def unique_names(names: list[str]) -> list[str]:
    """Make repeated names unique: ['nil', 'nil'] -> ['nil', 'nil_2']."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


def decode_bytes(data: bytes, path: Path) -> tuple[str, str]:
    """Decode as UTF-8 (BOM allowed), else cp1252; returns (text, encoding)."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise SourceError(
            path,
            f"codifica dei caratteri non riconosciuta (né UTF-8 né cp1252, byte {exc.start})",
            "salvare il file come CSV UTF-8",
        ) from exc


def sniff_separator(header_line: str) -> str:
    """The separator that splits the header into the most fields (ties favour ';')."""
    counts = {sep: header_line.count(sep) for sep in _SEPARATORS}
    best = max(_SEPARATORS, key=lambda s: counts[s])
    return best if counts[best] > 0 else ","


def read_table(path: Path, required_any: dict[str, list[str]] | None = None) -> Table:
    """Read a CSV file of any common Italian dialect into a text DataFrame.

    `required_any` maps a role to acceptable normalised header names; a missing role
    raises a SourceError that lists the headers found.
    """
    data = Path(path).read_bytes()
    if not data.strip():
        raise SourceError(path, "il file è vuoto", "controllare il download o l'esportazione")
    text, encoding = decode_bytes(data, path)
    # CR-only (old Mac exports) and mixed line endings: one convention before the csv module,
    # which otherwise stops at a lone CR ("new-line character seen in unquoted field").
    text = normalise_newlines(text.lstrip("\ufeff"))
    first_line = text.split("\n", 1)[0] if text.strip() else ""
    separator = sniff_separator(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    try:
        rows = [r for r in reader]
    except csv.Error as exc:
        raise SourceError(path, f"CSV non leggibile ({exc})", "controllare virgolette e separatori del file",
                          row=max(reader.line_num - 1, 1)) from exc
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        raise SourceError(path, "il file è vuoto", "controllare il download o l'esportazione")
    _check_structure(path, text, rows, separator)
    header, body = rows[0], rows[1:]
    if not body:
        raise SourceError(path, "il file ha l'intestazione ma nessuna riga di dati",
                          "controllare il download o l'esportazione")
    width = len(header)
    fixed = [(r + [""] * (width - len(r)))[:width] if len(r) != width else r for r in body]
    columns = unique_names([normalise_header(h) or f"col_{i}" for i, h in enumerate(header)])
    # Clean the cells before building the frame: DataFrame.map would re-infer pandas 3's
    # string dtype and turn the empty cells into NaN instead of None.
    cleaned = [[c.strip() or None for c in r] for r in fixed]
    frame = pd.DataFrame(cleaned, columns=columns, dtype=object)
    frame.attrs["ragged_rows"] = [i + 1 for i, r in enumerate(body) if len(r) != width]
    if required_any:
        for role, names in required_any.items():
            if not any(n in columns for n in names):
                raise SourceError(
                    path,
                    f"manca la colonna '{role}' (attese: {', '.join(names)}; "
                    f"trovate: {', '.join(columns)}; separatore letto: {separator!r})",
                    "controllare intestazione e separatore del file",
                )
    return Table(frame=frame, original_columns=header, encoding=encoding, separator=separator)


def normalise_newlines(text: str) -> str:
    """CRLF and lone CR become LF (also inside quoted cells)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _check_structure(path: Path, text: str, rows: list[list[str]], separator: str) -> None:
    """Refuse files the csv module reads 'successfully' but wrongly.

    - header split by one separator, data rows by another (every row would be one cell);
    - an unterminated quote: the following lines end up inside one cell, so rows silently merge.
    """
    header, body = rows[0], rows[1:]
    width = len(header)
    if width > 1 and body:
        filled = sum(1 for r in body if r)
        mismatched = [i for i, r in enumerate(body) if r and len(r) != width]
        if len(mismatched) * 2 > filled:
            lines = text.split("\n")[1:]
            for other in _SEPARATORS:
                if other == separator:
                    continue
                fits = sum(1 for line in lines if line.strip() and len(next(csv.reader([line], delimiter=other))) == width)
                if fits * 2 > filled:
                    raise SourceError(
                        path,
                        f"l'intestazione è separata da {separator!r} ma le righe di dati da {other!r} "
                        f"({len(mismatched)} righe su {len(body)} non hanno {width} campi)",
                        "esportare di nuovo il file con un solo separatore", row=mismatched[0] + 1)
    physical = text.rstrip("\n").count("\n") + 1
    for i, record in enumerate(body):
        for cell in record:
            if "\n" not in cell:
                continue
            inner = cell.split("\n")[1:]
            # A line inside a cell that has a whole record's separators, or a last cell that
            # swallows most of the file: a legitimate multi-line address does neither.
            looks_like_rows = width >= 3 and any(line.count(separator) >= width - 1 for line in inner)
            swallows_the_rest = i == len(body) - 1 and len(inner) >= 5 and len(inner) * 2 > physical
            if looks_like_rows or swallows_the_rest:
                raise SourceError(
                    path,
                    f"virgolette non chiuse: {len(inner)} righe successive sono finite in un solo campo "
                    f"({len(rows)} record letti su {physical} righe del file)",
                    "chiudere le virgolette nella riga indicata (o togliere le virgolette isolate) ed esportare di nuovo",
                    row=i + 1)


def pick_column(columns: list[str] | pd.Index, names: list[str]) -> str | None:
    """The first of `names` present in `columns`."""
    for n in names:
        if n in columns:
            return n
    return None


_NUM_RE = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$")


def parse_number(value: object, decimal_comma: bool | None = None) -> float | None:
    """Parse '1.234,5', '1234,5', '1,234.5', '1234.5' or '' into a float (None if empty).

    Raises ValueError on text that is not a number. With decimal_comma=None the
    convention is guessed from the value itself.
    """
    if value is None:
        return None
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            return None
        return float(value)
    s = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if s == "" or s.upper() in {"NA", "N/A", "NAN", "NULL", "-"}:
        return None
    if "," in s and "." in s:
        s = s.replace(".", "").replace(",", ".") if s.rfind(",") > s.rfind(".") else s.replace(",", "")
    elif "," in s:
        if s.count(",") == 1 and (decimal_comma is not False):
            s = s.replace(",", ".")
        else:
            s = s.replace(",", "")
    elif decimal_comma and s.count(".") >= 1 and re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+", s):
        s = s.replace(".", "")
    if not _NUM_RE.match(s):
        raise ValueError(f"{value!r} non è un numero")
    return float(s)


# Upper bound for the residents of one district: more than any city of the EU. A larger figure is a
# unit or typing error in the file (e.g. 3.000.000.000), rejected with its row, never loaded.
MAX_DISTRICT_RESIDENTS = 10_000_000


def implausible_residents(value: int | None) -> str | None:
    """Why a residents figure cannot be loaded (negative or over the bound), or None if it can."""
    if value is None:
        return None
    if value < 0:
        return f"residenti negativi ({value})"
    if value > MAX_DISTRICT_RESIDENTS:
        return (f"residenti fuori scala ({value:,} per un solo quartiere, oltre {MAX_DISTRICT_RESIDENTS:,})"
                .replace(",", "."))
    return None


def parse_int(value: object, lo: int | None = None, hi: int | None = None) -> int | None:
    """Parse an integer, accepting '1.234' thousands dots and '12.0'.

    With `lo`/`hi`, a value outside [lo, hi] raises ValueError (e.g. 3.000.000.000 residents, or
    an id that would wrap in a 32-bit column: use `INT32_MAX`). Digits-only text is parsed exactly
    (a float would round ids above 2**53).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} non è un numero intero")
    if isinstance(value, int):
        number: int = value
    else:
        text = None if value is None else str(value).strip().replace("\u00a0", "").replace(" ", "")
        if text and re.fullmatch(r"[+-]?\d+", text):
            number = int(text)
        elif text and re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+", text):
            number = int(text.replace(".", ""))
        else:
            parsed = parse_number(value, decimal_comma=True)
            if parsed is None:
                return None
            if not float(parsed).is_integer():
                raise ValueError(f"{value!r} non è un numero intero")
            number = int(parsed)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        bounds = f"{'' if lo is None else lo}..{'' if hi is None else hi}"
        raise ValueError(f"{value!r} fuori dall'intervallo ammesso ({bounds})")
    return number


def peek_columns(path: Path) -> list[str]:
    """Normalised header of a CSV file, read from its first bytes (empty list if unreadable)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
        text, _ = decode_bytes(head, path)
    except (OSError, SourceError):
        return []
    first = text.splitlines()[0] if text.strip() else ""
    sep = sniff_separator(first)
    return [normalise_header(c.strip().strip('"')) for c in first.split(sep)]


# Files at least this large are read by DuckDB's columnar CSV reader (`read_table_columnar`);
# smaller ones by `read_table`, whose cell-by-cell checks explain a bad file best.
COLUMNAR_MIN_BYTES = 8 * 1024 * 1024


def _count_lines(path: Path) -> tuple[int, bool]:
    """(newline count, whether the file ends with a newline), streamed in 16 MB blocks."""
    count, last = 0, b""
    with open(path, "rb") as fh:
        while block := fh.read(16 * 1024 * 1024):
            count += block.count(b"\n")
            last = block[-1:]
    return count, last == b"\n"


def read_table_columnar(path: Path, min_bytes: int = COLUMNAR_MIN_BYTES) -> Table:
    """Like `read_table`, but columnar for large UTF-8 files: cells stay Arrow strings.

    The frame's columns are `string[pyarrow]` (missing cells are <NA>, not None); cells are
    stripped and empty cells missing, as in `read_table`. Any file DuckDB cannot read strictly
    (another encoding, ragged rows, stray quotes, blank lines, cells spanning lines) and any file
    under `min_bytes` goes through `read_table`, so its problems get the same messages.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    if size < min_bytes:
        return read_table(path)
    import duckdb
    import pyarrow as pa

    with open(path, "rb") as fh:
        head = fh.read(65536)
    try:
        first = head.decode("utf-8-sig").split("\n", 1)[0].rstrip("\r")
    except UnicodeDecodeError:
        return read_table(path)
    separator = sniff_separator(first)
    header = next(csv.reader([first], delimiter=separator))
    columns = unique_names([normalise_header(h) or f"col_{i}" for i, h in enumerate(header)])
    raw_names = [f"c{i}" for i in range(len(header))]
    con = duckdb.connect()
    try:
        con.execute("SET threads TO 2")
        rel = con.sql(
            "SELECT * FROM read_csv($path, delim=$sep, header=true, all_varchar=true, quote='\"', escape='\"', "
            "strict_mode=true, null_padding=false, names=$names, encoding='utf-8')",
            params={"path": str(path), "sep": separator, "names": raw_names})
        arrow = rel.to_arrow_table()
    except duckdb.Error:
        return read_table(path)
    finally:
        con.close()
    lines, ends_with_newline = _count_lines(path)
    physical_rows = lines + (0 if ends_with_newline else 1) - 1  # minus the header
    if arrow.num_rows == 0 or arrow.num_rows != physical_rows:
        return read_table(path)  # blank lines, multi-line cells or nothing to read: the careful reader
    import pyarrow.compute as pc

    cells = {}
    for name, column in zip(columns, arrow.columns, strict=True):  # Python's str.strip(), then empty -> missing
        text = pc.utf8_trim_whitespace(column)
        cells[name] = pd.Series(pd.array(pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text),
                                         dtype=pd.StringDtype("pyarrow")))
    del arrow
    frame = pd.DataFrame(cells)
    frame.attrs["ragged_rows"] = []
    return Table(frame=frame, original_columns=header, encoding="utf-8", separator=separator)


def ids_of_level(ctx: BuildContext, level: str, path: Path | str, required: bool = True) -> set[int]:
    """Ids of the loaded areas of `level`; SourceError when the territory has no such level: a file
    of another territory's areas cannot be read as a zero. Boundaries not loaded: SourceError when
    `required`, else an empty set (the caller then accepts every id)."""
    if not ctx.territory.has_level(level):
        raise SourceError(path, f"il file dà valori per {level} e il territorio {ctx.territory.name_it} non ha questo "
                          f"livello (livelli: {', '.join(lv.id for lv in ctx.territory.levels)})",
                          "usare il file solo nella costruzione del territorio che ha questo livello")
    ids = ctx.ids(level)
    if not ids and required:
        raise SourceError(path, f"confini del livello {level} non caricati: impossibile controllare gli id del file",
                          "mettere nella cartella il file dei confini di questo livello")
    return ids
