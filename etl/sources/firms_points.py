"""Point-level firm lists (e.g. a Registro Imprese extract) -> `places`, theme 'firm'.

A CSV or XLSX with one row per firm (or local unit): name, ATECO code, ATECO edition,
employees, start date, address and lon/lat. Each row is classified with
`etl.ateco_map` *in its own edition*, which comes from, in order:
1. an edition column (`edizione_ateco`, `ateco_edition`, ...), cell by cell;
2. a year in the name of the code column (`ateco_2025` -> 2025), for the whole file;
3. the configured default (`FirmPointsSource.default_edition`, else `[firm_points]
   default_edition` in config/ateco_categories.toml), recorded in the notes;
otherwise the row is rejected with "edizione ATECO non indicata": the same digits mean
different activities in different editions, so an edition is never guessed.

Coordinates, duplicates and the NIL/Municipio assignment go through
`etl.places.finalise_places` like every other point source. Trust is 'derived' unless
configured as 'official' (an unmodified Registro Imprese extract).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from etl import ateco_map
from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust
from etl.places import finalise_places, mark_outside_only, normalise_text_series
from etl.readers import normalise_header, parse_number, read_table_columnar, unique_names
from etl.sources.firms_ateco import ateco_code_column, ateco_desc_column, firm_file_kind, peek_columns

NAME_COLUMNS = ["denominazione", "ragione_sociale", "denominazione_impresa", "impresa", "nome", "name", "insegna"]
EDITION_COLUMNS = ["edizione_ateco", "ateco_edition", "edizione", "edition"]
EMPLOYEE_COLUMNS = ["addetti", "numero_addetti", "n_addetti", "addetti_totali", "dipendenti", "employees"]
START_COLUMNS = ["data_inizio_attivita", "data_inizio", "inizio_attivita", "data_apertura", "data_iscrizione",
                 "started_on", "start_date"]
ADDRESS_COLUMNS = ["indirizzo", "indirizzo_sede", "address", "via"]
CIVIC_COLUMNS = ["civico", "numero_civico", "n_civico"]
LON_COLUMNS = ["lon", "long", "lng", "longitudine", "longitude", "long_x_4326", "x"]
LAT_COLUMNS = ["lat", "latitudine", "latitude", "lat_y_4326", "y"]
KEY_COLUMNS = ["codice_fiscale", "partita_iva", "numero_rea", "rea", "cciaa_rea", "id_impresa", "codice_impresa", "id"]
LOCAL_UNIT_COLUMNS = ["progressivo_ul", "prog_ul", "progressivo_unita_locale", "progressivo_localizzazione"]
STATUS_COLUMNS = ["stato_attivita", "stato_impresa", "stato", "status"]
NIL_COLUMNS = ["id_nil", "idnil", "district_id", "id_quartiere"]
MUNICIPIO_COLUMNS = ["municipio", "id_municipio"]
SUFFIXES = (".csv", ".xlsx", ".xlsm")

# Registro Imprese states (ATTIVA, INATTIVA, SOSPESA, CESSATA, IN LIQUIDAZIONE, FALLITA, SCIOLTA) and
# English equivalents; the whole cell must be the state (so "chiusa per ferie" is not "ceased").
_STATUS_VALUES = {"attiva": "active", "attivo": "active", "active": "active",
                  "inattiva": "inactive", "inattivo": "inactive", "sospesa": "inactive", "inactive": "inactive",
                  "cessata": "ceased", "cessato": "ceased", "ceased": "ceased",
                  "in_liquidazione": "liquidation", "liquidazione": "liquidation", "fallita": "liquidation",
                  "fallimento": "liquidation", "sciolta": "liquidation", "scioglimento": "liquidation"}
_DMY_RE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][\d:.+Z-]*)?$")
_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class FirmPointsSource:
    """A list of firms with coordinates; options override config/ateco_categories.toml."""

    source_id: str = "firms_points"
    title: str = "Imprese e unità locali (elenco puntuale con codice ATECO)"
    dataset: str | None = None
    licence: str = ("da verificare: gli estratti del Registro Imprese hanno condizioni d'uso InfoCamere/CCIAA, "
                    "non una licenza aperta")
    table: str = "places"
    themes: tuple[str, ...] = ("firm",)
    single: bool = False
    config_path: Path = ateco_map.DEFAULT_CONFIG
    default_edition: str | None = None  # e.g. "2025"; None -> config [firm_points].default_edition
    trust: Trust | None = None  # None -> config [firm_points].trust (default 'derived')

    def find(self, raw_dir: Path) -> list[Path]:
        """CSV/XLSX files whose header is a firm list: an ATECO code and a location, no counts.

        Recognised by content only (`firm_file_kind` 'points'): aggregates by code (ds201 per
        NIL, ds171 for the whole city) have count columns and belong to other sources.
        """
        out = []
        for p in sorted(Path(raw_dir).rglob("*")):
            if not p.is_file() or p.suffix.lower() not in SUFFIXES or p.name.startswith((".", "~$")):
                continue
            header = peek_columns(p) if p.suffix.lower() == ".csv" else _xlsx_header(p)
            if firm_file_kind(header) == "points":
                out.append(p)
        return out

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        """Read, classify and place one firm list (column by column: a million rows in seconds)."""
        clock = time.perf_counter
        t0 = clock()
        config = ateco_map.load_config(self.config_path)
        frame, encoding, file_format = _read(path)
        non_empty = frame.notna().any(axis=1).to_numpy()
        file_rows = np.flatnonzero(non_empty) + 1  # 1-based data rows of the file
        frame = frame[non_empty].reset_index(drop=True)
        n = len(frame)
        _progress(path, f"lette {n:,} righe".replace(",", "."), n, clock() - t0)
        cols = list(frame.columns)
        notes: list[str] = []
        if (~non_empty).any():
            notes.append(f"{int((~non_empty).sum())} righe vuote ignorate")

        code_col = ateco_code_column(cols)
        if code_col is None:
            raise SourceError(path, f"manca la colonna del codice ATECO (trovate: {', '.join(cols)})",
                              "rinominare la colonna del codice in 'codice_ateco'")
        lon_col, lat_col = _pick(cols, LON_COLUMNS), _pick(cols, LAT_COLUMNS)
        nil_col, mun_col = _pick(cols, NIL_COLUMNS), _pick(cols, MUNICIPIO_COLUMNS)
        if not ((lon_col and lat_col) or nil_col or mun_col):
            raise SourceError(path, f"nessuna colonna per collocare le imprese (servono lon/lat, oppure id NIL o "
                              f"Municipio; trovate: {', '.join(cols)})", "aggiungere le coordinate WGS84 (lon, lat)")
        name_col, address_col = _pick(cols, NAME_COLUMNS), _pick(cols, ADDRESS_COLUMNS)
        civic_col, key_col = _pick(cols, CIVIC_COLUMNS), _pick(cols, KEY_COLUMNS)
        unit_col, status_col = _pick(cols, LOCAL_UNIT_COLUMNS), _pick(cols, STATUS_COLUMNS)
        employees_col, start_col = _pick(cols, EMPLOYEE_COLUMNS), _pick(cols, START_COLUMNS)
        edition_col, desc_col = _pick(cols, EDITION_COLUMNS), ateco_desc_column(cols)
        used = {c for c in (code_col, lon_col, lat_col, nil_col, mun_col, name_col, address_col, civic_col, key_col,
                            unit_col, status_col, employees_col, start_col, edition_col) if c}
        notes.append("colonne usate: " + ", ".join(
            f"{label}={c}" for label, c in (("codice", code_col), ("edizione", edition_col), ("nome", name_col),
                                            ("indirizzo", address_col), ("lon", lon_col), ("lat", lat_col),
                                            ("id", key_col), ("addetti", employees_col), ("inizio", start_col)) if c))

        # Rejects carry the row's position; the original records are built at the end, only for them.
        rejects: list[tuple[int, Reject]] = []  # (position in frame, reject with the file row number)

        def flag(i: int, reason: str, action: str = "rejected") -> None:
            rejects.append((i, Reject(int(file_rows[i]), {}, reason, action)))  # type: ignore[arg-type]

        # ATECO edition, then classification (one lookup per distinct code and edition).
        editions, edition_origin = self._editions(frame, code_col, edition_col, config, notes)
        classes = ateco_map.classify_table(frame[code_col], editions, config)
        usable = np.ones(n, dtype=bool)
        problems = classes["problem"]
        for i in np.flatnonzero(problems.notna().to_numpy()):
            problem = str(problems.iat[i])
            if problem == "edizione ATECO non indicata":
                problem += (" (aggiungere la colonna edizione_ateco o impostare [firm_points] default_edition "
                            "in config/ateco_categories.toml)")
            flag(int(i), problem)
            usable[i] = False
        warnings = classes["warning"]
        for i in np.flatnonzero(warnings.notna().to_numpy() & usable):
            flag(int(i), str(warnings.iat[i]), "warning")
        if frame[code_col].dtype == object:  # numbers only come from spreadsheets
            for i, value in enumerate(frame[code_col]):
                if usable[i] and isinstance(value, float) and not value.is_integer():
                    flag(i, f"codice ATECO salvato come numero ({value!r}): eventuali zeri finali persi "
                            f"(letto {classes.at[i, 'ateco_code']}); salvare la colonna come testo", "warning")

        employees = _employees(frame[employees_col] if employees_col else None, n, flag)
        started = _dates(frame[start_col] if start_col else None, n, flag)
        status = _status(frame[status_col] if status_col else None, n, flag)
        keys = self._keys(frame, key_col, unit_col, address_col, file_rows, notes)
        address = _text(frame[address_col]) if address_col else pd.Series([None] * n, dtype=object)
        if civic_col:
            civic = _text(frame[civic_col])
            both = (address.notna() & civic.notna()).to_numpy()
            address = address.astype("string[pyarrow]")
            address[both] = address[both] + " " + civic.astype("string[pyarrow]")[both]
        label = classes["ateco_label"]
        label = label.where(label.astype("string").fillna("").ne("").to_numpy(), None)
        if desc_col:
            label = label.where(label.notna(), _as_object(frame[desc_col]))
        attrs = _attributes_json(frame, [c for c in cols if c not in used],
                                 {"ateco_label": label, "ateco_edition_from": pd.Series(edition_origin, dtype=object)})
        _progress(path, "righe classificate", n, clock() - t0)

        places = pd.DataFrame({
            "source_key": keys,
            "name": _text(frame[name_col]) if name_col else None,
            "address": address,
            "lon": frame[lon_col] if lon_col else None,
            "lat": frame[lat_col] if lat_col else None,
            "nil_id_file": frame[nil_col] if nil_col else None,
            "municipio_file": frame[mun_col] if mun_col else None,
            "category": classes["category"],
            "status": pd.Series(status, dtype=object),
            "employees": employees,
            "ateco_code": classes["ateco_code"],
            "ateco_edition": classes["ateco_edition"],
            "started_on": pd.Series(started, dtype=object),
            "attributes": attrs,
        })
        kept = np.flatnonzero(usable)
        # With the register's own firm ids, duplicates are found by id; name+address matching
        # (slow on a million rows, and wrong for chains at one address) only without ids.
        rows, place_rejects = finalise_places(places.iloc[kept], ctx, _NoRecords(len(kept)), theme="firm",
                                              dedupe_by_name=key_col is None)
        del places
        for r in place_rejects:  # finalise_places numbers rows by position in what it was given
            pos = int(kept[(r.row_number or 1) - 1])
            rejects.append((pos, Reject(int(file_rows[pos]), {}, r.reason, r.action)))
        rejects.sort(key=lambda t: t[0])
        records = _records_at(frame, sorted({pos for pos, _ in rejects}))
        ordered = [dataclasses.replace(r, raw=records[pos]) for pos, r in rejects]
        _progress(path, f"righe collocate ({len(ordered):,} scarti o avvisi)".replace(",", "."), n, clock() - t0)
        if rows.empty:  # every point outside the territory: skipped for it (NotInTerritory), else failed
            mark_outside_only(LoadResult(table="places", frame=rows, rows_read=n, trust="derived", rejects=ordered),
                              ctx, path, rows=len(kept))
            first = ordered[0].reason if ordered else "-"
            raise SourceError(path, f"nessuna impresa utilizzabile ({len(ordered)} righe scartate; la prima: {first})",
                              "controllare codice ATECO, edizione e coordinate")
        by_cat = rows["category"].value_counts().sort_index()
        notes.append("imprese per categoria: " + ", ".join(f"{k}={int(v)}" for k, v in by_cat.items()))
        trust: Trust = self.trust or config.firm_points_trust  # type: ignore[assignment]
        notes.append(f"affidabilità '{trust}' ({'opzione della fonte' if self.trust else 'configurazione'})")
        return LoadResult(table="places", frame=rows, rows_read=n, trust=trust, rejects=ordered, notes=notes,
                          crs="EPSG:4326 (lon/lat dichiarate dal file)", encoding=encoding, file_format=file_format)

    def _editions(self, frame: pd.DataFrame, code_col: str, edition_col: str | None,
                  config: ateco_map.CategoryConfig, notes: list[str]) -> tuple[pd.Series, list[str]]:
        """Edition per row (None where unknown) and where each came from."""
        n = len(frame)
        editions = pd.Series([None] * n, dtype=object)
        origin = np.full(n, "-", dtype=object)
        if edition_col is not None:
            cells = _text(frame[edition_col])
            has = cells.notna().to_numpy()
            editions[has] = cells[has]
            origin[has] = f"colonna {edition_col}"
        header = re.search(r"(?<!\d)(2007|2022|2025)(?!\d)", code_col)
        if header is not None:
            fill = editions.isna().to_numpy()
            editions[fill] = header.group(1)
            origin[fill] = f"nome colonna {code_col}"
        default = self.default_edition or config.firm_points_default_edition
        missing = editions.isna().to_numpy()
        count = int(missing.sum())
        if count and default:
            default = ateco_map.normalise_edition(default)
            where = "opzione della fonte" if self.default_edition else f"[firm_points] di {config.path.name}"
            editions[missing] = default
            origin[missing] = "predefinita"
            notes.append(f"edizione ATECO {default} assunta per {count} righe senza edizione ({where})")
        elif count:
            notes.append(f"{count} righe senza edizione ATECO e nessuna edizione predefinita: scartate")
        return editions, origin.tolist()

    @staticmethod
    def _keys(frame: pd.DataFrame, key_col: str | None, unit_col: str | None, address_col: str | None,
              file_rows: np.ndarray, notes: list[str]) -> pd.Series | list[str]:
        """Stable per-row keys: firm id (+ local-unit number, else + address), else the file row."""
        n = len(frame)
        if key_col is None:
            notes.append("nessuna colonna identificativa: chiave = numero di riga (duplicati cercati per nome+indirizzo)")
            return [f"riga-{int(r)}" for r in file_rows]
        ids = _text(frame[key_col])
        units = _text(frame[unit_col]) if unit_col else None
        addrs = _text(frame[address_col]) if address_col else None
        if unit_col is None:
            notes.append(f"chiave = {key_col} + indirizzo (più unità locali della stessa impresa restano distinte)")
        ids_s = ids.astype("string[pyarrow]")
        if units is not None:
            keyed = ids_s + "/" + units.astype("string[pyarrow]").fillna("0")
        else:
            norm = normalise_text_series(addrs) if addrs is not None else pd.Series([""] * n, dtype="string[pyarrow]")
            keyed = ids_s + "@" + norm.astype("string[pyarrow]")
        missing = ids_s.isna().to_numpy()
        if missing.any():
            keyed[missing] = [f"riga-{int(r)}" for r in file_rows[missing]]
        return keyed


def _pick(columns: list[str], names: list[str]) -> str | None:
    return next((c for c in names if c in columns), None)


def _is_text(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.StringDtype) or pd.api.types.infer_dtype(values, skipna=True) in ("string",
                                                                                                       "empty")


def _as_object(values: pd.Series) -> pd.Series:
    """Object cells with None for missing values (what `places` and the rejects expect)."""
    out = values.astype(object)
    return out.where(values.notna().to_numpy(), None)


def _text(values: pd.Series) -> pd.Series:
    """Cells as clean text (integral floats without '.0'), missing when empty.

    Text columns stay Arrow strings (<NA> when missing); other columns become object cells (None).
    """
    if _is_text(values):
        text = values.astype("string[pyarrow]").str.strip()
        return text.where(text != "", None)

    def one(v: object) -> str | None:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        text = str(v).strip()
        return text or None
    return pd.Series([one(v) for v in values], dtype=object)


def _by_value(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """(code per row, -1 for missing; distinct values): per-value work done once per distinct value."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return np.asarray(codes), [None if pd.isna(v) else v for v in uniques]


