"""View code shared by the indicator pages (Panoramica, Mappa, Quartiere, Periferie). Pure: no Streamlit.

What one page alone uses is in `osservatorio.page_views.<page>`; what every page uses (units,
catalogue entries, pickers, missing values, points GeoJSON) is in `osservatorio.views`. Functions
take the frames of `osservatorio.queries` and the warehouse's `Territory` (levels finest first,
labels, name): no level id, no place name is written here. Numbers stay numbers in tables (the
downloads keep them); numbers in texts go through `fmt_number`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from osservatorio import i18n, maps
from osservatorio.i18n import fmt_date, fmt_number, t
from osservatorio.territory import TERRITORY_LEVEL, Territory
from osservatorio.views import (
    IndicatorMeta,
    area_label,
    assumed_ownership_value,
    cell_text,
    choice_label,  # noqa: F401 still read from here by pages written before views.py had it
    default_choice,  # noqa: F401 still read from here by pages written before views.py had it
    direction_label,
    format_value,
    former_use,
    hover_text,
    indicator_metas,  # noqa: F401 still read from here by pages written before views.py had it
    inline_label,
    is_missing,
    level_names,
    ownership_assumed,
    place_attributes,
    plain_column,
    record_links,
    round_column,
    separators,
    trust_label,
    unit_label,  # noqa: F401 still read from here by pages written before views.py had it
    valued_indicators,  # noqa: F401 still read from here by pages written before views.py had it
    with_values_first,  # noqa: F401 still read from here by pages written before views.py had it
)

POINT_THEMES = ("makerspace", "coworking", "vacant", "historic_shop", "firm")
DEFAULT_LAYERS = ("makerspace",)
PERIPHERY_CLASSES = ("centro", "semicentro", "periferia")
PERIPHERY = "periferia"
DEFAULT_MAP_INDICATOR = "makerspaces_per_100k"
CLASS_COLORS = {"centro": "#08519c", "semicentro": "#6baed6", "periferia": "#fd8d3c"}
CATEGORIES = ("digital_manufacturing", "artisan_manufacturing", "digital_services", "other")


# --------------------------------------------------------------------------------------------------
# Snapshot and catalogue


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
                       periphery_version=None if is_missing(version) else str(version), previous_id=previous)


def snapshot_when(snapshot: SnapshotRef, lang: str) -> str:
    """The snapshot's date in the page language."""
    date = snapshot.created_at
    return fmt_date(date, lang) if hasattr(date, "strftime") else cell_text(date)  # type: ignore[arg-type]


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
    out[t("col_snapshot", lang)] = f"{snapshot.snapshot_id} ({snapshot_when(snapshot, lang)})"
    return out


def fine_indicators(metas: Mapping[str, IndicatorMeta], territory: Territory) -> list[str]:
    """Indicators with values at the territory's finest level (trends, rankings, the overview map)."""
    return [i for i, m in metas.items() if territory.fine.id in m.levels]


# --------------------------------------------------------------------------------------------------
# Reasons of missing values and caveats


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


def _legacy_reason(text: str, lang: str) -> str:
    """A stored Italian reason in the page language: each '; '-separated phrase the ETL writes is
    translated for English; an unknown phrase is kept as written."""
    if not text or lang != "en":
        return text
    out = []
    for phrase in text.split("; "):
        for pattern, replacement in _REASONS_EN:
            phrase = pattern.sub(replacement, phrase)
        out.append(phrase)
    return "; ".join(out)


def reason_text(reason: object, lang: str, code: object = None, params: object = None) -> str:
    """Why a value is missing (or its caveat) in the page language, '' when there is none.

    A stored reason code (indicator_values.reason_code, with its JSON parameters) is translated by
    `i18n.reason_text`; without a code, or before that helper exists, the Italian sentence is
    translated phrase by phrase."""
    fallback = cell_text(reason)
    translate = getattr(i18n, "reason_text", None)
    if translate is not None and cell_text(code):
        return str(translate(cell_text(code), cell_text(params) or None, lang, _legacy_reason(fallback, lang)))
    return _legacy_reason(fallback, lang)


