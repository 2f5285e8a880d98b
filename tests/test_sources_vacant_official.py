"""Tests of the official list of degraded buildings: ds503, the geoportale export (footprints) and how
places.json (secondary) avoids counting their buildings twice.

Fixtures are written by the tests (CSV, zipped shapefiles in RDN2008 / UTM 32N) over the demo
districts; the real-data tests read the real folder through the `real_dir` fixture.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path
from typing import Any

import duckdb
import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from etl import geo
from etl.base import BuildContext, LoadResult, SourceError
from etl.demo import demo_districts
from etl.demo_reference import NIL_REFERENCE
from etl.sources import REGISTRY, municipi, nil, vacant_buildings, vacant_ds503, vacant_footprints
from etl.sources.vacant_common import FORMER_USES, OFFICIAL_LIST_KEY, OfficialList, former_use
from osservatorio.views import ownership_assumed, record_links

SEED = {r[0]: (r[3], r[4]) for r in NIL_REFERENCE}
MUNICIPIO = {r[0]: r[2] for r in NIL_REFERENCE}
MONZA = (9.2744, 45.5845)
TO_UTM = Transformer.from_crs(4326, 7791, always_xy=True)
ESRI_PRJ = ('PROJCS["RDN2008/TM32",GEOGCS["GCS_RDN2008",DATUM["D_RDN2008",SPHEROID["GRS_1980",6378137.0,'
            '298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
            'PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",9.0],'
            'PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]')
DS503_HEADER = "OBJECTID;COD_PROG;INDIRIZZO;TIPO_MACRO;R10;MUNICIPIO;ID_NIL;NIL;LONG_X_4326;LAT_Y_4326;Location"


@pytest.fixture()
def ctx() -> BuildContext:
    """A fresh context per test (loaders record the official list in ctx.extra)."""
    nil_gdf, mun_gdf = demo_districts()
    nil_gdf = nil_gdf.assign(parent_id=nil_gdf["id"].map(MUNICIPIO).astype(int))
    return BuildContext.with_areas(nil_gdf[["id", "name", "parent_id", "geometry"]].copy(),
                                   mun_gdf[["id", "name", "geometry"]].copy())


def other_municipio(district_id: int) -> int:
    """A Municipio that does not contain the NIL (for mismatch checks)."""
    return 1 if MUNICIPIO[district_id] != 1 else 9


def ds503_line(oid: int, code: str, address: str, tipo: str, district_id: int, lon: float, lat: float,
               municipio: int | None = None, nil_file: int | None = None) -> str:
    mun = MUNICIPIO[district_id] if municipio is None else municipio
    nil_text = district_id if nil_file is None else nil_file
    return f"{oid};{code};{address};{tipo};SI;{mun};{nil_text};NIL {nil_text};{lon};{lat};({lat}, {lon})"


def ds503_rows() -> list[str]:
    lon4, lat4 = SEED[61]
    return [
        ds503_line(1, "A001", "VIA UNO 1", "PRODUTTIVO", 1, *SEED[1]),                                  # 1 footprint
        ds503_line(2, "R002", "VIA DUE 2", "RESIDENZIALE", 27, *SEED[27]),                             # 2 footprint
        ds503_line(3, "S003", "VIA TRE 3", "INDUSTRIALE", 22, *SEED[22]),                              # 3 none
        ds503_line(4, "A004", "VIA QUATTRO 4", "RUDERE", 61, lon4, lat4, municipio=other_municipio(61),
                   nil_file=1),                                                                        # 4 wrong ids
        ds503_line(5, "A-5", "VIA CINQUE 5", "PRODUTTIVO", 1, *SEED[1]),                               # 5 bad code
        ds503_line(6, "A006", "VIA SEI 6", "BOH", 27, SEED[27][0] + 0.003, SEED[27][1]),                # 6 unknown use
        ds503_line(7, "A007", "VIA MONZA 7", "TERZIARIO", 1, *MONZA),                                   # 7 outside
    ]


def write_ds503(path: Path, rows: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join([DS503_HEADER, *(ds503_rows() if rows is None else rows)]) + "\r\n").encode("ascii"))
    return path


def square(lon: float, lat: float, half: float = 50.0) -> shapely.Polygon:
    x, y = TO_UTM.transform(lon, lat)
    return shapely.box(x - half, y - half, x + half, y + half)


def footprint_specs() -> list[dict[str, Any]]:
    """(code, centre, Shape_Area) of the fixture export: A001 and R002 are in ds503, A099 is not."""
    return [
        {"code": "A001", "centre": SEED[1], "shape_area": 10_000.0, "tipo": "PRODUTTIVO"},
        {"code": "R002", "centre": SEED[27], "shape_area": 12_000.0, "tipo": "RURALE"},  # wrong Shape_Area
        {"code": "A099", "centre": SEED[5], "shape_area": 10_000.0, "tipo": "TERZIARIO"},
    ]


def write_export(path: Path, specs: list[dict[str, Any]] | None = None, prj: str | None = ESRI_PRJ,
                 lonlat: bool = False, with_points: bool = True,
                 stems: tuple[str, str] = ("Immobili_abbandonati_e_degradati_aree",
                                           "Immobili_abbandonati_e_degradati_punti")) -> Path:
    """A zip like OpenData_ImmDegrado.zip: points and footprints shapefiles, entries dated 2019-06-03."""
    specs = footprint_specs() if specs is None else specs
    work = path.parent / f"_{path.stem}"
    work.mkdir(parents=True, exist_ok=True)
    attrs = {
        "Cod_prog": [s["code"] for s in specs],
        "INDIRIZZO": [f"VIA {s['code']}" for s in specs],
        "TIPO_MACRO": [s["tipo"] for s in specs],
        "LinkPdfVIG": [f"https://geoportale.example/PDF_VIG\\VIG_{s['code']}.pdf" for s in specs],
        "LinkPdfVAR": [f"https://geoportale.example/PDF_VAR\\VAR_{s['code']}.pdf" for s in specs],
    }
    polys = [square(*s["centre"]) for s in specs]
    points = [shapely.Point(TO_UTM.transform(*s["centre"])) for s in specs]
    crs = "EPSG:7791"
    if lonlat:
        polys = list(gpd.GeoSeries(polys, crs=crs).to_crs(4326))
        points = list(gpd.GeoSeries(points, crs=crs).to_crs(4326))
        crs = "EPSG:4326"
    layers = {f"{stems[0]}": gpd.GeoDataFrame(
        {**attrs, "Shape_Area": [s["shape_area"] for s in specs]}, geometry=polys, crs=crs)}
    if with_points:
        layers[stems[1]] = gpd.GeoDataFrame(attrs, geometry=points, crs=crs)
    with zipfile.ZipFile(path, "w") as zf:
        for stem, frame in layers.items():
            frame.to_file(work / f"{stem}.shp")
            for ext in ("shp", "shx", "dbf", "prj"):
                member = work / f"{stem}.{ext}"
                if ext == "prj":
                    if prj is None:
                        continue
                    data = prj.encode("ascii") if not lonlat else member.read_bytes()
                else:
                    data = member.read_bytes()
                zf.writestr(zipfile.ZipInfo(f"{stem}.{ext}", date_time=(2019, 6, 3, 9, 57, 0)), data)
    return path


def reasons(result: LoadResult, action: str | None = None) -> dict[int | None, list[str]]:
    out: dict[int | None, list[str]] = {}
    for r in result.rejects:
        if action is None or r.action == action:
            out.setdefault(r.row_number, []).append(r.reason)
    return out


def isna(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value) in ("<NA>", "nan")


# ------------------------------------------------------------------------------------ vocabulary

def test_former_use_vocabulary() -> None:
    assert former_use("PRODUTTIVO") == ("produttivo", True)
    assert former_use("INDUSTRIALE") == ("produttivo", True)
    assert former_use("Residenza") == ("residenziale", True)
    assert former_use("SERVIZI") == ("terziario", True) and former_use("RICETTIVO") == ("terziario", True)
    assert former_use("Edifici rurali") == ("rurale", True) and former_use("Scalo Ferroviario")[0] == "scalo_ferroviario"
    assert former_use("Parcheggi interrati") == ("parcheggio", True) and former_use("PARCHEGGI")[0] == "parcheggio"
    assert former_use("INDEFINITO/MISTO") == ("altro", True)
    assert former_use("RUDERE") == ("altro", True)  # a condition, not a former use
    assert former_use("Astronave") == ("altro", False)
    assert former_use(None) == (None, True) and former_use("  ") == (None, True)
    assert {former_use(v)[0] for v in ("Caserma", "Commercio", "Area libera", "TERZIARIO")} <= set(FORMER_USES)


# ----------------------------------------------------------------------------------------- ds503

def test_ds503_alone(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_ds503(tmp_path / "raw" / "elenco.csv")  # any name: recognised by its header
    assert vacant_ds503.SOURCE.find(tmp_path / "raw") == [path]
    result = vacant_ds503.SOURCE.load(path, ctx)
    frame = result.frame.set_index("source_key")
    assert result.trust == "official" and result.rows_read == 7
    assert len(result.frame) + result.rows_rejected == 7
    assert result.reference_date is None and any("data di riferimento non indicata" in n for n in result.notes)
    assert result.attribution == "Comune di Milano" and result.origin is None
    assert "CC BY 4.0" in vacant_ds503.SOURCE.licence and "da verificare" in vacant_ds503.SOURCE.licence

    a1 = frame.loc["A001"]
    assert (a1["category"], a1["status"], a1["district_id"], a1["parent_id"]) == ("produttivo", "degraded", 1, MUNICIPIO[1])
    assert isna(a1["ownership"]) and isna(a1["area_m2"]) and a1["geom_wkb"] is None
    attrs = json.loads(a1["attributes"])
    assert (attrs["r10"], attrs["tipo_macro"], attrs["objectid"], attrs["nil_file"]) == ("SI", "PRODUTTIVO", "1", "NIL 1")
    assert (frame.loc["R002", "status"], frame.loc["R002", "category"]) == ("regeneration", "residenziale")
    assert (frame.loc["S003", "status"], frame.loc["S003", "category"]) == ("degraded", "produttivo")
    assert frame.loc["A004", "category"] == "altro"  # RUDERE is a condition
    assert frame.loc["A006", "category"] == "altro"
    assert any("TIPO_MACRO non riconosciuti" in n and "BOH" in n for n in result.notes)
    assert any("sagome assenti" in n for n in result.notes)

    warnings = reasons(result, "warning")
    assert any("NIL nel file (1) diverso" in r for r in warnings[4])
    assert any(f"Municipio nel file ({other_municipio(61)}) diverso" in r for r in warnings[4])
    assert frame.loc["A004", "district_id"] == 61  # the position wins
    rejected = reasons(result, "rejected")
    assert set(rejected) == {5, 7}
    assert "COD_PROG 'A-5' non valido" in rejected[5][0]
    assert "fuori dal territorio" in rejected[7][0]

    official = ctx.extra[OFFICIAL_LIST_KEY]
    assert isinstance(official, OfficialList) and official.label == "ds503"
    assert set(official.loaded) == {"A001", "R002", "S003", "A004", "A006"}
    assert official.listed == {"A001", "R002", "S003", "A004", "A006", "A007"}  # A007 listed, but outside


def test_ds503_header_errors(tmp_path: Path, ctx: BuildContext) -> None:
    wrong = tmp_path / "ds503_aree_edifici_degradati.csv"  # the name alone is not enough
    wrong.write_text("COD_PROG;INDIRIZZO\nA1;VIA X\n", encoding="utf-8")
    assert vacant_ds503.SOURCE.find(tmp_path) == []
    with pytest.raises(SourceError, match="manca la colonna 'tipo_macro'"):
        vacant_ds503.SOURCE.load(wrong, ctx)
    only_bad = write_ds503(tmp_path / "x.csv", [ds503_line(1, "??", "VIA X", "PRODUTTIVO", 1, *SEED[1])])
    with pytest.raises(SourceError, match="nessuna riga utilizzabile"):
        vacant_ds503.SOURCE.load(only_bad, ctx)


def test_files_claimed_only_by_their_loader(tmp_path: Path) -> None:
    """ds503 and the geoportale zip are claimed by their own loaders and by no other source."""
    raw = tmp_path / "raw"
    ds503 = write_ds503(raw / "a" / "ds503.csv")
    export = write_export(raw / "b" / "AreeDismesse_immobili_degradati.zip")  # the name looks regional
    other_zip = raw / "c" / "nil.zip"
    other_zip.parent.mkdir(parents=True)
    gpd.GeoDataFrame({"ID_NIL": [1]}, geometry=[square(*SEED[1])], crs="EPSG:7791").to_file(tmp_path / "nil.shp")
    with zipfile.ZipFile(other_zip, "w") as zf:
        for ext in ("shp", "shx", "dbf", "prj"):
            zf.write(tmp_path / f"nil.{ext}", f"nil.{ext}")
    claims = {s.source_id: set(s.find(raw)) for s in REGISTRY}
    assert claims["vacant_ds503"] == {ds503}
    assert claims["vacant_footprints"] == {export}
    for source_id, found in claims.items():
        if source_id not in ("vacant_ds503", "vacant_footprints"):
            assert not found & {ds503, export}, source_id
    assert vacant_footprints.SOURCE.plan[export.resolve()] == ds503  # the zip knows that ds503 is the list
    assert vacant_ds503.SOURCE.plan[ds503.resolve()] == export


# --------------------------------------------------------------------------- ds503 + footprints

def check_enriched(ds: LoadResult, fp: LoadResult) -> None:
    frame = ds.frame.set_index("source_key")
    a1 = frame.loc["A001"]
    assert a1["area_m2"] == pytest.approx(10_000, rel=1e-6)  # computed in EPSG:7791
    polygon = shapely.from_wkb(a1["geom_wkb"])
    assert polygon.geom_type == "Polygon" and 9.0 < polygon.centroid.x < 9.4  # stored in EPSG:4326
    assert polygon.contains(shapely.Point(a1["lon"], a1["lat"]))
    attrs = json.loads(a1["attributes"])
    assert attrs["link_pdf_vig"] == "https://geoportale.example/PDF_VIG/VIG_A001.pdf"  # '\' made '/'
    assert attrs["link_pdf_var"].endswith("/VAR_A001.pdf") and attrs["shape_area_m2"] == 10_000.0
    assert attrs["sagoma"] == "geoportale 2019-06-03" and attrs["indirizzo_geoportale"] == "VIA A001"
    assert record_links(a1["attributes"]) == [attrs["link_pdf_vig"], attrs["link_pdf_var"]]  # what the app links to
    r2 = frame.loc["R002"]
    assert r2["area_m2"] == pytest.approx(10_000, rel=1e-6)  # computed, not the file's 12 000
    assert json.loads(r2["attributes"])["tipo_macro_geoportale"] == "RURALE"
    assert r2["category"] == "residenziale"  # ds503 is primary
    assert isna(frame.loc["S003", "area_m2"]) and frame.loc["S003", "geom_wkb"] is None
    assert any("3 codici di ds503 senza sagoma" in n and "S003" in n for n in ds.notes)
    assert any("1 codici dell'esportazione non più in ds503" in n and "A099" in n for n in ds.notes)
    assert any("distanza mediana 0.0 m" in n for n in ds.notes)

    assert fp.frame.empty and fp.trust == "official" and fp.rows_read == 3
    assert fp.reference_date == dt.date(2019, 6, 3) and fp.crs is not None and fp.crs.startswith("EPSG:7791")
    rejected = reasons(fp, "rejected")
    assert list(rejected) == [3]
    assert "A099: non più nell'elenco ds503" in rejected[3][0] and "non contato come attuale" in rejected[3][0]
    assert any("Shape_Area nel file (12.000 m²) diversa" in r for r in reasons(fp, "warning")[2])
    assert any("unite a 2 edifici di ds503" in n for n in fp.notes)


def test_ds503_with_footprints_either_order(tmp_path: Path, ctx: BuildContext) -> None:
    raw = tmp_path / "raw"
    ds_path = write_ds503(raw / "ds503.csv")
    zip_path = write_export(raw / "OpenData_ImmDegrado.zip")
    ds_src, fp_src = vacant_ds503.VacantDs503Source(), vacant_footprints.VacantFootprintsSource()
    assert ds_src.find(raw) == [ds_path] and fp_src.find(raw) == [zip_path]
    # ds503 first, then the zip
    ds = ds_src.load(ds_path, ctx)
    fp = fp_src.load(zip_path, ctx)
    check_enriched(ds, fp)
    # the zip first: it still knows (from find) that ds503 is the list, and loads no rows
    fresh = BuildContext.with_areas(ctx.boundaries(), ctx.boundaries("municipio"))
    fp2 = fp_src.load(zip_path, fresh)
    ds2 = ds_src.load(ds_path, fresh)
    check_enriched(ds2, fp2)
    assert fp2.frame.empty and len(ds2.frame) == len(ds.frame)


def test_ds503_point_far_from_footprint_and_unknown_letter(tmp_path: Path, ctx: BuildContext) -> None:
    lon, lat = SEED[1]
    ds_path = write_ds503(tmp_path / "ds503.csv", [ds503_line(1, "A001", "VIA UNO 1", "PRODUTTIVO", 1, lon, lat),
                                                   ds503_line(2, "C002", "VIA DUE 2", "PRODUTTIVO", 1, lon, lat + 0.001)])
    far = [{"code": "A001", "centre": (lon + 0.002, lat), "shape_area": 10_000.0, "tipo": "PRODUTTIVO"}]  # ~156 m east
    zip_path = write_export(tmp_path / "geoportale.zip", far)
    result = vacant_ds503.VacantDs503Source().load(ds_path, ctx, footprints=zip_path)
    warnings = reasons(result, "warning")
    assert any("punto di ds503 a 106 m dalla sagoma" in r for r in warnings[1])
    assert result.frame.set_index("source_key").loc["A001", "area_m2"] == pytest.approx(10_000, rel=1e-6)  # kept
    assert any("lettera del codice C002 non nota" in r for r in warnings[2])
    assert isna(result.frame.set_index("source_key").loc["C002", "status"])
    assert any("distanza mediana 156" in n for n in result.notes)  # the export's point vs ds503's


def test_footprints_alone_are_the_list(tmp_path: Path, ctx: BuildContext) -> None:
    raw = tmp_path / "raw"
    zip_path = write_export(raw / "geoportale.zip")
    src = vacant_footprints.VacantFootprintsSource()
    assert src.find(raw) == [zip_path] and src.plan[zip_path.resolve()] is None
    result = src.load(zip_path, ctx)
    frame = result.frame.set_index("source_key")
    assert sorted(frame.index) == ["A001", "A099", "R002"] and result.trust == "official"
    assert result.reference_date == dt.date(2019, 6, 3)
    assert (frame.loc["A001", "category"], frame.loc["R002", "category"]) == ("produttivo", "rurale")
    assert (frame.loc["A001", "status"], frame.loc["R002", "status"]) == ("degraded", "regeneration")
    assert frame["area_m2"].to_numpy() == pytest.approx([10_000] * 3, rel=1e-6)
    assert frame.loc["A099", "district_id"] == 5
    assert frame.loc["A001", "lon"] == pytest.approx(SEED[1][0], abs=1e-6)  # the export's own point
    assert any("è l'elenco ufficiale" in n for n in result.notes)
    official = ctx.extra[OFFICIAL_LIST_KEY]
    assert official.source_id == "vacant_footprints" and set(official.loaded) == {"A001", "A099", "R002"}


def test_footprints_fall_back_to_list_when_ds503_is_unreadable(tmp_path: Path, ctx: BuildContext) -> None:
    raw = tmp_path / "raw"
    ds_path = write_ds503(raw / "ds503.csv")
    zip_path = write_export(raw / "geoportale.zip")
    src = vacant_footprints.VacantFootprintsSource()
    assert src.find(raw) == [zip_path]
    ds_path.write_bytes(b"")  # broken after find: ds503 fails in the build
    result = src.load(zip_path, ctx)
    assert len(result.frame) == 3 and "non leggibile" in result.notes[0]
    assert ctx.extra[OFFICIAL_LIST_KEY].source_id == "vacant_footprints"


def test_footprints_crs_and_content_errors(tmp_path: Path, ctx: BuildContext) -> None:
    renamed = write_export(tmp_path / "r" / "EXPORT.ZIP", stems=("layer_b", "layer_a"))  # layers told by geometry
    assert vacant_footprints.find_exports(tmp_path / "r") == [renamed]
    assert len(vacant_footprints.VacantFootprintsSource().load(renamed, ctx).frame) == 3
    no_prj = write_export(tmp_path / "a" / "senza_prj.zip", prj=None, with_points=False)
    result = vacant_footprints.VacantFootprintsSource().load(no_prj, ctx)
    assert any(".prj assente" in n and "EPSG:7791" in n for n in result.notes)
    assert any("manca lo shapefile dei punti" in n for n in result.notes)
    assert frame_area(result) == pytest.approx(30_000, rel=1e-6)
    lonlat = write_export(tmp_path / "b" / "lonlat.zip", lonlat=True)
    with pytest.raises(SourceError, match="coordinate non in RDN2008 / UTM 32N"):
        vacant_footprints.VacantFootprintsSource().load(lonlat, ctx)
    not_zip = tmp_path / "c" / "finto.zip"
    not_zip.parent.mkdir()
    not_zip.write_bytes(b"PK not really")
    assert not vacant_footprints.is_export(not_zip)
    with pytest.raises(SourceError, match="non contiene l'esportazione del geoportale"):
        vacant_footprints.read_export(not_zip)


def frame_area(result: LoadResult) -> float:
    return float(result.frame["area_m2"].sum())


# ------------------------------------------------------------------------- places.json secondary

def places_doc() -> dict[str, Any]:
    def feature(cod: str | None, address: str, lon: float, lat: float, **extra: Any) -> dict[str, Any]:
        props = {"name": address, "address": address, "condition": "Degrado/Inutilizzo", "condition_desc": "Ex",
                 "typology": "Produttivo", "cod_prog": cod, "zona": "1", "category": None}
        props.update(extra)
        return {"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": [lon, lat]}}
    lon4, lat4 = SEED[61]
    lon3, lat3 = SEED[22]
    return {"type": "FeatureCollection", "features": [
        feature("A001", "Via Uno 1", *SEED[1]),                                              # 1 same code
        feature("A137", "Via Quattro 4", lon4 + 0.0001, lat4),                               # 2 same address
        feature("A099", "Via Novantanove", *SEED[5]),                                         # 3 dropped code
        feature("A200", "Via Duecento 200", *SEED[13], category="privato"),                    # 4 loads
        feature("A201", "Via Altra 9", lon3 + 0.0003, lat3),                                  # 5 near S003
        feature(None, "Via Caserma 1", *SEED[40], typology="Caserma", category="caserma",
                condition="Inutilizzato", zona="10"),                                         # 6 added
        feature("A007", "Via Monza 7", *MONZA),                                               # 7 listed, rejected there
    ]}


def test_places_json_after_official_list(tmp_path: Path, ctx: BuildContext) -> None:
    raw = tmp_path / "raw"
    ds_path = write_ds503(raw / "ds503.csv")
    zip_path = write_export(raw / "geoportale.zip")
    places = raw / "scandaglio-molo" / "places.json"
    places.parent.mkdir(parents=True)
    places.write_text(json.dumps(places_doc()), encoding="utf-8")
    vacant_ds503.SOURCE.load(ds_path, ctx, footprints=zip_path)
    result = vacant_buildings.SOURCE.load(places, ctx)
    frame = result.frame.set_index("source_key")
    assert sorted(frame.index.str.replace(r"molo-.*", "molo", regex=True)) == ["A200", "A201", "molo"]
    assert result.trust == "derived"
    warnings = reasons(result, "warning")
    assert warnings[1] == ["stesso edificio già caricato da ds503 (codice A001): non contato due volte"]
    assert "stesso edificio già caricato da ds503 (codice A004, stesso indirizzo a 8 m; codice 2016 A137)" in warnings[2][0]
    assert "presente in ds503 ma scartato lì" in warnings[7][0]
    assert any("possibile stesso edificio" in r and "S003" in r for r in warnings[5])
    rejected = reasons(result, "rejected")
    assert list(rejected) == [3] and "A099: non più nell'elenco ds503" in rejected[3][0]
    assert json.loads(frame.loc["A200", "attributes"])["ownership_assumed_value"] == "private"
    assert ownership_assumed(frame.loc["A200", "attributes"])  # the flag the app reads
    assert isna(frame.loc["A200", "ownership"])
    added = result.frame[result.frame["source_key"].str.startswith("molo-")].iloc[0]
    assert (added["category"], added["status"]) == ("caserma", "vacant")
    assert json.loads(added["attributes"])["added_by"] == "scandaglio/PianoTerra"
    assert any("doppioni evitati: 3 luoghi già contati da ds503 (2 per codice, 1 per indirizzo" in n
               and "7 letti = 3 caricati + 3 doppioni + 1 scartati" in n for n in result.notes)


def test_places_json_all_already_official(tmp_path: Path, ctx: BuildContext) -> None:
    vacant_ds503.SOURCE.load(write_ds503(tmp_path / "ds503.csv"), ctx)
    doc = places_doc()
    doc["features"] = doc["features"][:2]  # A001 (same code) and A137 (same address as A004)
    path = tmp_path / "places.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = vacant_buildings.SOURCE.load(path, ctx)
    assert result.frame.empty and result.rows_read == 2 and result.rows_rejected == 0
    assert [r.action for r in result.rejects] == ["warning", "warning"]
    assert any("nessuna riga nuova" in n for n in result.notes)


def test_build_official_and_secondary(tmp_path: Path) -> None:
    """The pipeline with ds503, the zip and places.json: each building counted once, lineage per file."""
    raw = tmp_path / "raw"
    raw.mkdir()
    nil_gdf, mun_gdf = demo_districts()
    gpd.GeoDataFrame({"ID_NIL": nil_gdf["id"], "NIL": nil_gdf["name"]}, geometry=nil_gdf.geometry.values,
                     crs=geo.WGS84).to_file(raw / "nil.geojson", driver="GeoJSON")
    gpd.GeoDataFrame({"MUNICIPIO": mun_gdf["id"]}, geometry=mun_gdf.geometry.values,
                     crs=geo.WGS84).to_file(raw / "municipi.geojson", driver="GeoJSON")
    write_ds503(raw / "comune" / "ds503_aree_edifici_degradati_abbandonati_0_final.csv")
    write_export(raw / "geoportale" / "OpenData_ImmDegrado.zip")
    (raw / "scandaglio-molo").mkdir()
    (raw / "scandaglio-molo" / "places.json").write_text(json.dumps(places_doc()), encoding="utf-8")
    wanted = ["municipi_boundaries", "nil_boundaries", "vacant_ds503", "vacant_footprints", "vacant_buildings"]
    sources = [s for s in REGISTRY if s.source_id in wanted]
    assert [s.source_id for s in sources] == wanted  # registered, official list before places.json
    from etl.pipeline import build

    warehouse = tmp_path / "w.duckdb"
    build(raw, warehouse, sources=sources, progress=lambda m: None)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        counts = dict(con.sql("SELECT source_id || '/' || trust, count(*) FROM places WHERE theme = 'vacant' "
                              "GROUP BY 1").fetchall())
        assert counts == {"vacant_ds503/official": 5, "vacant_buildings/derived": 3}
        dup_keys = con.sql("SELECT source_key FROM places WHERE theme = 'vacant' GROUP BY 1 HAVING count(*) > 1").fetchall()
        assert dup_keys == []
        lineage = {r[0]: r[1:] for r in con.sql(
            "SELECT source_id, rows_read, rows_loaded, rows_rejected, reference_date, attribution, status, notes "
            "FROM sources WHERE source_id LIKE 'vacant%'").fetchall()}
        assert lineage["vacant_ds503"][:6] == (7, 5, 2, None, "Comune di Milano", "loaded")
        assert lineage["vacant_buildings"][:4] == (7, 3, 1, dt.date(2016, 1, 1))
        area = con.sql("SELECT count(area_m2), round(sum(area_m2)) FROM places WHERE source_id = 'vacant_ds503'").fetchall()
        assert area == [(2, 20_000.0)]
        dup = con.sql("SELECT count(*) FROM rejects WHERE source_id = 'vacant_buildings' AND action = 'warning' "
                      "AND reason LIKE 'stesso edificio già caricato da ds503%'").fetchall()
        assert dup == [(2,)]
        dropped = con.sql("SELECT reason FROM rejects WHERE source_id = 'vacant_footprints' AND action = 'rejected'"
                          ).fetchall()
        assert len(dropped) == 1 and dropped[0][0].startswith("A099: non più nell'elenco ds503")
        footprints = lineage["vacant_footprints"]
        assert footprints[:2] == (3, 0) and footprints[3] == dt.date(2019, 6, 3)
        if footprints[5] == "failed" and "nessuna riga utilizzabile" in (footprints[6] or ""):
            pytest.xfail("la pipeline rifiuta un file senza righe proprie: deve accettare "
                         "vacant_footprints.MergedResult (merged_into) come 'loaded'")
        assert footprints[5] == "loaded" and "unite a 2 edifici di ds503" in footprints[6]
    finally:
        con.close()


# ---------------------------------------------------------------------------------------- real

def real_context(real_dir: Path) -> BuildContext:
    real_ctx = BuildContext()
    mun = municipi.SOURCE.load(real_dir / "comune-milano-municipi" / "Municipi.shp", real_ctx).frame
    nil_frame = nil.SOURCE.load(real_dir / "comune-milano-nil" / "NIL_WM.zip", real_ctx).frame
    mun = mun[["id", "name", "geometry"]].copy()
    fine = nil_frame[["id", "name", "geometry"]].copy()
    fine["parent_id"] = geo.parent_by_overlap(nil_frame, mun).to_numpy()
    return BuildContext.with_areas(fine, mun)


DROPPED = {"A415", "A417", "A475", "A476", "R129", "S502"}


@pytest.mark.real
def test_real_ds503_with_footprints_and_places(real_dir: Path) -> None:
    ds_path = real_dir / "comune-milano-ds503" / "ds503_aree_edifici_degradati_abbandonati_0_final.csv"
    zip_path = real_dir / "comune-milano-immobili-degradati" / "OpenData_ImmDegrado.zip"
    ds_src, fp_src = vacant_ds503.VacantDs503Source(), vacant_footprints.VacantFootprintsSource()
    assert ds_src.find(real_dir) == [ds_path] and fp_src.find(real_dir) == [zip_path]
    ctx = real_context(real_dir)
    ds = ds_src.load(ds_path, ctx)
    frame = ds.frame
    assert ds.rows_read == 174 and len(frame) == 174 and ds.rows_rejected == 0
    assert frame["source_key"].is_unique and (frame["assignment"] == "point_in_polygon").all()
    assert frame["district_id"].notna().all() and frame["parent_id"].between(1, 9).all()
    assert frame["status"].value_counts().to_dict() == {"degraded": 169, "regeneration": 5}
    assert frame["category"].value_counts().to_dict() == {"produttivo": 84, "residenziale": 50, "terziario": 28,
                                                          "altro": 6, "commercio": 5, "parcheggio": 1}
    assert frame["ownership"].isna().all() and ds.reference_date is None
    assert ds.origin is not None and "tommif13/test" in ds.origin
    # Footprints: 172 codes in common; A653 and A654 (new in ds503) have none.
    with_area = frame[frame["area_m2"].notna()]
    assert len(with_area) == 172 and frame["geom_wkb"].notna().sum() == 172
    assert set(frame.loc[frame["area_m2"].isna(), "source_key"]) == {"A653", "A654"}
    assert with_area["area_m2"].sum() == pytest.approx(566_591, abs=1)
    shape = [json.loads(a)["shape_area_m2"] for a in with_area["attributes"]]
    assert np.allclose(with_area["area_m2"].to_numpy(), shape, atol=0.06)  # computed = Shape_Area (rounded to 0.1)
    for wkb, lon, lat in zip(with_area["geom_wkb"], with_area["lon"], with_area["lat"], strict=True):
        poly = shapely.from_wkb(wkb)
        assert poly.is_valid and poly.distance(shapely.Point(lon, lat)) < 0.001  # within about 100 m in degrees
    assert any("distanza mediana 0.0 m, massima 8.1 m" in n for n in ds.notes)
    assert not [r for r in ds.rejects if "dalla sagoma" in r.reason]

    fp = fp_src.load(zip_path, ctx)
    assert fp.frame.empty and fp.rows_read == 178 and fp.reference_date == dt.date(2019, 6, 3)
    assert {r.reason.split(":")[0] for r in fp.rejects if r.action == "rejected"} == DROPPED
    assert fp.rows_repaired == 2 and fp.origin is not None

    places = vacant_buildings.SOURCE.load(real_dir / "scandaglio-molo" / "places.json", ctx)
    keys = places.frame["source_key"]
    assert places.rows_read == 192 and len(places.frame) == 113 and places.rows_rejected == 1
    assert not set(keys) & set(frame["source_key"])  # never counted twice
    dup = [r for r in places.rejects if r.reason.startswith("stesso edificio già caricato da ds503")]
    assert len(dup) == 78 and all(r.action == "warning" for r in dup)
    assert sum("stesso indirizzo" in r.reason for r in dup) == 2  # A137 = A653, A338 = A600
    assert [r.reason.split(":")[0] for r in places.rejects if r.action == "rejected"] == ["R129"]
    assert keys.str.startswith("molo-").sum() == 12 and (~keys.str.startswith("molo-")).sum() == 101


@pytest.mark.real
def test_real_footprints_alone(real_dir: Path, tmp_path: Path) -> None:
    """Without ds503 the geoportale export is the list: 178 buildings, all with footprint and area."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "OpenData_ImmDegrado.zip").symlink_to(real_dir / "comune-milano-immobili-degradati" / "OpenData_ImmDegrado.zip")
    src = vacant_footprints.VacantFootprintsSource()
    [zip_path] = src.find(raw)
    result = src.load(zip_path, real_context(real_dir))
    frame = result.frame
    assert result.rows_read == 178 and len(frame) == 178 and frame["source_key"].is_unique
    assert frame["area_m2"].notna().all() and frame["area_m2"].sum() == pytest.approx(626_918, abs=1)
    assert frame["status"].value_counts().to_dict() == {"degraded": 172, "regeneration": 6}
    assert set(frame["source_key"]) >= DROPPED and result.reference_date == dt.date(2019, 6, 3)
    assert result.origin is not None  # the symlink points at the known copy (same bytes)


