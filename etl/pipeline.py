"""The build: load every source into a new DuckDB file, then swap it in atomically.

- One writer at a time: `build()` holds an exclusive `flock` on `<out>.lock` for the whole build
  (holder pid, host, start and command written into it); a second build stops at once with
  `BuildLocked`, or waits up to `wait` seconds.
- Under the lock, temporary files of builds that died (`<out>.tmp-<pid>-*`, pid not alive) go.
- Each file is loaded, then written in its own transaction: a file that cannot be used is
  recorded in `sources` with status 'failed' (why, and what to do) and nothing else of it is
  written; the other sources still load. With `strict=True` any failure aborts the build.
- The build describes one territory (`etl/territory.py` profile, written to `territory` and
  `territory_levels`): the boundaries of each of its levels are loaded first, with the source the
  profile names (parent level first, so each area of the finest level gets its `parent_id` by
  largest overlap). Without the finest level's boundaries nothing can be built: that always aborts.
  A source whose `level` is not a level of the territory, or whose `territories` does not list it,
  is skipped with the reason; so is a point file none of whose points falls in the territory.
- Every data-looking file that no source claims is listed as skipped, source_id 'unrecognised'.

An aborted or interrupted build removes its temporary file and leaves the previous warehouse
untouched; readers never see half a build.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import shlex
import shutil
import socket
import stat
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from etl import __version__, geo, programme
from etl import territory as territories
from etl.base import BuildContext, LoadResult, Source, SourceError, sha256_of
from etl.indicators import compute_all
from etl.readers import INT32_MAX, INT32_MIN, peek_columns
from etl.sql import SCHEMA_VERSION, schema_sql, transform
from etl.staging import Heartbeat
from etl.territory import LevelSpec, TerritoryProfile

DEFAULT_WAREHOUSE = Path(__file__).resolve().parent.parent / "data" / "warehouse.duckdb"
logger = logging.getLogger(__name__)


def log_progress(message: str) -> None:
    """The default progress callback: one INFO record per Italian progress line (the CLI prints them to stderr)."""
    logger.info(message)



def default_out(territory_id: str | None = None) -> Path:
    """`data/warehouse.duckdb` for the default territory, `data/warehouse-<id>.duckdb` beside it otherwise."""
    if territory_id is None or territory_id == territories.default_id():
        return DEFAULT_WAREHOUSE
    return DEFAULT_WAREHOUSE.with_name(f"warehouse-{territory_id}.duckdb")

Progress = Callable[[str], None]

UNRECOGNISED = "unrecognised"  # source_id of the files no source claims
# Files that look like data and must therefore be accounted for in every build.
DATA_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".json", ".geojson", ".zip", ".xlsx", ".xls", ".shp", ".gpkg",
                           ".parquet"})
SHAPEFILE_SIDECARS = (".dbf", ".shx", ".prj", ".cpg", ".sbn", ".sbx", ".qix", ".shp.xml")
LOCK_POLL_S = 0.2
_UNRECOGNISED_HINT = ("se è un dataset da usare, aggiungere una fonte in etl/sources/ (o una voce in config/census.toml) "
                      "che ne riconosca l'intestazione; altrimenti toglierlo dalla cartella: è solo elencato, non caricato")


class BuildLocked(SourceError):
    """Another build holds the lock of this warehouse (`holder` is what it wrote into the lock file)."""

    def __init__(self, lock_path: Path | str, holder: dict[str, Any], waited: float = 0.0):
        self.holder = holder
        pid = holder.get("pid") or "sconosciuto"
        since = holder.get("started") or "ora sconosciuta"
        host = f", host {holder['host']}" if holder.get("host") else ""
        command = f", comando: {holder['command']}" if holder.get("command") else ""
        waited_text = f"; atteso {waited:.0f} s" if waited else ""
        super().__init__(lock_path, f"un'altra build è in corso (pid {pid}, dal {since}{host}{command}{waited_text})",
                         "attendere che finisca, oppure rilanciare con --wait SECONDI per aspettarla")


@dataclass
class SourceSummary:
    """One line of the build summary."""

    source_id: str
    path: str
    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_repaired: int = 0
    trust: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class BuildReport:
    """What a build did; `summaries` has one entry per file found (and per unrecognised file)."""

    warehouse: Path
    mode: str
    build_id: str
    summaries: list[SourceSummary] = field(default_factory=list)
    removed_leftovers: list[Path] = field(default_factory=list)
    territory: str = ""

    @property
    def failed(self) -> list[SourceSummary]:
        """The files that were refused (the build is complete without them)."""
        return [s for s in self.summaries if s.status == "failed"]

    @property
    def unrecognised(self) -> list[SourceSummary]:
        """Data-looking files no source claimed."""
        return [s for s in self.summaries if s.source_id == UNRECOGNISED]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table and view of the warehouse."""
    con.execute(schema_sql())


# --- one writer at a time -----------------------------------------------------------------------------

BUILD_MEMORY_LIMIT = "384MB"


def lock_path_for(out: Path) -> Path:
    """The lock file of a warehouse path."""
    return out.with_name(out.name + ".lock")


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 65536, 0)
        holder = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


