"""Review-session logic: what changed between two snapshots. Pure functions of DataFrames, no Streamlit.

- Movements: per indicator and district, the change between the snapshot under review and the
  compared one. Indicators have different units, so movements are ranked by the change divided by
  the indicator's spread across districts (population standard deviation of the compared
  snapshot's values; of the reviewed one when that is zero), then by the absolute change.
- Targets: status in both snapshots; improved / worsened (on_track > at_risk > off_track),
  data lost / gained (to / from no_data), new, removed, unchanged.
- Places: new and lost makerspaces and vacant spaces by (theme, source_id, source_key). The
  warehouse holds only the current build's places, so older snapshots need the keys recorded in
  the app-state store while they were current (see board_store.record_places); otherwise the
  comparison says it is not available, and infers "no change" only when every source of the
  theme kept the same sha256.
- Data changes: sources whose files changed (snapshots.source_versions), version changes of
  catalogue / periphery / taxonomy / targets, and the recorded taxonomy changes between the two
  snapshots; each movement lists the data changes that may explain it.

`compare()` reads through a `WarehouseReader` (the page passes cached queries, tests and the
board pack a plain DuckDB connection) and returns a `Comparison`. Areas are those of the warehouse's
territory (`reader_territory`): movements at its finest level, the whole-territory level
('territory'), area names and labels from its levels; nothing here names a level.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from osservatorio import data
from osservatorio.board_store import Note, PlaceKey, Session
from osservatorio.i18n import fmt_date, fmt_number, t
from osservatorio.territory import TERRITORY_LEVEL, Territory

LOCAL_TZ = ZoneInfo("Europe/Rome")
PLACE_THEMES: tuple[str, ...] = ("makerspace", "vacant")
STATUS_RANK = {"off_track": 0, "at_risk": 1, "on_track": 2}
STATUSES = ("on_track", "at_risk", "off_track", "no_data")
TARGET_CHANGES = ("worsened", "data_lost", "improved", "data_gained", "new", "removed", "unchanged")
VERSION_FIELDS = ("catalogue_version", "periphery_version", "periphery_hash", "taxonomy_version", "targets_version")
MOVE_COLUMNS = ["indicator_id", "area_id", "previous", "current", "change", "kind", "pct_change", "spread",
                "scaled_change", "assessment", "explained_by"]
PLACE_COLUMNS = ["theme", "source_id", "source_key", "name", "district_id"]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# Bidirectional embedding/override/isolate controls: in a title or a note they could reorder what
# follows them on screen (e.g. make "gpj.exe" look like "exe.jpg"); shown text drops them.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def plain_text(value: object) -> str:
    """User text for display: bidi control characters (U+202A-U+202E, U+2066-U+2069) removed."""
    return BIDI_CONTROLS.sub("", "" if value is None else str(value))


# --- reading the warehouse --------------------------------------------------------------------------------

class WarehouseReader(Protocol):
    """What the review needs from the warehouse (cached queries in the app, a connection in tests)."""

    def build_info(self) -> data.BuildInfo: ...
    def snapshots(self) -> pd.DataFrame: ...
    def catalogue(self, snapshot_id: str) -> pd.DataFrame: ...
    def indicator_changes(self, snapshot_id: str, previous_id: str, level: str) -> pd.DataFrame: ...
    def indicator_values(self, snapshot_id: str, indicator_id: str, level: str) -> pd.DataFrame: ...
    def target_status(self, snapshot_id: str) -> pd.DataFrame: ...
    def taxonomy_changes(self) -> pd.DataFrame: ...
    def sources(self) -> pd.DataFrame: ...
    def places(self, theme: str) -> pd.DataFrame: ...
    def district_stats(self, level: str) -> pd.DataFrame: ...
    def district_groups(self, snapshot_id: str) -> pd.DataFrame: ...
    def map_geojson(self, level: str) -> dict: ...


def reader_territory(reader: object) -> Territory | None:
    """The territory of a reader's warehouse: its own `territory()`, else `data.territory` of its connection
    (ConnectionReader), else the cached `queries.territory` of its key (queries.CachedReader); None when the
    warehouse does not record one."""
    try:
        if callable(getattr(reader, "territory", None)):
            return reader.territory()  # type: ignore[attr-defined]
        if isinstance(getattr(reader, "con", None), duckdb.DuckDBPyConnection):
            return data.territory(reader.con)  # type: ignore[attr-defined]
        if getattr(reader, "key", None) is not None:
            from osservatorio import queries

            return queries.territory(reader.key)  # type: ignore[attr-defined]
    except data.WarehouseError:
        return None
    return None


class ConnectionReader:
    """WarehouseReader over an open DuckDB connection (osservatorio.data queries, no cache)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def territory(self) -> Territory:
        return data.territory(self.con)

    def build_info(self) -> data.BuildInfo:
        return data.build_info(self.con)

    def snapshots(self) -> pd.DataFrame:
        return data.snapshots(self.con)

    def catalogue(self, snapshot_id: str) -> pd.DataFrame:
        return data.catalogue(self.con, snapshot_id)

    def indicator_changes(self, snapshot_id: str, previous_id: str, level: str) -> pd.DataFrame:
        return data.indicator_changes(self.con, snapshot_id, previous_id, level)

    def indicator_values(self, snapshot_id: str, indicator_id: str, level: str) -> pd.DataFrame:
        return data.indicator_values(self.con, snapshot_id, indicator_id, level)

    def target_status(self, snapshot_id: str) -> pd.DataFrame:
        return data.target_status(self.con, snapshot_id)

    def taxonomy_changes(self) -> pd.DataFrame:
        return data.taxonomy_changes_detail(self.con)  # with the `affects` column

    def sources(self) -> pd.DataFrame:
        return data.sources(self.con)

    def places(self, theme: str) -> pd.DataFrame:
        return data.places(self.con, theme)

    def district_stats(self, level: str) -> pd.DataFrame:
        return data.district_stats(self.con, level)

    def district_groups(self, snapshot_id: str) -> pd.DataFrame:
        return data.district_groups(self.con, snapshot_id)

    def map_geojson(self, level: str) -> dict:
        return data.map_geojson(self.con, level)


