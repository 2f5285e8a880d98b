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

import datetime as dt
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from etl import ateco_map
from etl.base import BuildContext, LoadResult, Reject, SourceError, StagedRows, Trust
from etl.geo import NotInTerritory
from etl.places import ASSIGNMENTS, DUPLICATE_RADIUS_M, OUTSIDE_REASON, PLACE_COLUMNS, locate, normalise_text_series
from etl.readers import COLUMNAR_MIN_BYTES, normalise_header, parse_number, read_table, unique_names
from etl.sources.firms_ateco import ateco_code_column, ateco_desc_column, firm_file_kind, peek_columns
from etl.staging import (
    Heartbeat,
    RawTable,
    Stage,
    drop_empty_rows,
    frame_into,
    ident,
    json_object,
    read_csv_into,
    register_table,
)

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
        """Read, classify and place one firm list in a scratch DuckDB database (any size in bounded memory).

        The cells are staged as text; classification, numbers, dates and states are worked out once
        per distinct value in Python and joined back in SQL; coordinates go through `etl.places.locate`
        as arrays. A result of up to STAGE_MIN_ROWS rows comes back as a frame; a larger one stays
        staged and the pipeline copies it into the warehouse (`LoadResult.staged`).
        """
        path = Path(path)
        try:
            return self._load_in(Stage(ctx.scratch_dir), path, ctx)
        except duckdb.OutOfMemoryException as exc:  # an operator of the in-memory stage could not spill: on disk
            _LOG.warning("%s: memoria della base di appoggio esaurita (%s): ripetuto con la base di appoggio su disco",
                         path.name, str(exc).splitlines()[0][:160])
            return self._load_in(Stage(ctx.scratch_dir, on_disk=True), path, ctx)

    def _load_in(self, stage: Stage, path: Path, ctx: BuildContext) -> LoadResult:
        """`load` with one scratch database (discarded on failure, or handed over with the result)."""
        try:
            with Heartbeat(path.name, stage, _estimate_rows(path)) as beat:
                result = self._load_staged(path, ctx, stage, beat)
        except NotInTerritory as exc:  # its staged rejects are kept by the pipeline, which then discards them
            if getattr(exc.result, "staged", None) is None:
                stage.discard()
            raise
        except BaseException:
            stage.discard()
            raise
        return result

    def _load_staged(self, path: Path, ctx: BuildContext, stage: Stage, beat: Heartbeat) -> LoadResult:
        clock = time.perf_counter
        t0 = clock()
        con = stage.con
        config = ateco_map.load_config(self.config_path)
        beat.step("lettura")
        raw, sheet = _stage_raw(stage, path)
        cols = raw.columns
        empty_rows = drop_empty_rows(stage, cols)
        notes: list[str] = []
        if empty_rows:
            notes.append(f"{empty_rows} righe vuote ignorate")
        n = raw.rows - empty_rows
        _progress(path, f"lette {n:,} righe".replace(",", "."), n, clock() - t0)
        if n == 0:
            raise SourceError(path, "il file non ha righe di dati (solo righe vuote sotto l'intestazione)",
                              "controllare l'esportazione")

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

        beat.step("classificazione", n)
        edition_sql, origin_sql, params = self._edition_sql(stage, code_col, edition_col, config, notes)
        con.execute(f"CREATE TABLE edition AS SELECT row_number, {edition_sql} AS edition, {origin_sql} AS origin "  # noqa: S608
                    "FROM raw", params)
        _stage_classes(stage, code_col, config)
        _stage_value_map(stage, employees_col, "employees_map", _employee_values)
        _stage_value_map(stage, start_col, "dates_map", _date_values)
        _stage_value_map(stage, status_col, "status_map", _status_values)
        key_sql = self._key_sql(stage, key_col, unit_col, address_col, notes)
        address_join = (f"LEFT JOIN address_norm an ON an.text = r.{ident(address_col)}"
                        if key_col and not unit_col and address_col else "")
        address_sql = "NULL" if not address_col else (
            f"CASE WHEN r.{ident(address_col)} IS NOT NULL AND r.{ident(civic_col)} IS NOT NULL "
            f"THEN r.{ident(address_col)} || ' ' || r.{ident(civic_col)} ELSE r.{ident(address_col)} END"
            if civic_col else f"r.{ident(address_col)}")
        label_sql = "CASE WHEN coalesce(k.ateco_label, '') <> '' THEN k.ateco_label END"
        if desc_col:
            label_sql = f"coalesce({label_sql}, r.{ident(desc_col)})"
        added = {"ateco_label": label_sql, "ateco_edition_from": "e.origin"}
        pairs = [(c, added.pop(c) if c in added else f"r.{ident(c)}") for c in cols if c not in used]
        attributes_sql = json_object([*pairs, *added.items()], always=("ateco_label", "ateco_edition_from"))

        def col(name: str | None, alias: str) -> str:
            return f"r.{ident(name)} AS {alias}" if name else f"CAST(NULL AS VARCHAR) AS {alias}"

        def joined(name: str | None, table: str, alias: str) -> str:
            return f"LEFT JOIN {table} {alias} ON {alias}.text = r.{ident(name)}" if name else ""

        con.execute(f"""
            CREATE VIEW firms AS
            SELECT r.row_number, {key_sql} AS source_key, {col(name_col, 'name')}, {address_sql} AS address,
                   {col(lon_col, 'lon_text')}, {col(lat_col, 'lat_text')}, {col(nil_col, 'nil_id_file')},
                   {col(mun_col, 'municipio_file')}, k.category,
                   {'st.value' if status_col else 'CAST(NULL AS VARCHAR)'} AS status,
                   {'em.value' if employees_col else 'CAST(NULL AS DOUBLE)'} AS employees,
                   k.ateco_code, k.ateco_edition,
                   {'dt.value' if start_col else 'CAST(NULL AS DATE)'} AS started_on,
                   {attributes_sql} AS attributes, k.problem, k.warning,
                   {'em.problem' if employees_col else 'NULL'} AS employees_problem,
                   {'dt.problem' if start_col else 'NULL'} AS date_problem,
                   {'st.problem' if status_col else 'NULL'} AS status_problem
            FROM raw r JOIN edition e USING (row_number)
            LEFT JOIN classes k ON k.code IS NOT DISTINCT FROM r.{ident(code_col)} AND k.edition IS NOT DISTINCT FROM e.edition
            {joined(employees_col, 'employees_map', 'em')} {joined(start_col, 'dates_map', 'dt')}
            {joined(status_col, 'status_map', 'st')}
            {address_join}""")  # noqa: S608 identifiers from ident()
        con.execute("CREATE TABLE reasons (row_number BIGINT, seq INTEGER, reason VARCHAR, action VARCHAR)")
        con.execute("""
            INSERT INTO reasons
            SELECT row_number, 1, problem, 'rejected' FROM firms WHERE problem IS NOT NULL
            UNION ALL SELECT row_number, 2, warning, 'warning' FROM firms WHERE problem IS NULL AND warning IS NOT NULL
            UNION ALL SELECT row_number, 4, employees_problem, 'warning' FROM firms WHERE employees_problem IS NOT NULL
            UNION ALL SELECT row_number, 5, date_problem, 'warning' FROM firms WHERE date_problem IS NOT NULL
            UNION ALL SELECT row_number, 6, status_problem, 'warning' FROM firms WHERE status_problem IS NOT NULL""")
        if sheet is not None:  # numbers only come from spreadsheets
            _float_code_warnings(stage, sheet, code_col)
        del sheet
        _progress(path, "righe classificate", n, clock() - t0)

        beat.step("collocazione", n)
        usable = _locate_staged(stage, ctx, nil_col, mun_col)
        beat.step("duplicati", n)
        _dedupe_staged(stage, by_name=key_col is None)
        con.execute("""
            CREATE TABLE places AS
            SELECT f.row_number, 'firm' AS theme, f.source_key, f.name, f.address, l.lon, l.lat, l.district_id,
                   l.parent_id, l.assignment, f.category, f.status, CAST(NULL AS VARCHAR) AS ownership,
                   CAST(NULL AS DOUBLE) AS area_m2, CAST(NULL AS INTEGER) AS seats, f.employees, f.ateco_code,
                   f.ateco_edition, f.started_on, f.attributes, CAST(NULL AS BLOB) AS geom_wkb
            FROM firms f JOIN located l USING (row_number)
            WHERE l.keep AND NOT EXISTS (SELECT 1 FROM repeats d WHERE d.row_number = f.row_number)""")
        record_sql = json_object([(c, f"r.{ident(c)}") for c in cols])
        con.execute(f"""
            CREATE TABLE rejects AS
            SELECT x.row_number, {record_sql} AS raw, x.reason, x.action, x.seq
            FROM reasons x JOIN raw r USING (row_number) ORDER BY x.row_number, x.seq""")  # noqa: S608 idents
        stage.drop("firms", "raw", "raw_file", "edition", "located", "repeats", "reasons")
        counts = dict(con.sql("SELECT action, count(*) FROM rejects GROUP BY 1").fetchall())
        rows = stage.count("SELECT count(*) FROM places")
        _progress(path, f"righe collocate ({sum(counts.values()):,} scarti o avvisi)".replace(",", "."), n, clock() - t0)
        trust: Trust = self.trust or config.firm_points_trust  # type: ignore[assignment]
        first = next(iter(con.sql("SELECT row_number, reason FROM rejects WHERE action = 'rejected' "
                                  "ORDER BY row_number, seq LIMIT 1").fetchall()), None)
        result = LoadResult(table="places", frame=pd.DataFrame(columns=PLACE_COLUMNS), rows_read=n, trust=trust,
                            notes=notes, crs="EPSG:4326 (lon/lat dichiarate dal file)", encoding=raw.encoding,
                            file_format="xlsx" if raw.separator is None else f"csv sep={raw.separator!r}")
        if rows == 0:  # every point outside the territory: skipped for it (NotInTerritory), else failed
            outside = stage.count("SELECT count(*) FROM rejects WHERE action = 'rejected' AND starts_with(reason, ?)",
                                  [OUTSIDE_REASON])
            if usable > 0 and outside >= usable:
                _hand_over(stage, result, counts, first)
                raise NotInTerritory(str(path), f"nessun punto nel territorio {ctx.territory.name_it}: tutte le "
                                     f"{outside} righe con coordinate sono fuori dai suoi confini (vedere la tabella rejects)",
                                     "niente da fare se il file descrive un altro territorio; altrimenti controllare "
                                     "le coordinate", result)
            any_first = next(iter(con.sql("SELECT reason FROM rejects ORDER BY row_number, seq LIMIT 1").fetchall()), None)
            raise SourceError(path, f"nessuna impresa utilizzabile ({sum(counts.values())} righe scartate; la prima: "
                              f"{any_first[0] if any_first else '-'})", "controllare codice ATECO, edizione e coordinate")
        by_cat = con.sql("SELECT category, count(*) FROM places GROUP BY 1 ORDER BY 1").fetchall()
        notes.append("imprese per categoria: " + ", ".join(f"{k}={int(v)}" for k, v in by_cat))
        notes.append(f"affidabilità '{trust}' ({'opzione della fonte' if self.trust else 'configurazione'})")
        _hand_over(stage, result, counts, first)
        return result

    def _edition_sql(self, stage: Stage, code_col: str, edition_col: str | None, config: ateco_map.CategoryConfig,
                     notes: list[str]) -> tuple[str, str, dict[str, Any]]:
        """SQL for each row's ATECO edition (NULL where unknown) and where it came from, with their parameters."""
        values: list[str] = []
        origins: list[str] = []
        params: dict[str, Any] = {}
        if edition_col is not None:
            values.append(f"{ident(edition_col)}")
            origins.append(f"WHEN {ident(edition_col)} IS NOT NULL THEN $from_column")
            params["from_column"] = f"colonna {edition_col}"
        header = re.search(r"(?<!\d)(2007|2022|2025)(?!\d)", code_col)
        if header is not None:
            values.append("$header_edition")
            origins.append("WHEN TRUE THEN $from_header")
            params |= {"header_edition": header.group(1), "from_header": f"nome colonna {code_col}"}
        missing = 0 if header is not None else (
            stage.count(f"SELECT count(*) FROM raw WHERE {ident(edition_col)} IS NULL") if edition_col  # noqa: S608
            else stage.count("SELECT count(*) FROM raw"))
        default = self.default_edition or config.firm_points_default_edition
        if missing and default:
            default = ateco_map.normalise_edition(default)
            where = "opzione della fonte" if self.default_edition else f"[firm_points] di {config.path.name}"
            values.append("$default_edition")
            origins.append("WHEN TRUE THEN 'predefinita'")
            params["default_edition"] = default
            notes.append(f"edizione ATECO {default} assunta per {missing} righe senza edizione ({where})")
        elif missing:
            notes.append(f"{missing} righe senza edizione ATECO e nessuna edizione predefinita: scartate")
        edition = f"coalesce({', '.join(values)})" if values else "CAST(NULL AS VARCHAR)"
        origin = f"CASE {' '.join(origins)} ELSE '-' END" if origins else "'-'"
        return edition, origin, params

    @staticmethod
    def _key_sql(stage: Stage, key_col: str | None, unit_col: str | None, address_col: str | None,
                 notes: list[str]) -> str:
        """SQL for stable per-row keys: firm id (+ local-unit number, else + address), else the file row."""
        by_row = "'riga-' || CAST(r.row_number AS VARCHAR)"
        if key_col is None:
            notes.append("nessuna colonna identificativa: chiave = numero di riga (duplicati cercati per nome+indirizzo)")
            return by_row
        key = f"r.{ident(key_col)}"
        if unit_col is not None:
            keyed = f"{key} || '/' || coalesce(r.{ident(unit_col)}, '0')"
        else:
            notes.append(f"chiave = {key_col} + indirizzo (più unità locali della stessa impresa restano distinte)")
            if address_col is None:
                keyed = f"{key} || '@'"
            else:
                _stage_normalised(stage, address_col, "address_norm")
                keyed = f"{key} || '@' || coalesce(an.norm, '')"
        return f"CASE WHEN {key} IS NULL THEN {by_row} ELSE {keyed} END"


