"""The app's one door to the warehouse: a cached read-only connection and cached queries.

Each query opens its own cursor on the shared connection. Cache keys include the warehouse
file identity, so a new ETL build is picked up and an unchanged one is never re-queried.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from osservatorio import data
from osservatorio.settings import PROJECT_ROOT, load_settings
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


@st.cache_data(show_spinner=False)
def snapshots(key: WarehouseKey) -> pd.DataFrame:
    return data.snapshots(_cursor(key))


@st.cache_data(show_spinner=False)
def catalogue(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return data.catalogue(_cursor(key), snapshot_id)


@st.cache_data(show_spinner=False)
def indicator_values(key: WarehouseKey, snapshot_id: str, indicator_id: str, level: str,
                     all_periods: bool = False) -> pd.DataFrame:
    return data.indicator_values(_cursor(key), snapshot_id, indicator_id, level, all_periods)


@st.cache_data(show_spinner=False)
def area_profile(key: WarehouseKey, snapshot_id: str, areas: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    return data.area_profile(_cursor(key), snapshot_id, list(areas))


@st.cache_data(show_spinner=False)
def indicator_history(key: WarehouseKey, indicator_id: str, level: str, area_id: str) -> pd.DataFrame:
    return data.indicator_history(_cursor(key), indicator_id, level, area_id)


@st.cache_data(show_spinner=False)
def indicator_changes(key: WarehouseKey, snapshot_id: str, previous_id: str, level: str) -> pd.DataFrame:
    return data.indicator_changes(_cursor(key), snapshot_id, previous_id, level)


@st.cache_data(show_spinner=False)
def district_groups(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return data.district_groups(_cursor(key), snapshot_id)


@st.cache_data(show_spinner=False)
def taxonomy_changes(key: WarehouseKey) -> pd.DataFrame:
    return data.taxonomy_changes(_cursor(key))


@st.cache_data(show_spinner=False)
def target_status(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return data.target_status(_cursor(key), snapshot_id)


@st.cache_data(show_spinner=False)
def target_history(key: WarehouseKey, target_id: str) -> pd.DataFrame:
    return data.target_history(_cursor(key), target_id)


@st.cache_data(show_spinner=False)
def places(key: WarehouseKey, theme: str, nil_id: int | None = None) -> pd.DataFrame:
    return data.places(_cursor(key), theme, nil_id)


@st.cache_data(show_spinner=False)
def firm_units_by_category(key: WarehouseKey, nil_id: int | None = None) -> pd.DataFrame:
    return data.firm_units_by_category(_cursor(key), nil_id)


@st.cache_data(show_spinner=False)
def firm_points_by_category(key: WarehouseKey, nil_id: int | None = None) -> pd.DataFrame:
    return data.firm_points_by_category(_cursor(key), nil_id)


# --- Indicator pages (map, district, periphery, overview) ----------------------------------------

@st.cache_data(show_spinner=False)
def firm_cells(key: WarehouseKey, cell_m: float = data.FIRM_CELL_M) -> pd.DataFrame:
    return data.firm_cells(_cursor(key), cell_m)


@st.cache_data(show_spinner=False)
def place_counts(key: WarehouseKey) -> pd.DataFrame:
    return data.place_counts(_cursor(key))


@st.cache_data(show_spinner=False)
def district_group_detail(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return data.district_group_detail(_cursor(key), snapshot_id)


@st.cache_data(show_spinner=False)
def taxonomy_changes_detail(key: WarehouseKey) -> pd.DataFrame:
    return data.taxonomy_changes_detail(_cursor(key))


@st.cache_data(show_spinner=False)
def _toml(path: str, stamp: int) -> dict:
    return data.read_toml(path)


def periphery_config() -> dict:
    """config/periphery.toml as currently on disk (re-read only when the file changes); {} if absent."""
    path = PROJECT_ROOT / "config" / "periphery.toml"
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    return _toml(str(path), stamp)


@st.cache_data(show_spinner=False)
def firm_editions(key: WarehouseKey) -> pd.DataFrame:
    return data.firm_editions(_cursor(key))


@st.cache_data(show_spinner=False)
def snapshots_if_any(key: WarehouseKey) -> pd.DataFrame:
    return data.snapshots_if_any(_cursor(key))


@st.cache_data(show_spinner=False)
def vacant_near_makers(key: WarehouseKey, peripheral: frozenset[int]) -> pd.DataFrame:
    """Per-place detail of the ETL's 'vacant near makers' count (projected distances: cached)."""
    from osservatorio import theme_views

    return theme_views.near_makers(places(key, "vacant"), places(key, "makerspace"), places(key, "firm"),
                                   set(peripheral))


