"""View code of the Periferie page: the classification of the finest areas (centre / semi-centre /
periphery), the classes and priority areas side by side, the ranking of the areas of one class.
Pure: no Streamlit. A territory without a periphery file has no classes: the page says so."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from osservatorio import maps
from osservatorio.i18n import fmt_number, t
from osservatorio.indicator_views import (
    CLASS_COLORS,
    PERIPHERY,
    PERIPHERY_CLASSES,
    ColumnView,
    class_name,
    drop_empty_period,
    parent_column,
    reason_text,
    reasons_of,
    territory_area,
    trim_geojson,
)
from osservatorio.territory import TERRITORY_LEVEL, Territory
from osservatorio.views import (
    IndicatorMeta,
    area_label,
    cell_text,
    direction_label,
    hover_text,
    inline_label,
    is_missing,
    plain,
    trust_label,
)


def group_areas(groups: pd.DataFrame, territory: Territory) -> tuple[tuple[str, str], ...]:
    """Periphery classes (centro, semicentro, periferia, then any other), priority areas, then the territory."""
    classes = sorted({str(g) for g in groups.loc[groups["group_level"] == "periphery_class", "group_id"]},
                     key=lambda c: (PERIPHERY_CLASSES.index(c) if c in PERIPHERY_CLASSES else len(PERIPHERY_CLASSES), c))
    priority = list(dict.fromkeys(str(g) for g in groups.loc[groups["group_level"] == "priority_area", "group_id"]))
    return (*(("periphery_class", c) for c in classes), *(("priority_area", p) for p in priority), territory_area(territory))


def group_comparison_table(profile: pd.DataFrame, metas: Mapping[str, IndicatorMeta], areas: Sequence[tuple[str, str]],
                           names: Mapping[tuple[str, str], str], lang: str) -> pd.DataFrame:
    """Indicators (rows) × periphery classes, priority areas and territory (columns); numbers rounded to
    the unit's decimals, missing values empty (their reasons are in `group_notes_table`).

    A priority area's column is headed by its short name; its full name is `group_column_help`."""
    lookup = {(r["indicator_id"], r["level"], str(r["area_id"])): r["value"] for r in profile.to_dict("records")}
    rows = []
    for ind, meta in metas.items():
        row: dict[str, object] = {t("col_indicator", lang): meta.name, t("col_unit", lang): meta.unit,
                                  t("col_direction", lang): direction_label(meta.direction, lang)}
        for area in areas:
            v = lookup.get((ind, *area))
            row[group_column(area, names, lang)] = None if v is None or is_missing(v) else round(float(v), meta.decimals)
        rows.append(row)
    return pd.DataFrame(rows)


#: Characters of a priority area's name in a column header (the full name is in the header's help).
SHORT_HEADER = 18


def group_column(area: tuple[str, str], names: Mapping[tuple[str, str], str], lang: str) -> str:
    """The column header of a group: the class name, or 'Area: ' and the start of the priority area's name."""
    level, area_id = area
    name = names.get(area, area_id)
    if level == "priority_area":
        short = name if len(name) <= SHORT_HEADER else name[:SHORT_HEADER - 1].rstrip() + "…"
        return f"{t('priority_prefix_short', lang)}: {short}"
    return name


def group_column_help(areas: Sequence[tuple[str, str]], names: Mapping[tuple[str, str], str], lang: str) -> dict[str, str]:
    """Header -> full name of every priority-area column (shown as the header's help)."""
    return {group_column(a, names, lang): f"{t('priority_prefix', lang)}: {names.get(a, a[1])}"
            for a in areas if a[0] == "priority_area"}


def group_notes_table(profile: pd.DataFrame, metas: Mapping[str, IndicatorMeta], names: Mapping[tuple[str, str], str],
                      lang: str) -> pd.DataFrame:
    """The notes behind `group_comparison_table`: one row per (indicator, group) with a reason."""
    rows = []
    for r in profile.to_dict("records"):
        note = reason_text(r.get("reason"), lang, r.get("reason_code"), r.get("reason_params"))
        if not note or r["indicator_id"] not in metas:
            continue
        meta = metas[r["indicator_id"]]
        rows.append({t("col_indicator", lang): meta.name,
                     t("col_area", lang): names.get((r["level"], str(r["area_id"])), str(r["area_id"])),
                     t("col_value", lang): None if is_missing(r["value"]) else round(float(r["value"]), meta.decimals),
                     t("col_note", lang): note})
    return pd.DataFrame(rows, columns=[t("col_indicator", lang), t("col_area", lang), t("col_value", lang), t("col_note", lang)])


