"""Point sources: FabLab Milano (ds744), qualified coworking list, configurable census files.

Fixtures are tiny files written by the tests in the dialects the Comune publishes
(';' + cp1252 + decimal commas; ',' + UTF-8 with BOM; XLSX), read against a BuildContext
whose NIL are three boxes around central Milan.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from etl.base import BuildContext, LoadResult, SourceError
from etl.sources import census, coworking, makerspaces

# NIL 1 (Municipio 1) west, NIL 2 (Municipio 3) east, NIL 3 (Municipio 9) north.
BOXES = {1: (9.15, 45.44, 9.20, 45.48), 2: (9.20, 45.44, 9.25, 45.48), 3: (9.15, 45.48, 9.25, 45.52)}
MUNICIPIO = {1: 1, 2: 3, 3: 9}


@pytest.fixture
def ctx() -> BuildContext:
    nil = gpd.GeoDataFrame(
        {"id": list(BOXES), "name": ["Uno", "Due", "Tre"], "parent_id": [MUNICIPIO[i] for i in BOXES]},
        geometry=[shapely.box(*b) for b in BOXES.values()], crs="EPSG:4326",
    )
    return BuildContext.with_areas(nil)


@pytest.fixture(autouse=True)
def no_census_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Each test starts with an empty census config of its own (never the shipped one)."""
    cfg = tmp_path / "census_empty.toml"
    cfg.write_text("", encoding="utf-8")
    monkeypatch.setenv(census.CONFIG_ENV, str(cfg))
    return cfg