@contextmanager
def build_lock(out: Path, wait: float = 0.0, command: str | None = None) -> Iterator[Path]:
    """Hold an exclusive flock on `<out>.lock`; raise BuildLocked after `wait` seconds.

    The lock file is removed on release while still locked; a waiter that had opened the removed
    file notices (its inode is no longer the path's) and opens the path again, so two builds can
    never each hold a different copy.
    """
    lock_path = lock_path_for(out)
    started = time.monotonic()
    deadline = started + max(float(wait), 0.0)
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SourceError(lock_path, f"impossibile aprire il file di lock della build ({exc.strerror or exc})",
                              "controllare che la cartella del warehouse esista e sia scrivibile") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            now = time.monotonic()
            if now >= deadline:
                raise BuildLocked(lock_path, holder, waited=now - started if wait > 0 else 0.0) from None
            time.sleep(min(LOCK_POLL_S, deadline - now))
            continue
        except BaseException:
            os.close(fd)
            raise
        try:
            current = os.stat(lock_path).st_ino
        except FileNotFoundError:
            current = None
        if current != os.fstat(fd).st_ino:  # released and removed by the previous holder: retry on the new file
            os.close(fd)
            continue
        break
    try:
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now().astimezone().isoformat(timespec="seconds"),
                  "command": command or shlex.join([os.path.basename(sys.argv[0] or "python"), *sys.argv[1:]])}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder, ensure_ascii=False) + "\n").encode("utf-8"), 0)
        yield lock_path
    finally:
        try:
            os.unlink(lock_path)
        except FileNotFoundError:
            pass
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def remove_stale_temps(out: Path) -> list[Path]:
    """Remove `<out>.tmp-<pid>-*` files (their .wal, their .stage folder) left by builds whose process is gone.

    Call it only while holding the build lock: then no live build of this path can own them.
    """
    pattern = re.compile(re.escape(out.name) + r"\.tmp-(\d+)-[0-9a-f]+(?:\.wal|\.stage)?")
    removed: list[Path] = []
    if not out.parent.is_dir():
        return removed
    for entry in sorted(out.parent.iterdir()):
        match = pattern.fullmatch(entry.name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue
        removed.append(entry)
    return removed


# --- the build -----------------------------------------------------------------------------------------

def build(
    raw_dir: Path | None,
    out: Path = DEFAULT_WAREHOUSE,
    sources: list[Source] | None = None,
    progress: Progress = log_progress,
    strict: bool = False,
    wait: float = 0.0,
    command: str | None = None,
    territory: TerritoryProfile | str | Path | None = None,
) -> BuildReport:
    """Build the warehouse of a territory from a raw folder (or the demo bundle when raw_dir is None).

    `territory` is a profile, a profile id or path (None = the default profile, Milan).
    Files that cannot be used are recorded as 'failed' and the build goes on (`report.failed`);
    `strict=True` aborts on the first one instead. Raises BuildLocked when another build of `out`
    is running and does not end within `wait` seconds, SourceError when the profile cannot be read
    or a data check fails (nothing swapped).
    """
    profile = resolve_territory(territory)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(out, wait, command):
        removed = remove_stale_temps(out)
        for leftover in removed:
            progress(f"Rimosso un file temporaneo di una build interrotta: {leftover}")
        report = _build_locked(raw_dir, out, sources, progress, strict, profile)
        report.removed_leftovers = removed
        return report


def resolve_territory(territory: TerritoryProfile | str | Path | None) -> TerritoryProfile:
    """The profile to build: as given, or read by id / path (None = the default); ProfileError -> SourceError."""
    if isinstance(territory, TerritoryProfile):
        return territory
    try:
        return territories.load(territory)
    except territories.ProfileError as exc:
        raise SourceError(str(territory or territories.PROFILES_DIR), str(exc),
                          f"territori disponibili: {', '.join(territories.available())}") from exc


class ChecksFailed(SourceError):
    """The new warehouse failed one or more data checks: nothing was swapped."""

    def __init__(self, path: Path | str, failures: list[Any]):
        self.failures = failures
        listed = "; ".join(f"{f.name}: {f.rows} righe" + (f" ({f.description})" if getattr(f, "description", "") else "")
                           for f in failures)
        super().__init__(path, f"{len(failures)} controlli sui dati non superati: {listed}",
                         "correggere i file o il profilo indicati dai controlli; il warehouse precedente è rimasto com'era")


def write_territory(con: duckdb.DuckDBPyConnection, profile: TerritoryProfile) -> None:
    """The `territory` row (bbox filled once the boundaries are loaded) and one `territory_levels` row per level."""
    con.execute(
        "INSERT INTO territory (territory_id, name_it, name_en, centre_lon, centre_lat, centre_name_it, centre_name_en, "
        "area_crs, bbox_west, bbox_south, bbox_east, bbox_north, profile_version, profile_sha256) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, ?, ?)",
        [profile.id, profile.name_it, profile.name_en, profile.centre_lon, profile.centre_lat, profile.centre_name_it,
         profile.centre_name_en, profile.area_crs, profile.version, profile.sha256 or "non calcolato"])
    for spec in profile.levels:
        con.execute(
            "INSERT INTO territory_levels (level, rank, parent_level, boundary_source, expected_count, label_it, label_en, "
            "plural_it, plural_en, long_it, long_en) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [spec.id, spec.rank, profile.parent_of(spec.id), spec.boundary_source, spec.expected_count, spec.label_it,
             spec.label_en, spec.plural_it, spec.plural_en, spec.long_it or None, spec.long_en or None])


def write_territory_bbox(con: duckdb.DuckDBPyConnection, ctx: BuildContext) -> None:
    """The bbox of the loaded boundaries (EPSG:4326, no padding) into `territory`."""
    box = ctx.bbox(pad_deg=0.0)
    if box is None:
        return
    con.execute("UPDATE territory SET bbox_west = ?, bbox_south = ?, bbox_east = ?, bbox_north = ? WHERE territory_id = ?",
                [*(float(v) for v in box), ctx.territory.id])


def run_data_checks(con: duckdb.DuckDBPyConnection, out: Path, progress: Progress) -> None:
    """etl/checks.py on the new warehouse, before the swap: any failure raises ChecksFailed."""
    from etl import checks

    failures = checks.run_checks(con)
    if failures:
        for f in failures:
            progress(f"Controllo non superato: {f.name} ({f.rows} righe; prime: {f.sample[:3]})")
        raise ChecksFailed(out, failures)


def _build_locked(raw_dir: Path | None, out: Path, sources: list[Source] | None, progress: Progress,
                  strict: bool, profile: TerritoryProfile) -> BuildReport:
    from etl.sources import REGISTRY

    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    mode = "demo" if raw_dir is None else "real"
    report = BuildReport(warehouse=out, mode=mode, build_id=uuid.uuid4().hex[:12], territory=profile.id)
    used = list(sources or REGISTRY)
    # Loaders stage large files beside the warehouse being built (same disk; removed with the build's leftovers).
    ctx = BuildContext(territory=profile, areas={}, scratch_dir=tmp.with_name(tmp.name + ".stage"))
    try:
        # Bounded memory: DuckDB keeps at most this much of the warehouse being written in memory and spills
        # the rest beside it (a register of millions of rows builds in well under a gigabyte).
        con = duckdb.connect(str(tmp), config={"memory_limit": BUILD_MEMORY_LIMIT,
                                               "temp_directory": str(ctx.scratch_dir / "spill")})
        try:
            con.execute("SET enable_progress_bar = false")  # long checks would draw it on the terminal
            create_schema(con)
            con.execute(
                "INSERT INTO build VALUES (?, ?, ?, NULL, ?, ?, ?)",
                [report.build_id, mode, _now(), None if raw_dir is None else str(raw_dir), __version__, SCHEMA_VERSION],
            )
            write_territory(con, profile)
            progress(f"Territorio: {profile.name_it} ({profile.id}; livelli: {', '.join(lv.id for lv in profile.levels)})")
            if raw_dir is None:
                from etl import demo

                demo.load_demo(con, report, progress, ctx)
            else:
                _load_raw(con, Path(raw_dir), used, report, progress, strict, ctx)
            write_territory_bbox(con, ctx)
            write_catalogue(con, [*used, *_profile_loaders(profile, used)], progress, profile)
            con.execute(transform("rollup_population_parent"))
            compute_all(con, report.build_id, mode, out, progress, territory=profile)
            programme.write_programme(con, progress=progress)  # lines, objectives, envelope (config/programme.toml)
            run_data_checks(con, out, progress)
            con.execute("UPDATE build SET finished_at = ? WHERE build_id = ?", [_now(), report.build_id])
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, out)
    except BaseException:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(ctx.scratch_dir, ignore_errors=True)
        raise
    shutil.rmtree(ctx.scratch_dir, ignore_errors=True)
    progress(f"Warehouse scritto: {out} ({mode})")
    if report.failed:
        progress(f"Attenzione: {len(report.failed)} file non caricati (stato 'failed' nella tabella sources)")
    return report


