"""Target calibration: revisions of a target's value or deadline, proposed and decided in a board session.

A revision (new value and/or new deadline) needs a reason and takes effect from a date. An editor
proposes it; the advisory board approves or rejects it in a session (Seduta). Nothing is ever
overwritten: a revision row and its decision row are only ever inserted (append-only), so the
history of every target is the list of its revisions.

Storage: its own tables in a SQLite file beside the app state (env OSSERVATORIO_CALIBRATION,
default <repo>/data/calibration.sqlite), outside the warehouse: a rebuild never touches it. Same
rules as osservatorio.board_store: a connection per call, WAL, BEGIN IMMEDIATE per write, bound
parameters; read-only mode (OSSERVATORIO_READ_ONLY=1) writes nothing and a missing file is empty.

The target in force at a date (pure, `target_in_force`): the original value and deadline from
config/targets.toml, replaced field by field by the approved revisions whose effective date is on
or before that date (the latest effective date wins; on the same date the later decision wins).
The status at a date is the build's rule (etl.targets.evaluate) applied to the target in force,
with the same baseline: the calibrated line runs from the baseline to the target in force.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from etl.targets import Evaluation, evaluate
from osservatorio.auth import User
from osservatorio.board_store import (
    BUSY_TIMEOUT_MS,
    BoardStoreError,
    NotFoundError,
    ReadOnlyError,
    ValidationError,
    _as_date,
    _clean_line,
    actor,
    immediate_transaction,
    open_store,
)
from osservatorio.settings import PROJECT_ROOT, load_settings

SCHEMA_VERSION = 1
DEFAULT_PATH = PROJECT_ROOT / "data" / "calibration.sqlite"
ENV_PATH = "OSSERVATORIO_CALIBRATION"
MAX_REASON_CHARS = 2_000
MAX_TARGET_ID_CHARS = 100
Decision = Literal["approved", "rejected"]
DECISIONS: tuple[str, ...] = ("approved", "rejected")
STATES: tuple[str, ...] = ("pending", "approved", "rejected")
DEMO_AUTHOR = "demo"

_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS target_revisions (
           revision_id    INTEGER PRIMARY KEY AUTOINCREMENT,
           target_id      TEXT NOT NULL,
           new_value      REAL,               -- NULL: the value is not changed
           new_deadline   TEXT,               -- ISO date; NULL: the deadline is not changed
           effective_from TEXT NOT NULL,      -- ISO date from which the revision applies
           reason         TEXT NOT NULL,
           proposed_by    TEXT NOT NULL,
           proposed_at    TEXT NOT NULL,      -- UTC, ISO 8601
           CHECK (new_value IS NOT NULL OR new_deadline IS NOT NULL)
       )""",
    """CREATE TABLE IF NOT EXISTS revision_decisions (
           decision_id  INTEGER PRIMARY KEY AUTOINCREMENT,
           revision_id  INTEGER NOT NULL UNIQUE REFERENCES target_revisions(revision_id),
           session_id   INTEGER NOT NULL,     -- board session (osservatorio.board_store) that decided
           decision     TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
           reason       TEXT NOT NULL,
           decided_by   TEXT NOT NULL,
           decided_at   TEXT NOT NULL
       )""",
    "CREATE INDEX IF NOT EXISTS revisions_by_target ON target_revisions (target_id, revision_id)",
    # Append-only: rows are never changed or removed.
    """CREATE TRIGGER IF NOT EXISTS revisions_no_update BEFORE UPDATE ON target_revisions
       BEGIN SELECT RAISE(ABORT, 'revisioni in sola aggiunta'); END""",
    """CREATE TRIGGER IF NOT EXISTS revisions_no_delete BEFORE DELETE ON target_revisions
       BEGIN SELECT RAISE(ABORT, 'revisioni in sola aggiunta'); END""",
    """CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON revision_decisions
       BEGIN SELECT RAISE(ABORT, 'decisioni in sola aggiunta'); END""",
    """CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON revision_decisions
       BEGIN SELECT RAISE(ABORT, 'decisioni in sola aggiunta'); END""",
)


@dataclass(frozen=True)
class Revision:
    """A proposed revision of a target, with its decision once the board has taken one."""

    revision_id: int
    target_id: str
    new_value: float | None
    new_deadline: date | None
    effective_from: date
    reason: str
    proposed_by: str
    proposed_at: datetime
    state: str = "pending"  # pending / approved / rejected
    session_id: int | None = None
    decision_reason: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True)
