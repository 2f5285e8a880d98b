"""Resident population per NIL.

Two layouts are accepted:
- the official ds205 layout (one row per year and NIL: `anno`, NIL id, `totale`, ...);
- a plain per-NIL CSV with an id column and a residents column (year from an `anno` column,
  else from the file name, else unknown and said so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust
from etl.readers import parse_int, peek_columns, read_table

ID_COLUMNS = ["id_nil", "idnil", "nil_id", "id_quartiere", "quartiere", "nil", "id"]
RESIDENT_COLUMNS = ["residenti", "totale", "popolazione_totale", "popolazione", "population",
                    "abitanti", "residents", "totale_residenti"]
YEAR_COLUMNS = ["anno", "year", "anno_riferimento"]


@dataclass(frozen=True)
class PopulationSource:
    source_id: str = "population_nil"
    title: str = "Popolazione residente per NIL"
    dataset: str | None = "ds205"
    licence: str = "CC BY 4.0 – Comune di Milano (file derivati: vedi note)"
    table: str = "population"
    single: bool = False  # every population file found is loaded

    def find(self, raw_dir: Path) -> list[Path]:
        out = []
        for p in sorted(Path(raw_dir).rglob("*.csv")):
            cols = peek_columns(p)
            if any(c in cols for c in ID_COLUMNS[:5]) and any(c in cols for c in RESIDENT_COLUMNS):
                out.append(p)
        return out

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        table = read_table(path)
        frame = table.frame
        id_col = _id_column(frame)
        if id_col is None:
            raise SourceError(path, "nessuna colonna con l'identificativo numerico del NIL "
                              f"(attese: {', '.join(ID_COLUMNS)}; trovate: {', '.join(frame.columns)})",
                              "aggiungere una colonna ID_NIL con i numeri 1-88 (non il nome)")
        res_col = next((c for c in RESIDENT_COLUMNS if c in frame.columns), None)
        if res_col is None:
            raise SourceError(path, f"manca la colonna dei residenti (attese: {', '.join(RESIDENT_COLUMNS)})",
                              "rinominare la colonna dei residenti in 'Residenti'")
        year_col = next((c for c in YEAR_COLUMNS if c in frame.columns), None)
        notes: list[str] = [f"colonne usate: id={id_col}, residenti={res_col}, anno={year_col or '-'}"]
        file_year: int | None = None
        if year_col is None:
            m = re.search(r"(19[89]\d|20[0-4]\d)", path.name)
            file_year = int(m.group(1)) if m else None
            notes.append(f"anno dal nome del file: {file_year}" if file_year
                         else "anno non indicato nel file: popolazione senza anno")
        # Official only for the portal's own ds205 file; any other table is a derived product.
        trust: Trust = "official" if year_col is not None and "ds205" in path.name.lower() else "derived"
        known = ctx.nil_ids()
        rows: list[dict] = []
        rejects: list[Reject] = []
        seen: set[tuple[int, int | None]] = set()
        for i, rec in enumerate(frame.to_dict("records"), start=1):
            try:
                nil_id = parse_int(rec[id_col])
            except ValueError:
                rejects.append(Reject(i, rec, f"{id_col}={rec[id_col]!r}: riga non riferita a un NIL (id non numerico)"))
                continue
            if nil_id is None:
                rejects.append(Reject(i, rec, f"{id_col} mancante"))
                continue
            if known and nil_id not in known:
                rejects.append(Reject(i, rec, f"NIL {nil_id} sconosciuto: non è tra i NIL caricati"))
                continue
            try:
                residents = parse_int(rec[res_col])
                year = parse_int(rec[year_col]) if year_col else file_year
            except ValueError as exc:
                rejects.append(Reject(i, rec, f"valore non numerico: {exc}"))
                continue
            if residents is None:
                rejects.append(Reject(i, rec, f"{res_col} mancante"))
                continue
            if residents < 0:
                rejects.append(Reject(i, rec, f"{res_col} negativo ({residents})"))
                continue
            if (nil_id, year) in seen:
                rejects.append(Reject(i, rec, f"NIL {nil_id} anno {year} duplicato: tenuta la prima riga"))
                continue
            seen.add((nil_id, year))
            rows.append({"level": "nil", "district_id": nil_id, "year": year, "residents": residents})
        if not rows:
            raise SourceError(path, "nessuna riga valida di popolazione "
                              f"({len(rejects)} scartate; la prima: {rejects[0].reason if rejects else '-'})",
                              "controllare che la colonna id contenga i numeri dei NIL (1-88)")
        out = pd.DataFrame(rows, columns=["level", "district_id", "year", "residents"])
        out["year"] = out["year"].astype("Int64")
        return LoadResult(table="population", frame=out, rows_read=len(frame), trust=trust, rejects=rejects,
                          notes=notes, encoding=table.encoding, file_format=f"csv sep={table.separator!r}")


def _id_column(frame: pd.DataFrame) -> str | None:
    """The first id-like column whose values are mostly integers (ds205 uses numbers, not names)."""
    for col in ID_COLUMNS:
        if col not in frame.columns:
            continue
        values = frame[col].dropna()
        ok = 0
        for v in values:
            try:
                ok += parse_int(v) is not None
            except ValueError:
                pass
        if len(values) and ok / len(values) >= 0.5:
            return col
    return None


SOURCE = PopulationSource()
