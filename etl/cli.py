"""Command line: `python -m etl build | fetch | bundle`.

Exit status of `build`: 0 built; 3 built, but some files were refused (the summary says which and
why; the new warehouse IS in place); 2 nothing built, previous warehouse untouched (bad raw
folder, no NIL boundaries, any refused file with --strict); 75 another build of the same
warehouse is running (nothing done); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections import defaultdict
from pathlib import Path

from etl import bundle, fetch
from etl import territory as territories
from etl.base import SourceError
from etl.pipeline import UNRECOGNISED, BuildLocked, BuildReport, SourceSummary, build, default_out

EXIT_FAILED_SOURCES = 3
EXIT_LOCKED = 75  # EX_TEMPFAIL: try again later
GROUP_UNRECOGNISED = 3  # more unrecognised files than this in one folder are summarised in one line


def _print_summary(report: BuildReport) -> None:
    print()
    print(f"Riepilogo ({report.mode}, build {report.build_id}):")
    header = f"{'fonte':<22} {'stato':<8} {'lette':>7} {'caricate':>9} {'scartate':>9} {'riparate':>9}  file"
    print(header)
    print("-" * len(header))
    recognised = [s for s in report.summaries if s.source_id != UNRECOGNISED]
    for s in recognised:
        print(f"{s.source_id:<22} {s.status:<8} {s.rows_read:>7} {s.rows_loaded:>9} {s.rows_rejected:>9} "
              f"{s.rows_repaired:>9}  {s.path}")
        for note in s.notes:
            print(f"{'':<22}   · {note}")
    _print_unrecognised(report.unrecognised)
    if any(s.rows_rejected or s.rows_repaired for s in report.summaries):
        print(f"\nRighe scartate o riparate: tabella 'rejects' in {report.warehouse} "
              "(pagina Dati dell'app).")
    if report.failed:
        print(f"\nFILE NON CARICATI ({len(report.failed)}): il warehouse è stato costruito senza di loro.",
              file=sys.stderr)
        for s in report.failed:
            print(f"  {s.source_id}: {s.path}", file=sys.stderr)
            for note in s.notes:
                print(f"      {note}", file=sys.stderr)
        print("Con --strict la build si ferma invece al primo file non caricato.", file=sys.stderr)


def _print_unrecognised(items: list[SourceSummary]) -> None:
    if not items:
        return
    print(f"\nFile non riconosciuti da nessuna fonte ({len(items)}, elencati nella tabella sources come "
          f"'{UNRECOGNISED}', non caricati):")
    # Many files of one kind (e.g. one JSON per NIL, same header): one line with how many and where.
    by_kind: dict[str, list[SourceSummary]] = defaultdict(list)
    for s in items:
        by_kind[s.notes[0] if s.notes else ""].append(s)
    for note, group in by_kind.items():
        if len(group) > GROUP_UNRECOGNISED:
            folder = os.path.commonpath([s.path for s in group])
            print(f"  {len(group)} file con la stessa intestazione in {folder} (es. {group[0].path})")
            print(f"      · {note}")
            continue
        for s in group:
            print(f"  {s.path}")
            print(f"      · {note}")


def _raw_dir(args: argparse.Namespace) -> tuple[Path | None, str | None]:
    """The folder to build from (None = demo), or an error message."""
    if args.demo:
        if args.raw_dir is not None:
            return None, "--demo e --raw-dir sono alternativi: indicarne uno solo"
        return None, None
    if args.raw_dir is not None:
        return args.raw_dir, None
    if bundle.available(bundle.BUNDLE_DIR):
        return bundle.BUNDLE_DIR, None
    return None, (f"nessun dato da cui costruire: il bundle incorporato ({bundle.BUNDLE_DIR}) non c'è. "
                  "Cosa fare: indicare una cartella di file ufficiali con --raw-dir PERCORSO, "
                  "scaricarli con `python -m etl fetch` (poi --raw-dir data/raw), "
                  "rigenerare il bundle con `python -m etl bundle --from CARTELLA`, "
                  "oppure usare --demo per i dati dimostrativi")


class _ProgressHandler(logging.StreamHandler):
    """Prints the ETL's progress records as they are (Italian lines) to the current stderr."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201 - follow sys.stderr when it is replaced (tests, embedding)
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_logging(level: int = logging.INFO) -> None:
    """Progress of `etl` (pipeline, fetch, bundle, indicators) to stderr, one line per message; idempotent."""
    root = logging.getLogger("etl")
    if not any(isinstance(h, _ProgressHandler) for h in root.handlers):
        root.addHandler(_ProgressHandler())
    root.setLevel(level)
    root.propagate = False


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(prog="python -m etl", description="ETL dell'Osservatorio Manifattura Digitale")
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="costruisce il warehouse DuckDB")
    p_build.add_argument("--raw-dir", type=Path, default=None,
                         help="cartella con i file ufficiali; senza: il bundle incorporato (data/bundle)")
    p_build.add_argument("--demo", action="store_true", help="costruisce il bundle dimostrativo (dati sintetici)")
    p_build.add_argument("--territory", default=None, metavar="ID",
                         help="territorio da costruire (un profilo in config/territories/; default: quello predefinito)")
    p_build.add_argument("--out", type=Path, default=None,
                         help=f"file DuckDB (default {default_out()} per il territorio predefinito, "
                              "data/warehouse-<territorio>.duckdb per gli altri)")
    p_build.add_argument("--strict", action="store_true",
                         help="un file non caricabile ferma la build (il warehouse precedente resta com'era)")
    p_build.add_argument("--wait", type=float, default=0.0, metavar="SECONDI",
                         help="se un'altra build dello stesso warehouse è in corso, attenderla fino a SECONDI")
    p_fetch = sub.add_parser("fetch", help="scarica i dataset ufficiali dal portale (CKAN) nella cache grezza")
    fetch.add_arguments(p_fetch)
    p_bundle = sub.add_parser("bundle", help="crea il bundle incorporato dai file originali")
    bundle.add_arguments(p_bundle)
    args = parser.parse_args(argv)

    if args.command == "fetch":
        return fetch.run(args)
    if args.command == "bundle":
        return bundle.run(args)
    if args.command == "build":
        return _build(args, argv)
    return 1


