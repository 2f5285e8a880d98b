"""FabLab / makerspaces of Milan (Comune di Milano ds744 "FabLab Milano").

The portal CSV (';'-separated, often cp1252, decimal commas) has one row per lab:
NOMINATIVO, INDIRIZZO, contacts, MQ COMPLESSIVI, machines, courses, accessibility, CAP,
MUNICIPIO, ID_NIL, NIL, LONG_X_4326, LAT_Y_4326, Location. It has no id column: the key is
the normalised name + address (an id column, if a later edition adds one, is used instead).
Columns we do not map go to `attributes` (JSON).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from etl.base import BuildContext, LoadResult
from etl.sources.point_files import (
    PORTAL_LOCATION_CANDIDATES,
    build_places,
    candidate_files,
    official_extra_columns,
    read_point_file,
    resolve_columns,
)

NAME_RE = re.compile(r"ds[_-]?744|fab[\s_-]?lab|maker[\s_-]?space", re.IGNORECASE)
CANDIDATES: dict[str, list[str]] = {
    "source_key": ["id", "id_fablab", "id_makerspace", "codice"],
    "name": ["nominativo", "nome", "denominazione", "nome_fablab", "fablab", "name"],
    "address": ["indirizzo", "sede", "address"],
    "area_m2": ["mq_complessivi", "mq", "superficie_mq", "superficie", "area_m2"],
    **PORTAL_LOCATION_CANDIDATES,
}
OFFICIAL_COLUMNS = {
    "nominativo", "indirizzo", "email", "e_mail", "tel", "telefono", "web", "regolamento_mit", "mq_complessivi",
    "sale_riunioni_open_space", "sale_riunioni_dedicate", "orari_di_apertura", "macchine",
    "corsi_formazione_e_uso_macchine", "accessibilita", "capacita_di_promuovere_incontri", "note", "cap",
    "municipio", "id_nil", "nil", "long_x_4326", "lat_y_4326", "location",
}


@dataclass(frozen=True)
class MakerspacesSource:
    source_id: str = "makerspaces"
    title: str = "FabLab Milano"
    dataset: str | None = "ds744"
    licence: str = "CC BY 4.0 – Comune di Milano"
    table: str = "places"
    single: bool = True  # one current list per build: the official file, else the newest

    def find(self, raw_dir: Path) -> list[Path]:
        from etl.sources.census import claimed_by_census

        hits = [p for p in candidate_files(raw_dir, (".csv",))
                if NAME_RE.search(p.stem) and not claimed_by_census(p, raw_dir)]
        return sorted(hits, key=lambda p: ("ds744" not in p.name.lower().replace("_", "").replace("-", ""),
                                           -p.stat().st_mtime, str(p)))

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        table = read_point_file(path)
        columns = resolve_columns(path, table.frame, CANDIDATES, ["name", "address"],
                                  "usare il CSV ufficiale ds744 (colonne NOMINATIVO, INDIRIZZO, LONG_X_4326, "
                                  "LAT_Y_4326, ID_NIL) e controllare il separatore")
        notes = []
        extra = official_extra_columns(table.frame, OFFICIAL_COLUMNS | {columns.get("source_key", "")})
        if extra:
            notes.append("colonne non previste dal tracciato ds744 (tenute negli attributi): " + ", ".join(extra))
        return build_places(path, table, columns, ctx, "makerspace", "official", notes=notes)


SOURCE = MakerspacesSource()
