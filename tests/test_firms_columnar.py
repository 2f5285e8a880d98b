"""The strict DuckDB reader of large firm point files gives the same result as the careful row reader,
and a result handed over staged (a scratch database the pipeline copies) writes the same warehouse
rows as one handed over as a frame: same places, same rejects with the same rows, records and messages.

The file is written by the test with every row-level defect the loader knows; it is loaded through
`read_table` (the reader of small files) and through DuckDB's `read_csv` (size threshold at zero).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import geopandas as gpd
import pandas as pd
import pytest
import shapely

from etl import pipeline, readers, staging
from etl.base import BuildContext
from etl.demo import demo_districts
from etl.sources import firms_points
from etl.sources.firms_points import FirmPointsSource

HEADER = ("codice_fiscale;progressivo_ul;denominazione;indirizzo;civico;codice_ateco;edizione_ateco;addetti;"
          "data_inizio_attivita;stato_attivita;forma_giuridica;note;lon;lat")


@pytest.fixture(scope="module")
def ctx() -> BuildContext:
    nil, mun = demo_districts()
    return BuildContext.with_areas(nil[["id", "name", "geometry"]].copy(), mun[["id", "name", "geometry"]].copy())


def _point(ctx: BuildContext, district_id: int) -> tuple[float, float]:
    nil: gpd.GeoDataFrame = ctx.boundaries()  # type: ignore[assignment]
    p = shapely.point_on_surface(nil.loc[nil["id"] == district_id, "geometry"].iloc[0])
    return round(p.x, 6), round(p.y, 6)


def _lines(ctx: BuildContext) -> list[str]:
    x, y = _point(ctx, 1)
    x2, y2 = _point(ctx, 2)
    return [
        HEADER,
        f"001;1;Officina Uno;Via Roma;1;25.62.00;2007;3;01/02/2010;ATTIVA;SRL;ok;{x};{y}",
        f"002;1; Software  Due ;Corso Como;;62.01.00;2007;1,5;2011-03-04;attiva;SPA;\"virgolette \"\"doppie\"\"\";{x2};{y2}",
        f"003;1;Scambiata;Via Po;7;62.01.00;2007;2;;CESSATA;SRL;barra \\ inversa;{y};{x}",
        "004;1;Fuori;Via Lontana;;62.01.00;2007;2;;;SRL;;9.9;45.9",
        f"001;1;Doppione;Via Roma;1;25.62.00;2007;3;;;SRL;;{x};{y}",
        f"005;1;Codice rotto;Via X;;XX.YY;2007;3;;;SRL;;{x};{y}",
        f"006;1;Senza edizione;Via Y;;62.01.00;;3;;;SRL;;{x};{y}",
        f"007;1;Addetti strani;Via Z;;62.01.00;2007;molti;31/02/2010;in pausa;SRL;tab\there;{x};{y}",
        f"008;;Unità zero;Piazza Duomo;;62.10.00;2007;-4;1700-01-01;SOSPESA;;àccènti €;{x2};{y2}",
        f";;Senza id;Via Q;;62.01.00;2007;;;;;;{x};{y}",
        f"009;2;Città;Viale Monza;12;47.11.40;2007;10;20200101;ATTIVA;SNC;;{x2};{y2}",
    ]


def _load(path: Path, ctx: BuildContext, monkeypatch: pytest.MonkeyPatch, columnar: bool):
    calls: list[str] = []
    original = firms_points.read_csv_into

    def spy(stage: staging.Stage, p: Path) -> staging.RawTable | None:
        raw = original(stage, p)
        calls.append("columnar" if raw is not None else "rows")
        return raw

    monkeypatch.setattr(firms_points, "read_csv_into", spy)
    monkeypatch.setattr(firms_points, "COLUMNAR_MIN_BYTES", 0 if columnar else 1 << 60)
    result = FirmPointsSource(source_id="t").load(path, ctx)
    assert calls == (["columnar"] if columnar else [])  # the path under test was really taken
    return result


def _plain(frame: pd.DataFrame) -> list[dict]:
    out = frame.astype(object).where(frame.notna(), None)
    return out.to_dict("records")


def test_columnar_and_row_paths_agree(tmp_path: Path, ctx: BuildContext, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "imprese.csv"
    path.write_text("\n".join(_lines(ctx)) + "\n", encoding="utf-8")
    rows = _load(path, ctx, monkeypatch, columnar=False)
    cols = _load(path, ctx, monkeypatch, columnar=True)
    assert _plain(cols.frame) == _plain(rows.frame)
    assert [(r.row_number, r.raw, r.reason, r.action) for r in cols.rejects] == \
           [(r.row_number, r.raw, r.reason, r.action) for r in rows.rejects]
    assert cols.notes == rows.notes and cols.rows_read == rows.rows_read
    # The defects are really there (a comparison of two empty lists would prove nothing).
    reasons = " | ".join(r.reason for r in rows.rejects)
    for word in ("invertite", "fuori dal territorio", "duplicato", "edizione ATECO non indicata", "addetti 'molti'",
                 "31/02/2010", "stato 'in pausa'", "addetti negativi"):
        assert word in reasons
    attrs = [json.loads(a) for a in rows.frame["attributes"]]
    assert {"forma_giuridica": "SPA", "note": 'virgolette "doppie"'}.items() <= attrs[1].items()
    assert any(a.get("note") == "tab\there" for a in attrs) and any(a.get("note") == "àccènti €" for a in attrs)
    assert list(rows.frame["source_key"])[-1] == "009/2"


def test_columnar_reader_falls_back_on_blank_lines_and_cp1252(tmp_path: Path) -> None:
    blank = tmp_path / "blank.csv"
    blank.write_text("a;b\n1;2\n\n3;4\n", encoding="utf-8")
    table = readers.read_table_columnar(blank, min_bytes=0)
    assert table.frame["a"].tolist() == ["1", None, "3"]  # the blank line keeps its row number
    latin = tmp_path / "latin.csv"
    latin.write_bytes("a;b\nCittà;2\n".encode("cp1252"))
    table = readers.read_table_columnar(latin, min_bytes=0)
    assert table.encoding == "cp1252" and table.frame["a"].tolist() == ["Città"]
    utf = tmp_path / "utf.csv"
    utf.write_text("a;b\n Città ;\n\"x;y\";2\n", encoding="utf-8")
    table = readers.read_table_columnar(utf, min_bytes=0)
    assert isinstance(table.frame["a"].dtype, pd.StringDtype)
    assert table.frame["a"].tolist() == ["Città", "x;y"] and pd.isna(table.frame["b"].iloc[0])


def _warehouse_rows(path: Path, result: object, ctx: BuildContext, db: Path) -> tuple[list, list, list]:
    con = duckdb.connect(str(db))
    try:
        pipeline.create_schema(con)
        pipeline.write_result(con, FirmPointsSource(source_id="t"), path, result, ctx)  # type: ignore[arg-type]
        places = con.sql("SELECT * EXCLUDE (path) FROM places ORDER BY source_key, name").fetchall()
        rejects = con.sql("SELECT row_number, raw, reason, action FROM rejects").fetchall()  # insertion order
        lineage = con.sql("SELECT rows_read, rows_loaded, rows_rejected, rows_repaired, notes FROM sources").fetchall()
    finally:
        con.close()
    return places, rejects, lineage


def test_staged_result_writes_the_same_rows(tmp_path: Path, ctx: BuildContext, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "imprese.csv"
    path.write_text("\n".join(_lines(ctx)) + "\n", encoding="utf-8")
    as_frame = FirmPointsSource(source_id="t").load(path, ctx)
    assert as_frame.staged is None and len(as_frame.frame) > 0
    monkeypatch.setattr(firms_points, "STAGE_MIN_ROWS", 0)
    scratch = tmp_path / "scratch"
    staged = FirmPointsSource(source_id="t").load(path, BuildContext(territory=ctx.territory, areas=ctx.areas,
                                                                     scratch_dir=scratch))
    assert staged.staged is not None and len(staged.frame) == 0 and staged.staged.open
    assert staged.rows_loaded == len(as_frame.frame) and staged.rows_rejected == as_frame.rows_rejected
    first = _warehouse_rows(path, as_frame, ctx, tmp_path / "a.duckdb")
    second = _warehouse_rows(path, staged, ctx, tmp_path / "b.duckdb")
    assert first == second and len(first[0]) == len(as_frame.frame) and len(first[1]) == len(as_frame.rejects)
    staged.staged.discard()
    assert not any(scratch.iterdir())  # nothing of the scratch database is left


def test_staged_integer_out_of_range_names_the_row(tmp_path: Path, ctx: BuildContext) -> None:
    """A staged column value beyond its warehouse type stops the file with its row, as for a frame."""
    from etl.base import LoadResult, SourceError, StagedRows

    stage = staging.Stage(tmp_path)
    stage.con.execute("CREATE TABLE places AS SELECT 7 AS row_number, 'firm' AS theme, 'k' AS source_key, "
                      "3000000000::BIGINT AS district_id")
    stage.con.execute("CREATE TABLE rejects (row_number BIGINT, raw VARCHAR, reason VARCHAR, action VARCHAR, seq INT)")
    result = LoadResult(table="places", frame=pd.DataFrame(), rows_read=1, trust="derived",
                        staged=StagedRows(stage, "places", "rejects", rows=1, rejected=0, repaired=0))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        pipeline.create_schema(con)
        with pytest.raises(SourceError) as err:
            pipeline._copy_staged(con, result, "t", "imprese.csv")
    finally:
        con.close()
        stage.discard()
    assert err.value.row == 7 and "3000000000" in err.value.problem


def test_strict_reader_numbers_rows_in_file_order(tmp_path: Path) -> None:
    """Several row groups read in parallel: each staged row keeps its file row number (duplicates, quarantine
    and the kept first occurrence all depend on it). A parallel projection reorders rows; the reader must not."""
    n = 400_000
    path = tmp_path / "ordine.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("id;nome;note\n")
        fh.writelines(f"{i};{chr(0xa0) if i % 3 else ' '} Impresa {i} {chr(9) if i % 2 else chr(0x3000)};{'x' * (i % 7)}\n"
                      for i in range(1, n + 1))
    stage = staging.Stage(tmp_path)
    try:
        raw = staging.read_csv_into(stage, path)
        assert raw is not None and raw.rows == n
        wrong = stage.count("SELECT count(*) FROM raw WHERE row_number <> CAST(id AS BIGINT) "
                            "OR nome <> 'Impresa ' || id")
        assert wrong == 0
        assert stage.count("SELECT count(*) FROM raw WHERE note IS NULL") == len(range(7, n + 1, 7))
    finally:
        stage.discard()


def test_heartbeat_logs_the_step_under_way(caplog: pytest.LogCaptureFixture) -> None:
    """A long file logs every few seconds which step is running, how far and how fast (issue: 222 s of silence)."""
    import logging
    import time

    stage = staging.Stage()
    try:
        with caplog.at_level(logging.INFO, logger="etl.staging"):
            with staging.Heartbeat("imprese.csv", stage, 2_000_000, every=0.05) as beat:
                beat.step("lettura")
                time.sleep(0.3)
        assert beat.beats >= 2
        lines = [r.getMessage() for r in caplog.records if r.name == "etl.staging"]
        assert lines and lines[0].startswith("imprese.csv: lettura in corso da ") and "2.000.000 righe" in lines[0]
    finally:
        stage.discard()


def test_staged_file_outside_the_territory_keeps_its_rejects(tmp_path: Path, ctx: BuildContext,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Every point outside: the file is skipped for this territory and its staged rejects reach the warehouse."""
    from etl.geo import NotInTerritory

    path = tmp_path / "imprese.csv"
    path.write_text("\n".join([HEADER, *(f"{i:03d};1;Fuori {i};Via Lontana;;62.01.00;2007;2;;;SRL;;9.9;46.{i}"
                                         for i in range(1, 6))]) + "\n", encoding="utf-8")
    monkeypatch.setattr(firms_points, "STAGE_MIN_ROWS", 0)
    with pytest.raises(NotInTerritory) as err:
        FirmPointsSource(source_id="t").load(path, BuildContext(territory=ctx.territory, areas=ctx.areas,
                                                                scratch_dir=tmp_path / "scratch"))
    kept = err.value.result
    assert kept is not None and kept.staged is not None and kept.staged.open
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        pipeline.create_schema(con)
        pipeline.write_rejects(con, "t", str(path), kept)
        reasons = con.sql("SELECT row_number, reason FROM rejects ORDER BY row_number").fetchall()
    finally:
        con.close()
    kept.staged.discard()
    assert [r for r, _ in reasons] == [1, 2, 3, 4, 5]
    assert all(reason.startswith("punto fuori dal territorio") for _, reason in reasons)


