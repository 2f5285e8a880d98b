"""Page chrome shared by every page: language, title, demo banner, clear warehouse errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import streamlit as st

from osservatorio import auth, queries, views
from osservatorio.data import BuildInfo, WarehouseError
from osservatorio.i18n import DEFAULT_LANG, LANGS, fmt_date, fmt_number, t
from osservatorio.indicator_views import ColumnView, column_config
from osservatorio.review import plain_text
from osservatorio.settings import Settings, load_settings
from osservatorio.territory import Territory
from osservatorio.warehouse import BadWarehouse, BuildFailed, NoWarehouse, WarehouseKey, key_for, short_attribution, short_licence


@dataclass(frozen=True)
class PageContext:
    lang: str
    key: WarehouseKey
    info: BuildInfo
    map_style: str
    territory: Territory  # levels (finest first), labels and centre, as the build stored them
    territory_param: str | None = None  # ?territorio= value to keep in links (None: the default territory)

    @property
    def built(self) -> str:
        return fmt_date(self.info.finished_at, self.lang)


def current_lang() -> str:
    """Language from the URL (?lang=en), Italian by default; unknown values fall back."""
    lang = st.query_params.get("lang", DEFAULT_LANG)
    return lang if lang in LANGS else DEFAULT_LANG


def _leave_legacy_pages_mode() -> None:
    """Make sure the page runs under app.py's st.navigation, not Streamlit's legacy `pages/` mode.

    A server whose first request is a deep link (/mappa?...) runs pages/mappa.py directly in the
    legacy multipage mode (lower-case file names in the sidebar, no app.py), because the folder
    is called `pages/`. Leaving that mode and rerunning makes app.py route the same URL: the
    page hash is the url_path in both modes. Checked by tests/test_browser.py.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


#: Metric labels wrap onto a second line instead of being cut with an ellipsis (a style only: no element shown).
METRIC_LABELS_WRAP = ("<style>[data-testid='stMetricLabel'], [data-testid='stMetricLabel'] * "
                      "{white-space: normal !important; overflow: visible !important; text-overflow: clip !important;"
                      " height: auto !important;}</style>")


def page_start(title_key: str) -> PageContext:
    """Draw the common header; stop the page with a clear message if there is no usable warehouse.

    Every run checks the warehouse file's identity (one os.stat) and switches to a new build
    without a restart (osservatorio.warehouse.Registry). Below the header, one line says where the
    data come from: attribution and licence of the official sources, or that they are a demo.
    """
    _leave_legacy_pages_mode()
    lang = current_lang()
    st.html(METRIC_LABELS_WRAP)  # a long indicator name is read whole, never 'Unità locali di manifattur…'
    choice = st.sidebar.selectbox(t("language", lang), LANGS, index=LANGS.index(lang),
                                  format_func=lambda x: {"it": "Italiano", "en": "English"}[x], key="lang_select")
    if choice != lang:
        st.query_params["lang"] = choice
        lang = choice
    auth.sidebar(lang)  # sign in / out on every page (says so when the app is read-only for everyone)
    st.title(t(title_key, lang))
    settings = load_settings()
    try:
        key, chosen = _territory_warehouse(lang)
        info = queries.build_info(key)
        territory = queries.territory(key)
    except WarehouseError as exc:
        st.caption(t("app_subtitle", lang))
        st.error(warehouse_problem(exc, settings, lang))
        st.stop()
    st.caption(subtitle(territory, lang))
    if info.is_demo:
        st.warning(t("demo_banner", lang), icon="⚠️")
        st.sidebar.warning(t("demo_badge", lang))
    else:
        line = origin_line(queries.provenance(key), lang)
        st.caption(t("data_origin", lang, origin=md_escape(line)) if line else t("data_origin_unknown", lang))
    return PageContext(lang=lang, key=key, info=info, map_style=settings.map_style, territory=territory,
                       territory_param=chosen)


TERRITORY_PARAM = "territorio"
_SESSION_TERRITORY = "_territorio"  # the territory chosen in this session: kept when a link or the menu drops it


