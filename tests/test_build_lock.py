"""One writer at a time: real processes building into the same warehouse path.

A child process runs a build with an extra source whose `find()` signals that the build is under
way (the temporary file exists) and then sleeps, so the test can act while it holds the lock.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from etl import cli
from etl.base import SourceError
from etl.pipeline import BuildLocked, build, build_lock, lock_path_for

if TYPE_CHECKING:
    from conftest import Helpers

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from etl.pipeline import build
from etl.sources import REGISTRY

class Slow:
    source_id = "slow"; title = "slow"; dataset = None; licence = "-"; table = "population"
    def find(self, raw_dir):
        Path({signal!r}).write_text("started")
        time.sleep({sleep})
        return []
    def load(self, path, ctx):
        raise AssertionError("never called")

report = build(Path({raw!r}), Path({out!r}), sources=[*REGISTRY, Slow()], progress=lambda m: None,
               wait={wait}, command="child build")
print("BUILD", report.build_id, flush=True)
"""


def _start(tmp_path: Path, raw: Path, out: Path, name: str, sleep: float, wait: float = 0) -> tuple[subprocess.Popen[str], Path]:
    signal_file = tmp_path / f"{name}.started"
    script = tmp_path / f"{name}.py"
    script.write_text(CHILD.format(root=str(ROOT), signal=str(signal_file), sleep=sleep, raw=str(raw), out=str(out),
                                   wait=wait))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    return proc, signal_file


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child ended early: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError("child did not start")
        time.sleep(0.05)


def _finish(proc: subprocess.Popen[str]) -> str:
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    (line,) = [x for x in stdout.splitlines() if x.startswith("BUILD ")]
    return line.split()[1]


@pytest.fixture
def raw(tmp_path: Path, h: Helpers) -> Path:
    return h.write_raw_dir(tmp_path / "raw")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "warehouse"
    folder.mkdir()
    return folder / "warehouse.duckdb"


def test_second_build_names_the_holder_then_waits_and_builds(tmp_path: Path, raw: Path, out: Path, h: Helpers,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    first, started = _start(tmp_path, raw, out, "first", sleep=4)
    _wait_for(started, first)
    holder = json.loads(lock_path_for(out).read_text())
    assert holder["pid"] == first.pid and holder["command"] == "child build" and holder["host"]

    # A build that does not wait stops at once and names the holder.
    t0 = time.monotonic()
    with pytest.raises(BuildLocked) as info:
        build(raw, out, progress=h.quiet)
    assert time.monotonic() - t0 < 2
    assert info.value.problem == (f"un'altra build è in corso (pid {first.pid}, dal {holder['started']}, "
                                  f"host {holder['host']}, comando: child build)")  # did not wait: no 'atteso
    assert info.value.holder["pid"] == first.pid
    # The command line says the same, with exit status 75 and nothing touched.
    assert cli.main(["build", "--raw-dir", str(raw), "--out", str(out)]) == 75
    err = capsys.readouterr().err
    assert f"ERRORE: un'altra build è in corso (pid {first.pid}, dal " in err
    assert not out.exists()

    # A build that waits runs after the first one and keeps its snapshot.
    second, second_started = _start(tmp_path, raw, out, "second", sleep=0, wait=120)
    first_id = _finish(first)
    second_id = _finish(second)
    assert second_started.exists()
    assert h.fetch(out, "SELECT build_id FROM build") == [(second_id,)]
    snapshots = h.fetch(out, "SELECT count(*) FROM snapshots")
    assert snapshots == [(2,)], f"first build {first_id}: its snapshot was lost"
    assert h.no_leftovers(out.parent, {out.name}) == []  # no temp files, lock file removed


def test_lock_is_released_on_error_and_reacquired(tmp_path: Path, h: Helpers) -> None:
    out = tmp_path / "w.duckdb"
    with pytest.raises(SourceError):
        build(tmp_path / "non_esiste", out, progress=h.quiet)
    with build_lock(out):  # free again
        with pytest.raises(BuildLocked):
            with build_lock(out):  # same process, another open file: flock excludes it too
                pass
    assert not lock_path_for(out).exists()


def test_wait_times_out_with_the_holder_named(tmp_path: Path) -> None:
    out = tmp_path / "w.duckdb"
    with build_lock(out, command="tenuto dal test"):
        t0 = time.monotonic()
        with pytest.raises(BuildLocked) as info:
            with build_lock(out, wait=0.6):
                pass
        assert 0.5 < time.monotonic() - t0 < 3
    assert f"pid {os.getpid()}" in info.value.problem
    assert "comando: tenuto dal test" in info.value.problem
    assert re.search(r"; atteso \d+ s\)$", info.value.problem)


def test_killed_build_leftovers_are_removed_by_the_next_build(tmp_path: Path, raw: Path, out: Path, h: Helpers) -> None:
    child, started = _start(tmp_path, raw, out, "killed", sleep=60)
    _wait_for(started, child)
    leftovers = sorted(p.name for p in out.parent.iterdir() if ".tmp-" in p.name)
    assert leftovers and all(name.startswith(f"{out.name}.tmp-{child.pid}-") for name in leftovers)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert sorted(p.name for p in out.parent.iterdir() if ".tmp-" in p.name) == leftovers  # SIGKILL cleans nothing

    # A leftover of a build that is still alive (this process) is not touched.
    alive = out.with_name(f"{out.name}.tmp-{os.getpid()}-deadbeef")
    alive.write_bytes(b"in uso")
    messages: list[str] = []
    report = build(raw, out, progress=messages.append)
    assert sorted(p.name for p in report.removed_leftovers) == leftovers
    assert any(m.startswith("Rimosso un file temporaneo di una build interrotta: ") for m in messages)
    assert h.no_leftovers(out.parent, {out.name, alive.name}) == []
    assert h.fetch(out, "SELECT count(*) FROM districts WHERE level = 'nil'") == [(8,)]
    alive.unlink()