# --- per-file isolation ------------------------------------------------------------------------------

def unusable_reason(path: Path) -> tuple[str, str] | None:
    """(problem, what to do) when a found path cannot even be opened as a data file; else None."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return ("collegamento simbolico circolare (rimanda a sé stesso)",
                    "sostituire il collegamento con il file vero o toglierlo dalla cartella")
        if os.path.islink(path):
            return ("collegamento simbolico interrotto: il file a cui rimanda non esiste",
                    "sostituire il collegamento con il file vero o toglierlo dalla cartella")
        return (f"file non accessibile ({exc.strerror or exc})", "controllare che il file esista e i permessi")
    if stat.S_ISDIR(st.st_mode):
        # A folder named like a file (x.csv/) is a mistake; a plain folder is a file set that some
        # sources load as one (e.g. one JSON per NIL).
        if Path(path).suffix.lower() in DATA_SUFFIXES:
            return ("è una cartella, non un file", "mettere nella cartella il file del dataset, non una cartella con il suo nome")
        try:
            empty = not any(os.scandir(path))
        except OSError as exc:
            return (f"cartella non leggibile ({exc.strerror or exc})", "controllare i permessi della cartella")
        return ("la cartella è vuota", "copiarvi i file del dataset") if empty else None
    if not stat.S_ISREG(st.st_mode):
        return ("non è un file regolare (dispositivo, pipe o socket)", "sostituirlo con il file scaricato")
    if st.st_size == 0:
        return ("il file è vuoto (0 byte)", "scaricare di nuovo il file: il download o la copia si sono interrotti")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        return (f"file non leggibile ({exc.strerror or exc})", "controllare i permessi del file (serve la lettura)")
    return None


def _load_checked(source: Source, path: Path, ctx: BuildContext) -> LoadResult:
    """source.load(path) after checking the path; reader failures become a SourceError, Ctrl-C stays."""
    bad = unusable_reason(path)
    if bad is not None:
        raise SourceError(path, *bad)
    try:
        result = source.load(path, ctx)
    except SourceError:
        raise
    except MemoryError:
        raise
    except zipfile.BadZipFile as exc:
        raise SourceError(path, f"archivio danneggiato o di altro tipo ({exc}; un XLSX è uno zip)",
                          "scaricare di nuovo il file o riaprirlo e salvarlo di nuovo (es. come CSV UTF-8)") from exc
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"codifica dei caratteri non riconosciuta ({exc.reason}, byte {exc.start})",
                          "salvare il file come CSV UTF-8") from exc
    except OSError as exc:
        raise SourceError(path, f"errore di lettura ({type(exc).__name__}: {exc})",
                          "controllare che il file sia completo e leggibile") from exc
    except Exception as exc:  # last resort: a reader choked on a corrupt file; Ctrl-C is not an Exception
        raise SourceError(path, f"errore imprevisto nella lettura ({type(exc).__name__}: {exc})",
                          "controllare che il file sia completo e nel formato atteso (riaprirlo e salvarlo di nuovo); "
                          "se il file è corretto, segnalare questo messaggio") from exc
    # No usable row: every row was rejected. A file read only to enrich another source's rows
    # (`merged_into`, e.g. footprints added to ds503) has no rows of its own by design.
    if result.rows_loaded == 0 and result.rows_rejected >= result.rows_read and not getattr(result, "merged_into", ""):
        refused = [r for r in result.rejects if r.action == "rejected"]
        if result.table == "places" and refused and all(r.reason.startswith(geo.OUTSIDE_REASON_PREFIX) for r in refused):
            raise geo.NotInTerritory(path, f"nessun punto nel territorio {ctx.territory.name_it} ({len(refused)} punti, "
                                           "tutti fuori: vedere la tabella rejects)",
                                     "niente da fare se il file descrive un altro territorio; altrimenti controllare "
                                     "le coordinate", result)
        first = result.first_rejected()
        why = f"; la prima: riga {first[0]}: {first[1]}" if first else ""
        raise _NoUsableRows(path, f"nessuna riga utilizzabile ({result.rows_read} lette, "
                                  f"{result.rows_rejected} scartate{why})",
                            "controllare le righe scartate (tabella rejects) e correggere il file", result)
    return result


class _NoUsableRows(SourceError):
    """Every row was rejected: the file fails, its rejects are still kept to say why."""

    def __init__(self, path: Path, problem: str, hint: str, result: LoadResult):
        super().__init__(path, problem, hint)
        self.result = result


# duckdb errors that mean the warehouse file itself is broken: the build cannot go on.
_FATAL_DB_ERRORS = (duckdb.IOException, duckdb.FatalException, duckdb.InternalException)


def _write_isolated(con: duckdb.DuckDBPyConnection, source: Source, path: Path, result: LoadResult,
                    ctx: BuildContext, provenance: dict[str, Any] | None) -> None:
    """Write one file in its own transaction: all of it, or (on failure) none of it."""
    saved = dict(ctx.areas)
    con.begin()
    try:
        write_result(con, source, path, result, ctx, provenance=provenance)
        con.commit()
    except BaseException as exc:
        try:
            con.rollback()
        except duckdb.Error:
            pass
        ctx.areas.clear()
        ctx.areas.update(saved)
        if isinstance(exc, SourceError) or not isinstance(exc, Exception) or isinstance(exc, (MemoryError,
                                                                                                 *_FATAL_DB_ERRORS)):
            raise
        raise SourceError(path, f"righe non scrivibili nel warehouse ({type(exc).__name__}: {exc})",
                          "controllare i valori del file (tipi, intervalli, valori obbligatori)") from exc


def _failure_note(err: SourceError) -> str:
    where = f" (riga {err.row})" if err.row is not None else ""
    return f"{err.problem}{where}. Cosa fare: {err.hint}"


def _load_raw(con: duckdb.DuckDBPyConnection, raw_dir: Path, sources: list[Source],
              report: BuildReport, progress: Progress, strict: bool = False, ctx: BuildContext | None = None) -> None:
    if not raw_dir.is_dir():
        raise SourceError(raw_dir, "la cartella dei dati grezzi non esiste", "indicare una cartella esistente con --raw-dir")
    ctx = ctx if ctx is not None else BuildContext()
    profile = ctx.territory
    manifest = _read_manifest(raw_dir, progress)
    claimed: set[str] = set()
    claimed_dirs: set[str] = set()  # file sets: everything under them is claimed
    # 1. The territory's boundaries, top level first: the finest level's parent_id needs the parent's polygons.
    bound = [(spec, boundary_source(spec, sources)) for spec in reversed(profile.levels)]
    for spec, source in bound:
        loaded, errors = _load_source(con, source, raw_dir, ctx, manifest, report, progress, strict, claimed, claimed_dirs)
        if loaded is None and spec.rank == 0:  # without the finest level nothing can be built
            if errors:
                raise errors[0]
            raise SourceError(raw_dir, f"nessun file dei confini {spec.label_it} ({source.dataset or source.source_id}) "
                                       f"trovato: senza di essi non si può costruire il territorio {profile.name_it}",
                              "mettere nella cartella il file dei confini "
                              f"({getattr(source, 'file_hint', None) or source.title})")
    used_ids = {source.source_id for _, source in bound}
    # 2. Every other source, in registry order.
    for source in sources:
        if source.source_id in used_ids:
            continue
        why_not = _not_for_territory(source, profile)
        if why_not is not None:
            _skip_source(con, source, raw_dir, why_not, manifest, report, progress, claimed, claimed_dirs)
            continue
        _load_source(con, source, raw_dir, ctx, manifest, report, progress, strict, claimed, claimed_dirs)
    _record_unrecognised(con, raw_dir, claimed, claimed_dirs, report, manifest)


def _profile_loaders(profile: TerritoryProfile, sources: list[Source]) -> list[Source]:
    """Boundary loaders the profile names that are not registered sources (the generic one), for the catalogue."""
    from etl.sources import areas_geojson

    known = {s.source_id for s in sources}
    if any(lv.boundary_source == areas_geojson.SOURCE_ID for lv in profile.levels) and areas_geojson.SOURCE_ID not in known:
        return [areas_geojson.SOURCE]
    return []


def boundary_source(spec: LevelSpec, sources: list[Source]) -> Source:
    """The loader the profile names for a level (from `sources`, else the registry), bound to the level."""
    from etl.sources import REGISTRY, areas_geojson

    candidates = [*sources, *REGISTRY, areas_geojson.SOURCE]
    source = next((s for s in candidates if s.source_id == spec.boundary_source), None)
    if source is None:
        known = sorted({s.source_id for s in candidates if s.table == "districts"})
        raise SourceError(spec.boundary_source, f"il profilo indica per il livello '{spec.id}' una fonte dei confini "
                                                "che non esiste",
                          f"usare una tra {', '.join(known)} nel campo boundary_source del profilo")
    bind = getattr(source, "for_level", None)
    return bind(spec) if callable(bind) else source


def _not_for_territory(source: Source, profile: TerritoryProfile) -> str | None:
    """Why a source is not used for this territory (None = it is)."""
    level = getattr(source, "level", None)
    if level and not profile.has_level(str(level)):
        label = str(level).upper() if str(level) == "nil" else str(level).capitalize()
        return f"il territorio {profile.name_it} non ha il livello {label}: file non usato"
    allowed = getattr(source, "territories", None)
    if allowed and profile.id not in allowed:
        return f"il file descrive solo {', '.join(allowed)}, non il territorio {profile.name_it}: file non usato"
    if source.table == "districts":
        return (f"il territorio {profile.name_it} non prende i confini da questa fonte (profilo: "
                + ", ".join(f"{lv.label_it} da {lv.boundary_source}" for lv in profile.levels) + "): file non usato")
    return None


def _find(source: Source, raw_dir: Path) -> list[Path]:
    return list(dict.fromkeys(Path(f) for f in source.find(raw_dir)))


def _skip_source(con: duckdb.DuckDBPyConnection, source: Source, raw_dir: Path, note: str,
                 manifest: dict[str, dict[str, Any]], report: BuildReport, progress: Progress,
                 claimed: set[str], claimed_dirs: set[str]) -> None:
    """Record every file of a source that this territory does not use as 'skipped', with the reason."""
    try:
        files = _find(source, raw_dir)
    except Exception:  # a broken recogniser of an unused source: its files are then listed as unrecognised
        return
    claimed.update(os.path.abspath(f) for f in files)
    claimed_dirs.update(os.path.abspath(f) for f in files if os.path.isdir(f))
    for path in files:
        record_skipped(con, source, path, note, manifest.get(_relative(path, raw_dir)))
        report.summaries.append(SourceSummary(source.source_id, str(path), "skipped", notes=[note]))
    if files:
        progress(f"[{source.source_id}] non usato: {note}")


def _load_source(con: duckdb.DuckDBPyConnection, source: Source, raw_dir: Path, ctx: BuildContext,
                 manifest: dict[str, dict[str, Any]], report: BuildReport, progress: Progress, strict: bool,
                 claimed: set[str], claimed_dirs: set[str]) -> tuple[Path | None, list[SourceError]]:
    """Find and load the files of one source; returns (the last file loaded or None, the files' errors)."""
    try:
        files = _find(source, raw_dir)
    except Exception as exc:  # a broken recogniser must not hide the other sources
        err = SourceError(raw_dir, f"ricerca dei file della fonte non riuscita ({type(exc).__name__}: {exc})",
                          "segnalare il problema: è un errore del riconoscimento dei file")
        if strict:
            raise err from exc
        _record_failed(con, source, raw_dir, err, None)
        report.summaries.append(SourceSummary(source.source_id, str(raw_dir), "failed", notes=[_failure_note(err)]))
        progress(f"[{source.source_id}] NON caricato: {err}")
        return None, [err]
    claimed.update(os.path.abspath(f) for f in files)
    claimed_dirs.update(os.path.abspath(f) for f in files if os.path.isdir(f))
    if not files:
        progress(f"[{source.source_id}] nessun file trovato in {raw_dir}")
        return None, []
    single = bool(getattr(source, "single", False))
    loaded: Path | None = None
    errors: list[SourceError] = []
    for path in files:
        prov = manifest.get(_relative(path, raw_dir))
        if single and loaded is not None:
            note = f"non usato: per questa fonte è stato caricato {loaded} (preferito per nome o formato)"
            record_skipped(con, source, path, note, prov)
            report.summaries.append(SourceSummary(source.source_id, str(path), "skipped", notes=[note]))
            continue
        progress(f"[{source.source_id}] lettura di {path} ...")
        result = None
        try:
            result = _load_checked(source, path, ctx)
            _write_isolated(con, source, path, result, ctx, prov)
        except geo.NotInTerritory as err:
            note = _failure_note(err)
            kept = err.result
            if kept is not None:
                write_rejects(con, source.source_id, str(path), kept)
                _discard_staged(kept)
            record_skipped(con, source, path, note, prov)
            summary = (_summary(source.source_id, str(path), "skipped", kept) if kept is not None
                       else SourceSummary(source.source_id, str(path), "skipped"))
            summary.notes = [note]
            report.summaries.append(summary)
            progress(f"[{source.source_id}] non usato: {note}")
            continue
        except SourceError as err:
            if strict:
                raise
            errors.append(err)
            kept = err.result if isinstance(err, _NoUsableRows) else None
            _record_failed(con, source, path, err, prov, kept)
            summary = (_summary(source.source_id, str(path), "failed", kept) if kept is not None
                       else SourceSummary(source.source_id, str(path), "failed"))
            summary.notes = [_failure_note(err)]
            report.summaries.append(summary)
            progress(f"[{source.source_id}] NON caricato: {err}")
            if kept is not None:
                _discard_staged(kept)
            continue
        finally:
            if result is not None:
                _discard_staged(result)
        loaded = path
        report.summaries.append(_summary(source.source_id, str(path), "loaded", result))
    return loaded, errors


def _relative(path: Path, raw_dir: Path) -> str:
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(raw_dir))).as_posix()


