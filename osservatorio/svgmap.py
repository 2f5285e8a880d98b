"""A static choropleth as an SVG string: the first page's map without plotly (issue 15, item 9).

Panoramica used to draw its one map with plotly/MapLibre; the browser then had to fetch and evaluate
Streamlit's 4.7 MB plotly chunk and draw WebGL without a GPU (1.5-1.8 s of the first visit). This module
draws the same areas from the GeoJSON the page already has (`queries.map_geojson`) as a plain SVG that the
page shows with `st.image`. Pure: no Streamlit, no plotly.

- Projection: equirectangular, x scaled by cos(mid-latitude) so that the territory keeps its shape, fitted
  to a box of MAP_BOX px and rounded to 0.1 px (Milan's 88 NIL: about 50 KB).
- Colours: ColorBrewer YlOrRd (the plotly maps' `maps.SEQUENTIAL`) in up to CLASSES quantile classes, darker =
  higher, reversed when lower is better; areas without a value in MISSING_COLOR, never as the lowest class.
- Legend inside the SVG: the classes as the range of the values they hold, formatted by language, the unit,
  the classification and a "no data" swatch with its count when any area has none.
- Every text from the data (names, unit, title) is XML-escaped; a `<title>` per area; role="img" and an
  aria-label on the root.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from osservatorio.i18n import fmt_number, t

#: ColorBrewer YlOrRd, light to dark, per number of classes (colorbrewer2.org; 1 and 2 classes picked from the 3-class set).
YLORRD: dict[int, tuple[str, ...]] = {
    1: ("#fd8d3c",),
    2: ("#ffeda0", "#f03b20"),
    3: ("#ffeda0", "#feb24c", "#f03b20"),
    4: ("#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c"),
    5: ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"),
    6: ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"),
    7: ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"),
}
#: Areas without a value, here and on the plotly maps (osservatorio.maps takes it from here: this module imports no plotly).
MISSING_COLOR = "#d9d9d9"
CLASSES = 5  # quantile classes at most (fewer when the values have fewer distinct levels)
WIDTH = 1000  # viewBox width: the map box on the left, the legend on the right
MAP_BOX = (700, 600)  # the territory is fitted inside this many px (width, height)
LEGEND_X = 730  # left edge of the legend column
TITLE_H = 44  # room for the title line(s) above the map
PAD = 10
FONT = "font-family=\"'Source Sans Pro', 'DejaVu Sans', Arial, sans-serif\""

Number = float | int


@dataclass(frozen=True)
class ColorClass:
    """One legend entry: the smallest and largest value it holds and its fill."""

    low: float
    high: float
    color: str
    count: int


def _rings(geometry: Mapping) -> list[list[Sequence[float]]]:
    """The rings (lists of [lon, lat]) of a Polygon or MultiPolygon; other types give none."""
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "Polygon":
        return [list(r) for r in coords]
    if kind == "MultiPolygon":
        return [list(r) for poly in coords for r in poly]
    return []


def _bounds(features: Iterable[Mapping]) -> tuple[float, float, float, float] | None:
    xs: list[float] = []
    ys: list[float] = []
    for f in features:
        for ring in _rings(f.get("geometry") or {}):
            for p in ring:
                xs.append(float(p[0]))
                ys.append(float(p[1]))
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class Projection:
    """lon/lat -> SVG px: x = (lon - west) * cos(mid-lat) * scale + dx, y = (north - lat) * scale + dy."""

    west: float
    north: float
    kx: float  # cos(mid-latitude)
    scale: float
    dx: float
    dy: float

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.west) * self.kx * self.scale + self.dx, (self.north - lat) * self.scale + self.dy

    @classmethod
    def fit(cls, bounds: tuple[float, float, float, float], box: tuple[int, int] = MAP_BOX,
            origin: tuple[float, float] = (PAD, TITLE_H)) -> Projection:
        """The projection that fits `bounds` inside `box` (px) at `origin`, centred, keeping the shape."""
        west, south, east, north = bounds
        kx = math.cos(math.radians((south + north) / 2))
        w, h = max((east - west) * kx, 1e-9), max(north - south, 1e-9)
        scale = min(box[0] / w, box[1] / h)
        return cls(west, north, kx, scale, origin[0] + (box[0] - w * scale) / 2, origin[1] + (box[1] - h * scale) / 2)


def _path(rings: list[list[Sequence[float]]], project: Projection) -> str:
    """SVG path data, 0.1 px precision, repeated points after rounding dropped."""
    parts: list[str] = []
    for ring in rings:
        last = None
        pts: list[str] = []
        for p in ring:
            x, y = project(float(p[0]), float(p[1]))
            xy = (round(x, 1), round(y, 1))
            if xy != last:
                pts.append(f"{xy[0]:g} {xy[1]:g}")
                last = xy
        if len(pts) >= 3:
            parts.append("M" + "L".join(pts) + "Z")
    return "".join(parts)


def classify(values: Sequence[float], decimals: int = 0, classes: int = CLASSES, reverse: bool = False) -> list[ColorClass]:
    """Quantile classes of `values` (rounded to `decimals` first: the legend shows what the class holds).

    At most `classes`, fewer when there are fewer distinct values; each class is the range of the values it
    holds, light to dark with the value (dark to light with `reverse`: lower is better, darker = better)."""
    vals = sorted(round(float(v), decimals) for v in values)
    if not vals:
        return []
    distinct = sorted(set(vals))
    k = min(classes, len(distinct))
    groups: list[list[float]]
    if k == len(distinct):
        groups = [[v for v in vals if v == d] for d in distinct]
    else:  # about len / k values per class, ties kept together; a large tie (many zeros) leaves the rest to split
        groups, i = [], 0
        for j in range(k):
            if i >= len(vals):
                break
            end = i + math.ceil((len(vals) - i) / (k - j))
            while end < len(vals) and vals[end] == vals[end - 1]:
                end += 1
            groups.append(vals[i:end])
            i = end
    colors = YLORRD[len(groups)]
    if reverse:
        colors = tuple(reversed(colors))
    return [ColorClass(m[0], m[-1], colors[i], len(m)) for i, m in enumerate(groups)]


def class_color(value: float | None, scale: Sequence[ColorClass], decimals: int = 0) -> str:
    """Fill of one value: its class's colour, MISSING_COLOR when there is no value (never the lowest class)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or not scale:
        return MISSING_COLOR
    v = round(float(value), decimals)
    for c in scale:
        if v <= c.high:
            return c.color
    return scale[-1].color


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _wrap(text: str, width: int) -> list[str]:
    """Words into lines of at most `width` characters (a long word stays whole)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;", "'": "&apos;"})


def range_label(c: ColorClass, decimals: int, lang: str) -> str:
    """'12.345 – 23.456' (it) / '12,345 – 23,456' (en); one number when the class holds one value."""
    low, high = fmt_number(c.low, lang, decimals), fmt_number(c.high, lang, decimals)
    return low if low == high else f"{low} – {high}"


def choropleth_svg(geojson: Mapping, values: Mapping[object, Number | None], names: Mapping[object, str], title: str,
                   unit: str, lang: str, decimals: int = 0, reverse: bool = False, classes: int = CLASSES) -> str:
    """The choropleth of `values` (area id -> value, None/NaN = no value) over the GeoJSON's features as an SVG string.

    Ids are compared as text (GeoJSON `id` 1 matches a value keyed 1 or "1"); a feature without a value, or
    absent from `values`, is drawn grey and counted as "no data". A GeoJSON without any polygon gives "" (the
    caller shows its table only)."""
    features = [f for f in geojson.get("features", []) if _rings(f.get("geometry") or {})]
    bounds = _bounds(features)
    if bounds is None:
        return ""
    by_id = {str(k): (None if _missing(v) else float(v)) for k, v in values.items()}  # type: ignore[arg-type]
    name_of = {str(k): str(v) for k, v in names.items()}
    scale = classify([v for v in (by_id.get(str(f.get("id"))) for f in features) if v is not None], decimals, classes,
                     reverse)
    title_lines = _wrap(title, 78)[:2]
    top = TITLE_H + 22 * (len(title_lines) - 1)
    project = Projection.fit(bounds, origin=(PAD, top))
    height = top + MAP_BOX[1] + PAD
    missing = 0
    paths: list[str] = []
    for f in features:
        fid = str(f.get("id"))
        value = by_id.get(fid)
        name = name_of.get(fid, "")
        label = f"{fid} · {name}" if name else fid
        if value is None:
            missing += 1
            tip = f"{label}: {t('no_data', lang)}"
        else:
            number = fmt_number(value, lang, decimals)
            tip = f"{label}: {number} {unit}".rstrip()
        d = _path(_rings(f["geometry"]), project)
        paths.append(f'<path d="{d}" fill="{class_color(value, scale, decimals)}"><title>{escape(tip)}</title></path>')
    legend = _legend(scale, missing, unit, decimals, lang)
    known = len(features) - missing
    aria = t("svgmap_aria", lang, title=title, known=fmt_number(known, lang), total=fmt_number(len(features), lang))
    heading = "".join(f'<text x="{PAD}" y="{26 + 22 * i}" font-size="20" font-weight="600">{escape(line)}</text>'
                      for i, line in enumerate(title_lines))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
            f'role="img" aria-label="{_attr(aria)}" {FONT} fill="#262730">'
            f"<title>{escape(aria)}</title>{heading}"
            f'<g stroke="#ffffff" stroke-width="0.8" stroke-linejoin="round" fill-rule="evenodd">{"".join(paths)}</g>'
            f'<g transform="translate({LEGEND_X},{top + 10})">{legend}</g></svg>')


def _legend(scale: Sequence[ColorClass], missing: int, unit: str, decimals: int, lang: str) -> str:
    """The legend column: unit, classification, one swatch per class (dark = higher on top), the no-data swatch."""
    out: list[str] = []
    y = 0
    for line in _wrap(unit, 24)[:2] if unit else []:
        out.append(f'<text x="0" y="{y + 18}" font-size="18" font-weight="600">{escape(line)}</text>')
        y += 24
    if scale:
        out.append(f'<text x="0" y="{y + 16}" font-size="14" fill="#555555">'
                   f'{escape(t("svgmap_classes", lang, n=len(scale)))}</text>')
        y += 28
    for c in reversed(scale):  # the highest values on top, as on a colour bar
        out.append(f'<rect x="0" y="{y}" width="30" height="22" fill="{c.color}" stroke="#999999" stroke-width="0.5"/>'
                   f'<text x="40" y="{y + 17}" font-size="17">{escape(range_label(c, decimals, lang))}</text>')
        y += 30
    if missing:
        y += 6
        text = f"{t('no_data', lang)} ({fmt_number(missing, lang)})"
        out.append(f'<rect x="0" y="{y}" width="30" height="22" fill="{MISSING_COLOR}" stroke="#999999" stroke-width="0.5"/>'
                   f'<text x="40" y="{y + 17}" font-size="17">{escape(text)}</text>')
    return "".join(out)
