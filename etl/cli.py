"""Command line: `python -m etl build [--raw-dir PATH] [--out PATH]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from etl import fetch
from etl.base import SourceError
from etl.pipeline import DEFAULT_WAREHOUSE, BuildReport, build


def _print_summary(report: BuildReport) -> None:
    print()
    print(f"Riepilogo ({report.mode}, build {report.build_id}):")
    header = f"{'fonte':<22} {'stato':<8} {'lette':>7} {'caricate':>9} {'scartate':>9} {'riparate':>9}  file"
    print(header)
    print("-" * len(header))
    for s in report.summaries:
        print(f"{s.source_id:<22} {s.status:<8} {s.rows_read:>7} {s.rows_loaded:>9} {s.rows_rejected:>9} "
              f"{s.rows_repaired:>9}  {s.path}")
        for note in s.notes:
            print(f"{'':<22}   · {note}")
    if any(s.rows_rejected or s.rows_repaired for s in report.summaries):
        print(f"\nRighe scartate o riparate: tabella 'rejects' in {report.warehouse} "
              "(pagina Dati dell'app).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl", description="ETL dell'Osservatorio Manifattura Digitale")
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="costruisce il warehouse DuckDB")
    p_build.add_argument("--raw-dir", type=Path, default=None,
                         help="cartella con i file ufficiali; senza: bundle dimostrativo")
    p_build.add_argument("--out", type=Path, default=DEFAULT_WAREHOUSE, help=f"file DuckDB (default {DEFAULT_WAREHOUSE})")
    p_fetch = sub.add_parser("fetch", help="scarica i dataset ufficiali dal portale (CKAN) nella cache grezza")
    fetch.add_arguments(p_fetch)
    args = parser.parse_args(argv)

    if args.command == "fetch":
        return fetch.run(args)

    if args.command == "build":
        try:
            report = build(args.raw_dir, args.out)
        except SourceError as exc:
            print(f"\nERRORE: {exc}", file=sys.stderr)
            print("Il warehouse precedente non è stato modificato.", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\nInterrotto: il warehouse precedente non è stato modificato.", file=sys.stderr)
            return 130
        _print_summary(report)
        return 0
    return 1
