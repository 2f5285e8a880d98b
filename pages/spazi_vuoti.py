"""Spazi vuoti: vacant and disused spaces, the places near makers in the periphery, and the
opportunity map with adjustable weights (re-weighting runs in a fragment: only that part reruns)."""

import streamlit as st

from osservatorio import downloads, queries, theme_views, ui, views
from osservatorio import indicator_views as iv
from osservatorio.i18n import fmt_number, t
from osservatorio.theme_views import ALL

page = ui.theme_page_start("page_vacant")
ctx, stats, snapshot, classes = page.ctx, page.stats, page.snapshot, page.classes
lang = ctx.lang
geojson = queries.map_geojson(ctx.key, "nil")
vacant = queries.places(ctx.key, "vacant")
st.write(t("th_vacant_intro", lang))

c1, c2, c3 = st.columns(3)
with c1:
    municipio = ui.municipio_filter(lang, stats)
with c2:
    klass = ui.periphery_class_filter(lang, snapshot, classes)
with c3:
    status = ui.url_choice(t("col_status", lang), theme_views.status_options(vacant), "stato", lang,
                           format_func=lambda v: t("th_all_statuses", lang) if v == ALL else theme_views.status_name(v, lang))
filters = {k: v for k, v in {"municipio": municipio, "periferia": klass, "stato": status}.items() if v != ALL}
peripheral = theme_views.peripheral_nil(classes)
near = queries.vacant_near_makers(ctx.key, frozenset(peripheral)) if peripheral and not vacant.empty else None

vacant_state = ui.theme_notice(ctx.key, "vacant", lang)  # no source / a refused source: said, never a zero
if vacant.empty:
    if vacant_state.loaded:
        st.info(t("th_no_vacant", lang))
else:
    n_secondary, secondary_ids = theme_views.secondary_count(vacant)
    if n_secondary:
        st.caption(t("th_secondary_caption", lang, n=fmt_number(n_secondary, lang), total=fmt_number(len(vacant), lang),
                     sources=views.md_text(", ".join(secondary_ids))))
    shown = theme_views.filter_status(theme_views.filter_places(vacant, classes, municipio, klass), status)
    selected = theme_views.selected_nil(stats, classes, municipio, klass)
    st.subheader(t("th_vacant_title", lang, n=fmt_number(len(shown), lang)))
    n_assigned = int((shown["status"] == "assigned").sum()) if "status" in shown.columns else 0
    if n_assigned:  # the vacant indicators leave these out: the page says why its count is larger
        st.caption(t("th_vacant_assigned_note", lang, n=fmt_number(len(shown), lang), assigned=fmt_number(n_assigned, lang),
                     counted=fmt_number(len(shown) - n_assigned, lang)))
    if shown.empty:
        st.info(t("th_no_places_selection", lang))
    else:
        st.plotly_chart(queries.figure(("vacant_map", ctx.key, snapshot, municipio, klass, status, lang, ctx.map_style),
                                       lambda: theme_views.vacant_map(geojson, shown, stats, selected, lang, ctx.map_style)),
                        width="stretch",
                        key="vacant_map")
        table = theme_views.vacant_table(shown, stats, classes, near, lang)
        ui.table(table, lang, links=(t("th_col_record", lang),))
        id_col = t("th_col_place_id", lang)
        downloads.download_menu(table, downloads.page_spec(ctx, "spazi_vuoti", filters), lang,
                                geojson=theme_views.points_geojson(shown, table[id_col].tolist()), id_col=id_col,
                                key="vacant_places")
        st.subheader(t("th_breakdown_title", lang))
        breakdown = theme_views.vacant_breakdown(shown, lang)
        public, assumed, guessed = theme_views.public_assumption(shown)
        if public and assumed:
            st.caption(t("th_public_assumed", lang, public=fmt_number(public, lang), assumed=fmt_number(assumed, lang),
                         declared=fmt_number(public - assumed, lang)))
        elif public:
            st.caption(t("th_public_declared", lang, public=fmt_number(public, lang)))
        if guessed:
            st.caption(t("th_public_guessed", lang, n=fmt_number(guessed, lang)))
        st.plotly_chart(queries.figure(("vacant_breakdown", ctx.key, snapshot, municipio, klass, status, lang),
                                       lambda: theme_views.breakdown_chart(breakdown, lang)),
                        width="stretch", key="vacant_breakdown")
        downloads.download_menu(breakdown, downloads.page_spec(ctx, "spazi_vuoti_ripartizione", filters), lang,
                                key="vacant_breakdown_dl")

    st.subheader(t("th_near_title", lang))
    if near is None:
        st.info(t("th_near_unavailable", lang))
    elif not theme_views.near_targets_known(near):
        st.info(t("th_near_no_targets", lang))
    else:
        st.caption(t("th_near_caption", lang))
        near_shown = theme_views.filter_status(theme_views.filter_places(near, classes, municipio, klass), status)
        near_list = theme_views.near_table(near_shown, stats, classes, lang)
        if near_list.empty:
            st.info(t("th_near_none", lang))
        else:
            ui.table(near_list, lang)
            id_col = t("th_col_place_id", lang)
            near_points = near_shown[near_shown["near"]]
            downloads.download_menu(near_list, downloads.page_spec(ctx, "spazi_vuoti_vicini_maker", filters), lang,
                                    geojson=theme_views.points_geojson(near_points, theme_views.place_ids(near_points).tolist()),
                                    id_col=id_col, key="vacant_near")


