"""View models of the indicator pages (Mappa, Quartiere, Periferie, Panoramica). Pure: no Streamlit.

Every function takes the frames returned by `osservatorio.queries` and returns what a page shows:
translated labels, tables (numbers stay numbers, so downloads keep them), hover texts and Plotly
figures (MapLibre traces only: they render offline). Numbers in texts go through `fmt_number`.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from osservatorio import maps
from osservatorio.i18n import fmt_date, fmt_number, t
from osservatorio.views import (
    assumed_ownership_value,
    former_use,
    ownership_assumed,
    place_attributes,
    plain,
    plain_column,
    record_links,
    user_words,
)

MAP_LEVELS = ("nil", "municipio")
POINT_THEMES = ("makerspace", "coworking", "vacant", "historic_shop", "firm")
DEFAULT_LAYERS = ("makerspace",)
PERIPHERY_CLASSES = ("centro", "semicentro", "periferia")
PERIPHERY = "periferia"
CITY_AREA = "milano"
DIRECTIONS = ("higher_better", "lower_better", "neutral")
DEFAULT_MAP_INDICATOR = "makerspaces_per_100k"
#: Headline indicators of the Panoramica (city and periphery), in display order.
HEADLINE_INDICATORS = ("makerspaces_count", "makerspaces_per_100k", "coworking_count", "firms_dm_units", "vacant_count")
#: The Panoramica map: population density (always available) or one indicator.
DENSITY = "density"
#: Relative gap under which a NIL is "in line" with the city (5 %).
IN_LINE_TOLERANCE = 0.05
CLASS_COLORS = {"centro": "#08519c", "semicentro": "#6baed6", "periferia": "#fd8d3c"}
CATEGORIES = ("digital_manufacturing", "artisan_manufacturing", "digital_services", "other")

#: Units of counts and sums (extensive quantities): no NIL-versus-city judgement on them.
COUNT_UNITS = ("n", "abitanti", "unità locali", "postazioni", "m²")
# Units as written in config/indicators.toml (Italian) -> translation key and decimals shown.
_UNITS: dict[str, tuple[str, int]] = {
    "n": ("unit_n", 0),
    "abitanti": ("unit_residents", 0),
    "unità locali": ("unit_local_units", 0),
    "postazioni": ("unit_seats", 0),
    "addetti": ("unit_employees", 1),
    "m": ("unit_m", 0),
    "m²": ("unit_m2", 0),
    "%": ("unit_pct", 1),
    "per 100.000 ab.": ("unit_per_100k", 2),
    "per 1.000 ab.": ("unit_per_1k", 2),
    "punti (0-100)": ("unit_points", 1),
}


# --------------------------------------------------------------------------------------------------
# Catalogue


@dataclass(frozen=True)
class IndicatorMeta:
    """One catalogue entry in the user's language."""

    indicator_id: str
    theme: str
    name: str
    description: str
    formula: str
    unit: str  # translated, for legends and headers
    raw_unit: str  # as in the catalogue (decides the decimals)
    direction: str
    levels: tuple[str, ...]

    @property
    def reverse_scale(self) -> bool:
        """Lower is better: the colour scale is reversed so that darker always means better."""
        return self.direction == "lower_better"

    @property
    def decimals(self) -> int:
        return _UNITS.get(self.raw_unit, ("", 1))[1]

    @property
    def is_count(self) -> bool:
        """A count or a sum (grows with the area's size): a NIL's value is not comparable with the city's."""
        return self.raw_unit in COUNT_UNITS


def parse_levels(text: object) -> tuple[str, ...]:
    """The catalogue's JSON list of levels; anything malformed gives ()."""
    if not isinstance(text, str):
        return ()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return ()
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value)


def unit_label(unit: str, lang: str) -> str:
    """A catalogue unit in the user's language (unknown units are shown as written)."""
    key = _UNITS.get(unit, (None, 1))[0]
    return t(key, lang) if key else unit


def indicator_metas(catalogue: pd.DataFrame, lang: str) -> dict[str, IndicatorMeta]:
    """indicator_id -> IndicatorMeta, in catalogue order, labelled in `lang`."""
    suffix = "en" if lang == "en" else "it"
    out: dict[str, IndicatorMeta] = {}
    for row in catalogue.to_dict("records"):
        direction = row["direction"] if row["direction"] in DIRECTIONS else "neutral"
        out[str(row["indicator_id"])] = IndicatorMeta(
            indicator_id=str(row["indicator_id"]), theme=str(row["theme"]),
            name=str(row[f"name_{suffix}"]), description=str(row[f"description_{suffix}"]),
            formula=str(row["formula"]), unit=unit_label(str(row["unit"]), lang), raw_unit=str(row["unit"]),
            direction=direction, levels=parse_levels(row["levels"]))
    return out


def map_levels(meta: IndicatorMeta) -> list[str]:
    """The map levels (NIL, Municipio) for which the indicator is defined, in that order."""
    return [level for level in MAP_LEVELS if level in meta.levels]


def map_indicators(metas: Mapping[str, IndicatorMeta]) -> list[str]:
    """Indicators that can be drawn on the map (defined at NIL or Municipio level)."""
    return [i for i, m in metas.items() if map_levels(m)]


def valued_indicators(coverage: pd.DataFrame, levels: Sequence[str] = MAP_LEVELS) -> set[str]:
    """Indicators with at least one value at one of `levels` in the snapshot (`data.indicator_coverage`)."""
    if coverage.empty:
        return set()
    part = coverage[coverage["level"].isin(list(levels)) & (pd.to_numeric(coverage["with_value"]) > 0)]
    return {str(i) for i in part["indicator_id"]}


def with_values_first(choices: Sequence[str], valued: set[str]) -> list[str]:
    """The choices with values first (in their order), those without values last."""
    return [c for c in choices if c in valued] + [c for c in choices if c not in valued]


def default_choice(choices: Sequence[str], valued: set[str], preferred: str | None = None) -> str | None:
    """`preferred` when it has values, else the first choice with values, else the first choice."""
    if preferred in choices and preferred in valued:
        return preferred
    for c in choices:
        if c in valued:
            return c
    return choices[0] if choices else None


def choice_label(name: str, has_values: bool, lang: str) -> str:
    """A picker label: the name, with '— senza dati' when the indicator has no value in this snapshot."""
    return name if has_values else f"{name} {t('no_values_suffix', lang)}"


def default_nil(nil_stats: pd.DataFrame, groups: pd.DataFrame, value_counts: pd.DataFrame,
                place_counts: pd.DataFrame | None = None) -> str | None:
    """The NIL a district page opens on: a peripheral NIL with the most indicator values, then the most
    places, then the lowest id (the programme is about the periphery); any NIL when none is peripheral."""
    ids = [int(i) for i in nil_stats["id"]]
    if not ids:
        return None
    peripheral = {int(i) for i in groups.loc[(groups["group_level"] == "periphery_class")
                                             & (groups["group_id"] == PERIPHERY), "district_id"]} if len(groups) else set()
    pool = [i for i in ids if i in peripheral] or ids
    values = {int(a): int(n) for a, n in zip(value_counts.get("district_id", []), value_counts.get("with_value", []), strict=True)
              if pd.notna(a)}
    places: dict[int, int] = {}
    if place_counts is not None and len(place_counts):
        for nil, n in zip(place_counts["district_id"], place_counts["places"], strict=True):
            places[int(nil)] = places.get(int(nil), 0) + int(n)
    best = sorted(pool, key=lambda i: (-values.get(i, 0), -places.get(i, 0), i))[0]
    return str(best)


def format_value(value: object, meta: IndicatorMeta, lang: str, with_unit: bool = True) -> str:
    """A value with the decimals of its unit, Italian or English separators, and the unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return t("no_data", lang)
    text = fmt_number(float(value), lang, meta.decimals)  # type: ignore[arg-type]
    if not with_unit:
        return text
    return f"{text} %" if meta.raw_unit == "%" else f"{text} {meta.unit}"


def direction_label(direction: str, lang: str) -> str:
    return t(f"direction_{direction}", lang)


def trust_label(trust: object, lang: str) -> str:
    return t(f"trust_{trust}", lang) if isinstance(trust, str) and trust else t("no_data", lang)


def separators(lang: str) -> str:
    """Plotly's decimal and thousands separators for the language (Italian: 1.234,5)."""
    return ",." if lang == "it" else ".,"


