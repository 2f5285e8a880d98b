"""The warehouse file as the app sees it: its identity, one shared read-only connection per build,
a schema check, the default build on a fresh machine, and the provenance of what it holds.

Why a process-wide registry and not `st.cache_resource` alone
-------------------------------------------------------------
DuckDB keeps one database instance per path and process: while any connection to a path is open,
`duckdb.connect(path, read_only=True)` returns that same instance, even after `python -m etl build`
has replaced the file with `os.replace` (it goes on reading the old, deleted file). So a running
server only sees a new build if it closes the old connection BEFORE it opens the new one, and the
old file stays open as "(deleted)" until then. A `cache_resource` keyed by the file identity would
open the new key while the old entry is still open (getting the old build) and would never close
the old one.

`Registry` keeps, per path, the connection of the build currently on disk. Every query borrows a
cursor with a lease (`lease()`); when a run sees a new identity (`key_for`, one `os.stat` per run)
the registry switches: new leases on that path wait, leases in flight on the old connection
(other sessions' queries) are allowed to finish (up to `DRAIN_TIMEOUT_S`; they are short reads),
the old connection is closed exactly once, then the new file is opened and checked. A lease asked
with an older key of the same path (a run that started before the switch) gets the current
connection: that run may mix two builds once, the next run is consistent. All of it under one
lock; opening and checking a file takes milliseconds.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from osservatorio.data import WarehouseError

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 30.0  # how long a switch waits for queries in flight on the old build
BUILD_WAIT_S = 600.0  # how long a visit waits for a build that another process is running
MAX_OPEN = 8  # paths with an open connection at once (one per territory in production; tests use many)
BUILD_COLUMNS = frozenset({"build_id", "mode", "started_at", "finished_at", "raw_dir", "schema_version"})
# Relations every page reads (etl/sql/schema.sql): a file without them is not a usable build.
REQUIRED = {"build": "TABLE", "sources": "TABLE", "districts": "TABLE", "population": "TABLE",
            "population_current": "VIEW", "district_stats": "VIEW", "places": "TABLE", "rejects": "TABLE",
            "territory": "TABLE", "territory_levels": "TABLE"}  # schema 3: a build before territories is rebuilt


@dataclass(frozen=True)
class WarehouseKey:
    """Path plus file identity: changes when the ETL swaps in a new build, so caches refresh."""

    path: str
    stamp: str


def key_for(path: Path | str) -> WarehouseKey | None:
    """The current identity of the warehouse file (inode, mtime_ns, size), or None if it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return WarehouseKey(str(path), f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}")


