"""The programme's funds and places: pure, typed functions (no Streamlit), plus the warehouse reads they need.

Rules (written on the Programma page too):
- an action with several places is divided equally among them; an action without a place counts
  as "no place" (its money is in the line totals, not in any parent area or class);
- a place's areas, at the territory's two levels (finest `district_id`, grouping `parent_id`): a
  vacant building, a makerspace or a hub from the warehouse's `places`, an area of the finest level
  from `districts` (its parent by overlap), an area of the parent level by its id (no periphery
  class: a parent area mixes classes). Place kinds of areas are the territory's level ids (Milan:
  'nil' and 'municipio'); in a territory with one level there is no parent split;
- public euro = budget committed by actions funded by the Comune, Regione or the EU; private euro =
  private investment mobilised plus the budget committed by privately funded actions; 'other' is in
  neither; leverage = private / public (None when there is no public euro);
- the envelope (e.g. 10 M euro) is consumed by the actions whose funding source it names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd

from osservatorio.programme_store import Action
from osservatorio.territory import Territory

PUBLIC_SOURCES = ("comune", "regione", "eu")
PRIVATE_SOURCES = ("private",)
NO_PLACE = "none"  # group id of the money of actions without a (known) place
MONEY = ("allocated", "committed", "spent", "private")
LINE_COLUMNS = ["line_id", "sort_order", "name_it", "name_en", "description_it", "description_en", "source",
                "envelope_eur", "envelope_funding", "envelope_source", "config_version"]
OBJECTIVE_COLUMNS = ["objective_id", "line_id", "sort_order", "name_it", "name_en", "indicators", "targets", "basis"]
POINT_THEMES = ("vacant", "makerspace", "hub")
PLACE_COLUMNS = ["kind", "ref", "name", "district_id", "parent_id", "lon", "lat"]
ALLOC_COLUMNS = ["action_id", "title", "line", "status", "funding_source", "place", "kind", "name", "district_id", "parent_id",
                 "class_id", "lon", "lat", "weight", *MONEY, "demo"]


# --- warehouse reads (functions of a connection, like osservatorio.data) ---------------------------------

def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    rows = con.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = $t", params={"t": table}).fetchall()
    return bool(rows[0][0])


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def read_lines(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The lines of intervention stored by the build (empty on builds without them)."""
    if not _has_table(con, "programme_lines"):
        return _empty(LINE_COLUMNS)
    return con.sql(f"SELECT {', '.join(LINE_COLUMNS)} FROM programme_lines ORDER BY sort_order, line_id").df()  # noqa: S608


