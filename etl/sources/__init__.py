"""One module per data source; `REGISTRY` lists them in load order (boundaries first)."""

from __future__ import annotations

from etl.base import Source
from etl.sources import (
    aree_dismesse,
    census,
    confiscated,
    coworking,
    firms_ateco,
    firms_city,
    firms_points,
    makerspaces,
    municipi,
    nil,
    population,
    vacant_buildings,
)

REGISTRY: list[Source] = [
    municipi.SOURCE,
    nil.SOURCE,
    population.SOURCE,
    makerspaces.SOURCE,
    coworking.SOURCE,
    vacant_buildings.SOURCE,
    confiscated.SOURCE,
    aree_dismesse.SOURCE,
    firms_ateco.SOURCE,
    firms_points.SOURCE,
    firms_city.SOURCE,
    census.SOURCE,
]


def by_id(source_id: str) -> Source:
    """The registered source with this id."""
    for source in REGISTRY:
        if source.source_id == source_id:
            return source
    raise KeyError(source_id)
