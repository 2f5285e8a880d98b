"""Tests of the three 'vacant' sources: degraded buildings list, ds147 confiscated assets, aree dismesse.

Fixtures are written by the tests into temporary folders; districts are the demo tessellation
(real NIL ids and Municipi). The real-data tests read the real folder (fixture `real_dir`) in place.
"""

from __future__ import annotations

import datetime as dt
import json
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
from etl.geo import NotInTerritory
from etl.sources import REGISTRY, aree_dismesse, confiscated, municipi, nil, vacant_buildings
from etl.sources.vacant_common import FORMER_USES

# Interior points of demo NIL (id: lon, lat) and their Municipio.
SEED = {r[0]: (r[3], r[4]) for r in NIL_REFERENCE}
MUNICIPIO = {r[0]: r[2] for r in NIL_REFERENCE}
MONZA = (9.2744, 45.5845)  # outside the Comune, inside the generous Milan bounding box
BERGAMO = (9.6773, 45.6983)  # outside the Comune and outside the Milan bounding box
TO_UTM = Transformer.from_crs(4326, 32632, always_xy=True)


# ----------------------------------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def ctx() -> BuildContext:
    """Demo NIL (with their Municipio) and demo Municipi, EPSG:4326."""
    nil_gdf, mun_gdf = demo_districts()
    nil_gdf = nil_gdf.assign(parent_id=nil_gdf["id"].map(MUNICIPIO).astype(int))
    return BuildContext.with_areas(nil_gdf[["id", "name", "parent_id", "geometry"]].copy(),
                                   mun_gdf[["id", "name", "geometry"]].copy())


def point_feature(props: dict[str, Any], lon: float | None, lat: float | None) -> dict[str, Any]:
    geometry = None if lon is None else {"type": "Point", "coordinates": [lon, lat]}
    return {"type": "Feature", "geometry": geometry, "properties": props}


def place_props(cod: str | None, name: str, **extra: Any) -> dict[str, Any]:
    props = {"name": name, "address": name, "condition": "Degrado/Inutilizzo", "condition_desc": f"Ex {name}",
             "typology": "Produttivo", "cod_prog": cod, "zona": "1", "panoId": "pano", "category": None}
    props.update(extra)
    return props


