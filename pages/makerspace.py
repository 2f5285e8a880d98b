"""Makerspace: makerspaces, fablabs and coworking spaces — map, table, counts, related indicators."""

import pandas as pd
import streamlit as st

from osservatorio import downloads, queries, ui, views
from osservatorio.i18n import t
from osservatorio.page_views import makerspace as mv
from osservatorio.territory import TERRITORY_LEVEL
from osservatorio.views import ALL

page = ui.theme_page_start("page_makerspace")
ctx, stats, snapshot, classes = page.ctx, page.stats, page.snapshot, page.classes
lang, territory = ctx.lang, ctx.territory
fine = territory.fine
words = mv.level_words(territory, lang)
groups = mv.groupings_text(territory, classes, lang)
st.write(t("th_makers_intro", lang, groups=groups))

c1, c2, c3 = st.columns(3)
states = {k: ui.theme_state(ctx.key, k) for k in mv.MAKER_THEMES}
with c1:
    theme_names = {k: views.choice_label(t(f"th_theme_{k}", lang), states[k].loaded, lang) for k in mv.MAKER_THEMES}
    theme = ui.url_choice(t("th_filter_theme", lang), [ALL, *mv.MAKER_THEMES], "tema", lang,
                          format_func=lambda v: views.option_label(v, lang, "th_all_themes", theme_names))
with c2:
    parent = ui.parent_filter(ctx, stats)  # nothing drawn (ALL) when the territory has one level
with c3:
    klass = ui.periphery_class_filter(lang, snapshot, classes)

makers = queries.places(ctx.key, "makerspace")
coworking = queries.places(ctx.key, "coworking")
# A theme without a loaded source is said so (with the dataset that would fill it), never counted as zero.
for k in (mv.MAKER_THEMES if theme == ALL else (theme,)):
    ui.theme_message(states[k], lang, label=t(f"th_theme_{k}", lang))
if states["coworking"].state == "counts" and theme in (ALL, "coworking"):
    counts_table = mv.area_counts_table(queries.area_counts(ctx.key, "coworking", fine.id), stats, classes, territory, lang)
    with st.expander(t("th_counts_only_table", lang, what=t("th_theme_coworking", lang), n=len(counts_table), **words)):
        ui.table(counts_table, lang)
        downloads.download_menu(counts_table, downloads.page_spec(ctx, f"coworking_conteggi_{fine.id}"), lang,
                                key="cowork_counts")
if makers.empty and coworking.empty:
    st.stop()
shown = views.filter_places(mv.maker_places(makers, coworking, theme), classes, parent, klass)
selected = views.selected_areas(stats, classes, parent, klass)
filters = {k: v for k, v in {"tema": theme, (territory.parent.url_key if territory.parent else "parent"): parent,
                             "periferia": klass}.items() if v != ALL}

st.subheader(t("th_places_title", lang, n=len(shown)))
if shown.empty:
    st.info(t("th_no_places_selection", lang))
else:
    table = mv.maker_table(shown, stats, classes, territory, lang)
    geojson = queries.map_geojson(ctx.key, fine.id)
    ui.chart(("makers_map", ctx.key, snapshot, theme, parent, klass, lang, ctx.map_style),
             lambda: mv.maker_map(geojson, shown, stats, selected, territory, lang, ctx.map_style), key="makers_map")
    ui.table(table, lang)
    id_col = t("th_col_place_id", lang)
    downloads.download_menu(table, downloads.page_spec(ctx, "makerspace_coworking", filters), lang,
                            geojson=lambda: views.points_geojson(shown.assign(_id=table[id_col].to_numpy()), "_id"),
                            id_col=id_col,
                            key="makers_places")

st.subheader(t("th_counts_title", lang, groups=groups))
wanted = mv.MAKER_THEMES if theme == ALL else (theme,)
counts = mv.place_counts(shown, stats, classes, territory, lang, [k for k in wanted if states[k].state == "points"], selected)
if "coworking" in wanted and states["coworking"].state == "counts":  # counts per area, summed: not a zero
    counts = pd.concat([counts, mv.area_count_rows(queries.area_counts(ctx.key, "coworking", fine.id), stats, classes,
                                                   territory, lang, "coworking", selected)], ignore_index=True)
    st.caption(t("th_counts_from_area_counts", lang, **words))
ui.chart(("makers_counts", ctx.key, snapshot, theme, parent, klass, lang), lambda: mv.counts_chart(counts, lang),
         key="makers_counts")
downloads.download_menu(counts, downloads.page_spec(ctx, "makerspace_conteggi", filters), lang, key="makers_counts_dl")

st.subheader(t("th_ranking_title", lang))
if not snapshot:
    st.info(t("th_no_snapshot", lang))
    st.stop()
catalogue = queries.catalogue(ctx.key, snapshot)
indicators = mv.ranking_indicators(theme)
level, areas = mv.ranking_areas(stats, selected, territory, lang)
values = {i: queries.indicator_values(ctx.key, snapshot, i, level) for i in indicators}
whole = {i: views.territory_value(queries.indicator_values(ctx.key, snapshot, i, TERRITORY_LEVEL)) for i in indicators}
ranking = mv.indicator_ranking(values, catalogue, areas, lang, whole, territory.name(lang))
st.caption(mv.ranking_caption(level, territory, lang))
ui.table(ranking, lang)
downloads.download_menu(ranking, downloads.page_spec(ctx, "makerspace_indicatori", filters), lang, key="makers_ranking")
