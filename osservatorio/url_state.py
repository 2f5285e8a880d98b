"""URL-backed multi-choice (a row of checkboxes whose state lives in ?param=a,b), so a link reopens the view.

The single-choice counterpart is `osservatorio.ui.url_choice`. Values from the URL are only ever
compared with an allow-list: nothing is evaluated or unpickled, unknown values are dropped with a
visible message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from osservatorio.i18n import t
from osservatorio.views import md_text

SEPARATOR = ","
MAX_SHOWN = 60  # characters of a rejected value echoed back to the user


def parse_multi(raw: str | None, allowed: Sequence[str], default: Sequence[str]) -> tuple[list[str], list[str]]:
    """(chosen, rejected) from a URL value such as "makerspace,vacant".

    `None` (parameter absent) gives the default; "" gives nothing chosen. The chosen values keep the
    order of `allowed` and appear once; unknown values are returned in `rejected` (in URL order).
    """
    if raw is None:
        wanted = [d for d in default if d in allowed]
        return [a for a in allowed if a in wanted], []
    parts = [p.strip() for p in raw.split(SEPARATOR)]
    parts = [p for p in parts if p]
    rejected = [p for p in parts if p not in allowed]
    return [a for a in allowed if a in parts], rejected


def format_multi(chosen: Sequence[str]) -> str:
    """The URL value for a set of choices ("" when none)."""
    return SEPARATOR.join(chosen)


def url_checkboxes(label: str, options: Sequence[str], param: str, lang: str, default: Sequence[str] = (),
                   format_func: Callable[[str], str] = str, help: str | None = None) -> list[str]:
    """A horizontal row of checkboxes (one per option) whose state is kept in ?param=a,b.

    Returns the chosen options in `options` order. Unknown URL values are dropped with an st.info.
    The URL is written back only when the choice differs from the default or the link already
    carried the parameter, so plain links stay short.
    """
    allowed = list(options)
    if not allowed:
        return []
    chosen, rejected = parse_multi(st.query_params.get(param), allowed, default)
    if rejected:
        shown = SEPARATOR.join(rejected)[:MAX_SHOWN]
        fallback = ", ".join(format_func(c) for c in chosen) or t("none_selected", lang)
        st.info(t("url_value_unknown", lang, param=md_text(param), value=md_text(shown), fallback=md_text(fallback)))
    st.markdown(f"**{label}**", help=help)
    result: list[str] = []
    with st.container(horizontal=True, gap="medium", key=f"url_{param}_row"):
        for option in allowed:
            if st.checkbox(format_func(option), value=option in chosen, key=f"url_{param}_{option}"):
                result.append(option)
    default_set = [a for a in allowed if a in default]
    if result != default_set or param in st.query_params:
        st.query_params[param] = format_multi(result)
    return result
