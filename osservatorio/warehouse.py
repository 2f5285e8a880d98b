"""Locating the warehouse, and building the demo bundle when a fresh machine has none."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WarehouseKey:
    """Path plus file identity: changes when the ETL swaps in a new build, so caches refresh."""

    path: str
    stamp: str


def key_for(path: Path) -> WarehouseKey | None:
    """The current identity of the warehouse file, or None if it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return WarehouseKey(str(path), f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}")


def ensure_demo(path: Path) -> None:
    """Build the demo bundle at `path` if no warehouse is there (one process at a time).

    The ETL does the writing; the app only asks for it, then opens the file read-only.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not path.exists():
                from etl.pipeline import build

                build(None, path, progress=lambda _msg: None)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
