"""One module per data source; `REGISTRY` lists them in load order (boundaries first)."""

from __future__ import annotations

from etl.base import Source
from etl.sources import (
    aree_dismesse,
    census,
    comuni_istat,
    confiscated,
    coworking,
    firms_ateco,
    firms_city,
    firms_points,
    historic_shops,
    hubs,
    makerspaces,
    municipi,
    nil,
    platform_nil,
    population,
    population_xlsx,
    vacant_buildings,
    vacant_ds503,
    vacant_footprints,
)

REGISTRY: list[Source] = [
    municipi.SOURCE,
    nil.SOURCE,
    comuni_istat.SOURCE,  # boundaries: the profile says which of these a territory uses (others are skipped)
    population.SOURCE,
    population_xlsx.SOURCE,
    platform_nil.POPULATION,
    population.RESEARCH,
    makerspaces.SOURCE,
    coworking.SOURCE,
    platform_nil.COWORKING,
    historic_shops.SOURCE,
    hubs.SOURCE,  # config/hubs.toml: facts, no coordinates
    vacant_ds503.SOURCE,  # the official list first: places.json must not count its buildings twice
    vacant_footprints.SOURCE,
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
