"""Download menu shared by every table, chart and map layer: the Streamlit side of `exports`.

A page calls, for example::

    spec = downloads.page_spec(ctx, "nil_popolazione", metadata={t("meta_trust", ctx.lang): caption})
    downloads.download_menu(table, spec, ctx.lang, geojson=geojson, id_col=t("col_id", ctx.lang), key="nil")

The files are generated only when the user clicks (`st.download_button(data=callable)`), so a page
with many menus costs nothing until something is downloaded; a click does not rerun the page.

Every download names the data behind it: `page_spec` picks the build's loaded sources (`sources`,
`source_catalogue`, `indicator_catalogue`; never config files) from the export's base name, or from
the `sources=` / `themes=` a page passes. The two CSV buttons give a zipped Frictionless Data Package
(CSV + datapackage.json + readme); the XLSX "Info" sheet lists the same sources, licences and data dates.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from osservatorio import exports
from osservatorio.exports import ChunkedFrame, ExportSpec, SourceRef, TerritoryRef
from osservatorio.i18n import fmt_date, fmt_number, t
from osservatorio.territory import Territory
from osservatorio.ui import PageContext
from osservatorio.warehouse import REGISTRY, WarehouseKey, short_licence

_ICON = ":material/download:"


# --------------------------------------------------------------------------------------------------
# Sources behind a download (read from what the build stored, never from config files)


@dataclass(frozen=True)
class SourceCatalogue:
    """The loaded sources of a build, the themes each one fills and the sources of each indicator."""

    sources: tuple[SourceRef, ...] = ()
    themes: Mapping[str, frozenset[str]] = field(default_factory=dict)  # source_id -> themes
    indicators: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # indicator_id -> source ids


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.sql("SELECT lower(table_name), lower(column_name) FROM information_schema.columns "
                   "WHERE table_schema = 'main'").fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


_YEAR_TABLES = ("population", "firm_totals", "firm_units", "area_counts")  # fixed names: tables with (source_id, year)


def export_catalogue(con: duckdb.DuckDBPyConnection) -> SourceCatalogue:
    """Every source loaded in this build (one entry per source, its latest reference date, the years its
    rows state), the themes of `source_catalogue` and the sources of the newest indicator catalogue."""
    tables = _tables(con)
    if "sources" not in tables:
        return SourceCatalogue()
    optional = [c if c in tables["sources"] else f"NULL AS {c}" for c in ("reference_date", "attribution", "origin")]
    has_catalogue = {"source_id", "portal_url", "themes"} <= tables.get("source_catalogue", set())
    url = "c.portal_url" if has_catalogue else "NULL"
    join = "LEFT JOIN source_catalogue c ON c.source_id = s.source_id" if has_catalogue else ""
    rows = con.sql(
        f"""SELECT s.source_id, arg_max(s.title, s.rows_loaded), arg_max(s.licence, s.rows_loaded),
                   CASE WHEN bool_or(s.trust = 'official') THEN 'official'
                        WHEN bool_or(s.trust = 'derived') THEN 'derived' ELSE 'demo' END,
                   arg_max(s.dataset, s.rows_loaded), arg_max(s.attribution, s.rows_loaded),
                   arg_max(s.origin, s.rows_loaded), any_value({url}), max(s.reference_date)
            FROM (SELECT source_id, title, licence, trust, dataset, rows_loaded, status, {", ".join(optional)}
                  FROM sources) s {join}
            WHERE s.status = 'loaded' AND s.source_id <> 'unrecognised'
            GROUP BY s.source_id ORDER BY s.source_id"""  # noqa: S608 - fixed names only
    ).fetchall()
    years: dict[str, tuple[int, int]] = {}
    for table in _YEAR_TABLES:
        if {"source_id", "year"} <= tables.get(table, set()):
            for source_id, first, last in con.sql(
                    f"SELECT source_id, min(year), max(year) FROM {table} WHERE year IS NOT NULL "  # noqa: S608
                    "GROUP BY source_id").fetchall():
                old = years.get(source_id)
                years[source_id] = (min(first, old[0]), max(last, old[1])) if old else (int(first), int(last))
    sources = tuple(
        SourceRef(source_id=r[0], title=r[1], licence=r[2] or "", trust=r[3], dataset=r[4], attribution=r[5],
                  origin=r[6], url=r[7], reference_date=r[8], years=None if r[8] else years.get(r[0]))
        for r in rows)
    themes: dict[str, frozenset[str]] = {}
    if has_catalogue:
        for source_id, raw in con.sql("SELECT source_id, themes FROM source_catalogue").fetchall():
            try:
                themes[source_id] = frozenset(str(x) for x in json.loads(raw or "[]"))
            except (ValueError, TypeError):
                themes[source_id] = frozenset()
    indicators: dict[str, tuple[str, ...]] = {}
    if {"indicator_id", "sources", "snapshot_id"} <= tables.get("indicator_catalogue", set()):
        for indicator_id, raw in con.sql("SELECT indicator_id, arg_max(sources, snapshot_id) FROM indicator_catalogue "
                                         "GROUP BY indicator_id").fetchall():
            try:
                indicators[indicator_id] = tuple(str(x) for x in json.loads(raw or "[]"))
            except (ValueError, TypeError):
                continue
    return SourceCatalogue(sources, themes, indicators)


@st.cache_data(show_spinner=False)
def _cached_catalogue(key: WarehouseKey) -> SourceCatalogue:
    with REGISTRY.lease(key) as cursor:
        return export_catalogue(cursor)


# Words of an export's base name -> the themes (source_catalogue.themes) its data come from.
_BASE_THEMES: tuple[tuple[str, frozenset[str]], ...] = (
    ("vuoti", frozenset({"vacant"})), ("vacant", frozenset({"vacant"})),
    ("imprese", frozenset({"firm"})), ("firm", frozenset({"firm"})),
    ("maker", frozenset({"makerspace"})), ("coworking", frozenset({"coworking"})),
    ("historic_shop", frozenset({"historic_shop"})), ("botteghe", frozenset({"historic_shop"})),
    ("popolazione", frozenset({"population"})), ("periferie", frozenset({"population"})),
)
_NO_SOURCES = ("note_",)  # user-written content (session notes): no data source behind it


def select_sources(catalogue: SourceCatalogue, base: str, sources: Iterable[str] | None = None,
                   themes: Iterable[str] | None = None) -> tuple[SourceRef, ...]:
    """The loaded sources behind an export: the given source ids or themes; else those of the indicator
    named in `base` (`mappa_population_density`) and of the theme words in it (`spazi_vuoti` -> vacant),
    with the district boundaries; all the build's sources when the name says nothing (overviews)."""
    if sources is not None:
        wanted = set(sources)
        return tuple(s for s in catalogue.sources if s.source_id in wanted)
    if base.startswith(_NO_SOURCES):
        return ()
    theme_set = set(themes or ())
    wanted = set()
    if not theme_set:
        for indicator_id in sorted(catalogue.indicators, key=len, reverse=True):
            if indicator_id in base:
                wanted.update(catalogue.indicators[indicator_id])
                break
        if "punteggio" in base:
            wanted.update(catalogue.indicators.get("opportunity_score", ()))
        for word, found in _BASE_THEMES:
            if word in base:
                theme_set |= found
    if not wanted and not theme_set:
        return tuple(catalogue.sources)
    theme_set.add("districts")
    wanted |= {sid for sid, fills in catalogue.themes.items() if fills & theme_set}
    return tuple(s for s in catalogue.sources if s.source_id in wanted)


