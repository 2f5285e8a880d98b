"""Panoramica: headline numbers and the NIL map coloured by population density."""

import streamlit as st

from osservatorio import downloads, queries, ui, views
from osservatorio.i18n import t

ctx = ui.page_start("page_overview")
stats = queries.district_stats(ctx.key, "nil")
if stats.empty:
    st.info(t("empty_warehouse", ctx.lang))
    st.stop()
summary = queries.city_summary(ctx.key)
geojson = queries.map_geojson(ctx.key, "nil")

for column, kpi in zip(st.columns(5), views.overview_kpis(summary, ctx.lang), strict=True):
    column.metric(kpi.label, kpi.value)
caption = views.trust_caption(stats, ctx.built, ctx.lang)
st.caption(caption)
st.plotly_chart(views.density_map(stats, geojson, ctx.lang, ctx.map_style), width="stretch", key="density_map")

st.subheader(t("districts_table", ctx.lang))
table = views.districts_table(stats, ctx.lang)
st.dataframe(table, hide_index=True, width="stretch")
spec = downloads.page_spec(ctx, "nil_popolazione", metadata={t("meta_trust", ctx.lang): caption})
downloads.download_menu(table, spec, ctx.lang, geojson=geojson, id_col=t("col_id", ctx.lang), key="nil_table")
