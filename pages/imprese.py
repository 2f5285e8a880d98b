"""Imprese: firms by programme ATECO category, by district and over time, with the ATECO edition shown."""

import pandas as pd
import streamlit as st

from osservatorio import downloads, queries, ui, views
from osservatorio.i18n import t
from osservatorio.page_views import imprese as fv
from osservatorio.views import ALL

page = ui.theme_page_start("page_firms")
ctx, stats, snapshot, classes = page.ctx, page.stats, page.snapshot, page.classes
lang, territory = ctx.lang, ctx.territory
fine = territory.fine
fine_word = views.inline_label(fine.label(lang))
name = territory.name(lang)
labels = fv.category_labels(queries.ateco_category_labels(ctx.key, snapshot) if snapshot else pd.DataFrame(), lang)
st.write(t("th_firms_intro", lang, fine=fine_word))
st.info(t("th_categories_note", lang) + " " + fv.editions_caption(queries.firm_editions(ctx.key), lang), icon="ℹ️")

# --- the whole territory, per year (ds171: firms, local units and employees; no area detail in that source)
st.subheader(t("th_firm_totals_title", lang, name=name))
totals = queries.firm_totals_by_category(ctx.key)
totals_state = ui.theme_notice(ctx.key, "firm_totals", lang)
if not totals.empty:
    years = sorted({int(y) for y in totals["year"]})
    span = str(years[0]) if len(years) == 1 else f"{years[0]}–{years[-1]}"
    levels = " / ".join(views.inline_label(lv.label(lang)) for lv in territory.levels)
    st.caption(t("th_firm_totals_caption", lang, years=span, name=name, levels=levels))
    measure = st.radio(t("th_firm_totals_measure", lang), list(fv.FIRM_TOTAL_MEASURES), index=1, horizontal=True,
                       key="firm_totals_measure",
                       format_func=lambda m: t({"firms": "th_col_firms", "units": "th_col_units",
                                                "employees_units": "th_col_employees_units"}[m], lang))
    ui.chart(("firm_totals_chart", ctx.key, snapshot, lang, measure),
             lambda: fv.firm_totals_chart(totals, labels, lang, measure, name), key="firm_totals_chart")
    st.caption(t("th_firm_totals_other", lang))
    totals_table = queries.derived(("firm_totals_table", ctx.key, snapshot, lang),
                                   lambda: fv.firm_totals_table(totals, labels, lang))
    ui.table(totals_table, lang)
    downloads.download_menu(totals_table, downloads.page_spec(ctx, "imprese_territorio_anni"), lang, key="firm_totals_dl")

# --- per area of the fine level (ds201 local units, or point-located firms)
st.subheader(t("th_detail_title", lang, fine=fine_word))
units_state = ui.theme_state(ctx.key, "firm_units")
points_state = ui.theme_state(ctx.key, "firm")
if not units_state.loaded and points_state.places == 0:  # no per-area firm data in this build: no area filter either
    ui.theme_message(units_state, lang)
    if not totals.empty:
        st.caption(t("th_firm_totals_no_nil", lang, name=name, fine=fine_word))
    st.stop()
area_options = {str(k): n for k, n in views.area_labels(stats).items()}
everywhere = t("th_all_territory", lang, name=name)
area = ui.url_choice(fine.label(lang), [ALL, *area_options], fine.url_key, lang,
                     format_func=lambda v: everywhere if v == ALL else area_options.get(v, v))
district_id = None if area == ALL else int(area)
units = queries.firm_units_by_category(ctx.key, district_id)
points = queries.firm_points_by_category(ctx.key, district_id)
filters = {k: v for k, v in {fine.url_key: area}.items() if v != ALL}
if units.empty and points.empty:
    st.info(t("th_no_firms", lang))
    st.stop()

st.subheader(t("th_by_category_title", lang))
by_category = queries.derived(("firms_category_table", ctx.key, snapshot, lang, district_id),
                              lambda: fv.category_table(units, points, labels, lang))
ui.chart(("firms_categories", ctx.key, snapshot, lang, district_id), lambda: fv.category_chart(by_category, lang),
         key="firms_categories")
ui.table(by_category, lang)
downloads.download_menu(by_category, downloads.page_spec(ctx, "imprese_categorie", filters), lang, key="firms_categories_dl")