def territory_ref(territory: Territory, lang: str) -> TerritoryRef:
    """The territory of an export, its name and its levels' names in the export's language."""
    return TerritoryRef(territory.id, territory.name(lang), tuple((lv.id, lv.long(lang)) for lv in territory.levels))


def page_spec(ctx: PageContext, base: str, filters: Mapping[str, str] | None = None,
              metadata: Mapping[str, str] | None = None, *, sources: Sequence[str] | None = None,
              themes: Sequence[str] | None = None) -> ExportSpec:
    """The ExportSpec of a page's export: file-name date = the build's date; the build id and, for demo
    builds, a demo warning are added after the page's own metadata (already translated); `sources`
    (source ids) or `themes` name the data behind it, else `select_sources` finds them from `base`."""
    extra = dict(metadata or {})
    extra[t("meta_build", ctx.lang)] = ctx.info.build_id
    if ctx.info.is_demo:
        extra[t("meta_demo", ctx.lang)] = t("meta_demo_note", ctx.lang)
    snapshot = ctx.info.finished_at.date() if ctx.info.finished_at else None
    catalogue = _cached_catalogue(ctx.key) if ctx.key is not None else SourceCatalogue()
    chosen = select_sources(catalogue, base, sources, themes)
    return ExportSpec(base=base, filters=dict(filters or {}), snapshot_date=snapshot, metadata=extra, sources=chosen,
                      territory=territory_ref(ctx.territory, ctx.lang))


