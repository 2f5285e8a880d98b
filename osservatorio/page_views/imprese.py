"""View code of the Imprese page: firms by programme ATECO category, by area of the territory's fine
level, over time, and the whole territory's yearly counts (ds171 layout), with the ATECO edition shown.

Pure functions on the frames of `osservatorio.queries`; area levels and labels come from the territory.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from osservatorio import maps
from osservatorio.i18n import fmt_number, reason_text, t
from osservatorio.territory import Territory
from osservatorio.views import (
    ALL,
    area_columns,
    area_label,
    area_labels,
    as_date,
    catalogue_name,
    int_or_none,
    is_count_unit,
    no_area_text,
    place_area_column,
    place_ids,
    plain,
    plain_column,
    points_geojson,
    round_column,
    separators,
    trust_label,
)

MAX_FIRM_POINTS = 1500  # point layers above this size are sampled (and the page says so)
FIRM_MAP_INDICATORS = ("firms_dm_per_1k", "firms_dm_share", "firms_dm_units", "firms_am_units", "firms_dm_avg_employees")
CURRENT_PERIOD = "corrente"  # URL value of the undated (current) period
YEAR_AXIS = {"tickformat": "d", "dtick": 1}  # data years as whole numbers (no 2,007.5)
_NO_CLASSES = pd.DataFrame({"district_id": pd.Series(dtype=int), "class_id": pd.Series(dtype=str),
                            "class_name": pd.Series(dtype=str)})


def category_labels(stored: pd.DataFrame, lang: str) -> dict[str, str]:
    """Programme category key -> label, in the order the snapshot's build stored them
    (`data.ateco_category_labels`: what the build read, never config/ateco_categories.toml on disk).

    Empty without a snapshot: the page then shows the keys."""
    if stored.empty:
        return {}
    return {str(k): str(en if lang == "en" and isinstance(en, str) and en else it)
            for k, it, en in zip(stored["category"], stored["label_it"], stored["label_en"], strict=True)}


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
        units_col: pd.array([int_or_none(u.get(k, 0 if u_total else None)) for k in keys], dtype="Int64"),
        t("th_col_units_share", lang): [round(100 * float(u.get(k, 0)) / u_total, 1) if u_total else np.nan for k in keys],
        t("th_col_avg_employees", lang): [round(float(e[k]), 2) if k in e and pd.notna(e[k]) else np.nan for k in keys],
        t("th_col_points", lang): pd.array([int_or_none(p.get(k, 0 if p_total else None)) for k in keys], dtype="Int64"),
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


def _reasons(frame: pd.DataFrame, lang: str) -> list[str]:
    """Why a value is missing, in the page language when the build stored a reason code (else the stored text)."""
    codes = frame["reason_code"] if "reason_code" in frame else pd.Series([None] * len(frame), index=frame.index)
    params = frame["reason_params"] if "reason_params" in frame else pd.Series([None] * len(frame), index=frame.index)
    return [reason_text(c, p, lang, r) for c, p, r in zip(codes, params, frame["reason"], strict=True)]


def district_values(values: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, catalogue: pd.DataFrame,
                    indicator_id: str, territory: Territory, lang: str) -> pd.DataFrame:
    """One row per fine area with the indicator value, numerator, denominator, reason and trust (for the
    choropleth and its download). The first two columns are the area id and label, the value is the one
    named by the indicator (`value_column`)."""
    v = values.assign(id=pd.to_numeric(values["area_id"], errors="coerce")).dropna(subset=["id"])
    v = v.assign(id=v["id"].astype(int)).drop_duplicates("id")
    frame = stats[["id", "name", "parent_id"]].merge(v, on="id", how="left")
    klass = dict(zip(classes["district_id"], classes["class_name"], strict=True))
    decimals = 0 if is_count_unit(catalogue, indicator_id) else 2
    return pd.DataFrame({
        t("th_col_area_id", lang, fine=territory.fine.label(lang)): frame["id"].astype(int).astype(str).to_numpy(),  # a code
        **area_columns(territory, lang, [area_label(i, n) for i, n in zip(frame["id"], frame["name"], strict=True)],
                       frame["parent_id"], classes, [klass.get(int(i)) for i in frame["id"]]),
        catalogue_name(catalogue, indicator_id, lang, with_unit=True): round_column(frame["value"], decimals).to_numpy(),
        t("th_col_numerator", lang): round_column(frame["numerator"], 2).to_numpy(),
        t("th_col_denominator", lang): round_column(frame["denominator"], 2).to_numpy(),
        t("col_reason", lang): _reasons(frame, lang),
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


def firm_table(frame: pd.DataFrame, stats: pd.DataFrame, labels: Mapping[str, str], territory: Territory,
               lang: str) -> pd.DataFrame:
    """Point-level firms as exported with the map's point layer (all of them, not the drawn sample), with their
    position (lon/lat, WGS84) so that a GIS can map the CSV. Row-wise: a chunk of the rows gives the same rows."""
    names = area_labels(stats)
    missing = no_area_text(territory, lang)
    return pd.DataFrame({
        t("col_name", lang): plain_column(frame["name"]),
        t("th_col_address", lang): plain_column(frame["address"]),
        **area_columns(territory, lang, place_area_column(frame, names, missing), frame["parent_id"], _NO_CLASSES, []),
        t("th_col_category", lang): _by_value(frame["category"], lambda c: _category_name(c, labels, lang)),
        t("th_col_ateco", lang): frame["ateco_code"].to_numpy(),
        t("th_col_ateco_edition", lang): frame["ateco_edition"].to_numpy(),
        t("th_col_employees", lang): round_column(frame["employees"], 1).to_numpy(),
        t("th_col_started_on", lang): _dates(frame["started_on"]),
        "lon": frame["lon"].round(6).to_numpy(),  # as the other point exports (Mappa's layer tables): WGS84, 6 decimals
        "lat": frame["lat"].round(6).to_numpy(),
        t("col_source", lang): frame["source_id"].to_numpy(),
        t("col_trust", lang): _by_value(frame["trust"], lambda x: trust_label(x, lang)),
        t("th_col_place_id", lang): place_ids(frame).to_numpy(),
    })


def _by_value(values: pd.Series, label: Callable[[object], str]) -> list[str]:
    """`[label(v) for v in values]`, computed once per distinct value (a register has a handful of them)."""
    seen: dict[object, str] = {}
    out = []
    for value in values.tolist():
        try:
            out.append(seen[value])
        except KeyError:
            out.append(seen.setdefault(value, label(value)))
        except TypeError:  # unhashable: as it is
            out.append(label(value))
    return out


def _dates(values: pd.Series) -> list[object]:
    """`as_date` of every value; a naive datetime64 column converted at once (NaT where missing, as as_date gives)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype) and getattr(values.dtype, "tz", None) is None:
        days: list[date] = values.dt.date.tolist()
        return [pd.NaT if missing else day for day, missing in zip(days, values.isna().tolist(), strict=True)]
    return [as_date(d) for d in values]


