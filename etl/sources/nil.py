"""NIL boundaries (Comune di Milano ds964, PGT 2030): zipped shapefile, GeoJSON or CSV with WKT."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from etl.base import BuildContext, LoadResult
from etl.sources.boundaries import find_by_name, load_boundaries
from etl.territory import LevelSpec

OFFICIAL_COLUMNS = {"id_nil", "nil", "valido_dal", "valido_al", "fonte", "shape_leng",
                    "shape_length", "shape_area", "objectid", "geometry"}


@dataclass(frozen=True)
class NilSource:
    source_id: str = "nil_boundaries"
    title: str = "NIL (Nuclei di Identità Locale) vigenti – PGT 2030"
    dataset: str | None = "ds964"
    licence: str = "CC BY 4.0 – Comune di Milano"
    table: str = "districts"
    single: bool = True  # one boundary file per build: the best one found
    level: str = "nil"   # the profile level it describes: skipped in a territory without NIL
    territories: tuple[str, ...] = ("milano",)
    spec: LevelSpec | None = None  # the profile's level, bound by the pipeline (for_level)

    def for_level(self, spec: LevelSpec) -> NilSource:
        return replace(self, spec=spec)

    def find(self, raw_dir: Path) -> list[Path]:
        files = find_by_name(raw_dir, r"(^|[^a-z])(nil|nil_wm|ds964)([^a-z]|$)", [".zip", ".shp", ".geojson", ".json", ".csv"])
        return [p for p in files if p.suffix.lower() != ".csv" or _has_wkt(p)]

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        return load_boundaries(path, level=self.spec.id if self.spec else "nil",
                               id_columns=["id_nil", "idnil", "district_id"], name_columns=["nil", "nil_name", "nome"],
                               official_columns=OFFICIAL_COLUMNS,
                               expected_count=self.spec.expected_count if self.spec else 88, ctx=ctx,
                               default_name=f"{self.spec.label_it if self.spec else 'NIL'} {{id}}")


def _has_wkt(path: Path) -> bool:
    try:
        head = path.read_bytes()[:4096].decode("utf-8", errors="ignore").lower()
    except OSError:
        return False
    first = head.splitlines()[0] if head else ""
    return any(k in first for k in ("wkt", "geometry", "the_geom", "geo_shape"))


SOURCE = NilSource()
