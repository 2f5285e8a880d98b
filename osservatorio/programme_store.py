"""The actions register ("azioni test") of the programme: its own SQLite file beside the appstate.

- Path: env OSSERVATORIO_PROGRAMME, default <repo>/data/programme.sqlite. A demo warehouse uses
  a separate demo store (`<name>.demo.sqlite`, see `demo_path`): demo actions are never mixed
  with real ones. ETL rebuilds never touch either file.
- Append-only: every change (creation, edit, status change) is one row of `action_changes` with
  who, when, why and the whole action after the change; triggers refuse UPDATE and DELETE. The
  current action is the latest version of its history.
- Concurrent edits: an edit names the version it was made on; if another session saved a newer
  version meanwhile, `ConflictError` says who and when, and nothing is written.
- Repeated submits (a double click) store one change: same content, author and base version in the
  last DEDUP_WINDOW_S seconds returns the stored change with `duplicate=True`.
- Read-only mode (OSSERVATORIO_READ_ONLY=1): writes raise ReadOnlyError before touching the
  file; reads open it immutable; a missing store is an empty register.
- Places: a point of the warehouse (kind 'vacant', 'makerspace' or 'hub', ref '<source_id>:<source_key>')
  or an area, whose kind is the level id of the warehouse's territory (ref: the area's id). Milan's
  stores hold kinds 'nil' and 'municipio': those ARE the level ids of the Milan profile, so nothing is
  migrated; an area kind that the open territory does not have is shown as not located there.
- Board decisions: `decide` moves a proposed (or postponed) action to approved / rejected / postponed
  as a new version carrying the session id (Seduta); the session's minutes list them.
Errors carry an i18n key (`code`) and values (`params`), like osservatorio.board_store.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from osservatorio.auth import User
from osservatorio.board_store import (
    BoardStoreError,
    ReadOnlyError,
    ValidationError,
    actor,
    fingerprint,
    immediate_transaction,
    open_store,
)
from osservatorio.settings import PROJECT_ROOT, load_settings

__all__ = ["Action", "ActionChange", "ConflictError", "PlaceRef", "ProgrammeStore", "ReadOnlyError", "ValidationError"]

SCHEMA_VERSION = 1
DEFAULT_PATH = PROJECT_ROOT / "data" / "programme.sqlite"
ENV_PATH = "OSSERVATORIO_PROGRAMME"
DEDUP_WINDOW_S = 600
BUSY_TIMEOUT_MS = 15_000
STATUSES = ("proposed", "approved", "running", "done", "stopped", "rejected", "postponed")
DECISIONS = ("approved", "rejected", "postponed")  # what the board decides on a proposed action
DECIDABLE = ("proposed", "postponed")              # statuses the board can decide on
FUNDING_SOURCES = ("comune", "regione", "private", "eu", "other")
POINT_KINDS = ("vacant", "makerspace", "hub")  # places of the warehouse; any other kind is an area level id
PLACE_KINDS = POINT_KINDS  # kept for callers: area kinds are level ids, checked by `is_area_kind`
MAX_TITLE = 200
MAX_TEXT = 5_000
MAX_REASON = 1_000
MAX_ITEMS = 50
MAX_EUR = 1e12
_LINE_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_LEVEL_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")  # like etl.territory's profile ids

_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS action_changes (
           change_id   INTEGER PRIMARY KEY AUTOINCREMENT,
           action_id   INTEGER NOT NULL,
           version     INTEGER NOT NULL,            -- 1 = creation
           kind        TEXT NOT NULL CHECK (kind IN ('create', 'edit')),
           changed_by  TEXT NOT NULL,               -- auth.current_user().label
           changed_at  TEXT NOT NULL,               -- UTC, ISO 8601
           reason      TEXT NOT NULL,               -- why (required for edits)
           fields      TEXT NOT NULL,               -- JSON list of the fields changed
           data        TEXT NOT NULL,               -- JSON: the whole action after the change
           session_id  INTEGER,                     -- board session (Seduta) that decided it, when any
           demo        INTEGER NOT NULL DEFAULT 0,  -- 1 = example action of the demo store
           fingerprint TEXT NOT NULL,
           UNIQUE (action_id, version)
       )""",
    "CREATE INDEX IF NOT EXISTS changes_by_fingerprint ON action_changes (fingerprint, changed_at)",
    """CREATE TRIGGER IF NOT EXISTS action_changes_no_update BEFORE UPDATE ON action_changes
       BEGIN SELECT RAISE(ABORT, 'registro delle azioni: le modifiche si aggiungono, non si sovrascrivono'); END""",
    """CREATE TRIGGER IF NOT EXISTS action_changes_no_delete BEFORE DELETE ON action_changes
       BEGIN SELECT RAISE(ABORT, 'registro delle azioni: la storia non si cancella'); END""",
)


