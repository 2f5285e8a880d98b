"""Shared by the benchmark scripts: wait until a Streamlit server started by them answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium, never a downloaded browser


def app_server(root: Path, warehouse: Path, appstate: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """`streamlit run app.py` on a free local port for `warehouse` (offline map style): (base URL, process)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OSSERVATORIO_WAREHOUSE": str(warehouse), "OSSERVATORIO_APPSTATE": str(appstate),
           "OSSERVATORIO_MAP_STYLE": "white-bg"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return f"http://127.0.0.1:{port}", proc


def wait_health(base: str, proc: subprocess.Popen[bytes], t0: float, limit: float = 120.0) -> float:
    """Seconds from t0 until the server's health endpoint answers 'ok' (bounded by `limit`)."""
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as resp:
                if resp.read().strip() == b"ok":
                    return time.perf_counter() - t0
        except OSError:
            pass
        if proc.poll() is not None or time.perf_counter() - t0 > limit:
            raise SystemExit(f"il server non risponde entro {limit:.0f} s (uscita {proc.poll()})")
        time.sleep(0.05)  # polling interval of a bounded loop
