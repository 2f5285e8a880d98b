"""Obiettivi: objectives and targets — status per target with the rule in words, current vs expected
vs target, and each target's trend toward its deadline across snapshots; target calibration; the
evaluation of the register's actions on the areas of the territory's finest level (actions on a place
use its area, actions on a parent area use the areas inside it; the others are listed with the reason)."""

from datetime import date

import pandas as pd
import streamlit as st

from osservatorio import auth, calibration, downloads, evaluation, queries, review, ui, views
from osservatorio import indicator_views as iv
from osservatorio import programme_views as pv
from osservatorio.board_store import BoardStoreError
from osservatorio.i18n import fmt_number, t
from osservatorio.page_views import obiettivi as view
from osservatorio.views import ALL

ctx = ui.page_start("page_targets")
lang = ctx.lang
snapshots = queries.snapshots(ctx.key)
snapshot = views.newest_snapshot(snapshots)
if not snapshot:
    st.info(t("th_no_snapshot", lang))
    st.stop()
fine = ctx.territory.fine  # the level of the evaluation's areas
stats = queries.district_stats(ctx.key, fine.id)
catalogue = queries.catalogue(ctx.key, snapshot)


def evaluation_section(default: str | None) -> None:
    """The evaluation of actions (osservatorio.evaluation): register actions, or the method tried on an area and a
    date; `default` = the indicator offered first (the chosen target's). Shown also when there are no targets."""
    st.subheader(t("ev_title", lang))
    st.caption(t("ev_method", lang, min=evaluation.MIN_AREAS, fine=fine.label(lang)))
    parent = ctx.territory.parent
    register, not_evaluable = evaluation.register_actions(pv.place_index(ctx.key), fine.id, parent.id if parent else None,
                                                          demo=ctx.info.is_demo)
    actions = register
    area_names = {int(i): str(n) for i, n in zip(stats["id"], stats["name"], strict=True)}
    fine_indicators = view.fine_indicators(catalogue, fine)
    indicator_label = lambda i: review.indicator_label(catalogue, i, lang)  # noqa: E731
    if not actions:
        st.info(t("ev_no_actions", lang))
    e1, e2, e3 = st.columns(3)
    if actions:
        by_action = {a.action_id: a for a in actions}
        chosen_action = by_action[e1.selectbox(t("ev_action", lang), list(by_action), key="ev_action",
                                               format_func=lambda a: f"{a} · {views.plain(by_action[a].title)}")]
        e2.text("\n".join(view.treated_lines(chosen_action, area_names, fine, lang)))
        indicator_id = e3.selectbox(t("ev_indicator", lang), list(chosen_action.indicator_ids), key="ev_indicator_action",
                                    format_func=indicator_label)
    else:
        options = fine_indicators or ([default] if default else [])
        if not options or not area_names:  # nothing to try the method on
            st.caption(t("ev_nothing_to_try", lang, fine=fine.plural(lang)))
            return
        area_choice = e1.selectbox(fine.label(lang), sorted(area_names), key="ev_area",
                                   format_func=lambda i: f"{i} · {area_names[i]}")
        indicator_id = e3.selectbox(t("ev_indicator", lang), options, key="ev_indicator", format_func=indicator_label,
                                    index=options.index(default) if default in options else 0)
    classes = view.periphery_classes(queries.district_groups(ctx.key, snapshot))
    frames = [(day, queries.indicator_values(ctx.key, s["snapshot_id"], indicator_id, fine.id, True))
              for s in snapshots.sort_values("created_at").to_dict("records")
              if (day := view.as_of_date(s["created_at"])) is not None]
    observations = evaluation.observations_from_snapshots(frames)
    if not actions:  # default start: the day after the indicator's second-latest data date (the latest change)
        start_choice = e2.date_input(t("ev_start", lang), key=f"ev_start_{indicator_id}",
                                     value=evaluation.default_start(observations) or date(date.today().year - 1, 1, 1),
                                     format="DD/MM/YYYY" if lang == "it" else "YYYY-MM-DD")
        chosen_action = evaluation.ActionRef("prova", int(area_choice), start_choice, (indicator_id,))
    result = evaluation.did(chosen_action, indicator_id, observations, classes, [a for r in register for a in r.treated_areas])
    num = lambda v: fmt_number(v, lang, 2)  # noqa: E731
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(t("ev_metric_treated", lang), num(result.treated.change) if result.treated else "–")
    m2.metric(t("ev_metric_comparison", lang), num(result.comparison_change))
    m3.metric(t("ev_metric_effect", lang), num(result.effect))
    m4.metric(t("ev_metric_areas", lang), result.n_comparison)
    st.text("\n".join(evaluation.summary_lines(result, lang, num)))
    if not_evaluable:  # say which actions could not be evaluated, and why
        st.markdown(f"**{t('ev_not_evaluable_title', lang)}**")
        ui.table(view.not_evaluable_table(not_evaluable, lang), lang)


status_frame = queries.target_status(ctx.key, snapshot)
if status_frame.empty:
    st.info(t("th_no_targets", lang))
    evaluation_section(None)  # the evaluation does not need targets
    st.stop()
names = view.area_names(stats, queries.district_groups(ctx.key, snapshot), lang, territory=ctx.territory)
as_of = view.as_of_date(snapshots["created_at"].iloc[0])
st.write(t("th_targets_intro", lang))
st.caption(t("th_target_rule", lang))

c1, c2 = st.columns(2)
with c1:
    objective = ui.url_choice(t("th_col_objective", lang), view.objective_options(status_frame), "obiettivo", lang,
                              format_func=lambda v: views.option_label(v, lang, "th_all_objectives"))
