"""View code of the Makerspace page: places table and map, counts per area group, related indicators.

Pure functions on the frames of `osservatorio.queries`; levels and their labels come from the
territory the build stored (`osservatorio.territory.Territory`), never from a literal level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from osservatorio import maps
from osservatorio.i18n import t
from osservatorio.territory import TERRITORY_LEVEL, Territory
from osservatorio.views import (
    ALL,
    area_columns,
    area_labels,
    catalogue_name,
    class_names,
    class_options,
    inline_label,
    int_or_none,
    is_count_unit,
    no_area_text,
    parent_name,
    parent_options,
    place_area_column,
    place_class_column,
    place_hover,
    place_ids,
    places_base_map,
    plain,
    plain_column,
    round_column,
    trust_label,
)

MAKER_THEMES = ("makerspace", "coworking")
MAKER_INDICATORS: dict[str, tuple[str, ...]] = {
    "makerspace": ("makerspaces_per_100k", "makerspaces_count", "makerspace_distance_m", "residents_makerspace_1km_share"),
    "coworking": ("coworking_seats_per_1k", "coworking_count", "coworking_seats"),
}


def level_words(territory: Territory, lang: str) -> dict[str, str]:
    """Placeholders of the page texts: the fine level (label, plural, in a sentence), the territory's name."""
    fine = territory.fine
    return {"fine": inline_label(fine.label(lang)), "fine_plural": inline_label(fine.plural(lang)),
            "territory": territory.name(lang)}


def maker_places(makers: pd.DataFrame, coworking: pd.DataFrame, theme: str) -> pd.DataFrame:
    """Makerspaces/fablabs and coworking spaces in one frame with a `theme` column, per the theme filter."""
    parts = []
    if theme in (ALL, "makerspace"):
        parts.append(makers.assign(theme="makerspace"))
    if theme in (ALL, "coworking"):
        parts.append(coworking.assign(theme="coworking"))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return makers.assign(theme=pd.Series(dtype=str)).iloc[0:0]
    return pd.concat(parts, ignore_index=True)


def kind_label(theme: str, category: object, lang: str) -> str:
    """'Fablab', 'Makerspace', 'Coworking' (the place's own type when the source gives one)."""
    if isinstance(category, str) and category in ("fablab", "makerspace", "coworking"):
        return t(f"th_kind_{category}", lang)
    if isinstance(category, str) and category:
        return category
    return t(f"th_kind_{theme}", lang)


def maker_table(frame: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, territory: Territory,
                lang: str) -> pd.DataFrame:
    """The places table as shown and exported (one row per place, translated headers; the parent-level
    column only when the territory has a parent level, the class column only when there are classes)."""
    names = area_labels(stats)
    no_area = no_area_text(territory, lang)
    return pd.DataFrame({
        t("col_name", lang): plain_column(frame["name"]),
        t("th_col_kind", lang): [kind_label(th, c, lang) for th, c in zip(frame["theme"], frame["category"], strict=True)],
        t("th_col_address", lang): plain_column(frame["address"]),
        **area_columns(territory, lang, place_area_column(frame, names, no_area), frame["parent_id"], classes,
                       place_class_column(frame, classes)),
        t("th_col_m2", lang): round_column(frame["area_m2"], 0).to_numpy(),
        t("th_col_seats", lang): frame["seats"].astype("Int64").to_numpy(),
        t("col_source", lang): frame["source_id"].to_numpy(),
        t("col_trust", lang): [trust_label(x, lang) for x in frame["trust"]],
        t("th_col_place_id", lang): place_ids(frame).to_numpy(),
    })


def theme_name(theme: str, lang: str) -> str:
    return t(f"th_theme_{theme}", lang)


def counts_groupings(territory: Territory, classes: pd.DataFrame, lang: str) -> list[str]:
    """The groupings of the counts chart, in words: the parent level (if any), the periphery class (if any);
    the fine level itself when the territory has neither."""
    out = [territory.parent.label(lang)] if territory.parent is not None else []
    if not classes.empty:
        out.append(t("th_col_class", lang))
    return out or [territory.fine.label(lang)]


