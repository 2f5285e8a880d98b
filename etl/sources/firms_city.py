"""Firms, local units and employees by ATECO code for the whole city (Comune di Milano ds171).

Official layout (2007-2010): `Anno; ateco_2007_2cifre; descrizione_ateco_impr_2007_2cifre;
ateco_2007_5cifre; descr_ateco_impr_2007_5cifre; N. imprese; N. unità locali; N.addetti_imp;
N.addetti_ul`, cp1252, `;`, decimal commas in the employee columns. One row per year and
ATECO 2007 category (5 digits), for the Comune di Milano as a whole: no NIL, no Municipio.
Rows go to `firm_totals` with level 'territory' and the territory's id as area id ('milano'): the
source declares `territories = ('milano',)`, the pipeline skips it in any other territory.

Rules:
- codes are written without dots and with the leading zero of divisions 01-09 dropped
  (`1620` = 01.62.0): a code one digit shorter than the width named by its column
  (`..._5cifre`) gets the zero back, checked against the 2-digit division column; a code that
  disagrees with its division, or is shorter still, is rejected with the reason;
- codes are validated with the `ateco` package in their edition (from the column name, else an
  edition column, else 2007 for a file named ds171); a well-formed code unknown in its edition
  is kept as category 'other' with a warning, never dropped;
- categories are the programme's (config/ateco_categories.toml, `etl.ateco_map`), as for ds201;
- a row whose code contains another row's code of the same year (a division or group
  subtotal) and "Totale" rows are rejected, so nothing is counted twice; a second row for
  the same year and code is rejected (the first is kept);
- counts must be whole and non-negative, employees non-negative (decimal commas allowed:
  they are yearly averages); an unusable number rejects the row with its reason; an empty
  cell stays NULL (never zero) with a warning.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from etl import ateco_map
from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust
from etl.readers import parse_int, parse_number, peek_columns, read_table
from etl.sources.firms_ateco import firm_file_kind

OFFICIAL_COLUMNS = ["anno", "ateco_2007_2cifre", "descrizione_ateco_impr_2007_2cifre", "ateco_2007_5cifre",
                    "descr_ateco_impr_2007_5cifre", "n_imprese", "n_unita_locali", "n_addetti_imp", "n_addetti_ul"]
YEAR_COLUMNS = ["anno", "year", "anno_riferimento"]
FIRMS_COLUMNS = ["n_imprese", "numero_imprese", "num_imprese", "imprese"]
UNITS_COLUMNS = ["n_unita_locali", "numero_unita_locali", "num_unita_locali", "unita_locali", "numero_ul", "n_ul", "ul"]
EMPLOYEES_FIRMS_COLUMNS = ["n_addetti_imp", "addetti_imp", "n_addetti_imprese", "addetti_imprese", "numero_addetti_imprese"]
EMPLOYEES_UNITS_COLUMNS = ["n_addetti_ul", "addetti_ul", "n_addetti_unita_locali", "addetti_unita_locali",
                           "numero_addetti_ul"]
EDITION_COLUMNS = ["edizione_ateco", "ateco_edition", "edizione"]
TERRITORY_LEVEL = "territory"  # firm_totals.level of a whole-territory row
FRAME_COLUMNS = ["level", "area_id", "year", "ateco_code", "ateco_edition", "ateco_label", "category", "firms", "units",
                 "employees_firms", "employees_units"]
NOTE_SCOPE = "intera città, nessun dettaglio per NIL"

_WIDTH_RE = re.compile(r"(?<!\d)(\d)_?cifre")
_EDITION_IN_HEADER_RE = re.compile(r"(?<!\d)(2007|2022|2025)(?!\d)")
_TOTAL_RE = re.compile(r"^\s*(tot(ale|al)?|totale\s+generale|complessivo|milano)\b\.?", re.IGNORECASE)
Parsed = list[tuple[int, dict[str, object], dict[str, object]]]  # (file row, output row, raw row)


def _is_code_column(c: str) -> bool:
    return "ateco" in c and not c.startswith(("desc", "descr", "des_")) and "edizion" not in c \
        and "edition" not in c and "label" not in c


def code_columns(columns: list[str]) -> tuple[str | None, int | None, str | None]:
    """(detailed code column, its digit width if named, 2-digit division column if separate)."""
    candidates = [c for c in columns if _is_code_column(c)]
    if not candidates:
        return None, None, None
    widths = {c: int(m.group(1)) if (m := _WIDTH_RE.search(c)) else None for c in candidates}
    named = [c for c in candidates if widths[c] is not None]
    code_col = max(named, key=lambda c: widths[c] or 0) if named else candidates[0]
    division_col = next((c for c in named if widths[c] == 2 and c != code_col), None)
    return code_col, widths[code_col], division_col


def city_code(value: object, width: int | None, division: object = None) -> str:
    """Dotted ATECO code of a ds171 cell: '1620' (width 5) -> '01.62.0', '10411' -> '10.41.1'.

    A code one digit shorter than `width` lost the leading zero of its division; `division`
    (the 2-digit column, '1' or '01'), when given, must agree. One or two digits, or an empty
    code next to a division, are a division-level row ('25'), i.e. a subtotal when the file
    also has that division's detail. Raises InvalidAtecoCode otherwise.
    """
    text = "" if value is None else str(value).strip()
    div_text = "" if division is None else str(division).strip()
    if not text and div_text:
        text = div_text
    if not text:
        raise ateco_map.InvalidAtecoCode("codice ATECO mancante")
    if text.isdigit() and len(text) <= 2:
        text = text.zfill(2)
    elif text.isdigit() and width is not None:
        if len(text) > width:
            raise ateco_map.InvalidAtecoCode(f"codice ATECO {text!r} con più di {width} cifre")
        if len(text) < width - 1:
            raise ateco_map.InvalidAtecoCode(f"codice ATECO {text!r} troppo corto per un codice a {width} cifre "
                                             "(si ricostruisce solo lo zero iniziale della divisione)")
        text = text.zfill(width)
    code = ateco_map.normalise_code(text)
    if div_text:
        if not div_text.isdigit() or len(div_text) > 2:
            raise ateco_map.InvalidAtecoCode(f"divisione ATECO {div_text!r} non valida")
        if code[:2] != div_text.zfill(2):
            raise ateco_map.InvalidAtecoCode(f"codice ATECO {value!r} (letto {code}) non coerente con la divisione "
                                             f"{div_text!r} della riga")
    return code


@dataclass(frozen=True)
class FirmsCitySource:
    """ds171 and files with the same layout (one row per year and ATECO code, whole city)."""

    source_id: str = "firms_city"
    title: str = "Imprese, unità locali e addetti per settore di attività (ATECO), intera città"
    dataset: str | None = "ds171"
    licence: str = "CC BY 4.0 (licenza predefinita del portale; da verificare)"
    table: str = "firm_totals"
    themes: tuple[str, ...] = ("firm", "firm_totals")
    single: bool = False  # every file found is loaded (e.g. one per period)
    territories: tuple[str, ...] = ("milano",)  # ds171: the Comune di Milano as a whole
    config_path: Path = ateco_map.DEFAULT_CONFIG

    def find(self, raw_dir: Path) -> list[Path]:
        """CSVs with the city-wide header (ATECO code and counts, no location: `firm_file_kind` 'city').

        A file named ds171* whose header fits no firm layout is claimed too, so that its load
        says what is wrong instead of the dataset silently going missing.
        """
        out = []
        for p in sorted(Path(raw_dir).rglob("*.csv")):
            if p.name.startswith((".", "~$")):
                continue
            kind = firm_file_kind(peek_columns(p))
            if kind == "city" or (kind is None and p.name.lower().startswith("ds171")):
                out.append(p)
        return out

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        """Read, validate and classify one file into `firm_totals` rows."""
        config = ateco_map.load_config(self.config_path)
        table = read_table(path)
        frame = table.frame
        cols = list(frame.columns)
        code_col, width, division_col = code_columns(cols)
        year_col = next((c for c in YEAR_COLUMNS if c in cols), None)
        firms_col = next((c for c in FIRMS_COLUMNS if c in cols), None)
        units_col = next((c for c in UNITS_COLUMNS if c in cols), None)
        emp_firms_col = next((c for c in EMPLOYEES_FIRMS_COLUMNS if c in cols), None)
        emp_units_col = next((c for c in EMPLOYEES_UNITS_COLUMNS if c in cols), None)
        missing = [label for label, c in (("anno", year_col), ("codice ATECO", code_col)) if c is None]
        if firms_col is None and units_col is None:
            missing.append("numero di imprese o di unità locali (N. imprese, N. unità locali)")
        if missing:
            raise SourceError(path, f"mancano le colonne: {', '.join(missing)} (trovate: {', '.join(cols)}; "
                              f"separatore letto: {table.separator!r})",
                              "usare il file ds171 del portale o le stesse intestazioni")
        assert code_col is not None and year_col is not None
        desc_col = _desc_column(cols, code_col)
        notes = [NOTE_SCOPE,
                 "colonne usate: " + ", ".join(f"{label}={c}" for label, c in (
                     ("anno", year_col), ("codice", code_col), ("divisione", division_col), ("imprese", firms_col),
                     ("unità locali", units_col), ("addetti imprese", emp_firms_col),
                     ("addetti unità locali", emp_units_col)) if c)]
        editions, edition_note = _editions(path, frame, code_col)
        notes.append(edition_note)

        number_cols = [c for c in (firms_col, units_col, emp_firms_col, emp_units_col) if c]
        decimal_comma = {c: True if frame[c].astype("string").str.contains(",", regex=False).any() else None
                         for c in (emp_firms_col, emp_units_col) if c}
        ragged = set(frame.attrs.get("ragged_rows", []))
        records = frame.to_dict("records")
        rejects: list[Reject] = []
        parsed: Parsed = []
        padded = 0
        for i, rec in enumerate(records):
            row = i + 1
            if row in ragged:
                rejects.append(Reject(row, rec, f"la riga ha un numero di campi diverso dall'intestazione "
                                                f"({len(cols)}): colonne spostate, riga non usata"))
                continue
            total_cell = next((v for v in (rec[year_col], rec[code_col], rec.get(division_col) if division_col else None)
                               if isinstance(v, str) and _TOTAL_RE.match(v)), None)
            if total_cell is not None:
                rejects.append(Reject(row, rec, f"riga di totale ({total_cell!r}): esclusa per non contare due volte"))
                continue
            try:
                year = parse_int(rec[year_col])
            except ValueError:
                year = None
            if year is None or not 1990 <= year <= 2100:
                rejects.append(Reject(row, rec, f"anno {rec[year_col]!r} mancante o non valido"))
                continue
            try:
                edition = ateco_map.normalise_edition(editions if isinstance(editions, str) else editions.iat[i])
                code = city_code(rec[code_col], width, rec.get(division_col) if division_col else None)
                cls = config.classify_detail(code, edition)
            except ValueError as exc:  # InvalidAtecoCode is a ValueError; so is an unknown edition
                rejects.append(Reject(row, rec, str(exc)))
                continue
            raw_code = str(rec[code_col]).strip()
            if width is not None and raw_code.isdigit() and len(raw_code) == width - 1:
                padded += 1
            values, problem, empty = _numbers(rec, number_cols, decimal_comma, (firms_col, units_col))
            if problem is not None:
                rejects.append(Reject(row, rec, problem))
                continue
            if len(empty) == len(number_cols):
                rejects.append(Reject(row, rec, "nessun numero nella riga (tutte le colonne dei conteggi vuote)"))
                continue
            if empty:
                rejects.append(Reject(row, rec, f"{', '.join(empty)} vuoto: lasciato senza valore (non zero)", "warning"))
            label = cls.label
            if cls.warning is not None:
                rejects.append(Reject(row, rec, cls.warning, "warning"))
                if label is None and desc_col is not None and rec.get(desc_col):
                    label = rec[desc_col]  # the file's own description, since ISTAT has none
            parsed.append((row, {
                "level": TERRITORY_LEVEL, "area_id": ctx.territory.id, "year": year, "ateco_code": cls.code,
                "ateco_edition": cls.edition, "ateco_label": label, "category": cls.category,
                "firms": values.get(firms_col) if firms_col else None,
                "units": values.get(units_col) if units_col else None,
                "employees_firms": values.get(emp_firms_col) if emp_firms_col else None,
                "employees_units": values.get(emp_units_col) if emp_units_col else None,
            }, rec))

        kept, subtotal_count = _drop_subtotals_and_duplicates(parsed, rejects)
        rows, overlap = _drop_already_loaded(kept, rejects, ctx, str(path))
        rejects.sort(key=lambda r: r.row_number or 0)
        if not rows and not overlap:
            first = rejects[0].reason if rejects else "-"
            raise SourceError(path, f"nessuna riga valida ({len(rejects)} scartate; la prima: {first})",
                              "controllare anno, codice ATECO e conteggi")
        out = pd.DataFrame(rows, columns=FRAME_COLUMNS)
        out = out.astype({"year": "int32", "firms": "Int64", "units": "Int64", "employees_firms": "float64",
                          "employees_units": "float64"})
        if overlap:
            notes.append(f"{overlap} righe già caricate da un altro file della stessa fonte (stesso anno e codice): "
                         "scartate per non contare due volte")
        if padded:
            notes.append(f"codici scritti senza lo zero iniziale della divisione completati: {padded} righe "
                         "(es. 1620 -> 01.62.0)")
        notes.append(f"righe di subtotale escluse: {subtotal_count}" if subtotal_count
                     else "nessuna riga di subtotale (a 2 cifre o di gruppo) nel file")
        for year, g in out.groupby("year"):
            notes.append(f"{year}: " + ", ".join(f"{label} {_fmt(g[c])}" for label, c in (
                ("imprese", "firms"), ("unità locali", "units"), ("addetti delle imprese", "employees_firms"),
                ("addetti delle unità locali", "employees_units")) if g[c].notna().any()))
        warned = Counter(r.reason.split(" ")[2] for r in rejects if r.action == "warning" and "inesistente" in r.reason)
        if warned:
            notes.append(f"codici ATECO inesistenti nella loro edizione, tenuti come 'other': {len(warned)} "
                         f"(es. {', '.join(sorted(warned)[:5])}; dettaglio in rejects)")
        trust, trust_note = _trust(path, cols)
        if trust_note:
            notes.append(trust_note)
        return LoadResult(table="firm_totals", frame=out, rows_read=len(frame), trust=trust, rejects=rejects,
                          notes=notes, encoding=table.encoding, file_format=f"csv sep={table.separator!r}",
                          reference_date=None, attribution="Comune di Milano")


def _desc_column(columns: list[str], code_col: str) -> str | None:
    """The description that goes with the detailed code column (`descr_ateco_impr_2007_5cifre`)."""
    descs = [c for c in columns if "ateco" in c and c.startswith(("desc", "descr", "des_"))]
    m = _WIDTH_RE.search(code_col)
    if m:
        same = [c for c in descs if (w := _WIDTH_RE.search(c)) and w.group(1) == m.group(1)]
        if same:
            return same[0]
    return descs[-1] if descs else None


def _editions(path: Path, frame: pd.DataFrame, code_col: str) -> tuple[pd.Series | str, str]:
    """The ATECO edition of every row, and a note that says where it came from."""
    m = _EDITION_IN_HEADER_RE.search(code_col)
    if m:
        return m.group(1), f"edizione ATECO {m.group(1)} dal nome della colonna {code_col}"
    ed_col = next((c for c in EDITION_COLUMNS if c in frame.columns), None)
    if ed_col is not None:
        return frame[ed_col].reset_index(drop=True), f"edizione ATECO dalla colonna {ed_col}"
    if "ds171" in path.name.lower():
        return "2007", "edizione ATECO 2007 assunta: il dataset ds171 è pubblicato in ATECO 2007"
    raise SourceError(path, f"edizione ATECO non indicata (la colonna {code_col} non la dice e manca 'edizione_ateco')",
                      "rinominare la colonna in ateco_2007_5cifre (o ateco_2025_...) oppure aggiungere edizione_ateco")


def _numbers(rec: dict[str, object], number_cols: list[str], decimal_comma: dict[str, bool | None],
             count_cols: tuple[str | None, str | None]) -> tuple[dict[str, float | int], str | None, list[str]]:
    """(parsed values, why the row is unusable or None, columns left empty)."""
    values: dict[str, float | int] = {}
    empty: list[str] = []
    for c in number_cols:
        raw = rec.get(c)
        try:
            value: float | int | None = parse_int(raw) if c in count_cols else parse_number(raw, decimal_comma.get(c))
        except ValueError:
            kind = "un numero intero" if c in count_cols else "un numero"
            return values, f"{c}={raw!r} non è {kind}", empty
        if value is None:
            empty.append(c)
            continue
        if value < 0:
            return values, f"{c} negativo ({raw})", empty
        values[c] = value
    return values, None, empty


def _drop_subtotals_and_duplicates(parsed: Parsed, rejects: list[Reject]) -> tuple[Parsed, int]:
    """Keep detail rows only: a code containing another code of the same year is a subtotal."""
    by_year: dict[object, set[str]] = defaultdict(set)
    for _, out, _ in parsed:
        by_year[out["year"]].add(str(out["ateco_code"]).replace(".", ""))
    ancestors: dict[object, set[str]] = {
        year: {d[:k] for d in digits for k in range(2, len(d))} for year, digits in by_year.items()}
    children_sum: dict[tuple[object, str], int] = defaultdict(int)
    for _, out, _ in parsed:
        digits = str(out["ateco_code"]).replace(".", "")
        for k in range(2, len(digits)):
            children_sum[(out["year"], digits[:k])] += int(out["units"] or 0)  # type: ignore[call-overload]
    rows: Parsed = []
    first_row: dict[tuple[object, str, str], int] = {}
    subtotals = 0
    for row, out, rec in parsed:
        code = str(out["ateco_code"])
        digits = code.replace(".", "")
        if digits in ancestors[out["year"]]:
            subtotals += 1
            rejects.append(Reject(row, rec, f"riga di subtotale: il codice {code} contiene codici più dettagliati "
                                            f"dello stesso anno (unità locali del dettaglio: "
                                            f"{children_sum[(out['year'], digits)]}); esclusa per non contare due volte"))
            continue
        key = (out["year"], code, str(out["ateco_edition"]))
        if key in first_row:
            rejects.append(Reject(row, rec, f"duplicato: anno {out['year']}, codice {code} già alla riga "
                                            f"{first_row[key]} (tenuta quella)"))
            continue
        first_row[key] = row
        rows.append((row, out, rec))
    return rows, subtotals


def _drop_already_loaded(kept: Parsed, rejects: list[Reject], ctx: BuildContext,
                         path: str) -> tuple[list[dict[str, object]], int]:
    """Rows whose (year, code, edition) an earlier file of this build already loaded are rejected."""
    loaded: dict[tuple[object, str, str], str] = ctx.extra.setdefault("firms_city_loaded", {})
    rows: list[dict[str, object]] = []
    overlap = 0
    for row, out, rec in kept:
        key = (out["year"], str(out["ateco_code"]), str(out["ateco_edition"]))
        earlier = loaded.get(key)
        if earlier is not None and earlier != path:
            overlap += 1
            rejects.append(Reject(row, rec, f"anno {out['year']}, codice {out['ateco_code']} già caricato da {earlier}: "
                                            "escluso per non contare due volte"))
            continue
        loaded[key] = path
        rows.append(out)
    return rows, overlap


def _fmt(values: pd.Series) -> str:
    total = float(values.sum())
    return f"{int(total):,}".replace(",", ".") if total.is_integer() else f"{total:,.2f}".replace(",", "_") \
        .replace(".", ",").replace("_", ".")


def _trust(path: Path, columns: list[str]) -> tuple[Trust, str | None]:
    if "ds171" in path.name.lower() or columns == OFFICIAL_COLUMNS:
        return "official", None
    return "derived", "file non riconosciuto come ds171 del portale: trattato come dato derivato"


SOURCE = FirmsCitySource()
