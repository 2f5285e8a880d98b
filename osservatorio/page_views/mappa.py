"""View code of the Mappa page: which indicators and levels can be drawn, the area clicked, the firm
cells layer, the programme's actions and the hubs. Pure: no Streamlit."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from osservatorio import maps
from osservatorio.i18n import fmt_number, t
from osservatorio.indicator_views import ColumnView
from osservatorio.territory import Territory
from osservatorio.views import (
    IndicatorMeta,
    area_label,
    cell_text,
    hover_text,
    plain,
    separators,
    trust_label,
    trust_list,
)

#: Extra layers of the map beside the place themes: the programme's actions and the hubs.
ACTIONS_LAYER = "actions"
HUB_THEME = "hub"


def map_levels(meta: IndicatorMeta, territory: Territory) -> list[str]:
    """The territory's levels (finest first) at which the indicator is defined."""
    return [level for level in territory.level_ids if level in meta.levels]


def map_indicators(metas: Mapping[str, IndicatorMeta], territory: Territory) -> list[str]:
    """Indicators that can be drawn on the map (defined at one of the territory's levels)."""
    return [i for i, m in metas.items() if map_levels(m, territory)]


def selected_area(points: Iterable[Mapping[str, Any]], valid_ids: Iterable[object]) -> str | None:
    """The area id clicked on a choropleth (the 'location' of the first selected point that is a
    known area), or None (e.g. a click on a point marker)."""
    valid = {str(v) for v in valid_ids}
    for point in points:
        location = point.get("location")
        if location is None:
            continue
        text = str(location)
        if text.endswith(".0"):
            text = text[:-2]
        if text in valid:
            return text
    return None


# --------------------------------------------------------------------------------------------------
# Firms aggregated in cells


def firm_cell_sizes(counts: Sequence[float], smallest: float = 4.0, largest: float = 18.0) -> list[float]:
    """Marker diameters for aggregated firm cells: area proportional to the count (sqrt scale)."""
    if not len(counts):
        return []
    top = max(float(c) for c in counts)
    if top <= 0:
        return [smallest for _ in counts]
    return [round(smallest + (largest - smallest) * math.sqrt(max(float(c), 0.0) / top), 2) for c in counts]


def add_firm_cells(fig: go.Figure, cells: pd.DataFrame, lang: str) -> go.Figure:
    """Firms aggregated in cells: one circle per cell, its area proportional to the number of firms."""
    if cells.empty:
        return fig
    # Numbers in customdata and one shared hover template: hundreds of cells stay a small payload.
    counts = cells[["firms", "digital", "artisan"]].astype("int64").to_numpy()
    fig.add_trace(go.Scattermap(
        lon=cells["lon"].round(5), lat=cells["lat"].round(5), mode="markers", name=t("theme_firm", lang),
        marker={"size": firm_cell_sizes(list(cells["firms"])), "color": maps.THEME_COLORS["firm"], "opacity": 0.4},
        customdata=counts, hovertemplate=t("firm_cell_hover", lang) + "<extra></extra>",
    ))
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.02}, separators=separators(lang))
    return fig


def firm_cells_caption(cells: pd.DataFrame, cell_m: float, lang: str) -> str:
    """Says that firms are aggregated, how, and how many there are."""
    total = int(cells["firms"].sum()) if len(cells) else 0
    return t("firm_cells_caption", lang, firms=fmt_number(total, lang), cells=fmt_number(len(cells), lang),
             size=fmt_number(cell_m, lang))


