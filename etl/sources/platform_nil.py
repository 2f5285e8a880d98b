"""Per-NIL figures from the static JSON export of a third-party dashboard ("milano-platform").

The export (`data-api/`) was produced by a pipeline over Comune di Milano open data:
- `nil/<id>.json`, one object per NIL: `id_nil`, `popolazione_totale`, ... -> `population`;
- `nil/<id>/commercio.json`: `nilId`, `coworking`, ... -> `area_counts` (theme coworking).

The 88 files of each kind are one source file set: `find()` returns the `nil` folder (the
build accepts a folder as a file set and counts everything under it as claimed) and `load()`
reads all of them in one go, so the folder is the recorded path (`load()` also accepts any
file of the set). Every figure is `derived` (a third party's reshaping). Files are recognised
by their keys, not their names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from etl.base import BuildContext, LoadResult, Reject, SourceError
from etl.readers import ids_of_level, implausible_residents

LICENCE = "non indicata (dati di origine Comune di Milano, CC BY 4.0)"
ORIGIN = "GitHub giusenico/Milano-Platform-v-1.0, commit 0619b592"
ATTRIBUTION = "Comune di Milano (elaborazione di terzi: Milano-Platform)"
DOCUMENTED_POPULATION_YEAR = 2021  # SOURCES.md: the export's data-overview.json gives 2021
OVERVIEW = "data-overview.json"
COMMERCE = "commercio.json"
POPULATION_KEYS = {"id_nil", "popolazione_totale"}
COWORKING_KEYS = {"nilId", "coworking"}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"il file non è in UTF-8 (byte {exc.start})", "salvare il file come JSON UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise SourceError(path, f"JSON non valido ({exc.msg}, riga {exc.lineno})",
                          "scaricare di nuovo il file dall'export") from exc
    except OSError as exc:
        raise SourceError(path, f"file non leggibile ({exc})", "controllare i permessi del file") from exc


def _keys(path: Path) -> set[str]:
    """Top-level keys of a small JSON object file (empty set if unreadable or not an object)."""
    try:
        if path.stat().st_size > 1 << 20:
            return set()
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return set()
    return set(doc) if isinstance(doc, dict) else set()


def _nil_folders(raw_dir: Path, member: str | None, wanted: set[str]) -> list[Path]:
    """Folders holding per-NIL files `<id>.json` (member None) or `<id>/<member>` whose keys include `wanted`."""
    folders: dict[Path, list[Path]] = {}
    pattern = "*.json" if member is None else member
    for p in sorted(Path(raw_dir).rglob(pattern)):
        if any(part.startswith(".") for part in p.relative_to(raw_dir).parts):
            continue
        if member is None and p.stem.isdigit():
            folders.setdefault(p.parent, []).append(p)
        elif member is not None and p.parent.name.isdigit():
            folders.setdefault(p.parent.parent, []).append(p)
    out = []
    for folder, files in folders.items():
        sample = sorted(files, key=lambda f: str(f))[0]
        if wanted <= _keys(sample):
            out.append(folder)
    return sorted(out)


def _set_folder(path: Path, member: str | None) -> Path:
    """The `nil` folder of a file set, from the folder itself or any file of the set."""
    path = Path(path)
    if path.is_dir():
        return path
    return path.parent if member is None else path.parent.parent


def _files(folder: Path, member: str | None) -> list[tuple[int, Path]]:
    """(id from the name, file) for every per-NIL file of the folder, by id."""
    if member is None:
        found = [(int(p.stem), p) for p in folder.glob("*.json") if p.stem.isdigit()]
    else:
        found = [(int(p.parent.name), p) for p in folder.glob(f"*/{member}") if p.parent.name.isdigit()]
    return sorted(found)


def _count(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _label(folder: Path) -> str:
    """'data-api/nil/' for notes (the folder and its parent, not the machine path)."""
    return f"{folder.parent.name}/{folder.name}/"


def _fmt(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _per_nil(folder: Path, member: str | None, id_key: str, value_key: str, ctx: BuildContext, what: str,
             warn: Callable[[dict[str, Any]], str | None] | None = None) -> tuple[list[tuple[int, int]], list[Reject], int]:
    """(nil id, value) pairs from every file, the rejects, and how many files were read.

    `warn(doc)`, when given, returns a warning for a value that is kept but doubtful.
    """
    if not folder.is_dir():
        raise SourceError(folder, "cartella non trovata", "indicare la cartella 'nil' dell'export")
    files = _files(folder, member)
    if not files:
        raise SourceError(folder, f"nessun file per NIL ({'<id>.json' if member is None else '<id>/' + member})",
                          "copiare l'intera cartella 'nil' dell'export data-api")
    known = ids_of_level(ctx, "nil", folder, required=False)
    pairs: list[tuple[int, int]] = []
    rejects: list[Reject] = []
    seen: set[int] = set()
    for n, (file_id, path) in enumerate(files, start=1):
        doc = _read_json(path)
        rel = path.relative_to(folder).as_posix()
        if not isinstance(doc, dict):
            rejects.append(Reject(n, {"file": rel}, f"{rel}: non è un oggetto JSON"))
            continue
        raw = {"file": rel, id_key: doc.get(id_key), value_key: doc.get(value_key)}
        district_id = _count(doc.get(id_key))
        if district_id is None and isinstance(doc.get(id_key), str) and str(doc.get(id_key)).strip().isdigit():
            district_id = int(str(doc.get(id_key)).strip())
        if district_id is None:
            rejects.append(Reject(n, raw, f"{rel}: {id_key} mancante o non numerico"))
            continue
        if district_id != file_id:
            rejects.append(Reject(n, raw, f"{rel}: {id_key}={district_id} diverso dal numero nel nome del file ({file_id})"))
            continue
        if known and district_id not in known:
            rejects.append(Reject(n, raw, f"NIL {district_id} sconosciuto: non è tra i NIL caricati"))
            continue
        value = _count(doc.get(value_key))
        if value is None or value < 0 or (what == "numero di residenti" and implausible_residents(value)):
            rejects.append(Reject(n, raw, f"{rel}: {value_key}={doc.get(value_key)!r} non è un {what} valido"))
            continue
        doubt = warn(doc) if warn else None
        if doubt:
            rejects.append(Reject(n, raw, f"{rel}: {doubt}", "warning"))
        seen.add(district_id)
        pairs.append((district_id, value))
    for district_id in sorted(known - seen):
        rejects.append(Reject(None, {"nil": district_id}, f"NIL {district_id} senza file valido nell'export: nessun dato "
                              "(non è uno zero)", "warning"))
    if not pairs:
        raise SourceError(folder, f"nessun file per NIL valido ({len(rejects)} scartati; il primo: "
                          f"{rejects[0].reason if rejects else '-'})", "controllare la cartella dell'export")
    return pairs, rejects, len(files)


DEMOGRAPHIC_KEYS = ("famiglie_registrate", "famiglie_unipersonali", "nati_vivi", "morti", "immigrati", "emigrati")


def zero_population_doubt(doc: dict[str, Any]) -> str | None:
    """A 0 whose every companion figure is 0 or null cannot be told from a gap the export filled with 0."""
    if doc.get("popolazione_totale") != 0:
        return None
    if all(doc.get(k) in (0, None) for k in DEMOGRAPHIC_KEYS) and doc.get("pct_stranieri") is None:
        return ("popolazione_totale 0 con tutte le altre voci demografiche a 0 o nulle: zero dell'export non "
                "verificabile (potrebbe essere un NIL assente nella fonte, riempito con 0); caricato come 0")
    return None


def overview_population_year(folder: Path) -> tuple[int | None, str]:
    """The population year stated by the export's data-overview.json (next to `nil/`), with a note."""
    path = folder.parent / OVERVIEW
    if not path.is_file():
        return None, f"{OVERVIEW} assente"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        year = doc["popolazione"]["anno"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return None, f"{OVERVIEW} senza 'popolazione.anno' leggibile"
    if isinstance(year, int) and 1990 <= year <= 2100:
        return year, f"anno {year} da {OVERVIEW} (popolazione.anno)"
    return None, f"{OVERVIEW}: popolazione.anno={year!r} non valido"


@dataclass(frozen=True)
class PlatformPopulationSource:
    source_id: str = "platform_population"
    title: str = "Popolazione per NIL (export Milano-Platform, da dati Comune di Milano)"
    dataset: str | None = None  # most likely reshaped from ds205 (SOURCES.md)
    licence: str = LICENCE
    table: str = "population"
    attribution: str = ATTRIBUTION
    origin: str = ORIGIN
    single: bool = True
    level: str = "nil"  # one file per Milan NIL
    themes: tuple[str, ...] = ("population",)
    file_hint: str = "cartella data-api/nil/ con <id>.json (id_nil, popolazione_totale)"

    def find(self, raw_dir: Path) -> list[Path]:
        return _nil_folders(raw_dir, None, POPULATION_KEYS)

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        folder = _set_folder(path, None)
        pairs, rejects, n_files = _per_nil(folder, None, "id_nil", "popolazione_totale", ctx, "numero di residenti",
                                          warn=zero_population_doubt)
        year, why = overview_population_year(folder)
        if year is None:
            year = DOCUMENTED_POPULATION_YEAR
            why = f"{why}: anno {year} come documentato per questo export (SOURCES.md, data-overview.json 2021)"
        total = sum(v for _, v in pairs)
        frame = pd.DataFrame({"level": "nil", "district_id": [i for i, _ in pairs], "year": year,
                              "reference_date": pd.NaT, "residents": [v for _, v in pairs]})
        frame["year"] = frame["year"].astype("Int64")
        frame["reference_date"] = frame["reference_date"].astype("datetime64[s]")
        notes = [f"{n_files} file <id>.json letti come un'unica fonte (cartella {_label(folder)})",
                 f"campo popolazione_totale; {why}",
                 f"somma residenti {_fmt(total)}",
                 "dato derivato: export di terzi da open data del Comune di Milano (probabilmente ds205)"]
        return LoadResult(table="population", frame=frame, rows_read=n_files, trust="derived", rejects=rejects,
                          notes=notes, file_format="json (un file per NIL)", licence=LICENCE,
                          attribution=ATTRIBUTION, origin=ORIGIN)


@dataclass(frozen=True)
class PlatformCoworkingSource:
    source_id: str = "platform_coworking_nil"
    title: str = "Coworking per NIL (export Milano-Platform, dall'elenco coworking del Comune di Milano)"
    dataset: str | None = None
    licence: str = LICENCE
    table: str = "area_counts"
    attribution: str = ATTRIBUTION
    origin: str = ORIGIN
    single: bool = True
    level: str = "nil"  # one file per Milan NIL
    themes: tuple[str, ...] = ("coworking",)
    file_hint: str = "cartella data-api/nil/ con <id>/commercio.json (nilId, coworking)"

    def find(self, raw_dir: Path) -> list[Path]:
        return _nil_folders(raw_dir, COMMERCE, COWORKING_KEYS)

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        folder = _set_folder(path, COMMERCE)
        pairs, rejects, n_files = _per_nil(folder, COMMERCE, "nilId", "coworking", ctx, "conteggio")
        total = sum(v for _, v in pairs)
        zeros = sum(1 for _, v in pairs if v == 0)
        frame = pd.DataFrame({"level": "nil", "district_id": [i for i, _ in pairs], "theme": "coworking",
                              "year": pd.array([None] * len(pairs), dtype="Int64"), "count": [v for _, v in pairs]})
        notes = [f"{n_files} file <id>/commercio.json letti come un'unica fonte (cartella {_label(folder)})",
                 "campo coworking: derivato dall'elenco ufficiale dei coworking con un'assegnazione punto-in-NIL "
                 "fatta da terzi",
                 f"totale {total} coworking; {zeros} NIL con 0 (zero reale: l'elenco è stato caricato)",
                 "anno non indicato nell'export",
                 "altri conteggi del file (pubblici esercizi, vicinato, botteghe, ...) non caricati"]
        return LoadResult(table="area_counts", frame=frame, rows_read=n_files, trust="derived", rejects=rejects,
                          notes=notes, file_format="json (un file per NIL)", licence=LICENCE,
                          attribution=ATTRIBUTION, origin=ORIGIN)


POPULATION = PlatformPopulationSource()
COWORKING = PlatformCoworkingSource()
