"""Spazi vuoti: vacant and disused spaces, the places near makers in the periphery, and the
opportunity map with adjustable weights (re-weighting runs in a fragment: only that part reruns)."""

from functools import partial

import pandas as pd
import streamlit as st

from osservatorio import downloads, queries, ui, views
from osservatorio.i18n import fmt_number, t
from osservatorio.page_views import spazi_vuoti as sv
from osservatorio.views import ALL

page = ui.theme_page_start("page_vacant")
ctx, stats, snapshot, classes = page.ctx, page.stats, page.snapshot, page.classes
lang, territory = ctx.lang, ctx.territory
fine = territory.fine
fine_words = {"fine": views.inline_label(fine.label(lang)), "fine_plural": views.inline_label(fine.plural(lang))}
geojson = queries.map_geojson(ctx.key, fine.id)
vacant = queries.places(ctx.key, "vacant")
st.write(t("th_vacant_intro", lang))

c1, c2, c3 = st.columns(3)
with c1:
    parent = ui.parent_filter(ctx, stats)  # nothing drawn (ALL) when the territory has one level
with c2:
    klass = ui.periphery_class_filter(lang, snapshot, classes)
with c3:
    status = ui.url_choice(t("col_status", lang), sv.status_options(vacant), "stato", lang,
                           format_func=lambda v: t("th_all_statuses", lang) if v == ALL else sv.status_name(v, lang))
parent_key = territory.parent.url_key if territory.parent else "parent"
filters = {k: v for k, v in {parent_key: parent, "periferia": klass, "stato": status}.items() if v != ALL}
peripheral = views.peripheral_areas(classes)
proximity = queries.place_proximity(ctx.key)  # computed by the build (nearest maker per vacant place)
near = (queries.derived(("vacant_near", ctx.key, snapshot), lambda: sv.near_from_proximity(vacant, proximity, peripheral))
        if peripheral and not vacant.empty and not proximity.empty else None)
view = (ctx.key, snapshot, parent, klass, status, lang)  # what the derived tables below depend on

vacant_state = ui.theme_notice(ctx.key, "vacant", lang)  # no source / a refused source: said, never a zero
if vacant.empty:
    if vacant_state.loaded:
        st.info(t("th_no_vacant", lang))
