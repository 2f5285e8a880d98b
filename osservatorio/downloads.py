"""Download menu shared by every table, chart and map layer: the Streamlit side of `exports`.

A page calls, for example::

    spec = downloads.page_spec(ctx, "nil_popolazione", metadata={t("meta_trust", ctx.lang): caption})
    downloads.download_menu(table, spec, ctx.lang, geojson=geojson, id_col=t("col_id", ctx.lang), key="nil")

The files are generated only when the user clicks (`st.download_button(data=callable)`), so a page
with many menus costs nothing until something is downloaded; a click does not rerun the page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
import streamlit as st

from osservatorio import exports
from osservatorio.exports import ExportSpec
from osservatorio.i18n import fmt_date, fmt_number, t
from osservatorio.ui import PageContext

_ICON = ":material/download:"


def page_spec(ctx: PageContext, base: str, filters: Mapping[str, str] | None = None,
              metadata: Mapping[str, str] | None = None) -> ExportSpec:
    """The ExportSpec of a page's export: snapshot date = the build's date; the build id and, for
    demo builds, a demo warning are added after the page's own metadata (already translated)."""
    extra = dict(metadata or {})
    extra[t("meta_build", ctx.lang)] = ctx.info.build_id
    if ctx.info.is_demo:
        extra[t("meta_demo", ctx.lang)] = t("meta_demo_note", ctx.lang)
    snapshot = ctx.info.finished_at.date() if ctx.info.finished_at else None
    return ExportSpec(base=base, filters=dict(filters or {}), snapshot_date=snapshot, metadata=extra)


def _format_snapshot(value: date | str | None, lang: str) -> str:
    if value is None:
        return t("no_data", lang)
    if isinstance(value, date):  # datetime too
        return fmt_date(value, lang)
    try:
        return fmt_date(date.fromisoformat(value.strip()[:10]), lang)
    except ValueError:
        return value


def export_info(spec: ExportSpec, lang: str, rows: int, generated_at: datetime | None = None) -> dict[str, str]:
    """Translated label -> value rows of the XLSX "Info" sheet (and GeoJSON "metadata")."""
    now = generated_at or datetime.now(exports.LOCAL_TZ)
    filters = "; ".join(f"{k} = {spec.filters[k]}" for k in sorted(spec.filters)) or t("meta_no_filters", lang)
    info = {
        t("meta_dataset", lang): spec.base,
        t("meta_filters", lang): filters,
        t("meta_snapshot", lang): _format_snapshot(spec.snapshot_date, lang),
    }
    info.update({str(k): str(v) for k, v in spec.metadata.items()})
    info[t("meta_rows", lang)] = fmt_number(rows, lang)
    info[t("meta_generated_at", lang)] = f"{fmt_date(now, lang)} {now:%H:%M}"
    return info


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


def export_files(frame: pd.DataFrame, spec: ExportSpec, lang: str, geojson: Mapping[str, Any] | None = None,
                 id_col: str | None = None) -> list[ExportFile]:
    """The downloads offered for `frame`, in menu order; nothing is generated yet.

    The Excel-Italian CSV is named `<base>_excel_it__...csv` so both CSVs can sit in one folder.
    """
    def info() -> dict[str, str]:
        return export_info(spec, lang, len(frame))

    def entry(kind: str, label_key: str, ext: str, mime: str, build: Callable[[], bytes]) -> ExportFile:
        name = spec.filename(ext, variant="excel_it" if kind == "csv_it" else "")
        return ExportFile(kind, t(label_key, lang), t(f"{label_key}_help", lang), name, mime, build)

    files = [
        entry("csv", "dl_csv", "csv", exports.CSV_MIME, lambda: exports.to_csv(frame, "standard")),
        entry("csv_it", "dl_csv_excel_it", "csv", exports.CSV_MIME, lambda: exports.to_csv(frame, "excel_it")),
        entry("xlsx", "dl_xlsx", "xlsx", exports.XLSX_MIME, lambda: exports.to_xlsx(frame, spec.base, info())),
    ]
    if geojson is not None:
        if id_col is None:
            raise ValueError("download_menu: con geojson serve id_col")
        layer, column = geojson, id_col
        files.append(entry("geojson", "dl_geojson", "geojson", exports.GEOJSON_MIME,
                           lambda: exports.to_geojson(layer, frame, column, metadata=info())))
    return files


def download_menu(frame: pd.DataFrame, spec: ExportSpec, lang: str, geojson: Mapping[str, Any] | None = None,
                  id_col: str | None = None, *, key: str | None = None) -> None:
    """A compact row of download buttons for `frame`: CSV, CSV per Excel italiano, XLSX and, when a
    `geojson` layer is given (with the frame's `id_col` to join on), GeoJSON.

    Files are built on click only; clicking does not rerun the page. `key` must be unique on the
    page when the same spec appears twice (default: derived from base + filters).
    """
    prefix = key or _default_key(spec)
    with st.container(horizontal=True, gap="small", key=f"{prefix}_menu"):
        for file in export_files(frame, spec, lang, geojson, id_col):
            st.download_button(file.label, data=file.build, file_name=file.file_name, mime=file.mime,
                               key=f"{prefix}_{file.kind}", help=file.help, on_click="ignore", icon=_ICON)
