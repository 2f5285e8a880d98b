"""Read-only queries on the warehouse: plain functions of a DuckDB connection (no Streamlit).

Values are bound parameters. Area levels are never written into this module: they are the
warehouse's `territory_levels` (finest first, e.g. 'nil' then 'municipio', or only 'comune'), and a
level asked for is checked against that allow-list read from the database.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd

from osservatorio import territory as territory_mod
from osservatorio.territory import TERRITORY_LEVEL, Territory

#: Indicator levels that are not area levels of the territory: the whole territory and the groups of its finest areas.
GROUP_LEVELS = ("periphery_class", "priority_area")
_LEVEL_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class WarehouseError(Exception):
    """The warehouse is missing, unreadable or empty."""


def area_levels(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """The territory's area levels as the build stored them, finest first (e.g. ('nil', 'municipio'), ('comune',))."""
    try:
        rows = con.sql("SELECT level FROM territory_levels ORDER BY rank").fetchall()
    except duckdb.CatalogException as exc:
        raise WarehouseError(f"livelli del territorio non registrati dalla build: {exc}") from exc
    return tuple(str(r[0]) for r in rows)


def fine_level(con: duckdb.DuckDBPyConnection) -> str:
    """The finest area level (maps, rankings, profiles)."""
    levels = area_levels(con)
    if not levels:
        raise WarehouseError("nessun livello territoriale registrato dalla build")
    return levels[0]


def check_level(level: str, levels: Sequence[str]) -> str:
    """`level` if it is one of the territory's area `levels` (the allow-list read from the warehouse)."""
    if level not in levels:
        raise ValueError(f"livello sconosciuto: {level!r} (livelli del territorio: {', '.join(levels)})")
    return level


@dataclass(frozen=True)
class BuildInfo:
    build_id: str
    mode: str
    finished_at: datetime | None
    raw_dir: str | None

    @property
    def is_demo(self) -> bool:
        return self.mode == "demo"


def build_info(con: duckdb.DuckDBPyConnection) -> BuildInfo:
    """The build that produced this warehouse."""
    try:
        rows = con.sql("SELECT build_id, mode, finished_at, raw_dir FROM build ORDER BY started_at DESC LIMIT 1").fetchall()
    except duckdb.CatalogException as exc:
        raise WarehouseError(f"tabella build assente: {exc}") from exc
    if not rows:
        raise WarehouseError("nessuna build registrata")
    return BuildInfo(*rows[0])


def territory(con: duckdb.DuckDBPyConnection) -> Territory:
    """The territory and its levels as the build stored them."""
    try:
        return territory_mod.read(con)
    except duckdb.Error as exc:
        raise WarehouseError(f"territorio non registrato dalla build: {exc}") from exc


def district_stats(con: duckdb.DuckDBPyConnection, level: str) -> pd.DataFrame:
    """One row per area of `level`: id, name, parent_id (finest level only), area, residents, density, trust labels."""
    check_level(level, area_levels(con))
    return con.sql(
        """SELECT id, name, parent_id, area_m2 / 1e6 AS area_km2, residents, population_year,
                  density_km2, geometry_trust, population_trust, population_source
           FROM district_stats WHERE level = $level ORDER BY id""",
        params={"level": level},
    ).df()


def territory_summary(con: duckdb.DuckDBPyConnection) -> dict[str, float | int | str | None]:
    """Whole-territory headline numbers from its finest level (residents only where known).

    Keys: level (the finest level id), area_count, area_km2, residents (None when no area has a
    figure: a missing population is not a zero), areas_without_population, density_km2.
    `nil_count` / `nil_without_population` repeat area_count / areas_without_population for views
    written before territories (to be removed once they read the new keys).
    """
    level = fine_level(con)
    row = con.sql(
        """SELECT count(*), sum(area_m2) / 1e6, sum(residents), count(residents),
                  sum(residents) FILTER (WHERE residents IS NOT NULL)
                    / (sum(area_m2) FILTER (WHERE residents IS NOT NULL) / 1e6)
           FROM district_stats WHERE level = $level""",
        params={"level": level},
    ).fetchall()[0]
    n, area, residents, with_pop, density = row
    without = (n - with_pop) if n else 0
    return {"level": level, "area_count": n, "area_km2": area, "residents": residents,
            "areas_without_population": without, "density_km2": density,
            "nil_count": n, "nil_without_population": without}