else:
    n_secondary, secondary_ids = sv.secondary_count(vacant)
    if n_secondary:
        st.caption(t("th_secondary_caption", lang, n=fmt_number(n_secondary, lang), total=fmt_number(len(vacant), lang),
                     sources=views.md_text(", ".join(secondary_ids))))
    shown = sv.filter_status(views.filter_places(vacant, classes, parent, klass), status)
    selected = views.selected_areas(stats, classes, parent, klass)
    st.subheader(t("th_vacant_title", lang, n=fmt_number(len(shown), lang)))
    n_assigned = int((shown["status"] == "assigned").sum()) if "status" in shown.columns else 0
    if n_assigned:  # the vacant indicators leave these out: the page says why its count is larger
        st.caption(t("th_vacant_assigned_note", lang, n=fmt_number(len(shown), lang), assigned=fmt_number(n_assigned, lang),
                     counted=fmt_number(len(shown) - n_assigned, lang)))
    if shown.empty:
        st.info(t("th_no_places_selection", lang))
    else:
        ui.chart(("vacant_map", ctx.key, snapshot, parent, klass, status, lang, ctx.map_style),
                 lambda: sv.vacant_map(geojson, shown, stats, selected, territory, lang, ctx.map_style), key="vacant_map")
        table = queries.derived(("vacant_table", *view), lambda: sv.vacant_table(shown, stats, classes, near, territory, lang))
        ui.table(table, lang, links=(t("th_col_record", lang),))
        id_col = t("th_col_place_id", lang)
        downloads.download_menu(table, downloads.page_spec(ctx, "spazi_vuoti", filters), lang,
                                geojson=partial(views.points_geojson, shown.assign(_id=table[id_col].to_numpy()), "_id"),
                                id_col=id_col, key="vacant_places")  # the layer is made when it is asked for
        st.subheader(t("th_breakdown_title", lang))
        breakdown = queries.derived(("vacant_breakdown", *view), lambda: sv.vacant_breakdown(shown, lang))
        public, assumed, guessed = queries.derived(("vacant_public", *view), lambda: sv.public_assumption(shown))
        if public and assumed:
            st.caption(t("th_public_assumed", lang, public=fmt_number(public, lang), assumed=fmt_number(assumed, lang),
                         declared=fmt_number(public - assumed, lang)))
        elif public:
            st.caption(t("th_public_declared", lang, public=fmt_number(public, lang)))
        if guessed:
            st.caption(t("th_public_guessed", lang, n=fmt_number(guessed, lang)))
        ui.chart(("vacant_breakdown", ctx.key, snapshot, parent, klass, status, lang),
                 lambda: sv.breakdown_chart(breakdown, lang), key="vacant_breakdown")
        downloads.download_menu(breakdown, downloads.page_spec(ctx, "spazi_vuoti_ripartizione", filters), lang,
                                key="vacant_breakdown_dl")

    st.subheader(t("th_near_title", lang))
    if near is None:
        st.info(t("th_near_unavailable", lang))
    elif not sv.near_targets_known(near):
        st.info(t("th_near_no_targets", lang))
    else:
        st.caption(t("th_near_caption", lang, radius=fmt_number(sv.near_radius(near), lang), **fine_words))
        near_shown = sv.filter_status(views.filter_places(near, classes, parent, klass), status)
        near_list = queries.derived(("vacant_near_table", *view),
                                  lambda: sv.near_table(near_shown, stats, classes, territory, lang))
        if near_list.empty:
            st.info(t("th_near_none", lang))
        else:
            ui.table(near_list, lang)
            id_col = t("th_col_place_id", lang)
            near_layer = partial(views.points_geojson, sv.with_place_ids(near_shown[near_shown["near"]]), "_id")
            downloads.download_menu(near_list, downloads.page_spec(ctx, "spazi_vuoti_vicini_maker", filters), lang,
                                    geojson=near_layer,
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
    components = sv.score_components(queries.scoring_weights(ctx.key, snapshot))
    if not components:
        st.info(t("th_no_components_stored", lang))
        return
    catalogue = queries.catalogue(ctx.key, snapshot)
    defaults = sv.default_weights(components)
    initial, invalid = sv.initial_weights(st.query_params.get("pesi"), components)
    if invalid:
        st.info(t("url_value_unknown", lang, param="pesi", value=st.query_params.get("pesi", "")[:60],
                  fallback=sv.format_weights(defaults, components)))
    st.write(t("th_opportunity_intro", lang, **fine_words))
    for c in components:
        st.session_state.setdefault(f"w_{c.indicator}", initial[c.indicator])
    valued = views.valued_indicators(queries.indicator_coverage(ctx.key, snapshot), (fine.id,))
    for column, c in zip(st.columns(len(components)), components, strict=True):
        column.slider(views.choice_label(views.catalogue_name(catalogue, c.indicator, lang), c.indicator in valued, lang),
                      0, sv.WEIGHT_MAX, step=5,
                      key=f"w_{c.indicator}", help=t(f"th_dir_{c.direction}", lang))
    weights = {c.indicator: int(st.session_state[f"w_{c.indicator}"]) for c in components}
    st.button(t("th_weights_reset", lang), on_click=_reset_weights, args=(defaults,), key="w_reset")
    if weights != defaults or "pesi" in st.query_params:
        st.query_params["pesi"] = sv.format_weights(weights, components)
    effective = sv.effective_weights(weights, valued)  # components without data are dropped by the score
    st.caption(sv.weights_caption(components, effective, catalogue, lang))
    dropped = [views.catalogue_name(catalogue, c.indicator, lang) for c in components
               if c.indicator not in valued and weights[c.indicator] > 0]
    if dropped:
        st.caption(t("th_weights_dropped", lang, names="; ".join(dropped)))
    weights_table = sv.weights_table(components, weights, catalogue, lang, valued)
    ui.table(weights_table, lang)
    weights_key = tuple(sorted(weights.items()))

    def score_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
        matrix, reasons = sv.component_matrix(
            {c.indicator: queries.indicator_values(ctx.key, snapshot, c.indicator, fine.id) for c in components},
            stats["id"].tolist())
        return matrix, sv.reweighted_scores(matrix, reasons, weights, {c.indicator: c.direction for c in components})

    matrix, scores = queries.derived(("opportunity_scores", ctx.key, snapshot, weights_key), score_frames)
    if scores["score"].isna().all():  # one line instead of an all-grey map and an empty table
        st.info(t("th_score_none", lang, **fine_words))
        return
    fingerprint = ("opportunity_map", ctx.key, snapshot, weights_key, lang, ctx.map_style)
    ui.chart(fingerprint, lambda: sv.opportunity_map(geojson, scores, stats, near, territory, lang, ctx.map_style),
             key="opportunity_map")
    table = queries.derived(("opportunity_table", ctx.key, snapshot, weights_key, lang),
                            lambda: sv.opportunity_table(scores, matrix, stats, classes, catalogue, territory, lang))
    # short headers, full ones as help: readable at 1280 px
    ui.table(table, lang, columns=sv.opportunity_columns(table, matrix, catalogue, territory, lang))
    caption = sv.weights_caption(components, effective, catalogue, lang)
    spec = downloads.page_spec(ctx, "punteggio_opportunita", {"pesi": sv.format_weights(weights, components)},
                               metadata={t("th_col_weight", lang): caption})
    downloads.download_menu(table, spec, lang, geojson=geojson, id_col=table.columns[1], key="opportunity_dl")


opportunity()
