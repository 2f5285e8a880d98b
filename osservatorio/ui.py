"""Page chrome shared by every page: language, title, demo banner, clear warehouse errors."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from osservatorio import queries
from osservatorio.data import BuildInfo, WarehouseError
from osservatorio.i18n import DEFAULT_LANG, LANGS, fmt_date, t
from osservatorio.settings import load_settings
from osservatorio.warehouse import WarehouseKey, key_for


@dataclass(frozen=True)
class PageContext:
    lang: str
    key: WarehouseKey
    info: BuildInfo
    map_style: str

    @property
    def built(self) -> str:
        return fmt_date(self.info.finished_at, self.lang)


def current_lang() -> str:
    """Language from the URL (?lang=en), Italian by default; unknown values fall back."""
    lang = st.query_params.get("lang", DEFAULT_LANG)
    return lang if lang in LANGS else DEFAULT_LANG


def page_start(title_key: str) -> PageContext:
    """Draw the common header; stop the page with a clear message if there is no warehouse."""
    lang = current_lang()
    choice = st.sidebar.selectbox(t("language", lang), LANGS, index=LANGS.index(lang),
                                  format_func=lambda x: {"it": "Italiano", "en": "English"}[x], key="lang_select")
    if choice != lang:
        st.query_params["lang"] = choice
        lang = choice
    st.title(t(title_key, lang))
    st.caption(t("app_subtitle", lang))
    settings = load_settings()
    try:
        with st.spinner(t("building_demo", lang)):
            key = queries.warehouse_key()
        info = queries.build_info(key)
    except WarehouseError as exc:
        if key_for(settings.warehouse) is None:
            st.error(t("no_warehouse", lang, path=settings.warehouse))
        else:
            st.error(t("bad_warehouse", lang, path=settings.warehouse, error=exc))
        st.stop()
    if info.is_demo:
        st.warning(t("demo_banner", lang), icon="⚠️")
        st.sidebar.warning(t("demo_badge", lang))
    return PageContext(lang=lang, key=key, info=info, map_style=settings.map_style)