def write_csv(path: Path, rows: list[list[str]], sep: str, encoding: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\r\n".join(sep.join(cells) for cells in rows) + "\r\n"
    path.write_bytes(text.encode(encoding))
    return path


FABLAB_HEADER = ["NOMINATIVO", "INDIRIZZO", "EMAIL", "MQ COMPLESSIVI", "MACCHINE", "CORSI FORMAZIONE E USO MACCHINE",
                 "ACCESSIBILITÀ", "CAP", "MUNICIPIO", "ID_NIL", "NIL", "LONG_X_4326", "LAT_Y_4326", "Location"]


def fablab_csv(path: Path) -> Path:
    """ds744 as the portal publishes it: ';', cp1252, decimal commas, upper-case headers."""
    rows = [
        FABLAB_HEADER,
        ["Opendot", "Via Tortona 31", "info@x.it", "1.234,5", "Laser, stampanti 3D", "sì", "sì", "20144",
         "1", "1", "Uno", "9,1700", "45,4600", "(45.46, 9.17)"],
        ["Lab Invertito", "Viale Monza 10", "", "200 mq", "CNC", "", "no", "20127", "3", "2", "Due",
         "45,4600", "9,2200", ""],                                                    # lon/lat swapped
        ["Lab Lontano", "Via Po 1", "", "50", "", "", "", "", "", "", "", "9,3000", "45,4500", ""],  # outside the NIL
        ["OPENDOT", "via Tortona, 31", "", "10", "", "", "", "", "", "", "", "9,1710", "45,4610", ""],  # dup name+addr
        ["Lab Discorde", "Via Savona 5", "", "circa 80", "", "", "", "", "1", "2", "Due", "9,1600", "45,4700", ""],
        ["Lab Senza Punto", "Via Padova 2", "", "", "", "", "", "", "9", "3", "Tre", "", "", ""],  # only id_nil
        ["Lab Solo Location", "Via Farini 9", "", "", "", "", "", "", "", "", "", "", "", "(45.50, 9.20)"],
    ]
    return write_csv(path, rows, ";", "cp1252")


COWORKING_HEADER = ["SPAZIO", "TIPOLOGIA", "SEDE", "E-MAIL", "NUMERO POSTAZIONI", "ACCESSIBILITA", "SERVIZI",
                    "DESCRIZIONE BREVE", "ID", "CAP", "MUNICIPIO", "ID_NIL", "NIL", "LONG_X_4326", "LAT_Y_4326",
                    "Location"]


def coworking_csv(path: Path) -> Path:
    """The coworking list as a ',' UTF-8 file with BOM, quoted cells holding commas."""
    rows = [
        COWORKING_HEADER,
        ["Cowo Uno", "Coworking", "Via Tortona 1", "a@b.it", "20-30", "Sì", '"Wi-Fi, sale riunioni"',
         '"Spazio luminoso, vicino al Naviglio"', "101", "20144", "1", "1", "Uno", "9.1650", "45.4550", ""],
        ["Hub Due", "Incubatore", "Via Ripamonti 2", "", "45", "No", "Stampanti", "", "102", "", "3", "2", "Due",
         "9.2200", "45.4700", ""],
        ["Hub Due bis", "Incubatore", "Via Altra 3", "", "12", "", "", "", "102", "", "", "", "", "9.2300",
         "45.4650", ""],                                                               # duplicate ID 102
        ["Cowo Tre", "Coworking", "Via Farini 3", "", "n.d.", "", "", "", "103", "", "", "", "", "", "",
         '"(45.5000, 9.2000)"'],                                                         # location only
    ]
    return write_csv(path, rows, ",", "utf-8-sig")


def reasons(result: LoadResult, action: str | None = None) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for r in result.rejects:
        if action is None or r.action == action:
            out.setdefault(r.row_number or 0, []).append(r.reason)
    return out


def row(result: LoadResult, name: str) -> dict:
    hits = result.frame[result.frame["name"] == name]
    assert len(hits) == 1, f"{name}: {len(hits)} righe"
    return hits.iloc[0].to_dict()


# --------------------------------------------------------------------------- makerspaces

def test_fablab_portal_csv_cp1252(tmp_path: Path, ctx: BuildContext) -> None:
    result = makerspaces.SOURCE.load(fablab_csv(tmp_path / "ds744_fablab_milano.csv"), ctx)

    assert result.table == "places" and result.trust == "official"
    assert result.encoding == "cp1252" and result.file_format == "csv sep=';'"
    assert result.rows_read == 7
    assert set(result.frame["name"]) == {"Opendot", "Lab Invertito", "Lab Discorde", "Lab Senza Punto",
                                         "Lab Solo Location"}
    assert (result.frame["theme"] == "makerspace").all()

    opendot = row(result, "Opendot")
    assert (opendot["district_id"], opendot["parent_id"], opendot["assignment"]) == (1, 1, "point_in_polygon")
    assert opendot["area_m2"] == pytest.approx(1234.5)  # '1.234,5'
    assert opendot["address"] == "Via Tortona 31"
    assert opendot["source_key"] == "opendot|tortona 31"  # no id column: normalised name + address
    attrs = json.loads(opendot["attributes"])
    assert attrs["macchine"] == "Laser, stampanti 3D" and attrs["accessibilita"] == "sì"
    assert attrs["corsi_formazione_e_uso_macchine"] == "sì" and attrs["email"] == "info@x.it"
    assert "nominativo" not in attrs and "long_x_4326" not in attrs and "location" not in attrs

    swapped = row(result, "Lab Invertito")
    assert (swapped["lon"], swapped["lat"]) == (pytest.approx(9.22), pytest.approx(45.46))
    assert (swapped["district_id"], swapped["parent_id"]) == (2, 3)
    assert swapped["area_m2"] == pytest.approx(200.0)  # '200 mq'
    assert reasons(result, "repaired")[2] == ["longitudine e latitudine invertite: scambiate"]

    rejected = reasons(result, "rejected")
    assert rejected[3][0].startswith("punto fuori dal territorio Comune di Milano: 9.30000, 45.45000")
    assert rejected[4] == ["duplicato: stesso nome e indirizzo della riga 1 (tenuta quella)"]
    assert result.rows_rejected == 2 and result.rows_repaired == 1

    discord = row(result, "Lab Discorde")
    assert (discord["district_id"], discord["assignment"]) == (1, "point_in_polygon")  # the geometry wins
    warnings = reasons(result, "warning")[5]
    assert any("NIL nel file (2) diverso da quello della posizione (1)" in w for w in warnings)
    assert any("'circa 80'" in w for w in warnings) and discord["area_m2"] == pytest.approx(80.0)

    no_point = row(result, "Lab Senza Punto")
    assert (no_point["district_id"], no_point["parent_id"], no_point["assignment"]) == (3, 9, "file_id")
    assert pd.isna(no_point["lon"])

    by_location = row(result, "Lab Solo Location")  # "(lat, lon)" text of the portal
    assert (by_location["lon"], by_location["lat"], by_location["district_id"]) == (pytest.approx(9.2), pytest.approx(45.5), 3)


def test_fablab_with_id_column_duplicate_id(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_csv(tmp_path / "fablab.csv", [
        ["ID", "NOMINATIVO", "INDIRIZZO", "LONG_X_4326", "LAT_Y_4326"],
        ["7", "Lab A", "Via A 1", "9,17", "45,46"],
        ["7", "Lab B", "Via B 2", "9,22", "45,46"],
    ], ";", "utf-8")
    result = makerspaces.SOURCE.load(path, ctx)
    assert result.frame["source_key"].tolist() == ["7"]
    assert reasons(result, "rejected") == {2: ["duplicato: stesso id della riga 1 (tenuta quella)"]}
    assert "chiave: colonna id" in result.notes


def test_fablab_missing_required_column(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_csv(tmp_path / "ds744_fablab_milano.csv", [
        ["NOMINATIVO", "CAP", "LONG_X_4326", "LAT_Y_4326"], ["Lab", "20100", "9,17", "45,46"],
    ], ";", "cp1252")
    with pytest.raises(SourceError) as err:
        makerspaces.SOURCE.load(path, ctx)
    message = str(err.value)
    assert "ds744_fablab_milano.csv" in message and "indirizzo" in message
    assert "colonne trovate: nominativo, cap, long_x_4326, lat_y_4326" in message


def test_fablab_without_any_location_column(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_csv(tmp_path / "fablab.csv", [["NOMINATIVO", "INDIRIZZO"], ["Lab", "Via A 1"]], ";", "utf-8")
    with pytest.raises(SourceError, match="nessuna colonna per collocare i luoghi"):
        makerspaces.SOURCE.load(path, ctx)


def test_wrong_separator_reported_with_columns(tmp_path: Path, ctx: BuildContext) -> None:
    path = tmp_path / "ds744_fablab_milano.csv"
    path.write_text("NOMINATIVO|INDIRIZZO\nLab|Via A\n", encoding="utf-8")  # read, but no lon/lat/NIL
    with pytest.raises(SourceError, match="fablab_milano.csv"):
        makerspaces.SOURCE.load(path, ctx)


@pytest.mark.parametrize("content", [b"", b"\r\n  \r\n", "NOMINATIVO;INDIRIZZO;ID_NIL\r\n".encode("cp1252")])
def test_fablab_empty_file(tmp_path: Path, ctx: BuildContext, content: bytes) -> None:
    path = tmp_path / "ds744_fablab_milano.csv"
    path.write_bytes(content)
    with pytest.raises(SourceError) as err:
        makerspaces.SOURCE.load(path, ctx)
    assert "ds744_fablab_milano.csv" in str(err.value)
    assert "vuoto" in str(err.value) or "nessuna riga di dati" in str(err.value)


def test_row_without_location_rejected_and_blank_rows_skipped(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_csv(tmp_path / "fablab.csv", [
        ["NOMINATIVO", "INDIRIZZO", "ID_NIL", "LONG_X_4326", "LAT_Y_4326"],
        ["Lab A", "Via A 1", "", "9,17", "45,46"],
        ["", "", "", "", ""],
        ["Lab Nessun Luogo", "Via B 2", "", "", ""],
        ["", "Via C 3", "1", "", ""],
    ], ";", "utf-8")
    result = makerspaces.SOURCE.load(path, ctx)
    assert result.rows_read == 3  # the blank row is not data
    assert any("righe completamente vuote" in n for n in result.notes)
    assert reasons(result, "rejected") == {3: ["né coordinate né NIL/Municipio validi: impossibile collocarlo"]}
    assert reasons(result, "warning") == {4: ["nome mancante: usato l'indirizzo come nome"]}
    assert row(result, "Via C 3")["assignment"] == "file_id"


# --------------------------------------------------------------------------- coworking

def test_coworking_utf8_bom_comma(tmp_path: Path, ctx: BuildContext) -> None:
    result = coworking.SOURCE.load(coworking_csv(tmp_path / "coworking__joined__f.csv"), ctx)

    assert result.trust == "official" and result.encoding == "utf-8" and result.file_format == "csv sep=','"
    assert result.frame["source_key"].tolist() == ["101", "102", "103"]
    assert (result.frame["theme"] == "coworking").all()

    uno = row(result, "Cowo Uno")
    assert (uno["category"], uno["address"], uno["seats"]) == ("Coworking", "Via Tortona 1", 20)
    assert (uno["district_id"], uno["parent_id"]) == (1, 1)
    attrs = json.loads(uno["attributes"])
    assert attrs["servizi"] == "Wi-Fi, sale riunioni" and attrs["accessibilita"] == "Sì"
    assert attrs["descrizione_breve"] == "Spazio luminoso, vicino al Naviglio"
    assert "spazio" not in attrs and "id" not in attrs

    due = row(result, "Hub Due")
    assert (due["seats"], due["category"], due["district_id"], due["parent_id"]) == (45, "Incubatore", 2, 3)
    tre = row(result, "Cowo Tre")
    assert pd.isna(tre["seats"])
    assert tre["district_id"] == 3

    warnings = reasons(result, "warning")
    assert warnings[1] == ["postazioni (numero_postazioni): intervallo '20-30': usato il limite inferiore (20)"]
    assert warnings[4] == ["postazioni (numero_postazioni): valore 'n.d.' non numerico: lasciato vuoto"]
    assert reasons(result, "rejected") == {3: ["duplicato: stesso id della riga 2 (tenuta quella)"]}


def test_coworking_missing_required_column(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_csv(tmp_path / "coworking.csv", [["ID", "SEDE", "ID_NIL"], ["1", "Via A", "1"]], ",", "utf-8-sig")
    with pytest.raises(SourceError) as err:
        coworking.SOURCE.load(path, ctx)
    assert "coworking.csv" in str(err.value) and "nome" in str(err.value)
    assert "colonne trovate: id, sede, id_nil" in str(err.value)


def test_coworking_header_only(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_csv(tmp_path / "coworking__joined__f.csv", [COWORKING_HEADER], ",", "utf-8-sig")
    with pytest.raises(SourceError, match="nessuna riga di dati"):
        coworking.SOURCE.load(path, ctx)


# --------------------------------------------------------------------------- find()

def test_find_recognises_official_file_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "raw"
    fablab_csv(raw / "comune" / "ds744_fablab_milano.csv")
    fablab_csv(raw / "old" / "FabLab_copia.csv")
    coworking_csv(raw / "coworking__joined__f.csv")
    write_csv(raw / "censimento_makerspace_2026.csv", [["Nome", "X"], ["a", "1"]], ";", "utf-8")
    write_csv(raw / "altro.csv", [["a"], ["1"]], ";", "utf-8")
    (raw / "ds744_fablab_milano.xlsx").write_bytes(b"")  # portal sources read CSV only
    (raw / "~$censimento_makerspace_x.xlsx").write_bytes(b"")  # Excel lock file

    cfg = tmp_path / "census.toml"
    cfg.write_text(CENSUS_TOML, encoding="utf-8")
    monkeypatch.setenv(census.CONFIG_ENV, str(cfg))

    found = makerspaces.SOURCE.find(raw)
    assert [p.name for p in found] == ["ds744_fablab_milano.csv", "FabLab_copia.csv"]  # official name first
    assert [p.name for p in coworking.SOURCE.find(raw)] == ["coworking__joined__f.csv"]
    assert [p.name for p in census.SOURCE.find(raw)] == ["censimento_makerspace_2026.csv"]


def test_census_file_not_taken_by_portal_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fablab_csv(tmp_path / "raw" / "censimento_makerspace_fablab.csv")
    cfg = tmp_path / "census.toml"
    cfg.write_text(CENSUS_TOML, encoding="utf-8")
    monkeypatch.setenv(census.CONFIG_ENV, str(cfg))
    assert makerspaces.SOURCE.find(tmp_path / "raw") == []
    assert [p.name for p in census.SOURCE.find(tmp_path / "raw")] == ["censimento_makerspace_fablab.csv"]


# --------------------------------------------------------------------------- census

CENSUS_TOML = """
[[census]]
id = "test_makerspace"
title = "Censimento di prova"
pattern = ["censimento_makerspace*.xlsx", "censimento_makerspace*.csv"]
theme = "makerspace"
trust = "derived"
licence = "CC BY 4.0 – prova"
sheet = "Elenco"
header_row = 2

[census.columns]
source_key = "Codice scheda"
name = ["Denominazione", "Nome"]
address = "Via / Piazza"
lon = "Longitudine"
lat = "Latitudine"
nil_id_file = "Quartiere"
area_m2 = "Superficie (mq)"
seats = "Posti"
category = "Tipo"
status = "Stato"
ownership = "Proprietà"

[census.values.status]
"Attivo" = "active"

[census.values.ownership]
"Fondazione Cariplo" = "private"

[[census]]
id = "test_vuoti_cremona"
pattern = "vuoti/*.csv"
theme = "vacant"
trust = "official"
crs = "EPSG:32632"

[census.columns]
name = "Denominazione"
lon = "X"
lat = "Y"
municipio_file = "Zona"
"""


def census_xlsx(path: Path) -> Path:
    """An official's spreadsheet: a title row, custom headers, a second sheet, typed cells."""
    wb = openpyxl.Workbook()
    first = wb.active
    first.title = "Note"
    first.append(["Questo foglio non è l'elenco"])
    ws = wb.create_sheet("Elenco")
    ws.append(["Censimento makerspace 2026 – Comune"])  # title row above the header
    ws.append(["Codice scheda", "Denominazione", "Via / Piazza", "Longitudine", "Latitudine", "Quartiere",
               "Superficie (mq)", "Posti", "Tipo", "Stato", "Proprietà", "Referente", "Note interne"])
    ws.append(["MK-01", "Officina Uno", "Via Tortona 31", 9.17, 45.46, 1, 120.5, 12, "FabLab", "Attivo",
               "Comunale", "Rossi", None])
    ws.append(["MK-02", "Officina Due", "Viale Monza 10", 9.22, 45.46, 2, "1.500", "10-15", "Makerspace",
               "Chiuso", "Fondazione Cariplo", None, "da verificare"])
    ws.append(["MK-03", "Officina Tre", "Via Padova 2", None, None, 3, None, None, "FabLab", None, "boh", None, None])
    ws.append(["MK-01", "Officina Quattro", "Via Savona 5", 9.16, 45.47, 1, None, None, None, None, "privata",
               None, None])
    ws.append([None] * 13)
    wb.save(path)
    return path


def test_census_xlsx_mapping_from_config(tmp_path: Path, ctx: BuildContext, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "census.toml"
    cfg.write_text(CENSUS_TOML, encoding="utf-8")
    monkeypatch.setenv(census.CONFIG_ENV, str(cfg))
    raw = tmp_path / "raw"
    raw.mkdir()
    path = census_xlsx(raw / "censimento_makerspace_2026.xlsx")
    assert census.SOURCE.find(raw) == [path]

    result = census.SOURCE.load(path, ctx)
    assert result.trust == "derived" and result.file_format == "xlsx"
    assert "licenza: CC BY 4.0 – prova" in result.notes
    assert any("censimento 'test_makerspace'" in n for n in result.notes)
    assert (result.frame["theme"] == "makerspace").all()
    assert result.frame["source_key"].tolist() == ["MK-01", "MK-02", "MK-03"]

    uno = row(result, "Officina Uno")
    assert (uno["district_id"], uno["parent_id"], uno["assignment"]) == (1, 1, "point_in_polygon")
    assert (uno["area_m2"], uno["seats"], uno["category"]) == (pytest.approx(120.5), 12, "FabLab")
    assert (uno["status"], uno["ownership"]) == ("active", "public")  # value map; 'Comunale' -> public
    assert json.loads(uno["attributes"]) == {"referente": "Rossi"}  # unmapped column kept

    due = row(result, "Officina Due")
    assert (due["area_m2"], due["seats"], due["status"], due["ownership"]) == (
        pytest.approx(1500.0), 10, "Chiuso", "private")
    assert json.loads(due["attributes"]) == {"note_interne": "da verificare"}

    tre = row(result, "Officina Tre")
    assert (tre["assignment"], tre["district_id"], tre["parent_id"]) == ("file_id", 3, 9) and pd.isna(tre["ownership"])

    warnings = reasons(result, "warning")
    assert warnings[2] == ["postazioni (posti): intervallo '10-15': usato il limite inferiore (10)"]
    assert warnings[3][0].startswith("proprietà 'boh' non riconosciuta")
    assert reasons(result, "rejected") == {4: ["duplicato: stesso id della riga 1 (tenuta quella)"]}
    assert result.rows_read == 4  # the trailing empty row is not data


def test_census_csv_projected_coordinates(tmp_path: Path, ctx: BuildContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-Milan layout: own headers, UTM 32N x/y, zone numbers; no Milan column assumed."""
    cfg = tmp_path / "census.toml"
    cfg.write_text(CENSUS_TOML, encoding="utf-8")
    monkeypatch.setenv(census.CONFIG_ENV, str(cfg))
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    x1, y1 = to_utm.transform(9.17, 45.46)
    x2, y2 = to_utm.transform(9.22, 45.50)
    path = write_csv(tmp_path / "raw" / "vuoti" / "elenco.csv", [
        ["Denominazione", "X", "Y", "Zona", "Condizione"],
        ["Ex Macello", f"{x1:.2f}".replace(".", ","), f"{y1:.2f}".replace(".", ","), "", "rudere"],
        ["Ex Caserma", f"{x2:.2f}".replace(".", ","), f"{y2:.2f}".replace(".", ","), "", ""],
        ["Capannone", "", "", "Municipio 3", ""],
    ], ";", "cp1252")
    assert census.SOURCE.find(tmp_path / "raw") == [path]
    result = census.SOURCE.load(path, ctx)
    assert result.trust == "official" and (result.frame["theme"] == "vacant").all()
    assert "coordinate convertite da EPSG:32632 a EPSG:4326" in result.notes
    assert "licenza: non indicata in configurazione" in result.notes
    macello = row(result, "Ex Macello")
    assert (macello["lon"], macello["lat"]) == (pytest.approx(9.17, abs=1e-6), pytest.approx(45.46, abs=1e-6))
    assert macello["district_id"] == 1 and json.loads(macello["attributes"]) == {"condizione": "rudere"}
    assert row(result, "Ex Caserma")["district_id"] == 3
    capannone = row(result, "Capannone")
    assert (capannone["assignment"], capannone["parent_id"]) == ("parent_only", 3)
    assert capannone["source_key"] == "capannone|"


def test_census_configured_column_missing(tmp_path: Path, ctx: BuildContext, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "census.toml"
    cfg.write_text(CENSUS_TOML.replace('name = "Denominazione"', 'name = "Nome del luogo"'), encoding="utf-8")
    monkeypatch.setenv(census.CONFIG_ENV, str(cfg))
    path = write_csv(tmp_path / "vuoti" / "a.csv", [["Denominazione", "X", "Y"], ["A", "1", "2"]], ";", "utf-8")
    with pytest.raises(SourceError) as err:
        census.SOURCE.load(path, ctx)
    message = str(err.value)
    assert "a.csv" in message and "'Nome del luogo'" in message
    assert "intestazioni trovate: 'Denominazione', 'X', 'Y'" in message and "census.toml" in message


def test_census_optional_column_missing_is_a_note(tmp_path: Path, ctx: BuildContext,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "census.toml"
    cfg.write_text(CENSUS_TOML, encoding="utf-8")
    monkeypatch.setenv(census.CONFIG_ENV, str(cfg))
    path = write_csv(tmp_path / "censimento_makerspace.csv", [
        ["Nome", "Longitudine", "Latitudine"], ["Lab", "9,17", "45,46"]], ";", "cp1252")
    result = census.SOURCE.load(path, ctx)
    assert len(result.frame) == 1 and result.frame["district_id"].iloc[0] == 1
    assert any(n.startswith("colonne indicate in configurazione ma assenti") and "Superficie (mq)" in n
               for n in result.notes)


@pytest.mark.parametrize(("toml", "expected"), [
    ('[[census]]\npattern="a*.csv"\ntheme="firm"\n[census.columns]\nname="N"\nlon="X"\nlat="Y"\n', "'theme'"),
    ('[[census]]\npattern="a*.csv"\ntheme="vacant"\ntrust="certo"\n[census.columns]\nname="N"\nlon="X"\nlat="Y"\n',
     "'trust'"),
    ('[[census]]\npattern="a*.csv"\ntheme="vacant"\n[census.columns]\nname="N"\n', "collocare i luoghi"),
    ('[[census]]\npattern="a*.csv"\ntheme="vacant"\n[census.columns]\nnome="N"\nlon="X"\nlat="Y"\n', "'nome'"),
    ('[[census]]\ntheme="vacant"\n[census.columns]\nname="N"\nlon="X"\nlat="Y"\n', "'pattern'"),
    ('[[census]\n', "TOML"),
])
def test_census_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, expected: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml, encoding="utf-8")
    monkeypatch.setenv(census.CONFIG_ENV, str(cfg))
    with pytest.raises(SourceError) as err:
        census.SOURCE.find(tmp_path)
    assert "bad.toml" in str(err.value) and expected in str(err.value)


def test_census_config_path_parameter_and_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(census.CONFIG_ENV, str(tmp_path / "non_esiste.toml"))
    with pytest.raises(SourceError, match="non trovato"):
        census.SOURCE.find(tmp_path)
    cfg = tmp_path / "mio.toml"
    cfg.write_text(CENSUS_TOML, encoding="utf-8")
    write_csv(tmp_path / "raw" / "censimento_makerspace_x.csv", [["Nome"], ["a"]], ";", "utf-8")
    assert len(census.CensusSource(config=cfg).find(tmp_path / "raw")) == 1


def test_census_empty_xlsx(tmp_path: Path, ctx: BuildContext, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "census.toml"
    cfg.write_text(CENSUS_TOML.replace('sheet = "Elenco"\nheader_row = 2\n', ""), encoding="utf-8")
    monkeypatch.setenv(census.CONFIG_ENV, str(cfg))
    wb = openpyxl.Workbook()
    wb.save(tmp_path / "censimento_makerspace_vuoto.xlsx")
    with pytest.raises(SourceError, match="censimento_makerspace_vuoto.xlsx.*vuoto"):
        census.SOURCE.load(tmp_path / "censimento_makerspace_vuoto.xlsx", ctx)
    wb = openpyxl.Workbook()
    wb.active.append(["Codice scheda", "Nome", "Longitudine", "Latitudine"])
    wb.save(tmp_path / "censimento_makerspace_intestazione.xlsx")
    with pytest.raises(SourceError, match="nessuna riga di dati"):
        census.SOURCE.load(tmp_path / "censimento_makerspace_intestazione.xlsx", ctx)


def test_shipped_census_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(census.CONFIG_ENV, raising=False)
    entries = census.load_config()
    assert {e.theme for e in entries} == {"makerspace", "vacant"}
    assert all(any(p.startswith("censimento_") for p in e.patterns) for e in entries)


# --------------------------------------------------------------------------- end to end

def test_build_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from etl.demo import demo_districts
    from etl.demo_reference import NIL_REFERENCE
    from etl.pipeline import build

    raw = tmp_path / "raw"
    raw.mkdir()
    nil, mun = demo_districts()
    nil.drop(columns="level").rename(columns={"id": "ID_NIL", "name": "NIL"}).to_file(raw / "nil.geojson",
                                                                                        driver="GeoJSON")
    mun.drop(columns=["level", "name"]).rename(columns={"id": "MUNICIPIO"}).to_file(raw / "municipi.geojson",
                                                                                      driver="GeoJSON")
    ref = {r[0]: r for r in NIL_REFERENCE}  # (id, name, municipio, lon, lat): a point inside each demo NIL

    def pt(district_id: int) -> list[str]:
        return [f"{ref[district_id][3]:.4f}".replace(".", ","), f"{ref[district_id][4]:.4f}".replace(".", ",")]

    write_csv(raw / "ds744_fablab_milano.csv", [
        ["NOMINATIVO", "INDIRIZZO", "MQ COMPLESSIVI", "MACCHINE", "MUNICIPIO", "ID_NIL", "LONG_X_4326", "LAT_Y_4326"],
        ["Lab Duomo", "Piazza Duomo 1", "150,5", "Laser", "1", "1", *pt(1)],
        ["Lab Isola", "Via Borsieri 2", "80", "", "9", "1", *pt(11)],                  # wrong id_nil -> warning
        ["Lab Cremona", "Via Dante 1", "", "", "", "", "10,0220", "45,1330"],          # outside the city
        ["Lab Invertito", "Via Celoria 3 (Città Studi)", "", "", "", "", *reversed(pt(22))],         # swapped
        ["Lab Duomo", "P.za Duomo, 1", "", "", "", "", *pt(1)],                        # duplicate
    ], ";", "cp1252")
    coworking_rows = [COWORKING_HEADER[:5] + ["ID", "ID_NIL", "LONG_X_4326", "LAT_Y_4326"],
                      ["Cowo Brera", "Coworking", "Via Brera 1", "", "20-30", "c1", "2", *[v.replace(",", ".")
                                                                                         for v in pt(2)]]]
    write_csv(raw / "coworking__joined__f.csv", [[f'"{c}"' for c in r] for r in coworking_rows], ",", "utf-8-sig")
    cfg = tmp_path / "census.toml"
    cfg.write_text(CENSUS_TOML, encoding="utf-8")
    monkeypatch.setenv(census.CONFIG_ENV, str(cfg))
    census_xlsx(raw / "censimento_makerspace_2026.xlsx")

    out = tmp_path / "warehouse.duckdb"
    report = build(raw, out, progress=lambda m: None)
    assert {s.source_id for s in report.summaries} >= {"nil_boundaries", "municipi_boundaries", "makerspaces",
                                                       "coworking", "census"}

    con = duckdb.connect(str(out), read_only=True)
    try:
        places = con.sql("SELECT source_id, name, district_id, parent_id, assignment, area_m2, seats, trust, "
                         "json_extract_string(attributes, '$.macchine') FROM places "
                         "WHERE source_id IN ('makerspaces', 'coworking', 'census') ORDER BY source_id, name").fetchall()
        rejects = con.sql("SELECT source_id, row_number, action, reason FROM rejects "
                          "WHERE source_id IN ('makerspaces', 'coworking', 'census') "
                          "ORDER BY source_id, row_number, action").fetchall()
        sources = con.sql("SELECT source_id, rows_read, rows_loaded, rows_rejected, rows_repaired, trust, encoding "
                          "FROM sources WHERE source_id IN ('makerspaces', 'coworking', 'census') "
                          "ORDER BY source_id").fetchall()
    finally:
        con.close()

    maker = {p[1]: p for p in places if p[0] == "makerspaces"}
    assert set(maker) == {"Lab Duomo", "Lab Isola", "Lab Invertito"}
    assert maker["Lab Duomo"][2:9] == (1, ref[1][2], "point_in_polygon", 150.5, None, "official", "Laser")
    assert maker["Lab Isola"][2:4] == (11, ref[11][2])
    assert maker["Lab Invertito"][2:4] == (22, ref[22][2])
    cowo = [p for p in places if p[0] == "coworking"]
    assert [(p[1], p[2], p[6], p[7]) for p in cowo] == [("Cowo Brera", 2, 20, "official")]
    assert {p[1] for p in places if p[0] == "census"} == {"Officina Uno", "Officina Due", "Officina Tre"}
    assert {p[7] for p in places if p[0] == "census"} == {"derived"}

    maker_rejects = [r[1:] for r in rejects if r[0] == "makerspaces"]
    assert [r[:2] for r in maker_rejects] == [(2, "warning"), (3, "rejected"), (4, "repaired"), (5, "rejected")]
    assert maker_rejects[0][2].startswith("NIL nel file (1) diverso da quello della posizione (11)")
    assert maker_rejects[1][2] == "punto fuori dal territorio Comune di Milano: 10.02200, 45.13300"
    assert maker_rejects[2][2] == "longitudine e latitudine invertite: scambiate"
    assert maker_rejects[3][2] == "duplicato: stesso nome e indirizzo della riga 1 (tenuta quella)"
    assert ("coworking", 1, "warning") in [r[:3] for r in rejects]
    assert sources == [
        ("census", 4, 3, 1, 0, "derived", None),
        ("coworking", 1, 1, 0, 0, "official", "utf-8"),
        ("makerspaces", 5, 3, 2, 1, "official", "cp1252"),
    ]


# --- Municipio by position; file districts checked with a border tolerance -----------------------------------------

def _ctx_not_nested() -> BuildContext:
    """NIL 1 west (parent 1) and NIL 2 east (parent 3) of lon 9.20; the Municipi polygons are an older
    version whose border is at lon 9.21: the west strip of NIL 2 (9.20-9.21) lies in Municipio 1."""
    nil = gpd.GeoDataFrame({"id": [1, 2], "name": ["Uno", "Due"], "parent_id": [1, 3]},
                           geometry=[shapely.box(*BOXES[1]), shapely.box(*BOXES[2])], crs="EPSG:4326")
    municipi = gpd.GeoDataFrame({"id": [1, 3], "name": ["Municipio 1", "Municipio 3"]},
                                geometry=[shapely.box(9.15, 45.44, 9.21, 45.48), shapely.box(9.21, 45.44, 9.25, 45.48)],
                                crs="EPSG:4326")
    return BuildContext.with_areas(nil, municipi)


def test_municipio_comes_from_position_not_from_nil_parent() -> None:
    from etl.places import finalise_places

    ctx = _ctx_not_nested()
    frame = pd.DataFrame({"source_key": ["a", "b", "c", "d"], "name": ["A", "B", "C", "D"], "address": ["x", "y", "z", "w"],
                          "lon": [9.205, 9.23, 9.17, None], "lat": [45.46, 45.46, 45.46, None],
                          "nil_id_file": [None, None, None, 2], "municipio_file": [None, None, None, 1]})
    rows, rejects = finalise_places(frame, ctx, None, "vacant")
    got = {k: (int(n), int(m)) for k, n, m in zip(rows["source_key"], rows["district_id"], rows["parent_id"], strict=True)}
    # a: NIL 2 (parent Municipio 3) but inside the Municipio 1 polygon -> Municipio 1.
    assert got == {"a": (2, 1), "b": (2, 3), "c": (1, 1), "d": (2, 1)}  # d: no point -> the file's own Municipio
    assert rejects == []


def test_file_district_warnings_only_beyond_border_tolerance() -> None:
    from etl.places import BORDER_TOLERANCE_M, finalise_places

    ctx = _ctx_not_nested()
    metres_per_deg = 111_320 * np.cos(np.radians(45.46))
    near = 9.20 + 0.5 * BORDER_TOLERANCE_M / metres_per_deg   # inside NIL 2, ~12 m from NIL 1
    far = 9.20 + 4 * BORDER_TOLERANCE_M / metres_per_deg      # inside NIL 2, ~100 m from NIL 1
    frame = pd.DataFrame({"source_key": ["near", "far", "mun_near", "mun_far"], "name": list("abcd"), "address": list("wxyz"),
                          "lon": [near, far, 9.21 + 0.5 * BORDER_TOLERANCE_M / metres_per_deg, 9.24],
                          "lat": [45.46, 45.47, 45.45, 45.45],
                          "nil_id_file": [1, 1, None, None], "municipio_file": [None, None, 1, 1]})
    _, rejects = finalise_places(frame, ctx, None, "vacant")
    assert [(r.row_number, r.action) for r in rejects] == [(2, "warning")]
    assert "NIL nel file (1) diverso da quello della posizione (2)" in rejects[0].reason
    _, rejects = finalise_places(frame, ctx, None, "vacant", check_parent=True)
    assert [r.row_number for r in rejects] == [2, 4]
    assert "Municipio nel file (1) diverso da quello della posizione (3)" in rejects[1].reason


@pytest.mark.real
def test_real_vacant_zona_warnings_blame_only_real_disagreements(real_dir: Path, tmp_path: Path) -> None:
    """places.json's zona agrees with the Municipi polygons except one place (A401, zona 7, in Municipio 6)."""
    from etl.pipeline import build

    out = tmp_path / "real.duckdb"
    build(real_dir, out, progress=lambda _m: None)
    con = duckdb.connect(str(out), read_only=True)
    try:
        rows = con.sql("SELECT reason FROM rejects WHERE action = 'warning' AND (reason LIKE 'zona nel file%' "
                       "OR reason LIKE 'Municipio nel file%' OR reason LIKE 'NIL nel file%')").fetchall()
        # Before positions were used, 11 warnings blamed the file (10 were the NIL-parent's fault).
        assert len(rows) <= 2, rows
        n_places = con.sql("SELECT count(*) FROM places WHERE lon IS NOT NULL AND parent_id IS NOT NULL").fetchall()[0][0]
        assert n_places > 100
    finally:
        con.close()


# --- Territories: the finest level of any profile, ids of other levels, points outside -----------------------------

def _profile(tmp_path: Path, levels: list[tuple[str, str]], name: str = "Territorio di prova"):  # noqa: ANN202
    """A profile written by the test: `levels` = [(id, label)], finest first; nothing in the code names it."""
    from etl.territory import parse_profile

    blocks = "".join(f'[[levels]]\nid = "{lid}"\nboundary_source = "areas_geojson"\nlabel_it = "{label}"\n'
                     f'label_en = "{label}"\nplural_it = "{label}"\nplural_en = "{label}"\n\n' for lid, label in levels)
    path = tmp_path / "prova.toml"
    path.write_text(f'id = "prova"\nversion = "t"\nname_it = "{name}"\nname_en = "Test"\n'
                    f'[centre]\nlon = 9.2\nlat = 45.47\nname_it = "c"\nname_en = "c"\n\n{blocks}', encoding="utf-8")
    return parse_profile(path)


def _one_level_ctx(tmp_path: Path) -> BuildContext:
    """Two 'comuni' (ids 15001 west, 15002 east of lon 9.20) and no parent level."""
    comuni = gpd.GeoDataFrame({"id": [15001, 15002], "name": ["Ovest", "Est"]},
                              geometry=[shapely.box(9.15, 45.44, 9.20, 45.50), shapely.box(9.20, 45.44, 9.25, 45.50)],
                              crs="EPSG:4326")
    return BuildContext.with_areas(comuni, territory=_profile(tmp_path, [("comune", "Comune")]))


def test_one_level_territory_uses_coordinates_not_the_files_nil(tmp_path: Path) -> None:
    from etl.places import finalise_places

    ctx = _one_level_ctx(tmp_path)
    frame = pd.DataFrame({"source_key": ["a", "b", "c", "d"], "name": list("ABCD"), "address": list("wxyz"),
                          "lon": [9.17, 9.23, None, None], "lat": [45.46, 45.46, None, None],
                          "nil_id_file": [1, 1, 2, None], "municipio_file": [1, 1, 3, 4]})
    rows, rejects = finalise_places(frame, ctx, None, "historic_shop")
    got = {k: (int(d), a) for k, d, a in zip(rows["source_key"], rows["district_id"], rows["assignment"], strict=True)}
    # The file's NIL 1 is not a comune id: position only, and no warning comparing NIL and comune ids.
    assert got == {"a": (15001, "point_in_polygon"), "b": (15002, "point_in_polygon")}
    assert rows["parent_id"].isna().all()
    assert [(r.row_number, r.action) for r in rejects] == [(3, "rejected"), (4, "rejected")]
    assert rejects[0].reason.startswith("né coordinate né Comune validi: il file dà solo l'id del livello 'nil, municipio'")
    assert "Territorio di prova non ha" in rejects[0].reason
    assert "'municipio'" in rejects[1].reason


def test_generic_file_ids_of_the_territorys_own_levels(tmp_path: Path) -> None:
    """district_id_file / parent_id_file name the profile's own levels; the parent comes from the parent polygons."""
    from etl.places import finalise_places

    paesi = gpd.GeoDataFrame({"id": [101, 102], "name": ["P1", "P2"], "parent_id": [1, 1]},
                             geometry=[shapely.box(9.15, 45.44, 9.20, 45.50), shapely.box(9.20, 45.44, 9.25, 45.50)],
                             crs="EPSG:4326")
    zone = gpd.GeoDataFrame({"id": [1, 2], "name": ["Z1", "Z2"]},
                            geometry=[shapely.box(9.15, 45.44, 9.21, 45.50), shapely.box(9.21, 45.44, 9.25, 45.50)],
                            crs="EPSG:4326")
    ctx = BuildContext.with_areas(paesi, zone, territory=_profile(tmp_path, [("paese", "Paese"), ("zona", "Zona")]))
    frame = pd.DataFrame({"source_key": list("abcde"), "name": list("ABCDE"), "address": list("vwxyz"),
                          "lon": [9.17, 9.23, None, None, None], "lat": [45.46, 45.46, None, None, None],
                          "district_id_file": [None, None, 102, None, 999], "parent_id_file": [None, None, None, 2, None],
                          "nil_id_file": [None, None, None, None, 5]})
    rows, rejects = finalise_places(frame, ctx, None, "makerspace")
    got = {k: (None if pd.isna(d) else int(d), None if pd.isna(p) else int(p), a)
           for k, d, p, a in zip(rows["source_key"], rows["district_id"], rows["parent_id"], rows["assignment"], strict=True)}
    assert got == {"a": (101, 1, "point_in_polygon"),
                   "b": (102, 2, "point_in_polygon"),   # zona by its polygon (2), not the paese's parent (1)
                   "c": (102, 1, "file_id"),            # no point: the paese's parent
                   "d": (None, 2, "parent_only")}
    assert [(r.row_number, r.action) for r in rejects] == [(5, "rejected")]
    assert "né coordinate né Paese/Zona validi" in rejects[0].reason


def test_points_outside_the_territory_rejected_with_its_name(tmp_path: Path) -> None:
    from etl.places import OUTSIDE_REASON, finalise_places

    ctx = _one_level_ctx(tmp_path)
    frame = pd.DataFrame({"source_key": ["in", "out"], "name": ["A", "B"], "address": ["x", "y"],
                          "lon": [9.17, 9.40], "lat": [45.46, 45.46]})
    rows, rejects = finalise_places(frame, ctx, None, "coworking")
    assert list(rows["source_key"]) == ["in"]
    assert [(r.row_number, r.action, r.reason) for r in rejects] == [
        (2, "rejected", "punto fuori dal territorio Territorio di prova: 9.40000, 45.46000")]
    assert rejects[0].reason.startswith(OUTSIDE_REASON)


def test_file_with_every_point_outside_is_not_in_territory(tmp_path: Path, ctx: BuildContext) -> None:
    """A coworking list of another place: NotInTerritory (the pipeline records it as skipped), rejects kept."""
    from etl.geo import NotInTerritory

    rows = [COWORKING_HEADER,
            ["Cowo Lontano", "Coworking", "Via Po 1", "", "10", "", "", "", "1", "", "", "", "", "10.0220", "45.1330", ""],
            ["Cowo Lontano 2", "Coworking", "Via Po 2", "", "10", "", "", "", "2", "", "", "", "", "10.0230", "45.1340", ""]]
    path = write_csv(tmp_path / "coworking__joined__f.csv", rows, ",", "utf-8-sig")
    with pytest.raises(NotInTerritory, match="nessun punto nel territorio Comune di Milano: tutte le 2 righe") as err:
        coworking.SOURCE.load(path, ctx)
    kept = err.value.result
    assert isinstance(kept, LoadResult) and kept.frame.empty
    assert [r.reason for r in kept.rejects] == ["punto fuori dal territorio Comune di Milano: 10.02200, 45.13300",
                                                "punto fuori dal territorio Comune di Milano: 10.02300, 45.13400"]
    # One point inside: an ordinary load with one reject.
    rows[2][13:15] = ["9.1650", "45.4550"]
    result = coworking.SOURCE.load(write_csv(tmp_path / "c2" / "coworking__joined__f.csv", rows, ",", "utf-8-sig"), ctx)
    assert list(result.frame["name"]) == ["Cowo Lontano 2"] and result.rows_rejected == 1


def test_census_with_area_ids_of_the_territory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A census of another territory gives the comune's own code (district_id_file): rows without coordinates are placed."""
    cfg = tmp_path / "census.toml"
    cfg.write_text('[[census]]\nid = "spazi_comuni"\npattern = "spazi_*.csv"\ntheme = "coworking"\n\n'
                   '[census.columns]\nname = "Nome"\nlon = "Lon"\nlat = "Lat"\ndistrict_id_file = "Codice comune"\n',
                   encoding="utf-8")
    monkeypatch.setenv(census.CONFIG_ENV, str(cfg))
    raw = tmp_path / "raw"
    path = write_csv(raw / "spazi_2026.csv", [["Nome", "Lon", "Lat", "Codice comune"],
                                             ["Spazio A", "9.17", "45.46", ""],
                                             ["Spazio B", "", "", "15002"],
                                             ["Spazio C", "", "", "99999"]], ";", "utf-8")
    ctx = _one_level_ctx(tmp_path)
    result = census.SOURCE.load(path, ctx)
    got = {n: (int(d), a) for n, d, a in zip(result.frame["name"], result.frame["district_id"], result.frame["assignment"],
                                             strict=True)}
    assert got == {"Spazio A": (15001, "point_in_polygon"), "Spazio B": (15002, "file_id")}
    assert reasons(result, "rejected") == {3: ["né coordinate né Comune validi: impossibile collocarlo"]}
