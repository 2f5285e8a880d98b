"""View code of the Spazi vuoti page: vacant spaces (table, map, breakdown), those near makers in the
periphery (as the ETL stored it: table place_proximity) and the opportunity score with adjustable weights.

Pure functions on the frames of `osservatorio.queries`; area levels and labels come from the territory.
The score with user-chosen weights calls the ETL's own scoring function
(`etl.scoring.score_detail`) on the stored values of the components.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from etl.scoring import score_detail
from osservatorio import maps
from osservatorio.i18n import fmt_number, t
from osservatorio.indicator_views import ColumnView, reason_text
from osservatorio.territory import Territory
from osservatorio.views import (
    ALL,
    area_columns,
    area_label,
    area_labels,
    assumed_ownership_value,
    catalogue_name,
    cell_text,
    former_use,
    inline_label,
    no_area_text,
    ownership_assumed,
    place_area_column,
    place_attributes,
    place_class_column,
    place_hover,
    place_ids,
    places_base_map,
    plain,
    plain_column,
    record_links,
    round_column,
    separators,
    trust_label,
)

VACANT_STATUS_COLORS = {"degraded": "#7f3c8d", "regeneration": "#11a579", "vacant": "#e68310", "assigned": "#3969ac"}
VACANT_OTHER_COLOR = "#a5aa99"
VACANT_STATUSES = ("degraded", "regeneration", "vacant", "assigned")  # as written by the vacant loaders
BREAKDOWN_TOP = 12  # bars per breakdown panel (the rest in one 'other' bar; the table keeps every value)
WEIGHT_MAX = 100  # sliders run 0..100; weights are relative, so only their ratios matter
NEAR_COLOR = "#08306b"  # near-maker points on the opportunity map: dark blue, readable on the yellow-red scale


def status_name(status: object, lang: str) -> str:
    """Translated vacant-space status ('degraded' -> 'degradato'); unknown values as they are."""
    if isinstance(status, str) and status in VACANT_STATUSES:
        return t(f"th_vstatus_{status}", lang)
    return plain(status) if isinstance(status, str) and status else t("no_data", lang)


def ownership_name(ownership: object, lang: str, assumed: bool = False, guess: str | None = None) -> str:
    """Translated ownership ('public' -> 'pubblica'; 'pubblica (assunta)' when it rests on an assumption;
    'dato non disponibile (ipotesi: pubblica)' when the source only guessed it and left it unset)."""
    if isinstance(ownership, str) and ownership in ("public", "private"):
        return t(f"th_owner_{ownership}", lang) + (f" ({t('th_assumed', lang)})" if assumed else "")
    if guess in ("public", "private"):
        return t("th_owner_guess", lang, guess=t(f"th_owner_{guess}", lang))
    return t("no_data", lang)


def _attrs(frame: pd.DataFrame) -> list[dict]:
    return [place_attributes(a) for a in (frame["attributes"] if "attributes" in frame else [None] * len(frame))]


def _former_uses(frame: pd.DataFrame, attrs: list[dict] | None = None) -> list[str]:
    attrs = _attrs(frame) if attrs is None else attrs
    return [former_use(c, a) for c, a in zip(frame["category"], attrs, strict=True)]


def _owners(frame: pd.DataFrame, lang: str, attrs: list[dict] | None = None) -> list[str]:
    attrs = _attrs(frame) if attrs is None else attrs
    return [ownership_name(o, lang, ownership_assumed(a), assumed_ownership_value(a))
            for o, a in zip(frame["ownership"], attrs, strict=True)]


def _trust_with_origin(frame: pd.DataFrame, lang: str) -> list[str]:
    """Trust label, marking the secondary sources (derived: a third party's list, e.g. places.json)."""
    return [trust_label(x, lang) + (f" ({t('th_secondary', lang)})" if x == "derived" else "") for x in frame["trust"]]


def public_assumption(frame: pd.DataFrame) -> tuple[int, int, int]:
    """In a vacant-places frame: (public places, of which with an assumed ownership (counted as public),
    places whose public ownership is only a guess left unset (not counted as public))."""
    attrs = _attrs(frame)
    public = frame["ownership"].eq("public").fillna(False).astype(bool).to_numpy()
    assumed = [ownership_assumed(a) for a in attrs]
    guessed = [assumed_ownership_value(a) == "public" for a in attrs]
    unset = frame["ownership"].isna().to_numpy()
    return (int(public.sum()), int(sum(1 for p, a in zip(public, assumed, strict=True) if p and a)),
            int(sum(1 for u, g in zip(unset, guessed, strict=True) if u and g)))


def secondary_count(frame: pd.DataFrame) -> tuple[int, list[str]]:
    """(places from secondary sources (trust 'derived'), their source ids)."""
    part = frame[frame["trust"].eq("derived").fillna(False).astype(bool)]
    return len(part), sorted({str(x) for x in part["source_id"]})


def status_options(frame: pd.DataFrame) -> list[str]:
    """Selector options for the vacant status: ALL, then the statuses present (known ones first)."""
    present = {s for s in frame["status"].dropna().astype(str)}
    known = [s for s in VACANT_STATUSES if s in present]
    return [ALL, *known, *sorted(present - set(known))]


def filter_status(frame: pd.DataFrame, status: str) -> pd.DataFrame:
    """Vacant spaces with the chosen status (ALL = every one)."""
    if status == ALL:
        return frame
    return frame[frame["status"].eq(status).fillna(False).astype(bool)]


def with_place_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with `_id` = the place id of its tables (what a point layer's GeoJSON download joins on)."""
    return frame.assign(_id=place_ids(frame).to_numpy())


def near_from_proximity(vacant: pd.DataFrame, proximity: pd.DataFrame, peripheral: set[int]) -> pd.DataFrame:
    """Vacant spaces in peripheral areas with the distance to the nearest maker, as the ETL stored it
    (table place_proximity: one row per vacant place and target theme, computed in the territory's metric CRS).

    Returns the vacant rows of the peripheral areas with coordinates plus columns `dist_maker_m`,
    `dist_firm_m` (NaN when the build measured no such target), `dist_m` (the smaller), `within_m`
    (the radius) and `near` (a target within the radius). Target themes: 'makerspace'; a theme naming
    firms ('firm', 'firm_dm', ...) fills `dist_firm_m`.
    """
    in_peri = vacant[vacant["district_id"].isin(list(peripheral)).fillna(False).astype(bool)
                     & vacant["lon"].notna() & vacant["lat"].notna()]
    out = in_peri.copy()
    keys = place_ids(out)
    prox = proximity.assign(_id=place_ids(proximity)) if not proximity.empty else proximity.assign(_id=pd.Series(dtype=str))

    def distance(themes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        part = prox[themes.to_numpy()] if len(prox) else prox
        dist = dict(zip(part["_id"], pd.to_numeric(part["nearest_m"], errors="coerce"), strict=True))
        radius = dict(zip(part["_id"], pd.to_numeric(part["within_m"], errors="coerce"), strict=True))
        return (np.array([dist.get(k, np.nan) for k in keys], dtype=float),
                np.array([radius.get(k, np.nan) for k in keys], dtype=float))

    theme = prox["near_theme"].astype(str) if len(prox) else pd.Series(dtype=str)
    out["dist_maker_m"], maker_r = distance(theme.eq("makerspace"))
    out["dist_firm_m"], firm_r = distance(theme.str.contains("firm"))
    out["dist_m"] = out[["dist_maker_m", "dist_firm_m"]].min(axis=1, skipna=True)
    out["within_m"] = np.fmax(maker_r, firm_r)
    near_maker = np.nan_to_num(out["dist_maker_m"].to_numpy() <= maker_r, nan=False)
    near_firm = np.nan_to_num(out["dist_firm_m"].to_numpy() <= firm_r, nan=False)
    out["near"] = (near_maker | near_firm).astype(bool)
    return out


def near_radius(near: pd.DataFrame) -> float | None:
    """The radius (m) of the 'near' rule as the build stored it (None when no place was measured)."""
    radius = pd.to_numeric(near["within_m"], errors="coerce").dropna() if "within_m" in near else pd.Series(dtype=float)
    return float(radius.max()) if len(radius) else None


def near_targets_known(near: pd.DataFrame) -> bool:
    """Whether any makerspace or digital-manufacturing firm point was there to measure from."""
    return bool(near["dist_m"].notna().any()) if not near.empty else True


def vacant_table(frame: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, near: pd.DataFrame | None,
                 territory: Territory, lang: str) -> pd.DataFrame:
    """The vacant-spaces table as shown and exported; `near` (from near_from_proximity) adds the 1 km flag.

    'Tipologia' is the former use (never the condition); m² from the footprint where known; the
    official record sheet as a link; ownership marked when assumed; secondary sources marked. Status,
    ownership, former use and m² come right after the name, so they stay in view on a 1280 px screen."""
    names = area_labels(stats)
    ids = place_ids(frame)
    attrs = _attrs(frame)
    out = pd.DataFrame({
        t("col_name", lang): plain_column(frame["name"]),
        t("col_status", lang): [status_name(s, lang) for s in frame["status"]],
        t("th_col_ownership", lang): _owners(frame, lang, attrs),
        t("th_col_typology", lang): _former_uses(frame, attrs),
        t("th_col_m2", lang): round_column(frame["area_m2"], 0).to_numpy(),
    })
    if near is not None:
        flag = dict(zip(place_ids(near), near["near"], strict=True))
        dist = dict(zip(place_ids(near), near["dist_m"], strict=True))
        yes, no = t("th_yes", lang), t("th_no", lang)
        out[t("th_col_near", lang)] = [("–" if i not in flag else yes if flag[i] else no) for i in ids]
        out[t("th_col_dist_m", lang)] = round_column(pd.Series([dist.get(i, np.nan) for i in ids], dtype=float), 0).to_numpy()
    out[t("th_col_address", lang)] = plain_column(frame["address"])
    for header, values in area_columns(territory, lang, place_area_column(frame, names, no_area_text(territory, lang)),
                                       frame["parent_id"], classes, place_class_column(frame, classes)).items():
        out[header] = values
    out[t("th_col_record", lang)] = [(record_links(a) or [None])[0] for a in attrs]
    out[t("col_source", lang)] = frame["source_id"].to_numpy()
    out[t("col_trust", lang)] = _trust_with_origin(frame, lang)
    out[t("th_col_place_id", lang)] = ids.to_numpy()
    return out


def vacant_breakdown(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Counts and known m² by status, ownership and typology (long format, one row per value)."""
    dims = (
        (t("col_status", lang), [status_name(s, lang) for s in frame["status"]]),
        (t("th_col_ownership", lang), _owners(frame, lang)),
        (t("th_col_typology", lang), [c or t("no_data", lang) for c in _former_uses(frame)]),
    )
    area = pd.to_numeric(frame["area_m2"], errors="coerce").astype(float).to_numpy()
    rows = []
    for dim, labels in dims:
        part = pd.DataFrame({"v": labels, "a": area})
        for value, sub in part.groupby("v", sort=True):
            rows.append((dim, value, len(sub), float(sub["a"].sum(min_count=1)) if sub["a"].notna().any() else np.nan,
                         int(sub["a"].notna().sum())))
    return pd.DataFrame(rows, columns=[t("th_col_dimension", lang), t("th_col_value", lang), t("th_col_count", lang),
                                       t("th_col_m2_known", lang), t("th_col_n_m2", lang)])


def breakdown_chart(breakdown: pd.DataFrame, lang: str) -> go.Figure:
    """Three bar panels: vacant spaces by status, by ownership, by typology."""
    dim_col, val_col, n_col = breakdown.columns[:3]
    dims = list(dict.fromkeys(breakdown[dim_col]))
    fig = make_subplots(rows=1, cols=max(len(dims), 1), subplot_titles=dims or [""])
    for col, dim in enumerate(dims, start=1):
        part = breakdown[breakdown[dim_col] == dim].sort_values(n_col, ascending=False, kind="stable")
        labels, counts = part[val_col].tolist(), part[n_col].tolist()
        if len(labels) > BREAKDOWN_TOP:  # many former uses: the largest, then one bar for the rest
            rest = sum(counts[BREAKDOWN_TOP - 1:])
            labels = [*labels[:BREAKDOWN_TOP - 1], t("th_other_values", lang, n=len(labels) - BREAKDOWN_TOP + 1)]
            counts = [*counts[:BREAKDOWN_TOP - 1], rest]
        fig.add_trace(go.Bar(x=labels, y=counts, name=dim, showlegend=False,
                             marker_color=maps.THEME_COLORS["vacant"]), row=1, col=col)
    fig.update_layout(height=340, margin={"l": 0, "r": 0, "t": 40, "b": 0}, separators=separators(lang))
    return fig


def vacant_map(geojson: Mapping[str, Any], frame: pd.DataFrame, stats: pd.DataFrame, selected: set[int] | None,
               territory: Territory, lang: str, map_style: str) -> go.Figure:
    """Vacant spaces over the outlines of the fine areas, one layer (colour) per status."""
    fig, names, missing = places_base_map(geojson, stats, selected, t("th_map_vacant", lang), territory, lang,
                                          map_style)
    statuses = frame["status"].astype(object).where(frame["status"].notna(), None)
    for status in [*[s for s in VACANT_STATUSES if (statuses == s).any()],
                   *sorted({s for s in statuses.dropna() if s not in VACANT_STATUSES})]:
        part = frame[(statuses == status).to_numpy()]
        _add_vacant_layer(fig, part, status_name(status, lang), VACANT_STATUS_COLORS.get(str(status), VACANT_OTHER_COLOR),
                          names, missing, lang)
    rest = frame[statuses.isna().to_numpy()]
    if not rest.empty:
        _add_vacant_layer(fig, rest, t("no_data", lang), VACANT_OTHER_COLOR, names, missing, lang)
    return fig


def _add_vacant_layer(fig: go.Figure, part: pd.DataFrame, name: str, color: str, names: Mapping[int, str], missing: str,
                      lang: str) -> None:
    extra = [html.escape(f"{c} · {o}" if c else o) for c, o in zip(_former_uses(part), _owners(part, lang), strict=True)]
    maps.add_points(fig, part, name, "vacant", hover=place_hover(part, names, missing, extra))
    fig.data[-1].marker.color = color


def near_table(near: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame, territory: Territory,
               lang: str) -> pd.DataFrame:
    """Vacant spaces in peripheral areas within the radius of a maker or digital-manufacturing firm."""
    part = near[near["near"]].sort_values(["district_id", "dist_m"], kind="stable")
    names = area_labels(stats)
    nearest = [t("th_kind_makerspace", lang) if pd.notna(m) and (pd.isna(f) or m <= f) else t("th_nearest_firm", lang)
               for m, f in zip(part["dist_maker_m"], part["dist_firm_m"], strict=True)]
    return pd.DataFrame({  # what decides (status, ownership, distance) first: in view on a 1280 px screen
        t("col_name", lang): plain_column(part["name"]),
        t("col_status", lang): [status_name(s, lang) for s in part["status"]],
        t("th_col_ownership", lang): _owners(part, lang),
        t("th_col_nearest", lang): nearest,
        t("th_col_dist_maker", lang): round_column(part["dist_maker_m"], 0).to_numpy(),
        t("th_col_dist_firm", lang): round_column(part["dist_firm_m"], 0).to_numpy(),
        t("th_col_typology", lang): _former_uses(part),
        t("th_col_m2", lang): round_column(part["area_m2"], 0).to_numpy(),
        t("th_col_address", lang): plain_column(part["address"]),
        **area_columns(territory, lang, place_area_column(part, names, no_area_text(territory, lang)), part["parent_id"],
                       classes.iloc[0:0], []),
        t("col_trust", lang): [trust_label(x, lang) for x in part["trust"]],
        t("th_col_place_id", lang): place_ids(part).to_numpy(),
    })


# --- Opportunity score with adjustable weights --------------------------------------------------


@dataclass(frozen=True)
class ScoreComponent:
    """One component of the composite opportunity score, as the snapshot's build stored it."""

    indicator: str
    direction: str  # 'higher' | 'lower'
    weight: float  # default weight stored with the snapshot
    why: str


def score_components(weights: pd.DataFrame) -> tuple[ScoreComponent, ...]:
    """The score's components and default weights of the snapshot shown (`data.scoring_weights`: what its
    build stored, never the configuration on disk, which may have changed since)."""
    return tuple(ScoreComponent(str(r.indicator_id), str(r.direction), float(r.weight), cell_text(r.why))
                 for r in weights.itertuples(index=False))


def default_weights(components: Sequence[ScoreComponent]) -> dict[str, int]:
    """Slider positions (0..100) for the config's default weights (0.40 -> 40)."""
    return {c.indicator: int(round(c.weight * WEIGHT_MAX)) for c in components}


def format_weights(weights: Mapping[str, int], components: Sequence[ScoreComponent]) -> str:
    """Weights as the URL value: '40-30-15-15' in component order."""
    return "-".join(str(int(weights[c.indicator])) for c in components)


def parse_weights(text: str | None, components: Sequence[ScoreComponent]) -> dict[str, int] | None:
    """Weights from the URL value ('40-30-15-15'): one integer 0..100 per component, in order.

    Anything else (wrong count, not a number, out of range) gives None: the page then falls back to
    the defaults and says so. Nothing from the URL is evaluated.
    """
    if text is None:
        return None
    parts = text.strip().split("-")
    if len(parts) != len(components) or not all(p.isascii() and p.isdigit() and len(p) <= 3 for p in parts):
        return None
    values = [int(p) for p in parts]
    if any(v > WEIGHT_MAX for v in values):
        return None
    return {c.indicator: v for c, v in zip(components, values, strict=True)}


def initial_weights(requested: str | None, components: Sequence[ScoreComponent]) -> tuple[dict[str, int], bool]:
    """(slider positions, the URL value was invalid): the URL's weights when valid, else the defaults."""
    parsed = parse_weights(requested, components)
    return (parsed if parsed is not None else default_weights(components)), (requested is not None and parsed is None)


def normalised_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Each weight divided by their sum (all zero -> all zero): the shares the score really uses."""
    total = float(sum(max(float(v), 0.0) for v in weights.values()))
    return {k: (max(float(v), 0.0) / total if total > 0 else 0.0) for k, v in weights.items()}


def component_matrix(values: Mapping[str, pd.DataFrame], area_ids: Sequence[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, reasons): one row per fine-area id, one column per component, from the stored values of
    the fine level in the current period (indicator_values frames). A component with no stored rows is all NaN."""
    index = pd.Index([int(i) for i in area_ids], name="district_id")
    vals = pd.DataFrame(index=index)
    why = pd.DataFrame(index=index)
    for ind, frame in values.items():
        ids = pd.to_numeric(frame["area_id"], errors="coerce")
        ok = ids.notna()
        v = pd.Series(pd.to_numeric(frame["value"], errors="coerce").astype(float).to_numpy()[ok.to_numpy()],
                      index=ids[ok].astype(int).to_numpy())
        r = pd.Series(frame["reason"].astype(object).to_numpy()[ok.to_numpy()], index=ids[ok].astype(int).to_numpy())
        vals[ind] = v[~v.index.duplicated()].reindex(index).to_numpy(dtype=float)
        why[ind] = r[~r.index.duplicated()].reindex(index).to_numpy(dtype=object)
    return vals, why


def reweighted_scores(matrix: pd.DataFrame, reasons: pd.DataFrame, weights: Mapping[str, float],
                      directions: Mapping[str, str]) -> pd.DataFrame:
    """Opportunity score per fine area (0-100, NaN with a reason where not computable) for `weights`.

    Calls the ETL's pure scoring function (`etl.scoring.score_detail`, which the build's
    `opportunity_score` uses); weights are relative, so 40/30/15/15 gives the stored default score.
    Returns columns id, score, reason.
    """
    used = {k: float(v) for k, v in weights.items() if k in matrix.columns}
    detail = score_detail(matrix[list(used)], used, directions, reasons[list(used)])
    return pd.DataFrame({"id": detail.index.astype(int), "score": detail["score"].astype(float).to_numpy(),
                         "reason": detail["reason"].to_numpy()})


def effective_weights(weights: Mapping[str, float], valued: set[str]) -> dict[str, float]:
    """The weights the score really applies: a component without any value is dropped by the ETL's scoring
    function (etl.scoring.score_detail), so its weight counts as 0."""
    return {k: (float(v) if k in valued else 0.0) for k, v in weights.items()}


def weights_table(components: Sequence[ScoreComponent], weights: Mapping[str, float], catalogue: pd.DataFrame,
                  lang: str, valued: set[str] | None = None) -> pd.DataFrame:
    """The weights as used: chosen, normalised share (%) of the components with data (`valued`; None = all),
    default share (%), direction and why."""
    shares = normalised_weights(weights if valued is None else effective_weights(weights, valued))
    defaults = normalised_weights({c.indicator: c.weight for c in components})
    return pd.DataFrame({
        t("th_col_component", lang): [catalogue_name(catalogue, c.indicator, lang, with_unit=True) for c in components],
        t("th_col_direction", lang): [t(f"th_dir_{c.direction}", lang) for c in components],
        t("th_col_weight", lang): [int(weights.get(c.indicator, 0)) for c in components],
        t("th_col_share", lang): [round(100 * shares.get(c.indicator, 0.0), 1) for c in components],
        t("th_col_default_share", lang): [round(100 * defaults[c.indicator], 1) for c in components],
        t("th_col_why", lang): [_component_why(c, catalogue, lang) for c in components],
    })


def _component_why(c: ScoreComponent, catalogue: pd.DataFrame, lang: str) -> str:
    if lang == "it" or catalogue.empty:
        return c.why
    row = catalogue[catalogue["indicator_id"] == c.indicator]
    return str(row["description_en"].iloc[0]) if not row.empty and "description_en" in row else c.why


def weights_caption(components: Sequence[ScoreComponent], weights: Mapping[str, float], catalogue: pd.DataFrame,
                    lang: str) -> str:
    """One line: 'Punteggio = 40% A + 30% B + ...' with the normalised shares actually used."""
    shares = normalised_weights(weights)
    if not any(shares.values()):
        return t("th_weights_all_zero", lang)
    parts = [f"{fmt_number(100 * shares[c.indicator], lang, 0)}% {catalogue_name(catalogue, c.indicator, lang)}"
             for c in components if shares.get(c.indicator, 0) > 0]
    return t("th_weights_formula", lang, parts=" + ".join(parts))


def opportunity_map(geojson: Mapping[str, Any], scores: pd.DataFrame, stats: pd.DataFrame, near: pd.DataFrame | None,
                    territory: Territory, lang: str, map_style: str) -> go.Figure:
    """Choropleth of the (re-weighted) score per fine area; peripheral vacant spaces near makers on top."""
    frame = stats[["id", "name"]].merge(scores, on="id", how="left")
    frame = frame.assign(label=[html.escape(area_label(i, n)) for i, n in zip(frame["id"], frame["name"], strict=True)])
    hover = [f"{t('th_score', lang)}: {fmt_number(s, lang, 1)}" if pd.notna(s) else t("no_data", lang) for s in frame["score"]]
    title = t("th_map_opportunity", lang, fine=inline_label(territory.fine.label(lang)))
    fig = maps.choropleth(dict(geojson), frame, "score", "label", title, t("th_score_unit", lang),
                          map_style=map_style, hover_value=hover)
    if near is not None and bool(near["near"].any()):
        part = near[near["near"]]
        maps.add_points(fig, part, t("th_layer_near", lang), "vacant",
                        hover=place_hover(part, area_labels(stats), no_area_text(territory, lang)), size=7)
        fig.data[-1].marker.color = NEAR_COLOR
    return fig


def opportunity_table(scores: pd.DataFrame, matrix: pd.DataFrame, stats: pd.DataFrame, classes: pd.DataFrame,
                      catalogue: pd.DataFrame, territory: Territory, lang: str) -> pd.DataFrame:
    """Fine areas ranked by score (best first, NULL last) with the component values and the reason."""
    frame = stats[["id", "name", "parent_id"]].merge(scores, on="id", how="left")
    frame = frame.sort_values(["score", "id"], ascending=[False, True], na_position="last", kind="stable")
    klass = dict(zip(classes["district_id"], classes["class_name"], strict=True))
    ranks = frame["score"].rank(method="min", ascending=False).astype("Int64")
    out = pd.DataFrame({
        t("th_col_rank", lang): ranks.to_numpy(),
        t("th_col_area_id", lang, fine=territory.fine.label(lang)): frame["id"].astype(int).astype(str).to_numpy(),  # a code
        **area_columns(territory, lang, [area_label(i, n) for i, n in zip(frame["id"], frame["name"], strict=True)],
                       frame["parent_id"], classes, [klass.get(int(i)) for i in frame["id"]]),
        t("th_col_score", lang): round_column(frame["score"], 1).to_numpy(),
    })
    for ind in matrix.columns:
        col = matrix[ind].reindex(frame["id"].astype(int).to_numpy())
        out[catalogue_name(catalogue, ind, lang, with_unit=True)] = round_column(col.reset_index(drop=True), 2).to_numpy()
    out[t("col_reason", lang)] = [reason_text(r, lang) or None for r in frame["reason"]]  # the ETL writes Italian
    return out


TABLE_WIDTH = 810  # px: the main column is about 820 px wide at 1280 px (sidebar open); the table fits in it


def opportunity_columns(table: pd.DataFrame, matrix: pd.DataFrame, catalogue: pd.DataFrame, territory: Territory,
                        lang: str) -> dict[str, ColumnView]:
    """Short headers ('Comp. 1'... in the order of the weights), the full headers (indicator names with units) as
    help and widths that fit `opportunity_table` in the page at 1280 px; the area name stays in view when the
    table scrolls. The frame (and its download) keeps the full headers."""
    rank, code = t("th_col_rank", lang), t("th_col_area_id", lang, fine=territory.fine.label(lang))
    score, klass, reason = t("th_col_score", lang), t("th_col_class", lang), t("col_reason", lang)
    out: dict[str, ColumnView] = {rank: ColumnView(rank, rank, 44), code: ColumnView(t("short_code", lang), code, 60),
                                  territory.fine.label(lang): ColumnView(territory.fine.label(lang),
                                                                         territory.fine.label(lang), 140, pinned=True)}
    if territory.parent is not None:
        out[territory.parent.label(lang)] = ColumnView(territory.parent.label(lang), territory.parent.label(lang), 70)
    out[klass] = ColumnView(t("col_class", lang), klass, 84)
    out[score] = ColumnView(t("short_score", lang), score, 70)
    out[reason] = ColumnView(reason, reason, 100)
    out = {c: v for c, v in out.items() if c in table.columns}
    components = [catalogue_name(catalogue, ind, lang, with_unit=True) for ind in matrix.columns]
    components = [c for c in components if c in table.columns]
    if components:  # what the other columns leave, shared; never narrower than a number with decimals
        width = max(56, min(100, (TABLE_WIDTH - sum(v.width for v in out.values())) // len(components)))
        for n, column in enumerate(components, start=1):
            out[column] = ColumnView(t("short_component", lang, n=n), column, width)
    return {c: out[c] for c in table.columns if c in out}


# ---------------------------------------------------------------------------------------------
