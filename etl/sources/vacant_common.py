"""Helpers shared by the three 'vacant' sources (degraded buildings, confiscated assets, aree dismesse).

Status vocabulary of theme 'vacant' (column `places.status`):
- 'degraded'     : building or area listed as degraded/abandoned (list of the Comune, 2016);
- 'regeneration' : listed as under regeneration (cod_prog R…, condition 'Riqualificazione');
- 'vacant'       : clearly not in use (confiscated asset "non utilizzato", disused area);
- 'assigned'     : confiscated asset assigned to an entity (ente_assegnatario present);
- NULL           : the source does not say it unambiguously.

Former-use vocabulary (column `places.category` for the lists of degraded buildings: ds503,
the geoportale export, places.json), shared so that the lists can be counted together:
produttivo, terziario, residenziale, commercio, area_libera, rurale, scalo_ferroviario, caserma,
parcheggio, altro. A condition ("RUDERE", "CANTIERI SOSPESI") is not a former use: 'altro', with
the raw value kept in the attributes.

The official list of a build (ds503, else the geoportale export) is recorded in
`ctx.extra[OFFICIAL_LIST_KEY]` (an `OfficialList`), so that a later, secondary list (places.json)
never counts the same building twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from etl.base import Reject
from etl.places import normalise_text

# Same name and address but farther apart than this: two places, not a duplicate.
HOMONYM_DISTANCE_M = 150.0

FORMER_USES = ("produttivo", "terziario", "residenziale", "commercio", "area_libera", "rurale", "scalo_ferroviario",
               "caserma", "parcheggio", "altro")
# Raw former-use labels (ds503/geoportale TIPO_MACRO, places.json typology), accent-free lower case.
# Services, hotels and venues are 'terziario' as in places.json's typology for the same codes
# (SERVIZI and RICETTIVO buildings are 'Terziario' there); INDUSTRIALE is 'produttivo'.
_FORMER_USE = {
    "produttivo": "produttivo", "industriale": "produttivo", "artigianale": "produttivo",
    "terziario": "terziario", "servizi": "terziario", "ricettivo": "terziario", "spettacolo": "terziario",
    "uffici": "terziario",
    "residenziale": "residenziale", "residenza": "residenziale",
    "commerciale": "commercio", "commercio": "commercio",
    "area libera": "area_libera", "area_libera": "area_libera",
    "rurale": "rurale", "edifici rurali": "rurale", "cascina": "rurale",
    "scalo ferroviario": "scalo_ferroviario", "scalo": "scalo_ferroviario",
    "caserma": "caserma",
    "parcheggi": "parcheggio", "parcheggi interrati": "parcheggio", "parcheggio": "parcheggio",
    "indefinito/misto": "altro", "misto": "altro", "rudere": "altro", "cantieri sospesi": "altro",
}
# Raw labels that describe the condition, not the former use.
CONDITION_LABELS = frozenset({"rudere", "cantieri sospesi"})


def it_number(value: float, decimals: int = 0) -> str:
    """A number with Italian separators: 1234567.8 -> '1.234.568' (decimals=0), '1.234.567,8' (decimals=1)."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def former_use(raw: object) -> tuple[str | None, bool]:
    """(category in FORMER_USES or None, known): the normalised former use of a raw label.

    Unknown labels give ('altro', False) so that the caller can warn; empty gives (None, True).
    """
    text = clean_text(raw)
    if text is None:
        return None, True
    key = " ".join(text.lower().replace("_", " ").split())
    if key in _FORMER_USE:
        return _FORMER_USE[key], True
    return "altro", False


@dataclass
class OfficialList:
    """The official list of degraded buildings loaded in this build (see the module docstring)."""

    source_id: str                      # 'vacant_ds503' or 'vacant_footprints'
    label: str                          # 'ds503' or 'geoportale 2019-06-03', for messages
    listed: set[str] = field(default_factory=set)  # every code in the list's file (loaded or rejected)
    # code -> (lon, lat, normalised address) of every building counted from the official list
    loaded: dict[str, tuple[float, float, str]] = field(default_factory=dict)
    # codes that an older official export has and the current list dropped -> reason
    dropped: dict[str, str] = field(default_factory=dict)


OFFICIAL_LIST_KEY = "vacant_official_list"


def json_safe(value: Any) -> Any:
    """A value that json.dumps accepts: NaN/NA -> None, numpy scalars -> Python, dates -> ISO text."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (dt.date, dt.datetime, pd.Timestamp)):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def attributes_json(values: dict[str, Any]) -> str:
    """The `attributes` column: the given values as compact JSON (empty values dropped)."""
    clean = {k: json_safe(v) for k, v in values.items()}
    return json.dumps({k: v for k, v in clean.items() if v not in (None, "")}, ensure_ascii=False,
                      separators=(",", ":"))


def stable_key(prefix: str, *parts: object) -> str:
    """A short key that depends only on `parts` (same input, same key across builds)."""
    text = "|".join("" if p is None else str(p) for p in parts)
    return f"{prefix}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"


def clean_text(value: object) -> str | None:
    """Stripped text, None for empty values and NaN."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def remap_rejects(rejects: Sequence[Reject], positions: Sequence[int]) -> list[Reject]:
    """Rejects of a sub-frame with row numbers mapped back to the file (positions[i] = file row of row i+1)."""
    out = []
    for r in rejects:
        row = r.row_number
        mapped = positions[row - 1] if row is not None and 1 <= row <= len(positions) else row
        out.append(dataclasses.replace(r, row_number=mapped))
    return out


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Approximate ground distance in metres (equirectangular; fine at city scale)."""
    k = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon2 - lon1) * 111_320.0 * k, (lat2 - lat1) * 110_540.0)


def separate_far_homonyms(frame: pd.DataFrame, raw: Sequence[dict], detail_col: str | None,
                          threshold_m: float = HOMONYM_DISTANCE_M) -> tuple[pd.DataFrame, list[Reject]]:
    """Make names unique when the same name and address sit at clearly different positions.

    `finalise_places` treats rows with the same normalised name and address as duplicates,
    whatever their coordinates. A source that reuses one address for two places far apart
    (e.g. two railway yards filed under the same square) would lose one of them. Such rows
    get a distinguishing suffix (the `detail_col` text, else the source key) and a warning;
    rows that are close together are left alone and stay duplicates. Row numbers in the
    warnings are 1-based positions in `frame`.
    """
    frame = frame.reset_index(drop=True).copy()
    rejects: list[Reject] = []
    names = frame["name"].map(normalise_text)
    addrs = frame["address"].map(normalise_text)
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)
    groups: dict[str, list[int]] = {}
    for i, (n, a) in enumerate(zip(names, addrs, strict=True)):
        if n and a:
            groups.setdefault(f"{n}|{a}", []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        first = members[0]
        for i in members[1:]:
            if np.isnan(lon[i]) or np.isnan(lon[first]):
                continue
            d = distance_m(lon[first], lat[first], lon[i], lat[i])
            if d <= threshold_m:
                continue
            detail = clean_text(frame.at[i, detail_col]) if detail_col else None
            suffix = detail or str(frame.at[i, "source_key"])
            frame.at[i, "name"] = f"{frame.at[i, 'name']} ({suffix})"
            metres = f"{d:,.0f}".replace(",", ".")
            rejects.append(Reject(i + 1, dict(raw[i]),
                                  f"stesso nome e indirizzo della riga {first + 1} ma a {metres} m di distanza: "
                                  f"non è un duplicato (indirizzo probabilmente impreciso nella fonte); "
                                  f"nome reso univoco con «{suffix}»", "warning"))
    return frame, rejects
