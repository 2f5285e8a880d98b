"""Obiettivi: objectives and targets — status per target with the rule in words, current vs expected
vs target, and each target's trend toward its deadline across snapshots."""

import pandas as pd
import streamlit as st

from osservatorio import downloads, queries, theme_views, ui
from osservatorio import indicator_views as iv
from osservatorio.i18n import t
from osservatorio.theme_views import ALL

ctx = ui.page_start("page_targets")
lang = ctx.lang
snapshots = queries.snapshots(ctx.key)
snapshot = theme_views.latest_snapshot(snapshots)
if not snapshot:
    st.info(t("th_no_snapshot", lang))
    st.stop()
status_frame = queries.target_status(ctx.key, snapshot)
if status_frame.empty:
    st.info(t("th_no_targets", lang))
    st.stop()
stats = queries.district_stats(ctx.key, "nil")
names = theme_views.area_names(stats, queries.district_groups(ctx.key, snapshot), lang)
catalogue = queries.catalogue(ctx.key, snapshot)
as_of = theme_views.as_of_date(snapshots["created_at"].iloc[0])
st.write(t("th_targets_intro", lang))
st.caption(t("th_target_rule", lang))

c1, c2 = st.columns(2)
with c1:
    objective = ui.url_choice(t("th_col_objective", lang), theme_views.objective_options(status_frame), "obiettivo", lang,
                              format_func=lambda v: theme_views.option_label(v, lang, "th_all_objectives"))
with c2:
    status = ui.url_choice(t("col_status", lang), theme_views.status_filter_options(), "stato", lang,
                           format_func=lambda v: t("th_all_statuses", lang) if v == ALL else theme_views.status_text(v, lang))
shown = theme_views.filter_targets(status_frame, objective, status)
filters = {k: v for k, v in {"obiettivo": objective, "stato": status}.items() if v != ALL}

with st.container(horizontal=True, gap="small"):
    for label, color in theme_views.status_badges(shown, lang):
        st.badge(label, color=color)
if shown.empty:
    st.info(t("th_no_targets_selection", lang))
    st.stop()

table = theme_views.targets_table(shown, catalogue, names, as_of, lang)
ui.table(table, lang)
downloads.download_menu(table, downloads.page_spec(ctx, "obiettivi", filters), lang, key="targets_dl")
st.plotly_chart(theme_views.progress_chart(shown, catalogue, names, lang), width="stretch", key="targets_progress")
st.caption(t("th_progress_caption", lang))

st.subheader(t("th_trend_title", lang))
rows = {str(r["target_id"]): r for r in shown.to_dict("records")}
with_value = {k for k, r in rows.items() if pd.notna(r["current_value"])}
target_ids = iv.with_values_first(list(rows), with_value)  # targets without a current value last, marked
target_id = ui.url_choice(t("th_col_target_id", lang), target_ids, "target", lang,
                          default=iv.default_choice(target_ids, with_value),
                          format_func=lambda v: iv.choice_label(theme_views.target_option_label(rows[v], catalogue, names, lang),
                                                                v in with_value, lang))
row = rows[target_id]
history = queries.target_history(ctx.key, target_id)
unit = theme_views.indicator_unit(catalogue, str(row["indicator_id"]))
st.plotly_chart(theme_views.trend_chart(history, row, unit, lang), width="stretch", key="targets_trend")
st.caption(theme_views.target_explanation(row, as_of, lang))
trend = theme_views.trend_table(history, row, lang)
downloads.download_menu(trend, downloads.page_spec(ctx, "obiettivo_andamento", {"target": target_id}), lang,
                        key="targets_trend_dl")