with c2:
    status = ui.url_choice(t("col_status", lang), view.status_filter_options(), "stato", lang,
                           format_func=lambda v: t("th_all_statuses", lang) if v == ALL else view.status_text(v, lang))
shown = view.filter_targets(status_frame, objective, status)
filters = {k: v for k, v in {"obiettivo": objective, "stato": status}.items() if v != ALL}

with st.container(horizontal=True, gap="small"):
    for label, color in view.status_badges(shown, lang):
        st.badge(label, color=color)
if shown.empty:
    st.info(t("th_no_targets_selection", lang))
    st.stop()

table = view.targets_table(shown, catalogue, names, as_of, lang)
ui.table(table, lang)
downloads.download_menu(table, downloads.page_spec(ctx, "obiettivi", filters), lang, key="targets_dl")
ui.chart(("targets_progress", ctx.key, snapshot, objective, status, lang),
         lambda: view.progress_chart(shown, catalogue, names, lang), key="targets_progress")
st.caption(t("th_progress_caption", lang))

st.subheader(t("th_trend_title", lang))
rows = {str(r["target_id"]): r for r in shown.to_dict("records")}
with_value = {k for k, r in rows.items() if pd.notna(r["current_value"])}
target_ids = iv.with_values_first(list(rows), with_value)  # targets without a current value last, marked
target_id = ui.url_choice(t("th_col_target_id", lang), target_ids, "target", lang,
                          default=iv.default_choice(target_ids, with_value),
                          format_func=lambda v: iv.choice_label(view.target_option_label(rows[v], catalogue, names, lang),
                                                                v in with_value, lang))
row = rows[target_id]
history = queries.target_history(ctx.key, target_id)
unit = review.indicator_unit(catalogue, str(row["indicator_id"]))
ui.chart(("targets_trend", ctx.key, snapshot, target_id, lang), lambda: view.trend_chart(history, row, unit, lang),
         key="targets_trend")
st.caption(view.target_explanation(row, as_of, lang))
trend = view.trend_table(history, row, lang)
downloads.download_menu(trend, downloads.page_spec(ctx, "obiettivo_andamento", {"target": target_id}), lang,
                        key="targets_trend_dl")

# --- calibration of the chosen target (osservatorio.calibration) -------------------------------------------
st.subheader(t("cal_title", lang))
st.caption(t("cal_intro", lang))
cal_store = calibration.CalibrationStore.from_env(demo=ctx.info.is_demo)
if ctx.info.is_demo:
    cal_store.seed_demo([(str(r["target_id"]), float(r["target_value"]), pd.Timestamp(r["deadline"]).date())
                         for r in status_frame.to_dict("records")])
try:
    revisions = cal_store.revisions(target_id=target_id)
except BoardStoreError as exc:
    st.error(ui.md_escape(str(exc)))
    revisions = []
if "cal_flash" in st.session_state:
    flash_kind, flash_text = st.session_state.pop("cal_flash")
    (st.success if flash_kind == "success" else st.error)(flash_text)
direction = str(catalogue.loc[catalogue["indicator_id"] == row["indicator_id"], "direction"].iloc[0]) \
    if (catalogue["indicator_id"] == row["indicator_id"]).any() else "higher_better"
if not revisions:
    st.caption(t("cal_none", lang))
else:
    st.plotly_chart(calibration.path_figure(row, revisions, view.trend_points(history), unit, lang), width="stretch",
                    key="cal_path")
    ui.table(calibration.revisions_table(revisions, lang), lang)
    st.markdown(f"**{t('cal_history_title', lang)}**")
    st.caption(t("cal_history_help", lang))
    ui.table(calibration.history_in_force(view.trend_points(history), row, revisions, direction, lang), lang)
user = auth.current_user()
if cal_store.read_only or not user.can("write"):
    st.caption(t("cal_editors_only", lang))
else:
    def propose_revision() -> None:
        """The signed-in user is read again at the click: the store refuses a role withdrawn meanwhile."""
        s = st.session_state
        try:
            cal_store.propose(target_id, s["cal_value"] if s.get("cal_use_value") else None,
                              s["cal_deadline"] if s.get("cal_use_deadline") else None, s["cal_effective"],
                              s.get("cal_reason", ""), auth.current_user())
        except BoardStoreError as exc:
            text = t(exc.code, lang, **exc.params)
            st.session_state["cal_flash"] = ("error", ui.md_escape(str(exc)) if text == exc.code else text)
            return
        s["cal_reason"] = ""
        st.session_state["cal_flash"] = ("success", t("cal_proposed", lang))

    with st.form("cal_form", border=True):
        st.markdown(f"**{t('cal_propose_title', lang)}**")
        v1, v2, v3 = st.columns(3)
        v1.checkbox(t("cal_change_value", lang), key="cal_use_value", value=True)
        v1.number_input(t("cal_new_value", lang), key="cal_value", value=float(row["target_value"]), format="%.2f")
        v2.checkbox(t("cal_change_deadline", lang), key="cal_use_deadline")
        v2.date_input(t("cal_new_deadline", lang), key="cal_deadline", value=pd.Timestamp(row["deadline"]).date(),
                      format="DD/MM/YYYY" if lang == "it" else "YYYY-MM-DD")
        v3.date_input(t("cal_effective", lang), key="cal_effective", value=date.today(),
                      format="DD/MM/YYYY" if lang == "it" else "YYYY-MM-DD")
        st.text_area(t("cal_reason", lang), key="cal_reason", height=80)
        st.form_submit_button(t("cal_submit", lang), on_click=propose_revision)

evaluation_section(str(row["indicator_id"]))
