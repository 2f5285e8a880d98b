"""Programma: the lines of intervention and their objectives, the actions register (create, edit, history),
a map of the actions with a place, and the funds ledger against the envelope. Filters live in the URL.
Area filters and the ledger split follow the territory's levels: the parent level (e.g. Municipio) is
offered only when the territory has one, under its own URL key (?municipio=3)."""

import pandas as pd
import streamlit as st

from osservatorio import auth, downloads, queries, ui, views
from osservatorio import programme as pg
from osservatorio import programme_views as pv
from osservatorio.board_store import BoardStoreError
from osservatorio.i18n import fmt_number, t
from osservatorio.page_views import programma as view
from osservatorio.programme_store import STATUSES
from osservatorio.views import ALL, newest_snapshot

ctx = ui.page_start("page_programme")
lang = ctx.lang
parent = ctx.territory.parent  # None: the territory has one level, no parent filter or split
st.write(t("pg_intro", lang))
pv.show_flash()
line_frame = pv.lines(ctx.key)
objective_frame = pv.objectives(ctx.key)
index = pv.place_index(ctx.key)
class_frame = pv.classes(ctx.key, lang)
snapshot = newest_snapshot(queries.snapshots_if_any(ctx.key))
catalogue = queries.catalogue(ctx.key, snapshot) if snapshot else pd.DataFrame(columns=["indicator_id", f"name_{lang}"])
indicator_names = {str(i): views.plain(n) for i, n in zip(catalogue["indicator_id"], catalogue[f"name_{lang}"], strict=True)}

# --- lines and objectives
st.subheader(t("pg_lines_title", lang))
if line_frame.empty:
    st.info(t("pg_no_lines", lang, territory=ctx.territory.name(lang)))
    st.stop()
sources = sorted(set(line_frame["source"]))
st.caption(t("pg_lines_caption", lang, source=views.md_text("; ".join(sources))))
lines_shown = view.lines_table(line_frame, objective_frame, lang, indicator_names)
ui.table(lines_shown, lang)
downloads.download_menu(lines_shown, downloads.page_spec(ctx, "programma_linee"), lang, key="pg_lines_dl")

# --- the register
user = auth.current_user()
try:
    store = pv.open_store(ctx)
    actions = store.actions()
except BoardStoreError as exc:
    st.error(pv.error_text(exc, lang))
    st.stop()
writable = user.can("write") and not store.read_only
if writable:
    st.sidebar.caption(t("pg_signed_as", lang, who=views.md_text(user.label)))
else:
    st.sidebar.info(t("pg_read_only", lang))

st.subheader(t("pg_actions_title", lang))
if ctx.info.is_demo and actions:
    st.caption(t("pg_demo_store", lang))
line_ids = list(line_frame["line_id"])
line, status, parent_area = ALL, ALL, ALL  # an empty register has nothing to filter
if actions:
    c1, c2, c3 = st.columns(3)
    with c1:
        line = ui.url_choice(t("pg_col_line", lang), [ALL, *line_ids], "linea", lang,
                             format_func=lambda v: t("pg_all_lines", lang) if v == ALL else pv.line_name(line_frame, v, lang))
    with c2:
        status = ui.url_choice(t("pg_col_status", lang), [ALL, *STATUSES], "stato", lang,
                               format_func=lambda v: t("pg_all_statuses", lang) if v == ALL else t(f"pg_status_{v}", lang))
    if parent is not None:
        with c3:
            parent_area = ui.url_choice(parent.label(lang), [ALL, *view.parent_filter_options(index, ctx.territory)],
                                        parent.url_key, lang,
                                        format_func=lambda v: t("pg_all_areas", lang, plural=parent.plural(lang)) if v == ALL
                                        else f"{parent.label(lang)} {v}")
filters = {k: v for k, v in {"linea": line, "stato": status, parent.url_key if parent else "": parent_area}.items() if v != ALL}
shown = pg.filter_actions(actions, None if line == ALL else line, None if status == ALL else status,
                          None if parent_area == ALL else int(parent_area), places=index)
if not actions:
    st.info(t("pg_empty_register" if writable else "pg_empty_register_ro", lang))
elif not shown:
    st.info(t("pg_no_actions_selection", lang))
else:
    table = pv.actions_table(shown, line_frame, index, lang, ctx.territory)
    ui.table(table, lang)
    downloads.download_menu(table, downloads.page_spec(ctx, "programma_azioni", filters), lang, key="pg_actions_dl")

alloc = pg.allocations(shown, index, class_frame)
if shown:
    pv.actions_map(ctx, alloc, index, line_frame)

