"""Shared reading and mapping of point-list files (makerspaces, coworking, census lists).

A point file is a CSV (any Italian dialect, via `read_table_columnar`: large UTF-8 files columnar) or an XLSX sheet. A *mapping*
says which column holds each of our fields (`FIELDS`); every other column goes, as it is,
into the `attributes` JSON. `build_places` turns the mapped table into `places` rows through
`etl.places.finalise_places` and adds the row-level warnings of this layer (ranges like
"20-30" seats, text in number cells, unknown ownership values, missing ids).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust
from etl.places import finalise_places, mark_outside_only, normalise_text, parse_coords
from etl.readers import normalise_header, parse_int, parse_number, read_table_columnar, unique_names

# Our fields, in the order used for notes. `location` is a "(lat, lon)" or WKT POINT text.
FIELDS = ("source_key", "name", "address", "lon", "lat", "location", "nil_id_file", "municipio_file",
          "district_id_file", "parent_id_file", "area_m2", "seats", "category", "status", "ownership")
FIELD_LABELS = {"source_key": "id", "name": "nome", "address": "indirizzo", "lon": "longitudine",
                "lat": "latitudine", "location": "posizione", "nil_id_file": "id NIL",
                "municipio_file": "Municipio", "district_id_file": "id dell'area (livello fine del territorio)",
                "parent_id_file": "id dell'area che la raggruppa", "area_m2": "superficie m²", "seats": "postazioni",
                "category": "categoria", "status": "stato", "ownership": "proprietà"}
# Fields that place a row without lon/lat.
_LOCATING = {"location", "nil_id_file", "municipio_file", "district_id_file", "parent_id_file"}
# Comune di Milano portal columns shared by every geocoded point dataset.
PORTAL_LOCATION_CANDIDATES: dict[str, list[str]] = {
    "lon": ["long_x_4326", "lon_x_4326", "longitudine", "longitude", "lon", "long", "lng"],
    "lat": ["lat_y_4326", "latitudine", "latitude", "lat"],
    "location": ["location", "geo_point", "geo_point_2d", "geopoint", "coordinate", "posizione"],
    "nil_id_file": ["id_nil", "idnil", "district_id", "id_quartiere"],
    "municipio_file": ["municipio", "id_municipio", "num_municipio", "municipio_n"],
}
_OWNERSHIP_PREFIXES = {
    "public": ("pubblic", "public", "comun", "demani", "stat", "region", "provinc", "citta metropolitana",
               "ente", "aler", "mm spa"),
    "private": ("privat", "private"),
}
_UNIT_RE = re.compile(r"\s*(mq|m2|m²|metri\s+quadr[ia]ti?|metri\s+quadri|postazioni|posti|scrivanie)\.?\s*$", re.I)
_RANGE_RE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(?:-|–|—|/|a|fino\s+a)\s*(\d+(?:[.,]\d+)?)\s*$", re.I)
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
_WKT_POINT_RE = re.compile(r"POINT\s*\(\s*([-+\d.,eE]+)\s+([-+\d.,eE]+)\s*\)", re.I)
_PAIR_RE = re.compile(r"^\s*[\(\[]?\s*([-+]?\d+(?:\.\d+)?)\s*[,;]\s*([-+]?\d+(?:\.\d+)?)\s*[\)\]]?\s*$")


@dataclass
class PointTable:
    """A point file as read: text (or, from XLSX, native number) cells and normalised headers."""

    frame: pd.DataFrame
    original_columns: list[str]
    encoding: str | None
    file_format: str
    decimal_comma: bool | None  # how to read numbers written as text
    ragged_rows: list[int] = field(default_factory=list)


def read_point_file(path: Path, sheet: str | int | None = None, header_row: int = 1) -> PointTable:
    """Read a CSV (any dialect) or an XLSX sheet; SourceError when empty or unreadable."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, sheet, header_row)
    if suffix == ".xls":
        raise SourceError(path, "formato Excel 97-2003 (.xls) non supportato",
                          "aprire il file e salvarlo come .xlsx oppure come CSV UTF-8")
    table = read_table_columnar(path)  # large UTF-8 files by DuckDB's columnar reader, others cell by cell
    if any(isinstance(t, pd.StringDtype) for t in table.frame.dtypes):  # the mapping layer works on text or None
        table.frame = table.frame.astype(object).where(table.frame.notna(), None)
    # With ',' as separator a decimal comma can only appear in quoted cells: guess per value.
    decimal_comma = None if table.separator == "," else True
    return PointTable(frame=table.frame, original_columns=[c.replace("\ufeff", "") for c in table.original_columns],
                      encoding=table.encoding, file_format=f"csv sep={table.separator!r}",
                      decimal_comma=decimal_comma, ragged_rows=list(table.frame.attrs.get("ragged_rows", [])))


