"""View code of the Obiettivi page: targets (status, the rule in words, progress and trend toward the
deadline) and the evaluation section (which indicators can be tried on the finest level, the action's
treated areas in words, the periphery classes of the areas, the actions that cannot be evaluated).
Pure: no Streamlit (calibration views are in osservatorio.calibration)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from osservatorio import maps
from osservatorio.evaluation import ActionRef, NotEvaluable, catalogue_levels
from osservatorio.i18n import fmt_date, fmt_number, t
from osservatorio.territory import TERRITORY_LEVEL, Level, Territory
from osservatorio.views import (
    ALL,
    area_label,
    as_date,
    catalogue_name,
    parent_name,
    parent_options,
    plain,
    round_column,
)

MAX_AREAS_SHOWN = 6


def fine_indicators(catalogue: pd.DataFrame, fine: Level) -> list[str]:
    """Indicators of the snapshot computed at the territory's finest level (those the method can be tried on)."""
    return [str(i) for i, lv in zip(catalogue["indicator_id"], catalogue["levels"], strict=True)
            if fine.id in catalogue_levels(lv)]


def treated_lines(action: ActionRef, area_names: dict[int, str], fine: Level, lang: str) -> list[str]:
    """The action's areas, how they were found and its start, one plain line each (area names come from files)."""
    areas = action.treated_areas
    shown = ", ".join(f"{a} · {area_names.get(a, '–')}" for a in areas[:MAX_AREAS_SHOWN])
    more = len(areas) - MAX_AREAS_SHOWN
    return [plain(line) for line in (
        f"{t('ev_areas', lang, fine=fine.plural(lang))}: {shown}{f' (+{more})' if more > 0 else ''}",
        "; ".join(t(f"ev_basis_{b}", lang) for b in action.basis),
        f"{t('ev_start', lang)}: {fmt_date(action.start, lang)}")]


def periphery_classes(groups: pd.DataFrame) -> dict[int, str]:
    """Area id -> periphery class name of a snapshot's district groups ({} without classes)."""
    if groups.empty:
        return {}
    klass = groups[groups["group_level"] == "periphery_class"]
    return {int(n): str(g) for n, g in zip(klass["district_id"], klass["group_name"], strict=True)}


def not_evaluable_table(items: list[NotEvaluable], lang: str) -> pd.DataFrame:
    """The actions that cannot be evaluated, with the reason in words."""
    return pd.DataFrame({t("ev_action", lang): [f"{n.action_id} · {plain(n.title)}" for n in items],
                         t("ev_col_reason", lang): [t(f"ev_why_{n.reason}", lang) for n in items]})


# --------------------------------------------------------------------------------------------------
# Targets: status, rule in words, progress and trend

STATUS_ORDER = ("on_track", "at_risk", "off_track", "no_data")
STATUS_BADGE = {  # emoji for table cells, colour for st.badge: blue / orange / dark red (colour-blind safe, issue 15)
    "on_track": ("🔵", "blue"),
    "at_risk": ("🟠", "orange"),
    "off_track": ("🔴", "red"),
    "no_data": ("⚪", "gray"),
}
STATUS_COLORS = maps.STATUS_COLORS  # the same colours as the maps and the board pack



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


def area_names(stats: pd.DataFrame, groups: pd.DataFrame, lang: str,
               territory: Territory | None = None) -> dict[tuple[str, str], str]:
    """(level, area_id) -> display name for every area a target can refer to: the whole territory, the areas
    of its fine level ('NIL 12 · Bovisa'), of its parent level ('Municipio 3') and the groups (periphery
    classes, priority areas). Without `territory` only the groups are named (the rest shows level and id)."""
    out: dict[tuple[str, str], str] = {}
    if territory is not None:
        out[(TERRITORY_LEVEL, territory.id)] = territory.name(lang)
        fine = territory.fine.label(lang)
        for i, n in zip(stats["id"], stats["name"], strict=True):
            out[(territory.fine.id, str(int(i)))] = f"{fine} {area_label(i, n)}"
        if territory.parent is not None:
            for m in parent_options(stats)[1:]:
                out[(territory.parent.id, m)] = parent_name(territory, int(m), lang)
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


def target_explanation(row: Mapping[str, Any], as_of: date | None, lang: str) -> str:
    """The status rule applied to one target, in words and in the page's language.

    Built from the stored values (baseline, expected, current, target, deadline, status): it
    explains the ETL's verdict, it does not recompute it.
    """
    status = str(row["status"])
    verdict = t(f"th_tstatus_{status}", lang) if status in STATUS_BADGE else status
    deadline = as_date(row["deadline"])
    base_date = as_date(row.get("baseline_date"))
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
        t("th_col_indicator", lang): [catalogue_name(catalogue, i, lang, with_unit=True) for i in frame["indicator_id"]],
        t("th_col_area", lang): [_area(lv, a, names) for lv, a in zip(frame["level"], frame["area_id"], strict=True)],
        t("th_col_baseline", lang): round_column(frame["baseline"], 2).to_numpy(),
        t("th_col_baseline_date", lang): [as_date(d) for d in frame["baseline_date"]],
        t("th_col_current", lang): round_column(frame["current_value"], 2).to_numpy(),
        t("th_col_expected", lang): round_column(frame["expected_value"], 2).to_numpy(),
        t("th_col_target", lang): round_column(frame["target_value"], 2).to_numpy(),
        t("th_col_deadline", lang): [as_date(d) for d in frame["deadline"]],
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
    labels = [f"{tid} · {catalogue_name(catalogue, i, lang)} · {_area(lv, a, names)}"
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
    base, base_date, deadline = row.get("baseline"), as_date(row.get("baseline_date")), as_date(row["deadline"])
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
        t("th_col_date", lang): [as_date(d) for d in history["created_at"]],
        t("th_col_point", lang): t("th_point_snapshot", lang),
        t("th_col_current", lang): round_column(history["current_value"], 4).to_numpy(),
        t("th_col_expected", lang): round_column(history["expected_value"], 4).to_numpy(),
        t("th_col_target", lang): round_column(history["target_value"], 4).to_numpy(),
        t("col_status", lang): [status_text(s, lang) for s in history["status"]],
    })
    path = []
    if row.get("baseline") is not None and pd.notna(row.get("baseline")) and as_date(row.get("baseline_date")):
        path.append((as_date(row.get("baseline_date")), t("th_point_baseline", lang), float(row["baseline"])))
    path.append((as_date(row["deadline"]), t("th_point_deadline", lang), float(row["target_value"])))
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
    name = catalogue_name(catalogue, str(row["indicator_id"]), lang)
    return f"{row['target_id']} · {name} · {_area(row['level'], row['area_id'], names)}"


def as_of_date(value: object) -> date | None:
    """A snapshot's creation time as a date (None when unknown)."""
    return as_date(value)
