"""Dati: sources, freshness, trust labels, licences, rows loaded and rejected, the rejected rows."""

import streamlit as st

from osservatorio import queries, ui, views
from osservatorio.i18n import fmt_number, t

ctx = ui.page_start("page_data")
st.write(t("data_intro", ctx.lang))
st.caption(t("build_caption", ctx.lang, build=ctx.info.build_id, mode=ctx.info.mode, built=ctx.built))
territory = ctx.territory  # which areas the build describes: its levels, finest first, with the expected counts
st.caption(t("data_territory", ctx.lang, name=territory.name(ctx.lang), levels=" › ".join(
    lv.long(ctx.lang) + (f" ({fmt_number(lv.expected_count, ctx.lang)})" if lv.expected_count else "")
    for lv in territory.levels)))

st.subheader(t("sources_title", ctx.lang))
sources = queries.sources(ctx.key)
# loaded files first, then those the build did not use for this territory (each with its reason in the notes)
shown = sources.iloc[sources["status"].ne("loaded").to_numpy().argsort(kind="stable")] if len(sources) else sources
ui.table(views.sources_table(shown, ctx.lang), ctx.lang)

st.subheader(t("catalogue_title", ctx.lang))
st.caption(t("catalogue_intro", ctx.lang))
catalogue = queries.source_catalogue(ctx.key)
if catalogue.empty:
    st.info(t("src_no_catalogue", ctx.lang))
else:
    ui.table(views.catalogue_table(catalogue, sources, ctx.lang), ctx.lang, links=(t("col_portal", ctx.lang),))

st.subheader(t("rejects_title", ctx.lang))
options = ["*", *sorted(set(sources["source_id"]))]
chosen = ui.url_choice(t("filter_source", ctx.lang), options, "fonte", ctx.lang,
                       format_func=lambda s: t("all_sources", ctx.lang) if s == "*" else s)
REJECTS_PAGE = 500  # rows per page: a regional register's 40 k rejects would be megabytes
selected = None if chosen == "*" else chosen
total = queries.rejects_count(ctx.key, selected)
if total == 0:
    st.info(t("rejects_none", ctx.lang))
else:
    pages = -(-total // REJECTS_PAGE)
    page = int(st.number_input(t("rejects_page", ctx.lang, pages=pages), min_value=1, max_value=pages, value=1)
               if pages > 1 else 1)
    first = (page - 1) * REJECTS_PAGE
    rejects = queries.rejects_page(ctx.key, selected, REJECTS_PAGE, first)
    if pages > 1:
        st.caption(t("rejects_shown", ctx.lang, first=fmt_number(first + 1, ctx.lang),
                     last=fmt_number(first + len(rejects), ctx.lang), total=fmt_number(total, ctx.lang)))
    ui.table(views.rejects_table(rejects, ctx.lang), ctx.lang)
