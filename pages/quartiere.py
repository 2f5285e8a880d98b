"""Quartiere: one area of the territory's finest level against its parent area, its periphery class and the whole
territory; its places, firms and trend."""

from functools import partial

import streamlit as st

from osservatorio import downloads, programme_views, queries, ui, views
from osservatorio import indicator_views as iv
from osservatorio.i18n import fmt_number, t
from osservatorio.page_views import quartiere as qv

ctx = ui.page_start("page_district")
lang = ctx.lang
territory = ctx.territory
fine, parent = territory.fine, territory.parent
stats = queries.district_stats(ctx.key, fine.id)
if stats.empty:
    st.info(ui.empty_message(territory, lang))
    st.stop()
snapshots = queries.snapshots_if_any(ctx.key)
snapshot = None if snapshots.empty else iv.latest_snapshot(snapshots)
groups = queries.district_groups(ctx.key, snapshot.snapshot_id) if snapshot else iv.empty_groups()

# The page opens on a peripheral area with data (the programme is about the periphery), not on the first id.
options = {k: views.plain(v) for k, v in iv.area_options(stats).items()}
value_counts = queries.area_value_counts(ctx.key, snapshot.snapshot_id) if snapshot else None
opening = iv.default_area(stats, groups, value_counts if value_counts is not None else iv.empty_value_counts(),
                          queries.place_counts_by_area(ctx.key))
area = ui.url_choice(t("choose_area", lang, level=fine.label(lang)), list(options), fine.url_key, lang, default=opening,
                     format_func=options.get)
district_id = int(area)
area_filter = {fine.url_key: area}

header = qv.district_header(territory, stats, groups, district_id, lang)
st.header(views.md_text(header.label))  # a name from a file: shown literally
st.caption(views.md_text(header.caption))
st.page_link("pages/mappa.py", label=t("back_to_map", lang), icon=":material/map:", query_params=ui.link_params(ctx))

# --- every indicator against the parent area, the periphery class and the whole territory
st.subheader(t("profile_title_level", lang, level=views.inline_label(fine.label(lang))))
if snapshot is None:
    st.info(t("no_snapshot", lang))
    metas: dict[str, views.IndicatorMeta] = {}
else:
    metas = views.indicator_metas(queries.catalogue(ctx.key, snapshot.snapshot_id), lang, territory)
    areas = qv.profile_areas(territory, district_id, header.parent_id, header.periphery_class)
    profile = queries.area_profile(ctx.key, snapshot.snapshot_id, areas)
    if profile.empty:
        st.info(t("no_values_area", lang))
    else:
        level_stats = {fine.id: stats, **({parent.id: queries.district_stats(ctx.key, parent.id)} if parent else {})}
        names = iv.area_names(territory, level_stats, groups, lang)
        table = qv.profile_table(profile, metas, areas, names, territory, lang)
        st.caption(qv.profile_caption(territory, iv.has_periphery(groups), lang))
        # short headers, full ones as help: readable at 1280 px
        ui.table(table, lang, columns=qv.profile_columns(table, areas, names, territory, lang))
        spec = downloads.page_spec(ctx, "quartiere_profilo", filters=area_filter,
                                   metadata=iv.export_metadata(None, snapshot, lang))
        downloads.download_menu(table, spec, lang, key="district_profile")

# --- programme places: tables and a small map of the area; a theme without a source says so
st.subheader(t("district_places_title_level", lang, level=views.inline_label(fine.label(lang))))
themes = ("makerspace", "coworking", "vacant", "historic_shop")
states = {th: ui.theme_state(ctx.key, th) for th in themes}
found = {th: queries.places(ctx.key, th, district_id) for th in themes if states[th].state == "points"}
ui.chart(("district_map", ctx.key, district_id, lang, ctx.map_style),
         lambda: qv.district_map(qv.area_geojson(queries.map_geojson(ctx.key, fine.id), district_id), header.label,
                                 list(found.items()), lang, ctx.map_style), key="district_map")