def _format_snapshot(value: date | str | None, lang: str) -> str:
    if value is None:
        return t("no_data", lang)
    if isinstance(value, date):  # datetime too
        return fmt_date(value, lang)
    try:
        return fmt_date(date.fromisoformat(value.strip()[:10]), lang)
    except ValueError:
        return value


def source_date(source: SourceRef, lang: str) -> str:
    """The data's own date of a source in words: '31/12/2022'; '2016' for a 1 January date (the ETL's
    convention when only the year is known); 'anno 2021' / 'anni 2007–2010' from the rows; else 'not stated'."""
    ref = source.reference_date
    if ref is not None:
        return str(ref.year) if (ref.month, ref.day) == (1, 1) else fmt_date(ref, lang)
    if source.years:
        first, last = source.years
        return t("meta_year", lang).format(year=first) if first == last else \
            t("meta_years", lang).format(first=first, last=last)
    return t("meta_date_not_stated", lang)


def _source_name(source: SourceRef) -> str:
    return f"{source.title} ({source.dataset})" if source.dataset and source.dataset not in source.title else source.title


def sources_table(spec: ExportSpec, lang: str) -> list[list[str]]:
    """Header + one row per source: name, attribution, licence, data date, trust, address, copy's origin."""
    header = [t(k, lang) for k in ("meta_source", "meta_attribution", "meta_licence", "meta_data_date",
                                    "meta_trust", "meta_url", "meta_origin")]
    rows = [[_source_name(s), s.attribution or "", s.licence, source_date(s, lang), t(f"trust_{s.trust}", lang),
             s.url or "", s.origin or ""] for s in spec.sources]
    return [header, *rows] if rows else []


def export_info(spec: ExportSpec, lang: str, rows: int, generated_at: datetime | None = None) -> dict[str, str]:
    """Translated label -> value rows of the XLSX "Info" sheet (and GeoJSON "metadata", the readme):
    the data's own dates per source, licences, then the build's date as "Elaborazione del"."""
    now = generated_at or datetime.now(exports.LOCAL_TZ)
    filters = "; ".join(f"{k} = {spec.filters[k]}" for k in sorted(spec.filters)) or t("meta_no_filters", lang)
    info = {t("meta_dataset", lang): spec.base}
    if spec.territory is not None:  # which territory and which areas the rows are about
        info[t("meta_territory", lang)] = spec.territory.name
        info[t("meta_levels", lang)] = " › ".join(name for _, name in spec.territory.levels) or t("no_data", lang)
    info[t("meta_filters", lang)] = filters
    if spec.sources:
        info[t("meta_data_dates", lang)] = "; ".join(f"{_source_name(s)}: {source_date(s, lang)}" for s in spec.sources)
        licences = dict.fromkeys(short_licence(s.licence, lang) for s in spec.sources)
        info[t("meta_licences", lang)] = "; ".join(licences)
    else:
        info[t("meta_data_dates", lang)] = t("meta_no_sources", lang)
    info.update({str(k): str(v) for k, v in spec.metadata.items()})
    info[t("meta_rows", lang)] = fmt_number(rows, lang)
    info[t("meta_processed", lang)] = _format_snapshot(spec.snapshot_date, lang)
    info[t("meta_generated_at", lang)] = f"{fmt_date(now, lang)} {now:%H:%M}"
    return info


_UNIT = re.compile(r"\(([^()]{1,30})\)\s*$")
# What a unit looks like (a header's last parentheses can also be a qualifier: "(uso precedente)", "(periferia)").
_UNIT_WORDS = re.compile(r"[²³%/€°]|\d|\b(?:m|km|ha|ab\.|n\.?|anni|euro|punti|addetti|postazioni|per)\b", re.IGNORECASE)
_BARE_UNITS = {"m²", "km²", "%", "m", "km", "ha"}


