"""View models: turn query results into what a page shows (labels, formats, figures). No Streamlit."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from osservatorio import maps
from osservatorio.i18n import fmt_number, t


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str


def trust_label(trust: str | None, lang: str) -> str:
    return t(f"trust_{trust}", lang) if trust else t("no_data", lang)


def overview_kpis(summary: dict, lang: str) -> list[Kpi]:
    """Headline numbers for the whole city."""
    return [
        Kpi(t("kpi_residents", lang), fmt_number(summary["residents"], lang)),
        Kpi(t("kpi_nil", lang), fmt_number(summary["nil_count"], lang)),
        Kpi(t("kpi_area", lang), fmt_number(summary["area_km2"], lang, 1)),
        Kpi(t("kpi_density", lang), fmt_number(summary["density_km2"], lang)),
        Kpi(t("kpi_nil_no_pop", lang), fmt_number(summary["nil_without_population"], lang)),
    ]


def density_map(stats: pd.DataFrame, geojson: dict, lang: str, map_style: str) -> go.Figure:
    """Choropleth of population density per NIL; districts without population stay grey."""
    hover = [f"{fmt_number(d, lang)} {t('density_unit', lang)} · {fmt_number(r, lang)} {t('kpi_residents', lang).lower()}"
             if pd.notna(d) else t("no_data", lang) for d, r in zip(stats["density_km2"], stats["residents"], strict=True)]
    labels = stats.assign(label=[f"{i} · {n}" for i, n in zip(stats["id"], stats["name"], strict=True)])
    return maps.choropleth(geojson, labels, "density_km2", "label", t("map_density_title", lang),
                           t("density_unit", lang), map_style=map_style, hover_value=hover)


def districts_table(stats: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The NIL table as shown and exported, with translated headers."""
    out = pd.DataFrame({
        t("col_id", lang): stats["id"],
        t("col_name", lang): stats["name"],
        t("col_municipio", lang): stats["municipio"],
        t("col_area_km2", lang): stats["area_km2"].round(3),
        t("col_residents", lang): stats["residents"],
        t("col_year", lang): stats["population_year"],
        t("col_density", lang): stats["density_km2"].round(1),
        t("col_trust", lang): [trust_label(x, lang) for x in stats["population_trust"]],
    })
    return out


def trust_caption(stats: pd.DataFrame, built: str, lang: str) -> str:
    """One line stating where the numbers come from."""
    geom = ", ".join(sorted({trust_label(x, lang) for x in stats["geometry_trust"].dropna()})) or t("no_data", lang)
    pop = ", ".join(sorted({trust_label(x, lang) for x in stats["population_trust"].dropna()})) or t("no_data", lang)
    years = sorted({int(y) for y in stats["population_year"].dropna()})
    year = ", ".join(map(str, years)) if years else t("year_unknown", lang)
    return t("trust_caption", lang, geom=geom, pop=pop, year=year, built=built)



def sources_table(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Lineage table as shown on the data page."""
    return pd.DataFrame({
        t("col_source", lang): frame["source_id"],
        t("col_dataset", lang): frame["dataset"],
        t("col_title", lang): frame["title"],
        t("col_status", lang): [t(f"status_{s}", lang) for s in frame["status"]],
        t("col_trust", lang): [trust_label(x, lang) for x in frame["trust"]],
        t("col_rows_read", lang): frame["rows_read"],
        t("col_rows_loaded", lang): frame["rows_loaded"],
        t("col_rows_rejected", lang): frame["rows_rejected"],
        t("col_rows_repaired", lang): frame["rows_repaired"],
        t("col_loaded_at", lang): frame["loaded_at"],
        t("col_licence", lang): frame["licence"],
        t("col_crs", lang): frame["crs"],
        t("col_encoding", lang): frame["encoding"],
        t("col_path", lang): frame["path"],
        "sha256": frame["sha256"],
        t("col_notes", lang): frame["notes"],
    })


def rejects_table(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Rejected/repaired/flagged rows with their reasons and raw values."""
    return pd.DataFrame({
        t("col_source", lang): frame["source_id"],
        t("col_path", lang): frame["path"],
        t("col_row", lang): frame["row_number"],
        t("col_action", lang): [t(f"action_{a}", lang) for a in frame["action"]],
        t("col_reason", lang): frame["reason"],
        t("col_raw", lang): frame["raw"],
    })
