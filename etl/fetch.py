"""Placeholder: `python -m etl fetch` (being written)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `python -m etl fetch`."""


def run(args: argparse.Namespace) -> int:
    """Run the fetch; returns the process exit code."""
    print("fetch: non ancora disponibile")
    return 1
