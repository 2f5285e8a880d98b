"""Numbers in table cells are written in the page's language.

The data grid draws on a canvas the display values that the server sends with the table (the
pandas Styler's display values); its accessible mirror table keeps the raw numbers, so the browser
cannot be asked for what the reader sees. This test reads the display values the page sends."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "app.py"


def shown_cells(at: AppTest) -> list[str]:
    """Every display value of every table on the page, as text."""
    cells: list[str] = []
    for frame in at.dataframe:
        styler = frame.proto.arrow_data.styler
        if not styler.display_values:
            continue
        table = pa.ipc.open_stream(styler.display_values).read_all()
        for column in table.columns:
            cells += [str(v) for v in column.to_pylist() if v is not None]
    return cells


@pytest.mark.parametrize(("lang", "grouped", "wrong"), [
    ("it", r"\d{1,3}(\.\d{3})+", r"\d{1,3}(,\d{3}){2,}|-?\d+\.\d{1,2}"),  # 16.608 / 2,342 km², never 1,396,673 / 7212.5
    ("en", r"\d{1,3}(,\d{3})+", r"\d{1,3}(\.\d{3}){2,}|-?\d+,\d{1,2}"),
])
def test_overview_table_cells_follow_the_language(demo_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  lang: str, grouped: str, wrong: str) -> None:
    for key, value in {"OSSERVATORIO_WAREHOUSE": str(demo_warehouse), "OSSERVATORIO_AUTO_DEMO": "0",
                       "OSSERVATORIO_MAP_STYLE": "white-bg", "OSSERVATORIO_APPSTATE": str(tmp_path / "s.sqlite")}.items():
        monkeypatch.setenv(key, value)
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.switch_page("pages/panoramica.py")
    at.query_params["lang"] = lang
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    cells = shown_cells(at)
    assert len(cells) > 50, cells[:10]
    assert [c for c in cells if re.fullmatch(grouped, c)], f"no grouped thousands ({lang}) in {cells[:60]}"
    bad = [c for c in cells if re.fullmatch(wrong, c)]
    assert not bad, f"numbers not written in {lang}: {bad[:10]}"
