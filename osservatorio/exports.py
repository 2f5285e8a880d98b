"""Export layer: CSV (standard and for Italian Excel), XLSX, GeoJSON, Frictionless Data Package zips
(CSV + datapackage.json) and safe file names. No Streamlit.

Every text cell that leaves the app goes through `neutralise` first (CSV/formula injection, OWASP):
a cell a spreadsheet would read as a formula gets a leading apostrophe. Numbers are never touched.

The functions are pure and deterministic (except the timestamps openpyxl writes in the XLSX
document properties), so their output can be pinned byte for byte in tests.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import IO, Any, Literal, TypeAlias
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

Dialect: TypeAlias = Literal["standard", "excel_it"]

#: Time zone used when a timezone-aware timestamp must become a plain local time (Excel has no zones).
LOCAL_TZ = ZoneInfo("Europe/Rome")

CSV_MIME = "text/csv"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GEOJSON_MIME = "application/geo+json"

INFO_SHEET = "Info"
MAX_FILENAME_STEM = 120  # well under the 255-byte limit of every file system, with room for the folder

# A cell is dangerous when it starts with tab or CR, or when (after any leading whitespace) it
# starts with = + - @ (also their full-width forms, which some spreadsheet locales accept).
_FORMULA_START = re.compile(r"[\t\r]|\s*[=+\-@\uff1d\uff0b\uff0d\uff20]")
_FORMULA_FIRST = re.compile(r"[\t\r]|\s|[=+\-@\uff1d\uff0b\uff0d\uff20]")  # a first character _FORMULA_START can start on
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


# --------------------------------------------------------------------------------------------------
# Neutralisation


def neutralise_text(value: str) -> str:
    """One text value made safe for a spreadsheet: `'=SUM(A1)` instead of `=SUM(A1)`. Idempotent."""
    return "'" + value if _FORMULA_START.match(value) else value


def _neutralise_any(value: object) -> object:
    return neutralise_text(value) if isinstance(value, str) else value


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` where every text cell (and text column label) that a spreadsheet would
    run as a formula starts with an apostrophe.

    Only `str` values change: numbers, dates, booleans and missing values keep value and dtype,
    so a negative number stays a number while the text "-3" becomes "'-3".
    """
    out = frame.copy()
    out.columns = pd.Index([_neutralise_any(c) for c in frame.columns], tupleize_cols=False)
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        dtype = column.dtype
        if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype) \
                or pd.api.types.is_timedelta64_dtype(dtype):
            continue
        if isinstance(dtype, pd.CategoricalDtype):
            column = column.astype(object)
        out.isetitem(position, _neutralise_column(column))
    return out


def _neutralise_column(column: pd.Series) -> pd.Series:
    """`neutralise` for one column: a column of texts (missing values aside) by one vectorised match, else cell by cell."""
    if len(column) and pd.api.types.is_string_dtype(column) and not pd.api.types.is_bool_dtype(column):
        # only a cell whose first character could start a formula can match: those are found without a per-cell
        # regex (the distinct first characters are few), and only their cells are matched
        first = column.str.slice(0, 1)
        starts = [c for c in first.dropna().unique() if isinstance(c, str) and _FORMULA_FIRST.match(c)]
        if not starts:
            return column
        risky = first.isin(starts).fillna(False).astype(bool)
        risky[risky] = column[risky].str.match(_FORMULA_START.pattern).fillna(False).astype(bool).to_numpy()
        if not risky.any():
            return column
        return column.where(~risky, "'" + column.where(risky, ""))
    return column.map(_neutralise_any, na_action="ignore")


# --------------------------------------------------------------------------------------------------
# Cell formatting shared by the writers


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return False


def _to_local_naive(value: datetime) -> datetime:
    """Timezone-aware -> Milan wall-clock time without zone; naive values are returned as they are."""
    if value.tzinfo is None:
        return value
    return value.astimezone(LOCAL_TZ).replace(tzinfo=None)


def _plain_float(value: float | np.floating) -> float:
    """Python float; float32 keeps its short decimal (0.1, not 0.10000000149011612)."""
    if isinstance(value, np.floating) and value.dtype != np.float64 and math.isfinite(value):
        return float(_format_float(value))
    return float(value)


def _format_float(value: float | np.floating) -> str:
    """Shortest exact decimal, never scientific, no trailing '.0': 1234.5, 2023, -2.5, 0.00001."""
    if not math.isfinite(value):
        return "inf" if value > 0 else "-inf"
    return np.format_float_positional(value, trim="-")


def _label(column: object) -> str:
    """Header text of a column (MultiIndex tuples are joined)."""
    if isinstance(column, tuple):
        return " / ".join(str(part) for part in column)
    return str(column)