class ConflictError(BoardStoreError):
    """Another session saved a newer version of the action since the form was opened."""

    code = "pg_conflict"


class ActionNotFound(BoardStoreError, LookupError):
    code = "pg_action_missing"


@dataclass(frozen=True)
class PlaceRef:
    """A place an action concerns: a vacant building, a makerspace or a hub (warehouse place id
    '<source_id>:<source_key>'), or an area: kind = a level id of the territory (e.g. 'nil',
    'municipio', 'comune'), ref = the area's id."""

    kind: str
    ref: str

    def key(self) -> str:
        return f"{self.kind}:{self.ref}"

    @property
    def is_area(self) -> bool:
        return is_area_kind(self.kind)


def is_area_kind(kind: str) -> bool:
    """True for an area level id (anything but a point kind)."""
    return kind not in POINT_KINDS


@dataclass(frozen=True)
class Action:
    """An action as it stands at one version (the fields an official edits)."""

    title: str
    line: str
    description: str = ""
    places: tuple[PlaceRef, ...] = ()
    partners: tuple[str, ...] = ()
    start_date: date | None = None
    end_date: date | None = None
    status: str = "proposed"
    budget_allocated: float = 0.0
    budget_committed: float = 0.0
    budget_spent: float = 0.0
    funding_source: str = "comune"
    private_investment: float = 0.0
    indicators: tuple[str, ...] = ()
    # set by the store
    action_id: int = 0
    version: int = 0
    updated_by: str = ""
    updated_at: datetime | None = None
    created_by: str = ""
    demo: bool = False

    EDITABLE = ("title", "line", "description", "places", "partners", "start_date", "end_date", "status",
                "budget_allocated", "budget_committed", "budget_spent", "funding_source", "private_investment",
                "indicators")

    def content(self) -> dict[str, Any]:
        """The editable fields as JSON-ready values."""
        raw = asdict(self)
        out = {k: raw[k] for k in self.EDITABLE}
        out["places"] = [[p.kind, p.ref] for p in self.places]
        out["partners"] = list(self.partners)
        out["indicators"] = list(self.indicators)
        out["start_date"] = self.start_date.isoformat() if self.start_date else None
        out["end_date"] = self.end_date.isoformat() if self.end_date else None
        return out


@dataclass(frozen=True)
class ActionChange:
    """One row of the audit trail."""

    change_id: int
    action_id: int
    version: int
    kind: str
    changed_by: str
    changed_at: datetime
    reason: str
    fields: tuple[str, ...]
    action: Action
    session_id: int | None = None
    duplicate: bool = field(default=False, compare=False)


# --- validation (pure) -------------------------------------------------------------------------------