# Results with more rows than this stay staged (the pipeline copies them); smaller ones come back as frames.
STAGE_MIN_ROWS = 200_000


def _estimate_rows(path: Path) -> int | None:
    """Rows of a CSV estimated from its size and its first lines (for the progress log)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return None
    lines = head.count(b"\n")
    if path.suffix.lower() != ".csv" or lines < 2:
        return None
    return max(int(size / (len(head) / lines)) - 1, 1)


def _stage_raw(stage: Stage, path: Path) -> tuple[RawTable, pd.DataFrame | None]:
    """The file's cells as the stage's `raw` table, and the spreadsheet frame (None for a CSV)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        sheet = _read_xlsx(path)
        return frame_into(stage, sheet, np.arange(1, len(sheet) + 1), list(sheet.columns), None, None), sheet
    raw = read_csv_into(stage, path) if path.stat().st_size >= COLUMNAR_MIN_BYTES else None
    if raw is None:  # small or unusual files: the careful reader, whose messages explain a bad file
        table = read_table(path)
        raw = frame_into(stage, table.frame, np.arange(1, len(table.frame) + 1), table.original_columns,
                         table.encoding, table.separator)
    return raw, None


def _stage_classes(stage: Stage, code_col: str, config: ateco_map.CategoryConfig) -> None:
    """Table `classes`: the classification of each distinct (code, edition) pair of the file."""
    pairs = stage.con.sql(f"SELECT DISTINCT r.{ident(code_col)} AS code, e.edition FROM raw r "  # noqa: S608
                          "JOIN edition e USING (row_number)").fetchall()
    codes = pd.Series([c for c, _ in pairs], dtype=object)
    editions = pd.Series([e for _, e in pairs], dtype=object)
    classes = ateco_map.classify_table(codes, editions, config) if pairs else pd.DataFrame(
        columns=["ateco_code", "ateco_edition", "category", "ateco_label", "known", "problem", "warning"])
    problems = [None if p is None or p is pd.NA else str(p) for p in classes["problem"].tolist()]
    hint = (" (aggiungere la colonna edizione_ateco o impostare [firm_points] default_edition "
            "in config/ateco_categories.toml)")
    problems = [p + hint if p == "edizione ATECO non indicata" else p for p in problems]

    def text(name: str) -> list[str | None]:
        return [None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)
                for v in classes[name].tolist()]

    register_table(stage, "classes", {
        "code": pa_strings(codes.tolist()), "edition": pa_strings(editions.tolist()),
        "ateco_code": pa_strings(text("ateco_code")), "ateco_edition": pa_strings(text("ateco_edition")),
        "category": pa_strings(text("category")), "ateco_label": pa_strings(text("ateco_label")),
        "problem": pa_strings(problems), "warning": pa_strings(text("warning"))})


