"""Start the app with a warm-up: `python -m osservatorio.serve [streamlit run options]`.

`streamlit run app.py` makes its first visitor pay for the imports (pandas, plotly, duckdb, the app's
modules), the first open of the warehouse and the first queries. This launcher does that work once, in
the server's own process, before the server listens, then starts Streamlit's server exactly as
`streamlit run app.py` would (the same command-line options, e.g. `--server.port 8502`).

The warm-up runs the pages named in WARM_PAGES once in Streamlit's "bare" mode (no session: every st.*
call draws nothing, widgets give their defaults). What it leaves behind is what a visitor would have left:
the imported modules, the open warehouse connection (osservatorio.warehouse.REGISTRY) and the
`st.cache_data` results of the queries, which Streamlit keeps per process and per function, not per
session. A page that fails in the warm-up is logged and skipped: the server starts all the same and the
visitor sees the page's own message. No warehouse at the configured path: nothing is warmed (the first
visit builds one, as with `streamlit run`).
"""

from __future__ import annotations

import logging
import runpy
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
#: The pages warmed, in order: the first page (the root URL opens the overview) and the map.
WARM_PAGES = ("pages/panoramica.py", "pages/mappa.py")

log = logging.getLogger("osservatorio.serve")


def warm_up(pages: Sequence[str] = WARM_PAGES) -> dict[str, float]:
    """Run each page once without a session; seconds per step ('import' and each page that ran)."""
    from osservatorio.settings import load_settings

    warehouse = load_settings().warehouse
    times: dict[str, float] = {}
    logging.disable(logging.WARNING)  # bare mode warns on every st.* call ("No runtime found"...): not news here
    try:
        t0 = time.perf_counter()
        import duckdb  # noqa: F401  (the heavy imports the pages would do on the first visit)
        import pandas  # noqa: F401
        import plotly.graph_objects  # noqa: F401
        import plotly.io  # noqa: F401

        from osservatorio import queries, ui  # noqa: F401
        times["import"] = time.perf_counter() - t0
        if not warehouse.exists():
            print(f"Riscaldamento: nessun warehouse in {warehouse}, si avvia senza (la prima visita lo costruisce)",
                  file=sys.stderr)
            return times
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        for page in pages:
            t0 = time.perf_counter()
            try:
                runpy.run_path(str(ROOT / page), run_name="__main__")
            except Exception as exc:  # noqa: BLE001  (a page's error is for its visitor to see, not a start-up failure)
                # st.stop / st.rerun raise their own exceptions in bare mode: the queries before them are warm
                if type(exc).__name__ not in ("StopException", "RerunException"):
                    print(f"Riscaldamento di {page} non riuscito: {' '.join(str(exc).split())[:200]}", file=sys.stderr)
                    continue
            times[page] = time.perf_counter() - t0
        return times
    finally:
        logging.disable(logging.NOTSET)


def main(argv: Sequence[str] | None = None) -> None:
    """Warm up, then `streamlit run app.py ARGV` in this process (never returns normally: click exits)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0].endswith(".py"):  # `python -m osservatorio.serve app.py --server.port N`, like streamlit run
        if Path(args[0]).resolve() != APP:
            raise SystemExit(f"osservatorio.serve avvia solo {APP.name}, non {args[0]}: usare streamlit run per altri script")
        args = args[1:]
    from streamlit import config
    from streamlit.web import bootstrap, cli

    # Read the configuration with the same options the server will get, before the warm-up touches
    # Streamlit: otherwise the bare run reads it without them and the server warns that [server] changed.
    params = cli.main_run.make_context("run", [str(APP), *args]).params
    config._main_script_path = str(APP)
    bootstrap.load_config_options({k: v for k, v in params.items() if k not in ("target", "args")})
    t0 = time.perf_counter()
    times = warm_up()
    log.info("Riscaldamento in %.1f s (%s)", time.perf_counter() - t0,
             ", ".join(f"{k} {v:.2f} s" for k, v in times.items()))
    cli.main(["run", str(APP), *args], prog_name="streamlit")


if __name__ == "__main__":
    main()
