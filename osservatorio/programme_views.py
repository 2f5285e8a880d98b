"""The Streamlit side of the programme (Programma page, the district profile's actions section).

Widgets and rendering only: the register is osservatorio.programme_store (read fresh on every run,
never cached), the sums are osservatorio.programme, warehouse reads go through `queries._q`.
Who may write: `auth.current_user().can("write")`, never in read-only mode; every callback reads the
signed-in user again and the store checks the role at that moment (the author of a change is
`current_user().label`). User text (titles, partners, reasons) is shown as plain text.
Levels and labels come from the warehouse's territory (`ctx.territory`): area places are named by
their level's label, and without a parent level there is no parent filter or ledger split.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from osservatorio import auth, downloads, maps, queries, ui, views
from osservatorio import programme as pg
from osservatorio.board_store import BoardStoreError
from osservatorio.i18n import fmt_number, t
from osservatorio.page_views.programma import group_label, ledger_table, lines_table  # noqa: F401 - moved, re-exported
from osservatorio.programme import line_name, place_label  # noqa: F401 - shared, pure
from osservatorio.programme_store import FUNDING_SOURCES, STATUSES, Action, ProgrammeStore, clean_action
from osservatorio.territory import Territory
from osservatorio.ui import PageContext
from osservatorio.views import ALL, newest_snapshot, outline_map, periphery_classes
from osservatorio.warehouse import WarehouseKey

DEMO_AUTHOR = "demo"


# --- warehouse reads (cached per build) --------------------------------------------------------------

@st.cache_data(show_spinner=False)
def lines(key: WarehouseKey) -> pd.DataFrame:
    return queries._q(key, pg.read_lines)


@st.cache_data(show_spinner=False)
def objectives(key: WarehouseKey) -> pd.DataFrame:
    return queries._q(key, pg.read_objectives)


@st.cache_data(show_spinner=False)
def place_index(key: WarehouseKey) -> pd.DataFrame:
    return queries._q(key, pg.read_place_index)


def classes(key: WarehouseKey, lang: str) -> pd.DataFrame:
    snapshot = newest_snapshot(queries.snapshots_if_any(key))
    return periphery_classes(queries.district_groups(key, snapshot) if snapshot else None, lang)


# --- the register -----------------------------------------------------------------------------------

def open_store(ctx: PageContext) -> ProgrammeStore:
    """The real register, or the demo register when the warehouse is a demo (seeded once with example
    actions, only when writes are allowed)."""
    store = ProgrammeStore.from_env(demo=ctx.info.is_demo)
    if ctx.info.is_demo and not store.read_only and not store.path.exists():
        parent = ctx.territory.parent
        for action in pg.demo_actions(place_index(ctx.key), list(lines(ctx.key)["line_id"]), ctx.territory.fine.id,
                                      parent.id if parent else None):
            store.create(action, DEMO_AUTHOR, "esempio dei dati dimostrativi", demo=True)
    return store


def error_text(exc: BoardStoreError, lang: str) -> str:
    text = t(exc.code, lang, **{k: views.md_text(v) for k, v in exc.params.items()})
    return views.md_text(str(exc)) if text == exc.code else text


def actions_table(actions: Sequence[Action], line_frame: pd.DataFrame, index: pd.DataFrame, lang: str,
                  territory: Territory | None = None) -> pd.DataFrame:
    """The register as shown and exported (translated headers, plain text)."""
    return pd.DataFrame({
        t("pg_col_id", lang): [a.action_id for a in actions],
        t("pg_col_action", lang): [views.plain(a.title) for a in actions],
        t("pg_col_line", lang): [line_name(line_frame, a.line, lang) for a in actions],
        t("pg_col_status", lang): [t(f"pg_status_{a.status}", lang) for a in actions],
        t("pg_col_start", lang): [a.start_date for a in actions],
        t("pg_col_end", lang): [a.end_date for a in actions],
        t("pg_col_funding", lang): [t(f"pg_fund_{a.funding_source}", lang) for a in actions],
        t("pg_col_allocated", lang): [a.budget_allocated for a in actions],
        t("pg_col_committed", lang): [a.budget_committed for a in actions],
        t("pg_col_spent", lang): [a.budget_spent for a in actions],
        t("pg_col_private", lang): [a.private_investment for a in actions],
        t("pg_col_places", lang): ["; ".join(place_label(p.kind, p.ref, index, lang, territory) for p in a.places)
                                   for a in actions],
        t("pg_col_partners", lang): ["; ".join(views.plain(p) for p in a.partners) for a in actions],
        t("pg_col_indicators", lang): [", ".join(a.indicators) for a in actions],
        t("pg_col_version", lang): [a.version for a in actions],
        t("pg_col_updated_by", lang): [views.plain(a.updated_by) for a in actions],
        t("pg_col_updated_at", lang): [a.updated_at.replace(tzinfo=None) if a.updated_at else None for a in actions],
        t("pg_col_demo", lang): [t("demo_badge", lang) if a.demo else "" for a in actions],
    })


def history_table(store: ProgrammeStore, action_id: int, lang: str) -> pd.DataFrame:
    trail = store.history(action_id)
    return pd.DataFrame({
        t("pg_col_version", lang): [c.version for c in trail],
        t("pg_col_updated_at", lang): [c.changed_at.replace(tzinfo=None) for c in trail],
        t("pg_col_updated_by", lang): [views.plain(c.changed_by) for c in trail],
        t("pg_col_reason", lang): [views.plain(c.reason) for c in trail],
        t("pg_col_fields", lang): [t("pg_kind_create", lang) if c.kind == "create" else ", ".join(c.fields) for c in trail],
        t("pg_col_status", lang): [t(f"pg_status_{c.action.status}", lang) for c in trail],
        t("pg_col_committed", lang): [c.action.budget_committed for c in trail],
    })


def action_points(ctx: PageContext) -> tuple[pd.DataFrame, list[str]]:
    """(points, hover texts) of the register's actions with a located place, for another map:
    `maps.add_points(fig, points, t("pg_layer_actions", lang), "hub", hover=hover)`. Empty when none."""
    lang = ctx.lang
    try:
        actions = ProgrammeStore.from_env(demo=ctx.info.is_demo).actions()
    except BoardStoreError:
        actions = []
    index, line_frame = place_index(ctx.key), lines(ctx.key)
    alloc = pg.allocations(actions, index, pd.DataFrame({"district_id": [], "class_id": []}))
    pts = alloc[alloc["lon"].notna() & alloc["lat"].notna()].reset_index(drop=True)
    return pts, _hover(pts, index, line_frame, lang, ctx.territory)


def _hover(pts: pd.DataFrame, index: pd.DataFrame, line_frame: pd.DataFrame, lang: str,
           territory: Territory | None = None) -> list[str]:
    import html

    out = []
    for r in pts.to_dict("records"):
        where = place_label(r["kind"], r["place"].split(":", 1)[1], index, lang, territory)
        out.append(f"{html.escape(views.plain(r['title']))}<br>{html.escape(where)}<br>"
                   f"{html.escape(line_name(line_frame, r['line'], lang))} · {t('pg_status_' + r['status'], lang)}")
    return out


def actions_map(ctx: PageContext, alloc: pd.DataFrame, index: pd.DataFrame, line_frame: pd.DataFrame) -> None:
    """Outlines of the territory's finest areas with one point per (action, place) that has coordinates."""
    lang = ctx.lang
    pts = alloc[alloc["lon"].notna() & alloc["lat"].notna()]
    if pts.empty:
        st.caption(t("pg_map_none", lang))
        return
    fine = ctx.territory.fine.id
    stats = queries.district_stats(ctx.key, fine)
    geojson = queries.map_geojson(ctx.key, fine)
    fig = outline_map(geojson, stats, None, t("pg_map_title", lang), lang, ctx.map_style)
    maps.add_points(fig, pts, t("pg_layer_actions", lang), "hub", hover=_hover(pts, index, line_frame, lang, ctx.territory),
                    size=12)
    st.plotly_chart(fig, key="pg_map", width="stretch")


