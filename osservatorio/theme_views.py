"""View models of the theme pages: Makerspace, Spazi vuoti, Imprese, Obiettivi. No Streamlit.

Every function here is pure: it takes the frames returned by `osservatorio.queries` (or tiny
hand-made frames in the tests) and returns frames with translated headers, figures or plain
values. Nothing computes an indicator: values come from the warehouse (etl/indicators.py).
Two things are computed here because the warehouse does not store them, and both reuse the
ETL's own code rather than copying it:

- the opportunity score with user-chosen weights: `etl.indicators.opportunity_score_detail`
  (the function behind `opportunity_score`) on the stored NIL values of the components;
- the per-place list of vacant spaces within 1 km of a makerspace or a digital-manufacturing
  firm in peripheral NIL (the ETL stores only the count per NIL): same distance (metres in
  EPSG:7791 via `etl.periphery.to_metres`), same radius (`etl.indicators.NEAR_M`), same targets.

The ETL modules are imported lazily, so a page that does not need them does not pay the import.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from osservatorio import maps
from osservatorio.i18n import fmt_date, fmt_number, t
from osservatorio.views import (
    assumed_ownership_value,
    former_use,
    ownership_assumed,
    place_attributes,
    plain,
    plain_column,
    record_links,
    trust_label,
)

ALL = "*"  # the "no filter" option of every selector
PERIPHERY_ORDER = ("centro", "semicentro", "periferia")
PERIPHERAL = "periferia"
MAKER_THEMES = ("makerspace", "coworking")
STATUS_ORDER = ("on_track", "at_risk", "off_track", "no_data")
STATUS_BADGE = {  # emoji for table cells, colour for st.badge
    "on_track": ("🟢", "green"),
    "at_risk": ("🟠", "orange"),
    "off_track": ("🔴", "red"),
    "no_data": ("⚪", "gray"),
}
STATUS_COLORS = {"on_track": "#2ca02c", "at_risk": "#ff7f0e", "off_track": "#d62728", "no_data": "#9e9e9e"}
VACANT_STATUS_COLORS = {"degraded": "#7f3c8d", "regeneration": "#11a579", "vacant": "#e68310", "assigned": "#3969ac"}
VACANT_OTHER_COLOR = "#a5aa99"
VACANT_STATUSES = ("degraded", "regeneration", "vacant", "assigned")  # as written by the vacant loaders
BREAKDOWN_TOP = 12  # bars per breakdown panel (the rest in one 'other' bar; the table keeps every value)
MAX_FIRM_POINTS = 1500  # point layers above this size are sampled (and the page says so)
WEIGHT_MAX = 100  # sliders run 0..100; weights are relative, so only their ratios matter
MAKER_INDICATORS: dict[str, tuple[str, ...]] = {
    "makerspace": ("makerspaces_per_100k", "makerspaces_count", "makerspace_distance_m", "residents_makerspace_1km_share"),
    "coworking": ("coworking_seats_per_1k", "coworking_count", "coworking_seats"),
}
FIRM_MAP_INDICATORS = ("firms_dm_per_1k", "firms_dm_share", "firms_dm_units", "firms_am_units", "firms_dm_avg_employees")
CURRENT_PERIOD = "corrente"  # URL value of the undated (current) period
MAP_FIT_HEIGHT = 470  # px used to fit the zoom: the 560 px map minus title and legend, so the selection is not cut
NEAR_COLOR = "#08306b"  # near-maker points on the opportunity map: dark blue, readable on the yellow-red scale
YEAR_AXIS = {"tickformat": "d", "dtick": 1}  # data years as whole numbers (no 2,007.5)


# ---------------------------------------------------------------------------------------------
# Common: snapshot, districts, periphery classes, filters


def latest_snapshot(snapshots: pd.DataFrame) -> str | None:
    """The newest snapshot id (the query lists them newest first), or None when there is none."""
    if snapshots.empty:
        return None
    return str(snapshots["snapshot_id"].iloc[0])


def nil_label(district_id: object, name: object) -> str:
    """'12 · Bovisa' (the label used in every table and hover; bidi controls removed from the name)."""
    return f"{district_id} · {plain(name)}"


def nil_names(stats: pd.DataFrame) -> dict[int, str]:
    """NIL id -> label, from district_stats(level='nil')."""
    return {int(i): nil_label(i, n) for i, n in zip(stats["id"], stats["name"], strict=True)}


def periphery_classes(groups: pd.DataFrame | None, lang: str | None = None) -> pd.DataFrame:
    """One row per NIL with its periphery class: columns district_id, class_id, class_name (empty
    when there is no snapshot, i.e. `groups` is None)."""
    if groups is None or groups.empty:
        return pd.DataFrame({"district_id": pd.Series(dtype=int), "class_id": pd.Series(dtype=str),
                             "class_name": pd.Series(dtype=str)})
    part = groups[groups["group_level"] == "periphery_class"]
    ids = part["group_id"].astype(str).to_numpy()
    names = part["group_name"].astype(str).to_numpy()
    if lang is not None:  # the known classes in the page language (the warehouse stores the Italian names)
        names = [t(f"class_{i}", lang) if i in PERIPHERY_ORDER else n for i, n in zip(ids, names, strict=True)]
    return pd.DataFrame({
        "district_id": part["district_id"].astype(int).to_numpy(),
        "class_id": ids,
        "class_name": names,
    })


def class_options(classes: pd.DataFrame) -> list[str]:
    """Selector options: ALL, then the classes present, centre outwards (unknown ids last)."""
    present = set(classes["class_id"])
    known = [c for c in PERIPHERY_ORDER if c in present]
    return [ALL, *known, *sorted(present - set(known))]


def class_names(classes: pd.DataFrame) -> dict[str, str]:
    """class id -> display name (from the warehouse, e.g. 'Periferia')."""
    return dict(zip(classes["class_id"], classes["class_name"], strict=True))


def option_label(value: str, lang: str, all_key: str, names: Mapping[str, str] | None = None) -> str:
    """Display text of a selector option: the translated 'all' text for ALL, else its name (or itself)."""
    if value == ALL:
        return t(all_key, lang)
    return names.get(value, value) if names else value


def city_value(values: pd.DataFrame) -> float | None:
    """The single value of an indicator at city level (None when absent or NULL)."""
    if values.empty or pd.isna(values["value"].iloc[0]):
        return None
    return float(values["value"].iloc[0])


def municipio_options(stats: pd.DataFrame) -> list[str]:
    """Selector options: ALL, then the Municipi of the NIL, as text ('1'..'9')."""
    return [ALL, *[str(m) for m in sorted({int(m) for m in stats["municipio"].dropna()})]]


def selected_nil(stats: pd.DataFrame, classes: pd.DataFrame, municipio: str, klass: str) -> set[int] | None:
    """The NIL ids in the selection, or None when no district filter is active."""
    if municipio == ALL and klass == ALL:
        return None
    ids = {int(i) for i in stats["id"]}
    if municipio != ALL:
        ids &= {int(i) for i, m in zip(stats["id"], stats["municipio"], strict=True) if pd.notna(m) and int(m) == int(municipio)}
    if klass != ALL:
        ids &= {int(i) for i in classes.loc[classes["class_id"] == klass, "district_id"]}
    return ids


def peripheral_nil(classes: pd.DataFrame) -> set[int]:
    """The NIL of the periphery class 'periferia' (the class the ETL's opportunity indicators use)."""
    return {int(i) for i in classes.loc[classes["class_id"] == PERIPHERAL, "district_id"]}


def ranking_areas(stats: pd.DataFrame, selected: set[int] | None, lang: str) -> tuple[str, dict[str, str]]:
    """(level, area_id -> name) of the ranked indicator table: the Municipi without a district
    filter, else the selected NIL."""
    if selected is None:
        return "municipio", {m: f"{t('col_municipio', lang)} {m}" for m in municipio_options(stats)[1:]}
    names = nil_names(stats)
    return "nil", {str(i): names[i] for i in sorted(selected)}


def filter_places(frame: pd.DataFrame, classes: pd.DataFrame, municipio: str, klass: str) -> pd.DataFrame:
    """Places in the selection: Municipio on the place's own Municipio (so places known only by
    Municipio stay in), periphery class on its NIL (places without a NIL drop out)."""
    keep = pd.Series(True, index=frame.index)
    if municipio != ALL:
        keep &= frame["municipio"].eq(int(municipio)).fillna(False).astype(bool)
    if klass != ALL:
        members = {int(i) for i in classes.loc[classes["class_id"] == klass, "district_id"]}
        keep &= frame["district_id"].isin(members).fillna(False).astype(bool)
    return frame[keep]


def place_ids(frame: pd.DataFrame) -> pd.Series:
    """A unique, stable id per place: '<source_id>:<source_key>'."""
    return frame["source_id"].astype(str) + ":" + frame["source_key"].astype(str)


def _nil_column(frame: pd.DataFrame, names: Mapping[int, str], lang: str) -> list[str]:
    return [names.get(int(i), str(i)) if pd.notna(i) else t("th_no_nil", lang) for i in frame["district_id"]]


def _class_column(frame: pd.DataFrame, classes: pd.DataFrame) -> list[str | None]:
    lookup = dict(zip(classes["district_id"], classes["class_name"], strict=True))
    return [lookup.get(int(i)) if pd.notna(i) else None for i in frame["district_id"]]


def _int_or_none(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)  # type: ignore[arg-type, call-overload]


def _round(series: pd.Series, decimals: int) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype(float).round(decimals)


def points_geojson(frame: pd.DataFrame, ids: Sequence[object]) -> dict[str, Any]:
    """A FeatureCollection of the frame's points (feature id = `ids`), coordinates rounded to
    1e-6 degrees; rows without coordinates are left out (the CSV still has them)."""
    features = []
    for fid, lon, lat in zip(ids, frame["lon"], frame["lat"], strict=True):
        if pd.isna(lon) or pd.isna(lat):
            continue
        features.append({"type": "Feature", "id": fid, "properties": {},
                         "geometry": {"type": "Point", "coordinates": [round(float(lon), 6), round(float(lat), 6)]}})
    return {"type": "FeatureCollection", "features": features}


def _selected_bounds(geojson: Mapping[str, Any], selected: set[int] | None) -> tuple[float, float, float, float]:
    if selected:
        part = {"features": [f for f in geojson.get("features", []) if int(f["id"]) in selected]}
        if part["features"]:
            return maps.bounds_of(part)
    return maps.bounds_of(dict(geojson))


def outline_map(geojson: Mapping[str, Any], stats: pd.DataFrame, selected: set[int] | None, title: str,
                lang: str, map_style: str) -> go.Figure:
    """NIL outlines (the selected ones tinted) as the base of a point map, zoomed on the selection."""
    in_sel = [selected is None or int(i) in selected for i in stats["id"]]
    fig = go.Figure(go.Choroplethmap(
        geojson=dict(geojson), locations=stats["id"].astype(int).tolist(), z=[1 if s else 0 for s in in_sel],
        zmin=0, zmax=1, colorscale=[[0, "#f7f7f7"], [1, "#dbe9f6"]], showscale=False,
        marker_line_width=0.6, marker_line_color="#8c8c8c", marker_opacity=0.7,
        text=[html.escape(nil_label(i, n)) for i, n in zip(stats["id"], stats["name"], strict=True)],
        hovertemplate="%{text}<extra></extra>", name=t("th_layer_nil", lang), showlegend=False,
    ))
    center, zoom = maps.center_zoom(_selected_bounds(geojson, selected), height_px=MAP_FIT_HEIGHT)
    fig.update_layout(map={"style": map_style, "center": center, "zoom": zoom},
                      margin={"l": 0, "r": 0, "t": 30, "b": 0}, height=560,
                      title={"text": title, "font": {"size": 14}})
    return fig


def _place_hover(frame: pd.DataFrame, names: Mapping[int, str], lang: str, extra: Sequence[str] | None = None) -> list[str]:
    nil = _nil_column(frame, names, lang)
    out = []
    for k, (name, address, n) in enumerate(zip(frame["name"], frame["address"], nil, strict=True)):
        parts = [html.escape(plain(name)) or "–", html.escape(plain(address)), html.escape(plain(n))]
        if extra is not None:
            parts.append(extra[k])
        out.append("<br>".join(p for p in parts if p))
    return out


def indicator_name(catalogue: pd.DataFrame, indicator_id: str, lang: str, with_unit: bool = False) -> str:
    """The indicator's name in the language (with its unit if asked); the id if unknown."""
    hits = np.flatnonzero(catalogue["indicator_id"].to_numpy() == indicator_id)  # cheaper than a row mask
    if hits.size == 0:
        return indicator_id
    i = int(hits[0])
    column = f"name_{lang}" if f"name_{lang}" in catalogue.columns else "name_it"
    name = str(catalogue[column].iat[i])
    if not with_unit:
        return name
    from osservatorio.indicator_views import unit_label

    return f"{name} ({unit_label(str(catalogue['unit'].iat[i]), lang)})"


def indicator_unit(catalogue: pd.DataFrame, indicator_id: str) -> str:
    """The indicator's unit as in the catalogue ('' if unknown)."""
    row = catalogue[catalogue["indicator_id"] == indicator_id]
    return "" if row.empty else str(row["unit"].iloc[0])


def _direction(catalogue: pd.DataFrame, indicator_id: str) -> str:
    row = catalogue[catalogue["indicator_id"] == indicator_id]
    return "neutral" if row.empty else str(row["direction"].iloc[0])


# ---------------------------------------------------------------------------------------------
# Makerspace page


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


def maker_table(frame: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The places table as shown and exported (one row per place, translated headers)."""
    names = nil_names(stats)
    return pd.DataFrame({
        t("col_name", lang): plain_column(frame["name"]),
        t("th_col_kind", lang): [kind_label(th, c, lang) for th, c in zip(frame["theme"], frame["category"], strict=True)],
        t("th_col_address", lang): plain_column(frame["address"]),
        t("th_col_nil", lang): _nil_column(frame, names, lang),
        t("col_municipio", lang): frame["municipio"].astype("Int64").to_numpy(),
        t("th_col_class", lang): _class_column(frame, classes),
        t("th_col_m2", lang): _round(frame["area_m2"], 0).to_numpy(),
        t("th_col_seats", lang): frame["seats"].astype("Int64").to_numpy(),
        t("col_source", lang): frame["source_id"].to_numpy(),
        t("col_trust", lang): [trust_label(x, lang) for x in frame["trust"]],
        t("th_col_place_id", lang): place_ids(frame).to_numpy(),
    })


def _theme_name(theme: str, lang: str) -> str:
    return t(f"th_theme_{theme}", lang)


def place_counts(frame: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, lang: str,
                 themes: Sequence[str] = MAKER_THEMES, selected: set[int] | None = None) -> pd.DataFrame:
    """Places per Municipio and per periphery class and theme (zeros included), long format.

    Columns: grouping ('Municipio' / 'Classe di periferia'), group, theme, count. Only the
    Municipi and classes of the `selected` NIL are listed (all without a selection), so a filter
    does not show empty bars for the areas it excludes. Places without a NIL count in their
    Municipio but in no class ('n.d.').
    """
    in_sel = stats if selected is None else stats[stats["id"].isin(list(selected))]
    municipi = sorted({int(m) for m in in_sel["municipio"].dropna()})
    klass = dict(zip(classes["district_id"], classes["class_id"], strict=True))
    names = class_names(classes)
    present = {klass.get(int(i)) for i in in_sel["id"]}
    order = [c for c in class_options(classes) if c != ALL and c in present]
    rows: list[tuple[str, str, str, int]] = []
    for theme in themes:
        part = frame[frame["theme"] == theme] if "theme" in frame else frame.iloc[0:0]
        by_m = part["municipio"].dropna().astype(int).value_counts()
        for m in municipi:
            rows.append((t("col_municipio", lang), f"{t('col_municipio', lang)} {m}", _theme_name(theme, lang),
                         int(by_m.get(m, 0))))
        if n := int(part["municipio"].isna().sum()):
            rows.append((t("col_municipio", lang), t("no_data", lang), _theme_name(theme, lang), n))
        if order:
            cls = pd.Series([klass.get(int(i)) if pd.notna(i) else None for i in part["district_id"]], dtype=object)
            by_c = cls.dropna().value_counts()
            for c in order:
                rows.append((t("th_col_class", lang), names.get(c, c), _theme_name(theme, lang), int(by_c.get(c, 0))))
            if n := int(cls.isna().sum()):
                rows.append((t("th_col_class", lang), t("no_data", lang), _theme_name(theme, lang), n))
    return pd.DataFrame(rows, columns=[t("th_col_grouping", lang), t("th_col_group", lang), t("th_col_theme", lang),
                                       t("th_col_count", lang)])


def counts_chart(counts: pd.DataFrame, lang: str, colors: Mapping[str, str] | None = None) -> go.Figure:
    """Grouped bars: one panel per grouping (Municipio, periphery class), one colour per theme."""
    g_col, grp_col, th_col, n_col = counts.columns
    groupings = list(dict.fromkeys(counts[g_col]))
    fig = make_subplots(rows=1, cols=max(len(groupings), 1), subplot_titles=groupings or [""],
                        column_widths=[0.68, 0.32][: len(groupings)] if len(groupings) == 2 else None)
    theme_color = colors or {_theme_name(k, lang): v for k, v in maps.THEME_COLORS.items()}
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
              lang: str, map_style: str) -> go.Figure:
    """Makerspaces and coworking spaces as points over the NIL outlines."""
    fig = outline_map(geojson, stats, selected, t("th_map_makers", lang), lang, map_style)
    names = nil_names(stats)
    for theme in MAKER_THEMES:
        part = frame[frame["theme"] == theme]
        if part.empty:
            continue
        maps.add_points(fig, part, _theme_name(theme, lang), theme, hover=_place_hover(part, names, lang))
    return fig


def ranking_indicators(theme: str) -> list[str]:
    """The indicators of the ranked table for the theme filter; the first one ranks."""
    if theme in MAKER_INDICATORS:
        return list(MAKER_INDICATORS[theme])
    return [*MAKER_INDICATORS["makerspace"], *MAKER_INDICATORS["coworking"]]


def indicator_ranking(values: Mapping[str, pd.DataFrame], catalogue: pd.DataFrame, areas: Mapping[str, str],
                      lang: str, city: Mapping[str, float | None] | None = None) -> pd.DataFrame:
    """Areas ranked by the first indicator (best first, per its direction), one column per indicator.

    `values`: indicator id -> indicator_values frame (area_id, value, ...) at one level;
    `areas`: area_id -> display name, the rows to show; `city`: indicator id -> city value,
    appended as an unranked reference row. Indicators missing from the catalogue are skipped.
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
        ascending = _direction(catalogue, primary) == "lower_better"
        table = table.sort_values(primary, ascending=ascending, na_position="last", kind="stable")
        ranks = table[primary].rank(method="min", ascending=ascending)  # ties share a rank (1, 2, 2, 4)
        table.insert(0, rank_col, ranks.astype("Int64"))
    else:
        table.insert(0, rank_col, pd.array([None] * len(table), dtype="Int64"))
    if city:
        ref = {"area_id": "city", rank_col: pd.NA, **{i: city.get(i, np.nan) for i in ids}}
        table = pd.concat([table, pd.DataFrame([ref])], ignore_index=True)
    out = pd.DataFrame({rank_col: table[rank_col].astype("Int64").to_numpy(),
                        t("th_col_area", lang): [areas.get(a, t("th_city", lang)) for a in table["area_id"]]})
    for ind in ids:
        decimals = 0 if _unit_is_count(catalogue, ind) else 2
        out[indicator_name(catalogue, ind, lang, with_unit=True)] = _round(table[ind], decimals).to_numpy()
    return out


def _unit_is_count(catalogue: pd.DataFrame, indicator_id: str) -> bool:
    row = catalogue[catalogue["indicator_id"] == indicator_id]
    return not row.empty and str(row["unit"].iloc[0]) in ("n", "m", "m²", "postazioni", "unità locali", "abitanti")


# ---------------------------------------------------------------------------------------------
# Vacant spaces page


def status_name(status: object, lang: str) -> str:
    """Translated vacant-space status ('degraded' -> 'degradato'); unknown values as they are."""
    if isinstance(status, str) and status in VACANT_STATUSES:
        return t(f"th_vstatus_{status}", lang)
    return plain(status) if isinstance(status, str) and status else t("no_data", lang)


def ownership_name(ownership: object, lang: str, assumed: bool = False, guess: str | None = None) -> str:
    """Translated ownership ('public' -> 'pubblica'; 'pubblica (assunta)' when it rests on an assumption;
    'dato non disponibile (ipotesi: pubblica)' when the source only guessed it and left it unset)."""
    if isinstance(ownership, str) and ownership in ("public", "private"):
        return t(f"th_owner_{ownership}", lang) + (f" ({t('th_assumed', lang)})" if assumed else "")
    if guess in ("public", "private"):
        return t("th_owner_guess", lang, guess=t(f"th_owner_{guess}", lang))
    return t("no_data", lang)


def _attrs(frame: pd.DataFrame) -> list[dict]:
    return [place_attributes(a) for a in (frame["attributes"] if "attributes" in frame else [None] * len(frame))]


def _former_uses(frame: pd.DataFrame, attrs: list[dict] | None = None) -> list[str]:
    attrs = _attrs(frame) if attrs is None else attrs
    return [former_use(c, a) for c, a in zip(frame["category"], attrs, strict=True)]


def _owners(frame: pd.DataFrame, lang: str, attrs: list[dict] | None = None) -> list[str]:
    attrs = _attrs(frame) if attrs is None else attrs
    return [ownership_name(o, lang, ownership_assumed(a), assumed_ownership_value(a))
            for o, a in zip(frame["ownership"], attrs, strict=True)]


def _trust_with_origin(frame: pd.DataFrame, lang: str) -> list[str]:
    """Trust label, marking the secondary sources (derived: a third party's list, e.g. places.json)."""
    return [trust_label(x, lang) + (f" ({t('th_secondary', lang)})" if x == "derived" else "") for x in frame["trust"]]


def public_assumption(frame: pd.DataFrame) -> tuple[int, int, int]:
    """In a vacant-places frame: (public places, of which with an assumed ownership (counted as public),
    places whose public ownership is only a guess left unset (not counted as public))."""
    attrs = _attrs(frame)
    public = frame["ownership"].eq("public").fillna(False).astype(bool).to_numpy()
    assumed = [ownership_assumed(a) for a in attrs]
    guessed = [assumed_ownership_value(a) == "public" for a in attrs]
    unset = frame["ownership"].isna().to_numpy()
    return (int(public.sum()), int(sum(1 for p, a in zip(public, assumed, strict=True) if p and a)),
            int(sum(1 for u, g in zip(unset, guessed, strict=True) if u and g)))


def secondary_count(frame: pd.DataFrame) -> tuple[int, list[str]]:
    """(places from secondary sources (trust 'derived'), their source ids)."""
    part = frame[frame["trust"].eq("derived").fillna(False).astype(bool)]
    return len(part), sorted({str(x) for x in part["source_id"]})


def status_options(frame: pd.DataFrame) -> list[str]:
    """Selector options for the vacant status: ALL, then the statuses present (known ones first)."""
    present = {s for s in frame["status"].dropna().astype(str)}
    known = [s for s in VACANT_STATUSES if s in present]
    return [ALL, *known, *sorted(present - set(known))]


def filter_status(frame: pd.DataFrame, status: str) -> pd.DataFrame:
    """Vacant spaces with the chosen status (ALL = every one)."""
    if status == ALL:
        return frame
    return frame[frame["status"].eq(status).fillna(False).astype(bool)]


def near_makers(vacant: pd.DataFrame, makers: pd.DataFrame, firms: pd.DataFrame, peripheral: set[int],
                radius_m: float | None = None) -> pd.DataFrame:
    """Vacant spaces in peripheral NIL with their distance to the nearest makerspace and to the
    nearest digital-manufacturing firm point, and whether either is within `radius_m`.

    The ETL's `vacant_near_makers_periphery` counts exactly the rows with `near` True per NIL
    (same targets, same metric CRS, same 1 km radius): this adds the per-place detail it does not
    store. Returns the vacant rows (peripheral, with coordinates) plus columns `dist_maker_m`,
    `dist_firm_m` (NaN when there is no such target), `dist_m` (the smaller) and `near`.
    """
    from etl.indicators import DM, NEAR_M
    from etl.periphery import to_metres

    radius = NEAR_M if radius_m is None else radius_m
    in_peri = vacant[vacant["district_id"].isin(list(peripheral)).fillna(False).astype(bool)
                     & vacant["lon"].notna() & vacant["lat"].notna()]
    out = in_peri.copy()

    def nearest(targets: pd.DataFrame) -> np.ndarray:
        located = targets[targets["lon"].notna() & targets["lat"].notna()]
        if located.empty or out.empty:
            return np.full(len(out), np.nan)
        import shapely

        tx, ty = to_metres(located["lon"].to_numpy(dtype=float), located["lat"].to_numpy(dtype=float))
        vx, vy = to_metres(out["lon"].to_numpy(dtype=float), out["lat"].to_numpy(dtype=float))
        tree = shapely.STRtree(shapely.points(tx, ty))
        (src, _), dist = tree.query_nearest(shapely.points(vx, vy), return_distance=True, all_matches=False)
        result = np.full(len(out), np.nan)
        result[src] = dist
        return result

    dm = firms[firms["category"].eq(DM).fillna(False).astype(bool)] if "category" in firms else firms.iloc[0:0]
    out["dist_maker_m"] = nearest(makers)
    out["dist_firm_m"] = nearest(dm)
    out["dist_m"] = out[["dist_maker_m", "dist_firm_m"]].min(axis=1, skipna=True)
    out["near"] = out["dist_m"].le(radius).fillna(False).astype(bool)
    return out


def near_targets_known(near: pd.DataFrame) -> bool:
    """Whether any makerspace or digital-manufacturing firm point was there to measure from."""
    return bool(near["dist_m"].notna().any()) if not near.empty else True


def vacant_table(frame: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, near: pd.DataFrame | None,
                 lang: str) -> pd.DataFrame:
    """The vacant-spaces table as shown and exported; `near` (from near_makers) adds the 1 km flag.

    'Tipologia' is the former use (never the condition); m² from the footprint where known; the
    official record sheet as a link; ownership marked when assumed; secondary sources marked."""
    names = nil_names(stats)
    ids = place_ids(frame)
    attrs = _attrs(frame)
    out = pd.DataFrame({
        t("col_name", lang): plain_column(frame["name"]),
        t("th_col_address", lang): plain_column(frame["address"]),
        t("th_col_nil", lang): _nil_column(frame, names, lang),
        t("col_municipio", lang): frame["municipio"].astype("Int64").to_numpy(),
        t("th_col_class", lang): _class_column(frame, classes),
        t("th_col_typology", lang): _former_uses(frame, attrs),
        t("col_status", lang): [status_name(s, lang) for s in frame["status"]],
        t("th_col_ownership", lang): _owners(frame, lang, attrs),
        t("th_col_m2", lang): _round(frame["area_m2"], 0).to_numpy(),
    })
    if near is not None:
        flag = dict(zip(place_ids(near), near["near"], strict=True))
        dist = dict(zip(place_ids(near), near["dist_m"], strict=True))
        yes, no = t("th_yes", lang), t("th_no", lang)
        out[t("th_col_near", lang)] = [("–" if i not in flag else yes if flag[i] else no) for i in ids]
        out[t("th_col_dist_m", lang)] = _round(pd.Series([dist.get(i, np.nan) for i in ids], dtype=float), 0).to_numpy()
    out[t("th_col_record", lang)] = [(record_links(a) or [None])[0] for a in attrs]
    out[t("col_source", lang)] = frame["source_id"].to_numpy()
    out[t("col_trust", lang)] = _trust_with_origin(frame, lang)
    out[t("th_col_place_id", lang)] = ids.to_numpy()
    return out


def vacant_breakdown(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Counts and known m² by status, ownership and typology (long format, one row per value)."""
    dims = (
        (t("col_status", lang), [status_name(s, lang) for s in frame["status"]]),
        (t("th_col_ownership", lang), _owners(frame, lang)),
        (t("th_col_typology", lang), [c or t("no_data", lang) for c in _former_uses(frame)]),
    )
    area = pd.to_numeric(frame["area_m2"], errors="coerce").astype(float).to_numpy()
    rows = []
    for dim, labels in dims:
        part = pd.DataFrame({"v": labels, "a": area})
        for value, sub in part.groupby("v", sort=True):
            rows.append((dim, value, len(sub), float(sub["a"].sum(min_count=1)) if sub["a"].notna().any() else np.nan,
                         int(sub["a"].notna().sum())))
    return pd.DataFrame(rows, columns=[t("th_col_dimension", lang), t("th_col_value", lang), t("th_col_count", lang),
                                       t("th_col_m2_known", lang), t("th_col_n_m2", lang)])


def breakdown_chart(breakdown: pd.DataFrame, lang: str) -> go.Figure:
    """Three bar panels: vacant spaces by status, by ownership, by typology."""
    dim_col, val_col, n_col = breakdown.columns[:3]
    dims = list(dict.fromkeys(breakdown[dim_col]))
    fig = make_subplots(rows=1, cols=max(len(dims), 1), subplot_titles=dims or [""])
    for col, dim in enumerate(dims, start=1):
        part = breakdown[breakdown[dim_col] == dim].sort_values(n_col, ascending=False, kind="stable")
        labels, counts = part[val_col].tolist(), part[n_col].tolist()
        if len(labels) > BREAKDOWN_TOP:  # many former uses: the largest, then one bar for the rest
            rest = sum(counts[BREAKDOWN_TOP - 1:])
            labels = [*labels[:BREAKDOWN_TOP - 1], t("th_other_values", lang, n=len(labels) - BREAKDOWN_TOP + 1)]
            counts = [*counts[:BREAKDOWN_TOP - 1], rest]
        fig.add_trace(go.Bar(x=labels, y=counts, name=dim, showlegend=False,
                             marker_color=maps.THEME_COLORS["vacant"]), row=1, col=col)
    fig.update_layout(height=340, margin={"l": 0, "r": 0, "t": 40, "b": 0}, separators=",." if lang == "it" else ".,")
    return fig


def vacant_map(geojson: Mapping[str, Any], frame: pd.DataFrame, stats: pd.DataFrame, selected: set[int] | None,
               lang: str, map_style: str) -> go.Figure:
    """Vacant spaces over the NIL outlines, one layer (colour) per status."""
    fig = outline_map(geojson, stats, selected, t("th_map_vacant", lang), lang, map_style)
    names = nil_names(stats)
    statuses = frame["status"].astype(object).where(frame["status"].notna(), None)
    for status in [*[s for s in VACANT_STATUSES if (statuses == s).any()],
                   *sorted({s for s in statuses.dropna() if s not in VACANT_STATUSES})]:
        part = frame[(statuses == status).to_numpy()]
        _add_vacant_layer(fig, part, status_name(status, lang), VACANT_STATUS_COLORS.get(str(status), VACANT_OTHER_COLOR),
                          names, lang)
    rest = frame[statuses.isna().to_numpy()]
    if not rest.empty:
        _add_vacant_layer(fig, rest, t("no_data", lang), VACANT_OTHER_COLOR, names, lang)
    return fig


def _add_vacant_layer(fig: go.Figure, part: pd.DataFrame, name: str, color: str, names: Mapping[int, str], lang: str) -> None:
    extra = [html.escape(f"{c} · {o}" if c else o) for c, o in zip(_former_uses(part), _owners(part, lang), strict=True)]
    maps.add_points(fig, part, name, "vacant", hover=_place_hover(part, names, lang, extra))
    fig.data[-1].marker.color = color


def near_table(near: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Vacant spaces in peripheral NIL within the radius of a maker or digital-manufacturing firm."""
    part = near[near["near"]].sort_values(["district_id", "dist_m"], kind="stable")
    names = nil_names(stats)
    nearest = [t("th_kind_makerspace", lang) if pd.notna(m) and (pd.isna(f) or m <= f) else t("th_nearest_firm", lang)
               for m, f in zip(part["dist_maker_m"], part["dist_firm_m"], strict=True)]
    return pd.DataFrame({
        t("col_name", lang): plain_column(part["name"]),
        t("th_col_address", lang): plain_column(part["address"]),
        t("th_col_nil", lang): _nil_column(part, names, lang),
        t("col_municipio", lang): part["municipio"].astype("Int64").to_numpy(),
        t("th_col_typology", lang): _former_uses(part),
        t("col_status", lang): [status_name(s, lang) for s in part["status"]],
        t("th_col_ownership", lang): _owners(part, lang),
        t("th_col_m2", lang): _round(part["area_m2"], 0).to_numpy(),
        t("th_col_dist_maker", lang): _round(part["dist_maker_m"], 0).to_numpy(),
        t("th_col_dist_firm", lang): _round(part["dist_firm_m"], 0).to_numpy(),
        t("th_col_nearest", lang): nearest,
        t("col_trust", lang): [trust_label(x, lang) for x in part["trust"]],
        t("th_col_place_id", lang): place_ids(part).to_numpy(),
    })


# --- Opportunity score with adjustable weights --------------------------------------------------


@dataclass(frozen=True)
class ScoreComponent:
    """One component of the composite opportunity score, as declared in config/indicators.toml."""

    indicator: str
    direction: str  # 'higher' | 'lower'
    weight: float  # default weight from the config
    why: str


@functools.lru_cache(maxsize=4)
def _components_cached(path: str, stamp: int) -> tuple[ScoreComponent, ...]:
    from etl.indicators import load_catalogue

    cat = load_catalogue(path)
    return tuple(ScoreComponent(c.indicator, c.direction, float(c.weight), c.why) for c in cat.components)


def score_components(path: Path | str | None = None) -> tuple[ScoreComponent, ...]:
    """The score's components and default weights from the catalogue file (cached per file version).

    Raises etl.indicators.CatalogueError (a ValueError) when the file is missing or invalid.
    """
    from etl.indicators import DEFAULT_CATALOGUE, CatalogueError

    p = Path(path or DEFAULT_CATALOGUE).resolve()
    try:
        stamp = p.stat().st_mtime_ns
    except OSError as exc:
        raise CatalogueError(f"catalogo non trovato: {p}") from exc
    return _components_cached(str(p), stamp)


def default_weights(components: Sequence[ScoreComponent]) -> dict[str, int]:
    """Slider positions (0..100) for the config's default weights (0.40 -> 40)."""
    return {c.indicator: int(round(c.weight * WEIGHT_MAX)) for c in components}


def format_weights(weights: Mapping[str, int], components: Sequence[ScoreComponent]) -> str:
    """Weights as the URL value: '40-30-15-15' in component order."""
    return "-".join(str(int(weights[c.indicator])) for c in components)


def parse_weights(text: str | None, components: Sequence[ScoreComponent]) -> dict[str, int] | None:
    """Weights from the URL value ('40-30-15-15'): one integer 0..100 per component, in order.

    Anything else (wrong count, not a number, out of range) gives None: the page then falls back to
    the defaults and says so. Nothing from the URL is evaluated.
    """
    if text is None:
        return None
    parts = text.strip().split("-")
    if len(parts) != len(components) or not all(p.isascii() and p.isdigit() and len(p) <= 3 for p in parts):
        return None
    values = [int(p) for p in parts]
    if any(v > WEIGHT_MAX for v in values):
        return None
    return {c.indicator: v for c, v in zip(components, values, strict=True)}


def initial_weights(requested: str | None, components: Sequence[ScoreComponent]) -> tuple[dict[str, int], bool]:
    """(slider positions, the URL value was invalid): the URL's weights when valid, else the defaults."""
    parsed = parse_weights(requested, components)
    return (parsed if parsed is not None else default_weights(components)), (requested is not None and parsed is None)


def normalised_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Each weight divided by their sum (all zero -> all zero): the shares the score really uses."""
    total = float(sum(max(float(v), 0.0) for v in weights.values()))
    return {k: (max(float(v), 0.0) / total if total > 0 else 0.0) for k, v in weights.items()}


def component_matrix(values: Mapping[str, pd.DataFrame], nil_ids: Sequence[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, reasons): one row per NIL id, one column per component, from the stored NIL values
    of the current period (indicator_values frames). A component with no stored rows is all NaN."""
    index = pd.Index([int(i) for i in nil_ids], name="district_id")
    vals = pd.DataFrame(index=index)
    why = pd.DataFrame(index=index)
    for ind, frame in values.items():
        ids = pd.to_numeric(frame["area_id"], errors="coerce")
        ok = ids.notna()
        v = pd.Series(pd.to_numeric(frame["value"], errors="coerce").astype(float).to_numpy()[ok.to_numpy()],
                      index=ids[ok].astype(int).to_numpy())
        r = pd.Series(frame["reason"].astype(object).to_numpy()[ok.to_numpy()], index=ids[ok].astype(int).to_numpy())
        vals[ind] = v[~v.index.duplicated()].reindex(index).to_numpy(dtype=float)
        why[ind] = r[~r.index.duplicated()].reindex(index).to_numpy(dtype=object)
    return vals, why


def reweighted_scores(matrix: pd.DataFrame, reasons: pd.DataFrame, weights: Mapping[str, float],
                      directions: Mapping[str, str]) -> pd.DataFrame:
    """Opportunity score per NIL (0-100, NaN with a reason where not computable) for `weights`.

    Calls the ETL's pure scoring function (`etl.indicators.opportunity_score_detail`, the detail of
    `opportunity_score`); weights are relative, so 40/30/15/15 gives the stored default score.
    Returns columns id, score, reason.
    """
    from etl.indicators import opportunity_score_detail

    used = {k: float(v) for k, v in weights.items() if k in matrix.columns}
    detail = opportunity_score_detail(matrix[list(used)], used, directions, reasons[list(used)])
    return pd.DataFrame({"id": detail.index.astype(int), "score": detail["score"].astype(float).to_numpy(),
                         "reason": detail["reason"].to_numpy()})


def effective_weights(weights: Mapping[str, float], valued: set[str]) -> dict[str, float]:
    """The weights the score really applies: a component without any value is dropped by the ETL's scoring
    function (etl.indicators.opportunity_score_detail), so its weight counts as 0."""
    return {k: (float(v) if k in valued else 0.0) for k, v in weights.items()}


def weights_table(components: Sequence[ScoreComponent], weights: Mapping[str, float], catalogue: pd.DataFrame,
                  lang: str, valued: set[str] | None = None) -> pd.DataFrame:
    """The weights as used: chosen, normalised share (%) of the components with data (`valued`; None = all),
    default share (%), direction and why."""
    shares = normalised_weights(weights if valued is None else effective_weights(weights, valued))
    defaults = normalised_weights({c.indicator: c.weight for c in components})
    return pd.DataFrame({
        t("th_col_component", lang): [indicator_name(catalogue, c.indicator, lang, with_unit=True) for c in components],
        t("th_col_direction", lang): [t(f"th_dir_{c.direction}", lang) for c in components],
        t("th_col_weight", lang): [int(weights.get(c.indicator, 0)) for c in components],
        t("th_col_share", lang): [round(100 * shares.get(c.indicator, 0.0), 1) for c in components],
        t("th_col_default_share", lang): [round(100 * defaults[c.indicator], 1) for c in components],
        t("th_col_why", lang): [_component_why(c, catalogue, lang) for c in components],
    })


def _component_why(c: ScoreComponent, catalogue: pd.DataFrame, lang: str) -> str:
    if lang == "it" or catalogue.empty:
        return c.why
    row = catalogue[catalogue["indicator_id"] == c.indicator]
    return str(row["description_en"].iloc[0]) if not row.empty and "description_en" in row else c.why


def weights_caption(components: Sequence[ScoreComponent], weights: Mapping[str, float], catalogue: pd.DataFrame,
                    lang: str) -> str:
    """One line: 'Punteggio = 40% A + 30% B + ...' with the normalised shares actually used."""
    shares = normalised_weights(weights)
    if not any(shares.values()):
        return t("th_weights_all_zero", lang)
    parts = [f"{fmt_number(100 * shares[c.indicator], lang, 0)}% {indicator_name(catalogue, c.indicator, lang)}"
             for c in components if shares.get(c.indicator, 0) > 0]
    return t("th_weights_formula", lang, parts=" + ".join(parts))


def opportunity_map(geojson: Mapping[str, Any], scores: pd.DataFrame, stats: pd.DataFrame, near: pd.DataFrame | None,
                    lang: str, map_style: str) -> go.Figure:
    """Choropleth of the (re-weighted) score per NIL; peripheral vacant spaces near makers on top."""
    frame = stats[["id", "name"]].merge(scores, on="id", how="left")
    frame = frame.assign(label=[html.escape(nil_label(i, n)) for i, n in zip(frame["id"], frame["name"], strict=True)])
    hover = [f"{t('th_score', lang)}: {fmt_number(s, lang, 1)}" if pd.notna(s) else t("no_data", lang) for s in frame["score"]]
    fig = maps.choropleth(dict(geojson), frame, "score", "label", t("th_map_opportunity", lang), t("th_score_unit", lang),
                          map_style=map_style, hover_value=hover)
    if near is not None and bool(near["near"].any()):
        part = near[near["near"]]
        maps.add_points(fig, part, t("th_layer_near", lang), "vacant", hover=_place_hover(part, nil_names(stats), lang), size=7)
        fig.data[-1].marker.color = NEAR_COLOR
    return fig


def opportunity_table(scores: pd.DataFrame, matrix: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame,
                      catalogue: pd.DataFrame, lang: str) -> pd.DataFrame:
    """NIL ranked by score (best first, NULL last) with the component values and the reason."""
    frame = stats[["id", "name", "municipio"]].merge(scores, on="id", how="left")
    frame = frame.sort_values(["score", "id"], ascending=[False, True], na_position="last", kind="stable")
    klass = dict(zip(classes["district_id"], classes["class_name"], strict=True))
    ranks = frame["score"].rank(method="min", ascending=False).astype("Int64")
    out = pd.DataFrame({
        t("th_col_rank", lang): ranks.to_numpy(),
        t("col_id", lang): frame["id"].astype(int).to_numpy(),
        t("th_col_nil", lang): [nil_label(i, n) for i, n in zip(frame["id"], frame["name"], strict=True)],
        t("col_municipio", lang): frame["municipio"].astype("Int64").to_numpy(),
        t("th_col_class", lang): [klass.get(int(i)) for i in frame["id"]],
        t("th_col_score", lang): _round(frame["score"], 1).to_numpy(),
    })
    for ind in matrix.columns:
        col = matrix[ind].reindex(frame["id"].astype(int).to_numpy())
        out[indicator_name(catalogue, ind, lang, with_unit=True)] = _round(col.reset_index(drop=True), 2).to_numpy()
    out[t("col_reason", lang)] = frame["reason"].to_numpy()
    return out


# ---------------------------------------------------------------------------------------------
# Firms page


def _category_config() -> tuple[tuple[str, str, str, str], ...]:
    from etl.ateco_map import load_config  # cached there per file version

    cfg = load_config()
    return tuple((c.key, c.label_it, c.label_en, c.description) for c in cfg.categories.values())


def category_labels(lang: str) -> dict[str, str]:
    """Programme category key -> label, in the order of config/ateco_categories.toml.

    Falls back to the keys when the file cannot be read (the page says where labels come from).
    """
    try:
        rows = _category_config()
    except (OSError, ValueError):
        return {}
    return {key: (en if lang == "en" else it) for key, it, en, _ in rows}


def _category_name(key: object, labels: Mapping[str, str], lang: str) -> str:
    if not isinstance(key, str) or not key:
        return t("no_data", lang)
    return labels.get(key, key)


def _category_order(keys: Sequence[object], labels: Mapping[str, str]) -> list[str]:
    present = [k for k in dict.fromkeys(keys) if isinstance(k, str)]
    return [k for k in labels if k in present] + sorted(k for k in present if k not in labels)


def category_table(units: pd.DataFrame, points: pd.DataFrame, labels: Mapping[str, str], lang: str) -> pd.DataFrame:
    """Per programme category: local units of the latest ds201 year (with share and average
    employees) and point-level firms (with share and employees)."""
    year = int(units["year"].max()) if not units.empty else None
    latest = units[units["year"] == year] if year is not None else units
    u = latest.groupby("category")["units"].sum() if not latest.empty else pd.Series(dtype=float)
    e = dict(zip(latest["category"], latest["avg_employees"], strict=True)) if not latest.empty else {}
    p = points.groupby("category")["firms"].sum() if not points.empty else pd.Series(dtype=float)
    pe = points.groupby("category")["employees"].sum(min_count=1) if not points.empty else pd.Series(dtype=float)
    keys = _category_order([*u.index, *p.index], labels)
    u_total, p_total = float(u.sum()), float(p.sum())
    units_col = t("th_col_units_year", lang, year=year if year is not None else "–")
    return pd.DataFrame({
        t("th_col_category", lang): [_category_name(k, labels, lang) for k in keys],
        units_col: pd.array([_int_or_none(u.get(k, 0 if u_total else None)) for k in keys], dtype="Int64"),
        t("th_col_units_share", lang): [round(100 * float(u.get(k, 0)) / u_total, 1) if u_total else np.nan for k in keys],
        t("th_col_avg_employees", lang): [round(float(e[k]), 2) if k in e and pd.notna(e[k]) else np.nan for k in keys],
        t("th_col_points", lang): pd.array([_int_or_none(p.get(k, 0 if p_total else None)) for k in keys], dtype="Int64"),
        t("th_col_points_share", lang): [round(100 * float(p.get(k, 0)) / p_total, 1) if p_total else np.nan for k in keys],
        t("th_col_employees", lang): [round(float(pe[k]), 1) if k in pe and pd.notna(pe[k]) else np.nan for k in keys],
    })


def category_chart(table: pd.DataFrame, lang: str) -> go.Figure:
    """Share (%) of each category in the two sources side by side (their totals differ)."""
    cat_col = table.columns[0]
    fig = go.Figure()
    units_col = table.columns[1]
    for share_col, name, color in ((table.columns[2], units_col, "#555555"), (table.columns[5], table.columns[4], "#1f77b4")):
        if table[share_col].notna().any():
            fig.add_trace(go.Bar(x=table[cat_col].tolist(), y=table[share_col].tolist(), name=str(name), marker_color=color))
    fig.update_layout(barmode="group", height=340, margin={"l": 0, "r": 0, "t": 30, "b": 0}, yaxis_title="%",
                      legend={"orientation": "h", "y": -0.2},
                      title={"text": t("th_chart_categories", lang), "font": {"size": 14}})
    return fig


def period_options(values_all: pd.DataFrame) -> list[str]:
    """Periods of an indicator: 'corrente' (undated value, from point-level data) first, then years, newest first."""
    out = [CURRENT_PERIOD] if values_all["period"].isna().any() else []
    years = sorted({int(p) for p in values_all["period"].dropna()}, reverse=True)
    return out + [str(y) for y in years]


def period_label(period: str, lang: str) -> str:
    """'corrente' -> 'attuale (imprese puntuali)', '2010' -> '2010 (unità locali)'."""
    return t("th_period_current", lang) if period == CURRENT_PERIOD else t("th_period_year", lang, year=period)


def pick_period(values_all: pd.DataFrame, period: str) -> pd.DataFrame:
    """The rows of one period (CURRENT_PERIOD = undated rows)."""
    if period == CURRENT_PERIOD:
        return values_all[values_all["period"].isna()]
    return values_all[values_all["period"].eq(int(period)).fillna(False).astype(bool)]


def district_values(values: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, catalogue: pd.DataFrame,
                    indicator_id: str, lang: str) -> pd.DataFrame:
    """One row per NIL with the indicator value, numerator, denominator, reason and trust (for the
    choropleth and its download)."""
    v = values.assign(id=pd.to_numeric(values["area_id"], errors="coerce")).dropna(subset=["id"])
    v = v.assign(id=v["id"].astype(int)).drop_duplicates("id")
    frame = stats[["id", "name", "municipio"]].merge(v, on="id", how="left")
    klass = dict(zip(classes["district_id"], classes["class_name"], strict=True))
    decimals = 0 if _unit_is_count(catalogue, indicator_id) else 2
    return pd.DataFrame({
        t("col_id", lang): frame["id"].astype(int).to_numpy(),
        t("th_col_nil", lang): [nil_label(i, n) for i, n in zip(frame["id"], frame["name"], strict=True)],
        t("col_municipio", lang): frame["municipio"].astype("Int64").to_numpy(),
        t("th_col_class", lang): [klass.get(int(i)) for i in frame["id"]],
        indicator_name(catalogue, indicator_id, lang, with_unit=True): _round(frame["value"], decimals).to_numpy(),
        t("th_col_numerator", lang): _round(frame["numerator"], 2).to_numpy(),
        t("th_col_denominator", lang): _round(frame["denominator"], 2).to_numpy(),
        t("col_reason", lang): frame["reason"].to_numpy(),
        t("col_trust", lang): [trust_label(x, lang) if isinstance(x, str) else t("no_data", lang) for x in frame["trust"]],
    })


def sample_points(frame: pd.DataFrame, limit: int = MAX_FIRM_POINTS) -> tuple[pd.DataFrame, int]:
    """(points to draw, total located): all of them up to `limit`, else a fixed random sample
    (seed 0, so reruns draw the same points)."""
    located = frame[frame["lon"].notna() & frame["lat"].notna()]
    if len(located) <= limit:
        return located, len(located)
    return located.sample(n=limit, random_state=0).sort_index(), len(located)


def sampled_caption(shown: int, total: int, lang: str) -> str | None:
    """The note that the map draws a sample (None when it draws every firm)."""
    if total <= shown:
        return None
    return t("th_firms_sampled", lang, shown=fmt_number(shown, lang), total=fmt_number(total, lang))


def filter_category(frame: pd.DataFrame, category: str) -> pd.DataFrame:
    """Firms of one programme category (ALL = every one)."""
    if category == ALL:
        return frame
    return frame[frame["category"].eq(category).fillna(False).astype(bool)]


def firm_table(frame: pd.DataFrame, stats: pd.DataFrame, labels: Mapping[str, str], lang: str) -> pd.DataFrame:
    """Point-level firms as exported with the map's point layer (all of them, not the drawn sample)."""
    names = nil_names(stats)
    return pd.DataFrame({
        t("col_name", lang): plain_column(frame["name"]),
        t("th_col_address", lang): plain_column(frame["address"]),
        t("th_col_nil", lang): _nil_column(frame, names, lang),
        t("col_municipio", lang): frame["municipio"].astype("Int64").to_numpy(),
        t("th_col_category", lang): [_category_name(c, labels, lang) for c in frame["category"]],
        t("th_col_ateco", lang): frame["ateco_code"].to_numpy(),
        t("th_col_ateco_edition", lang): frame["ateco_edition"].to_numpy(),
        t("th_col_employees", lang): _round(frame["employees"], 1).to_numpy(),
        t("th_col_started_on", lang): [_as_date(d) for d in frame["started_on"]],
        t("col_source", lang): frame["source_id"].to_numpy(),
        t("col_trust", lang): [trust_label(x, lang) for x in frame["trust"]],
        t("th_col_place_id", lang): place_ids(frame).to_numpy(),
    })


def firms_map(geojson: Mapping[str, Any], table: pd.DataFrame, points: pd.DataFrame | None, lang: str, map_style: str,
              points_name: str = "") -> go.Figure:
    """Choropleth of the district table's indicator column (5th) with an optional firm point layer."""
    id_col, label_col, _, _, value_col = table.columns[:5]
    frame = table.rename(columns={id_col: "id"})
    frame[label_col] = [html.escape(plain(v)) for v in frame[label_col]]  # NIL names from a file: text in the hover
    hover = [fmt_number(v, lang, 2) if pd.notna(v) else t("no_data", lang) for v in frame[value_col]]
    fig = maps.choropleth(dict(geojson), frame, value_col, label_col, str(value_col), "", map_style=map_style,
                          hover_value=hover)
    if points is not None and not points.empty:
        text = [f"{html.escape(plain(n))}<br>ATECO {html.escape(plain(c))} ({html.escape(plain(e))})"
                for n, c, e in zip(points["name"], points["ateco_code"], points["ateco_edition"], strict=True)]
        maps.add_points(fig, points, points_name, "firm", hover=text, size=5)
    return fig


def units_timeline(units: pd.DataFrame, labels: Mapping[str, str], lang: str) -> tuple[go.Figure, pd.DataFrame]:
    """Local units (ds201) per year and category: chart (bars when there is a single year) and table."""
    keys = _category_order(list(units["category"]), labels)
    table = pd.DataFrame({
        t("col_year", lang): units["year"].astype(int).to_numpy(),
        t("th_col_category", lang): [_category_name(c, labels, lang) for c in units["category"]],
        t("th_col_units", lang): units["units"].astype("Int64").to_numpy(),
        t("th_col_avg_employees", lang): _round(units["avg_employees"], 2).to_numpy(),
    })
    fig = go.Figure()
    single = units["year"].nunique() <= 1
    for k in keys:
        part = units[units["category"] == k]
        name = _category_name(k, labels, lang)
        if single:
            fig.add_trace(go.Bar(x=[str(int(y)) for y in part["year"]], y=part["units"].tolist(), name=name))
        else:
            fig.add_trace(go.Scatter(x=part["year"].astype(int).tolist(), y=part["units"].tolist(), name=name,
                                     mode="lines+markers"))
    fig.update_layout(height=340, margin={"l": 0, "r": 0, "t": 30, "b": 0}, barmode="group",
                      yaxis_title=t("th_col_units", lang), legend={"orientation": "h", "y": -0.2},
                      xaxis=YEAR_AXIS, separators=",." if lang == "it" else ".,",
                      title={"text": t("th_chart_units_time", lang), "font": {"size": 14}})
    return fig, table


def starts_timeline(points: pd.DataFrame, labels: Mapping[str, str], lang: str) -> tuple[go.Figure, pd.DataFrame]:
    """Point-level firms by start year and category: line chart and table (firms without a start date are
    counted in the table with an empty year, not drawn)."""
    keys = _category_order(list(points["category"]), labels)
    table = pd.DataFrame({
        t("th_col_start_year", lang): points["start_year"].astype("Int64").to_numpy(),
        t("th_col_category", lang): [_category_name(c, labels, lang) for c in points["category"]],
        t("th_col_points", lang): points["firms"].astype("Int64").to_numpy(),
        t("th_col_employees", lang): _round(points["employees"], 1).to_numpy(),
    })
    fig = go.Figure()
    dated = points[points["start_year"].notna()]
    for k in keys:
        part = dated[dated["category"] == k].sort_values("start_year")
        fig.add_trace(go.Scatter(x=part["start_year"].astype(int).tolist(), y=part["firms"].tolist(),
                                 name=_category_name(k, labels, lang), mode="lines+markers"))
    fig.update_layout(height=340, margin={"l": 0, "r": 0, "t": 30, "b": 0}, yaxis_title=t("th_col_points", lang),
                      legend={"orientation": "h", "y": -0.2}, xaxis=YEAR_AXIS, separators=",." if lang == "it" else ".,",
                      title={"text": t("th_chart_starts", lang), "font": {"size": 14}})
    return fig, table


def editions_caption(editions: pd.DataFrame, lang: str) -> str:
    """Which ATECO edition each firm source uses, e.g. 'Unità locali: ATECO 2007 (anno 2010). ...'."""
    if editions.empty:
        return t("th_editions_none", lang)
    parts = []
    for kind in ("firm_totals", "firm_units", "firm_points"):
        part = editions[editions["kind"] == kind]
        if part.empty:
            continue
        eds = ", ".join(f"ATECO {e}" if isinstance(e, str) and e else t("th_edition_unknown", lang)
                        for e in dict.fromkeys(part["ateco_edition"]))
        years = sorted({int(y) for y in pd.concat([part["first_year"], part["last_year"]]).dropna()})
        span = "" if not years else (str(years[0]) if years[0] == years[-1] else f"{years[0]}–{years[-1]}")
        parts.append(t(f"th_editions_{kind}", lang, editions=eds, years=span or "–"))
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# Targets page


def status_text(status: object, lang: str) -> str:
    """'🟢 in linea' (badge colour as an emoji, for table cells)."""
    key = status if isinstance(status, str) and status in STATUS_BADGE else "no_data"
    return f"{STATUS_BADGE[key][0]} {t(f'th_tstatus_{key}', lang)}"


def status_badges(frame: pd.DataFrame, lang: str) -> list[tuple[str, str]]:
    """(label with count, colour) per status, in a fixed order: input for st.badge."""
    counts = frame["status"].value_counts()
    return [(f"{t(f'th_tstatus_{s}', lang)}: {int(counts.get(s, 0))}", STATUS_BADGE[s][1]) for s in STATUS_ORDER]


def objective_options(frame: pd.DataFrame) -> list[str]:
    """Selector options: ALL, then the objectives in the order of the file."""
    return [ALL, *dict.fromkeys(str(o) for o in frame["objective"])]


def status_filter_options() -> list[str]:
    """Selector options for the status filter."""
    return [ALL, *STATUS_ORDER]


def filter_targets(frame: pd.DataFrame, objective: str, status: str) -> pd.DataFrame:
    """Targets of an objective and/or a status (ALL = no filter)."""
    keep = pd.Series(True, index=frame.index)
    if objective != ALL:
        keep &= frame["objective"] == objective
    if status != ALL:
        keep &= frame["status"] == status
    return frame[keep]


def area_names(stats: pd.DataFrame, groups: pd.DataFrame, lang: str) -> dict[tuple[str, str], str]:
    """(level, area_id) -> display name for every area a target can refer to."""
    out: dict[tuple[str, str], str] = {("city", "milano"): t("th_city", lang)}
    for i, n in zip(stats["id"], stats["name"], strict=True):
        out[("nil", str(int(i)))] = f"NIL {nil_label(i, n)}"
    for m in sorted({int(m) for m in stats["municipio"].dropna()}):
        out[("municipio", str(m))] = f"{t('col_municipio', lang)} {m}"
    for level, gid, name in zip(groups["group_level"], groups["group_id"], groups["group_name"], strict=True):
        out[(str(level), str(gid))] = str(name)
    return out


def _area(level: object, area_id: object, names: Mapping[tuple[str, str], str]) -> str:
    return names.get((str(level), str(area_id)), f"{level} {area_id}")


def progress_share(value: object, baseline: object, target: object) -> float | None:
    """How far `value` is along the way from baseline (0 %) to target (100 %); None if undefined."""
    if any(x is None or pd.isna(x) for x in (value, baseline, target)):  # type: ignore[call-overload]
        return None
    span = float(target) - float(baseline)  # type: ignore[arg-type]
    if span == 0:
        return None
    return 100.0 * (float(value) - float(baseline)) / span  # type: ignore[arg-type]


def _round_or_nan(value: float | None, decimals: int) -> float:
    return float("nan") if value is None else round(value, decimals)


def _num(value: object, lang: str) -> str:
    if value is None or pd.isna(value):  # type: ignore[call-overload]
        return "–"
    x = float(value)  # type: ignore[arg-type]
    return fmt_number(x, lang, 0 if x == int(x) and abs(x) >= 100 else 2)


def _as_date(value: object) -> date | None:
    if value is None or (not isinstance(value, (date, datetime, str)) and pd.isna(value)):  # type: ignore[call-overload]
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(str(value)).date()


def target_explanation(row: Mapping[str, Any], as_of: date | None, lang: str) -> str:
    """The status rule applied to one target, in words and in the page's language.

    Built from the stored values (baseline, expected, current, target, deadline, status): it
    explains the ETL's verdict, it does not recompute it.
    """
    status = str(row["status"])
    verdict = t(f"th_tstatus_{status}", lang) if status in STATUS_BADGE else status
    deadline = _as_date(row["deadline"])
    base_date = _as_date(row.get("baseline_date"))
    target, current = row["target_value"], row.get("current_value")
    baseline, expected = row.get("baseline"), row.get("expected_value")
    if current is None or pd.isna(current):
        return t("th_rule_no_data", lang, verdict=verdict)
    if as_of is not None and deadline is not None and as_of >= deadline:
        return t("th_rule_past_deadline", lang, deadline=fmt_date(deadline, lang), target=_num(target, lang),
                 current=_num(current, lang), verdict=verdict)
    if baseline is None or pd.isna(baseline) or expected is None or pd.isna(expected):
        return t("th_rule_no_baseline", lang, target=_num(target, lang), current=_num(current, lang), verdict=verdict)
    line = t("th_rule_line", lang, expected=_num(expected, lang), baseline=_num(baseline, lang),
             base_date=fmt_date(base_date, lang), target=_num(target, lang), deadline=fmt_date(deadline, lang))
    done, due = progress_share(current, baseline, target), progress_share(expected, baseline, target)
    if done is not None and due is not None and due > 0 and status != "on_track":
        share = fmt_number(100 * done / due, lang, 0)
        return t("th_rule_behind", lang, line=line, current=_num(current, lang), share=share, verdict=verdict)
    return t("th_rule_ahead", lang, line=line, current=_num(current, lang), verdict=verdict)


def targets_table(frame: pd.DataFrame, catalogue: pd.DataFrame, names: Mapping[tuple[str, str], str],
                  as_of: date | None, lang: str) -> pd.DataFrame:
    """The targets as shown and exported: values, status (badge) and the rule in words."""
    rows = frame.to_dict("records")
    return pd.DataFrame({
        t("th_col_objective", lang): frame["objective"].to_numpy(),
        t("th_col_target_id", lang): frame["target_id"].to_numpy(),
        t("th_col_indicator", lang): [indicator_name(catalogue, i, lang, with_unit=True) for i in frame["indicator_id"]],
        t("th_col_area", lang): [_area(lv, a, names) for lv, a in zip(frame["level"], frame["area_id"], strict=True)],
        t("th_col_baseline", lang): _round(frame["baseline"], 2).to_numpy(),
        t("th_col_baseline_date", lang): [_as_date(d) for d in frame["baseline_date"]],
        t("th_col_current", lang): _round(frame["current_value"], 2).to_numpy(),
        t("th_col_expected", lang): _round(frame["expected_value"], 2).to_numpy(),
        t("th_col_target", lang): _round(frame["target_value"], 2).to_numpy(),
        t("th_col_deadline", lang): [_as_date(d) for d in frame["deadline"]],
        t("th_col_progress", lang): [_round_or_nan(progress_share(c, b, g), 1) for c, b, g in
                                     zip(frame["current_value"], frame["baseline"], frame["target_value"], strict=True)],
        t("th_col_progress_due", lang): [_round_or_nan(progress_share(e, b, g), 1) for e, b, g in
                                         zip(frame["expected_value"], frame["baseline"], frame["target_value"], strict=True)],
        t("col_status", lang): [status_text(s, lang) for s in frame["status"]],
        t("th_col_rule", lang): [target_explanation(r, as_of, lang) for r in rows],
        t("th_col_rule_etl", lang): frame["rule"].to_numpy(),
    })


def progress_chart(frame: pd.DataFrame, catalogue: pd.DataFrame, names: Mapping[tuple[str, str], str],
                   lang: str) -> go.Figure:
    """Current vs expected vs target on one scale: % of the way from baseline (0) to target (100)."""
    labels = [f"{tid} · {indicator_name(catalogue, i, lang)} · {_area(lv, a, names)}"
              for tid, i, lv, a in zip(frame["target_id"], frame["indicator_id"], frame["level"], frame["area_id"], strict=True)]
    base, goal = frame["baseline"], frame["target_value"]
    cur = [progress_share(c, b, g) for c, b, g in zip(frame["current_value"], base, goal, strict=True)]
    exp = [progress_share(e, b, g) for e, b, g in zip(frame["expected_value"], base, goal, strict=True)]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[100.0] * len(labels), y=labels, mode="markers", name=t("th_col_target", lang),
                             marker={"symbol": "star", "size": 14, "color": "#333333"}))
    fig.add_trace(go.Scatter(x=exp, y=labels, mode="markers", name=t("th_col_expected", lang),
                             marker={"symbol": "line-ns-open", "size": 18, "line": {"width": 3}, "color": "#555555"}))
    fig.add_trace(go.Scatter(x=cur, y=labels, mode="markers", name=t("th_col_current", lang),
                             marker={"size": 12, "color": [STATUS_COLORS.get(str(s), "#9e9e9e") for s in frame["status"]]},
                             text=[status_text(s, lang) for s in frame["status"]],
                             hovertemplate="%{y}<br>%{x:.0f}%<br>%{text}<extra></extra>"))
    fig.add_vline(x=0, line_dash="dot", line_color="#aaaaaa")
    fig.update_layout(height=max(220, 70 + 46 * len(labels)), margin={"l": 0, "r": 0, "t": 30, "b": 0},
                      xaxis_title=t("th_progress_axis", lang), legend={"orientation": "h", "y": -0.25},
                      yaxis={"autorange": "reversed"},
                      title={"text": t("th_chart_progress", lang), "font": {"size": 14}})
    return fig


def trend_chart(history: pd.DataFrame, row: Mapping[str, Any], unit: str, lang: str) -> go.Figure:
    """A target's value across snapshots with the straight expected path from baseline to target."""
    fig = go.Figure()
    known = trend_points(history)
    known = known[known["current_value"].notna()]
    fig.add_trace(go.Scatter(x=[pd.Timestamp(d) for d in known["created_at"]], y=known["current_value"].tolist(),
                             mode="markers+text" if len(known) == 1 else "lines+markers", name=t("th_col_current", lang),
                             text=[_num(v, lang) for v in known["current_value"]] if len(known) == 1 else None,
                             textposition="top center",
                             marker={"size": 9, "color": [STATUS_COLORS.get(str(s), "#9e9e9e") for s in known["status"]]},
                             line={"color": "#1f77b4"}))
    base, base_date, deadline = row.get("baseline"), _as_date(row.get("baseline_date")), _as_date(row["deadline"])
    if base is not None and pd.notna(base) and base_date is not None and deadline is not None:
        fig.add_trace(go.Scatter(x=[pd.Timestamp(base_date), pd.Timestamp(deadline)], y=[float(base), float(row["target_value"])],
                                 mode="lines", name=t("th_expected_path", lang), line={"dash": "dash", "color": "#888888"}))
    if deadline is not None:
        fig.add_trace(go.Scatter(x=[pd.Timestamp(deadline)], y=[float(row["target_value"])], mode="markers",
                                 name=t("th_col_target", lang), marker={"symbol": "star", "size": 16, "color": "#333333"}))
    fig.update_layout(height=380, margin={"l": 0, "r": 0, "t": 30, "b": 0}, yaxis_title=unit,
                      legend={"orientation": "h", "y": -0.2}, separators=",." if lang == "it" else ".,",
                      xaxis={"type": "date", "tickformat": DATE_TICKS[lang if lang in DATE_TICKS else "it"],
                             "hoverformat": DATE_TICKS[lang if lang in DATE_TICKS else "it"]},
                      title={"text": t("th_chart_trend", lang, target=html.escape(plain(row["target_id"]))),
                             "font": {"size": 14}})
    return fig


#: Date ticks in the page language (numbers only: Plotly's month names would be English).
DATE_TICKS = {"it": "%d/%m/%Y", "en": "%Y-%m-%d"}


def trend_points(history: pd.DataFrame) -> pd.DataFrame:
    """A target's history without the snapshots whose inputs equal an earlier one (`same_as`: no new point)."""
    if "same_as" not in history or history.empty:
        return history
    return history[history["same_as"].isna()]


def trend_table(history: pd.DataFrame, row: Mapping[str, Any], lang: str) -> pd.DataFrame:
    """The trend chart's data: one row per snapshot, plus the baseline and deadline points of the path."""
    history = trend_points(history)
    snaps = pd.DataFrame({
        t("th_col_date", lang): [_as_date(d) for d in history["created_at"]],
        t("th_col_point", lang): t("th_point_snapshot", lang),
        t("th_col_current", lang): _round(history["current_value"], 4).to_numpy(),
        t("th_col_expected", lang): _round(history["expected_value"], 4).to_numpy(),
        t("th_col_target", lang): _round(history["target_value"], 4).to_numpy(),
        t("col_status", lang): [status_text(s, lang) for s in history["status"]],
    })
    path = []
    if row.get("baseline") is not None and pd.notna(row.get("baseline")) and _as_date(row.get("baseline_date")):
        path.append((_as_date(row.get("baseline_date")), t("th_point_baseline", lang), float(row["baseline"])))
    path.append((_as_date(row["deadline"]), t("th_point_deadline", lang), float(row["target_value"])))
    ends = pd.DataFrame({
        t("th_col_date", lang): [p[0] for p in path],
        t("th_col_point", lang): [p[1] for p in path],
        t("th_col_current", lang): np.nan,
        t("th_col_expected", lang): [p[2] for p in path],
        t("th_col_target", lang): float(row["target_value"]),
        t("col_status", lang): None,
    })
    return pd.concat([snaps, ends], ignore_index=True) if len(snaps) else ends


def target_option_label(row: Mapping[str, Any], catalogue: pd.DataFrame, names: Mapping[tuple[str, str], str],
                        lang: str) -> str:
    """'T1 · Makerspace e fablab · Periferia' for the target selector."""
    name = indicator_name(catalogue, str(row["indicator_id"]), lang)
    return f"{row['target_id']} · {name} · {_area(row['level'], row['area_id'], names)}"


def as_of_date(value: object) -> date | None:
    """A snapshot's creation time as a date (None when unknown)."""
    return _as_date(value)


# --- City-wide firm counts (ds171 layout: firm_totals) ------------------------------------------


FIRM_TOTAL_MEASURES = ("firms", "units", "employees_units")


def firm_totals_table(totals: pd.DataFrame, labels: Mapping[str, str], lang: str) -> pd.DataFrame:
    """Firms, local units and employees per programme category and year for the whole city (no NIL)."""
    keys = _category_order(list(totals["category"]), labels)
    order = {k: i for i, k in enumerate(keys)}
    frame = totals.assign(_o=[order.get(c, len(order)) for c in totals["category"]]).sort_values(["year", "_o"])
    return pd.DataFrame({
        t("col_year", lang): frame["year"].astype(int).to_numpy(),
        t("th_col_category", lang): [_category_name(c, labels, lang) for c in frame["category"]],
        t("th_col_firms", lang): pd.array([_int_or_none(v) for v in frame["firms"]], dtype="Int64"),
        t("th_col_units", lang): pd.array([_int_or_none(v) for v in frame["units"]], dtype="Int64"),
        t("th_col_employees_firms", lang): _round(frame["employees_firms"], 0).to_numpy(),
        t("th_col_employees_units", lang): _round(frame["employees_units"], 0).to_numpy(),
        t("th_col_codes", lang): frame["codes"].astype("Int64").to_numpy(),
        t("col_trust", lang): [", ".join(trust_label(x.strip(), lang) for x in str(v).split(",")) for v in frame["trust"]],
    })


def firm_totals_chart(totals: pd.DataFrame, labels: Mapping[str, str], lang: str, measure: str = "units") -> go.Figure:
    """One line per programme category over the data years (city-wide), markers only for a single year."""
    keys = [k for k in _category_order(list(totals["category"]), labels) if k != "other"]  # "other" is about 90%: table only
    titles = {"firms": "th_col_firms", "units": "th_col_units", "employees_units": "th_col_employees_units"}
    fig = go.Figure()
    for k in keys:
        part = totals[totals["category"] == k].sort_values("year")
        fig.add_trace(go.Scatter(x=part["year"].astype(int).tolist(), y=pd.to_numeric(part[measure]).tolist(),
                                 name=_category_name(k, labels, lang),
                                 mode="markers" if len(part) == 1 else "lines+markers"))
    years = sorted({int(y) for y in totals["year"]})
    fig.update_layout(height=360, margin={"l": 0, "r": 0, "t": 30, "b": 0}, yaxis_title=t(titles[measure], lang),
                      yaxis={"tickformat": ",d", "rangemode": "tozero"},
                      xaxis={"tickmode": "array", "tickvals": years, "ticktext": [str(y) for y in years]},
                      legend={"orientation": "h", "y": -0.2}, separators=",." if lang == "it" else ".,",
                      title={"text": t("th_chart_firm_totals", lang, measure=t(titles[measure], lang).lower()),
                             "font": {"size": 14}})
    return fig


def area_counts_table(counts: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Per-NIL counts published without the points behind them (data.area_counts), with their provenance:
    one row per NIL of the city (a NIL the source does not list shows '–', not 0)."""
    names = nil_names(stats)
    by_nil = {int(d): r for d, r in zip(counts["district_id"], counts.to_dict("records"), strict=True)}
    klass = dict(zip(classes["district_id"], classes["class_name"], strict=True))
    ids = [int(i) for i in stats["id"]]
    return pd.DataFrame({
        t("col_id", lang): ids,
        t("th_col_nil", lang): [names[i] for i in ids],
        t("col_municipio", lang): stats["municipio"].astype("Int64").to_numpy(),
        t("th_col_class", lang): [klass.get(i) for i in ids],
        t("th_col_count", lang): pd.array([_int_or_none(by_nil[i]["count"]) if i in by_nil else None for i in ids],
                                          dtype="Int64"),
        t("col_year", lang): pd.array([_int_or_none(by_nil[i]["year"]) if i in by_nil else None for i in ids], dtype="Int64"),
        t("col_source", lang): [plain(by_nil[i]["source_id"]) if i in by_nil else "" for i in ids],
        t("col_trust", lang): [trust_label(by_nil[i]["trust"], lang) if i in by_nil else "" for i in ids],
    })


def area_count_rows(counts: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, lang: str, theme: str,
                    selected: set[int] | None = None) -> pd.DataFrame:
    """Per-NIL counts without points (data.area_counts) summed per Municipio and periphery class, in the long
    format of `place_counts` (so the chart shows the counts, not a zero for a theme with no point list)."""
    in_sel = stats if selected is None else stats[stats["id"].isin(list(selected))]
    by_nil = dict(zip(pd.to_numeric(counts["district_id"]).astype(int), pd.to_numeric(counts["count"]), strict=True))
    municipio = dict(zip(in_sel["id"].astype(int), in_sel["municipio"], strict=True))
    klass = dict(zip(classes["district_id"], classes["class_id"], strict=True))
    names = class_names(classes)
    rows: list[tuple[str, str, str, int]] = []
    for m in sorted({int(v) for v in in_sel["municipio"].dropna()}):
        n = sum(int(c) for i, c in by_nil.items() if i in municipio and pd.notna(municipio[i]) and int(municipio[i]) == m)
        rows.append((t("col_municipio", lang), f"{t('col_municipio', lang)} {m}", _theme_name(theme, lang), n))
    present = {klass.get(i) for i in municipio}
    for c in [c for c in class_options(classes) if c != ALL and c in present]:
        n = sum(int(v) for i, v in by_nil.items() if i in municipio and klass.get(i) == c)
        rows.append((t("th_col_class", lang), names.get(c, c), _theme_name(theme, lang), n))
    return pd.DataFrame(rows, columns=[t("th_col_grouping", lang), t("th_col_group", lang), t("th_col_theme", lang),
                                       t("th_col_count", lang)])
