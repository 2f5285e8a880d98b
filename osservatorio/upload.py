"""Officials' own files loaded from the browser ("Carica dati"): check, dry run, publish.

No Streamlit here (pages/carica.py draws it). The steps:

1. `check_upload(name, data)`: size, type, encoding and the command line's bad-input rules
   (SourceError naming the row and what to do); nothing is written anywhere.
2. `recognise(checked)`: which registered sources claim the file, by running their `find()` on a
   temporary folder that holds only the file (recognition by content, as in a build).
   A file no source claims can be mapped to a theme with `census_entry(...)`: a `[[census]]`
   entry like those of config/census.toml, saved in the upload's metadata.
3. `dry_run(...)`: the same loaders build the current raw folder plus the upload into a temporary
   warehouse (never the live one); `DryRun` says rows loaded / repaired / quarantined with reasons,
   the points, the districts they fall in and how the indicators would change.
4. `publish(...)` (admin): the upload is kept in the raw folder under `caricamenti/<time>/` with a
   sidecar `<file>.meta` (JSON: sha256, who, when, mapping), then `etl.pipeline.build` rebuilds the
   live warehouse under its lock and swaps it atomically; the app's registry switches to it.
   `PublishJob` runs it in a thread and exposes the progress.

How a mapping becomes configuration: on publish the mapped entry is appended to
`<raw>/caricamenti/census.toml` (a copy of the census configuration plus the uploaded entries) and
the build uses it. For command-line builds to keep loading the file, copy the entry into
config/census.toml (or point OSSERVATORIO_CENSUS_CONFIG to that file).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from etl.base import Source, SourceError
from osservatorio.settings import PROJECT_ROOT

MAX_BYTES = 50 * 1024 * 1024  # largest upload accepted
MAX_UNZIPPED = 10 * MAX_BYTES  # a zip that inflates beyond this is refused (zip bomb)
SUFFIXES = (".csv", ".xlsx", ".geojson", ".json", ".zip")
UPLOAD_DIR = "caricamenti"  # sub-folder of the raw folder holding the uploads
META_SUFFIX = ".meta"  # sidecar: not a data suffix, so builds do not list it as unrecognised
CENSUS_FILE = "census.toml"
RAW_ENV = "OSSERVATORIO_RAW_DIR"
Progress = Callable[[str], None]


def raw_dir() -> Path:
    """The raw folder uploads are kept in: $OSSERVATORIO_RAW_DIR, default data/raw."""
    return Path(os.environ.get(RAW_ENV) or PROJECT_ROOT / "data" / "raw")


def _has_data(folder: Path) -> bool:
    from etl.pipeline import data_files

    return folder.is_dir() and bool(data_files(folder))


def base_dir(live_raw: str | None) -> Path | None:
    """What the next build starts from: the raw folder if it holds data, else the folder of the live
    build (e.g. the bundle), else the bundle; None when there is none (a demo cannot take uploads)."""
    from etl import bundle

    raw = raw_dir()
    if _has_data(raw):
        return raw
    if live_raw and Path(live_raw).is_dir():
        return Path(live_raw)
    return bundle.BUNDLE_DIR if bundle.available(bundle.BUNDLE_DIR) else None


# --- 1. checks --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Checked:
    """An upload that passed the checks."""

    name: str  # safe file name
    data: bytes
    sha256: str
    kind: str  # csv / xlsx / geojson / zip
    columns: tuple[str, ...] = ()  # headers as written (CSV, XLSX), for the column mapping
    rows: int | None = None
    encoding: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


def safe_name(name: str) -> str:
    """The file name without folders, with only letters, digits, '.', '-' and '_'."""
    base = Path(str(name).replace("\\", "/")).name
    stem, suffix = os.path.splitext(base)
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-") or "file"
    return f"{clean[:80]}{suffix.lower()}"


def check_upload(name: str, data: bytes) -> Checked:
    """Refuse what the build could not use; raises SourceError(path, problem, hint, row=)."""
    clean = safe_name(name)
    suffix = Path(clean).suffix
    if suffix not in SUFFIXES:
        raise SourceError(clean, f"tipo di file non ammesso ({suffix or 'senza estensione'})",
                          "caricare un CSV, un XLSX, un GeoJSON o uno shapefile compresso in .zip")
    if not data:
        raise SourceError(clean, "il file è vuoto (0 byte)", "caricare di nuovo il file: il download si è interrotto")
    if len(data) > MAX_BYTES:
        raise SourceError(clean, f"file troppo grande ({len(data) / 1e6:.1f} MB; massimo {MAX_BYTES // (1024 * 1024)} MB)",
                          "caricare solo le righe necessarie o comprimere lo shapefile; per file più grandi usare "
                          "la riga di comando (python -m etl build)")
    digest = sha256(data).hexdigest()
    with tempfile.TemporaryDirectory(prefix="carica-") as tmp:
        path = Path(tmp) / clean
        path.write_bytes(data)
        if suffix == ".csv":
            return _check_table(clean, path, data, digest, "csv")
        if suffix == ".xlsx":
            if not zipfile.is_zipfile(path):
                raise SourceError(clean, "file Excel danneggiato o di altro tipo (un .xlsx è un archivio zip)",
                                  "riaprire il file in Excel/LibreOffice e salvarlo di nuovo come .xlsx")
            return _check_table(clean, path, data, digest, "xlsx")
        if suffix == ".zip":
            _check_zip(clean, path)
            return Checked(clean, data, digest, "zip")
        _check_geojson(clean, data)
        return Checked(clean, data, digest, "geojson")


def _check_table(name: str, path: Path, data: bytes, digest: str, kind: str) -> Checked:
    from etl.sources.point_files import read_point_file

    if kind == "csv":
        from etl.readers import decode_bytes

        decode_bytes(data, Path(name))  # neither UTF-8 nor cp1252: SourceError
    try:
        table = read_point_file(path)
    except SourceError as exc:
        raise SourceError(name, exc.problem, exc.hint, row=exc.row) from exc
    except Exception as exc:  # a reader choked on a corrupt file
        raise SourceError(name, f"file illeggibile ({type(exc).__name__}: {exc})",
                          "riaprire il file e salvarlo di nuovo (CSV UTF-8 o .xlsx)") from exc
    columns = tuple(c for c in table.original_columns if str(c).strip())
    if len(columns) < 2:
        raise SourceError(name, f"una sola colonna letta ({', '.join(columns) or 'nessuna'}): separatore non riconosciuto",
                          "esportare di nuovo il file con ';' o ',' tra le colonne", row=1)
    return Checked(name, data, digest, kind, columns=columns, rows=len(table.frame), encoding=table.encoding)


def _check_zip(name: str, path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise SourceError(name, f"archivio zip danneggiato ({exc})", "comprimere di nuovo i file dello shapefile") from exc
    if bad is not None:
        raise SourceError(name, f"archivio zip danneggiato (file interno {bad})", "comprimere di nuovo i file dello shapefile")
    if sum(i.file_size for i in infos) > MAX_UNZIPPED:
        raise SourceError(name, f"l'archivio decompresso supera {MAX_UNZIPPED // (1024 * 1024)} MB",
                          "caricare solo lo shapefile necessario")
    names = [i.filename for i in infos]
    if any(n.startswith("/") or ".." in Path(n).parts for n in names):
        raise SourceError(name, "l'archivio contiene percorsi fuori dalla cartella (/ o ..)", "comprimere di nuovo i soli file")
    stems = {os.path.splitext(n.lower())[0] for n in names if n.lower().endswith(".shp")}
    if not stems:
        if any(n.lower().endswith((".geojson", ".json", ".csv")) for n in names):
            return
        raise SourceError(name, "nell'archivio non c'è uno shapefile (.shp)", "comprimere insieme .shp, .shx, .dbf e .prj")
    lower = {n.lower() for n in names}
    for stem in stems:
        missing = [s for s in (".shx", ".dbf") if stem + s not in lower]
        if missing:
            raise SourceError(name, f"shapefile incompleto: mancano {', '.join(missing)} di {stem}.shp",
                              "comprimere insieme .shp, .shx, .dbf e .prj")


def _check_geojson(name: str, data: bytes) -> None:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise SourceError(name, f"codifica non UTF-8 (byte {exc.start})", "salvare il GeoJSON in UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise SourceError(name, f"JSON non valido (riga {exc.lineno}, colonna {exc.colno}: {exc.msg})",
                          "esportare di nuovo il GeoJSON", row=exc.lineno) from exc
    if not isinstance(doc, dict) or doc.get("type") not in ("FeatureCollection", "Feature"):
        raise SourceError(name, "non è un GeoJSON (manca \"type\": \"FeatureCollection\")",
                          "esportare il livello come GeoJSON")


# --- 2. recognition and column mapping --------------------------------------------------------------------

def _registry() -> list[Source]:
    from etl.sources import REGISTRY

    return list(REGISTRY)


def recognise(checked: Checked, sources: list[Source] | None = None) -> list[str]:
    """The ids of the registered sources whose `find()` claims the file on its own."""
    with tempfile.TemporaryDirectory(prefix="carica-") as tmp:
        path = Path(tmp) / checked.name
        path.write_bytes(checked.data)
        out = []
        for source in sources or _registry():
            try:
                found = [os.path.abspath(p) for p in source.find(Path(tmp))]
            except Exception:  # noqa: S112 - a recogniser that fails on a stray file does not claim it
                continue
            if os.path.abspath(path) in found:
                out.append(source.source_id)
        return out


@dataclass(frozen=True)
class Unfit:
    """A recognised source that cannot describe the territory: the file carries ids of a `level` the
    territory does not have, or describes only other `territories`."""

    source_id: str
    kind: str  # 'level' | 'territory'
    value: str  # the level id, or the territories the file describes (comma-separated)


def territory_fit(source_ids: list[str], territory_id: str, level_ids: tuple[str, ...],
                  sources: list[Source] | None = None) -> list[Unfit]:
    """The recognised sources that the build of this territory would not use (same rule as the pipeline:
    the source's optional `level` and `territories` attributes), so the page says so before a dry run."""
    out = []
    for source in sources or _registry():
        if source.source_id not in source_ids:
            continue
        level = getattr(source, "level", None)
        allowed = getattr(source, "territories", None)
        if level and str(level) not in level_ids:
            out.append(Unfit(source.source_id, "level", str(level)))
        elif allowed and territory_id not in allowed:
            out.append(Unfit(source.source_id, "territory", ", ".join(str(a) for a in allowed)))
    return out


def census_entry(checked: Checked, theme: str, columns: dict[str, str], title: str = "") -> dict[str, Any]:
    """A `[[census]]` entry for this file: our field -> the file's column header (as in config/census.toml).

    Validated by etl.sources.census (same rules as the configuration file); raises SourceError.
    """
    from etl.sources import census

    mapped = {k: v for k, v in columns.items() if v}
    entry: dict[str, Any] = {"id": f"caricamento_{Path(checked.name).stem.lower()}"[:60],
                             "title": title or f"Elenco caricato: {checked.name}", "pattern": [checked.name],
                             "theme": theme, "trust": "official", "licence": "indicata da chi ha caricato il file",
                             "columns": mapped}
    census._entry(Path(checked.name), 1, entry)  # raises SourceError with the census rules
    return entry


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


def entry_toml(entry: dict[str, Any]) -> str:
    """The entry written as TOML, ready to paste into config/census.toml."""
    lines = ["[[census]]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in entry.items() if k != "columns"]
    lines += ["", "[census.columns]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in entry["columns"].items()]
    return "\n".join(lines) + "\n"


def _write_census_config(dest: Path, entry: dict[str, Any]) -> Path:
    """The current census configuration plus `entry`, written to `dest`."""
    from etl.sources import census

    current, _ = census.config_path()
    text = current.read_text(encoding="utf-8") if current.is_file() else ""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text.rstrip("\n") + "\n\n# Voce aggiunta da un caricamento\n" + entry_toml(entry), encoding="utf-8")
    return dest


def _sources_with(config: Path | None) -> list[Source]:
    """The registry, with the census source reading `config` when given."""
    from etl.sources.census import CensusSource

    out = _registry()
    if config is None:
        return out
    return [replace(s, config=config) if isinstance(s, CensusSource) else s for s in out]


# --- 3. dry run ----------------------------------------------------------------------------------------------

@dataclass
class DryRun:
    """What a build with the upload would contain (all from the temporary warehouse)."""

    status: str  # loaded / failed / skipped / unrecognised
    source_ids: list[str]
    rows_read: int
    rows_loaded: int
    rows_repaired: int
    rows_rejected: int
    notes: list[str]
    rejects: pd.DataFrame  # row_number, action, reason, raw
    points: pd.DataFrame  # theme, name, address, lon, lat, district_id, area_name, parent_id
    districts: pd.DataFrame  # district_id, area_name, parent_id, places (areas of the territory's finest level)
    changes: pd.DataFrame  # indicator_id, level, area_id, before, after, name_it, name_en
    build_failed: list[str] = field(default_factory=list)  # other files the build refused


def _stage(base: Path, checked: Checked, dest: Path) -> Path:
    """dest = a copy of the base folder with the upload under caricamenti/prova/."""
    shutil.copytree(base, dest, symlinks=False, dirs_exist_ok=True)
    target = dest / UPLOAD_DIR / "prova" / checked.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(checked.data)
    return target


def dry_run(checked: Checked, base: Path, live: Path | None = None, entry: dict[str, Any] | None = None,
            progress: Progress | None = None, territory: str | None = None) -> DryRun:
    """Build base + upload into a temporary warehouse of `territory` (a profile id; None = the default one)
    and summarise what the upload brings."""
    from etl.pipeline import build

    with tempfile.TemporaryDirectory(prefix="carica-prova-") as tmp:
        staged = _stage(base, checked, Path(tmp) / "raw")
        config = _write_census_config(Path(tmp) / CENSUS_FILE, entry) if entry else None
        out = Path(tmp) / "prova.duckdb"
        report = build(staged.parents[2], out, sources=_sources_with(config), progress=progress or (lambda _m: None),
                       territory=territory)
        failed = [f"{Path(s.path).name}: {'; '.join(s.notes)}" for s in report.failed if Path(s.path) != staged]
        con = duckdb.connect(str(out), read_only=True)
        try:
            result = _summarise(con, str(staged), report.build_id, live, failed)
        finally:
            con.close()
    # Paths in the notes: relative to the raw folder, not the temporary copy of it.
    def relative(note: str) -> str:
        return note.replace(str(staged.parents[2]) + os.sep, "").replace(str(tmp) + os.sep, "")

    result.notes = [relative(n) for n in result.notes]
    result.build_failed = [relative(n) for n in result.build_failed]
    return result


def _summarise(con: duckdb.DuckDBPyConnection, path: str, build_id: str, live: Path | None, failed: list[str]) -> DryRun:
    rows = con.sql("SELECT source_id, status, rows_read, rows_loaded, rows_repaired, rows_rejected, notes FROM sources "
                   "WHERE path = ? ORDER BY status = 'loaded' DESC, source_id", params=[path]).fetchall()
    loaded = [r for r in rows if r[1] == "loaded"]
    chosen = loaded or rows
    status = "loaded" if loaded else (rows[0][1] if rows else "unrecognised")
    if rows and rows[0][0] == "unrecognised":
        status = "unrecognised"
    notes = [str(r[6]) for r in chosen if r[6]]
    rejects = con.sql("SELECT row_number, action, reason, raw FROM rejects WHERE path = ? ORDER BY row_number NULLS FIRST",
                      params=[path]).df()
    fine = con.sql("SELECT level FROM territory_levels ORDER BY rank LIMIT 1").fetchall()
    points = con.sql(
        """SELECT p.theme, p.name, p.address, p.lon, p.lat, p.district_id, d.name AS area_name, p.parent_id
           FROM places p LEFT JOIN districts d ON d.level = ? AND d.id = p.district_id
           WHERE p.path = ? ORDER BY p.parent_id NULLS LAST, p.district_id NULLS LAST, p.name""",
        params=[fine[0][0] if fine else "", path]).df()
    columns = ["district_id", "area_name", "parent_id"]
    districts = (points.groupby(columns, dropna=False).size().rename("places").reset_index()
                 .sort_values(["places", "district_id"], ascending=[False, True]) if len(points) else
                 pd.DataFrame(columns=[*columns, "places"]))
    return DryRun(status=status, source_ids=[str(r[0]) for r in chosen],
                  rows_read=sum(int(r[2]) for r in chosen), rows_loaded=sum(int(r[3]) for r in chosen),
                  rows_repaired=sum(int(r[4]) for r in chosen), rows_rejected=sum(int(r[5]) for r in chosen),
                  notes=notes, rejects=rejects, points=points, districts=districts.reset_index(drop=True),
                  changes=indicator_changes(con, build_id, live), build_failed=failed)


_VALUES = """SELECT indicator_id, level, area_id, value FROM indicator_values WHERE snapshot_id = ?
             QUALIFY row_number() OVER (PARTITION BY indicator_id, level, area_id ORDER BY period DESC NULLS FIRST) = 1"""


def _current_values(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> pd.DataFrame:
    return con.sql(_VALUES, params=[snapshot_id]).df()


def indicator_changes(con: duckdb.DuckDBPyConnection, snapshot_id: str, live: Path | None) -> pd.DataFrame:
    """Indicators whose current value differs between the live build and this one (the whole territory first,
    then its levels from the widest, the periphery groups, the finest level last)."""
    after = _current_values(con, snapshot_id)
    empty = pd.DataFrame(columns=["indicator_id", "level", "area_id", "before", "after", "name_it", "name_en"])
    if live is None or not Path(live).is_file():
        return empty
    other = duckdb.connect(str(live), read_only=True)
    try:
        found = other.sql("SELECT build_id FROM build ORDER BY started_at DESC LIMIT 1").fetchall()
        before = _current_values(other, str(found[0][0])) if found else after.iloc[0:0]
    finally:
        other.close()
    merged = before.merge(after, on=["indicator_id", "level", "area_id"], how="outer", suffixes=("_before", "_after"))
    a, b = merged["value_before"], merged["value_after"]
    changed = (a.isna() != b.isna()) | ((a - b).abs() > 1e-9)
    out = merged[changed.fillna(False)].rename(columns={"value_before": "before", "value_after": "after"})
    levels = [str(r[0]) for r in con.sql("SELECT level FROM territory_levels ORDER BY rank DESC").fetchall()]
    order = {lv: i for i, lv in enumerate(["territory", *levels[:-1], "periphery_class", "priority_area", *levels[-1:]])}
    out = (out.assign(_o=out["level"].map(order).fillna(len(order)))
           .sort_values(["_o", "indicator_id", "area_id"]).drop(columns="_o"))
    names = con.sql("SELECT DISTINCT indicator_id, name_it, name_en FROM indicator_catalogue WHERE snapshot_id = ?",
                    params=[snapshot_id]).df()
    return out.merge(names, on="indicator_id", how="left").reset_index(drop=True)


# --- 4. publish -----------------------------------------------------------------------------------------------

def keep_upload(checked: Checked, user: str, raw: Path, base: Path | None, entry: dict[str, Any] | None = None,
                now: datetime | None = None) -> Path:
    """Copy the upload into raw/caricamenti/<time>/ with its sidecar; seed an empty raw folder from `base`."""
    when = (now or datetime.now(UTC)).replace(microsecond=0)
    if not _has_data(raw) and base is not None and Path(base).resolve() != raw.resolve():
        shutil.copytree(base, raw, dirs_exist_ok=True)  # the raw folder starts as what the live build used
    folder = raw / UPLOAD_DIR / when.strftime("%Y%m%dT%H%M%SZ")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / checked.name
    tmp = folder / f".{checked.name}.part"
    tmp.write_bytes(checked.data)
    os.replace(tmp, target)
    meta = {"file": checked.name, "sha256": checked.sha256, "bytes": checked.size, "uploaded_by": user,
            "uploaded_at": when.isoformat(), "census_entry": entry}
    (folder / (checked.name + META_SUFFIX)).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n",
                                                       encoding="utf-8")
    return target


def uploads(raw: Path) -> list[dict[str, Any]]:
    """The sidecars of the uploads kept in the raw folder, newest first."""
    folder = raw / UPLOAD_DIR
    out = []
    for meta in sorted(folder.glob(f"*/*{META_SUFFIX}"), reverse=True) if folder.is_dir() else []:
        try:
            out.append(json.loads(meta.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return out


def publish(checked: Checked, user: str, warehouse: Path, base: Path | None, entry: dict[str, Any] | None = None,
            progress: Progress | None = None, territory: str | None = None,
            allowed: Callable[[], bool] | None = None) -> Path:
    """Keep the upload in the raw folder, then rebuild `warehouse` of `territory` from it (build lock, atomic swap).

    `allowed` is asked at the moment of publishing, before anything is written (the role of the person
    who asked may have been withdrawn since the button was drawn): False raises PermissionError.
    Raises BuildLocked when another build is running (nothing is kept then), SourceError when the
    build cannot be made (the live warehouse is untouched).
    """
    if allowed is not None and not allowed():
        raise PermissionError(f"{user}: il ruolo non consente più di pubblicare")
    from etl.pipeline import build, build_lock

    raw = raw_dir()
    same = next((u for u in uploads(raw) if u.get("sha256") == checked.sha256), None)
    if same is not None:  # a second copy would be loaded twice by the sources that take every file
        raise SourceError(checked.name, f"questo file è già stato pubblicato ({same.get('uploaded_at')}, "
                                        f"{same.get('uploaded_by')})", "non serve pubblicarlo di nuovo")
    with build_lock(Path(warehouse), 0, "carica dati: verifica"):  # fail fast before writing the upload
        pass
    target = keep_upload(checked, user, raw, base, entry)
    census_file = raw / UPLOAD_DIR / CENSUS_FILE
    census_before = census_file.read_text(encoding="utf-8") if census_file.is_file() else None
    config = None
    if entry:
        config = _append_entry(census_file, entry) if census_before is not None else _write_census_config(census_file, entry)
    elif census_before is not None:
        config = census_file
    try:
        build(raw, Path(warehouse), sources=_sources_with(config), progress=progress or (lambda _m: None),
              command=f"carica dati: {checked.name} ({user})", territory=territory)
    except BaseException:  # not published: the raw folder must not keep it either
        shutil.rmtree(target.parent, ignore_errors=True)
        if census_before is None:
            census_file.unlink(missing_ok=True)
        elif entry:
            census_file.write_text(census_before, encoding="utf-8")
        raise
    return target


def _append_entry(path: Path, entry: dict[str, Any]) -> Path:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n# Voce aggiunta da un caricamento\n" + entry_toml(entry))
    return path


class PublishJob:
    """`publish` in a background thread; `fraction`, `message`, `error` and `done` for the page."""

    def __init__(self, checked: Checked, user: str, warehouse: Path, base: Path | None,
                 entry: dict[str, Any] | None = None, territory: str | None = None,
                 allowed: Callable[[], bool] | None = None) -> None:
        self.total = max(len(_registry()), 1) + 2
        self.steps = 0
        self.message = "avvio"
        self.error: str | None = None
        self.target: Path | None = None
        self.done = threading.Event()
        self._args = (checked, user, warehouse, base, entry)
        self._territory, self._allowed = territory, allowed
        self._thread = threading.Thread(target=self._run, name="carica-publish", daemon=True)
        self._thread.start()

    @property
    def fraction(self) -> float:
        return 1.0 if self.done.is_set() else min(self.steps / self.total, 0.99)

    def _progress(self, message: str) -> None:
        self.message = message
        if "lettura di" in message or message.startswith(("Indicatori", "Warehouse")):
            self.steps += 1

    def _run(self) -> None:
        try:
            self.target = publish(*self._args, progress=self._progress, territory=self._territory, allowed=self._allowed)
        except (SourceError, PermissionError) as exc:
            self.error = str(exc)
        except Exception as exc:  # the page shows it; the live warehouse is untouched
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.done.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)