def _territory_warehouse(lang: str) -> tuple[WarehouseKey, str | None]:
    """The warehouse of the territory in ?territorio= (the default one without it) and the value to keep in links.

    The default warehouse is checked (and built on a fresh machine) on every run; the other
    territories are the warehouses beside it. With more than one, a sidebar selectbox whose value
    lives in the URL; an unknown value falls back to the default with the usual notice.
    """
    default_error: WarehouseError | None = None
    default_key: WarehouseKey | None = None
    try:
        with st.spinner(t("building_default", lang)):
            default_key = queries.warehouse_key()
    except WarehouseError as exc:
        default_error = exc
    choices = queries.territories()
    default_id = next((a.territory_id for a in choices if a.is_default), None) if default_error is None else None
    ids = [a.territory_id for a in choices]
    if TERRITORY_PARAM not in st.query_params and st.session_state.get(_SESSION_TERRITORY) in ids:
        if st.session_state[_SESSION_TERRITORY] != default_id:
            st.query_params[TERRITORY_PARAM] = st.session_state[_SESSION_TERRITORY]
    requested = st.query_params.get(TERRITORY_PARAM)
    if default_error is not None and requested not in ids:
        raise default_error  # the default is asked for (or an unknown territory): say what is wrong with it
    names = {a.territory_id: a.name(lang) for a in choices}
    if len(choices) > 1:
        chosen = url_choice(t("territory_select", lang), ids, TERRITORY_PARAM, lang, default=default_id,
                            format_func=lambda v: names.get(v, v), sidebar=True)
    else:
        chosen = ids[0] if ids else None
        if requested is not None and requested != chosen:
            st.info(t("url_value_unknown", lang, param=views.md_text(TERRITORY_PARAM), value=views.md_text(requested[:60]),
                      fallback=views.md_text(names.get(chosen or "", "–"))))
            del st.query_params[TERRITORY_PARAM]
    st.session_state[_SESSION_TERRITORY] = chosen
    if chosen is None or chosen == default_id:
        if default_key is None:
            raise default_error or WarehouseError("nessun warehouse")
        return default_key, None
    return queries.warehouse_key(chosen), chosen


def link_params(ctx: PageContext, **extra: object) -> dict[str, str]:
    """query_params for st.page_link / st.switch_page that keep the page's language and territory.

    `extra` adds the target's own parameters (e.g. link_params(ctx, nil=42)); None values are left out.
    """
    params = {"lang": ctx.lang}
    if ctx.territory_param:
        params[TERRITORY_PARAM] = ctx.territory_param
    params.update({k: str(v) for k, v in extra.items() if v is not None})
    return params


def level_word(text: str) -> str:
    """A level label inside a sentence: 'Comune' -> 'comune', acronyms as written ('NIL')."""
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


def subtitle(territory: Territory, lang: str) -> str:
    """'Provincia di Cremona – manifattura 4.0 per comune' (Markdown-safe)."""
    return t("app_subtitle_territory", lang, name=md_escape(territory.name(lang)),
             level=md_escape(level_word(territory.fine.label(lang))))


def empty_message(territory: Territory, lang: str) -> str:
    """The warehouse has no boundaries of the territory's finest level: say which and how to rebuild."""
    return t("empty_warehouse_level", lang, name=md_escape(territory.name(lang)),
             plural=md_escape(territory.fine.plural(lang)), territory=territory.id.replace("`", ""))


def source_names(key: WarehouseKey, lang: str) -> dict[str, str]:
    """source_id -> how readers know it (dataset code, else the first words of its title), for captions."""
    names: dict[str, str] = {}
    frame = queries.sources(key)
    if "source_id" in frame:
        for row in frame.itertuples(index=False):
            code = views.plain(getattr(row, "dataset", None))
            title = re.split(r"\s*[(:–—]\s*|\s+-\s+", views.dataset_title(row.source_id, getattr(row, "title", None), lang),
                             maxsplit=1)[0]
            names.setdefault(str(row.source_id), code or " ".join(title.split()[:4]) or str(row.source_id))
    return names


def _source_name(row: object, lang: str) -> str:
    """A source as named in the origin line: its dataset code, else the first words of its title and its year."""
    code = views.plain(getattr(row, "dataset", None))
    if code:
        return code
    title = views.dataset_title(getattr(row, "source_id", None), getattr(row, "title", None), lang)
    title = re.split(r"\s*[(:–—]\s*|\s+-\s+", title, maxsplit=1)[0]
    words = title.split()
    name = " ".join(words[:4]) if words else views.plain(getattr(row, "source_id", ""))
    name = name[:1].lower() + name[1:] if name[:1].isupper() and not name[1:2].isupper() else name
    when = getattr(row, "reference_date", None)
    year = str(pd.Timestamp(when).year) if when is not None and not pd.isna(when) else ""
    return f"{name} {year}".strip()


