"""Evaluation of an action: a difference in differences on its areas' indicator (pure, typed functions).

Areas are those of the territory's finest level (Milan: NIL; Cremona: comuni). Which areas an action
treats (`resolve_actions`): an area of the finest level it names; for a place (a vacant building, a
makerspace, a hub) the area the place lies in; for an area of the parent level (e.g. a Municipio) every
finest area inside it. An action that cannot be evaluated is listed with its reason (`NotEvaluable`:
no start date, no indicator, no place, or places not located in this build's areas).

Method (written out on the page):
- the treated areas are the action's areas (their mean when there are several); the comparison areas
  are the areas of the same periphery class(es) with no action of the register and with a value both
  before and after the start;
- before = the latest observation dated before the start date; after = the latest observation
  dated on or after it (an observation's date is the data's date: 31 December of its period, or the
  snapshot's day for undated values);
- change = after − before; effect = change in the action's areas − mean change in the comparison areas.
Caveats in plain words: no value before or after the start (nothing to say), fewer than MIN_AREAS
comparison areas, a single observation before the start (the trends before the action cannot be
compared), comparison areas observed at other dates than the action's areas, treated areas of
different periphery classes (the comparison mixes them), some treated areas without data.

Actions are read through a small adapter (`ActionRef`: action id, area id(s), start date, indicator ids),
so the function does not depend on how the register stores them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import fmean
from typing import Any

MIN_AREAS = 5


BASES = ("area", "place", "parent")  # how an action's areas were found: named area, a place's area, a parent's areas


@dataclass(frozen=True)
class ActionRef:
    """What the evaluation needs of an action: its treated areas of the finest level (`areas`; just
    `district_id` when empty), start date, indicators, and how the areas were found (`basis`)."""

    action_id: str
    district_id: int
    start: date
    indicator_ids: tuple[str, ...]
    title: str = ""
    areas: tuple[int, ...] = ()
    basis: tuple[str, ...] = ("area",)

    @property
    def treated_areas(self) -> tuple[int, ...]:
        return self.areas or (self.district_id,)


@dataclass(frozen=True)
class NotEvaluable:
    """A register action the evaluation cannot use, and why (i18n key ev_why_<reason>)."""

    action_id: str
    title: str
    reason: str  # 'no_start', 'no_indicators', 'no_place', 'not_located'


@dataclass(frozen=True)
class Observation:
    """One area's value of one indicator at a data date."""

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
    treated_areas: tuple[AreaChange, ...] = ()  # each treated area with a value before and after
    n_treated: int = 1                           # treated areas of the action (with or without data)

    @property
    def n_comparison(self) -> int:
        return len(self.comparison)

    @property
    def comparison_change(self) -> float | None:
        return fmean(c.change for c in self.comparison) if self.comparison else None

    @property
    def effect(self) -> float | None:
        """Change in the action's areas minus the mean change in the comparison areas (None when unknown)."""
        if self.treated is None or self.comparison_change is None:
            return None
        return self.treated.change - self.comparison_change

    @property
    def conclusive(self) -> bool:
        """True when the numbers can be read: a change in the action's areas, more than one value before the start
        and at least MIN_AREAS comparison areas."""
        blocking = {"no_data", "no_before", "no_after", "few_areas", "no_class", "single_before"}
        return self.effect is not None and not blocking & set(self.caveats)

    @property
    def data_dates(self) -> tuple[date, ...]:
        """Every data date used (action's areas and comparison areas), sorted."""
        used = (self.treated_areas or ((self.treated,) if self.treated else ())) + self.comparison
        days = {d for c in used for d in (c.before_day, c.after_day)}
        return tuple(sorted(days))


def actions_from_rows(rows: Iterable[tuple[Any, Any, Any, Sequence[str]] | tuple[Any, Any, Any, Sequence[str], str]]
                      ) -> list[ActionRef]:
    """The adapter: (action id, area id, start date, indicator ids[, title]) rows → ActionRef; rows without an
    area or a start date are left out (they cannot be evaluated)."""
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


