"""Objectives and targets (config/targets.toml) and their status in each snapshot.

Status rule (stored in words with every row, see RULE):
- expected value = point on the straight line from (baseline_date, baseline) to
  (deadline, target), at the evaluation date (clipped to the segment);
- the desired direction is the sign of (target - baseline); if they are equal, the
  indicator's direction (higher_better / lower_better; neutral counts as higher);
- on_track  if the current value is at or beyond the expected value in that direction;
- at_risk   if it has covered at least 50 % of the progress expected by now;
- off_track otherwise;
- no_data   if the current value is NULL;
- on or after the deadline: on_track only if the target is reached, otherwise off_track.
Baseline: given in the file (with its date), else the first snapshot of the history in which
the indicator has a value (not counting snapshots marked `same_as`, which repeat an earlier one);
its date is the data's date (31 December of the value's period) when the value has a period,
else the snapshot date. Current value: the undated value of the current snapshot if any, else
the latest period (as the pages do); when it has a period, the expected value is taken at the
data's date (not later than the evaluation date): old data is judged against where the line
was when the data were collected, not against today.

Territories: a target belongs to the territory named by its `territory` (or the file's top-level
`territory`; none = every territory); a build of another territory does not evaluate it. Its
`level` is a catalogue role (fine, parent, periphery_class, priority_area, territory), stored in
target_status as the territory's level id; a role the territory lacks (parent) leaves it out.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from etl import periphery

if TYPE_CHECKING:
    from etl.indicators import Catalogue, Levels

DEFAULT_TARGETS = Path(__file__).resolve().parent.parent / "config" / "targets.toml"
AT_RISK_SHARE = 0.5
EPS = 1e-9
STATUS_COLUMNS = ["target_id", "objective", "indicator_id", "level", "area_id", "baseline", "baseline_date",
                  "target_value", "deadline", "current_value", "expected_value", "status", "rule"]
RULE = ("Atteso = punto sulla retta da (data base, valore base) a (scadenza, target) alla data di valutazione. "
        "In linea se il valore attuale è pari o oltre l'atteso nella direzione dell'obiettivo; a rischio se ha "
        "coperto almeno il 50% del progresso atteso; fuori linea altrimenti; senza dati se il valore attuale manca. "
        "Dalla scadenza in poi: in linea solo se il target è raggiunto.")
STATUS_IT = {"on_track": "in linea", "at_risk": "a rischio", "off_track": "fuori linea", "no_data": "senza dati"}


class TargetsConfigError(ValueError):
    """config/targets.toml is malformed or refers to unknown indicators / levels."""


@dataclass(frozen=True)
class Target:
    """One [[target]] of the file."""

    target_id: str
    objective: str
    indicator_id: str
    level: str
    area_id: str
    target_value: float
    deadline: date
    baseline: float | None = None
    baseline_date: date | None = None
    note: str = ""
    territory_id: str | None = None  # None: every territory


@dataclass(frozen=True)
class TargetsConfig:
    """The parsed targets file; `file_hash` is 'none' when the file does not exist."""

    targets: tuple[Target, ...]
    file_hash: str = "none"


@dataclass(frozen=True)
class Evaluation:
    """The result of the status rule for one target."""

    status: str
    expected: float | None
    rule: str


def _as_date(value: Any, what: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise TargetsConfigError(f"{what}: data non valida {value!r} (usare AAAA-MM-GG)") from exc


def load_targets(path: Path | str = DEFAULT_TARGETS, cat: Catalogue | None = None) -> TargetsConfig:
    """Read config/targets.toml; a missing file means no targets. Checks against the catalogue."""
    path = Path(path)
    if not path.is_file():
        return TargetsConfig((), "none")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TargetsConfigError(f"{path}: TOML non valido ({exc})") from exc
    return parse_targets(data, cat, periphery.file_hash(path), str(path))


def parse_targets(data: dict[str, Any], cat: Catalogue | None = None, hash_text: str = "none",
                  where: str = "targets.toml") -> TargetsConfig:
    """Build the TargetsConfig from the TOML mapping."""
    out = []
    default_territory = data.get("territory")
    for raw in data.get("target", []):
        tid = str(raw.get("id", "?"))
        try:
            baseline = raw.get("baseline")
            t = Target(
                target_id=tid, objective=str(raw["objective"]), indicator_id=str(raw["indicator"]),
                level=str(raw["level"]), area_id=str(raw["area"]), target_value=float(raw["target"]),
                deadline=_as_date(raw["deadline"], f"{where}: {tid}"),
                baseline=None if baseline is None else float(baseline),
                baseline_date=None if raw.get("baseline_date") is None else _as_date(raw["baseline_date"], f"{where}: {tid}"),
                note=str(raw.get("note", "")),
                territory_id=None if raw.get("territory", default_territory) is None
                else str(raw.get("territory", default_territory)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, TargetsConfigError):
                raise
            raise TargetsConfigError(f"{where}: target {tid}: campo mancante o non valido ({exc})") from exc
        if (t.baseline is None) != (t.baseline_date is None):
            raise TargetsConfigError(f"{where}: target {tid}: indicare baseline e baseline_date insieme (o nessuno)")
        if t.baseline_date is not None and t.baseline_date >= t.deadline:
            raise TargetsConfigError(f"{where}: target {tid}: baseline_date deve precedere la scadenza")
        if cat is not None:
            try:
                spec = cat.spec(t.indicator_id)
            except KeyError as exc:
                raise TargetsConfigError(f"{where}: target {tid}: indicatore sconosciuto {t.indicator_id}") from exc
            if t.level not in spec.levels:
                raise TargetsConfigError(f"{where}: target {tid}: {t.indicator_id} non vale al livello {t.level} "
                                         f"(livelli: {', '.join(spec.levels)})")
        out.append(t)
    if len({t.target_id for t in out}) != len(out):
        raise TargetsConfigError(f"{where}: id di target ripetuti")
    return TargetsConfig(tuple(out), hash_text)


def _fmt(x: float) -> str:
    return f"{x:,.2f}".replace(",", " ")


def evaluate(current: float | None, baseline: float | None, baseline_date: date | None, target: float,
             deadline: date, today: date, direction: str = "higher_better") -> Evaluation:
    """Apply the status rule (module docstring) to one target. Pure."""
    if baseline is not None and baseline_date is not None:
        if target != baseline:
            sign = 1.0 if target > baseline else -1.0
        else:
            sign = -1.0 if direction == "lower_better" else 1.0
        span = (deadline - baseline_date).days
        frac = 1.0 if span <= 0 else min(max((today - baseline_date).days / span, 0.0), 1.0)
        expected: float | None = baseline + (target - baseline) * frac
        line = (f"atteso {_fmt(expected)} al {today.isoformat()} sulla retta da {_fmt(baseline)} "  # type: ignore[arg-type]
                f"({baseline_date.isoformat()}) a {_fmt(target)} ({deadline.isoformat()})")
    else:
        sign = -1.0 if direction == "lower_better" else 1.0
        expected = None
        line = "valore di base non disponibile"
    if current is None:
        return Evaluation("no_data", expected, f"{RULE} Qui: {line}; valore attuale non disponibile → senza dati.")
    reached = sign * (current - target) >= -EPS
    if today >= deadline:
        status = "on_track" if reached else "off_track"
        verb = "raggiunto" if reached else "non raggiunto"
        return Evaluation(status, target if expected is None else expected,
                          f"{RULE} Qui: scadenza {deadline.isoformat()} passata, target {_fmt(target)} {verb} "
                          f"(attuale {_fmt(current)}) → {STATUS_IT[status]}.")
    if expected is None or baseline is None:
        status = "on_track" if reached else "off_track"
        return Evaluation(status, None, f"{RULE} Qui: {line}; confronto diretto con il target → {STATUS_IT[status]}.")
    progress_expected = sign * (expected - baseline)
    progress_actual = sign * (current - baseline)
    if sign * (current - expected) >= -EPS:
        status = "on_track"
        how = f"attuale {_fmt(current)} pari o oltre l'atteso"
    elif progress_expected > EPS and progress_actual >= AT_RISK_SHARE * progress_expected - EPS:
        status = "at_risk"
        how = f"attuale {_fmt(current)} = {100 * progress_actual / progress_expected:.0f}% del progresso atteso (≥ 50%)"
    else:
        status = "off_track"
        share = 100 * progress_actual / progress_expected if progress_expected > EPS else 0.0
        how = f"attuale {_fmt(current)} = {share:.0f}% del progresso atteso (< 50%)"
    return Evaluation(status, expected, f"{RULE} Qui: {line}; {how} → {STATUS_IT[status]}.")


def _series(con: duckdb.DuckDBPyConnection, t: Target) -> pd.DataFrame:
    """Per snapshot (oldest first): date, same_as and the current-period value (with its period)."""
    return con.sql(
        """SELECT v.snapshot_id, s.created_at, s.same_as, v.period, v.value
           FROM indicator_values v JOIN snapshots s USING (snapshot_id)
           WHERE v.indicator_id = $i AND v.level = $l AND v.area_id = $a
           QUALIFY row_number() OVER (PARTITION BY v.snapshot_id ORDER BY v.period DESC NULLS FIRST) = 1
           ORDER BY s.created_at, v.snapshot_id""",
        params={"i": t.indicator_id, "l": t.level, "a": t.area_id},
    ).df()


def data_date(period: object, fallback: date) -> date:
    """31 December of a value's period (not later than `fallback`), or `fallback` when undated."""
    if period is None or pd.isna(period):  # type: ignore[arg-type]
        return fallback
    return min(date(int(period), 12, 31), fallback)  # type: ignore[call-overload]


