"""Scratch DuckDB databases for large files: rows are read, checked and shaped in SQL, not in pandas.

A loader opens a `Stage` (a DuckDB file in its own folder, with a memory limit and a spill folder,
so a file of any size fits), puts the file's cells in a text table `raw` (`read_csv_into` for a
strict UTF-8 CSV, `frame_into` for what the careful readers produced), shapes its rows with SQL
and Python per distinct value, and closes the stage; the pipeline copies the result into the
warehouse (`etl.base.StagedRows`). `Heartbeat` logs the stage under way every few seconds.

Column names in SQL come only from `ident`, which accepts the normalised header names
(`etl.readers.normalise_header`: lower-case letters, digits and underscores) and quotes them.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from etl.readers import _count_lines, normalise_header, sniff_separator, unique_names

_LOG = logging.getLogger(__name__)
# A scratch database keeps at most this much in memory and spills the rest to its folder.
MEMORY_LIMIT = "256MB"
HEARTBEAT_SECONDS = 10.0
_SAFE = re.compile(r"^[a-z0-9_]+$")
# What Python's str.strip() removes from a cell (the careful reader strips with it).
WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
             "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def ident(name: str) -> str:
    """A column name as a quoted SQL identifier; only normalised header names are accepted."""
    if not _SAFE.fullmatch(name):
        raise ValueError(f"nome di colonna non ammesso: {name!r}")
    return f'"{name}"'


@dataclass
class RawTable:
    """The `raw` table of a stage: `row_number` (the file's 1-based data row) and one text column per header cell."""

    columns: list[str]
    original_columns: list[str]
    encoding: str | None
    separator: str | None
    rows: int


class Stage:
    """One scratch DuckDB database (in memory, spilling to its own folder; both gone after `discard`)."""

    def __init__(self, scratch_dir: Path | None = None, on_disk: bool = False):
        base = Path(scratch_dir) if scratch_dir is not None else None
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="stage-", dir=base))
        # An in-memory database that spills to its folder beyond MEMORY_LIMIT: measured 3x less CPU than
        # a database file for the same tables (no compression and checkpoints of data used once).
        # Insertion order is kept only where a loader needs it (see read_csv_into); rows carry their number.
        self.open = True
        self.on_disk = on_disk
        # On disk (slower) when the in-memory database ran out of memory for a file: its tables then spill whole.
        self.con = duckdb.connect(str(self.dir / "stage.duckdb") if on_disk else ":memory:", config={
            "threads": 2, "memory_limit": MEMORY_LIMIT, "temp_directory": str(self.dir / "spill"),
            "preserve_insertion_order": True})
        # Progress of the running query, read by the heartbeat (never printed by DuckDB itself).
        self.con.execute("SET enable_progress_bar = true")
        self.con.execute("SET enable_progress_bar_print = false")
        self.con.execute("SET progress_bar_time = 0")

    def close(self) -> None:
        self.open = False
        try:
            self.con.close()
        except duckdb.Error:
            pass

    def discard(self) -> None:
        import shutil

        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            self.discard()

    def drop(self, *names: str) -> None:
        """Drop these tables or views (whichever each is), if they exist."""
        for name in names:
            ident(name)
            views = self.con.sql("SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT internal",
                                 params=[name]).fetchall()
            kind = "VIEW" if views and views[0][0] else "TABLE"
            self.con.execute(f"DROP {kind} IF EXISTS {name}")

    def count(self, sql: str, params: Sequence[Any] | None = None) -> int:
        rows = self.con.sql(sql, params=list(params or [])).fetchall()
        return int(rows[0][0] or 0) if rows else 0