def _read_manifest(raw_dir: Path, progress: Progress) -> dict[str, dict[str, Any]]:
    from etl import bundle

    try:
        manifest = bundle.read_manifest(raw_dir)
    except Exception as exc:  # a broken manifest loses provenance, not the build
        progress(f"Manifest di {raw_dir} illeggibile ({type(exc).__name__}: {exc}): provenienza dai soli file")
        return {}
    return {str(k): dict(v) for k, v in (manifest or {}).items() if isinstance(v, dict)}


def _manifest_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


# --- unrecognised files --------------------------------------------------------------------------------

def _manifest_names() -> set[str]:
    from etl import bundle, fetch

    return {bundle.MANIFEST, fetch.MANIFEST_NAME}


def data_files(raw_dir: Path) -> list[Path]:
    """Every data-looking file under raw_dir (hidden folders, __MACOSX and manifests left out)."""
    skip_names = _manifest_names()
    out: list[Path] = []
    for folder, dirs, names in os.walk(raw_dir, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(names):
            if name.startswith(".") or name in skip_names:
                continue
            if Path(name).suffix.lower() in DATA_SUFFIXES:
                out.append(Path(folder) / name)
    return out


def _record_unrecognised(con: duckdb.DuckDBPyConnection, raw_dir: Path, claimed: set[str], claimed_dirs: set[str],
                         report: BuildReport, manifest: dict[str, dict[str, Any]]) -> None:
    claimed_shapefiles = {os.path.splitext(p)[0] for p in claimed if p.lower().endswith(".shp")}
    for path in data_files(raw_dir):
        absolute = os.path.abspath(path)
        if absolute in claimed or any(absolute.startswith(d + os.sep) for d in claimed_dirs):
            continue
        lower = absolute.lower()
        if any(lower.endswith(s) for s in SHAPEFILE_SIDECARS) and os.path.splitext(absolute)[0] in claimed_shapefiles:
            continue
        note = f"nessuna fonte riconosce questo file: {describe_file(path)}. Cosa fare: {_UNRECOGNISED_HINT}"
        prov = manifest.get(_relative(path, raw_dir)) or {}
        readable = unusable_reason(path) is None
        con.execute(
            f"INSERT INTO sources ({SOURCES_COLUMNS}) "  # noqa: S608 constant column list
            "VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL, 0, 0, 0, 0, ?, ?, 'derived', 'skipped', ?, ?, ?, ?)",
            [UNRECOGNISED, prov.get("dataset"), prov.get("title") or "file non riconosciuto", str(path),
             sha256_of(path) if readable else None, os.stat(path).st_size if readable else None, _now(),
             prov.get("licence") or "sconosciuta", note, _manifest_date(prov.get("reference_date")),
             prov.get("attribution"), prov.get("origin")],
        )
        report.summaries.append(SourceSummary(UNRECOGNISED, str(path), "skipped", notes=[note]))


def _names(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f", … ({len(names)} in tutto)" if len(names) > limit else "")


def describe_file(path: Path) -> str:
    """What the file looks like, in words: its header, keys or members ('intestazione trovata: …')."""
    bad = unusable_reason(path)
    if bad is not None:
        return bad[0]
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            columns = [c for c in peek_columns(path) if c]
            return f"intestazione trovata: {_names(columns)}" if columns else "intestazione non leggibile"
        if suffix in (".json", ".geojson"):
            return _describe_json(path)
        if suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if not n.startswith("__MACOSX") and not n.endswith("/")]
            return f"archivio zip con: {_names(members, 8)}"
        if suffix == ".xlsx":
            return _describe_xlsx(path)
        if suffix in (".shp", ".gpkg"):
            import pyogrio

            info = pyogrio.read_info(path)
            return f"file geografico, {info.get('features')} elementi; campi: {_names(list(info.get('fields', [])))}"
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return f"intestazione trovata: {_names(pq.read_schema(path).names)}"
        if suffix == ".xls":
            return "foglio Excel 97-2003 (.xls)"
    except Exception as exc:  # describing is best effort: the file is only listed
        return f"intestazione non leggibile ({type(exc).__name__}: {exc})"
    return "formato non riconosciuto"


