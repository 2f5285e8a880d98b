"""Firms: ATECO classification (etl.ateco_map), ds201 local units per NIL, point-level firm lists.

Every fixture is written by the tests themselves; warehouses are real DuckDB files in tmp_path;
the districts are the demo tessellation of etl.demo (88 NIL with the real ids).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import ateco
import duckdb
import geopandas as gpd
import pandas as pd
import pytest
import shapely

from etl import ateco_map
from etl.base import BuildContext, SourceError
from etl.demo import demo_districts
from etl.pipeline import build
from etl.sources.firms_ateco import FirmsAtecoSource
from etl.sources.firms_points import FirmPointsSource, parse_date

DS201_HEADER = "anno;idnil;nil;ateco_2007_ul;desc_ateco_2007_ul;numero_ul;media_addetti_ul"
DS201_NAME = "ds201_economia_numero_unita_locali_settore_attivita_quartiere_2010.csv"


# ---------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def districts() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    return demo_districts()


@pytest.fixture()
def ctx(districts: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> BuildContext:
    nil, mun = districts
    return BuildContext.with_areas(nil[["id", "name", "geometry"]].copy(), mun[["id", "name", "geometry"]].copy())


def inside(nil: gpd.GeoDataFrame, district_id: int) -> tuple[float, float]:
    """A point surely inside the demo NIL `district_id` (lon, lat)."""
    geom = nil.loc[nil["id"] == district_id, "geometry"].iloc[0]
    p = shapely.point_on_surface(geom)
    return round(p.x, 6), round(p.y, 6)


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def ds201_lines() -> list[str]:
    """ds201 layout, cp1252-safe text, decimal commas; rows 4-8 are the traps."""
    return [
        DS201_HEADER,
        "2010;1;DUOMO;25.62.00;Lavori di meccanica generale;12;3,5",  # 1 ok, digital (2007 meaning)
        "2010;1;DUOMO;62.01.00;Produzione di software non connesso all'edizione;40;7,25",  # 2 ok
        "2010;2;BRERA;14.13.10;Confezione in serie di abbigliamento;1.234;2,5",  # 3 ok, thousands dot
        "2010;99;QUARTIERE INESISTENTE;25.62.00;Lavori di meccanica generale;1;1,0",  # 4 unknown NIL
        "2010;Totale;;;Totale attività;100000;3,1",  # 5 total row
        "2010;1;DUOMO;25.62.00;Lavori di meccanica generale;5;1,0",  # 6 duplicate of row 1
        "2010;x1;DUOMO;10.71.10;Produzione di prodotti di panetteria freschi;2;1,0",  # 7 non-numeric id
        "2010;2;BRERA;62.10.00;Codice 2025 in un file 2007;2;1,5",  # 8 unknown in 2007 -> other + warning
        "2010;2;BRERA;47.11.40;Attività di minimercati;30;2,0",  # 9 ok, other, accented description
        "2010;74;SACCO;2562;Nome statistico vecchio per l'id 74;4;",  # 10 compact code, empty avg
    ]


# ---------------------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------------------

CLASSIFICATION_TABLE = [
    # code, edition, category, normalised code
    ("25.62", "2007", "digital_manufacturing", "25.62"),  # Lavori di meccanica generale
    ("25.62", "2022", "digital_manufacturing", "25.62"),
    ("25.62", "2025", "artisan_manufacturing", "25.62"),  # Serrature e cerniere in 2025
    ("25.53", "2025", "digital_manufacturing", "25.53"),  # machining moved here in 2025
    ("2562", "2007", "digital_manufacturing", "25.62"),
    ("25.62.00", "2007", "digital_manufacturing", "25.62.00"),
    ("256200", "2025", "artisan_manufacturing", "25.62.00"),
    ("C25.62", "2007", "digital_manufacturing", "25.62"),
    ("c 25,62", "2007", "digital_manufacturing", "25.62"),
    ("26.20", "2025", "digital_manufacturing", "26.20"),
    ("27.90.09", "2007", "digital_manufacturing", "27.90.09"),
    ("28.97", "2025", "digital_manufacturing", "28.97"),  # additive manufacturing, new in 2025
    ("33.20", "2007", "digital_manufacturing", "33.20"),
    ("62.01", "2007", "digital_services", "62.01"),
    ("6201", "2007", "digital_services", "62.01"),
    ("62.10", "2025", "digital_services", "62.10"),
    ("58.29", "2007", "digital_services", "58.29"),
    ("58.11", "2007", "other", "58.11"),  # book publishing
    ("63.11", "2007", "digital_services", "63.11"),
    ("63.91", "2007", "other", "63.91"),  # news agencies in 2007
    ("63.91", "2025", "digital_services", "63.91"),  # web search portals in 2025
    ("72.19", "2007", "digital_services", "72.19"),
    ("72.20", "2007", "other", "72.20"),
    ("10.71.10", "2007", "artisan_manufacturing", "10.71.10"),
    ("14.13.10", "2007", "artisan_manufacturing", "14.13.10"),
    ("32.12", "2025", "artisan_manufacturing", "32.12"),
    ("17.23", "2007", "artisan_manufacturing", "17.23"),
    ("17.12", "2007", "other", "17.12"),  # paper mills: exception to 17
    ("12.00", "2007", "other", "12.00"),
    ("25.40", "2007", "other", "25.40"),  # weapons in 2007
    ("25.40", "2025", "artisan_manufacturing", "25.40"),  # forging in 2025
    ("25.30", "2025", "other", "25.30"),  # weapons in 2025
    ("47.11.40", "2007", "other", "47.11.40"),
    ("61.10", "2007", "other", "61.10"),
    ("95.11", "2007", "other", "95.11"),
]


@pytest.mark.parametrize(("code", "edition", "category", "normalised"), CLASSIFICATION_TABLE)
def test_classification_of_hand_picked_codes(code: str, edition: str, category: str, normalised: str) -> None:
    detail = ateco_map.classify_detail(code, edition)
    assert (detail.category, detail.code, detail.edition, detail.known) == (category, normalised, edition, True)
    assert detail.warning is None
    assert detail.label == ateco.lookup(normalised, edition=edition).title
    assert ateco_map.classify(code, edition) == category


def test_demo_bundle_categories_agree_with_the_rules() -> None:
    from etl import demo

    for code, category, _share in getattr(demo, "DEMO_ATECO", []):
        assert ateco_map.classify(code, "2007") == category, code


def test_same_digits_mean_different_things_in_2007_and_2025() -> None:
    old, new = ateco_map.classify_detail("25.62", "2007"), ateco_map.classify_detail("25.62", "2025")
    assert old.label == "Lavori di meccanica generale"
    assert "serrature" in new.label.lower()
    assert (old.rule, new.rule) == ("25.62", "25")


@pytest.mark.parametrize(("value", "expected"), [
    ("2562", "25.62"), ("25.62", "25.62"), ("25.62.00", "25.62.00"), ("C25.62", "25.62"), ("C 25.62", "25.62"),
    ("c-25.62", "25.62"), ("25,62", "25.62"), (" 25.62 ", "25.62"), (2562, "25.62"), (2562.0, "25.62"),
    (25.62, "25.62"), ("256200", "25.62.00"), ("25620", "25.62.0"), ("62", "62"), ("582", "58.2"),
    ("1.11", "01.11"), ("011100", "01.11.00"), ("C", "C"), ("25.62.", "25.62"),
    ("25.62.00 - Lavori di meccanica generale", "25.62.00"), ("C 25.62: meccanica", "25.62"), ("2562 Meccanica", "25.62"),
])
def test_normalise_code(value: object, expected: str) -> None:
    assert ateco_map.normalise_code(value) == expected


@pytest.mark.parametrize("value", ["", "   ", None, float("nan"), "ND", "Totale", "1234567", "25.6.1", "25..62", "XX"])
def test_normalise_code_rejects_non_codes(value: object) -> None:
    with pytest.raises(ateco_map.InvalidAtecoCode):
        ateco_map.normalise_code(value)


@pytest.mark.parametrize(("value", "expected"), [
    ("2007", "2007"), (2007, "2007"), (2007.0, "2007"), ("ATECO 2007", "2007"), ("ateco2025", "2025"),
    ("ATECO 2007 aggiornamento 2022", "2022"), ("2022", "2022"),
])
def test_normalise_edition(value: object, expected: str) -> None:
    assert ateco_map.normalise_edition(value) == expected


@pytest.mark.parametrize("value", ["", None, "2010", "ATECO 2002", "ultima"])
def test_normalise_edition_rejects_unknown(value: object) -> None:
    with pytest.raises(ValueError):
        ateco_map.normalise_edition(value)


def test_unknown_code_is_other_with_a_warning_and_keeps_its_edition() -> None:
    detail = ateco_map.classify_detail("62.10", "2007")  # exists only in 2025
    assert (detail.category, detail.known, detail.edition, detail.code, detail.label) == ("other", False, "2007",
                                                                                          "62.10", None)
    assert "inesistente nell'edizione 2007" in detail.warning and "2025" in detail.warning
    assert ateco_map.classify("99.99", "2007") == "other"
    sub = ateco_map.classify_detail("25.62.01", "2007")
    assert sub.category == "other" and "25.62.0" in sub.warning  # nearest existing level named


def test_section_letter_is_too_generic() -> None:
    detail = ateco_map.classify_detail("C", "2007")
    assert detail.category == "other" and detail.known and "sezione" in detail.warning


def test_unsupported_edition_raises() -> None:
    with pytest.raises(ValueError):
        ateco_map.classify("25.62", "2010")


def test_classify_table_reports_problems_and_warnings_per_row() -> None:
    codes = pd.Series(["2562", "25.62", "boh", None, "62.10", "62.10"])
    editions = pd.Series(["2007", "2025", "2007", "2007", "2007", None])
    out = ateco_map.classify_table(codes, editions)
    assert out["category"].tolist()[:2] == ["digital_manufacturing", "artisan_manufacturing"]
    assert out["problem"].tolist()[2:4] == ["codice ATECO non valido: 'boh'", "codice ATECO mancante"]
    assert out.at[4, "category"] == "other" and out.at[4, "problem"] is None and "inesistente" in out.at[4, "warning"]
    assert out.at[5, "problem"] == "edizione ATECO non indicata"


def test_configuration_rules_exist_and_are_documented() -> None:
    config = ateco_map.load_config()
    assert set(config.editions) == {"2007", "2022", "2025"}
    assert config.rule_editions["2022"] == "2007"
    assert set(config.categories) == {"digital_manufacturing", "artisan_manufacturing", "digital_services", "other"}
    for edition in ("2007", "2025"):
        for rule in config.rules[edition]:
            assert ateco.lookup(rule.prefix, edition=edition) is not None, (edition, rule.prefix)
            assert rule.label_it and rule.label_en and len(rule.rationale) > 10
    assert config.firm_points_default_edition is None and config.firm_points_trust == "derived"


def test_configuration_path_parameter_and_validation(tmp_path: Path) -> None:
    text = """schema_version = 1
