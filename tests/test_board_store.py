"""The app-state store of the advisory board (osservatorio.board_store) on real SQLite files in tmp_path."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from etl.pipeline import build
from osservatorio import board_store, boardpack
from osservatorio.auth import ANONYMOUS, User
from osservatorio.board_store import (
    MAX_AUTHOR_CHARS,
    MAX_NOTE_CHARS,
    BoardStore,
    BoardStoreError,
    NotFoundError,
    PermissionDenied,
    PlaceKey,
    ReadOnlyError,
    ValidationError,
)

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)> **grassetto?** [link](http://example.com)'


@pytest.fixture
def store(tmp_path: Path) -> BoardStore:
    return BoardStore(tmp_path / "state" / "appstate.sqlite")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- create and read ------------------------------------------------------------------------------------

def test_create_and_read_session(store: BoardStore) -> None:
    created = store.create_session("2026-11-20", "  Seduta   di novembre ", "Anna Rossi\nBruno Bianchi, Carla; Anna Rossi",
                                   "snap-2", "snap-1", "  Ada  ")
    assert created.session_id == 1
    assert created.title == "Seduta di novembre"  # whitespace collapsed and trimmed
    assert created.participants == ("Anna Rossi", "Bruno Bianchi", "Carla")  # split, de-duplicated, in order
    assert created.created_by == "Ada"
    assert created.created_at.tzinfo is not None
    again = store.get_session(1)
    assert again == created
    assert again is not None and again.held_on == date(2026, 11, 20)
    later = store.create_session(date(2026, 12, 18), "Seduta di dicembre", ["Anna Rossi"], "snap-3", None, "Ada")
    assert [s.session_id for s in store.list_sessions()] == [later.session_id, created.session_id]  # latest meeting first
    assert store.get_session(99) is None
    changed = store.set_snapshots(created.session_id, "snap-3", "snap-2")
    assert (changed.snapshot_id, changed.compare_id) == ("snap-3", "snap-2")
    with pytest.raises(NotFoundError):
        store.set_snapshots(99, "a", "b")


def test_notes_round_trip_and_filters(store: BoardStore) -> None:
    one = store.create_session("2026-11-20", "Prima", [], None, None, "Ada")
    two = store.create_session("2026-12-18", "Seconda", [], None, None, "Ada")
    a = store.add_note(one.session_id, "note", "indicator", "makerspaces_count", "Crescita a Bovisa", "Ada")
    b = store.add_note(one.session_id, "decision", "district", "nil:12", "Sopralluogo entro marzo\n- con il Municipio",
                       "Bruno")
    c = store.add_note(two.session_id, "decision", "target", "T01", "Target confermato al 100%", "Ada")
    d = store.add_note(two.session_id, "note", "session", str(two.session_id), "Verbale approvato", "Carla")
    assert [n.note_id for n in store.list_notes()] == [a.note_id, b.note_id, c.note_id, d.note_id]
    assert store.list_notes(session_id=one.session_id) == [a, b]
    assert store.list_notes(kind="decision") == [b, c]
    assert store.list_notes(target_kind="district", target_ref="nil:12") == [b]
    assert store.list_notes(author="Ada", session_id=two.session_id) == [c]
    assert store.list_notes(text="BOVISA") == [a]  # case-insensitive
    assert store.list_notes(text="100%") == [c]  # literal: '%' is not a wildcard
    assert store.list_notes(text="%") == [c]
    assert store.list_notes(text="_") == []
    assert b.body == "Sopralluogo entro marzo\n- con il Municipio"  # line breaks kept
    assert store.get_session(one.session_id) is not None


def test_schema_is_versioned_wal_and_idempotent(store: BoardStore) -> None:
    assert store.schema_version() == 0  # nothing written yet, no file
    assert store.list_sessions() == []
    assert store.path.exists()
    assert store.schema_version() == board_store.SCHEMA_VERSION
    with sqlite3.connect(store.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.create_session("2026-11-20", "Prima", [], None, None, "Ada")
    reopened = BoardStore(store.path)  # creating the schema again changes nothing
    assert [s.title for s in reopened.list_sessions()] == ["Prima"]
    assert reopened.schema_version() == board_store.SCHEMA_VERSION


def test_a_newer_schema_is_refused(store: BoardStore) -> None:
    store.list_sessions()
    with sqlite3.connect(store.path) as con:
        con.execute("PRAGMA user_version = 99")
    with pytest.raises(BoardStoreError) as info:
        BoardStore(store.path).create_session("2026-11-20", "Prima", [], None, None, "Ada")
    assert info.value.code == "store_newer_schema"


def test_places_are_recorded_once_per_snapshot(store: BoardStore) -> None:
    keys = [PlaceKey("makerspace", "makerspaces", "MK-1", "Fablab Bovisa", 12), PlaceKey("vacant", "aree", "A-9", None, None)]
    assert store.snapshot_places("s1") is None  # never recorded: unknown, not empty
    assert store.record_places("s1", keys) is True
    assert store.record_places("s1", keys[:1]) is False  # the first record wins
    assert store.snapshot_places("s1") == keys
    assert store.record_places("s0", []) is True
    assert store.snapshot_places("s0") == []  # recorded, and empty
    assert store.captured_snapshots() == {"s0", "s1"}


# --- concurrency -----------------------------------------------------------------------------------------

def test_concurrent_writes_from_threads_lose_nothing(store: BoardStore) -> None:
    """8 threads × 50 notes at once (as 8 browser sessions of one server): all 400 are kept, once each."""
    session = store.create_session("2026-11-20", "Concorrenza", [], None, None, "Ada")
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        own = BoardStore(store.path) if number % 2 else store  # a shared store object and separate ones
        try:
            barrier.wait()
            for i in range(50):
                own.add_note(session.session_id, "note", "session", str(session.session_id), f"t{number}-n{i}",
                             f"autore {number}")
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    notes = store.list_notes(session_id=session.session_id)
    assert len(notes) == 400
    assert sorted(n.body for n in notes) == sorted(f"t{k}-n{i}" for k in range(8) for i in range(50))
    assert len({n.note_id for n in notes}) == 400
    for k in range(8):  # each writer's notes keep their order
        own = [int(n.body.split("-n")[1]) for n in notes if n.body.startswith(f"t{k}-")]
        assert own == list(range(50))


def _process_writer(path: str, session_id: int, number: int) -> None:
    own = BoardStore(path)
    for i in range(25):
        own.add_note(session_id, "decision", "session", str(session_id), f"p{number}-n{i}", f"processo {number}")


def test_concurrent_writes_from_processes_lose_nothing(store: BoardStore) -> None:
    """4 processes × 25 notes (several app servers on one store file)."""
    session = store.create_session("2026-11-20", "Processi", [], None, None, "Ada")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_process_writer, args=(str(store.path), session.session_id, n)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    bodies = sorted(n.body for n in store.list_notes(session_id=session.session_id))
    assert bodies == sorted(f"p{k}-n{i}" for k in range(4) for i in range(25))


# --- the warehouse rebuild ------------------------------------------------------------------------------

def test_store_survives_a_warehouse_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    monkeypatch.setenv("OSSERVATORIO_APPSTATE", str(tmp_path / "data" / "appstate.sqlite"))
    monkeypatch.delenv("OSSERVATORIO_READ_ONLY", raising=False)
    first = build(None, warehouse, progress=lambda _m: None)
    store = BoardStore.from_env()
    assert store.path == tmp_path / "data" / "appstate.sqlite"
    session = store.create_session("2026-11-20", "Prima della build", ["Anna"], first.build_id, None, "Ada")
    store.add_note(session.session_id, "decision", "session", str(session.session_id), "Decisione da conservare", "Ada")
    store.record_places(first.build_id, [PlaceKey("makerspace", "demo_makerspace", "demo-mk-1-0", "Fablab", 1)])
    second = build(None, warehouse, progress=lambda _m: None)  # the ETL replaces the warehouse file
    assert second.build_id != first.build_id
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.sql("SELECT build_id FROM build").fetchall() == [(second.build_id,)]
    finally:
        con.close()
    after = BoardStore.from_env()
    assert [s.title for s in after.list_sessions()] == ["Prima della build"]
    assert [n.body for n in after.list_notes()] == ["Decisione da conservare"]
    assert after.snapshot_places(first.build_id) == [PlaceKey("makerspace", "demo_makerspace", "demo-mk-1-0", "Fablab", 1)]


# --- read-only mode ---------------------------------------------------------------------------------------

def test_read_only_mode_refuses_every_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "appstate.sqlite"
    monkeypatch.setenv("OSSERVATORIO_APPSTATE", str(path))
    writable = BoardStore(path)
    session = writable.create_session("2026-11-20", "Pubblica", ["Anna"], "s1", None, "Ada")
    writable.add_note(session.session_id, "note", "session", str(session.session_id), "Visibile al pubblico", "Ada")
    before = digest(path)
    monkeypatch.setenv("OSSERVATORIO_READ_ONLY", "1")
    store = BoardStore.from_env()
    assert store.read_only
    writes = [
        lambda: store.create_session("2026-11-21", "Nuova", [], None, None, "Ada"),
        lambda: store.add_note(session.session_id, "note", "session", "1", "testo", "Ada"),
        lambda: store.set_snapshots(session.session_id, "s2", "s1"),
        lambda: store.record_places("s2", []),
    ]
    for write in writes:
        with pytest.raises(ReadOnlyError) as info:
            write()
        assert info.value.code == "store_read_only"
        assert "sola lettura" in str(info.value)
    assert [s.title for s in store.list_sessions()] == ["Pubblica"]  # reads still work
    assert [n.body for n in store.list_notes()] == ["Visibile al pubblico"]
    assert digest(path) == before


def test_read_only_mode_without_a_store_file_creates_nothing(tmp_path: Path) -> None:
    store = BoardStore(tmp_path / "none" / "appstate.sqlite", read_only=True)
    assert store.list_sessions() == []
    assert store.list_notes() == []
    assert store.snapshot_places("s1") is None
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "TRUE"])
def test_read_only_setting_values(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from osservatorio.settings import load_settings

    monkeypatch.setenv("OSSERVATORIO_READ_ONLY", value)
    assert load_settings().read_only is True
    monkeypatch.setenv("OSSERVATORIO_READ_ONLY", "0")
    assert load_settings().read_only is False
    monkeypatch.delenv("OSSERVATORIO_READ_ONLY")
    assert load_settings().read_only is False


# --- bad input --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "code"), [
    ("", "store_body_required"),
    ("   \n\t  \r\n ", "store_body_required"),
    ("\x00", "store_body_required"),
    ("x" * (MAX_NOTE_CHARS + 1), "store_body_too_long"),
    (None, "store_bad_text"),
])
def test_bad_notes_are_refused_and_nothing_is_written(store: BoardStore, body: object, code: str) -> None:
    session = store.create_session("2026-11-20", "Prima", [], None, None, "Ada")
    with pytest.raises(ValidationError) as info:
        store.add_note(session.session_id, "note", "session", "1", body, "Ada")  # type: ignore[arg-type]
    assert info.value.code == code
    assert store.list_notes() == []


def test_very_long_note_error_says_how_long(store: BoardStore) -> None:
    session = store.create_session("2026-11-20", "Prima", [], None, None, "Ada")
    with pytest.raises(ValidationError) as info:
        store.add_note(session.session_id, "note", "session", "1", "é" * 6000, "Ada")
    assert info.value.params == {"max": MAX_NOTE_CHARS, "length": 6000}
    assert "6000" in str(info.value) and str(MAX_NOTE_CHARS) in str(info.value)
    exact = store.add_note(session.session_id, "note", "session", "1", "  " + "é" * MAX_NOTE_CHARS + "\n", "Ada")
    assert len(exact.body) == MAX_NOTE_CHARS  # the limit counts the trimmed text


@pytest.mark.parametrize(("author", "code"), [
    ("", "store_author_required"), ("   ", "store_author_required"), (None, "store_author_required"),
    ("a" * (MAX_AUTHOR_CHARS + 1), "store_author_too_long"),
])
def test_author_is_required_for_every_write(store: BoardStore, author: object, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        store.create_session("2026-11-20", "Prima", [], None, None, author)  # type: ignore[arg-type]
    assert info.value.code == code
    assert store.list_sessions() == []
    session = store.create_session("2026-11-20", "Prima", [], None, None, "Ada")
    with pytest.raises(ValidationError):
        store.add_note(session.session_id, "note", "session", "1", "testo", author)  # type: ignore[arg-type]
    assert store.list_notes() == []


def test_other_bad_input(store: BoardStore) -> None:
    session = store.create_session("2026-11-20", "Prima", [], None, None, "Ada")
    cases = [
        (lambda: store.add_note(session.session_id, "opinione", "session", "1", "t", "Ada"), "store_bad_choice"),
        (lambda: store.add_note(session.session_id, "note", "quartiere", "1", "t", "Ada"), "store_bad_choice"),
        (lambda: store.add_note(session.session_id, "note", "indicator", "  ", "t", "Ada"), "store_ref_required"),
        (lambda: store.create_session("20/11/2026", "T", [], None, None, "Ada"), "store_bad_date"),
        (lambda: store.create_session("2026-11-20", "  ", [], None, None, "Ada"), "store_title_required"),
        (lambda: store.create_session("2026-11-20", "T" * 201, [], None, None, "Ada"), "store_title_too_long"),
        (lambda: store.create_session("2026-11-20", "T", [f"p{i}" for i in range(61)], None, None, "Ada"),
         "store_participants_too_many"),
    ]
    for call, code in cases:
        with pytest.raises(ValidationError) as info:
            call()
        assert info.value.code == code
    with pytest.raises(NotFoundError):
        store.add_note(99, "note", "session", "99", "testo", "Ada")
    assert store.list_notes() == []
    assert len(store.list_sessions()) == 1
    author = store.add_note(session.session_id, "note", "session", "1", "t", "  Ada \n Lovelace ").author
    assert author == "Ada Lovelace"  # one line, trimmed


def test_html_and_script_notes_are_stored_verbatim_and_escaped_in_the_board_pack(store: BoardStore) -> None:
    session = store.create_session("2026-11-20", "<b>Seduta</b>", [], None, None, "<i>Ada</i>")
    note = store.add_note(session.session_id, "decision", "session", str(session.session_id), SCRIPT, "<i>Ada</i>")
    assert store.list_notes()[0].body == SCRIPT  # stored as typed: escaping is done where it is shown
    fragment = boardpack._notes(SimpleNamespace(lang="it", notes=[note], note_labels=["<u>seduta</u>"]))  # type: ignore[arg-type]
    assert "<script>" not in fragment and "<img" not in fragment and "<i>" not in fragment and "<u>" not in fragment
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in fragment
    assert "&lt;i&gt;Ada&lt;/i&gt;" in fragment and "&lt;u&gt;seduta&lt;/u&gt;" in fragment


def test_store_errors_are_translatable() -> None:
    from osservatorio.i18n import TEXTS, t

    codes = {"store_error", "store_read_only", "store_session_missing", "store_bad_text", "store_author_required",
             "store_author_too_long", "store_title_required", "store_title_too_long", "store_participant_too_long",
             "store_participants_too_many", "store_snapshot_required", "store_snapshot_too_long", "store_ref_required",
             "store_ref_too_long", "store_body_required", "store_body_too_long", "store_bad_choice", "store_bad_date",
             "store_unavailable", "store_newer_schema", "store_write_failed"}
    assert codes <= set(TEXTS)
    assert t("store_body_too_long", "en", max=5000, length=6000) == \
        "The note is too long: 6000 characters, at most 5000. Nothing was saved."


def test_timestamps_are_utc(store: BoardStore) -> None:
    before = datetime.now(UTC)
    session = store.create_session("2026-11-20", "Prima", [], None, None, "Ada")
    note = store.add_note(session.session_id, "note", "session", "1", "t", "Ada")
    assert before <= note.created_at <= datetime.now(UTC)
    assert store.list_notes()[0].created_at == note.created_at


# --- repeated submits and the schema-2 migration --------------------------------------------------------

def test_a_repeated_submit_does_not_duplicate_a_note(store: BoardStore) -> None:
    """A double click on "Aggiungi" sends the same note twice: it is stored once."""
    session = store.create_session("2026-11-20", "Doppio clic", [], None, None, "Ada")
    first = store.add_note(session.session_id, "note", "session", str(session.session_id), "Stessa nota", "Ada")
    again = store.add_note(session.session_id, "note", "session", str(session.session_id), "Stessa nota", "Ada")
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.note_id == first.note_id and again == first
    assert [n.body for n in store.list_notes()] == ["Stessa nota"]
    # Anything different is a different note: another author, kind, target or text.
    store.add_note(session.session_id, "note", "session", str(session.session_id), "Stessa nota", "Bruno")
    store.add_note(session.session_id, "decision", "session", str(session.session_id), "Stessa nota", "Ada")
    store.add_note(session.session_id, "note", "session", str(session.session_id), "Stessa nota.", "Ada")
    assert len(store.list_notes()) == 4


def test_the_same_note_later_is_a_new_note(store: BoardStore, monkeypatch: pytest.MonkeyPatch) -> None:
    session = store.create_session("2026-11-20", "Più tardi", [], None, None, "Ada")
    store.add_note(session.session_id, "note", "session", str(session.session_id), "Ripetuta", "Ada")
    monkeypatch.setattr(board_store, "DEDUP_WINDOW_S", 0)
    later = store.add_note(session.session_id, "note", "session", str(session.session_id), "Ripetuta", "Ada")
    assert not later.duplicate and len(store.list_notes()) == 2


def test_a_repeated_submit_does_not_duplicate_a_session(store: BoardStore) -> None:
    one = store.create_session("2026-11-20", "Seduta", ["Ada"], "s1", None, "Ada")
    two = store.create_session("2026-11-20", "Seduta", ["Ada"], "s1", None, "Ada")
    assert two.duplicate and two.session_id == one.session_id
    assert len(store.list_sessions()) == 1


def test_concurrent_identical_submits_store_one_note(store: BoardStore) -> None:
    """Two server threads handling the two clicks at the same moment: one note."""
    session = store.create_session("2026-11-20", "Gara", [], None, None, "Ada")
    barrier = threading.Barrier(6)
    results: list[bool] = []

    def click() -> None:
        barrier.wait()
        results.append(BoardStore(store.path).add_note(session.session_id, "note", "session", "1", "Clic", "Ada").duplicate)

    threads = [threading.Thread(target=click) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True, True, True, True, True]
    assert len(store.list_notes()) == 1


def test_a_schema_1_store_is_migrated_and_keeps_its_notes(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    con = sqlite3.connect(path)
    try:
        for statement in board_store._SCHEMA:
            con.execute(statement)
        con.execute("""INSERT INTO sessions (held_on, title, participants, snapshot_id, compare_id, created_by, created_at)
                       VALUES ('2026-10-01', 'Vecchia', '["Ada"]', NULL, NULL, 'Ada', '2026-10-01T10:00:00+00:00')""")
        con.execute("""INSERT INTO notes (session_id, kind, target_kind, target_ref, body, author, created_at)
                       VALUES (1, 'decision', 'session', '1', 'Decisione storica', 'Ada', '2026-10-01T10:05:00+00:00')""")
        con.execute("PRAGMA user_version = 1")
        con.commit()
    finally:
        con.close()
    store = BoardStore(path)
    assert [n.body for n in store.list_notes()] == ["Decisione storica"]
    assert store.schema_version() == board_store.SCHEMA_VERSION == 3
    con = sqlite3.connect(path)
    try:
        assert con.execute("SELECT count(*) FROM notes WHERE fingerprint IS NULL").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM sessions WHERE fingerprint IS NULL").fetchone()[0] == 0
    finally:
        con.close()
    # The migrated note's fingerprint works: repeating it now is new (outside the window), not an error.
    again = store.add_note(1, "decision", "session", "1", "Decisione storica", "Ada")
    assert not again.duplicate and len(store.list_notes()) == 2
    assert BoardStore(path).list_sessions()[0].title == "Vecchia"


# --- identities, corrections and withdrawals -------------------------------------------------------------

EDITOR = User("eddie@comune.milano.it", "Eddie", "editor")
OTHER_EDITOR = User("olga@comune.milano.it", "Olga", "editor")
ADMIN = User("anna@comune.milano.it", "Anna", "admin")
VIEWER = User("vera@example.com", "Vera", "viewer")


def test_author_is_the_signed_in_identity_and_viewers_are_refused(store: BoardStore) -> None:
    session = store.create_session("2026-11-20", "Seduta", [], None, None, EDITOR)
    assert session.created_by == "eddie@comune.milano.it"
    note = store.add_note(session.session_id, "note", "session", "1", "Testo", EDITOR)
    assert note.author == "eddie@comune.milano.it"
    for who in (VIEWER, ANONYMOUS):
        with pytest.raises(PermissionDenied) as info:
            store.add_note(session.session_id, "note", "session", "1", "Intruso", who)
        assert info.value.code == "store_forbidden"
        with pytest.raises(PermissionDenied):
            store.create_session("2026-11-21", "Intrusa", [], None, None, who)
        with pytest.raises(PermissionDenied):
            store.set_snapshots(session.session_id, "x", None, by=who)
        with pytest.raises(PermissionDenied):
            store.correct_note(note.note_id, "Cambiato", who)
        with pytest.raises(PermissionDenied):
            store.withdraw_note(note.note_id, who)
    assert [n.body for n in store.list_notes()] == ["Testo"] and len(store.list_sessions()) == 1
    assert store.get_session(session.session_id).snapshot_id is None  # type: ignore[union-attr]


def test_author_corrects_and_the_earlier_text_is_kept(store: BoardStore) -> None:
    session = store.create_session("2026-11-20", "Seduta", [], None, None, EDITOR)
    note = store.add_note(session.session_id, "decision", "session", "1", "Prima versione", EDITOR)
    with pytest.raises(PermissionDenied):
        store.correct_note(note.note_id, "Di Olga", OTHER_EDITOR)  # someone else's note
    fixed = store.correct_note(note.note_id, "Seconda versione", EDITOR)
    assert (fixed.body, fixed.author, fixed.changed_by, fixed.status) == (
        "Seconda versione", "eddie@comune.milano.it", "eddie@comune.milano.it", "active")
    assert store.correct_note(note.note_id, "Seconda versione", EDITOR) == fixed  # same text again: nothing kept
    by_admin = store.correct_note(note.note_id, "Terza versione", ADMIN)
    assert by_admin.changed_by == "anna@comune.milano.it" and by_admin.author == "eddie@comune.milano.it"
    history = store.note_history(note.note_id)
    assert [(v.body, v.written_by, v.change, v.changed_by) for v in history] == [
        ("Prima versione", "eddie@comune.milano.it", "correct", "eddie@comune.milano.it"),
        ("Seconda versione", "eddie@comune.milano.it", "correct", "anna@comune.milano.it"),
    ]
    assert history[0].written_at == note.created_at
    with pytest.raises(ValidationError):
        store.correct_note(note.note_id, "   ", EDITOR)
    with pytest.raises(NotFoundError):
        store.correct_note(999, "x", ADMIN)


def test_withdrawn_note_leaves_the_lists_and_keeps_its_history(store: BoardStore) -> None:
    session = store.create_session("2026-11-20", "Seduta", [], None, None, EDITOR)
    mine = store.add_note(session.session_id, "note", "session", "1", "Da ritirare", EDITOR)
    other = store.add_note(session.session_id, "note", "session", "1", "Di Olga", OTHER_EDITOR)
    with pytest.raises(PermissionDenied):
        store.withdraw_note(other.note_id, EDITOR)
    gone = store.withdraw_note(mine.note_id, EDITOR)
    assert gone.withdrawn and gone.body == "Da ritirare" and gone.changed_by == EDITOR.label
    assert [n.note_id for n in store.list_notes()] == [other.note_id]
    assert [n.note_id for n in store.list_notes(include_withdrawn=True)] == [mine.note_id, other.note_id]
    assert [(v.body, v.change) for v in store.note_history(mine.note_id)] == [("Da ritirare", "withdraw")]
    assert not store.may_change(gone, ADMIN)
    with pytest.raises(ValidationError):
        store.withdraw_note(mine.note_id, ADMIN)  # already withdrawn
    store.withdraw_note(other.note_id, ADMIN)  # an admin may withdraw anyone's note
    assert store.list_notes() == []
    again = store.add_note(session.session_id, "note", "session", "1", "Da ritirare", EDITOR)
    assert not again.duplicate  # a withdrawn note is not a duplicate of a new one


def test_a_schema_2_store_is_migrated_to_3_and_read_as_is_when_read_only(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite"
    con = sqlite3.connect(path)
    try:
        for statement in (*board_store._SCHEMA, *board_store._MIGRATION_2):
            con.execute(statement)
        con.execute("""INSERT INTO sessions (held_on, title, participants, snapshot_id, compare_id, created_by, created_at)
                       VALUES ('2026-10-01', 'Vecchia', '[]', NULL, NULL, 'Ada', '2026-10-01T10:00:00+00:00')""")
        con.execute("""INSERT INTO notes (session_id, kind, target_kind, target_ref, body, author, created_at)
                       VALUES (1, 'note', 'session', '1', 'Nota del 2', 'Ada', '2026-10-01T10:05:00+00:00')""")
        con.execute("PRAGMA user_version = 2")
        con.commit()
    finally:
        con.close()
    frozen = BoardStore(path, read_only=True)
    assert [(n.body, n.status) for n in frozen.list_notes()] == [("Nota del 2", "active")]
    assert frozen.note_history(1) == [] and frozen.schema_version() == 2
    store = BoardStore(path)
    assert [n.body for n in store.list_notes()] == ["Nota del 2"] and store.schema_version() == 3
    store.correct_note(1, "Nota corretta", "Ada")  # trusted caller (a string): stored as given
    assert [v.body for v in store.note_history(1)] == ["Nota del 2"]
