"""Board pack: a review session as one self-contained HTML file (offline, printable) and as PDF. No Streamlit.

The HTML carries everything it needs: plotly.js is inlined once, the figures are embedded as JSON
and drawn by one script, a Content-Security-Policy forbids every network request, and print CSS
starts each section on a new page. Every string that comes from users or from the data (titles,
names, notes, source notes) goes through `html.escape`; figure JSON is embedded with "</" escaped.

The pack names the warehouse's territory and shows its finest level (maps, movements) and its
whole-territory figures; it lists the programme's actions (status, line, places, funding), their
evaluation (osservatorio.evaluation) and the decisions taken in the session.

Maps are drawn as filled SVG polygons on longitude/latitude axes (aspect corrected for the map's
latitude), not with MapLibre traces: MapLibre starts a Web Worker from a blob: URL, which Chrome
and Edge refuse on a page opened from file:// (maplibre-gl-js issue #3680), so a board pack
opened from a downloads folder would show empty maps. SVG maps also print crisply in the PDF.

The PDF is the same HTML printed by Debian's chromium through Playwright (`page.pdf`);
`pdf_status()` says whether that is possible here and why not. A render is a ~10 s chromium run, so
it is bounded: off in read-only mode, one at a time per process and one per browser session every
PDF_COOLDOWN_S (`pdf_slot`).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.offline
from plotly.colors import sample_colorscale

from osservatorio import evaluation, exports, maps, review
from osservatorio.board_store import BoardStore, BoardStoreError, Note, Session
from osservatorio.calibration import CalibrationStore, Revision, revisions_table
from osservatorio.data import BuildInfo
from osservatorio.i18n import fmt_date, t
from osservatorio.programme_store import Action, ActionChange, ProgrammeStore
from osservatorio.review import Comparison, WarehouseReader
from osservatorio.territory import TERRITORY_LEVEL, Territory

CHROMIUM_ENV = "OSSERVATORIO_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SECTIONS = ("cover", "changes", "targets", "revisions", "actions", "maps", "notes", "sources")
FIGURE_WIDTH = 680   # px: fits an A4 portrait page with 15 mm margins
MAP_HEIGHT = 560
MAX_MAPS = 4
TOP_MOVES = 12
COLORSCALE = "YlOrRd"
MISSING_COLOR = "#d9d9d9"
ASSESS_COLORS = maps.ASSESS_COLORS  # colour-blind-safe blue / red of the app (not green / red)
STATUS_COLORS = maps.STATUS_COLORS
PDF_COOLDOWN_S = 60.0
_PDF_SLOT = threading.BoundedSemaphore(1)  # one chromium per server process
CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:; connect-src 'none'")


class PdfUnavailable(RuntimeError):
    """The PDF cannot be made here; `code` is the i18n key of the reason."""

    def __init__(self, message: str, code: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params: dict[str, object] = params


@dataclass(frozen=True)
class MapLayer:
    """One key indicator's values per area of the territory's finest level in the snapshot under review."""

    indicator_id: str
    title: str
    unit: str
    values: pd.DataFrame  # id (int), label, value (float or NaN), reason
    reverse: bool = False  # lower is better: darker = better would mislead, so reverse the scale


@dataclass
class BoardPack:
    """Everything the board pack shows, already read (rendering does no I/O)."""

    lang: str
    session: Session
    comparison: Comparison
    snapshots: pd.DataFrame
    notes: list[Note]
    note_labels: list[str]
    sessions: dict[int, Session]
    sources: pd.DataFrame
    build: BuildInfo
    geojson: dict
    maps: list[MapLayer] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    revisions_pending: list[Revision] = field(default_factory=list)  # target revisions awaiting a decision
    revisions_decided: list[Revision] = field(default_factory=list)  # decided in this session
    territory: Territory | None = None
    actions: list[Action] = field(default_factory=list)              # the programme register, current versions
    decisions: list[ActionChange] = field(default_factory=list)      # actions decided in this session
    evaluations: list[evaluation.DidResult] = field(default_factory=list)
    not_evaluable: list[evaluation.NotEvaluable] = field(default_factory=list)
    place_index: pd.DataFrame = field(default_factory=pd.DataFrame)
    line_names: dict[str, str] = field(default_factory=dict)
    actions_error: str | None = None                                  # the register could not be read


def assemble(reader: WarehouseReader, store: BoardStore, session: Session, comparison: Comparison, lang: str,
             generated_at: datetime | None = None, calibration_store: CalibrationStore | None = None,
             programme_store: ProgrammeStore | None = None) -> BoardPack:
    """Read what the board pack needs: the session's notes, the sources, key indicator values per area of the
    territory's finest level, the programme's actions with their evaluation and the session's decisions."""
    territory = comparison.territory or review.reader_territory(reader)
    if territory is None:
        raise review.data.WarehouseError("territorio non registrato dalla build")
    fine = territory.fine.id
    sessions = {s.session_id: s for s in store.list_sessions()}
    notes = store.list_notes(session_id=session.session_id)
    targets = comparison.targets
    labels = [review.note_target_label(n, comparison.catalogue, comparison.district_names, targets, sessions, lang, territory)
              for n in notes]
    stats = reader.district_stats(fine)
    cal = calibration_store or CalibrationStore.from_env()
    maps: list[MapLayer] = []
    if comparison.snapshot_id is not None and comparison.snapshot is not None:
        for indicator in review.key_indicators(comparison, MAX_MAPS):
            values = reader.indicator_values(comparison.snapshot_id, indicator, fine)
            by_id = {str(a): (v, r) for a, v, r in zip(values["area_id"], values["value"], values["reason"], strict=True)}
            frame = pd.DataFrame({
                "id": stats["id"].astype(int),
                "label": [f"{i} · {n}" for i, n in zip(stats["id"], stats["name"], strict=True)],
                "value": [_float(by_id.get(str(int(i)), (None, None))[0]) for i in stats["id"]],
                "reason": [by_id.get(str(int(i)), (None, None))[1] for i in stats["id"]],
            })
            direction = comparison.catalogue.loc[comparison.catalogue["indicator_id"] == indicator, "direction"]
            maps.append(MapLayer(indicator, review.indicator_label(comparison.catalogue, indicator, lang),
                                 review.indicator_unit(comparison.catalogue, indicator), frame,
                                 reverse=bool(len(direction)) and direction.iloc[0] == "lower_better"))
    pack = BoardPack(lang=lang, session=session, comparison=comparison, snapshots=reader.snapshots(), notes=notes,
                     note_labels=labels, sessions=sessions, sources=reader.sources(), build=reader.build_info(),
                     geojson=reader.map_geojson(fine), maps=maps, generated_at=generated_at or datetime.now(UTC),
                     revisions_pending=cal.revisions(state="pending"),
                     revisions_decided=cal.revisions(session_id=session.session_id), territory=territory)
    _add_actions(pack, reader, programme_store, lang)
    return pack


