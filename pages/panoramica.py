"""Panoramica: headline numbers (territory and periphery, change since the previous snapshot), one map, what is new."""

import streamlit as st

from osservatorio import downloads, queries, ui, views
from osservatorio import indicator_views as iv
from osservatorio.i18n import t
from osservatorio.page_views import panoramica as pv

ctx = ui.page_start("page_overview")
lang = ctx.lang
territory = ctx.territory
fine = territory.fine
stats = queries.district_stats(ctx.key, fine.id)
if stats.empty:
    st.info(ui.empty_message(territory, lang))
    st.stop()
summary = queries.territory_summary(ctx.key)
geojson = queries.map_geojson(ctx.key, fine.id)

for column, kpi in zip(st.columns(5), pv.overview_kpis(summary, territory, lang), strict=True):
    column.metric(kpi.label, kpi.value)
caption = pv.trust_caption(stats, ctx.built, lang)
st.caption(caption)

# --- programme headline numbers with the change since the previous snapshot
snapshots = queries.snapshots_if_any(ctx.key)
snapshot = None if snapshots.empty else iv.latest_snapshot(snapshots)
metas: dict[str, views.IndicatorMeta] = {}
if snapshot is None:
    st.info(t("no_snapshot", lang))
else:
    metas = views.indicator_metas(queries.catalogue(ctx.key, snapshot.snapshot_id), lang, territory)
    groups = queries.district_groups(ctx.key, snapshot.snapshot_id)
    areas = pv.headline_areas(territory, iv.has_periphery(groups))
    current = queries.area_profile(ctx.key, snapshot.snapshot_id, areas)
    previous = queries.area_profile(ctx.key, snapshot.previous_id, areas) if snapshot.previous_id else None
    changes = queries.taxonomy_changes_detail(ctx.key)
    affected = pv.affected_indicators(changes, snapshot.snapshot_id)
    st.subheader(t("headlines_title", lang))
    st.caption(pv.headlines_caption(snapshot, lang))
    for level, area in areas:
        items = pv.headlines(current, previous, metas, level, area, lang, affected)
        if not items:
            continue
        st.markdown(f"**{views.md_text(pv.headline_area_title(level, area, territory, lang))}**")
        for column, item in zip(st.columns(len(items)), items, strict=True):
            column.metric(item.label, item.value, item.delta, delta_color=item.delta_color, help=item.help,
                          delta_arrow=item.arrow)
    headline_data = pv.headline_table(current, previous, metas, territory, lang, areas)
    headline_spec = downloads.page_spec(ctx, "panoramica_indicatori", metadata=iv.export_metadata(None, snapshot, lang))
    downloads.download_menu(headline_data, headline_spec, lang, key="overview_headlines")

# --- one map: population density by default, or any indicator of the finest level
valued = views.valued_indicators(queries.indicator_coverage(ctx.key, snapshot.snapshot_id), (fine.id,)) if snapshot else set()
options = [pv.DENSITY, *views.with_values_first(pv.overview_map_options(metas, territory)[1:], valued)]
choice = ui.url_choice(t("overview_map_choice", lang), options, "mappa", lang, default=pv.DENSITY,
                       format_func=lambda i: pv.density_title(territory, lang) if i == pv.DENSITY
                       else views.choice_label(metas[i].name, i in valued, lang))
st.caption(t("overview_map_why", lang))
# A static SVG map (osservatorio.svgmap), not a plotly figure: the first page needs neither Streamlit's plotly
# chunk nor a WebGL draw in the browser (issue 15: first page under 4 s). Hover and zoom are on the Mappa page.
if choice == pv.DENSITY or snapshot is None:
    svg = queries.derived(("overview_density_svg", ctx.key, lang), lambda: pv.density_svg(stats, geojson, territory, lang))
    alt = pv.map_alt(pv.density_title(territory, lang), stats["density_km2"], lang)
    # the same density on the interactive map when the build has it as an indicator of the finest level
    density_id = "population_density" if "population_density" in options else None
    map_link = ui.link_params(ctx, indicatore=density_id, livello=fine.id if density_id and len(territory.levels) > 1 else None)
else:
    meta = metas[choice]
    frame = iv.map_frame(queries.indicator_values(ctx.key, snapshot.snapshot_id, choice, fine.id), stats, meta, lang)
    svg = queries.derived(("overview_indicator_svg", ctx.key, snapshot.snapshot_id, choice, lang),
                          lambda: pv.indicator_svg(geojson, frame, meta, lang))
    alt = pv.map_alt(meta.name, frame["value"], lang)
    map_link = ui.link_params(ctx, indicatore=choice, livello=fine.id if len(territory.levels) > 1 else None)
if svg:  # no geometry in the build: the table below still lists the areas
    st.image(svg, width="stretch", alt=alt)
st.page_link("pages/mappa.py", label=t("overview_map_link", lang), icon=":material/map:", query_params=map_link)
if choice != pv.DENSITY and snapshot is not None:
    st.caption(pv.map_caption(frame, meta, lang))
    values = iv.values_table(frame, meta, fine.label(lang), lang)
    with st.expander(t("map_values_title", lang, indicator=meta.name, level=views.inline_label(fine.label(lang)))):
        ui.table(values, lang, decimals={t("col_value", lang): meta.decimals})
    values_spec = downloads.page_spec(ctx, f"panoramica_{choice}", metadata=iv.export_metadata(meta, snapshot, lang))
    downloads.download_menu(values, values_spec, lang, geojson=geojson, id_col=t("col_area_id", lang), key="overview_map_values")

st.subheader(t("districts_table_level", lang, plural=fine.plural(lang)))
table = pv.districts_table(stats, territory, lang)
ui.table(table, lang, decimals={t("col_area_km2", lang): 3, t("col_density", lang): 1})
spec = downloads.page_spec(ctx, f"{fine.id}_popolazione", metadata={t("meta_trust", lang): caption})
downloads.download_menu(table, spec, lang, geojson=geojson, id_col=t("col_area_id", lang), key="nil_table")

# --- what is new: latest sources, places by theme, taxonomy / classification changes
st.subheader(t("whats_new_title", lang))
sources_col, places_col = st.container(), st.container()  # one above the other: both tables read whole
with sources_col:
    st.markdown(f"**{t('recent_sources', lang)}**")
    recent = pv.recent_sources(queries.sources(ctx.key), lang)
    ui.table(recent, lang)
    downloads.download_menu(recent, downloads.page_spec(ctx, "panoramica_fonti_recenti"), lang, key="overview_sources")
with places_col:
    st.markdown(f"**{t('places_by_theme', lang)}**")
    states = {th: ui.theme_state(ctx.key, th) for th in iv.POINT_THEMES}
    counts = pv.place_counts_table(queries.place_counts(ctx.key), territory, lang, states)
    ui.table(counts, lang)
    for theme, state in states.items():  # a theme without a source is not a zero: say which dataset would fill it
        ui.theme_message(state, lang, style="caption", label=t(f"theme_{theme}", lang))
    downloads.download_menu(counts, downloads.page_spec(ctx, "panoramica_luoghi"), lang, key="overview_places")
st.markdown(f"**{t('taxonomy_changes_title', lang)}**")
if snapshot is None:
    st.info(t("no_snapshot", lang))
else:
    taxonomy = pv.taxonomy_table(queries.taxonomy_changes_detail(ctx.key), lang)
    if taxonomy.empty:
        st.info(t("taxonomy_none", lang))
    else:
        ui.table(taxonomy, lang)
        downloads.download_menu(taxonomy, downloads.page_spec(ctx, "panoramica_cambi_tassonomia"), lang, key="overview_taxonomy")
