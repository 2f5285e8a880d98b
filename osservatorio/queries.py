"""The app's one door to the warehouse: a cached read-only connection and cached queries.

Each query opens its own cursor on the shared connection. Cache keys include the warehouse
file identity, so a new ETL build is picked up and an unchanged one is never re-queried.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import streamlit as st

from osservatorio import data
from osservatorio.settings import load_settings
from osservatorio.warehouse import WarehouseKey, ensure_demo, key_for


@st.cache_resource(show_spinner=False)
def _connect(key: WarehouseKey) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(key.path, read_only=True)


def warehouse_key() -> WarehouseKey:
    """Identity of the warehouse to read; builds the demo bundle on a fresh machine.

    Raises data.WarehouseError when there is none and the automatic demo is off.
    """
    settings = load_settings()
    key = key_for(settings.warehouse)
    if key is None and settings.auto_demo:
        ensure_demo(settings.warehouse)
        key = key_for(settings.warehouse)
    if key is None:
        raise data.WarehouseError(str(settings.warehouse))
    return key


def _cursor(key: WarehouseKey) -> duckdb.DuckDBPyConnection:
    try:
        return _connect(key).cursor()
    except duckdb.Error as exc:
        raise data.WarehouseError(f"{key.path}: {exc}") from exc


@st.cache_data(show_spinner=False)
def build_info(key: WarehouseKey) -> data.BuildInfo:
    return data.build_info(_cursor(key))


@st.cache_data(show_spinner=False)
def district_stats(key: WarehouseKey, level: str) -> pd.DataFrame:
    return data.district_stats(_cursor(key), level)


@st.cache_data(show_spinner=False)
def city_summary(key: WarehouseKey) -> dict[str, float | int | None]:
    return data.city_summary(_cursor(key))


@st.cache_data(show_spinner=False)
def map_geojson(key: WarehouseKey, level: str) -> dict:
    return data.map_geojson(_cursor(key), level)


@st.cache_data(show_spinner=False)
def sources(key: WarehouseKey) -> pd.DataFrame:
    return data.sources(_cursor(key))


@st.cache_data(show_spinner=False)
def rejects(key: WarehouseKey, source_id: str | None = None) -> pd.DataFrame:
    return data.rejects(_cursor(key), source_id)
