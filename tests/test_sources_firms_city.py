"""Firms for the whole city by ATECO code (ds171 -> firm_totals) and content-based recognition of firm files.

Fixtures are written by the tests; warehouses are real DuckDB files in tmp_path; the districts
are the demo tessellation of etl.demo. The last tests read the real ds171 file (marker `real`).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import geopandas as gpd
import pandas as pd
import pytest

from etl import ateco_map
from etl.base import BuildContext, SourceError
from etl.demo import demo_districts
from etl.pipeline import build
from etl.sources import REGISTRY
from etl.sources.firms_ateco import FirmsAtecoSource, firm_file_kind
from etl.sources.firms_city import FirmsCitySource, city_code
from etl.sources.firms_points import FirmPointsSource

DS171_HEADER = ("Anno;ateco_2007_2cifre;descrizione_ateco_impr_2007_2cifre;ateco_2007_5cifre;"
                "descr_ateco_impr_2007_5cifre;N. imprese;N. unità locali;N.addetti_imp;N.addetti_ul")
DS171_NAME = "ds171_economia_numero_imprese_unita_locali_addetti_settore_attivita_2007-2010.csv"
DS201_HEADER = "anno;idnil;nil;ateco_2007_ul;desc_ateco_2007_ul;numero_ul;media_addetti_ul"
DS201_NAME = "ds201_economia_numero_unita_locali_settore_attivita_quartiere_2010.csv"
REAL_DS171 = Path("comune-milano-ds171") / DS171_NAME


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def ds171_lines() -> list[str]:
    """The ds171 layout (cp1252-safe text, decimal commas); the comment says what each row tests."""
    return [
        DS171_HEADER,
        "2010;1;COLTIVAZIONI AGRICOLE;1620;Attività di supporto alla produzione animale;1;1;1;1",  # 1 zero lost
        "2010;25;FABBRICAZIONE DI PRODOTTI IN METALLO;25620;Lavori di meccanica generale;10;12;35,5;30,25",  # 2
        '2010;62;PRODUZIONE DI SOFTWARE;62010;"Produzione di software; non connesso";40;42;1.234,5;900',  # 3
        "2010;14;CONFEZIONE DI ARTICOLI DI ABBIGLIAMENTO;14131;Confezione in serie;5;6;7;6,5",  # 4 artisan
        "2010;62;PRODUZIONE DI SOFTWARE;62100;Codice 2025 in un file 2007;2;2;3;3",  # 5 unknown in 2007: warning
        "2010;16;INDUSTRIA DEL LEGNO;1620;Zero perso ma divisione diversa;1;1;1;1",  # 6 disagrees with division
        "2010;47;COMMERCIO AL DETTAGLIO;471;Codice troncato;1;1;1;1",  # 7 too short
        "2010;47;COMMERCIO AL DETTAGLIO;47114;Minimercati;n.d.;3;3;3",  # 8 firms not a number
        "2010;47;COMMERCIO AL DETTAGLIO;47115;Supermercati;2,5;3;3;3",  # 9 firms not whole
        "2010;47;COMMERCIO AL DETTAGLIO;47116;Ipermercati;1;-3;3;3",  # 10 negative units
        "2010;25;FABBRICAZIONE DI PRODOTTI IN METALLO;25620;Lavori di meccanica generale;1;1;1;1",  # 11 duplicate
        "2010;47;COMMERCIO AL DETTAGLIO;47111;Ipermercati;4;5;;",  # 12 empty employees: NULL, warning
        "2009;25;FABBRICAZIONE DI PRODOTTI IN METALLO;25620;Lavori di meccanica generale;9;11;30;28",  # 13 2009
        "2009;25;FABBRICAZIONE DI PRODOTTI IN METALLO;;Subtotale divisione 25;9;11;30;28",  # 14 subtotal of 25
        "Totale;;;;;100;120;200;180",  # 15 total row
        "2009;99;ORGANIZZAZIONI EXTRATERRITORIALI;99;Divisione senza dettaglio;3;3;4;4",  # 16 division only: kept
    ]


@pytest.fixture(scope="module")
def districts() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    return demo_districts()


# ---------------------------------------------------------------------------------------
# code normalisation
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "division", "expected"), [
    ("1620", "1", "01.62.0"), ("1620", "01", "01.62.0"), ("1620", None, "01.62.0"), ("10411", "10", "10.41.1"),
    ("36000", "36", "36.00.0"), ("25", "25", "25"), ("", "25", "25"), ("01.62.0", "1", "01.62.0"),
])
def test_city_code_pads_and_dots(value: str, division: str | None, expected: str) -> None:
    assert city_code(value, 5, division) == expected


@pytest.mark.parametrize(("value", "division", "message"), [
    ("1620", "16", "non coerente con la divisione"), ("162", None, "troppo corto"), ("123456", None, "più di 5 cifre"),
    ("", None, "mancante"), ("abc", None, "non valido"), ("10411", "1x", "divisione ATECO"),
])
def test_city_code_refuses(value: str, division: str | None, message: str) -> None:
    with pytest.raises(ateco_map.InvalidAtecoCode, match=message):
        city_code(value, 5, division)


# ---------------------------------------------------------------------------------------
# loading a ds171 file
# ---------------------------------------------------------------------------------------


def test_ds171_rows_rejects_and_numbers(tmp_path: Path) -> None:
    path = write_lines(tmp_path / DS171_NAME, ds171_lines(), encoding="cp1252")
    result = FirmsCitySource().load(path, BuildContext())
    assert (result.table, result.trust, result.encoding, result.rows_read) == ("firm_totals", "official", "cp1252", 16)
    assert result.reference_date is None and result.attribution == "Comune di Milano"
    assert "intera città, nessun dettaglio per NIL" in result.notes
    frame = result.frame.set_index(["year", "ateco_code"])
    assert sorted(frame.index) == [(2009, "25.62.0"), (2009, "99"), (2010, "01.62.0"), (2010, "14.13.1"),
                                   (2010, "25.62.0"), (2010, "47.11.1"), (2010, "62.01.0"), (2010, "62.10.0")]
    assert set(result.frame["level"]) == {"territory"} and set(result.frame["area_id"]) == {"milano"}
    assert set(result.frame["ateco_edition"]) == {"2007"}
    cats = frame["category"].to_dict()
    assert cats[(2010, "25.62.0")] == "digital_manufacturing"  # machining, 2007 meaning
    assert cats[(2010, "62.01.0")] == "digital_services"
    assert cats[(2010, "14.13.1")] == "artisan_manufacturing"
    assert cats[(2010, "01.62.0")] == "other" and cats[(2010, "62.10.0")] == "other"
    machining = frame.loc[(2010, "25.62.0")]
    assert (int(machining["firms"]), int(machining["units"])) == (10, 12)
    assert (machining["employees_firms"], machining["employees_units"]) == (35.5, 30.25)  # decimal commas
    assert frame.loc[(2010, "62.01.0"), "employees_firms"] == 1234.5  # thousands dot and decimal comma
    assert frame.loc[(2010, "01.62.0"), "ateco_label"].startswith("Attività di supporto")  # ISTAT label
    assert frame.loc[(2010, "62.10.0"), "ateco_label"] == "Codice 2025 in un file 2007"  # file's own label
    empty = frame.loc[(2010, "47.11.1")]
    assert pd.isna(empty["employees_firms"]) and pd.isna(empty["employees_units"]) and int(empty["units"]) == 5

    by_row: dict[int | None, list[tuple[str, str]]] = {}
    for r in result.rejects:
        by_row.setdefault(r.row_number, []).append((r.action, r.reason))
    assert by_row[5][0][0] == "warning" and "inesistente nell'edizione 2007" in by_row[5][0][1]
    assert by_row[6] == [("rejected", "codice ATECO '1620' (letto 01.62.0) non coerente con la divisione '16' "
                                      "della riga")]
    assert "troppo corto" in by_row[7][0][1]
    assert by_row[8] == [("rejected", "n_imprese='n.d.' non è un numero intero")]
    assert by_row[9] == [("rejected", "n_imprese='2,5' non è un numero intero")]
    assert by_row[10] == [("rejected", "n_unita_locali negativo (-3)")]
    assert by_row[11][0][0] == "rejected" and "duplicato" in by_row[11][0][1] and "riga 2" in by_row[11][0][1]
    assert by_row[12] == [("warning", "n_addetti_imp, n_addetti_ul vuoto: lasciato senza valore (non zero)")]
    assert by_row[14][0][0] == "rejected" and "subtotale" in by_row[14][0][1] and "dettaglio: 11" in by_row[14][0][1]
    assert by_row[15][0][0] == "rejected" and "totale" in by_row[15][0][1]
    assert set(by_row) == {5, 6, 7, 8, 9, 10, 11, 12, 14, 15}
    assert result.rows_rejected == 8
    assert any(n.startswith("2010: imprese 62, unità locali 68") for n in result.notes)
    assert any("righe di subtotale escluse: 1" == n for n in result.notes)


def test_utf8_copy_with_other_name_keeps_the_official_layout(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "imprese_citta.csv", ds171_lines()[:5], encoding="utf-8")
    result = FirmsCitySource().load(path, BuildContext())
    assert result.encoding == "utf-8" and result.trust == "official"  # same header as the portal's file
    assert result.frame["ateco_code"].tolist() == ["01.62.0", "25.62.0", "62.01.0", "14.13.1"]


def test_second_copy_in_the_same_build_is_not_counted_twice(tmp_path: Path) -> None:
    ctx = BuildContext()
    first = FirmsCitySource().load(write_lines(tmp_path / DS171_NAME, ds171_lines(), encoding="cp1252"), ctx)
    copy = FirmsCitySource().load(write_lines(tmp_path / "copia" / DS171_NAME, ds171_lines()), ctx)
    assert len(first.frame) == 8 and copy.frame.empty
    assert sum("già caricato da" in r.reason for r in copy.rejects) == 8
    extra = write_lines(tmp_path / "ds171_2011.csv", [DS171_HEADER, "2011;25;X;25620;Lavori di meccanica generale;3;3;3;3",
                                                      "2010;25;X;25620;Lavori di meccanica generale;3;3;3;3"])
    later = FirmsCitySource().load(extra, ctx)
    assert later.frame["year"].tolist() == [2011]  # new year kept, 2010 already loaded
    assert [r.row_number for r in later.rejects] == [2]


def test_edition_and_columns_are_required(tmp_path: Path) -> None:
    no_edition = write_lines(tmp_path / "totali.csv", ["anno;codice_ateco;n_imprese", "2010;25.62;3"])
    with pytest.raises(SourceError, match="edizione ATECO non indicata"):
        FirmsCitySource().load(no_edition, BuildContext())
    with_column = write_lines(tmp_path / "totali_2025.csv",
                              ["anno;codice_ateco;edizione_ateco;n_unita_locali", "2025;25.62;2025;3", "2025;25.53;2025;2"])
    result = FirmsCitySource().load(with_column, BuildContext())
    assert result.frame["category"].tolist() == ["artisan_manufacturing", "digital_manufacturing"]  # 2025 meanings
    assert result.frame["firms"].isna().all()  # no firms column: NULL, not zero
    assert result.trust == "derived"  # neither named ds171 nor with its header
    no_counts = write_lines(tmp_path / "ds171_rotto.csv", ["anno;ateco_2007_5cifre", "2010;25620"])
    with pytest.raises(SourceError, match="numero di imprese o di unità locali"):
        FirmsCitySource().load(no_counts, BuildContext())


def test_file_with_no_usable_row_is_refused(tmp_path: Path) -> None:
    path = write_lines(tmp_path / DS171_NAME, [DS171_HEADER, "2010;47;X;471;Codice troncato;1;1;1;1"])
    with pytest.raises(SourceError, match="nessuna riga valida"):
        FirmsCitySource().load(path, BuildContext())


# ---------------------------------------------------------------------------------------
# recognition by content
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "kind"), [
    (DS171_HEADER, "city"), (DS201_HEADER, "per_nil"),
    ("denominazione;codice_ateco;lon;lat", "points"), ("denominazione;codice_ateco;idnil", "points"),
    ("denominazione;ateco;municipio", "points"), ("denominazione;codice_ateco;indirizzo", None),  # nowhere to put it
    ("municipio;codice_ateco;numero_imprese", None),  # counts per Municipio: no source for them
    ("denominazione;lon;lat", None), ("idnil;residenti", None),
])
def test_firm_file_kind(header: str, kind: str | None) -> None:
    from etl.readers import normalise_header

    assert firm_file_kind([normalise_header(c) for c in header.split(";")]) == kind


def test_each_firm_file_is_claimed_by_one_source_only(tmp_path: Path) -> None:
    ds171 = write_lines(tmp_path / "a" / DS171_NAME, ds171_lines(), encoding="cp1252")
    renamed171 = write_lines(tmp_path / "imprese_milano_2007_2010.csv", ds171_lines())
    ds201 = write_lines(tmp_path / DS201_NAME, [DS201_HEADER, "2010;1;DUOMO;25.62.00;x;1;1"], encoding="cp1252")
    points = write_lines(tmp_path / "registro_imprese.csv",
                         ["denominazione;codice_ateco;edizione_ateco;lon;lat", "A;25.62;2007;9.19;45.46"])
    by_nil = write_lines(tmp_path / "elenco_aziende.csv", ["ragione_sociale;ateco_2025;idnil", "B;62.10;5"])
    write_lines(tmp_path / "imprese_per_municipio.csv", ["municipio;codice_ateco;numero_imprese", "1;25.62;3"])
    write_lines(tmp_path / "imprese_innovative.csv", ["denominazione;lon;lat", "A;9.19;45.46"])
    broken171 = write_lines(tmp_path / "ds171_vecchio.csv", ["anno;settore;numero", "2010;x;1"])
    found = {s.source_id: s.find(tmp_path) for s in REGISTRY}
    assert found["firms_city"] == sorted([ds171, renamed171, broken171])
    assert found["firms_ateco"] == [ds201]
    assert found["firms_points"] == sorted([points, by_nil])
    assert FirmsAtecoSource().find(tmp_path) == [ds201] and FirmPointsSource().find(tmp_path) == sorted([points, by_nil])
    claimed = [p for files in found.values() for p in files]
    assert len(claimed) == len(set(claimed))  # no file has two owners


# ---------------------------------------------------------------------------------------
# end to end
# ---------------------------------------------------------------------------------------


def test_build_end_to_end_firm_totals(tmp_path: Path, districts: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    nil, mun = districts
    raw = tmp_path / "raw"
    raw.mkdir()
    nil.drop(columns=["level"]).rename(columns={"id": "ID_NIL", "name": "NIL"}).to_file(raw / "nil.geojson",
                                                                                         driver="GeoJSON")
    mun.drop(columns=["level", "name"]).rename(columns={"id": "MUNICIPIO"}).to_file(raw / "municipi.geojson",
                                                                                     driver="GeoJSON")
    write_lines(raw / DS171_NAME, ds171_lines(), encoding="cp1252")
    out = tmp_path / "w.duckdb"
    build(raw, out, progress=lambda m: None)
    con = duckdb.connect(str(out), read_only=True)
    try:
        per_year = con.sql("SELECT year, sum(firms), sum(units), round(sum(employees_units), 2) FROM firm_totals "
                           "GROUP BY year ORDER BY year").fetchall()
        meta = con.sql("SELECT DISTINCT level, area_id, source_id, trust FROM firm_totals").fetchall()
        digital = con.sql("SELECT units FROM firm_totals WHERE year = 2010 AND category = ?",
                          params=["digital_manufacturing"]).fetchall()
        lineage = con.sql("SELECT dataset, rows_read, rows_loaded, rows_rejected, licence, attribution, reference_date, "
                          "encoding, status FROM sources WHERE source_id = 'firms_city'").fetchall()
        rejects = con.sql("SELECT row_number, action FROM rejects WHERE source_id = 'firms_city' "
                          "ORDER BY row_number, action").fetchall()
        others = con.sql("SELECT count(*) FROM sources WHERE source_id IN ('firms_points', 'firms_ateco')").fetchall()
    finally:
        con.close()
    assert per_year == [(2009, 12, 14, 32.0), (2010, 62, 68, 940.75)]
    assert meta == [("territory", "milano", "firms_city", "official")]
    assert digital == [(12,)]
    assert lineage == [("ds171", 16, 8, 8, "CC BY 4.0 (licenza predefinita del portale; da verificare)",
                        "Comune di Milano", None, "cp1252", "loaded")]
    assert [r for r in rejects if r[1] == "warning"] == [(5, "warning"), (12, "warning")]
    assert others == [(0,)]  # the ds171 file is nobody else's


# ---------------------------------------------------------------------------------------
# the real ds171 file
# ---------------------------------------------------------------------------------------

# Measured on the real file (2007-2010): per year and programme category, (firms, local units,
# employees of the firms, employees of the local units). Every code exists in ATECO 2007.
REAL_BY_YEAR_CATEGORY = {
    (2007, "artisan_manufacturing"): (6664, 6963, 134985.05, 30783.96),
    (2007, "digital_manufacturing"): (2668, 2729, 86337.83, 16168.87),
    (2007, "digital_services"): (6884, 7142, 97901.08, 40591.07),
    (2007, "other"): (161257, 167704, 2199106.26, 675761.98),
    (2008, "artisan_manufacturing"): (6595, 6881, 142376.81, 31577.52),
    (2008, "digital_manufacturing"): (2537, 2590, 81993.48, 16283.68),
    (2008, "digital_services"): (6833, 7026, 96772.69, 41397.47),
    (2008, "other"): (163063, 168941, 2211072.23, 694794.77),
    (2009, "artisan_manufacturing"): (6294, 6606, 138708.98, 30383.45),
    (2009, "digital_manufacturing"): (2399, 2445, 70355.49, 15532.28),
    (2009, "digital_services"): (6692, 6894, 96121.82, 41166.17),
    (2009, "other"): (162872, 168575, 2177898.41, 693034.29),
    (2010, "artisan_manufacturing"): (6192, 6583, 139596.05, 29624.44),
    (2010, "digital_manufacturing"): (2428, 2514, 68632.99, 14800.91),
    (2010, "digital_services"): (6564, 6875, 94225.70, 39927.06),
    (2010, "other"): (163228, 170500, 2156721.28, 706525.28),
}


@pytest.mark.real
def test_real_ds171_totals(real_dir: Path) -> None:
    path = real_dir / REAL_DS171
    assert FirmsCitySource().find(real_dir) == [path]
    result = FirmsCitySource().load(path, BuildContext())
    frame = result.frame
    assert (result.rows_read, len(frame), result.rejects, result.trust) == (3115, 3115, [], "official")
    assert int(frame.loc[frame["year"] == 2010, "units"].sum()) == 186_472  # SOURCES.md 8.4
    assert frame.groupby("year").size().to_dict() == {2007: 776, 2008: 779, 2009: 781, 2010: 779}
    assert frame["ateco_code"].str.fullmatch(r"\d{2}\.\d{2}\.\d").all()  # all at 5 digits, dotted
    assert frame["ateco_code"].iloc[0] == "01.62.0"  # written "1620" in the file
    assert frame["ateco_code"].str.startswith("0").sum() == 26  # divisions 01-09, leading zero restored
    assert any("26 righe" in n for n in result.notes)  # leading zeros restored
    assert "nessuna riga di subtotale (a 2 cifre o di gruppo) nel file" in result.notes
    sums = frame.groupby(["year", "category"])[["firms", "units", "employees_firms", "employees_units"]].sum()
    measured = {k: (int(r["firms"]), int(r["units"]), round(float(r["employees_firms"]), 2),
                    round(float(r["employees_units"]), 2)) for k, r in sums.iterrows()}
    assert measured == REAL_BY_YEAR_CATEGORY
    assert set(frame["category"]) == set(ateco_map.load_config().categories)  # every category of the config


@pytest.mark.real
def test_real_firm_files_have_one_owner(real_dir: Path) -> None:
    path = real_dir / REAL_DS171
    assert path not in FirmPointsSource().find(real_dir)  # the bug: claimed by name, then the build aborted
    assert path not in FirmsAtecoSource().find(real_dir)
    owners = [s.source_id for s in REGISTRY if path in s.find(real_dir)]
    assert owners == ["firms_city"]
