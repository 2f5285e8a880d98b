"""Resident population per NIL.

Two layouts are accepted:
- the official ds205 layout (one row per year and NIL: `anno`, NIL id, `totale`, ...);
- a plain per-NIL CSV with an id column and a residents column (year from an `anno` column,
  else from the file name, else unknown and said so).

The two research tables of Maranzano et al. ("Smart mobility in Milan": `NILS_DataCluster.csv`,
`Services.csv`, recognised by their columns) carry the same residents without a year: they
belong to `RESEARCH` (derived, licence not stated, year NULL), which loads one and skips the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from etl.base import BuildContext, LoadResult, Reject, SourceError, Trust
from etl.readers import ids_of_level, implausible_residents, parse_int, peek_columns, read_table

ID_COLUMNS = ["id_nil", "idnil", "district_id", "id_quartiere", "quartiere", "nil", "id"]
RESIDENT_COLUMNS = ["residenti", "totale", "popolazione_totale", "popolazione", "population",
                    "abitanti", "residents", "totale_residenti"]
YEAR_COLUMNS = ["anno", "year", "anno_riferimento"]
# Column signatures of the research tables (normalised headers): name -> columns that must all be present.
RESEARCH_LAYOUTS: dict[str, set[str]] = {
    "NILS_DataCluster": {"idnil", "residenti", "jji", "ampi"},
    "Services": {"idnil", "population", "pop_density", "n_hospitals"},
}
RESEARCH_LICENCE = "non indicata"
RESEARCH_ORIGIN = "Maranzano et al., Smart mobility in Milan (GitHub PaoloMaranzano/NC_MS_PM_PMC_MilanoMobility)"
RESEARCH_YEAR_NOTE = "anno non documentato (≈2019–2020)"


def research_layout(columns: list[str] | set[str]) -> str | None:
    """Which research table a header belongs to (None: not one of them)."""
    cols = set(columns)
    return next((name for name, sig in RESEARCH_LAYOUTS.items() if sig <= cols), None)


@dataclass(frozen=True)
class PopulationSource:
    source_id: str = "population_nil"
    title: str = "Popolazione residente per NIL"
    dataset: str | None = "ds205"
    licence: str = "CC BY 4.0 – Comune di Milano (file derivati: vedi note)"
    table: str = "population"
    single: bool = False  # every population file found is loaded
    level: str = "nil"  # the file carries Milan's NIL ids

    def find(self, raw_dir: Path) -> list[Path]:
        return [p for p, cols in _population_csvs(raw_dir) if research_layout(cols) is None]

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        return load_population_csv(path, ctx)


@dataclass(frozen=True)
class ResearchPopulationSource:
    """The research tables: one file loaded (both hold the same residents), the other skipped."""

    source_id: str = "population_research"
    title: str = "Popolazione residente per NIL (dati della ricerca Maranzano et al.)"
    dataset: str | None = None
    licence: str = RESEARCH_LICENCE
    table: str = "population"
    origin: str = RESEARCH_ORIGIN
    single: bool = True
    level: str = "nil"
    themes: tuple[str, ...] = ("population",)
    file_hint: str = "NILS_DataCluster.csv o Services.csv (IdNIL, Residenti / Population)"

    def find(self, raw_dir: Path) -> list[Path]:
        hits = [(p, research_layout(cols)) for p, cols in _population_csvs(raw_dir)]
        order = list(RESEARCH_LAYOUTS)
        return [p for p, kind in sorted(((p, k) for p, k in hits if k), key=lambda t: (order.index(t[1]), str(t[0])))]

    def skip_note(self, path: Path, chosen: Path) -> str:
        """Why a research table found next to the loaded one is not loaded."""
        return (f"non caricato: stessi residenti per NIL di {chosen.name} (stessa ricerca, stessi valori); "
                "caricarlo li conterebbe due volte")

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        return load_population_csv(path, ctx)


def _population_csvs(raw_dir: Path) -> list[tuple[Path, list[str]]]:
    """CSV files with a NIL id column and a residents column, with their headers."""
    out = []
    for p in sorted(Path(raw_dir).rglob("*.csv")):
        cols = peek_columns(p)
        if any(c in cols for c in ID_COLUMNS[:5]) and any(c in cols for c in RESIDENT_COLUMNS):
            out.append((p, cols))
    return out


def load_population_csv(path: Path, ctx: BuildContext) -> LoadResult:
    """Read one per-NIL population CSV (any layout above)."""
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
    research = research_layout(list(frame.columns))
    if research is not None:
        year_col = None
        notes += [RESEARCH_YEAR_NOTE, f"tabella {research} della ricerca {RESEARCH_ORIGIN}: dato derivato, "
                  "licenza non indicata"]
    elif year_col is None:
        m = re.search(r"(19[89]\d|20[0-4]\d)", path.name)
        file_year = int(m.group(1)) if m else None
        notes.append(f"anno dal nome del file: {file_year}" if file_year
                     else "anno non indicato nel file: popolazione senza anno")
    # Official only for the portal's own ds205 file; any other table is a derived product.
    trust: Trust = "official" if year_col is not None and "ds205" in path.name.lower() else "derived"
    known = ids_of_level(ctx, "nil", path, required=False)
    rows: list[dict] = []
    rejects: list[Reject] = []
    seen: set[tuple[int, int | None]] = set()
    for i, rec in enumerate(frame.to_dict("records"), start=1):
        try:
            district_id = parse_int(rec[id_col])
        except ValueError:
            rejects.append(Reject(i, rec, f"{id_col}={rec[id_col]!r}: riga non riferita a un NIL (id non numerico)"))
            continue
        if district_id is None:
            rejects.append(Reject(i, rec, f"{id_col} mancante"))
            continue
        if known and district_id not in known:
            rejects.append(Reject(i, rec, f"NIL {district_id} sconosciuto: non è tra i NIL caricati"))
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
        if (why := implausible_residents(residents)) is not None:
            rejects.append(Reject(i, rec, f"{res_col}: {why}"))
            continue
        if (district_id, year) in seen:
            rejects.append(Reject(i, rec, f"NIL {district_id} anno {year} duplicato: tenuta la prima riga"))
            continue
        seen.add((district_id, year))
        rows.append({"level": "nil", "district_id": district_id, "year": year, "residents": residents})
    if not rows:
        raise SourceError(path, "nessuna riga valida di popolazione "
                          f"({len(rejects)} scartate; la prima: {rejects[0].reason if rejects else '-'})",
                          "controllare che la colonna id contenga i numeri dei NIL (1-88)")
    out = pd.DataFrame(rows, columns=["level", "district_id", "year", "residents"])
    out["year"] = out["year"].astype("Int64")
    return LoadResult(table="population", frame=out, rows_read=len(frame), trust=trust, rejects=rejects,
                      notes=notes, encoding=table.encoding, file_format=f"csv sep={table.separator!r}",
                      licence=RESEARCH_LICENCE if research else None,
                      origin=RESEARCH_ORIGIN if research else None)


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
RESEARCH = ResearchPopulationSource()