def _read_place_index(reader: WarehouseReader) -> tuple[pd.DataFrame, dict[str, str]]:
    """(place index, line id -> name) of the reader's warehouse (empty when the reader has no connection or key)."""
    from osservatorio import programme as pg

    con = getattr(reader, "con", None)
    key = getattr(reader, "key", None)
    if con is not None:
        index, lines = pg.read_place_index(con), pg.read_lines(con)
    elif key is not None:
        from osservatorio import queries

        index, lines = queries._q(key, pg.read_place_index), queries._q(key, pg.read_lines)
    else:
        return pd.DataFrame(columns=pg.PLACE_COLUMNS), {}
    return index, {str(i): str(n) for i, n in zip(lines["line_id"], lines["name_it"], strict=True)} | {
        f"en:{i}": str(n) for i, n in zip(lines["line_id"], lines["name_en"], strict=True)}


def _add_actions(pack: BoardPack, reader: WarehouseReader, programme_store: ProgrammeStore | None, lang: str) -> None:
    """The register's actions, the session's decisions and the evaluation of each (action, indicator) on the
    snapshots up to the one under review (what the board saw)."""
    territory = pack.territory
    assert territory is not None
    try:
        store = programme_store or ProgrammeStore.from_env(demo=pack.build.is_demo)
        pack.actions = store.actions()
        pack.decisions = store.decisions(pack.session.session_id)
    except BoardStoreError as exc:
        pack.actions_error = str(exc)
        return
    if not pack.actions:
        return
    pack.place_index, pack.line_names = _read_place_index(reader)
    parent = territory.parent
    refs, pack.not_evaluable = evaluation.resolve_actions(pack.actions, pack.place_index, territory.fine.id,
                                                          parent.id if parent else None)
    snaps = pack.snapshots
    if not refs or snaps.empty or pack.comparison.snapshot_id is None:
        return
    limit = snaps.loc[snaps["snapshot_id"] == pack.comparison.snapshot_id, "created_at"]
    chosen = snaps if limit.empty else snaps[snaps["created_at"] <= limit.iloc[0]]
    ordered = chosen.sort_values("created_at").to_dict("records")
    groups = reader.district_groups(pack.comparison.snapshot_id)
    klass = groups[groups["group_level"] == "periphery_class"] if not groups.empty else groups
    classes = {int(n): str(g) for n, g in zip(klass.get("district_id", []), klass.get("group_name", []), strict=True)}
    observations: dict[str, list[evaluation.Observation]] = {}
    for indicator in sorted({i for r in refs for i in r.indicator_ids}):
        frames = []
        for s in ordered:
            day = pd.Timestamp(s["created_at"]).date()
            frames.append((day, reader.indicator_values(str(s["snapshot_id"]), indicator, territory.fine.id)))
        observations[indicator] = evaluation.observations_from_snapshots(frames)
    pack.evaluations = evaluation.evaluate_actions(refs, observations, classes)