def field_descriptions(frame: pd.DataFrame, lang: str, metadata: Mapping[str, str] | None = None) -> dict[str, str]:
    """Column -> description for the Table Schema: its unit, when the header is one ('m²') or ends in one
    ('Densità (ab./km²)'), and for an indicator's "Valore" column the unit of the export's metadata
    (indicator_views.export_metadata); columns without a recognisable unit get no description."""
    out = {}
    indicator_unit = (metadata or {}).get(t("col_unit", lang))
    if indicator_unit and t("col_value", lang) in frame.columns:
        out[t("col_value", lang)] = t("meta_unit_of", lang).format(unit=indicator_unit)
    for column in frame.columns:
        header = str(column).strip()
        found = _UNIT.search(header)
        unit = found.group(1).strip() if found and _UNIT_WORDS.search(found.group(1)) else ""
        unit = header if header in _BARE_UNITS else unit
        if unit:
            out[str(column)] = t("meta_unit_of", lang).format(unit=unit)
    return out


def readme_text(spec: ExportSpec, lang: str, info: Mapping[str, str], csv_name: str) -> str:
    """The plain-text note in the zip: what the files are, then the Info rows and the sources."""
    lines = [t("dp_readme_intro", lang).format(csv=csv_name), ""]
    lines += [f"{k}: {v}" for k, v in info.items()]
    table = sources_table(spec, lang)
    if table:
        lines += ["", t("meta_sources", lang) + ":"]
        for row in table[1:]:
            lines.append("- " + row[0])
            lines += [f"    {label}: {value}" for label, value in zip(table[0][1:], row[1:], strict=True) if value]
    return "\n".join(lines) + "\n"


def data_package_zip(frame: pd.DataFrame | ChunkedFrame, spec: ExportSpec, lang: str, dialect: exports.Dialect,
                     generated_at: datetime | None = None) -> bytes:
    """The CSV of `frame` in `dialect`, zipped with its `datapackage.json` and a readme (built on click).

    A `ChunkedFrame` is written chunk by chunk (the same bytes; the readme's row count known at the end)."""
    now = generated_at or datetime.now(exports.LOCAL_TZ)
    variant = "excel_it" if dialect == "excel_it" else ""
    csv_name = spec.filename("csv", variant=variant)
    info = export_info(spec, lang, 0, generated_at=now)  # filters and dates: not the row count
    filters = info[t("meta_filters", lang)]
    title = t("dp_title", lang).format(data=spec.base, filters=filters)
    description = t("dp_description", lang).format(processed=info[t("meta_processed", lang)],
                                                   territory=spec.territory.name if spec.territory else "–")

    def readme(rows: int) -> tuple[str, str]:
        return t("dp_readme_name", lang), readme_text(spec, lang, export_info(spec, lang, rows, generated_at=now), csv_name)

    return exports.to_data_package_zip(
        frame, dialect, name=csv_name.removesuffix(".csv"), title=title, csv_name=csv_name,
        created=now, sources=spec.sources, description=description,
        descriptions=lambda columns: field_descriptions(columns, lang, spec.metadata), readme=readme,
        territory=spec.territory)


def _default_key(spec: ExportSpec) -> str:
    filters = "&".join(f"{k}={spec.filters[k]}" for k in sorted(spec.filters))
    return "dl_" + exports.slugify(spec.base) + "_" + hashlib.sha1(filters.encode("utf-8")).hexdigest()[:8]


@dataclass(frozen=True)
class ExportFile:
    """One offered download: `build()` makes the bytes (called only when the user clicks)."""

    kind: str  # "csv", "csv_it", "xlsx" or "geojson"
    label: str
    help: str
    file_name: str
    mime: str
    build: Callable[[], bytes]
    disabled: bool = False  # shown greyed out, with `help` saying why (an XLSX over XLSX_MAX_ROWS)


#: An Excel workbook is not prepared beyond this many rows: openpyxl holds every cell in memory (50,000 firm rows
#: took 8 s and about 200 MB in the server; a regional register of 886,000 would take minutes and gigabytes).
XLSX_MAX_ROWS = 100_000
#: Nor a GeoJSON beyond this many features (rows): it is built as one document in memory (the 886,545 firm points
#: took 37 s and 4.3 GB for a 375 MB file); the CSV carries lon/lat and keeps every row.
GEOJSON_MAX_FEATURES = 100_000

FrameSource = pd.DataFrame | ChunkedFrame | Callable[[], pd.DataFrame]
LayerSource = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