def _describe_json(path: Path) -> str:
    size = os.stat(path).st_size
    if size > 200 * 1024 * 1024:
        return f"JSON di {size // (1024 * 1024)} MB (non aperto per descriverlo)"
    doc = json.loads(Path(path).read_bytes())
    if isinstance(doc, dict) and isinstance(doc.get("features"), list):
        features = doc["features"]
        props = features[0].get("properties") if features and isinstance(features[0], dict) else None
        keys = list(props) if isinstance(props, dict) else []
        return f"GeoJSON con {len(features)} elementi; intestazione trovata (proprietà): {_names(keys)}"
    if isinstance(doc, list):
        keys = list(doc[0]) if doc and isinstance(doc[0], dict) else []
        return f"elenco JSON di {len(doc)} record; intestazione trovata (campi): {_names(keys)}"
    if isinstance(doc, dict):
        return f"oggetto JSON; intestazione trovata (chiavi): {_names(list(doc))}"
    return f"JSON di tipo {type(doc).__name__}"


def _describe_xlsx(path: Path) -> str:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = wb.worksheets[0]
        first = next(sheet.iter_rows(max_row=1, values_only=True), ())
        header = [str(v) for v in first if v is not None]
        return f"foglio '{sheet.title}'; intestazione trovata: {_names(header)}"
    finally:
        wb.close()