def _float(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number


# --- figures -----------------------------------------------------------------------------------------------

def _rings(geometry: dict) -> list[list[list[float]]]:
    """Outer rings of a Polygon / MultiPolygon (holes are covered by the districts drawn inside them)."""
    if geometry.get("type") == "Polygon":
        return [geometry["coordinates"][0]] if geometry["coordinates"] else []
    if geometry.get("type") == "MultiPolygon":
        return [poly[0] for poly in geometry["coordinates"] if poly]
    return []


def _ring_area(ring: Sequence[Sequence[float]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in zip(ring, ring[1:], strict=False))) / 2


def svg_choropleth(geojson: dict, layer: MapLayer, lang: str, title: str | None = None) -> go.Figure:
    """A choropleth as filled SVG polygons (one trace per district, largest first so enclosed districts
    stay visible); districts without a value are grey with the reason in the hover text."""
    values = dict(zip(layer.values["id"], layer.values["value"], strict=True))
    labels = dict(zip(layer.values["id"], layer.values["label"], strict=True))
    reasons = dict(zip(layer.values["id"], layer.values["reason"], strict=True))
    present = [v for v in values.values() if not math.isnan(v)]
    low, high = (min(present), max(present)) if present else (0.0, 1.0)
    span = high - low if high > low else 1.0
    scale = COLORSCALE + ("_r" if layer.reverse else "")
    features = []
    for feature in geojson.get("features", []):
        rings = _rings(feature.get("geometry") or {})
        if rings:
            features.append((max(_ring_area(r) for r in rings), feature["id"], rings))
    fig = go.Figure()
    _minx, miny, _maxx, maxy = maps.bounds_of(geojson)
    lat0 = (miny + maxy) / 2
    for _area, fid, rings in sorted(features, key=lambda f: -f[0]):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for ring in rings:
            xs.extend([round(p[0], 5) for p in ring] + [None])
            ys.extend([round(p[1], 5) for p in ring] + [None])
        value = values.get(int(fid), math.nan)
        if math.isnan(value):
            color = MISSING_COLOR
            reason = reasons.get(int(fid))
            hover = f"{labels.get(int(fid), fid)}<br>{t('no_data', lang)}" + (f": {reason}" if isinstance(reason, str) else "")
        else:
            color = sample_colorscale(scale, [(value - low) / span])[0]
            hover = f"{labels.get(int(fid), fid)}<br>{review.fmt_value(value, lang)} {layer.unit}"
        fig.add_trace(go.Scatter(x=xs[:-1], y=ys[:-1], mode="lines", fill="toself", fillcolor=color,
                                 line={"color": "white", "width": 0.6}, hoveron="fills", hoverinfo="text",
                                 text=html.escape(hover, quote=False).replace("&lt;br&gt;", "<br>"),
                                 showlegend=False, name=""))
    fig.add_trace(go.Scatter(
        x=[None], y=[None], mode="markers", hoverinfo="skip", showlegend=False,
        marker={"colorscale": scale, "cmin": low, "cmax": high, "color": [low], "showscale": bool(present),
                "colorbar": {"title": {"text": html.escape(layer.unit)}, "thickness": 14}},
    ))
    fig.update_layout(
        title={"text": html.escape(title or layer.title), "font": {"size": 14}}, width=FIGURE_WIDTH, height=MAP_HEIGHT,
        margin={"l": 5, "r": 5, "t": 40, "b": 5}, plot_bgcolor="white", paper_bgcolor="white", dragmode=False,
        xaxis={"visible": False, "fixedrange": True},
        yaxis={"visible": False, "fixedrange": True, "scaleanchor": "x", "scaleratio": 1 / math.cos(math.radians(lat0))},
    )
    return fig


def movements_chart(moves: pd.DataFrame, catalogue: pd.DataFrame, names: dict[str, str], lang: str,
                    territory: Territory | None = None) -> go.Figure:
    """Horizontal bars of the biggest movements (change in units of the indicator's spread)."""
    top = moves.iloc[::-1]
    labels = [html.escape(f"{review.indicator_label(catalogue, i, lang)} · {review.area_label(None, a, names, lang, territory)}")
              for i, a in zip(top["indicator_id"], top["area_id"], strict=True)]
    hover = [html.escape(f"{review.fmt_value(p, lang)} → {review.fmt_value(c, lang)} ({review.fmt_change(d, lang)})")
             for p, c, d in zip(top["previous"], top["current"], top["change"], strict=True)]
    scaled = [0.0 if math.isnan(float(s)) else float(s) for s in top["scaled_change"]]
    fig = go.Figure(go.Bar(x=scaled, y=labels, orientation="h", text=hover, hoverinfo="text+y", textposition="none",
                           marker={"color": [ASSESS_COLORS.get(a, "#7f7f7f") for a in top["assessment"]]}))
    fig.update_layout(width=FIGURE_WIDTH, height=max(220, 34 * len(top) + 90),
                      title={"text": html.escape(t("rv_chart_moves", lang)), "font": {"size": 14}},
                      margin={"l": 10, "r": 10, "t": 40, "b": 40}, plot_bgcolor="white", paper_bgcolor="white",
                      xaxis={"title": {"text": html.escape(t("rv_chart_moves_axis", lang))}, "zeroline": True,
                             "gridcolor": "#eeeeee", "fixedrange": True},
                      yaxis={"automargin": True, "fixedrange": True}, dragmode=False)
    return fig


# --- HTML --------------------------------------------------------------------------------------------------

def e(value: object) -> str:
    """Escape any value for HTML text or attribute context."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return html.escape(review.plain_text(value), quote=True)


def _cell(value: object, lang: str, pct: bool) -> tuple[str, str]:
    """(display text, css class) of one table cell: numbers right-aligned, short words never broken,
    missing values '–'."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "–", ""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return review.fmt_value(float(value), lang) + ("%" if pct else ""), "num"
    text = str(value) or "–"
    return text, ("nowrap" if len(text) <= 16 and " " not in text else "")


def _table(frame: pd.DataFrame, lang: str, css: str = "", pct_columns: Sequence[str] = ()) -> str:
    """A DataFrame as an HTML table: every header and cell escaped, numbers formatted for `lang`
    (decimal comma in Italian) and right-aligned."""
    if frame.empty:
        return ""
    head = "".join(f"<th>{e(c)}</th>" for c in frame.columns)
    pct = [c in pct_columns for c in frame.columns]
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for value, is_pct in zip(row, pct, strict=True):
            text, css_class = _cell(value, lang, is_pct)
            cells.append(f"<td class=\"{css_class}\">{e(text)}</td>" if css_class else f"<td>{e(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class=\"{e(css)}\"><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _p(text: str, css: str = "") -> str:
    return f"<p class=\"{e(css)}\">{e(text)}</p>" if css else f"<p>{e(text)}</p>"


def _figure_json(fig: go.Figure) -> Any:
    return json.loads(fig.to_json())


def _cover(pack: BoardPack) -> str:
    lang, s, c = pack.lang, pack.session, pack.comparison
    rows = [
        (t("rv_cover_territory", lang), pack.territory.name(lang) if pack.territory else "–"),
        (t("rv_cover_date", lang), fmt_date(s.held_on, lang)),
        (t("rv_cover_participants", lang), ", ".join(s.participants) or "–"),
        (t("rv_cover_snapshot", lang), review.snapshot_label(pack.snapshots, c.snapshot_id, lang)),
        (t("rv_cover_compare", lang), review.snapshot_label(pack.snapshots, c.compare_id, lang)),
        (t("rv_cover_build", lang), f"{pack.build.build_id} ({pack.build.mode})"),
        (t("rv_cover_created", lang), f"{s.created_by}, {review.fmt_timestamp(s.created_at, lang)}"),
        (t("rv_cover_generated", lang), review.fmt_timestamp(pack.generated_at, lang)),
    ]
    facts = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    if pack.build.is_demo:
        demo = f"<p class=\"warning\">{e(t('demo_banner', lang))}</p>"
    else:  # attribution and licence of the official sources (CC BY asks for it wherever the data go)
        from osservatorio.ui import origin_line  # the same line as under every page title

        origin = origin_line(pack.sources[pack.sources["status"] == "loaded"] if "status" in pack.sources.columns
                             else pack.sources, lang)
        demo = f"<p class=\"origin\">{e(t('data_origin', lang, origin=origin))}</p>" if origin else ""
    toc = "".join(f"<li><a href=\"#{sid}\">{e(t(f'rv_section_{sid}', lang))}</a></li>" for sid in SECTIONS[1:])
    return (f"<section id=\"cover\" class=\"cover\"><p class=\"kicker\">{e(t('app_title', lang))} · "
            f"{e(t('rv_pack_kicker', lang))}</p><h1>{e(s.title)}</h1>{demo}<table class=\"facts\">{facts}</table>"
            f"<nav><h2>{e(t('rv_pack_contents', lang))}</h2><ol>{toc}</ol></nav></section>")


def _changes(pack: BoardPack, figures: dict[str, Any]) -> str:
    lang, c = pack.lang, pack.comparison
    parts = [f"<section id=\"changes\"><h2>{e(t('rv_section_changes', lang))}</h2>"]
    if not c.comparable:
        parts.append(_p(t("rv_no_comparison", lang), "muted"))
        return "".join(parts) + "</section>"
    if c.same_snapshot:
        parts.append(_p(t("rv_same_snapshot", lang), "muted"))
    summary = c.summary()
    items = [(t(f"rv_sum_{k}", lang), v) for k, v in summary.items()]
    parts.append("<ul class=\"summary\">" + "".join(f"<li><strong>{e(v)}</strong> {e(k)}</li>" for k, v in items) + "</ul>")
    # City level, one row per indicator that moved
    city = c.city[c.city["kind"] != "unchanged"]
    parts.append(f"<h3>{e(t('rv_city_title', lang, territory=pack.territory.name(lang) if pack.territory else ''))}</h3>")
    if city.empty:
        parts.append(_p(t("rv_no_movements", lang), "muted"))
    else:
        table = review.movement_table(city, c.catalogue, c.district_names, lang, level=TERRITORY_LEVEL, territory=pack.territory)
        table = table.drop(columns=[t("rv_col_area", lang), t("rv_col_scaled", lang)])
        parts.append(_table(table, lang, pct_columns=[t("rv_col_pct", lang)]))
    # Districts: the biggest movements
    top = review.top_movements(c.moves, TOP_MOVES)
    parts.append(f"<h3>{e(t('rv_moves_title', lang))}</h3>")
    if top.empty:
        parts.append(_p(t("rv_no_movements", lang), "muted"))
    else:
        parts.append(_p(t("rv_moves_help", lang), "muted"))
        figures["fig-moves"] = _figure_json(movements_chart(top, c.catalogue, c.district_names, lang, pack.territory))
        parts.append("<div class=\"figure\" id=\"fig-moves\"></div>")
        table = review.movement_table(top, c.catalogue, c.district_names, lang, territory=pack.territory).drop(
            columns=[t("rv_col_pct", lang)])
        parts.append(_table(table, lang))
    # Places
    parts.append(f"<h3>{e(t('rv_places_title', lang))}</h3>")
    parts.append(_places(pack))
    # Data changes that may explain movements
    parts.append(f"<h3>{e(t('rv_data_title', lang))}</h3>")
    sources = review.source_change_table(c.sources, lang)
    changes = review.data_change_table(c, lang)
    if sources.empty and changes.empty:
        parts.append(_p(t("rv_no_data_changes", lang), "muted"))
    else:
        parts.append(_table(sources, lang))
        parts.append(_table(changes, lang))
    return "".join(parts) + "</section>"


def _places(pack: BoardPack) -> str:
    lang, c = pack.lang, pack.comparison
    diff = c.places
    if not diff.available:
        text = [_p(t("rv_places_unavailable", lang, snapshots=", ".join(diff.missing) or "–"), "muted")]
        for theme in diff.inferred_unchanged:
            text.append(_p(t("rv_places_inferred", lang, theme=t(f"rv_theme_{theme}", lang)), "muted"))
        return "".join(text)
    out = []
    counts = diff.counts()
    out.append("<ul class=\"summary\">" + "".join(
        f"<li>{e(t(f'rv_theme_{th}', lang))}: <strong>+{n}</strong> / <strong>−{lost}</strong></li>"
        for th, (n, lost) in counts.items()) + "</ul>")
    for key, frame in (("rv_places_new", diff.new), ("rv_places_lost", diff.lost)):
        out.append(f"<h4>{e(t(key, lang))}</h4>")
        out.append(_table(review.place_table(frame, c.district_names, lang, pack.territory), lang) if not frame.empty
                   else _p(t("rv_none", lang), "muted"))
    return "".join(out)


def _targets(pack: BoardPack) -> str:
    lang, c = pack.lang, pack.comparison
    parts = [f"<section id=\"targets\"><h2>{e(t('rv_section_targets', lang))}</h2>"]
    if c.targets.empty:
        parts.append(_p(t("rv_no_targets", lang), "muted"))
        return "".join(parts) + "</section>"
    counts = c.targets["status"].value_counts()
    parts.append("<ul class=\"summary\">" + "".join(
        f"<li><span class=\"dot\" style=\"background:{STATUS_COLORS[s]}\"></span><strong>{int(counts.get(s, 0))}</strong> "
        f"{e(t(f'rv_status_{s}', lang))}</li>" for s in review.STATUSES) + "</ul>")
    table = review.target_table(c.targets, c.catalogue, c.district_names, lang, pack.territory)
    parts.append(_table(table, lang, "targets"))
    rules = c.targets.dropna(subset=["rule"])
    if not rules.empty:  # one line per distinct rule, with the targets it applies to (never the same paragraph 5 times)
        grouped: dict[str, list[str]] = {}
        for target_id, rule in zip(rules["target_id"], rules["rule"], strict=True):
            grouped.setdefault(str(rule), []).append(str(target_id))
        parts.append(f"<h3>{e(t('rv_rules_title', lang))}</h3><ul class=\"rules\">" + "".join(
            f"<li><strong>{e(', '.join(ids))}</strong>: {e(rule)}</li>" for rule, ids in grouped.items()) + "</ul>")
    return "".join(parts) + "</section>"


def _revisions(pack: BoardPack) -> str:
    """Target revisions: those awaiting a decision and those decided in this session, with their reasons."""
    lang = pack.lang
    parts = [f"<section id=\"revisions\"><h2>{e(t('cal_pack_title', lang))}</h2>"]
    for key, revisions in (("cal_pack_proposed", pack.revisions_pending), ("cal_pack_decided", pack.revisions_decided)):
        parts.append(f"<h3>{e(t(key, lang))}</h3>")
        parts.append(_table(revisions_table(revisions, lang, with_target=True), lang) if revisions
                     else _p(t("rv_none", lang), "muted"))
    return "".join(parts) + "</section>"


def _line(pack: BoardPack, line_id: str) -> str:
    return pack.line_names.get(f"en:{line_id}" if pack.lang == "en" else line_id, line_id)


def _place_text(pack: BoardPack, action: Action) -> str:
    from osservatorio.programme import place_label

    return "; ".join(place_label(p.kind, p.ref, pack.place_index, pack.lang, pack.territory) for p in action.places) \
        if not pack.place_index.empty else "; ".join(p.key() for p in action.places)


def decisions_table(changes: Sequence[ActionChange], line_frame: pd.DataFrame, index: pd.DataFrame, lang: str,
                    territory: Territory | None = None) -> pd.DataFrame:
    """The actions decided in a session: action, decision (the status it set), by whom and why, when."""
    from osservatorio.programme import line_name, place_label

    return pd.DataFrame({
        t("pg_col_action", lang): [f"{c.action_id} · {review.plain_text(c.action.title)}" for c in changes],
        t("pg_col_line", lang): [line_name(line_frame, c.action.line, lang) for c in changes],
        t("rv_col_decision", lang): [t(f"pg_status_{c.action.status}", lang) for c in changes],
        t("pg_col_places", lang): ["; ".join(place_label(p.kind, p.ref, index, lang, territory) for p in c.action.places)
                                   for c in changes],
        t("pg_col_updated_by", lang): [review.plain_text(c.changed_by) for c in changes],
        t("pg_col_reason", lang): [review.plain_text(c.reason) for c in changes],
        t("pg_col_updated_at", lang): [review.fmt_timestamp(c.changed_at, lang) for c in changes],
    })


def _actions(pack: BoardPack) -> str:
    """The programme's actions (status, line, places, funding), the decisions of this session and the evaluation."""
    lang = pack.lang
    parts = [f"<section id=\"actions\"><h2>{e(t('ev_pack_title', lang))}</h2>"]
    if pack.actions_error:
        parts.append(_p(pack.actions_error, "muted"))
        return "".join(parts) + "</section>"
    if not pack.actions:
        parts.append(_p(t("ev_pack_none", lang), "muted"))
        return "".join(parts) + "</section>"
    table = pd.DataFrame({
        t("pg_col_id", lang): [str(a.action_id) for a in pack.actions],
        t("pg_col_action", lang): [a.title for a in pack.actions],
        t("pg_col_status", lang): [t(f"pg_status_{a.status}", lang) for a in pack.actions],
        t("pg_col_line", lang): [_line(pack, a.line) for a in pack.actions],
        t("pg_col_places", lang): [_place_text(pack, a) or "–" for a in pack.actions],
        t("pg_col_funding", lang): [t(f"pg_fund_{a.funding_source}", lang) for a in pack.actions],
        t("pg_col_committed", lang): [a.budget_committed for a in pack.actions],
    })
    parts.append(_table(table, lang))
    parts.append(f"<h3>{e(t('rv_actions_decided', lang))}</h3>")
    if pack.decisions:
        lines = pd.DataFrame({"line_id": list({a.line for a in pack.actions}), "name_it": "", "name_en": ""})
        lines["name_it"] = [pack.line_names.get(i, i) for i in lines["line_id"]]
        lines["name_en"] = [pack.line_names.get(f"en:{i}", i) for i in lines["line_id"]]
        parts.append(_table(decisions_table(pack.decisions, lines, pack.place_index, lang, pack.territory), lang))
    else:
        parts.append(_p(t("rv_none", lang), "muted"))
    parts.append(f"<h3>{e(t('ev_pack_evaluation', lang))}</h3>")
    if pack.evaluations:
        titles = {str(a.action_id): a.title for a in pack.actions}
        ev = pd.DataFrame({
            t("pg_col_action", lang): [f"{r.action_id} · {titles.get(r.action_id, '')}" for r in pack.evaluations],
            t("ev_indicator", lang): [review.indicator_label(pack.comparison.catalogue, r.indicator_id, lang)
                                      for r in pack.evaluations],
            t("ev_metric_treated", lang): [r.treated.change if r.treated else None for r in pack.evaluations],
            t("ev_metric_comparison", lang): [r.comparison_change for r in pack.evaluations],
            t("ev_metric_effect", lang): [r.effect for r in pack.evaluations],
            t("ev_metric_areas", lang): [r.n_comparison for r in pack.evaluations],
            t("ev_col_conclusive", lang): [t("ev_yes" if r.conclusive else "ev_no", lang) for r in pack.evaluations],
            t("ev_col_notes", lang): [" ".join(t(f"ev_caveat_{c}", lang, min=evaluation.MIN_AREAS, n=r.n_comparison,
                                                 treated=r.n_treated, with_data=len(r.treated_areas)) for c in r.caveats)
                                      or "–" for r in pack.evaluations],
        })
        parts.append(_table(ev, lang))
        parts.append(_p(t("ev_method", lang, min=evaluation.MIN_AREAS,
                          fine=pack.territory.fine.label(lang) if pack.territory else ""), "muted"))
    elif not pack.not_evaluable:
        parts.append(_p(t("ev_pack_no_snapshots", lang), "muted"))
    if pack.not_evaluable:
        parts.append(f"<h4>{e(t('ev_not_evaluable_title', lang))}</h4>")
        parts.append(_table(pd.DataFrame({
            t("pg_col_action", lang): [f"{n.action_id} · {n.title}" for n in pack.not_evaluable],
            t("ev_col_reason", lang): [t(f"ev_why_{n.reason}", lang) for n in pack.not_evaluable]}), lang))
    return "".join(parts) + "</section>"


def _maps(pack: BoardPack, figures: dict[str, Any]) -> str:
    lang = pack.lang
    parts = [f"<section id=\"maps\"><h2>{e(t('rv_section_maps', lang))}</h2>"]
    if not pack.maps:
        parts.append(_p(t("rv_no_maps", lang), "muted"))
        return "".join(parts) + "</section>"
    valued = [layer for layer in pack.maps if layer.values["value"].notna().any()]
    empty = [layer.title for layer in pack.maps if not layer.values["value"].notna().any()]
    if empty:  # an all-grey map carries nothing: one line names the indicators without values
        parts.append(_p(t("rv_maps_without_values", lang, names="; ".join(empty)), "muted"))
    if not valued:
        return "".join(parts) + "</section>"
    snapshot = review.snapshot_label(pack.snapshots, pack.comparison.snapshot_id, lang)
    parts.append(_p(t("rv_maps_help", lang, snapshot=snapshot), "muted"))
    for number, layer in enumerate(valued, start=1):
        fid = f"fig-map-{number}"
        figures[fid] = _figure_json(svg_choropleth(pack.geojson, layer, lang))
        missing = int(layer.values["value"].isna().sum())
        caption = t("rv_map_caption", lang, unit=layer.unit or "–", missing=missing)
        parts.append(f"<figure class=\"map\"><div class=\"figure map-figure\" id=\"{fid}\" "
                     f"data-indicator=\"{e(layer.indicator_id)}\"></div><figcaption>{e(caption)}</figcaption></figure>")
    return "".join(parts) + "</section>"


def _notes(pack: BoardPack) -> str:
    lang = pack.lang
    parts = [f"<section id=\"notes\"><h2>{e(t('rv_section_notes', lang))}</h2>"]
    if not pack.notes:
        parts.append(_p(t("rv_no_notes", lang), "muted"))
        return "".join(parts) + "</section>"
    ordered = sorted(zip(pack.notes, pack.note_labels, strict=True), key=lambda p: (p[0].kind != "decision", p[0].note_id))
    for note, label in ordered:
        parts.append(
            f"<article class=\"note {e(note.kind)}\"><header><span class=\"badge\">{e(t(f'rv_kind_{note.kind}', lang))}"
            f"</span> <span class=\"attached\">{e(label)}</span><span class=\"who\">{e(note.author)} · "
            f"{e(review.fmt_timestamp(note.created_at, lang))}</span></header>"
            f"<div class=\"note-body\">{e(note.body)}</div></article>")
    return "".join(parts) + "</section>"


def _sources(pack: BoardPack) -> str:
    lang = pack.lang
    parts = [f"<section id=\"sources\"><h2>{e(t('rv_section_sources', lang))}</h2>"]
    frame = pack.sources
    if frame.empty:
        parts.append(_p(t("rv_no_sources", lang), "muted"))
    else:
        table = pd.DataFrame({
            t("rv_col_source", lang): frame["source_id"],
            t("col_title", lang): frame["title"],
            t("col_status", lang): [t(f"status_{s}", lang) for s in frame["status"]],
            t("col_trust", lang): [t(f"trust_{x}", lang) for x in frame["trust"]],
            t("col_loaded_at", lang): [review.fmt_timestamp(v, lang) if pd.notna(v) else "–" for v in frame["loaded_at"]],
            t("col_rows_loaded", lang): [str(int(v)) for v in frame["rows_loaded"]],
            t("col_licence", lang): frame["licence"],
            "sha256": [str(v)[:12] if isinstance(v, str) else "–" for v in frame["sha256"]],
        })
        parts.append(_table(table, lang, "sources"))
    rows = []
    for label_key, sid in (("rv_cover_snapshot", pack.comparison.snapshot_id), ("rv_cover_compare", pack.comparison.compare_id)):
        row = review.snapshot_row(pack.snapshots, sid)
        if row is not None:
            rows.append((t(label_key, lang), review.snapshot_label(pack.snapshots, sid, lang),
                         str(row.get("catalogue_version", "–")), str(row.get("periphery_version", "–")),
                         str(row.get("taxonomy_version", "–"))))
    if rows:
        parts.append(f"<h3>{e(t('rv_snapshots_title', lang))}</h3>")
        parts.append(_table(pd.DataFrame(rows, columns=["", t("rv_col_snapshot", lang), t("rv_version_catalogue_version", lang),
                                                        t("rv_version_periphery_version", lang),
                                                        t("rv_version_taxonomy_version", lang)]), lang))
    parts.append(_p(t("rv_pack_footer", lang), "muted"))
    return "".join(parts) + "</section>"


STYLE = """
:root { --ink: #1d2733; --muted: #5b6675; --line: #d7dce2; --accent: #0b5c8f; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: #f4f5f7; }
main { max-width: 760px; margin: 0 auto; padding: 24px 16px 48px; background: white; }
section { padding: 8px 0 24px; border-bottom: 1px solid var(--line); }
h1 { font-size: 28px; margin: 8px 0 16px; } h2 { font-size: 21px; color: var(--accent); margin: 16px 0 10px; }
h3 { font-size: 16px; margin: 18px 0 8px; } h4 { font-size: 14px; margin: 12px 0 6px; }
.kicker { text-transform: uppercase; letter-spacing: .06em; color: var(--muted); font-size: 12px; margin: 0; }
.warning { background: #fff4e5; border-left: 4px solid #ff9800; padding: 8px 12px; }
.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
thead th { background: #eef1f4; } td.num { text-align: right; white-space: nowrap; } td.nowrap { white-space: nowrap; }
ul.rules { font-size: 12px; color: var(--muted); }
table.facts th { width: 34%; background: none; color: var(--muted); font-weight: 500; }
ul.summary { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px; }
.figure { width: 680px; max-width: 100%; margin: 8px 0; }
figure.map { margin: 10px 0 18px; } figcaption { color: var(--muted); font-size: 12px; }
article.note { border: 1px solid var(--line); border-left: 4px solid #8aa1b4; border-radius: 4px; padding: 8px 10px;
               margin: 8px 0; }
article.note.decision { border-left-color: var(--accent); background: #f3f8fc; }
article.note header { display: flex; flex-wrap: wrap; gap: 4px 10px; font-size: 12px; color: var(--muted); }
.badge { font-weight: 700; color: var(--ink); text-transform: uppercase; letter-spacing: .04em; }
.who { margin-left: auto; }
.note-body { white-space: pre-wrap; overflow-wrap: anywhere; margin-top: 6px; }
nav ol { padding-left: 20px; } a { color: var(--accent); }
@page { size: A4; margin: 14mm 13mm; }
@media print {
  body { background: white; font-size: 12px; }
  main { max-width: none; padding: 0; }
  section { border: none; break-before: page; }
  section.cover, section[data-short] { break-before: auto; }
  .figure, figure.map, article.note, tr { break-inside: avoid; }
  h2, h3, h4 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""

RENDER = """
(function () {
  var specs = JSON.parse(document.getElementById('boardpack-figures').textContent);
  var jobs = Object.keys(specs).map(function (id) {
    var spec = specs[id];
    var config = {displayModeBar: false, responsive: false, scrollZoom: false, doubleClick: false};
    return Plotly.newPlot(document.getElementById(id), spec.data, spec.layout, config);
  });
  Promise.all(jobs).then(function () { document.body.dataset.ready = '1'; },
                         function (err) { document.body.dataset.ready = 'error'; console.error(err); });
})();
"""


def _json_for_script(value: Any) -> str:
    """JSON safe inside <script type="application/json">: no '</' or '<!--' can end the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


_CONTENT = ("<table", "<figure", "class=\"figure", "<article", "<li")


def _mark_short(section: str) -> str:
    """A section that only says it has nothing (one sentence) does not start a new printed page."""
    if any(marker in section for marker in _CONTENT):
        return section
    return re.sub(r"^<section([^>]*)>", r'<section\1 data-short="1">', section, count=1)


def render_html(pack: BoardPack) -> str:
    """The board pack as one self-contained HTML document (UTF-8 text)."""
    lang = pack.lang
    figures: dict[str, Any] = {}
    sections = [_cover(pack), _changes(pack, figures), _targets(pack), _revisions(pack), _actions(pack), _maps(pack, figures),
                _notes(pack), _sources(pack)]
    body = "".join(_mark_short(section) for section in sections)
    title = f"{t('rv_pack_kicker', lang)} · {pack.session.title} · {fmt_date(pack.session.held_on, lang)}"
    plotly_js = plotly.offline.get_plotlyjs().replace("</script", "<\\/script")
    return (
        f"<!doctype html>\n<html lang=\"{e(lang)}\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<meta name=\"generator\" content=\"Osservatorio Manifattura Digitale\">"
        f"<title>{e(title)}</title><style>{STYLE}</style>"
        f"<script>{plotly_js}</script></head>\n<body data-ready=\"0\"><main>{body}</main>\n"
        f"<script type=\"application/json\" id=\"boardpack-figures\">{_json_for_script(figures)}</script>\n"
        f"<script>{RENDER}</script></body></html>\n"
    )


def filename(session: Session, ext: str) -> str:
    """'seduta__n-3__2026-11-21.html'."""
    return exports.export_filename("seduta", {"n": str(session.session_id)}, session.held_on, ext)


# --- PDF ---------------------------------------------------------------------------------------------------

def chromium_path() -> Path:
    """The chromium executable (env OSSERVATORIO_CHROMIUM, default Debian's /usr/bin/chromium)."""
    return Path(os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM)


def pdf_status(executable: Path | None = None, read_only: bool = False) -> tuple[bool, str]:
    """(True, "") when a PDF can be made here, else (False, i18n key of the reason)."""
    if read_only:
        return False, "rv_pdf_read_only"
    path = executable or chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False, "rv_pdf_no_playwright"
    if not (path.is_file() and os.access(path, os.X_OK)):
        return False, "rv_pdf_no_chromium"
    return True, ""


@contextmanager
def pdf_slot(last_started: float | None, now: float, cooldown_s: float = PDF_COOLDOWN_S) -> Iterator[None]:
    """Permission for one PDF render: PdfUnavailable("rv_pdf_cooldown", seconds=) when this session
    started one less than `cooldown_s` ago, PdfUnavailable("rv_pdf_busy") while another render runs
    in this process. Times are time.monotonic() values."""
    if last_started is not None and now - last_started < cooldown_s:
        wait = math.ceil(cooldown_s - (now - last_started))
        raise PdfUnavailable(f"PDF appena preparato: riprovare tra {wait} s", "rv_pdf_cooldown", seconds=wait)
    if not _PDF_SLOT.acquire(blocking=False):
        raise PdfUnavailable("un altro PDF è in preparazione", "rv_pdf_busy")
    try:
        yield
    finally:
        _PDF_SLOT.release()


def html_to_pdf(document: str, executable: Path | None = None, timeout_ms: int = 120_000) -> bytes:
    """Print the board pack HTML to an A4 PDF with chromium (Playwright, headless, offline).

    Raises PdfUnavailable when chromium or Playwright is missing, or when the page does not finish
    drawing its figures in time.
    """
    path = executable or chromium_path()
    ok, code = pdf_status(path)
    if not ok:
        raise PdfUnavailable(f"PDF non disponibile: {code} ({path})", code)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="boardpack-") as folder:
        page_file = Path(folder) / "boardpack.html"
        page_file.write_text(document, encoding="utf-8")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS, timeout=timeout_ms)
                try:
                    page = browser.new_page()
                    page.route(re.compile(r"^(https?|wss?|ftp)://"), lambda route: route.abort())
                    page.goto(page_file.as_uri(), wait_until="load", timeout=timeout_ms)
                    page.wait_for_function("document.body.dataset.ready !== '0'", timeout=timeout_ms)
                    if page.evaluate("document.body.dataset.ready") != "1":
                        raise PdfUnavailable("i grafici del verbale non sono stati disegnati", "rv_pdf_failed")
                    page.emulate_media(media="print")
                    return page.pdf(format="A4", print_background=True, prefer_css_page_size=True,
                                    display_header_footer=False)
                finally:
                    browser.close()
        except PlaywrightError as exc:
            raise PdfUnavailable(f"chromium non ha prodotto il PDF: {exc}", "rv_pdf_failed") from exc
