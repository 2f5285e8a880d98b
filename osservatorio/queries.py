"""The app's one door to the warehouse: leased cursors on one read-only connection, and cached queries.

Each query runs on its own cursor of the current build (`_q`, osservatorio.warehouse.Registry:
a new build is switched to without a restart, the old connection closed first). Cache keys include the warehouse
file identity, so a new ETL build is picked up and an unchanged one is never re-queried.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from osservatorio import data, warehouse
from osservatorio.exports import ChunkedFrame
from osservatorio.settings import load_settings
from osservatorio.territory import Territory
from osservatorio.warehouse import REGISTRY, NoWarehouse, WarehouseKey, ensure_warehouse, key_for

T = TypeVar("T")


def warehouse_key(territory_id: str | None = None) -> WarehouseKey:
    """Identity of a warehouse on disk (one os.stat per run); builds the default one on a fresh machine.

    `territory_id` None is the default warehouse (settings.warehouse); another id is the warehouse of
    that territory beside it (`warehouse-<id>.duckdb`, see `territories`). A missing default file is
    built from the committed bundle (the demo without it) unless the app is read-only or
    OSSERVATORIO_AUTO_DEMO=0; other territories are built by `python -m etl build --territory ID`.
    Raises data.WarehouseError (warehouse.NoWarehouse, warehouse.BadWarehouse) when there is nothing
    usable: the page shows what to do.
    """
    settings = load_settings()
    path = settings.warehouse
    if territory_id is not None:
        chosen = next((a for a in territories() if a.territory_id == territory_id), None)
        if chosen is None:
            raise NoWarehouse(str(warehouse.sibling_path(settings.warehouse, territory_id)))
        if not chosen.is_default:
            path = Path(chosen.key.path)
    key = key_for(path)
    if key is None and path == settings.warehouse and settings.auto_demo and not settings.read_only:
        ensure_warehouse(settings.warehouse)
        key = key_for(settings.warehouse)
    if key is None:
        REGISTRY.forget(path)  # keep no handle on a deleted file
        raise NoWarehouse(str(path))
    before = REGISTRY.current_key(path)
    REGISTRY.check(key)  # switches to a new build (closing the old one first); BadWarehouse if unusable
    if before is not None and REGISTRY.current_key(path) != before:
        st.cache_data.clear()  # results of the old build are never asked for again: free them
    return key


def territories() -> list[warehouse.Available]:
    """The territories the app can show: one per usable warehouse (the default first), names from each build."""
    return warehouse.available(load_settings().warehouse)


def _q(key: WarehouseKey, query: Callable[..., T], *args: object) -> T:
    """Run one osservatorio.data query on a leased cursor of the current build of `key.path`."""
    with REGISTRY.lease(key) as cursor:
        return query(cursor, *args)


def _cursor(key: WarehouseKey) -> duckdb.DuckDBPyConnection:
    """A cursor whose lease ends when it is garbage-collected; prefer `_q(key, data.x, ...)`."""
    try:
        return REGISTRY.cursor(key)
    except duckdb.Error as exc:
        raise data.WarehouseError(f"{key.path}: {exc}") from exc


@st.cache_data(show_spinner=False)
def provenance(key: WarehouseKey) -> pd.DataFrame:
    """Loaded official sources with attribution and licence (for the line every page shows)."""
    return _q(key, warehouse.provenance)


@st.cache_data(show_spinner=False)
def build_info(key: WarehouseKey) -> data.BuildInfo:
    return _q(key, data.build_info)


@st.cache_data(show_spinner=False)
def territory(key: WarehouseKey) -> Territory:
    return _q(key, data.territory)


@st.cache_data(show_spinner=False)
def district_stats(key: WarehouseKey, level: str) -> pd.DataFrame:
    return _q(key, data.district_stats, level)


@st.cache_data(show_spinner=False)
def territory_summary(key: WarehouseKey) -> dict[str, float | int | str | None]:
    return _q(key, data.territory_summary)




@st.cache_data(show_spinner=False)
def map_geojson(key: WarehouseKey, level: str) -> dict:
    return _q(key, data.map_geojson, level)


@st.cache_data(show_spinner=False)
def sources(key: WarehouseKey) -> pd.DataFrame:
    return _q(key, data.sources)


@st.cache_data(show_spinner=False)
def rejects(key: WarehouseKey, source_id: str | None = None) -> pd.DataFrame:
    return _q(key, data.rejects, source_id)


@st.cache_data(show_spinner=False)
def snapshots(key: WarehouseKey) -> pd.DataFrame:
    return _q(key, data.snapshots)


@st.cache_data(show_spinner=False)
def periphery_groups(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return _q(key, data.periphery_groups, snapshot_id)


@st.cache_data(show_spinner=False)
def scoring_weights(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return _q(key, data.scoring_weights, snapshot_id)


@st.cache_data(show_spinner=False)
def ateco_category_labels(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return _q(key, data.ateco_category_labels, snapshot_id)


@st.cache_data(show_spinner=False)
def catalogue(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return _q(key, data.catalogue, snapshot_id)


@st.cache_data(show_spinner=False)
def indicator_values(key: WarehouseKey, snapshot_id: str, indicator_id: str, level: str,
                     all_periods: bool = False) -> pd.DataFrame:
    return _q(key, data.indicator_values, snapshot_id, indicator_id, level, all_periods)


@st.cache_data(show_spinner=False)
def area_profile(key: WarehouseKey, snapshot_id: str, areas: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    return _q(key, data.area_profile, snapshot_id, list(areas))


@st.cache_data(show_spinner=False)
def indicator_history(key: WarehouseKey, indicator_id: str, level: str, area_id: str) -> pd.DataFrame:
    return _q(key, data.indicator_history, indicator_id, level, area_id)


@st.cache_data(show_spinner=False)
def indicator_changes(key: WarehouseKey, snapshot_id: str, previous_id: str, level: str) -> pd.DataFrame:
    return _q(key, data.indicator_changes, snapshot_id, previous_id, level)


@st.cache_data(show_spinner=False)
def district_groups(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return _q(key, data.district_groups, snapshot_id)


@st.cache_data(show_spinner=False)
def taxonomy_changes(key: WarehouseKey) -> pd.DataFrame:
    return _q(key, data.taxonomy_changes)


@st.cache_data(show_spinner=False)
def target_status(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return _q(key, data.target_status, snapshot_id)


@st.cache_data(show_spinner=False)
def target_history(key: WarehouseKey, target_id: str) -> pd.DataFrame:
    return _q(key, data.target_history, target_id)


@st.cache_data(show_spinner=False)
def places(key: WarehouseKey, theme: str, district_id: int | None = None) -> pd.DataFrame:
    return _q(key, data.places, theme, district_id)


@st.cache_data(show_spinner=False)
def firm_points_located(key: WarehouseKey, district_id: int | None = None, category: str | None = None) -> tuple[int, int]:
    return _q(key, data.firm_points_located, district_id, category)


@st.cache_data(show_spinner=False, max_entries=64)
def firm_points_sample(key: WarehouseKey, district_id: int | None, category: str | None, limit: int) -> pd.DataFrame:
    return _q(key, data.firm_points_sample, district_id, category, limit)


def firm_points_loader(key: WarehouseKey, district_id: int | None, category: str | None,
                       rows: int | None = None) -> ChunkedFrame:
    """Every firm point of the selection, read only when a download is asked for (not cached: a regional
    register's rows are not kept in the server's memory): called, the whole frame (`data.firm_points`);
    `.chunks()`, the same rows in chunks of about 50,000 on a cursor leased until they are read
    (`data.firm_points_chunks`), for the CSV zips."""
    def chunks() -> Iterator[pd.DataFrame]:
        with REGISTRY.lease(key) as cursor:
            yield from data.firm_points_chunks(cursor, district_id, category)

    return ChunkedFrame(chunks, rows, whole=lambda: _q(key, data.firm_points, district_id, category))


@st.cache_data(show_spinner=False)
def firm_units_by_category(key: WarehouseKey, district_id: int | None = None) -> pd.DataFrame:
    return _q(key, data.firm_units_by_category, district_id)


@st.cache_data(show_spinner=False)
def firm_points_by_category(key: WarehouseKey, district_id: int | None = None) -> pd.DataFrame:
    return _q(key, data.firm_points_by_category, district_id)


# --- Indicator pages (map, district, periphery, overview) ----------------------------------------

@st.cache_data(show_spinner=False)
def firm_cells(key: WarehouseKey, cell_m: float = data.FIRM_CELL_M) -> pd.DataFrame:
    return _q(key, data.firm_cells, cell_m)


@st.cache_data(show_spinner=False)
def place_counts(key: WarehouseKey) -> pd.DataFrame:
    return _q(key, data.place_counts)


@st.cache_data(show_spinner=False)
def district_group_detail(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return _q(key, data.district_group_detail, snapshot_id)


@st.cache_data(show_spinner=False)
def taxonomy_changes_detail(key: WarehouseKey) -> pd.DataFrame:
    return _q(key, data.taxonomy_changes_detail)


@st.cache_data(show_spinner=False)
def place_proximity(key: WarehouseKey) -> pd.DataFrame:
    return _q(key, data.place_proximity)


@st.cache_data(show_spinner=False)
def firm_editions(key: WarehouseKey) -> pd.DataFrame:
    return _q(key, data.firm_editions)


@st.cache_data(show_spinner=False)
def snapshots_if_any(key: WarehouseKey) -> pd.DataFrame:
    return _q(key, data.snapshots_if_any)


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


@st.cache_data(show_spinner=False, max_entries=128)
def derived(fingerprint: tuple, _build: Callable[[], T]) -> T:
    """A page's derived table (or tuple of them) built once per fingerprint (each session gets its own copy).

    Like `figure`: the fingerprint must name everything the result depends on; `_build` is not hashed.
    """
    return _build()


class BuiltFigure(go.Figure):
    """A figure built and validated once, handed to `st.plotly_chart` as it is: `to_dict()` returns the stored
    spec without the copy and the second validation that Streamlit makes of a dict or a Figure (20–40 ms
    for a map on every rerun). Read-only: shared between sessions; `spec` is the plotly JSON as a dict."""

    def __init__(self, spec: dict) -> None:
        super().__init__()
        self._built_spec = spec

    @property
    def spec(self) -> dict:
        return self._built_spec

    def to_dict(self) -> dict:  # what st.plotly_chart serialises; never mutated there
        return self._built_spec


@st.cache_resource(show_spinner=False, max_entries=128)
def figure(fingerprint: tuple, _build: Callable[[], go.Figure]) -> BuiltFigure:
    """A figure built once per fingerprint and shared read-only (see `BuiltFigure`).

    The fingerprint must name everything the figure depends on (warehouse key, snapshot,
    filters, language, map style, weights); `_build` is not hashed. Building a plotly map with
    its validation costs tens of ms per rerun; handing Streamlit the built spec costs a few.
    """
    return BuiltFigure(_build().to_dict())


# --- Source states, city-wide firm counts, per-district counts, value coverage (schema 2) ----------

@st.cache_data(show_spinner=False)
def source_catalogue(key: WarehouseKey) -> pd.DataFrame:
    return _q(key, data.source_catalogue)


@st.cache_data(show_spinner=False)
def area_counts(key: WarehouseKey, theme: str, level: str | None = None) -> pd.DataFrame:
    return _q(key, data.area_counts, theme, level)


@st.cache_data(show_spinner=False)
def firm_totals_by_category(key: WarehouseKey) -> pd.DataFrame:
    return _q(key, data.firm_totals_by_category)


@st.cache_data(show_spinner=False)
def indicator_coverage(key: WarehouseKey, snapshot_id: str) -> pd.DataFrame:
    return _q(key, data.indicator_coverage, snapshot_id)


@st.cache_data(show_spinner=False)
def area_value_counts(key: WarehouseKey, snapshot_id: str, level: str | None = None) -> pd.DataFrame:
    return _q(key, data.area_value_counts, snapshot_id, level)


@st.cache_data(show_spinner=False)
def place_counts_by_area(key: WarehouseKey) -> pd.DataFrame:
    return _q(key, data.place_counts_by_area)




@st.cache_data(show_spinner=False)
def rejects_count(key: WarehouseKey, source_id: str | None = None) -> int:
    return _q(key, data.rejects_count, source_id)


@st.cache_data(show_spinner=False, max_entries=32)
def rejects_page(key: WarehouseKey, source_id: str | None, limit: int, offset: int) -> pd.DataFrame:
    return _q(key, data.rejects_page, source_id, limit, offset)