# --- snapshots and sessions -------------------------------------------------------------------------------

def snapshot_ids(snapshots: pd.DataFrame) -> list[str]:
    """Snapshot ids, newest first."""
    if snapshots.empty:
        return []
    ordered = snapshots.sort_values(["created_at", "snapshot_id"], ascending=False)
    return [str(s) for s in ordered["snapshot_id"]]


def previous_snapshot(snapshots: pd.DataFrame, snapshot_id: str | None) -> str | None:
    """The snapshot made just before `snapshot_id` (None when it is the oldest or unknown)."""
    ids = snapshot_ids(snapshots)
    if snapshot_id not in ids:
        return None
    position = ids.index(snapshot_id)
    return ids[position + 1] if position + 1 < len(ids) else None


def previous_session(sessions: Sequence[Session], held_on: date, session_id: int | None = None) -> Session | None:
    """The latest session held before (held_on, session_id); a new session (id None) comes after
    every existing session of the same day."""
    limit = (held_on, math.inf if session_id is None else session_id)
    earlier = [s for s in sessions if (s.held_on, s.session_id) < limit]
    return max(earlier, key=lambda s: (s.held_on, s.session_id), default=None)


def default_compare(sessions: Sequence[Session], snapshots: pd.DataFrame, snapshot_id: str | None, held_on: date,
                    session_id: int | None = None) -> str | None:
    """The snapshot to compare with by default: the previous session's snapshot when it is still in
    the warehouse, else the snapshot made just before the one under review."""
    known = set(snapshot_ids(snapshots))
    before = previous_session(sessions, held_on, session_id)
    if before is not None and before.snapshot_id in known:
        return before.snapshot_id
    return previous_snapshot(snapshots, snapshot_id)


def snapshot_row(snapshots: pd.DataFrame, snapshot_id: str | None) -> dict[str, Any] | None:
    """One snapshot as a dict (None when absent)."""
    if snapshot_id is None or snapshots.empty:
        return None
    rows = snapshots[snapshots["snapshot_id"] == snapshot_id]
    return None if rows.empty else rows.iloc[0].to_dict()


# --- movements ---------------------------------------------------------------------------------------------

def _spread(values: pd.Series) -> float:
    present = pd.to_numeric(values, errors="coerce").dropna()
    if len(present) < 2:
        return math.nan
    value = float(present.std(ddof=0))
    return value if value > 0 else math.nan