def _comuni_context(real_dir: Path, territory_id: str) -> BuildContext:
    from etl import territory
    from etl.sources import comuni_istat

    profile = territory.load(territory_id)
    code = profile.fine.filter["prov_istat_code"].lstrip("0")
    path = real_dir / "openpolis-geojson-italy" / f"limits_P_{code}_municipalities.geojson"
    if not path.is_file():
        pytest.skip(f"{path.name} not in the real folder")
    frame = comuni_istat.SOURCE.for_level(profile.fine).load(path, BuildContext(territory=profile)).frame
    return BuildContext.with_areas(frame[["id", "name", "geometry"]].copy(), territory=profile)


@pytest.mark.real
def test_real_ds503_in_other_territories(real_dir: Path) -> None:
    """Città metropolitana: the coordinates place all 174 in Milano (15146), the file's ID_NIL/MUNICIPIO unused.
    Cremona: none inside -> NotInTerritory, and the footprints that only enrich ds503 are not in it either."""
    from etl.geo import NotInTerritory

    ds_path = real_dir / "comune-milano-ds503" / "ds503_aree_edifici_degradati_abbandonati_0_final.csv"
    zip_path = real_dir / "comune-milano-immobili-degradati" / "OpenData_ImmDegrado.zip"
    ds_src, fp_src = vacant_ds503.VacantDs503Source(), vacant_footprints.VacantFootprintsSource()
    assert ds_src.find(real_dir) == [ds_path] and fp_src.find(real_dir) == [zip_path]
    ctx = _comuni_context(real_dir, "citta_metropolitana_milano")
    ds = ds_src.load(ds_path, ctx)
    assert len(ds.frame) == 174 and ds.rows_rejected == 0
    assert set(ds.frame["district_id"]) == {15146} and ds.frame["parent_id"].isna().all()
    assert not [r for r in ds.rejects if "nel file" in r.reason]
    assert fp_src.load(zip_path, ctx).frame.empty  # enrichment role, as in Milan

    cremona = _comuni_context(real_dir, "provincia_cremona")
    with pytest.raises(NotInTerritory, match="nessun punto nel territorio Provincia di Cremona: tutte le 174 righe"):
        ds_src.load(ds_path, cremona)
    with pytest.raises(NotInTerritory, match="l'elenco ds503, a cui si uniscono le sagome, non vi ha edifici"):
        fp_src.load(zip_path, cremona)