def _mean_change(changes: Sequence[AreaChange]) -> AreaChange | None:
    """Several treated areas as one: mean value before and after, the latest dates (None when none)."""
    if not changes:
        return None
    if len(changes) == 1:
        return changes[0]
    return AreaChange(changes[0].district_id, max(c.before_day for c in changes), fmean(c.before for c in changes),
                      max(c.after_day for c in changes), fmean(c.after for c in changes))


def did(action: ActionRef, indicator_id: str, observations: Iterable[Observation], classes: Mapping[int, str],
        treated_nils: Iterable[int] = ()) -> DidResult:
    """The difference in differences of one action on one indicator (see the module docstring)."""
    by_area: dict[int, list[Observation]] = {}
    for o in observations:
        by_area.setdefault(int(o.district_id), []).append(o)
    areas = action.treated_areas
    per_area: list[AreaChange] = []
    n_before = n_after = 0
    for area in areas:
        change, before, after = _change(by_area.get(area, []), action.start)
        n_before, n_after = max(n_before, before), max(n_after, after)
        if change is not None:
            per_area.append(change)
    treated = _mean_change(per_area)
    caveats: list[str] = []
    if n_before == 0 and n_after == 0:
        caveats.append("no_data")  # no value at all in the action's areas: say that, not 'before' and 'after'
    elif n_before == 0:
        caveats.append("no_before")
    elif n_after == 0:
        caveats.append("no_after")
    if treated is not None and len(per_area) < len(areas):
        caveats.append("some_treated_missing")
    treated_classes = sorted({classes[a] for a in areas if a in classes})
    excluded = {int(n) for n in treated_nils} | set(areas)
    comparison: list[AreaChange] = []
    if not treated_classes:
        caveats.append("no_class")
    else:
        if len(treated_classes) > 1:
            caveats.append("mixed_classes")
        for area, obs in sorted(by_area.items()):
            if area in excluded or classes.get(area) not in treated_classes:
                continue
            change, _, _ = _change(obs, action.start)
            if change is not None:
                comparison.append(change)
        if len(comparison) < MIN_AREAS:
            caveats.append("few_areas")
    if treated is not None and n_before == 1:
        caveats.append("single_before")
    if treated is not None and any((c.before_day, c.after_day) != (treated.before_day, treated.after_day)
                                   for c in comparison + per_area):
        caveats.append("other_dates")
    return DidResult(action.action_id, indicator_id, action.district_id, action.start, treated, tuple(comparison),
                     ", ".join(treated_classes) or None, n_before, n_after, tuple(caveats), tuple(per_area), len(areas))


def evaluate_actions(actions: Sequence[ActionRef], observations: Mapping[str, Sequence[Observation]],
                     classes: Mapping[int, str]) -> list[DidResult]:
    """Every (action, indicator) pair; the comparison leaves out every area that has an action of the register."""
    treated = {area for a in actions for area in a.treated_areas}
    return [did(a, ind, observations.get(ind, ()), classes, treated) for a in actions for ind in a.indicator_ids]


def observations_from_rows(rows: Iterable[tuple[Any, Any, Any]]) -> list[Observation]:
    """(area id, data date, value) rows → observations; missing values are left out (never a zero); the same
    area and date given twice keeps the last row (a later snapshot of the same data)."""
    kept: dict[tuple[int, date], Observation] = {}
    for area, day, value in rows:
        if _missing(value) or area is None or day is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if number != number:  # NaN
            continue
        d = _day(day)
        kept[(int(area), d)] = Observation(int(area), d, number)
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
    snapshot's day; the same area and date in a later snapshot replaces the earlier one."""
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


