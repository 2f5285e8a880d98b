"""App-state store of the advisory board: review sessions, notes and decisions, place keys per snapshot.

A small SQLite file (stdlib `sqlite3`) kept apart from the DuckDB warehouse, so an ETL rebuild
(which replaces the warehouse file) never touches it. Pure Python, no Streamlit.

- Path: env OSSERVATORIO_APPSTATE, default <repo>/data/appstate.sqlite.
- WAL journal, busy_timeout, one short `BEGIN IMMEDIATE` transaction per write and a new
  connection per call: several browser sessions (threads of one server, or several server
  processes) can write at once and nothing is lost.
- Every value is a bound parameter; the schema is created idempotently and versioned with
  `PRAGMA user_version`.
- Read-only mode (`read_only=True`, from OSSERVATORIO_READ_ONLY=1): every write raises
  ReadOnlyError before touching the file; reads open it with `mode=ro&immutable=1`, so nothing is
  created beside it (no -wal/-shm: it works on a read-only filesystem) and a missing store is
  simply empty. A store copied to a read-only deployment must be closed cleanly first (no -wal).
- Repeated submits (a double click on "Aggiungi") do not duplicate: a note or a session with the
  same fingerprint (sha256 of its content and author) as one written in the last
  DEDUP_WINDOW_S seconds is not written again; the existing one comes back with `duplicate=True`.
  Schema 2 added the fingerprint columns; a schema-1 file is migrated in place (notes kept).
- Authors are identities: the app passes the signed-in `osservatorio.auth.User` as `author`; the
  store refuses it (PermissionDenied) unless the user may write, and stores `User.label` (the
  e-mail). A plain string is accepted from trusted code (command line, tests) and stored as given.
- Notes and decisions can be corrected or withdrawn by their author or an admin (schema 3): the
  earlier text goes to `note_history` with who replaced it and when; a withdrawn note keeps its
  text and is left out of `list_notes` unless asked for. A schema-2 file is migrated in place;
  a read-only store reads a schema-2 file as is (no history, every note active).

Errors raised for bad input are `ValidationError`s carrying an i18n key (`code`) and its values
(`params`), so the UI can show them in the user's language; `str(error)` is an Italian message.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeAlias, get_args

from osservatorio.auth import User
from osservatorio.settings import PROJECT_ROOT, load_settings

SCHEMA_VERSION = 3
DEDUP_WINDOW_S = 600  # a repeated submit of the same content within 10 minutes is the same submit
DEFAULT_PATH = PROJECT_ROOT / "data" / "appstate.sqlite"
ENV_PATH = "OSSERVATORIO_APPSTATE"

NoteKind: TypeAlias = Literal["note", "decision"]
TargetKind: TypeAlias = Literal["indicator", "district", "target", "session"]
NOTE_KINDS: tuple[str, ...] = get_args(NoteKind)
TARGET_KINDS: tuple[str, ...] = get_args(TargetKind)

MAX_NOTE_CHARS = 5_000
MAX_AUTHOR_CHARS = 100
MAX_TITLE_CHARS = 200
MAX_PARTICIPANTS = 60
MAX_REF_CHARS = 200
MAX_SNAPSHOT_ID_CHARS = 100
BUSY_TIMEOUT_MS = 15_000

# One statement per string (executed one by one inside the schema transaction).
_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS sessions (
           session_id   INTEGER PRIMARY KEY AUTOINCREMENT,
           held_on      TEXT NOT NULL,      -- ISO date of the meeting
           title        TEXT NOT NULL,
           participants TEXT NOT NULL,      -- JSON list of names
           snapshot_id  TEXT,               -- snapshot under review (NULL: none yet)
           compare_id   TEXT,               -- snapshot it is compared with
           created_by   TEXT NOT NULL,
           created_at   TEXT NOT NULL       -- UTC, ISO 8601
       )""",
    """CREATE TABLE IF NOT EXISTS notes (
           note_id      INTEGER PRIMARY KEY AUTOINCREMENT,
           session_id   INTEGER NOT NULL REFERENCES sessions(session_id),
           kind         TEXT NOT NULL CHECK (kind IN ('note', 'decision')),
           target_kind  TEXT NOT NULL CHECK (target_kind IN ('indicator', 'district', 'target', 'session')),
           target_ref   TEXT NOT NULL,
           body         TEXT NOT NULL,
           author       TEXT NOT NULL,
           created_at   TEXT NOT NULL
       )""",
    "CREATE INDEX IF NOT EXISTS notes_by_session ON notes (session_id, note_id)",
    "CREATE INDEX IF NOT EXISTS notes_by_target ON notes (target_kind, target_ref)",
    # Places are rebuilt by every ETL build: the keys seen while a snapshot was current are kept
    # here, so later sessions can list new and lost places between snapshots.
    """CREATE TABLE IF NOT EXISTS place_captures (
           snapshot_id  TEXT PRIMARY KEY,
           captured_at  TEXT NOT NULL,
           places       INTEGER NOT NULL
       )""",
    """CREATE TABLE IF NOT EXISTS snapshot_places (
           snapshot_id  TEXT NOT NULL REFERENCES place_captures(snapshot_id),
           theme        TEXT NOT NULL,
           source_id    TEXT NOT NULL,
           source_key   TEXT NOT NULL,
           name         TEXT,
           nil_id       INTEGER,
           PRIMARY KEY (snapshot_id, theme, source_id, source_key)
       )""",
)
# Schema 2 (repeated-submit detection). Applied to new and to schema-1 files; existing rows get
# their fingerprint computed in Python (same function as new writes).
_MIGRATION_2: tuple[str, ...] = (
    "ALTER TABLE sessions ADD COLUMN fingerprint TEXT",
    "ALTER TABLE notes ADD COLUMN fingerprint TEXT",
)
_INDEXES_2: tuple[str, ...] = (
    "CREATE INDEX IF NOT EXISTS sessions_by_fingerprint ON sessions (fingerprint, created_at)",
    "CREATE INDEX IF NOT EXISTS notes_by_fingerprint ON notes (fingerprint, created_at)",
)
# Schema 3 (corrections and withdrawals): the note's state and last change, and every earlier version.
_MIGRATION_3: tuple[tuple[str, str], ...] = (
    ("status", "ALTER TABLE notes ADD COLUMN status TEXT NOT NULL DEFAULT 'active'"),
    ("changed_by", "ALTER TABLE notes ADD COLUMN changed_by TEXT"),
    ("changed_at", "ALTER TABLE notes ADD COLUMN changed_at TEXT"),
)
_SCHEMA_3: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS note_history (
           history_id   INTEGER PRIMARY KEY AUTOINCREMENT,
           note_id      INTEGER NOT NULL REFERENCES notes(note_id),
           kind         TEXT NOT NULL,
           body         TEXT NOT NULL,      -- the text as it was before the change
           written_by   TEXT NOT NULL,      -- who wrote that text (author or last corrector)
           written_at   TEXT NOT NULL,
           change       TEXT NOT NULL CHECK (change IN ('correct', 'withdraw')),
           changed_by   TEXT NOT NULL,
           changed_at   TEXT NOT NULL
       )""",
    "CREATE INDEX IF NOT EXISTS history_by_note ON note_history (note_id, history_id)",
)
NOTE_COLUMNS = "note_id, session_id, kind, target_kind, target_ref, body, author, created_at, status, changed_by, changed_at"
NOTE_COLUMNS_2 = ("note_id, session_id, kind, target_kind, target_ref, body, author, created_at, 'active', NULL, NULL")


def open_store(path: Path, write: bool, read_only: bool, busy_timeout_ms: int, what: str, code: str,
               foreign_keys: bool = False) -> sqlite3.Connection:
    """A connection to one of the app's SQLite stores (notes, actions, revisions): for writing (the folder is
    created), else read-only; in read-only mode also immutable (no -wal/-shm files, no locks: a read-only
    filesystem works). An unreachable file raises BoardStoreError naming `what` with the message `code`."""
    try:
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
        else:
            query = "mode=ro&immutable=1" if read_only else "mode=ro"
            con = sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True, timeout=busy_timeout_ms / 1000,
                                  isolation_level=None)
        con.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if foreign_keys:
            con.execute("PRAGMA foreign_keys = ON")
        return con
    except (sqlite3.Error, OSError) as exc:
        raise BoardStoreError(f"{what} non accessibile ({path}): {exc}", code, path=str(path), error=str(exc)) from exc


@contextmanager
def immediate_transaction(con: sqlite3.Connection, code: str, setup: Sequence[str] = ()) -> Iterator[sqlite3.Connection]:
    """One write transaction on `con`, then close it: BEGIN IMMEDIATE takes the write lock up front (a busy
    store waits up to busy_timeout instead of failing mid-way); a SQLite error becomes a BoardStoreError
    with the message key `code`. `setup` statements run first (e.g. the journal mode when creating)."""
    try:
        for statement in setup:
            con.execute(statement)
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise BoardStoreError(f"scrittura non riuscita: {exc}", code, error=str(exc)) from exc
    finally:
        con.close()

class BoardStoreError(Exception):
    """Any failure of the app-state store; `code` is an i18n key, `params` its values."""

    code = "store_error"

    def __init__(self, message: str, code: str | None = None, **params: object) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.params: dict[str, object] = params


class ValidationError(BoardStoreError, ValueError):
    """Bad input (empty note, note too long, missing author...): nothing was written."""


class ReadOnlyError(BoardStoreError):
    """A write was attempted while the app runs read-only (public deployment)."""

    code = "store_read_only"


class NotFoundError(BoardStoreError, LookupError):
    """The session does not exist."""

    code = "store_session_missing"


class PermissionDenied(BoardStoreError, PermissionError):
    """The user may not do this (a viewer writing, someone else's note): nothing was written."""

    code = "store_forbidden"


@dataclass(frozen=True)
class Session:
    """A review session of the advisory board."""

    session_id: int
    held_on: date
    title: str
    participants: tuple[str, ...]
    snapshot_id: str | None
    compare_id: str | None
    created_by: str
    created_at: datetime  # UTC, timezone-aware
    duplicate: bool = field(default=False, compare=False)  # create_session found it already written


@dataclass(frozen=True)
class Note:
    """A note or a decision attached to an indicator, a district, a target or the session."""

    note_id: int
    session_id: int
    kind: str
    target_kind: str
    target_ref: str
    body: str
    author: str
    created_at: datetime  # UTC, timezone-aware
    duplicate: bool = field(default=False, compare=False)  # add_note found it already written (repeated submit)
    status: str = "active"  # 'active' or 'withdrawn'
    changed_by: str | None = None  # who last corrected or withdrew it
    changed_at: datetime | None = None

    @property
    def withdrawn(self) -> bool:
        return self.status == "withdrawn"


@dataclass(frozen=True)
class NoteVersion:
    """An earlier text of a note: who wrote it and when, and who replaced or withdrew it."""

    note_id: int
    kind: str
    body: str
    written_by: str
    written_at: datetime
    change: str  # 'correct' or 'withdraw'
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True)
class PlaceKey:
    """One place as seen in a snapshot: identity (theme, source_id, source_key) plus name and district."""

    theme: str
    source_id: str
    source_key: str
    name: str | None = None
    district_id: int | None = None  # at the territory's finest level (stored as column nil_id, schema 1)