class CachedReader:
    """review.WarehouseReader (used by the review page and the board pack) over the cached queries."""

    def __init__(self, key: WarehouseKey) -> None:
        self.key = key

    def build_info(self) -> data.BuildInfo:
        return build_info(self.key)

    def snapshots(self) -> pd.DataFrame:
        return snapshots_if_any(self.key)

    def catalogue(self, snapshot_id: str) -> pd.DataFrame:
        return catalogue(self.key, snapshot_id)

    def indicator_changes(self, snapshot_id: str, previous_id: str, level: str) -> pd.DataFrame:
        return indicator_changes(self.key, snapshot_id, previous_id, level)

    def indicator_values(self, snapshot_id: str, indicator_id: str, level: str) -> pd.DataFrame:
        return indicator_values(self.key, snapshot_id, indicator_id, level)

    def target_status(self, snapshot_id: str) -> pd.DataFrame:
        return target_status(self.key, snapshot_id)

    def taxonomy_changes(self) -> pd.DataFrame:
        return taxonomy_changes_detail(self.key)

    def sources(self) -> pd.DataFrame:
        return sources(self.key)

    def places(self, theme: str) -> pd.DataFrame:
        return places(self.key, theme)

    def district_stats(self, level: str) -> pd.DataFrame:
        return district_stats(self.key, level)

    def district_groups(self, snapshot_id: str) -> pd.DataFrame:
        return district_groups(self.key, snapshot_id)

    def map_geojson(self, level: str) -> dict:
        return map_geojson(self.key, level)


@st.cache_resource(show_spinner=False, max_entries=128)
def figure(fingerprint: tuple, _build: Callable[[], go.Figure]) -> dict:
    """A figure as a plain dict, built once per fingerprint and shared read-only.

    The fingerprint must name everything the figure depends on (warehouse key, snapshot,
    filters, language, map style, weights); `_build` is not hashed. Building a plotly map with
    its validation costs tens of ms per rerun; handing Streamlit the dict costs a few.
    """
    return _build().to_dict()


# --- Source states, city-wide firm counts, per-district counts, value coverage (schema 2) ----------

@st.cache_data(show_spinner=False)
def source_catalogue(key: WarehouseKey) -> pd.DataFrame:
    return data.source_catalogue(_cursor(key))


@st.cache_data(show_spinner=False)
def area_counts(key: WarehouseKey, theme: str, level: str = "nil") -> pd.DataFrame:
    return data.area_counts(_cursor(key), theme, level)


@st.cache_data(show_spinner=False)
def firm_totals_by_category(key: WarehouseKey) -> pd.DataFrame:
    return data.firm_totals_by_category(_cursor(key))


@st.cache_data(show_spinner=False)
def indicator_coverage(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return data.indicator_coverage(_cursor(key), snapshot_id)


@st.cache_data(show_spinner=False)
def nil_value_counts(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return data.nil_value_counts(_cursor(key), snapshot_id)


@st.cache_data(show_spinner=False)
def place_counts_by_nil(key: WarehouseKey) -> pd.DataFrame:
    return data.place_counts_by_nil(_cursor(key))