def _read_xlsx(path: Path, sheet: str | int | None, header_row: int) -> PointTable:
    if path.stat().st_size == 0:
        raise SourceError(path, "il file è vuoto", "controllare il download o l'esportazione")
    try:
        raw = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, header=None, dtype=object,
                            engine="openpyxl")
    except ValueError as exc:  # unknown sheet name or index
        raise SourceError(path, f"foglio {sheet!r} non trovato ({exc})",
                          "indicare in config il nome esatto del foglio (chiave 'sheet')") from exc
    except Exception as exc:  # openpyxl raises several types for damaged files
        raise SourceError(path, f"file Excel illeggibile ({type(exc).__name__}: {exc})",
                          "riaprire il file in Excel/LibreOffice e salvarlo di nuovo come .xlsx") from exc
    raw = raw.map(_excel_cell).dropna(axis=1, how="all")
    if header_row > 1:
        raw = raw.iloc[header_row - 1:]
    else:  # header = first filled row (titles above it are not supported: use header_row)
        filled = np.flatnonzero(raw.notna().any(axis=1).to_numpy())
        raw = raw.iloc[filled[0]:] if filled.size else raw.iloc[0:0]
    if raw.empty:
        raise SourceError(path, "il file è vuoto (nessuna cella compilata)", "controllare il foglio indicato")
    header = ["" if v is None else str(v) for v in raw.iloc[0]]
    body = raw.iloc[1:]
    while len(body) and body.iloc[-1].isna().all():
        body = body.iloc[:-1]
    if body.empty:
        raise SourceError(path, "il file ha l'intestazione ma nessuna riga di dati",
                          "controllare il foglio indicato e la riga dell'intestazione ('header_row')")
    columns = unique_names([normalise_header(h) or f"col_{i}" for i, h in enumerate(header)])
    frame = pd.DataFrame(body.to_numpy(dtype=object), columns=columns, dtype=object)
    frame = frame.astype(object).where(frame.notna(), None)
    return PointTable(frame=frame, original_columns=header, encoding=None, file_format="xlsx",
                      decimal_comma=True)


def _excel_cell(value: object) -> object:
    """Excel cell -> str (stripped), int/float, ISO date text or None."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):
        return "sì" if value else "no"
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def resolve_columns(path: Path, frame: pd.DataFrame, candidates: dict[str, list[str]],
                    required: list[str], hint: str) -> dict[str, str]:
    """Map each field to the first candidate column present; SourceError if a required one is absent."""
    found: dict[str, str] = {}
    for fld, names in candidates.items():
        column = next((normalise_header(n) for n in names if normalise_header(n) in frame.columns), None)
        if column is not None:
            found[fld] = column
    missing = [f for f in required if f not in found]
    if missing:
        wanted = "; ".join(f"{FIELD_LABELS.get(f, f)}: {', '.join(candidates.get(f, []))}" for f in missing)
        raise SourceError(path, f"mancano colonne obbligatorie ({wanted}); colonne trovate: {', '.join(frame.columns)}",
                          hint)
    if not (("lon" in found and "lat" in found) or found.keys() & _LOCATING):
        raise SourceError(path, "nessuna colonna per collocare i luoghi (servono longitudine e latitudine, "
                          f"oppure id NIL o Municipio); colonne trovate: {', '.join(frame.columns)}", hint)
    return found


def file_matches(path: Path, raw_dir: Path | None, patterns: list[str]) -> bool:
    """Whether a file name (or its path relative to raw_dir) matches a glob pattern, ignoring case."""
    name = path.name.lower()
    rel = path.name
    if raw_dir is not None:
        try:
            rel = path.resolve().relative_to(Path(raw_dir).resolve()).as_posix()
        except ValueError:
            rel = path.name
    for pattern in patterns:
        p = pattern.lower()
        if fnmatch.fnmatchcase(name, p) or ("/" in p and fnmatch.fnmatchcase(rel.lower(), p)):
            return True
    return False


def candidate_files(raw_dir: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Regular, non-hidden files under raw_dir with one of the suffixes (no Office lock files)."""
    out = []
    for p in Path(raw_dir).rglob("*"):
        if not p.is_file() or p.suffix.lower() not in suffixes:
            continue
        if p.name.startswith(("~$", ".")) or any(part.startswith(".") for part in p.relative_to(raw_dir).parts[:-1]):
            continue
        out.append(p)
    return sorted(out)


