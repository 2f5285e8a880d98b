"""Settings read from the environment, with offline-safe defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OFFLINE_MAP_STYLE = "white-bg"
ALLOWED_MAP_STYLES = ("white-bg", "carto-positron", "open-street-map", "carto-voyager")


@dataclass(frozen=True)
class Settings:
    warehouse: Path
    map_style: str
    auto_demo: bool  # build the default warehouse (the bundle, or the demo) when none exists
    read_only: bool = False  # public deployment: nothing is written (no build, no store writes, no PDF)


def load_settings() -> Settings:
    """OSSERVATORIO_WAREHOUSE, OSSERVATORIO_MAP_STYLE ('white-bg' offline; a tile style online),
    OSSERVATORIO_AUTO_DEMO ('0' to disable the automatic build of the bundle or demo), OSSERVATORIO_READ_ONLY
    ('1' turns every write off: no warehouse build, the app-state store opened immutable, review sessions
    and notes can be read, not created, no PDF render)."""
    style = os.environ.get("OSSERVATORIO_MAP_STYLE", OFFLINE_MAP_STYLE)
    if style not in ALLOWED_MAP_STYLES:
        style = OFFLINE_MAP_STYLE
    return Settings(
        warehouse=Path(os.environ.get("OSSERVATORIO_WAREHOUSE", PROJECT_ROOT / "data" / "warehouse.duckdb")),
        map_style=style,
        auto_demo=os.environ.get("OSSERVATORIO_AUTO_DEMO", "1") != "0",
        read_only=os.environ.get("OSSERVATORIO_READ_ONLY", "0").strip().lower() in ("1", "true", "yes", "on"),
    )
