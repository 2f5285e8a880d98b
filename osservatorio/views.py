"""View models: turn query results into what a page shows (labels, formats, figures). No Streamlit."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import pandas as pd
import plotly.graph_objects as go

from osservatorio import maps
from osservatorio.i18n import TEXTS, fmt_date, fmt_number, t
from osservatorio.territory import TERRITORY_LEVEL, Territory


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str


def trust_label(trust: str | None, lang: str) -> str:
    return t(f"trust_{trust}", lang) if isinstance(trust, str) and trust else t("no_data", lang)


def sources_table(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Lineage table as shown on the data page."""
    return pd.DataFrame({
        t("col_source", lang): frame["source_id"],
        t("col_dataset", lang): frame["dataset"],
        t("col_title", lang): [dataset_title_cited(i, x, lang) for i, x in zip(frame["source_id"], frame["title"], strict=True)],
        t("col_status", lang): [t(f"status_{s}", lang) for s in frame["status"]],
        t("col_trust", lang): [trust_label(x, lang) for x in frame["trust"]],
        t("col_rows_read", lang): frame["rows_read"],
        t("col_rows_loaded", lang): frame["rows_loaded"],
        t("col_rows_rejected", lang): frame["rows_rejected"],
        t("col_rows_repaired", lang): frame["rows_repaired"],
        t("col_loaded_at", lang): frame["loaded_at"],
        t("col_licence", lang): frame["licence"],
        t("col_crs", lang): frame["crs"],
        t("col_encoding", lang): frame["encoding"],
        t("col_path", lang): frame["path"],
        "sha256": frame["sha256"],
        t("col_notes", lang): frame["notes"],
        t("col_reference_date", lang): pd.to_datetime(frame["reference_date"]).dt.date if "reference_date" in frame else None,
        t("col_attribution", lang): frame["attribution"] if "attribution" in frame else None,
        t("col_origin", lang): frame["origin"] if "origin" in frame else None,
    })