def reasons_of(frame: pd.DataFrame, lang: str) -> list[str | None]:
    """`reason_text` of every row of a values frame (reason, and reason_code / reason_params when present)."""
    n = len(frame)
    reasons = frame["reason"].astype("object") if "reason" in frame else [None] * n
    codes = frame["reason_code"].astype("object") if "reason_code" in frame else [None] * n
    params = frame["reason_params"].astype("object") if "reason_params" in frame else [None] * n
    return [reason_text(r, lang, c, p) or None for r, c, p in zip(reasons, codes, params, strict=True)]


# --------------------------------------------------------------------------------------------------
# Areas: names, options, classes


def class_name(class_id: str, lang: str) -> str:
    """Centro / Semicentro / Periferia in the user's language (unknown ids as written)."""
    return t(f"class_{class_id}", lang) if class_id in PERIPHERY_CLASSES else class_id


def area_names(territory: Territory, stats: Mapping[str, pd.DataFrame], groups: pd.DataFrame,
               lang: str) -> dict[tuple[str, str], str]:
    """(level, area_id) -> display name for every level of indicator_values: the territory, its
    levels (`stats`: level id -> district_stats), the periphery classes and priority areas."""
    names = level_names(territory, stats, lang)
    seen = groups.drop_duplicates(["group_level", "group_id"])
    english = seen["group_name_en"] if lang == "en" and "group_name_en" in seen else [None] * len(seen)
    group_names = [cell_text(en) or cell_text(it) for en, it in zip(english, seen["group_name"], strict=True)]
    for level, gid, gname in zip(seen["group_level"], seen["group_id"], group_names, strict=True):
        names[(str(level), str(gid))] = class_name(str(gid), lang) if level == "periphery_class" else cell_text(gname) or str(gid)
    return names


def area_options(stats: pd.DataFrame) -> dict[str, str]:
    """Area id (as URL text) -> '12 · Name', in id order."""
    return {str(i): area_label(i, n) for i, n in zip(stats["id"], stats["name"], strict=True)}


def empty_value_counts() -> pd.DataFrame:
    """A data.area_value_counts frame with no rows (pages without a snapshot)."""
    return pd.DataFrame({"district_id": pd.Series(dtype="int64"), "with_value": pd.Series(dtype="int64")})


def empty_groups() -> pd.DataFrame:
    """A district_groups frame with no rows (pages without a snapshot)."""
    return pd.DataFrame({"group_level": pd.Series(dtype="object"), "group_id": pd.Series(dtype="object"),
                         "group_name": pd.Series(dtype="object"), "district_id": pd.Series(dtype="int64")})


def has_periphery(groups: pd.DataFrame) -> bool:
    """Whether the snapshot classifies the areas into periphery classes (a territory whose profile names no
    periphery file has no groups)."""
    return bool(len(groups)) and bool((groups["group_level"] == "periphery_class").any())


def default_area(stats: pd.DataFrame, groups: pd.DataFrame, value_counts: pd.DataFrame,
                 place_counts: pd.DataFrame | None = None) -> str | None:
    """The area a profile opens on: a peripheral area with the most indicator values, then the most
    places, then the lowest id (the programme is about the periphery); any area when none is peripheral
    (or the territory has no periphery classes)."""
    ids = [int(i) for i in stats["id"]]
    if not ids:
        return None
    peripheral = {int(i) for i in groups.loc[(groups["group_level"] == "periphery_class")
                                             & (groups["group_id"] == PERIPHERY), "district_id"]} if len(groups) else set()
    pool = [i for i in ids if i in peripheral] or ids
    values = {int(a): int(n) for a, n in zip(value_counts.get("district_id", []), value_counts.get("with_value", []), strict=True)
              if not is_missing(a)}
    places: dict[int, int] = {}
    if place_counts is not None and len(place_counts):
        for area, n in zip(place_counts["district_id"], place_counts["places"], strict=True):
            places[int(area)] = places.get(int(area), 0) + int(n)
    best = sorted(pool, key=lambda i: (-values.get(i, 0), -places.get(i, 0), i))[0]
    return str(best)