def write_json(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def utm_ring(lon: float, lat: float, half: float = 50.0, bowtie: bool = False) -> list[list[list[float]]]:
    """A square (or self-intersecting bow-tie) of side 2*half metres in UTM 32N around a point."""
    x, y = TO_UTM.transform(lon, lat)
    if bowtie:
        pts = [(x - half, y - half), (x + half, y + half), (x + half, y - half), (x - half, y + half)]
    else:
        pts = [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]
    return [[list(p) for p in pts + [pts[0]]]]


def polygon_feature(props: dict[str, Any], ring: list[list[list[float]]]) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": ring}}


def reasons(result: LoadResult, action: str | None = None) -> dict[int | None, list[str]]:
    out: dict[int | None, list[str]] = {}
    for r in result.rejects:
        if action is None or r.action == action:
            out.setdefault(r.row_number, []).append(r.reason)
    return out


# -------------------------------------------------------------------------------- vacant buildings

def synthetic_places() -> list[dict[str, Any]]:
    """Eleven features covering the mapping rules and the problems the loader must handle."""
    lon1, lat1 = SEED[1]
    lon27, lat27 = SEED[27]
    lon22, lat22 = SEED[22]
    lon61, lat61 = SEED[61]
    return [
        point_feature(place_props("A001", "Via Uno 1", category="privato"), lon1, lat1),                      # 1
        point_feature(place_props("R002", "Via Due 2", condition="Riqualificazione", zona="5"), lon27, lat27),  # 2
        point_feature(place_props(None, "Piazza Scalo", condition="Semi utilizzo", zona="10", category="scalo",
                                  condition_desc="Scalo Nord", typology="Scalo Ferroviario"), lon22, lat22),      # 3
        point_feature(place_props(None, "Piazza Scalo", condition="Utilizzato", zona="10", category="scalo",
                                  condition_desc="Scalo Sud", typology="Scalo Ferroviario"), lon61, lat61),      # 4
        point_feature(place_props("A005", "Via Cinque 5", category="Pubblico", zona="4"), lon1 + 0.002, lat1),   # 5
        point_feature(place_props("A001", "Via Uno bis", category="privata"), lon1, lat1 + 0.001),              # 6 dup id
        point_feature(place_props("A007", "Via Uno 1"), lon1 + 0.0005, lat1),                                   # 7 dup pair
        point_feature(place_props("A008", "Via Monza 8"), *MONZA),                                              # 8 outside
        point_feature(place_props("A009", "Via Nove 9", zona="3"), None, None),                                  # 9 no point
        point_feature(place_props(None, "Caserma Senza Posto", zona="10", category="caserma"), None, None),     # 10
        {"type": "Feature", "properties": place_props("A011", "Via Undici 11", category="rurale"),              # 11
         "geometry": {"type": "Polygon", "coordinates": [[[lon22 - 0.001, lat22 - 0.001], [lon22 + 0.001, lat22 - 0.001],
                                                           [lon22 + 0.001, lat22 + 0.001], [lon22 - 0.001, lat22 - 0.001]]]}},
    ]


def test_vacant_buildings_mapping(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_json(tmp_path / "scandaglio-molo" / "places.json",
                      {"type": "FeatureCollection", "features": synthetic_places()})
    result = vacant_buildings.SOURCE.load(path, ctx)
    frame = result.frame.set_index("source_key")
    assert result.rows_read == 11
    assert len(result.frame) + result.rows_rejected == 11
    assert result.trust == "derived"
    assert (result.frame["theme"] == "vacant").all()

    a1 = frame.loc["A001"]
    assert (a1["status"], a1["category"]) == ("degraded", "produttivo")  # former use, not the condition
    assert pd_isna(a1["ownership"])  # the collective's 'privato' is not a declared ownership
    assert (a1["district_id"], a1["parent_id"], a1["assignment"]) == (1, MUNICIPIO[1], "point_in_polygon")
    attrs = json.loads(a1["attributes"])
    assert attrs["typology"] == "Produttivo" and attrs["condition_desc"] == "Ex Via Uno 1"
    assert attrs["condition"] == "Degrado/Inutilizzo"
    assert attrs["panoId"] == "pano" and attrs["zona"] == "1" and attrs["category"] == "privato"
    assert attrs["ownership_assumed"] is True and attrs["ownership_assumed_value"] == "private"
    assert "added_by" not in attrs
    assert frame.loc["R002", "status"] == "regeneration"
    assert json.loads(frame.loc["A005", "attributes"])["ownership_assumed_value"] == "public"  # 'Pubblico', capital P
    assert result.frame["ownership"].isna().all()
    assert "ownership_assumed" not in json.loads(frame.loc["A011", "attributes"])  # 'rurale' says nothing
    assert result.reference_date == dt.date(2016, 1, 1)
    assert result.licence is None and "non indicata" in vacant_buildings.SOURCE.licence
    assert result.origin is None  # a fixture, not the known copy of scandaglio/molo

    # The two added yards share name and address but lie kilometres apart: both kept, keys stable.
    added = result.frame[result.frame["source_key"].str.startswith("molo-")]
    assert len(added) == 2
    assert set(added["category"]) == {"scalo_ferroviario"}
    assert added["status"].isna().all()  # 'Semi utilizzo' and 'Utilizzato': no clear status
    added_attrs = [json.loads(a) for a in added["attributes"]]
    assert {a["added_by"] for a in added_attrs} == {"scandaglio/PianoTerra"}
    assert {a["ownership_assumed_value"] for a in added_attrs} == {"public"}
    assert added["name"].str.contains(r"\(Scalo Sud\)").sum() == 1
    assert set(added["parent_id"]) == {MUNICIPIO[22], MUNICIPIO[61]}  # zona 10 ignored, position used
    assert any("stesso nome e indirizzo della riga 3" in r for r in reasons(result, "warning")[4])
    assert any("nessun elenco ufficiale" in n for n in result.notes)
    again = vacant_buildings.SOURCE.load(path, ctx)
    assert sorted(again.frame["source_key"]) == sorted(result.frame["source_key"])

    rejected = reasons(result, "rejected")
    assert set(rejected) == {6, 7, 8, 10}
    assert "stesso id della riga 1" in rejected[6][0]
    assert "stesso nome e indirizzo della riga 1" in rejected[7][0]
    assert "fuori dal territorio Comune di Milano" in rejected[8][0]
    assert "né coordinate né NIL/Municipio" in rejected[10][0]  # zona 10 is not a Municipio
    # No position, zona 3: placed in Municipio 3 only.
    a9 = frame.loc["A009"]
    assert (a9["assignment"], a9["parent_id"]) == ("parent_only", 3) and pd_isna(a9["district_id"])
    # A polygon instead of a point: an interior point is used, with a warning.
    assert frame.loc["A011", "district_id"] == 22
    assert any("invece di un punto" in r for r in reasons(result, "warning")[11])
    assert any(n.startswith("3 luoghi aggiunti dal collettivo") for n in result.notes)


def pd_isna(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value) in ("<NA>", "nan")


def test_vacant_buildings_declared_projected_crs(tmp_path: Path, ctx: BuildContext) -> None:
    x, y = TO_UTM.transform(*SEED[1])
    doc = {"type": "FeatureCollection",
           "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32632"}},
           "features": [point_feature(place_props("A001", "Via Uno 1"), x, y)]}
    result = vacant_buildings.SOURCE.load(write_json(tmp_path / "edifici_degrado.geojson", doc), ctx)
    assert result.crs is not None and result.crs.startswith("EPSG:32632")
    row = result.frame.iloc[0]
    assert row["lon"] == pytest.approx(SEED[1][0], abs=1e-6) and row["district_id"] == 1