def firm_points_geojson(frame: pd.DataFrame) -> dict:
    """The firm point layer as GeoJSON, feature id = the place id of `firm_table` (its download joins on it)."""
    return points_geojson(frame.assign(_id=place_ids(frame).to_numpy()), "_id")


def firms_map(geojson: Mapping[str, Any], table: pd.DataFrame, value_column: str, points: pd.DataFrame | None, lang: str,
              map_style: str, points_name: str = "") -> go.Figure:
    """Choropleth of the district table's indicator column (`value_column`) with an optional firm point layer."""
    id_col, label_col = table.columns[:2]
    value_col = value_column
    frame = table.rename(columns={id_col: "id"})
    frame[label_col] = [html.escape(plain(v)) for v in frame[label_col]]  # area names from a file: text in the hover
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
        t("th_col_avg_employees", lang): round_column(units["avg_employees"], 2).to_numpy(),
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
                      xaxis=YEAR_AXIS, separators=separators(lang),
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
        t("th_col_employees", lang): round_column(points["employees"], 1).to_numpy(),
    })
    fig = go.Figure()
    dated = points[points["start_year"].notna()]
    for k in keys:
        part = dated[dated["category"] == k].sort_values("start_year")
        fig.add_trace(go.Scatter(x=part["start_year"].astype(int).tolist(), y=part["firms"].tolist(),
                                 name=_category_name(k, labels, lang), mode="lines+markers"))
    fig.update_layout(height=340, margin={"l": 0, "r": 0, "t": 30, "b": 0}, yaxis_title=t("th_col_points", lang),
                      legend={"orientation": "h", "y": -0.2}, xaxis=YEAR_AXIS, separators=separators(lang),
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


# --- Firm counts of the whole territory (ds171 layout: firm_totals) ---------------------------------


FIRM_TOTAL_MEASURES = ("firms", "units", "employees_units")


def firm_totals_table(totals: pd.DataFrame, labels: Mapping[str, str], lang: str) -> pd.DataFrame:
    """Firms, local units and employees per programme category and year for the whole territory (no area detail)."""
    keys = _category_order(list(totals["category"]), labels)
    order = {k: i for i, k in enumerate(keys)}
    frame = totals.assign(_o=[order.get(c, len(order)) for c in totals["category"]]).sort_values(["year", "_o"])
    return pd.DataFrame({
        t("col_year", lang): frame["year"].astype(int).to_numpy(),
        t("th_col_category", lang): [_category_name(c, labels, lang) for c in frame["category"]],
        t("th_col_firms", lang): pd.array([int_or_none(v) for v in frame["firms"]], dtype="Int64"),
        t("th_col_units", lang): pd.array([int_or_none(v) for v in frame["units"]], dtype="Int64"),
        t("th_col_employees_firms", lang): round_column(frame["employees_firms"], 0).to_numpy(),
        t("th_col_employees_units", lang): round_column(frame["employees_units"], 0).to_numpy(),
        t("th_col_codes", lang): frame["codes"].astype("Int64").to_numpy(),
        t("col_trust", lang): [", ".join(trust_label(x.strip(), lang) for x in str(v).split(",")) for v in frame["trust"]],
    })


def firm_totals_chart(totals: pd.DataFrame, labels: Mapping[str, str], lang: str, measure: str = "units",
                      territory_name: str = "") -> go.Figure:
    """One line per programme category over the data years (whole territory), markers only for a single year."""
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
                      legend={"orientation": "h", "y": -0.2}, separators=separators(lang),
                      title={"text": t("th_chart_firm_totals", lang, measure=t(titles[measure], lang).lower(),
                                       name=territory_name), "font": {"size": 14}})
    return fig
