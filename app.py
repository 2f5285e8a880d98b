"""Router of the Osservatorio Manifattura Digitale: it only declares the pages."""

import streamlit as st

from osservatorio.i18n import t
from osservatorio.ui import current_lang

st.set_page_config(page_title=t("app_title"), page_icon="🏭", layout="wide")
lang = current_lang()
pages = [
    st.Page("pages/overview.py", title=t("page_overview", lang), url_path="panoramica", default=True),
    # indicator pages
    st.Page("pages/map.py", title=t("page_map", lang), url_path="mappa"),
    st.Page("pages/district.py", title=t("page_district", lang), url_path="quartiere"),
    st.Page("pages/periphery.py", title=t("page_periphery", lang), url_path="periferie"),
    # theme pages
    st.Page("pages/makerspaces.py", title=t("page_makerspace", lang), url_path="makerspace"),
    st.Page("pages/vacant.py", title=t("page_vacant", lang), url_path="spazi-vuoti"),
    st.Page("pages/firms.py", title=t("page_firms", lang), url_path="imprese"),
    st.Page("pages/targets.py", title=t("page_targets", lang), url_path="obiettivi"),
    # review pages
    st.Page("pages/data.py", title=t("page_data", lang), url_path="dati"),
    st.Page("pages/review.py", title=t("page_review", lang), url_path="seduta"),
]
st.navigation(pages).run()