def test_vacant_buildings_empty_and_malformed(tmp_path: Path, ctx: BuildContext) -> None:
    empty = tmp_path / "scandaglio" / "places.json"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match=r"places\.json.*vuoto"):
        vacant_buildings.SOURCE.load(empty, ctx)
    no_features = write_json(tmp_path / "edifici_abbandonati.json", {"type": "FeatureCollection", "features": []})
    with pytest.raises(SourceError, match="edifici_abbandonati.json.*non contiene elementi"):
        vacant_buildings.SOURCE.load(no_features, ctx)
    broken = tmp_path / "abbandonati.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(SourceError, match="abbandonati.geojson.*JSON non leggibile"):
        vacant_buildings.SOURCE.load(broken, ctx)


def test_vacant_buildings_find(tmp_path: Path) -> None:
    write_json(tmp_path / "scandaglio-molo" / "places.json", {})
    write_json(tmp_path / "altro" / "places.json", {})  # not the list: another project's places
    write_json(tmp_path / "edifici_in_degrado.geojson", {})
    found = [p.relative_to(tmp_path).as_posix() for p in vacant_buildings.SOURCE.find(tmp_path)]
    assert found == ["scandaglio-molo/places.json", "edifici_in_degrado.geojson"]


def real_context(real_dir: Path) -> BuildContext:
    """The real NIL (ds964) and Municipi (ds379), as the pipeline puts them in the context."""
    real_ctx = BuildContext()
    mun = municipi.SOURCE.load(real_dir / "comune-milano-municipi" / "Municipi.shp", real_ctx).frame
    nil_frame = nil.SOURCE.load(real_dir / "comune-milano-nil" / "NIL_WM.zip", real_ctx).frame
    mun = mun[["id", "name", "geometry"]].copy()
    fine = nil_frame[["id", "name", "geometry"]].copy()
    fine["parent_id"] = geo.parent_by_overlap(nil_frame, mun).to_numpy()
    return BuildContext.with_areas(fine, mun)


@pytest.mark.real
def test_real_places_json(real_dir: Path) -> None:
    """places.json alone (no official list in the context): every place loads."""
    places = real_dir / "scandaglio-molo" / "places.json"
    real_ctx = real_context(real_dir)
    assert vacant_buildings.SOURCE.find(real_dir) == [places]
    result = vacant_buildings.SOURCE.load(places, real_ctx)
    frame = result.frame
    assert result.rows_read == 192
    assert len(frame) + result.rows_rejected == 192
    keys = frame["source_key"]
    assert keys.is_unique
    assert keys.str.match(r"^A\d+$").sum() == 163
    assert keys.str.match(r"^R\d+$").sum() == 17
    assert keys.str.startswith("molo-").sum() == 12
    assert (frame.loc[keys.str.startswith("R"), "status"] == "regeneration").all()
    assert (frame["status"] == "regeneration").sum() == 17
    assert (frame.loc[keys.str.startswith("A"), "status"] == "degraded").all()
    assert frame["district_id"].notna().all() and frame["parent_id"].between(1, 9).all()
    assert (frame["assignment"] == "point_in_polygon").all()
    # Lambrate and Rogoredo yards are both filed under "Piazza Enrico Bottini": both kept.
    assert (frame["address"] == "Piazza Enrico Bottini").sum() == 2
    # Ownership is never set from the collective's category; the assumption stays in the attributes.
    assert frame["ownership"].isna().all()
    assumed = [json.loads(a).get("ownership_assumed_value") for a in frame["attributes"]]
    assert sum(a == "public" for a in assumed) == 19 and sum(a == "private" for a in assumed) == 16
    added = frame[keys.str.startswith("molo-")]
    assert set(added["category"]) == {"scalo_ferroviario", "caserma"}
    assert (added["status"] == "vacant").sum() == 1 and added["status"].isna().sum() == 11  # only Romana 'Inutilizzato'
    assert set(frame["category"]) <= set(FORMER_USES) and frame["category"].notna().all()
    assert result.reference_date == dt.date(2016, 1, 1) and result.origin is not None
    assert "scandaglio/molo" in result.origin


# ----------------------------------------------------------------------------------- confiscated

DS147_HEADER = ("UNITA_IMMOBILIARE;TIPOLOGIA;CONSISTENZA;INDIRIZZO;MUNICIPIO;FOGLIO;MAPPALE;SUBALTERNO;"
                "TIPOLOGIA_DESTINAZIONE;UTILIZZAZIONE;ENTE_ASSEGNATARIO;NOTE")
