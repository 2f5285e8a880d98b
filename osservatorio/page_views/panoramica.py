"""View code of the Panoramica page: territory numbers, headline indicators with their change, the
overview map, places by theme and what is new. Pure: no Streamlit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from osservatorio import svgmap
from osservatorio.i18n import fmt_number, t
from osservatorio.indicator_views import (
    PERIPHERY,
    POINT_THEMES,
    SnapshotRef,
    class_name,
    fine_indicators,
    reason_text,
    snapshot_when,
    territory_area,
)
from osservatorio.territory import TERRITORY_LEVEL, Territory
from osservatorio.views import (
    IndicatorMeta,
    Kpi,
    cell_text,
    dataset_title_cited,
    format_value,
    inline_label,
    is_missing,
    parse_levels,
    trust_label,
    trust_list,
)

#: Headline indicators (territory and periphery), in display order.
HEADLINE_INDICATORS = ("makerspaces_count", "makerspaces_per_100k", "coworking_count", "firms_dm_units", "vacant_count")
#: The overview map: population density (always available) or one indicator.
DENSITY = "density"


# --------------------------------------------------------------------------------------------------
# The territory's numbers, density map and table of areas


def overview_kpis(summary: Mapping[str, Any], territory: Territory, lang: str) -> list[Kpi]:
    """Headline numbers of the whole territory, named with its finest level ('NIL', 'Comuni')."""
    plural = territory.fine.plural(lang)
    residents = summary.get("residents")
    return [
        # a missing population is '–' (the caption below says "dato non disponibile"): the metric box is too narrow for words
        Kpi(t("kpi_residents", lang), fmt_number(residents, lang) if not is_missing(residents) else "–"),
        Kpi(plural, fmt_number(summary.get("area_count"), lang)),
        Kpi(t("kpi_area", lang), fmt_number(summary.get("area_km2"), lang, 1)),
        Kpi(t("kpi_density", lang), fmt_number(summary.get("density_km2"), lang)),
        Kpi(t("kpi_areas_no_pop", lang, plural=plural), fmt_number(summary.get("areas_without_population"), lang)),
    ]


def density_svg(stats: pd.DataFrame, geojson: dict, territory: Territory, lang: str) -> str:
    """Population density per area of the finest level as a static SVG map (svgmap); areas without population grey."""
    return svgmap.choropleth_svg(geojson, dict(zip(stats["id"], stats["density_km2"], strict=True)),
                                 dict(zip(stats["id"], stats["name"], strict=True)), density_title(territory, lang),
                                 t("density_unit", lang), lang, decimals=0)


def indicator_svg(geojson: dict, frame: pd.DataFrame, meta: IndicatorMeta, lang: str) -> str:
    """An indicator of the finest level (`indicator_views.map_frame`) as a static SVG map: the unit in the legend,
    the scale reversed when lower is better, areas without a value grey."""
    return svgmap.choropleth_svg(geojson, dict(zip(frame["id"], frame["value"], strict=True)),
                                 dict(zip(frame["id"], frame["name"], strict=True)), meta.name,
                                 "%" if meta.raw_unit == "%" else meta.unit, lang, decimals=meta.decimals,
                                 reverse=meta.reverse_scale)


def map_caption(frame: pd.DataFrame, meta: IndicatorMeta, lang: str) -> str:
    """How many areas have a value and which colour means better; the reasons are in the values table (an image has no
    tooltip)."""
    return t("map_caption_static", lang, known=fmt_number(int(frame["value"].notna().sum()), lang),
             total=fmt_number(len(frame), lang), scale=t(f"scale_{meta.direction}", lang))


def map_alt(title: str, values: pd.Series, lang: str) -> str:
    """Alt text of the map image: what it shows, how many areas have a value, where the same values are."""
    return t("svgmap_aria", lang, title=title, known=fmt_number(int(values.notna().sum()), lang),
             total=fmt_number(len(values), lang))


def density_title(territory: Territory, lang: str) -> str:
    return t("map_density_level", lang, level=inline_label(territory.fine.label(lang)))


def districts_table(stats: pd.DataFrame, territory: Territory, lang: str) -> pd.DataFrame:
    """The finest level's areas as shown and exported: id, name, parent (when the territory has one),
    area, residents, year, density, trust."""
    out = pd.DataFrame({
        t("col_area_id", lang): stats["id"],
        t("col_name", lang): stats["name"],
    })
    if territory.parent is not None:
        out[territory.parent.label(lang)] = pd.to_numeric(stats["parent_id"], errors="coerce").astype("Int64")
    out[t("col_area_km2", lang)] = stats["area_km2"].round(3)
    out[t("col_residents", lang)] = stats["residents"]
    out[t("col_year", lang)] = stats["population_year"]
    out[t("col_density", lang)] = stats["density_km2"].round(1)
    out[t("col_trust", lang)] = [trust_label(x, lang) for x in stats["population_trust"]]
    return out


def trust_caption(stats: pd.DataFrame, built: str, lang: str) -> str:
    """One line stating where the numbers come from."""
    geom = ", ".join(sorted({trust_label(x, lang) for x in stats["geometry_trust"].dropna()})) or t("no_data", lang)
    pop = ", ".join(sorted({trust_label(x, lang) for x in stats["population_trust"].dropna()})) or t("no_data", lang)
    years = sorted({int(y) for y in stats["population_year"].dropna()})
    year = ", ".join(map(str, years)) if years else t("year_unknown", lang)
    return t("trust_caption", lang, geom=geom, pop=pop, year=year, built=built)


def overview_map_options(metas: Mapping[str, IndicatorMeta], territory: Territory) -> list[str]:
    """Choices of the overview map: population density first (always available), then the indicators
    of the finest level."""
    return [DENSITY, *fine_indicators(metas, territory)]


# --------------------------------------------------------------------------------------------------
# Headline numbers with the change since the previous snapshot


@dataclass(frozen=True)
class Headline:
    """One st.metric of the overview: value, change since the previous snapshot, its colour rule."""

    label: str
    value: str
    delta: str | None
    delta_color: str  # 'normal' | 'inverse' | 'off'
    help: str
    arrow: str = "auto"  # 'off' when nothing changed (no misleading up arrow)


def headline_areas(territory: Territory, periphery: bool) -> tuple[tuple[str, str], ...]:
    """The areas of the headline numbers: the whole territory, and its periphery when the snapshot classifies areas."""
    areas = [territory_area(territory)]
    if periphery:
        areas.append(("periphery_class", PERIPHERY))
    return tuple(areas)


def affected_indicators(changes: pd.DataFrame, snapshot_id: str) -> set[str]:
    """Indicators (and 'level:...' entries, or '*') whose series break at `snapshot_id` (taxonomy_changes.affects)."""
    out: set[str] = set()
    if changes.empty or "affects" not in changes:
        return out
    for affects in changes.loc[changes["snapshot_id"] == snapshot_id, "affects"]:
        out.update(str(a) for a in parse_levels(affects))
    return out


def _breaks(indicator_id: str, level: str, affected: set[str]) -> bool:
    return "*" in affected or indicator_id in affected or f"level:{level}" in affected


def _row_reason(row: Mapping[str, Any] | None, lang: str) -> str:
    if row is None:
        return ""
    return reason_text(row.get("reason"), lang, row.get("reason_code"), row.get("reason_params"))


def headlines(current: pd.DataFrame, previous: pd.DataFrame | None, metas: Mapping[str, IndicatorMeta],
              level: str, area_id: str, lang: str, affected: set[str] | None = None,
              indicators: Sequence[str] = HEADLINE_INDICATORS) -> list[Headline]:
    """Headline numbers for one area (the territory, the periphery) with the change since the previous
    snapshot. `previous` None = there is no previous snapshot (no delta). The delta is withheld when
    the taxonomy or classification changed in between (`affected`): it would not be a trend."""
    affected = affected or set()

    def pick(frame: pd.DataFrame | None, ind: str) -> dict | None:
        if frame is None or frame.empty:
            return None
        rows = frame[(frame["indicator_id"] == ind) & (frame["level"] == level) & (frame["area_id"].astype(str) == area_id)]
        return rows.iloc[0].to_dict() if len(rows) else None

    out = []
    for ind in indicators:
        meta = metas.get(ind)
        if meta is None or level not in meta.levels:
            continue
        cur = pick(current, ind)
        value = None if cur is None or is_missing(cur["value"]) else float(cur["value"])
        help_parts = [meta.description]
        if cur is not None and not is_missing(cur["period"]):
            help_parts.append(t("data_year", lang, year=int(cur["period"])))
        if _row_reason(cur, lang):
            help_parts.append(_row_reason(cur, lang))
        delta = None
        arrow = "auto"
        if previous is None:
            help_parts.append(t("no_previous_snapshot", lang))
        elif _breaks(ind, level, affected):
            help_parts.append(t("delta_not_comparable", lang))
        else:
            prev = pick(previous, ind)
            prev_value = None if prev is None or is_missing(prev["value"]) else float(prev["value"])
            if value is not None and prev_value is not None:
                change = value - prev_value
                sign = "+" if change > 0 else ""
                delta = f"{sign}{fmt_number(change, lang, meta.decimals)}"
                if round(change, meta.decimals) == 0:
                    delta, arrow = fmt_number(0, lang, meta.decimals), "off"
                help_parts.append(t("delta_help", lang, previous=format_value(prev_value, meta, lang)))
            else:
                help_parts.append(t("delta_missing", lang))
        color = {"higher_better": "normal", "lower_better": "inverse"}.get(meta.direction, "off")
        if arrow == "off":  # no change: neither green nor red
            color = "off"
        # The name says what is counted ("... ogni 100.000 residenti"); % and metres keep their unit.
        shown = format_value(value, meta, lang, with_unit=meta.raw_unit in ("%", "m", "m²")) if value is not None else "–"
        out.append(Headline(label=meta.name, value=shown, delta=delta, delta_color=color, help=" · ".join(help_parts),
                            arrow=arrow))
    return out


def headlines_caption(snapshot: SnapshotRef, lang: str) -> str:
    """Which snapshot the headline numbers come from, and what the deltas compare with."""
    when = snapshot_when(snapshot, lang)
    if snapshot.previous_id is None:
        return t("headlines_caption_first", lang, date=when)
    return t("headlines_caption", lang, date=when, previous=snapshot.previous_id)


def headline_area_title(level: str, area_id: str, territory: Territory, lang: str) -> str:
    if level == TERRITORY_LEVEL:
        return territory.name(lang)
    return f"{t('level_periphery_class', lang)}: {class_name(area_id, lang)}"


def headline_table(current: pd.DataFrame, previous: pd.DataFrame | None, metas: Mapping[str, IndicatorMeta],
                   territory: Territory, lang: str, areas: Sequence[tuple[str, str]],
                   indicators: Sequence[str] = HEADLINE_INDICATORS) -> pd.DataFrame:
    """The headline numbers as a table (and download): value now, in the previous snapshot, change."""
    def lookup(frame: pd.DataFrame | None) -> dict[tuple[str, str, str], dict]:
        if frame is None or frame.empty:
            return {}
        return {(r["indicator_id"], r["level"], str(r["area_id"])): r for r in frame.to_dict("records")}

    cur, prev = lookup(current), lookup(previous)
    rows = []
    for level, area in areas:
        area_name = territory.name(lang) if level == TERRITORY_LEVEL else class_name(area, lang)
        for ind in indicators:
            meta = metas.get(ind)
            if meta is None or level not in meta.levels:
                continue
            c, p = cur.get((ind, level, area)), prev.get((ind, level, area))
            value = None if c is None or is_missing(c["value"]) else round(float(c["value"]), meta.decimals)
            before = None if p is None or is_missing(p["value"]) else round(float(p["value"]), meta.decimals)
            rows.append({
                t("col_indicator", lang): meta.name, t("col_area", lang): area_name, t("col_value", lang): value,
                t("col_unit", lang): meta.unit,
                t("col_period", lang): None if c is None or is_missing(c["period"]) else int(c["period"]),
                t("col_previous", lang): before,
                t("col_change", lang): None if value is None or before is None else round(value - before, meta.decimals),
                t("col_note", lang): _row_reason(c, lang),
            })
    out = pd.DataFrame(rows)
    if not out.empty:
        out[t("col_period", lang)] = out[t("col_period", lang)].astype("Int64")
    return out


# --------------------------------------------------------------------------------------------------
# What is new: places by theme, latest sources, taxonomy changes


def place_counts_table(counts: pd.DataFrame, territory: Territory, lang: str,
                       states: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Places loaded per theme, with the state of its source: a theme without a loaded source shows
    '–' and says so (never 0); one with per-area counts only shows the counts and says there is no point list.
    `states`: theme -> views.ThemeState (None = the build predates the source catalogue: counts as found)."""
    by_theme = {str(r["theme"]): r for r in counts.to_dict("records")}
    with_area = t("col_with_area", lang, level=territory.fine.label(lang))
    rows = []
    for theme in POINT_THEMES:
        r = by_theme.get(theme)
        state = (states or {}).get(theme)
        kind = state.state if state is not None else ("points" if r is not None else "absent")
        counted = state.counts_total if state is not None and kind == "counts" else None
        rows.append({
            t("col_theme", lang): t(f"theme_{theme}", lang),
            t("col_places", lang): int(r["places"]) if r is not None else counted,
            with_area: int(r["with_nil"]) if r is not None else counted,
            t("col_with_coords", lang): int(r["with_coords"]) if r is not None else (0 if kind == "counts" else None),
            t("col_trust", lang): trust_list(r["trust"], lang) if r is not None else
            ", ".join(trust_label(x, lang) for x in (state.counts_trust if state is not None else ())),
            t("col_source_state", lang): t(f"src_state_{kind}", lang),
        })
    out = pd.DataFrame(rows)
    for col in (t("col_places", lang), with_area, t("col_with_coords", lang)):
        out[col] = out[col].astype("Int64")
    return out