def _column_values(series: pd.Series) -> Iterable[Any]:
    """Cell values of a column; numpy float scalars are kept so float32 prints as float32."""
    if isinstance(series.dtype, np.dtype) and series.dtype.kind == "f":
        return series.to_numpy()
    return series.tolist()


def _dates_only(series: pd.Series) -> bool:
    """True when a naive datetime64 column carries no time of day (then it is written as dates)."""
    dtype = series.dtype
    if not pd.api.types.is_datetime64_any_dtype(dtype) or getattr(dtype, "tz", None) is not None:
        return False
    present = series.dropna()
    return bool((present == present.dt.normalize()).all())


def _csv_cell(value: object, dialect: Dialect, dates_only: bool) -> str:
    """One cell as CSV text in the given dialect (missing -> empty)."""
    if _is_missing(value):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        text = _format_float(value)
        return text.replace(".", ",") if dialect == "excel_it" else text
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.replace(".", ",") if dialect == "excel_it" else text
    if isinstance(value, datetime):
        if dialect == "excel_it":
            local = _to_local_naive(value)
            if dates_only:
                return local.strftime("%d/%m/%Y")
            return local.strftime("%d/%m/%Y %H:%M:%S")
        if dates_only:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y") if dialect == "excel_it" else value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    return str(value)


def _float_cells(values: np.ndarray, dialect: Dialect) -> list[str]:
    """`_csv_cell` of every float64 of a column, faster: Python's repr is the same shortest round-trip decimal as
    `_format_float` whenever it is not in scientific notation (then, and for inf, `_format_float` itself)."""
    comma = dialect == "excel_it"
    out = []
    for value in values.tolist():
        if value != value:  # NaN: missing
            out.append("")
            continue
        text = repr(value)
        if "e" in text or "n" in text:  # 1e-05, 1e+16, inf
            text = _format_float(value)
        elif text.endswith(".0"):
            text = text[:-2]
        out.append(text.replace(".", ",") if comma else text)
    return out


# --------------------------------------------------------------------------------------------------
# CSV


def to_csv(frame: pd.DataFrame, dialect: Dialect = "standard") -> bytes:
    """The frame as CSV bytes, neutralised, without the index.

    standard: UTF-8 without BOM, ',' separator, '.' decimals, ISO dates (yyyy-mm-dd).
    excel_it: UTF-8 with BOM, ';' separator, decimal comma, dates dd/mm/yyyy: what a double click
              opens correctly in Excel set to Italian.
    Both: CRLF line ends (RFC 4180; fields holding CR or LF are quoted).
    Both: missing values are empty cells; whole numbers print without '.0' and floats never in
    scientific notation; booleans are TRUE/FALSE; timezone-aware times become Milan local time in
    excel_it and keep their offset (ISO) in standard.
    """
    _check_dialect(dialect)
    safe = neutralise(frame)
    buffer = io.StringIO(newline="")
    writer = _csv_writer(buffer, dialect)
    writer.writerow([_label(c) for c in safe.columns])
    _csv_rows(writer, safe, dialect, [_dates_only(safe.iloc[:, i]) for i in range(safe.shape[1])])
    text = buffer.getvalue()
    return ("\ufeff" + text).encode("utf-8") if dialect == "excel_it" else text.encode("utf-8")


def _check_dialect(dialect: str) -> None:
    if dialect not in ("standard", "excel_it"):
        raise ValueError(f"dialetto CSV sconosciuto: {dialect!r}")


def _csv_writer(buffer: io.StringIO, dialect: Dialect) -> Any:
    return csv.writer(buffer, delimiter=";" if dialect == "excel_it" else ",", lineterminator="\r\n",
                      quoting=csv.QUOTE_MINIMAL)


def _csv_rows(writer: Any, safe: pd.DataFrame, dialect: Dialect, dates_only: Sequence[bool]) -> None:
    """The rows of a neutralised frame (no header); `dates_only` per column: whether datetimes print as dates."""
    columns = []
    for position in range(safe.shape[1]):
        series = safe.iloc[:, position]
        if len(series) and pd.api.types.is_string_dtype(series):  # texts only: the cell is the text, missing is empty
            columns.append(series.astype(object).where(series.notna(), "").tolist())
            continue
        if isinstance(series.dtype, np.dtype) and series.dtype == np.float64:
            columns.append(_float_cells(series.to_numpy(), dialect))
            continue
        if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iu":
            columns.append([str(v) for v in series.to_numpy().tolist()])
            continue
        columns.append([_csv_cell(v, dialect, dates_only[position]) for v in _column_values(series)])
    writer.writerows(zip(*columns, strict=True) if columns else [[] for _ in range(len(safe))])