def read_csv_into(stage: Stage, path: Path) -> RawTable | None:
    """Read a UTF-8 CSV strictly with DuckDB into `raw`; None when it cannot be read strictly.

    Any file DuckDB cannot read strictly (another encoding, ragged rows, stray quotes, blank lines,
    cells spanning lines) returns None: the caller reads it with `etl.readers.read_table`, whose
    messages explain a bad file best, and stages that with `frame_into`.
    """
    with open(path, "rb") as fh:
        head = fh.read(65536)
    try:
        first = head.decode("utf-8-sig").split("\n", 1)[0].rstrip("\r")
    except UnicodeDecodeError:
        return None
    separator = sniff_separator(first)
    header = next(csv.reader([first], delimiter=separator))
    columns = unique_names([normalise_header(h) or f"col_{i}" for i, h in enumerate(header)])
    raw_names = [f"c{i}" for i in range(len(header))]
    try:
        # The plain copy keeps the file's order (its rowid is the data row - 1); a copy with expressions
        # may not (measured: a parallel projection reorders rows).
        stage.con.execute(
            "CREATE OR REPLACE TABLE raw_file AS SELECT * FROM read_csv($path, delim=$sep, header=true, all_varchar=true, "
            "quote='\"', escape='\"', strict_mode=true, null_padding=false, names=$names, encoding='utf-8')",
            {"path": str(path), "sep": separator, "names": raw_names})
    except duckdb.Error:
        stage.con.execute("DROP TABLE IF EXISTS raw_file")
        return None
    lines, ends_with_newline = _count_lines(path)
    physical_rows = lines + (0 if ends_with_newline else 1) - 1  # minus the header
    rows = stage.count("SELECT count(*) FROM raw_file")
    if rows == 0 or rows != physical_rows:  # blank lines, multi-line cells or nothing to read
        stage.con.execute("DROP TABLE raw_file")
        return None
    # The row number as a stored value, then each column cleaned in place, only where a cell needs it (a
    # second copy of the file cost more than the read itself). Updates keep rows where they are.
    stage.con.execute("ALTER TABLE raw_file ADD COLUMN row_number BIGINT")
    stage.con.execute("UPDATE raw_file SET row_number = rowid + 1")
    chars = WHITESPACE.replace("'", "''")
    # Byte comparisons only (cheap): an edge character below '!' or outside ASCII may be whitespace.
    needs = {raw_name: f"{ident(raw_name)} < '!' OR {ident(raw_name)} >= '\u0080' OR right({ident(raw_name)}, 1) < '!' "
                       f"OR right({ident(raw_name)}, 1) >= '\u0080'" for raw_name in raw_names}
    counts = stage.con.sql("SELECT " + ", ".join(f"count_if({cond})" for cond in needs.values())  # noqa: S608 idents
                           + " FROM raw_file").fetchall()[0]
    for (raw_name, cond), count in zip(needs.items(), counts, strict=True):
        if count:  # one scan found the columns with a cell to clean; only those are updated
            column = ident(raw_name)
            stage.con.execute(f"UPDATE raw_file SET {column} = nullif(trim({column}, '{chars}'), '') WHERE {cond}")  # noqa: S608
    for raw_name, name in zip(raw_names, columns, strict=True):
        stage.con.execute(f"ALTER TABLE raw_file RENAME COLUMN {ident(raw_name)} TO {ident(name)}")
    stage.con.execute("ALTER TABLE raw_file RENAME TO raw")
    # From here every row carries its number: DuckDB may reorder, which under a memory limit is much faster.
    stage.con.execute("SET preserve_insertion_order = false")
    return RawTable(columns, header, "utf-8", separator, rows)


def drop_empty_rows(stage: Stage, columns: Sequence[str]) -> int:
    """Remove the rows of `raw` whose every cell is empty; returns how many there were."""
    empty = " AND ".join(f"{ident(c)} IS NULL" for c in columns)
    count = stage.count(f"SELECT count(*) FROM raw WHERE {empty}")  # noqa: S608 idents
    if not count:
        return 0
    stage.con.execute(f"DELETE FROM raw WHERE {empty}")  # noqa: S608 idents
    return count


def as_text(values: pd.Series) -> list[str | None]:
    """Cells as clean text: stripped, integral floats without '.0', None when empty or missing."""
    out: list[str | None] = []
    for v in values.tolist():
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            out.append(None)
            continue
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        text = str(v).strip()
        out.append(text or None)
    return out


