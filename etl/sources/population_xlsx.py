"""Residents per NIL and sex at a stated date (Comune di Milano, Unità Servizi Statistici), XLSX.

Layout of `NIL_sesso_2022.xlsx` (one sheet): a blank row, two title rows
("Popolazione residente nel Comune di Milano al 31/12/2022", "per NIL ... e sesso"), a header
`NIL, (name), Femmine, Maschi, Totale`, one row per NIL, a `Totale` row and a footer with the
source. The file is recognised by that content (title + header), not by its name.

- the reference date (and so the year) is read from the title row, never assumed;
- rows are joined on the numeric NIL id (the names are the statistical spelling);
- the sum of the NIL rows must equal the `Totale` row, or the file is refused;
- a NIL of the loaded boundaries that the file does not list is recorded as a warning
  (no residents for that date), never written as 0.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from etl.base import BuildContext, LoadResult, Reject, SourceError
from etl.readers import ids_of_level, implausible_residents, normalise_header
from etl.sources.point_files import candidate_files

TITLE_RE = re.compile(r"popolazione\s+residente.*?\bal\s+(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", re.IGNORECASE | re.DOTALL)
NAME_RE = re.compile(r"popolazion|resident|nil[\s_-]*sesso", re.IGNORECASE)
PEEK_ROWS = 12
ATTRIBUTION = "Comune di Milano"
LICENCE = "CC BY 4.0 (licenza predefinita del portale; da verificare)"


@dataclass(frozen=True)
class _Layout:
    """Where things are in the sheet (0-based row, column indexes)."""

    title: str
    reference_date: date
    header_row: int
    id_col: int
    total_col: int
    female_col: int | None
    male_col: int | None


def _open_rows(path: Path) -> list[tuple[Any, ...]]:
    """All rows of the first sheet as value tuples; SourceError when the file cannot be read."""
    if path.stat().st_size == 0:
        raise SourceError(path, "il file è vuoto (0 byte)", "scaricare di nuovo il file XLSX dal portale")
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError) as exc:
        raise SourceError(path, f"file Excel illeggibile o danneggiato ({type(exc).__name__}: {exc})",
                          "riaprire il file in Excel/LibreOffice e salvarlo di nuovo come .xlsx, "
                          "oppure scaricarlo di nuovo") from exc
    try:
        if not wb.worksheets:
            raise SourceError(path, "il file Excel non contiene fogli", "scaricare di nuovo il file")
        return [tuple(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    except SourceError:
        raise
    except Exception as exc:  # openpyxl raises several types while streaming a damaged sheet
        raise SourceError(path, f"foglio Excel illeggibile ({type(exc).__name__}: {exc})",
                          "riaprire il file in Excel/LibreOffice e salvarlo di nuovo come .xlsx") from exc
    finally:
        wb.close()


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def detect_layout(rows: list[tuple[Any, ...]]) -> _Layout | None:
    """The title with its date and the header row, if this is the residents-per-NIL sheet."""
    title: tuple[str, date] | None = None
    for i, row in enumerate(rows[:PEEK_ROWS]):
        cells = [normalise_header(_text(v)) for v in row]
        if title is None:
            for v in row:
                m = TITLE_RE.search(_text(v))
                if m:
                    day, month, year = (int(g) for g in m.groups())
                    try:
                        title = (_text(v), date(year, month, day))
                    except ValueError:
                        return None
                    break
            continue
        if cells and cells[0] in ("nil", "id_nil", "idnil") and "totale" in cells:
            return _Layout(title=title[0], reference_date=title[1], header_row=i, id_col=0,
                           total_col=cells.index("totale"),
                           female_col=cells.index("femmine") if "femmine" in cells else None,
                           male_col=cells.index("maschi") if "maschi" in cells else None)
    return None


def _peek(path: Path) -> bool | None:
    """True: the residents-per-NIL sheet; False: another workbook; None: unreadable."""
    try:
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            if not wb.worksheets:
                return None
            rows = [tuple(r) for r in wb.worksheets[0].iter_rows(max_row=PEEK_ROWS, values_only=True)]
        finally:
            wb.close()
    except Exception:  # noqa: BLE001 - any failure means "cannot tell": load() explains it
        return None
    return detect_layout(rows) is not None


def _fmt(n: int) -> str:
    """1396673 -> '1.396.673' (Italian thousands)."""
    return f"{n:,}".replace(",", ".")


def _int_cell(value: object) -> int | None:
    """An integer cell (int, integral float, or digits as text), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = _text(value).replace(".", "").replace(" ", "")
    return int(text) if text.isdigit() else None