def trust_list(value: object, lang: str) -> str:
    """'demo, official' (as aggregated by the queries) -> translated labels."""
    return ", ".join(trust_label(x.strip(), lang) for x in _text(value).split(",") if x.strip())


def _text(value: object) -> str:
    """A value as plain text for tables ("" when missing)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _esc(value: object) -> str:
    """Text from the data, escaped for Plotly's HTML-like hover labels (bidi controls removed)."""
    return html.escape(plain(value))


def _period(value: object) -> int | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)  # type: ignore[arg-type]


def _drop_empty_period(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Without the data-year column when no row has a year (undated counts): no column of blanks."""
    column = t("col_period", lang)
    if column in table.columns and table[column].isna().all():
        return table.drop(columns=[column])
    return table


def _round(series: pd.Series, decimals: int) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype(float).round(decimals)


@dataclass(frozen=True)
class SnapshotRef:
    """The snapshot a page shows and the one before it (None when it is the first)."""

    snapshot_id: str
    created_at: object
    periphery_version: str | None
    previous_id: str | None


def latest_snapshot(snapshots: pd.DataFrame) -> SnapshotRef:
    """The newest snapshot of `queries.snapshots` (sorted newest first) and its predecessor."""
    first = snapshots.iloc[0]
    previous = str(snapshots["snapshot_id"].iloc[1]) if len(snapshots) > 1 else None
    version = first.get("periphery_version")
    return SnapshotRef(snapshot_id=str(first["snapshot_id"]), created_at=first["created_at"],
                       periphery_version=None if version is None or pd.isna(version) else str(version),
                       previous_id=previous)


def indicator_caption(meta: IndicatorMeta, lang: str) -> str:
    """Description, formula, unit and direction of an indicator in one line (markdown)."""
    return t("indicator_caption", lang, description=meta.description, formula=meta.formula, unit=meta.unit,
             direction=direction_label(meta.direction, lang))


def export_metadata(meta: IndicatorMeta | None, snapshot: SnapshotRef, lang: str) -> dict[str, str]:
    """Info rows of an export: the indicator (name, unit, formula, direction) and the snapshot."""
    out: dict[str, str] = {}
    if meta is not None:
        out[t("col_indicator", lang)] = f"{meta.name} ({meta.indicator_id})"
        out[t("col_unit", lang)] = meta.unit
        out[t("meta_formula", lang)] = meta.formula
        out[t("col_direction", lang)] = direction_label(meta.direction, lang)
    date = snapshot.created_at
    when = fmt_date(date, lang) if hasattr(date, "strftime") else _text(date)
    out[t("col_snapshot", lang)] = f"{snapshot.snapshot_id} ({when})"
    return out


# --------------------------------------------------------------------------------------------------
# Areas


def area_label(area_id: object, name: object) -> str:
    """'12 · Name' for a district."""
    return f"{area_id} · {name}" if _text(name) else str(area_id)


def area_names(nil_stats: pd.DataFrame, municipio_stats: pd.DataFrame, groups: pd.DataFrame,
               lang: str) -> dict[tuple[str, str], str]:
    """(level, area_id) -> display name, for every level of indicator_values."""
    names: dict[tuple[str, str], str] = {("city", CITY_AREA): t("city_name", lang)}
    for i, n in zip(nil_stats["id"], nil_stats["name"], strict=True):
        names[("nil", str(i))] = area_label(i, n)
    for i, n in zip(municipio_stats["id"], municipio_stats["name"], strict=True):
        names[("municipio", str(i))] = _text(n) or f"Municipio {i}"
    seen = groups.drop_duplicates(["group_level", "group_id"])
    for level, gid, gname in zip(seen["group_level"], seen["group_id"], seen["group_name"], strict=True):
        names[(str(level), str(gid))] = class_name(str(gid), lang) if level == "periphery_class" else _text(gname) or str(gid)
    return names


def class_name(class_id: str, lang: str) -> str:
    """Centro / Semicentro / Periferia in the user's language (unknown ids as written)."""
    return t(f"class_{class_id}", lang) if class_id in PERIPHERY_CLASSES else class_id


def nil_options(nil_stats: pd.DataFrame) -> dict[str, str]:
    """NIL id (as URL text) -> '12 · Name', in id order."""
    return {str(i): area_label(i, n) for i, n in zip(nil_stats["id"], nil_stats["name"], strict=True)}


def empty_value_counts() -> pd.DataFrame:
    """A data.nil_value_counts frame with no rows (pages without a snapshot)."""
    return pd.DataFrame({"district_id": pd.Series(dtype="int64"), "with_value": pd.Series(dtype="int64")})


def empty_groups() -> pd.DataFrame:
    """A district_groups frame with no rows (pages without a snapshot)."""
    return pd.DataFrame({"group_level": pd.Series(dtype="object"), "group_id": pd.Series(dtype="object"),
                         "group_name": pd.Series(dtype="object"), "district_id": pd.Series(dtype="int64")})


def nil_class(groups: pd.DataFrame, district_id: int) -> str | None:
    """The periphery class of a NIL in a snapshot's groups (None when not classified)."""
    rows = groups[(groups["group_level"] == "periphery_class") & (groups["district_id"] == district_id)]
    return str(rows["group_id"].iloc[0]) if len(rows) else None


def nil_priority_areas(groups: pd.DataFrame, district_id: int) -> list[str]:
    """Names of the priority areas a NIL belongs to."""
    rows = groups[(groups["group_level"] == "priority_area") & (groups["district_id"] == district_id)]
    return [str(n) for n in rows["group_name"]]


# --------------------------------------------------------------------------------------------------
# Map page


# Reasons are written by the ETL in Italian; the English UI translates their known phrases (the rest stays as written).
_REASONS_EN: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"^dati per NIL non disponibili \(ds171 è per l'intera città\)$", "no data per NIL (ds171 covers the whole city)"),
    (r"^popolazione (\d{4})$", r"population \1"),
    (r"^NIL (\d+): popolazione (\d{4}) \(derivata\)$", r"NIL \1: population \2 (derived)"),
    (r"^edizioni diverse delle fonti: (.*)$", r"sources of different editions: \1"),
    (r"^posti non indicati nella fonte$", "seats not stated in the source"),
    (r"^conteggi per NIL da un'esportazione derivata \(nessun elenco puntuale dei coworking caricato\)$",
     "counts per NIL from a derived export (no list of coworking spaces loaded)"),
    (r"^componenti escluse perché senza dati: (.*)$", r"components left out for lack of data: \1"),
    (r"^componenti mancanti: (.*)$", r"missing components: \1"),
    (r"^imprese puntuali non disponibili: contati solo i makerspace$", "no firm addresses: only makerspaces counted"),
    (r"^nessun coworking nell'area$", "no coworking in the area"),
    (r"^indicatore definito solo per i NIL periferici\)?$", "indicator defined only for peripheral NIL"),
    (r"^nessun NIL dell'area a cui l'indicatore si applichi \(indicatore definito solo per i NIL periferici\)$",
     "no NIL of the area the indicator applies to (defined only for peripheral NIL)"),
    (r"^spazi con proprietà solo presunta \(ownership_assumed\) contati come proprietà non indicata: (\d+)$",
     r"spaces with only assumed ownership counted as ownership not stated: \1"),
    (r"^nessuno spazio dismesso con stato noto nell'area$", "no vacant space with a known status in the area"),
    (r"^nessuno spazio dismesso con proprietà nota nell'area$", "no vacant space with a known ownership in the area"),
    (r"^spazi dismessi senza proprietà indicata: (\d+)( \(nessun valore noto\))?$",
     r"vacant spaces without stated ownership: \1\2"),
    (r"^spazi dismessi senza superficie indicata: (\d+)( \(nessun valore noto\))?$", r"vacant spaces without stated area: \1\2"),
    (r"^spazi dismessi senza stato indicato: (\d+)( \(nessun valore noto\))?$", r"vacant spaces without stated status: \1\2"),
    (r"^makerspace senza superficie indicata: (\d+)( \(nessun valore noto\))?$", r"makerspaces without stated area: \1\2"),
    (r"^comprende luoghi senza NIL \(collocati solo per Municipio o per città\)$",
     "includes places without a NIL (placed only by Municipio or city)"),
    (r" \(nessun valore noto\)$", " (no known value)"),
    (r"senza data", "undated"),
))