def pa_strings(values: list[Any]) -> Any:
    """A pyarrow string array (None stays null)."""
    import pyarrow as pa

    return pa.array(values, type=pa.string())


def _stage_value_map(stage: Stage, column: str | None, table: str, parse: Any) -> None:
    """Table `table` (text, value, problem): `parse` applied once to each distinct cell of `column`."""
    if column is None:
        return
    texts = [t for (t,) in stage.con.sql(f"SELECT DISTINCT {ident(column)} FROM raw "  # noqa: S608
                                         f"WHERE {ident(column)} IS NOT NULL").fetchall()]
    values, problems, kind = parse(texts)
    import pyarrow as pa

    register_table(stage, table, {"text": pa_strings(texts), "value": pa.array(values, type=kind),
                                  "problem": pa_strings(problems)})


def _employee_values(texts: list[str]) -> tuple[list[float | None], list[str | None], Any]:
    """Employees as numbers; text or negative values become empty with a warning."""
    import pyarrow as pa

    decimal_comma = True if any("," in v for v in texts) else None
    values: list[float | None] = []
    problems: list[str | None] = []
    for v in texts:
        try:
            number = parse_number(v, decimal_comma=decimal_comma)
            problem = None
        except ValueError:
            number, problem = None, f"addetti {v!r} non numerico: lasciato vuoto"
        if number is not None and number < 0:
            number, problem = None, f"addetti negativi ({v}): lasciato vuoto"
        values.append(number)
        problems.append(problem)
    return values, problems, pa.float64()


