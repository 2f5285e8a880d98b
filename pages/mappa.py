"""Mappa: one indicator per area of the territory's levels, switchable point layers (places, hubs, the
programme's actions); a click on an area of the finest level opens its profile."""

from collections.abc import Callable
from functools import partial

import plotly.graph_objects as go
import streamlit as st

from osservatorio import downloads, programme_views, queries, ui, url_state, views
from osservatorio import indicator_views as iv
from osservatorio.data import FIRM_CELL_M
from osservatorio.i18n import t
from osservatorio.page_views import mappa as mv

ctx = ui.page_start("page_map")
lang = ctx.lang
territory = ctx.territory
fine = territory.fine
snapshots = queries.snapshots_if_any(ctx.key)
if snapshots.empty:
    st.info(t("no_snapshot", lang))
    st.stop()
snapshot = iv.latest_snapshot(snapshots)
metas = views.indicator_metas(queries.catalogue(ctx.key, snapshot.snapshot_id), lang, territory)
coverage = queries.indicator_coverage(ctx.key, snapshot.snapshot_id)
valued = views.valued_indicators(coverage, territory.level_ids)
# Indicators with values first; those without are marked and last, and never the default.
choices = views.with_values_first(mv.map_indicators(metas, territory), valued)
if not choices:
    st.info(t("no_indicators", lang))
    st.stop()

left, right = st.columns([3, 1])
with left:
    indicator = ui.url_choice(t("choose_indicator", lang), choices, "indicatore", lang,
                              default=views.default_choice(choices, valued, iv.DEFAULT_MAP_INDICATOR),
                              format_func=lambda i: views.choice_label(metas[i].name, i in valued, lang))
meta = metas[indicator]
levels = mv.map_levels(meta, territory)
if len(territory.levels) > 1:  # a territory with one level (e.g. comuni) has nothing to choose
    with right:
        level_valued = {lv for lv in levels if indicator in views.valued_indicators(coverage, (lv,))}
        level = ui.url_choice(t("choose_level", lang), levels, "livello", lang,
                              default=views.default_choice(levels, level_valued),
                              format_func=lambda lv: views.choice_label(territory.level_label(lv, lang), lv in level_valued,
                                                                        lang))
else:
    level = levels[0]
level_label = territory.level_label(level, lang)
themes = [*iv.POINT_THEMES, mv.HUB_THEME]
states = {th: ui.theme_state(ctx.key, th) for th in themes}
action_points, action_hover = programme_views.action_points(ctx)
layer_options = [*themes, mv.ACTIONS_LAYER]


def layer_label(layer: str) -> str:
    if layer == mv.ACTIONS_LAYER:
        return views.choice_label(t("pg_layer_actions", lang), not action_points.empty, lang)
    if states[layer].state == "counts":
        return f"{t(f'theme_{layer}', lang)} {t('counts_only_level_suffix', lang, level=views.inline_label(fine.label(lang)))}"
    return views.choice_label(t(f"theme_{layer}", lang), states[layer].state == "points", lang)


layers = url_state.url_checkboxes(t("layers", lang), layer_options, "strati", lang, default=iv.DEFAULT_LAYERS,
                                  format_func=layer_label, help=t("layers_help", lang))
st.caption(iv.indicator_caption(meta, lang))

districts = queries.district_stats(ctx.key, level)
if districts.empty:
    st.info(ui.empty_message(territory, lang))
    st.stop()
values = queries.indicator_values(ctx.key, snapshot.snapshot_id, indicator, level)
if values.empty or values["value"].isna().all():
    st.info(t("no_values", lang, indicator=meta.name))
frame = iv.map_frame(values, districts, meta, lang)
geojson = queries.map_geojson(ctx.key, level)
# The map and its layers are built once per fingerprint (queries.figure): an indicator, level or layer seen
# before is handed to Streamlit as built, without plotly's validation again (about half of a rerun).
layer_adders: list[Callable[[go.Figure], None]] = []

