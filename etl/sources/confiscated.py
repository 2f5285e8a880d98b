"""Real estate confiscated from organised crime, owned by the Comune di Milano (ds147).

Columns (normalised): unita_immobiliare, tipologia, consistenza, indirizzo, municipio, foglio,
mappale, subalterno, tipologia_destinazione, utilizzazione, ente_assegnatario,
protocollo_repertorio, estremi_contratto, oggetto, durata_anni_contr, periodo_contratto_dal_al,
note, periodo. The file has **no coordinates**: each asset is placed in its Municipio only
(assignment 'parent_only'), so it counts in Municipio totals but not in NIL ones or maps. The
source declares `level = 'municipio'`: a territory without Milan's Municipi skips it.

Mapping into `places` (theme 'vacant'):
- source_key = foglio/mappale/subalterno (+ unita_immobiliare): the cadastral identity;
- category = tipologia; ownership 'public' (the assets are in the Comune's patrimony);
- status from utilizzazione / ente_assegnatario: 'vacant' only for clearly unused values,
  'assigned' when an assignee entity is named, otherwise NULL (raw text kept in attributes);
- area_m2 from consistenza only when it is clearly in m² ("45 mq", "mq 45", "45 m²"); other
  values ("3 vani", a bare number) stay NULL and raw in attributes.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust, sha256_of
from etl.places import finalise_places, level_ids
from etl.readers import parse_number, peek_columns, pick_column, read_table
from etl.sources.vacant_common import attributes_json, clean_text, remap_rejects, stable_key

THEME = "vacant"
_FILE_RX = re.compile(r"(ds147|confiscat)", re.IGNORECASE)
MUNICIPIO_COLUMNS = ["municipio", "municipio_di_riferimento", "mun", "zona"]
ADDRESS_COLUMNS = ["indirizzo", "ubicazione", "via"]
TYPE_COLUMNS = ["tipologia", "tipologia_immobile", "tipo"]
UNIT_COLUMNS = ["unita_immobiliare", "n_unita_immobiliare", "id", "n"]
# Header of the portal's file: enough of it to recognise ds147 whatever the file is called.
SIGNATURE = {"unita_immobiliare", "consistenza", "foglio", "mappale", "subalterno", "utilizzazione"}
_MONTHS = {m: i for i, m in enumerate(["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
                                       "settembre", "ottobre", "novembre", "dicembre"], start=1)}
KNOWN_COPIES = {
    "fe3f4598959d774e9cd0bae568d52950114ce581a1ffc72ff9091191d0471638":
        "copia da GitHub tommif13/test @ 63db2c65e45e1d097c8e2ea686a8965cc48c0342, "
        "data/ds147_elenco-beni-immobili-confiscati-03_2026.csv; dataset ufficiale ds147 del portale dati.comune.milano.it",
}

_M2 = r"(?:mq|m2|m²|m\.q\.|metri\s+quadr[a-z]*)"
_NUM = r"(\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:[.,]\d+)?)"
_M2_AFTER = re.compile(_NUM + r"\s*" + _M2 + r"(?![a-z])", re.IGNORECASE)
_M2_BEFORE = re.compile(r"(?<![a-z])" + _M2 + r"\.?\s*:?\s*" + _NUM, re.IGNORECASE)
# Unambiguous "not in use" values of utilizzazione (checked on accent-free lower-case text).
_UNUSED = re.compile(r"^(immobile\s+)?(libero|sfitto|vuoto|inutilizzat[oa]|non\s+(utilizzat[oa]|assegnat[oa]|in\s+uso)"
                     r"|da\s+assegnare)(\s|$|[.,;:-])")
# Values that say something is in progress or irregular: no status from them.
_AMBIGUOUS = re.compile(r"(in\s+(corso|fase)\s+di|bando|occupat[oa]|ristruttur|inagibil|sgombero|contenzios|in\s+attesa"
                        r"|da\s+(definire|verificare)|temporane)")


@dataclass(frozen=True)
class ConfiscatedSource:
    """ds147: confiscated real estate owned by the Comune (CSV, no coordinates)."""

    source_id: str = "confiscated"
    title: str = "Beni immobili confiscati alla criminalità organizzata"
    dataset: str | None = "ds147"
    licence: str = "CC BY 4.0 – Comune di Milano"
    table: str = "places"
    themes: tuple[str, ...] = ("vacant",)
    attribution: str = "Comune di Milano"
    single: bool = True  # the portal republishes the whole list: load only the newest file
    level: str = "municipio"  # the file carries Milan's Municipio numbers, no coordinates

    def find(self, raw_dir: Path) -> list[Path]:
        """CSV files with the ds147 header, or named ds147…/…confiscat… with a Municipio and an address column;
        newest edition first (MM_YYYY in the name)."""
        hits = []
        for p in Path(raw_dir).rglob("*"):
            if not p.is_file() or p.suffix.lower() != ".csv":
                continue
            columns = set(peek_columns(p))
            by_header = SIGNATURE <= columns
            by_name = bool(_FILE_RX.search(p.stem)) and (not columns or (
                bool(columns & set(MUNICIPIO_COLUMNS)) and bool(columns & set(ADDRESS_COLUMNS))))
            if by_header or by_name:
                hits.append(p)
        return sorted(hits, key=lambda p: (_edition(p.stem), str(p)), reverse=True)

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        """Read the CSV, map its columns, place each asset in its Municipio."""
        table = read_table(path, required_any={"municipio": MUNICIPIO_COLUMNS, "indirizzo": ADDRESS_COLUMNS})
        src = table.frame
        mun_col = pick_column(src.columns, MUNICIPIO_COLUMNS)
        addr_col = pick_column(src.columns, ADDRESS_COLUMNS)
        type_col = pick_column(src.columns, TYPE_COLUMNS)
        unit_col = pick_column(src.columns, UNIT_COLUMNS)
        assert mun_col is not None and addr_col is not None  # checked by read_table
        valid = level_ids(ctx, self.level)
        if not valid:
            raise SourceError(path, f"il file colloca i beni solo per Municipio e il territorio {ctx.territory.name_it} "
                              "non ha il livello 'municipio' (o i suoi confini non sono caricati)",
                              "usare questo file solo nella costruzione del Comune di Milano")
        records: list[dict[str, Any]] = src.to_dict("records")
        rejects: list[Reject] = [Reject(r, records[r - 1], "riga con un numero di campi diverso dall'intestazione: "
                                        "campi mancanti lasciati vuoti o in eccesso scartati", "warning")
                                 for r in src.attrs.get("ragged_rows", [])]
        rows: list[dict[str, Any]] = []
        raws: list[dict[str, Any]] = []
        positions: list[int] = []
        area_parsed = 0
        for i, rec in enumerate(records, start=1):
            municipio, problem = parse_municipio(rec.get(mun_col), valid)
            if problem:
                rejects.append(Reject(i, rec, f"{problem}: senza coordinate il bene non si può collocare"))
                continue
            unit = _code(rec.get(unit_col)) if unit_col else None
            sheet, parcel, sub = (_code(rec.get(c)) for c in ("foglio", "mappale", "subalterno"))
            if sheet or parcel or sub:
                key = f"fg{sheet or '-'}-map{parcel or '-'}-sub{sub or '-'}" + (f"-u{unit}" if unit else "")
            elif unit:
                key = f"u{unit}"
            else:
                key = stable_key("ds147", *(rec.get(c) for c in src.columns))
            typology = clean_text(rec.get(type_col)) if type_col else None
            area = parse_area_m2(rec.get("consistenza"))
            area_parsed += area is not None
            label = typology or "Bene confiscato"
            if unit:
                name = f"{label} (unità {unit})"
            else:
                name = f"{label} (fg. {sheet or '-'}, map. {parcel or '-'}, sub. {sub or '-'})"
            rows.append({
                "source_key": key,
                "name": name,
                "address": clean_text(rec.get(addr_col)),
                "lon": np.nan,
                "lat": np.nan,
                "municipio_file": municipio,
                "category": typology,
                "status": status_from_use(rec.get("utilizzazione"), rec.get("ente_assegnatario")),
                "ownership": "public",
                "area_m2": np.nan if area is None else area,
                "attributes": attributes_json({c: rec.get(c) for c in src.columns if c not in (addr_col, mun_col)}),
                "geom_wkb": None,
            })
            raws.append(rec)
            positions.append(i)
        if not rows:
            first = rejects[0].reason if rejects else "-"
            raise SourceError(path, f"nessuna riga utilizzabile ({len(rejects)} scartate; la prima: {first})",
                              f"controllare la colonna municipio (atteso {_expected(valid)})")
        places, place_rejects = finalise_places(pd.DataFrame(rows), ctx, raws, THEME)
        rejects += remap_rejects(place_rejects, positions)
        rejects.sort(key=lambda r: (r.row_number or 0))
        status = places["status"].value_counts(dropna=False)
        notes = [
            "nessuna coordinata: assegnati al solo Municipio (assignment 'parent_only'; esclusi da NIL e mappe)",
            "proprietà pubblica: beni confiscati trasferiti al patrimonio indisponibile del Comune",
            "status da utilizzazione/ente_assegnatario: "
            f"{int(status.get('assigned', 0))} assigned, {int(status.get('vacant', 0))} vacant, "
            f"{int(places['status'].isna().sum())} non determinabili (testo originale negli attributi)",
            f"superficie in m² ricavata da 'consistenza' solo se espressa in mq: {area_parsed} su {len(rows)}",
        ]
        reference, date_notes = reference_date(path, [rec.get("periodo") for rec in records])
        notes += date_notes
        trust: Trust = "official"
        return LoadResult(table="places", frame=places, rows_read=len(records), trust=trust, rejects=rejects,
                          notes=notes, crs=None, encoding=table.encoding, file_format=f"csv sep={table.separator!r}",
                          reference_date=reference, attribution=self.attribution, origin=_origin(path))


def reference_date(path: Path, periods: list[object]) -> tuple[dt.date | None, list[str]]:
    """Last day of the edition month in the file name (…-03_2026 -> 2026-03-31), checked against `periodo`."""
    year, month = _edition(Path(path).stem)
    stated = {_period(v) for v in periods if clean_text(v)}
    stated.discard(None)
    notes = []
    if year and month:
        ref = dt.date(year, month, calendar.monthrange(year, month)[1])
        notes.append(f"reference_date {ref.isoformat()}: ultimo giorno del mese dell'edizione {month:02d}/{year} "
                     "indicata nel nome del file (il giorno non è indicato)")
        if stated and stated != {(year, month)}:
            found = ", ".join(f"{m:02d}/{y}" for y, m in sorted(s for s in stated if s))
            notes.append(f"attenzione: la colonna 'periodo' indica {found}, diverso dall'edizione nel nome del file")
        elif stated:
            notes.append("la colonna 'periodo' conferma l'edizione")
        return ref, notes
    if len(stated) == 1:
        y, m = next(iter(stated))  # type: ignore[misc]
        ref = dt.date(y, m, calendar.monthrange(y, m)[1])
        return ref, [f"reference_date {ref.isoformat()}: dalla colonna 'periodo' (nome del file senza edizione)"]
    return None, ["edizione non indicata né nel nome del file né nella colonna 'periodo': reference_date vuota"]


def _period(value: object) -> tuple[int, int] | None:
    """('marzo 2026') -> (2026, 3); None when not a month and a year."""
    m = re.fullmatch(r"([a-z]+)\s+(20\d\d)", _plain(clean_text(value) or ""))
    if m and m.group(1) in _MONTHS:
        return int(m.group(2)), _MONTHS[m.group(1)]
    return None


def _origin(path: Path) -> str | None:
    try:
        return KNOWN_COPIES.get(sha256_of(path))
    except OSError:
        return None


def parse_municipio(value: object, valid: set[int] | frozenset[int]) -> tuple[int | None, str | None]:
    """(Municipio id in `valid`, None) or (None, problem) from '4', '4.0', 'Municipio 4', 'MUNICIPIO 4'."""
    text = clean_text(value)
    if text is None:
        return None, "municipio mancante"
    m = re.fullmatch(r"(?:municipio|mun\.?|zona)?\s*(\d{1,2})(?:[.,]0+)?", text, re.IGNORECASE)
    if m and int(m.group(1)) in valid:
        return int(m.group(1)), None
    expected = _expected(valid)
    return None, f"municipio {text!r} non valido (atteso {expected})"


def _expected(valid: set[int] | frozenset[int]) -> str:
    """'un numero da 1 a 9' for contiguous ids, else 'uno di 2, 7'."""
    if not valid:
        return "un Municipio"
    lo, hi = min(valid), max(valid)
    if len(valid) == hi - lo + 1:
        return f"un numero da {lo} a {hi}"
    return "uno di " + ", ".join(str(i) for i in sorted(valid))


def parse_area_m2(value: object) -> float | None:
    """Square metres from a consistenza text that states m² explicitly; None otherwise.

    '45 mq', 'mq 45', '45,5 m²', '1.200 mq' -> number; '3 vani', '45', '45 mq + 3 mq' -> None
    (rooms, no unit, or several quantities: the raw text stays in the attributes).
    """
    text = clean_text(value)
    if text is None:
        return None
    found = [m.group(1) for m in _M2_AFTER.finditer(text)] or [m.group(1) for m in _M2_BEFORE.finditer(text)]
    if len(found) != 1:
        return None
    try:
        number = parse_number(found[0], decimal_comma=True)
    except ValueError:
        return None
    return number if number is not None and number > 0 else None


def status_from_use(use: object, assignee: object) -> str | None:
    """'vacant' for clearly unused, 'assigned' when an assignee is named, else None (see module docstring)."""
    text = _plain(clean_text(use) or "")
    has_assignee = clean_text(assignee) is not None
    if text and _AMBIGUOUS.search(text):
        return None
    if text and _UNUSED.search(text):
        return None if has_assignee else "vacant"
    return "assigned" if has_assignee else None


def _plain(text: str) -> str:
    """Lower-case, accent-free, single-spaced text (keeps every word, unlike places.normalise_text)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def _code(value: object) -> str | None:
    """Cadastral code as text: '123.0' -> '123', ' 7 ' -> '7'."""
    text = clean_text(value)
    if text is None:
        return None
    return re.sub(r"^(\d+)[.,]0+$", r"\1", text)


def _edition(stem: str) -> tuple[int, int]:
    """(year, month) of an edition in a file name like ..._01_2026 or ...-2025-06; (0, 0) if none."""
    m = re.search(r"(?<!\d)(0?[1-9]|1[0-2])[-_](20\d\d)(?!\d)", stem)
    if m:
        return int(m.group(2)), int(m.group(1))
    m = re.search(r"(?<!\d)(20\d\d)(?:[-_]?(0[1-9]|1[0-2]))?(?!\d)", stem)
    if m:
        return int(m.group(1)), int(m.group(2) or 0)
    return 0, 0


SOURCE = ConfiscatedSource()
