"""View code of the Quartiere page: one area of the territory's finest level against its parent area,
its periphery class and the whole territory; its small map, firm mix and trend. Pure: no Streamlit."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from osservatorio import maps
from osservatorio.i18n import fmt_date, fmt_number, t
from osservatorio.indicator_views import (
    CATEGORIES,
    ColumnView,
    add_place_layer,
    area_class,
    area_priority_areas,
    category_label,
    class_name,
    drop_empty_period,
    reason_text,
    reasons_of,
    territory_area,
)
from osservatorio.territory import Territory
from osservatorio.views import (
    IndicatorMeta,
    area_label,
    cell_text,
    format_value,
    hover_text,
    inline_label,
    is_missing,
    plain,
    round_column,
    separators,
    trust_label,
)

#: Relative gap under which an area is "in line" with the territory (5 %).
IN_LINE_TOLERANCE = 0.05


def profile_areas(territory: Territory, district_id: int, parent_id: object,
                  periphery_class: str | None) -> tuple[tuple[str, str], ...]:
    """The (level, area_id) pairs of an area's profile: the area, its parent area (when the territory
    has a parent level), its periphery class, the whole territory."""
    areas = [(territory.fine.id, str(district_id))]
    if territory.parent is not None and not is_missing(parent_id) and cell_text(parent_id):
        areas.append((territory.parent.id, str(int(parent_id))))  # type: ignore[call-overload]
    if periphery_class:
        areas.append(("periphery_class", periphery_class))
    areas.append(territory_area(territory))
    return tuple(areas)


@dataclass(frozen=True)
class DistrictHeader:
    """Who an area is: name, parent area, periphery class, priority areas, residents (one caption line)."""

    district_id: int
    label: str
    parent_id: int | None
    periphery_class: str | None
    priority_areas: tuple[str, ...]
    caption: str


def district_header(territory: Territory, stats: pd.DataFrame, groups: pd.DataFrame, district_id: int,
                    lang: str) -> DistrictHeader:
    """The header of the area page (`groups` may be empty when there is no snapshot or no periphery file)."""
    rows = stats[stats["id"] == district_id]
    row = rows.iloc[0].to_dict() if len(rows) else {"name": "", "parent_id": None, "residents": None,
                                                        "population_year": None, "population_trust": None}
    parent_value = row.get("parent_id")
    parent_id = None if territory.parent is None or is_missing(parent_value) else int(parent_value)  # type: ignore[arg-type]
    cls = area_class(groups, district_id) if len(groups) else None
    prio = tuple(plain(p) for p in area_priority_areas(groups, district_id)) if len(groups) else ()
    parts = [territory.fine.long(lang)]
    if territory.parent is not None and parent_id is not None:
        parts.append(f"{territory.parent.label(lang)} {parent_id}")
    if len(groups):
        parts.append(f"{t('level_periphery_class', lang)}: {class_name(cls, lang) if cls else t('no_class', lang)}")
    if prio:
        parts.append(f"{t('col_priority_areas', lang)}: {', '.join(prio)}")
    residents = row.get("residents")
    if not is_missing(residents):
        year = row.get("population_year")
        extra = ", ".join(x for x in ("" if is_missing(year) else str(int(year)),  # type: ignore[arg-type]
                                      trust_label(row.get("population_trust"), lang)) if x)
        parts.append(f"{t('kpi_residents', lang)}: {fmt_number(float(residents), lang)} ({extra})")  # type: ignore[arg-type]
    else:
        parts.append(t("residents_unknown", lang))
    return DistrictHeader(district_id=district_id, label=area_label(district_id, row["name"]), parent_id=parent_id,
                          periphery_class=cls, priority_areas=prio, caption=" · ".join(parts))


def compare(value: float | None, reference: float | None, direction: str, lang: str) -> str:
    """An area's value against a reference (the territory), direction-aware: better / worse / in line;
    for a neutral indicator: higher / lower / in line. Within 5 % of the reference counts as in line."""
    if value is None or reference is None or pd.isna(value) or pd.isna(reference):
        return "–"
    gap = value - reference
    scale = abs(reference) if reference else abs(value)
    if scale == 0 or abs(gap) <= IN_LINE_TOLERANCE * scale:
        return t("cmp_in_line", lang)
    higher = gap > 0
    if direction == "neutral":
        return t("cmp_higher" if higher else "cmp_lower", lang)
    better = higher if direction == "higher_better" else not higher
    return t("cmp_better" if better else "cmp_worse", lang)


def profile_table(profile: pd.DataFrame, metas: Mapping[str, IndicatorMeta], areas: Sequence[tuple[str, str]],
                  names: Mapping[tuple[str, str], str], territory: Territory, lang: str) -> pd.DataFrame:
    """Every indicator of the area against its parent area, periphery class and the territory (one row each).

    Columns: indicator, unit, one value column per area (named after the area), comparison with the
    territory, data year, note (why missing / caveat) and trust of the area's value. Counts and sums are
    not compared with the territory (an area always has fewer than the whole territory).
    """
    lookup = {(r["indicator_id"], r["level"], str(r["area_id"])): r for r in profile.to_dict("records")}
    own_key = areas[0]
    whole = territory_area(territory)
    vs = t("col_vs_territory", lang)
    rows = []
    for ind, meta in metas.items():
        own = lookup.get((ind, *own_key))
        row: dict[str, object] = {t("col_indicator", lang): meta.name, t("col_unit", lang): meta.unit}
        for area in areas:
            r = lookup.get((ind, *area))
            value = None if r is None or is_missing(r["value"]) else round(float(r["value"]), meta.decimals)
            row[_area_column(area, names, lang)] = value
        ref = lookup.get((ind, *whole))
        own_value = None if own is None or is_missing(own["value"]) else float(own["value"])
        ref_value = None if ref is None or is_missing(ref["value"]) else float(ref["value"])
        row[vs] = t("cmp_count", lang) if meta.is_count else compare(own_value, ref_value, meta.direction, lang)
        row[t("col_period", lang)] = None if own is None or is_missing(own["period"]) else int(own["period"])
        if own is None:
            note = t("reason_not_at_level_of", lang, plural=inline_label(territory.fine.plural(lang))) \
                if territory.fine.id not in meta.levels else t("reason_no_row", lang)
        else:
            note = reason_text(own.get("reason"), lang, own.get("reason_code"), own.get("reason_params"))
        row[t("col_note", lang)] = note
        row[t("col_trust", lang)] = "" if own is None else trust_label(own["trust"], lang)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame[t("col_period", lang)] = frame[t("col_period", lang)].astype("Int64")
    return frame


def _area_column(area: tuple[str, str], names: Mapping[tuple[str, str], str], lang: str) -> str:
    level, area_id = area
    name = names.get(area, area_id)
    if level == "periphery_class":
        return f"{t('level_periphery_class', lang)}: {name}"
    return name


def area_geojson(geojson: dict, district_id: int) -> dict:
    """The FeatureCollection reduced to one area."""
    return {"type": "FeatureCollection",
            "features": [f for f in geojson.get("features", []) if str(f.get("id")) == str(district_id)]}


def district_map(one_area: dict, label: str, layers: Sequence[tuple[str, pd.DataFrame]], lang: str,
                 map_style: str) -> go.Figure:
    """Small map of one area (outline) with its places, one layer per theme: [(theme, places), ...]."""
    center, zoom = maps.center_zoom(maps.bounds_of(one_area), width_px=600, height_px=380)
    fig = go.Figure()
    ids = [f["id"] for f in one_area.get("features", [])]
    if ids:
        fig.add_trace(go.Choroplethmap(
            geojson=one_area, locations=ids, z=[1] * len(ids), colorscale=[[0, "#fdd0a2"], [1, "#fdd0a2"]],
            showscale=False, marker_opacity=0.45, marker_line_width=2, marker_line_color="#d94801",
            text=[hover_text(label)] * len(ids), hovertemplate="%{text}<extra></extra>", name=hover_text(label)))
    for theme, places in layers:
        add_place_layer(fig, places, theme, lang)
    fig.update_layout(map={"style": map_style, "center": center, "zoom": min(zoom, 16.0)},
                      margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=380, showlegend=True,
                      legend={"orientation": "h", "y": -0.02})
    return fig


# --------------------------------------------------------------------------------------------------
# Firm mix


def firm_mix_table(units: pd.DataFrame, points: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Firm mix of an area by programme category: local units (ds201, latest year) and point-located
    firms, each with its share of the total (%)."""
    cats: list[str] = []
    for frame in (units, points):
        for c in frame["category"] if "category" in frame else []:
            if isinstance(c, str) and c not in cats:
                cats.append(c)
    cats = [c for c in CATEGORIES if c in cats] + sorted(c for c in cats if c not in CATEGORIES)
    year = None
    unit_counts: dict[str, float] = {}
    if len(units):
        year = int(units["year"].max())
        latest = units[units["year"] == year]
        unit_counts = {str(k): float(v) for k, v in latest.groupby("category")["units"].sum().items()}
    firm_counts = {str(k): float(v) for k, v in points.groupby("category")["firms"].sum().items()} if len(points) else {}
    total_units = sum(unit_counts.values())
    total_firms = sum(firm_counts.values())

    def share(part: float | None, total: float) -> float | None:
        return None if part is None or total == 0 else round(100 * part / total, 1)

    units_col = t("col_units", lang, year=year if year is not None else "–")
    rows = []
    for c in cats:
        u = unit_counts.get(c, 0.0) if unit_counts else None
        f = firm_counts.get(c, 0.0) if firm_counts else None
        rows.append({
            t("col_category", lang): category_label(c, lang),
            units_col: u,
            t("col_units_share", lang): share(u, total_units),
            t("col_firms", lang): f,
            t("col_firms_share", lang): share(f, total_firms),
        })
    columns = [t("col_category", lang), units_col, t("col_units_share", lang), t("col_firms", lang), t("col_firms_share", lang)]
    return pd.DataFrame(rows, columns=columns)