def _employees(values: pd.Series | None, n: int, flag: Any) -> list[float | None]:
    """Employees as numbers; text or negative values become empty with a warning."""
    if values is None:
        return [None] * n
    texts = _text(values)
    codes, uniques = _by_value(texts)
    decimal_comma = True if any("," in str(v) for v in uniques) else None
    parsed: list[float | None] = []
    problems: list[str | None] = []
    for v in uniques:
        try:
            number = parse_number(v, decimal_comma=decimal_comma)
            problem = None
        except ValueError:
            number, problem = None, f"addetti {v!r} non numerico: lasciato vuoto"
        if number is not None and number < 0:
            number, problem = None, f"addetti negativi ({v}): lasciato vuoto"
        parsed.append(number)
        problems.append(problem)
    for i in np.flatnonzero(codes >= 0):
        if problems[codes[i]] is not None:
            flag(int(i), problems[codes[i]], "warning")
    table = np.array([*parsed, None], dtype=object)
    return table[codes].tolist()


def parse_date(value: object) -> dt.date | None:
    """dd/mm/yyyy (also with '-' or '.'), ISO yyyy-mm-dd[Thh:mm], yyyymmdd or a date object.

    Returns None for an empty value; raises ValueError for anything else or an impossible date.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not text:
        return None
    for rx, order in ((_DMY_RE, "dmy"), (_ISO_RE, "ymd"), (_COMPACT_RE, "ymd")):
        m = rx.match(text)
        if m:
            a, b, c = (int(g) for g in m.groups())
            day, month, year = (a, b, c) if order == "dmy" else (c, b, a)
            return dt.date(year, month, day)  # ValueError for 31/02
    raise ValueError(f"data {text!r} non riconosciuta")


def _dates(values: pd.Series | None, n: int, flag: Any) -> list[dt.date | None]:
    if values is None:
        return [None] * n
    codes, uniques = _by_value(values)
    today = dt.date.today()
    parsed: list[dt.date | None] = []
    problems: list[str | None] = []
    for v in uniques:
        try:
            day = parse_date(v)
            problem = None
        except ValueError:
            day, problem = None, (f"data di inizio attività {v!r} non valida (attese gg/mm/aaaa o aaaa-mm-gg): "
                                  "lasciata vuota")
        if day is not None and not dt.date(1800, 1, 1) <= day <= today:
            day, problem = None, f"data di inizio attività {day.isoformat()} fuori dall'intervallo plausibile: lasciata vuota"
        parsed.append(day)
        problems.append(problem)
    for i in np.flatnonzero(codes >= 0):
        if problems[codes[i]] is not None:
            flag(int(i), problems[codes[i]], "warning")
    table = np.array([*parsed, None], dtype=object)
    return table[codes].tolist()


def _status(values: pd.Series | None, n: int, flag: Any) -> list[str | None]:
    if values is None:
        return [None] * n
    codes, uniques = _by_value(_text(values))
    labels = [_STATUS_VALUES.get(normalise_header(v)) for v in uniques]
    for i in np.flatnonzero(codes >= 0):
        if labels[codes[i]] is None:
            v = uniques[codes[i]]
            flag(int(i), f"stato {v!r} non riconosciuto (attesi: attiva, inattiva, cessata, in liquidazione): "
                         "lasciato vuoto", "warning")
    table = np.array([*labels, None], dtype=object)
    return table[codes].tolist()


_JSON_ESCAPES = [("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"),
                 ("\b", "\\b"), ("\f", "\\f")]


def _json_values(values: pd.Series) -> Any:
    """Each cell as `json.dumps(v, ensure_ascii=False, default=str)`, null where missing (an Arrow array)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _is_text(values):
        return pa.array([None if v is None or (isinstance(v, float) and math.isnan(v))
                         else json.dumps(v, ensure_ascii=False, default=str) for v in values], type=pa.string())
    text = pa.array(values.astype("string[pyarrow]").array)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    text = text.cast(pa.string())
    if pc.any(pc.match_substring_regex(text, '[\\\\"\\x00-\\x1f]')).as_py():
        for old, new in _JSON_ESCAPES:
            text = pc.replace_substring(text, old, new)
    out = pc.binary_join_element_wise('"', text, '"', "")
    odd = pc.fill_null(pc.match_substring_regex(out, "[\\x00-\\x1f]"), False).to_numpy(zero_copy_only=False)
    if odd.any():  # other control characters: the json module's own escapes
        fixed = out.to_pylist()
        original = values.tolist()
        for i in np.flatnonzero(odd):
            fixed[i] = json.dumps(original[i], ensure_ascii=False)
        out = pa.array(fixed, type=pa.string())
    return out