def _reset_weights(defaults: dict[str, int]) -> None:
    for indicator, weight in defaults.items():
        st.session_state[f"w_{indicator}"] = weight
    st.query_params.pop("pesi", None)


@st.fragment
def opportunity() -> None:
    """The opportunity map: sliders -> ETL scoring function on the cached component values -> map and table."""
    st.subheader(t("th_opportunity_title", lang))
    if not snapshot:
        st.info(t("th_no_snapshot", lang))
        return
    try:
        components = theme_views.score_components()
    except ValueError as exc:
        st.info(t("th_no_components", lang, error=exc))
        return
    catalogue = queries.catalogue(ctx.key, snapshot)
    defaults = theme_views.default_weights(components)
    initial, invalid = theme_views.initial_weights(st.query_params.get("pesi"), components)
    if invalid:
        st.info(t("url_value_unknown", lang, param="pesi", value=st.query_params.get("pesi", "")[:60],
                  fallback=theme_views.format_weights(defaults, components)))
    st.write(t("th_opportunity_intro", lang))
    for c in components:
        st.session_state.setdefault(f"w_{c.indicator}", initial[c.indicator])
    valued = iv.valued_indicators(queries.indicator_coverage(ctx.key, snapshot), ("nil",))
    for column, c in zip(st.columns(len(components)), components, strict=True):
        column.slider(iv.choice_label(theme_views.indicator_name(catalogue, c.indicator, lang), c.indicator in valued, lang),
                      0, theme_views.WEIGHT_MAX, step=5,
                      key=f"w_{c.indicator}", help=t(f"th_dir_{c.direction}", lang))
    weights = {c.indicator: int(st.session_state[f"w_{c.indicator}"]) for c in components}
    st.button(t("th_weights_reset", lang), on_click=_reset_weights, args=(defaults,), key="w_reset")
    if weights != defaults or "pesi" in st.query_params:
        st.query_params["pesi"] = theme_views.format_weights(weights, components)
    effective = theme_views.effective_weights(weights, valued)  # components without data are dropped by the score
    st.caption(theme_views.weights_caption(components, effective, catalogue, lang))
    dropped = [theme_views.indicator_name(catalogue, c.indicator, lang) for c in components
               if c.indicator not in valued and weights[c.indicator] > 0]
    if dropped:
        st.caption(t("th_weights_dropped", lang, names="; ".join(dropped)))
    weights_table = theme_views.weights_table(components, weights, catalogue, lang, valued)
    ui.table(weights_table, lang)
    matrix, reasons = theme_views.component_matrix(
        {c.indicator: queries.indicator_values(ctx.key, snapshot, c.indicator, "nil") for c in components}, stats["id"].tolist())
    scores = theme_views.reweighted_scores(matrix, reasons, weights, {c.indicator: c.direction for c in components})
    if scores["score"].isna().all():  # one line instead of an all-grey map and an empty table
        st.info(t("th_score_none", lang))
        return
    fingerprint = ("opportunity_map", ctx.key, snapshot, tuple(sorted(weights.items())), lang, ctx.map_style)
    st.plotly_chart(queries.figure(fingerprint, lambda: theme_views.opportunity_map(geojson, scores, stats, near, lang,
                                                                                 ctx.map_style)), width="stretch",
                    key="opportunity_map")
    table = theme_views.opportunity_table(scores, matrix, stats, classes, catalogue, lang)
    ui.table(table, lang)
    caption = theme_views.weights_caption(components, effective, catalogue, lang)
    spec = downloads.page_spec(ctx, "punteggio_opportunita", {"pesi": theme_views.format_weights(weights, components)},
                               metadata={t("th_col_weight", lang): caption})
    downloads.download_menu(table, spec, lang, geojson=geojson, id_col=t("col_id", lang), key="opportunity_dl")


opportunity()
