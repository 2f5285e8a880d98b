"""Router of the Osservatorio Manifattura Digitale: it only declares the pages."""

import streamlit as st

from osservatorio.i18n import t
from osservatorio.ui import current_lang

lang = current_lang()
st.set_page_config(page_title=t("app_title", lang), page_icon="🏭", layout="wide")
# Each url_path equals its file name: Streamlit first matches a deep link (/mappa?...) against the
# files in pages/ before st.navigation runs, and shows "Page not found" when they differ.
overview = st.Page("pages/panoramica.py", title=t("page_overview", lang), url_path="panoramica")


def _home() -> None:
    """The root URL opens the overview at its own address, so /panoramica is a real deep link too."""
    st.switch_page(overview, query_params=st.query_params.to_dict())


pages = [
    st.Page(_home, title=t("page_overview", lang), url_path="home", default=True, visibility="hidden"),
    overview,
    # indicator pages
    st.Page("pages/mappa.py", title=t("page_map", lang), url_path="mappa"),
    st.Page("pages/quartiere.py", title=t("page_district", lang), url_path="quartiere"),
    st.Page("pages/periferie.py", title=t("page_periphery", lang), url_path="periferie"),
    # theme pages
    st.Page("pages/makerspace.py", title=t("page_makerspace", lang), url_path="makerspace"),
    st.Page("pages/spazi_vuoti.py", title=t("page_vacant", lang), url_path="spazi_vuoti"),
    st.Page("pages/imprese.py", title=t("page_firms", lang), url_path="imprese"),
    st.Page("pages/obiettivi.py", title=t("page_targets", lang), url_path="obiettivi"),
    st.Page("pages/programma.py", title=t("page_programme", lang), url_path="programma"),
    # review pages
    st.Page("pages/dati.py", title=t("page_data", lang), url_path="dati"),
    st.Page("pages/seduta.py", title=t("page_review", lang), url_path="seduta"),
    st.Page("pages/carica.py", title=t("page_upload", lang), url_path="carica"),
]
st.navigation(pages).run()