st.subheader(t("th_by_district_title", lang, fine=fine_word))
if not snapshot:
    st.info(t("th_no_snapshot", lang))
else:
    catalogue = queries.catalogue(ctx.key, snapshot)
    available = [i for i in fv.FIRM_MAP_INDICATORS if i in set(catalogue["indicator_id"])]
    if not available:
        st.info(t("th_no_indicator", lang))
    else:
        d1, d2, d3 = st.columns(3)
        with d3:
            category = ui.url_choice(t("th_filter_firm_points", lang), [ALL, *labels], "categoria", lang,
                                     default="digital_manufacturing",
                                     format_func=lambda v: views.option_label(v, lang, "th_all_categories", labels))
        with d1:
            indicator = ui.url_choice(t("th_filter_indicator", lang), available, "indicatore", lang,
                                      format_func=lambda v: views.catalogue_name(catalogue, v, lang))
        values_all = queries.indicator_values(ctx.key, snapshot, indicator, fine.id, all_periods=True)
        periods = fv.period_options(values_all)
        if not periods:
            st.info(t("th_no_indicator", lang))
        else:
            with d2:
                period = ui.url_choice(t("th_filter_period", lang), periods, "periodo", lang,
                                       format_func=lambda v: fv.period_label(v, lang))
            district = queries.derived(("firms_district_values", ctx.key, snapshot, lang, indicator, period),
                                       lambda: fv.district_values(fv.pick_period(values_all, period), stats, classes,
                                                                  catalogue, indicator, territory, lang))
            chosen = None if category == ALL else category  # counted and sampled in SQL, never the whole register in pandas
            n_firms, located = queries.firm_points_located(ctx.key, district_id, chosen)
            sample = queries.firm_points_sample(ctx.key, district_id, chosen, fv.MAX_FIRM_POINTS)
            if note := fv.sampled_caption(len(sample), located, lang):
                st.caption(note)
            layer = t("th_firm_layer", lang, category=views.option_label(category, lang, "th_all_categories", labels))
            geojson = queries.map_geojson(ctx.key, fine.id)
            value_column = views.catalogue_name(catalogue, indicator, lang, with_unit=True)
            fingerprint = ("firms_map", ctx.key, snapshot, lang, ctx.map_style, district_id, category, indicator, period)
            ui.chart(fingerprint, lambda: fv.firms_map(geojson, district, value_column, sample, lang, ctx.map_style, layer),
                     key="firms_map")
            ui.table(district, lang)
            downloads.download_menu(district, downloads.page_spec(ctx, f"imprese_{indicator}", {"periodo": period}), lang,
                                    geojson=geojson, id_col=district.columns[0], key="firms_district_dl")
            if n_firms:
                st.caption(layer)
                # rows read only when a file is asked for; the CSV zips read them in chunks (bounded memory)
                load = queries.firm_points_loader(ctx.key, district_id, chosen, n_firms)
                spec = downloads.page_spec(ctx, "imprese_puntuali", {**filters, "categoria": category})
                downloads.download_menu(load.map(lambda f: fv.firm_table(f, stats, labels, territory, lang)), spec, lang,
                                        geojson=lambda: fv.firm_points_geojson(load()), id_col=t("th_col_place_id", lang),
                                        key="firms_points_dl", row_count=n_firms)

st.subheader(t("th_over_time_title", lang))
if units.empty:
    st.info(t("th_no_units", lang))
else:
    if units["year"].nunique() == 1:
        st.caption(t("th_single_year", lang, year=int(units["year"].iloc[0])))
    ui.chart(("firms_units_time", ctx.key, snapshot, lang, district_id), lambda: fv.units_timeline(units, labels, lang)[0],
             key="firms_units_time")
    downloads.download_menu(lambda: fv.units_timeline(units, labels, lang)[1],
                            downloads.page_spec(ctx, "imprese_unita_locali_anni", filters), lang, key="firms_units_dl")
if points.empty:
    st.info(t("th_no_points", lang))
else:
    ui.chart(("firms_starts_time", ctx.key, snapshot, lang, district_id), lambda: fv.starts_timeline(points, labels, lang)[0],
             key="firms_starts_time")
    st.caption(t("th_starts_caption", lang))
    downloads.download_menu(lambda: fv.starts_timeline(points, labels, lang)[1],
                            downloads.page_spec(ctx, "imprese_anno_inizio", filters), lang, key="firms_starts_dl")