def text_or_none(value: object) -> str | None:
    """A cell as clean text (ints for integral floats), None when empty."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    return text or None


def parse_quantity(value: object, decimal_comma: bool | None, integer: bool) -> tuple[float | None, str | None]:
    """A count or an area from a messy cell: (value, warning or None).

    '120', '1.234,5', '150 mq' are read silently; '20-30' gives the lower bound and
    'circa 40' the number found, each with a warning; text without digits gives None.
    """
    if value is None:
        return None, None
    cleaned: object = value if isinstance(value, (int, float)) else _UNIT_RE.sub("", str(value).strip())
    try:
        number = parse_number(cleaned, decimal_comma)
        if number is None:
            return None, None
        if number < 0:
            return None, f"valore negativo {value!r}: lasciato vuoto"
        if integer and not float(number).is_integer():
            return float(math.floor(number)), f"valore {value!r} non intero: usato {math.floor(number)}"
        return number, None
    except ValueError:
        pass
    text = str(value)
    m = _RANGE_RE.match(_UNIT_RE.sub("", text))
    if m:
        low = parse_number(m.group(1), decimal_comma)
        assert low is not None
        low = float(math.floor(low)) if integer else low
        return low, f"intervallo {text!r}: usato il limite inferiore ({_fmt(low)})"
    numbers = _NUMBER_RE.findall(text)
    if len(numbers) >= 1:
        try:
            first = parse_number(numbers[0], decimal_comma)
        except ValueError:
            first = None
        if first is not None:
            first = float(math.floor(first)) if integer else first
            return first, f"valore {text!r} non numerico: usato il primo numero ({_fmt(first)})"
    return None, f"valore {text!r} non numerico: lasciato vuoto"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def parse_district_id(value: object) -> tuple[int | None, str | None]:
    """A NIL or Municipio number: '12', 12.0, 'Municipio 3'; (None, warning) for other text."""
    if value is None:
        return None, None
    try:
        return parse_int(value), None
    except (ValueError, TypeError):
        pass
    numbers = re.findall(r"\d+", str(value))
    if len(numbers) == 1 and re.fullmatch(r"(municipio|mun\.?|nil|quartiere|zona)?\s*\d+", str(value).strip(), re.I):
        return int(numbers[0]), None
    return None, f"identificativo {value!r} non numerico: ignorato"


def parse_location(value: object) -> tuple[float, float] | None:
    """(lon, lat) from the portal's '(lat, lon)' text or a WKT 'POINT (lon lat)'."""
    if value is None:
        return None
    text = str(value)
    m = _WKT_POINT_RE.search(text)
    if m:
        try:
            return float(m.group(1).replace(",", ".")), float(m.group(2).replace(",", "."))
        except ValueError:
            return None
    m = _PAIR_RE.match(text)
    if m:
        return float(m.group(2)), float(m.group(1))  # the portal writes (lat, lon)
    return None


def normalise_ownership(value: object, value_map: dict[str, str]) -> tuple[str | None, str | None]:
    """'Comunale', 'Pubblica', 'privato' -> 'public'/'private'; (None, warning) when unknown."""
    text = text_or_none(value)
    if text is None:
        return None, None
    key = value_key(text)
    if key in value_map:
        return value_map[key], None
    for label, prefixes in _OWNERSHIP_PREFIXES.items():
        if key.startswith(prefixes):
            return label, None
    return None, (f"proprietà {text!r} non riconosciuta (attese: pubblica/privata): lasciata vuota; "
                  "aggiungere la regola in [values.ownership] della configurazione")


def value_key(text: object) -> str:
    """Case-, accent- and punctuation-insensitive form of a cell value, for value maps."""
    return normalise_header(str(text)).replace("_", " ")


def derived_key(name: str | None, address: str | None) -> str:
    """A stable key from normalised name and address (for files without an id column)."""
    return f"{normalise_text(name)}|{normalise_text(address)}"