DS147_ROWS = [
    "1;Appartamento;85 mq;Via Padova 10;2;123;45;6;Sociale;Housing sociale;Cooperativa Società Aperta;",
    "2;Box;3 vani;Via Padova 10;2;123;45;7;Sociale;Non utilizzato;;",
    "3;Negozio;45;Viale Monza 1;Municipio 9;200;10;1;Sociale;In corso di assegnazione;;",
    "4;Appartamento;mq 60,5;Via Lorenteggio 5;12;300;11;2;Istituzionale;;;municipio errato",
    "5;Magazzino;;Via Novara 3;;301;12;3;Sociale;;;",
    "1;Appartamento;85 mq;Via Padova 10;2;123;45;6;Sociale;Housing sociale;Cooperativa Società Aperta;",
    "7;Terreno;1.200 mq;Via dei Campi;7;400;13.0;;Sociale;Orto sociale;Associazione Verde;",
]


def write_ds147(path: Path, rows: list[str] = DS147_ROWS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join([DS147_HEADER, *rows]) + "\r\n").encode("cp1252"))
    return path


def test_confiscated_parent_only(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_ds147(tmp_path / "ds147_elenco-beni-immobili-confiscati-01_2026.csv")
    result = confiscated.SOURCE.load(path, ctx)
    frame = result.frame
    assert result.encoding == "cp1252" and result.trust == "official"
    assert result.rows_read == 7 and len(frame) + result.rows_rejected == 7
    assert (frame["assignment"] == "parent_only").all()
    assert frame["district_id"].isna().all() and frame["lon"].isna().all() and frame["lat"].isna().all()
    assert (frame["ownership"] == "public").all()
    assert any("nessuna coordinata: assegnati al solo Municipio" in n for n in result.notes)

    by_key = frame.set_index("source_key")
    first = by_key.loc["fg123-map45-sub6-u1"]
    assert (first["parent_id"], first["category"], first["status"]) == (2, "Appartamento", "assigned")
    assert first["area_m2"] == 85.0
    assert json.loads(first["attributes"])["ente_assegnatario"] == "Cooperativa Società Aperta"  # cp1252 decoded
    box = by_key.loc["fg123-map45-sub7-u2"]
    assert box["status"] == "vacant" and pd_isna(box["area_m2"])  # "3 vani" is not m²
    assert json.loads(box["attributes"])["consistenza"] == "3 vani"
    shop = by_key.loc["fg200-map10-sub1-u3"]
    assert shop["parent_id"] == 9 and pd_isna(shop["status"]) and pd_isna(shop["area_m2"])  # bare "45"
    land = by_key.loc["fg400-map13-sub--u7"]
    assert land["area_m2"] == 1200.0 and land["status"] == "assigned"
    # Two units at the same address are two assets, not duplicates.
    assert (frame["address"] == "Via Padova 10").sum() == 2

    assert result.reference_date == dt.date(2026, 1, 31)  # edition 01_2026 in the name: last day of January
    assert any("edizione 01/2026 indicata nel nome del file" in n for n in result.notes)
    assert result.origin is None  # not the known copy

    rejected = reasons(result, "rejected")
    assert set(rejected) == {4, 5, 6}
    assert "municipio '12' non valido" in rejected[4][0]
    assert "municipio mancante" in rejected[5][0]
    assert "duplicato: stesso id della riga 1" in rejected[6][0]


def test_confiscated_errors_and_find(tmp_path: Path, ctx: BuildContext) -> None:
    empty = tmp_path / "ds147_vuoto.csv"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match=r"ds147_vuoto\.csv.*vuoto"):
        confiscated.SOURCE.load(empty, ctx)
    bad = write_ds147(tmp_path / "ds147_tutti_errati.csv", ["1;Box;;Via X;99;1;2;3;Sociale;;;"])
    with pytest.raises(SourceError, match="ds147_tutti_errati.csv.*nessuna riga utilizzabile"):
        confiscated.SOURCE.load(bad, ctx)
    no_mun = tmp_path / "beni_confiscati.csv"
    no_mun.write_text("tipologia;indirizzo\nBox;Via X\n", encoding="utf-8")
    with pytest.raises(SourceError, match="manca la colonna 'municipio'"):
        confiscated.SOURCE.load(no_mun, ctx)
    older = write_ds147(tmp_path / "raw" / "ds147_elenco-beni-immobili-confiscati-06_2025.csv")
    newer = write_ds147(tmp_path / "raw" / "ds147_elenco-beni-immobili-confiscati-01_2026.csv")
    renamed = write_ds147(tmp_path / "raw" / "export_portale.csv")  # recognised by its header
    other = tmp_path / "raw" / "confiscati_statistiche.csv"  # the name matches, the content does not
    other.write_text("anno;numero_beni\n2025;12\n", encoding="utf-8")
    assert confiscated.SOURCE.find(tmp_path / "raw") == [newer, older, renamed]


def test_confiscated_reference_date_from_periodo(tmp_path: Path) -> None:
    ref, notes = confiscated.reference_date(tmp_path / "beni_confiscati.csv", ["marzo 2026", "marzo 2026", None])
    assert ref == dt.date(2026, 3, 31) and "colonna 'periodo'" in notes[0]
    ref, notes = confiscated.reference_date(tmp_path / "ds147-03_2026.csv", ["febbraio 2026"])
    assert ref == dt.date(2026, 3, 31) and any("diverso dall'edizione" in n for n in notes)
    ref, notes = confiscated.reference_date(tmp_path / "beni_confiscati.csv", ["", "n.d."])
    assert ref is None and "reference_date vuota" in notes[0]