def evaluate_targets(con: duckdb.DuckDBPyConnection, snapshot_id: str, cfg: TargetsConfig, cat: Catalogue,
                     today: date, levels: Levels | None = None) -> pd.DataFrame:
    """Status of every target of the territory in the snapshot (rows for target_status without snapshot_id).

    The snapshot's indicator values and the copied-forward history must already be stored. A
    target's level is a catalogue role, stored as the territory's level id (`levels`; default:
    the default profile's); targets of another territory are left out.
    """
    from etl.indicators import Levels

    lv = levels or Levels.default()
    rows = []
    for t0 in cfg.targets:
        if t0.territory_id is not None and t0.territory_id != lv.territory_id:
            continue
        stored = lv.level_of(t0.level)
        if stored is None:
            continue  # e.g. a 'parent' target in a one-level territory
        t = replace(t0, level=stored)
        series = _series(con, t)
        cur = series[series["snapshot_id"] == snapshot_id]
        current = None if cur.empty or pd.isna(cur["value"].iloc[0]) else float(cur["value"].iloc[0])
        at = data_date(cur["period"].iloc[0], today) if current is not None else today
        baseline, baseline_date = t.baseline, t.baseline_date
        if baseline is None:
            known = series[series["value"].notna() & series["same_as"].isna()]
            if not known.empty:
                baseline = float(known["value"].iloc[0])
                baseline_date = data_date(known["period"].iloc[0], pd.Timestamp(known["created_at"].iloc[0]).date())
        if baseline_date is not None and at < baseline_date:
            at = baseline_date
        ev = evaluate(current, baseline, baseline_date, t.target_value, t.deadline, at, cat.spec(t.indicator_id).direction)
        rows.append({"target_id": t.target_id, "objective": t.objective, "indicator_id": t.indicator_id,
                     "level": t.level, "area_id": t.area_id, "baseline": baseline, "baseline_date": baseline_date,
                     "target_value": t.target_value, "deadline": t.deadline, "current_value": current,
                     "expected_value": ev.expected, "status": ev.status, "rule": ev.rule})
    frame = pd.DataFrame(rows, columns=STATUS_COLUMNS)
    for col in ("baseline", "current_value", "expected_value", "target_value"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for col in ("baseline_date", "deadline"):
        frame[col] = pd.to_datetime(frame[col]).dt.date if len(frame) else frame[col]
    return frame