def origin_line(frame: pd.DataFrame, lang: str, limit: int = 7) -> str | None:
    """One clear line per publisher: 'Comune di Milano (ds964, ds379, popolazione residente per NIL 2022) —
    CC BY 4.0; licenza da verificare per 2 dataset'. The detail of every source is on the Data page."""
    if "trust" in frame.columns:
        frame = frame[frame["trust"] != "demo"]
    if frame.empty:
        return None
    groups: dict[str, list[tuple[str, str]]] = {}
    for row in frame.itertuples(index=False):
        who = re.split(r"\s*[,;(]|\s[—–-]\s", short_attribution(getattr(row, "attribution", None), row.licence),
                       maxsplit=1)[0].strip() or t("origin_other_publishers", lang)
        licence = short_licence(row.licence, lang)
        groups.setdefault(who, []).append((_source_name(row, lang), licence))
    parts = []
    unstated = t("licence_not_stated", lang)
    for who, items in groups.items():
        names = list(dict.fromkeys(n for n, _ in items))
        listed = ", ".join(names[:limit]) + (f", +{len(names) - limit}" if len(names) > limit else "")
        to_check = sum(1 for _, lic in items if lic.endswith(f"({t('licence_to_check', lang)})"))
        missing = sum(1 for _, lic in items if lic == unstated)
        stated = [lic.split(" (")[0] for _, lic in items if lic != unstated]
        main = max(set(stated), key=stated.count) if stated else unstated
        text = f"{who} ({listed}) — {main}"
        notes = []
        if to_check:
            notes.append(t("origin_to_check" + ("_one" if to_check == 1 else ""), lang, n=to_check))
        if missing and stated:
            notes.append(t("origin_unstated" + ("_one" if missing == 1 else ""), lang, n=missing))
        others = sorted({lic.split(" (")[0] for _, lic in items if lic != unstated} - {main})
        if others:
            notes.append(t("origin_other_licences", lang, licences=", ".join(others)))
        parts.append("; ".join([text, *notes]))
    return " · ".join(parts)


def warehouse_problem(exc: WarehouseError, settings: Settings, lang: str) -> str:
    """What is wrong with the warehouse and what to do, in the user's language."""
    path = md_escape(str(settings.warehouse))
    if isinstance(exc, BuildFailed):
        return t("build_failed", lang, path=path, error=md_escape(exc.reason))
    if isinstance(exc, NoWarehouse) or key_for(settings.warehouse) is None:
        code_path = str(settings.warehouse).replace("`", "")  # inside a code span: shown as is, never a link
        return t("no_warehouse_ro" if settings.read_only else "no_warehouse", lang, path=path, code_path=code_path)
    if isinstance(exc, BadWarehouse):
        problem = t(exc.code, lang, **{k: md_escape(str(v)) for k, v in exc.params.items()})
    else:
        problem = md_escape(" ".join(str(exc).split())[:200])
    return t("bad_warehouse", lang, path=path, error=problem)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:@&=\"'$%^,;?/])")
# GFM turns bare URLs and e-mail addresses into links after Markdown is parsed, escapes or not: a
# WORD JOINER (U+2060, invisible) after the scheme, "www" or "@" stops it.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|www|@)(?=[:./\w-])")
WORD_JOINER = "\u2060"


def md_escape(text: str) -> str:
    """Text shown through Markdown (st.markdown, st.error, st.caption, headers) as plain text: every
    ASCII punctuation is backslash-escaped (no link, image or emphasis), bare URLs and addresses are
    not linked, bidi controls are removed."""
    unlinked = _AUTOLINK.sub(lambda m: m.group(1) + WORD_JOINER, plain_text(text))
    return _MD_SPECIAL.sub(r"\\\1", unlinked).replace("\n", "  \n")