def catalogue_table(catalogue: pd.DataFrame, sources: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Every registered source with its themes, state in this build (loaded / refused / absent), dataset,
    download page and the files it recognises; loaded first, then refused, then absent."""
    failed = set(_failure_reasons(sources))
    states = ["failed" if str(s) in failed else plain(st) or "absent" for s, st in zip(catalogue["source_id"], catalogue["state"],
                                                                                       strict=True)]
    order = {"loaded": 0, "failed": 1, "absent": 2}
    out = pd.DataFrame({
        t("col_source", lang): catalogue["source_id"].astype(str).to_numpy(),
        t("col_themes", lang): [", ".join(sorted(_entry_themes(str(s), th) - {"places"}) or _parse_themes(th))
                                for s, th in zip(catalogue["source_id"], catalogue["themes"], strict=True)],
        t("col_dataset", lang): plain_column(catalogue["dataset"]),
        t("col_title", lang): [dataset_title_cited(i, x, lang) for i, x in zip(catalogue["source_id"], catalogue["title"],
                                                                                   strict=True)],
        t("col_status", lang): [t(f"catalogue_state_{s}", lang) if s in order else s for s in states],
        t("col_portal", lang): [u if plain(u).startswith(("https://", "http://")) else None for u in catalogue["portal_url"]],
        t("col_file_hint", lang): [user_words(x).strip(" ()") for x in catalogue["file_hint"]],  # no config/ paths
        t("col_licence", lang): [user_words(x) for x in catalogue["licence"]],
        "_order": [order.get(s, 3) for s in states],
    })
    return out.sort_values(["_order", t("col_source", lang)], kind="stable").drop(columns="_order").reset_index(drop=True)


#: The stable openings of the ETL's reject reasons (Italian, as stored) and their English: phrase by phrase,
#: the values in between (codes, coordinates, names from the files) are kept as they are.
_REJECT_REASONS_EN: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(a), b) for a, b in (
    (r"^punto fuori dal territorio (.+?): ", r"point outside the territory \1: "),
    (r"\(zona: ", "(zone: "),
    (r"^stesso edificio già caricato da (\S+) \(codice ", r"same building already loaded from \1 (code "),
    (r", stesso indirizzo a (\d+) m", r", same address \1 m away"),
    (r"; codice 2016 ", "; 2016 code "),
    (r"\): non contato due volte$", "): not counted twice"),
    (r"^poligono non valido riparato con make_valid", "invalid polygon repaired with make_valid"),
    (r"^(\S+): non più nell'elenco (\S+) \(l'esportazione del geoportale (\S+) lo riporta, (\S+) no\): "
     r"non contato come attuale$", r"\1: no longer in the \2 list (the geoportale export of \3 has it, \4 does not): "
     r"not counted as current"),
    (r"^a (\d+) m dall'edificio (\S+) di (\S+) con un altro indirizzo: caricato, possibile stesso edificio da verificare$",
     r"\1 m from building \2 of \3 with another address: loaded, possibly the same building, to be checked"),
    (r"^(\S+) (\d+) \((.+)\) assente nel file: nessun dato di residenti al (\S+) \(non è uno zero\)$",
     r"\1 \2 (\3) absent from the file: no residents figure at \4 (not a zero)"),
    (r"^stesso nome e indirizzo della riga (\d+)", r"same name and address as row \1"),
    (r" ma a ([\d.,]+) m di distanza: non è un duplicato \(indirizzo probabilmente impreciso nella fonte\); "
     r"nome reso univoco con ", r" but \1 m away: not a duplicate (address probably imprecise in the source); "
     r"name made unique with "),
    (r"^(\S+): non più nell'elenco (\S+) \(lo riporta l'esportazione del geoportale (\S+)\); non contato come attuale$",
     r"\1: no longer in the \2 list (the geoportale export of \3 has it); not counted as current"),
    (r"^(\S+): popolazione_totale 0 con tutte le altre voci demografiche a 0 o nulle: zero dell'export non verificabile "
     r"\(potrebbe essere un NIL assente nella fonte, riempito con 0\); caricato come 0$",
     r"\1: popolazione_totale 0 with every other demographic field 0 or empty: the export's zero cannot be verified "
     r"(it may be an area missing from the source, filled with 0); loaded as 0"),
    (r"^longitudine e latitudine invertite", "longitude and latitude swapped"),
    (r"^duplicato", "duplicate"),
))


def reject_reason(reason: object, lang: str) -> str:
    """A reject reason in the page language: the stored Italian sentence, or its English where its phrases are
    known (the rest, e.g. values from the file, stays as stored)."""
    text = cell_text(reason)
    if lang != "en" or not text:
        return text
    for pattern, english in _REJECT_REASONS_EN:
        text = pattern.sub(english, text)
    return text


def rejects_table(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Rejected/repaired/flagged rows with their reasons (in the page language where known) and raw values."""
    return pd.DataFrame({
        t("col_source", lang): frame["source_id"],
        t("col_path", lang): frame["path"],
        t("col_row", lang): frame["row_number"],
        t("col_action", lang): [t(f"action_{a}", lang) for a in frame["action"]],
        t("col_reason", lang): [reject_reason(r, lang) for r in frame["reason"]],
        t("col_raw", lang): frame["raw"],
    })


# --- Untrusted text ----------------------------------------------------------------------------------

#: Bidirectional-override and isolate controls (U+202A-U+202E, U+2066-U+2069): they can make a name read
#: backwards or hide part of a message. Removed from every text taken from a file or a URL.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_STRIP = {ord(c): None for c in BIDI_CONTROLS} | {c: " " for c in range(0, 32)} | {0x7F: " ", 0x2028: " ", 0x2029: " "}
_MD_PUNCT = r"""\`*_{}[]()<>#+-.!|~:$&"'=^%/;?@,"""
_MD_TABLE = {ord(c): "\\" + c for c in _MD_PUNCT}


def plain(value: object) -> str:
    """A value from a file or a URL as one line of plain text: bidi controls removed, control characters
    (newlines, tabs) made spaces; None/NaN -> ''."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value).translate(_STRIP)


def md_text(value: object) -> str:
    """`plain(value)` with every ASCII punctuation character backslash-escaped, so that st.markdown,
    st.info, st.header and st.caption show it literally: no link, no image, no emphasis, no
    Streamlit directive (:red[...], :material/...:), no LaTeX, no HTML, no bare-URL autolink."""
    return plain(value).translate(_MD_TABLE)


def plain_column(values: pd.Series | list) -> list[str]:
    """`plain` over a column (names and addresses shown in tables)."""
    return [plain(v) for v in values]


# --- Which source fills a theme, and what this build found ------------------------------------------

#: Themes whose emptiness must never look like a zero; each with the catalogue words that name it.
THEME_WORDS: dict[str, tuple[str, ...]] = {
    "makerspace": ("makerspace", "makerspaces", "fablab"),
    "coworking": ("coworking",),
    "vacant": ("vacant",),
    "firm": ("firm", "firms", "firm_points", "firm_units", "firm_totals"),
    "firm_units": ("firm_units",),
    "firm_totals": ("firm_totals",),
    "historic_shop": ("historic_shop", "historic_shops"),
    "hub": ("hub",),
}


@dataclass(frozen=True)
class CatalogueEntry:
    """One registered source that can fill a theme, with its state in this build."""

    source_id: str
    dataset: str
    title: str
    portal_url: str
    file_hint: str
    state: str  # loaded / failed / absent
    reason: str  # why it failed (sources.notes), '' otherwise


@dataclass(frozen=True)
class ThemeState:
    """What this build has for a theme: points, per-district counts only, a failed source, or nothing.

    state: 'points' (place rows), 'counts' (area_counts only: no point list), 'failed' (a source was
    refused), 'absent' (no source loaded). `failed` lists refused sources even when another loaded.
    """

    theme: str
    state: str
    places: int
    counts_total: int | None
    counts_districts: int
    counts_sources: tuple[str, ...]
    counts_trust: tuple[str, ...]
    candidates: tuple[CatalogueEntry, ...]
    failed: tuple[CatalogueEntry, ...]
    loaded_themes: tuple[str, ...] = ()  # catalogue themes of the loaded sources that match (e.g. firm_totals)

    @property
    def loaded(self) -> bool:
        return self.state in ("points", "counts")


#: Sources whose catalogue entry says only ["places"] (the table, not the theme): their theme by source id.
PLACES_SOURCE_THEMES = {"vacant_ds503": "vacant", "vacant_footprints": "vacant", "vacant_buildings": "vacant",
                        "confiscated": "vacant", "aree_dismesse": "vacant", "firms_points": "firm", "makerspaces": "makerspace",
                        "coworking": "coworking", "historic_shops": "historic_shop"}


def _entry_themes(source_id: str, text: object) -> set[str]:
    themes = set(_parse_themes(text))
    if "places" in themes and source_id in PLACES_SOURCE_THEMES:
        themes.add(PLACES_SOURCE_THEMES[source_id])
    return themes


def _parse_themes(text: object) -> tuple[str, ...]:
    if not isinstance(text, str):
        return ()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return tuple(w.strip() for w in text.split(",") if w.strip())
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _failure_reasons(sources: pd.DataFrame) -> dict[str, str]:
    if sources.empty or "status" not in sources:
        return {}
    failed = sources[sources["status"] == "failed"]
    out: dict[str, str] = {}
    for sid, notes in zip(failed["source_id"], failed["notes"], strict=True):
        text = plain(notes)
        out[str(sid)] = "; ".join(x for x in (out.get(str(sid), ""), text) if x)
    return out


def theme_state(theme: str, catalogue: pd.DataFrame, sources: pd.DataFrame, places: int,
                counts: pd.DataFrame | None = None) -> ThemeState:
    """The state of `theme` in this build from the source catalogue, the sources table (failure
    reasons), the number of place rows and the per-district counts (`data.area_counts`)."""
    words = set(THEME_WORDS.get(theme, (theme,)))
    reasons = _failure_reasons(sources)
    failed_ids = set(reasons)
    entries = []
    for row in catalogue.to_dict("records"):
        sid = str(row["source_id"])
        if not words & _entry_themes(sid, row.get("themes")):
            continue
        state = "failed" if sid in failed_ids else plain(row.get("state")) or "absent"
        entries.append(CatalogueEntry(source_id=sid, dataset=plain(row.get("dataset")), title=plain(row.get("title")),
                                      portal_url=plain(row.get("portal_url")), file_hint=plain(row.get("file_hint")),
                                      state=state, reason=reasons.get(sid, "")))
    failed = tuple(e for e in entries if e.state == "failed")
    n_counts = 0 if counts is None or counts.empty else int(pd.to_numeric(counts["count"], errors="coerce").sum())
    has_counts = counts is not None and not counts.empty
    if places > 0:
        state = "points"
    elif has_counts:
        state = "counts"
    elif failed:
        state = "failed"
    else:
        state = "absent"
    return ThemeState(
        theme=theme, state=state, places=int(places), counts_total=n_counts if has_counts else None,
        counts_districts=0 if not has_counts else int(counts["district_id"].nunique()),  # type: ignore[index]
        counts_sources=() if not has_counts else tuple(dict.fromkeys(plain(s) for s in counts["source_id"])),  # type: ignore[index]
        counts_trust=() if not has_counts else tuple(dict.fromkeys(plain(s) for s in counts["trust"])),  # type: ignore[index]
        candidates=tuple(e for e in entries if e.state != "loaded"), failed=failed,
        loaded_themes=tuple(sorted({th for row in catalogue.to_dict("records") if plain(row.get("state")) == "loaded"
                                    for th in _entry_themes(str(row["source_id"]), row.get("themes")) & words})))


_FILE_WORDS = re.compile(r"\s*\([^()]*(?:/|\.toml|\.csv|\.py)[^()]*\)")


def user_title(title: str) -> str:
    """A catalogue title without the developer's file hints: 'Censimento comunale (file descritti in
    config/census.toml)' -> 'Censimento comunale'."""
    return _FILE_WORDS.sub("", title).strip()


_CONFIG_FILE = re.compile(r"\s*\b(?:in|nel file|da)?\s*config/[\w./-]+")


def user_words(text: object) -> str:
    """A catalogue title or licence without the code's file names ('indicata per ogni file in config/census.toml'
    -> 'indicata per ogni file')."""
    return _CONFIG_FILE.sub("", user_title(plain(text))).strip()


def dataset_title(source_id: object, title: object, lang: str) -> str:
    """A source's title in the page language, without the code's file names. Italian: the publisher's title as
    the build stored it. English: the description of the translation table (`dataset_<source_id>` in i18n),
    keyed by the stored source id, not read from any file on disk; a source not in the table (a census list an
    editor named, a future source) keeps its stored title."""
    stored = user_words(title)
    key = f"dataset_{plain(source_id)}"
    if key not in TEXTS or not stored:
        return stored
    return t(key, lang, title=stored)


def dataset_title_cited(source_id: object, title: object, lang: str) -> str:
    """As `dataset_title`, with the publisher's original title in quotes after an English description (the title a
    reader cites and finds on the portal): 'Real estate confiscated from organised crime (“Beni immobili …”)'."""
    name, stored = dataset_title(source_id, title, lang), user_words(title)
    return name if name == stored else t("dataset_cited", lang, name=name, title=stored)


def _dataset_phrase(entry: CatalogueEntry, lang: str) -> str:
    code = f"{entry.dataset} " if entry.dataset else ""
    stored = user_title(entry.title) or entry.source_id
    name = dataset_title(entry.source_id, entry.title, lang)
    if name and name != user_words(entry.title):  # English: the original title quoted, then what it is
        return t("src_dataset_phrase_named", lang, code=code, title=stored, name=name)
    return t("src_dataset_phrase", lang, code=code, title=stored)


def theme_state_summary(state: ThemeState, lang: str) -> str:
    """One line for a theme without loaded points ('' when it has them and nothing failed); the detail
    (which dataset would fill it, where to get it) is `theme_state_text`, shown in an expander."""
    what = t(f"src_theme_{state.theme}", lang) if f"src_theme_{state.theme}" in TEXTS else md_text(state.theme)
    if state.state == "counts":
        line = t("src_counts_short", lang, what=what, total=fmt_number(state.counts_total, lang),
                 districts=fmt_number(state.counts_districts, lang))
    elif state.state in ("absent", "failed") and state.theme == "firm" and "firm_totals" in state.loaded_themes:
        line = t("src_firm_totals_only", lang)  # city totals are data: not "no source loaded"
    elif state.state in ("absent", "failed"):
        line = t("src_none_loaded", lang, what=what)
    elif state.failed:
        line = t("src_failed_short", lang, n=len(state.failed))
    else:
        return ""
    would = [e for e in state.candidates if e.state == "absent"]
    if state.state != "points" and would:
        line += " " + t("src_would_short", lang, n=len(would))
    return line


def theme_state_text(state: ThemeState, lang: str) -> str:
    """The message a page shows for a theme without loaded data (or '' when it has data and nothing failed).

    Markdown-safe: every value from the warehouse is escaped; the download address is the only link.
    """
    what = t(f"src_theme_{state.theme}", lang) if f"src_theme_{state.theme}" in TEXTS else md_text(state.theme)
    parts: list[str] = []
    if state.state == "counts":
        parts.append(t("src_counts_only", lang, what=what, total=fmt_number(state.counts_total, lang),
                       districts=fmt_number(state.counts_districts, lang),
                       sources=md_text(", ".join(state.counts_sources)),
                       trust=", ".join(trust_label(x, lang) for x in state.counts_trust)))
    elif state.state in ("absent", "failed"):
        parts.append(t("src_none_loaded", lang, what=what))
        if state.theme == "firm" and "firm_totals" in state.loaded_themes:
            parts.append(t("src_firm_totals_only", lang))
    for entry in state.failed:
        reason = md_text(entry.reason) if entry.reason else t("src_no_reason", lang)
        parts.append(t("src_failed", lang, dataset=md_text(_dataset_phrase(entry, lang)), reason=reason))
    if state.state in ("absent", "failed", "counts"):
        would = [e for e in state.candidates if e.state == "absent"]
        for entry in would:
            hint = t("src_file_hint", lang, hint=md_text(entry.file_hint)) if entry.file_hint else ""
            url = entry.portal_url if entry.portal_url.startswith(("https://", "http://")) else ""
            where = t("src_portal", lang, url=url) if url else t("src_portal_unknown", lang)
            on_portal = entry.dataset.lower().startswith("ds") or "dati.comune.milano.it" in url
            parts.append(t("src_would_fill" if on_portal else "src_would_fill_other", lang,
                           dataset=md_text(_dataset_phrase(entry, lang)), where=where, hint=hint))
        if not would and not state.failed and state.state != "counts":
            parts.append(t("src_no_catalogue", lang))
    return " ".join(p for p in parts if p)


# --- Place attributes (the source's other columns, as JSON) ----------------------------------------

_FORMER_USE_KEYS = ("tipo_macro", "typology", "tipologia")
_TRUE = {"1", "true", "yes", "si", "sì", "y"}


def place_attributes(text: object) -> dict:
    """places.attributes as a dict with lower-case keys ({} when missing or malformed); a fresh copy each
    time of a text parsed once (pages read the same places' attributes for their table, map and counts)."""
    if not isinstance(text, str) or not text:
        return {}
    return dict(_parsed_attributes(text))


@lru_cache(maxsize=8_192)  # the places a page shows (hundreds), not a register
def _parsed_attributes(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return {str(k).lower(): v for k, v in value.items()} if isinstance(value, dict) else {}


def former_use(category: object, attributes: object) -> str:
    """The former use of a vacant place ('Produttivo', 'Terziario', 'Residenziale'…): places.category (the
    loaders write the former use there), else the source's own former-use column kept in the attributes;
    '' when unknown."""
    if plain(category):  # the loaders write the former use here, in one vocabulary across sources
        return _sentence_case(plain(category))
    attrs = attributes if isinstance(attributes, dict) else place_attributes(attributes)
    for key in _FORMER_USE_KEYS:
        if plain(attrs.get(key)):
            return _sentence_case(plain(attrs[key]))
    return ""


def _sentence_case(text: str) -> str:
    text = text.replace("_", " ").strip()  # 'area_libera' (a loader's vocabulary word) -> 'Area libera'
    return text[:1].upper() + text[1:].lower() if text.isupper() or text.islower() else text


def record_links(attributes: object) -> list[str]:
    """Links to the official record sheets kept in the attributes (keys 'link…'), http(s) only."""
    attrs = attributes if isinstance(attributes, dict) else place_attributes(attributes)
    out = []
    for key, value in attrs.items():
        text = plain(value).strip()
        if key.startswith("link") and text.lower().startswith(("https://", "http://")) and " " not in text:
            out.append(text)
    return out


def ownership_assumed(attributes: object) -> bool:
    """Whether the place's ownership rests on an assumption (attributes 'ownership_assumed')."""
    attrs = attributes if isinstance(attributes, dict) else place_attributes(attributes)
    value = attrs.get("ownership_assumed")
    if isinstance(value, bool):
        return value
    return plain(value).strip().lower() in _TRUE


def assumed_ownership_value(attributes: object) -> str | None:
    """The ownership a source only guessed ('public' / 'private', attributes 'ownership_assumed_value'), if any."""
    attrs = attributes if isinstance(attributes, dict) else place_attributes(attributes)
    if not ownership_assumed(attrs):
        return None
    value = plain(attrs.get("ownership_assumed_value")).strip().lower()
    return value if value in ("public", "private") else None


# --- Shared by the indicator, theme and programme pages: missing values, units, catalogue, pickers ---

def is_missing(value: object) -> bool:
    """None, NaN, pd.NA or NaT: a value that is not there (never shown as a zero)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def cell_text(value: object) -> str:
    """A value as plain text for a table cell ('' when missing)."""
    return "" if is_missing(value) else str(value)


def hover_text(value: object) -> str:
    """Text from the data, escaped for Plotly's HTML-like hover labels (bidi controls removed)."""
    return html.escape(plain(value))


def separators(lang: str) -> str:
    """Plotly's decimal and thousands separators for the language (Italian: 1.234,5)."""
    return ",." if lang == "it" else ".,"


def round_column(series: pd.Series, decimals: int) -> pd.Series:
    """A column as floats rounded to `decimals` (non-numbers become NaN)."""
    return pd.to_numeric(series, errors="coerce").astype(float).round(decimals)


def area_label(area_id: object, name: object) -> str:
    """'12 · Name' for an area (bidi controls removed from the name); the id alone without a name."""
    return f"{area_id} · {plain(name)}" if plain(name) else str(area_id)


def trust_list(value: object, lang: str) -> str:
    """'demo, official' (as aggregated by the queries) -> translated labels."""
    return ", ".join(trust_label(x.strip(), lang) for x in cell_text(value).split(",") if x.strip())


def inline_label(label: str) -> str:
    """A level label inside a sentence: 'Comune' -> 'comune'; an acronym ('NIL', 'NILs') stays as written."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def points_geojson(table: pd.DataFrame, id_col: str, lon_col: str = "lon", lat_col: str = "lat") -> dict:
    """A FeatureCollection of Point features (id = the table's `id_col`), for GeoJSON downloads of a
    point layer; rows without coordinates have no feature."""
    features = []
    for key, lon, lat in zip(table[id_col], table[lon_col], table[lat_col], strict=True):
        if is_missing(lon) or is_missing(lat):
            continue
        features.append({"type": "Feature", "id": key if isinstance(key, (int, str)) else str(key), "properties": {},
                         "geometry": {"type": "Point", "coordinates": [round(float(lon), 6), round(float(lat), 6)]}})
    return {"type": "FeatureCollection", "features": features}


#: Units of counts and sums (extensive quantities): no area-versus-territory judgement on them.
COUNT_UNITS = ("n", "abitanti", "unità locali", "postazioni", "m²")
#: Units as written in config/indicators.toml (Italian) -> translation key and decimals shown.
UNITS: dict[str, tuple[str, int]] = {
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
DIRECTIONS = ("higher_better", "lower_better", "neutral")


def unit_label(unit: str, lang: str) -> str:
    """A catalogue unit in the user's language (unknown units are shown as written)."""
    key = UNITS.get(unit, (None, 1))[0]
    return t(key, lang) if key else unit


def unit_decimals(unit: str) -> int:
    """Decimals shown for a catalogue unit (1 when unknown)."""
    return UNITS.get(unit, ("", 1))[1]


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


#: Level roles an indicator catalogue may name instead of a territory's level ids.
LEVEL_ROLES = ("fine", "parent")


def resolve_levels(levels: Sequence[str], territory: Territory | None) -> tuple[str, ...]:
    """Catalogue levels as the territory's level ids: the roles 'fine' / 'parent' become the level ids
    (a parent role is dropped in a territory with one level), the old whole-city level 'city' becomes
    'territory'; anything else is kept as written."""
    out: list[str] = []
    for level in levels:
        if level == "city":
            level = TERRITORY_LEVEL
        elif territory is not None and level == "fine":
            level = territory.fine.id
        elif territory is not None and level == "parent":
            if territory.parent is None:
                continue
            level = territory.parent.id
        if level not in out:
            out.append(level)
    return tuple(out)


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
        return unit_decimals(self.raw_unit)

    @property
    def is_count(self) -> bool:
        """A count or a sum (grows with the area's size): an area's value is not comparable with the territory's."""
        return self.raw_unit in COUNT_UNITS


def indicator_metas(catalogue: pd.DataFrame, lang: str, territory: Territory | None = None) -> dict[str, IndicatorMeta]:
    """indicator_id -> IndicatorMeta, in catalogue order, labelled in `lang`; levels as the territory's ids."""
    suffix = "en" if lang == "en" else "it"
    out: dict[str, IndicatorMeta] = {}
    for row in catalogue.to_dict("records"):
        direction = row["direction"] if row["direction"] in DIRECTIONS else "neutral"
        out[str(row["indicator_id"])] = IndicatorMeta(
            indicator_id=str(row["indicator_id"]), theme=str(row["theme"]),
            name=str(row[f"name_{suffix}"]), description=str(row[f"description_{suffix}"]),
            formula=str(row["formula"]), unit=unit_label(str(row["unit"]), lang), raw_unit=str(row["unit"]),
            direction=direction, levels=resolve_levels(parse_levels(row["levels"]), territory))
    return out


def format_value(value: object, meta: IndicatorMeta, lang: str, with_unit: bool = True) -> str:
    """A value with the decimals of its unit, Italian or English separators, and the unit."""
    if is_missing(value):
        return t("no_data", lang)
    text = fmt_number(float(value), lang, meta.decimals)  # type: ignore[arg-type]
    if not with_unit:
        return text
    return f"{text} %" if meta.raw_unit == "%" else f"{text} {meta.unit}"


def direction_label(direction: str, lang: str) -> str:
    return t(f"direction_{direction}", lang)


def valued_indicators(coverage: pd.DataFrame, levels: Sequence[str] | None = None) -> set[str]:
    """Indicators with at least one value at one of `levels` (None: any level) in the snapshot
    (`data.indicator_coverage`)."""
    if coverage.empty:
        return set()
    with_value = pd.to_numeric(coverage["with_value"]) > 0
    part = coverage[with_value if levels is None else with_value & coverage["level"].isin(list(levels))]
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


def level_names(territory: Territory, stats: Mapping[str, pd.DataFrame], lang: str) -> dict[tuple[str, str], str]:
    """(level, area_id) -> display name for the territory and its levels (`stats`: level id ->
    district_stats frame): the finest level as '12 · Name', the parent by its name (else 'Municipio 3')."""
    names: dict[tuple[str, str], str] = {(TERRITORY_LEVEL, territory.id): territory.name(lang)}
    for level in territory.levels:
        frame = stats.get(level.id)
        if frame is None or frame.empty:
            continue
        for i, n in zip(frame["id"], frame["name"], strict=True):
            names[(level.id, str(i))] = area_label(i, n) if level.rank == 0 else plain(n) or f"{level.label(lang)} {i}"
    return names


# --- Theme pages: areas of the territory, periphery classes, filters (shared by the theme pages) -------------

ALL = "*"  # the "no filter" option of every selector
PERIPHERY_ORDER = ("centro", "semicentro", "periferia")
PERIPHERAL = "periferia"
MAP_FIT_HEIGHT = 470  # px used to fit the zoom: the 560 px map minus title and legend, so the selection is not cut


def newest_snapshot(snapshots: pd.DataFrame) -> str | None:
    """The newest snapshot id (the query lists them newest first), or None when there is none."""
    if snapshots.empty:
        return None
    return str(snapshots["snapshot_id"].iloc[0])


def area_labels(stats: pd.DataFrame) -> dict[int, str]:
    """Area id -> '12 · Bovisa', from district_stats of one level."""
    return {int(i): area_label(i, n) for i, n in zip(stats["id"], stats["name"], strict=True)}


def int_or_none(value: object) -> int | None:
    """An integer, or None for a missing value."""
    return None if value is None or pd.isna(value) else int(value)  # type: ignore[arg-type, call-overload]


def periphery_classes(groups: pd.DataFrame | None, lang: str | None = None) -> pd.DataFrame:
    """One row per area of the fine level with its periphery class: columns district_id, class_id, class_name
    (empty when there is no snapshot, i.e. `groups` is None, or the territory has no periphery classes)."""
    if groups is None or groups.empty:
        return pd.DataFrame({"district_id": pd.Series(dtype=int), "class_id": pd.Series(dtype=str),
                             "class_name": pd.Series(dtype=str)})
    part = groups[groups["group_level"] == "periphery_class"]
    ids = part["group_id"].astype(str).to_numpy()
    names = part["group_name"].astype(str).to_numpy()
    if lang is not None:  # the known classes in the page language (the warehouse stores the Italian names)
        names = [t(f"class_{i}", lang) if i in PERIPHERY_ORDER else n for i, n in zip(ids, names, strict=True)]
    return pd.DataFrame({"district_id": part["district_id"].astype(int).to_numpy(), "class_id": ids, "class_name": names})


def class_options(classes: pd.DataFrame) -> list[str]:
    """Selector options: ALL, then the classes present, centre outwards (unknown ids last)."""
    present = set(classes["class_id"])
    known = [c for c in PERIPHERY_ORDER if c in present]
    return [ALL, *known, *sorted(present - set(known))]


def class_names(classes: pd.DataFrame) -> dict[str, str]:
    """class id -> display name (e.g. 'Periferia')."""
    return dict(zip(classes["class_id"], classes["class_name"], strict=True))


def option_label(value: str, lang: str, all_key: str, names: Mapping[str, str] | None = None) -> str:
    """Display text of a selector option: the translated 'all' text for ALL, else its name (or itself)."""
    if value == ALL:
        return t(all_key, lang)
    return names.get(value, value) if names else value


def parent_options(stats: pd.DataFrame) -> list[str]:
    """Selector options of the parent-level filter: ALL, then the parent areas of the fine areas, as text."""
    if "parent_id" not in stats.columns:
        return [ALL]
    return [ALL, *[str(m) for m in sorted({int(m) for m in stats["parent_id"].dropna()})]]


def parent_name(territory: Territory, parent_id: object, lang: str) -> str:
    """'Municipio 3' (the parent level's label and the area id); '' without a parent level or id."""
    parent = territory.parent
    if parent is None or is_missing(parent_id):
        return ""
    return f"{parent.label(lang)} {int(parent_id)}"  # type: ignore[call-overload]


def selected_areas(stats: pd.DataFrame, classes: pd.DataFrame, parent: str, klass: str) -> set[int] | None:
    """The fine-level area ids in the selection (parent area and/or periphery class), None without a filter."""
    if parent == ALL and klass == ALL:
        return None
    ids = {int(i) for i in stats["id"]}
    if parent != ALL:
        ids &= {int(i) for i, m in zip(stats["id"], stats["parent_id"], strict=True) if pd.notna(m) and int(m) == int(parent)}
    if klass != ALL:
        ids &= {int(i) for i in classes.loc[classes["class_id"] == klass, "district_id"]}
    return ids


def peripheral_areas(classes: pd.DataFrame) -> set[int]:
    """The fine-level areas of the periphery class 'periferia' (the class the ETL's opportunity indicators use)."""
    return {int(i) for i in classes.loc[classes["class_id"] == PERIPHERAL, "district_id"]}


def filter_places(frame: pd.DataFrame, classes: pd.DataFrame, parent: str, klass: str) -> pd.DataFrame:
    """Places in the selection: the parent area on the place's own parent_id (so places known only by their
    parent area stay in), the periphery class on its fine area (places without one drop out)."""
    keep = pd.Series(True, index=frame.index)
    if parent != ALL:
        keep &= frame["parent_id"].eq(int(parent)).fillna(False).astype(bool)
    if klass != ALL:
        members = {int(i) for i in classes.loc[classes["class_id"] == klass, "district_id"]}
        keep &= frame["district_id"].isin(members).fillna(False).astype(bool)
    return frame[keep]


def place_ids(frame: pd.DataFrame) -> pd.Series:
    """A unique, stable id per place: '<source_id>:<source_key>'."""
    return frame["source_id"].astype(str) + ":" + frame["source_key"].astype(str)


def place_area_column(frame: pd.DataFrame, names: Mapping[int, str], missing: str) -> list[str]:
    """The fine area of each place ('12 · Bovisa'); `missing` (e.g. 'senza NIL') when the place has none."""
    return [names.get(int(i), str(i)) if pd.notna(i) else missing for i in frame["district_id"]]


def place_class_column(frame: pd.DataFrame, classes: pd.DataFrame) -> list[str | None]:
    """The periphery class of each place's fine area (None when unknown)."""
    lookup = dict(zip(classes["district_id"], classes["class_name"], strict=True))
    return [lookup.get(int(i)) if pd.notna(i) else None for i in frame["district_id"]]


def place_hover(frame: pd.DataFrame, names: Mapping[int, str], missing: str,
                extra: Sequence[str] | None = None) -> list[str]:
    """Hover text of place points: name, address, fine area (`missing` without one; plain text, HTML-escaped),
    plus `extra` lines."""
    area = place_area_column(frame, names, missing)
    out = []
    for k, (name, address, n) in enumerate(zip(frame["name"], frame["address"], area, strict=True)):
        parts = [html.escape(plain(name)) or "–", html.escape(plain(address)), html.escape(plain(n))]
        if extra is not None:
            parts.append(extra[k])
        out.append("<br>".join(p for p in parts if p))
    return out


def area_columns(territory: Territory, lang: str, fine: list[str], parent: Sequence[object] | None,
                 classes: pd.DataFrame, klass: list[str | None]) -> dict[str, object]:
    """The area columns of a theme table: fine area, parent area (only when the territory has a parent level)
    and periphery class (only when the build has classes); headers from the territory's labels."""
    out: dict[str, object] = {territory.fine.label(lang): fine}
    if territory.parent is not None and parent is not None:
        out[territory.parent.label(lang)] = pd.array([int_or_none(v) for v in parent], dtype="Int64")
    if not classes.empty:
        out[t("th_col_class", lang)] = klass
    return out


def _selected_bounds(geojson: Mapping[str, object], selected: set[int] | None) -> tuple[float, float, float, float]:
    if selected:
        part = {"features": [f for f in geojson.get("features", []) if int(f["id"]) in selected]}
        if part["features"]:
            return maps.bounds_of(part)
    return maps.bounds_of(dict(geojson))


def outline_map(geojson: Mapping[str, object], stats: pd.DataFrame, selected: set[int] | None, title: str,
                lang: str, map_style: str, layer_name: str = "") -> go.Figure:
    """Area outlines (the selected ones tinted) as the base of a point map, zoomed on the selection."""
    in_sel = [selected is None or int(i) in selected for i in stats["id"]]
    fig = go.Figure(go.Choroplethmap(
        geojson=dict(geojson), locations=stats["id"].astype(int).tolist(), z=[1 if s else 0 for s in in_sel],
        zmin=0, zmax=1, colorscale=[[0, "#f7f7f7"], [1, "#dbe9f6"]], showscale=False,
        marker_line_width=0.6, marker_line_color="#8c8c8c", marker_opacity=0.7,
        text=[html.escape(area_label(i, n)) for i, n in zip(stats["id"], stats["name"], strict=True)],
        hovertemplate="%{text}<extra></extra>", name=layer_name or t("th_layer_nil", lang), showlegend=False,
    ))
    center, zoom = maps.center_zoom(_selected_bounds(geojson, selected), height_px=MAP_FIT_HEIGHT)
    fig.update_layout(map={"style": map_style, "center": center, "zoom": zoom},
                      margin={"l": 0, "r": 0, "t": 30, "b": 0}, height=560,
                      title={"text": title, "font": {"size": 14}})
    return fig


def catalogue_name(catalogue: pd.DataFrame, indicator_id: str, lang: str, with_unit: bool = False) -> str:
    """The indicator's name in the language (with its unit if asked); the id if unknown."""
    hits = (catalogue["indicator_id"].to_numpy() == indicator_id).nonzero()[0]  # cheaper than a row mask
    if hits.size == 0:
        return indicator_id
    i = int(hits[0])
    column = f"name_{lang}" if f"name_{lang}" in catalogue.columns else "name_it"
    name = str(catalogue[column].iat[i])
    if not with_unit:
        return name
    return f"{name} ({unit_label(str(catalogue['unit'].iat[i]), lang)})"


def is_count_unit(catalogue: pd.DataFrame, indicator_id: str) -> bool:
    """Whether the indicator's values are shown without decimals (counts, metres, m²)."""
    row = catalogue[catalogue["indicator_id"] == indicator_id]
    return not row.empty and unit_decimals(str(row["unit"].iloc[0])) == 0


def territory_value(values: pd.DataFrame) -> float | None:
    """The single value of an indicator for the whole territory (None when absent or NULL)."""
    if values.empty or pd.isna(values["value"].iloc[0]):
        return None
    return float(values["value"].iloc[0])


def no_area_text(territory: Territory, lang: str) -> str:
    """'senza NIL' / 'senza comune': the area cell of a place outside every area of the territory's finest level."""
    return t("th_no_nil", lang, fine=inline_label(territory.fine.label(lang)))


def places_base_map(geojson: Mapping[str, object], stats: pd.DataFrame, selected: set[int] | None, title: str,
                    territory: Territory, lang: str, map_style: str) -> tuple[go.Figure, dict[int, str], str]:
    """(outline map of the finest areas, area id -> label, the 'no area' text): the base of every place map."""
    fig = outline_map(geojson, stats, selected, title, lang, map_style, layer_name=territory.fine.plural(lang))
    return fig, area_labels(stats), no_area_text(territory, lang)


def as_date(value: object) -> date | None:
    """A date from a date, a timestamp or an ISO text (None when missing)."""
    if value is None or (not isinstance(value, (date, datetime, str)) and pd.isna(value)):  # type: ignore[call-overload]
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(str(value)).date()


def hub_facts(attributes: object, lang: str) -> tuple[str, pd.DataFrame]:
    """(why the hub is placed in its area, one row per fact: fact, value, source, date, trust) from a hub's
    `attributes` JSON as the build stored it (config/hubs.toml facts). Texts come from a configuration file:
    plain text. A hub without facts gives an empty table."""
    try:
        data = json.loads(str(attributes)) if cell_text(attributes) else {}
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    basis = plain(data.get("basis_en") if lang == "en" and data.get("basis_en") else data.get("basis_it"))
    rows = []
    for fact in data.get("facts") or []:
        if not isinstance(fact, dict):
            continue
        text = fact.get("text_en") if lang == "en" and fact.get("text_en") else fact.get("text_it")
        value, unit = fact.get("value"), str(fact.get("unit") or "")
        unit_text = t(f"hub_unit_{unit}", lang) if f"hub_unit_{unit}" in TEXTS else unit
        shown = f"{fmt_number(value, lang)} {unit_text}".strip() if isinstance(value, (int, float)) else cell_text(value)
        day = fact.get("date")
        precision = fact.get("date_precision") or "day"
        when = "–"
        if cell_text(day):
            parsed = as_date(day)
            when = (str(parsed.year) if precision == "year" else f"{parsed.month:02d}/{parsed.year}" if precision == "month"
                    else fmt_date(parsed, lang)) if parsed else "–"
        url, source = cell_text(fact.get("url")), plain(fact.get("source"))
        rows.append({t("hub_col_fact", lang): plain(text), t("col_value", lang): shown or "–",
                     t("col_source", lang): f"{source} ({plain(url)})" if url else source or "–",
                     t("hub_col_date", lang): when, t("col_trust", lang): trust_label(fact.get("trust"), lang)})
    columns = [t("hub_col_fact", lang), t("col_value", lang), t("col_source", lang), t("hub_col_date", lang),
               t("col_trust", lang)]
    return basis, pd.DataFrame(rows, columns=columns)
