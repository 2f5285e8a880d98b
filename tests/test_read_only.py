"""OSSERVATORIO_READ_ONLY=1 writes nothing: no warehouse build, no app-state file (not even -wal/-shm),
no PDF render; it works where the folder cannot be written.

A read-only folder is made with chmod 0555. Running as root, chmod does not stop writes, so each
test also proves nothing was written by comparing the folder's listing and every file's bytes and
mtime before and after.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from osservatorio import boardpack, warehouse
from osservatorio.board_store import BoardStore, ReadOnlyError

APP = Path(__file__).resolve().parents[1] / "app.py"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under `folder`: (size, mtime_ns, bytes), plus the folder's own mtime."""
    state = {".": (0, folder.stat().st_mtime_ns, b"")}
    for path in sorted(folder.rglob("*")):
        info = path.stat()
        state[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns, path.read_bytes() if path.is_file() else b"")
    return state


@pytest.fixture
def frozen(tmp_path: Path) -> Iterator[Callable[[Path], None]]:
    """Make folders read-only (0555); restore them afterwards so pytest can clean up."""
    made: list[Path] = []

    def freeze(folder: Path) -> None:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        made.append(folder)

    yield freeze
    for folder in made:
        folder.chmod(0o755)


def seeded_store(folder: Path) -> Path:
    """A store with one session and one note, closed cleanly (WAL checkpointed: no -wal file left)."""
    folder.mkdir(parents=True, exist_ok=True)
    store = BoardStore(folder / "appstate.sqlite")
    session = store.create_session("2026-11-20", "Seduta d'autunno", ["Ada"], None, None, "Ada")
    store.add_note(session.session_id, "decision", "session", str(session.session_id), "Approvato", "Ada")
    with closing(sqlite3.connect(store.path)) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for extra in ("-wal", "-shm"):
        Path(f"{store.path}{extra}").unlink(missing_ok=True)
    return store.path


def test_read_only_store_creates_no_file_beside_it(tmp_path: Path, frozen: Callable[[Path], None]) -> None:
    folder = tmp_path / "state"
    path = seeded_store(folder)
    with closing(sqlite3.connect(path)) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # the hard case: a WAL database
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    frozen(folder)
    before = snapshot(folder)
    store = BoardStore(path, read_only=True)
    sessions = store.list_sessions()
    assert [s.title for s in sessions] == ["Seduta d'autunno"]
    assert [n.body for n in store.list_notes(session_id=sessions[0].session_id)] == ["Approvato"]
    assert store.schema_version() >= 1
    with pytest.raises(ReadOnlyError):
        store.add_note(sessions[0].session_id, "note", "session", "1", "x", "Ada")
    assert sorted(p.name for p in folder.iterdir()) == ["appstate.sqlite"]  # no -wal, no -shm
    assert snapshot(folder) == before


def test_read_only_missing_store_is_empty(tmp_path: Path, frozen: Callable[[Path], None]) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    frozen(folder)
    store = BoardStore(folder / "appstate.sqlite", read_only=True)
    assert store.list_sessions() == [] and store.list_notes() == [] and store.captured_snapshots() == set()
    assert store.schema_version() == 0
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(IS_ROOT, reason="running as root: chmod 0555 does not stop writes (see the listing tests)")
def test_writable_store_on_a_read_only_folder_fails_cleanly(tmp_path: Path, frozen: Callable[[Path], None]) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    frozen(folder)
    with pytest.raises(Exception) as info:
        BoardStore(folder / "appstate.sqlite").create_session("2026-11-20", "x", [], None, None, "Ada")
    assert getattr(info.value, "code", "") in ("store_unavailable", "store_write_failed")


# --- the app -----------------------------------------------------------------------------------------------

@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    def use(warehouse_path: Path, appstate: Path, read_only: bool = True, auto: bool = True) -> None:
        monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
        monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(warehouse_path))
        monkeypatch.setenv("OSSERVATORIO_APPSTATE", str(appstate))
        monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "1" if auto else "0")
        monkeypatch.setenv("OSSERVATORIO_READ_ONLY", "1" if read_only else "0")
        st.cache_data.clear()

    yield use
    warehouse.REGISTRY.close_all()
    st.cache_data.clear()


