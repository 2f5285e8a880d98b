"""Periferie: centro / semicentro / periferia and the priority areas side by side; ranking of the finest areas in a class.

A territory without a periphery classification (no periphery file in its profile) says so and shows nothing else."""

import streamlit as st

from osservatorio import downloads, queries, ui, views
from osservatorio import indicator_views as iv
from osservatorio.i18n import t
from osservatorio.page_views import periferie as fv

ctx = ui.page_start("page_periphery")
lang = ctx.lang
territory = ctx.territory
fine, parent = territory.fine, territory.parent
snapshots = queries.snapshots_if_any(ctx.key)
if snapshots.empty:
    st.info(t("no_snapshot", lang))
    st.stop()
snapshot = iv.latest_snapshot(snapshots)
detail = queries.district_group_detail(ctx.key, snapshot.snapshot_id)
stats = queries.district_stats(ctx.key, fine.id)
if stats.empty:
    st.info(ui.empty_message(territory, lang))
    st.stop()
if detail.empty:
    st.info(t("no_groups_territory", lang, name=views.md_text(territory.name(lang)),
              plural=views.inline_label(fine.plural(lang))))
    st.stop()
metas = views.indicator_metas(queries.catalogue(ctx.key, snapshot.snapshot_id), lang, territory)
level_stats = {fine.id: stats, **({parent.id: queries.district_stats(ctx.key, parent.id)} if parent else {})}
names = iv.area_names(territory, level_stats, detail, lang)

# --- the classification: rule, version, map, table
st.subheader(t("classification_title_level", lang, plural=fine.plural(lang)))
st.markdown("\n".join(fv.periphery_rule(queries.periphery_groups(ctx.key, snapshot.snapshot_id), detail,
                                          snapshot.periphery_version, territory, lang)))
geojson = queries.map_geojson(ctx.key, fine.id)
ui.chart(("class_map", ctx.key, snapshot.snapshot_id, lang, ctx.map_style),
         lambda: fv.class_map(geojson, detail, stats, lang, ctx.map_style), key="class_map")
classes = fv.class_table(detail, stats, territory, lang)
with st.expander(t("class_table_title_level", lang, level=fine.label(lang))):
    ui.table(classes, lang, decimals={t("col_distance_km", lang): 2})
spec = downloads.page_spec(ctx, "periferie_classificazione",
                           metadata={t("meta_periphery_version", lang): snapshot.periphery_version or "–"})
downloads.download_menu(classes, spec, lang, geojson=geojson, id_col=t("col_area_id", lang), key="periphery_classes")

# --- every indicator for the classes, the priority areas and the whole territory
st.subheader(t("groups_title", lang))
areas = fv.group_areas(detail, territory)
profile = queries.area_profile(ctx.key, snapshot.snapshot_id, areas)
if profile.empty:
    st.info(t("no_values_area", lang))
else:
    st.caption(t("groups_caption_level", lang, plural=views.inline_label(fine.plural(lang))))
    comparison = fv.group_comparison_table(profile, metas, areas, names, lang)
    for part, part_columns in fv.comparison_parts(comparison, areas, names, lang):  # two grids that fit at 1280 px
        ui.table(part, lang, columns=part_columns)
    comparison_spec = downloads.page_spec(ctx, "periferie_confronto", metadata=iv.export_metadata(None, snapshot, lang))
    downloads.download_menu(comparison, comparison_spec, lang, key="periphery_groups")
    notes = fv.group_notes_table(profile, metas, names, lang)
    with st.expander(t("group_notes_title", lang, n=len(notes))):
        ui.table(notes, lang)
        notes_spec = downloads.page_spec(ctx, "periferie_note", metadata=iv.export_metadata(None, snapshot, lang))
        downloads.download_menu(notes, notes_spec, lang, key="periphery_notes")

# --- ranking of the finest areas of one class on one indicator (direction-aware)
st.subheader(t("ranking_title_level", lang, plural=fine.plural(lang)))
valued = views.valued_indicators(queries.indicator_coverage(ctx.key, snapshot.snapshot_id), (fine.id,))
choices = views.with_values_first(iv.fine_indicators(metas, territory), valued)
if not choices:
    st.info(t("no_indicators", lang))
    st.stop()
left, right = st.columns([3, 1])
with left:
    indicator = ui.url_choice(t("choose_indicator", lang), choices, "indicatore", lang,
                              default=views.default_choice(choices, valued, "opportunity_score"),
                              format_func=lambda i: views.choice_label(metas[i].name, i in valued, lang))
with right:
    class_id = ui.url_choice(t("choose_class", lang), fv.class_options(detail, territory), "classe", lang, default=iv.PERIPHERY,
                             format_func=lambda c: iv.class_name(c, lang))
meta = metas[indicator]
st.caption(iv.indicator_caption(meta, lang))
st.caption(fv.ranking_caption(meta, territory, lang))
ranked = fv.ranking(queries.indicator_values(ctx.key, snapshot.snapshot_id, indicator, fine.id), stats, detail, meta, territory,
                    lang, class_id)
ui.table(ranked, lang, decimals={t("col_value", lang): meta.decimals})
ranking_spec = downloads.page_spec(ctx, f"periferie_classifica_{indicator}", filters={t("col_class", lang): class_id},
                                   metadata=iv.export_metadata(meta, snapshot, lang))
downloads.download_menu(ranked, ranking_spec, lang, geojson=lambda: iv.subset_geojson(geojson, ranked[t("col_area_id", lang)]),
                        id_col=t("col_area_id", lang), key="periphery_ranking")
