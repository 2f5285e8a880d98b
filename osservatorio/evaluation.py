"""Evaluation of an action: a difference in differences on its NIL's indicator (pure, typed functions).

Method (written out on the page, `METHOD`):
- the treated area is the action's NIL; the comparison areas are the NIL of the same periphery class
  with no action of the register and with a value both before and after the start;
- before = the latest observation dated before the start date; after = the latest observation
  dated on or after it (an observation's date is the data's date: 31 December of its period, or the
  snapshot's day for undated values);
- change = after − before; effect = change in the action's NIL − mean change in the comparison NIL.
Caveats in plain words: no value before or after the start (nothing to say), fewer than MIN_AREAS
comparison areas, a single observation before the start (the trends before the action cannot be
compared), comparison areas observed at other dates than the action's NIL.

Actions are read through a small adapter (`ActionRef`: action id, NIL id, start date, indicator ids),
so the function does not depend on how the register stores them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import fmean
from typing import Any

MIN_AREAS = 5


@dataclass(frozen=True)
class ActionRef:
    """What the evaluation needs of an action."""

    action_id: str
    district_id: int
    start: date
    indicator_ids: tuple[str, ...]
    title: str = ""


@dataclass(frozen=True)
class Observation:
    """One NIL's value of one indicator at a data date."""

    district_id: int
    day: date
    value: float


