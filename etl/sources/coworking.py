"""Qualified coworking spaces of Milan ("Elenco qualificato coworking", Comune di Milano).

The portal CSV (`coworking__joined__f.csv`) has one row per space: SPAZIO, TIPOLOGIA, SEDE,
contacts, APERTO DA, ORARIO DI APERTURA, NUMERO POSTAZIONI, ACCESSIBILITA, SERVIZI,
DESCRIZIONE BREVE, ID, CAP, MUNICIPIO, ID_NIL, NIL, LONG_X_4326, LAT_Y_4326, Location.
Seats written as a range ("20-30") keep the lower bound, with a warning in `rejects`.
Found by name (`*coworking*.csv`) or, whatever the name, by the list's own header
(`SPAZIO`, `SEDE`, `NUMERO POSTAZIONI`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from etl.base import BuildContext, LoadResult
from etl.readers import peek_columns
from etl.sources.point_files import (
    PORTAL_LOCATION_CANDIDATES,
    build_places,
    candidate_files,
    official_extra_columns,
    read_point_file,
    resolve_columns,
)

NAME_RE = re.compile(r"co[\s_-]?working", re.IGNORECASE)
CANDIDATES: dict[str, list[str]] = {
    "source_key": ["id", "id_coworking", "id_spazio", "codice"],
    "name": ["spazio", "nome_spazio", "nome", "denominazione", "coworking", "name"],
    "address": ["sede", "indirizzo", "indirizzo_sede", "address"],
    "category": ["tipologia", "tipo", "categoria"],
    "seats": ["numero_postazioni", "n_postazioni", "postazioni", "numero_di_postazioni", "posti"],
    **PORTAL_LOCATION_CANDIDATES,
}
HEADER_SIGNATURE = {"spazio", "sede", "numero_postazioni"}
OFFICIAL_COLUMNS = {
    "spazio", "tipologia", "sede", "e_mail", "email", "telefono_1", "telefono_2", "web", "aperto_da",
    "orario_di_apertura", "numero_postazioni", "accessibilita", "servizi", "descrizione_breve", "id", "cap",
    "municipio", "id_nil", "nil", "long_x_4326", "lat_y_4326", "location",
}


@dataclass(frozen=True)
class CoworkingSource:
    source_id: str = "coworking"
    title: str = "Coworking – elenco qualificato del Comune di Milano"
    dataset: str | None = None  # the portal gives no dsNNN code for this list
    licence: str = "CC BY 4.0 – Comune di Milano"
    table: str = "places"
    single: bool = True  # one current list per build: the newest file
    themes: tuple[str, ...] = ("coworking",)
    file_hint: str = "coworking__joined__f.csv (o un CSV con SPAZIO, SEDE, NUMERO POSTAZIONI)"

    def find(self, raw_dir: Path) -> list[Path]:
        from etl.sources.census import claimed_by_census

        hits = [p for p in candidate_files(raw_dir, (".csv",))
                if (NAME_RE.search(p.stem) or HEADER_SIGNATURE <= set(peek_columns(p)))
                and not claimed_by_census(p, raw_dir)]
        return sorted(hits, key=lambda p: (-p.stat().st_mtime, str(p)))

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        table = read_point_file(path)
        columns = resolve_columns(path, table.frame, CANDIDATES, ["name", "address"],
                                  "usare il CSV ufficiale dell'elenco coworking (colonne SPAZIO, SEDE, "
                                  "NUMERO POSTAZIONI, ID, LONG_X_4326, LAT_Y_4326) e controllare il separatore")
        notes = []
        extra = official_extra_columns(table.frame, OFFICIAL_COLUMNS)
        if extra:
            notes.append("colonne non previste dal tracciato ufficiale (tenute negli attributi): " + ", ".join(extra))
        return build_places(path, table, columns, ctx, "coworking", "official", notes=notes)


SOURCE = CoworkingSource()
