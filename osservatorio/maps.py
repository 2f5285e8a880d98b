"""Plotly map builders (MapLibre traces: they render offline with the 'white-bg' style).

MapLibre traces have no working fitbounds in the plotly.js Streamlit ships (measured: `fitbounds`
leaves the whole world in view), so the view is computed here: `view(bounds)` gives the centre,
the zoom and a figure height chosen from the area's shape so that it fills the page's width
(issue 15: with a fixed 560 px figure and a zoom fitted to 700 x 460 px, Milan filled about 40 %
of an 879 px canvas). Every map page uses `map_layout(...)`; nothing here names a city.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from osservatorio import svgmap

#: Narrowest map canvas the view is fitted for: the main column at 1400-1440 px with the sidebar open
#: measures 840-879 px in chromium; a narrower window would cut the sides, a wider one adds margins.
MAP_WIDTH_PX = 820
MAP_MIN_HEIGHT_PX = 380  # drawable map height, whatever the shape of the area
MAP_MAX_HEIGHT_PX = 640  # a map and its heading fit a 900 px screen
TITLE_PX = 30  # top margin of a map with a title
LEGEND_PX = 50  # a horizontal legend of point layers below the map takes about this much of the figure
FIT_MARGIN = 0.05  # zoom levels below the exact fit (about 3 %: the outline never touches the edge)
#: Whole of Italy: the view of a map without any geometry (a warehouse without boundaries yet).
NO_GEOMETRY_BOUNDS = (6.6, 36.6, 18.6, 47.1)

# Colours readable with colour-vision deficiencies (tests/test_accessibility.py simulates protan-,
# deutan- and tritanopia and requires every pair of a palette to stay apart).
#: Sequential scale of the choropleths: ColorBrewer YlOrRd, lightness falls monotonically with the value,
#: so it reads in every colour-vision type and in greyscale print.
SEQUENTIAL = "YlOrRd"
#: Districts without a value (drawn, never as a zero; the hover says why): the static maps' grey, one definition.
MISSING_COLOR = svgmap.MISSING_COLOR
#: Point layers: Okabe-Ito colours (was green coworking beside goldenrod shops and a red hub: 4 ΔE apart for protanopes).
THEME_COLORS = {"makerspace": "#0072B2", "coworking": "#E69F00", "vacant": "#CC79A7", "firm": "#555555",
                "historic_shop": "#009E73", "hub": "#D55E00"}
#: Target status and better/worse marks: blue / orange / dark red instead of green / red (7 ΔE for deuteranopes).
STATUS_COLORS = {"on_track": "#2166AC", "at_risk": "#E69F00", "off_track": "#B2182B", "no_data": "#BDBDBD"}
ASSESS_COLORS = {"better": "#2166AC", "worse": "#B2182B", "neutral": "#9E9E9E"}


def bounds_of(geojson: dict, default: tuple[float, float, float, float] | None = None) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of a FeatureCollection; `default` (else Italy) when it has no coordinates."""
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
        return default or NO_GEOMETRY_BOUNDS
    return min(xs), min(ys), max(xs), max(ys)


def territory_bounds(territory: object) -> tuple[float, float, float, float]:
    """The bounding box the build stored for a territory (osservatorio.territory.Territory), else a box
    around its centre, else Italy."""
    bbox = getattr(territory, "bbox", None)
    if bbox:
        return tuple(float(v) for v in bbox)  # type: ignore[return-value]
    lon, lat = getattr(territory, "centre_lon", None), getattr(territory, "centre_lat", None)
    if lon is None or lat is None:
        return NO_GEOMETRY_BOUNDS
    return (float(lon) - 0.1, float(lat) - 0.07, float(lon) + 0.1, float(lat) + 0.07)


def _spans(bounds: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """(centre lat, lon span, lat span in Mercator-equivalent degrees) of the bounds."""
    minx, miny, maxx, maxy = bounds
    lat = (miny + maxy) / 2
    return lat, max(maxx - minx, 1e-6), max(maxy - miny, 1e-6) / math.cos(math.radians(lat))


def fit_height(bounds: tuple[float, float, float, float], width_px: int = MAP_WIDTH_PX) -> int:
    """Drawable height (px) at which the bounds fill `width_px`: wide areas get a low map, round ones a
    taller one, within MAP_MIN_HEIGHT_PX..MAP_MAX_HEIGHT_PX."""
    _lat, lon_span, lat_span = _spans(bounds)
    return int(min(MAP_MAX_HEIGHT_PX, max(MAP_MIN_HEIGHT_PX, round(width_px * lat_span / lon_span))))


def view(bounds: tuple[float, float, float, float], width_px: int = MAP_WIDTH_PX, legend: bool = True,
         title: bool = True) -> tuple[dict, float, int]:
    """(centre, zoom, figure height) showing all of `bounds` as large as the page's width allows.

    The figure height adds the title margin and, with `legend`, room for a horizontal legend of
    point layers below the map, so the fitted drawable height is kept either way."""
    height = fit_height(bounds, width_px)
    center, zoom = center_zoom(bounds, width_px=width_px, height_px=height, margin=FIT_MARGIN)
    return center, zoom, height + (TITLE_PX if title else 0) + (LEGEND_PX if legend else 0)


def map_layout(bounds: tuple[float, float, float, float], map_style: str, title: str | None = None,
               width_px: int = MAP_WIDTH_PX, legend: bool = True) -> dict:
    """Keyword arguments for `fig.update_layout` of a map page: style, centre, zoom, height, margins, title."""
    center, zoom, height = view(bounds, width_px, legend=legend, title=bool(title))
    layout: dict = {"map": {"style": map_style, "center": center, "zoom": zoom}, "height": height,
                    "margin": {"l": 0, "r": 0, "t": TITLE_PX if title else 0, "b": 0}}
    if title:
        layout["title"] = {"text": title, "font": {"size": 14}}
    return layout


def center_zoom(bounds: tuple[float, float, float, float], width_px: int = MAP_WIDTH_PX, height_px: int = 460,
                margin: float = 0.2) -> tuple[dict, float]:
    """Center and zoom that fit the bounds (MapLibre traces have no fitbounds).

    height_px is the drawable map area, not the figure height: a 560 px figure loses its title
    margin and, with points, the legend below (measured in chromium: 481-491 px). Fitting the
    figure height cut about 200-370 m off the city's north and south edges.
    """
    minx, miny, maxx, maxy = bounds
    center = {"lon": (minx + maxx) / 2, "lat": (miny + maxy) / 2}
    _lat, lon_span, lat_span = _spans(bounds)
    zoom_x = math.log2(360 * width_px / 512 / lon_span)
    zoom_y = math.log2(360 * height_px / 512 / lat_span)
    return center, round(min(zoom_x, zoom_y) - margin, 2)


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
    default_bounds: tuple[float, float, float, float] | None = None,
) -> go.Figure:
    """A choropleth of `value_col` by area id; NULL values are drawn grey, not as zero.

    The view fits the areas' outline (`default_bounds`, e.g. `territory_bounds(ctx.territory)`, when the
    GeoJSON is empty) and fills the page's width (`map_layout`)."""
    bounds = bounds_of(geojson, default_bounds)
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
    fig.update_layout(**map_layout(bounds, map_style, title))
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