def _config_text(entry: dict, field: str, lang: str) -> str:
    """A configuration text in the page language: `field_en` for English (the Italian `field` is never shown in the
    English UI: the class and its distance already say the rule), `field_it` or `field` for Italian."""
    if lang == "it":
        return str(entry.get(f"{field}_it") or entry.get(field) or "")
    return str(entry.get(f"{field}_{lang}") or "")


def reason_text(reason: object, lang: str) -> str:
    """A stored reason in the page language ('' when missing): each '; '-separated phrase the ETL writes is
    translated for English; an unknown phrase is kept as written."""
    text = _text(reason)
    if not text or lang != "en":
        return text
    out = []
    for phrase in text.split("; "):
        for pattern, replacement in _REASONS_EN:
            phrase = pattern.sub(replacement, phrase)
        out.append(phrase)
    return "; ".join(out)


def map_frame(values: pd.DataFrame, districts: pd.DataFrame, meta: IndicatorMeta, lang: str) -> pd.DataFrame:
    """One row per district of the level (even without a value row): id, name, label, value, period,
    reason, trust and the hover text (value + caveat + trust, or why the value is missing)."""
    vals = values.assign(id=pd.to_numeric(values["area_id"], errors="coerce")).dropna(subset=["id"])
    vals = vals.assign(id=vals["id"].astype("int64")).drop_duplicates("id")
    base = pd.DataFrame({"id": districts["id"].astype("int64"), "name": districts["name"]})
    frame = base.merge(vals[["id", "period", "value", "reason", "trust"]], on="id", how="left")
    frame["reason"] = [reason_text(r, lang) or None for r in frame["reason"].astype("object")]  # NULL columns: float
    frame["trust"] = frame["trust"].astype("object")
    no_row = frame["reason"].isna() & frame["value"].isna()
    frame.loc[no_row, "reason"] = t("reason_no_row", lang)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame["label"] = [_esc(area_label(i, n)) for i, n in zip(frame["id"], frame["name"], strict=True)]
    hover = []
    for row in frame.itertuples(index=False):
        if pd.isna(row.value):
            hover.append(f"{row.label}<br>{t('no_data', lang)}: {_esc(row.reason)}")
            continue
        parts = [format_value(row.value, meta, lang)]
        period = _period(row.period)
        if period is not None:
            parts.append(t("data_year", lang, year=period))
        if _text(row.reason):
            parts.append(_esc(row.reason))
        parts.append(f"{t('col_trust', lang)}: {trust_label(row.trust, lang)}")
        hover.append("<br>".join(parts))
    frame["hover"] = hover
    return frame


def trim_geojson(fig: go.Figure) -> go.Figure:
    """Give every choropleth trace only the features it draws (the map payload is not duplicated per trace)."""
    for trace in fig.data:
        if isinstance(trace, go.Choroplethmap) and trace.geojson is not None:
            wanted = {str(x) for x in (trace.locations if trace.locations is not None else [])}
            geo = trace.geojson
            features = [f for f in geo["features"] if str(f.get("id")) in wanted]
            trace.geojson = {"type": "FeatureCollection", "features": features}
    return fig


def indicator_map(geojson: dict, frame: pd.DataFrame, meta: IndicatorMeta, lang: str, map_style: str,
                  title: str | None = None) -> go.Figure:
    """Choropleth of an indicator (from `map_frame`): legend title = unit, reversed scale when lower is
    better, districts without a value grey with the reason in the hover."""
    fig = maps.choropleth(geojson, frame, "value", "label", title or meta.name, meta.unit, map_style=map_style,
                          hover_value=list(frame["hover"]), reverse=meta.reverse_scale)
    missing = frame[frame["value"].isna()]
    for trace in fig.data:
        if isinstance(trace, go.Choroplethmap) and trace.showscale is False:
            trace.update(name=t("no_data", lang), text=list(missing["hover"]), hovertemplate="%{text}<extra></extra>")
    fig.update_layout(showlegend=False, clickmode="event+select", separators=separators(lang))
    return trim_geojson(fig)


def selected_area(points: Iterable[Mapping[str, Any]], valid_ids: Iterable[str]) -> str | None:
    """The district id clicked on a choropleth (the 'location' of the first selected point that is a
    known district), or None (e.g. a click on a point marker)."""
    valid = {str(v) for v in valid_ids}
    for point in points:
        location = point.get("location")
        if location is None:
            continue
        text = str(location)
        if text.endswith(".0"):
            text = text[:-2]
        if text in valid:
            return text
    return None


def values_table(frame: pd.DataFrame, meta: IndicatorMeta, level: str, lang: str) -> pd.DataFrame:
    """The map's values as a table (and download): id, name, value, unit, year, note, trust."""
    out = pd.DataFrame({
        t("col_area_id", lang): frame["id"],
        t("col_name", lang): frame["name"],
        t("col_level", lang): t(f"level_{level}", lang),
        t("col_value", lang): _round(frame["value"], meta.decimals),
        t("col_unit", lang): meta.unit,
        t("col_period", lang): frame["period"].astype("Int64"),
        t("col_note", lang): [_text(r) for r in frame["reason"]],
        t("col_trust", lang): [trust_label(x, lang) if _text(x) else "" for x in frame["trust"]],
    })
    return _drop_empty_period(out, lang)


def map_caption(frame: pd.DataFrame, meta: IndicatorMeta, lang: str) -> str:
    """How many districts have a value, and which colour means better."""
    n = len(frame)
    known = int(frame["value"].notna().sum())
    scale = t(f"scale_{meta.direction}", lang)
    return t("map_caption", lang, known=fmt_number(known, lang), total=fmt_number(n, lang), scale=scale)


def place_hover(frame: pd.DataFrame, theme: str, lang: str) -> list[str]:
    """Hover text of each place marker: name, address, theme-specific details, trust."""
    out = []
    for row in frame.to_dict("records"):
        parts = [f"<b>{_esc(row.get('name')) or t('no_name', lang)}</b>"]
        if _text(row.get("address")):
            parts.append(_esc(row.get("address")))
        if theme == "vacant" and former_use(row.get("category"), row.get("attributes")):
            parts.append(f"{t('th_col_typology', lang)}: {_esc(former_use(row.get('category'), row.get('attributes')))}")
        elif theme != "vacant" and _text(row.get("category")):
            parts.append(f"{t('col_category', lang)}: {_esc(category_label(str(row['category']), lang))}")
        if _text(row.get("status")):
            parts.append(f"{t('col_status', lang)}: {_esc(status_label(str(row['status']), lang))}")
        if theme == "coworking" and _text(row.get("seats")):
            parts.append(f"{t('col_seats', lang)}: {fmt_number(float(row['seats']), lang)}")
        if theme in ("makerspace", "vacant") and _text(row.get("area_m2")):
            parts.append(f"{fmt_number(float(row['area_m2']), lang)} m²")
        parts.append(f"{t('col_trust', lang)}: {trust_label(row.get('trust'), lang)}")
        out.append("<br>".join(parts))
    return out


def add_place_layer(fig: go.Figure, places: pd.DataFrame, theme: str, lang: str) -> go.Figure:
    """Markers of one theme (makerspaces, coworking, vacant spaces) with their hover."""
    if places.empty:
        return fig
    return maps.add_points(fig, places, t(f"theme_{theme}", lang), theme, hover=place_hover(places, theme, lang))


def firm_cell_sizes(counts: Sequence[float], smallest: float = 4.0, largest: float = 18.0) -> list[float]:
    """Marker diameters for aggregated firm cells: area proportional to the count (sqrt scale)."""
    if not len(counts):
        return []
    top = max(float(c) for c in counts)
    if top <= 0:
        return [smallest for _ in counts]
    return [round(smallest + (largest - smallest) * math.sqrt(max(float(c), 0.0) / top), 2) for c in counts]