def area_class(groups: pd.DataFrame, district_id: int) -> str | None:
    """The periphery class of an area in a snapshot's groups (None when not classified)."""
    rows = groups[(groups["group_level"] == "periphery_class") & (groups["district_id"] == district_id)]
    return str(rows["group_id"].iloc[0]) if len(rows) else None


def area_priority_areas(groups: pd.DataFrame, district_id: int) -> list[str]:
    """Names of the priority areas an area belongs to."""
    rows = groups[(groups["group_level"] == "priority_area") & (groups["district_id"] == district_id)]
    return [str(n) for n in rows["group_name"]]


def area_codes(values: pd.Series) -> list[str | None]:
    """Area ids as codes for a table column headed by a level's label ('19036', not '19.036'); None when missing."""
    return [None if is_missing(v) else str(int(v)) for v in pd.to_numeric(values, errors="coerce")]


def parent_column(values: pd.Series) -> pd.Series:
    """The parent-area ids of a frame as nullable integers."""
    return pd.to_numeric(values, errors="coerce").astype("Int64")


# --------------------------------------------------------------------------------------------------
# Indicator maps and their tables (Mappa, Panoramica)


def map_frame(values: pd.DataFrame, districts: pd.DataFrame, meta: IndicatorMeta, lang: str) -> pd.DataFrame:
    """One row per area of the level (even without a value row): id, name, label, value, period,
    reason, trust and the hover text (value + caveat + trust, or why the value is missing)."""
    vals = values.assign(id=pd.to_numeric(values["area_id"], errors="coerce")).dropna(subset=["id"])
    vals = vals.assign(id=vals["id"].astype("int64"), reason=reasons_of(vals, lang)).drop_duplicates("id")
    base = pd.DataFrame({"id": districts["id"].astype("int64"), "name": districts["name"]})
    frame = base.merge(vals[["id", "period", "value", "reason", "trust"]], on="id", how="left")
    frame["reason"] = [None if is_missing(r) else r for r in frame["reason"].astype("object")]  # NULL columns: float
    frame["trust"] = frame["trust"].astype("object")
    no_row = frame["reason"].isna() & frame["value"].isna()
    frame.loc[no_row, "reason"] = t("reason_no_row", lang)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    frame["label"] = [hover_text(area_label(i, n)) for i, n in zip(frame["id"], frame["name"], strict=True)]
    hover = []
    for row in frame.itertuples(index=False):
        if pd.isna(row.value):
            hover.append(f"{row.label}<br>{t('no_data', lang)}: {hover_text(row.reason)}")
            continue
        parts = [format_value(row.value, meta, lang)]
        if not is_missing(row.period):
            parts.append(t("data_year", lang, year=int(row.period)))
        if cell_text(row.reason):
            parts.append(hover_text(row.reason))
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
    better, areas without a value grey with the reason in the hover."""
    fig = maps.choropleth(geojson, frame, "value", "label", title or meta.name, meta.unit, map_style=map_style,
                          hover_value=list(frame["hover"]), reverse=meta.reverse_scale)
    missing = frame[frame["value"].isna()]
    for trace in fig.data:
        if isinstance(trace, go.Choroplethmap) and trace.showscale is False:
            trace.update(name=t("no_data", lang), text=list(missing["hover"]), hovertemplate="%{text}<extra></extra>")
    fig.update_layout(showlegend=False, clickmode="event+select", separators=separators(lang))
    return trim_geojson(fig)


def drop_empty_period(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Without the data-year column when no row has a year (undated counts): no column of blanks."""
    column = t("col_period", lang)
    if column in table.columns and table[column].isna().all():
        return table.drop(columns=[column])
    return table


def values_table(frame: pd.DataFrame, meta: IndicatorMeta, level_label: str, lang: str) -> pd.DataFrame:
    """The map's values as a table (and download): id, name, level, value, unit, year, note, trust."""
    out = pd.DataFrame({
        t("col_area_id", lang): frame["id"],
        t("col_name", lang): frame["name"],
        t("col_level", lang): level_label,
        t("col_value", lang): round_column(frame["value"], meta.decimals),
        t("col_unit", lang): meta.unit,
        t("col_period", lang): frame["period"].astype("Int64"),
        t("col_note", lang): [cell_text(r) for r in frame["reason"]],
        t("col_trust", lang): [trust_label(x, lang) if cell_text(x) else "" for x in frame["trust"]],
    })
    return drop_empty_period(out, lang)