default_category = "other"
[categories.other]
label_it = "Altro"
label_en = "Other"
description = "x"
[categories.metal]
label_it = "Metallo"
label_en = "Metal"
description = "x"
[editions."2007"]
[[editions."2007".rules]]
prefix = "25"
category = "metal"
label_it = "Metallo"
label_en = "Metal"
rationale = "only for this test"
"""
    good = tmp_path / "good.toml"
    good.write_text(text, encoding="utf-8")
    config = ateco_map.load_config(good)
    assert ateco_map.classify("25.62", "2007", config) == "metal"
    assert ateco_map.classify("26.20", "2007", config) == "other"
    with pytest.raises(ValueError):
        config.classify("25.62", "2025")  # no rules for 2025 in this file
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('prefix = "25"', 'prefix = "25.98"').replace('category = "metal"',
                                                                               'category = "nessuna"'), encoding="utf-8")
    with pytest.raises(ateco_map.AtecoConfigError) as err:
        ateco_map.load_config(bad)
    assert "25.98 non esiste" in str(err.value) and "categoria 'nessuna' sconosciuta" in str(err.value)


# ---------------------------------------------------------------------------------------
# ds201 (firm_units)
# ---------------------------------------------------------------------------------------


def test_ds201_rows_rejects_and_numbers(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_lines(tmp_path / DS201_NAME, ds201_lines(), encoding="cp1252")
    result = FirmsAtecoSource().load(path, ctx)
    assert result.table == "firm_units" and result.trust == "official" and result.encoding == "cp1252"
    assert result.rows_read == 10
    frame = result.frame.set_index(["district_id", "ateco_code"])
    assert len(frame) == 6
    assert (frame["year"] == 2010).all() and (frame["ateco_edition"] == "2007").all()
    assert frame.loc[(1, "25.62.00")].to_dict() | {} == {
        "year": 2010, "ateco_edition": "2007", "ateco_label": "Lavori di meccanica generale",
        "category": "digital_manufacturing", "units": 12, "avg_employees": 3.5}
    assert frame.loc[(1, "62.01.00"), "avg_employees"] == 7.25  # decimal comma
    assert frame.loc[(2, "14.13.10"), "units"] == 1234  # thousands dot
    assert frame.loc[(2, "14.13.10"), "category"] == "artisan_manufacturing"
    assert frame.loc[(2, "47.11.40"), "category"] == "other"
    assert frame.loc[(74, "25.62"), "category"] == "digital_manufacturing"  # id 74, whatever its name
    assert pd.isna(frame.loc[(74, "25.62"), "avg_employees"])
    unknown = frame.loc[(2, "62.10.00")]
    assert unknown["category"] == "other" and unknown["ateco_label"] == "Codice 2025 in un file 2007"

    reasons = {r.row_number: (r.action, r.reason) for r in result.rejects}
    assert reasons[4][0] == "rejected" and "NIL 99 sconosciuto" in reasons[4][1]
    assert reasons[5][0] == "rejected" and "riga di totale" in reasons[5][1]
    assert reasons[6][0] == "rejected" and "duplicato" in reasons[6][1] and "riga 1" in reasons[6][1]
    assert reasons[7][0] == "rejected" and "non numerico" in reasons[7][1]
    assert reasons[8][0] == "warning" and "inesistente nell'edizione 2007" in reasons[8][1]
    assert set(reasons) == {4, 5, 6, 7, 8}
    assert result.rows_rejected == 4
    assert any("edizione ATECO 2007 dal nome della colonna" in n for n in result.notes)
    assert any("nome del NIL) ignorata" in n for n in result.notes)


def test_ds201_duplicate_after_code_normalisation(tmp_path: Path, ctx: BuildContext) -> None:
    lines = [DS201_HEADER, "2010;3;X;25.62;a;1;1", "2010;3;X;2562;b;2;1", "2011;3;X;25.62;c;3;1"]
    result = FirmsAtecoSource().load(write_lines(tmp_path / "ds201_x.csv", lines), ctx)
    assert result.frame[["year", "units"]].values.tolist() == [[2010, 1], [2011, 3]]
    assert [r.row_number for r in result.rejects] == [2]


def test_ds201_needs_loaded_nil_and_known_columns(tmp_path: Path, ctx: BuildContext) -> None:
    path = write_lines(tmp_path / DS201_NAME, ds201_lines(), encoding="cp1252")
    with pytest.raises(SourceError, match="confini del livello nil non caricati"):
        FirmsAtecoSource().load(path, BuildContext())
    odd = write_lines(tmp_path / "ds201_bad.csv", ["anno;quartiere;codice;quanti", "2010;1;25.62;3"])
    with pytest.raises(SourceError, match="mancano le colonne"):
        FirmsAtecoSource().load(odd, ctx)


def test_edition_from_column_or_refused(tmp_path: Path, ctx: BuildContext) -> None:
    with_column = write_lines(tmp_path / "unita_locali.csv", [
        "anno,idnil,codice_ateco,edizione_ateco,numero_ul", "2026,5,25.62,2025,4", "2026,5,25.53,2025,2"])
    result = FirmsAtecoSource().load(with_column, ctx)
    assert result.trust == "derived"  # not the portal's ds201
    assert result.frame["category"].tolist() == ["artisan_manufacturing", "digital_manufacturing"]
    assert result.frame["ateco_edition"].tolist() == ["2025", "2025"]
    without = write_lines(tmp_path / "conteggi.csv", ["anno,idnil,codice_ateco,numero_ul", "2026,5,25.62,4"])
    with pytest.raises(SourceError, match="edizione ATECO non indicata"):
        FirmsAtecoSource().load(without, ctx)


def test_find_distinguishes_aggregates_from_firm_lists(tmp_path: Path) -> None:
    ds201 = write_lines(tmp_path / DS201_NAME, ds201_lines(), encoding="cp1252")
    renamed = write_lines(tmp_path / "sub" / "unita_locali_2010.csv", ds201_lines())
    firms = write_lines(tmp_path / "registro_imprese_milano.csv",
                        ["denominazione;codice_ateco;edizione_ateco;lon;lat", "A;25.62;2007;9.19;45.46"])
    write_lines(tmp_path / "popolazione.csv", ["idnil;residenti", "1;100"])
    write_lines(tmp_path / "imprese_per_nil.csv", [DS201_HEADER, "2010;1;DUOMO;25.62.00;x;1;1"])
    write_lines(tmp_path / "imprese_innovative.csv", ["denominazione;lon;lat", "A;9.19;45.46"])  # no ATECO: not ours
    pd.DataFrame({"Denominazione": ["A"], "Settore": ["x"]}).to_excel(tmp_path / "imprese_elenco.xlsx", index=False)
    assert FirmsAtecoSource().find(tmp_path) == sorted([ds201, renamed, tmp_path / "imprese_per_nil.csv"])
    assert FirmPointsSource().find(tmp_path) == [firms]


# ---------------------------------------------------------------------------------------
# point-level firm lists (places, theme 'firm')
# ---------------------------------------------------------------------------------------


def firm_lines(nil: gpd.GeoDataFrame) -> list[str]:
    x1, y1 = inside(nil, 1)
    x2, y2 = inside(nil, 2)
    x3, y3 = inside(nil, 3)
    return [
        "codice_fiscale;denominazione;codice_ateco;edizione_ateco;addetti;data_inizio_attivita;indirizzo;lon;lat;stato",
        f"01;Officina Meccanica Rossi;25.62.00;2007;4;01/02/2015;Via Tortona 10;{x1};{y1};attiva",
        f"02;Serrature Bianchi;25.62;ATECO 2025;2,5;2020-03-05;Via Savona 3;{y2};{x2};Attiva",  # swapped
        "03;Software Verdi;62.10;2025;12;20190315;Viale Monza 5;9.9;45.9;attiva",  # outside the city
        f"04;Senza Edizione;62.01;;1;;Via Padova 1;{x3};{y3};",  # no edition
        f"05;Codice Strano;XX;2007;1;;Via Padova 2;{x3};{y3};",  # malformed code
        f"06;Data Rotta;14.13.10;2007;tanti;31/02/2020;Via Padova 3;{x3};{y3};chiusa per ferie",  # 3 warnings
        f"01;Officina Meccanica Rossi;25.62.00;2007;4;01/02/2015;Via Tortona 10;{x1};{y1};attiva",  # duplicate
    ]


def test_firm_points_classified_and_placed(tmp_path: Path, ctx: BuildContext,
                                           districts: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    nil, _ = districts
    path = write_lines(tmp_path / "registro_imprese.csv", firm_lines(nil), encoding="cp1252")
    result = FirmPointsSource().load(path, ctx)
    assert result.table == "places" and result.trust == "derived" and result.rows_read == 7
    rows = result.frame.set_index("name")
    assert list(rows.index) == ["Officina Meccanica Rossi", "Serrature Bianchi", "Data Rotta"]
    assert (rows["theme"] == "firm").all()
    rossi, bianchi, rotta = rows.loc["Officina Meccanica Rossi"], rows.loc["Serrature Bianchi"], rows.loc["Data Rotta"]
    assert (rossi["category"], rossi["ateco_code"], rossi["ateco_edition"]) == ("digital_manufacturing", "25.62.00", "2007")
    assert (bianchi["category"], bianchi["ateco_code"], bianchi["ateco_edition"]) == ("artisan_manufacturing", "25.62",
                                                                                      "2025")
    assert (int(rossi["district_id"]), int(bianchi["district_id"]), int(rotta["district_id"])) == (1, 2, 3)
    assert (rossi["employees"], bianchi["employees"]) == (4.0, 2.5)
    assert rossi["started_on"] == dt.date(2015, 2, 1) and bianchi["started_on"] == dt.date(2020, 3, 5)
    assert rotta["started_on"] is None and pd.isna(rotta["employees"])
    assert (rossi["status"], bianchi["status"]) == ("active", "active") and pd.isna(rotta["status"])
    assert json.loads(rossi["attributes"])["ateco_label"] == "Lavori di meccanica generale"
    assert rossi["source_key"].startswith("01@")

    by_row = {}
    for r in result.rejects:
        by_row.setdefault(r.row_number, []).append((r.action, r.reason))
    assert by_row[2] == [("repaired", "longitudine e latitudine invertite: scambiate")]
    assert by_row[3][0][0] == "rejected" and "fuori dal territorio" in by_row[3][0][1]
    assert by_row[4][0][0] == "rejected" and by_row[4][0][1].startswith("edizione ATECO non indicata")
    assert by_row[5] == [("rejected", "codice ATECO non valido: 'XX'")]
    row6 = dict((reason.split(" ")[0], action) for action, reason in by_row[6])
    assert row6 == {"addetti": "warning", "data": "warning", "stato": "warning"}
    assert by_row[7][0][0] == "rejected" and "duplicato" in by_row[7][0][1]
    assert result.rows_rejected == 4 and result.rows_repaired == 1


def test_default_edition_option_is_used_and_noted(tmp_path: Path, ctx: BuildContext,
                                                  districts: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    nil, _ = districts
    x, y = inside(nil, 10)
    path = write_lines(tmp_path / "imprese.csv", ["denominazione,ateco,lon,lat", f"Alfa,25.62,{x},{y}",
                                                  f"Beta,62.01,{x + 0.0005},{y}"])
    with pytest.raises(SourceError, match="nessuna impresa utilizzabile"):  # default: no edition assumed
        FirmPointsSource().load(path, ctx)
    result = FirmPointsSource(default_edition="2007", trust="official").load(path, ctx)
    assert result.frame["ateco_edition"].tolist() == ["2007", "2007"]
    assert result.frame["category"].tolist() == ["digital_manufacturing", "digital_services"]
    assert result.trust == "official"
    assert any("edizione ATECO 2007 assunta per 2 righe" in n for n in result.notes)


def test_firm_points_from_xlsx(tmp_path: Path, ctx: BuildContext,
                               districts: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    nil, _ = districts
    x, y = inside(nil, 20)
    frame = pd.DataFrame({"Denominazione": ["Gamma srl", "Delta snc"], "Codice ATECO 2025": [25.53, "62.10"],
                          "Data inizio attività": [pd.Timestamp("2021-06-30"), "15/01/2025"],
                          "Addetti": [3, None], "Longitudine": [x, x + 0.0004], "Latitudine": [y, y]})
    path = tmp_path / "firms.xlsx"
    frame.to_excel(path, index=False)
    result = FirmPointsSource().load(path, ctx)
    assert result.file_format == "xlsx"
    assert result.frame["category"].tolist() == ["digital_manufacturing", "digital_services"]
    assert result.frame["ateco_edition"].tolist() == ["2025", "2025"]  # from the column name
    assert result.frame["started_on"].tolist() == [dt.date(2021, 6, 30), dt.date(2025, 1, 15)]
    assert result.frame["district_id"].tolist() == [20, 20]
    assert [(r.row_number, r.action) for r in result.rejects if "salvato come numero" in r.reason] == [(1, "warning")]


@pytest.mark.parametrize(("value", "expected"), [
    ("01/02/2015", dt.date(2015, 2, 1)), ("1-2-2015", dt.date(2015, 2, 1)), ("01.02.2015", dt.date(2015, 2, 1)),
    ("2015-02-01", dt.date(2015, 2, 1)), ("2015-02-01T00:00:00", dt.date(2015, 2, 1)), ("20150201", dt.date(2015, 2, 1)),
    (dt.datetime(2015, 2, 1, 10, 30), dt.date(2015, 2, 1)), ("", None), (None, None),
])
def test_parse_date(value: object, expected: dt.date | None) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["31/02/2020", "02/2015", "ieri", "15/13/2020"])
def test_parse_date_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        parse_date(value)


# ---------------------------------------------------------------------------------------
# end to end: pipeline.build with demo districts and a ds201 file
# ---------------------------------------------------------------------------------------


def test_build_end_to_end_firm_units(tmp_path: Path, districts: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    nil, mun = districts
    raw = tmp_path / "raw"
    raw.mkdir()
    nil.drop(columns=["level"]).rename(columns={"id": "ID_NIL", "name": "NIL"}).to_file(raw / "nil.geojson",
                                                                                         driver="GeoJSON")
    mun.drop(columns=["level", "name"]).rename(columns={"id": "MUNICIPIO"}).to_file(raw / "municipi.geojson",
                                                                                     driver="GeoJSON")
    write_lines(raw / DS201_NAME, ds201_lines(), encoding="cp1252")
    out = tmp_path / "w.duckdb"
    build(raw, out, progress=lambda m: None)

    con = duckdb.connect(str(out), read_only=True)
    try:
        rows = con.sql("SELECT district_id, ateco_code, ateco_edition, category, units, avg_employees, trust, source_id "
                       "FROM firm_units ORDER BY district_id, ateco_code").fetchall()
        by_cat = dict(con.sql("SELECT category, sum(units) FROM firm_units GROUP BY category").fetchall())
        rejects = con.sql("SELECT row_number, action FROM rejects WHERE source_id = 'firms_ateco' "
                          "ORDER BY row_number").fetchall()
        lineage = con.sql("SELECT dataset, rows_read, rows_loaded, rows_rejected, trust, licence, encoding "
                          "FROM sources WHERE source_id = 'firms_ateco'").fetchall()
        unknown_nil = con.sql("SELECT count(*) FROM firm_units f LEFT JOIN districts d "
                              "ON d.level = 'nil' AND d.id = f.district_id WHERE d.id IS NULL").fetchall()[0][0]
    finally:
        con.close()
    assert len(rows) == 6
    assert rows[0] == (1, "25.62.00", "2007", "digital_manufacturing", 12, 3.5, "official", "firms_ateco")
    assert {r[2] for r in rows} == {"2007"}
    assert by_cat == {"digital_manufacturing": 16, "digital_services": 40, "artisan_manufacturing": 1234, "other": 32}
    assert rejects == [(4, "rejected"), (5, "rejected"), (6, "rejected"), (7, "rejected"), (8, "warning")]
    assert lineage == [("ds201", 10, 6, 4, "official", "CC BY 4.0 – Comune di Milano", "cp1252")]
    assert unknown_nil == 0


def test_a_key_repeated_three_times_keeps_its_first_located_row(tmp_path: Path, ctx: BuildContext,
                                                                 districts: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    """Each later row with the same firm id names the first row that was kept, not a row that was refused."""
    nil, _ = districts
    x1, y1 = inside(nil, 1)
    header = "codice_fiscale;denominazione;codice_ateco;edizione_ateco;addetti;data_inizio_attivita;indirizzo;lon;lat;stato"
    row = "07;Stampa 3D Neri;25.62.00;2007;3;01/02/2015;Via Tortona 10;{};{};attiva"
    lines = [header, row.format(9.9, 45.9),  # row 1: outside the city, refused for that
             row.format(x1, y1), f"08;Altra;62.01;2007;1;;Via Padova 1;{x1};{y1};", row.format(x1, y1), row.format(x1, y1)]
    result = FirmPointsSource().load(write_lines(tmp_path / "registro_imprese.csv", lines), ctx)
    duplicates = {r.row_number: r.reason for r in result.rejects if "duplicato" in r.reason}
    assert duplicates == {4: "duplicato: stesso id della riga 2 (tenuta quella)",
                          5: "duplicato: stesso id della riga 2 (tenuta quella)"}
    assert sorted(result.frame["name"]) == ["Altra", "Stampa 3D Neri"]
