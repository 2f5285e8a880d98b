"""Placeholder for the census source (being written); finds nothing yet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from etl.base import BuildContext, LoadResult


@dataclass(frozen=True)
class _Pending:
    source_id: str = "census"
    title: str = "census"
    dataset: str | None = None
    licence: str = ""
    table: str = "places"
    single: bool = False

    def find(self, raw_dir: Path) -> list[Path]:
        return []

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        raise NotImplementedError


SOURCE = _Pending()