def _date_values(texts: list[str]) -> tuple[list[dt.date | None], list[str | None], Any]:
    import pyarrow as pa

    today = dt.date.today()
    values: list[dt.date | None] = []
    problems: list[str | None] = []
    for v in texts:
        try:
            day = parse_date(v)
            problem = None
        except ValueError:
            day, problem = None, (f"data di inizio attività {v!r} non valida (attese gg/mm/aaaa o aaaa-mm-gg): "
                                  "lasciata vuota")
        if day is not None and not dt.date(1800, 1, 1) <= day <= today:
            day, problem = None, f"data di inizio attività {day.isoformat()} fuori dall'intervallo plausibile: lasciata vuota"
        values.append(day)
        problems.append(problem)
    return values, problems, pa.date32()


def _status_values(texts: list[str]) -> tuple[list[str | None], list[str | None], Any]:
    import pyarrow as pa

    labels = [_STATUS_VALUES.get(normalise_header(v)) for v in texts]
    problems = [None if label is not None else
                f"stato {v!r} non riconosciuto (attesi: attiva, inattiva, cessata, in liquidazione): lasciato vuoto"
                for v, label in zip(texts, labels, strict=True)]
    return labels, problems, pa.string()


def _stage_normalised(stage: Stage, column: str, table: str, source: str = "raw") -> None:
    """Table `table` (text, norm): `normalise_text` of each distinct cell of `column` in the stage table `source`."""
    texts = pd.Series([t for (t,) in stage.con.sql(f"SELECT DISTINCT {ident(column)} FROM {ident(source)} "  # noqa: S608
                                                   f"WHERE {ident(column)} IS NOT NULL").fetchall()],
                      dtype=object)
    norm = normalise_text_series(texts) if len(texts) else pd.Series([], dtype=object)
    register_table(stage, table, {"text": pa_strings(texts.tolist()), "norm": pa_strings([str(v) for v in norm])})