def groupings_text(territory: Territory, classes: pd.DataFrame, lang: str) -> str:
    """The groupings in a sentence: 'Municipio e classe di periferia', 'comune'."""
    words = [inline_label(g) for g in counts_groupings(territory, classes, lang)]
    return t("th_and", lang).join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else words[0]


def place_counts(frame: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, territory: Territory, lang: str,
                 themes: Sequence[str] = MAKER_THEMES, selected: set[int] | None = None) -> pd.DataFrame:
    """Places per parent area and per periphery class and theme (zeros included), long format.

    Columns: grouping (the parent level's label / 'Classe di periferia'), group, theme, count. Only the
    parent areas and classes of the `selected` fine areas are listed (all without a selection). Places
    without a parent area count as 'n.d.'. A territory with neither a parent level nor classes is counted
    per fine area (the areas with at least one place).
    """
    in_sel = stats if selected is None else stats[stats["id"].isin(list(selected))]
    parent = territory.parent
    klass = dict(zip(classes["district_id"], classes["class_id"], strict=True))
    names = class_names(classes)
    present = {klass.get(int(i)) for i in in_sel["id"]}
    order = [c for c in class_options(classes) if c != ALL and c in present]
    rows: list[tuple[str, str, str, int]] = []
    for theme in themes:
        part = frame[frame["theme"] == theme] if "theme" in frame else frame.iloc[0:0]
        if parent is not None:
            by_m = part["parent_id"].dropna().astype(int).value_counts()
            for m in parent_options(in_sel)[1:]:
                rows.append((parent.label(lang), parent_name(territory, int(m), lang), theme_name(theme, lang),
                             int(by_m.get(int(m), 0))))
            if n := int(part["parent_id"].isna().sum()):
                rows.append((parent.label(lang), t("no_data", lang), theme_name(theme, lang), n))
        if order:
            cls = pd.Series([klass.get(int(i)) if pd.notna(i) else None for i in part["district_id"]], dtype=object)
            by_c = cls.dropna().value_counts()
            for c in order:
                rows.append((t("th_col_class", lang), names.get(c, c), theme_name(theme, lang), int(by_c.get(c, 0))))
            if n := int(cls.isna().sum()):
                rows.append((t("th_col_class", lang), t("no_data", lang), theme_name(theme, lang), n))
        if parent is None and not order:
            labels = area_labels(in_sel)
            by_area = part["district_id"].dropna().astype(int).value_counts()
            for i, n in sorted(by_area.items(), key=lambda kv: (-kv[1], kv[0])):
                if int(i) in labels:
                    rows.append((territory.fine.label(lang), labels[int(i)], theme_name(theme, lang), int(n)))
            if n := int(part["district_id"].isna().sum()):
                rows.append((territory.fine.label(lang), t("no_data", lang), theme_name(theme, lang), n))
    return pd.DataFrame(rows, columns=[t("th_col_grouping", lang), t("th_col_group", lang), t("th_col_theme", lang),
                                       t("th_col_count", lang)])