def _territory(args: argparse.Namespace) -> tuple[territories.TerritoryProfile | None, str | None]:
    """The profile to build (from --territory, else the default), or an error message listing the known ids."""
    try:
        return territories.load(args.territory), None
    except territories.ProfileError as exc:
        ids = list(territories.available())
        if ids and all(i in str(exc) for i in ids):
            return None, str(exc)
        return None, f"{exc}. Territori disponibili: {', '.join(ids) or '(nessuno)'}"


def _build(args: argparse.Namespace, argv: list[str] | None) -> int:
    profile, problem = _territory(args)
    if profile is None:
        print(f"\nERRORE: {problem}", file=sys.stderr)
        return 2
    raw_dir, problem = _raw_dir(args)
    if problem is not None:
        print(f"\nERRORE: {problem}", file=sys.stderr)
        return 2
    out = args.out if args.out is not None else default_out(profile.id)
    command = "python -m etl " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        report = build(raw_dir, out, strict=args.strict, wait=args.wait, command=command, territory=profile)
    except BuildLocked as exc:
        print(f"\nERRORE: {exc.problem}. Cosa fare: {exc.hint}", file=sys.stderr)
        print(f"(file di lock: {exc.path}) Nessuna modifica al warehouse.", file=sys.stderr)
        return EXIT_LOCKED
    except SourceError as exc:
        print(f"\nERRORE: {exc}", file=sys.stderr)
        print("Il warehouse precedente non è stato modificato.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrotto: il warehouse precedente non è stato modificato.", file=sys.stderr)
        return 130
    _print_summary(report)
    return EXIT_FAILED_SOURCES if report.failed else 0
