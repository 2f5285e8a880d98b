"""Population per NIL: Italian CSV dialects, rejected rows with reasons, clear file errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd
import pytest

from etl.base import BuildContext, LoadResult, SourceError
from etl.sources import population
from etl.sources.population import peek_columns

if TYPE_CHECKING:
    from conftest import Helpers


@pytest.fixture
def ctx(h: Helpers) -> BuildContext:
    """A build that has loaded the 8 NIL of the test grid."""
    grid = h.nil_grid()
    nil = gpd.GeoDataFrame({"id": [i for i, _ in grid], "name": [f"NIL {i}" for i, _ in grid]},
                           geometry=[g for _, g in grid], crs="EPSG:4326")
    return BuildContext.with_areas(nil)


def load(path: Path, ctx: BuildContext) -> LoadResult:
    return population.SOURCE.load(path, ctx)


def rows(result: LoadResult) -> list[tuple[int, int | None, int]]:
    frame = result.frame
    assert list(frame.columns) == ["level", "district_id", "year", "residents"]
    assert set(frame["level"]) == {"nil"}
    years = [None if pd.isna(y) else int(y) for y in frame["year"]]
    return [(int(d), y, int(r)) for d, y, r in zip(frame["district_id"], years, frame["residents"], strict=True)]


def reasons(result: LoadResult) -> list[tuple[int | None, str]]:
    return [(r.row_number, r.reason) for r in result.rejects]


def test_cp1252_semicolon_thousands_and_unknown_nil(tmp_path: Path, h: Helpers, ctx: BuildContext) -> None:
    path = h.write_text(tmp_path / "popolazione.csv", h.population_lines, encoding="cp1252")
    result = load(path, ctx)
    assert rows(result) == [(i, None, v) for i, v in h.population.items()]  # '1.234' -> 1234
    assert reasons(result) == [(9, "NIL 99 sconosciuto: non è tra i NIL caricati")]
    assert result.rejects[0].raw == {"idnil": "99", "nil": "Quartiere inesistente", "residenti": "10", "densita": "1,0"}
    assert result.rows_read == 9
    assert result.rows_rejected == 1
    assert result.trust == "derived"
    assert result.encoding == "cp1252"
    assert result.file_format == "csv sep=';'"
    assert result.notes == ["colonne usate: id=idnil, residenti=residenti, anno=-",
                            "anno non indicato nel file: popolazione senza anno"]


def test_rejected_rows_keep_their_accents(tmp_path: Path, h: Helpers, ctx: BuildContext) -> None:
    path = h.write_text(tmp_path / "pop.csv", ["IdNIL;NIL;Residenti", "1;Duomo;100", "120;Città Studi;5"], encoding="cp1252")
    result = load(path, ctx)
    assert result.rejects[0].raw["nil"] == "Città Studi"
    assert '"Città Studi"' in result.rejects[0].raw_json()


def test_row_problems_each_get_a_reason(tmp_path: Path, h: Helpers, ctx: BuildContext) -> None:
    path = h.write_text(tmp_path / "pop.csv", [
        "IdNIL;Residenti",
        "1;100",
        "2;NA",        # missing value
        "3;-5",        # negative
        "4;molti",     # not a number
        "5;12,5",      # not an integer
        "Totale;999",  # a summary row, not a NIL
        ";50",         # no id
        "1;101",       # duplicate
        "6;1.000",     # thousands dot
    ])
    result = load(path, ctx)
    assert rows(result) == [(1, None, 100), (6, None, 1000)]
    assert reasons(result) == [
        (2, "residenti mancante"),
        (3, "residenti: residenti negativi (-5)"),
        (4, "valore non numerico: 'molti' non è un numero"),
        (5, "valore non numerico: '12,5' non è un numero intero"),
        (6, "idnil='Totale': riga non riferita a un NIL (id non numerico)"),
        (7, "idnil mancante"),
        (8, "NIL 1 anno None duplicato: tenuta la prima riga"),
    ]
    assert result.rejects[1].raw == {"idnil": "3", "residenti": "-5"}
    assert result.rejects[5].raw == {"idnil": None, "residenti": "50"}  # an empty cell is None, not NaN


def test_utf8_bom_with_years(tmp_path: Path, h: Helpers, ctx: BuildContext) -> None:
    path = h.write_text(tmp_path / "residenti.csv", [
        "\ufeffAnno,ID_NIL,Popolazione",
        "2020,1,100",
        "2020,2,200",
        "2021,1,110",
        "2021,1,111",
    ], newline="\n")
    result = load(path, ctx)
    assert result.encoding == "utf-8"
    assert rows(result) == [(1, 2020, 100), (2, 2020, 200), (1, 2021, 110)]
    assert reasons(result) == [(4, "NIL 1 anno 2021 duplicato: tenuta la prima riga")]
    assert result.notes == ["colonne usate: id=id_nil, residenti=popolazione, anno=anno"]
    assert result.trust == "derived"


def test_ds205_layout_is_official_and_id_is_the_numeric_column(tmp_path: Path, h: Helpers, ctx: BuildContext) -> None:
    """ds205 names the quartiere in one column and numbers it in another: join on the number."""
    path = h.write_text(tmp_path / "ds205_dati_quartieri_2011_2021_.csv", [
        "anno;quartiere;nil;uomini;donne;totale",
        "2021;DUOMO;1;8000;8889;16889",
        "2021;BRERA;2;9000;9501;18501",
    ])
    result = load(path, ctx)
    assert result.trust == "official"
    assert rows(result) == [(1, 2021, 16889), (2, 2021, 18501)]
    assert result.notes == ["colonne usate: id=nil, residenti=totale, anno=anno"]


def test_year_from_file_name(tmp_path: Path, h: Helpers, ctx: BuildContext) -> None:
    result = load(h.write_text(tmp_path / "residenti_nil_2019.csv", ["IdNIL;Residenti", "3;300"]), ctx)
    assert rows(result) == [(3, 2019, 300)]
    assert "anno dal nome del file: 2019" in result.notes


def test_without_loaded_nil_every_id_is_accepted(tmp_path: Path, h: Helpers) -> None:
    result = load(h.write_text(tmp_path / "pop.csv", ["IdNIL;Residenti", "99;10"]), BuildContext())
    assert rows(result) == [(99, None, 10)]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("vuoto.csv", b"", "il file è vuoto"),
        ("intestazione.csv", b"IdNIL;Residenti\r\n", "il file ha l'intestazione ma nessuna riga di dati"),
        ("spazi.csv", b"IdNIL Residenti\n1 100\n",
         "nessuna colonna con l'identificativo numerico del NIL (attese: id_nil, idnil, district_id, id_quartiere, "
         "quartiere, nil, id; trovate: idnil_residenti)"),
        ("virgole.csv", b"IdNIL;Residenti\n1,100\n2,200\n", "l'intestazione è separata da ';' ma le righe di dati da ','"),
        ("senza_residenti.csv", b"IdNIL;Maschi\n1;100\n", "manca la colonna dei residenti"),
        ("nomi.csv", "NIL;Residenti\nCittà Studi;100\nDuomo;200\n".encode("cp1252"),
         "nessuna colonna con l'identificativo numerico del NIL"),
        ("sconosciuti.csv", b"IdNIL;Residenti\n98;1\n99;2\n",
         "nessuna riga valida di popolazione (2 scartate; la prima: NIL 98 sconosciuto: non è tra i NIL caricati)"),
    ],
)
def test_bad_population_file(tmp_path: Path, ctx: BuildContext, name: str, content: bytes, problem: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError) as info:
        load(path, ctx)
    err = info.value
    assert err.path == str(path)
    assert str(err).startswith(f"{path}: ") or str(err).startswith(f"{path}, riga ")
    assert problem in err.problem
    assert err.hint


def test_find_only_population_tables(tmp_path: Path, h: Helpers) -> None:
    wanted = [
        h.write_text(tmp_path / "a" / "NILS_DataCluster.csv", ["NIL,IdNIL,Residenti", "Duomo,1,10"]),
        h.write_text(tmp_path / "b" / "ds205.csv", ["\ufeffanno;id_nil;totale", "2021;1;10"], encoding="utf-8"),
        h.write_text(tmp_path / "c" / "quartieri.csv", ["ID_NIL;Popolazione totale", "1;10"], encoding="cp1252"),
    ]
    h.write_text(tmp_path / "ds964_nil_wm_4326.csv", ["ID_NIL;NIL;WKT", "1;Duomo;POLYGON EMPTY"])
    h.write_text(tmp_path / "coworking.csv", ["spazio;municipio;id_nil", "X;1;1"])
    h.write_text(tmp_path / "nomi.csv", ["NIL;Residenti", "Duomo;10"])  # no numeric id column in the header list
    (tmp_path / "vuoto.csv").write_bytes(b"")
    assert population.SOURCE.find(tmp_path) == wanted


def test_peek_columns(tmp_path: Path, h: Helpers) -> None:
    path = h.write_text(tmp_path / "x.csv", ['"ID NIL";"Densità";Anno', "1;2;3"], encoding="cp1252")
    assert peek_columns(path) == ["id_nil", "densita", "anno"]
    assert peek_columns(tmp_path / "manca.csv") == []


# --------------------------------------------------------------------------- research tables

DATA_CLUSTER = ["NIL,IdNIL,JJI,Media01,IMG,AMPI,Nil,Residenti", "Duomo,1,1.5,0.1,107,104,Duomo,100",
                "Brera,2,2.5,0.2,104,101,Brera,200"]
SERVICES = ['"","IdNIL","NIL","Area","Population","Pop_density","N_Hospitals"', '"1","1","DUOMO",2.3,100,43.4,0',
            '"2","2","BRERA",1.6,200,125.0,1']


def test_research_tables_are_their_own_derived_source(tmp_path: Path, h: Helpers, ctx: BuildContext) -> None:
    cluster = h.write_text(tmp_path / "z" / "NILS_DataCluster.csv", DATA_CLUSTER, newline="\n")
    services = h.write_text(tmp_path / "a" / "Services.csv", SERVICES, newline="\n")
    plain = h.write_text(tmp_path / "pop.csv", ["IdNIL;Residenti", "1;10"])
    assert population.SOURCE.find(tmp_path) == [plain]
    assert population.RESEARCH.find(tmp_path) == [cluster, services]  # DataCluster first, whatever the folders
    assert population.RESEARCH.single  # the pipeline loads the first and lists the other as skipped
    assert "stessi residenti per NIL di NILS_DataCluster.csv" in population.RESEARCH.skip_note(services, cluster)
    result = population.RESEARCH.load(cluster, ctx)
    assert rows(result) == [(1, None, 100), (2, None, 200)]
    assert result.trust == "derived"
    assert result.licence == "non indicata"
    assert result.origin == ("Maranzano et al., Smart mobility in Milan "
                             "(GitHub PaoloMaranzano/NC_MS_PM_PMC_MilanoMobility)")
    assert "anno non documentato (≈2019–2020)" in result.notes
    same = population.RESEARCH.load(services, ctx)
    assert rows(same) == rows(result)


# --------------------------------------------------------------------------- population_current

def test_population_current_prefers_official_dated_latest(tmp_path: Path) -> None:
    import duckdb

    from etl.pipeline import create_schema

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        create_schema(con)
        rows_in = [
            # NIL 1: official 2022 wins over official 2021, derived 2023 and an undated official figure
            (1, 2022, "2022-12-31", 100, "xlsx", "official"), (1, 2021, None, 90, "ds205", "official"),
            (1, 2023, None, 120, "platform", "derived"), (1, None, None, 130, "undated", "official"),
            # NIL 8: absent from the official file -> the dated derived figure, not the undated one
            (8, 2021, None, 0, "platform", "derived"), (8, None, None, 2, "research", "derived"),
            # NIL 5: only an undated figure
            (5, None, None, 50, "research", "derived"),
            # NIL 6: same year, the one with the later reference date
            (6, 2022, "2022-06-30", 60, "a", "official"), (6, 2022, "2022-12-31", 61, "b", "official"),
        ]
        for district_id, year, ref, residents, src, trust in rows_in:
            con.execute("INSERT INTO population VALUES ('nil', ?, ?, ?, ?, ?, ?, ?)",
                        [district_id, year, ref, residents, src, f"/{src}", trust])
        got = con.sql("SELECT district_id, year, CAST(reference_date AS VARCHAR), residents, source_id, trust "
                      "FROM population_current ORDER BY district_id").fetchall()
    finally:
        con.close()
    assert got == [
        (1, 2022, "2022-12-31", 100, "xlsx", "official"),
        (5, None, None, 50, "research", "derived"),
        (6, 2022, "2022-12-31", 61, "b", "official"),
        (8, 2021, None, 0, "platform", "derived"),
    ]


def test_three_billion_residents_is_a_rejected_row_not_a_load(tmp_path: Path) -> None:
    """A residents figure beyond any district (3.000.000.000) is rejected with its row and reason."""
    from etl.base import BuildContext
    from etl.sources import population

    path = tmp_path / "popolazione_nil.csv"
    path.write_text("IdNIL;Residenti\n1;1200\n2;3000000000\n", encoding="utf-8")
    result = population.SOURCE.load(path, BuildContext())
    assert result.frame["residents"].tolist() == [1200]
    assert [r.row_number for r in result.rejects] == [2]
    assert "fuori scala" in result.rejects[0].reason


def test_sources_of_milan_areas_declare_their_level() -> None:
    """The pipeline skips a source whose `level` the territory lacks, or whose `territories` omits it."""
    from etl.sources import REGISTRY

    declared = {s.source_id: (getattr(s, "level", None), getattr(s, "territories", None)) for s in REGISTRY}
    for sid in ("population_nil", "population_research", "population_nil_xlsx", "platform_population",
                "platform_coworking_nil", "firms_ateco"):
        assert declared[sid] == ("nil", None), sid
    assert declared["confiscated"] == ("municipio", None)
    assert declared["firms_city"] == (None, ("milano",))
    for sid in ("makerspaces", "coworking", "vacant_ds503", "vacant_buildings", "historic_shops", "aree_dismesse"):
        assert declared[sid] == (None, None), sid  # coordinates: any territory


def test_nil_file_in_a_territory_without_nil_is_an_error_not_a_zero(tmp_path: Path, h: Helpers) -> None:
    from etl.territory import parse_profile

    profile_path = tmp_path / "prova.toml"
    profile_path.write_text('id = "prova"\nversion = "t"\nname_it = "Territorio di prova"\nname_en = "Test"\n'
                            '[centre]\nlon = 9.2\nlat = 45.47\nname_it = "c"\nname_en = "c"\n\n[[levels]]\n'
                            'id = "comune"\nboundary_source = "areas_geojson"\nlabel_it = "Comune"\nlabel_en = "Comune"\n'
                            'plural_it = "Comuni"\nplural_en = "Comuni"\n', encoding="utf-8")
    grid = h.nil_grid()
    comuni = gpd.GeoDataFrame({"id": [i for i, _ in grid], "name": [f"C {i}" for i, _ in grid]},
                              geometry=[g for _, g in grid], crs="EPSG:4326")
    ctx = BuildContext.with_areas(comuni, territory=parse_profile(profile_path))
    path = h.write_text(tmp_path / "pop.csv", ["IdNIL;Residenti", "1;10"])
    with pytest.raises(SourceError, match="il territorio Territorio di prova non ha questo livello"):
        load(path, ctx)