def ranking(values: pd.DataFrame, stats: pd.DataFrame, groups: pd.DataFrame, meta: IndicatorMeta, territory: Territory,
            lang: str, class_id: str = PERIPHERY) -> pd.DataFrame:
    """Areas of one periphery class ranked on an indicator, best first (direction-aware; a neutral
    indicator is ordered from the highest value, without judgement). Ties share a rank; areas without a
    value come last, unranked, with the reason. The parent column only when the territory has a parent level."""
    members = groups[(groups["group_level"] == "periphery_class") & (groups["group_id"] == class_id)]["district_id"]
    ids = {int(i) for i in members}
    vals = values.assign(id=pd.to_numeric(values["area_id"], errors="coerce")).dropna(subset=["id"])
    vals = vals.assign(id=vals["id"].astype("int64"), reason=reasons_of(vals, lang))
    base = stats[stats["id"].isin(ids)][["id", "name", "parent_id"]]
    frame = base.merge(vals[["id", "value", "period", "reason", "trust"]], on="id", how="left")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame["reason"] = [None if is_missing(r) else r for r in frame["reason"].astype("object")]  # NULL columns: float
    ascending = meta.direction == "lower_better"
    frame["rank"] = frame["value"].rank(method="min", ascending=ascending).astype("Int64")
    frame = frame.sort_values(["rank", "id"], na_position="last").reset_index(drop=True)
    no_row = frame["value"].isna() & frame["reason"].isna()
    frame.loc[no_row, "reason"] = t("reason_no_row", lang)
    out = pd.DataFrame({
        t("col_rank", lang): frame["rank"],
        t("col_area_id", lang): frame["id"],
        t("col_name", lang): frame["name"],
    })
    if territory.parent is not None:
        out[territory.parent.label(lang)] = parent_column(frame["parent_id"])
    out[t("col_value", lang)] = frame["value"].round(meta.decimals)
    out[t("col_unit", lang)] = meta.unit
    out[t("col_period", lang)] = frame["period"].astype("Int64")
    out[t("col_note", lang)] = [cell_text(r) for r in frame["reason"]]
    out[t("col_trust", lang)] = [trust_label(x, lang) if cell_text(x) else "" for x in frame["trust"]]
    return drop_empty_period(out, lang)


def class_options(detail: pd.DataFrame, territory: Territory) -> list[str]:
    """Periphery classes present in a snapshot (centro, semicentro, periferia first)."""
    return [a for lv, a in group_areas(detail, territory) if lv == "periphery_class"]


def ranking_caption(meta: IndicatorMeta, territory: Territory, lang: str) -> str:
    return t(f"ranking_{meta.direction}_of", lang, plural=inline_label(territory.fine.plural(lang)))


def class_table(detail: pd.DataFrame, stats: pd.DataFrame, territory: Territory, lang: str) -> pd.DataFrame:
    """One row per area of the finest level: its periphery class, distance from the centre, the rule that
    placed it, and its priority areas (the parent column only when the territory has a parent level)."""
    classes = detail[detail["group_level"] == "periphery_class"].drop_duplicates("district_id").set_index("district_id")
    prio = (detail[detail["group_level"] == "priority_area"].groupby("district_id")["group_name"]
            .agg(lambda s: ", ".join(map(str, s))))
    id_col = t("col_area_id", lang)
    parent_col = territory.parent.label(lang) if territory.parent is not None else None
    rows = []
    for i, name, parent in zip(stats["id"], stats["name"], stats["parent_id"], strict=True):
        c = classes.loc[i] if i in classes.index else None
        row: dict[str, object] = {id_col: int(i), t("col_name", lang): name}
        if parent_col is not None:
            row[parent_col] = None if is_missing(parent) else int(parent)
        row.update({
            t("col_class", lang): "" if c is None else class_name(str(c["group_id"]), lang),
            t("col_distance_km", lang): None if c is None or is_missing(c["distance_m"])
            else round(float(c["distance_m"]) / 1000, 2),
            t("col_basis", lang): "" if c is None else basis_text(c, lang),
            t("col_priority_areas", lang): prio.get(i, ""),
        })
        rows.append(row)
    out = pd.DataFrame(rows)
    if not out.empty and parent_col is not None:
        out[parent_col] = out[parent_col].astype("Int64")
    return out


