"""The composite opportunity score's arithmetic: pure pandas, no geometry, no configuration.

The ETL stores the score with the catalogue's weights (`etl.indicators.opportunity_score`); the app
re-weights it with the user's sliders through the same function, without importing the geometry stack.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def join_reasons(*parts: object) -> str | None:
    """The non-empty texts joined by '; ' (None when there is none)."""
    text = "; ".join(p for p in parts if isinstance(p, str) and p)
    return text or None


def score_detail(components: pd.DataFrame, weights: Mapping[str, float], directions: Mapping[str, str],
                 component_reasons: pd.DataFrame | None = None) -> pd.DataFrame:
    """Score (0-100) and reason per row of `components` (index = area, columns = indicator ids).

    - each component is min-max normalised over the rows where it has a value ('lower' = inverted);
      a component with the same value everywhere normalises to 0 (it does not discriminate);
    - weights are relative (divided by their sum); weight 0 ignores the component;
    - a component with no value at all is dropped (said in the reason of every row);
    - a row missing a positively weighted component gets a NULL score with the reason.
    """
    w = {str(k): float(v) for k, v in weights.items()}
    unknown = [k for k in w if k not in components.columns]
    if unknown:
        raise ValueError(f"componenti sconosciute: {unknown}")
    if any(v < 0 or math.isnan(v) for v in w.values()):
        raise ValueError("i pesi devono essere numeri >= 0")
    active = [k for k, v in w.items() if v > 0]
    dropped = [k for k in active if components[k].notna().sum() == 0]
    active = [k for k in active if k not in dropped]
    out = pd.DataFrame({"score": np.nan, "reason": None}, index=components.index).astype({"reason": object})
    drop_note = f"componenti escluse perché senza dati: {', '.join(dropped)}" if dropped else None
    if not active:
        out["reason"] = join_reasons("nessuna componente con peso positivo e dati", drop_note)
        return out
    total = sum(w[k] for k in active)
    score = pd.Series(0.0, index=components.index)
    lacking: dict[Any, list[str]] = {}
    for k in active:
        x = pd.to_numeric(components[k], errors="coerce").astype(float)
        lo, hi = x.min(), x.max()
        norm = (x - lo) / (hi - lo) if hi > lo else x * 0.0
        if hi > lo and directions.get(k, "higher") == "lower":
            norm = 1.0 - norm
        score = score + w[k] / total * norm
        for idx in x.index[x.isna()]:
            lacking.setdefault(idx, []).append(k)
    out["score"] = (100.0 * score).where(~components.index.isin(list(lacking)))
    reasons: list[str | None] = []
    for idx in out.index:  # one list assigned at once: a cell-by-cell .at took most of a rerun of the weights
        if idx in lacking:
            parts = []
            for k in lacking[idx]:
                why = None
                if component_reasons is not None and k in component_reasons.columns:
                    why = component_reasons.at[idx, k]
                parts.append(f"{k} ({why})" if isinstance(why, str) and why else k)
            reasons.append(join_reasons(f"componenti mancanti: {', '.join(parts)}", drop_note))
        else:
            reasons.append(drop_note)
    out["reason"] = pd.Series(reasons, index=out.index, dtype=object)
    return out