def test_out_of_memory_in_the_memory_stage_retries_on_disk(tmp_path: Path, ctx: BuildContext,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """An operator that cannot spill in the in-memory stage: the file is loaded again on a disk stage, same rows."""
    import logging

    path = tmp_path / "imprese.csv"
    path.write_text("\n".join(_lines(ctx)) + "\n", encoding="utf-8")
    expected = FirmPointsSource(source_id="t").load(path, ctx)
    original = FirmPointsSource._load_staged
    stages: list[bool] = []

    def tight(self: FirmPointsSource, p: Path, c: BuildContext, stage: staging.Stage, beat: staging.Heartbeat):
        stages.append(stage.on_disk)
        if not stage.on_disk:
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256.0 KiB")
        return original(self, p, c, stage, beat)

    monkeypatch.setattr(FirmPointsSource, "_load_staged", tight)
    with caplog.at_level(logging.WARNING, logger="etl.sources.firms_points"):
        again = FirmPointsSource(source_id="t").load(path, ctx)
    assert stages == [False, True]
    assert _plain(again.frame) == _plain(expected.frame)
    assert [(r.row_number, r.reason) for r in again.rejects] == [(r.row_number, r.reason) for r in expected.rejects]
    assert any("su disco" in r.getMessage() for r in caplog.records)
