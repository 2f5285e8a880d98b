"""Snapshots and history: every build adds one snapshot and keeps the earlier ones.

- `copy_forward` ATTACHes the installed warehouse READ_ONLY (never writes to it) and copies its
  snapshots, district groups, periphery groups, catalogue, score weights, ATECO labels, indicator values,
  taxonomy changes and target status into the new warehouse, for snapshots of the same mode (demo
  history never mixes with real) and of the same territory (a snapshot without territory_id, from
  before territories, is Milan's).
  A missing file, a warehouse without indicator tables or with an incompatible schema starts
  the history afresh, and says so (progress message + a 'history' row in taxonomy_changes
  when an existing history had to be dropped).
- `record_snapshot` writes the new snapshot row and, versus the previous snapshot, records in
  `taxonomy_changes` every change that could fake a trend: ATECO categories file
  (config/ateco_categories.toml hash), ATECO editions of the firm sources, periphery
  classification (version, file hash, actual NIL membership), indicator catalogue hash.
  Each row lists in `affects` the indicators (and group levels) whose series break there.
- `same_as`: a snapshot whose source versions (sha256 per source) and configuration hashes
  (catalogue, periphery version and hash, ATECO categories, targets, ATECO editions) equal those of
  the latest earlier snapshot of the same mode records that snapshot's id in `snapshots.same_as`:
  rebuilding the same files adds no new point to a trend (the pages drop such snapshots).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from etl.indicators import FIRM_IDS

Progress = Callable[[str], None]
HISTORY_TABLES = ("snapshots", "taxonomy_changes", "district_groups", "indicator_catalogue", "indicator_values",
                  "target_status", "periphery_groups", "scoring_weights", "ateco_category_labels")
# Per-snapshot tables added later: a previous warehouse without them keeps its history (they are not copied).
OPTIONAL_HISTORY = ("periphery_groups", "scoring_weights", "ateco_category_labels")
PREV = "ind_prev"
FIRM_DEPENDENT = [*FIRM_IDS, "vacant_near_makers_periphery", "opportunity_score"]
PERIPHERY_DEPENDENT = ["level:periphery_class", "level:priority_area", "vacant_near_makers_periphery",
                       "opportunity_score"]


@dataclass
class SnapshotInfo:
    """The row written to `snapshots` for one build."""

    snapshot_id: str
    created_at: datetime
    mode: str
    catalogue_version: str
    periphery_version: str
    periphery_hash: str
    taxonomy_version: str
    targets_version: str
    source_versions: dict[str, list[str]]
    ateco_editions: dict[str, list[str]]
    notes: str | None = None
    same_as: str | None = None  # set by record_snapshot (see same_as_previous)
    territory_id: str | None = None


@dataclass
class CopyResult:
    """What copy_forward found: copied snapshot ids, the latest one, and why history restarted."""

    copied: list[str] = field(default_factory=list)
    previous: dict[str, Any] | None = None
    previous_groups: pd.DataFrame | None = None
    restart_note: str | None = None


def source_versions(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """source_id -> sorted sha256 of the files loaded by this build (path when there is no hash)."""
    out: dict[str, list[str]] = {}
    for sid, sha, path in con.sql("SELECT source_id, sha256, path FROM sources WHERE status = 'loaded' "
                                  "ORDER BY source_id, path").fetchall():
        out.setdefault(str(sid), []).append(str(sha) if sha else f"senza hash: {path}")
    return {k: sorted(set(v)) for k, v in out.items()}


def ateco_editions(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """source_id -> ATECO editions used by firm_units, firm_totals and places of this build."""
    rows = con.sql(
        """SELECT source_id, list(DISTINCT ateco_edition ORDER BY ateco_edition) FROM (
               SELECT source_id, ateco_edition FROM firm_units
               UNION ALL SELECT source_id, ateco_edition FROM firm_totals
               UNION ALL SELECT source_id, ateco_edition FROM places WHERE ateco_edition IS NOT NULL)
           GROUP BY source_id ORDER BY source_id"""
    ).fetchall()
    return {str(s): [str(e) for e in eds] for s, eds in rows}


def _columns(con: duckdb.DuckDBPyConnection, database: str, table: str) -> dict[str, bool]:
    """column name -> nullable, for a table of an attached database (empty if absent)."""
    rows = con.sql("SELECT column_name, is_nullable FROM duckdb_columns() WHERE database_name = $d "
                   "AND schema_name = 'main' AND table_name = $t", params={"d": database, "t": table}).fetchall()
    return {str(c): bool(n) for c, n in rows}


def _current_database(con: duckdb.DuckDBPyConnection) -> str:
    return str(con.sql("SELECT current_database()").fetchall()[0][0])


# Territory of the snapshots written before territories existed (they all described Milan).
LEGACY_TERRITORY = "milano"


def copy_forward(con: duckdb.DuckDBPyConnection, previous: Path | None, mode: str, progress: Progress,
                 territory_id: str = LEGACY_TERRITORY) -> CopyResult:
    """Copy the history of the installed warehouse `previous` into `con` (see module docstring)."""
    result = CopyResult()
    if previous is None:
        progress("[storico] nessun warehouse precedente: lo storico parte da questo snapshot")
        return result
    previous = Path(previous)
    if not previous.is_file():
        progress(f"[storico] warehouse precedente non trovato ({previous}): lo storico parte da questo snapshot")
        return result
    literal = str(previous.resolve()).replace("'", "''")
    try:
        con.execute(f"ATTACH '{literal}' AS {PREV} (READ_ONLY)")
    except duckdb.Error as exc:
        result.restart_note = f"warehouse precedente illeggibile ({type(exc).__name__}: {exc}); storico ripartito"
        progress(f"[storico] ATTENZIONE: {result.restart_note}")
        return result
    try:
        here = _current_database(con)
        plan: dict[str, list[str]] = {}
        for table in HISTORY_TABLES:
            new_cols = _columns(con, here, table)
            old_cols = _columns(con, PREV, table)
            if not old_cols and table in OPTIONAL_HISTORY:
                continue
            if not old_cols:
                if table == "snapshots":
                    progress("[storico] il warehouse precedente non ha storico degli indicatori: lo storico parte ora")
                    return result
                result.restart_note = f"schema precedente incompatibile (manca la tabella {table}); storico ripartito"
                break
            lacking = [c for c, nullable in new_cols.items() if not nullable and c not in old_cols]
            if lacking:
                result.restart_note = (f"schema precedente incompatibile ({table} senza {', '.join(lacking)}); "
                                       "storico ripartito")
                break
            plan[table] = [c for c in new_cols if c in old_cols]
        if result.restart_note:
            n_old = con.sql(f"SELECT count(*) FROM {PREV}.snapshots").fetchall()[0][0]  # noqa: S608 fixed name
            result.restart_note += f" ({n_old} snapshot precedenti non copiati)"
            progress(f"[storico] ATTENZIONE: {result.restart_note}")
            return result
        terr = ("coalesce(territory_id, $legacy)" if "territory_id" in _columns(con, PREV, "snapshots")
                else "$legacy")
        counts = con.sql(f"SELECT mode, {terr} AS t, count(*) FROM {PREV}.snapshots GROUP BY ALL",  # noqa: S608 fixed
                         params={"legacy": LEGACY_TERRITORY}).fetchall()
        where = f"mode = $mode AND {terr} = $territory"
        keep = f"(SELECT snapshot_id FROM {PREV}.snapshots WHERE {where})"  # noqa: S608 fixed name
        params = {"mode": mode, "territory": territory_id, "legacy": LEGACY_TERRITORY}
        for table, cols in plan.items():
            col_list = ", ".join(cols)
            con.execute(f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {PREV}.{table} "  # noqa: S608 allow-listed
                        f"WHERE snapshot_id IN {keep}", params)
        con.execute("UPDATE snapshots SET territory_id = ? WHERE territory_id IS NULL", [territory_id])
        result.copied = [r[0] for r in con.sql(
            f"SELECT snapshot_id FROM {PREV}.snapshots WHERE {where} ORDER BY created_at, snapshot_id",  # noqa: S608
            params=params).fetchall()]
        other_mode = sum(n for m, t, n in counts if m != mode and t == territory_id)
        other_terr = sum(n for _, t, n in counts if t != territory_id)
        msg = f"[storico] copiati {len(result.copied)} snapshot precedenti ({mode}, {territory_id})"
        if other_mode:
            msg += f"; {other_mode} snapshot in modalità diversa non copiati (demo e reale non si mescolano)"
        if other_terr:
            msg += f"; {other_terr} snapshot di un altro territorio non copiati"
        progress(msg)
    finally:
        con.execute(f"DETACH {PREV}")
    if result.copied:
        prev = con.sql("SELECT * FROM snapshots WHERE snapshot_id = $s", params={"s": result.copied[-1]}).df()
        result.previous = prev.iloc[0].to_dict()
        result.previous_groups = con.sql(
            "SELECT group_level, group_id, district_id FROM district_groups WHERE snapshot_id = $s",
            params={"s": result.copied[-1]}).df()
    return result


def detect_changes(prev: dict[str, Any] | None, new: SnapshotInfo, prev_groups: pd.DataFrame | None,
                   new_groups: pd.DataFrame) -> list[dict[str, Any]]:
    """Changes versus the previous snapshot that would fake a trend (rows for taxonomy_changes)."""
    if prev is None:
        return []
    out: list[dict[str, Any]] = []

    def add(component: str, old: object, new_value: object, note: str, affects: list[str]) -> None:
        out.append({"snapshot_id": new.snapshot_id, "component": component,
                    "old_version": None if old is None or (isinstance(old, float) and pd.isna(old)) else str(old),
                    "new_version": str(new_value), "note": note, "affects": json.dumps(affects)})

    if str(prev.get("taxonomy_version")) != new.taxonomy_version:
        add("ateco_categories", prev.get("taxonomy_version"), new.taxonomy_version,
            "config/ateco_categories.toml è cambiato: le categorie del programma (manifattura digitale, artigiana...) "
            "possono contenere codici diversi; i confronti con gli snapshot precedenti non sono un trend", FIRM_DEPENDENT)
    old_eds = _loads(prev.get("ateco_editions"))
    if old_eds is not None and old_eds != new.ateco_editions:
        add("ateco_edition", json.dumps(old_eds, sort_keys=True), json.dumps(new.ateco_editions, sort_keys=True),
            "le fonti delle imprese usano un'altra edizione ATECO: stessi codici possono indicare attività diverse",
            FIRM_DEPENDENT)
    if str(prev.get("periphery_version")) != new.periphery_version:
        add("periphery", prev.get("periphery_version"), new.periphery_version,
            "la classificazione centro/semicentro/periferia o le aree prioritarie sono cambiate (config/periphery.toml)",
            PERIPHERY_DEPENDENT)
    elif prev.get("periphery_hash") and str(prev.get("periphery_hash")) != new.periphery_hash:
        add("periphery", prev.get("periphery_hash"), new.periphery_hash,
            "config/periphery.toml modificato senza cambiare 'version': aggiornare la versione", PERIPHERY_DEPENDENT)
    if prev_groups is not None:
        before, after = _memberships(prev_groups), _memberships(new_groups)
        if before != after:
            moved = _describe_moves(before, after)
            add("district_groups", f"{len(before)} appartenenze", f"{len(after)} appartenenze",
                f"composizione dei gruppi di aree cambiata: {moved}", PERIPHERY_DEPENDENT)
    if str(prev.get("catalogue_version")) != new.catalogue_version:
        add("catalogue", prev.get("catalogue_version"), new.catalogue_version,
            "config/indicators.toml è cambiato: formule, pesi o definizioni possono essere diversi", ["*"])
    return out


def _memberships(groups: pd.DataFrame) -> set[tuple[str, str, int]]:
    cols = groups[["group_level", "group_id", "district_id"]]
    return {(str(a), str(b), int(c)) for a, b, c in cols.itertuples(index=False)}


def _describe_moves(before: set[tuple[str, str, int]], after: set[tuple[str, str, int]], limit: int = 12) -> str:
    gone = sorted(before - after, key=lambda t: (t[0], t[2], t[1]))
    new = sorted(after - before, key=lambda t: (t[0], t[2], t[1]))
    parts = [f"area {n} esce da {g}" for _, g, n in gone] + [f"area {n} entra in {g}" for _, g, n in new]
    more = f" (e altre {len(parts) - limit})" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more


def _loads(text: object) -> Any:
    if not isinstance(text, str) or not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


# Snapshot fields that must all be equal for a rebuild to add no trend point.
SAME_INPUT_FIELDS = ("catalogue_version", "periphery_version", "periphery_hash", "taxonomy_version",
                     "targets_version", "source_versions", "ateco_editions")


def same_as_previous(prev: dict[str, Any] | None, new: SnapshotInfo) -> str | None:
    """The previous snapshot's id when `new` has the same inputs and configuration, else None.

    `prev` is the latest earlier snapshot of the same mode (copy_forward copies one mode only).
    JSON fields are compared as data (key order does not matter); a field missing in an older
    snapshot counts as different.
    """
    if not prev or prev.get("mode") not in (None, new.mode):
        return None
    for name in SAME_INPUT_FIELDS:
        old, cur = prev.get(name), getattr(new, name)
        if name in ("source_versions", "ateco_editions"):
            if _loads(old) != cur:
                return None
        elif old is None or (isinstance(old, float) and pd.isna(old)) or str(old) != str(cur):
            return None
    sid = prev.get("snapshot_id")
    return None if sid is None else str(sid)


def record_snapshot(con: duckdb.DuckDBPyConnection, snap: SnapshotInfo, groups: pd.DataFrame, copied: CopyResult,
                    progress: Progress) -> list[dict[str, Any]]:
    """Insert the snapshot row and its taxonomy changes; returns the changes recorded."""
    notes = snap.notes or copied.restart_note
    snap.same_as = None if copied.restart_note else same_as_previous(copied.previous, snap)
    if snap.same_as:
        progress(f"[storico] stessi file e stessa configurazione dello snapshot {snap.same_as}: "
                 "nessun nuovo punto nei trend (same_as)")
    con.execute(
        "INSERT INTO snapshots (snapshot_id, created_at, mode, catalogue_version, periphery_version, taxonomy_version, "
        "source_versions, periphery_hash, targets_version, ateco_editions, notes, same_as, territory_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [snap.snapshot_id, snap.created_at, snap.mode, snap.catalogue_version, snap.periphery_version,
         snap.taxonomy_version, json.dumps(snap.source_versions, sort_keys=True), snap.periphery_hash,
         snap.targets_version, json.dumps(snap.ateco_editions, sort_keys=True), notes, snap.same_as,
         snap.territory_id],
    )
    changes = detect_changes(copied.previous, snap, copied.previous_groups, groups)
    if copied.restart_note:
        changes.insert(0, {"snapshot_id": snap.snapshot_id, "component": "history", "old_version": "storico precedente",
                           "new_version": snap.snapshot_id, "note": copied.restart_note, "affects": json.dumps(["*"])})
    for ch in changes:
        con.execute("INSERT INTO taxonomy_changes (snapshot_id, component, old_version, new_version, note, affects) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [ch["snapshot_id"], ch["component"], ch["old_version"], ch["new_version"], ch["note"], ch["affects"]])
        progress(f"[storico] cambio registrato ({ch['component']}): {ch['note']}")
    return changes