@pytest.mark.real
def test_real_ds147_march_2026(real_dir: Path) -> None:
    """The March 2026 edition: 267 rows, ';' and doubled quotes inside quoted cells, no coordinates."""
    path = real_dir / "comune-milano-ds147" / "ds147_elenco-beni-immobili-confiscati-03_2026.csv"
    assert confiscated.SOURCE.find(real_dir) == [path]
    result = confiscated.SOURCE.load(path, real_context(real_dir))
    frame = result.frame
    assert result.rows_read == 267 and len(frame) == 267 and result.rows_rejected == 0
    assert not [r for r in result.rejects if "numero di campi" in r.reason]  # no ragged row
    assert result.encoding == "utf-8" and result.file_format == "csv sep=';'"
    assert (frame["assignment"] == "parent_only").all() and frame["district_id"].isna().all()
    assert frame["parent_id"].value_counts().sort_index().to_dict() == {1: 12, 2: 41, 3: 44, 4: 18, 5: 32, 6: 27,
                                                                        7: 17, 8: 25, 9: 51}
    assert frame["source_key"].is_unique
    assert result.reference_date == dt.date(2026, 3, 31)
    assert any("la colonna 'periodo' conferma l'edizione" in n for n in result.notes)
    assert result.origin is not None and "tommif13/test" in result.origin
    attrs = [json.loads(a) for a in frame["attributes"]]
    assert {a.get("periodo") for a in attrs} == {"marzo 2026"}  # the last column is intact in every row
    first = attrs[0]  # doubled quotes inside a quoted cell, read back as one quote
    assert first["utilizzazione"].startswith('Progetto: Casa Chiaravalle, da luogo per uno a luogo per tutti". ')
    with_semicolon = [a for a in attrs if any(";" in str(v) for v in a.values())]
    assert len(with_semicolon) == 1  # the one cell with ';' inside quotes stays one cell
    assert (frame["status"] == "assigned").sum() == 132


# --------------------------------------------------------------------------------- aree dismesse

def aree_features() -> list[dict[str, Any]]:
    return [
        polygon_feature({"ID_AREA": 1, "DENOMINAZIONE": "Ex Fabbrica", "COMUNE": "MILANO", "SUPERFICIE": 10000},
                        utm_ring(*SEED[1])),                                                          # 1 ok
        polygon_feature({"ID_AREA": 2, "DENOMINAZIONE": "Ex Tintoria", "COMUNE": "MILANO", "SUPERFICIE": 12500},
                        utm_ring(*SEED[27])),                                                         # 2 area off
        polygon_feature({"ID_AREA": 3, "DENOMINAZIONE": "Ex Officina", "COMUNE": "MILANO"},
                        utm_ring(*SEED[22], bowtie=True)),                                            # 3 bow-tie
        polygon_feature({"ID_AREA": 4, "DENOMINAZIONE": "Ex Cotonificio", "COMUNE": "BERGAMO"},
                        utm_ring(*BERGAMO)),                                                          # 4 outside
        polygon_feature({"ID_AREA": 1, "DENOMINAZIONE": "Ex Fabbrica bis", "COMUNE": "MILANO"},
                        utm_ring(*SEED[61])),                                                         # 5 dup id
        polygon_feature({"ID_AREA": 6, "DENOMINAZIONE": "Copia", "COMUNE": "MILANO"},
                        utm_ring(*SEED[27])),                                                         # 6 dup geometry
        {"type": "Feature", "properties": {"ID_AREA": 7, "DENOMINAZIONE": "Senza geometria"}, "geometry": None},  # 7
    ]