# --- source catalogue ------------------------------------------------------------------------------------

def write_catalogue(con: duckdb.DuckDBPyConnection, sources: list[Source], progress: Progress,
                    profile: TerritoryProfile | None = None) -> None:
    """One `source_catalogue` row per registered source: themes, portal URL, state in this build.

    State 'skipped': the source does not apply to this territory (its files, if any, were listed, not used).
    """
    from etl import fetch

    try:
        catalogue = fetch.load_catalogue(fetch.DEFAULT_CATALOGUE)
    except fetch.CatalogueError as exc:
        progress(f"Catalogo dei dataset non letto ({exc}): source_catalogue senza URL del portale")
        catalogue = None
    states: dict[str, set[str]] = {}
    for source_id, status in con.sql("SELECT source_id, status FROM sources").fetchall():
        states.setdefault(source_id, set()).add(status)
    seen: set[str] = set()
    for source in sources:
        if source.source_id in seen:
            continue
        seen.add(source.source_id)
        matches = [d for d in catalogue.datasets if source.dataset and d.code == source.dataset] if catalogue else []
        portal_url = None
        if matches and catalogue is not None:
            package = matches[0].package or matches[0].package_id
            portal_url = f"{catalogue.portal}/dataset/{package}" if package else matches[0].url
        hint = getattr(source, "file_hint", None) or (", ".join(d.filename for d in matches) or None)
        themes = list(getattr(source, "themes", None) or [source.table])
        found = states.get(source.source_id, set())
        state = "loaded" if "loaded" in found else "failed" if "failed" in found else "absent"
        if state == "absent" and profile is not None and (
                "skipped" in found or _not_for_territory(source, profile) is not None) and not _boundary_of(source, profile):
            state = "skipped"
        con.execute(
            "INSERT INTO source_catalogue (source_id, themes, dataset, title, portal_url, file_hint, licence, state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [source.source_id, json.dumps(themes, ensure_ascii=False), source.dataset, source.title, portal_url, hint,
             source.licence, state],
        )


def _boundary_of(source: Source, profile: TerritoryProfile) -> bool:
    return any(lv.boundary_source == source.source_id for lv in profile.levels)


def _summary(source_id: str, path: str, status: str, result: LoadResult) -> SourceSummary:
    return SourceSummary(source_id, path, status, result.rows_read, result.rows_loaded, result.rows_rejected,
                         result.rows_repaired, result.trust, result.notes)


def _provenance_values(source: Source, result: LoadResult | None,
                       provenance: dict[str, Any] | None) -> tuple[str, date | None, str | None, str | None]:
    """(licence, reference_date, attribution, origin): the file's own, else the bundle manifest's, else the source's."""
    prov = provenance or {}
    r = result
    licence = (r.licence if r else None) or prov.get("licence") or source.licence
    reference_date = (r.reference_date if r else None) or _manifest_date(prov.get("reference_date"))
    attribution = (r.attribution if r else None) or prov.get("attribution") or getattr(source, "attribution", None)
    origin = (r.origin if r else None) or prov.get("origin") or getattr(source, "origin", None)
    return str(licence), reference_date, attribution, origin


def _file_identity(path: Path) -> tuple[str | None, int | None]:
    """(sha256, bytes) of a regular readable file; (None, None) otherwise."""
    if unusable_reason(path) is not None:
        return None, None
    try:
        return sha256_of(path), os.stat(path).st_size
    except OSError:
        return None, None


def record_skipped(con: duckdb.DuckDBPyConnection, source: Source, path: Path, note: str,
                   provenance: dict[str, Any] | None = None) -> None:
    """A file that was found but not used (a better file of the same source was loaded)."""
    licence, reference_date, attribution, origin = _provenance_values(source, None, provenance)
    sha, size = _file_identity(Path(path))
    con.execute(
        f"INSERT INTO sources ({SOURCES_COLUMNS}) "  # noqa: S608 constant column list
        "VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL, 0, 0, 0, 0, ?, ?, 'derived', 'skipped', ?, ?, ?, ?)",
        [source.source_id, source.dataset, source.title, str(path), sha, size, _now(), licence, note,
         reference_date, attribution, origin],
    )


def _record_failed(con: duckdb.DuckDBPyConnection, source: Source, path: Path, err: SourceError,
                   provenance: dict[str, Any] | None, result: LoadResult | None = None) -> None:
    """A file that was refused: its lineage row says why and what to do; only its rejects (if any) are kept."""
    licence, reference_date, attribution, origin = _provenance_values(source, result, provenance)
    sha, size = _file_identity(Path(path))
    if result is not None:
        write_rejects(con, source.source_id, str(path), result)
    con.execute(
        f"INSERT INTO sources ({SOURCES_COLUMNS}) "  # noqa: S608 constant column list
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, 'failed', ?, ?, ?, ?)",
        [source.source_id, source.dataset, source.title, str(path), sha, size,
         result.file_format if result else None, result.crs if result else None, result.encoding if result else None,
         result.rows_read if result else 0, result.rows_rejected if result else 0,
         result.rows_repaired if result else 0, _now(), licence, result.trust if result else "derived",
         _failure_note(err), reference_date, attribution, origin],
    )


