"""Target revisions (osservatorio.calibration): propose, decide in a session, append-only, status in force."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date
from pathlib import Path

import pytest

from osservatorio.board_store import BoardStore, ReadOnlyError, ValidationError
from osservatorio.calibration import CalibrationStore, calibrated_path, status_at, target_in_force


@pytest.fixture
def store(tmp_path: Path) -> CalibrationStore:
    return CalibrationStore(tmp_path / "calibration.sqlite")


def test_propose_needs_reason_change_and_dates(store: CalibrationStore) -> None:
    with pytest.raises(ValidationError) as err:
        store.propose("T01", 5.0, None, "2026-01-01", "  ", "ed@comune.it")
    assert err.value.code == "cal_reason_required"
    with pytest.raises(ValidationError) as err:
        store.propose("T01", None, None, "2026-01-01", "motivo", "ed@comune.it")
    assert err.value.code == "cal_nothing_changed"
    with pytest.raises(ValidationError) as err:
        store.propose("T01", None, "2025-12-31", "2026-01-01", "motivo", "ed@comune.it")
    assert err.value.code == "cal_deadline_before_start"
    with pytest.raises(ValidationError):
        store.propose("T01", "nan", None, "2026-01-01", "motivo", "ed@comune.it")
    with pytest.raises(ValidationError):
        store.propose("T01", 5.0, None, "2026-01-01", "motivo", "")
    assert store.revisions() == []


def test_workflow_propose_approve_reject(store: CalibrationStore, tmp_path: Path) -> None:
    board = BoardStore(tmp_path / "appstate.sqlite")
    session = board.create_session("2026-03-01", "Seduta di marzo", "A, B", None, None, "ed@comune.it")
    a = store.propose("T01", 3.0, "2029-12-31", "2026-01-01", "meno spazi disponibili del previsto", "ed@comune.it")
    b = store.propose("T01", 6.0, None, "2026-02-01", "troppo ambizioso?", "ed@comune.it")
    assert [r.state for r in store.revisions()] == ["pending", "pending"]
    assert [r.revision_id for r in store.revisions(state="pending")] == [a.revision_id, b.revision_id]
    done = store.decide(a.revision_id, session.session_id, "approved", "approvata all'unanimità", "pres@comune.it")
    assert done.state == "approved" and done.session_id == session.session_id and done.decided_by == "pres@comune.it"
    store.decide(b.revision_id, session.session_id, "rejected", "mancano dati", "pres@comune.it")
    with pytest.raises(ValidationError) as err:
        store.decide(a.revision_id, session.session_id, "rejected", "ripensamento", "pres@comune.it")
    assert err.value.code == "cal_already_decided"
    with pytest.raises(ValidationError):
        store.decide(b.revision_id, session.session_id, "maybe", "x", "pres@comune.it")
    assert [r.state for r in store.revisions(target_id="T01")] == ["approved", "rejected"]
    assert len(store.revisions(session_id=session.session_id)) == 2
    assert store.revisions(target_id="T02") == []


def test_append_only(store: CalibrationStore) -> None:
    store.propose("T01", 3.0, None, "2026-01-01", "motivo", "ed@comune.it")
    con = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="sola aggiunta"):
        con.execute("UPDATE target_revisions SET new_value = 9")
    with pytest.raises(sqlite3.DatabaseError, match="sola aggiunta"):
        con.execute("DELETE FROM target_revisions")
    con.close()
    assert store.revisions()[0].new_value == 3.0


def test_read_only_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "calibration.sqlite"
    ro = CalibrationStore(path, read_only=True)
    assert ro.revisions() == []
    with pytest.raises(ReadOnlyError):
        ro.propose("T01", 3.0, None, "2026-01-01", "motivo", "ed@comune.it")
    assert not path.parent.exists()
    CalibrationStore(path).propose("T01", 3.0, None, "2026-01-01", "motivo", "ed@comune.it")
    before = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(ReadOnlyError):
        ro.decide(1, 1, "approved", "ok", "x")
    assert len(ro.revisions()) == 1 and sorted(p.name for p in path.parent.iterdir()) == before


def test_concurrent_proposals(store: CalibrationStore) -> None:
    def work(k: int) -> None:
        other = CalibrationStore(store.path)
        for j in range(5):
            other.propose("T01", float(k * 10 + j), None, "2026-01-01", f"motivo {k}/{j}", f"ed{k}@comune.it")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(r.new_value for r in store.revisions()) == sorted(float(k * 10 + j) for k in range(4) for j in range(5))


def test_target_in_force_and_status(store: CalibrationStore) -> None:
    a = store.propose("T01", 3.0, "2030-12-31", "2026-01-01", "rivisto", "ed@comune.it")
    p = store.propose("T01", 99.0, None, "2025-01-01", "mai approvata", "ed@comune.it")
    c = store.propose("T01", None, "2031-12-31", "2027-01-01", "proroga", "ed@comune.it")
    store.propose("T02", 1.0, None, "2020-01-01", "altro target", "ed@comune.it")
    store.decide(a.revision_id, 1, "approved", "ok", "p")
    store.decide(c.revision_id, 1, "approved", "ok", "p")
    store.decide(4, 1, "approved", "ok", "p")
    revs = store.revisions()
    assert p.revision_id in {r.revision_id for r in revs if r.state == "pending"}
    original = (4.0, date(2028, 12, 31))
    assert target_in_force(*original, revs, date(2025, 6, 1), "T01") == (t := target_in_force(*original, [], date(2025, 6, 1)))
    assert t.value == 4.0 and t.revision_id is None
    mid = target_in_force(*original, revs, date(2026, 6, 1), "T01")
    assert (mid.value, mid.deadline, mid.revision_id) == (3.0, date(2030, 12, 31), a.revision_id)
    late = target_in_force(*original, revs, date(2027, 6, 1), "T01")
    assert (late.value, late.deadline, late.revision_id) == (3.0, date(2031, 12, 31), c.revision_id)
    # Baseline 1.0 on 2024-12-31, value 2.0 on 2026-12-31.
    # Original line: expected 1 + 3 * 730/1461 = 2.499 → 2.0 is 67% of the expected progress: at risk.
    # Calibrated (3.0 by 2030-12-31): expected 1 + 2 * 730/2191 = 1.666 → 2.0 beyond it: on track.
    _, before = status_at(2.0, 1.0, date(2024, 12, 31), *original, [], date(2026, 12, 31))
    line, after = status_at(2.0, 1.0, date(2024, 12, 31), *original, revs, date(2026, 12, 31), target_id="T01")
    assert before.status == "at_risk" and after.status == "on_track"
    assert line.value == 3.0 and after.expected == pytest.approx(1 + 2 * 730 / 2191)
    # After the original deadline the original target is missed; the calibrated deadline is still ahead.
    _, orig_late = status_at(2.0, 1.0, date(2024, 12, 31), *original, [], date(2029, 6, 1))
    _, cal_late = status_at(2.0, 1.0, date(2024, 12, 31), *original, revs, date(2029, 6, 1), target_id="T01")
    assert orig_late.status == "off_track" and cal_late.status == "at_risk"
    assert cal_late.expected == pytest.approx(1 + 2 * (date(2029, 6, 1) - date(2024, 12, 31)).days
                                              / (date(2031, 12, 31) - date(2024, 12, 31)).days)


def test_calibrated_path(store: CalibrationStore) -> None:
    a = store.propose("T01", 3.0, None, "2026-12-31", "rivisto", "ed@comune.it")
    store.decide(a.revision_id, 1, "approved", "ok", "p")
    points = calibrated_path(1.0, date(2024, 12, 31), 5.0, date(2028, 12, 31), store.revisions(), "T01")
    span = (date(2028, 12, 31) - date(2024, 12, 31)).days
    frac = (date(2026, 12, 31) - date(2024, 12, 31)).days / span
    assert points[0] == (date(2024, 12, 31), 1.0)
    assert points[1][0] == date(2026, 12, 31) and points[1][1] == pytest.approx(1 + 4 * frac)
    assert points[2][1] == pytest.approx(1 + 2 * frac)
    assert points[-1] == (date(2028, 12, 31), 3.0)
    assert calibrated_path(None, None, 5.0, date(2028, 12, 31), store.revisions()) == []


def test_demo_store_is_separate_and_seeded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSSERVATORIO_CALIBRATION", str(tmp_path / "calibration.sqlite"))
    monkeypatch.delenv("OSSERVATORIO_READ_ONLY", raising=False)
    demo = CalibrationStore.from_env(demo=True)
    assert demo.path.name == "calibration.demo.sqlite"
    targets = [("T01", 4.0, date(2028, 12, 31)), ("T02", 1000.0, date(2028, 12, 31))]
    assert demo.seed_demo(targets) and not demo.seed_demo(targets)
    assert [(r.target_id, r.state, r.proposed_by) for r in demo.revisions()] == [("T01", "approved", "demo"),
                                                                                   ("T02", "pending", "demo")]
    assert demo.revisions()[0].new_value == 3.6 and demo.revisions()[1].new_deadline == date(2029, 12, 31)
    assert CalibrationStore.from_env().revisions() == [] and not (tmp_path / "calibration.sqlite").exists()


def test_role_is_checked_at_the_moment_of_the_call(tmp_path: Path) -> None:
    """A User passed to propose / decide is checked when the call is made: an editor whose role was withdrawn
    (now a viewer) can neither propose nor decide, and nothing is written."""
    from osservatorio.auth import User
    from osservatorio.board_store import PermissionDenied

    store = CalibrationStore(tmp_path / "calibration.sqlite")
    editor = User("ed@comune.it", "Ed", "editor")
    withdrawn = User("ed@comune.it", "Ed", "viewer")
    rev = store.propose("T01", 5.0, None, "2026-01-01", "nuovi dati", editor)
    assert rev.proposed_by == "ed@comune.it"
    with pytest.raises(PermissionDenied):
        store.propose("T01", 6.0, None, "2026-01-01", "ancora", withdrawn)
    with pytest.raises(PermissionDenied):
        store.decide(rev.revision_id, 3, "approved", "ok", withdrawn)
    with pytest.raises(PermissionDenied):  # signed out
        store.decide(rev.revision_id, 3, "approved", "ok", User(None, None, "editor"))
    assert [(r.state, r.revision_id) for r in store.revisions()] == [("pending", rev.revision_id)]
    decided = store.decide(rev.revision_id, 3, "approved", "ok", editor)
    assert (decided.state, decided.decided_by) == ("approved", "ed@comune.it")