def _float_code_warnings(stage: Stage, sheet: pd.DataFrame, code_col: str) -> None:
    """A spreadsheet's ATECO code stored as a number (trailing zeros lost): a warning on the usable rows."""
    rows, reasons = [], []
    for i, value in enumerate(sheet[code_col].tolist()):
        if isinstance(value, float) and not value.is_integer():
            rows.append(i + 1)
            reasons.append(f"codice ATECO salvato come numero ({value!r}): eventuali zeri finali persi")
    if not rows:
        return
    import pyarrow as pa

    register_table(stage, "float_codes", {"row_number": pa.array(rows, type=pa.int64()), "reason": pa_strings(reasons)})
    stage.con.execute("""
        INSERT INTO reasons
        SELECT f.row_number, 3, x.reason || ' (letto ' || coalesce(f.ateco_code, '') || '); salvare la colonna come testo',
               'warning'
        FROM float_codes x JOIN firms f USING (row_number) WHERE f.problem IS NULL""")
    stage.con.execute("DROP TABLE float_codes")


def _locate_staged(stage: Stage, ctx: BuildContext, nil_col: str | None, mun_col: str | None) -> int:
    """Coordinates and areas of the usable rows (`etl.places.locate`) as table `located`; returns their count."""
    import pyarrow as pa

    con = stage.con
    part = con.sql("""
        SELECT row_number, TRY_CAST(replace(lon_text, ',', '.') AS DOUBLE) AS lon,
               TRY_CAST(replace(lat_text, ',', '.') AS DOUBLE) AS lat, nil_id_file, municipio_file
        FROM firms WHERE problem IS NULL ORDER BY row_number""").fetchnumpy()
    rows = np.asarray(part["row_number"], dtype=np.int64)
    frame = pd.DataFrame({"lon": np.asarray(part["lon"], dtype=float), "lat": np.asarray(part["lat"], dtype=float)})
    if nil_col:
        frame["nil_id_file"] = pd.Series(np.asarray(part["nil_id_file"], dtype=object)).astype("string")
    if mun_col:
        frame["municipio_file"] = pd.Series(np.asarray(part["municipio_file"], dtype=object)).astype("string")
    del part
    where = locate(frame, ctx)
    del frame
    has = where.has_point
    register_table(stage, "located", {
        "row_number": pa.array(rows),
        "lon": pa.array(where.lon, mask=~has), "lat": pa.array(where.lat, mask=~has),
        "district_id": pa.array(where.district_id.astype(np.int32), mask=where.district_id <= 0),
        "parent_id": pa.array(where.parent_id.astype(np.int32), mask=where.parent_id <= 0),
        "assignment": pa.DictionaryArray.from_arrays(pa.array(where.assignment), pa.array(ASSIGNMENTS)).cast(pa.string()),
        "keep": pa.array(where.keep)})
    for seq, group in enumerate(where.groups, start=7):
        register_table(stage, "group_rows", {"row_number": pa.array(rows[group.positions]),
                                             "reason": pa_strings(group.reasons())})
        con.execute("INSERT INTO reasons SELECT row_number, ?, reason, ? FROM group_rows", [seq, group.action])
    con.execute("DROP TABLE IF EXISTS group_rows")
    return len(rows)


