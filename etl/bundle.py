"""The embedded default: a small bundle of official, redistributable files committed in the repo.

`python -m etl bundle --from <folder of originals>` copies or converts them into `BUNDLE_DIR`
with a manifest (sha256 of the original and of the copy, licence, attribution, origin).
`python -m etl build` with no `--raw-dir` builds from this bundle.
"""

from __future__ import annotations

import argparse
from pathlib import Path

BUNDLE_DIR = Path(__file__).resolve().parent.parent / "data" / "bundle"
MANIFEST = "MANIFEST.json"


def available(bundle_dir: Path = BUNDLE_DIR) -> bool:
    """True when the bundle folder holds a manifest (the app and the CLI build from it)."""
    return (bundle_dir / MANIFEST).is_file()


def read_manifest(raw_dir: Path) -> dict[str, dict[str, str | None]]:
    """Per-file provenance of a bundle folder, keyed by the path relative to `raw_dir` (POSIX).

    Each entry has at least: dataset, title, publisher, licence, licence_note, attribution,
    origin, reference_date (ISO date or None), sha256. Empty dict when the folder has no manifest.
    """
    return {}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `python -m etl bundle`."""
    parser.add_argument("--from", dest="source_dir", type=Path, required=True,
                        help="cartella con i file originali (es. ../shared/data/real)")
    parser.add_argument("--out", type=Path, default=BUNDLE_DIR, help="cartella del bundle")


def run(args: argparse.Namespace) -> int:
    """Write the bundle; returns the exit status."""
    raise NotImplementedError