@dataclass(frozen=True)
class PopulationXlsxSource:
    source_id: str = "population_nil_xlsx"
    title: str = "Popolazione residente per NIL e sesso (Comune di Milano, Unità Servizi Statistici)"
    dataset: str | None = None  # published as a statistics table, no dsNNN code
    licence: str = LICENCE
    table: str = "population"
    attribution: str = ATTRIBUTION
    single: bool = False  # one file per date: every edition found is kept (a dated series)
    level: str = "nil"  # the file carries Milan's NIL ids
    themes: tuple[str, ...] = ("population",)
    file_hint: str = "XLSX 'Popolazione residente ... al GG/MM/AAAA' per NIL e sesso (es. NIL_sesso_2022.xlsx)"

    def find(self, raw_dir: Path) -> list[Path]:
        """XLSX files whose first sheet has the title and header above (by content).

        An unreadable XLSX whose name speaks of population is returned too, so that the build
        says why it cannot be used instead of ignoring it.
        """
        from etl.sources.census import claimed_by_census

        out = []
        for p in candidate_files(raw_dir, (".xlsx", ".xlsm")):
            if claimed_by_census(p, raw_dir):
                continue
            if p.stat().st_size == 0:
                if NAME_RE.search(p.stem):
                    out.append(p)
                continue
            seen = _peek(p)
            if seen or (seen is None and NAME_RE.search(p.stem)):
                out.append(p)
        return out

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        path = Path(path)
        rows = _open_rows(path)
        layout = detect_layout(rows)
        if layout is None:
            raise SourceError(path, "foglio non riconosciuto: mancano il titolo 'Popolazione residente ... al "
                              "GG/MM/AAAA' e l'intestazione 'NIL ... Totale' nelle prime righe",
                              "usare la tavola 'Popolazione residente per NIL e sesso' dell'Unità Servizi Statistici")
        ref = layout.reference_date
        known = ids_of_level(ctx, self.level, path, required=False)
        areas = ctx.boundaries(self.level)
        names = ({int(i): str(n) for i, n in zip(areas["id"], areas["name"], strict=True)}
                 if areas is not None else {})
        out: list[dict[str, Any]] = []
        rejects: list[Reject] = []
        seen: set[int] = set()
        stated_total: int | None = None
        file_sum = 0  # Σ of the Totale column over every row above the 'Totale' row
        data_rows = 0
        footer: list[str] = []
        body = rows[layout.header_row + 1:]
        for n, row in enumerate(body, start=1):
            cells = list(row)
            if all(_text(v) == "" for v in cells):
                continue
            raw = {f"col_{j + 1}": v for j, v in enumerate(cells) if v is not None}
            first = cells[layout.id_col] if len(cells) > layout.id_col else None
            if stated_total is not None:  # after the Totale row: footer (source, notes)
                footer.append(" ".join(_text(v) for v in cells if _text(v)))
                continue
            if normalise_header(_text(first)) == "totale":
                stated_total = _int_cell(cells[layout.total_col])
                if stated_total is None:
                    raise SourceError(path, f"riga 'Totale' senza un numero nella colonna Totale "
                                      f"({cells[layout.total_col]!r})", "controllare il file", row=n)
                continue
            data_rows += 1
            file_sum += _int_cell(cells[layout.total_col]) or 0
            district_id = _int_cell(first)
            if district_id is None:
                rejects.append(Reject(n, raw, f"NIL={first!r}: riga non riferita a un NIL (id non numerico)"))
                continue
            if known and district_id not in known:
                rejects.append(Reject(n, raw, f"NIL {district_id} sconosciuto: non è tra i NIL caricati"))
                continue
            total = _int_cell(cells[layout.total_col])
            if total is None or implausible_residents(total) is not None:
                why = implausible_residents(total) or "non è un numero"
                rejects.append(Reject(n, raw, f"Totale residenti non valido ({cells[layout.total_col]!r}: {why})"))
                continue
            if district_id in seen:
                rejects.append(Reject(n, raw, f"NIL {district_id} duplicato: tenuta la prima riga"))
                continue
            if layout.female_col is not None and layout.male_col is not None:
                f, m = _int_cell(cells[layout.female_col]), _int_cell(cells[layout.male_col])
                if f is not None and m is not None and f + m != total:
                    rejects.append(Reject(n, raw, f"Femmine ({f}) + Maschi ({m}) = {f + m} diverso dal Totale "
                                      f"({total}): usato il Totale", "warning"))
            seen.add(district_id)
            out.append({"level": "nil", "district_id": district_id, "year": ref.year,
                        "reference_date": pd.Timestamp(ref), "residents": total})
        if not out:
            raise SourceError(path, f"nessuna riga valida di residenti per NIL ({len(rejects)} scartate)",
                              "controllare che la prima colonna contenga i numeri dei NIL (1-88)")
        loaded_sum = sum(r["residents"] for r in out)
        notes = [f"titolo: {layout.title!r}; data di riferimento {ref.isoformat()} letta dal titolo",
                 "join sul numero del NIL (i nomi del file seguono la grafia statistica)"]
        if stated_total is None:
            notes.append("riga 'Totale' assente: somma delle righe non verificabile")
        elif file_sum != stated_total:
            raise SourceError(path, f"la somma delle righe NIL ({_fmt(file_sum)}) è diversa dalla riga 'Totale' "
                              f"({_fmt(stated_total)})", "il file è incompleto o modificato: scaricarlo di nuovo")
        else:
            notes.append(f"somma delle righe NIL = riga 'Totale' = {_fmt(stated_total)}: verificata")
            if loaded_sum != stated_total:
                notes.append(f"residenti caricati {_fmt(loaded_sum)} su {_fmt(stated_total)} (righe scartate: vedi rejects)")
        for district_id in sorted(known - seen):
            label = f"NIL {district_id}" + (f" ({names[district_id]})" if district_id in names else "")
            rejects.append(Reject(None, {"nil": district_id, "name": names.get(district_id)},
                                  f"{label} assente nel file: nessun dato di residenti al {ref:%d/%m/%Y} "
                                  "(non è uno zero)", "warning"))
        missing = sorted(known - seen)
        if missing:
            notes.append("NIL assenti nel file (nessun dato, non zero): " + ", ".join(str(i) for i in missing))
        if footer:
            notes.append("piè di pagina: " + " | ".join(re.sub(r"\s+", " ", f) for f in footer))
        frame = pd.DataFrame(out, columns=["level", "district_id", "year", "reference_date", "residents"])
        frame["year"] = frame["year"].astype("Int64")
        return LoadResult(table="population", frame=frame, rows_read=data_rows,
                          trust="official", rejects=rejects, notes=notes, file_format="xlsx",
                          licence=LICENCE, reference_date=ref, attribution=ATTRIBUTION)


SOURCE = PopulationXlsxSource()
