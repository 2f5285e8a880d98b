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

from etl.base import SourceError

_SEPARATORS = [";", ",", "\t", "|"]


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
    first_line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    separator = sniff_separator(first_line)
    reader = csv.reader(io.StringIO(text), delimiter=separator)
    rows = [r for r in reader]
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        raise SourceError(path, "il file è vuoto", "controllare il download o l'esportazione")
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


def parse_int(value: object) -> int | None:
    """Parse an integer, accepting '1.234' thousands dots and '12.0'."""
    number = parse_number(value, decimal_comma=True)
    if number is None:
        return None
    if not float(number).is_integer():
        raise ValueError(f"{value!r} non è un numero intero")
    return int(number)


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