# --------------------------------------------------------------------------------------------------
# XLSX


#: The control characters XML (and so XLSX) cannot hold: openpyxl's ILLEGAL_CHARACTERS_RE, written here so that
#: openpyxl is imported only when a workbook is made (about 0.1 s off a server's first page).
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


def _xlsx_text(value: str) -> str:
    """Text without the control characters XML (and so XLSX) cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def _xlsx_cell(value: object, dates_only: bool) -> tuple[object, str | None]:
    """Value openpyxl can write, and its number format (None = General)."""
    if _is_missing(value):
        return None, None
    if isinstance(value, str):
        return _xlsx_text(value), None
    if isinstance(value, bool | np.bool_):
        return bool(value), None
    if isinstance(value, int | np.integer):
        return int(value), None
    if isinstance(value, float | np.floating):
        return (_plain_float(value) if math.isfinite(value) else _format_float(value)), None
    if isinstance(value, Decimal):
        return float(value), None
    if isinstance(value, datetime):
        local = _to_local_naive(value.to_pydatetime() if isinstance(value, pd.Timestamp) else value)
        return local, ("DD/MM/YYYY" if dates_only else "DD/MM/YYYY HH:MM:SS")
    if isinstance(value, date):
        return value, "DD/MM/YYYY"
    if isinstance(value, time | timedelta):
        return str(value), None
    return _xlsx_text(str(value)), None


def _sheet_title(name: str) -> str:
    """A valid Excel sheet name: no []:*?/\\, max 31 characters, not empty, not reserved."""
    title = _SHEET_FORBIDDEN.sub("_", _xlsx_text(name)).strip().strip("'")[:31] or "dati"
    if title.casefold() in (INFO_SHEET.casefold(), "history"):
        title = title[:30] + "_"
    return title


def _autosize(sheet: Any, widths: Mapping[int, int]) -> None:
    from openpyxl.utils import get_column_letter

    for index, width in widths.items():
        sheet.column_dimensions[get_column_letter(index)].width = min(max(width + 2, 8), 60)


def to_xlsx(frame: pd.DataFrame, sheet_name: str, metadata: Mapping[str, str],
            sources: Sequence[Sequence[str]] | None = None) -> bytes:
    """An Excel workbook: sheet `sheet_name` with a bold, frozen header row and filters, then a sheet
    "Info" with one row per metadata entry (label, value) in the given order and, when `sources` is
    given (a header row, then one row per source), that table after an empty row.

    Text is neutralised (an apostrophe before formula-like text, visible in the cell), numbers stay
    numbers, dates are real Excel dates shown as dd/mm/yyyy, missing values are empty cells.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    safe = neutralise(frame)
    workbook = Workbook()
    workbook.properties.creator = "Osservatorio Manifattura Digitale"
    sheet = workbook.active
    sheet.title = _sheet_title(sheet_name)
    bold = Font(bold=True)

    labels = [_xlsx_text(_label(c)) for c in safe.columns]
    sheet.append(labels)
    for cell in sheet[1]:
        cell.font = bold
    widths = {i + 1: len(label) for i, label in enumerate(labels)}
    columns = [_column_values(safe.iloc[:, i]) for i in range(safe.shape[1])]
    dates_only = [_dates_only(safe.iloc[:, i]) for i in range(safe.shape[1])]
    for row_number, row in enumerate(zip(*columns, strict=True), start=2):
        for col_number, raw in enumerate(row, start=1):
            value, number_format = _xlsx_cell(raw, dates_only[col_number - 1])
            cell = sheet.cell(row=row_number, column=col_number, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the text
            if number_format:
                cell.number_format = number_format
            if row_number <= 200 and value is not None:
                widths[col_number] = max(widths[col_number], len(str(value)) if number_format is None else 10)
    if labels:
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(labels))}{max(len(safe) + 1, 1)}"
    _autosize(sheet, widths)

    info = workbook.create_sheet(INFO_SHEET)
    key_width, value_width = 10, 10
    for key, text in metadata.items():
        label = _xlsx_text(neutralise_text(str(key)))
        value = _xlsx_text(neutralise_text(str(text)))
        info.append([label, value])
        info.cell(row=info.max_row, column=1).font = bold
        for column in (1, 2):
            info.cell(row=info.max_row, column=column).data_type = "s"
        key_width, value_width = max(key_width, len(label)), max(value_width, len(value))
    widths = {1: key_width, 2: value_width + 10}
    if sources:
        info.append([])
        for number, row in enumerate(sources):
            texts = [_xlsx_text(neutralise_text(str(v))) for v in row]
            info.append(texts)
            for column, text in enumerate(texts, start=1):
                cell = info.cell(row=info.max_row, column=column)
                cell.data_type = "s"
                if number == 0:
                    cell.font = bold
                widths[column] = min(max(widths.get(column, 10), len(text)), 58)
    _autosize(info, widths)

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------
# GeoJSON


