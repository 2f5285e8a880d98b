"""Plotly map builders (MapLibre traces: they render offline with the 'white-bg' style)."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

# Colours readable with colour-vision deficiencies (tests/test_accessibility.py simulates protan-,
# deutan- and tritanopia and requires every pair of a palette to stay apart).
#: Sequential scale of the choropleths: ColorBrewer YlOrRd, lightness falls monotonically with the value,
#: so it reads in every colour-vision type and in greyscale print.
SEQUENTIAL = "YlOrRd"
#: Districts without a value (drawn, never as a zero; the hover says why).
MISSING_COLOR = "#d9d9d9"
#: Point layers: Okabe-Ito colours (was green coworking beside goldenrod shops and a red hub: 4 ΔE apart for protanopes).
THEME_COLORS = {"makerspace": "#0072B2", "coworking": "#E69F00", "vacant": "#CC79A7", "firm": "#555555",
                "historic_shop": "#009E73", "hub": "#D55E00"}
#: Target status and better/worse marks: blue / orange / dark red instead of green / red (7 ΔE for deuteranopes).
STATUS_COLORS = {"on_track": "#2166AC", "at_risk": "#E69F00", "off_track": "#B2182B", "no_data": "#BDBDBD"}
ASSESS_COLORS = {"better": "#2166AC", "worse": "#B2182B", "neutral": "#9E9E9E"}


def bounds_of(geojson: dict) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of a FeatureCollection."""
    xs: list[float] = []
    ys: list[float] = []

    def walk(coords: object) -> None:
        if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
            xs.append(float(coords[0]))
            ys.append(float(coords[1]))
        elif isinstance(coords, (list, tuple)):
            for c in coords:
                walk(c)

    for feature in geojson.get("features", []):
        walk(feature["geometry"]["coordinates"])
    if not xs:
        return (9.04, 45.39, 9.28, 45.54)  # Comune di Milano
    return min(xs), min(ys), max(xs), max(ys)


def center_zoom(bounds: tuple[float, float, float, float], width_px: int = 700, height_px: int = 460) -> tuple[dict, float]:
    """Center and zoom that fit the bounds (MapLibre traces have no fitbounds).

    height_px is the drawable map area, not the figure height: a 560 px figure loses its title
    margin and, with points, the legend below (measured in chromium: 481-491 px). Fitting the
    figure height cut about 200-370 m off the city's north and south edges.
    """
    minx, miny, maxx, maxy = bounds
    center = {"lon": (minx + maxx) / 2, "lat": (miny + maxy) / 2}
    lon_span = max(maxx - minx, 1e-6)
    lat_span = max(maxy - miny, 1e-6) / math.cos(math.radians(center["lat"]))
    zoom_x = math.log2(360 * width_px / 512 / lon_span)
    zoom_y = math.log2(360 * height_px / 512 / lat_span)
    return center, round(min(zoom_x, zoom_y) - 0.2, 2)


def choropleth(
    geojson: dict,
    frame: pd.DataFrame,
    value_col: str,
    label_col: str,
    title: str,
    unit: str,
    map_style: str = "white-bg",
    hover_value: list[str] | None = None,
    reverse: bool = False,
) -> go.Figure:
    """A choropleth of `value_col` by district id; NULL values are drawn grey, not as zero."""
    center, zoom = center_zoom(bounds_of(geojson))
    has_value = frame[value_col].notna()
    text = hover_value if hover_value is not None else [f"{v}" for v in frame[value_col]]
    fig = go.Figure()
    if (~has_value).any():
        missing = frame[~has_value]
        fig.add_trace(go.Choroplethmap(
            geojson=geojson, locations=missing["id"], z=[0] * len(missing),
            colorscale=[[0, MISSING_COLOR], [1, MISSING_COLOR]], showscale=False, marker_line_width=0.6,
            marker_line_color="white", text=missing[label_col], name="n.d.",
            hovertemplate="%{text}<br>n.d.<extra></extra>",
        ))
    present = frame[has_value]
    fig.add_trace(go.Choroplethmap(
        geojson=geojson, locations=present["id"], z=present[value_col], colorscale=SEQUENTIAL, reversescale=reverse,
        marker_line_width=0.6, marker_line_color="white", marker_opacity=0.85,
        text=present[label_col], customdata=[t for t, ok in zip(text, has_value, strict=True) if ok],
        colorbar={"title": {"text": unit}, "tickformat": ",~g"}, name=title,  # 25.000, not 25k (separators per page)
        hovertemplate="%{text}<br>%{customdata}<extra></extra>",
    ))
    fig.update_layout(map={"style": map_style, "center": center, "zoom": zoom},
                      margin={"l": 0, "r": 0, "t": 30, "b": 0}, height=560,
                      title={"text": title, "font": {"size": 14}})
    return fig




def add_points(fig: go.Figure, frame: pd.DataFrame, name: str, theme: str, hover: list[str] | None = None,
               size: int = 8) -> go.Figure:
    """Add a layer of points (lon/lat columns) to a map figure; rows without coordinates are skipped."""
    pts = frame[frame["lon"].notna() & frame["lat"].notna()]
    text = hover if hover is not None else [str(n) for n in pts.get("name", pd.Series([""] * len(pts)))]
    if hover is not None:
        keep = (frame["lon"].notna() & frame["lat"].notna()).to_numpy()
        text = [h for h, k in zip(hover, keep, strict=True) if k]
    fig.add_trace(go.Scattermap(
        lon=pts["lon"].round(5), lat=pts["lat"].round(5), mode="markers", name=name,
        marker={"size": size, "color": THEME_COLORS.get(theme, "#333333"), "opacity": 0.85},
        text=text, hovertemplate="%{text}<extra>" + name + "</extra>",
    ))
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.02})
    return fig
