"""Historic shops of Milan (Comune di Milano ds290 "Botteghe storiche") -> places, theme historic_shop.

Two layouts, recognised by content:
- the export of a third-party dashboard, `botteghe-storiche.json` = `{totale, data: [...]}` whose
  records are the ds290 rows with snake_case keys (`n`, `targa`, `genere_merceologico`, `anno`,
  `stato`, `indirizzo`, `cap`, `municipio`, `id_nil`, `nil`, `long_x_4326`, `lat_y_4326`,
  `location`): trust `derived`;
- the portal CSV (`N.`, `TARGA`, `GENERE MERCEOLOGICO`, `ANNO`, `STATO`, ...): trust `official`.

name = targa, category = genere merceologico (trade), status = stato (attiva / cessata), key = n.
Points go through the shared checks of `etl.places` (via `point_files.build_places`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from etl.base import BuildContext, LoadResult, SourceError
from etl.readers import normalise_header, peek_columns, unique_names
from etl.sources.point_files import (
    PORTAL_LOCATION_CANDIDATES,
    PointTable,
    build_places,
    candidate_files,
    read_point_file,
    resolve_columns,
)

SIGNATURE = {"targa", "genere_merceologico"}
CANDIDATES: dict[str, list[str]] = {
    "source_key": ["n", "numero", "id"],
    "name": ["targa", "insegna", "denominazione"],
    "address": ["indirizzo"],
    "category": ["genere_merceologico"],
    "status": ["stato"],
    **PORTAL_LOCATION_CANDIDATES,
}
STATUS_VALUES = {"attiva": "attiva", "attivo": "attiva", "cessata": "cessata", "cessato": "cessata"}
HINT = ("usare il CSV ds290 'Botteghe storiche' (colonne N., TARGA, GENERE MERCEOLOGICO, STATO, INDIRIZZO, "
        "LONG_X_4326, LAT_Y_4326) o l'export JSON con le stesse chiavi")
DERIVED_LICENCE = "non indicata (dati di origine Comune di Milano ds290, CC BY 4.0)"
DERIVED_ORIGIN = "GitHub giusenico/Milano-Platform-v-1.0, commit 0619b592 (contenuto di ds290 'Botteghe storiche 2024')"
ATTRIBUTION = "Comune di Milano"


def _json_records(path: Path) -> list[dict] | None:
    """The records of a `{totale, data: [...]}` export, or None if the file is not one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        return None
    records = [r for r in doc["data"] if isinstance(r, dict)]
    if not records or not SIGNATURE <= {normalise_header(k) for k in records[0]}:
        return None
    return records


def _is_shop_json(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8", errors="ignore")
    except OSError:
        return False
    return '"data"' in head and "targa" in head and "genere_merceologico" in head


@dataclass(frozen=True)
class HistoricShopsSource:
    source_id: str = "historic_shops"
    title: str = "Botteghe storiche (Comune di Milano, ds290)"
    dataset: str | None = "ds290"
    licence: str = "CC BY 4.0 – Comune di Milano"
    table: str = "places"
    attribution: str = ATTRIBUTION
    single: bool = True  # one list per build: the official CSV first, else the export
    themes: tuple[str, ...] = ("historic_shop",)
    file_hint: str = "ds290_economia_botteghe_storiche_2024.csv (TARGA, GENERE MERCEOLOGICO, STATO) o botteghe-storiche.json"

    def find(self, raw_dir: Path) -> list[Path]:
        from etl.sources.census import claimed_by_census

        out = []
        for p in candidate_files(raw_dir, (".csv", ".json")):
            if claimed_by_census(p, raw_dir):
                continue
            if p.suffix.lower() == ".csv" and SIGNATURE <= set(peek_columns(p)):
                out.append(p)
            elif p.suffix.lower() == ".json" and _is_shop_json(p):
                out.append(p)
        return sorted(out, key=lambda p: (p.suffix.lower() != ".csv", str(p)))

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        path = Path(path)
        if path.suffix.lower() == ".json":
            if path.stat().st_size == 0:
                raise SourceError(path, "il file è vuoto", "copiare di nuovo botteghe-storiche.json dall'export")
            records = _json_records(path)
            if records is None:
                raise SourceError(path, "JSON non riconosciuto: atteso {totale, data: [...]} con le chiavi targa e "
                                  "genere_merceologico", HINT)
            columns = unique_names([normalise_header(k) for k in records[0]])
            keys = list(records[0])
            frame = pd.DataFrame([[r.get(k) for k in keys] for r in records], columns=columns, dtype=object)
            frame = frame.where(frame.notna(), None)
            table = PointTable(frame=frame, original_columns=keys, encoding="utf-8", file_format="json",
                               decimal_comma=None)
            trust, licence, origin = "derived", DERIVED_LICENCE, DERIVED_ORIGIN
            notes = ["contenuto di ds290 'Botteghe storiche 2024' rimodellato da terzi (chiavi snake_case)"]
        else:
            table = read_point_file(path)
            trust, licence, origin = "official", None, None
            notes = []
        cols = resolve_columns(path, table.frame, CANDIDATES, ["name", "address"], HINT)
        result = build_places(path, table, cols, ctx, "historic_shop", trust,  # type: ignore[arg-type]
                              value_maps={"status": STATUS_VALUES}, notes=notes)
        counts = result.frame["status"].value_counts(dropna=False)
        result.notes.append("stato: " + ", ".join(f"{k if isinstance(k, str) else 'non indicato'} {int(v)}"
                                                  for k, v in counts.items()))
        result.licence = licence
        result.origin = origin
        result.attribution = ATTRIBUTION
        return result


SOURCE = HistoricShopsSource()