def movements(changes: pd.DataFrame, catalogue: pd.DataFrame | None = None) -> pd.DataFrame:
    """Classify and scale the changes of `data.indicator_changes` (indicator_id, area_id, previous,
    current, change).

    Adds `kind` (changed / unchanged / appeared / disappeared / missing), `pct_change` (change /
    |previous|, NaN when previous is 0 or missing), `spread` (population std of the indicator's
    previous values across areas, or of the current ones when that is 0 or undefined),
    `scaled_change` (change / spread) and `assessment` (better / worse / neutral from the
    catalogue's direction). `explained_by` starts empty (see `explain`).
    """
    if changes.empty:
        return pd.DataFrame(columns=MOVE_COLUMNS)
    out = changes[["indicator_id", "area_id", "previous", "current", "change"]].copy()
    for column in ("previous", "current", "change"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    prev_ok, cur_ok = out["previous"].notna(), out["current"].notna()
    kind = pd.Series("missing", index=out.index, dtype="object")
    kind[prev_ok & cur_ok & (out["change"] != 0)] = "changed"
    kind[prev_ok & cur_ok & (out["change"] == 0)] = "unchanged"
    kind[~prev_ok & cur_ok] = "appeared"
    kind[prev_ok & ~cur_ok] = "disappeared"
    out["kind"] = kind
    denominator = out["previous"].abs().where(out["previous"].abs() > 0)
    out["pct_change"] = out["change"] / denominator
    spreads: dict[str, float] = {}
    for indicator, part in out.groupby("indicator_id", sort=False):
        value = _spread(part["previous"])
        spreads[str(indicator)] = value if not math.isnan(value) else _spread(part["current"])
    out["spread"] = out["indicator_id"].map(spreads).astype("float64")
    out["scaled_change"] = out["change"] / out["spread"]
    directions = {} if catalogue is None or catalogue.empty else dict(zip(catalogue["indicator_id"],
                                                                          catalogue["direction"], strict=True))

    def assess(indicator: str, change: float, kind_value: str) -> str:
        direction = directions.get(indicator, "neutral")
        if kind_value != "changed" or direction == "neutral":
            return "neutral"
        better = change > 0 if direction == "higher_better" else change < 0
        return "better" if better else "worse"

    out["assessment"] = [assess(i, c, k) for i, c, k in zip(out["indicator_id"], out["change"], out["kind"], strict=True)]
    out["explained_by"] = [[] for _ in range(len(out))]
    return out.reset_index(drop=True)[MOVE_COLUMNS]


def _ranked(moves: pd.DataFrame) -> pd.DataFrame:
    changed = moves[moves["kind"] == "changed"].copy()
    changed["_scaled"] = changed["scaled_change"].abs().fillna(-1.0)
    changed["_abs"] = changed["change"].abs()
    return changed.sort_values(["_scaled", "_abs", "indicator_id", "area_id"], ascending=[False, False, True, True],
                               kind="mergesort").drop(columns=["_scaled", "_abs"])


def top_movements(moves: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The `n` biggest movements across indicators (by |scaled change|, then |change|)."""
    return _ranked(moves).head(n).reset_index(drop=True)


def top_per_indicator(moves: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """The `k` biggest movements of each indicator (indicators in id order)."""
    ranked = _ranked(moves)
    if ranked.empty:
        return ranked.reset_index(drop=True)
    parts = [part.head(k) for _, part in ranked.groupby("indicator_id", sort=True)]
    return pd.concat(parts, ignore_index=True)


# --- targets ----------------------------------------------------------------------------------------------

def target_change(previous: str | None, current: str | None) -> str:
    """How a target's status moved between two snapshots."""
    if previous is None and current is None:
        return "unchanged"
    if previous is None:
        return "new"
    if current is None:
        return "removed"
    if previous == current:
        return "unchanged"
    if current == "no_data":
        return "data_lost"
    if previous == "no_data":
        return "data_gained"
    return "improved" if STATUS_RANK[current] > STATUS_RANK[previous] else "worsened"


def target_changes(current: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Targets of both snapshots side by side with `change` (see `target_change`) and `changed`."""
    keep = ["target_id", "objective", "indicator_id", "level", "area_id", "target_value", "deadline", "current_value",
            "expected_value", "status", "rule"]
    cur = current.reindex(columns=keep)
    prev = (previous if previous is not None else pd.DataFrame(columns=keep)).reindex(columns=keep)
    cur["target_id"], prev["target_id"] = cur["target_id"].astype(object), prev["target_id"].astype(object)
    merged = cur.merge(prev, on="target_id", how="outer", suffixes=("", "_prev"), sort=True)
    for column in ("objective", "indicator_id", "level", "area_id", "target_value", "deadline"):
        merged[column] = merged[column].where(merged[column].notna(), merged[f"{column}_prev"])
    out = pd.DataFrame({
        "target_id": merged["target_id"], "objective": merged["objective"], "indicator_id": merged["indicator_id"],
        "level": merged["level"], "area_id": merged["area_id"], "target_value": merged["target_value"],
        "deadline": merged["deadline"], "previous_value": merged["current_value_prev"],
        "current_value": merged["current_value"], "expected_value": merged["expected_value"],
        "previous_status": merged["status_prev"], "status": merged["status"], "rule": merged["rule"],
    })
    out["previous_status"] = out["previous_status"].astype("object").where(out["previous_status"].notna(), None)
    out["status"] = out["status"].astype("object").where(out["status"].notna(), None)
    out["change"] = [target_change(p, c) for p, c in zip(out["previous_status"], out["status"], strict=True)]
    out["changed"] = out["change"] != "unchanged"
    return out.reset_index(drop=True)


# --- places -----------------------------------------------------------------------------------------------

def place_keys(frame: pd.DataFrame, theme: str) -> list[PlaceKey]:
    """PlaceKeys of a `data.places` frame of one theme."""
    return [PlaceKey(theme, str(s), str(k), None if pd.isna(n) else str(n), None if pd.isna(i) else int(i))
            for s, k, n, i in zip(frame["source_id"], frame["source_key"], frame["name"], frame["district_id"], strict=True)]


def current_place_keys(reader: WarehouseReader, themes: Iterable[str] = PLACE_THEMES) -> list[PlaceKey]:
    """The place keys of the warehouse's current build (the themes the review compares)."""
    keys: list[PlaceKey] = []
    for theme in themes:
        keys.extend(place_keys(reader.places(theme), theme))
    return keys


@dataclass(frozen=True)
class PlaceDiff:
    """New and lost places between two snapshots, or why that cannot be said."""

    available: bool
    new: pd.DataFrame
    lost: pd.DataFrame
    missing: tuple[str, ...] = ()            # snapshots whose place keys are unknown
    inferred_unchanged: tuple[str, ...] = ()  # themes whose sources kept the same sha256 (no change inferred)

    def counts(self, themes: Iterable[str] = PLACE_THEMES) -> dict[str, tuple[int, int]]:
        """theme -> (new, lost)."""
        return {th: (int((self.new["theme"] == th).sum()), int((self.lost["theme"] == th).sum())) for th in themes}


def _key_frame(keys: Iterable[PlaceKey]) -> pd.DataFrame:
    rows = [(k.theme, k.source_id, k.source_key, k.name, k.district_id) for k in keys]
    frame = pd.DataFrame(rows, columns=PLACE_COLUMNS)
    frame["district_id"] = frame["district_id"].astype("Int64")
    return frame


def place_diff(current: Sequence[PlaceKey] | None, previous: Sequence[PlaceKey] | None, current_id: str,
               previous_id: str, themes: Iterable[str] = PLACE_THEMES,
               theme_sources: dict[str, set[str]] | None = None,
               source_changes: pd.DataFrame | None = None) -> PlaceDiff:
    """New (in `current` only) and lost (in `previous` only) places of the given themes, by
    (theme, source_id, source_key); name and NIL come from the snapshot where the place is.

    When the keys of a snapshot are unknown (None), the diff is not available; a theme is then
    listed in `inferred_unchanged` when all its sources (`theme_sources`) appear in
    `source_changes` as unchanged with a real sha256.
    """
    wanted = tuple(themes)
    empty = _key_frame([])
    if current is None or previous is None:
        missing = tuple(s for s, keys in ((current_id, current), (previous_id, previous)) if keys is None)
        inferred: list[str] = []
        if theme_sources and source_changes is not None and not source_changes.empty:
            by_source = {str(r.source_id): r for r in source_changes.itertuples(index=False)}
            for theme in wanted:
                ids = theme_sources.get(theme, set())
                if ids and all(i in by_source and by_source[i].change == "unchanged"
                               and all(_SHA256.match(h) for h in str(by_source[i].current).split(", ") if h)
                               and str(by_source[i].current) for i in ids):
                    inferred.append(theme)
        return PlaceDiff(False, empty, empty, missing, tuple(inferred))
    cur = _key_frame(k for k in current if k.theme in wanted)
    prev = _key_frame(k for k in previous if k.theme in wanted)
    key = ["theme", "source_id", "source_key"]
    merged = cur.merge(prev[key], on=key, how="left", indicator=True)
    new = merged[merged["_merge"] == "left_only"].drop(columns="_merge")
    merged = prev.merge(cur[key], on=key, how="left", indicator=True)
    lost = merged[merged["_merge"] == "left_only"].drop(columns="_merge")
    order = {th: i for i, th in enumerate(wanted)}

    def tidy(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.assign(_o=frame["theme"].map(order)).sort_values(["_o", "source_id", "source_key"])
        return frame.drop(columns="_o").reset_index(drop=True)[PLACE_COLUMNS]

    return PlaceDiff(True, tidy(new), tidy(lost))


# --- data changes and explanations --------------------------------------------------------------------

def parse_versions(text: object) -> dict[str, tuple[str, ...]]:
    """snapshots.source_versions (JSON source_id -> list of sha256) as a dict; {} when unreadable."""
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        return {}
    if not isinstance(raw, dict):
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        items = value if isinstance(value, list) else [value]
        out[str(key)] = tuple(sorted(str(v) for v in items if v is not None))
    return out


def source_changes(current: object, previous: object) -> pd.DataFrame:
    """Per source: added / removed / updated (different files) / unchanged between two snapshots'
    source_versions; `previous` and `current` list the hashes (", "-joined)."""
    cur, prev = parse_versions(current), parse_versions(previous)
    rows = []
    for source in sorted(set(cur) | set(prev)):
        if source not in prev:
            change = "added"
        elif source not in cur:
            change = "removed"
        else:
            change = "updated" if cur[source] != prev[source] else "unchanged"
        rows.append((source, change, ", ".join(prev.get(source, ())), ", ".join(cur.get(source, ()))))
    return pd.DataFrame(rows, columns=["source_id", "change", "previous", "current"])


def version_changes(current: dict[str, Any] | None, previous: dict[str, Any] | None) -> pd.DataFrame:
    """Configuration versions (catalogue, periphery, taxonomy, targets) that differ between two snapshots."""
    rows = []
    if current is not None and previous is not None:
        for name in VERSION_FIELDS:
            if name in current and name in previous:
                a, b = previous.get(name), current.get(name)
                a = None if a is None or (isinstance(a, float) and math.isnan(a)) else str(a)
                b = None if b is None or (isinstance(b, float) and math.isnan(b)) else str(b)
                if a != b:
                    rows.append((name, a, b))
    return pd.DataFrame(rows, columns=["component", "previous", "current"], dtype=object)


def taxonomy_between(taxonomy: pd.DataFrame, snapshots: pd.DataFrame, snapshot_id: str, compare_id: str) -> pd.DataFrame:
    """Recorded taxonomy/classification changes made after the older of the two snapshots, up to and
    including the newer one (whichever order the two are compared in)."""
    if taxonomy.empty or snapshots.empty:
        return taxonomy.iloc[0:0].copy()
    made = dict(zip(snapshots["snapshot_id"], pd.to_datetime(snapshots["created_at"]), strict=True))
    if snapshot_id not in made or compare_id not in made:
        return taxonomy.iloc[0:0].copy()
    low, high = sorted([made[snapshot_id], made[compare_id]])
    when = taxonomy["snapshot_id"].map(made)
    mask = when.notna() & (when > low) & (when <= high)
    return taxonomy[mask].reset_index(drop=True)


def _stem(source_id: str) -> str:
    """'makerspaces' -> 'makerspace', 'demo_firm_units' -> 'firm', 'vacant_buildings' -> 'vacant'."""
    name = source_id[5:] if source_id.startswith("demo_") else source_id
    return name.split("_")[0].rstrip("s")


def indicator_sources(catalogue: pd.DataFrame) -> dict[str, list[str]]:
    """indicator_id -> its sources (catalogue JSON list)."""
    out: dict[str, list[str]] = {}
    for indicator, text in zip(catalogue.get("indicator_id", []), catalogue.get("sources", []), strict=True):
        try:
            value = json.loads(text) if isinstance(text, str) else []
        except json.JSONDecodeError:
            value = []
        out[str(indicator)] = [str(v) for v in value] if isinstance(value, list) else []
    return out


def source_feeds(source_id: str, indicator_sources_: Sequence[str]) -> bool:
    """Whether a snapshot's source feeds an indicator: listed in its catalogue sources, or (demo
    bundle: sources named demo_<theme>) the same stem as one of them."""
    if source_id in indicator_sources_:
        return True
    return source_id.startswith("demo_") and _stem(source_id) in {_stem(s) for s in indicator_sources_}


def _affects(value: object) -> list[str] | None:
    """A taxonomy row's `affects` JSON list; None = unknown (it may affect everything)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return None
    return [str(v) for v in parsed] if isinstance(parsed, list) else None


def explain(moves: pd.DataFrame, catalogue: pd.DataFrame, sources: pd.DataFrame, taxonomy: pd.DataFrame,
            level: str) -> pd.DataFrame:
    """`moves` with `explained_by` filled: a list of (kind, name) data changes that may explain each
    movement: ('source', source_id) for an added/removed/updated source feeding the indicator,
    ('taxonomy', component) for a recorded taxonomy change that affects it (its `affects` list
    names the indicator or 'level:<level>', or is unknown), ('version', field) never (versions
    are reported on their own)."""
    out = moves.copy()
    feeds = indicator_sources(catalogue)
    changed = [str(s) for s, c in zip(sources.get("source_id", []), sources.get("change", []), strict=True)
               if c != "unchanged"]
    tax_rows = [(str(r["component"]), _affects(r.get("affects"))) for _, r in taxonomy.iterrows()] if not taxonomy.empty else []
    cache: dict[str, list[tuple[str, str]]] = {}

    def reasons(indicator: str) -> list[tuple[str, str]]:
        if indicator not in cache:
            found = [("source", s) for s in changed if source_feeds(s, feeds.get(indicator, []))]
            for component, affects in tax_rows:
                if affects is None or indicator in affects or f"level:{level}" in affects:
                    if ("taxonomy", component) not in found:
                        found.append(("taxonomy", component))
            cache[indicator] = found
        return cache[indicator]

    out["explained_by"] = [list(reasons(str(i))) if k != "unchanged" else [] for i, k in
                           zip(out["indicator_id"], out["kind"], strict=True)]
    return out


# --- the whole comparison -----------------------------------------------------------------------------

@dataclass
class Comparison:
    """Everything the review page and the board pack show for (snapshot under review, compared one)."""

    snapshot_id: str | None
    compare_id: str | None
    snapshot: dict[str, Any] | None
    previous: dict[str, Any] | None
    catalogue: pd.DataFrame
    moves: pd.DataFrame           # the territory's finest level, every indicator × area
    city: pd.DataFrame            # the whole territory (level 'territory'), one row per indicator
    targets: pd.DataFrame         # target_changes()
    places: PlaceDiff
    sources: pd.DataFrame         # source_changes()
    versions: pd.DataFrame        # version_changes()
    taxonomy: pd.DataFrame        # taxonomy_between()
    district_names: dict[str, str] = field(default_factory=dict)
    territory: Territory | None = None  # levels and labels of the warehouse's territory

    @property
    def fine_level(self) -> str | None:
        return self.territory.fine.id if self.territory is not None else None

    @property
    def comparable(self) -> bool:
        return self.snapshot is not None and self.previous is not None

    @property
    def same_snapshot(self) -> bool:
        return self.snapshot_id is not None and self.snapshot_id == self.compare_id

    def summary(self) -> dict[str, int]:
        """Headline counts of the comparison."""
        counts = self.places.counts()
        tchanges = self.targets["change"].value_counts() if not self.targets.empty else pd.Series(dtype=int)
        return {
            "movements": int((self.moves["kind"] == "changed").sum()) if not self.moves.empty else 0,
            "indicators_moved": int(self.moves.loc[self.moves["kind"] == "changed", "indicator_id"].nunique())
            if not self.moves.empty else 0,
            "targets_changed": int(self.targets["changed"].sum()) if not self.targets.empty else 0,
            "targets_improved": int(tchanges.get("improved", 0)) + int(tchanges.get("data_gained", 0)),
            "targets_worsened": int(tchanges.get("worsened", 0)) + int(tchanges.get("data_lost", 0)),
            "makerspaces_new": counts["makerspace"][0], "makerspaces_lost": counts["makerspace"][1],
            "vacant_new": counts["vacant"][0], "vacant_lost": counts["vacant"][1],
            "sources_changed": int((self.sources["change"] != "unchanged").sum()) if not self.sources.empty else 0,
            "taxonomy_changes": len(self.taxonomy) + len(self.versions),
        }


def district_names(stats: pd.DataFrame, groups: pd.DataFrame | None = None,
                   parent_stats: pd.DataFrame | None = None, parent_level: str | None = None) -> dict[str, str]:
    """Names of areas: id of an area of the finest level (as text, like indicator area ids) -> name, for the
    parent level '<parent_level>:<id>' -> name, and for district groups '<group_level>:<group_id>' -> group name."""
    names = {} if stats.empty else {str(int(i)): str(n) for i, n in zip(stats["id"], stats["name"], strict=True)}
    if parent_stats is not None and parent_level and not parent_stats.empty:
        for i, n in zip(parent_stats["id"], parent_stats["name"], strict=True):
            names[f"{parent_level}:{int(i)}"] = str(n)
    if groups is not None and not groups.empty:
        for level, gid, name in zip(groups["group_level"], groups["group_id"], groups["group_name"], strict=True):
            names[f"{level}:{gid}"] = str(name)
    return names


def compare(reader: WarehouseReader, snapshot_id: str | None, compare_id: str | None,
            stored_places: Callable[[str], list[PlaceKey] | None] = lambda _s: None,
            level: str | None = None, territory: Territory | None = None) -> Comparison:
    """The comparison of `snapshot_id` with `compare_id` (either may be None: then less is shown), at
    `level` (default: the territory's finest level).

    Place keys: the current build's places for the snapshot that is the current build, else
    `stored_places(snapshot_id)` (the app-state store).
    """
    territory = territory or reader_territory(reader)
    if level is None:
        if territory is None:
            raise data.WarehouseError("territorio non registrato dalla build: livello delle aree sconosciuto")
        level = territory.fine.id
    snaps = reader.snapshots()
    snap, prev = snapshot_row(snaps, snapshot_id), snapshot_row(snaps, compare_id)
    catalogue = reader.catalogue(snapshot_id) if snap is not None else pd.DataFrame(
        columns=["indicator_id", "theme", "name_it", "name_en", "unit", "direction", "sources"])
    groups = reader.district_groups(snapshot_id) if snap is not None and snapshot_id is not None else None
    parent = territory.parent if territory is not None else None
    names = district_names(reader.district_stats(level), groups,
                           reader.district_stats(parent.id) if parent is not None else None, parent.id if parent else None)
    empty_moves = pd.DataFrame(columns=MOVE_COLUMNS)
    if snap is None:
        return Comparison(snapshot_id, compare_id, None, prev, catalogue, empty_moves, empty_moves,
                          target_changes(pd.DataFrame(), None), place_diff(None, None, str(snapshot_id), str(compare_id)),
                          source_changes(None, None), version_changes(None, None), pd.DataFrame(), names, territory)
    assert snapshot_id is not None
    targets_now = reader.target_status(snapshot_id)
    if prev is None or compare_id is None:
        return Comparison(snapshot_id, compare_id, snap, None, catalogue, empty_moves, empty_moves,
                          target_changes(targets_now, None), place_diff(None, None, snapshot_id, str(compare_id)),
                          source_changes(None, None), version_changes(None, None), pd.DataFrame(), names, territory)
    sources = source_changes(snap.get("source_versions"), prev.get("source_versions"))
    taxonomy = taxonomy_between(reader.taxonomy_changes(), snaps, snapshot_id, compare_id)
    moves = explain(movements(reader.indicator_changes(snapshot_id, compare_id, level), catalogue), catalogue,
                    sources, taxonomy, level)
    city = explain(movements(reader.indicator_changes(snapshot_id, compare_id, TERRITORY_LEVEL), catalogue), catalogue,
                   sources, taxonomy, TERRITORY_LEVEL)
    build_id = reader.build_info().build_id
    current_keys: dict[str, list[PlaceKey] | None] = {}
    theme_sources: dict[str, set[str]] = {}
    for sid in (snapshot_id, compare_id):
        if sid == build_id:
            frames = {th: reader.places(th) for th in PLACE_THEMES}
            theme_sources = {th: {str(s) for s in f["source_id"]} for th, f in frames.items()}
            current_keys[sid] = [k for th, f in frames.items() for k in place_keys(f, th)]
        else:
            current_keys[sid] = stored_places(sid)
    if not theme_sources:
        theme_sources = {th: {str(s) for s in reader.places(th)["source_id"]} for th in PLACE_THEMES}
    places = place_diff(current_keys[snapshot_id], current_keys[compare_id], snapshot_id, compare_id,
                        theme_sources=theme_sources, source_changes=sources)
    return Comparison(snapshot_id, compare_id, snap, prev, catalogue, moves, city,
                      target_changes(targets_now, reader.target_status(compare_id)), places, sources,
                      version_changes(snap, prev), taxonomy, names, territory)


# --- labels and display tables (translated; shared by the page and the board pack) -------------------

def fmt_value(value: object, lang: str) -> str:
    """A number with decimals suited to its size; '–' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    number = float(value)  # type: ignore[arg-type]
    size = abs(number)
    decimals = 0 if size >= 1000 or number.is_integer() else 1 if size >= 10 else 2
    return fmt_number(number, lang, decimals)


def fmt_change(value: object, lang: str) -> str:
    """A signed change ('+1,5', '−2'); '–' when missing."""
    text = fmt_value(value, lang)
    if text == "–":
        return text
    number = float(value)  # type: ignore[arg-type]
    return ("+" + text) if number > 0 else text.replace("-", "−")


def fmt_pct(value: object, lang: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    number = 100 * float(value)  # type: ignore[arg-type]
    return ("+" if number > 0 else "") + fmt_number(number, lang, 1).replace("-", "−") + "%"


def fmt_timestamp(value: datetime | None, lang: str) -> str:
    """A UTC (or naive UTC) time shown in Italian local time (Europe/Rome): dd/mm/yyyy hh:mm."""
    if value is None:
        return "–"
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    local = aware.astimezone(LOCAL_TZ)
    return f"{fmt_date(local, lang)} {local:%H:%M}"


def snapshot_label(snapshots: pd.DataFrame, snapshot_id: str | None, lang: str) -> str:
    """'21/11/2026 10:15 · 9ddafdf19866' (the id alone when unknown)."""
    row = snapshot_row(snapshots, snapshot_id)
    if row is None:
        return str(snapshot_id) if snapshot_id else t("rv_none", lang)
    created = row["created_at"]
    when = fmt_timestamp(created.to_pydatetime() if isinstance(created, pd.Timestamp) else created, lang)
    return f"{when} · {snapshot_id}"


def session_label(session: Session, lang: str) -> str:
    return f"{fmt_date(session.held_on, lang)} · {plain_text(session.title)}"


def indicator_label(catalogue: pd.DataFrame, indicator_id: str, lang: str) -> str:
    """The indicator's name in the language (its id when the catalogue does not know it)."""
    if catalogue.empty:
        return str(indicator_id)
    rows = catalogue[catalogue["indicator_id"] == indicator_id]
    if rows.empty:
        return str(indicator_id)
    column = "name_en" if lang == "en" else "name_it"
    return str(rows.iloc[0][column])


def indicator_unit(catalogue: pd.DataFrame, indicator_id: str) -> str:
    if catalogue.empty or "unit" not in catalogue:
        return ""
    rows = catalogue[catalogue["indicator_id"] == indicator_id]
    return "" if rows.empty else str(rows.iloc[0]["unit"])


def area_label(level: str | None, area_id: object, names: dict[str, str], lang: str,
               territory: Territory | None = None) -> str:
    """'12 · Brera' for an area of the finest level, 'Municipio 3' for the parent level, the territory's
    name for the whole territory, or a group's name with its kind. Level labels come from `territory`;
    `level` None means the finest level."""
    area = str(area_id)
    fine = territory.fine if territory is not None else None
    found = territory.level(level) if territory is not None and level else None
    if level is None or (fine is not None and level == fine.id):
        return f"{area} · {names[area]}" if area in names else f"{fine.label(lang) if fine else ''} {area}".strip()
    if found is not None:
        name = names.get(f"{level}:{area}")
        head = f"{found.label(lang)} {area}"
        return f"{head} · {name}" if name and name != area and name.casefold() != head.casefold() else head
    if level in (TERRITORY_LEVEL, "city"):  # 'city': the whole-territory level of builds before territories
        return territory.name(lang) if territory is not None else t("rv_level_territory", lang)
    if level in ("periphery_class", "priority_area"):
        return f"{names.get(f'{level}:{area}', area)} ({t(f'rv_level_{level}', lang)})"
    return f"{level} {area}"  # a level this territory does not have


def target_label(targets: pd.DataFrame, target_id: str) -> str:
    rows = targets[targets["target_id"] == target_id] if not targets.empty else targets
    if rows.empty:
        return str(target_id)
    return f"{target_id} · {rows.iloc[0]['objective']}"


def note_target_label(note: Note, catalogue: pd.DataFrame, names: dict[str, str], targets: pd.DataFrame,
                      sessions: dict[int, Session], lang: str, territory: Territory | None = None) -> str:
    """What a note is attached to, in words."""
    kind_text = t(f"rv_target_{note.target_kind}", lang)
    if note.target_kind == "indicator":
        return f"{kind_text}: {indicator_label(catalogue, note.target_ref, lang)}"
    if note.target_kind == "district":
        level, _, area = note.target_ref.partition(":")
        return f"{kind_text}: {area_label(level, area, names, lang, territory) if area else note.target_ref}"
    if note.target_kind == "target":
        return f"{kind_text}: {target_label(targets, note.target_ref)}"
    session = sessions.get(int(note.target_ref)) if note.target_ref.isdigit() else None
    return plain_text(f"{kind_text}: {session.title if session else note.target_ref}")


def explained_text(reasons: Sequence[tuple[str, str]], lang: str) -> str:
    """'fonte aggiornata: demo_makerspace; cambio di classificazione: periphery'."""
    return "; ".join(t(f"rv_explain_{kind}", lang, name=name) for kind, name in reasons)


def movement_table(moves: pd.DataFrame, catalogue: pd.DataFrame, names: dict[str, str], lang: str,
                   level: str | None = None, territory: Territory | None = None) -> pd.DataFrame:
    """Movements as shown: indicator, area, previous, current, change, %, scaled change, assessment, why
    (`level` None: the territory's finest level)."""
    return pd.DataFrame({
        t("rv_col_indicator", lang): [indicator_label(catalogue, i, lang) for i in moves["indicator_id"]],
        t("rv_col_area", lang): [area_label(level, a, names, lang, territory) for a in moves["area_id"]],
        t("rv_col_previous", lang): moves["previous"].astype("float64").round(3),
        t("rv_col_current", lang): moves["current"].astype("float64").round(3),
        t("rv_col_change", lang): moves["change"].astype("float64").round(3),
        t("rv_col_pct", lang): (100 * moves["pct_change"].astype("float64")).round(1),
        t("rv_col_scaled", lang): moves["scaled_change"].astype("float64").round(2),
        t("rv_col_assessment", lang): [t(f"rv_assess_{a}", lang) for a in moves["assessment"]],
        t("rv_col_explained", lang): [explained_text(r, lang) for r in moves["explained_by"]],
    })


def target_table(targets: pd.DataFrame, catalogue: pd.DataFrame, names: dict[str, str], lang: str,
                 territory: Territory | None = None) -> pd.DataFrame:
    """Targets as shown: target, indicator, area, value, target, deadline, previous → current status, change."""
    def status(value: object) -> str:
        return t(f"rv_status_{value}", lang) if isinstance(value, str) else "–"

    return pd.DataFrame({
        t("rv_col_target", lang): [f"{i} · {o}" for i, o in zip(targets["target_id"], targets["objective"], strict=True)],
        t("rv_col_indicator", lang): [indicator_label(catalogue, i, lang) for i in targets["indicator_id"]],
        t("rv_col_area", lang): [area_label(lv, a, names, lang, territory)
                                 for lv, a in zip(targets["level"], targets["area_id"], strict=True)],
        t("rv_col_current", lang): pd.to_numeric(targets["current_value"], errors="coerce").round(3),
        t("rv_col_target_value", lang): pd.to_numeric(targets["target_value"], errors="coerce"),
        t("rv_col_deadline", lang): [fmt_date(pd.Timestamp(d).date(), lang) if pd.notna(d) else "–"
                                     for d in targets["deadline"]],
        t("rv_col_previous_status", lang): [status(s) for s in targets["previous_status"]],
        t("rv_col_status", lang): [status(s) for s in targets["status"]],
        t("rv_col_target_change", lang): [t(f"rv_tchange_{c}", lang) for c in targets["change"]],
    })


def place_table(frame: pd.DataFrame, names: dict[str, str], lang: str, territory: Territory | None = None) -> pd.DataFrame:
    """New or lost places as shown (area: the territory's finest level)."""
    return pd.DataFrame({
        t("rv_col_theme", lang): [t(f"rv_theme_{th}", lang) for th in frame["theme"]],
        t("rv_col_name", lang): frame["name"].astype("object").where(frame["name"].notna(), "–"),
        t("rv_col_area", lang): [area_label(None, i, names, lang, territory) if pd.notna(i) else "–"
                                 for i in frame["district_id"]],
        t("rv_col_source", lang): frame["source_id"],
        t("rv_col_key", lang): frame["source_key"],
    })


def source_change_table(sources: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Source changes as shown (only the sources that changed)."""
    changed = sources[sources["change"] != "unchanged"]
    return pd.DataFrame({
        t("rv_col_source", lang): changed["source_id"],
        t("rv_col_source_change", lang): [t(f"rv_schange_{c}", lang) for c in changed["change"]],
        t("rv_col_previous", lang): [_short_hashes(v) for v in changed["previous"]],
        t("rv_col_current", lang): [_short_hashes(v) for v in changed["current"]],
    })


def _short_hashes(text: object) -> str:
    if not isinstance(text, str) or not text:
        return "–"
    return ", ".join(h[:12] if _SHA256.match(h) else h for h in text.split(", "))


def data_change_table(comparison: Comparison, lang: str) -> pd.DataFrame:
    """Version and taxonomy changes as shown: component, previous, current, note."""
    rows = [(t(f"rv_version_{r.component}", lang), r.previous or "–", r.current or "–", "")
            for r in comparison.versions.itertuples(index=False)]
    if not comparison.taxonomy.empty:
        for _, r in comparison.taxonomy.iterrows():
            rows.append((str(r["component"]), r["old_version"] if pd.notna(r["old_version"]) else "–",
                         str(r["new_version"]), str(r["note"])))
    return pd.DataFrame(rows, columns=[t("rv_col_component", lang), t("rv_col_previous", lang),
                                       t("rv_col_current", lang), t("rv_col_note", lang)])


def notes_table(notes: Sequence[Note], labels: Sequence[str], sessions: dict[int, Session], lang: str) -> pd.DataFrame:
    """Notes as a table (text cells: nothing is interpreted)."""
    return pd.DataFrame({
        t("rv_col_when", lang): [fmt_timestamp(n.created_at, lang) for n in notes],
        t("rv_col_session", lang): [sessions[n.session_id].title if n.session_id in sessions else str(n.session_id)
                                    for n in notes],
        t("rv_col_kind", lang): [t(f"rv_kind_{n.kind}", lang) for n in notes],
        t("rv_col_attached", lang): list(labels),
        t("rv_col_author", lang): [n.author for n in notes],
        t("rv_col_text", lang): [n.body for n in notes],
    })


def key_indicators(comparison: Comparison, limit: int = 4) -> list[str]:
    """Indicators worth a map: those of the targets first, then those with the biggest movements;
    only indicators of the catalogue, each once, at most `limit`."""
    known = set(comparison.catalogue["indicator_id"]) if not comparison.catalogue.empty else set()
    chosen: list[str] = []
    candidates = list(comparison.targets["indicator_id"]) if not comparison.targets.empty else []
    candidates += list(top_movements(comparison.moves, 50)["indicator_id"]) if not comparison.moves.empty else []
    for indicator in candidates:
        if isinstance(indicator, str) and indicator in known and indicator not in chosen:
            chosen.append(indicator)
        if len(chosen) >= limit:
            break
    return chosen