def url_choice(label: str, options: list[str], param: str, lang: str, default: str | None = None,
               format_func: Callable[[str], str] = str, sidebar: bool = False) -> str:
    """A selectbox whose value lives in the URL (?param=value), so a link reopens the same view.

    Only values in `options` are accepted from the URL; anything else falls back to the default
    with a visible message. Nothing from the URL is ever evaluated or unpickled.
    """
    if not options:
        raise ValueError(f"nessuna opzione per {param}")
    fallback = default if default in options else options[0]
    requested = st.query_params.get(param)
    if requested is not None and requested not in options:
        st.info(t("url_value_unknown", lang, param=views.md_text(param), value=views.md_text(requested[:60]),
                  fallback=views.md_text(format_func(fallback))))
        requested = None
    current = requested or fallback
    container = st.sidebar if sidebar else st
    choice = container.selectbox(label, options, index=options.index(current), format_func=format_func,
                                 key=f"url_{param}")
    if choice != fallback or param in st.query_params:
        st.query_params[param] = choice
    return choice


def parent_options(stats: pd.DataFrame) -> list[str]:
    """Options of the parent-level filter: ALL, then the parent ids of the finest areas in `stats`, as text."""
    values = stats["parent_id"].dropna() if "parent_id" in stats.columns else pd.Series(dtype="Int64")
    return [views.ALL, *[str(m) for m in sorted({int(m) for m in values})]]


def parent_filter(ctx: PageContext, stats: pd.DataFrame) -> str:
    """URL-backed filter on the territory's parent level (?municipio= for Milan), 'all' first.

    A territory with one level has nothing to filter by: ALL, and nothing is drawn."""
    parent = ctx.territory.parent
    if parent is None:
        return views.ALL
    label = parent.label(ctx.lang)
    everything = t("th_all_of_level", ctx.lang, plural=parent.plural(ctx.lang))
    return url_choice(label, parent_options(stats), parent.url_key, ctx.lang,
                      format_func=lambda v: everything if v == views.ALL else f"{label} {v}")


def periphery_class_filter(lang: str, snapshot: str | None, classes: pd.DataFrame | None) -> str:
    """URL-backed periphery-class filter (?periferia=); without a snapshot there are no classes."""
    if not snapshot:
        st.caption(t("th_no_snapshot_classes", lang))
        return views.ALL
    names = views.class_names(classes)
    return url_choice(t("th_col_class", lang), views.class_options(classes), "periferia", lang,
                      format_func=lambda v: views.option_label(v, lang, "th_all_classes", names))


@dataclass(frozen=True)
class ThemePage:
    """What every theme page starts from: context, finest-level stats, latest snapshot, periphery classes."""

    ctx: PageContext
    stats: pd.DataFrame
    snapshot: str | None
    classes: pd.DataFrame


def theme_page_start(title_key: str) -> ThemePage:
    """page_start, then the finest level's table (stop with a message if empty), the snapshot and its classes."""
    ctx = page_start(title_key)
    stats = queries.district_stats(ctx.key, ctx.territory.fine.id)
    if stats.empty:
        st.info(empty_message(ctx.territory, ctx.lang))
        st.stop()
    snapshot = views.newest_snapshot(queries.snapshots(ctx.key))
    classes = views.periphery_classes(queries.district_groups(ctx.key, snapshot) if snapshot else None, ctx.lang)
    return ThemePage(ctx, stats, snapshot, classes)


# --- Source states of a theme (a theme without a loaded source is not a zero) -------------------------

PLACE_THEMES = ("makerspace", "coworking", "vacant", "firm", "historic_shop", "hub")


@st.cache_data(show_spinner=False, max_entries=256)
def theme_state(key: WarehouseKey, theme: str) -> views.ThemeState:
    """What this build has for `theme` (place themes, 'firm_units' for ds201, 'firm_totals' for ds171);
    once per build and theme (pages ask for several themes on every rerun)."""
    if theme in PLACE_THEMES:
        counts = queries.place_counts(key)
        row = counts[counts["theme"] == theme]
        n = int(row["places"].iloc[0]) if len(row) else 0
        per_nil = queries.area_counts(key, theme)
    elif theme == "firm_units":
        n, per_nil = len(queries.firm_units_by_category(key)), None
    elif theme == "firm_totals":
        n, per_nil = len(queries.firm_totals_by_category(key)), None
    else:
        raise ValueError(f"tema sconosciuto: {theme!r}")
    return views.theme_state(theme, queries.source_catalogue(key), queries.sources(key), n, per_nil)


def theme_notice(key: WarehouseKey, theme: str, lang: str, container: object = None) -> views.ThemeState:
    """Say, before a theme's map/table, when it has no loaded source, a refused one, or counts only."""
    state = theme_state(key, theme)
    theme_message(state, lang, container)
    return state


