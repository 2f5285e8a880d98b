"""The per-NIL JSON export (population, coworking counts): one file set, derived, gaps never zeros."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pytest

from etl.base import BuildContext, SourceError
from etl.sources import nil, platform_nil

if TYPE_CHECKING:
    from conftest import Helpers

POP = {1: 100, 2: 200, 3: 300, 4: 0, 5: 500, 6: 600, 7: 700}  # 8 has no file
COWORKING = {1: 3, 2: 0, 3: 1, 4: 0, 5: 0, 6: 2, 7: 0, 8: 4}


def person(i: int, residents: Any) -> dict[str, Any]:
    empty = residents == 0
    return {"id_nil": i, "nil": f"NIL {i}", "popolazione_totale": residents, "pct_stranieri": None if empty else 12.5,
            "famiglie_registrate": 0 if empty else 40, "famiglie_unipersonali": 0 if empty else 10,
            "nati_vivi": 0, "morti": 0, "immigrati": 0, "emigrati": 0}


def write_export(root: Path, pop: dict[int, Any] | None = None, cowo: dict[int, Any] | None = None,
                 overview: dict[str, Any] | None = None) -> Path:
    folder = root / "data-api" / "nil"
    folder.mkdir(parents=True)
    for i, v in (POP if pop is None else pop).items():
        (folder / f"{i}.json").write_text(json.dumps(person(i, v)), encoding="utf-8")
    for i, v in (COWORKING if cowo is None else cowo).items():
        (folder / str(i)).mkdir(exist_ok=True)
        (folder / str(i) / "commercio.json").write_text(json.dumps({"nilId": i, "nilName": f"NIL {i}", "coworking": v,
                                                                    "bottegheStoriche": 1}), encoding="utf-8")
    if overview is not None:
        (root / "data-api" / "data-overview.json").write_text(json.dumps(overview), encoding="utf-8")
    return folder


@pytest.fixture
def ctx(h: Helpers) -> BuildContext:
    grid = h.nil_grid()
    frame = gpd.GeoDataFrame({"id": [i for i, _ in grid], "name": [f"NIL {i}" for i, _ in grid]},
                             geometry=[g for _, g in grid], crs="EPSG:4326")
    return BuildContext.with_areas(frame)


def test_population_files_are_one_source_with_the_documented_year(tmp_path: Path, ctx: BuildContext) -> None:
    folder = write_export(tmp_path)
    assert platform_nil.POPULATION.find(tmp_path) == [folder]  # the folder is the file set
    result = platform_nil.POPULATION.load(folder, ctx)
    assert result.frame.equals(platform_nil.POPULATION.load(folder / "1.json", ctx).frame)  # any file of the set
    assert "7 file <id>.json letti come un'unica fonte (cartella data-api/nil/)" in result.notes
    assert dict(zip(result.frame["district_id"], result.frame["residents"], strict=True)) == POP
    assert set(result.frame["year"]) == {2021}
    assert result.trust == "derived"
    assert result.rows_read == 7
    assert result.licence == "non indicata (dati di origine Comune di Milano, CC BY 4.0)"
    assert result.origin == "GitHub giusenico/Milano-Platform-v-1.0, commit 0619b592"
    assert any("data-overview.json assente: anno 2021 come documentato" in n for n in result.notes)
    warnings = [(r.row_number, r.reason) for r in result.rejects]
    assert warnings == [
        (4, "4.json: popolazione_totale 0 con tutte le altre voci demografiche a 0 o nulle: zero dell'export non "
            "verificabile (potrebbe essere un NIL assente nella fonte, riempito con 0); caricato come 0"),
        (None, "NIL 8 senza file valido nell'export: nessun dato (non è uno zero)"),
    ]
    assert 8 not in set(result.frame["district_id"])


def test_population_year_from_the_overview_when_present(tmp_path: Path, ctx: BuildContext) -> None:
    folder = write_export(tmp_path, overview={"popolazione": {"anno": 2020, "popolazioneTotale": 2400}})
    result = platform_nil.POPULATION.load(folder, ctx)
    assert set(result.frame["year"]) == {2020}
    assert any("anno 2020 da data-overview.json (popolazione.anno)" in n for n in result.notes)


def test_coworking_counts_keep_real_zeros(tmp_path: Path, ctx: BuildContext) -> None:
    folder = write_export(tmp_path)
    assert platform_nil.COWORKING.find(tmp_path) == [folder]
    result = platform_nil.COWORKING.load(folder, ctx)
    frame = result.frame
    assert list(frame.columns) == ["level", "district_id", "theme", "year", "count"]
    assert dict(zip(frame["district_id"], frame["count"], strict=True)) == COWORKING
    assert set(frame["theme"]) == {"coworking"} and frame["year"].isna().all()
    assert result.trust == "derived" and result.rejects == []
    assert "totale 10 coworking; 4 NIL con 0 (zero reale: l'elenco è stato caricato)" in result.notes


def test_bad_files_are_rejected_with_reasons(tmp_path: Path, ctx: BuildContext) -> None:
    folder = write_export(tmp_path, pop={1: 100, 2: "molti", 3: -1, 99: 5})
    (folder / "5.json").write_text(json.dumps(person(6, 60)), encoding="utf-8")  # id differs from the file name
    result = platform_nil.POPULATION.load(folder, ctx)
    assert list(result.frame["district_id"]) == [1]
    rejected = [r.reason for r in result.rejects if r.action == "rejected"]
    assert rejected == [
        "2.json: popolazione_totale='molti' non è un numero di residenti valido",
        "3.json: popolazione_totale=-1 non è un numero di residenti valido",
        "5.json: id_nil=6 diverso dal numero nel nome del file (5)",
        "NIL 99 sconosciuto: non è tra i NIL caricati",
    ]


def test_broken_json_is_a_source_error(tmp_path: Path, ctx: BuildContext) -> None:
    folder = write_export(tmp_path)
    (folder / "3.json").write_text("{non json", encoding="utf-8")
    with pytest.raises(SourceError) as info:
        platform_nil.POPULATION.load(folder, ctx)
    assert info.value.path.endswith("3.json") and "JSON non valido" in info.value.problem


def test_find_ignores_other_json(tmp_path: Path) -> None:
    (tmp_path / "altro").mkdir()
    (tmp_path / "altro" / "1.json").write_text(json.dumps({"id": 1, "valore": 3}), encoding="utf-8")
    assert platform_nil.POPULATION.find(tmp_path) == []
    assert platform_nil.COWORKING.find(tmp_path) == []


@pytest.mark.real
def test_real_export(real_dir: Path) -> None:
    folder = real_dir / "milano-platform" / "data-api" / "nil"
    zip_path = real_dir / "comune-milano-nil" / "NIL_WM.zip"
    if not folder.is_dir() or not zip_path.is_file():
        pytest.skip("milano-platform export or NIL_WM.zip not in the real folder")
    ctx = BuildContext.with_areas(nil.SOURCE.load(zip_path, BuildContext()).frame[["id", "name", "geometry"]])
    assert platform_nil.POPULATION.find(real_dir) == [folder]
    assert platform_nil.COWORKING.find(real_dir) == [folder]
    pop = platform_nil.POPULATION.load(folder, ctx)
    assert len(pop.frame) == 88 and int(pop.frame["residents"].sum()) == 1_386_285
    assert set(pop.frame["year"]) == {2021}
    assert [(r.row_number, r.action, r.reason.split(":")[0]) for r in pop.rejects] == [(8, "warning", "8.json")]
    cowo = platform_nil.COWORKING.load(platform_nil.COWORKING.find(real_dir)[0], ctx)
    assert len(cowo.frame) == 88 and int(cowo.frame["count"].sum()) == 110
    assert int((cowo.frame["count"] == 0).sum()) == 43
