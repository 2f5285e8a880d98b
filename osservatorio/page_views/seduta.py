"""View code of the Seduta page: the actions awaiting the board's decision, how they are offered in the form,
the areas a note can be attached to. Pure: no Streamlit (the comparison is osservatorio.review, the minutes
osservatorio.boardpack)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from osservatorio.i18n import t
from osservatorio.programme import line_name
from osservatorio.programme_store import DECIDABLE, Action
from osservatorio.review import plain_text
from osservatorio.territory import Territory


def waiting_actions(actions: Sequence[Action]) -> list[Action]:
    """Actions of the register awaiting a decision of the board (proposed or postponed), by id."""
    return sorted((a for a in actions if a.status in DECIDABLE), key=lambda a: a.action_id)


def action_choices(actions: Sequence[Action]) -> tuple[dict[str, str], dict[int, int]]:
    """(action id as text -> label, action id -> the version the form is drawn on: a decision made on an older
    version than the stored one is refused by the store)."""
    return ({str(a.action_id): f"{a.action_id} · {plain_text(a.title)}" for a in actions},
            {a.action_id: a.version for a in actions})


def note_area_refs(names: dict[str, str], territory: Territory) -> list[str]:
    """'<finest level id>:<area id>' of every area of the finest level (a note's target), by id."""
    return [f"{territory.fine.id}:{i}" for i in sorted((k for k in names if k.isdigit()), key=int)]


def waiting_table(actions: Sequence[Action], line_frame: pd.DataFrame, index: pd.DataFrame, lang: str,
                  territory: Territory | None = None) -> pd.DataFrame:
    """What the board needs to decide, narrow enough for the page (places in view): no., action, status,
    line, places, funding, allocated."""
    from osservatorio.programme import place_label

    return pd.DataFrame({
        t("pg_col_id", lang): [a.action_id for a in actions],
        t("pg_col_action", lang): [plain_text(a.title) for a in actions],
        t("pg_col_status", lang): [t(f"pg_status_{a.status}", lang) for a in actions],
        t("pg_col_line", lang): [line_name(line_frame, a.line, lang) for a in actions],
        t("pg_col_places", lang): ["; ".join(place_label(p.kind, p.ref, index, lang, territory) for p in a.places) or "–"
                                   for a in actions],
        t("pg_col_funding", lang): [t(f"pg_fund_{a.funding_source}", lang) for a in actions],
        t("pg_col_allocated", lang): [a.budget_allocated for a in actions],
    })