# --- forms ------------------------------------------------------------------------------------------

def _flash(kind: str, text: str) -> None:
    st.session_state["pg_flash"] = (kind, text)


def place_options(index: pd.DataFrame, lang: str, territory: Territory | None = None) -> dict[str, str]:
    """'kind:ref' -> label: areas of the territory's levels first (finest first), then makerspaces, hubs and
    vacant spaces."""
    levels = territory.level_ids if territory is not None else ()
    order = {**{lv: i for i, lv in enumerate(levels)}, "makerspace": 10, "hub": 11, "vacant": 12}
    rows = sorted(index.to_dict("records"), key=lambda r: (order.get(r["kind"], 20), r["kind"],
                                                           int(r["ref"]) if str(r["ref"]).isdigit() else 0, str(r["name"])))
    return {f"{r['kind']}:{r['ref']}": place_label(r["kind"], str(r["ref"]), index, lang, territory) for r in rows}


def _form_values(prefix: str) -> dict[str, Any]:
    s = st.session_state
    return {
        "title": s.get(f"{prefix}_title", ""), "line": s.get(f"{prefix}_line", ""),
        "description": s.get(f"{prefix}_description", ""),
        "places": [tuple(k.split(":", 1)) for k in s.get(f"{prefix}_places", [])],
        "partners": s.get(f"{prefix}_partners", ""), "start_date": s.get(f"{prefix}_start"),
        "end_date": s.get(f"{prefix}_end"), "status": s.get(f"{prefix}_status", "proposed"),
        "budget_allocated": s.get(f"{prefix}_allocated", 0), "budget_committed": s.get(f"{prefix}_committed", 0),
        "budget_spent": s.get(f"{prefix}_spent", 0), "funding_source": s.get(f"{prefix}_funding", "comune"),
        "private_investment": s.get(f"{prefix}_private", 0), "indicators": s.get(f"{prefix}_indicators", []),
    }


