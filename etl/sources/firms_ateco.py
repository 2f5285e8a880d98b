"""Local units by ATECO code and NIL (Comune di Milano ds201, aggregated, ATECO 2007).

Official layout (2010): `anno; idnil; nil; ateco_2007_ul; desc_ateco_2007_ul; numero_ul;
media_addetti_ul`, one row per year, NIL and ATECO code. Rows go to `firm_units` with the
code normalised, its ATECO edition (from the column name, e.g. `ateco_2007_ul` -> 2007), the
ISTAT label of that edition and the programme category (config/ateco_categories.toml).

Rules:
- the NIL is identified by its numeric id only (statistical products reuse ids 1-88 with
  older names): ids that are not among the loaded NIL are rejected, the name is ignored;
- total rows and rows with a non-numeric id are rejected with the reason;
- numbers may use decimal commas (`media_addetti_ul` "2,5") and thousands dots;
- a second row for the same (NIL, year, code, edition) is rejected (the first is kept);
- a well-formed code that does not exist in its edition is kept as category 'other' with a
  warning; a malformed code is rejected.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from etl import ateco_map
from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust
from etl.readers import ids_of_level, parse_int, parse_number, peek_columns, read_table

OFFICIAL_COLUMNS = ["anno", "idnil", "nil", "ateco_2007_ul", "desc_ateco_2007_ul", "numero_ul", "media_addetti_ul"]
ID_COLUMNS = ["idnil", "id_nil", "district_id", "id_quartiere"]
YEAR_COLUMNS = ["anno", "year", "anno_riferimento"]
UNITS_COLUMNS = ["numero_ul", "n_ul", "numero_unita_locali", "unita_locali", "ul", "units"]
AVG_COLUMNS = ["media_addetti_ul", "media_addetti", "addetti_medi", "avg_employees"]
EDITION_COLUMNS = ["edizione_ateco", "ateco_edition", "edizione"]
NAME_COLUMNS = ["nil", "nome_nil", "quartiere"]
# Header signatures shared by the three firm sources (see `firm_file_kind`).
LON_HEADERS = {"lon", "long", "lng", "longitudine", "longitude", "long_x_4326", "x"}
LAT_HEADERS = {"lat", "latitudine", "latitude", "lat_y_4326", "y"}
NIL_HEADERS = {"idnil", "id_nil", "district_id", "id_quartiere"}
MUNICIPIO_HEADERS = {"municipio", "id_municipio"}
# Counts per code: only an aggregate has them (ds201 `numero_ul`, ds171 `n_imprese`, `n_unita_locali`).
COUNT_HEADERS = set(UNITS_COLUMNS) | {"n_imprese", "numero_imprese", "num_imprese", "imprese", "n_unita_locali",
                                     "num_unita_locali", "numero_unita_locali_ul"}
FirmFileKind = Literal["points", "per_nil", "city"]
FRAME_COLUMNS = ["district_id", "year", "ateco_code", "ateco_edition", "ateco_label", "category", "units", "avg_employees"]

_TOTAL_RE = re.compile(r"^\s*(tot(ale|al)?|totale\s+generale|complessivo|milano)\b\.?", re.IGNORECASE)
_YEAR_IN_NAME_RE = re.compile(r"(?<!\d)(19[89]\d|20[0-4]\d)(?!\d)")
_EDITION_IN_HEADER_RE = re.compile(r"(?<!\d)(2007|2022|2025)(?!\d)")


def ateco_code_column(columns: list[str] | pd.Index) -> str | None:
    """The column holding ATECO codes: mentions 'ateco', is not a description or an edition."""
    for c in columns:
        if "ateco" in c and not c.startswith(("desc", "descr", "des_")) and "edizion" not in c \
                and "edition" not in c and "label" not in c:
            return c
    return None


def firm_file_kind(columns: list[str] | pd.Index) -> FirmFileKind | None:
    """Which firm source a (normalised) header belongs to, from its columns alone.

    - 'points': an ATECO code and a location (lon+lat, NIL id or Municipio), no count columns;
    - 'per_nil': an ATECO code, a NIL id and a count of local units (ds201 layout);
    - 'city': an ATECO code and counts, no location at all (ds171 layout: the whole city);
    - None: anything else (no ATECO code, or counts per Municipio, which no source reads).
    """
    cols = set(columns)
    if ateco_code_column(list(columns)) is None:
        return None
    has_counts = bool(cols & COUNT_HEADERS)
    has_nil = bool(cols & NIL_HEADERS)
    has_lonlat = bool(cols & LON_HEADERS) and bool(cols & LAT_HEADERS)
    has_municipio = bool(cols & MUNICIPIO_HEADERS)
    if not has_counts:
        return "points" if has_lonlat or has_nil or has_municipio else None
    if has_nil and cols & set(UNITS_COLUMNS):
        return "per_nil"
    if not (has_nil or has_lonlat or has_municipio):
        return "city"
    return None


def ateco_desc_column(columns: list[str] | pd.Index) -> str | None:
    """The column with the activity description, if any."""
    for c in columns:
        if "ateco" in c and c.startswith(("desc", "descr", "des_")):
            return c
    return next((c for c in ("descrizione_ateco", "descrizione", "attivita") if c in columns), None)


@dataclass(frozen=True)
class FirmsAtecoSource:
    """ds201 and files with the same layout (one row per year, NIL and ATECO code)."""

    source_id: str = "firms_ateco"
    title: str = "Unità locali per settore di attività (ATECO) e NIL"
    dataset: str | None = "ds201"
    licence: str = "CC BY 4.0 – Comune di Milano"
    table: str = "firm_units"
    themes: tuple[str, ...] = ("firm", "firm_units")
    single: bool = False  # every file found is loaded (e.g. one per year)
    level: str = "nil"  # ds201: counts per Milan NIL
    config_path: Path = ateco_map.DEFAULT_CONFIG

    def find(self, raw_dir: Path) -> list[Path]:
        """CSVs with the per-NIL header (ATECO code, NIL id, local units: `firm_file_kind` 'per_nil').

        A file named ds201* whose header fits no firm layout is claimed too, so that its load
        says what is wrong instead of the dataset silently going missing.
        """
        out = []
        for p in sorted(Path(raw_dir).rglob("*.csv")):
            if p.name.startswith((".", "~$")):
                continue
            cols = peek_columns(p)
            kind = firm_file_kind(cols)
            if kind == "per_nil" or (kind is None and p.name.lower().startswith("ds201")):
                out.append(p)
        return out

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        """Read, validate and classify one file into `firm_units` rows."""
        config = ateco_map.load_config(self.config_path)
        known_nil = ids_of_level(ctx, self.level, path)
        table = read_table(path)
        frame = table.frame
        cols = list(frame.columns)
        id_col = next((c for c in ID_COLUMNS if c in cols), None)
        code_col = ateco_code_column(cols)
        units_col = next((c for c in UNITS_COLUMNS if c in cols), None)
        missing = [label for label, c in (("id NIL (idnil)", id_col), ("codice ATECO", code_col),
                                          ("numero di unità locali (numero_ul)", units_col)) if c is None]
        if missing:
            raise SourceError(path, f"mancano le colonne: {', '.join(missing)} (trovate: {', '.join(cols)}; "
                              f"separatore letto: {table.separator!r})",
                              "usare il file ds201 del portale o le stesse intestazioni")
        assert id_col is not None and code_col is not None and units_col is not None
        year_col = next((c for c in YEAR_COLUMNS if c in cols), None)
        avg_col = next((c for c in AVG_COLUMNS if c in cols), None)
        desc_col = ateco_desc_column(cols)
        name_col = next((c for c in NAME_COLUMNS if c in cols and c != id_col), None)
        notes = [f"colonne usate: id NIL={id_col}, anno={year_col or '-'}, codice={code_col}, "
                 f"unità={units_col}, addetti medi={avg_col or '-'}"]
        if name_col:
            notes.append(f"colonna {name_col} (nome del NIL) ignorata: si usa solo l'id")

        editions, edition_note = _editions(path, frame, code_col)
        notes.append(edition_note)
        file_year: int | None = None
        if year_col is None:
            m = _YEAR_IN_NAME_RE.search(path.name)
            if m is None:
                raise SourceError(path, "anno non indicato (né colonna 'anno' né anno nel nome del file)",
                                  "aggiungere la colonna 'anno' o l'anno nel nome del file")
            file_year = int(m.group(1))
            notes.append(f"anno dal nome del file: {file_year}")

        decimal_comma = True if avg_col and frame[avg_col].astype("string").str.contains(",", regex=False).any() \
            else None
        classes = ateco_map.classify_table(frame[code_col], editions, config)
        records = frame.to_dict("records")
        rows: list[dict[str, object]] = []
        rejects: list[Reject] = []
        first_row: dict[tuple[int, int, str, str], int] = {}
        warned_codes: Counter[str] = Counter()
        for i, rec in enumerate(records):
            row = i + 1
            raw_id = rec[id_col]
            cls = classes.iloc[i]
            id_is_int = _is_int(raw_id)
            cells = (raw_id, rec[code_col]) if id_is_int else (raw_id, rec[code_col], rec.get(name_col) if name_col else None)
            total_cell = next((v for v in cells if isinstance(v, str) and _TOTAL_RE.match(v)), None)
            if total_cell is not None:
                rejects.append(Reject(row, rec, f"riga di totale ({total_cell!r}): esclusa per non contare due volte"))
                continue
            if raw_id is None:
                rejects.append(Reject(row, rec, f"{id_col} mancante: riga non riferita a un NIL"))
                continue
            try:
                district_id = parse_int(raw_id)
            except ValueError:
                rejects.append(Reject(row, rec, f"{id_col}={raw_id!r} non numerico: riga non riferita a un NIL"))
                continue
            assert district_id is not None
            if district_id not in known_nil:
                rejects.append(Reject(row, rec, f"NIL {district_id} sconosciuto: non è tra i NIL caricati "
                                                "(si usa l'id, mai il nome)"))
                continue
            year = file_year
            if year_col is not None:
                try:
                    year = parse_int(rec[year_col])
                except ValueError:
                    year = None
                if year is None or not 1990 <= year <= 2100:
                    rejects.append(Reject(row, rec, f"anno {rec[year_col]!r} mancante o non valido"))
                    continue
            if cls["problem"] is not None:
                rejects.append(Reject(row, rec, str(cls["problem"])))
                continue
            try:
                units = parse_int(rec[units_col])
            except ValueError:
                rejects.append(Reject(row, rec, f"{units_col}={rec[units_col]!r} non è un numero intero"))
                continue
            if units is None or units < 0:
                reason = "mancante" if units is None else f"negativo ({units})"
                rejects.append(Reject(row, rec, f"{units_col} {reason}"))
                continue
            avg: float | None = None
            if avg_col is not None:
                try:
                    avg = parse_number(rec[avg_col], decimal_comma=decimal_comma)
                except ValueError:
                    rejects.append(Reject(row, rec, f"{avg_col}={rec[avg_col]!r} non numerico"))
                    continue
                if avg is not None and avg < 0:
                    rejects.append(Reject(row, rec, f"{avg_col} negativo ({avg})"))
                    continue
            code, edition = str(cls["ateco_code"]), str(cls["ateco_edition"])
            key = (district_id, int(year), code, edition)  # type: ignore[arg-type]
            if key in first_row:
                rejects.append(Reject(row, rec, f"duplicato: NIL {district_id}, anno {year}, codice {code} già alla riga "
                                                f"{first_row[key]} (tenuta quella)"))
                continue
            first_row[key] = row
            label = cls["ateco_label"]
            if cls["warning"] is not None:
                rejects.append(Reject(row, rec, str(cls["warning"]), "warning"))
                warned_codes[code] += 1
                if label is None and desc_col is not None and rec.get(desc_col):
                    label = rec[desc_col]  # the file's own description, since ISTAT has none
            rows.append({"district_id": district_id, "year": year, "ateco_code": code, "ateco_edition": edition,
                         "ateco_label": label, "category": cls["category"], "units": units, "avg_employees": avg})
        if not rows:
            first = rejects[0].reason if rejects else "-"
            raise SourceError(path, f"nessuna riga valida ({len(rejects)} scartate; la prima: {first})",
                              f"controllare che idnil contenga i numeri dei NIL ({min(known_nil)}-{max(known_nil)}) "
                              "e che ci sia il codice ATECO")
        out = pd.DataFrame(rows, columns=FRAME_COLUMNS)
        out = out.astype({"district_id": "int32", "year": "int32", "units": "int64", "avg_employees": "float64"})
        by_cat = out.groupby("category")["units"].sum().sort_index()
        notes.append("unità locali per categoria: " + ", ".join(f"{k}={int(v)}" for k, v in by_cat.items()))
        if warned_codes:
            notes.append(f"codici ATECO inesistenti nella loro edizione, classificati 'other': {len(warned_codes)} "
                         f"(es. {', '.join(sorted(warned_codes)[:5])}; dettaglio in rejects)")
        trust, trust_note = _trust(path, cols)
        if trust_note:
            notes.append(trust_note)
        return LoadResult(table="firm_units", frame=out, rows_read=len(frame), trust=trust, rejects=rejects,
                          notes=notes, encoding=table.encoding, file_format=f"csv sep={table.separator!r}")


def _is_int(value: object) -> bool:
    try:
        return parse_int(value) is not None
    except ValueError:
        return False


def _editions(path: Path, frame: pd.DataFrame, code_col: str) -> tuple[pd.Series | str, str]:
    """The ATECO edition of every row, and a note that says where it came from."""
    m = _EDITION_IN_HEADER_RE.search(code_col)
    if m:
        return m.group(1), f"edizione ATECO {m.group(1)} dal nome della colonna {code_col}"
    ed_col = next((c for c in EDITION_COLUMNS if c in frame.columns), None)
    if ed_col is not None:
        return frame[ed_col], f"edizione ATECO dalla colonna {ed_col}"
    if "ds201" in path.name.lower():
        return "2007", "edizione ATECO 2007 assunta: il dataset ds201 è pubblicato in ATECO 2007"
    raise SourceError(path, f"edizione ATECO non indicata (la colonna {code_col} non la dice e manca 'edizione_ateco')",
                      "rinominare la colonna in ateco_2007_ul (o ateco_2025) oppure aggiungere la colonna edizione_ateco")


def _trust(path: Path, columns: list[str]) -> tuple[Trust, str | None]:
    if "ds201" in path.name.lower() or columns == OFFICIAL_COLUMNS:
        return "official", None
    return "derived", "file non riconosciuto come ds201 del portale: trattato come dato derivato"


SOURCE = FirmsAtecoSource()
