"""View code of one page each: `page_views.<page>` is what only pages/<page>.py uses (pure, no Streamlit)."""
