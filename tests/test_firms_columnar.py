"""The columnar path of firm point files (DuckDB reader, column-wise loader) gives the same result as
the careful row reader: same places, same rejects with the same rows, records and messages.

The file is written by the test with every row-level defect the loader knows; it is loaded twice,
once through `read_table` (the reader of small files) and once through `read_table_columnar` with
its size threshold at zero.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from etl import readers
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
    original = readers.read_table_columnar

    def spy(p: Path, min_bytes: int = readers.COLUMNAR_MIN_BYTES) -> readers.Table:
        table = original(p, min_bytes=0 if columnar else 1 << 60)
        calls.append("columnar" if isinstance(table.frame.dtypes.iloc[0], pd.StringDtype) else "rows")
        return table

    monkeypatch.setattr(firms_points, "read_table_columnar", spy)
    result = FirmPointsSource(source_id="t").load(path, ctx)
    assert calls == ["columnar" if columnar else "rows"]  # the path under test was really taken
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