def map_caption(frame: pd.DataFrame, meta: IndicatorMeta, lang: str) -> str:
    """How many areas have a value, and which colour means better."""
    known = int(frame["value"].notna().sum())
    return t("map_caption", lang, known=fmt_number(known, lang), total=fmt_number(len(frame), lang),
             scale=t(f"scale_{meta.direction}", lang))


# --------------------------------------------------------------------------------------------------
# Places (map layers and the area profile)


PLACE_STATUSES = ("degraded", "regeneration", "vacant", "assigned", "active")


def status_label(status: str, lang: str) -> str:
    """Status of a place (vacant: degraded / regeneration; firm: active), translated when known."""
    return t(f"place_status_{status}", lang) if status in PLACE_STATUSES else status


def category_label(category: str, lang: str) -> str:
    """Programme category of a firm (config/ateco_categories.toml) or a place class, translated when known."""
    return t(f"cat_{category}", lang) if category in CATEGORIES else category


def assignment_label(assignment: object, territory: Territory, lang: str) -> str:
    """How a place was put in an area, with the territory's level names ('solo Municipio', 'dal codice NIL')."""
    fine = inline_label(territory.fine.label(lang))
    parent = territory.parent.label(lang) if territory.parent is not None else territory.name(lang)
    value = cell_text(assignment)
    if value in ("parent_only", "municipio_only"):
        return t("assign_parent_only", lang, parent=parent)
    if value == "file_id":
        return t("assign_file_id_level", lang, level=fine)
    return t(f"assign_{value}", lang) if value else ""


def place_hover(frame: pd.DataFrame, theme: str, lang: str) -> list[str]:
    """Hover text of each place marker: name, address, theme-specific details, trust."""
    out = []
    for row in frame.to_dict("records"):
        parts = [f"<b>{hover_text(row.get('name')) or t('no_name', lang)}</b>"]
        if cell_text(row.get("address")):
            parts.append(hover_text(row.get("address")))
        if theme == "vacant" and former_use(row.get("category"), row.get("attributes")):
            parts.append(f"{t('th_col_typology', lang)}: {hover_text(former_use(row.get('category'), row.get('attributes')))}")
        elif theme != "vacant" and cell_text(row.get("category")):
            parts.append(f"{t('col_category', lang)}: {hover_text(category_label(str(row['category']), lang))}")
        if cell_text(row.get("status")):
            parts.append(f"{t('col_status', lang)}: {hover_text(status_label(str(row['status']), lang))}")
        if theme == "coworking" and cell_text(row.get("seats")):
            parts.append(f"{t('col_seats', lang)}: {fmt_number(float(row['seats']), lang)}")
        if theme in ("makerspace", "vacant") and cell_text(row.get("area_m2")):
            parts.append(f"{fmt_number(float(row['area_m2']), lang)} m²")
        parts.append(f"{t('col_trust', lang)}: {trust_label(row.get('trust'), lang)}")
        out.append("<br>".join(parts))
    return out


def add_place_layer(fig: go.Figure, places: pd.DataFrame, theme: str, lang: str) -> go.Figure:
    """Markers of one theme (makerspaces, coworking, vacant spaces) with their hover."""
    if places.empty:
        return fig
    return maps.add_points(fig, places, t(f"theme_{theme}", lang), theme, hover=place_hover(places, theme, lang))


