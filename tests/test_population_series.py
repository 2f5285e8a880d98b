"""End to end: several population files make a dated series; the current figure per NIL is the
official dated one, and a NIL missing from it falls back to an older derived figure, saying so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from etl.pipeline import build

if TYPE_CHECKING:
    from conftest import Helpers

from test_population_xlsx import write_sheet

OFFICIAL = {1: 1000, 2: 2000, 3: 3000, 4: 4000, 5: 5000, 6: 6000, 7: 7000}  # NIL 8 absent
PLATFORM = {i: 900 + i for i in range(1, 9)}


def test_series_and_current_population(tmp_path: Path, h: Helpers) -> None:
    raw = h.write_raw_dir(tmp_path / "raw")  # also an undated derived CSV for NIL 1-8
    write_sheet(raw / "statistica" / "NIL_sesso_2022.xlsx", rows=[(i, f"N{i}", v // 2, v - v // 2, v)
                                                                  for i, v in OFFICIAL.items()],
                total=sum(OFFICIAL.values()), title="Popolazione residente nel Comune di Milano al 31/12/2022")
    folder = raw / "export" / "data-api" / "nil"
    folder.mkdir(parents=True)
    for i, v in PLATFORM.items():
        (folder / f"{i}.json").write_text(json.dumps({"id_nil": i, "popolazione_totale": v}), encoding="utf-8")
    h.write_text(raw / "ricerca" / "NILS_DataCluster.csv", ["NIL,IdNIL,JJI,AMPI,Residenti", "A,1,1,1,10"], newline="\n")
    h.write_text(raw / "ricerca" / "Services.csv", ["IdNIL,Population,Pop_density,N_Hospitals", "1,10,1,0"], newline="\n")
    out = tmp_path / "w.duckdb"
    build(raw, out, progress=h.quiet)

    series = h.fetch(out, "SELECT source_id, year, trust, count(*), sum(residents) FROM population "
                          "WHERE level = 'nil' GROUP BY ALL ORDER BY source_id")
    assert series == [
        ("platform_population", 2021, "derived", 8, sum(PLATFORM.values())),
        ("population_nil", None, "derived", 8, sum(h.population.values())),
        ("population_nil_xlsx", 2022, "official", 7, sum(OFFICIAL.values())),
        ("population_research", None, "derived", 1, 10),
    ]
    current = h.fetch(out, "SELECT district_id, year, CAST(reference_date AS VARCHAR), residents, trust, source_id "
                           "FROM population_current WHERE level = 'nil' ORDER BY district_id")
    assert current[:7] == [(i, 2022, "2022-12-31", v, "official", "population_nil_xlsx") for i, v in OFFICIAL.items()]
    assert current[7] == (8, 2021, None, PLATFORM[8], "derived", "platform_population")
    assert h.fetch(out, "SELECT population_year, population_trust FROM district_stats WHERE level = 'nil' AND id = 8") \
        == [(2021, "derived")]

    sources = {(s, status): (path, notes) for s, status, path, notes in h.fetch(
        out, "SELECT source_id, status, path, notes FROM sources WHERE source_id LIKE 'p%'")}
    assert sources[("platform_population", "loaded")][0] == str(folder)  # the file set is recorded as its folder
    assert sources[("population_research", "loaded")][0].endswith("NILS_DataCluster.csv")
    assert sources[("population_research", "skipped")][0].endswith("Services.csv")
    warnings = h.fetch(out, "SELECT reason FROM rejects WHERE source_id = 'population_nil_xlsx'")
    assert warnings == [("NIL 8 (NIL 8) assente nel file: nessun dato di residenti al 31/12/2022 (non è uno zero)",)]
    assert h.fetch(out, "SELECT count(*) FROM sources WHERE source_id = 'unrecognised' AND path LIKE ?",
                   [f"{folder}%"]) == [(0,)]