def _submit_create(store: ProgrammeStore, prefix: str, line_ids: list[str], indicators: list[str], lang: str,
                   levels: Sequence[str] | None = None) -> None:
    try:
        action = clean_action(_form_values(prefix), line_ids, indicators, levels)
        change = store.create(action, auth.current_user(), st.session_state.get(f"{prefix}_reason", ""))
    except BoardStoreError as exc:
        _flash("error", error_text(exc, lang))
        return
    for field in ("title", "description", "partners", "reason"):
        st.session_state[f"{prefix}_{field}"] = ""
    st.query_params["azione"] = str(change.action_id)
    _flash("success", t("pg_duplicate", lang) if change.duplicate else t("pg_created", lang, id=change.action_id))


def _submit_edit(store: ProgrammeStore, prefix: str, action_id: int, base_version: int, line_ids: list[str],
                 indicators: list[str], lang: str, levels: Sequence[str] | None = None) -> None:
    """`base_version` is bound when the form is drawn: the version the official was looking at."""
    try:
        action = clean_action(_form_values(prefix), line_ids, indicators, levels)
        change = store.edit(action_id, base_version, action, auth.current_user(),
                            st.session_state.get(f"{prefix}_reason", ""))
    except BoardStoreError as exc:
        _flash("error", error_text(exc, lang))
        return
    _flash("success", t("pg_duplicate", lang) if change.duplicate else
           t("pg_saved", lang, id=change.action_id, version=change.version))


def action_form(store: ProgrammeStore, ctx: PageContext, line_frame: pd.DataFrame, index: pd.DataFrame,
                indicator_names: dict[str, str], action: Action | None) -> None:
    """The create form (action None) or the edit form of `action` at its current version."""
    lang = ctx.lang
    prefix = "pg_new" if action is None else f"pg_edit_{action.action_id}_v{action.version}"
    line_ids = list(line_frame["line_id"])
    places = place_options(index, lang, ctx.territory)
    levels = list(ctx.territory.level_ids)
    indicators = list(indicator_names)
    a = action or Action(title="", line=line_ids[0] if line_ids else "")
    fmt = "DD/MM/YYYY" if lang == "it" else "YYYY-MM-DD"
    with st.form(f"{prefix}_form", clear_on_submit=False, border=False):
        st.text_input(t("pg_f_title", lang), value=a.title, key=f"{prefix}_title", max_chars=200)
        c1, c2, c3 = st.columns(3)
        c1.selectbox(t("pg_col_line", lang), line_ids, index=line_ids.index(a.line) if a.line in line_ids else 0,
                     format_func=lambda v: line_name(line_frame, v, lang), key=f"{prefix}_line")
        c2.selectbox(t("pg_col_status", lang), STATUSES, index=STATUSES.index(a.status),
                     format_func=lambda v: t(f"pg_status_{v}", lang), key=f"{prefix}_status")
        c3.selectbox(t("pg_col_funding", lang), FUNDING_SOURCES, index=FUNDING_SOURCES.index(a.funding_source),
                     format_func=lambda v: t(f"pg_fund_{v}", lang), key=f"{prefix}_funding")
        st.text_area(t("pg_f_description", lang), value=a.description, key=f"{prefix}_description", max_chars=5000)
        fine, parent = ctx.territory.fine, ctx.territory.parent
        areas = " / ".join(lv.label(lang) for lv in (fine, parent) if lv)
        st.multiselect(t("pg_f_places", lang, areas=areas), list(places),
                       default=[p.key() for p in a.places if p.key() in places],
                       format_func=lambda k: places.get(k, k), key=f"{prefix}_places")
        d1, d2 = st.columns(2)
        d1.date_input(t("pg_col_start", lang), value=a.start_date, key=f"{prefix}_start", format=fmt,
                      min_value=date(2015, 1, 1), max_value=date(2040, 12, 31))
        d2.date_input(t("pg_col_end", lang), value=a.end_date, key=f"{prefix}_end", format=fmt,
                      min_value=date(2015, 1, 1), max_value=date(2040, 12, 31))
        m1, m2, m3, m4 = st.columns(4)
        for col, field, value in ((m1, "allocated", a.budget_allocated), (m2, "committed", a.budget_committed),
                                  (m3, "spent", a.budget_spent), (m4, "private", a.private_investment)):
            col.number_input(t(f"pg_col_{field}", lang), min_value=0.0, max_value=1e12, value=float(value), step=1000.0,
                             key=f"{prefix}_{field}")
        st.text_area(t("pg_f_partners", lang), value="\n".join(a.partners), key=f"{prefix}_partners")
        st.multiselect(t("pg_f_indicators", lang), indicators, default=[i for i in a.indicators if i in indicator_names],
                       format_func=lambda i: indicator_names.get(i, i), key=f"{prefix}_indicators")
        st.text_input(t("pg_f_reason_new" if action is None else "pg_f_reason", lang), key=f"{prefix}_reason",
                      max_chars=1000)
        if action is None:
            st.form_submit_button(t("pg_create", lang), type="primary", on_click=_submit_create,
                                  args=(store, prefix, line_ids, indicators, lang, levels))
        else:
            st.form_submit_button(t("pg_save", lang), type="primary", on_click=_submit_edit,
                                  args=(store, prefix, action.action_id, action.version, line_ids, indicators, lang, levels))