def _dedupe_staged(stage: Stage, by_name: bool) -> None:
    """Table `repeats` (row_number, first_row): located firms that repeat an earlier kept row's id (and,
    without ids, its name and address within DUPLICATE_RADIUS_M), each a reject naming the row kept."""
    con = stage.con
    con.execute("""
        CREATE TABLE repeats AS
        SELECT row_number, first_row FROM (
            SELECT f.row_number, first_value(f.row_number) OVER (PARTITION BY f.source_key ORDER BY f.row_number) AS first_row
            FROM firms f JOIN located l USING (row_number) WHERE l.keep)
        WHERE first_row <> row_number""")
    con.execute("""
        INSERT INTO reasons SELECT row_number, 20, 'duplicato: stesso id della riga ' || first_row || ' (tenuta quella)',
                                   'rejected'
        FROM repeats""")
    if not by_name:
        return
    # Same normalised name and address: a repeat unless it lies farther than DUPLICATE_RADIUS_M from the first one.
    con.execute("""
        CREATE TABLE kept AS
        SELECT f.row_number, f.name, f.address, l.lon, l.lat FROM firms f JOIN located l USING (row_number)
        WHERE l.keep AND NOT EXISTS (SELECT 1 FROM repeats d WHERE d.row_number = f.row_number)""")
    _stage_normalised(stage, "name", "name_norm", source="kept")
    _stage_normalised(stage, "address", "addr_norm", source="kept")
    con.execute(f"""
        CREATE TABLE pairs AS
        WITH keyed AS (
            SELECT p.row_number, p.lon, p.lat, n.norm || '|' || a.norm AS pair
            FROM kept p JOIN name_norm n ON n.text = p.name JOIN addr_norm a ON a.text = p.address
            WHERE n.norm <> '' AND a.norm <> ''),
        ranked AS (
            SELECT *, first_value(row_number) OVER w AS first_row, first_value(lon) OVER w AS first_lon,
                   first_value(lat) OVER w AS first_lat
            FROM keyed WINDOW w AS (PARTITION BY pair ORDER BY row_number))
        SELECT row_number, first_row FROM ranked
        WHERE row_number <> first_row AND NOT (lon IS NOT NULL AND first_lon IS NOT NULL AND
              sqrt(power((lon - first_lon) * 111320 * cos(radians(lat)), 2) + power((lat - first_lat) * 110540, 2))
              > {float(DUPLICATE_RADIUS_M)})""")  # noqa: S608 a constant
    con.execute("""
        INSERT INTO reasons SELECT row_number, 21,
               'duplicato: stesso nome e indirizzo della riga ' || first_row || ' (tenuta quella)', 'rejected' FROM pairs""")
    con.execute("INSERT INTO repeats SELECT row_number, first_row FROM pairs")
    for table in ("pairs", "name_norm", "addr_norm", "kept"):
        con.execute(f"DROP TABLE {table}")  # noqa: S608 constant names


