"""Quartiere: one NIL against its Municipio, its periphery class and the city; its places, firms and trend."""

import streamlit as st

from osservatorio import downloads, queries, ui
from osservatorio import indicator_views as iv
from osservatorio.i18n import t

ctx = ui.page_start("page_district")
lang = ctx.lang
nil_stats = queries.district_stats(ctx.key, "nil")
if nil_stats.empty:
    st.info(t("empty_warehouse", lang))
    st.stop()
options = iv.nil_options(nil_stats)
nil = ui.url_choice(t("choose_nil", lang), list(options), "nil", lang, format_func=options.get)
nil_id = int(nil)

snapshots = queries.snapshots_if_any(ctx.key)
snapshot = None if snapshots.empty else iv.latest_snapshot(snapshots)
groups = queries.district_groups(ctx.key, snapshot.snapshot_id) if snapshot else iv.empty_groups()
header = iv.district_header(nil_stats, groups, nil_id, lang)
st.header(header.label)
st.caption(header.caption)
st.page_link("pages/mappa.py", label=t("back_to_map", lang), icon=":material/map:", query_params={"lang": lang})

# --- every indicator against Municipio, periphery class and city
st.subheader(t("profile_title", lang))
if snapshot is None:
    st.info(t("no_snapshot", lang))
    metas: dict[str, iv.IndicatorMeta] = {}
else:
    metas = iv.indicator_metas(queries.catalogue(ctx.key, snapshot.snapshot_id), lang)
    areas = iv.profile_areas(nil_id, header.municipio, header.periphery_class)
    profile = queries.area_profile(ctx.key, snapshot.snapshot_id, areas)
    if profile.empty:
        st.info(t("no_values_area", lang))
    else:
        names = iv.area_names(nil_stats, queries.district_stats(ctx.key, "municipio"), groups, lang)
        table = iv.profile_table(profile, metas, areas, names, lang)
        st.caption(t("profile_caption", lang))
        st.dataframe(table, hide_index=True, width="stretch")
        spec = downloads.page_spec(ctx, "quartiere_profilo", filters={"nil": nil},
                                   metadata=iv.export_metadata(None, snapshot, lang))
        downloads.download_menu(table, spec, lang, key="district_profile")

# --- makerspaces and vacant spaces: tables and a small map of the NIL
st.subheader(t("district_places_title", lang))
makers = queries.places(ctx.key, "makerspace", nil_id)
vacant = queries.places(ctx.key, "vacant", nil_id)
one_nil = iv.nil_geojson(queries.map_geojson(ctx.key, "nil"), nil_id)
st.plotly_chart(iv.district_map(one_nil, header.label, [("makerspace", makers), ("vacant", vacant)], lang, ctx.map_style),
                key="district_map", width="stretch")
for theme, places in (("makerspace", makers), ("vacant", vacant)):
    st.markdown(f"**{t(f'theme_{theme}', lang)}**")
    if places.empty:
        st.info(t("district_no_places", lang, layer=t(f"theme_{theme}", lang).lower()))
        continue
    places_table = iv.places_table(places, theme, lang)
    st.dataframe(places_table, hide_index=True, width="stretch")
    place_spec = downloads.page_spec(ctx, f"quartiere_{theme}", filters={"nil": nil})
    downloads.download_menu(places_table, place_spec, lang, geojson=iv.points_geojson(places_table, t("col_place_id", lang)),
                            id_col=t("col_place_id", lang), key=f"district_{theme}")

# --- firm mix by programme category
st.subheader(t("firm_mix_title", lang))
mix = iv.firm_mix_table(queries.firm_units_by_category(ctx.key, nil_id), queries.firm_points_by_category(ctx.key, nil_id), lang)
if mix.empty:
    st.info(t("firm_mix_none", lang))
else:
    st.caption(t("firm_mix_caption", lang))
    st.plotly_chart(iv.firm_mix_chart(mix, lang), key="district_firm_mix", width="stretch")
    st.dataframe(mix, hide_index=True, width="stretch")
    mix_spec = downloads.page_spec(ctx, "quartiere_imprese", filters={"nil": nil})
    downloads.download_menu(mix, mix_spec, lang, key="district_firm_mix_dl")

# --- trend of one indicator across snapshots and data years
st.subheader(t("trend_title", lang))
trend_choices = iv.trend_options(metas)
if not trend_choices:
    st.info(t("no_snapshot", lang) if snapshot is None else t("no_indicators", lang))
    st.stop()
indicator = ui.url_choice(t("choose_indicator", lang), trend_choices, "indicatore", lang,
                          default=iv.DEFAULT_MAP_INDICATOR, format_func=lambda i: metas[i].name)
meta = metas[indicator]
trend = iv.trend_frame(queries.indicator_history(ctx.key, indicator, "nil", nil), lang)
if trend.empty:
    st.info(t("trend_none", lang))
else:
    st.caption(iv.trend_caption(trend, lang))
    st.plotly_chart(iv.trend_chart(trend, meta, header.label, lang), key="district_trend", width="stretch")
    trend_table = iv.trend_table(trend, meta, lang)
    st.dataframe(trend_table, hide_index=True, width="stretch")
    trend_spec = downloads.page_spec(ctx, f"quartiere_andamento_{indicator}", filters={"nil": nil},
                                     metadata=iv.export_metadata(meta, snapshot, lang) if snapshot else None)
    downloads.download_menu(trend_table, trend_spec, lang, key="district_trend_dl")