def _json_value(value: object) -> object:
    """A property value as JSON: missing/non-finite -> null, dates ISO, text neutralised."""
    if _is_missing(value):
        return None
    if isinstance(value, str):
        return neutralise_text(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating | Decimal):
        number = _plain_float(value) if not isinstance(value, Decimal) else float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return neutralise_text(str(value))


def _id_key(value: object) -> str | None:
    """Join key for ids: 7, 7.0, np.int64(7) and "7" all match."""
    if _is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def to_geojson(geojson: Mapping[str, Any], frame: pd.DataFrame, id_col: str, *,
               feature_id: str | None = None, metadata: Mapping[str, str] | None = None) -> bytes:
    """A FeatureCollection (UTF-8 bytes) whose features carry the frame's columns as properties.

    A feature is matched to the row whose `id_col` equals the feature's `id` member (or, when
    `feature_id` is given, its `properties[feature_id]`; without an `id` member, `properties[id_col]`).
    Ids match across int/float/text ("7" == 7 == 7.0). Every feature gets every column (null when
    it has no row), so GIS tools see one schema; rows without a feature are dropped (no geometry).
    All string properties are neutralised. `metadata`, when given, becomes a foreign member
    "metadata" of the collection (allowed by RFC 7946). The input is not modified.
    """
    if id_col not in frame.columns:
        raise KeyError(f"colonna id assente: {id_col!r}")
    keys = [_id_key(v) for v in frame[id_col].tolist()]
    duplicated = sorted({k for k in keys if k is not None and keys.count(k) > 1}) if len(set(keys)) < len(keys) else []
    if duplicated:
        raise ValueError(f"id ripetuti in {id_col!r}: {duplicated[:5]}")
    labels = [neutralise_text(_label(c)) for c in frame.columns]
    columns = [list(_column_values(frame.iloc[:, i])) for i in range(frame.shape[1])]
    rows: dict[str, dict[str, object]] = {}
    for index, key in enumerate(keys):
        if key is not None:
            rows[key] = {label: _json_value(column[index]) for label, column in zip(labels, columns, strict=True)}
    empty = dict.fromkeys(labels)

    features = []
    for feature in geojson.get("features", []):
        properties = dict(feature.get("properties") or {})
        if feature_id is not None:
            raw_id = properties.get(feature_id)
        else:
            raw_id = feature["id"] if "id" in feature else properties.get(id_col)
        key = _id_key(raw_id)
        merged = {str(k): _json_value(v) for k, v in properties.items()}
        merged.update(rows.get(key, empty) if key is not None else empty)
        features.append({**feature, "properties": merged})
    collection: dict[str, object] = {k: v for k, v in geojson.items() if k not in ("features", "metadata")}
    collection["type"] = "FeatureCollection"
    if metadata:
        collection["metadata"] = {neutralise_text(str(k)): neutralise_text(str(v)) for k, v in metadata.items()}
    collection["features"] = features
    return json.dumps(collection, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------------------------------
# File names


def slugify(text: str, allowed: str = "a-z0-9_") -> str:
    """ASCII slug: accents dropped (à -> a), lower case, other characters -> '-', no '__', no dots."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(f"[^{allowed}]+", "-", ascii_text)
    slug = re.sub(r"_{2,}", "_", slug)
    slug = re.sub(r"-{2,}", "-", slug)
    slug = re.sub(r"(?:-_|_-)+", "-", slug)
    return slug.strip("-_")


def _date_part(snapshot_date: date | str | None) -> str:
    if snapshot_date is None:
        return ""
    if isinstance(snapshot_date, datetime):
        return snapshot_date.date().isoformat()
    if isinstance(snapshot_date, date):
        return snapshot_date.isoformat()
    text = str(snapshot_date).strip()
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return slugify(text)[:20]


def export_filename(base: str, filters: Mapping[str, object], snapshot_date: date | str | None, ext: str) -> str:
    """Safe ASCII file name: `base__key-value__...__yyyy-mm-dd.ext`.

    Filters are sorted by key; keys and values are slugified (accents dropped, anything outside
    a-z 0-9 _ becomes '-'); an empty value leaves just the key. The stem is capped at
    MAX_FILENAME_STEM characters (a short hash keeps capped names distinct; the date is kept).
    The result never contains path separators, '..', spaces or non-ASCII characters.
    """
    extension = slugify(ext, "a-z0-9")
    if not extension:
        raise ValueError(f"estensione non valida: {ext!r}")
    parts = [slugify(base) or "export"]
    for key in sorted(filters, key=lambda k: slugify(str(k))):
        key_slug, value_slug = slugify(str(key)), slugify(str(filters[key]))
        if key_slug:
            parts.append(f"{key_slug}-{value_slug}" if value_slug else key_slug)
    head = "__".join(parts)
    tail = _date_part(snapshot_date)
    stem = f"{head}__{tail}" if tail else head
    if len(stem) > MAX_FILENAME_STEM:
        digest = hashlib.sha1(stem.encode("utf-8")).hexdigest()[:8]
        room = MAX_FILENAME_STEM - len(digest) - 1 - (len(tail) + 2 if tail else 0)
        head = head[:room].rstrip("-_") + "-" + digest
        stem = f"{head}__{tail}" if tail else head
    if stem in _WINDOWS_RESERVED:
        stem += "_"
    return f"{stem}.{extension}"


# --------------------------------------------------------------------------------------------------
# Spec


@dataclass(frozen=True)
class SourceRef:
    """One source behind a download, as the build stored it (`sources` and `source_catalogue`)."""

    source_id: str
    title: str
    licence: str
    trust: str  # 'official' / 'derived' / 'demo'
    dataset: str | None = None
    attribution: str | None = None
    origin: str | None = None  # where the copy came from when not the publisher
    url: str | None = None  # the publisher's dataset page, when known
    reference_date: date | None = None  # the data's own date (edition, 'al 31/12/2022')
    years: tuple[int, int] | None = None  # first and last year the loaded rows state, when no reference date


@dataclass(frozen=True)
class TerritoryRef:
    """The territory an export describes and its area levels (finest first), as the build stored them."""

    id: str
    name: str
    levels: tuple[tuple[str, str], ...] = ()  # (level id, name in the export's language), finest first

    def descriptor(self) -> dict[str, Any]:
        """The `territory` property of datapackage.json."""
        return {"id": self.id, "name": self.name, "levels": [{"id": i, "name": n} for i, n in self.levels]}


@dataclass(frozen=True)
class ExportSpec:
    """What a download is: a base name, the active filters, the data snapshot, extra Info rows.

    `metadata` holds already-translated label -> value pairs (source, trust, ...) that go into the
    XLSX "Info" sheet and the GeoJSON "metadata" member; filters and snapshot date are added there
    by the download menu.
    """

    base: str
    filters: Mapping[str, str] = field(default_factory=dict)
    snapshot_date: date | str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[SourceRef, ...] = ()  # where the data come from (licence, date, trust), as the build stored them
    territory: TerritoryRef | None = None  # which territory and area levels the rows describe

    def filename(self, ext: str, variant: str = "") -> str:
        """The file name for this export with extension `ext`; a `variant` is appended to the base
        (`nil__2026-11-21.csv`, `nil_excel_it__2026-11-21.csv`)."""
        base = f"{self.base}_{variant}" if variant else self.base
        return export_filename(base, self.filters, self.snapshot_date, ext)



# --------------------------------------------------------------------------------------------------
# Frictionless Data Package (CSV + datapackage.json in one zip)

DATAPACKAGE_MIME = "application/zip"

_LICENCES = (  # (pattern, Open Definition id, URL)
    (re.compile(r"\bCC[ -]?BY[ -]4\.0\b", re.IGNORECASE), "CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/"),
    (re.compile(r"\bCC[ -]?BY-SA[ -]4\.0\b", re.IGNORECASE), "CC-BY-SA-4.0", "https://creativecommons.org/licenses/by-sa/4.0/"),
    (re.compile(r"\bCC0\b", re.IGNORECASE), "CC0-1.0", "https://creativecommons.org/publicdomain/zero/1.0/"),
    (re.compile(r"\bODbL\b", re.IGNORECASE), "ODbL-1.0", "https://opendatacommons.org/licenses/odbl/1-0/"),
    (re.compile(r"\bIODL[ v]*2\.0\b", re.IGNORECASE), "IODL-2.0", "https://www.dati.gov.it/iodl/2.0/"),
)
_NOT_STATED = ("non indicat", "sconosciut", "not stated", "unknown", "da verificare:")


def licence_descriptor(text: str) -> dict[str, str]:
    """A Data Package licence: the Open Definition id and URL when the text names a known licence,
    'notspecified' when it says there is none; `title` always keeps the build's full wording."""
    clean = " ".join(str(text or "").split())
    if not clean or clean.lower().startswith(_NOT_STATED):
        return {"name": "notspecified", "title": clean or "non indicata"}
    for pattern, name, url in _LICENCES:
        if pattern.search(clean):
            return {"name": name, "path": url, "title": clean}
    return {"name": "notspecified", "title": clean}


def _value_class(value: object) -> str:
    """The Table Schema family of one present value (bool is checked before int: True is an int in Python)."""
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating | Decimal):
        return "float"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return "str"