def _hand_over(stage: Stage, result: LoadResult, counts: dict[str, int], first: tuple[Any, ...] | None) -> None:
    """Put the staged rows in `result`: as a frame and Reject list when small, else as StagedRows."""
    rows = stage.count("SELECT count(*) FROM places")
    total_rejects = sum(counts.values())
    if rows < STAGE_MIN_ROWS and total_rejects < STAGE_MIN_ROWS:
        import pyarrow as pa

        table = stage.con.sql("SELECT * FROM places ORDER BY row_number").to_arrow_table()
        mapper = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}.get
        frame = table.to_pandas(types_mapper=mapper)
        frame.attrs["row_numbers"] = frame.pop("row_number").to_numpy()
        result.frame = frame.reset_index(drop=True)
        result.rejects = [Reject(int(r), json.loads(raw), reason, action)
                          for r, raw, reason, action in stage.con.sql(
                              "SELECT row_number, raw, reason, action FROM rejects ORDER BY row_number, seq").fetchall()]
        stage.discard()
        return
    result.staged = StagedRows(stage=stage, table="places", rejects="rejects", rows=rows,
                               rejected=counts.get("rejected", 0), repaired=counts.get("repaired", 0),
                               warnings=counts.get("warning", 0),
                               first_rejected=None if first is None else (int(first[0]), str(first[1])))


def _pick(columns: list[str], names: list[str]) -> str | None:
    return next((c for c in names if c in columns), None)


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