def basis_text(row: Mapping[str, Any] | pd.Series, lang: str) -> str:
    """Why an area is in its class, in the page language: `basis_en` for English when the build stored it."""
    if lang == "en":
        english = row.get("basis_en") if hasattr(row, "get") else None
        if cell_text(english):
            return cell_text(english)
    return cell_text(row.get("basis") if hasattr(row, "get") else None)


def class_map(geojson: dict, detail: pd.DataFrame, stats: pd.DataFrame, lang: str, map_style: str) -> go.Figure:
    """Map of the classification: one flat colour per periphery class, the rule in the hover; areas
    without a class grey."""
    center, zoom = maps.center_zoom(maps.bounds_of(geojson))
    classes = detail[detail["group_level"] == "periphery_class"].drop_duplicates("district_id").set_index("district_id")
    names = dict(zip(stats["id"], stats["name"], strict=True))
    fig = go.Figure()
    order = list(PERIPHERY_CLASSES) + sorted({str(g) for g in classes["group_id"]} - set(PERIPHERY_CLASSES))
    for cls in [*order, None]:
        if cls is None:
            ids = [i for i in names if i not in classes.index]
        else:
            ids = [int(i) for i in classes.index[classes["group_id"] == cls]]
        if not ids:
            continue
        color = CLASS_COLORS.get(cls or "", "#d9d9d9")
        label = class_name(cls, lang) if cls else t("no_class", lang)
        hover = []
        for i in ids:
            basis = hover_text(basis_text(classes.loc[i], lang)) if i in classes.index else ""
            hover.append(f"{hover_text(area_label(i, names.get(i, '')))}<br>{html.escape(label)}"
                         + (f"<br>{basis}" if basis else ""))
        fig.add_trace(go.Choroplethmap(
            geojson=geojson, locations=ids, z=[1] * len(ids), colorscale=[[0, color], [1, color]], showscale=False,
            marker_line_width=0.6, marker_line_color="white", marker_opacity=0.85, name=label, showlegend=True,
            text=hover, hovertemplate="%{text}<extra></extra>"))
    fig.update_layout(map={"style": map_style, "center": center, "zoom": zoom}, margin={"l": 0, "r": 0, "t": 0, "b": 0},
                      height=520, legend={"orientation": "h", "y": -0.02})
    return trim_geojson(fig)


def _config_text(entry: Mapping[str, Any], field: str, lang: str) -> str:
    """A configuration text in the page language: `field_en` for English (the Italian `field` is never shown in the
    English UI: the class and its distance already say the rule), `field_it` or `field` for Italian."""
    if lang == "it":
        return str(entry.get(f"{field}_it") or entry.get(field) or "")
    return str(entry.get(f"{field}_{lang}") or "")