@dataclass
class _ColumnProfile:
    """What the schema of one column depends on, combinable over chunks: the families of its values (from the
    dtype, or from the values of an object column) and, for datetime64 columns, whether all are whole days."""

    classes: set[str] = field(default_factory=set)
    dates_only: bool = True

    def add(self, other: _ColumnProfile) -> None:
        self.classes |= other.classes
        self.dates_only = self.dates_only and other.dates_only

    def kind(self) -> str:
        """The Table Schema type; for one whole frame this is what its dtype (or its object values) says."""
        classes = self.classes
        if classes == {"datetime64"}:
            return "date" if self.dates_only else "datetime"
        if "datetime64" in classes:
            classes = (classes - {"datetime64"}) | {"datetime"}
        if not classes:
            return "string"
        if classes == {"bool"}:
            return "boolean"
        if "bool" in classes:
            return "string"
        for kind, allowed in (("integer", {"int"}), ("number", {"int", "float"}), ("datetime", {"datetime"}),
                              ("date", {"datetime", "date"})):
            if classes <= allowed:
                return kind
        return "string"


def _column_profile(series: pd.Series) -> _ColumnProfile:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return _ColumnProfile({"bool"})
    if pd.api.types.is_integer_dtype(dtype):
        return _ColumnProfile({"int"})
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _ColumnProfile({"datetime64"}, _dates_only(series))
    if pd.api.types.is_numeric_dtype(dtype):
        return _ColumnProfile({"float"})
    if len(series) and pd.api.types.is_string_dtype(series):  # texts only (missing values aside)
        return _ColumnProfile({"str"})
    return _ColumnProfile({_value_class(v) for v in series.tolist() if not _is_missing(v)})


