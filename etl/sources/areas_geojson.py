"""Generic boundary loader: any polygon file named by a territory profile level.

A level with `boundary_source = "areas_geojson"` says in its profile which file to read and which
properties hold the id and the name:

    [[levels]]
    id = "comune"
    boundary_source = "areas_geojson"
    file = "confini_valle*.geojson"     # glob, searched anywhere in the raw folder
    id_column = "codice"                # integer id of each area
    name_column = "nome"
    filter = { provincia = "099" }      # optional: keep only these features

so that a new territory needs only its profile and its boundary file (GeoJSON, shapefile, zipped
shapefile or CSV with WKT; a file without CRS is recognised by its coordinates in the profile's
`region_bbox`). The file is not a known publisher's product: trust 'derived'; its licence comes
from the folder's manifest when stated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from etl.base import BuildContext, LoadResult, SourceError
from etl.readers import normalise_header
from etl.sources.boundaries import load_boundaries
from etl.territory import LevelSpec

SOURCE_ID = "areas_geojson"
SUFFIXES = (".geojson", ".json", ".zip", ".shp", ".gpkg", ".csv")


@dataclass(frozen=True)
class AreasGeojsonSource:
    source_id: str = SOURCE_ID
    title: str = "Confini delle aree del territorio (file indicato dal profilo)"
    dataset: str | None = None
    licence: str = "da verificare: indicata nel manifest della cartella, se c'è"
    table: str = "districts"
    file_hint: str = "il file indicato dal campo 'file' del livello nel profilo del territorio"
    single: bool = True
    spec: LevelSpec | None = None

    def for_level(self, spec: LevelSpec) -> AreasGeojsonSource:
        return replace(self, spec=spec, title=f"Confini: {spec.plural_it} (file indicato dal profilo)")

    def find(self, raw_dir: Path) -> list[Path]:
        if self.spec is None or not self.spec.file:
            return []
        hits = [p for p in Path(raw_dir).rglob(self.spec.file) if p.is_file() and p.suffix.lower() in SUFFIXES]
        return sorted(hits, key=lambda p: (SUFFIXES.index(p.suffix.lower()), str(p)))

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        spec = self.spec
        if spec is None or not spec.id_column:
            raise SourceError(path, "il livello del profilo non indica la proprietà dell'identificativo (id_column)",
                              "aggiungere id_column (e name_column) al livello in config/territories/")
        return load_boundaries(
            path, level=spec.id, id_columns=[normalise_header(spec.id_column)],
            name_columns=[normalise_header(spec.name_column)] if spec.name_column else [],
            official_columns=None, expected_count=spec.expected_count, ctx=ctx,
            filters=dict(spec.filter) or None,
            default_name=f"{spec.label_it} {{id}}")


SOURCE = AreasGeojsonSource()