def _attributes_json(frame: pd.DataFrame, extra_columns: list[str], added: dict[str, pd.Series]) -> pd.Series:
    """Per row, the JSON object of the non-empty unused cells plus `added` (as json.dumps would write it)."""
    import pyarrow.compute as pc

    n = len(frame)
    pieces: dict[str, Any] = {}
    for c in extra_columns:
        pieces[c] = pc.binary_join_element_wise(json.dumps(c, ensure_ascii=False) + ": ", _json_values(frame[c]), "")
    for c, values in added.items():  # always written, null included (it replaces a same-named column in place)
        encoded = pc.fill_null(_json_values(values.reset_index(drop=True)), "null")
        pieces[c] = pc.binary_join_element_wise(json.dumps(c, ensure_ascii=False) + ": ", encoded, "")
    if not pieces:
        return pd.Series(["{}"] * n, dtype=object)
    body = pc.binary_join_element_wise(*pieces.values(), ", ", null_handling="skip")
    body = pc.binary_join_element_wise("{", pc.fill_null(body, ""), "}", "")
    return pd.Series(pd.array(body, dtype="string[pyarrow]"))


class _NoRecords:
    """`raw` for finalise_places: the records are attached later, only to the rejected rows."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {}


def _records_at(frame: pd.DataFrame, positions: list[int]) -> dict[int, dict[str, Any]]:
    """The original records (non-empty cells) of the given rows, by position."""
    if not positions:
        return {}
    part = frame.iloc[positions]
    columns = list(part.columns)
    values = [_as_object(part[c]).tolist() for c in columns]
    out = {}
    for pos, row in zip(positions, zip(*values, strict=True), strict=True):
        out[pos] = {k: v for k, v in zip(columns, row, strict=True) if v is not None}
    return out


def _progress(path: Path, what: str, n: int, seconds: float) -> None:
    """Stage log for long files: rows done and rate."""
    if n >= 100_000:
        rate = n / seconds if seconds > 0 else float("inf")
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        _LOG.info("%s: %s in %.1f s (%s righe/s; memoria di picco %s MB)", Path(path).name, what, seconds,
                  f"{rate:,.0f}".replace(",", "."), peak)


def _xlsx_header(path: Path) -> list[str]:
    """Normalised first non-empty row of the first sheet (empty list if unreadable)."""
    try:
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        try:
            for row in book.worksheets[0].iter_rows(max_row=20, values_only=True):
                cells = [normalise_header(str(v)) for v in row if v is not None and str(v).strip()]
                if cells:
                    return cells
        finally:
            book.close()
    except Exception:  # any unreadable workbook: not ours to claim
        return []
    return []


def _read(path: Path) -> tuple[pd.DataFrame, str | None, str]:
    """(text/number frame with normalised headers, encoding, format description)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(path), None, "xlsx"
    table = read_table_columnar(path)
    return table.frame, table.encoding, f"csv sep={table.separator!r}"


def _read_xlsx(path: Path) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise SourceError(path, "il file è vuoto", "controllare l'esportazione")
    try:
        raw = pd.read_excel(path, sheet_name=0, header=None, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl raises several types for damaged files
        raise SourceError(path, f"file Excel illeggibile ({type(exc).__name__}: {exc})",
                          "riaprire il file e salvarlo di nuovo come .xlsx o come CSV UTF-8") from exc
    raw = raw.astype(object).where(raw.notna(), None)
    raw = raw.map(lambda v: (v.strip() or None) if isinstance(v, str) else v)
    raw = raw.dropna(axis=0, how="all")
    if len(raw) < 2:
        raise SourceError(path, "il foglio non ha righe di dati sotto l'intestazione", "controllare il primo foglio")
    header = ["" if v is None else str(v) for v in raw.iloc[0]]
    columns = unique_names([normalise_header(h) or f"col_{i}" for i, h in enumerate(header)])
    frame = pd.DataFrame(raw.iloc[1:].to_numpy(dtype=object), columns=columns, dtype=object)
    return frame.astype(object).where(frame.notna(), None)


SOURCE = FirmPointsSource()