def map_geojson(con: duckdb.DuckDBPyConnection, level: str) -> dict:
    """FeatureCollection of the simplified map geometries of `level`, feature id = area id."""
    check_level(level, area_levels(con))
    rows = con.sql("SELECT id, map_geojson FROM districts WHERE level = $level ORDER BY id",
                   params={"level": level}).fetchall()
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "id": int(i), "properties": {}, "geometry": json.loads(g)}
                         for i, g in rows]}


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the warehouse has this table (older builds lack the newer ones)."""
    rows = con.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = $t", params={"t": table}).fetchall()
    return bool(rows[0][0])


def has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    """Whether `table` has `column` (older builds lack the newer columns)."""
    rows = con.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = $t AND column_name = $c",
                   params={"t": table, "c": column}).fetchall()
    return bool(rows[0][0])


_SOURCE_EXTRA = ("reference_date", "attribution", "origin")


def sources(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Lineage: one row per file found by the build (reference date, attribution, origin NULL on older builds)."""
    base = con.sql(
        """SELECT source_id, dataset, title, path, status, trust, rows_read, rows_loaded, rows_rejected,
                  rows_repaired, loaded_at, licence, crs, encoding, sha256, notes
           FROM sources ORDER BY source_id, status, path"""
    ).df()
    if all(has_column(con, "sources", c) for c in _SOURCE_EXTRA):
        extra = con.sql("SELECT reference_date, attribution, origin FROM sources ORDER BY source_id, status, path").df()
        return pd.concat([base, extra], axis=1)
    return base.assign(**{c: None for c in _SOURCE_EXTRA})


def rejects(con: duckdb.DuckDBPyConnection, source_id: str | None = None) -> pd.DataFrame:
    """Rejected, repaired and flagged rows with their reasons."""
    return con.sql(
        """SELECT source_id, path, row_number, action, reason, raw FROM rejects
           WHERE $source_id IS NULL OR source_id = $source_id
           ORDER BY source_id, path, row_number""",
        params={"source_id": source_id},
    ).df()


def rejects_count(con: duckdb.DuckDBPyConnection, source_id: str | None = None) -> int:
    """How many rejected, repaired and flagged rows (for paging)."""
    return int(con.sql("SELECT count(*) FROM rejects WHERE $source_id IS NULL OR source_id = $source_id",
                       params={"source_id": source_id}).fetchall()[0][0])


def rejects_page(con: duckdb.DuckDBPyConnection, source_id: str | None, limit: int, offset: int) -> pd.DataFrame:
    """One page of `rejects` (same order): a register with 40 k rejects is not sent to the browser at once."""
    return con.sql(
        """SELECT source_id, path, row_number, action, reason, raw FROM rejects
           WHERE $source_id IS NULL OR source_id = $source_id
           ORDER BY source_id, path, row_number LIMIT $limit OFFSET $offset""",
        params={"source_id": source_id, "limit": int(limit), "offset": int(offset)},
    ).df()


# --- Indicators, snapshots, targets (tables filled by etl/indicators.py) -------------------

THEMES = ("makerspace", "coworking", "vacant", "firm", "historic_shop", "hub")


def indicator_levels(levels: Sequence[str]) -> tuple[str, ...]:
    """Levels an indicator value can have: the area `levels`, the groups of the finest one, the whole territory."""
    return (*levels, *GROUP_LEVELS, TERRITORY_LEVEL)


def check_indicator_level(level: str, levels: Sequence[str] | None = None) -> str:
    """`level` if it is an indicator level of the territory whose area `levels` are given (the warehouse's
    allow-list); without `levels` (no warehouse at hand) only its form is checked. It is always bound as a value."""
    if levels is not None:
        if level not in indicator_levels(levels):
            raise ValueError(f"livello sconosciuto: {level!r}")
    elif not isinstance(level, str) or not _LEVEL_ID.match(level):
        raise ValueError(f"livello non valido: {level!r}")
    return level


