"""One module per data source; `REGISTRY` lists them in load order (boundaries first)."""

from __future__ import annotations

from etl.base import Source
from etl.sources import municipi, nil, population

REGISTRY: list[Source] = [municipi.SOURCE, nil.SOURCE, population.SOURCE]


def by_id(source_id: str) -> Source:
    """The registered source with this id."""
    for source in REGISTRY:
        if source.source_id == source_id:
            return source
    raise KeyError(source_id)