# --- validation (pure) -----------------------------------------------------------------------------------

def _clean_line(value: object, what: str, max_chars: int, required: bool = True) -> str:
    """One line of text: whitespace collapsed, trimmed, not empty (when required), at most max_chars."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{what}: testo atteso", "store_bad_text", field=what)
    text = " ".join(value.replace("\x00", " ").split())
    if required and not text:
        raise ValidationError(f"{what}: obbligatorio", f"store_{what}_required")
    if len(text) > max_chars:
        raise ValidationError(f"{what}: al massimo {max_chars} caratteri ({len(text)})", f"store_{what}_too_long",
                              max=max_chars, length=len(text))
    return text


def clean_author(value: object) -> str:
    """The author's name: trimmed, required, at most MAX_AUTHOR_CHARS characters, one line."""
    return _clean_line(value, "author", MAX_AUTHOR_CHARS)


def actor(author: User | str, action: str = "write") -> str:
    """The name stored for a write: a User's label once their role allows `action` (else
    PermissionDenied), or a trusted caller's string."""
    if isinstance(author, User):
        if not author.signed_in or not author.can(action):
            raise PermissionDenied(f"operazione non permessa a {author.label} (ruolo {author.role})",
                                   who=author.label, role=author.role)
        return clean_author(author.label)
    return clean_author(author)