def firm_cells_table(cells: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The firm-cell layer as a table (and download): cell id, position, counts, trust."""
    return pd.DataFrame({
        t("col_cell", lang): range(1, len(cells) + 1),
        "lon": cells["lon"].round(6), "lat": cells["lat"].round(6),
        t("col_firms", lang): cells["firms"].astype("int64"),
        t("col_firms_digital", lang): cells["digital"].astype("int64"),
        t("col_firms_artisan", lang): cells["artisan"].astype("int64"),
        t("col_trust", lang): [trust_list(v, lang) for v in cells["trust"]],
    })


# --------------------------------------------------------------------------------------------------
# The programme's actions and the hubs


def points_fingerprint(points: pd.DataFrame, hover: Sequence[str]) -> tuple[int, int]:
    """A short fingerprint of a point layer that can change while the app runs (the programme's actions): its
    rows and hover texts hashed, so a cached map is rebuilt when an action is added, moved or renamed."""
    rows = int(pd.util.hash_pandas_object(points.astype(str), index=False).sum()) if len(points) else 0
    return rows, hash(tuple(hover))


def add_action_layer(fig: go.Figure, points: pd.DataFrame, hover: list[str], lang: str) -> go.Figure:
    """The register's actions with a located place (`programme_views.action_points`) as one layer."""
    if points.empty:
        return fig
    return maps.add_points(fig, points, t("pg_layer_actions", lang), ACTIONS_LAYER, hover=hover, size=11)


def hubs_table(hubs: pd.DataFrame, territory: Territory, names: Mapping[tuple[str, str], str], lang: str) -> pd.DataFrame:
    """The hubs of the territory (places theme 'hub') with where they are: the area of the finest level,
    else its parent area, else the whole territory (`names`: views.level_names); position when the source gives one."""
    rows = []
    for r in hubs.to_dict("records"):
        district, parent = r.get("district_id"), r.get("parent_id")
        if cell_text(district):
            where = names.get((territory.fine.id, str(int(district))), area_label(int(district), ""))
        elif cell_text(parent) and territory.parent is not None:
            where = names.get((territory.parent.id, str(int(parent))), f"{territory.parent.label(lang)} {int(parent)}")
        else:
            where = territory.name(lang)
        located = cell_text(r.get("lon")) != "" and cell_text(r.get("lat")) != ""
        rows.append({
            t("col_place_id", lang): f"{r['source_id']}:{r['source_key']}",
            t("col_name", lang): plain(r.get("name")),
            t("col_where", lang): where,
            t("col_address", lang): plain(r.get("address")),
            t("col_located", lang): t("th_yes", lang) if located else t("no_position", lang),
            "lon": r.get("lon"), "lat": r.get("lat"),
            t("col_trust", lang): trust_label(r.get("trust"), lang),
        })
    columns = [t("col_place_id", lang), t("col_name", lang), t("col_where", lang), t("col_address", lang),
               t("col_located", lang), "lon", "lat", t("col_trust", lang)]
    return pd.DataFrame(rows, columns=columns)


def add_hub_layer(fig: go.Figure, hubs: pd.DataFrame, lang: str) -> go.Figure:
    """The hubs with a position as one layer (those without are only in `hubs_table`)."""
    located = hubs[hubs["lon"].notna() & hubs["lat"].notna()]
    if located.empty:
        return fig
    return maps.add_points(fig, located, t("theme_hub", lang), HUB_THEME, hover=hub_hover(located, lang), size=12)


def hub_hover(hubs: pd.DataFrame, lang: str) -> list[str]:
    """Hover of each hub marker: name, address, trust."""
    out = []
    for r in hubs.to_dict("records"):
        parts = [f"<b>{hover_text(r.get('name')) or t('no_name', lang)}</b>"]
        if cell_text(r.get("address")):
            parts.append(hover_text(r.get("address")))
        parts.append(f"{t('col_trust', lang)}: {trust_label(r.get('trust'), lang)}")
        out.append("<br>".join(parts))
    return out


def hubs_columns(lang: str) -> dict[str, ColumnView]:
    """Widths of the shown hubs table (name, where, address, position, trust) that fit the page at 1280 px."""
    return {t(key, lang): ColumnView(t(key, lang), t(key, lang), width) for key, width in
            (("col_name", 300), ("col_where", 170), ("col_address", 130), ("col_located", 110), ("col_trust", 90))}