# --- funds
st.subheader(t("pg_funds_title", lang))
amount, funding = pg.envelope(line_frame)
if amount is None:
    st.info(t("pg_no_envelope", lang))
else:
    use = pg.envelope_use(shown, amount, funding)
    k = st.columns(5)
    k[0].metric(t("pg_envelope", lang), pv.fmt_meur(amount, lang), help=pv.fmt_eur(amount, lang))
    k[1].metric(t("pg_envelope_allocated", lang), pv.fmt_eur(use.allocated, lang),
                f"{fmt_number(use.share(use.allocated) * 100, lang, 1)} %", delta_color="off", delta_arrow="off")
    k[2].metric(t("pg_envelope_committed", lang), pv.fmt_eur(use.committed, lang),
                f"{fmt_number(use.share(use.committed) * 100, lang, 1)} %", delta_color="off", delta_arrow="off")
    k[3].metric(t("pg_envelope_spent", lang), pv.fmt_eur(use.spent, lang),
                f"{fmt_number(use.share(use.spent) * 100, lang, 1)} %", delta_color="off", delta_arrow="off")
    k[4].metric(t("pg_envelope_available", lang), pv.fmt_meur(use.available, lang, 2), help=pv.fmt_eur(use.available, lang))
    source = line_frame.loc[line_frame["envelope_eur"].notna(), "envelope_source"].iloc[0]
    st.caption(t("pg_envelope_caption", lang, source=views.md_text(source),
                 funding=", ".join(t(f"pg_fund_{f}", lang) for f in funding)))
if not shown:
    st.caption(t("pg_funds_empty", lang))
    lev = None
else:
    lev = pg.leverage(shown)
if lev is not None:
    st.metric(t("pg_leverage", lang), fmt_number(lev.ratio, lang, 2) if lev.ratio is not None else t("pg_leverage_none", lang))
    st.caption(t("pg_leverage_caption", lang, private=fmt_number(lev.private_eur, lang), public=fmt_number(lev.public_eur, lang),
                 other=fmt_number(lev.other_eur, lang)))
    has_classes = not class_frame.empty  # a territory without a periphery file has no classes: no class split
    split = ui.url_choice(t("pg_ledger_by", lang), view.ledger_splits(ctx.territory, has_classes), "ripartizione", lang,
                          format_func=lambda v: view.split_label(ctx.territory, v, lang))
    by = view.split_by(ctx.territory, split)
    ledger_shown = view.ledger_table(pg.ledger(alloc, by, line_ids), by, line_frame, class_frame, lang,
                                   territory=ctx.territory)
    ui.table(ledger_shown, lang, decimals={c: 0 for c in ledger_shown.columns[2:]})
    st.caption(view.ledger_rule(ctx.territory, lang))
    downloads.download_menu(ledger_shown, downloads.page_spec(ctx, f"programma_fondi_{split}", filters), lang,
                            key="pg_ledger_dl")
    st.markdown(f"**{t('pg_periphery_title', lang)}**")
    if not has_classes:
        st.caption(t("pg_no_classes", lang, territory=views.md_text(ctx.territory.name(lang))))
    else:
        pvc = view.ledger_table(pg.periphery_vs_centre(alloc), "class", line_frame, class_frame, lang, share=True)
        ui.table(pvc, lang, decimals={**{c: 0 for c in pvc.columns[2:6]}, pvc.columns[6]: 1})
        downloads.download_menu(pvc, downloads.page_spec(ctx, "programma_periferia_centro", filters), lang, key="pg_pvc_dl")

# --- create, edit, history
if writable:
    with st.expander(t("pg_new_action", lang), expanded=not actions, icon=":material/add:"):
        pv.action_form(store, ctx, line_frame, index, indicator_names, None)
if actions:
    st.subheader(t("pg_history", lang))
    ids = [str(a.action_id) for a in actions]
    by_id = {str(a.action_id): a for a in actions}
    chosen = ui.url_choice(t("pg_choose_action", lang), ids, "azione", lang,
                           format_func=lambda v: f"{v} · {views.plain(by_id[v].title)}")
    action = by_id[chosen]
    for key in pg.budget_warnings(action):
        st.warning(t(key, lang))
    history = pv.history_table(store, action.action_id, lang)
    ui.table(history, lang)
    downloads.download_menu(history, downloads.page_spec(ctx, "programma_storia_azione", {"azione": chosen}), lang,
                            key="pg_history_dl")
    # Part 2 (evaluation of actions) renders the selected action's before/after here: `action`, its places in `alloc`.
    if writable:
        with st.expander(t("pg_edit_action", lang), icon=":material/edit:"):
            pv.action_form(store, ctx, line_frame, index, indicator_names, action)