def test_aree_dismesse_utm_without_crs(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_json(tmp_path / "aree_dismesse_lombardia.geojson",
                      {"type": "FeatureCollection", "features": aree_features()})
    assert "crs" not in json.loads(path.read_text())
    result = aree_dismesse.SOURCE.load(path, ctx)
    assert result.crs is not None and result.crs.startswith("EPSG:7791")
    assert any("CRS assente" in n and "UTM 32N" in n for n in result.notes)
    assert result.rows_read == 7 and len(result.frame) + result.rows_rejected == 7
    frame = result.frame.set_index("source_key")
    assert sorted(frame.index) == ["1", "2", "3"]

    first = frame.loc["1"]
    assert first["area_m2"] == pytest.approx(10_000, rel=1e-3)
    assert (first["district_id"], first["parent_id"], first["assignment"]) == (1, MUNICIPIO[1], "point_in_polygon")
    assert (first["name"], first["status"]) == ("Ex Fabbrica", "vacant")
    polygon = shapely.from_wkb(first["geom_wkb"])
    assert polygon.geom_type == "Polygon" and polygon.contains(shapely.Point(first["lon"], first["lat"]))
    attrs = json.loads(first["attributes"])
    assert attrs["COMUNE"] == "MILANO" and attrs["area_m2_file"] == 10000

    assert frame.loc["2", "area_m2"] == pytest.approx(10_000, rel=1e-3)  # computed wins over the file's 12 500
    assert any("diversa da quella calcolata" in r for r in reasons(result, "warning")[2])
    bowtie = frame.loc["3"]
    assert bowtie["area_m2"] == pytest.approx(5_000, rel=1e-2) and bowtie["district_id"] == 22
    assert shapely.from_wkb(bowtie["geom_wkb"]).is_valid
    assert any("riparato con make_valid" in r for r in reasons(result, "repaired")[3])
    assert result.rows_repaired == 1

    rejected = reasons(result, "rejected")
    assert set(rejected) == {4, 5, 6, 7}
    assert "fuori dal territorio Comune di Milano" in rejected[4][0]
    assert "stesso id della riga 1" in rejected[5][0]
    assert "stessa geometria della riga 2" in rejected[6][0]
    assert "geometria assente" in rejected[7][0]


def test_aree_dismesse_milan_extent_declared_crs(tmp_path: Path, ctx: BuildContext) -> None:
    """A Milan-only export in Monte Mario (EPSG:3003, declared): straddling and nearby areas."""
    to_3003 = Transformer.from_crs(4326, 3003, always_xy=True)

    def ring_3003(lon: float, lat: float, half: float) -> list[list[list[float]]]:
        x, y = to_3003.transform(lon, lat)
        pts = [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half), (x - half, y - half)]
        return [[list(p) for p in pts]]

    nil_union = shapely.union_all(ctx.boundaries().geometry.to_numpy())
    edge_lon, edge_lat = 9.16, nil_union.bounds[3]  # on the northern edge of the (demo) Comune
    while not nil_union.contains(shapely.Point(edge_lon, edge_lat)):
        edge_lat -= 0.0005
    doc = {"type": "FeatureCollection",
           "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3003"}},
           "features": [
               {"type": "Feature", "properties": {"CODICE": "A-1", "NOME": "Area centrale", "STATO": "Dismessa",
                                                  "PROPRIETA": "Privata"},
                "geometry": {"type": "Polygon", "coordinates": ring_3003(*SEED[1], 40)}},
               {"type": "Feature", "properties": {"CODICE": "A-2", "NOME": "Area di confine", "STATO": "In riqualificazione"},
                "geometry": {"type": "Polygon", "coordinates": ring_3003(edge_lon, edge_lat, 400)}},
               {"type": "Feature", "properties": {"CODICE": "A-3", "NOME": "Area a Monza"},
                "geometry": {"type": "Polygon", "coordinates": ring_3003(*MONZA, 40)}},
           ]}
    result = aree_dismesse.SOURCE.load(write_json(tmp_path / "AreeDismesse_milano.json", doc), ctx)
    assert result.crs is not None and result.crs.startswith("EPSG:3003")
    frame = result.frame.set_index("source_key")
    assert sorted(frame.index) == ["A-1", "A-2"]
    assert (frame.loc["A-1", "status"], frame.loc["A-1", "ownership"]) == ("vacant", "private")
    assert frame.loc["A-1", "area_m2"] == pytest.approx(6_400, rel=5e-3)
    edge = frame.loc["A-2"]
    assert edge["status"] == "regeneration" and edge["district_id"] > 0
    assert nil_union.contains(shapely.Point(edge["lon"], edge["lat"]))  # point from the part inside
    assert 0 < json.loads(edge["attributes"])["quota_nel_comune"] < 1
    assert any("solo in parte nel territorio" in r for r in reasons(result, "warning")[2])
    assert "fuori dal territorio Comune di Milano" in reasons(result, "rejected")[3][0]


def test_aree_dismesse_errors(tmp_path: Path, ctx: BuildContext) -> None:
    empty = tmp_path / "aree_dismesse.geojson"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match=r"aree_dismesse\.geojson.*vuoto"):
        aree_dismesse.SOURCE.load(empty, ctx)
    only_outside = write_json(tmp_path / "aree_dismesse_bergamo.geojson", {"type": "FeatureCollection", "features": [
        polygon_feature({"ID": 1}, utm_ring(*BERGAMO))]})
    with pytest.raises(NotInTerritory, match="aree_dismesse_bergamo.geojson.*nessun punto nel territorio Comune di Milano"):
        aree_dismesse.SOURCE.load(only_outside, ctx)
    far_away = write_json(tmp_path / "aree_dismesse_roma.geojson", {"type": "FeatureCollection", "features": [
        polygon_feature({"ID": 1}, [[[12.49, 41.89], [12.50, 41.89], [12.50, 41.90], [12.49, 41.89]]])]})
    with pytest.raises(SourceError, match="aree_dismesse_roma.geojson.*non riconoscibili"):
        aree_dismesse.SOURCE.load(far_away, ctx)