def snapshots(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """All snapshots, newest first (empty when the warehouse predates indicators)."""
    if has_column(con, "snapshots", "same_as"):
        return con.sql(
            """SELECT snapshot_id, created_at, mode, catalogue_version, periphery_version, taxonomy_version,
                      source_versions, same_as
               FROM snapshots ORDER BY created_at DESC, snapshot_id DESC"""
        ).df()
    return con.sql(
        """SELECT snapshot_id, created_at, mode, catalogue_version, periphery_version, taxonomy_version,
                  source_versions, NULL::VARCHAR AS same_as
           FROM snapshots ORDER BY created_at DESC, snapshot_id DESC"""
    ).df()


def periphery_groups(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> pd.DataFrame:
    """The snapshot's periphery classes (rings) and priority areas as its build stored them, in file order."""
    return con.sql(
        """SELECT group_level, group_id, sort_order, name_it, name_en, description_it, description_en, min_m, max_m,
                  is_peripheral, n_areas
           FROM periphery_groups WHERE snapshot_id = $s ORDER BY group_level, sort_order""",
        params={"s": snapshot_id},
    ).df()


def scoring_weights(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> pd.DataFrame:
    """The composite score's components and default weights as the snapshot's build stored them."""
    return con.sql(
        """SELECT indicator_id, direction, weight, why FROM scoring_weights
           WHERE snapshot_id = $s ORDER BY sort_order, indicator_id""",
        params={"s": snapshot_id},
    ).df()


def ateco_category_labels(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> pd.DataFrame:
    """The programme's ATECO categories and their labels as the snapshot's build stored them."""
    return con.sql(
        """SELECT category, label_it, label_en, description FROM ateco_category_labels
           WHERE snapshot_id = $s ORDER BY sort_order, category""",
        params={"s": snapshot_id},
    ).df()


def catalogue(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> pd.DataFrame:
    """The indicator catalogue used by a snapshot."""
    return con.sql(
        """SELECT indicator_id, theme, name_it, name_en, description_it, description_en, formula, unit,
                  direction, sources, levels
           FROM indicator_catalogue WHERE snapshot_id = $s ORDER BY theme, indicator_id""",
        params={"s": snapshot_id},
    ).df()


def indicator_values(con: duckdb.DuckDBPyConnection, snapshot_id: str, indicator_id: str, level: str,
                     all_periods: bool = False) -> pd.DataFrame:
    """Values of one indicator at one level: the current period per area unless `all_periods`.

    The current period is the undated value when there is one, else the latest year.
    """
    check_indicator_level(level, area_levels(con))
    return con.sql(
        """SELECT area_id, period, value, numerator, denominator, reason, reason_code, reason_params, trust
           FROM indicator_values
           WHERE snapshot_id = $s AND indicator_id = $i AND level = $l
           QUALIFY $all OR row_number() OVER (PARTITION BY area_id ORDER BY period DESC NULLS FIRST) = 1
           ORDER BY area_id, period""",
        params={"s": snapshot_id, "i": indicator_id, "l": level, "all": all_periods},
    ).df()


def area_profile(con: duckdb.DuckDBPyConnection, snapshot_id: str, areas: list[tuple[str, str]]) -> pd.DataFrame:
    """Current value of every indicator for several (level, area_id) pairs, long format."""
    if not areas:
        return pd.DataFrame(columns=["level", "area_id", "indicator_id", "period", "value", "reason", "reason_code",
                                     "reason_params", "trust"])
    keys = pd.DataFrame(areas, columns=["level", "area_id"])
    con.register("_areas", keys)
    try:
        return con.sql(
            """SELECT v.level, v.area_id, v.indicator_id, v.period, v.value, v.reason, v.reason_code, v.reason_params,
                      v.trust
               FROM indicator_values v JOIN _areas a ON a.level = v.level AND a.area_id = v.area_id
               WHERE v.snapshot_id = $s
               QUALIFY row_number() OVER (PARTITION BY v.level, v.area_id, v.indicator_id
                                          ORDER BY v.period DESC NULLS FIRST) = 1
               ORDER BY v.indicator_id, v.level""",
            params={"s": snapshot_id},
        ).df()
    finally:
        con.unregister("_areas")


def indicator_history(con: duckdb.DuckDBPyConnection, indicator_id: str, level: str, area_id: str) -> pd.DataFrame:
    """One area's values across snapshots and data periods (for trends)."""
    check_indicator_level(level, area_levels(con))
    frame = con.sql(
        """SELECT s.snapshot_id, s.created_at, v.period, v.value, v.reason, v.reason_code, v.reason_params, v.trust
           FROM indicator_values v JOIN snapshots s USING (snapshot_id)
           WHERE v.indicator_id = $i AND v.level = $l AND v.area_id = $a
           ORDER BY s.created_at, v.period NULLS LAST""",
        params={"i": indicator_id, "l": level, "a": area_id},
    ).df()
    return frame.assign(same_as=frame["snapshot_id"].map(_same_as(con)).astype(object))


def indicator_changes(con: duckdb.DuckDBPyConnection, snapshot_id: str, previous_id: str, level: str) -> pd.DataFrame:
    """Current values of two snapshots side by side with the change, per indicator and area."""
    check_indicator_level(level, area_levels(con))
    return con.sql(
        """WITH cur AS (
               SELECT indicator_id, area_id, value FROM indicator_values
               WHERE snapshot_id = $s AND level = $l
               QUALIFY row_number() OVER (PARTITION BY indicator_id, area_id ORDER BY period DESC NULLS FIRST) = 1),
           prev AS (
               SELECT indicator_id, area_id, value FROM indicator_values
               WHERE snapshot_id = $p AND level = $l
               QUALIFY row_number() OVER (PARTITION BY indicator_id, area_id ORDER BY period DESC NULLS FIRST) = 1)
           SELECT coalesce(cur.indicator_id, prev.indicator_id) AS indicator_id,
                  coalesce(cur.area_id, prev.area_id) AS area_id,
                  prev.value AS previous, cur.value AS current, cur.value - prev.value AS change
           FROM cur FULL JOIN prev ON cur.indicator_id = prev.indicator_id AND cur.area_id = prev.area_id
           ORDER BY indicator_id, area_id""",
        params={"s": snapshot_id, "p": previous_id, "l": level},
    ).df()


def district_groups(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> pd.DataFrame:
    """Periphery classes and priority areas of a snapshot (one row per membership of a finest-level area)."""
    return con.sql(
        """SELECT group_level, group_id, group_name, group_name_en, district_id FROM district_groups
           WHERE snapshot_id = $s ORDER BY group_level, group_id, district_id""",
        params={"s": snapshot_id},
    ).df()


def taxonomy_changes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Recorded changes of classification or taxonomy between snapshots."""
    return con.sql(
        """SELECT t.snapshot_id, s.created_at, t.component, t.old_version, t.new_version, t.note
           FROM taxonomy_changes t LEFT JOIN snapshots s USING (snapshot_id)
           ORDER BY s.created_at DESC"""
    ).df()


def target_status(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> pd.DataFrame:
    """Objectives and targets with their status in a snapshot."""
    return con.sql(
        """SELECT target_id, objective, indicator_id, level, area_id, baseline, baseline_date, target_value,
                  deadline, current_value, expected_value, status, rule
           FROM target_status WHERE snapshot_id = $s ORDER BY objective, target_id""",
        params={"s": snapshot_id},
    ).df()


def target_history(con: duckdb.DuckDBPyConnection, target_id: str) -> pd.DataFrame:
    """A target's value and status across snapshots."""
    frame = con.sql(
        """SELECT s.created_at, t.current_value, t.expected_value, t.target_value, t.deadline, t.status,
                  t.snapshot_id
           FROM target_status t JOIN snapshots s USING (snapshot_id)
           WHERE t.target_id = $t ORDER BY s.created_at""",
        params={"t": target_id},
    ).df()
    return frame.assign(same_as=frame["snapshot_id"].map(_same_as(con)).astype(object)).drop(columns="snapshot_id")


def _same_as(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """snapshot_id -> the earlier snapshot with identical inputs (only snapshots that add no trend point)."""
    if not has_column(con, "snapshots", "same_as"):
        return {}
    return {str(a): str(b) for a, b in con.sql("SELECT snapshot_id, same_as FROM snapshots WHERE same_as IS NOT NULL").fetchall()}


def places(con: duckdb.DuckDBPyConnection, theme: str, district_id: int | None = None) -> pd.DataFrame:
    """Entities of one theme (optionally in one area of the finest level), without the polygon blobs."""
    if theme not in THEMES:
        raise ValueError(f"tema sconosciuto: {theme!r}")
    return con.sql(
        """SELECT source_id, source_key, name, address, lon, lat, district_id, parent_id, assignment, category, status,
                  ownership, area_m2, seats, employees, ateco_code, ateco_edition, started_on, trust, attributes
           FROM places WHERE theme = $theme AND ($district IS NULL OR district_id = $district)
           ORDER BY district_id NULLS LAST, name""",
        params={"theme": theme, "district": district_id},
    ).df()


def place_proximity(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Vacant place -> nearest maker (and firm) as the ETL stored it; empty when the build has no such table."""
    if not has_table(con, "place_proximity"):
        return pd.DataFrame(columns=["source_id", "source_key", "near_theme", "nearest_m", "within_m", "n_within",
                                     "nearest_name"])
    return con.sql("""SELECT source_id, source_key, near_theme, nearest_m, within_m, n_within, nearest_name
                      FROM place_proximity ORDER BY source_id, source_key, near_theme""").df()


def firm_points_in_category(con: duckdb.DuckDBPyConnection, category: str) -> pd.DataFrame:
    """lon, lat and category of the located firm points of one category (not the whole register in pandas)."""
    return con.sql(
        """SELECT lon, lat, category FROM places
           WHERE theme = 'firm' AND category = $category AND lon IS NOT NULL AND lat IS NOT NULL""",
        params={"category": category},
    ).df()


_FIRM_POINT_COLUMNS = ("source_id, source_key, name, address, lon, lat, district_id, parent_id, category, employees, "
                       "ateco_code, ateco_edition, started_on, trust")
_FIRM_POINT_WHERE = """theme = 'firm' AND ($district IS NULL OR district_id = $district)
                       AND ($category IS NULL OR category = $category)"""


def firm_points_located(con: duckdb.DuckDBPyConnection, district_id: int | None = None,
                        category: str | None = None) -> tuple[int, int]:
    """(firm points, of which with coordinates) of one finest area (None: all) and category (None: all), counted in SQL."""
    row = con.sql(
        f"SELECT count(*), count(*) FILTER (WHERE lon IS NOT NULL AND lat IS NOT NULL) FROM places "  # noqa: S608
        f"WHERE {_FIRM_POINT_WHERE}",  # fixed text: values are bound
        params={"district": district_id, "category": category},
    ).fetchall()[0]
    return int(row[0]), int(row[1])


def firm_points_sample(con: duckdb.DuckDBPyConnection, district_id: int | None, category: str | None,
                       limit: int) -> pd.DataFrame:
    """At most `limit` located firm points of the selection for the map: a fixed sample (the same rows on every
    rerun and every server: ordered by a hash of the place's key), drawn in SQL so that a regional register
    never comes into pandas."""
    located = f"{_FIRM_POINT_WHERE} AND lon IS NOT NULL AND lat IS NOT NULL"
    # keys first, then their rows: a top-N that carries every column over 900 k rows is 20x slower
    return con.sql(
        f"""WITH chosen AS (
                SELECT source_id AS k_source, source_key AS k_key, hash(source_id, source_key) AS k_hash FROM places
                WHERE {located} ORDER BY k_hash, source_id, source_key LIMIT $limit)
            SELECT {_FIRM_POINT_COLUMNS} FROM places JOIN chosen ON source_id = k_source AND source_key = k_key
            WHERE {located} ORDER BY k_hash, source_id, source_key LIMIT $limit""",  # noqa: S608 - fixed text, bound values
        params={"district": district_id, "category": category, "limit": int(limit)},
    ).df()


_FIRM_POINTS_SQL = f"""SELECT {_FIRM_POINT_COLUMNS} FROM places WHERE {_FIRM_POINT_WHERE}
                       ORDER BY district_id NULLS LAST, name, source_id, source_key"""  # noqa: S608 - fixed text
FIRM_CHUNK_VECTORS = 25  # DuckDB vectors of 2,048 rows per chunk: 51,200 rows


def firm_points(con: duckdb.DuckDBPyConnection, district_id: int | None = None,
                category: str | None = None) -> pd.DataFrame:
    """Every firm point of the selection (for a download, built when it is asked for; never cached)."""
    return con.sql(_FIRM_POINTS_SQL, params={"district": district_id, "category": category}).df()


def firm_points_chunks(con: duckdb.DuckDBPyConnection, district_id: int | None = None, category: str | None = None,
                       vectors: int = FIRM_CHUNK_VECTORS) -> Iterator[pd.DataFrame]:
    """The rows of `firm_points`, in the same order and dtypes, as frames of `vectors` × 2,048 rows (the first may
    be empty, and is then the only one): a register-sized download never holds every row in pandas.

    The query runs when the iterator is first advanced and keeps its result open on `con` until exhausted: give it
    a cursor of its own and read nothing else on it meanwhile."""
    result = con.execute(_FIRM_POINTS_SQL, {"district": district_id, "category": category})
    first = True
    while True:
        chunk = result.fetch_df_chunk(vectors)
        if len(chunk) == 0 and not first:
            return
        yield chunk
        first = False
        if len(chunk) == 0:
            return


def firm_units_by_category(con: duckdb.DuckDBPyConnection, district_id: int | None = None) -> pd.DataFrame:
    """Aggregated local units (ds201 layout) by year and programme category, whole territory or one finest area."""
    return con.sql(
        """SELECT year, category, sum(units) AS units,
                  sum(units * avg_employees) / nullif(sum(units) FILTER (WHERE avg_employees IS NOT NULL), 0)
                    AS avg_employees
           FROM firm_units WHERE $district IS NULL OR district_id = $district
           GROUP BY year, category ORDER BY year, category""",
        params={"district": district_id},
    ).df()


def firm_points_by_category(con: duckdb.DuckDBPyConnection, district_id: int | None = None) -> pd.DataFrame:
    """Point-level firms by programme category and start year, whole territory or one finest area."""
    return con.sql(
        """SELECT category, year(started_on) AS start_year, count(*) AS firms, sum(employees) AS employees
           FROM places WHERE theme = 'firm' AND ($district IS NULL OR district_id = $district)
           GROUP BY ALL ORDER BY category, start_year""",
        params={"district": district_id},
    ).df()


# --- Indicator pages: map layers, places overview, periphery detail ----------------------------

FIRM_CELL_M = 500.0
_M_PER_DEG_LAT = 111_320.0


def _centre_lat(con: duckdb.DuckDBPyConnection) -> float:
    """Latitude of the territory's centre (cells are about square there)."""
    rows = con.sql("SELECT centre_lat FROM territory LIMIT 1").fetchall()
    if not rows or rows[0][0] is None:
        raise WarehouseError("territorio non registrato dalla build")
    return float(rows[0][0])


def firm_cells(con: duckdb.DuckDBPyConnection, cell_m: float = FIRM_CELL_M) -> pd.DataFrame:
    """Point-located firms aggregated into cells of about `cell_m` × `cell_m` metres (a map layer).

    Thousands of firm markers would make the map payload heavy and unreadable; one row per
    non-empty cell instead: lon/lat = mean position of its firms, firms, and how many are in the
    programme's digital and artisan manufacturing categories. Firms without coordinates are in
    no cell (they are still counted by the indicators).
    """
    if not cell_m > 0:
        raise ValueError(f"cella non valida: {cell_m!r}")
    dlat = cell_m / _M_PER_DEG_LAT
    dlon = cell_m / (_M_PER_DEG_LAT * math.cos(math.radians(_centre_lat(con))))
    return con.sql(
        """SELECT avg(lon) AS lon, avg(lat) AS lat, count(*) AS firms,
                  count(*) FILTER (WHERE category = 'digital_manufacturing') AS digital,
                  count(*) FILTER (WHERE category = 'artisan_manufacturing') AS artisan,
                  string_agg(DISTINCT trust, ', ' ORDER BY trust) AS trust
           FROM places WHERE theme = 'firm' AND lon IS NOT NULL AND lat IS NOT NULL
           GROUP BY floor(lon / $dlon), floor(lat / $dlat)
           ORDER BY firms DESC, lon, lat""",
        params={"dlon": dlon, "dlat": dlat},
    ).df()


def place_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Places per theme: total, with an area of the finest level (`with_nil`), with coordinates, trust labels."""
    return con.sql(
        """SELECT theme, count(*) AS places, count(district_id) AS with_nil, count(lon) AS with_coords,
                  string_agg(DISTINCT trust, ', ' ORDER BY trust) AS trust
           FROM places GROUP BY theme ORDER BY theme"""
    ).df()


def district_group_detail(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> pd.DataFrame:
    """District groups of a snapshot with each finest area's distance from the centre and the rule that placed it."""
    return con.sql(
        """SELECT group_level, group_id, group_name, group_name_en, district_id, distance_m, basis, basis_en
           FROM district_groups
           WHERE snapshot_id = $s ORDER BY group_level, group_id, district_id""",
        params={"s": snapshot_id},
    ).df()


def taxonomy_changes_detail(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Recorded taxonomy/classification changes with the indicators whose series break there (JSON `affects`)."""
    return con.sql(
        """SELECT t.snapshot_id, s.created_at, t.component, t.old_version, t.new_version, t.note, t.affects
           FROM taxonomy_changes t LEFT JOIN snapshots s USING (snapshot_id)
           ORDER BY s.created_at DESC NULLS LAST, t.component"""
    ).df()



def firm_editions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """ATECO editions of the firm data (theme pages): kind 'firm_units' (ds201 layout; years = data
    years), 'firm_points' (point-level firms; years = start years) or 'firm_totals' (ds171 city totals;
    years = data years), source, edition, rows."""
    frame = con.sql(
        """SELECT 'firm_units' AS kind, source_id, ateco_edition, count(*) AS rows,
                  min(year) AS first_year, max(year) AS last_year
           FROM firm_units GROUP BY ALL
           UNION ALL
           SELECT 'firm_points' AS kind, source_id, ateco_edition, count(*) AS rows,
                  min(year(started_on)) AS first_year, max(year(started_on)) AS last_year
           FROM places WHERE theme = 'firm' GROUP BY ALL
           ORDER BY kind, source_id, ateco_edition NULLS LAST"""
    ).df()
    if has_table(con, "firm_totals"):
        totals = con.sql(
            """SELECT 'firm_totals' AS kind, source_id, ateco_edition, count(*) AS rows,
                      min(year) AS first_year, max(year) AS last_year
               FROM firm_totals GROUP BY ALL ORDER BY source_id, ateco_edition NULLS LAST"""
        ).df()
        frame = pd.concat([frame, totals], ignore_index=True) if len(totals) else frame
    return frame


def snapshots_if_any(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """`snapshots` (newest first), or an empty frame when the warehouse predates the indicator tables,
    so that the indicator pages can say "no snapshot" instead of failing."""
    present = con.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'snapshots'").fetchall()[0][0]
    if not present:
        return pd.DataFrame(columns=["snapshot_id", "created_at", "mode", "catalogue_version", "periphery_version",
                                     "taxonomy_version", "source_versions"])
    return snapshots(con)


# --- Source states, city-wide firm counts, per-district counts (schema 2) ---------------------------

CATALOGUE_COLUMNS = ["source_id", "themes", "dataset", "title", "portal_url", "file_hint", "licence", "state"]


def source_catalogue(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every registered source and its state in this build (loaded / failed / absent); empty on older builds."""
    if not has_table(con, "source_catalogue"):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in CATALOGUE_COLUMNS})
    return con.sql(
        """SELECT source_id, themes, dataset, title, portal_url, file_hint, licence, state
           FROM source_catalogue ORDER BY source_id"""
    ).df()


def area_counts(con: duckdb.DuckDBPyConnection, theme: str, level: str | None = None) -> pd.DataFrame:
    """Counts per area of a theme published without the points behind them (latest year per area);
    `level` defaults to the territory's finest level."""
    columns = ["district_id", "year", "count", "source_id", "path", "trust"]
    if not has_table(con, "area_counts"):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    levels = area_levels(con)
    level = check_level(level if level is not None else (levels[0] if levels else ""), levels)
    return con.sql(
        """SELECT district_id, year, count, source_id, path, trust FROM area_counts
           WHERE theme = $theme AND level = $level
           QUALIFY row_number() OVER (PARTITION BY district_id ORDER BY year DESC NULLS LAST, source_id) = 1
           ORDER BY district_id""",
        params={"theme": theme, "level": level},
    ).df()


def firm_totals_by_category(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Whole-territory firms, local units and employees (ds171 layout) per year and programme category."""
    columns = ["year", "category", "firms", "units", "employees_firms", "employees_units", "codes", "trust", "source_id"]
    if not has_table(con, "firm_totals"):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return con.sql(
        """SELECT year, category, sum(firms) AS firms, sum(units) AS units, sum(employees_firms) AS employees_firms,
                  sum(employees_units) AS employees_units, count(DISTINCT ateco_code) AS codes,
                  string_agg(DISTINCT trust, ', ' ORDER BY trust) AS trust,
                  string_agg(DISTINCT source_id, ', ' ORDER BY source_id) AS source_id
           FROM firm_totals WHERE level = $level
           GROUP BY year, category ORDER BY year, category""",
        params={"level": TERRITORY_LEVEL},
    ).df()


def indicator_coverage(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> pd.DataFrame:
    """Per indicator and level: areas with a value and areas in all, in the current period of a snapshot."""
    return con.sql(
        """SELECT indicator_id, level, count(value) AS with_value, count(*) AS areas FROM (
               SELECT indicator_id, level, area_id, value FROM indicator_values WHERE snapshot_id = $s
               QUALIFY row_number() OVER (PARTITION BY indicator_id, level, area_id ORDER BY period DESC NULLS FIRST) = 1)
           GROUP BY indicator_id, level ORDER BY indicator_id, level""",
        params={"s": snapshot_id},
    ).df()


def area_value_counts(con: duckdb.DuckDBPyConnection, snapshot_id: str, level: str | None = None) -> pd.DataFrame:
    """Per area of `level` (default: the finest): how many indicators have a value in the current period of a
    snapshot (to open a page on data)."""
    levels = area_levels(con)
    level = check_level(level if level is not None else (levels[0] if levels else ""), levels)
    return con.sql(
        """SELECT TRY_CAST(area_id AS INTEGER) AS district_id, count(value) AS with_value FROM (
               SELECT indicator_id, area_id, value FROM indicator_values WHERE snapshot_id = $s AND level = $level
               QUALIFY row_number() OVER (PARTITION BY indicator_id, area_id ORDER BY period DESC NULLS FIRST) = 1)
           GROUP BY area_id ORDER BY district_id""",
        params={"s": snapshot_id, "level": level},
    ).df()




def place_counts_by_area(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Places per area of the finest level and theme (for choosing an area with something to show)."""
    return con.sql(
        """SELECT district_id, theme, count(*) AS places FROM places WHERE district_id IS NOT NULL
           GROUP BY ALL ORDER BY district_id, theme"""
    ).df()


