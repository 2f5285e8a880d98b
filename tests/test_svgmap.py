"""osservatorio.svgmap: the static SVG choropleth of the first page (projection, classes, no-data grey, escaping,
legend by language), on hand-made GeoJSON and on the demo build's 88 NIL."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import duckdb
import pytest

from osservatorio import data, maps, svgmap

SVG = "{http://www.w3.org/2000/svg}"


def square(fid: int, lon: float, lat: float, dlon: float, dlat: float) -> dict:
    ring = [[lon, lat], [lon + dlon, lat], [lon + dlon, lat + dlat], [lon, lat + dlat], [lon, lat]]
    return {"type": "Feature", "id": fid, "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def row(n: int, lat: float = 45.0) -> dict:
    """n unit-ish squares side by side along a parallel."""
    return {"type": "FeatureCollection", "features": [square(i + 1, 9.0 + 0.01 * i, lat, 0.01, 0.01) for i in range(n)]}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def fills(svg: str) -> dict[int, str]:
    """Area id -> fill, read from each path's <title> ("id · name: ...")."""
    out = {}
    for path in parse(svg).iter(f"{SVG}path"):
        title = path.find(f"{SVG}title")
        assert title is not None and title.text
        out[int(re.match(r"\d+", title.text).group())] = path.get("fill")  # type: ignore[union-attr]
    return out


def path_extent(svg: str) -> tuple[float, float]:
    nums = [float(x) for p in parse(svg).iter(f"{SVG}path") for x in re.findall(r"-?\d+(?:\.\d+)?", p.get("d", ""))]
    xs, ys = nums[0::2], nums[1::2]
    return max(xs) - min(xs), max(ys) - min(ys)


def test_projection_keeps_the_shape() -> None:
    """At 60° N a degree of longitude is half a degree of latitude: 2° x 1° is a square on the ground, and in the SVG."""
    geo = {"type": "FeatureCollection", "features": [square(1, 10.0, 59.5, 2.0, 1.0)]}
    w, h = path_extent(svgmap.choropleth_svg(geo, {1: 5.0}, {1: "A"}, "t", "u", "it"))
    assert w / h == pytest.approx(1.0, rel=0.01)
    # the same box at the equator is twice as wide as high
    geo = {"type": "FeatureCollection", "features": [square(1, 10.0, -0.5, 2.0, 1.0)]}
    w, h = path_extent(svgmap.choropleth_svg(geo, {1: 5.0}, {1: "A"}, "t", "u", "it"))
    assert w / h == pytest.approx(2.0, rel=0.01)
    assert max(w, h) == pytest.approx(svgmap.MAP_BOX[0], abs=1)  # fitted to the box, not a thumbnail


def test_missing_value_is_grey_not_the_lowest_class() -> None:
    svg = svgmap.choropleth_svg(row(4), {1: 0.0, 2: 10.0, 3: None, 4: float("nan")}, {}, "t", "u", "it")
    f = fills(svg)
    assert f[3] == f[4] == svgmap.MISSING_COLOR == maps.MISSING_COLOR
    assert f[1] not in (svgmap.MISSING_COLOR, f[2])  # a zero is a value: lowest class, not grey
    assert f[1] == svgmap.YLORRD[2][0] and f[2] == svgmap.YLORRD[2][-1]  # light = low, dark = high
    texts = [x.text for x in parse(svg).iter(f"{SVG}text")]
    assert "dato non disponibile (2)" in texts
    absent = svgmap.choropleth_svg(row(2), {1: 1.0}, {}, "t", "u", "en")  # an area absent from the values: no data too
    assert fills(absent)[2] == svgmap.MISSING_COLOR and "no data (1)" in [x.text for x in parse(absent).iter(f"{SVG}text")]
    full = svgmap.choropleth_svg(row(2), {1: 1.0, 2: 2.0}, {}, "t", "u", "en")
    assert not any("no data" in (x.text or "") for x in parse(full).iter(f"{SVG}text"))  # no swatch when nothing misses


def test_reversed_scale_when_lower_is_better() -> None:
    values = {i: float(i) for i in range(1, 8)}
    normal, reverse = (fills(svgmap.choropleth_svg(row(7), values, {}, "t", "u", "it", reverse=r)) for r in (False, True))
    assert normal[7] == reverse[1] == "#bd0026" and normal[1] == reverse[7] == "#ffffb2"  # 5 classes of YlOrRd