def build_places(
    path: Path,
    table: PointTable,
    columns: dict[str, str],
    ctx: BuildContext,
    theme: str,
    trust: Trust,
    *,
    value_maps: dict[str, dict[str, str]] | None = None,
    crs: str | None = None,
    notes: list[str] | None = None,
    key_description: str | None = None,
    outside_check: bool = True,
) -> LoadResult:
    """Mapped table -> LoadResult(table='places'): own warnings, then `finalise_places`.

    With `outside_check` (default), a file none of whose points lies in the territory raises
    `etl.geo.NotInTerritory` (skipped for this territory, see `places.mark_outside_only`).
    """
    notes = list(notes or [])
    value_maps = {k: {value_key(a): b for a, b in v.items()} for k, v in (value_maps or {}).items()}
    frame = table.frame
    non_empty = frame.notna().any(axis=1).to_numpy()
    row_numbers = np.flatnonzero(non_empty) + 1  # 1-based data rows of the file
    if (~non_empty).any():
        notes.append(f"{int((~non_empty).sum())} righe completamente vuote ignorate")
    frame = frame[non_empty].reset_index(drop=True)
    if frame.empty:
        raise SourceError(path, "il file non contiene righe compilate", "controllare il file")
    raw = [{k: v for k, v in rec.items() if v is not None} for rec in frame.to_dict("records")]
    n = len(frame)
    own: list[Reject] = []  # row numbers here are positions in `frame` (remapped at the end)
    drop = np.zeros(n, dtype=bool)

    def col(fld: str) -> list[Any]:
        return frame[columns[fld]].tolist() if fld in columns else [None] * n

    names = [text_or_none(v) for v in col("name")]
    addresses = [text_or_none(v) for v in col("address")]
    for i in range(n):
        if names[i] is None and addresses[i] is not None:
            names[i] = addresses[i]
            own.append(Reject(i + 1, raw[i], "nome mancante: usato l'indirizzo come nome", "warning"))
        elif names[i] is None:
            own.append(Reject(i + 1, raw[i], "riga senza nome né indirizzo: scartata"))
            drop[i] = True

    keys: list[str] = []
    seen_derived: dict[str, int] = {}
    ids = [text_or_none(v) for v in col("source_key")]
    for i in range(n):
        if ids[i] is not None:
            keys.append(ids[i])  # type: ignore[arg-type]
            continue
        key = derived_key(names[i], addresses[i])
        if "source_key" in columns and not drop[i]:
            own.append(Reject(i + 1, raw[i], f"id ({columns['source_key']}) mancante: usata la chiave nome+indirizzo",
                              "warning"))
        # Repeats of a name+address key get a suffix so that finalise_places reports them as
        # "same name and address" (the true reason) rather than "same id".
        count = seen_derived.get(key, 0) + 1
        seen_derived[key] = count
        keys.append(key if count == 1 or not addresses[i] else f"{key}#{count}")

    lon = parse_coords(pd.Series(col("lon"), dtype=object), n) if "lon" in columns else np.full(n, np.nan)
    lat = parse_coords(pd.Series(col("lat"), dtype=object), n) if "lat" in columns else np.full(n, np.nan)
    if "location" in columns:
        for i, value in enumerate(col("location")):
            if np.isnan(lon[i]) or np.isnan(lat[i]):
                point = parse_location(value)
                if point is not None:
                    lon[i], lat[i] = point
    if crs:
        lon, lat = _to_wgs84(path, lon, lat, crs)
        notes.append(f"coordinate convertite da {crs} a EPSG:4326")

    def district(fld: str) -> list[int | None]:
        out: list[int | None] = []
        for i, value in enumerate(col(fld)):
            number, warning = parse_district_id(value)
            if warning:
                own.append(Reject(i + 1, raw[i], f"{FIELD_LABELS[fld]}: {warning}", "warning"))
            out.append(number)
        return out

    def quantity(fld: str, integer: bool) -> list[float | None]:
        out: list[float | None] = []
        for i, value in enumerate(col(fld)):
            number, warning = parse_quantity(value, table.decimal_comma, integer)
            if warning:
                own.append(Reject(i + 1, raw[i], f"{FIELD_LABELS[fld]} ({columns[fld]}): {warning}", "warning"))
            out.append(number)
        return out

    def label(fld: str) -> list[str | None]:
        mapping = value_maps.get(fld, {})
        out = []
        for value in col(fld):
            text = text_or_none(value)
            out.append(mapping.get(value_key(text), text) if text is not None else None)
        return out

    ownership: list[str | None] = []
    for i, value in enumerate(col("ownership")):
        owner, warning = normalise_ownership(value, value_maps.get("ownership", {}))
        if warning:
            own.append(Reject(i + 1, raw[i], warning, "warning"))
        ownership.append(owner)

    seats = quantity("seats", integer=True)
    for i in table.ragged_rows:
        if 1 <= i <= len(non_empty) and non_empty[i - 1]:
            pos = int(np.searchsorted(row_numbers, i))
            own.append(Reject(pos + 1, raw[pos], "numero di campi diverso dall'intestazione: riga completata o "
                              "troncata (controllare separatore e virgolette)", "warning"))
    used = set(columns.values())
    places = pd.DataFrame({
        "source_key": keys,
        "name": names,
        "address": addresses,
        "lon": lon,
        "lat": lat,
        "nil_id_file": pd.array(district("nil_id_file"), dtype="Int64"),
        "municipio_file": pd.array(district("municipio_file"), dtype="Int64"),
        "district_id_file": pd.array(district("district_id_file"), dtype="Int64"),
        "parent_id_file": pd.array(district("parent_id_file"), dtype="Int64"),
        "area_m2": pd.array(quantity("area_m2", integer=False), dtype="Float64"),
        "seats": pd.array([None if s is None else int(s) for s in seats], dtype="Int32"),
        "category": label("category"),
        "status": label("status"),
        "ownership": ownership,
        "attributes": [_attributes(rec, used) for rec in raw],
    })
    keep_idx = np.flatnonzero(~drop)
    kept_raw = [raw[i] for i in keep_idx]
    # finalise_places casts these with astype("string"); give it plain text.
    for c in ("nil_id_file", "municipio_file", "district_id_file", "parent_id_file"):
        places[c] = places[c].astype("string")
    rows, rejects = finalise_places(places.iloc[keep_idx].reset_index(drop=True), ctx, kept_raw, theme)
    rows["seats"] = rows["seats"].astype("Int32")
    rows["area_m2"] = rows["area_m2"].astype("Float64")
    # finalise numbers rows by position in the frame it got: map back to file rows.
    to_file = row_numbers[keep_idx]
    final = [dataclasses.replace(r, row_number=int(to_file[r.row_number - 1])) for r in rejects if r.row_number]
    final += [dataclasses.replace(r, row_number=int(row_numbers[r.row_number - 1])) for r in own if r.row_number]
    final.sort(key=lambda r: (r.row_number or 0, r.action != "rejected"))
    mapping = ", ".join(f"{FIELD_LABELS[f]}={columns[f]}" for f in FIELDS if f in columns)
    notes.insert(0, f"colonne usate: {mapping}")
    notes.insert(1, key_description or ("chiave: colonna " + columns["source_key"] if "source_key" in columns
                                        else "chiave: nome+indirizzo normalizzati (il file non ha un id)"))
    result = LoadResult(table="places", frame=rows, rows_read=n, trust=trust, rejects=final, notes=notes,
                        crs="EPSG:4326" if not crs else f"{crs} (convertito in EPSG:4326)",
                        encoding=table.encoding, file_format=table.file_format)
    return mark_outside_only(result, ctx, path, rows=len(keep_idx)) if outside_check else result


def _attributes(record: dict[str, Any], used: set[str]) -> str | None:
    extra = {k: v for k, v in record.items() if k not in used and v is not None}
    return json.dumps(extra, ensure_ascii=False, default=str) if extra else None


def _to_wgs84(path: Path, x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        transformer = Transformer.from_crs(CRS.from_user_input(crs), CRS.from_epsg(4326), always_xy=True)
    except CRSError as exc:
        raise SourceError(path, f"sistema di coordinate {crs!r} non riconosciuto ({exc})",
                          "indicare un codice EPSG valido, per esempio 'EPSG:32632'") from exc
    ok = ~(np.isnan(x) | np.isnan(y))
    lon, lat = np.full(len(x), np.nan), np.full(len(y), np.nan)
    if ok.any():
        lon[ok], lat[ok] = transformer.transform(x[ok], y[ok])
    return lon, lat


def official_extra_columns(frame: pd.DataFrame, official: set[str]) -> list[str]:
    """Columns not in the published layout (a sign of a re-worked copy); reported in the notes."""
    return [c for c in frame.columns if c not in official]