def _discard_staged(result: LoadResult) -> None:
    if result.staged is not None:
        result.staged.discard()


def write_rejects(con: duckdb.DuckDBPyConnection, source_id: str, path_text: str, result: LoadResult) -> None:
    """A file's rejects: the listed ones, then (large files) the staged ones, in row order."""
    if result.rejects:
        _insert_frame(con, "rejects", _rejects_frame(source_id, path_text, result), path_text)
    if result.staged is not None:
        staged = result.staged
        _stream_into(con, staged.stage.con.sql(f"SELECT ? AS source_id, ? AS path, row_number, raw, reason, action "  # noqa: S608
                                                f"FROM {_staged_name(staged.rejects)} ORDER BY row_number, seq",
                                                params=[source_id, path_text]),
                     "INSERT INTO rejects (source_id, path, row_number, raw, reason, action) "
                     "SELECT source_id, path, row_number, raw, reason, action FROM _staged")


_STAGED_TABLES = {"places", "rejects"}


def _staged_name(name: str) -> str:
    if name not in _STAGED_TABLES:
        raise ValueError(f"tabella di appoggio non ammessa: {name!r}")
    return name


def _stream_into(con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, insert: str,
                 params: dict[str, Any] | None = None) -> None:
    """Run `insert` (which reads `_staged`) over a scratch relation streamed in Arrow batches."""
    reader = relation.to_arrow_reader(100_000)
    con.register("_staged", reader)
    try:
        con.execute(insert, params or {})
    finally:
        con.unregister("_staged")


def _copy_staged(con: duckdb.DuckDBPyConnection, result: LoadResult, source_id: str, path_text: str) -> None:
    """Stream a loader's staged rows into their table, in file order, checking the integer ranges first."""
    staged = result.staged
    assert staged is not None
    table = _staged_name(staged.table)
    columns = _TABLE_COLUMNS[result.table]  # KeyError for anything not allow-listed
    own = [c for c in columns if c not in ("source_id", "path", "trust")]
    scratch = staged.stage.con
    present = {name for (name,) in scratch.sql("SELECT column_name FROM duckdb_columns() WHERE table_name = ?",
                                               params=[table]).fetchall()}
    for column, (kind, lo, hi) in _integer_columns(con, result.table).items():
        if column not in own or column not in present:
            continue
        found = scratch.sql(f"SELECT row_number, {column}, count(*) OVER () FROM {table} "  # noqa: S608 allow-listed
                            f"WHERE {column} < ? OR {column} > ? ORDER BY row_number LIMIT 1", params=[lo, hi]).fetchall()
        if found:
            row, value, count = found[0]
            raise SourceError(path_text, f"valore {value} fuori dall'intervallo della colonna {result.table}.{column} "
                              f"({kind}: da {lo} a {hi}); {count} valori fuori intervallo",
                              "correggere il valore nel file: un numero così grande è di solito un errore di "
                              "esportazione o un codice letto come numero", row=int(row))
    picked = ", ".join(c if c in present else f"NULL AS {c}" for c in own)
    relation = scratch.sql(f"SELECT {picked} FROM {table} ORDER BY row_number")  # noqa: S608 allow-listed
    values = ", ".join(f"${c}" if c in ("source_id", "path", "trust") else c for c in columns)
    _stream_into(con, relation, f"INSERT INTO {result.table} ({', '.join(columns)}) SELECT {values} FROM _staged",  # noqa: S608
                 {"source_id": source_id, "path": path_text, "trust": result.trust})


def _rejects_frame(source_id: str, path_text: str, result: LoadResult) -> pd.DataFrame:
    return pd.DataFrame(
        [{"source_id": source_id, "path": path_text, "row_number": r.row_number,
          "raw": r.raw_json(), "reason": r.reason, "action": r.action} for r in result.rejects]
    )


def write_result(con: duckdb.DuckDBPyConnection, source: Source, path: Path | str, result: LoadResult,
                 ctx: BuildContext, provenance: dict[str, Any] | None = None) -> None:
    """Write one file's rows, its rejects and its lineage row.

    `provenance` is the file's bundle-manifest entry: it fills licence, attribution, origin and
    reference date where the LoadResult leaves them unset.
    """
    path_text = str(path)
    if result.table == "districts":
        _write_districts(con, result, source.source_id, ctx, path_text)
    elif result.table in ("population", "places", "firm_units", "firm_totals", "area_counts"):
        if len(result.frame):
            frame = result.frame.assign(source_id=source.source_id, path=path_text, trust=result.trust)
            _insert_frame(con, result.table, frame, path_text)
        if result.staged is not None:  # millions of rows: the copy logs its progress too
            with Heartbeat(Path(path_text).name, result.staged.stage, result.staged.rows) as beat:
                beat.step("scrittura nel warehouse")
                _copy_staged(con, result, source.source_id, path_text)
    else:
        raise ValueError(f"tabella di destinazione sconosciuta: {result.table}")
    write_rejects(con, source.source_id, path_text, result)
    p = Path(path_text)
    is_file = p.is_file()
    licence, reference_date, attribution, origin = _provenance_values(source, result, provenance)
    con.execute(
        f"INSERT INTO sources ({SOURCES_COLUMNS}) "  # noqa: S608 constant column list
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'loaded', ?, ?, ?, ?)",
        [source.source_id, source.dataset if result.dataset is None else (result.dataset or None), source.title,
         path_text, sha256_of(p) if is_file else None,
         p.stat().st_size if is_file else None, result.file_format, result.crs, result.encoding,
         result.rows_read, result.rows_loaded, result.rows_rejected, result.rows_repaired, _now(),
         licence, result.trust, "; ".join(result.notes) or None, reference_date, attribution, origin],
    )


SOURCES_COLUMNS = ("source_id, dataset, title, path, sha256, bytes, file_format, crs, encoding, rows_read, rows_loaded, "
                   "rows_rejected, rows_repaired, loaded_at, licence, trust, status, notes, reference_date, attribution, origin")