def recent_sources(sources: pd.DataFrame, lang: str, limit: int = 8) -> pd.DataFrame:
    """The latest loaded source files (newest first), by the publisher's dataset code and title (never the internal id)."""
    loaded = sources[sources["status"] == "loaded"].sort_values(["loaded_at", "source_id"], ascending=[False, True]).head(limit)
    codes = loaded["dataset"] if "dataset" in loaded else pd.Series([None] * len(loaded), index=loaded.index)
    return pd.DataFrame({
        t("col_dataset", lang): [cell_text(c) or "–" for c in codes],
        t("col_title", lang): [dataset_title_cited(i, x, lang)
                               for i, x in zip(loaded["source_id"], loaded["title"], strict=True)],
        t("col_loaded_at", lang): loaded["loaded_at"],
        t("col_rows_loaded", lang): loaded["rows_loaded"],
        t("col_trust", lang): [trust_label(x, lang) for x in loaded["trust"]],
    })


def taxonomy_table(changes: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Recorded changes of taxonomy/classification between snapshots (newest first)."""
    return pd.DataFrame({
        t("col_snapshot", lang): changes["snapshot_id"],
        t("col_snapshot_date", lang): pd.to_datetime(changes["created_at"]).dt.date,
        t("col_component", lang): changes["component"],
        t("col_old_version", lang): changes["old_version"],
        t("col_new_version", lang): changes["new_version"],
        t("col_note", lang): [cell_text(n) for n in changes["note"]],
    })
