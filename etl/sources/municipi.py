"""Municipi boundaries (Comune di Milano ds379), projected RDN2008 / UTM 32N."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from etl.base import BuildContext, LoadResult
from etl.sources.boundaries import find_by_name, load_boundaries
from etl.territory import LevelSpec

OFFICIAL_COLUMNS = {"municipio", "area", "perimetro", "objectid", "shape_length", "shape_area",
                    "shape_leng", "geometry"}


@dataclass(frozen=True)
class MunicipiSource:
    source_id: str = "municipi_boundaries"
    title: str = "Municipi – superficie"
    dataset: str | None = "ds379"
    licence: str = "CC BY 4.0 – Comune di Milano"
    table: str = "districts"
    single: bool = True
    level: str = "municipio"  # skipped in a territory without Municipi
    territories: tuple[str, ...] = ("milano",)
    spec: LevelSpec | None = None  # the profile's level, bound by the pipeline (for_level)

    def for_level(self, spec: LevelSpec) -> MunicipiSource:
        return replace(self, spec=spec)

    def find(self, raw_dir: Path) -> list[Path]:
        return find_by_name(raw_dir, r"(^|[^a-z])(municipi|ds379)([^a-z]|$)", [".shp", ".zip", ".geojson", ".json", ".csv"])

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        return load_boundaries(path, level=self.spec.id if self.spec else "municipio",
                               id_columns=["municipio", "id_municipio", "munic"],
                               name_columns=["nome", "name", "denominazione"],
                               official_columns=OFFICIAL_COLUMNS,
                               expected_count=self.spec.expected_count if self.spec else 9,
                               default_name="Municipio {id}", ctx=ctx)


SOURCE = MunicipiSource()
