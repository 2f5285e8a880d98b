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


# --- A warm rerun replays a table or chart instead of drawing it again ------------------------------------

def _replay_script() -> None:
    import pandas as pd
    import plotly.graph_objects as go
    import streamlit as st

    from osservatorio import ui

    rows = int(st.session_state.get("rows", 2))
    ui.table(pd.DataFrame({"n": [1234.5 + i for i in range(rows)]}), "it")
    fingerprint = ("bars", st.session_state.get("chart", "a"))

    def build() -> go.Figure:
        st.session_state["builds"] = st.session_state.get("builds", 0) + 1
        return go.Figure(go.Bar(x=[fingerprint[1]], y=[1]))

    ui.chart(fingerprint, build, key="bars")


def test_a_rerun_replays_the_same_table_and_chart_and_redraws_a_changed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from osservatorio import ui

    calls: list[int] = []
    styled = ui.styled

    def counting(frame, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - a pass-through that counts
        calls.append(len(frame))
        return styled(frame, *args, **kwargs)

    monkeypatch.setattr(ui, "styled", counting)
    st.cache_data.clear()
    at = AppTest.from_function(_replay_script).run()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert calls == [2], "the same table was styled again on a rerun"
    assert at.session_state["builds"] == 1, "the same chart was built again on a rerun"
    assert "1.234,5" in shown_cells(at), shown_cells(at)  # the replayed table keeps its Italian numbers
    assert len(at.get("plotly_chart")) == 1

    at.session_state["rows"] = 3
    at.session_state["chart"] = "b"
    at.run()
    assert calls == [2, 3], "a changed table was not drawn again"
    assert at.session_state["builds"] == 2, "a changed fingerprint did not build its chart"
    assert "1.236,5" in shown_cells(at)
    assert '"b"' in at.get("plotly_chart")[0].proto.spec

    at.session_state["rows"] = ui.CACHED_TABLE_ROWS  # a frame Streamlit would hash by a sample: drawn every time
    at.run()
    at.run()
    assert calls[2:] == [ui.CACHED_TABLE_ROWS, ui.CACHED_TABLE_ROWS]