def catalogue_levels(value: Any) -> list[str]:
    """The levels of an indicator_catalogue row (JSON list text, or a list); [] when unreadable."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    try:
        parsed = json.loads(str(value))
    except (TypeError, ValueError):
        return []
    return [str(v) for v in parsed] if isinstance(parsed, list) else []


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
        key = "ev_line_treated" if result.n_treated <= 1 else "ev_line_treated_many"
        lines.append(t(key, lang, before=fmt(tr.before), before_day=fmt_date(tr.before_day, lang), n=result.n_treated,
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
    lines += [t(f"ev_caveat_{c}", lang, min=MIN_AREAS, n=result.n_comparison, treated=result.n_treated,
                with_data=len(result.treated_areas)) for c in result.caveats]
    return lines


POINT_KINDS = ("vacant", "makerspace", "hub")  # the places an action can name besides areas (programme_store)


def resolve_actions(actions: Iterable[Any], places: Any, fine_level: str, parent_level: str | None = None
                    ) -> tuple[list[ActionRef], list[NotEvaluable]]:
    """Register actions (osservatorio.programme_store Action objects) → the evaluable ones with their treated
    areas of the finest level, and the others with their reason.

    `places` is the place index (osservatorio.programme.read_place_index: kind, ref, district_id, parent_id):
    an area of `fine_level` is treated itself; an area of `parent_level` treats every finest area whose
    parent it is; a vacant building, makerspace or hub treats the area it lies in (one known only by its parent
    area, e.g. a confiscated property with just its Municipio, treats that parent's areas). A place not in this
    build (or an area kind the territory does not have) is not located."""
    fine_rows: set[int] = set()
    by_parent: dict[int, list[int]] = {}
    point_area: dict[tuple[str, str], int] = {}
    point_parent: dict[tuple[str, str], int] = {}
    for kind, ref, district, parent in zip(places["kind"], places["ref"], places["district_id"], places["parent_id"],
                                           strict=True):
        if kind == fine_level and str(ref).isdigit():
            fine_rows.add(int(ref))
            if not _missing(parent):
                by_parent.setdefault(int(parent), []).append(int(ref))
        elif kind in POINT_KINDS and not _missing(district):
            point_area[(str(kind), str(ref))] = int(district)
        elif kind in POINT_KINDS and not _missing(parent):  # e.g. a confiscated property known only by its Municipio
            point_parent[(str(kind), str(ref))] = int(parent)
    ok: list[ActionRef] = []
    out: list[NotEvaluable] = []
    for a in actions:
        aid, title = str(a.action_id), str(a.title)
        if a.start_date is None:
            out.append(NotEvaluable(aid, title, "no_start"))
            continue
        if not a.indicators:
            out.append(NotEvaluable(aid, title, "no_indicators"))
            continue
        if not a.places:
            out.append(NotEvaluable(aid, title, "no_place"))
            continue
        areas: list[int] = []
        basis: list[str] = []
        for p in a.places:
            found: list[int] = []
            if p.kind == fine_level and str(p.ref).isdigit() and int(p.ref) in fine_rows:
                found, how = [int(p.ref)], "area"
            elif parent_level is not None and p.kind == parent_level and str(p.ref).isdigit():
                found, how = sorted(by_parent.get(int(p.ref), [])), "parent"
            elif p.kind in POINT_KINDS and (p.kind, p.ref) in point_area:
                found, how = [point_area[(p.kind, p.ref)]], "place"
            elif p.kind in POINT_KINDS and (p.kind, p.ref) in point_parent:
                found, how = sorted(by_parent.get(point_parent[(p.kind, p.ref)], [])), "parent"
            if found:
                areas.extend(x for x in found if x not in areas)
                if how not in basis:
                    basis.append(how)
        if not areas:
            out.append(NotEvaluable(aid, title, "not_located"))
            continue
        ok.append(ActionRef(aid, areas[0], _day(a.start_date), tuple(str(i) for i in a.indicators), title, tuple(areas),
                            tuple(basis)))
    return ok, out


def register_actions(places: Any, fine_level: str, parent_level: str | None = None, demo: bool = False
                     ) -> tuple[list[ActionRef], list[NotEvaluable]]:
    """Actions of the programme register (osservatorio.programme_store), resolved on the place index
    (`resolve_actions`); ([], []) when the register is absent or cannot be read (the page then offers to try
    the method)."""
    try:
        from osservatorio.board_store import BoardStoreError
        from osservatorio.programme_store import ProgrammeStore
    except ImportError:
        return [], []
    try:
        actions = ProgrammeStore.from_env(demo=demo).actions()
    except BoardStoreError:
        return [], []
    return resolve_actions(actions, places, fine_level, parent_level)