def show_flash() -> None:
    if "pg_flash" in st.session_state:
        kind, text = st.session_state.pop("pg_flash")
        (st.success if kind == "success" else st.error)(text)


# --- the district profile's section --------------------------------------------------------------

def district_actions(ctx: PageContext, district_id: int, parent_id: int | None) -> None:
    """Actions with a place in this area of the finest level or on its whole parent area (the district
    profile calls this; `parent_id` None or a territory without parent level: the area alone)."""
    lang = ctx.lang
    fine, parent = ctx.territory.fine, ctx.territory.parent
    names = {"fine": fine.label(lang), "parent": parent.label(lang) if parent else ""}
    st.subheader(t("pg_district_title", lang))
    try:
        store = ProgrammeStore.from_env(demo=ctx.info.is_demo)
        actions = store.actions()
    except BoardStoreError as exc:
        st.error(error_text(exc, lang))
        return
    index = place_index(ctx.key)
    alloc = pg.allocations(actions, index, pd.DataFrame({"district_id": [], "class_id": []}))
    here = alloc["district_id"].eq(district_id).fillna(False).astype(bool)
    if parent is not None and parent_id is not None:
        here |= (alloc["kind"].eq(parent.id) & alloc["parent_id"].eq(parent_id)).fillna(False).astype(bool)
    ids = set(alloc.loc[here, "action_id"])
    chosen = [a for a in actions if a.action_id in ids]
    with_parent = "" if parent is None else "_parent"
    if not chosen:
        st.caption(t(f"pg_district_none{with_parent}", lang, **names))
        return
    st.caption(t(f"pg_district_caption{with_parent}", lang, **names))
    table = actions_table(chosen, lines(ctx.key), index, lang, ctx.territory)
    ui.table(table, lang)
    downloads.download_menu(table, downloads.page_spec(ctx, "quartiere_azioni", {fine.id: str(district_id)}), lang,
                            key="district_actions_dl")
    st.page_link("pages/programma.py", label=t("page_programme", lang), icon=":material/flag:",
                 query_params={"lang": lang})


def fmt_eur(value: float, lang: str) -> str:
    return f"{fmt_number(value, lang)} €"


def fmt_meur(value: float, lang: str, decimals: int = 1) -> str:
    """Millions of euro ('10,0 mln €' / '€10.0 M'), for the headline figures (the full amount goes in the help)."""
    return t("pg_meur", lang, value=fmt_number(value / 1e6, lang, decimals))


__all__ = ["ALL", "action_points", "actions_map", "actions_table", "district_actions", "fmt_eur", "ledger_table", "lines_table",
           "open_store"]