def frame_into(stage: Stage, frame: pd.DataFrame, row_numbers: Sequence[int] | np.ndarray,
               original_columns: list[str], encoding: str | None, separator: str | None) -> RawTable:
    """Stage a frame read by the careful readers (CSV or spreadsheet) as `raw`, every cell as text."""
    import pyarrow as pa

    columns = [str(c) for c in frame.columns]
    data: dict[str, Any] = {"row_number": pa.array(np.asarray(row_numbers, dtype=np.int64))}
    for c in columns:
        ident(c)
        data[c] = pa.array(as_text(frame[c]), type=pa.string())
    table = pa.table(data)
    stage.con.register("_frame", table)
    try:
        stage.con.execute("CREATE OR REPLACE TABLE raw AS SELECT * FROM _frame")
    finally:
        stage.con.unregister("_frame")
    return RawTable(columns, original_columns, encoding, separator, len(frame))


def json_object(pairs: Sequence[tuple[str, str]], always: Sequence[str] = ()) -> str:
    """SQL for `json.dumps(dict, ensure_ascii=False)` of (key, SQL text expression) pairs.

    A NULL value leaves its key out (the original record of a row), except for the keys in `always`,
    which are written as null. Keys are JSON-quoted here.
    """
    if not pairs:
        return "'{}'"
    parts = []
    for key, expr in pairs:
        quoted = json.dumps(key, ensure_ascii=False).replace("'", "''")
        if key in always:
            parts.append(f"'{quoted}: ' || coalesce(to_json({expr}), 'null')")
        else:
            parts.append(f"CASE WHEN ({expr}) IS NOT NULL THEN '{quoted}: ' || to_json({expr}) END")
    return f"'{{' || concat_ws(', ', {', '.join(parts)}) || '}}'"


def register_table(stage: Stage, name: str, frame: pd.DataFrame | dict[str, Any]) -> None:
    """Create (or replace) a stage table from a small pandas frame or a dict of columns."""
    import pyarrow as pa

    ident(name)
    table = pa.table(frame) if isinstance(frame, dict) else pa.Table.from_pandas(frame, preserve_index=False)
    stage.con.register("_incoming", table)
    try:
        stage.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _incoming")  # noqa: S608 ident
    finally:
        stage.con.unregister("_incoming")


def _it(number: float) -> str:
    """An integer with Italian thousands dots (log lines are in Italian)."""
    return f"{number:,.0f}".replace(",", ".")


class Heartbeat:
    """Logs every `every` seconds which step of a long file is under way, how far and how fast.

    `step(name, rows)` starts a step over `rows` rows; the share done comes from DuckDB's progress
    of the stage's running query (steps in Python report elapsed time only).
    """

    def __init__(self, label: str, stage: Stage | None, total_rows: int | None, every: float = HEARTBEAT_SECONDS):
        self.label = label
        self.stage = stage
        self.total_rows = total_rows
        self.every = every
        self.name = "avvio"
        self.started = time.perf_counter()
        self.step_started = self.started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {label}", daemon=True)
        self.beats = 0

    def step(self, name: str, rows: int | None = None) -> None:
        self.name = name
        self.step_started = time.perf_counter()
        if rows is not None:
            self.total_rows = rows

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def message(self) -> str:
        now = time.perf_counter()
        share = -1.0
        if self.stage is not None:
            try:
                share = float(self.stage.con.query_progress())
            except (duckdb.Error, RuntimeError):
                share = -1.0
        text = f"{self.label}: {self.name} in corso da {now - self.step_started:.0f} s"
        if share >= 0 and self.total_rows:
            done = int(self.total_rows * share / 100)
            rate = done / max(now - self.step_started, 1e-9)
            text += f" ({share:.0f}%, circa {_it(done)} righe di {_it(self.total_rows)}; {_it(rate)} righe/s)"
        elif self.total_rows:
            text += f" ({_it(self.total_rows)} righe)"
        return text + f"; totale {now - self.started:.0f} s"

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.beats += 1
            _LOG.info("%s", self.message())
