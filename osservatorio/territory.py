"""The territory a warehouse describes, as its build stored it (tables territory, territory_levels).

Pages never name a level: they ask the territory for its finest level (`fine`, the level of maps,
rankings and profiles) and the level that groups it (`parent`, may be None), and show their labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

TERRITORY_LEVEL = "territory"  # indicator level of the whole territory (area_id = territory id)


@dataclass(frozen=True)
class Level:
    """One area level of the territory (e.g. NIL, Municipio, comune)."""

    id: str
    rank: int
    parent_level: str | None
    label_it: str
    label_en: str
    plural_it: str
    plural_en: str
    long_it: str = ""
    long_en: str = ""
    expected_count: int | None = None

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_it

    def plural(self, lang: str) -> str:
        return self.plural_en if lang == "en" else self.plural_it

    def long(self, lang: str) -> str:
        text = self.long_en if lang == "en" else self.long_it
        return text or self.label(lang)

    @property
    def url_key(self) -> str:
        """Name of the URL parameter that picks one area of this level (e.g. ?nil=42, ?comune=19036)."""
        return self.id


@dataclass(frozen=True)
class Territory:
    """Name, centre and levels (finest first) of the warehouse's territory."""

    id: str
    name_it: str
    name_en: str
    levels: tuple[Level, ...]
    centre_lon: float
    centre_lat: float
    centre_name_it: str
    centre_name_en: str
    area_crs: str
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north (EPSG:4326)

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_it

    def centre_name(self, lang: str) -> str:
        return self.centre_name_en if lang == "en" else self.centre_name_it

    @property
    def fine(self) -> Level:
        return self.levels[0]

    @property
    def parent(self) -> Level | None:
        return self.levels[1] if len(self.levels) > 1 else None

    def level(self, level_id: str) -> Level | None:
        return next((lv for lv in self.levels if lv.id == level_id), None)

    @property
    def level_ids(self) -> tuple[str, ...]:
        return tuple(lv.id for lv in self.levels)

    def level_label(self, level_id: str, lang: str) -> str:
        """Label of an area level, of the whole territory, or the id itself when unknown."""
        if level_id == TERRITORY_LEVEL:
            return self.name(lang)
        found = self.level(level_id)
        return found.label(lang) if found else level_id


def read(con: duckdb.DuckDBPyConnection) -> Territory:
    """The territory stored by the build (raises duckdb.Error when the tables are missing)."""
    row = con.execute(
        """SELECT territory_id, name_it, name_en, centre_lon, centre_lat, centre_name_it, centre_name_en,
                  area_crs, bbox_west, bbox_south, bbox_east, bbox_north FROM territory LIMIT 1""").fetchone()
    if row is None:
        raise duckdb.InvalidInputException("territory table is empty")
    levels = tuple(
        Level(id=r[0], rank=int(r[1]), parent_level=r[2], label_it=r[3], label_en=r[4], plural_it=r[5],
              plural_en=r[6], long_it=r[7] or "", long_en=r[8] or "", expected_count=r[9])
        for r in con.execute(
            """SELECT level, rank, parent_level, label_it, label_en, plural_it, plural_en, long_it, long_en,
                      expected_count FROM territory_levels ORDER BY rank""").fetchall())
    if not levels:
        raise duckdb.InvalidInputException("territory_levels is empty")
    bbox = None if any(v is None for v in row[8:12]) else (float(row[8]), float(row[9]), float(row[10]), float(row[11]))
    return Territory(id=row[0], name_it=row[1], name_en=row[2], levels=levels, centre_lon=float(row[3]),
                     centre_lat=float(row[4]), centre_name_it=row[5], centre_name_en=row[6], area_crs=row[7],
                     bbox=bbox)