class BadWarehouse(WarehouseError):
    """The file exists but is not a usable warehouse; `code` is an i18n key, `params` its values."""

    def __init__(self, message: str, code: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params: dict[str, object] = params


class NoWarehouse(WarehouseError):
    """There is no warehouse file (and none was built: read-only mode, automatic build off)."""


class BuildFailed(NoWarehouse):
    """There is no warehouse file and the automatic build did not produce one (`reason` says why)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- schema check ----------------------------------------------------------------------------------------

def check_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """Raise BadWarehouse unless `con` holds a finished build of this app.

    Required: a `build` table with the app's columns and one build, and the relations every page
    reads (REQUIRED). Newer optional tables (indicators, snapshots, catalogues) may be missing in
    older builds: the pages say so, so they are not required here.
    """
    rows = con.sql("SELECT lower(table_name), table_type FROM information_schema.tables WHERE table_schema = 'main'"
                   ).fetchall()
    present = {name: ("VIEW" if kind == "VIEW" else "TABLE") for name, kind in rows}
    if present.get("build") != "TABLE":
        raise BadWarehouse("nessuna tabella build: non è un warehouse dell'Osservatorio", "wh_not_ours")
    # the columns of `build` alone (information_schema.columns reads every table's: 60 ms on a cold file, 1 ms here)
    columns = {str(c).lower() for c in con.sql("SELECT * FROM build LIMIT 0").columns}
    if not BUILD_COLUMNS <= columns:
        raise BadWarehouse("la tabella build non è quella dell'Osservatorio", "wh_not_ours")
    builds = con.sql("SELECT schema_version, finished_at FROM build ORDER BY started_at DESC LIMIT 1").fetchall()
    if not builds:
        raise BadWarehouse("nessuna build registrata", "wh_no_build")
    version, finished = builds[0]
    missing = sorted(name for name, kind in REQUIRED.items() if present.get(name) != kind)
    if missing:
        raise BadWarehouse(f"schema {version}: mancano {', '.join(missing)}", "wh_missing", version=version,
                           names=", ".join(missing))
    if finished is None:
        raise BadWarehouse("la build non è terminata", "wh_unfinished")


HEADER_BYTES = 3 * 4096  # DuckDB's file header and its two database headers


def check_size(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """A truncated file opens and lists its tables (the catalogue is near the start) but fails on the
    first read of a lost block: compare the file size with the blocks the database says it has."""
    rows = con.sql("SELECT block_size, used_blocks FROM pragma_database_size()").fetchall()
    if not rows:
        return
    block_size, used_blocks = rows[0]  # free blocks at the end may be cut off: count only used ones
    expected = HEADER_BYTES + int(block_size) * int(used_blocks)
    actual = os.path.getsize(path)
    if actual < expected:
        raise BadWarehouse(f"file troncato: {actual} byte, ne servono {expected}", "wh_unreadable",
                           error=f"truncated: {actual} < {expected} bytes")


def open_checked(path: str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a checked warehouse; BadWarehouse (connection closed) otherwise."""
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error as exc:
        raise BadWarehouse(f"file non leggibile da DuckDB: {exc}", "wh_unreadable", error=_short(exc)) from exc
    try:
        check_size(con, path)
        check_warehouse(con)
    except BadWarehouse:
        con.close()
        raise
    except duckdb.Error as exc:
        con.close()
        raise BadWarehouse(f"file non leggibile da DuckDB: {exc}", "wh_unreadable", error=_short(exc)) from exc
    return con


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the registry -----------------------------------------------------------------------------------------

@dataclass(eq=False)
class _Entry:
    key: WarehouseKey
    con: duckdb.DuckDBPyConnection | None
    error: BadWarehouse | None = None
    users: Counter[int] = field(default_factory=Counter)  # thread id -> leases in flight
    closed: bool = False


class Registry:
    """One read-only connection per warehouse path, for the build currently on disk (see module doc)."""

    def __init__(self, drain_timeout_s: float = DRAIN_TIMEOUT_S,
                 opener: Callable[[str], duckdb.DuckDBPyConnection] = open_checked) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._entries: dict[str, _Entry] = {}
        self._switching: set[str] = set()
        self.drain_timeout_s = drain_timeout_s
        self._opener = opener
        self.opened = 0  # connections opened and closed so far (tests and diagnostics)
        self.closed = 0

    def _current(self, key: WarehouseKey) -> _Entry:
        """The entry to lease for `key` (switching to the file on disk when needed); lock held."""
        while True:
            if key.path in self._switching:
                self._cond.wait()
                continue
            entry = self._entries.get(key.path)
            if entry is not None and entry.key == key:
                return entry
            disk = key_for(key.path)
            if entry is not None and (disk is None or disk == entry.key):
                return entry  # `key` is older than the build already open (or the file just vanished)
            if disk is None:
                raise NoWarehouse(key.path)
            self._switch(key.path, entry, disk)

    def _switch(self, path: str, old: _Entry | None, new: WarehouseKey) -> None:
        """Close `old` (after its leases end) and open `new`; lock held on entry and on return."""
        self._switching.add(path)
        try:
            if old is not None:
                self._drain(old)
                self._close(old)
            try:
                entry = _Entry(new, self._opener(path))
                self.opened += 1
            except BadWarehouse as exc:
                entry = _Entry(new, None, exc)
            self._entries.pop(path, None)
            self._entries[path] = entry  # most recently opened last
            self._evict_idle(keep=path)
        finally:
            self._switching.discard(path)
            self._cond.notify_all()

    def _drain(self, entry: _Entry) -> None:
        me = threading.get_ident()
        deadline = time.monotonic() + self.drain_timeout_s
        while sum(n for tid, n in entry.users.items() if tid != me) > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("warehouse %s: %d query(ies) still running after %.0f s; closing the old build anyway",
                            entry.key.path, sum(entry.users.values()), self.drain_timeout_s)
                break
            self._cond.wait(left)

    def _evict_idle(self, keep: str) -> None:
        """Close the oldest idle connections beyond MAX_OPEN paths (a test session opens many)."""
        for path in list(self._entries):
            if len(self._entries) <= MAX_OPEN:
                return
            entry = self._entries[path]
            if path != keep and not entry.users:
                self._close(entry)
                del self._entries[path]

    def _close(self, entry: _Entry) -> None:
        if entry.closed:
            return
        entry.closed = True
        if entry.con is not None:
            try:
                entry.con.close()
            except duckdb.Error:  # already closed: nothing to release
                pass
            self.closed += 1

    def _acquire(self, key: WarehouseKey) -> tuple[_Entry, duckdb.DuckDBPyConnection]:
        with self._cond:
            entry = self._current(key)
            if entry.error is not None:
                raise entry.error
            assert entry.con is not None
            try:
                cursor = entry.con.cursor()
            except duckdb.Error as exc:
                raise WarehouseError(f"{key.path}: {exc}") from exc
            entry.users[threading.get_ident()] += 1
            return entry, cursor

    def _release(self, entry: _Entry, cursor: duckdb.DuckDBPyConnection, thread: int) -> None:
        try:
            cursor.close()
        except duckdb.Error:
            pass
        with self._cond:
            entry.users[thread] -= 1
            if entry.users[thread] <= 0:
                del entry.users[thread]
            self._cond.notify_all()

    @contextmanager
    def lease(self, key: WarehouseKey) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the current build of `key.path`, valid inside the block."""
        entry, cursor = self._acquire(key)
        thread = threading.get_ident()
        try:
            yield cursor
        finally:
            self._release(entry, cursor, thread)

    def cursor(self, key: WarehouseKey) -> duckdb.DuckDBPyConnection:
        """A cursor whose lease ends when the cursor is garbage-collected (for code that cannot use `lease`)."""
        entry, cursor = self._acquire(key)
        thread = threading.get_ident()

        def release() -> None:
            with self._cond:
                entry.users[thread] -= 1
                if entry.users[thread] <= 0:
                    del entry.users[thread]
                self._cond.notify_all()

        weakref.finalize(cursor, release)
        return cursor

    def check(self, key: WarehouseKey) -> None:
        """Raise the warehouse's problem (BadWarehouse, NoWarehouse) if it cannot be used."""
        with self._cond:
            entry = self._current(key)
            if entry.error is not None:
                raise entry.error

    def forget(self, path: Path | str) -> None:
        """Close the connection of a path whose file is gone (no handle kept on a deleted file)."""
        with self._cond:
            entry = self._entries.get(str(path))
            if entry is None or str(path) in self._switching:
                return
            self._switching.add(str(path))
            try:
                self._drain(entry)
                self._close(entry)
                self._entries.pop(str(path), None)
            finally:
                self._switching.discard(str(path))
                self._cond.notify_all()

    def close_all(self) -> None:
        """Close every connection (tests, shutdown)."""
        for path in list(self._entries):
            self.forget(path)

    def current_key(self, path: Path | str) -> WarehouseKey | None:
        """The identity of the build the registry has open for `path` (None: nothing open)."""
        with self._cond:
            entry = self._entries.get(str(path))
            return None if entry is None else entry.key


REGISTRY = Registry()


# --- one warehouse per territory ----------------------------------------------------------------------------

_TERRITORY_ID = re.compile(r"[a-z][a-z0-9_]{0,62}")


def sibling_path(default: Path | str, territory_id: str) -> Path:
    """Where the warehouse of a territory other than the default lives: `warehouse-<id>.duckdb` beside the default."""
    if not _TERRITORY_ID.fullmatch(territory_id):
        raise ValueError(f"identificativo di territorio non valido: {territory_id!r}")
    default = Path(default)
    return default.with_name(f"{default.stem}-{territory_id}{default.suffix}")


def candidate_paths(default: Path | str) -> list[Path]:
    """The default warehouse, then its siblings `warehouse-<id>.duckdb` (sorted); temporary and lock files never match."""
    default = Path(default)
    pattern = re.compile(re.escape(default.stem) + r"-(" + _TERRITORY_ID.pattern + r")" + re.escape(default.suffix))
    try:
        names = sorted(e.name for e in os.scandir(default.parent) if e.is_file() and pattern.fullmatch(e.name))
    except OSError:
        names = []
    return [default, *(default.with_name(n) for n in names)]


@dataclass(frozen=True)
class Available:
    """A usable warehouse and the territory its build stored (id and names from its `territory` table)."""

    territory_id: str
    name_it: str
    name_en: str
    key: WarehouseKey
    is_default: bool

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_it


_names_lock = threading.Lock()
_names: dict[WarehouseKey, tuple[str, str, str] | None] = {}  # file identity -> (id, name_it, name_en); None: unusable


def _read_names(key: WarehouseKey) -> tuple[str, str, str] | None:
    """(territory_id, name_it, name_en) from one file on a short read-only connection; None when unusable.

    Only the names for the selectbox: the registry opens (and fully checks) the file when it is chosen."""
    try:
        con = duckdb.connect(key.path, read_only=True)
    except duckdb.Error as exc:
        log.info("warehouse %s not offered as a territory: %s", key.path, exc)
        return None
    try:
        rows = con.sql("SELECT territory_id, name_it, name_en FROM territory LIMIT 1").fetchall()
        return (str(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else None
    except duckdb.Error as exc:
        log.info("warehouse %s not offered as a territory: %s", key.path, exc)
        return None
    finally:
        con.close()


def _territory_names(keys: list[WarehouseKey]) -> dict[WarehouseKey, tuple[str, str, str] | None]:
    """Names of each build, read once per file identity; the unknown ones are read side by side (threads:
    opening a DuckDB file is mostly I/O and catalogue decoding outside the GIL)."""
    with _names_lock:
        missing = [k for k in keys if k not in _names]
    if missing:
        if len(missing) == 1:
            found = {missing[0]: _read_names(missing[0])}
        else:
            with ThreadPoolExecutor(max_workers=min(4, len(missing))) as pool:
                found = dict(zip(missing, pool.map(_read_names, missing), strict=True))
        with _names_lock:
            if len(_names) > 64:  # identities of replaced builds
                _names.clear()
            _names.update(found)
    with _names_lock:
        return {k: _names.get(k) for k in keys}


def available(default: Path | str) -> list[Available]:
    """The usable warehouses: the default first (when usable), then the siblings, one per territory id.

    A file that cannot be opened, predates territories or repeats a territory already listed is left
    out (the default wins); the page says what is wrong with the default when it is asked for. Names are
    read on short connections (cached per file identity); the registry opens only the chosen build.
    """
    paths = candidate_paths(default)
    keys = {path: key_for(path) for path in paths}
    names = _territory_names([k for k in keys.values() if k is not None])
    out: list[Available] = []
    seen: set[str] = set()
    for index, path in enumerate(paths):
        key = keys[path]
        found = names.get(key) if key is not None else None
        if key is None or found is None or found[0] in seen:
            continue
        seen.add(found[0])
        out.append(Available(found[0], found[1], found[2], key, is_default=index == 0))
    return out


# --- the default build on a fresh machine -----------------------------------------------------------------

_build_lock = threading.Lock()  # sessions of one server build once; other processes: the build's own lock


def default_raw_dir() -> Path | None:
    """What a fresh machine builds from: the committed bundle of official files, else None (the demo)."""
    from etl import bundle

    return bundle.BUNDLE_DIR if bundle.available(bundle.BUNDLE_DIR) else None


def ensure_warehouse(path: Path, wait_s: float = BUILD_WAIT_S, progress: Callable[[str], None] | None = None) -> str | None:
    """Build the default warehouse at `path` if there is none: the bundle, or the demo without it.

    Returns "bundle", "demo", or None when a warehouse was already there (or another process built
    it meanwhile). The build takes its own lock on `<path>.lock`; when another build holds it, this
    waits up to `wait_s` for that build's file to appear instead of building twice. The ETL does the
    writing; the app only opens the result read-only. Raises WarehouseError when nothing appears.
    """
    import inspect

    from etl import pipeline
    from etl.base import SourceError

    with _build_lock:
        if path.exists():
            return None
        raw = default_raw_dir()
        kwargs: dict[str, object] = {"progress": progress or (lambda _msg: None)}
        if "wait" in inspect.signature(pipeline.build).parameters:
            kwargs["wait"] = 0
        locked = getattr(pipeline, "BuildLocked", None)
        try:
            pipeline.build(raw, path, **kwargs)  # type: ignore[arg-type]
        except SourceError as exc:
            if locked is None or not isinstance(exc, locked):
                raise BuildFailed(f"costruzione non riuscita: {exc}", _short(exc, 300)) from exc
            deadline = time.monotonic() + wait_s
            while not path.exists():
                if time.monotonic() > deadline:
                    raise BuildFailed(f"un'altra costruzione di {path} è ancora in corso", _short(exc, 300)) from exc
                time.sleep(0.5)
            return None
        except Exception as exc:  # a broken configuration must not become a traceback on the page
            log.exception("automatic build of %s failed", path)
            raise BuildFailed(f"costruzione non riuscita: {exc}", _short(exc, 300)) from exc
        return "demo" if raw is None else "bundle"


# --- provenance --------------------------------------------------------------------------------------------

def provenance(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Loaded official sources: attribution, licence, dataset, reference_date, title (columns NULL when an
    older build does not have them)."""
    columns = {r[0] for r in con.sql("SELECT lower(column_name) FROM information_schema.columns "
                                     "WHERE table_schema = 'main' AND lower(table_name) = 'sources'").fetchall()}
    optional = [c if c in columns else f"NULL AS {c}" for c in ("attribution", "reference_date")]
    select = ", ".join(["source_id", "dataset", "title", "licence", "trust", *optional])  # fixed names only
    return con.sql(
        f"SELECT {select} FROM sources WHERE status = 'loaded' AND trust <> 'demo' "  # noqa: S608
        "ORDER BY dataset NULLS LAST, source_id").df()


_LICENCE = re.compile(r"\b(CC[ -]BY(?:-(?:SA|NC|ND))*(?: \d\.\d)?|CC0(?: 1\.0)?|IODL(?: v?\d\.\d)?|ODbL(?: \d\.\d)?"
                      r"|GPL-\d\.\d|MIT)\b", re.IGNORECASE)


def short_licence(text: str, lang: str = "it") -> str:
    """'CC BY 4.0 (licenza predefinita del portale; da verificare)' -> 'CC BY 4.0 (da verificare)';
    a licence stated as missing ('non indicata (dati di origine ..., CC BY 4.0)') stays missing."""
    from osservatorio.i18n import t

    clean = _text(text)
    found = _LICENCE.search(clean)
    if not clean or clean.lower().startswith(("non indicat", "not stated", "unknown", "sconosciut")) or not found:
        return t("licence_not_stated", lang)
    name = found.group(1)
    return f"{name} ({t('licence_to_check', lang)})" if "verific" in clean.lower() else name


def short_attribution(attribution: str, licence: str) -> str:
    """The publisher part of an attribution ('Comune di Milano (elaborazione ...)' -> 'Comune di Milano');
    without one, the holder named after a dash in the licence ('CC BY 4.0 – Comune di Milano')."""
    text = _text(attribution)
    if not text:
        parts = re.split(r"\s[–-]\s", _text(licence), maxsplit=1)
        text = parts[1] if len(parts) == 2 else ""
    return re.split(r"\s*[(;]", text, maxsplit=1)[0].strip()


def provenance_line(frame: pd.DataFrame, lang: str = "it", limit: int = 4) -> str | None:
    """'Comune di Milano (ds964, ds379, ds147), CC BY 4.0; …' from `provenance`; None when nothing official.

    Grouped by publisher and (short) licence; sources are named by dataset code, those without a
    code are counted ('+2'); the full attribution and licence of each source are on the Data page.
    """
    if "status" in frame.columns:  # a full `sources` table (the board pack): only the official files loaded
        frame = frame[frame["status"] == "loaded"]
    if "trust" in frame.columns:
        frame = frame[frame["trust"] != "demo"]
    if frame.empty:
        return None
    groups: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for row in frame.itertuples(index=False):
        licence = short_licence(row.licence, lang)
        who = short_attribution(getattr(row, "attribution", None), row.licence)
        codes, others = groups.setdefault((who, licence), ([], []))
        code = _text(getattr(row, "dataset", None))
        if code and code not in codes:
            codes.append(code)
        elif not code:
            others.append(_text(row.title) or str(row.source_id))
    parts = []
    for (who, licence), (codes, others) in groups.items():
        names = codes[:limit] + (["…"] if len(codes) > limit else [])
        if others:
            names.append(f"+{len(others)}" if names else (others[0][:40] + (f" +{len(others) - 1}" if len(others) > 1 else "")))
        listed = ", ".join(names)
        parts.append(f"{who} ({listed}), {licence}" if who else f"{listed}: {licence}")
    return "; ".join(parts)


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    return " ".join(str(value).split())