def theme_message(state: views.ThemeState, lang: str, container: object = None, style: str = "box",
                  label: str = "") -> bool:
    """A theme's state in one line (info/warning box, or a caption with style='caption'), the detail (which
    dataset would fill it, where to get it) in an expander below. False when there is nothing to say."""
    line = views.theme_state_summary(state, lang)
    if not line:
        return False
    target = container if container is not None else st
    line = f"**{label}**: {line}" if label else line
    if style == "caption":
        target.caption(line)  # type: ignore[attr-defined]
    else:
        (target.warning if state.failed else target.info)(line, icon="⚠️" if state.failed else "ℹ️")  # type: ignore[attr-defined]
    detail = views.theme_state_text(state, lang)
    if detail:
        with target.expander(t("src_details", lang) + (f" · {label}" if label else "")):  # type: ignore[attr-defined]
            st.caption(detail)
    return True


#: Headers (translation keys) of numeric columns that are codes, not quantities: no thousands separator.
CODE_COLUMNS = ("col_id", "col_year", "col_period", "col_municipio", "col_area_id", "th_col_start_year", "col_nil",
                "col_rank", "th_col_rank", "col_cell", "th_col_year")


def _number_text(value: object, decimals: int | None, lang: str, code: bool) -> str:
    """One cell: '–' when missing; codes as written; else the language's separators with `decimals`
    (None: up to 2 decimals, trailing zeros dropped, for columns that mix units row by row)."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "–"
    if code:
        return f"{value:g}" if isinstance(value, float) else str(value)
    if decimals is not None:
        return fmt_number(float(value), lang, decimals)  # type: ignore[arg-type]
    text = fmt_number(float(value), lang, 2)  # type: ignore[arg-type]
    sep = "," if lang == "it" else "."
    return text.rstrip("0").rstrip(sep) if sep in text else text


def _is_date_column(series: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    if series.dtype != object:
        return False
    values = [v for v in series if v is not None and v is not pd.NA and not (isinstance(v, float) and v != v)]
    return bool(values) and all(isinstance(v, (date, datetime)) for v in values)


def _date_text(value: object, lang: str) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime) and (value.hour, value.minute, value.second) != (0, 0, 0):
        return f"{fmt_date(value, lang)} {value:%H:%M}"
    return fmt_date(value, lang)  # type: ignore[arg-type]


def styled(frame: pd.DataFrame, lang: str, decimals: dict[str, int] | None = None, keep: tuple[str, ...] = ()
           ) -> tuple[pd.io.formats.style.Styler, dict[str, object]]:
    """The frame as shown: numbers written in the language (1.234,5 / 1,234.5), codes (ids, years, lon/lat)
    as they are, every missing value as '–' (never None or nan). A numeric column without gaps stays
    numeric (it sorts as numbers); one with gaps becomes right-aligned text (the grid would print None).
    Returns the Styler and the column_config that keeps the alignment."""
    codes = {t(k, lang) for k in CODE_COLUMNS} | {"lon", "lat"}
    thousands, decimal = (".", ",") if lang == "it" else (",", ".")
    shown = frame.copy()
    config: dict[str, object] = {}
    numeric_full: list[tuple[str, int]] = []
    dates: list[str] = []
    for column in frame.columns:
        series = frame[column]
        if _is_date_column(series):  # dd/mm/yyyy in Italian, yyyy-mm-dd in English (display only: sorts as dates)
            if series.isna().any():
                shown[column] = [_date_text(v, lang) for v in series]
            else:
                dates.append(column)
            continue
        if column in keep:  # link columns: a missing link is an empty cell (not a '–' link, not 'None')
            shown[column] = ["" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in series]
            continue
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            if series.isna().any():
                shown[column] = [("–" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v) for v in series]
            continue
        d = (decimals or {}).get(column)
        if d is None:
            values = pd.to_numeric(series, errors="coerce").dropna().astype(float)
            d = 0 if values.empty or bool((values == values.round()).all()) else None
        if series.isna().any():
            shown[column] = [_number_text(v, d, lang, column in codes) for v in series]
            config[column] = st.column_config.TextColumn(column, alignment="right")
        elif column not in codes:
            numeric_full.append((column, d))
    styler = shown.style
    for column in dates:
        styler = styler.format(lambda v, _lang=lang: _date_text(v, _lang), subset=[column])
    for column, d in numeric_full:
        if d is None:  # display only: the cell keeps its number (sorting, downloads)
            styler = styler.format(lambda v, _lang=lang: _number_text(v, None, _lang, False), subset=[column])
        else:
            styler = styler.format(precision=d, thousands=thousands, decimal=decimal, subset=[column])
    return styler, config


# --- Charts drawn once per fingerprint --------------------------------------------------------------

def chart(fingerprint: tuple, build: Callable[[], object], key: str, width: str = "stretch") -> None:
    """A plotly chart that is not selectable, drawn once per fingerprint: a rerun with the same
    fingerprint replays the stored element, so the figure is neither built nor serialised again.

    The fingerprint must name everything the figure depends on (warehouse key, snapshot, filters,
    language, map style); `build` (a figure or a `queries.figure` result) is called only on a miss.
    Charts with a selection are widgets and cannot be replayed: draw those with st.plotly_chart."""
    _chart_element(fingerprint, build, key, width)


@st.cache_data(show_spinner=False, max_entries=256)
def _chart_element(fingerprint: tuple, _build: Callable[[], object], key: str, width: str) -> None:
    st.plotly_chart(_build(), key=key, width=width)  # type: ignore[arg-type]


#: A table with more columns than this shows texts longer than LONG_TEXT_CHARS in a bounded column (full text on hover).
WIDE_TABLE_COLUMNS = 5
LONG_TEXT_CHARS = 28


def table(frame: pd.DataFrame, lang: str, decimals: dict[str, int] | None = None, links: tuple[str, ...] = (),
          key: str | None = None, columns: Mapping[str, ColumnView] | None = None) -> None:
    """st.dataframe with `styled` numbers and `links` columns as plain links (http/https only); `columns`
    gives wide tables short headers, help texts and widths (`indicator_views.ColumnView`).

    Drawn once per distinct frame and options: a rerun with the same table replays the stored element
    (Streamlit's cached-element replay) instead of styling every cell again, which took most of a warm
    rerun on pages with long lists (Spazi vuoti's 800 places: about 100 ms each time). Frames of
    CACHED_TABLE_ROWS rows or more are drawn each time: Streamlit hashes only a sample of such frames."""
    args = (frame, lang, tuple(sorted((decimals or {}).items())), tuple(links), key, tuple((columns or {}).items()))
    if len(frame) < CACHED_TABLE_ROWS:
        _table_element(*args)
    else:
        _draw_table(*args)


#: Below this many rows a table's element is stored and replayed (Streamlit hashes larger frames by a sample).
CACHED_TABLE_ROWS = 20_000


@st.cache_data(show_spinner=False, max_entries=256)
def _table_element(frame: pd.DataFrame, lang: str, decimals: tuple[tuple[str, int], ...], links: tuple[str, ...],
                   key: str | None, columns: tuple[tuple[str, ColumnView], ...]) -> None:
    """The table element, stored per distinct content (see `table`)."""
    _draw_table(frame, lang, decimals, links, key, columns)


def _draw_table(frame: pd.DataFrame, lang: str, decimals: tuple[tuple[str, int], ...], links: tuple[str, ...],
                key: str | None, columns: tuple[tuple[str, ColumnView], ...]) -> None:
    styler, config = styled(frame, lang, dict(decimals), keep=links)
    if columns:
        config = column_config(config, dict(columns))
    else:
        _bound_widths(frame, links, config)
    st.dataframe(styler, hide_index=True, width="stretch", column_config=config or None, key=key)


def _bound_widths(frame: pd.DataFrame, links: tuple[str, ...], config: dict[str, object]) -> None:
    """Links as link columns; in a wide table, long texts in a bounded column (full text on hover)."""
    wide = len(frame.columns) > WIDE_TABLE_COLUMNS  # long texts get a bounded width: every column stays in view
    config |= {c: st.column_config.LinkColumn(c, width="medium" if wide else None) for c in links if c in frame.columns}
    if wide:
        for column in frame.columns:
            if column not in config and (frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column])) \
                    and len(frame) \
                    and frame[column].astype(str).str.len().max() > LONG_TEXT_CHARS:
                config[column] = st.column_config.TextColumn(column, width="medium")