def firm_mix_chart(table: pd.DataFrame, lang: str) -> go.Figure:
    """Horizontal bars of the two shares of `firm_mix_table`."""
    cat_col, share_units, share_firms = table.columns[0], table.columns[2], table.columns[4]
    fig = go.Figure()
    for col, color in ((share_units, "#6baed6"), (share_firms, "#fd8d3c")):
        if table[col].notna().any():
            fig.add_trace(go.Bar(y=table[cat_col], x=table[col], orientation="h", name=str(col), marker_color=color,
                                 hovertemplate="%{y}: %{x:.1f} %<extra></extra>"))
    fig.update_layout(barmode="group", height=260, margin={"l": 0, "r": 0, "t": 10, "b": 0},
                      xaxis={"title": {"text": "%"}}, yaxis={"autorange": "reversed"},
                      legend={"orientation": "h", "y": -0.25}, separators=separators(lang))
    return fig


# --------------------------------------------------------------------------------------------------
# Trend of one indicator


def trend_frame(history: pd.DataFrame, lang: str) -> pd.DataFrame:
    """An area's series for the trend chart, one row per point, on the data's reference period:

    - values with a data year: one point per year (x = 1 July of that year), from the latest snapshot
      that has it (a later build may revise a year);
    - values without a year: one point per snapshot (x = the snapshot's date);
    - snapshots whose inputs equal an earlier one (`same_as`) add no point.
    Columns: x, series ('year' / 'snapshot'), series_label, period, snapshot_id, created_at, value, reason, trust.
    """
    columns = ["x", "series", "series_label", "period", "snapshot_id", "created_at", "value", "reason", "trust"]
    if history.empty:
        return pd.DataFrame(columns=columns)
    h = history.assign(created_at=pd.to_datetime(history["created_at"]))
    if "same_as" in h:
        h = h[h["same_as"].isna()]
    dated = h[h["period"].notna()].sort_values("created_at").drop_duplicates("period", keep="last")
    dated = dated.assign(x=[pd.Timestamp(year=int(p), month=7, day=1) for p in dated["period"]], series="year",
                         series_label=t("series_year", lang))
    undated = h[h["period"].isna()].assign(x=lambda f: f["created_at"], series="snapshot",
                                           series_label=t("series_snapshot", lang))
    out = pd.concat([dated, undated], ignore_index=True)
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype(float)
    out["reason"] = reasons_of(out, lang)
    out["period"] = out["period"].astype("Int64")
    out["_order"] = (out["series"] == "snapshot").astype(int)  # data years first, then snapshots
    return out.sort_values(["_order", "x"]).reset_index(drop=True)[columns]