def run_page(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at


def unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.mark.parametrize("page", ["pages/panoramica.py", "pages/seduta.py"])
def test_read_only_visit_without_warehouse_builds_nothing(page: str, tmp_path: Path, app: Callable[..., None]) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    app(folder / "warehouse.duckdb", folder / "appstate.sqlite", read_only=True, auto=True)
    before = snapshot(folder)
    at = run_page(page)
    assert not at.exception, [e.value for e in at.exception]
    errors = [unescape(e.value) for e in at.error]
    assert len(errors) == 1 and "sola lettura" in errors[0] and "python -m etl build --out" in errors[0], errors
    assert str(folder / "warehouse.duckdb") in errors[0]
    assert snapshot(folder) == before and list(folder.iterdir()) == []  # no warehouse, no lock, no store
    at = run_page(page, lang="en")
    assert "read-only" in at.error[0].value and "python -m etl build --out" in at.error[0].value


def test_writable_visit_without_warehouse_builds_the_default(tmp_path: Path, app: Callable[..., None]) -> None:
    """Not read-only: the first visit builds the committed bundle (the demo when there is none)."""
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "warehouse.duckdb"
    app(path, folder / "appstate.sqlite", read_only=False, auto=True)
    at = run_page("pages/dati.py")
    assert not at.exception, [e.value for e in at.exception]
    assert path.exists()
    expected = "real" if warehouse.default_raw_dir() is not None else "demo"
    assert any(f"({expected})" in c.value for c in at.caption), [c.value for c in at.caption]


def test_read_only_seduta_writes_nothing_and_has_no_pdf(tmp_path: Path, app: Callable[..., None], demo_warehouse: Path,
                                                        frozen: Callable[[Path], None]) -> None:
    folder = tmp_path / "deploy"
    state = seeded_store(folder)
    shutil.copy(demo_warehouse, folder / "warehouse.duckdb")
    frozen(folder)
    before = snapshot(folder)
    app(folder / "warehouse.duckdb", state, read_only=True)
    at = run_page("pages/seduta.py")
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == []
    assert any("Seduta d'autunno" in unescape(h.value) for h in at.subheader), [h.value for h in at.subheader]
    assert not [b for b in at.button if b.label == "Crea la seduta"]
    pdf = [b for b in at.button if b.label == "Prepara il PDF"]
    assert pdf and pdf[0].disabled
    assert any("PDF disattivato in sola lettura" in i.value for i in at.info)
    assert snapshot(folder) == before
    assert sorted(p.name for p in folder.iterdir()) == ["appstate.sqlite", "warehouse.duckdb"]


# --- the PDF render is bounded -----------------------------------------------------------------------------

def test_pdf_is_off_in_read_only_mode() -> None:
    assert boardpack.pdf_status(read_only=True) == (False, "rv_pdf_read_only")


def test_pdf_slot_one_at_a_time_and_a_cooldown_per_session() -> None:
    with boardpack.pdf_slot(None, 1000.0):
        with pytest.raises(boardpack.PdfUnavailable) as busy, boardpack.pdf_slot(None, 1000.0):
            pass
        assert busy.value.code == "rv_pdf_busy"
    with boardpack.pdf_slot(None, 1000.0):  # released after use (and after an error)
        pass
    with pytest.raises(ValueError), boardpack.pdf_slot(None, 1000.0):
        raise ValueError("render failed")
    with pytest.raises(boardpack.PdfUnavailable) as cooldown, boardpack.pdf_slot(1000.0, 1010.5, cooldown_s=60):
        pass
    assert cooldown.value.code == "rv_pdf_cooldown" and cooldown.value.params == {"seconds": 50}
    with boardpack.pdf_slot(1000.0, 1061.0, cooldown_s=60):
        pass
