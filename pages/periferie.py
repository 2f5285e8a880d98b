"""Periferie: centro / semicentro / periferia and the priority areas side by side; ranking of NIL in a class."""

import streamlit as st

from osservatorio import downloads, queries, ui
from osservatorio import indicator_views as iv
from osservatorio.i18n import t

ctx = ui.page_start("page_periphery")
lang = ctx.lang
snapshots = queries.snapshots_if_any(ctx.key)
if snapshots.empty:
    st.info(t("no_snapshot", lang))
    st.stop()
snapshot = iv.latest_snapshot(snapshots)
detail = queries.district_group_detail(ctx.key, snapshot.snapshot_id)
nil_stats = queries.district_stats(ctx.key, "nil")
if detail.empty or nil_stats.empty:
    st.info(t("no_groups", lang))
    st.stop()
metas = iv.indicator_metas(queries.catalogue(ctx.key, snapshot.snapshot_id), lang)
names = iv.area_names(nil_stats, queries.district_stats(ctx.key, "municipio"), detail, lang)

# --- the classification: rule, version, map, table
st.subheader(t("classification_title", lang))
st.markdown("\n".join(iv.periphery_rule(queries.periphery_config(), snapshot.periphery_version, lang)))
geojson = queries.map_geojson(ctx.key, "nil")
st.plotly_chart(iv.class_map(geojson, detail, nil_stats, lang, ctx.map_style), key="class_map", width="stretch")
classes = iv.class_table(detail, nil_stats, lang)
with st.expander(t("class_table_title", lang)):
    ui.table(classes, lang, decimals={t("col_distance_km", lang): 2})
spec = downloads.page_spec(ctx, "periferie_classificazione",
                           metadata={t("meta_periphery_version", lang): snapshot.periphery_version or "–"})
downloads.download_menu(classes, spec, lang, geojson=geojson, id_col=t("col_id", lang), key="periphery_classes")

# --- every indicator for the classes, the priority areas and the city
st.subheader(t("groups_title", lang))
areas = iv.group_areas(detail)
profile = queries.area_profile(ctx.key, snapshot.snapshot_id, areas)
if profile.empty:
    st.info(t("no_values_area", lang))
else:
    st.caption(t("groups_caption", lang))
    comparison = iv.group_comparison_table(profile, metas, areas, names, lang)
    ui.table(comparison, lang)
    comparison_spec = downloads.page_spec(ctx, "periferie_confronto", metadata=iv.export_metadata(None, snapshot, lang))
    downloads.download_menu(comparison, comparison_spec, lang, key="periphery_groups")
    notes = iv.group_notes_table(profile, metas, names, lang)
    with st.expander(t("group_notes_title", lang, n=len(notes))):
        ui.table(notes, lang)
        notes_spec = downloads.page_spec(ctx, "periferie_note", metadata=iv.export_metadata(None, snapshot, lang))
        downloads.download_menu(notes, notes_spec, lang, key="periphery_notes")

# --- ranking of the NIL of one class on one indicator (direction-aware)
st.subheader(t("ranking_title", lang))
valued = iv.valued_indicators(queries.indicator_coverage(ctx.key, snapshot.snapshot_id), ("nil",))
choices = iv.with_values_first(iv.trend_options(metas), valued)
if not choices:
    st.info(t("no_indicators", lang))
    st.stop()
left, right = st.columns([3, 1])
with left:
    indicator = ui.url_choice(t("choose_indicator", lang), choices, "indicatore", lang,
                              default=iv.default_choice(choices, valued, "opportunity_score"),
                              format_func=lambda i: iv.choice_label(metas[i].name, i in valued, lang))
with right:
    class_id = ui.url_choice(t("choose_class", lang), iv.class_options(detail), "classe", lang, default=iv.PERIPHERY,
                             format_func=lambda c: iv.class_name(c, lang))
meta = metas[indicator]
st.caption(iv.indicator_caption(meta, lang))
st.caption(iv.ranking_caption(meta, lang))
ranked = iv.ranking(queries.indicator_values(ctx.key, snapshot.snapshot_id, indicator, "nil"), nil_stats, detail, meta, lang,
                    class_id)
ui.table(ranked, lang, decimals={t("col_value", lang): meta.decimals})
ranking_spec = downloads.page_spec(ctx, f"periferie_classifica_{indicator}", filters={t("col_class", lang): class_id},
                                   metadata=iv.export_metadata(meta, snapshot, lang))
downloads.download_menu(ranked, ranking_spec, lang, geojson=iv.subset_geojson(geojson, ranked[t("col_id", lang)]),
                        id_col=t("col_id", lang), key="periphery_ranking")
