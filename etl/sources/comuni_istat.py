"""Comuni boundaries: ISTAT administrative limits repackaged by Openpolis (`limits_P_<prov>_municipalities.geojson`).

One GeoJSON per province (or Città metropolitana), WGS84 lon/lat without a `crs` member. The file
is recognised by its properties (`com_istat_code_num`, `name`, `prov_istat_code`), not only by its
name; the profile level's `filter` (e.g. `prov_istat_code = "015"`) keeps the territory's comuni.
Id = `com_istat_code_num` (ISTAT code as an integer, e.g. 15146 Milano, 19036 Cremona), name = `name`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from etl.base import BuildContext, LoadResult
from etl.sources.boundaries import load_boundaries
from etl.territory import LevelSpec

REQUIRED_PROPERTIES = ("com_istat_code_num", "name", "prov_istat_code")
_NAME = re.compile(r"limits_P_\d+_municipalities", re.IGNORECASE)
_MAX_BYTES = 200 * 1024 * 1024  # larger JSON files are not opened to recognise them


@dataclass(frozen=True)
class ComuniIstatSource:
    source_id: str = "comuni_istat"
    title: str = "Confini dei comuni (ISTAT, ripubblicati da Openpolis)"
    dataset: str | None = None
    licence: str = "CC BY 4.0 – ISTAT (confini amministrativi), ripubblicazione Openpolis"
    table: str = "districts"
    attribution: str = "ISTAT, Confini delle unità amministrative a fini statistici; rielaborazione Openpolis (geojson-italy)"
    origin: str = "https://github.com/openpolis/geojson-italy"
    file_hint: str = "limits_P_<codice provincia>_municipalities.geojson (Openpolis geojson-italy)"
    single: bool = False  # every matching file is tried; the filter keeps the territory's comuni
    spec: LevelSpec | None = None  # the profile's level (filter, expected count), bound by the pipeline

    def for_level(self, spec: LevelSpec) -> ComuniIstatSource:
        return replace(self, spec=spec)

    def find(self, raw_dir: Path) -> list[Path]:
        hits = [p for p in Path(raw_dir).rglob("*") if p.is_file() and p.suffix.lower() in (".geojson", ".json")
                and _looks_like_comuni(p)]
        return sorted(hits, key=lambda p: (_NAME.search(p.stem) is None, str(p)))

    def load(self, path: Path, ctx: BuildContext) -> LoadResult:
        spec = self.spec
        result = load_boundaries(
            path, level=spec.id if spec else "comune", id_columns=["com_istat_code_num"], name_columns=["name"],
            official_columns=None, expected_count=spec.expected_count if spec else None, ctx=ctx,
            filters=dict(spec.filter) if spec else None)
        result.notes.append("confini ISTAT ripubblicati da Openpolis (geojson-italy, mapshaper): "
                            "geometria ufficiale, file di terzi, quindi 'derived'")
        return result


def _looks_like_comuni(path: Path) -> bool:
    """Openpolis' file name, or a GeoJSON whose first feature has the ISTAT comune code, name and province code.

    A file with the Openpolis name is claimed even when its properties are wrong: `load` then says
    which property is missing (better than listing it as unrecognised).
    """
    if _NAME.search(path.stem):
        return True
    try:
        if path.stat().st_size > _MAX_BYTES:
            return False
        data = path.read_bytes()
    except OSError:
        return False
    if b"com_istat_code_num" not in data:
        return False
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return False
    features = doc.get("features") if isinstance(doc, dict) else None
    first = features[0] if isinstance(features, list) and features else None
    props = first.get("properties") if isinstance(first, dict) else None
    return isinstance(props, dict) and all(key in props for key in REQUIRED_PROPERTIES)


SOURCE = ComuniIstatSource()
