"""View code of the Obiettivi page's evaluation section: which indicators can be tried on the finest level, the
action's treated areas in words, the periphery classes of the areas, the actions that cannot be evaluated.
Pure: no Streamlit (targets and calibration views are in osservatorio.theme_views and osservatorio.calibration)."""

from __future__ import annotations

import pandas as pd

from osservatorio.evaluation import ActionRef, NotEvaluable, catalogue_levels
from osservatorio.i18n import fmt_date, t
from osservatorio.territory import Level
from osservatorio.views import plain

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