def periphery_rule(groups: pd.DataFrame, detail: pd.DataFrame, snapshot_version: str | None, territory: Territory,
                   lang: str) -> list[str]:
    """Markdown lines (to join with newlines; "" separates paragraphs) explaining the classification rule the
    snapshot's build applied, from what it stored: its rings (`data.periphery_groups`: names, limits and
    descriptions in both languages), the exceptions (areas whose distance from the centre falls outside their
    class's ring, with the stored reason, `data.district_group_detail`) and the number of priority areas.
    Never the configuration on disk, which may have changed since."""
    lines = [t("rule_version", lang, version=snapshot_version or t("no_data", lang))]
    rings = groups[groups["group_level"] == "periphery_class"].sort_values("sort_order") if not groups.empty else groups
    if rings.empty:
        lines.append(t("rule_not_stored", lang))
        return lines
    level = inline_label(territory.fine.label(lang))
    lines += ["", t("rule_intro_of", lang, centre=territory.centre_name(lang), level=level), ""]
    limits: dict[str, tuple[float, float]] = {}
    for ring in rings.to_dict("records"):
        low = float(ring["min_m"]) if pd.notna(ring.get("min_m")) else 0.0
        high = float(ring["max_m"]) if pd.notna(ring.get("max_m")) else math.inf
        limits[str(ring["group_id"])] = (low, high)
        name = class_name(str(ring["group_id"]), lang)
        if math.isinf(high):
            span = t("rule_beyond", lang, km=fmt_number(low / 1000, lang, 1))
        else:
            span = t("rule_between", lang, low=fmt_number(low / 1000, lang, 1), high=fmt_number(high / 1000, lang, 1))
        desc = cell_text(ring.get("description_en") if lang == "en" else ring.get("description_it"))
        lines.append(f"- **{name}**: {span}" + (f" — {plain(desc)}" if desc else ""))
    classes = detail[detail["group_level"] == "periphery_class"] if not detail.empty else detail
    exceptions = []
    for row in classes.to_dict("records"):
        low, high = limits.get(str(row["group_id"]), (0.0, math.inf))
        distance = row.get("distance_m")
        if distance is not None and pd.notna(distance) and not (low <= float(distance) < high):
            basis = cell_text(row.get("basis_en") if lang == "en" and cell_text(row.get("basis_en")) else row.get("basis"))
            exceptions.append(f"- {territory.fine.label(lang)} {int(row['district_id'])} → "
                              f"{class_name(str(row['group_id']), lang)}" + (f": {plain(basis)}" if basis else ""))
    if exceptions:
        lines += ["", t("rule_overrides", lang, n=len(exceptions)), "", *exceptions]
    n_priority = int((groups["group_level"] == "priority_area").sum())
    if n_priority:
        lines += ["", t("rule_priority_of", lang, n=n_priority, plural=inline_label(territory.fine.plural(lang)))]
    return lines


def comparison_parts(comparison: pd.DataFrame, areas: Sequence[tuple[str, str]], names: Mapping[tuple[str, str], str],
                     lang: str) -> list[tuple[pd.DataFrame, dict[str, ColumnView]]]:
    """`group_comparison_table` shown as two grids that fit the page at 1280 px: the classes beside the whole
    territory, then the priority areas (short headers, the full name as help; the indicator column pinned).
    The download keeps the one table."""
    indicator, unit, direction = t("col_indicator", lang), t("col_unit", lang), t("col_direction", lang)
    head = {indicator: ColumnView(indicator, indicator, 240, pinned=True), unit: ColumnView(unit, unit, 64)}
    classes = [group_column(a, names, lang) for a in areas if a[0] != "priority_area"]
    priority = [a for a in areas if a[0] == "priority_area"]
    parts = []
    whole = group_column(areas[-1], names, lang) if areas and areas[-1][0] == TERRITORY_LEVEL else None
    first = {**head, direction: ColumnView(direction, direction, 110),
             **{c: ColumnView(t("short_territory", lang) if c == whole else c, c, 80) for c in classes}}
    parts.append((comparison[[c for c in [indicator, unit, direction, *classes] if c in comparison.columns]], first))
    if priority:
        columns = [group_column(a, names, lang) for a in priority]
        full = [names.get(a, a[1]) for a in priority]
        second = {**head, **{c: ColumnView(_short_name(n), f"{t('priority_prefix', lang)}: {n}", 76)
                             for c, n in zip(columns, full, strict=True)}}
        parts.append((comparison[[indicator, unit, *columns]], second))
    return parts


def _short_name(name: str, limit: int = 12) -> str:
    """The start of a priority area's name for a narrow header ('Giambellino…')."""
    first = name.split(" - ")[0].split(" (")[0].strip()
    return first if len(first) <= limit else first[:limit - 1].rstrip() + "…"