def read_objectives(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The objectives stored by the build, in line order."""
    if not _has_table(con, "programme_objectives"):
        return _empty(OBJECTIVE_COLUMNS)
    return con.sql(
        "SELECT o.objective_id, o.line_id, o.sort_order, o.name_it, o.name_en, o.indicators, o.targets, o.basis "
        "FROM programme_objectives o LEFT JOIN programme_lines l USING (line_id) "
        "ORDER BY l.sort_order, o.sort_order, o.objective_id").df()


def read_place_index(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every place an action can name: vacant buildings, makerspaces and hubs ('<source_id>:<source_key>'),
    and the areas of the territory's levels (kind = level id, ref = area id), each with its finest-level
    area (`district_id`), its parent area (`parent_id`) and a point for the map."""
    return con.sql(
        """SELECT theme AS kind, source_id || ':' || source_key AS ref, name, district_id, parent_id, lon, lat
           FROM places WHERE theme IN ('vacant', 'makerspace', 'hub')
           UNION ALL
           SELECT d.level AS kind, CAST(d.id AS VARCHAR) AS ref, d.name,
                  CASE WHEN l.rank = 0 THEN d.id END AS district_id,
                  CASE WHEN l.rank = 0 THEN d.parent_id ELSE d.id END AS parent_id,
                  d.centroid_lon AS lon, d.centroid_lat AS lat
           FROM districts d JOIN territory_levels l ON l.level = d.level
           ORDER BY kind, ref"""
    ).df()


# --- pure functions ---------------------------------------------------------------------------------

def line_name(frame: pd.DataFrame, line_id: str, lang: str) -> str:
    """A line's name in the language (plain text), its id when the build does not know it."""
    from osservatorio.views import plain

    hit = frame[frame["line_id"] == line_id]
    return plain(hit[f"name_{lang}"].iloc[0]) if len(hit) else plain(line_id)


def place_label(kind: str, ref: str, index: pd.DataFrame, lang: str, territory: Territory | None = None) -> str:
    """'NIL 42 · Name', 'Municipio 8', 'Comune 19036 · Cremona', 'Makerspace · Name' (area labels from the
    territory's levels; an area kind the territory does not have is named by its id)."""
    from osservatorio.i18n import t
    from osservatorio.views import plain

    hit = index[(index["kind"] == kind) & (index["ref"] == ref)]
    name = plain(hit["name"].iloc[0]) if len(hit) and pd.notna(hit["name"].iloc[0]) else ""
    if kind not in POINT_THEMES:
        level = territory.level(kind) if territory is not None else None
        head = f"{level.label(lang) if level else kind} {ref}"
        return f"{head} · {name}" if name and name != ref and name.casefold() != head.casefold() else head
    return f"{t(f'pg_place_{kind}', lang)} · {name or ref}"


def envelope(lines: pd.DataFrame) -> tuple[float | None, tuple[str, ...]]:
    """(amount in euro, funding sources it covers) of the programme's envelope; (None, ()) when none is stored."""
    if lines.empty or "envelope_eur" not in lines:
        return None, ()
    rows = lines[lines["envelope_eur"].notna()]
    if rows.empty:
        return None, ()
    sources: list[str] = []
    for text in rows["envelope_funding"].dropna():
        sources.extend(s for s in json.loads(text) if s not in sources)
    return float(rows["envelope_eur"].sum()), tuple(sources)


def allocations(actions: Iterable[Action], places: pd.DataFrame, classes: pd.DataFrame) -> pd.DataFrame:
    """One row per action and place with the share of its money (1/n of n places; a whole row 'no place'
    when it names none or none is known in this build). `classes`: district_id, class_id (periphery classes)."""
    index = {(str(k), str(r)): row for k, r, row in zip(places["kind"], places["ref"], places.to_dict("records"), strict=True)}
    klass = {int(n): str(c) for n, c in zip(classes["district_id"], classes["class_id"], strict=True)}
    out: list[dict[str, object]] = []
    for a in actions:
        private = a.private_investment + (a.budget_committed if a.funding_source in PRIVATE_SOURCES else 0.0)
        money = {"allocated": a.budget_allocated, "committed": a.budget_committed, "spent": a.budget_spent, "private": private}
        base = {"action_id": a.action_id, "title": a.title, "line": a.line, "status": a.status,
                "funding_source": a.funding_source, "demo": a.demo}
        refs = list(a.places) or [None]
        weight = 1.0 / len(refs)
        for ref in refs:
            hit = index.get((ref.kind, ref.ref)) if ref is not None else None
            fine = hit.get("district_id") if hit else None
            district_id = int(fine) if fine is not None and pd.notna(fine) else None
            parent = hit.get("parent_id") if hit else None
            out.append({**base, "place": ref.key() if ref else NO_PLACE, "kind": ref.kind if ref else NO_PLACE,
                        "name": hit.get("name") if hit else None, "district_id": district_id,
                        "parent_id": int(parent) if parent is not None and pd.notna(parent) else None,
                        "class_id": klass.get(district_id) if district_id is not None else None,
                        "lon": hit.get("lon") if hit else None, "lat": hit.get("lat") if hit else None,
                        "weight": weight, **{k: v * weight for k, v in money.items()}})
    if not out:
        return _empty(ALLOC_COLUMNS)
    return pd.DataFrame(out, columns=ALLOC_COLUMNS)


LEDGER_BY = {"line": "line", "parent": "parent_id", "class": "class_id"}


def ledger(alloc: pd.DataFrame, by: str, order: Sequence[str] = ()) -> pd.DataFrame:
    """Allocated, committed, spent and private euro (and actions) per line, parent area ('parent') or
    periphery class; money without a parent area / class is in the group NO_PLACE (last). The rows add up to the totals.
    Groups in `order` come first in that order (e.g. the lines' own order), the others after, sorted."""
    column = LEDGER_BY[by]
    if alloc.empty:
        return pd.DataFrame({"group": pd.Series(dtype="object"), "actions": pd.Series(dtype="int64"),
                             **{m: pd.Series(dtype="float64") for m in MONEY}})
    keys = alloc[column].map(lambda v: NO_PLACE if v is None or pd.isna(v) else str(int(v)) if isinstance(v, float) else str(v))
    frame = alloc.assign(group=keys)
    out = frame.groupby("group", sort=True).agg(actions=("action_id", "nunique"), **{m: (m, "sum") for m in MONEY})
    out = out.reset_index().round({m: 2 for m in MONEY})
    rank = {g: i for i, g in enumerate(order)}

    def sort_key(g: str) -> tuple[int, int, str]:
        return (2, 0, "") if g == NO_PLACE else (0, rank[g], "") if g in rank else (1, int(g) if g.isdigit() else 0, g)

    return out.iloc[sorted(range(len(out)), key=lambda i: sort_key(str(out["group"].iloc[i])))].reset_index(drop=True)


@dataclass(frozen=True)
class Leverage:
    """Private euro per public euro (None without public euro)."""

    private_eur: float
    public_eur: float
    other_eur: float

    @property
    def ratio(self) -> float | None:
        return self.private_eur / self.public_eur if self.public_eur > 0 else None


def leverage(actions: Iterable[Action]) -> Leverage:
    """Private investment mobilised (plus privately funded commitments) against public commitments."""
    private = public = other = 0.0
    for a in actions:
        private += a.private_investment
        if a.funding_source in PUBLIC_SOURCES:
            public += a.budget_committed
        elif a.funding_source in PRIVATE_SOURCES:
            private += a.budget_committed
        else:
            other += a.budget_committed
    return Leverage(round(private, 2), round(public, 2), round(other, 2))


@dataclass(frozen=True)
class EnvelopeUse:
    """How much of the envelope the actions it funds have allocated, committed and spent."""

    envelope_eur: float
    allocated: float
    committed: float
    spent: float

    @property
    def available(self) -> float:
        """What is left to allocate (negative: over-allocated)."""
        return round(self.envelope_eur - self.allocated, 2)

    def share(self, amount: float) -> float:
        return amount / self.envelope_eur if self.envelope_eur else 0.0


def envelope_use(actions: Iterable[Action], amount: float, funding_sources: Sequence[str]) -> EnvelopeUse:
    """Sum of the budgets of the actions funded by `funding_sources` against the envelope `amount`."""
    chosen = [a for a in actions if a.funding_source in funding_sources]
    return EnvelopeUse(float(amount), round(sum(a.budget_allocated for a in chosen), 2),
                       round(sum(a.budget_committed for a in chosen), 2), round(sum(a.budget_spent for a in chosen), 2))


def periphery_vs_centre(alloc: pd.DataFrame, order: Sequence[str] = ("centro", "semicentro", "periferia")) -> pd.DataFrame:
    """Committed euro per periphery class (centre outwards, then 'no class') with its share of the total."""
    by_class = ledger(alloc, "class")
    total = float(by_class["committed"].sum()) if len(by_class) else 0.0
    rank = {c: i for i, c in enumerate([*order, NO_PLACE])}
    by_class = by_class.assign(_r=by_class["group"].map(lambda g: rank.get(g, len(rank) - 1.5))).sort_values("_r")
    share = by_class["committed"] / total if total > 0 else by_class["committed"] * 0.0
    return by_class.assign(share=share.round(4)).drop(columns="_r").reset_index(drop=True)


def budget_warnings(action: Action) -> list[str]:
    """i18n keys of inconsistencies worth a look (not refused: money moves in steps)."""
    out = []
    if action.budget_committed > action.budget_allocated:
        out.append("pg_warn_committed_over")
    if action.budget_spent > action.budget_committed:
        out.append("pg_warn_spent_over")
    return out


def actions_frame(actions: Iterable[Action]) -> pd.DataFrame:
    """The register as a frame (one row per action, current version)."""
    rows = [{"action_id": a.action_id, "title": a.title, "line": a.line, "status": a.status,
             "start_date": a.start_date, "end_date": a.end_date, "funding_source": a.funding_source,
             "allocated": a.budget_allocated, "committed": a.budget_committed, "spent": a.budget_spent,
             "private": a.private_investment, "places": ", ".join(p.key() for p in a.places),
             "partners": ", ".join(a.partners), "indicators": ", ".join(a.indicators), "version": a.version,
             "updated_by": a.updated_by, "updated_at": a.updated_at, "demo": a.demo} for a in actions]
    columns = ["action_id", "title", "line", "status", "start_date", "end_date", "funding_source", *MONEY, "places",
               "partners", "indicators", "version", "updated_by", "updated_at", "demo"]
    return pd.DataFrame(rows, columns=columns) if rows else _empty(columns)


def filter_actions(actions: Sequence[Action], line: str | None = None, status: str | None = None,
                   parent_id: int | None = None, district_id: int | None = None,
                   places: pd.DataFrame | None = None) -> list[Action]:
    """Actions of a line / status / parent area / finest-level area (None = any); place filters need the
    place index."""
    out = [a for a in actions if (line is None or a.line == line) and (status is None or a.status == status)]
    if parent_id is None and district_id is None:
        return out
    alloc = allocations(out, places if places is not None else _empty(PLACE_COLUMNS), _empty(["district_id", "class_id"]))
    keep = pd.Series(True, index=alloc.index)
    if parent_id is not None:
        keep &= alloc["parent_id"].eq(parent_id).fillna(False).astype(bool)
    if district_id is not None:
        keep &= alloc["district_id"].eq(district_id).fillna(False).astype(bool)
    ids = set(alloc.loc[keep, "action_id"])
    return [a for a in out if a.action_id in ids]


def demo_actions(places: pd.DataFrame, line_ids: Sequence[str], fine_level: str, parent_level: str | None = None
                 ) -> list[Action]:
    """Example actions for the demo store only (labelled demo by the store): a few actions on the demo
    warehouse's own vacant buildings, makerspaces and areas (of `fine_level`, and one of `parent_level`
    when the territory has it), one per line when the line exists."""
    from osservatorio.programme_store import PlaceRef

    def first(kind: str, n: int = 0) -> tuple[PlaceRef, ...]:
        refs = places.loc[places["kind"] == kind, "ref"].astype(str).tolist()
        return (PlaceRef(kind, refs[n % len(refs)]),) if refs else ()

    from datetime import date

    specs = [
        ("spazi", "Riuso di un capannone dismesso come laboratorio di quartiere (demo)", first("vacant"), "approved",
         (400_000, 250_000, 60_000), "comune", 300_000, ("vacant_regeneration_share",), date(2025, 3, 1)),
        ("laboratori", "Fablab di comunità con corsi serali (demo)", first("makerspace", 1) + first(fine_level, 40), "running",
         (180_000, 180_000, 120_000), "comune", 90_000, ("makerspaces_per_100k",), date(2024, 10, 1)),
        ("investimento", "Bando per imprese manifatturiere in spazi dismessi (demo)", first(parent_level or fine_level, 8),
         "approved",
         (1_500_000, 900_000, 0), "comune", 2_100_000, (), date(2025, 6, 1)),
        ("formazione", "Corsi di fabbricazione digitale con AFOL (demo)", first(fine_level, 70), "proposed",
         (60_000, 0, 0), "regione", 0, ("residents_makerspace_1km_share",), None),
        ("comunicazione", "Settimana dei makerspace nei quartieri (demo)", (), "done",
         (40_000, 40_000, 38_500), "eu", 15_000, (), date(2024, 5, 10)),
    ]
    out = []
    for line, title, refs, status, (alloc, comm, spent), funding, private, inds, start in specs:
        if line not in line_ids:
            continue
        out.append(Action(title=title, line=line, description="Azione di esempio dei dati dimostrativi.", places=refs,
                          partners=("Partner di esempio",), start_date=start, status=status, budget_allocated=alloc,
                          budget_committed=comm, budget_spent=spent, funding_source=funding, private_investment=private,
                          indicators=inds))
    return out
