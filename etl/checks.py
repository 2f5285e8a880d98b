"""Data checks run by the build before the swap (SQL files in etl/sql/checks/ that must return no rows).

In the style of dbt tests: one file per check, a header (`-- check: name` = the file's stem,
`-- description: ...` in Italian) and one SELECT that returns the offending rows. The runner
executes every file on the build's connection and returns the failures: the check's name, how many
rows it returned and the first ones. A check that cannot run (SQL error, missing table) is a
failure too, with its error: a check that did not run must never look like a pass.

    python -m etl.checks WAREHOUSE.duckdb   # the checks on a built warehouse (read-only)
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

CHECKS_DIR = Path(__file__).resolve().parent / "sql" / "checks"
SAMPLE_ROWS = 5
_HEADER = re.compile(r"^--\s*(check|description):\s*(.*?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class CheckFailure:
    """One check that returned rows: its name, how many rows and the first ones."""

    name: str
    rows: int
    sample: list[tuple]
    description: str = ""
    error: str = ""  # set when the check could not run (then rows is 0 and sample empty)

    def message(self) -> str:
        """One Italian line for the build's log and error."""
        if self.error:
            return f"controllo '{self.name}' non eseguibile: {self.error}"
        sample = "; ".join(repr(r) for r in self.sample[:3])
        return f"controllo '{self.name}' non superato: {self.rows} righe ({self.description}) es. {sample}"


@dataclass(frozen=True)
class Check:
    """One check file: name, description and the SELECT that must return no rows."""

    name: str
    description: str
    sql: str
    path: Path


class ChecksFailed(Exception):
    """The warehouse did not pass its data checks: the build must not replace the installed one."""

    def __init__(self, failures: list[CheckFailure]):
        self.failures = failures
        lines = "\n".join(f"- {f.message()}" for f in failures)
        super().__init__(f"{len(failures)} controlli dei dati non superati; il warehouse non è stato installato:\n{lines}")


def parse_check(path: Path) -> Check:
    """Read one check file; ValueError when its header is missing or names another check."""
    text = path.read_text(encoding="utf-8")
    header = {key: value for key, value in _HEADER.findall(text)}
    name, description = header.get("check", ""), header.get("description", "")
    if name != path.stem or not description:
        raise ValueError(f"{path.name}: intestazione '-- check: {path.stem}' e '-- description: ...' mancante o diversa")
    body = text.strip().rstrip(";").strip()
    return Check(name=name, description=description, sql=body, path=path)


@cache
def _checks_in(folder: Path) -> tuple[Check, ...]:
    return tuple(parse_check(p) for p in sorted(folder.glob("*.sql")))


def list_checks(folder: Path | None = None) -> list[Check]:
    """Every check in the folder (default etl/sql/checks), by name."""
    return list(_checks_in(Path(folder or CHECKS_DIR)))


def run_check(con: duckdb.DuckDBPyConnection, check: Check) -> CheckFailure | None:
    """Run one check; None when it returns no rows."""
    try:
        count = con.sql(f"SELECT count(*) FROM ({check.sql}\n) AS c").fetchall()[0][0]  # noqa: S608 files of the repo
        sample = con.sql(f"SELECT * FROM ({check.sql}\n) AS c LIMIT {SAMPLE_ROWS}").fetchall() if count else []  # noqa: S608
    except duckdb.Error as exc:
        return CheckFailure(check.name, 0, [], check.description, error=f"{type(exc).__name__}: {exc}")
    if not count:
        return None
    return CheckFailure(check.name, int(count), [tuple(r) for r in sample], check.description)


def run_checks(con: duckdb.DuckDBPyConnection, folder: Path | None = None) -> list[CheckFailure]:
    """Run every check on the build's connection; the failures (empty = all passed)."""
    failures = []
    for check in list_checks(folder):
        failure = run_check(con, check)
        if failure is not None:
            failures.append(failure)
    return failures


def require_checks(con: duckdb.DuckDBPyConnection, folder: Path | None = None) -> None:
    """Raise ChecksFailed naming every failing check (for the build, before the swap)."""
    failures = run_checks(con, folder)
    if failures:
        raise ChecksFailed(failures)


def main(argv: list[str] | None = None) -> int:
    """Print the checks of a built warehouse; exit status 1 when any fails."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("uso: python -m etl.checks WAREHOUSE.duckdb", file=sys.stderr)
        return 2
    con = duckdb.connect(args[0], read_only=True)
    try:
        failures = run_checks(con)
    finally:
        con.close()
    n = len(list_checks())
    for failure in failures:
        print(failure.message())
    print(f"{n - len(failures)} controlli superati su {n}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
