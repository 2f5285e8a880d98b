"""Shared UI-side code: settings, translations, warehouse queries and map builders.

Only `queries` and `ui` import Streamlit; the rest is plain Python, testable without it.
"""