def _line_text(value: object, what: str, max_chars: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{what}: testo atteso", "pg_bad_text", field=what)
    text = " ".join(value.replace("\x00", " ").split())
    if required and not text:
        raise ValidationError(f"{what}: obbligatorio", "pg_required", field=what)
    if len(text) > max_chars:
        raise ValidationError(f"{what}: al massimo {max_chars} caratteri", "pg_too_long", field=what, max=max_chars)
    return text


def _long_text(value: object, what: str, max_chars: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{what}: testo atteso", "pg_bad_text", field=what)
    text = value.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
    if len(text) > max_chars:
        raise ValidationError(f"{what}: al massimo {max_chars} caratteri", "pg_too_long", field=what, max=max_chars)
    return text


def _euro(value: object, what: str) -> float:
    try:
        amount = float(value) if value is not None and value != "" else 0.0  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what}: importo non valido", "pg_bad_amount", field=what) from exc
    if amount != amount or amount < 0 or amount > MAX_EUR:
        raise ValidationError(f"{what}: importo non valido ({value})", "pg_bad_amount", field=what)
    return round(amount, 2)


def _day(value: object, what: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ValidationError(f"{what}: data non valida", "pg_bad_date", field=what) from exc


def _items(values: object, what: str, max_chars: int = 200) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = values.replace(";", "\n").splitlines()
    out: list[str] = []
    for v in values:  # type: ignore[union-attr]
        text = _line_text(v, what, max_chars)
        if text and text not in out:
            out.append(text)
    if len(out) > MAX_ITEMS:
        raise ValidationError(f"{what}: al massimo {MAX_ITEMS} voci", "pg_too_many", field=what, max=MAX_ITEMS)
    return tuple(out)


def _places(values: object, levels: Sequence[str] | None = None) -> tuple[PlaceRef, ...]:
    """Places checked: a point kind, or an area level id (among `levels` when given) with a numeric id."""
    out: list[PlaceRef] = []
    for v in values or ():  # type: ignore[union-attr]
        kind, ref = (v.kind, v.ref) if isinstance(v, PlaceRef) else (v[0], v[1])  # type: ignore[index]
        kind = str(kind)
        if kind not in POINT_KINDS and (not _LEVEL_ID.match(kind) or (levels is not None and kind not in levels)):
            raise ValidationError(f"luogo di tipo sconosciuto: {kind[:20]!r}", "pg_bad_place", value=kind[:20])
        ref_text = _line_text(str(ref), "place", 200, required=True)
        if kind not in POINT_KINDS and not ref_text.isdigit():
            raise ValidationError(f"{kind}: numero atteso ({ref_text[:20]!r})", "pg_bad_place", value=ref_text[:20])
        place = PlaceRef(str(kind), ref_text)
        if place not in out:
            out.append(place)
    if len(out) > MAX_ITEMS:
        raise ValidationError(f"luoghi: al massimo {MAX_ITEMS}", "pg_too_many", field="places", max=MAX_ITEMS)
    return tuple(out)


def clean_action(values: Mapping[str, Any], lines: Sequence[str] | None = None,
                 indicators: Sequence[str] | None = None, levels: Sequence[str] | None = None) -> Action:
    """An Action from form values, checked: title required, line among `lines` (when given), status and
    funding source from the allow-lists, amounts >= 0, end date not before the start date, area places
    of the territory's `levels` (when given)."""
    line = _line_text(values.get("line"), "line", 40, required=True)
    if not _LINE_ID.match(line) or (lines is not None and line not in lines):
        raise ValidationError(f"linea sconosciuta: {line[:40]!r}", "pg_bad_line", value=line[:40])
    status = values.get("status", "proposed")
    if status not in STATUSES:
        raise ValidationError(f"stato non valido: {str(status)[:20]!r}", "pg_bad_status", value=str(status)[:20])
    funding = values.get("funding_source", "comune")
    if funding not in FUNDING_SOURCES:
        raise ValidationError(f"fonte non valida: {str(funding)[:20]!r}", "pg_bad_funding", value=str(funding)[:20])
    start, end = _day(values.get("start_date"), "start_date"), _day(values.get("end_date"), "end_date")
    if start and end and end < start:
        raise ValidationError("la data di fine precede quella di inizio", "pg_dates_order")
    inds = _items(values.get("indicators"), "indicators", 60)
    if indicators is not None and (bad := [i for i in inds if i not in indicators]):
        raise ValidationError(f"indicatori sconosciuti: {', '.join(bad)[:80]}", "pg_bad_indicator", value=", ".join(bad)[:80])
    return Action(
        title=_line_text(values.get("title"), "title", MAX_TITLE, required=True), line=line,
        description=_long_text(values.get("description"), "description", MAX_TEXT),
        places=_places(values.get("places"), levels), partners=_items(values.get("partners"), "partners"),
        start_date=start, end_date=end, status=str(status),
        budget_allocated=_euro(values.get("budget_allocated"), "budget_allocated"),
        budget_committed=_euro(values.get("budget_committed"), "budget_committed"),
        budget_spent=_euro(values.get("budget_spent"), "budget_spent"),
        funding_source=str(funding), private_investment=_euro(values.get("private_investment"), "private_investment"),
        indicators=inds)


def action_from_json(data: Mapping[str, Any]) -> Action:
    """The Action stored in a change row (no validation: it was validated when written)."""
    return Action(
        title=data["title"], line=data["line"], description=data.get("description", ""),
        places=tuple(PlaceRef(k, r) for k, r in data.get("places", [])), partners=tuple(data.get("partners", [])),
        start_date=date.fromisoformat(data["start_date"]) if data.get("start_date") else None,
        end_date=date.fromisoformat(data["end_date"]) if data.get("end_date") else None,
        status=data.get("status", "proposed"), budget_allocated=float(data.get("budget_allocated", 0)),
        budget_committed=float(data.get("budget_committed", 0)), budget_spent=float(data.get("budget_spent", 0)),
        funding_source=data.get("funding_source", "comune"), private_investment=float(data.get("private_investment", 0)),
        indicators=tuple(data.get("indicators", [])))


def changed_fields(before: Action | None, after: Action) -> tuple[str, ...]:
    """The editable fields that differ (every field for a creation)."""
    if before is None:
        return Action.EDITABLE
    a, b = before.content(), after.content()
    return tuple(k for k in Action.EDITABLE if a[k] != b[k])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _who(author: User | str) -> str:
    """The name stored for a write: a User's label once their role allows writing, checked now
    (board_store.PermissionDenied otherwise), or a trusted caller's string (tests, demo seeding)."""
    if isinstance(author, User):
        return actor(author, "write")
    return _line_text(author, "author", 200, required=True)


def _ts(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def store_path() -> Path:
    """OSSERVATORIO_PROGRAMME, else data/programme.sqlite."""
    return Path(os.environ.get(ENV_PATH) or DEFAULT_PATH)


def demo_path(path: Path) -> Path:
    """The demo store beside the real one: programme.sqlite -> programme.demo.sqlite."""
    return path.with_name(f"{path.stem}.demo{path.suffix or '.sqlite'}")


_COLUMNS = "change_id, action_id, version, kind, changed_by, changed_at, reason, fields, data, session_id, demo"


class ProgrammeStore:
    """The actions register in one SQLite file; a connection per call (thread-safe)."""

    def __init__(self, path: Path | str, read_only: bool = False, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.busy_timeout_ms = busy_timeout_ms
        self._ready = False

    @classmethod
    def from_env(cls, demo: bool = False) -> ProgrammeStore:
        """The configured store (the demo store when the warehouse is a demo)."""
        path = store_path()
        return cls(demo_path(path) if demo else path, read_only=load_settings().read_only)

    def _open(self, write: bool) -> sqlite3.Connection:
        return open_store(self.path, write, self.read_only, self.busy_timeout_ms, "registro delle azioni", "pg_unavailable")

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        con = self._open(write=True)
        try:
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("BEGIN IMMEDIATE")
            try:
                version = con.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise BoardStoreError(f"registro scritto da una versione più recente (schema {version})", "pg_unavailable",
                                          path=str(self.path), error=f"schema {version}")
                for statement in _SCHEMA:
                    con.execute(statement)
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise BoardStoreError(f"registro delle azioni non inizializzabile: {exc}", "pg_unavailable",
                                  path=str(self.path), error=str(exc)) from exc
        finally:
            con.close()
        self._ready = True

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise ReadOnlyError("modalità sola lettura: le modifiche sono disattivate")
        self._ensure_schema()
        con = self._open(write=True)
        with immediate_transaction(con, "pg_write_failed") as tx:
            yield tx

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        if not self.read_only:
            self._ensure_schema()
        con = self._open(write=False)
        try:
            return con.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise BoardStoreError(f"lettura non riuscita: {exc}", "pg_unavailable", path=str(self.path),
                                  error=str(exc)) from exc
        finally:
            con.close()

    # -- writes

    def create(self, action: Action, author: User | str, reason: str = "", demo: bool = False,
               session_id: int | None = None) -> ActionChange:
        """Register a new action (version 1). A repeated submit returns the first one (duplicate=True)."""
        who = _who(author)
        why = _long_text(reason, "reason", MAX_REASON)
        content = json.dumps(action.content(), ensure_ascii=False, sort_keys=True)
        mark = fingerprint("create", content, who)
        created = _now()
        with self._write() as con:
            same = self._same(con, mark, created)
            if same is not None:
                return same
            action_id = int(con.execute("SELECT coalesce(max(action_id), 0) + 1 FROM action_changes").fetchone()[0])
            cursor = con.execute(
                f"INSERT INTO action_changes ({_COLUMNS}, fingerprint) VALUES (NULL, ?, 1, 'create', ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (action_id, who, created, why, json.dumps(list(Action.EDITABLE)), content, session_id, int(demo), mark))
            change_id = int(cursor.lastrowid or 0)
        stored = replace(action, action_id=action_id, version=1, updated_by=who, updated_at=_ts(created), created_by=who,
                         demo=demo)
        return ActionChange(change_id, action_id, 1, "create", who, _ts(created), why, Action.EDITABLE, stored, session_id)

    def edit(self, action_id: int, base_version: int, action: Action, author: User | str, reason: str,
             session_id: int | None = None) -> ActionChange:
        """A new version of the action made on `base_version`; ConflictError when a newer one exists.

        `reason` (why) is required. An edit that changes nothing is refused (pg_no_change)."""
        who = _who(author)
        why = _long_text(reason, "reason", MAX_REASON)
        if not why:
            raise ValidationError("motivo della modifica obbligatorio", "pg_reason_required")
        content = json.dumps(action.content(), ensure_ascii=False, sort_keys=True)
        mark = fingerprint("edit", int(action_id), int(base_version), content, why, who)
        created = _now()
        with self._write() as con:
            same = self._same(con, mark, created)
            if same is not None:
                return same
            rows = con.execute(f"SELECT {_COLUMNS} FROM action_changes WHERE action_id = ? "  # noqa: S608
                               "ORDER BY version DESC LIMIT 1", (int(action_id),)).fetchall()
            if not rows:
                raise ActionNotFound(f"azione {action_id} inesistente", action=action_id)
            current = _change(rows[0])
            if current.version != int(base_version):
                raise ConflictError(
                    f"l'azione è stata modificata da {current.changed_by} ({current.changed_at:%Y-%m-%d %H:%M} UTC, "
                    f"versione {current.version}) dopo che il modulo era stato aperto (versione {base_version})",
                    who=current.changed_by, when=f"{current.changed_at:%Y-%m-%d %H:%M} UTC", version=current.version,
                    base=int(base_version))
            fields = changed_fields(current.action, action)
            if not fields:
                raise ValidationError("nessun campo modificato", "pg_no_change")
            version = current.version + 1
            cursor = con.execute(
                f"INSERT INTO action_changes ({_COLUMNS}, fingerprint) VALUES (NULL, ?, ?, 'edit', ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (int(action_id), version, who, created, why, json.dumps(list(fields)), content, session_id,
                 int(current.action.demo), mark))
            change_id = int(cursor.lastrowid or 0)
        stored = replace(action, action_id=int(action_id), version=version, updated_by=who, updated_at=_ts(created),
                         created_by=current.action.created_by, demo=current.action.demo)
        return ActionChange(change_id, int(action_id), version, "edit", who, _ts(created), why, fields, stored, session_id)

    def decide(self, action_id: int, base_version: int, decision: str, session_id: int, author: User | str,
               reason: str) -> ActionChange:
        """The board's decision on a proposed (or postponed) action in session `session_id`: a new version
        with status approved / rejected / postponed and the session recorded. Refused when the action is
        not awaiting a decision (pg_not_decidable) or another session changed it meanwhile (ConflictError)."""
        if decision not in DECISIONS:
            raise ValidationError(f"decisione non valida: {str(decision)[:20]!r}", "pg_bad_decision", value=str(decision)[:20])
        if not isinstance(session_id, int) or isinstance(session_id, bool) or session_id <= 0:
            raise ValidationError("seduta non valida", "pg_bad_session")
        current = self.get(int(action_id))
        if current is None:
            raise ActionNotFound(f"azione {action_id} inesistente", action=action_id)
        if current.version == int(base_version) and current.status not in DECIDABLE:
            raise ValidationError(f"l'azione {action_id} è «{current.status}»: non attende una decisione",
                                  "pg_not_decidable", action=action_id, status=current.status)
        return self.edit(int(action_id), int(base_version), replace(current, status=decision), author, reason,
                         session_id=session_id)

    def decisions(self, session_id: int) -> list[ActionChange]:
        """The changes recorded in a board session (its decisions), oldest first."""
        return [c for c in self.history() if c.session_id == int(session_id)]

    def _same(self, con: sqlite3.Connection, mark: str, created: str) -> ActionChange | None:
        since = (_ts(created) - timedelta(seconds=DEDUP_WINDOW_S)).isoformat(timespec="microseconds")
        rows = con.execute(f"SELECT {_COLUMNS} FROM action_changes WHERE fingerprint = ? AND changed_at >= ? "  # noqa: S608
                           "ORDER BY change_id LIMIT 1", (mark, since)).fetchall()
        return replace(_change(rows[0]), duplicate=True) if rows else None

    # -- reads

    def history(self, action_id: int | None = None) -> list[ActionChange]:
        """The audit trail (oldest first), of one action or of all."""
        rows = self._read(f"SELECT {_COLUMNS} FROM action_changes WHERE ? IS NULL OR action_id = ? "  # noqa: S608
                          "ORDER BY action_id, version", (action_id, action_id))
        return _fold(rows)

    def actions(self) -> list[Action]:
        """Every action at its latest version, by id."""
        latest: dict[int, Action] = {}
        for change in self.history():
            latest[change.action_id] = change.action
        return [latest[k] for k in sorted(latest)]

    def get(self, action_id: int) -> Action | None:
        trail = self.history(action_id)
        return trail[-1].action if trail else None


def _change(row: tuple[Any, ...], created_by: str | None = None) -> ActionChange:
    change_id, action_id, version, kind, by, at, reason, fields, data, session_id, demo = row
    when = _ts(at)
    action = replace(action_from_json(json.loads(data)), action_id=int(action_id), version=int(version), updated_by=by,
                     updated_at=when, created_by=created_by or by, demo=bool(demo))
    return ActionChange(int(change_id), int(action_id), int(version), kind, by, when, reason, tuple(json.loads(fields)),
                        action, None if session_id is None else int(session_id))


def _fold(rows: list[tuple[Any, ...]]) -> list[ActionChange]:
    """Change rows with each action's creator carried forward."""
    creators: dict[int, str] = {}
    out = []
    for row in rows:
        action_id, version, by = int(row[1]), int(row[2]), row[4]
        if version == 1:
            creators[action_id] = by
        out.append(_change(row, creators.get(action_id)))
    return out