def _profiles(safe: pd.DataFrame) -> list[_ColumnProfile]:
    return [_column_profile(safe.iloc[:, i]) for i in range(safe.shape[1])]


def table_schema(frame: pd.DataFrame, dialect: Dialect = "standard",
                 descriptions: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Frictionless Table Schema of the CSV `to_csv(frame, dialect)` writes: one field per column (name =
    the header as written, neutralised), its type, the formats of the dialect, missing values = empty."""
    safe = neutralise(frame)
    return _schema(safe, [str(c) for c in frame.columns], _profiles(safe), dialect, descriptions)


def _schema(safe: pd.DataFrame, originals: Sequence[str], profiles: Sequence[_ColumnProfile], dialect: Dialect,
            descriptions: Mapping[str, str] | None) -> dict[str, Any]:
    """The Table Schema from a neutralised frame's headers, its original column names and its column profiles."""
    fields: list[dict[str, Any]] = []
    for position, profile in enumerate(profiles):
        kind = profile.kind()
        descriptor: dict[str, Any] = {"name": _label(safe.columns[position]), "type": kind}
        if kind == "number" and dialect == "excel_it":
            descriptor["decimalChar"] = ","
        if kind == "date" and dialect == "excel_it":
            descriptor["format"] = "%d/%m/%Y"
        if kind == "datetime":
            descriptor["format"] = "%d/%m/%Y %H:%M:%S" if dialect == "excel_it" else "any"
        if kind == "boolean":
            descriptor["trueValues"], descriptor["falseValues"] = ["TRUE"], ["FALSE"]
        text = (descriptions or {}).get(originals[position])
        if text:
            descriptor["description"] = text
        fields.append(descriptor)
    return {"fields": fields, "missingValues": [""]}


def _source_descriptor(source: SourceRef) -> dict[str, Any]:
    """A Data Package `sources` entry: title and URL, plus the build's own facts about the source."""
    title = source.title + (f" ({source.dataset})" if source.dataset and source.dataset not in source.title else "")
    out: dict[str, Any] = {"title": title}
    if source.url and source.url.startswith(("https://", "http://")):
        out["path"] = source.url
    out["licence"] = source.licence
    if source.attribution:
        out["attribution"] = source.attribution
    if source.origin:
        out["origin"] = source.origin
    out["reference_date"] = source.reference_date.isoformat() if source.reference_date else None
    if source.years:
        out["years"] = list(source.years)
    out["trust"] = source.trust
    out["source_id"] = source.source_id
    return out


def _package_name(text: str) -> str:
    return (slugify(text, "a-z0-9_.-").replace("_", "-")[:100] or "export").strip("-.") or "export"


def data_package(frame: pd.DataFrame, dialect: Dialect, *, name: str, title: str, csv_name: str,
                 created: datetime, sources: Sequence[SourceRef], description: str = "",
                 descriptions: Mapping[str, str] | None = None, territory: TerritoryRef | None = None,
                 schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `datapackage.json` descriptor of one CSV: name, title, licences and sources of the data
    (with their reference dates and trust), the territory and its area levels (a custom property,
    `territory`), created, and one tabular resource with its schema (`schema`, when already worked out
    over a frame's chunks, else `table_schema(frame)`)."""
    licences: list[dict[str, str]] = []
    for source in sources:
        licence = licence_descriptor(source.licence)
        if licence not in licences:
            licences.append(licence)
    stamp = created if created.tzinfo else created.replace(tzinfo=LOCAL_TZ)
    resource: dict[str, Any] = {
        "name": _package_name(csv_name.rsplit(".", 1)[0]),
        "path": csv_name,
        "profile": "tabular-data-resource",
        "format": "csv",
        "mediatype": CSV_MIME,
        "encoding": "utf-8-sig" if dialect == "excel_it" else "utf-8",
        "dialect": {"delimiter": ";" if dialect == "excel_it" else ",", "lineTerminator": "\r\n"},
        "schema": dict(schema) if schema is not None else table_schema(frame, dialect, descriptions),
    }
    package: dict[str, Any] = {"name": _package_name(name), "title": title}
    if description:
        package["description"] = description
    package["licenses"] = licences or [licence_descriptor("")]
    package["sources"] = [_source_descriptor(s) for s in sources]
    if territory is not None:
        package["territory"] = territory.descriptor()
    package["created"] = stamp.isoformat(timespec="seconds")
    package["resources"] = [resource]
    return package


def to_data_package_zip(frame: pd.DataFrame | ChunkedFrame, dialect: Dialect, *, name: str, title: str, csv_name: str,
                        created: datetime, sources: Sequence[SourceRef], description: str = "",
                        descriptions: Mapping[str, str] | Callable[[pd.DataFrame], Mapping[str, str]] | None = None,
                        readme: tuple[str, str] | Callable[[int], tuple[str, str]] | None = None,
                        territory: TerritoryRef | None = None) -> bytes:
    """A zip with `datapackage.json`, the CSV (`to_csv(frame, dialect)`) named `csv_name` and, when given,
    a (file name, text) readme. Entries are dated `created`, so equal inputs give equal bytes.

    A `ChunkedFrame` is written chunk by chunk (`spool_csv`: the CSV goes to a temporary file, never whole in
    memory) and gives the same bytes as the whole frame. `descriptions` may be a callable of the frame's columns
    (an empty frame with them) and `readme` a callable of the row count, for when those are known only then.
    """
    spooled = spool_csv(frame, dialect) if isinstance(frame, ChunkedFrame) else None
    columns = spooled.columns if spooled is not None else frame  # type: ignore[assignment]
    described = descriptions(columns) if callable(descriptions) else descriptions
    rows = spooled.rows if spooled is not None else len(frame)  # type: ignore[arg-type]
    schema = spooled.schema(dialect, described) if spooled is not None else None
    descriptor = data_package(columns, dialect, name=name, title=title, csv_name=csv_name, created=created,
                              sources=sources, description=description, descriptions=described, territory=territory,
                              schema=schema)
    note = readme(rows) if callable(readme) else readme
    stamp = max(_to_local_naive(created).timetuple()[:6], (1980, 1, 1, 0, 0, 0))

    def info(entry_name: str) -> zipfile.ZipInfo:
        entry = zipfile.ZipInfo(entry_name, date_time=stamp)
        entry.compress_type = zipfile.ZIP_DEFLATED
        entry.external_attr = 0o644 << 16
        return entry

    buffer = io.BytesIO()
    try:
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(info("datapackage.json"), json.dumps(descriptor, ensure_ascii=False, indent=2).encode("utf-8"))
            if spooled is None:
                archive.writestr(info(csv_name), to_csv(frame, dialect))  # type: ignore[arg-type]
            else:
                entry = info(csv_name)
                entry.file_size = spooled.size  # as writestr would know it (the same header, Zip64 only when needed)
                spooled.file.seek(0)
                with archive.open(entry, "w") as member:
                    shutil.copyfileobj(spooled.file, member, _COPY_BYTES)
            if note is not None:
                archive.writestr(info(note[0]), note[1].replace("\n", "\r\n").encode("utf-8"))
    finally:
        if spooled is not None:
            spooled.file.close()
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------
# Frames read in chunks (a register-sized download with bounded memory)

_COPY_BYTES = 1 << 20


@dataclass(frozen=True)
class ChunkedFrame:
    """A frame that can give its rows in chunks: `chunks()` starts a fresh iterator of frames with the same
    columns (at least one frame, possibly empty), `rows` is how many there will be when known. Calling it
    makes the whole frame (for the small files: an XLSX or GeoJSON within their limits): `whole()` when given
    (e.g. one query), else the chunks put together."""

    chunks: Callable[[], Iterable[pd.DataFrame]]
    rows: int | None = None
    whole: Callable[[], pd.DataFrame] | None = None

    def __call__(self) -> pd.DataFrame:
        if self.whole is not None:
            return self.whole()
        parts = list(self.chunks())
        if not parts:
            raise ValueError("ChunkedFrame senza alcun blocco di righe")
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)

    def map(self, view: Callable[[pd.DataFrame], pd.DataFrame], rows: int | None = None) -> ChunkedFrame:
        """The same rows, each chunk (and the whole frame) turned into the exported columns by `view`, a row-wise
        view function; `rows` replaces the known row count."""
        source, whole = self.chunks, self.whole
        return ChunkedFrame(lambda: (view(chunk) for chunk in source()), self.rows if rows is None else rows,
                            None if whole is None else (lambda: view(whole())))


@dataclass
class SpooledCsv:
    """A CSV written chunk by chunk to a temporary file, with what its Data Package needs."""

    file: IO[bytes]
    size: int
    rows: int
    columns: pd.DataFrame  # no rows: the original column names
    safe_columns: pd.DataFrame  # no rows: the headers as written (neutralised)
    profiles: list[_ColumnProfile]

    def schema(self, dialect: Dialect, descriptions: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The Table Schema `table_schema` gives for the whole frame."""
        return _schema(self.safe_columns, [str(c) for c in self.columns.columns], self.profiles, dialect, descriptions)


def spool_csv(frame: ChunkedFrame, dialect: Dialect) -> SpooledCsv:
    """`to_csv` of a chunked frame, written to a temporary file chunk by chunk: the same bytes as the whole frame.

    Datetime columns print as dates only when every row of the whole column is a whole day; a chunk seen before
    a later one with a time of day is then wrong, and the file is written again with that known (rare: a
    datetime64 column whose first rows are all at midnight)."""
    _check_dialect(dialect)
    forced: dict[int, bool] = {}
    while True:
        spooled, redo = _spool_once(frame, dialect, forced)
        if not redo:
            return spooled
        spooled.file.close()
        forced.update(dict.fromkeys(redo, False))


def _scratch() -> IO[bytes]:
    """A temporary file for the CSV (closed by the caller); in memory when there is no writable temporary folder
    (a read-only deployment): the CSV text then, but still never the whole frame."""
    try:
        return tempfile.TemporaryFile(prefix="osservatorio-csv-")  # noqa: SIM115 - closed by the caller
    except OSError:
        return io.BytesIO()


def _spool_once(frame: ChunkedFrame, dialect: Dialect, forced: Mapping[int, bool]) -> tuple[SpooledCsv, set[int]]:
    out = _scratch()
    try:
        first: pd.DataFrame | None = None
        profiles: list[_ColumnProfile] = []
        printed_as_dates: set[int] = set()  # columns some chunk with values printed as dates
        rows = size = 0
        for chunk in frame.chunks():
            safe = neutralise(chunk)
            buffer = io.StringIO(newline="")
            writer = _csv_writer(buffer, dialect)
            if first is None:
                first = chunk.iloc[:0]
                head = safe.iloc[:0]
                profiles = [_ColumnProfile() for _ in range(safe.shape[1])]
                buffer.write("\ufeff" if dialect == "excel_it" else "")
                writer.writerow([_label(c) for c in safe.columns])
            elif list(chunk.columns) != list(first.columns):
                raise ValueError("i blocchi di righe hanno colonne diverse")
            chunk_profiles = _profiles(safe)
            flags = [forced.get(i, p.dates_only) for i, p in enumerate(chunk_profiles)]
            for i, (profile, flag) in enumerate(zip(chunk_profiles, flags, strict=True)):
                profiles[i].add(profile)
                if flag and "datetime64" in profile.classes and safe.iloc[:, i].notna().any():
                    printed_as_dates.add(i)
            _csv_rows(writer, safe, dialect, flags)
            data = buffer.getvalue().encode("utf-8")
            out.write(data)
            size += len(data)
            rows += len(chunk)
        if first is None:
            raise ValueError("ChunkedFrame senza alcun blocco di righe")
        redo = {i for i in printed_as_dates if not profiles[i].dates_only}
        return SpooledCsv(out, size, rows, first, head, profiles), redo
    except BaseException:
        out.close()
        raise