names = ui.source_names(ctx.key, lang)
for theme in themes:
    st.markdown(f"**{t(f'theme_{theme}', lang)}**")
    state = states[theme]
    if state.state == "counts":
        counts = queries.area_counts(ctx.key, theme)
        here = counts[counts["district_id"] == district_id]
        n = int(here["count"].iloc[0]) if len(here) else 0
        st.info(t("district_counts_only_level", lang, n=fmt_number(n, lang), what=t(f"src_theme_{theme}", lang),
                  level=views.inline_label(fine.label(lang)),
                  source=views.md_text(", ".join(names.get(x, x) for x in state.counts_sources)),
                  trust=", ".join(views.trust_label(x, lang) for x in state.counts_trust)))
        continue
    if state.state != "points":
        ui.theme_message(state, lang)
        continue
    ui.theme_message(state, lang)
    places = found[theme]
    if places.empty:  # a real zero of the loaded list: say which list
        everywhere = queries.places(ctx.key, theme)
        lists = ", ".join(f"{names.get(s, s)} ({views.trust_label(x, lang)})" for s, x in
                          everywhere[["source_id", "trust"]].drop_duplicates().itertuples(index=False))
        st.caption(t("district_no_places_in_level", lang, layer=t(f"theme_{theme}", lang).lower(), sources=views.md_text(lists),
                     level=views.inline_label(fine.label(lang))))
        continue
    places_table = iv.places_table(places, theme, territory, lang)
    ui.table(places_table, lang, links=(t("th_col_record", lang),))
    place_spec = downloads.page_spec(ctx, f"quartiere_{theme}", filters=area_filter)
    downloads.download_menu(places_table, place_spec, lang,
                            geojson=partial(views.points_geojson, places_table, t("col_place_id", lang)),
                            id_col=t("col_place_id", lang), key=f"district_{theme}")

# --- hubs and innovation poles of this area, with their facts and sources (config list stored by the build)
if not queries.places(ctx.key, "hub").empty:
    st.markdown(f"**{t('hub_in_area', lang)}**")
    hubs_here = queries.places(ctx.key, "hub", district_id)
    if hubs_here.empty:
        st.caption(t("hub_none_in_area", lang))
    for hub in hubs_here.to_dict("records"):
        basis, facts = views.hub_facts(hub.get("attributes"), lang)
        st.markdown(views.md_text(views.plain(hub.get("name"))))  # a name from a configuration file: literal
        if basis:
            st.caption(views.md_text(t("hub_basis", lang, basis=basis)))
        ui.table(facts, lang, columns=iv.hub_fact_columns(lang))

# --- the programme's actions in this area or on its parent area
programme_views.district_actions(ctx, district_id, header.parent_id)

# --- firm mix by programme category (local units per area, or point-located firms)
st.subheader(t("firm_mix_title", lang))
mix = qv.firm_mix_table(queries.firm_units_by_category(ctx.key, district_id),
                       queries.firm_points_by_category(ctx.key, district_id), lang)
if mix.empty:
    firm_state = ui.theme_state(ctx.key, "firm_units")
    # no local-unit source describes this territory (none registered for it): nothing to point to, only the fact
    unregistered = firm_state.state == "absent" and not any(e.state == "absent" for e in firm_state.candidates)
    if firm_state.loaded or unregistered or not ui.theme_message(firm_state, lang):
        st.info(t("firm_mix_none_level", lang, level=views.inline_label(fine.label(lang))))
    if ui.theme_state(ctx.key, "firm_totals").loaded:
        st.caption(t("firm_mix_territory_only", lang, plural=views.inline_label(fine.plural(lang))))
else:
    st.caption(t("firm_mix_caption", lang))
    ui.chart(("district_firm_mix", ctx.key, district_id, lang), lambda: qv.firm_mix_chart(mix, lang), key="district_firm_mix")
    ui.table(mix, lang)
    mix_spec = downloads.page_spec(ctx, "quartiere_imprese", filters=area_filter)
    downloads.download_menu(mix, mix_spec, lang, key="district_firm_mix_dl")

# --- trend of one indicator on the data's own periods (years, else snapshot dates)
st.subheader(t("trend_title", lang))
if snapshot is None:
    st.info(t("no_snapshot", lang))
    st.stop()
coverage = queries.indicator_coverage(ctx.key, snapshot.snapshot_id)
valued = views.valued_indicators(coverage, (fine.id,))
trend_choices = views.with_values_first(iv.fine_indicators(metas, territory), valued)
if not trend_choices:
    st.info(t("no_indicators", lang))
    st.stop()
indicator = ui.url_choice(t("choose_indicator", lang), trend_choices, "indicatore", lang,
                          default=views.default_choice(trend_choices, valued, iv.DEFAULT_MAP_INDICATOR),
                          format_func=lambda i: views.choice_label(metas[i].name, i in valued, lang))
meta = metas[indicator]
trend = qv.trend_frame(queries.indicator_history(ctx.key, indicator, fine.id, area), lang)
if trend.empty:
    st.info(t("trend_none_level", lang, level=views.inline_label(fine.label(lang))))
else:
    st.caption(qv.trend_caption(trend, lang))
    ui.chart(("district_trend", ctx.key, snapshot.snapshot_id, indicator, district_id, lang),
             lambda: qv.trend_chart(trend, meta, header.label, lang), key="district_trend")
    trend_table = qv.trend_table(trend, meta, lang)
    ui.table(trend_table, lang, decimals={t("col_value", lang): meta.decimals})
    trend_spec = downloads.page_spec(ctx, f"quartiere_andamento_{indicator}", filters=area_filter,
                                     metadata=iv.export_metadata(meta, snapshot, lang))
    downloads.download_menu(trend_table, trend_spec, lang, key="district_trend_dl")