def export_files(frame: FrameSource, spec: ExportSpec, lang: str, geojson: LayerSource | None = None,
                 id_col: str | None = None, row_count: int | None = None) -> list[ExportFile]:
    """The downloads offered for `frame`, in menu order; nothing is generated yet.

    `frame` (and `geojson`) may be a callable that makes it: then even the rows are read only when a file
    is asked for (a regional register's firm list is not read, nor kept, on every rerun); `row_count` is then how
    many it will have, when known. A `ChunkedFrame` also gives its rows in chunks: the two CSV zips are then
    written chunk by chunk, with bounded memory. Over XLSX_MAX_ROWS rows the XLSX entry, over GEOJSON_MAX_FEATURES
    the GeoJSON entry are disabled, saying why.
    The Excel-Italian CSV is named `<base>_excel_it__...csv` so both CSVs can sit in one folder.
    """
    def rows() -> pd.DataFrame:
        return frame() if callable(frame) else frame

    def table() -> pd.DataFrame | ChunkedFrame:
        return frame if isinstance(frame, ChunkedFrame) else rows()

    def layer() -> Mapping[str, Any]:
        assert geojson is not None
        return geojson() if callable(geojson) else geojson

    def entry(kind: str, label_key: str, ext: str, mime: str, build: Callable[[], bytes]) -> ExportFile:
        name = spec.filename(ext, variant="excel_it" if kind == "csv_it" else "")
        return ExportFile(kind, t(label_key, lang), t(f"{label_key}_help", lang), name, mime, build)

    def xlsx() -> bytes:
        table = rows()
        return exports.to_xlsx(table, spec.base, export_info(spec, lang, len(table)), sources_table(spec, lang))

    def geo() -> bytes:
        table = rows()
        return exports.to_geojson(layer(), table, str(id_col), metadata=export_info(spec, lang, len(table)))

    def refused(file: ExportFile, help_key: str, count: int, limit: int) -> ExportFile:
        return replace(file, disabled=True, build=lambda: b"",
                       help=t(help_key, lang, rows=fmt_number(count, lang), limit=fmt_number(limit, lang)))

    files = [
        entry("csv", "dl_csv", "zip", exports.DATAPACKAGE_MIME, lambda: data_package_zip(table(), spec, lang, "standard")),
        entry("csv_it", "dl_csv_excel_it", "zip", exports.DATAPACKAGE_MIME,
              lambda: data_package_zip(table(), spec, lang, "excel_it")),
        entry("xlsx", "dl_xlsx", "xlsx", exports.XLSX_MIME, xlsx),
    ]
    if isinstance(frame, pd.DataFrame):
        count: int | None = len(frame)
    else:
        count = row_count if row_count is not None else frame.rows if isinstance(frame, ChunkedFrame) else None
    if count is not None and count > XLSX_MAX_ROWS:
        files[-1] = refused(files[-1], "dl_xlsx_too_many_help", count, XLSX_MAX_ROWS)
    if geojson is not None:
        if id_col is None:
            raise ValueError("download_menu: con geojson serve id_col")
        files.append(entry("geojson", "dl_geojson", "geojson", exports.GEOJSON_MIME, geo))
        if count is not None and count > GEOJSON_MAX_FEATURES:
            files[-1] = refused(files[-1], "dl_geojson_too_many_help", count, GEOJSON_MAX_FEATURES)
    return files


def download_menu(frame: FrameSource, spec: ExportSpec, lang: str, geojson: LayerSource | None = None,
                  id_col: str | None = None, *, key: str | None = None, row_count: int | None = None) -> None:
    """A compact row of download buttons for `frame`: CSV, CSV per Excel italiano, XLSX and, when a
    `geojson` layer is given (with the frame's `id_col` to join on), GeoJSON. `frame` and `geojson` may be
    callables that make them when a file is asked for (see `export_files`).

    Files are built on click only; clicking does not rerun the page. `key` must be unique on the
    page when the same spec appears twice (default: derived from base + filters).
    """
    prefix = key or _default_key(spec)
    with st.container(horizontal=True, gap="small", key=f"{prefix}_menu"):
        for file in export_files(frame, spec, lang, geojson, id_col, row_count):
            st.download_button(file.label, data=file.build, file_name=file.file_name, mime=file.mime,
                               key=f"{prefix}_{file.kind}", help=file.help, on_click="ignore", icon=_ICON,
                               disabled=file.disabled)