def test_quantile_classes() -> None:
    """At most 5 classes, each the range of the values it holds; fewer distinct values give fewer classes."""
    classes = svgmap.classify([float(v) for v in range(1, 101)])
    assert len(classes) == 5 and [c.count for c in classes] == [20, 20, 20, 20, 20]
    assert (classes[0].low, classes[-1].high) == (1, 100)
    assert [c.color for c in classes] == list(svgmap.YLORRD[5])
    ties = svgmap.classify([0, 0, 0, 0, 0, 0, 1, 2])  # mostly zeros: no empty or duplicated class
    assert [(c.low, c.high) for c in ties] == [(0, 0), (1, 1), (2, 2)]
    zeros = svgmap.classify([0.0] * 75 + [float(v) for v in range(1, 13)])  # most NIL without a makerspace
    assert [(c.low, c.high, c.count) for c in zeros] == [(0, 0, 75), (1, 3, 3), (4, 6, 3), (7, 9, 3), (10, 12, 3)]
    assert svgmap.classify([]) == []


def test_data_text_is_escaped_and_the_svg_parses() -> None:
    name = 'Via <Roma> & "Corso" l\'Aquila'
    svg = svgmap.choropleth_svg(row(1), {1: 3.0}, {1: name}, "Titolo <b>&", 'm² <"x">', "it")
    assert "<Roma>" not in svg and "<b>" not in svg
    root = parse(svg)
    assert root.get("role") == "img" and root.get("aria-label", "").startswith("Mappa: Titolo <b>&")
    (path,) = root.iter(f"{SVG}path")
    assert path.find(f"{SVG}title").text == f'1 · {name}: 3 m² <"x">'  # type: ignore[union-attr]
    assert "Titolo <b>&" in [x.text for x in root.iter(f"{SVG}text")]


def test_legend_numbers_by_language() -> None:
    values = {1: 1234.5, 2: 23456.75}
    texts = {lang: [x.text for x in parse(svgmap.choropleth_svg(row(2), values, {}, "t", "ab./km²", lang, decimals=1))
                    .iter(f"{SVG}text")] for lang in ("it", "en")}
    assert "1.234,5" in texts["it"] and "23.456,8" in texts["it"] and "2 classi di quantile" in texts["it"]
    assert "1,234.5" in texts["en"] and "23,456.8" in texts["en"] and "2 quantile classes" in texts["en"]
    assert "ab./km²" in texts["it"]


def test_empty_geojson_gives_an_empty_string() -> None:
    """No polygon to draw (no boundaries in the build, or only points): "" and the page shows its table only."""
    assert svgmap.choropleth_svg({"type": "FeatureCollection", "features": []}, {}, {}, "t", "u", "it") == ""
    point = {"type": "Feature", "id": 1, "geometry": {"type": "Point", "coordinates": [9.0, 45.0]}}
    assert svgmap.choropleth_svg({"features": [point]}, {1: 1.0}, {}, "t", "u", "it") == ""


def test_multipolygon_and_holes() -> None:
    outer = [[9.0, 45.0], [9.1, 45.0], [9.1, 45.1], [9.0, 45.1], [9.0, 45.0]]
    hole = [[9.04, 45.04], [9.06, 45.04], [9.06, 45.06], [9.04, 45.06], [9.04, 45.04]]
    island = [[9.2, 45.0], [9.21, 45.0], [9.21, 45.01], [9.2, 45.0]]
    geo = {"features": [{"id": "7", "geometry": {"type": "MultiPolygon", "coordinates": [[outer, hole], [island]]}}]}
    svg = svgmap.choropleth_svg(geo, {7: 1.0}, {}, "t", "u", "it")  # string id in the GeoJSON, int key in the values
    (path,) = parse(svg).iter(f"{SVG}path")
    assert path.get("d", "").count("M") == 3 and path.get("fill") != svgmap.MISSING_COLOR
    assert parse(svg).find(f"{SVG}g").get("fill-rule") == "evenodd"  # type: ignore[union-attr]


def test_the_88_nil_stay_small(demo_con: duckdb.DuckDBPyConnection) -> None:
    """Milan's 88 NIL of a build: every area drawn once, the string well under 150 KB."""
    geo = data.map_geojson(demo_con, "nil")
    stats = data.district_stats(demo_con, "nil")
    svg = svgmap.choropleth_svg(geo, dict(zip(stats["id"], stats["density_km2"], strict=True)),
                                dict(zip(stats["id"], stats["name"], strict=True)), "Densità", "ab./km²", "it")
    assert sorted(fills(svg)) == sorted(int(i) for i in stats["id"]) and len(stats) == 88
    assert len(svg.encode("utf-8")) < 150_000


def test_class_colours_read_by_lightness_for_colour_blind_readers() -> None:
    """Every class set gets darker with the value in each colour-vision type (the check tests/test_accessibility.py
    makes of the plotly scale), and the no-data grey stays apart from the lightest class."""
    from test_accessibility import CVD, _lab

    for n, colours in svgmap.YLORRD.items():
        for kind in CVD:
            light = [_lab(c, kind)[0] for c in colours]
            assert all(a > b for a, b in zip(light, light[1:], strict=False)), (n, kind, light)
            assert all(math.dist(_lab(c, kind), _lab(svgmap.MISSING_COLOR, kind)) > 10 for c in colours), (n, kind)