def clean_body(value: object) -> str:
    """A note's text: line ends normalised, NUL removed, trimmed; not blank; at most MAX_NOTE_CHARS.

    The text is stored as typed (HTML and markdown included): it is escaped where it is shown.
    """
    if not isinstance(value, str):
        raise ValidationError("nota: testo atteso", "store_bad_text", field="body")
    text = value.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
    if not text:
        raise ValidationError("la nota è vuota", "store_body_required")
    if len(text) > MAX_NOTE_CHARS:
        raise ValidationError(f"la nota è troppo lunga: {len(text)} caratteri, al massimo {MAX_NOTE_CHARS}",
                              "store_body_too_long", max=MAX_NOTE_CHARS, length=len(text))
    return text


def clean_participants(value: Sequence[str] | str) -> tuple[str, ...]:
    """Participants from a list or from text (one per line, or separated by commas/semicolons)."""
    if isinstance(value, str):
        parts: Iterable[object] = value.replace(";", "\n").replace(",", "\n").splitlines()
    else:
        parts = value
    names: list[str] = []
    for part in parts:
        name = _clean_line(part, "participant", MAX_AUTHOR_CHARS, required=False)
        if name and name not in names:
            names.append(name)
    if len(names) > MAX_PARTICIPANTS:
        raise ValidationError(f"troppi partecipanti ({len(names)}, al massimo {MAX_PARTICIPANTS})",
                              "store_participants_too_many", max=MAX_PARTICIPANTS, length=len(names))
    return tuple(names)