def counts_chart(counts: pd.DataFrame, lang: str, colors: Mapping[str, str] | None = None) -> go.Figure:
    """Grouped bars: one panel per grouping (parent level, periphery class), one colour per theme."""
    g_col, grp_col, th_col, n_col = counts.columns
    groupings = list(dict.fromkeys(counts[g_col]))
    fig = make_subplots(rows=1, cols=max(len(groupings), 1), subplot_titles=groupings or [""],
                        column_widths=[0.68, 0.32][: len(groupings)] if len(groupings) == 2 else None)
    theme_color = colors or {theme_name(k, lang): v for k, v in maps.THEME_COLORS.items()}
    for col, grouping in enumerate(groupings, start=1):
        part = counts[counts[g_col] == grouping]
        for theme in dict.fromkeys(part[th_col]):
            sub = part[part[th_col] == theme]
            fig.add_trace(go.Bar(x=sub[grp_col].tolist(), y=sub[n_col].tolist(), name=theme, legendgroup=theme,
                                 showlegend=col == 1, marker_color=theme_color.get(theme)), row=1, col=col)
    fig.update_layout(barmode="group", height=360, margin={"l": 0, "r": 0, "t": 40, "b": 0},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def maker_map(geojson: Mapping[str, Any], frame: pd.DataFrame, stats: pd.DataFrame, selected: set[int] | None,
              territory: Territory, lang: str, map_style: str) -> go.Figure:
    """Makerspaces and coworking spaces as points over the outlines of the territory's fine areas."""
    fig, names, no_area = places_base_map(geojson, stats, selected, t("th_map_makers", lang), territory, lang, map_style)
    for theme in MAKER_THEMES:
        part = frame[frame["theme"] == theme]
        if part.empty:
            continue
        maps.add_points(fig, part, theme_name(theme, lang), theme, hover=place_hover(part, names, no_area))
    return fig


def ranking_indicators(theme: str) -> list[str]:
    """The indicators of the ranked table for the theme filter; the first one ranks."""
    if theme in MAKER_INDICATORS:
        return list(MAKER_INDICATORS[theme])
    return [*MAKER_INDICATORS["makerspace"], *MAKER_INDICATORS["coworking"]]


def ranking_areas(stats: pd.DataFrame, selected: set[int] | None, territory: Territory,
                  lang: str) -> tuple[str, dict[str, str]]:
    """(level id, area_id -> name) of the ranked indicator table: the parent areas without a filter (every
    fine area when the territory has no parent level), else the selected fine areas."""
    if selected is None and territory.parent is not None:
        return territory.parent.id, {m: parent_name(territory, int(m), lang) for m in parent_options(stats)[1:]}
    names = area_labels(stats)
    ids = sorted(names) if selected is None else sorted(selected)
    return territory.fine.id, {str(i): names[i] for i in ids if i in names}


def ranking_caption(level: str, territory: Territory, lang: str) -> str:
    """The caption of the ranked table: which areas it ranks, and the territory row at the bottom."""
    lv = territory.level(level) or territory.fine
    key = "th_ranking_caption_parent" if lv.rank > 0 else "th_ranking_caption_fine"
    return t(key, lang, plural=lv.plural(lang), fine_plural=inline_label(territory.fine.plural(lang)),
             territory=territory.name(lang))


def direction(catalogue: pd.DataFrame, indicator_id: str) -> str:
    row = catalogue[catalogue["indicator_id"] == indicator_id]
    return "neutral" if row.empty else str(row["direction"].iloc[0])


def indicator_ranking(values: Mapping[str, pd.DataFrame], catalogue: pd.DataFrame, areas: Mapping[str, str],
                      lang: str, whole: Mapping[str, float | None] | None = None, whole_name: str = "") -> pd.DataFrame:
    """Areas ranked by the first indicator (best first, per its direction), one column per indicator.

    `values`: indicator id -> indicator_values frame (area_id, value, ...) at one level;
    `areas`: area_id -> display name, the rows to show; `whole`: indicator id -> the territory's value,
    appended as an unranked reference row named `whole_name`. Indicators missing from the catalogue are skipped.
    """
    ids = [i for i in values if not catalogue[catalogue["indicator_id"] == i].empty]
    table = pd.DataFrame({"area_id": list(areas)})
    for ind in ids:
        v = values[ind]
        lookup = dict(zip(v["area_id"].astype(str), v["value"], strict=True))
        table[ind] = [lookup.get(a, np.nan) for a in table["area_id"]]
    rank_col = t("th_col_rank", lang)
    if ids:
        primary = ids[0]
        ascending = direction(catalogue, primary) == "lower_better"
        table = table.sort_values(primary, ascending=ascending, na_position="last", kind="stable")
        ranks = table[primary].rank(method="min", ascending=ascending)  # ties share a rank (1, 2, 2, 4)
        table.insert(0, rank_col, ranks.astype("Int64"))
    else:
        table.insert(0, rank_col, pd.array([None] * len(table), dtype="Int64"))
    if whole:
        ref = {"area_id": TERRITORY_LEVEL, rank_col: pd.NA, **{i: whole.get(i, np.nan) for i in ids}}
        table = pd.concat([table, pd.DataFrame([ref])], ignore_index=True)
    out = pd.DataFrame({rank_col: table[rank_col].astype("Int64").to_numpy(),
                        t("th_col_area", lang): [areas.get(a, whole_name) for a in table["area_id"]]})
    for ind in ids:
        decimals = 0 if is_count_unit(catalogue, ind) else 2
        out[catalogue_name(catalogue, ind, lang, with_unit=True)] = round_column(table[ind], decimals).to_numpy()
    return out


def area_counts_table(counts: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, territory: Territory,
                      lang: str) -> pd.DataFrame:
    """Per-area counts published without the points behind them (data.area_counts), with their provenance:
    one row per fine area of the territory (an area the source does not list shows '–', not 0)."""
    names = area_labels(stats)
    by_area = {int(d): r for d, r in zip(counts["district_id"], counts.to_dict("records"), strict=True)}
    klass = dict(zip(classes["district_id"], classes["class_name"], strict=True))
    ids = [int(i) for i in stats["id"]]
    return pd.DataFrame({
        t("th_col_area_id", lang, fine=territory.fine.label(lang)): [str(i) for i in ids],  # codes, not quantities
        **area_columns(territory, lang, [names[i] for i in ids], stats.get("parent_id"), classes,
                       [klass.get(i) for i in ids]),
        t("th_col_count", lang): pd.array([int_or_none(by_area[i]["count"]) if i in by_area else None for i in ids],
                                          dtype="Int64"),
        t("col_year", lang): pd.array([int_or_none(by_area[i]["year"]) if i in by_area else None for i in ids],
                                      dtype="Int64"),
        t("col_source", lang): [plain(by_area[i]["source_id"]) if i in by_area else "" for i in ids],
        t("col_trust", lang): [trust_label(by_area[i]["trust"], lang) if i in by_area else "" for i in ids],
    })


def area_count_rows(counts: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, territory: Territory, lang: str,
                    theme: str, selected: set[int] | None = None) -> pd.DataFrame:
    """Per-area counts without points (data.area_counts) summed per parent area and periphery class, in the long
    format of `place_counts` (so the chart shows the counts, not a zero for a theme with no point list)."""
    in_sel = stats if selected is None else stats[stats["id"].isin(list(selected))]
    by_area = dict(zip(pd.to_numeric(counts["district_id"]).astype(int), pd.to_numeric(counts["count"]), strict=True))
    ids = set(in_sel["id"].astype(int))
    klass = dict(zip(classes["district_id"], classes["class_id"], strict=True))
    names = class_names(classes)
    rows: list[tuple[str, str, str, int]] = []
    parent = territory.parent
    if parent is not None:
        of_parent = dict(zip(in_sel["id"].astype(int), in_sel["parent_id"], strict=True))
        for m in parent_options(in_sel)[1:]:
            n = sum(int(c) for i, c in by_area.items() if i in ids and pd.notna(of_parent[i]) and int(of_parent[i]) == int(m))
            rows.append((parent.label(lang), parent_name(territory, int(m), lang), theme_name(theme, lang), n))
    present = {klass.get(i) for i in ids}
    for c in [c for c in class_options(classes) if c != ALL and c in present]:
        n = sum(int(v) for i, v in by_area.items() if i in ids and klass.get(i) == c)
        rows.append((t("th_col_class", lang), names.get(c, c), theme_name(theme, lang), n))
    if parent is None and classes.empty:
        labels = area_labels(in_sel)
        for i, v in sorted(by_area.items(), key=lambda kv: (-kv[1], kv[0])):
            if i in ids and int(v) > 0:
                rows.append((territory.fine.label(lang), labels[i], theme_name(theme, lang), int(v)))
    return pd.DataFrame(rows, columns=[t("th_col_grouping", lang), t("th_col_group", lang), t("th_col_theme", lang),
                                       t("th_col_count", lang)])