def add_firm_cells(fig: go.Figure, cells: pd.DataFrame, lang: str) -> go.Figure:
    """Firms aggregated in cells: one circle per cell, its area proportional to the number of firms."""
    if cells.empty:
        return fig
    # Numbers in customdata and one shared hover template: hundreds of cells stay a small payload.
    counts = cells[["firms", "digital", "artisan"]].astype("int64").to_numpy()
    fig.add_trace(go.Scattermap(
        lon=cells["lon"].round(5), lat=cells["lat"].round(5), mode="markers", name=t("theme_firm", lang),
        marker={"size": firm_cell_sizes(list(cells["firms"])), "color": maps.THEME_COLORS["firm"], "opacity": 0.4},
        customdata=counts, hovertemplate=t("firm_cell_hover", lang) + "<extra></extra>",
    ))
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.02}, separators=separators(lang))
    return fig


def firm_cells_caption(cells: pd.DataFrame, cell_m: float, lang: str) -> str:
    """Says that firms are aggregated, how, and how many there are."""
    total = int(cells["firms"].sum()) if len(cells) else 0
    return t("firm_cells_caption", lang, firms=fmt_number(total, lang), cells=fmt_number(len(cells), lang),
             size=fmt_number(cell_m, lang))


def firm_cells_table(cells: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The firm-cell layer as a table (and download): cell id, position, counts, trust."""
    return pd.DataFrame({
        t("col_cell", lang): range(1, len(cells) + 1),
        "lon": cells["lon"].round(6), "lat": cells["lat"].round(6),
        t("col_firms", lang): cells["firms"].astype("int64"),
        t("col_firms_digital", lang): cells["digital"].astype("int64"),
        t("col_firms_artisan", lang): cells["artisan"].astype("int64"),
        t("col_trust", lang): [trust_list(v, lang) for v in cells["trust"]],
    })


def points_geojson(table: pd.DataFrame, id_col: str, lon_col: str = "lon", lat_col: str = "lat") -> dict:
    """A FeatureCollection of Point features (id = the table's `id_col`), for GeoJSON downloads of a
    point layer; rows without coordinates have no feature."""
    features = []
    for key, lon, lat in zip(table[id_col], table[lon_col], table[lat_col], strict=True):
        if pd.isna(lon) or pd.isna(lat):
            continue
        features.append({"type": "Feature", "id": key if isinstance(key, (int, str)) else str(key), "properties": {},
                         "geometry": {"type": "Point", "coordinates": [round(float(lon), 6), round(float(lat), 6)]}})
    return {"type": "FeatureCollection", "features": features}


# --------------------------------------------------------------------------------------------------
# Places (map layers and district page)


PLACE_STATUSES = ("degraded", "regeneration", "vacant", "assigned", "active")


def status_label(status: str, lang: str) -> str:
    """Status of a place (vacant: degraded / regeneration; firm: active), translated when known."""
    return t(f"place_status_{status}", lang) if status in PLACE_STATUSES else status


def category_label(category: str, lang: str) -> str:
    """Programme category of a firm (config/ateco_categories.toml) or a place class, translated when known."""
    return t(f"cat_{category}", lang) if category in CATEGORIES else category


def places_table(frame: pd.DataFrame, theme: str, lang: str) -> pd.DataFrame:
    """Places of one theme as a table (and download). The id column is 'source:key' (unique per file).

    Vacant places: 'Tipologia' is the former use (never the condition), area in m² where the source
    gives a footprint, the link to the official record sheet, and whether the ownership is assumed."""
    attrs = [place_attributes(a) for a in (frame["attributes"] if "attributes" in frame else [None] * len(frame))]
    out = pd.DataFrame({
        t("col_place_id", lang): [f"{s}:{k}" for s, k in zip(frame["source_id"], frame["source_key"], strict=True)],
        t("col_name", lang): plain_column(frame["name"]),
        t("col_address", lang): plain_column(frame["address"]),
        t("col_nil", lang): frame["district_id"].astype("Int64"),
        t("col_municipio", lang): frame["municipio"].astype("Int64"),
    })
    if theme == "vacant":
        out[t("th_col_typology", lang)] = [former_use(c, a) for c, a in zip(frame["category"], attrs, strict=True)]
        out[t("col_status", lang)] = [status_label(s, lang) if _text(s) else "" for s in frame["status"]]
        out[t("col_ownership", lang)] = [
            (t(f"ownership_{o}", lang) + (f" ({t('th_assumed', lang)})" if ownership_assumed(a) else "")) if _text(o) else
            t("th_owner_guess", lang, guess=t(f"ownership_{g}", lang)) if (g := assumed_ownership_value(a)) else ""
            for o, a in zip(frame["ownership"], attrs, strict=True)]
    else:
        out[t("col_category", lang)] = [category_label(c, lang) if _text(c) else "" for c in frame["category"]]
    if theme in ("makerspace", "vacant"):
        out[t("col_area_m2", lang)] = pd.to_numeric(frame["area_m2"], errors="coerce").astype(float).round(0)
    if theme == "coworking":
        out[t("col_seats", lang)] = frame["seats"]
    if theme == "vacant":
        out[t("th_col_record", lang)] = [(record_links(a) or [None])[0] for a in attrs]
    out["lon"] = frame["lon"].round(6)
    out["lat"] = frame["lat"].round(6)
    out[t("col_assignment", lang)] = [t(f"assign_{a}", lang) for a in frame["assignment"]]
    out[t("col_source", lang)] = frame["source_id"]
    out[t("col_trust", lang)] = [trust_label(x, lang) + (f" ({t('th_secondary', lang)})" if x == "derived" else "")
                                 for x in frame["trust"]]
    return out


# --------------------------------------------------------------------------------------------------
# District page


def profile_areas(district_id: int, municipio: object, periphery_class: str | None) -> tuple[tuple[str, str], ...]:
    """The (level, area_id) pairs of a NIL's profile: the NIL, its Municipio, its class, the city."""
    areas = [("nil", str(district_id))]
    if _text(municipio):
        areas.append(("municipio", str(int(municipio))))  # type: ignore[call-overload]
    if periphery_class:
        areas.append(("periphery_class", periphery_class))
    areas.append(("city", CITY_AREA))
    return tuple(areas)


@dataclass(frozen=True)
class DistrictHeader:
    """Who a NIL is: name, Municipio, periphery class, priority areas, residents (one caption line)."""

    district_id: int
    label: str
    municipio: int | None
    periphery_class: str | None
    priority_areas: tuple[str, ...]
    caption: str


def district_header(nil_stats: pd.DataFrame, groups: pd.DataFrame, district_id: int, lang: str) -> DistrictHeader:
    """The header of the district page (`groups` may be empty when there is no snapshot)."""
    rows = nil_stats[nil_stats["id"] == district_id]
    row = rows.iloc[0].to_dict() if len(rows) else {"name": "", "municipio": None, "residents": None,
                                                        "population_year": None, "population_trust": None}
    municipio = None if row["municipio"] is None or pd.isna(row["municipio"]) else int(row["municipio"])
    cls = nil_class(groups, district_id) if len(groups) else None
    prio = tuple(plain(p) for p in nil_priority_areas(groups, district_id)) if len(groups) else ()
    parts = []
    if municipio is not None:
        parts.append(f"{t('col_municipio', lang)} {municipio}")
    parts.append(f"{t('level_periphery_class', lang)}: {class_name(cls, lang) if cls else t('no_class', lang)}")
    if prio:
        parts.append(f"{t('col_priority_areas', lang)}: {', '.join(prio)}")
    residents = row.get("residents")
    if residents is not None and not pd.isna(residents):
        year = _period(row.get("population_year"))
        extra = ", ".join(x for x in (str(year) if year else "", trust_label(row.get("population_trust"), lang)) if x)
        parts.append(f"{t('kpi_residents', lang)}: {fmt_number(float(residents), lang)} ({extra})")
    return DistrictHeader(district_id=district_id, label=area_label(district_id, plain(row["name"])), municipio=municipio, periphery_class=cls,
                          priority_areas=prio, caption=" · ".join(parts))


def trend_options(metas: Mapping[str, IndicatorMeta]) -> list[str]:
    """Indicators with a NIL-level series (those a district's trend can show)."""
    return [i for i, m in metas.items() if "nil" in m.levels]


def compare(value: float | None, reference: float | None, direction: str, lang: str) -> str:
    """A NIL value against a reference (the city), direction-aware: better / worse / in line; for a
    neutral indicator: higher / lower / in line. Within 5 % of the reference counts as in line."""
    if value is None or reference is None or pd.isna(value) or pd.isna(reference):
        return "–"
    gap = value - reference
    scale = abs(reference) if reference else abs(value)
    if scale == 0 or abs(gap) <= IN_LINE_TOLERANCE * scale:
        return t("cmp_in_line", lang)
    higher = gap > 0
    if direction == "neutral":
        return t("cmp_higher" if higher else "cmp_lower", lang)
    better = higher if direction == "higher_better" else not higher
    return t("cmp_better" if better else "cmp_worse", lang)


def profile_table(profile: pd.DataFrame, metas: Mapping[str, IndicatorMeta], areas: Sequence[tuple[str, str]],
                  names: Mapping[tuple[str, str], str], lang: str) -> pd.DataFrame:
    """Every indicator of the NIL against its Municipio, periphery class and the city (one row each).

    Columns: indicator, unit, one value column per area (named after the area), comparison with the
    city, data year, note (why missing / caveat) and trust of the NIL value. Counts and sums are not
    compared with the city (a district always has fewer than the whole city).
    """
    lookup = {(r["indicator_id"], r["level"], str(r["area_id"])): r for r in profile.to_dict("records")}
    nil_key = areas[0]
    rows = []
    for ind, meta in metas.items():
        nil_row = lookup.get((ind, *nil_key))
        row: dict[str, object] = {t("col_indicator", lang): meta.name, t("col_unit", lang): meta.unit}
        for area in areas:
            r = lookup.get((ind, *area))
            value = None if r is None or pd.isna(r["value"]) else round(float(r["value"]), meta.decimals)
            row[_area_column(area, names, lang)] = value
        city = lookup.get((ind, "city", CITY_AREA))
        nil_value = None if nil_row is None or pd.isna(nil_row["value"]) else float(nil_row["value"])
        city_value = None if city is None or pd.isna(city["value"]) else float(city["value"])
        row[t("col_vs_city", lang)] = t("cmp_count", lang) if meta.is_count else \
            compare(nil_value, city_value, meta.direction, lang)
        row[t("col_period", lang)] = None if nil_row is None else _period(nil_row["period"])
        if nil_row is None:
            note = t("reason_not_at_level", lang) if "nil" not in meta.levels else t("reason_no_row", lang)
        else:
            note = _text(nil_row["reason"])
        row[t("col_note", lang)] = note
        row[t("col_trust", lang)] = "" if nil_row is None else trust_label(nil_row["trust"], lang)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame[t("col_period", lang)] = frame[t("col_period", lang)].astype("Int64")
    return frame


def _area_column(area: tuple[str, str], names: Mapping[tuple[str, str], str], lang: str) -> str:
    level, area_id = area
    name = names.get(area, area_id)
    if level == "periphery_class":
        return f"{t('level_periphery_class', lang)}: {name}"
    return name


def nil_geojson(geojson: dict, district_id: int) -> dict:
    """The FeatureCollection reduced to one NIL."""
    return {"type": "FeatureCollection",
            "features": [f for f in geojson.get("features", []) if str(f.get("id")) == str(district_id)]}


def district_map(one_nil: dict, label: str, layers: Sequence[tuple[str, pd.DataFrame]], lang: str,
                 map_style: str) -> go.Figure:
    """Small map of one NIL (outline) with its places, one layer per theme: [(theme, places), ...]."""
    center, zoom = maps.center_zoom(maps.bounds_of(one_nil), width_px=600, height_px=380)
    fig = go.Figure()
    ids = [f["id"] for f in one_nil.get("features", [])]
    if ids:
        fig.add_trace(go.Choroplethmap(
            geojson=one_nil, locations=ids, z=[1] * len(ids), colorscale=[[0, "#fdd0a2"], [1, "#fdd0a2"]],
            showscale=False, marker_opacity=0.45, marker_line_width=2, marker_line_color="#d94801",
            text=[html.escape(label)] * len(ids), hovertemplate="%{text}<extra></extra>", name=html.escape(label)))
    for theme, places in layers:
        add_place_layer(fig, places, theme, lang)
    fig.update_layout(map={"style": map_style, "center": center, "zoom": min(zoom, 16.0)},
                      margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=380, showlegend=True,
                      legend={"orientation": "h", "y": -0.02})
    return fig


def firm_mix_table(units: pd.DataFrame, points: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Firm mix of an area by programme category: local units (ds201, latest year) and point-located
    firms, each with its share of the total (%)."""
    cats: list[str] = []
    for frame in (units, points):
        for c in frame["category"] if "category" in frame else []:
            if isinstance(c, str) and c not in cats:
                cats.append(c)
    cats = [c for c in CATEGORIES if c in cats] + sorted(c for c in cats if c not in CATEGORIES)
    year = None
    unit_counts: dict[str, float] = {}
    if len(units):
        year = int(units["year"].max())
        latest = units[units["year"] == year]
        unit_counts = {str(k): float(v) for k, v in latest.groupby("category")["units"].sum().items()}
    firm_counts = {str(k): float(v) for k, v in points.groupby("category")["firms"].sum().items()} if len(points) else {}
    total_units = sum(unit_counts.values())
    total_firms = sum(firm_counts.values())

    def share(part: float | None, total: float) -> float | None:
        return None if part is None or total == 0 else round(100 * part / total, 1)

    rows = []
    for c in cats:
        u = unit_counts.get(c, 0.0) if unit_counts else None
        f = firm_counts.get(c, 0.0) if firm_counts else None
        rows.append({
            t("col_category", lang): category_label(c, lang),
            t("col_units", lang, year=year if year is not None else "–"): u,
            t("col_units_share", lang): share(u, total_units),
            t("col_firms", lang): f,
            t("col_firms_share", lang): share(f, total_firms),
        })
    columns = [t("col_category", lang), t("col_units", lang, year=year if year is not None else "–"),
               t("col_units_share", lang), t("col_firms", lang), t("col_firms_share", lang)]
    return pd.DataFrame(rows, columns=columns)


def firm_mix_chart(table: pd.DataFrame, lang: str) -> go.Figure:
    """Horizontal bars of the two shares of `firm_mix_table`."""
    cat_col, share_units, share_firms = table.columns[0], table.columns[2], table.columns[4]
    fig = go.Figure()
    for col, color in ((share_units, "#6baed6"), (share_firms, "#fd8d3c")):
        if table[col].notna().any():
            fig.add_trace(go.Bar(y=table[cat_col], x=table[col], orientation="h", name=str(col), marker_color=color,
                                 hovertemplate="%{y}: %{x:.1f} %<extra></extra>"))
    fig.update_layout(barmode="group", height=260, margin={"l": 0, "r": 0, "t": 10, "b": 0},
                      xaxis={"title": {"text": "%"}}, yaxis={"autorange": "reversed"},
                      legend={"orientation": "h", "y": -0.25}, separators=separators(lang))
    return fig


def trend_frame(history: pd.DataFrame, lang: str) -> pd.DataFrame:
    """An area's series for the trend chart, one row per point, on the data's reference period:

    - values with a data year: one point per year (x = 1 July of that year), from the latest snapshot
      that has it (a later build may revise a year);
    - values without a year: one point per snapshot (x = the snapshot's date);
    - snapshots whose inputs equal an earlier one (`same_as`) add no point.
    Columns: x, series ('year' / 'snapshot'), series_label, period, snapshot_id, created_at, value, reason, trust.
    """
    columns = ["x", "series", "series_label", "period", "snapshot_id", "created_at", "value", "reason", "trust"]
    if history.empty:
        return pd.DataFrame(columns=columns)
    h = history.assign(created_at=pd.to_datetime(history["created_at"]))
    if "same_as" in h:
        h = h[h["same_as"].isna()]
    dated = h[h["period"].notna()].sort_values("created_at").drop_duplicates("period", keep="last")
    dated = dated.assign(x=[pd.Timestamp(year=int(p), month=7, day=1) for p in dated["period"]], series="year",
                         series_label=t("series_year", lang))
    undated = h[h["period"].isna()].assign(x=lambda f: f["created_at"], series="snapshot",
                                           series_label=t("series_snapshot", lang))
    out = pd.concat([dated, undated], ignore_index=True)
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype(float)
    out["reason"] = [reason_text(r, lang) or None for r in out["reason"].astype("object")]
    out["period"] = out["period"].astype("Int64")
    out["_order"] = (out["series"] == "snapshot").astype(int)  # data years first, then snapshots
    return out.sort_values(["_order", "x"]).reset_index(drop=True)[columns]


def trend_caption(trend: pd.DataFrame, lang: str) -> str:
    """What the trend shows: how many snapshots and data years, and whether a line can be drawn yet."""
    snaps = int(trend["snapshot_id"].nunique())
    years = sorted(int(p) for p in trend["period"].dropna().unique())
    parts = [t("trend_snapshots", lang, n=snaps)]
    if years:
        parts.append(t("trend_years", lang, first=years[0], last=years[-1], n=len(years)))
    if snaps < 2:
        parts.append(t("trend_one_snapshot", lang))
    if (trend["series"] == "snapshot").any():
        parts.append(t("trend_snapshot_dates", lang))
    return " ".join(parts)


def point_tick(series: str, period: object, created_at: object, lang: str) -> str:
    """The x-axis label of a trend point: the data year, or the snapshot date in the page language."""
    if series == "year" and _period(period) is not None:
        return str(_period(period))
    return fmt_date(pd.Timestamp(created_at).date(), lang) if _text(created_at) else ""


def trend_chart(trend: pd.DataFrame, meta: IndicatorMeta, label: str, lang: str) -> go.Figure:
    """Chart of `trend_frame`: one line per series (one labelled marker when a series has one point);
    ticks only at the points, labelled with the data year or the snapshot date in the page language."""
    fig = go.Figure()
    for series, color in (("year", "#08519c"), ("snapshot", "#d94801")):
        part = trend[trend["series"] == series]
        if part.empty:
            continue
        hover = []
        for row in part.itertuples(index=False):
            when = t("data_year", lang, year=int(row.period)) if series == "year" else \
                t("snapshot_of", lang, date=fmt_date(row.created_at, lang))
            text = format_value(row.value, meta, lang)
            if _text(row.reason):
                text += f"<br>{_esc(row.reason)}"
            hover.append(f"{when}<br>{text}<br>{t('col_trust', lang)}: {trust_label(row.trust, lang)}")
        single = len(part) == 1
        fig.add_trace(go.Scatter(
            x=part["x"], y=part["value"], mode="markers+text" if single else "lines+markers",
            name=str(part["series_label"].iloc[0]), line={"color": color}, marker={"size": 11 if single else 7, "color": color},
            text=[format_value(v, meta, lang) for v in part["value"]] if single else None, textposition="top center",
            hovertext=hover, hovertemplate="%{hovertext}<extra></extra>"))
    ticks = trend.drop_duplicates("x")
    labels = [point_tick(s, p, c, lang) for s, p, c in zip(ticks["series"], ticks["period"], ticks["created_at"], strict=True)]
    if len(set(labels)) < len(labels):  # two snapshots of the same day: add the time
        labels = [f"{lab} {pd.Timestamp(c):%H:%M}" if s == "snapshot" else lab
                  for lab, s, c in zip(labels, ticks["series"], ticks["created_at"], strict=True)]
    fig.update_layout(height=320, margin={"l": 0, "r": 0, "t": 40, "b": 0},
                      title={"text": f"{html.escape(meta.name)} – {html.escape(plain(label))}", "font": {"size": 14}},
                      yaxis={"title": {"text": meta.unit}, "rangemode": "tozero"}, legend={"orientation": "h", "y": -0.2},
                      xaxis={"tickmode": "array", "tickvals": list(ticks["x"]), "ticktext": labels},
                      separators=separators(lang))
    if len(ticks) == 1:  # a lone point: a window of a year around it, not milliseconds
        x0 = pd.Timestamp(ticks["x"].iloc[0])
        fig.update_xaxes(range=[x0 - pd.Timedelta(days=183), x0 + pd.Timedelta(days=183)])
    return fig


def trend_table(trend: pd.DataFrame, meta: IndicatorMeta, lang: str) -> pd.DataFrame:
    """The trend's points as a table (and download); no data-year column when no point has one."""
    return _drop_empty_period(pd.DataFrame({
        t("col_series", lang): trend["series_label"],
        t("col_period", lang): trend["period"].astype("Int64"),
        t("col_snapshot", lang): trend["snapshot_id"],
        t("col_snapshot_date", lang): pd.to_datetime(trend["created_at"]).dt.date,
        t("col_value", lang): _round(trend["value"], meta.decimals),
        t("col_unit", lang): meta.unit,
        t("col_note", lang): [_text(r) for r in trend["reason"]],
        t("col_trust", lang): [trust_label(x, lang) for x in trend["trust"]],
    }), lang)


# --------------------------------------------------------------------------------------------------
# Periphery page


def group_areas(groups: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """Periphery classes (centro, semicentro, periferia, then any other), priority areas, then the city."""
    classes = sorted({str(g) for g in groups.loc[groups["group_level"] == "periphery_class", "group_id"]},
                     key=lambda c: (PERIPHERY_CLASSES.index(c) if c in PERIPHERY_CLASSES else len(PERIPHERY_CLASSES), c))
    priority = list(dict.fromkeys(str(g) for g in groups.loc[groups["group_level"] == "priority_area", "group_id"]))
    return (*(("periphery_class", c) for c in classes), *(("priority_area", p) for p in priority), ("city", CITY_AREA))


def group_comparison_table(profile: pd.DataFrame, metas: Mapping[str, IndicatorMeta], areas: Sequence[tuple[str, str]],
                           names: Mapping[tuple[str, str], str], lang: str) -> pd.DataFrame:
    """Indicators (rows) × periphery classes, priority areas and city (columns); numbers rounded to the
    unit's decimals, missing values empty (their reasons are in `group_notes_table`)."""
    lookup = {(r["indicator_id"], r["level"], str(r["area_id"])): r["value"] for r in profile.to_dict("records")}
    rows = []
    for ind, meta in metas.items():
        row: dict[str, object] = {t("col_indicator", lang): meta.name, t("col_unit", lang): meta.unit,
                                  t("col_direction", lang): direction_label(meta.direction, lang)}
        for area in areas:
            v = lookup.get((ind, *area))
            row[_group_column(area, names, lang)] = None if v is None or pd.isna(v) else round(float(v), meta.decimals)
        rows.append(row)
    return pd.DataFrame(rows)


def _group_column(area: tuple[str, str], names: Mapping[tuple[str, str], str], lang: str) -> str:
    level, area_id = area
    name = names.get(area, area_id)
    if level == "priority_area":
        return f"{t('priority_prefix', lang)}: {name}"
    return name


def group_notes_table(profile: pd.DataFrame, metas: Mapping[str, IndicatorMeta], names: Mapping[tuple[str, str], str],
                      lang: str) -> pd.DataFrame:
    """The notes behind `group_comparison_table`: one row per (indicator, group) with a reason."""
    rows = []
    for r in profile.to_dict("records"):
        if not _text(r["reason"]) or r["indicator_id"] not in metas:
            continue
        meta = metas[r["indicator_id"]]
        rows.append({t("col_indicator", lang): meta.name,
                     t("col_area", lang): names.get((r["level"], str(r["area_id"])), str(r["area_id"])),
                     t("col_value", lang): None if pd.isna(r["value"]) else round(float(r["value"]), meta.decimals),
                     t("col_note", lang): reason_text(r["reason"], lang)})
    return pd.DataFrame(rows, columns=[t("col_indicator", lang), t("col_area", lang), t("col_value", lang), t("col_note", lang)])


def ranking(values: pd.DataFrame, nil_stats: pd.DataFrame, groups: pd.DataFrame, meta: IndicatorMeta, lang: str,
            class_id: str = PERIPHERY) -> pd.DataFrame:
    """NIL of one periphery class ranked on an indicator, best first (direction-aware; a neutral
    indicator is ordered from the highest value, without judgement). Ties share a rank; NIL without a
    value come last, unranked, with the reason."""
    members = groups[(groups["group_level"] == "periphery_class") & (groups["group_id"] == class_id)]["district_id"]
    ids = {int(i) for i in members}
    vals = values.assign(id=pd.to_numeric(values["area_id"], errors="coerce")).dropna(subset=["id"])
    vals = vals.assign(id=vals["id"].astype("int64"))
    base = nil_stats[nil_stats["id"].isin(ids)][["id", "name", "municipio"]]
    frame = base.merge(vals[["id", "value", "period", "reason", "trust"]], on="id", how="left")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame["reason"] = [reason_text(r, lang) or None for r in frame["reason"].astype("object")]  # NULL columns: float
    ascending = meta.direction == "lower_better"
    frame["rank"] = frame["value"].rank(method="min", ascending=ascending).astype("Int64")
    frame = frame.sort_values(["rank", "id"], na_position="last").reset_index(drop=True)
    no_row = frame["value"].isna() & frame["reason"].isna()
    frame.loc[no_row, "reason"] = t("reason_no_row", lang)
    return _drop_empty_period(pd.DataFrame({
        t("col_rank", lang): frame["rank"],
        t("col_id", lang): frame["id"],
        t("col_name", lang): frame["name"],
        t("col_municipio", lang): frame["municipio"].astype("Int64"),
        t("col_value", lang): frame["value"].round(meta.decimals),
        t("col_unit", lang): meta.unit,
        t("col_period", lang): frame["period"].astype("Int64"),
        t("col_note", lang): [_text(r) for r in frame["reason"]],
        t("col_trust", lang): [trust_label(x, lang) if _text(x) else "" for x in frame["trust"]],
    }), lang)


def class_options(detail: pd.DataFrame) -> list[str]:
    """Periphery classes present in a snapshot (centro, semicentro, periferia first)."""
    return [a for lv, a in group_areas(detail) if lv == "periphery_class"]


def subset_geojson(geojson: dict, ids: Iterable[object]) -> dict:
    """The FeatureCollection reduced to the features whose id is in `ids` (compared as text)."""
    wanted = {str(i) for i in ids}
    return {"type": "FeatureCollection", "features": [f for f in geojson.get("features", []) if str(f.get("id")) in wanted]}


def ranking_caption(meta: IndicatorMeta, lang: str) -> str:
    return t(f"ranking_{meta.direction}", lang)


def class_table(detail: pd.DataFrame, nil_stats: pd.DataFrame, lang: str) -> pd.DataFrame:
    """One row per NIL: its periphery class, distance from the centre, the rule that placed it, and
    its priority areas."""
    classes = detail[detail["group_level"] == "periphery_class"].drop_duplicates("district_id").set_index("district_id")
    prio = detail[detail["group_level"] == "priority_area"].groupby("district_id")["group_name"].agg(lambda s: ", ".join(map(str, s)))
    rows = []
    for i, name, mun in zip(nil_stats["id"], nil_stats["name"], nil_stats["municipio"], strict=True):
        c = classes.loc[i] if i in classes.index else None
        rows.append({
            t("col_id", lang): int(i), t("col_name", lang): name,
            t("col_municipio", lang): None if pd.isna(mun) else int(mun),
            t("col_class", lang): "" if c is None else class_name(str(c["group_id"]), lang),
            t("col_distance_km", lang): None if c is None or pd.isna(c["distance_m"])
            else round(float(c["distance_m"]) / 1000, 2),
            t("col_basis", lang): "" if c is None else _text(c["basis"]),
            t("col_priority_areas", lang): prio.get(i, ""),
        })
    out = pd.DataFrame(rows)
    if not out.empty:
        out[t("col_municipio", lang)] = out[t("col_municipio", lang)].astype("Int64")
    return out


def class_map(geojson: dict, detail: pd.DataFrame, nil_stats: pd.DataFrame, lang: str, map_style: str) -> go.Figure:
    """Map of the classification: one flat colour per periphery class, the rule in the hover; NIL
    without a class grey."""
    center, zoom = maps.center_zoom(maps.bounds_of(geojson))
    classes = detail[detail["group_level"] == "periphery_class"].drop_duplicates("district_id").set_index("district_id")
    names = dict(zip(nil_stats["id"], nil_stats["name"], strict=True))
    fig = go.Figure()
    order = [c for c in PERIPHERY_CLASSES] + sorted({str(g) for g in classes["group_id"]} - set(PERIPHERY_CLASSES))
    for cls in [*order, None]:
        if cls is None:
            ids = [i for i in names if i not in classes.index]
        else:
            ids = [int(i) for i in classes.index[classes["group_id"] == cls]]
        if not ids:
            continue
        color = CLASS_COLORS.get(cls or "", "#d9d9d9")
        label = class_name(cls, lang) if cls else t("no_class", lang)
        hover = []
        for i in ids:
            basis = _esc(classes.loc[i, "basis"]) if i in classes.index else ""
            hover.append(f"{_esc(area_label(i, names.get(i, '')))}<br>{html.escape(label)}" + (f"<br>{basis}" if basis else ""))
        fig.add_trace(go.Choroplethmap(
            geojson=geojson, locations=ids, z=[1] * len(ids), colorscale=[[0, color], [1, color]], showscale=False,
            marker_line_width=0.6, marker_line_color="white", marker_opacity=0.85, name=label, showlegend=True,
            text=hover, hovertemplate="%{text}<extra></extra>"))
    fig.update_layout(map={"style": map_style, "center": center, "zoom": zoom}, margin={"l": 0, "r": 0, "t": 0, "b": 0},
                      height=520, legend={"orientation": "h", "y": -0.02})
    return trim_geojson(fig)


def periphery_rule(config: Mapping[str, Any], snapshot_version: str | None, lang: str) -> list[str]:
    """Markdown lines (to join with newlines; "" separates paragraphs) explaining the classification rule
    of config/periphery.toml and its version.

    The rings, exceptions and priority areas are shown only when the file on disk has the snapshot's
    version; otherwise the page says the configuration has changed since the snapshot was built.
    """
    lines = [t("rule_version", lang, version=snapshot_version or t("no_data", lang))]
    if not config:
        lines.append(t("rule_no_config", lang))
        return lines
    if str(config.get("version")) != str(snapshot_version):
        lines.append(t("rule_config_changed", lang, version=html.escape(str(config.get("version")))))
        return lines
    centre = config.get("centre", {}).get("name", "")
    lines += ["", t("rule_intro", lang, centre=centre), ""]
    lower = 0.0
    for ring in config.get("ring", []):
        name = class_name(str(ring.get("id", "")), lang)
        upper = ring.get("max_m")
        if upper is None:
            span = t("rule_beyond", lang, km=fmt_number(lower / 1000, lang, 1))
        else:
            span = t("rule_between", lang, low=fmt_number(lower / 1000, lang, 1), high=fmt_number(float(upper) / 1000, lang, 1))
            lower = float(upper)
        desc = _config_text(ring, "description", lang)
        lines.append(f"- **{name}**: {span}" + (f" — {desc}" if desc else ""))
    overrides = config.get("overrides", {})
    if overrides:
        lines += ["", t("rule_overrides", lang, n=len(overrides)), ""]
        for district_id, o in overrides.items():
            reason = _config_text(o, "reason", lang)
            lines.append(f"- NIL {district_id} → {class_name(str(o.get('class', '')), lang)}" + (f": {reason}" if reason else ""))
    areas = config.get("priority_area", [])
    if areas:
        lines += ["", t("rule_priority", lang, n=len(areas))]
    return lines


# --------------------------------------------------------------------------------------------------
# Overview


@dataclass(frozen=True)
class Headline:
    """One st.metric of the overview: value, change since the previous snapshot, its colour rule."""

    label: str
    value: str
    delta: str | None
    delta_color: str  # 'normal' | 'inverse' | 'off'
    help: str
    arrow: str = "auto"  # 'off' when nothing changed (no misleading up arrow)


def affected_indicators(changes: pd.DataFrame, snapshot_id: str) -> set[str]:
    """Indicators (and 'level:...' entries, or '*') whose series break at `snapshot_id` (taxonomy_changes.affects)."""
    out: set[str] = set()
    if changes.empty or "affects" not in changes:
        return out
    for affects in changes.loc[changes["snapshot_id"] == snapshot_id, "affects"]:
        out.update(str(a) for a in parse_levels(affects))
    return out


def _breaks(indicator_id: str, level: str, affected: set[str]) -> bool:
    return "*" in affected or indicator_id in affected or f"level:{level}" in affected


def headlines(current: pd.DataFrame, previous: pd.DataFrame | None, metas: Mapping[str, IndicatorMeta],
              level: str, area_id: str, lang: str, affected: set[str] | None = None,
              indicators: Sequence[str] = HEADLINE_INDICATORS) -> list[Headline]:
    """Headline numbers for one area (the city, the periphery) with the change since the previous
    snapshot. `previous` None = there is no previous snapshot (no delta). The delta is withheld when
    the taxonomy or classification changed in between (`affected`): it would not be a trend."""
    affected = affected or set()

    def pick(frame: pd.DataFrame | None, ind: str) -> dict | None:
        if frame is None or frame.empty:
            return None
        rows = frame[(frame["indicator_id"] == ind) & (frame["level"] == level) & (frame["area_id"].astype(str) == area_id)]
        return rows.iloc[0].to_dict() if len(rows) else None

    out = []
    for ind in indicators:
        meta = metas.get(ind)
        if meta is None or level not in meta.levels:
            continue
        cur = pick(current, ind)
        value = None if cur is None or pd.isna(cur["value"]) else float(cur["value"])
        help_parts = [meta.description]
        period = None if cur is None else _period(cur["period"])
        if period is not None:
            help_parts.append(t("data_year", lang, year=period))
        if cur is not None and _text(cur["reason"]):
            help_parts.append(reason_text(cur["reason"], lang))
        delta = None
        arrow = "auto"
        if previous is None:
            help_parts.append(t("no_previous_snapshot", lang))
        elif _breaks(ind, level, affected):
            help_parts.append(t("delta_not_comparable", lang))
        else:
            prev = pick(previous, ind)
            prev_value = None if prev is None or pd.isna(prev["value"]) else float(prev["value"])
            if value is not None and prev_value is not None:
                change = value - prev_value
                sign = "+" if change > 0 else ""
                delta = f"{sign}{fmt_number(change, lang, meta.decimals)}"
                if round(change, meta.decimals) == 0:
                    delta, arrow = fmt_number(0, lang, meta.decimals), "off"
                help_parts.append(t("delta_help", lang, previous=format_value(prev_value, meta, lang)))
            else:
                help_parts.append(t("delta_missing", lang))
        color = {"higher_better": "normal", "lower_better": "inverse"}.get(meta.direction, "off")
        if arrow == "off":  # no change: neither green nor red
            color = "off"
        # The name says what is counted ("... ogni 100.000 residenti"); % and metres keep their unit.
        shown = format_value(value, meta, lang, with_unit=meta.raw_unit in ("%", "m", "m²")) if value is not None else "–"
        out.append(Headline(label=meta.name, value=shown, delta=delta, delta_color=color, help=" · ".join(help_parts),
                            arrow=arrow))
    return out


HEADLINE_AREAS = (("city", CITY_AREA), ("periphery_class", PERIPHERY))


def headlines_caption(snapshot: SnapshotRef, lang: str) -> str:
    """Which snapshot the headline numbers come from, and what the deltas compare with."""
    date = snapshot.created_at
    when = fmt_date(date, lang) if hasattr(date, "strftime") else _text(date)
    if snapshot.previous_id is None:
        return t("headlines_caption_first", lang, date=when)
    return t("headlines_caption", lang, date=when, previous=snapshot.previous_id)


def headline_area_title(level: str, area_id: str, lang: str) -> str:
    return t("city_name", lang) if level == "city" else f"{t('level_periphery_class', lang)}: {class_name(area_id, lang)}"


def headline_table(current: pd.DataFrame, previous: pd.DataFrame | None, metas: Mapping[str, IndicatorMeta],
                   lang: str, areas: Sequence[tuple[str, str]] = HEADLINE_AREAS,
                   indicators: Sequence[str] = HEADLINE_INDICATORS) -> pd.DataFrame:
    """The headline numbers as a table (and download): value now, in the previous snapshot, change."""
    def lookup(frame: pd.DataFrame | None) -> dict[tuple[str, str, str], dict]:
        if frame is None or frame.empty:
            return {}
        return {(r["indicator_id"], r["level"], str(r["area_id"])): r for r in frame.to_dict("records")}

    cur, prev = lookup(current), lookup(previous)
    rows = []
    for level, area in areas:
        area_name = t("city_name", lang) if level == "city" else class_name(area, lang)
        for ind in indicators:
            meta = metas.get(ind)
            if meta is None or level not in meta.levels:
                continue
            c, p = cur.get((ind, level, area)), prev.get((ind, level, area))
            value = None if c is None or pd.isna(c["value"]) else round(float(c["value"]), meta.decimals)
            before = None if p is None or pd.isna(p["value"]) else round(float(p["value"]), meta.decimals)
            rows.append({
                t("col_indicator", lang): meta.name, t("col_area", lang): area_name, t("col_value", lang): value,
                t("col_unit", lang): meta.unit, t("col_period", lang): None if c is None else _period(c["period"]),
                t("col_previous", lang): before,
                t("col_change", lang): None if value is None or before is None else round(value - before, meta.decimals),
                t("col_note", lang): "" if c is None else reason_text(c["reason"], lang),
            })
    out = pd.DataFrame(rows)
    if not out.empty:
        out[t("col_period", lang)] = out[t("col_period", lang)].astype("Int64")
    return out


def overview_map_options(metas: Mapping[str, IndicatorMeta]) -> list[str]:
    """Choices of the overview map: population density first (always available), then NIL indicators."""
    return [DENSITY, *(i for i, m in metas.items() if "nil" in m.levels)]


def place_counts_table(counts: pd.DataFrame, lang: str, states: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Places loaded per theme, with the state of its source: a theme without a loaded source shows
    '–' and says so (never 0); one with per-NIL counts only shows the counts and says there is no point list.
    `states`: theme -> views.ThemeState (None = the build predates the source catalogue: counts as found)."""
    by_theme = {str(r["theme"]): r for r in counts.to_dict("records")}
    rows = []
    for theme in POINT_THEMES:
        r = by_theme.get(theme)
        state = (states or {}).get(theme)
        kind = state.state if state is not None else ("points" if r is not None else "absent")
        counted = state.counts_total if state is not None and kind == "counts" else None
        rows.append({
            t("col_theme", lang): t(f"theme_{theme}", lang),
            t("col_places", lang): int(r["places"]) if r is not None else counted,
            t("col_with_nil", lang): int(r["with_nil"]) if r is not None else counted,
            t("col_with_coords", lang): int(r["with_coords"]) if r is not None else (0 if kind == "counts" else None),
            t("col_trust", lang): trust_list(r["trust"], lang) if r is not None else
            ", ".join(trust_label(x, lang) for x in (state.counts_trust if state is not None else ())),
            t("col_source_state", lang): t(f"src_state_{kind}", lang),
        })
    out = pd.DataFrame(rows)
    for col in (t("col_places", lang), t("col_with_nil", lang), t("col_with_coords", lang)):
        out[col] = out[col].astype("Int64")
    return out


def recent_sources(sources: pd.DataFrame, lang: str, limit: int = 8) -> pd.DataFrame:
    """The latest loaded source files (newest first)."""
    loaded = sources[sources["status"] == "loaded"].sort_values(["loaded_at", "source_id"], ascending=[False, True]).head(limit)
    return pd.DataFrame({
        t("col_source", lang): loaded["source_id"],
        t("col_title", lang): [user_words(x) for x in loaded["title"]],
        t("col_loaded_at", lang): loaded["loaded_at"],
        t("col_rows_loaded", lang): loaded["rows_loaded"],
        t("col_trust", lang): [trust_label(x, lang) for x in loaded["trust"]],
    })


def taxonomy_table(changes: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Recorded changes of taxonomy/classification between snapshots (newest first)."""
    return pd.DataFrame({
        t("col_snapshot", lang): changes["snapshot_id"],
        t("col_snapshot_date", lang): pd.to_datetime(changes["created_at"]).dt.date,
        t("col_component", lang): changes["component"],
        t("col_old_version", lang): changes["old_version"],
        t("col_new_version", lang): changes["new_version"],
        t("col_note", lang): changes["note"],
    })
