"""Router of the Osservatorio Manifattura Digitale: it only declares the pages."""

import streamlit as st

from osservatorio.i18n import t
from osservatorio.ui import current_lang

st.set_page_config(page_title=t("app_title"), page_icon="🏭", layout="wide")
lang = current_lang()
pages = [
    st.Page("pages/overview.py", title=t("page_overview", lang), url_path="panoramica", default=True),
    # indicator pages
    # theme pages
    # review pages
    st.Page("pages/data.py", title=t("page_data", lang), url_path="dati"),
]
st.navigation(pages).run()
