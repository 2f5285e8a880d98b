"""SQL kept in one place: the DDL (schema.sql) and named transforms (transforms.sql)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent
SCHEMA_VERSION = 3


def schema_sql() -> str:
    """The full DDL of the warehouse."""
    return (_HERE / "schema.sql").read_text(encoding="utf-8")


@cache
def transforms() -> dict[str, str]:
    """Named transform statements from transforms.sql (`-- name: x` blocks)."""
    text = (_HERE / "transforms.sql").read_text(encoding="utf-8")
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


def transform(name: str) -> str:
    """One named transform statement."""
    return transforms()[name]