class TargetLine:
    """A target's value and deadline, and the approved revision they come from (None: the original)."""

    value: float
    deadline: date
    revision_id: int | None = None


def calibration_path() -> Path:
    """Where the revisions live: OSSERVATORIO_CALIBRATION or data/calibration.sqlite."""
    return Path(os.environ.get(ENV_PATH) or DEFAULT_PATH)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _ts(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def clean_reason(value: object) -> str:
    """A reason: trimmed, required, at most MAX_REASON_CHARS characters (stored as typed, escaped where shown)."""
    if not isinstance(value, str):
        raise ValidationError("motivazione: testo atteso", "store_bad_text", field="reason")
    text = value.replace("\r\n", "\n").replace("\x00", "").strip()
    if not text:
        raise ValidationError("la motivazione è obbligatoria", "cal_reason_required")
    if len(text) > MAX_REASON_CHARS:
        raise ValidationError(f"motivazione troppo lunga: {len(text)} caratteri, al massimo {MAX_REASON_CHARS}",
                              "cal_reason_too_long", max=MAX_REASON_CHARS, length=len(text))
    return text


def _clean_value(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"valore non valido: {str(value)[:20]!r}", "cal_bad_value") from exc
    if not math.isfinite(number):
        raise ValidationError(f"valore non valido: {number}", "cal_bad_value")
    return number


class CalibrationStore:
    """Target revisions and their decisions in one SQLite file (a connection per call, thread-safe)."""

    def __init__(self, path: Path | str, read_only: bool = False, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.busy_timeout_ms = busy_timeout_ms
        self._ready = False

    @classmethod
    def from_env(cls, demo: bool = False) -> CalibrationStore:
        """The store configured by OSSERVATORIO_CALIBRATION and OSSERVATORIO_READ_ONLY; a demo warehouse
        uses its own file beside it (calibration.demo.sqlite): demo revisions never mix with real ones."""
        path = calibration_path()
        return cls(path.with_name(f"{path.stem}.demo{path.suffix or '.sqlite'}") if demo else path,
                   read_only=load_settings().read_only)

    def seed_demo(self, targets: Sequence[tuple[str, float, date]]) -> bool:
        """Example revisions for a demo warehouse, written once (labelled demo): for the first (target id, value,
        deadline) an approved revision, for the second a pending one. Returns True when it wrote them."""
        if self.read_only or self.path.exists() or not targets:
            return False
        first = targets[0]
        done = self.propose(first[0], round(first[1] * 0.9, 2), None, date.today().replace(month=1, day=1),
                            "esempio dei dati dimostrativi: target ridotto del 10%", DEMO_AUTHOR)
        self.decide(done.revision_id, 0, "approved", "esempio dei dati dimostrativi", DEMO_AUTHOR)
        if len(targets) > 1:
            second = targets[1]
            self.propose(second[0], None, second[2].replace(year=second[2].year + 1), date.today(),
                         "esempio dei dati dimostrativi: scadenza prorogata di un anno", DEMO_AUTHOR)
        return True

    def _open(self, write: bool) -> sqlite3.Connection:
        return open_store(self.path, write, self.read_only, self.busy_timeout_ms, "archivio delle revisioni", "store_unavailable")

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        with self._transaction(schema=True) as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise BoardStoreError(f"archivio delle revisioni di una versione più recente (schema {version})",
                                      "store_newer_schema", version=version)
            for statement in _SCHEMA:
                con.execute(statement)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._ready = True

    @contextmanager
    def _transaction(self, schema: bool = False) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise ReadOnlyError("modalità sola lettura: le modifiche sono disattivate")
        if not schema:
            self._ensure_schema()
        con = self._open(write=True)
        with immediate_transaction(con, "store_write_failed", ("PRAGMA journal_mode = WAL",) if schema else ()) as tx:
            yield tx

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query; reading never creates the file (a missing store has no revisions)."""
        if not self.path.exists():
            return []
        if not self.read_only:
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

    # -- writes

    def propose(self, target_id: str, new_value: float | str | None, new_deadline: date | str | None,
                effective_from: date | str, reason: str, author: User | str) -> Revision:
        """Record a proposed revision (pending until a session decides it). `author`: the signed-in User, whose
        role is checked now (PermissionDenied without the editor role), or a trusted caller's name."""
        tid = _clean_line(target_id, "target", MAX_TARGET_ID_CHARS)
        value = _clean_value(new_value)
        deadline = None if new_deadline in (None, "") else _as_date(new_deadline)  # type: ignore[arg-type]
        if value is None and deadline is None:
            raise ValidationError("indicare un nuovo valore o una nuova scadenza", "cal_nothing_changed")
        start = _as_date(effective_from)
        if deadline is not None and deadline <= start:
            raise ValidationError("la nuova scadenza deve seguire la data di decorrenza", "cal_deadline_before_start")
        text = clean_reason(reason)
        who = actor(author, "write")
        created = _now()
        with self._transaction() as con:
            cursor = con.execute(
                """INSERT INTO target_revisions (target_id, new_value, new_deadline, effective_from, reason, proposed_by,
                                                 proposed_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (tid, value, None if deadline is None else deadline.isoformat(), start.isoformat(), text, who, created))
            rid = int(cursor.lastrowid or 0)
        return Revision(rid, tid, value, deadline, start, text, who, _ts(created))  # type: ignore[arg-type]

    def decide(self, revision_id: int, session_id: int, decision: Decision | str, reason: str,
               author: User | str) -> Revision:
        """Approve or reject a pending revision in a board session (once: a decided revision stays decided).
        `author`: the signed-in User, role checked at this call (PermissionDenied), or a trusted caller's name."""
        if decision not in DECISIONS:
            raise ValidationError(f"decisione non valida: {str(decision)[:20]!r}", "store_bad_choice", field="decision",
                                  value=str(decision)[:20])
        text = clean_reason(reason)
        who = actor(author, "write")
        with self._transaction() as con:
            if not con.execute("SELECT 1 FROM target_revisions WHERE revision_id = ?", (int(revision_id),)).fetchone():
                raise NotFoundError(f"revisione {revision_id} inesistente", "cal_revision_missing", revision=revision_id)
            if con.execute("SELECT 1 FROM revision_decisions WHERE revision_id = ?", (int(revision_id),)).fetchone():
                raise ValidationError(f"la revisione {revision_id} è già stata decisa", "cal_already_decided",
                                      revision=revision_id)
            con.execute("""INSERT INTO revision_decisions (revision_id, session_id, decision, reason, decided_by, decided_at)
                           VALUES (?, ?, ?, ?, ?, ?)""", (int(revision_id), int(session_id), decision, text, who, _now()))
        found = self.get(revision_id)
        assert found is not None
        return found

    # -- reads

    def revisions(self, target_id: str | None = None, state: str | None = None,
                  session_id: int | None = None) -> list[Revision]:
        """Revisions, oldest first, filtered by target, state (pending / approved / rejected) or deciding session."""
        conditions, params = [], []  # type: ignore[var-annotated]
        if target_id is not None:
            conditions.append("r.target_id = ?")
            params.append(target_id)
        if state == "pending":
            conditions.append("d.decision IS NULL")
        elif state in DECISIONS:
            conditions.append("d.decision = ?")
            params.append(state)
        if session_id is not None:
            conditions.append("d.session_id = ?")
            params.append(int(session_id))
        where = " AND ".join(conditions) or "1 = 1"  # fixed fragments only
        rows = self._read(
            "SELECT r.revision_id, r.target_id, r.new_value, r.new_deadline, r.effective_from, r.reason, r.proposed_by, "  # noqa: S608
            "r.proposed_at, d.decision, d.session_id, d.reason, d.decided_by, d.decided_at "
            "FROM target_revisions r LEFT JOIN revision_decisions d USING (revision_id) "
            f"WHERE {where} ORDER BY r.revision_id", params)
        return [_revision(r) for r in rows]

    def get(self, revision_id: int) -> Revision | None:
        rows = [r for r in self.revisions() if r.revision_id == int(revision_id)]
        return rows[0] if rows else None


def _revision(r: tuple[Any, ...]) -> Revision:
    return Revision(int(r[0]), r[1], None if r[2] is None else float(r[2]),
                    None if r[3] is None else date.fromisoformat(r[3]), date.fromisoformat(r[4]), r[5], r[6],
                    _ts(r[7]), r[8] or "pending", None if r[9] is None else int(r[9]), r[10], r[11], _ts(r[12]))  # type: ignore[arg-type]


# --- pure: the target in force and the status against it --------------------------------------------------

def approved_in_order(revisions: Sequence[Revision], target_id: str | None = None) -> list[Revision]:
    """The approved revisions (of one target when given), by effective date, then by decision time."""
    chosen = [r for r in revisions if r.state == "approved" and (target_id is None or r.target_id == target_id)]
    return sorted(chosen, key=lambda r: (r.effective_from, r.decided_at or r.proposed_at, r.revision_id))


def target_in_force(original_value: float, original_deadline: date, revisions: Sequence[Revision], at: date,
                    target_id: str | None = None) -> TargetLine:
    """The value and deadline in force at `at`: the original, replaced field by field by each approved
    revision effective on or before `at` (pending and rejected revisions never count)."""
    value, deadline, source = float(original_value), original_deadline, None
    for rev in approved_in_order(revisions, target_id):
        if rev.effective_from > at:
            break
        if rev.new_value is not None:
            value = rev.new_value
        if rev.new_deadline is not None:
            deadline = rev.new_deadline
        source = rev.revision_id
    return TargetLine(value, deadline, source)


def status_at(current: float | None, baseline: float | None, baseline_date: date | None, original_value: float,
              original_deadline: date, revisions: Sequence[Revision], at: date, direction: str = "higher_better",
              target_id: str | None = None) -> tuple[TargetLine, Evaluation]:
    """The status at `at` against the target in force then (the build's rule, etl.targets.evaluate)."""
    line = target_in_force(original_value, original_deadline, revisions, at, target_id)
    return line, evaluate(current, baseline, baseline_date, line.value, line.deadline, at, direction)


def calibrated_path(baseline: float | None, baseline_date: date | None, original_value: float, original_deadline: date,
                    revisions: Sequence[Revision], target_id: str | None = None) -> list[tuple[date, float]]:
    """Points of the calibrated expected line: from the baseline along the line in force, switching to the
    revised line (from the same baseline) at each approved revision's effective date, to the final deadline."""
    if baseline is None or baseline_date is None:
        return []

    def expected(line: TargetLine, day: date) -> float:
        span = (line.deadline - baseline_date).days
        frac = 1.0 if span <= 0 else min(max((day - baseline_date).days / span, 0.0), 1.0)
        return baseline + (line.value - baseline) * frac

    points = [(baseline_date, float(baseline))]
    line = TargetLine(float(original_value), original_deadline)
    for rev in approved_in_order(revisions, target_id):
        day = max(rev.effective_from, baseline_date)
        new = target_in_force(original_value, original_deadline, revisions, rev.effective_from, target_id)
        points.append((day, expected(line, day)))
        points.append((day, expected(new, day)))
        line = new
    points.append((line.deadline, line.value))
    return points


# --- views (pandas / plotly, no Streamlit) ----------------------------------------------------------------

def _day(value: Any) -> date | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
        return pd.Timestamp(value).date()
    except (TypeError, ValueError):
        return None


def history_in_force(history: Any, row: Mapping[str, Any], revisions: Sequence[Revision], direction: str,
                     lang: str) -> Any:
    """A target's snapshots with the status stored by the build (original target) and the status against
    the target in force at each snapshot's date (recomputed with the same rule)."""
    import pandas as pd

    from osservatorio.i18n import t
    from osservatorio.page_views.obiettivi import status_text

    base = None if row.get("baseline") is None or pd.isna(row.get("baseline")) else float(row["baseline"])
    base_day = _day(row.get("baseline_date"))
    original, deadline = float(row["target_value"]), _day(row["deadline"])
    out = []
    for rec in history.to_dict("records"):
        day = _day(rec["created_at"])
        if day is None or deadline is None:
            continue
        current = None if pd.isna(rec["current_value"]) else float(rec["current_value"])
        line, ev = status_at(current, base, base_day, original, deadline, revisions, day, direction, str(row["target_id"]))
        out.append({t("th_col_date", lang): day, t("th_col_current", lang): current,
                    t("cal_col_original", lang): original, t("cal_col_status_original", lang): status_text(rec["status"], lang),
                    t("cal_col_in_force", lang): line.value, t("cal_col_deadline_in_force", lang): line.deadline,
                    t("th_col_expected", lang): ev.expected, t("cal_col_status_in_force", lang): status_text(ev.status, lang),
                    t("cal_col_revision", lang): "–" if line.revision_id is None else f"#{line.revision_id}"})
    return pd.DataFrame(out)


def revisions_table(revisions: Sequence[Revision], lang: str, with_target: bool = False) -> Any:
    """Revisions with their reason, state and decision (user text as typed: shown as plain text by the table)."""
    import pandas as pd

    from osservatorio.i18n import t

    rows = []
    decided = any(r.state != "pending" for r in revisions)
    for r in revisions:
        rec: dict[str, Any] = {"#": r.revision_id}
        if with_target:
            rec[t("th_col_target_id", lang)] = r.target_id
        rec.update({
            t("cal_col_state", lang): t(f"cal_state_{r.state}", lang), t("cal_col_new_value", lang): r.new_value,
            t("cal_col_new_deadline", lang): r.new_deadline, t("cal_col_effective", lang): r.effective_from,
            t("cal_col_reason", lang): r.reason,
        })
        if decided:  # the decision's columns only where some revision has one
            rec.update({t("cal_col_decision_reason", lang): r.decision_reason or "",
                        t("cal_col_session", lang): "" if r.session_id is None else str(r.session_id)})
        rec[t("cal_col_proposed_by", lang)] = r.proposed_by
        rows.append(rec)
    return pd.DataFrame(rows)


def path_figure(row: Mapping[str, Any], revisions: Sequence[Revision], history: Any, unit: str, lang: str) -> Any:
    """The original target line and the calibrated one (dashed), with the snapshots' values."""
    import pandas as pd
    import plotly.graph_objects as go

    from osservatorio.i18n import t
    from osservatorio.page_views.obiettivi import DATE_TICKS

    fig = go.Figure()
    base = None if row.get("baseline") is None or pd.isna(row.get("baseline")) else float(row["baseline"])
    base_day, deadline = _day(row.get("baseline_date")), _day(row["deadline"])
    known = history[history["current_value"].notna()]
    fig.add_trace(go.Scatter(x=[pd.Timestamp(d) for d in known["created_at"]], y=known["current_value"].tolist(),
                             mode="lines+markers", name=t("th_col_current", lang), line={"color": "#1f77b4"}))
    if base is not None and base_day is not None and deadline is not None:
        fig.add_trace(go.Scatter(x=[pd.Timestamp(base_day), pd.Timestamp(deadline)], y=[base, float(row["target_value"])],
                                 mode="lines", name=t("cal_line_original", lang), line={"color": "#888888"}))
        path = calibrated_path(base, base_day, float(row["target_value"]), deadline, revisions, str(row["target_id"]))
        if len(path) > 2:
            fig.add_trace(go.Scatter(x=[pd.Timestamp(d) for d, _ in path], y=[v for _, v in path], mode="lines+markers",
                                     name=t("cal_line_calibrated", lang), line={"color": "#d62728", "dash": "dash"}))
    ticks = DATE_TICKS[lang if lang in DATE_TICKS else "it"]
    fig.update_layout(height=360, margin={"l": 0, "r": 0, "t": 30, "b": 0}, yaxis_title=unit,
                      legend={"orientation": "h", "y": -0.2}, separators=",." if lang == "it" else ".,",
                      xaxis={"type": "date", "tickformat": ticks, "hoverformat": ticks},
                      title={"text": t("cal_chart_title", lang), "font": {"size": 14}})
    return fig


def revision_label(r: Revision, lang: str) -> str:
    """One line naming a revision: id, target, what changes, from when (plain text)."""
    from osservatorio.i18n import fmt_date, fmt_number, t

    parts = []
    if r.new_value is not None:
        parts.append(f"{t('cal_col_new_value', lang)} {fmt_number(r.new_value, lang, 2)}")
    if r.new_deadline is not None:
        parts.append(f"{t('cal_col_new_deadline', lang)} {fmt_date(r.new_deadline, lang)}")
    return t("cal_revision_label", lang, id=r.revision_id, target=r.target_id, change=", ".join(parts),
             start=fmt_date(r.effective_from, lang))