fine_stats = districts if level == fine.id else queries.district_stats(ctx.key, fine.id)
layer_tables = []
hub_table = None
hub_places = None
for theme in layers:
    if theme == mv.ACTIONS_LAYER:
        if action_points.empty:
            st.info(t("layer_actions_none", lang))
            continue
        layer_adders.append(lambda fig: mv.add_action_layer(fig, action_points, action_hover, lang))
        continue
    if states[theme].state != "points":  # no point list: say which source would fill it, never an empty layer
        ui.theme_message(states[theme], lang, label=t(f"theme_{theme}", lang))
        continue
    if theme == "firm":
        cells = queries.firm_cells(ctx.key, FIRM_CELL_M)
        if cells.empty:
            st.info(t("layer_empty", lang, layer=t("theme_firm", lang)))
            continue
        layer_adders.append(lambda fig, cells=cells: mv.add_firm_cells(fig, cells, lang))
        st.caption(mv.firm_cells_caption(cells, FIRM_CELL_M, lang))
        layer_tables.append((theme, mv.firm_cells_table(cells, lang), t("col_cell", lang)))
        continue
    places = queries.places(ctx.key, theme)
    if theme == mv.HUB_THEME:  # hubs may have no coordinates: they are listed with the area they are in
        level_stats = {fine.id: fine_stats}
        if territory.parent is not None:
            level_stats[territory.parent.id] = queries.district_stats(ctx.key, territory.parent.id)
        hub_places = places
        hub_table = mv.hubs_table(places, territory, views.level_names(territory, level_stats, lang), lang)
        layer_adders.append(lambda fig, places=places: mv.add_hub_layer(fig, places, lang))
        layer_tables.append((theme, hub_table, t("col_place_id", lang)))
    else:
        layer_adders.append(lambda fig, places=places, theme=theme: iv.add_place_layer(fig, places, theme, lang))
        layer_tables.append((theme, iv.places_table(places, theme, territory, lang), t("col_place_id", lang)))
    ui.theme_message(states[theme], lang, label=t(f"theme_{theme}", lang))  # a refused second source of the theme


def build_map() -> go.Figure:
    fig = iv.indicator_map(geojson, frame, meta, lang, ctx.map_style)
    for add in layer_adders:
        add(fig)
    return fig


# everything the map shows: the build, snapshot, choices, language, style, and the programme's actions (editable)
fingerprint = ("mappa", ctx.key, snapshot.snapshot_id, indicator, level, lang, ctx.map_style, tuple(layers),
               mv.points_fingerprint(action_points, action_hover) if mv.ACTIONS_LAYER in layers else None)
figure = queries.figure(fingerprint, build_map)
event = st.plotly_chart(figure, key=f"map_{level}", on_select="rerun", selection_mode="points", width="stretch")
st.caption(iv.map_caption(frame, meta, lang))
if level == fine.id:
    clicked = mv.selected_area(event.selection.points, frame["id"])
    if clicked is not None:
        st.switch_page("pages/quartiere.py", query_params=ui.link_params(ctx, **{fine.url_key: clicked}))
    st.caption(t("click_hint_level", lang, level=views.inline_label(fine.label(lang))))
if hub_table is not None and hub_places is not None:
    st.markdown(f"**{t('hubs_where_title', lang)}**")
    shown_hubs = hub_table.drop(columns=["lon", "lat", t("col_place_id", lang)])  # the id and position are in the download
    ui.table(shown_hubs, lang, columns=mv.hubs_columns(lang))
    for hub in hub_places.to_dict("records"):
        basis, facts = views.hub_facts(hub.get("attributes"), lang)
        with st.expander(views.md_text(f"{t('hub_facts_title', lang)} · {views.plain(hub.get('name'))}")):
            if basis:
                st.caption(views.md_text(t("hub_basis", lang, basis=basis)))
            ui.table(facts, lang, columns=iv.hub_fact_columns(lang))

area_names = {k: views.plain(v) for k, v in iv.area_options(fine_stats).items()}
opening = iv.default_area(fine_stats, queries.district_groups(ctx.key, snapshot.snapshot_id),
                          queries.area_value_counts(ctx.key, snapshot.snapshot_id), queries.place_counts_by_area(ctx.key))
pick_col, link_col = st.columns([3, 1], vertical_alignment="bottom")
picked = pick_col.selectbox(t("open_profile_of", lang, level=views.inline_label(fine.label(lang))), list(area_names),
                            format_func=area_names.get,
                            key="map_profile_pick", index=list(area_names).index(opening) if opening in area_names else 0)
link_col.page_link("pages/quartiere.py", label=t("open_profile_link", lang), icon=":material/arrow_forward:",
                   query_params=ui.link_params(ctx, **{fine.url_key: picked}))

st.subheader(t("map_values_title", lang, indicator=meta.name, level=views.inline_label(level_label)))
table = iv.values_table(frame, meta, level_label, lang)
ui.table(table, lang, decimals={t("col_value", lang): meta.decimals})
spec = downloads.page_spec(ctx, f"mappa_{indicator}", filters={t("col_level", lang): level_label},
                           metadata=iv.export_metadata(meta, snapshot, lang))
downloads.download_menu(table, spec, lang, geojson=geojson, id_col=t("col_area_id", lang), key="map_values")

for theme, layer_table, id_col in layer_tables:
    with st.expander(t("layer_table", lang, layer=t(f"theme_{theme}", lang), n=len(layer_table))):
        ui.table(layer_table, lang)
        layer_spec = downloads.page_spec(ctx, f"mappa_strato_{theme}", metadata=iv.export_metadata(None, snapshot, lang))
        downloads.download_menu(layer_table, layer_spec, lang, geojson=partial(views.points_geojson, layer_table, id_col),
                                id_col=id_col, key=f"map_layer_{theme}")
