"""Makerspace: makerspaces, fablabs and coworking spaces — map, table, counts, related indicators."""

import pandas as pd
import streamlit as st

from osservatorio import downloads, queries, theme_views, ui
from osservatorio import indicator_views as iv
from osservatorio.i18n import t
from osservatorio.theme_views import ALL

page = ui.theme_page_start("page_makerspace")
ctx, stats, snapshot, classes = page.ctx, page.stats, page.snapshot, page.classes
lang = ctx.lang
st.write(t("th_makers_intro", lang))

c1, c2, c3 = st.columns(3)
states = {k: ui.theme_state(ctx.key, k) for k in theme_views.MAKER_THEMES}
with c1:
    theme_names = {k: iv.choice_label(t(f"th_theme_{k}", lang), states[k].loaded, lang) for k in theme_views.MAKER_THEMES}
    theme = ui.url_choice(t("th_filter_theme", lang), [ALL, *theme_views.MAKER_THEMES], "tema", lang,
                          format_func=lambda v: theme_views.option_label(v, lang, "th_all_themes", theme_names))
with c2:
    municipio = ui.municipio_filter(lang, stats)
with c3:
    klass = ui.periphery_class_filter(lang, snapshot, classes)

makers = queries.places(ctx.key, "makerspace")
coworking = queries.places(ctx.key, "coworking")
# A theme without a loaded source is said so (with the dataset that would fill it), never counted as zero.
for k in (theme_views.MAKER_THEMES if theme == ALL else (theme,)):
    ui.theme_message(states[k], lang, label=t(f"th_theme_{k}", lang))
if states["coworking"].state == "counts" and theme in (ALL, "coworking"):
    counts_table = theme_views.area_counts_table(queries.area_counts(ctx.key, "coworking"), stats, classes, lang)
    with st.expander(t("th_counts_only_table", lang, what=t("th_theme_coworking", lang), n=len(counts_table))):
        ui.table(counts_table, lang)
        downloads.download_menu(counts_table, downloads.page_spec(ctx, "coworking_conteggi_nil"), lang, key="cowork_counts")
if makers.empty and coworking.empty:
    st.stop()
shown = theme_views.filter_places(theme_views.maker_places(makers, coworking, theme), classes, municipio, klass)
selected = theme_views.selected_nil(stats, classes, municipio, klass)
filters = {k: v for k, v in {"tema": theme, "municipio": municipio, "periferia": klass}.items() if v != ALL}

st.subheader(t("th_places_title", lang, n=len(shown)))
if shown.empty:
    st.info(t("th_no_places_selection", lang))
else:
    table = theme_views.maker_table(shown, stats, classes, lang)
    geojson = queries.map_geojson(ctx.key, "nil")
    st.plotly_chart(theme_views.maker_map(geojson, shown, stats, selected, lang, ctx.map_style), width="stretch",
                    key="makers_map")
    ui.table(table, lang)
    id_col = t("th_col_place_id", lang)
    downloads.download_menu(table, downloads.page_spec(ctx, "makerspace_coworking", filters), lang,
                            geojson=theme_views.points_geojson(shown, table[id_col].tolist()), id_col=id_col, key="makers_places")

st.subheader(t("th_counts_title", lang))
wanted = theme_views.MAKER_THEMES if theme == ALL else (theme,)
counts = theme_views.place_counts(shown, stats, classes, lang, [k for k in wanted if states[k].state == "points"], selected)
if "coworking" in wanted and states["coworking"].state == "counts":  # counts per NIL, summed: not a zero
    counts = pd.concat([counts, theme_views.area_count_rows(queries.area_counts(ctx.key, "coworking"), stats, classes, lang,
                                                            "coworking", selected)], ignore_index=True)
    st.caption(t("th_counts_from_area_counts", lang))
st.plotly_chart(theme_views.counts_chart(counts, lang), width="stretch", key="makers_counts")
downloads.download_menu(counts, downloads.page_spec(ctx, "makerspace_conteggi", filters), lang, key="makers_counts_dl")

st.subheader(t("th_ranking_title", lang))
if not snapshot:
    st.info(t("th_no_snapshot", lang))
    st.stop()
catalogue = queries.catalogue(ctx.key, snapshot)
indicators = theme_views.ranking_indicators(theme)
level, areas = theme_views.ranking_areas(stats, selected, lang)
values = {i: queries.indicator_values(ctx.key, snapshot, i, level) for i in indicators}
city = {i: theme_views.city_value(queries.indicator_values(ctx.key, snapshot, i, "city")) for i in indicators}
ranking = theme_views.indicator_ranking(values, catalogue, areas, lang, city)
st.caption(t(f"th_ranking_caption_{level}", lang))
ui.table(ranking, lang)
downloads.download_menu(ranking, downloads.page_spec(ctx, "makerspace_indicatori", filters), lang, key="makers_ranking")
