"""Panoramica: headline numbers (city and periphery, change since the previous snapshot), one map, what is new."""

import streamlit as st

from osservatorio import downloads, queries, ui, views
from osservatorio import indicator_views as iv
from osservatorio.i18n import t

ctx = ui.page_start("page_overview")
lang = ctx.lang
stats = queries.district_stats(ctx.key, "nil")
if stats.empty:
    st.info(t("empty_warehouse", lang))
    st.stop()
summary = queries.city_summary(ctx.key)
geojson = queries.map_geojson(ctx.key, "nil")

for column, kpi in zip(st.columns(5), views.overview_kpis(summary, lang), strict=True):
    column.metric(kpi.label, kpi.value)
caption = views.trust_caption(stats, ctx.built, lang)
st.caption(caption)

# --- programme headline numbers with the change since the previous snapshot
snapshots = queries.snapshots_if_any(ctx.key)
snapshot = None if snapshots.empty else iv.latest_snapshot(snapshots)
metas: dict[str, iv.IndicatorMeta] = {}
if snapshot is None:
    st.info(t("no_snapshot", lang))
else:
    metas = iv.indicator_metas(queries.catalogue(ctx.key, snapshot.snapshot_id), lang)
    current = queries.area_profile(ctx.key, snapshot.snapshot_id, iv.HEADLINE_AREAS)
    previous = queries.area_profile(ctx.key, snapshot.previous_id, iv.HEADLINE_AREAS) if snapshot.previous_id else None
    changes = queries.taxonomy_changes_detail(ctx.key)
    affected = iv.affected_indicators(changes, snapshot.snapshot_id)
    st.subheader(t("headlines_title", lang))
    st.caption(iv.headlines_caption(snapshot, lang))
    for level, area in iv.HEADLINE_AREAS:
        items = iv.headlines(current, previous, metas, level, area, lang, affected)
        if not items:
            continue
        st.markdown(f"**{iv.headline_area_title(level, area, lang)}**")
        for column, item in zip(st.columns(len(items)), items, strict=True):
            column.metric(item.label, item.value, item.delta, delta_color=item.delta_color, help=item.help,
                          delta_arrow=item.arrow)
    headline_data = iv.headline_table(current, previous, metas, lang)
    headline_spec = downloads.page_spec(ctx, "panoramica_indicatori", metadata=iv.export_metadata(None, snapshot, lang))
    downloads.download_menu(headline_data, headline_spec, lang, key="overview_headlines")

# --- one map: population density by default, or any NIL indicator
valued = iv.valued_indicators(queries.indicator_coverage(ctx.key, snapshot.snapshot_id), ("nil",)) if snapshot else set()
options = [iv.DENSITY, *iv.with_values_first(iv.overview_map_options(metas)[1:], valued)]
choice = ui.url_choice(t("overview_map_choice", lang), options, "mappa", lang, default=iv.DENSITY,
                       format_func=lambda i: t("map_density_title", lang) if i == iv.DENSITY
                       else iv.choice_label(metas[i].name, i in valued, lang))
st.caption(t("overview_map_why", lang))
if choice == iv.DENSITY or snapshot is None:
    st.plotly_chart(views.density_map(stats, geojson, lang, ctx.map_style), width="stretch", key="density_map")
else:
    meta = metas[choice]
    frame = iv.map_frame(queries.indicator_values(ctx.key, snapshot.snapshot_id, choice, "nil"), stats, meta, lang)
    st.plotly_chart(iv.indicator_map(geojson, frame, meta, lang, ctx.map_style), width="stretch", key="overview_indicator_map")
    st.caption(iv.map_caption(frame, meta, lang))
    values = iv.values_table(frame, meta, "nil", lang)
    with st.expander(t("map_values_title", lang, indicator=meta.name, level=t("level_nil", lang))):
        ui.table(values, lang, decimals={t("col_value", lang): meta.decimals})
    values_spec = downloads.page_spec(ctx, f"panoramica_{choice}", metadata=iv.export_metadata(meta, snapshot, lang))
    downloads.download_menu(values, values_spec, lang, geojson=geojson, id_col=t("col_area_id", lang), key="overview_map_values")

st.subheader(t("districts_table", lang))
table = views.districts_table(stats, lang)
ui.table(table, lang, decimals={t("col_area_km2", lang): 3, t("col_density", lang): 1})
spec = downloads.page_spec(ctx, "nil_popolazione", metadata={t("meta_trust", lang): caption})
downloads.download_menu(table, spec, lang, geojson=geojson, id_col=t("col_id", lang), key="nil_table")

# --- what is new: latest sources, places by theme, taxonomy / classification changes
st.subheader(t("whats_new_title", lang))
sources_col, places_col = st.columns(2)
with sources_col:
    st.markdown(f"**{t('recent_sources', lang)}**")
    recent = iv.recent_sources(queries.sources(ctx.key), lang)
    ui.table(recent, lang)
    downloads.download_menu(recent, downloads.page_spec(ctx, "panoramica_fonti_recenti"), lang, key="overview_sources")
with places_col:
    st.markdown(f"**{t('places_by_theme', lang)}**")
    states = {th: ui.theme_state(ctx.key, th) for th in iv.POINT_THEMES}
    counts = iv.place_counts_table(queries.place_counts(ctx.key), lang, states)
    ui.table(counts, lang)
    for theme, state in states.items():  # a theme without a source is not a zero: say which dataset would fill it
        ui.theme_message(state, lang, style="caption", label=t(f"theme_{theme}", lang))
    downloads.download_menu(counts, downloads.page_spec(ctx, "panoramica_luoghi"), lang, key="overview_places")
st.markdown(f"**{t('taxonomy_changes_title', lang)}**")
if snapshot is None:
    st.info(t("no_snapshot", lang))
else:
    taxonomy = iv.taxonomy_table(queries.taxonomy_changes_detail(ctx.key), lang)
    if taxonomy.empty:
        st.info(t("taxonomy_none", lang))
    else:
        ui.table(taxonomy, lang)
        downloads.download_menu(taxonomy, downloads.page_spec(ctx, "panoramica_cambi_tassonomia"), lang, key="overview_taxonomy")
