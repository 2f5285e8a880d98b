"""The small interface every ETL source module implements, and the types they share.

A source module exposes one object `SOURCE` with:
- `source_id`, `title`, `dataset`, `licence`, `table` (target table);
- `find(raw_dir) -> list[Path]`: the files of this source in a raw folder, best first;
- `load(path, ctx) -> LoadResult`: read, validate and normalise one file.

Optional attributes the pipeline reads: `single` (load only the first file that works; the
others are recorded as skipped), `themes` (tuple of place themes, for `source_catalogue`;
default: the `table`), `file_hint` (file names it recognises, in words), `attribution`, `origin`,
`level` (the territory level whose ids the file carries, e.g. 'nil': the source is skipped, with
the reason, in a territory without that level), `territories` (tuple of territory ids the file
can describe, e.g. a whole-city table; default: any).

`load` never writes to the warehouse: the pipeline does, one transaction per file.
Row problems become `Reject`s; a file that cannot be used raises `SourceError` (the pipeline
records it as 'failed' and goes on; any other exception from `load` is recorded the same way,
with its type). A result whose frame is empty because every row was rejected is 'failed' too,
unless it has a truthy `merged_into` attribute (its data enrich another source's rows).
A loader may set `frame.attrs["row_numbers"]` (the file's 1-based rows, aligned with the
frame) so that an integer out of range is reported at the file's row. Use
`etl.readers.parse_int(text, lo, hi)` to reject implausible counts and ids row by row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pandas as pd

if TYPE_CHECKING:
    import geopandas as gpd

    from etl.territory import TerritoryProfile

Trust = Literal["official", "derived", "demo"]
Action = Literal["rejected", "repaired", "warning"]


class SourceError(Exception):
    """A file that cannot be loaded: says which file, what is wrong and what to do."""

    def __init__(self, path: Path | str, problem: str, hint: str, row: int | None = None):
        self.path = str(path)
        self.problem = problem
        self.hint = hint
        self.row = row
        where = f"{self.path}" + (f", riga {row}" if row is not None else "")
        super().__init__(f"{where}: {problem}. Cosa fare: {hint}")


@dataclass(frozen=True)
class Reject:
    """One row that was rejected, repaired or flagged, with its reason."""

    row_number: int | None
    raw: dict[str, Any]
    reason: str
    action: Action = "rejected"

    def raw_json(self) -> str:
        return json.dumps(self.raw, ensure_ascii=False, default=str)


@dataclass
class LoadResult:
    """What a source produced from one file, ready for the pipeline to write."""

    table: str
    frame: pd.DataFrame
    rows_read: int
    trust: Trust
    rejects: list[Reject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    crs: str | None = None
    encoding: str | None = None
    file_format: str | None = None
    licence: str | None = None  # overrides the source's licence (e.g. a census file's own licence)
    reference_date: date | None = None  # the data's own date (edition, "al 31/12/2022"), if stated
    attribution: str | None = None  # attribution line the licence asks for (overrides the source's)
    origin: str | None = None  # where this copy came from, when not the publisher's portal
    # The publisher's dataset code of THIS file, when it differs from the source's: "" = the file is not
    # that dataset (e.g. a third-party list read by the ds744 loader), None = the source's code.
    dataset: str | None = None

    # Rows of a large file prepared in a scratch DuckDB database instead of `frame` (see StagedRows).
    staged: StagedRows | None = None

    @property
    def rows_rejected(self) -> int:
        staged = self.staged.rejected if self.staged else 0
        return staged + sum(1 for r in self.rejects if r.action == "rejected")

    @property
    def rows_repaired(self) -> int:
        staged = self.staged.repaired if self.staged else 0
        return staged + sum(1 for r in self.rejects if r.action == "repaired")

    @property
    def rows_loaded(self) -> int:
        return len(self.frame) + (self.staged.rows if self.staged else 0)

    def first_rejected(self) -> tuple[int | None, str] | None:
        """(file row, reason) of the first rejected row, staged or in `rejects`; None without one."""
        if self.staged is not None and self.staged.first_rejected is not None:
            return self.staged.first_rejected
        first = next((r for r in self.rejects if r.action == "rejected"), None)
        return None if first is None else (first.row_number, first.reason)


@dataclass
class StagedRows:
    """A large file's rows and rejects, prepared by its loader in a scratch DuckDB database.

    `stage` (an `etl.staging.Stage`, still open) holds `table` (the target table's columns, minus
    source_id, path and trust, plus `row_number`) and `rejects` (row_number, raw, reason, action,
    seq). The pipeline streams both into the warehouse in the file's transaction, in row order,
    then calls `discard()`; rows never pass through pandas.
    """

    stage: Any
    table: str
    rejects: str
    rows: int
    rejected: int
    repaired: int
    warnings: int = 0
    first_rejected: tuple[int | None, str] | None = None

    def discard(self) -> None:
        """Close the scratch database and delete its folder."""
        self.stage.discard()

    @property
    def open(self) -> bool:
        return bool(self.stage.open)


@dataclass
class BuildContext:
    """State shared by sources during one build (the territory's boundaries are loaded first).

    `areas` maps a level id of the territory profile to its boundaries (columns id, name,
    geometry, EPSG:4326); `levels[0]` of the profile is the finest level.
    """

    territory: TerritoryProfile = field(default_factory=lambda: _default_profile())
    areas: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # Where loaders put scratch databases for large files (the pipeline: beside the warehouse being
    # built, so that a killed build's leftovers are found and removed); None: the system's temp folder.
    scratch_dir: Path | None = None

    @property
    def fine_level(self) -> str:
        return self.territory.fine.id

    @property
    def parent_level(self) -> str | None:
        parent = self.territory.parent
        return None if parent is None else parent.id

    def boundaries(self, level: str | None = None) -> gpd.GeoDataFrame | None:
        """Boundaries of a level (default: the finest), or None when not loaded."""
        return self.areas.get(level or self.fine_level)

    def ids(self, level: str | None = None) -> set[int]:
        """Ids of the loaded areas of a level (default: the finest)."""
        frame = self.boundaries(level)
        return set() if frame is None else {int(i) for i in frame["id"]}

    def bbox(self, pad_deg: float = 0.02) -> tuple[float, float, float, float] | None:
        """West, south, east, north of the loaded boundaries (EPSG:4326), padded; None before they load."""
        frames = [f for f in self.areas.values() if f is not None and not f.empty]
        if not frames:
            return None
        bounds = [f.total_bounds for f in frames]
        return (min(b[0] for b in bounds) - pad_deg, min(b[1] for b in bounds) - pad_deg,
                max(b[2] for b in bounds) + pad_deg, max(b[3] for b in bounds) + pad_deg)

    @classmethod
    def with_areas(cls, fine: gpd.GeoDataFrame | None = None, parent: gpd.GeoDataFrame | None = None,
                   territory: TerritoryProfile | None = None) -> BuildContext:
        """A context with the finest level's boundaries (and the parent's), for tests and tools."""
        profile = territory or _default_profile()
        areas: dict[str, gpd.GeoDataFrame] = {}
        if fine is not None:
            areas[profile.fine.id] = fine
        if parent is not None and profile.parent is not None:
            areas[profile.parent.id] = parent
        return cls(territory=profile, areas=areas)


def _default_profile() -> TerritoryProfile:
    from etl import territory

    return territory.load()


class Source(Protocol):
    """The interface of one ETL source module (see the module docstring)."""

    source_id: str
    title: str
    dataset: str | None
    licence: str
    table: str

    def find(self, raw_dir: Path) -> list[Path]: ...

    def load(self, path: Path, ctx: BuildContext) -> LoadResult: ...


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
