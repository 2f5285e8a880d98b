"""Shared by the benchmark scripts: wait until a Streamlit server started by them answers."""

from __future__ import annotations

import subprocess
import time
import urllib.request


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
