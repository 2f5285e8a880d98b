"""Mappa: one indicator per NIL or Municipio, switchable point layers; a click on a NIL opens its profile."""

import streamlit as st

from osservatorio import downloads, queries, ui, url_state, views
from osservatorio import indicator_views as iv
from osservatorio.data import FIRM_CELL_M
from osservatorio.i18n import t

ctx = ui.page_start("page_map")
lang = ctx.lang
snapshots = queries.snapshots_if_any(ctx.key)
if snapshots.empty:
    st.info(t("no_snapshot", lang))
    st.stop()
snapshot = iv.latest_snapshot(snapshots)
metas = iv.indicator_metas(queries.catalogue(ctx.key, snapshot.snapshot_id), lang)
coverage = queries.indicator_coverage(ctx.key, snapshot.snapshot_id)
valued = iv.valued_indicators(coverage)
# Indicators with values first; those without are marked and last, and never the default.
choices = iv.with_values_first(iv.map_indicators(metas), valued)
if not choices:
    st.info(t("no_indicators", lang))
    st.stop()

left, right = st.columns([3, 1])
with left:
    indicator = ui.url_choice(t("choose_indicator", lang), choices, "indicatore", lang,
                              default=iv.default_choice(choices, valued, iv.DEFAULT_MAP_INDICATOR),
                              format_func=lambda i: iv.choice_label(metas[i].name, i in valued, lang))
meta = metas[indicator]
with right:
    levels = iv.map_levels(meta)
    level_valued = {lv for lv in levels if indicator in iv.valued_indicators(coverage, (lv,))}
    level = ui.url_choice(t("choose_level", lang), levels, "livello", lang, default=iv.default_choice(levels, level_valued),
                          format_func=lambda lv: iv.choice_label(t(f"level_{lv}", lang), lv in level_valued, lang))
states = {th: ui.theme_state(ctx.key, th) for th in iv.POINT_THEMES}
layers = url_state.url_checkboxes(
    t("layers", lang), list(iv.POINT_THEMES), "strati", lang, default=iv.DEFAULT_LAYERS,
    format_func=lambda th: f"{t(f'theme_{th}', lang)} {t('counts_only_suffix', lang)}" if states[th].state == "counts"
    else iv.choice_label(t(f"theme_{th}", lang), states[th].state == "points", lang),
    help=t("layers_help", lang))
st.caption(iv.indicator_caption(meta, lang))

districts = queries.district_stats(ctx.key, level)
if districts.empty:
    st.info(t("empty_warehouse", lang))
    st.stop()
values = queries.indicator_values(ctx.key, snapshot.snapshot_id, indicator, level)
if values.empty or values["value"].isna().all():
    st.info(t("no_values", lang, indicator=meta.name))
frame = iv.map_frame(values, districts, meta, lang)
geojson = queries.map_geojson(ctx.key, level)
figure = iv.indicator_map(geojson, frame, meta, lang, ctx.map_style)

layer_tables = []
for theme in layers:
    if states[theme].state != "points":  # no point list: say which source would fill it, never an empty layer
        ui.theme_message(states[theme], lang, label=t(f"theme_{theme}", lang))
        continue
    if theme == "firm":
        cells = queries.firm_cells(ctx.key, FIRM_CELL_M)
        if cells.empty:
            st.info(t("layer_empty", lang, layer=t("theme_firm", lang)))
            continue
        iv.add_firm_cells(figure, cells, lang)
        st.caption(iv.firm_cells_caption(cells, FIRM_CELL_M, lang))
        layer_tables.append((theme, iv.firm_cells_table(cells, lang), t("col_cell", lang)))
    else:
        places = queries.places(ctx.key, theme)
        iv.add_place_layer(figure, places, theme, lang)
        layer_tables.append((theme, iv.places_table(places, theme, lang), t("col_place_id", lang)))
        ui.theme_message(states[theme], lang, label=t(f"theme_{theme}", lang))  # a refused second source of the theme

event = st.plotly_chart(figure, key=f"map_{level}", on_select="rerun", selection_mode="points", width="stretch")
st.caption(iv.map_caption(frame, meta, lang))
if level == "nil":
    clicked = iv.selected_area(event.selection.points, frame["id"])
    if clicked is not None:
        st.switch_page("pages/quartiere.py", query_params={"nil": clicked, "lang": lang})
    st.caption(t("click_hint", lang))

nil_stats = queries.district_stats(ctx.key, "nil")
nil_names = {k: views.plain(v) for k, v in iv.nil_options(nil_stats).items()}
opening = iv.default_nil(nil_stats, queries.district_groups(ctx.key, snapshot.snapshot_id),
                         queries.nil_value_counts(ctx.key, snapshot.snapshot_id), queries.place_counts_by_nil(ctx.key))
pick_col, link_col = st.columns([3, 1], vertical_alignment="bottom")
picked = pick_col.selectbox(t("open_profile", lang), list(nil_names), format_func=nil_names.get, key="map_profile_pick",
                            index=list(nil_names).index(opening) if opening in nil_names else 0)
link_col.page_link("pages/quartiere.py", label=t("open_profile_link", lang), icon=":material/arrow_forward:",
                   query_params={"nil": picked, "lang": lang})

st.subheader(t("map_values_title", lang, indicator=meta.name, level=t(f"level_{level}", lang)))
table = iv.values_table(frame, meta, level, lang)
ui.table(table, lang, decimals={t("col_value", lang): meta.decimals})
spec = downloads.page_spec(ctx, f"mappa_{indicator}", filters={t("col_level", lang): level},
                           metadata=iv.export_metadata(meta, snapshot, lang))
downloads.download_menu(table, spec, lang, geojson=geojson, id_col=t("col_area_id", lang), key="map_values")

for theme, layer_table, id_col in layer_tables:
    with st.expander(t("layer_table", lang, layer=t(f"theme_{theme}", lang), n=len(layer_table))):
        ui.table(layer_table, lang)
        layer_spec = downloads.page_spec(ctx, f"mappa_strato_{theme}", metadata=iv.export_metadata(None, snapshot, lang))
        downloads.download_menu(layer_table, layer_spec, lang, geojson=iv.points_geojson(layer_table, id_col),
                                id_col=id_col, key=f"map_layer_{theme}")