def trend_caption(trend: pd.DataFrame, lang: str) -> str:
    """What the trend shows: how many snapshots and data years, and whether a line can be drawn yet."""
    snaps = int(trend["snapshot_id"].nunique())
    years = sorted(int(p) for p in trend["period"].dropna().unique())
    parts = [t("trend_snapshots", lang, n=snaps)]
    if years:
        parts.append(t("trend_years", lang, first=years[0], last=years[-1], n=len(years)))
    if snaps < 2:
        parts.append(t("trend_one_snapshot", lang))
    if (trend["series"] == "snapshot").any():
        parts.append(t("trend_snapshot_dates", lang))
    return " ".join(parts)


def point_tick(series: str, period: object, created_at: object, lang: str) -> str:
    """The x-axis label of a trend point: the data year, or the snapshot date in the page language."""
    if series == "year" and not is_missing(period):
        return str(int(period))  # type: ignore[call-overload]
    return fmt_date(pd.Timestamp(created_at).date(), lang) if cell_text(created_at) else ""


def trend_chart(trend: pd.DataFrame, meta: IndicatorMeta, label: str, lang: str) -> go.Figure:
    """Chart of `trend_frame`: one line per series (one labelled marker when a series has one point);
    ticks only at the points, labelled with the data year or the snapshot date in the page language."""
    fig = go.Figure()
    for series, color in (("year", "#08519c"), ("snapshot", "#d94801")):
        part = trend[trend["series"] == series]
        if part.empty:
            continue
        hover = []
        for row in part.itertuples(index=False):
            when = t("data_year", lang, year=int(row.period)) if series == "year" else \
                t("snapshot_of", lang, date=fmt_date(row.created_at, lang))
            text = format_value(row.value, meta, lang)
            if cell_text(row.reason):
                text += f"<br>{hover_text(row.reason)}"
            hover.append(f"{when}<br>{text}<br>{t('col_trust', lang)}: {trust_label(row.trust, lang)}")
        single = len(part) == 1
        fig.add_trace(go.Scatter(
            x=part["x"], y=part["value"], mode="markers+text" if single else "lines+markers",
            name=str(part["series_label"].iloc[0]), line={"color": color}, marker={"size": 11 if single else 7, "color": color},
            text=[format_value(v, meta, lang) for v in part["value"]] if single else None, textposition="top center",
            hovertext=hover, hovertemplate="%{hovertext}<extra></extra>"))
    ticks = trend.drop_duplicates("x")
    labels = [point_tick(s, p, c, lang) for s, p, c in zip(ticks["series"], ticks["period"], ticks["created_at"], strict=True)]
    if len(set(labels)) < len(labels):  # two snapshots of the same day: add the time
        labels = [f"{lab} {pd.Timestamp(c):%H:%M}" if s == "snapshot" else lab
                  for lab, s, c in zip(labels, ticks["series"], ticks["created_at"], strict=True)]
    fig.update_layout(height=320, margin={"l": 0, "r": 0, "t": 40, "b": 0},
                      title={"text": f"{html.escape(meta.name)} – {hover_text(label)}", "font": {"size": 14}},
                      yaxis={"title": {"text": meta.unit}, "rangemode": "tozero"}, legend={"orientation": "h", "y": -0.2},
                      xaxis={"tickmode": "array", "tickvals": list(ticks["x"]), "ticktext": labels},
                      separators=separators(lang))
    if len(ticks) == 1:  # a lone point: a window of a year around it, not milliseconds
        x0 = pd.Timestamp(ticks["x"].iloc[0])
        fig.update_xaxes(range=[x0 - pd.Timedelta(days=183), x0 + pd.Timedelta(days=183)])
    return fig