def test_aree_dismesse_find(tmp_path: Path) -> None:
    for name in ("aree_dismesse.gml", "aree_dismesse.geojson", "AreeDismesse.json", "aree_verdi.geojson"):
        (tmp_path / name).write_text("{}", encoding="utf-8")
    assert [p.name for p in aree_dismesse.SOURCE.find(tmp_path)] == [
        "aree_dismesse.geojson", "AreeDismesse.json", "aree_dismesse.gml"]


# ------------------------------------------------------------------------------------ end to end

def test_build_end_to_end(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    nil_gdf, mun_gdf = demo_districts()
    gpd.GeoDataFrame({"ID_NIL": nil_gdf["id"], "NIL": nil_gdf["name"]}, geometry=nil_gdf.geometry.values,
                     crs=geo.WGS84).to_file(raw / "nil.geojson", driver="GeoJSON")
    gpd.GeoDataFrame({"MUNICIPIO": mun_gdf["id"]}, geometry=mun_gdf.geometry.values,
                     crs=geo.WGS84).to_file(raw / "municipi.geojson", driver="GeoJSON")
    write_json(raw / "scandaglio-molo" / "places.json",
               {"type": "FeatureCollection", "features": synthetic_places()})
    write_ds147(raw / "ds147_elenco-beni-immobili-confiscati-01_2026.csv")
    write_json(raw / "aree_dismesse.geojson", {"type": "FeatureCollection", "features": aree_features()})

    wanted = {"municipi_boundaries", "nil_boundaries", "vacant_buildings", "confiscated", "aree_dismesse"}
    sources = [s for s in REGISTRY if s.source_id in wanted]
    assert {s.source_id for s in sources} == wanted  # all three are registered
    warehouse = tmp_path / "warehouse.duckdb"
    from etl.pipeline import build

    report = build(raw, warehouse, sources=sources, progress=lambda m: None)
    assert {s.source_id for s in report.summaries if s.status == "loaded"} == wanted

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        counts = dict(con.sql("SELECT source_id, count(*) FROM places WHERE theme = 'vacant' "
                              "GROUP BY source_id").fetchall())
        assert counts == {"vacant_buildings": 7, "confiscated": 4, "aree_dismesse": 3}
        lineage = {r[0]: r[1:] for r in con.sql(
            "SELECT source_id, trust, licence, rows_read, rows_loaded, rows_rejected, rows_repaired, notes "
            "FROM sources WHERE source_id IN ('vacant_buildings', 'confiscated', 'aree_dismesse')").fetchall()}
        assert lineage["vacant_buildings"][0] == "derived" and "GPL-3.0" in lineage["vacant_buildings"][1]
        assert lineage["confiscated"][:2] == ("official", "CC BY 4.0 – Comune di Milano")
        assert lineage["aree_dismesse"][0] == "official"
        for source_id, (_, _, read, loaded, rejected, _, _) in lineage.items():
            assert loaded + rejected == read, source_id
        assert lineage["aree_dismesse"][5] == 1  # the bow-tie
        assert "nessuna coordinata: assegnati al solo Municipio" in lineage["confiscated"][6]
        # Every place has a Municipio; points have a NIL; confiscated assets only a Municipio.
        assert con.sql("SELECT count(*) FROM places WHERE parent_id IS NULL").fetchall() == [(0,)]
        assert con.sql("SELECT count(*) FROM places WHERE source_id = 'confiscated' "
                       "AND (assignment <> 'parent_only' OR district_id IS NOT NULL)").fetchall() == [(0,)]
        assert con.sql("SELECT count(*) FROM places WHERE source_id = 'aree_dismesse' "
                       "AND (geom_wkb IS NULL OR area_m2 IS NULL OR district_id IS NULL)").fetchall() == [(0,)]
        statuses = dict(con.sql("SELECT status, count(*) FROM places WHERE source_id = 'vacant_buildings' "
                                "GROUP BY status").fetchall())
        assert statuses == {"degraded": 4, "regeneration": 1, None: 2}  # the two added yards: no clear status
        refs = dict(con.sql("SELECT source_id, reference_date FROM sources WHERE source_id IN "
                            "('vacant_buildings', 'confiscated')").fetchall())
        assert refs == {"vacant_buildings": dt.date(2016, 1, 1), "confiscated": dt.date(2026, 1, 31)}
        outside = con.sql("SELECT count(*) FROM rejects WHERE action = 'rejected' "
                          "AND reason LIKE '%fuori dal territorio Comune di Milano%'").fetchall()[0][0]
        assert outside == 2  # one building point, one regional polygon
    finally:
        con.close()


# ------------------------------------------------------------------------------ territories

def _territory(tmp_path: Path, levels: str, name: str = "Territorio di prova"):  # noqa: ANN202
    """A profile written by the test (`levels`: TOML [[levels]] blocks); nothing in the code names it."""
    from etl.territory import parse_profile

    path = tmp_path / "prova.toml"
    path.write_text(f'id = "prova"\nversion = "t"\nname_it = "{name}"\nname_en = "Test"\n'
                    f'[centre]\nlon = 9.19\nlat = 45.46\nname_it = "c"\nname_en = "c"\n\n{levels}', encoding="utf-8")
    return parse_profile(path)


def _level(lid: str, label: str) -> str:
    return (f'[[levels]]\nid = "{lid}"\nboundary_source = "areas_geojson"\nlabel_it = "{label}"\nlabel_en = "{label}"\n'
            f'plural_it = "{label}"\nplural_en = "{label}"\n\n')


def test_confiscated_municipio_ids_come_from_the_context(tmp_path: Path, ctx: BuildContext) -> None:
    """Valid Municipi are the loaded ones (here 2 and 7 only), not a fixed 1-9."""
    mun = ctx.boundaries("municipio")
    assert mun is not None
    two = BuildContext.with_areas(ctx.boundaries(), mun[mun["id"].isin([2, 7])].copy())
    result = confiscated.SOURCE.load(write_ds147(tmp_path / "ds147_elenco-beni-immobili-confiscati-01_2026.csv"), two)
    assert sorted(set(result.frame["parent_id"])) == [2, 7]
    rejected = reasons(result, "rejected")
    assert "municipio 'Municipio 9' non valido (atteso uno di 2, 7)" in rejected[3][0]
    assert "municipio '12' non valido (atteso uno di 2, 7)" in rejected[4][0]


def test_confiscated_in_a_territory_without_municipi(tmp_path: Path, ctx: BuildContext) -> None:
    assert confiscated.SOURCE.level == "municipio"  # the pipeline skips it where the level does not exist
    profile = _territory(tmp_path, _level("comune", "Comune"))
    comuni = ctx.boundaries()
    assert comuni is not None
    one = BuildContext.with_areas(comuni[["id", "name", "geometry"]].copy(), territory=profile)
    with pytest.raises(SourceError, match="Territorio di prova non ha il livello 'municipio'"):
        confiscated.SOURCE.load(write_ds147(tmp_path / "ds147_x.csv"), one)


def test_vacant_buildings_zona_ignored_without_municipi(tmp_path: Path, ctx: BuildContext) -> None:
    """The list's zona is Milan's Municipio: in a territory of other areas the position alone places each building."""
    profile = _territory(tmp_path, _level("comune", "Comune"))
    fine = ctx.boundaries()
    assert fine is not None
    one = BuildContext.with_areas(fine[["id", "name", "geometry"]].copy(), territory=profile)
    path = write_json(tmp_path / "scandaglio-molo" / "places.json",
                      {"type": "FeatureCollection", "features": synthetic_places()})
    result = vacant_buildings.SOURCE.load(path, one)
    frame = result.frame.set_index("source_key")
    assert frame.loc["R002", "district_id"] == 27 and pd_isna(frame.loc["R002", "parent_id"])
    assert (result.frame["assignment"] == "point_in_polygon").all() and result.frame["parent_id"].isna().all()
    assert not any("zona nel file" in r.reason for r in result.rejects)
    rejected = reasons(result, "rejected")
    assert rejected[8] == [f"punto fuori dal territorio Territorio di prova: {MONZA[0]:.5f}, {MONZA[1]:.5f}"]
    assert "né coordinate né Comune validi" in rejected[9][0]  # zona 3 is not an id of this territory


def test_aree_dismesse_in_a_territory_of_comuni(tmp_path: Path, ctx: BuildContext) -> None:
    """The regional layer is clipped to any territory: messages name it and its level, the 'comune' field is
    checked against the names of its areas."""
    profile = _territory(tmp_path, _level("comune", "Comune"), name="Valle di prova")
    fine = ctx.boundaries()
    assert fine is not None
    one = BuildContext.with_areas(fine[["id", "name", "geometry"]].copy(), territory=profile)
    first = str(fine.set_index("id").loc[1, "name"])
    doc = {"type": "FeatureCollection", "features": [
        polygon_feature({"ID": 1, "COMUNE": first}, utm_ring(*SEED[1])),
        polygon_feature({"ID": 2, "COMUNE": "Altrove"}, utm_ring(*SEED[27])),
        polygon_feature({"ID": 3}, utm_ring(*BERGAMO))]}
    result = aree_dismesse.SOURCE.load(write_json(tmp_path / "aree_dismesse.geojson", doc), one)
    assert sorted(result.frame["source_key"]) == ["1", "2"] and result.frame["parent_id"].isna().all()
    assert reasons(result, "rejected")[3] == [
        "area fuori dal territorio Valle di prova (il livello regionale copre tutta la Lombardia: fuori ambito)"]
    assert reasons(result, "warning") == {
        2: ["comune nel file «Altrove» ma l'area tocca il territorio Valle di prova: tenuta"]}
    assert any("toccano il territorio Valle di prova" in n for n in result.notes)
    assert any("Comune per punto in poligono" in n for n in result.notes)