def _clean_snapshot(value: str | None) -> str | None:
    if value is None:
        return None
    return _clean_line(value, "snapshot", MAX_SNAPSHOT_ID_CHARS)


def _clean_choice(value: object, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValidationError(f"{what} non valido: {str(value)[:40]!r}", "store_bad_choice", field=what,
                              value=str(value)[:40])
    return str(value)


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ValidationError(f"data non valida: {str(value)[:20]!r}", "store_bad_date") from exc


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def fingerprint(*parts: object) -> str:
    """sha256 of the parts (what makes two submits the same submit)."""
    return hashlib.sha256(json.dumps([str(p) for p in parts], ensure_ascii=False).encode("utf-8")).hexdigest()


def _note_fingerprint(session_id: int, kind: str, target_kind: str, ref: str, body: str, author: str) -> str:
    return fingerprint("note", int(session_id), kind, target_kind, ref, body, author)


def _session_fingerprint(held_on: str, title: str, participants: str, author: str) -> str:
    """Date, title, participants and author: the snapshots are left out, because the form's
    "automatic" comparison resolves differently once the first click has created the session."""
    return fingerprint("session", held_on, title, participants, author)


def _since(created: str) -> str:
    return (_parse_ts(created) - timedelta(seconds=DEDUP_WINDOW_S)).isoformat(timespec="microseconds")


def _parse_ts(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- the store ------------------------------------------------------------------------------------------

def store_path() -> Path:
    """Where the app-state store lives: OSSERVATORIO_APPSTATE or data/appstate.sqlite."""
    return Path(os.environ.get(ENV_PATH) or DEFAULT_PATH)


class BoardStore:
    """Sessions, notes and captured place keys in one SQLite file. Thread-safe: a connection per call."""

    def __init__(self, path: Path | str, read_only: bool = False, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.busy_timeout_ms = busy_timeout_ms
        self._ready = False

    @classmethod
    def from_env(cls) -> BoardStore:
        """The store configured by OSSERVATORIO_APPSTATE and OSSERVATORIO_READ_ONLY."""
        return cls(store_path(), read_only=load_settings().read_only)

    # -- connections

    def _open(self, write: bool) -> sqlite3.Connection:
        return open_store(self.path, write, self.read_only, self.busy_timeout_ms, "archivio delle sedute",
                          "store_unavailable", foreign_keys=True)

    def _ensure_schema(self) -> None:
        """Create (or check) the schema once per store object; safe when several processes race."""
        if self._ready:
            return
        con = self._open(write=True)
        try:
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("BEGIN IMMEDIATE")
            try:
                version = con.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise BoardStoreError(
                        f"archivio delle sedute scritto da una versione più recente (schema {version})",
                        "store_newer_schema", version=version)
                for statement in _SCHEMA:
                    con.execute(statement)
                if version < 2:
                    _migrate_2(con)
                for statement in _INDEXES_2:
                    con.execute(statement)
                if version < 3:
                    _migrate_3(con)
                for statement in _SCHEMA_3:
                    con.execute(statement)
                if version < SCHEMA_VERSION:
                    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise BoardStoreError(f"archivio delle sedute non inizializzabile: {exc}", "store_unavailable",
                                  path=str(self.path), error=str(exc)) from exc
        finally:
            con.close()
        self._ready = True

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (BEGIN IMMEDIATE: the write lock is taken up front, so a
        busy database waits up to busy_timeout instead of failing mid-transaction)."""
        if self.read_only:
            raise ReadOnlyError("modalità sola lettura: le modifiche sono disattivate")
        self._ensure_schema()
        con = self._open(write=True)
        with immediate_transaction(con, "store_write_failed") as tx:
            yield tx

    def _read(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query; an empty list when the store does not exist yet (nothing written)."""
        if self.read_only:
            if not self.path.exists():
                return []
        else:
            self._ensure_schema()
        con = self._open(write=False)
        try:
            return con.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if self.read_only and "no such table" in str(exc):
                return []
            raise BoardStoreError(f"lettura non riuscita: {exc}", "store_unavailable", path=str(self.path),
                                  error=str(exc)) from exc
        finally:
            con.close()

    def schema_version(self) -> int:
        """The schema version of the file (0 when it does not exist yet)."""
        if not self.path.exists():
            return 0
        con = self._open(write=False)
        try:
            return int(con.execute("PRAGMA user_version").fetchone()[0])
        finally:
            con.close()

    # -- sessions

    def create_session(self, held_on: date | str, title: str, participants: Sequence[str] | str,
                       snapshot_id: str | None, compare_id: str | None, author: User | str) -> Session:
        """A new review session; returns it with its id."""
        who = actor(author)
        day = _as_date(held_on)
        clean_title = _clean_line(title, "title", MAX_TITLE_CHARS)
        people = clean_participants(participants)
        snap, comp = _clean_snapshot(snapshot_id), _clean_snapshot(compare_id)
        created = _now()
        people_json = json.dumps(list(people), ensure_ascii=False)
        mark = _session_fingerprint(day.isoformat(), clean_title, people_json, who)
        with self._write() as con:
            same = con.execute(
                """SELECT session_id, held_on, title, participants, snapshot_id, compare_id, created_by, created_at
                   FROM sessions WHERE fingerprint = ? AND created_at >= ? ORDER BY session_id LIMIT 1""",
                (mark, _since(created))).fetchone()
            if same:
                return _session(same, duplicate=True)
            cursor = con.execute(
                """INSERT INTO sessions (held_on, title, participants, snapshot_id, compare_id, created_by, created_at,
                                         fingerprint)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (day.isoformat(), clean_title, people_json, snap, comp, who, created, mark),
            )
            session_id = int(cursor.lastrowid or 0)
        return Session(session_id, day, clean_title, people, snap, comp, who, _parse_ts(created))

    def set_snapshots(self, session_id: int, snapshot_id: str | None, compare_id: str | None,
                      by: User | str | None = None) -> Session:
        """Change the snapshots a session reviews and compares with (`by`: the user, checked when given)."""
        if by is not None:
            actor(by)
        snap, comp = _clean_snapshot(snapshot_id), _clean_snapshot(compare_id)
        with self._write() as con:
            changed = con.execute("UPDATE sessions SET snapshot_id = ?, compare_id = ? WHERE session_id = ?",
                                  (snap, comp, int(session_id))).rowcount
        if not changed:
            raise NotFoundError(f"seduta {session_id} inesistente", session=session_id)
        session = self.get_session(session_id)
        assert session is not None
        return session

    def list_sessions(self) -> list[Session]:
        """All sessions, the most recent meeting first."""
        rows = self._read("""SELECT session_id, held_on, title, participants, snapshot_id, compare_id, created_by, created_at
                             FROM sessions ORDER BY held_on DESC, session_id DESC""")
        return [_session(r) for r in rows]

    def get_session(self, session_id: int) -> Session | None:
        rows = self._read("""SELECT session_id, held_on, title, participants, snapshot_id, compare_id, created_by, created_at
                             FROM sessions WHERE session_id = ?""", (int(session_id),))
        return _session(rows[0]) if rows else None

    # -- notes

    def add_note(self, session_id: int, kind: NoteKind | str, target_kind: TargetKind | str, target_ref: str | int,
                 body: str, author: User | str) -> Note:
        """Attach a note or a decision to an indicator, a district, a target or the session."""
        who = actor(author)
        clean_kind = _clean_choice(kind, NOTE_KINDS, "kind")
        clean_target = _clean_choice(target_kind, TARGET_KINDS, "target_kind")
        ref = _clean_line(str(target_ref) if target_ref is not None else "", "ref", MAX_REF_CHARS)
        text = clean_body(body)
        created = _now()
        mark = _note_fingerprint(int(session_id), clean_kind, clean_target, ref, text, who)
        with self._write() as con:
            if not con.execute("SELECT 1 FROM sessions WHERE session_id = ?", (int(session_id),)).fetchone():
                raise NotFoundError(f"seduta {session_id} inesistente", session=session_id)
            same = con.execute(
                """SELECT note_id, session_id, kind, target_kind, target_ref, body, author, created_at FROM notes
                   WHERE fingerprint = ? AND created_at >= ? ORDER BY note_id LIMIT 1""", (mark, _since(created))).fetchone()
            if same:
                return Note(int(same[0]), int(same[1]), same[2], same[3], same[4], same[5], same[6], _parse_ts(same[7]),
                            duplicate=True)
            cursor = con.execute(
                """INSERT INTO notes (session_id, kind, target_kind, target_ref, body, author, created_at, fingerprint)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (int(session_id), clean_kind, clean_target, ref, text, who, created, mark),
            )
            note_id = int(cursor.lastrowid or 0)
        return Note(note_id, int(session_id), clean_kind, clean_target, ref, text, who, _parse_ts(created))

    def _columns(self) -> str:
        """The note columns to select: a read-only schema-2 file has no state columns (every note active)."""
        return NOTE_COLUMNS_2 if self.read_only and 0 < self.schema_version() < 3 else NOTE_COLUMNS

    def list_notes(self, session_id: int | None = None, kind: str | None = None, target_kind: str | None = None,
                   target_ref: str | None = None, author: str | None = None, text: str | None = None,
                   include_withdrawn: bool = False) -> list[Note]:
        """Notes and decisions, oldest first, filtered by any of the given fields (None = any).

        `text` matches case-insensitively inside the body (a literal match, no wildcards). Withdrawn
        notes are left out unless `include_withdrawn`.
        """
        columns = self._columns()
        conditions: list[str] = []
        params: list[Any] = []
        for column, value in (("session_id", session_id), ("kind", kind), ("target_kind", target_kind),
                              ("target_ref", target_ref), ("author", author)):
            if value is not None:
                conditions.append(f"{column} = ?")  # column names come from the fixed tuple above
                params.append(value)
        if text:
            conditions.append("instr(lower(body), lower(?)) > 0")
            params.append(text)
        if not include_withdrawn and columns == NOTE_COLUMNS:
            conditions.append("status = 'active'")
        where = " AND ".join(conditions) or "1 = 1"
        rows = self._read(f"SELECT {columns} FROM notes WHERE {where} ORDER BY note_id", params)  # noqa: S608
        return [_note(r) for r in rows]

    def get_note(self, note_id: int) -> Note | None:
        """One note (withdrawn or not), or None."""
        rows = self._read(f"SELECT {self._columns()} FROM notes WHERE note_id = ?", (int(note_id),))  # noqa: S608
        return _note(rows[0]) if rows else None

    def note_history(self, note_id: int) -> list[NoteVersion]:
        """The earlier versions of a note, oldest first (empty when it was never changed)."""
        if self.read_only and 0 < self.schema_version() < 3:
            return []
        rows = self._read("""SELECT note_id, kind, body, written_by, written_at, change, changed_by, changed_at
                             FROM note_history WHERE note_id = ? ORDER BY history_id""", (int(note_id),))
        return [NoteVersion(int(r[0]), r[1], r[2], r[3], _parse_ts(r[4]), r[5], r[6], _parse_ts(r[7])) for r in rows]

    def may_change(self, note: Note, user: User) -> bool:
        """Whether `user` may correct or withdraw `note`: its author or an admin, with the right to write."""
        return (user.signed_in and user.can("write") and not note.withdrawn
                and (user.role == "admin" or note.author == user.label))

    def _change(self, note_id: int, by: User | str, change: str, new_body: str | None) -> Note:
        who = actor(by)
        changed = _now()
        with self._write() as con:
            row = con.execute(f"SELECT {NOTE_COLUMNS} FROM notes WHERE note_id = ?", (int(note_id),)).fetchone()  # noqa: S608
            if not row:
                raise NotFoundError(f"nota {note_id} inesistente", "store_note_missing", note=note_id)
            note = _note(row)
            if note.withdrawn:
                raise ValidationError(f"la nota {note_id} è già ritirata", "store_note_withdrawn", note=note_id)
            if isinstance(by, User) and not self.may_change(note, by):
                raise PermissionDenied(f"solo l'autore ({note.author}) o un amministratore può modificare la nota {note_id}",
                                       who=by.label, role=by.role)
            if change == "correct" and new_body == note.body:
                return note  # the same text again (a repeated submit): nothing to keep
            con.execute(
                """INSERT INTO note_history (note_id, kind, body, written_by, written_at, change, changed_by, changed_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (note.note_id, note.kind, note.body, note.changed_by or note.author,
                 (note.changed_at or note.created_at).isoformat(timespec="microseconds"), change, who, changed))
            if change == "correct":
                con.execute("""UPDATE notes SET body = ?, changed_by = ?, changed_at = ?, fingerprint = NULL
                               WHERE note_id = ?""", (new_body, who, changed, note.note_id))
            else:
                con.execute("""UPDATE notes SET status = 'withdrawn', changed_by = ?, changed_at = ?, fingerprint = NULL
                               WHERE note_id = ?""", (who, changed, note.note_id))
            row = con.execute(f"SELECT {NOTE_COLUMNS} FROM notes WHERE note_id = ?", (note.note_id,)).fetchone()  # noqa: S608
        return _note(row)

    def correct_note(self, note_id: int, body: str, by: User | str) -> Note:
        """Replace a note's text (its author or an admin); the earlier text is kept in the history."""
        return self._change(note_id, by, "correct", clean_body(body))

    def withdraw_note(self, note_id: int, by: User | str) -> Note:
        """Withdraw a note (its author or an admin): it keeps its text and history, and leaves the lists."""
        return self._change(note_id, by, "withdraw", None)

    # -- places per snapshot

    def record_places(self, snapshot_id: str, places: Iterable[PlaceKey]) -> bool:
        """Keep the place keys seen in a snapshot (once: a later call for the same snapshot changes
        nothing). Returns True when this call recorded them."""
        snap = _clean_line(snapshot_id, "snapshot", MAX_SNAPSHOT_ID_CHARS)
        rows = [(snap, p.theme, p.source_id, p.source_key, p.name, p.district_id) for p in places]
        with self._write() as con:
            if con.execute("SELECT 1 FROM place_captures WHERE snapshot_id = ?", (snap,)).fetchone():
                return False
            con.execute("INSERT INTO place_captures (snapshot_id, captured_at, places) VALUES (?, ?, ?)",
                        (snap, _now(), len(rows)))
            con.executemany(
                """INSERT OR IGNORE INTO snapshot_places (snapshot_id, theme, source_id, source_key, name, nil_id)
                   VALUES (?, ?, ?, ?, ?, ?)""", rows)
        return True

    def captured_snapshots(self) -> set[str]:
        """Snapshots whose place keys are kept here."""
        return {r[0] for r in self._read("SELECT snapshot_id FROM place_captures")}

    def snapshot_places(self, snapshot_id: str) -> list[PlaceKey] | None:
        """The place keys kept for a snapshot, or None when they were never recorded."""
        if not self._read("SELECT 1 FROM place_captures WHERE snapshot_id = ?", (snapshot_id,)):
            return None
        rows = self._read("""SELECT theme, source_id, source_key, name, nil_id FROM snapshot_places
                             WHERE snapshot_id = ? ORDER BY theme, source_id, source_key""", (snapshot_id,))
        return [PlaceKey(r[0], r[1], r[2], r[3], None if r[4] is None else int(r[4])) for r in rows]


def _session(row: tuple[Any, ...], duplicate: bool = False) -> Session:
    people = tuple(str(p) for p in json.loads(row[3] or "[]"))
    return Session(int(row[0]), date.fromisoformat(row[1]), row[2], people, row[4], row[5], row[6], _parse_ts(row[7]),
                   duplicate=duplicate)


def _note(row: tuple[Any, ...]) -> Note:
    return Note(int(row[0]), int(row[1]), row[2], row[3], row[4], row[5], row[6], _parse_ts(row[7]),
                status=row[8] or "active", changed_by=row[9], changed_at=_parse_ts(row[10]) if row[10] else None)


def _migrate_3(con: sqlite3.Connection) -> None:
    """Schema 2 -> 3 inside the schema transaction: note state columns (every existing note active)."""
    columns = {r[1] for r in con.execute("PRAGMA table_info(notes)")}
    for column, statement in _MIGRATION_3:
        if column not in columns:
            con.execute(statement)


def _migrate_2(con: sqlite3.Connection) -> None:
    """Schema 1 -> 2 inside the schema transaction: fingerprint columns, filled for existing rows."""
    for table, statement in zip(("sessions", "notes"), _MIGRATION_2, strict=True):
        columns = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}  # fixed table names
        if "fingerprint" not in columns:
            con.execute(statement)
    for row in con.execute("""SELECT session_id, held_on, title, participants, created_by
                              FROM sessions WHERE fingerprint IS NULL""").fetchall():
        con.execute("UPDATE sessions SET fingerprint = ? WHERE session_id = ?",
                    (_session_fingerprint(row[1], row[2], row[3], row[4]), row[0]))
    for row in con.execute("""SELECT note_id, session_id, kind, target_kind, target_ref, body, author
                              FROM notes WHERE fingerprint IS NULL""").fetchall():
        con.execute("UPDATE notes SET fingerprint = ? WHERE note_id = ?",
                    (_note_fingerprint(row[1], row[2], row[3], row[4], row[5], row[6]), row[0]))