def trend_table(trend: pd.DataFrame, meta: IndicatorMeta, lang: str) -> pd.DataFrame:
    """The trend's points as a table (and download); no data-year column when no point has one."""
    return drop_empty_period(pd.DataFrame({
        t("col_series", lang): trend["series_label"],
        t("col_period", lang): trend["period"].astype("Int64"),
        t("col_snapshot", lang): trend["snapshot_id"],
        t("col_snapshot_date", lang): pd.to_datetime(trend["created_at"]).dt.date,
        t("col_value", lang): round_column(trend["value"], meta.decimals),
        t("col_unit", lang): meta.unit,
        t("col_note", lang): [cell_text(r) for r in trend["reason"]],
        t("col_trust", lang): [trust_label(x, lang) for x in trend["trust"]],
    }), lang)



def profile_caption(territory: Territory, periphery: bool, lang: str) -> str:
    """What the profile table compares: this area with its parent area, its class (when the snapshot has
    classes) and the whole territory."""
    refs = []
    if territory.parent is not None:
        refs.append(territory.parent.label(lang))
    if periphery:
        refs.append(t("profile_ref_class", lang))
    refs.append(territory.name(lang))
    return t("profile_caption_level", lang, level=inline_label(territory.fine.label(lang)), refs=", ".join(refs))


def profile_columns(table: pd.DataFrame, areas: Sequence[tuple[str, str]], names: Mapping[tuple[str, str], str],
                    territory: Territory, lang: str) -> dict[str, ColumnView]:
    """Short headers (the level's label, 'Anno', 'Confronto'), full headers as help and widths that fit the profile
    table in the page at 1280 px; the indicator column stays in view when the table scrolls."""
    out: dict[str, ColumnView] = {}
    indicator, unit = t("col_indicator", lang), t("col_unit", lang)
    out[indicator] = ColumnView(indicator, indicator, 230, pinned=True)  # names read whole: 'Distance to the nearest makerspace'
    out[unit] = ColumnView(unit, unit, 60)
    for area in areas:
        column = _area_column(area, names, lang)
        level = area[0]
        short = territory.level_label(level, lang) if level != "periphery_class" else t("level_periphery_class", lang)
        if level == territory_area(territory)[0]:
            short = t("short_territory", lang)
        out[column] = ColumnView(short, column, 62)
    for key, short_key, width in (("col_vs_territory", "short_vs_territory", 72), ("col_period", "short_period", 44),
                                  ("col_note", "col_note", 130), ("col_trust", "col_trust", 62)):
        out[t(key, lang)] = ColumnView(t(short_key, lang), t(key, lang), width)
    return {c: v for c, v in out.items() if c in table.columns}