@dataclass(frozen=True)
class AreaChange:
    district_id: int
    before_day: date
    before: float
    after_day: date
    after: float

    @property
    def change(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class DidResult:
    """The difference in differences for one action and one indicator."""

    action_id: str
    indicator_id: str
    district_id: int
    start: date
    treated: AreaChange | None
    comparison: tuple[AreaChange, ...]
    comparison_class: str | None
    points_before: int
    points_after: int
    caveats: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_comparison(self) -> int:
        return len(self.comparison)

    @property
    def comparison_change(self) -> float | None:
        return fmean(c.change for c in self.comparison) if self.comparison else None

    @property
    def effect(self) -> float | None:
        """Change in the action's NIL minus the mean change in the comparison NIL (None when unknown)."""
        if self.treated is None or self.comparison_change is None:
            return None
        return self.treated.change - self.comparison_change

    @property
    def conclusive(self) -> bool:
        """True when the numbers can be read: a change in the NIL, more than one value before the start and at
        least MIN_AREAS comparison areas."""
        blocking = {"no_before", "no_after", "few_areas", "no_class", "single_before"}
        return self.effect is not None and not blocking & set(self.caveats)

    @property
    def data_dates(self) -> tuple[date, ...]:
        """Every data date used (action's NIL and comparison areas), sorted."""
        days = {d for c in ((self.treated,) if self.treated else ()) + self.comparison for d in (c.before_day, c.after_day)}
        return tuple(sorted(days))


def actions_from_rows(rows: Iterable[tuple[Any, Any, Any, Sequence[str]] | tuple[Any, Any, Any, Sequence[str], str]]
                      ) -> list[ActionRef]:
    """The adapter: (action id, NIL id, start date, indicator ids[, title]) rows → ActionRef; rows without a
    NIL or a start date are left out (they cannot be evaluated)."""
    out = []
    for row in rows:
        action_id, district_id, start, indicators = row[0], row[1], row[2], row[3]
        if district_id in (None, "") or start in (None, ""):
            continue
        day = _day(start)
        out.append(ActionRef(str(action_id), int(district_id), day, tuple(str(i) for i in indicators or ()),
                             str(row[4]) if len(row) > 4 else ""))  # type: ignore[misc]
    return out


def _day(value: Any) -> date:
    """A date from a date, a datetime / pandas Timestamp or ISO text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _change(obs: Sequence[Observation], start: date) -> tuple[AreaChange | None, int, int]:
    before = sorted((o for o in obs if o.day < start), key=lambda o: o.day)
    after = sorted((o for o in obs if o.day >= start), key=lambda o: o.day)
    if not before or not after:
        return None, len(before), len(after)
    b, a = before[-1], after[-1]
    return AreaChange(b.district_id, b.day, b.value, a.day, a.value), len(before), len(after)


def did(action: ActionRef, indicator_id: str, observations: Iterable[Observation], classes: Mapping[int, str],
        treated_nils: Iterable[int] = ()) -> DidResult:
    """The difference in differences of one action on one indicator (see the module docstring)."""
    by_nil: dict[int, list[Observation]] = {}
    for o in observations:
        by_nil.setdefault(int(o.district_id), []).append(o)
    treated, n_before, n_after = _change(by_nil.get(action.district_id, []), action.start)
    caveats: list[str] = []
    if n_before == 0:
        caveats.append("no_before")
    if n_after == 0:
        caveats.append("no_after")
    klass = classes.get(action.district_id)
    excluded = {int(n) for n in treated_nils} | {action.district_id}
    comparison: list[AreaChange] = []
    if klass is None:
        caveats.append("no_class")
    else:
        for nil, obs in sorted(by_nil.items()):
            if nil in excluded or classes.get(nil) != klass:
                continue
            change, _, _ = _change(obs, action.start)
            if change is not None:
                comparison.append(change)
        if len(comparison) < MIN_AREAS:
            caveats.append("few_areas")
    if treated is not None and n_before == 1:
        caveats.append("single_before")
    if treated is not None and any((c.before_day, c.after_day) != (treated.before_day, treated.after_day) for c in comparison):
        caveats.append("other_dates")
    return DidResult(action.action_id, indicator_id, action.district_id, action.start, treated, tuple(comparison), klass,
                     n_before, n_after, tuple(caveats))


def evaluate_actions(actions: Sequence[ActionRef], observations: Mapping[str, Sequence[Observation]],
                     classes: Mapping[int, str]) -> list[DidResult]:
    """Every (action, indicator) pair; the comparison leaves out every NIL that has an action of the register."""
    treated = {a.district_id for a in actions}
    return [did(a, ind, observations.get(ind, ()), classes, treated) for a in actions for ind in a.indicator_ids]


def observations_from_rows(rows: Iterable[tuple[Any, Any, Any]]) -> list[Observation]:
    """(NIL id, data date, value) rows → observations; missing values are left out (never a zero); the same
    NIL and date given twice keeps the last row (a later snapshot of the same data)."""
    kept: dict[tuple[int, date], Observation] = {}
    for nil, day, value in rows:
        if _missing(value) or nil is None or day is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if number != number:  # NaN
            continue
        d = _day(day)
        kept[(int(nil), d)] = Observation(int(nil), d, number)
    return list(kept.values())


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN
    except TypeError:  # pandas.NA
        return True


def observations_from_snapshots(frames: Iterable[tuple[date, Any]]) -> list[Observation]:
    """Observations from (snapshot day, values frame with area_id / period / value), oldest snapshot first:
    a value with a period is dated 31 December of it (not later than the snapshot), an undated one by the
    snapshot's day; the same NIL and date in a later snapshot replaces the earlier one."""
    rows: list[tuple[Any, Any, Any]] = []
    for snap_day, frame in frames:
        for area, period, value in zip(frame["area_id"], frame["period"], frame["value"], strict=True):
            if not str(area).isdigit():
                continue
            if _missing(period):  # None / NaN / NA: undated
                day = snap_day
            else:
                day = min(date(int(period), 12, 31), snap_day)
            rows.append((int(area), day, value))
    return observations_from_rows(rows)


def default_start(observations: Iterable[Observation]) -> date | None:
    """The day after the second-latest data date (so before / after span the latest change), or None."""
    days = sorted({o.day for o in observations})
    return days[-2] + timedelta(days=1) if len(days) >= 2 else None


def summary_lines(result: DidResult, lang: str, fmt: Any = str) -> list[str]:
    """The result in words (the page language): changes, effect, comparison areas, data dates, caveats."""
    from osservatorio.i18n import fmt_date, t

    lines = []
    if result.treated is not None:
        tr = result.treated
        lines.append(t("ev_line_treated", lang, before=fmt(tr.before), before_day=fmt_date(tr.before_day, lang),
                       after=fmt(tr.after), after_day=fmt_date(tr.after_day, lang), change=fmt(tr.change)))
    if result.comparison_change is not None:
        lines.append(t("ev_line_comparison", lang, n=result.n_comparison, change=fmt(result.comparison_change),
                       klass=result.comparison_class or "–"))
    else:
        lines.append(t("ev_line_no_comparison", lang, n=result.n_comparison, klass=result.comparison_class or "–"))
    if result.effect is not None:
        lines.append(t("ev_line_effect", lang, effect=fmt(result.effect)))
    if result.data_dates:
        lines.append(t("ev_line_dates", lang, dates=", ".join(fmt_date(d, lang) for d in result.data_dates)))
    lines += [t(f"ev_caveat_{c}", lang, min=MIN_AREAS, n=result.n_comparison) for c in result.caveats]
    return lines


def action_rows(actions: Iterable[Any]) -> list[tuple[str, int | None, date | None, tuple[str, ...], str]]:
    """(action id, NIL id, start date, indicator ids, title) of register actions (osservatorio.programme_store
    Action objects): the NIL is the first place of kind 'nil' (None when the action names no NIL)."""
    rows = []
    for a in actions:
        nil = next((p.ref for p in getattr(a, "places", ()) if p.kind == "nil" and str(p.ref).isdigit()), None)
        rows.append((str(a.action_id), None if nil is None else int(nil), a.start_date, tuple(a.indicators),
                     str(a.title)))
    return rows


def register_actions(demo: bool = False) -> list[ActionRef]:
    """Actions of the programme register (osservatorio.programme_store) with a NIL and a start date;
    [] when the register is absent or cannot be read (the page then offers to try the method)."""
    try:
        from osservatorio.board_store import BoardStoreError
        from osservatorio.programme_store import ProgrammeStore
    except ImportError:
        return []
    try:
        return actions_from_rows(action_rows(ProgrammeStore.from_env(demo=demo).actions()))
    except BoardStoreError:
        return []