def places_table(frame: pd.DataFrame, theme: str, territory: Territory, lang: str) -> pd.DataFrame:
    """Places of one theme as a table (and download). The id column is 'source:key' (unique per file);
    the area columns are the territory's levels (no parent column in a territory with one level).

    Vacant places: 'Tipologia' is the former use (never the condition), area in m² where the source
    gives a footprint, the link to the official record sheet, and whether the ownership is assumed."""
    attrs = [place_attributes(a) for a in (frame["attributes"] if "attributes" in frame else [None] * len(frame))]
    out = pd.DataFrame({
        t("col_place_id", lang): [f"{s}:{k}" for s, k in zip(frame["source_id"], frame["source_key"], strict=True)],
        t("col_name", lang): plain_column(frame["name"]),
        t("col_address", lang): plain_column(frame["address"]),
        territory.fine.label(lang): area_codes(frame["district_id"]),
    })
    if territory.parent is not None:
        out[territory.parent.label(lang)] = parent_column(frame["parent_id"])
    if theme == "vacant":
        out[t("th_col_typology", lang)] = [former_use(c, a) for c, a in zip(frame["category"], attrs, strict=True)]
        out[t("col_status", lang)] = [status_label(s, lang) if cell_text(s) else "" for s in frame["status"]]
        out[t("col_ownership", lang)] = [
            (t(f"ownership_{o}", lang) + (f" ({t('th_assumed', lang)})" if ownership_assumed(a) else "")) if cell_text(o) else
            t("th_owner_guess", lang, guess=t(f"ownership_{g}", lang)) if (g := assumed_ownership_value(a)) else ""
            for o, a in zip(frame["ownership"], attrs, strict=True)]
    else:
        out[t("col_category", lang)] = [category_label(c, lang) if cell_text(c) else "" for c in frame["category"]]
    if theme in ("makerspace", "vacant"):
        out[t("col_area_m2", lang)] = round_column(frame["area_m2"], 0)
    if theme == "coworking":
        out[t("col_seats", lang)] = frame["seats"]
    if theme == "vacant":
        out[t("th_col_record", lang)] = [(record_links(a) or [None])[0] for a in attrs]
    out["lon"] = frame["lon"].round(6)
    out["lat"] = frame["lat"].round(6)
    out[t("col_assignment_level", lang, level=inline_label(territory.fine.label(lang)))] = [
        assignment_label(a, territory, lang) for a in frame["assignment"]]
    out[t("col_source", lang)] = frame["source_id"]
    out[t("col_trust", lang)] = [trust_label(x, lang) + (f" ({t('th_secondary', lang)})" if x == "derived" else "")
                                 for x in frame["trust"]]
    return out


def subset_geojson(geojson: dict, ids: object) -> dict:
    """The FeatureCollection reduced to the features whose id is in `ids` (compared as text)."""
    wanted = {str(i) for i in ids}  # type: ignore[attr-defined]
    return {"type": "FeatureCollection", "features": [f for f in geojson.get("features", []) if str(f.get("id")) in wanted]}


def territory_area(territory: Territory) -> tuple[str, str]:
    """The (level, area_id) of the whole territory in indicator_values."""
    return (TERRITORY_LEVEL, territory.id)


# --------------------------------------------------------------------------------------------------
# Wide tables that stay readable at 1280 px (issue 15)


@dataclass(frozen=True)
class ColumnView:
    """How one column of a wide table is shown: a short header, the full header as help, a width in pixels.
    The frame keeps its full headers (downloads); only the grid shows the short ones."""

    label: str
    help: str
    width: int
    pinned: bool = False


def column_config(config: Mapping[str, object], views_by_column: Mapping[str, ColumnView]) -> dict[str, object]:
    """`ui.styled`'s column_config with the short headers, help texts and widths of `views_by_column` added
    (st.column_config entries are plain dicts: label, help, width, pinned)."""
    out: dict[str, object] = dict(config)
    for column, view in views_by_column.items():
        base = out.get(column)
        entry = dict(base) if isinstance(base, Mapping) else {}
        entry.update({"label": view.label, "help": view.help, "width": view.width})
        if view.pinned:
            entry["pinned"] = True
        out[column] = entry
    return out


def hub_fact_columns(lang: str) -> dict[str, ColumnView]:
    """Widths of a hub's facts table (views.hub_facts) that keep every column in view at 1280 px."""
    return {t(key, lang): ColumnView(t(key, lang), t(key, lang), width) for key, width in
            (("hub_col_fact", 380), ("col_value", 100), ("col_source", 200), ("hub_col_date", 96), ("col_trust", 80))}