_TABLE_COLUMNS = {
    "population": ["level", "district_id", "year", "reference_date", "residents", "source_id", "path", "trust"],
    "places": ["theme", "source_id", "path", "source_key", "name", "address", "lon", "lat", "district_id", "parent_id",
               "assignment", "category", "status", "ownership", "area_m2", "seats", "employees", "ateco_code",
               "ateco_edition", "started_on", "attributes", "geom_wkb", "trust"],
    "firm_units": ["district_id", "year", "ateco_code", "ateco_edition", "ateco_label", "category", "units",
                   "avg_employees", "source_id", "path", "trust"],
    "firm_totals": ["level", "area_id", "year", "ateco_code", "ateco_edition", "ateco_label", "category", "firms", "units",
                    "employees_firms", "employees_units", "source_id", "path", "trust"],
    "area_counts": ["level", "district_id", "theme", "year", "count", "source_id", "path", "trust"],
    "rejects": ["source_id", "path", "row_number", "raw", "reason", "action"],
    "districts": ["level", "id", "name", "parent_id", "area_m2", "centroid_lon", "centroid_lat",
                  "geom_wkb", "map_geojson", "source_id", "trust"],
}


# Ranges of the integer column types used in schema.sql.
_INTEGER_RANGES = {
    "TINYINT": (-(2**7), 2**7 - 1), "SMALLINT": (-(2**15), 2**15 - 1), "INTEGER": (INT32_MIN, INT32_MAX),
    "BIGINT": (-(2**63), 2**63 - 1), "UTINYINT": (0, 2**8 - 1), "USMALLINT": (0, 2**16 - 1),
    "UINTEGER": (0, 2**32 - 1), "UBIGINT": (0, 2**64 - 1),
}


def _integer_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, tuple[str, int, int]]:
    rows = con.sql("SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ?",
                   params=[table]).fetchall()
    return {name: (kind, *_INTEGER_RANGES[kind]) for name, kind in rows if kind in _INTEGER_RANGES}


def check_integer_ranges(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, path: str | None) -> None:
    """Refuse a value that does not fit its integer column (DuckDB would fail, numpy would wrap).

    Raises SourceError naming the file and the row: `frame.attrs["row_numbers"]` (the file's 1-based
    rows, aligned with the frame) when the loader set it, else the position among the loaded rows.
    """
    for column, (kind, lo, hi) in _integer_columns(con, table).items():
        if column not in frame.columns:
            continue
        values = frame[column]
        if pd.api.types.is_bool_dtype(values.dtype):
            continue
        if pd.api.types.is_numeric_dtype(values.dtype):
            numeric = values.to_numpy(dtype="float64", na_value=np.nan)
        else:  # object cells (Python ints of any size, text): compare what is a number
            numeric = np.array([_as_float(v) for v in values], dtype="float64")
        with np.errstate(invalid="ignore"):
            bad = (numeric < lo) | (numeric > hi)
        if not bad.any():
            continue
        pos = int(np.flatnonzero(bad)[0])
        value = values.iloc[pos]
        rows = frame.attrs.get("row_numbers")
        row = int(rows[pos]) if rows is not None and len(rows) == len(frame) else pos + 1
        key = next((f"{k}={frame[k].iloc[pos]!r}" for k in ("source_key", "district_id", "district_id", "id", "name")
                    if k in frame.columns and k != column), None)
        where = f" ({key})" if key else ""
        raise SourceError(
            path or table,
            f"valore {value} fuori dall'intervallo della colonna {table}.{column} ({kind}: da {lo} a {hi}){where}; "
            f"{int(bad.sum())} valori fuori intervallo",
            "correggere il valore nel file: un numero così grande è di solito un errore di esportazione "
            "o un codice letto come numero", row=row)


def _as_float(value: object) -> float:
    if isinstance(value, bool) or value is None:
        return np.nan
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return np.nan


def _insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, path: str | None = None) -> None:
    """Insert a DataFrame into an allow-listed table, columns in schema order (integers range-checked)."""
    columns = _TABLE_COLUMNS[table]  # KeyError for anything not allow-listed
    check_integer_ranges(con, table, frame, path)
    con.register("_incoming", frame.reindex(columns=columns))  # optional columns become NULL
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _incoming")  # noqa: S608 allow-listed
    finally:
        con.unregister("_incoming")


def _write_districts(con: duckdb.DuckDBPyConnection, result: LoadResult, source_id: str, ctx: BuildContext,
                     path: str | None = None) -> None:
    """Write one level's boundaries and keep them in `ctx.areas` (the finest level with `parent_id`).

    The finest level's `parent_id` is the parent area it overlaps most (the parent level is loaded
    first); areas and representative points are measured in the territory's `area_crs`.
    """
    frame: gpd.GeoDataFrame = result.frame  # type: ignore[assignment]
    check_integer_ranges(con, "districts", frame[["id"]], path)  # astype('int32') below would wrap silently
    level = str(frame["level"].iloc[0])
    territory = ctx.territory
    if not territory.has_level(level):
        raise SourceError(path or source_id, f"confini del livello '{level}', che il territorio {territory.name_it} non ha",
                          f"usare i livelli del profilo: {', '.join(lv.id for lv in territory.levels)}")
    frame = frame.sort_values("id").reset_index(drop=True)
    crs = territory.area_crs
    parents = pd.Series([pd.NA] * len(frame), dtype="Int64")
    areas = frame[["id", "name", "geometry"]].copy()
    if level == ctx.fine_level and ctx.parent_level is not None:
        parent_frame = ctx.boundaries(ctx.parent_level)
        if parent_frame is not None:
            parents = geo.parent_by_overlap(frame, parent_frame, crs)
        else:
            result.notes.append(f"{territory.parent.plural_it if territory.parent else ''} non caricati: "
                                f"{territory.parent.label_it if territory.parent else ''} delle aree non assegnato")
        areas["parent_id"] = parents.to_numpy()
    ctx.areas[level] = areas
    centroids = frame.geometry.to_crs(crs).representative_point().to_crs(geo.WGS84)
    rows = pd.DataFrame({
        "level": level,
        "id": frame["id"].astype("int32"),
        "name": frame["name"],
        "parent_id": parents.astype("Int32").to_numpy(),
        "area_m2": geo.area_m2(frame.geometry, crs),
        "centroid_lon": centroids.x.to_numpy(),
        "centroid_lat": centroids.y.to_numpy(),
        "geom_wkb": [bytes(b) for b in shapely.to_wkb(frame.geometry.to_numpy())],
        "map_geojson": geo.map_geometries(frame.geometry),
        "source_id": source_id,
        "trust": result.trust,
    })
    _insert_frame(con, "districts", rows, path)
