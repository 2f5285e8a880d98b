"""FabLab / makerspaces of Milan (Comune di Milano ds744 "FabLab Milano").

The portal CSV (';'-separated, often cp1252, decimal commas) has one row per lab:
NOMINATIVO, INDIRIZZO, contacts, MQ COMPLESSIVI, machines, courses, accessibility, CAP,
MUNICIPIO, ID_NIL, NIL, LONG_X_4326, LAT_Y_4326, Location. It has no id column: the key is
the normalised name + address (an id column, if a later edition adds one, is used instead).
Columns we do not map go to `attributes` (JSON).

The layout decides the trust, by content: the ds744 layout (`NOMINATIVO`, ...) is `official`;
the third-party list of the Milan area (`nome, indirizzo, zona, longitudine, latitudine`, from a
Google My Maps export) and any other layout are `derived`, licence not stated. Points outside
the comune are rejects whose reason names the list's `zona` and the comune in the address.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from etl.base import BuildContext, LoadResult, Reject
from etl.places import OUTSIDE_REASON, mark_outside_only
from etl.readers import peek_columns
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
OFFICIAL_SIGNATURE = {"nominativo", "indirizzo"}  # ds744's own name column
DS744_HEADER_SIGNATURE = {"nominativo", "mq_complessivi", "macchine"}  # found by header whatever the file name
AREA_LIST_SIGNATURE = {"nome", "indirizzo", "zona", "longitudine", "latitudine"}
AREA_LIST_LICENCE = "non indicata"
AREA_LIST_ORIGIN = ("GitHub Shpizzi/teseo, src/mock/fablab-milano.ts, commit 5ca084ab "
                    "(da un'esportazione Google My Maps 'Teseo rete fablab milano'), riscritto in CSV")
_OUTSIDE_RE = re.compile(r"^" + re.escape(OUTSIDE_REASON) + r" (?P<where>.+?): (?P<point>-?[\d.]+, -?[\d.]+)$")
_COMUNE_IN_ADDRESS_RE = re.compile(r",\s*([^,]+?)\s*$")


def layout_of(columns: list[str] | set[str]) -> str:
    """'official' (ds744), 'area_list' (third-party list of the Milan area) or 'other'."""
    cols = set(columns)
    if OFFICIAL_SIGNATURE <= cols:
        return "official"
    if AREA_LIST_SIGNATURE <= cols:
        return "area_list"
    return "other"


@dataclass(frozen=True)
class MakerspacesSource:
    source_id: str = "makerspaces"
    title: str = "FabLab Milano"
    dataset: str | None = "ds744"
    licence: str = "CC BY 4.0 – Comune di Milano"
    table: str = "places"
    single: bool = True  # one current list per build: the official file, else the newest
    themes: tuple[str, ...] = ("makerspace",)
    file_hint: str = "ds744_fablab_milano.csv (o un CSV con NOMINATIVO, MQ COMPLESSIVI, MACCHINE)"

    def find(self, raw_dir: Path) -> list[Path]:
        from etl.sources.census import claimed_by_census

        hits = [p for p in candidate_files(raw_dir, (".csv",))
                if (NAME_RE.search(p.stem) or DS744_HEADER_SIGNATURE <= set(peek_columns(p)))
                and not claimed_by_census(p, raw_dir)]
        return sorted(hits, key=lambda p: (layout_of(peek_columns(p)) != "official",
                                           "ds744" not in p.name.lower().replace("_", "").replace("-", ""),
                                           -p.stat().st_mtime, str(p)))

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        table = read_point_file(path)
        columns = resolve_columns(path, table.frame, CANDIDATES, ["name", "address"],
                                  "usare il CSV ufficiale ds744 (colonne NOMINATIVO, INDIRIZZO, LONG_X_4326, "
                                  "LAT_Y_4326, ID_NIL) e controllare il separatore")
        notes = []
        layout = layout_of(table.frame.columns)
        if layout == "official":
            extra = official_extra_columns(table.frame, OFFICIAL_COLUMNS | {columns.get("source_key", "")})
            if extra:
                notes.append("colonne non previste dal tracciato ds744 (tenute negli attributi): " + ", ".join(extra))
            return build_places(path, table, columns, ctx, "makerspace", "official", notes=notes)
        if layout == "area_list":
            notes.append("elenco di terzi (fablab e servizi di stampa 3D dell'area milanese, non verificato): "
                         "dato derivato, licenza non indicata, da non distribuire")
        else:
            notes.append("tracciato diverso da ds744 (manca NOMINATIVO): trattato come dato derivato, "
                         "licenza non indicata")
        result = build_places(path, table, columns, ctx, "makerspace", "derived", notes=notes, outside_check=False)
        result.rejects = [_explain_outside(r, ctx) for r in result.rejects]
        outside = sum(1 for r in result.rejects if r.reason.startswith(OUTSIDE_REASON))
        if outside:
            result.notes.append(f"{outside} luoghi fuori dal territorio {ctx.territory.name_it} registrati tra gli "
                                "scarti (con la zona)")
        result.licence = AREA_LIST_LICENCE
        result.origin = AREA_LIST_ORIGIN if layout == "area_list" else None
        result.dataset = ""  # not ds744: the origin line and the downloads must not name the official dataset
        return mark_outside_only(result, ctx, path)


def _explain_outside(reject: Reject, ctx: BuildContext) -> Reject:
    """'punto fuori dal territorio <name>: lon, lat' + the list's zona and the address's comune in brackets.

    The reason keeps its stable start (places.OUTSIDE_REASON): the pipeline recognises a file with
    no point in the territory by it.
    """
    m = _OUTSIDE_RE.match(reject.reason)
    if not m:
        return reject
    where = []
    zona = reject.raw.get("zona")
    if zona:
        where.append(f"zona: {zona}")
    address = reject.raw.get("indirizzo")
    comune = _COMUNE_IN_ADDRESS_RE.search(str(address)) if address else None
    if comune and comune.group(1).strip().lower() not in ctx.territory.name_it.lower():
        where.append(f"comune: {comune.group(1).strip()}")
    if not where:
        return reject
    return dataclasses.replace(reject, reason=f"{reject.reason} ({'; '.join(where)})")


SOURCE = MakerspacesSource()
