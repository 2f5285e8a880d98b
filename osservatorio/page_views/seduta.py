"""View code of the Seduta page: the actions awaiting the board's decision, how they are offered in the form,
the areas a note can be attached to. Pure: no Streamlit (the comparison is osservatorio.review, the minutes
osservatorio.boardpack)."""

from __future__ import annotations

from collections.abc import Sequence

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
