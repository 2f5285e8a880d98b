"""Pages at regional scale, without timing: what the pages read from the warehouse, what they send, and
that downloads are built only when asked for.

Every public query of `osservatorio.data` is wrapped to record the rows it returns (the database is the real
temp DuckDB warehouse; nothing of it is mocked), so a page that would read the firm register into pandas,
send every rejected row or build a download on a rerun fails here, whatever the machine's speed.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from etl.pipeline import build
from osservatorio import data, downloads, queries, views
from osservatorio.exports import ExportSpec
from osservatorio.i18n import t
from osservatorio.page_views import imprese as fv
from osservatorio.territory import Territory
from osservatorio.warehouse import key_for

APP = Path(__file__).resolve().parents[1] / "app.py"
EXTRA_REJECTS = 1_234  # more than two pages of the Dati page's 500 rows
ONE_MB = 1024 * 1024


def quiet(_message: str) -> None:
    """Progress callback that prints nothing."""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo build (4,000 firm points: more than the map's 1,500) with 1,234 rejected rows added."""
    path = tmp_path_factory.mktemp("scale") / "warehouse.duckdb"
    build(None, path, progress=quiet)
    con = duckdb.connect(str(path))
    try:
        con.execute("INSERT INTO rejects (source_id, path, row_number, raw, reason, action) "
                    "SELECT 'firms_points', 'imprese_regione.csv', i::INTEGER, '{\"x\": \"' || i || '\"}', "
                    "'punto fuori dal comune', 'rejected' FROM range(1, $n + 1) r(i)", {"n": EXTRA_REJECTS})
    finally:
        con.close()
    return path


@pytest.fixture(autouse=True)
def app_env(warehouse: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("OSSERVATORIO_APPSTATE", str(tmp_path / "app.sqlite"))
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def fetch(path: Path, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(sql, params=params).fetchall()
    finally:
        con.close()


class Reads:
    """The calls of every public query of osservatorio.data: (function, arguments, rows returned)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], int]] = []

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args, _ in self.calls if n == name]

    def largest(self) -> tuple[str, int]:
        name, _, rows = max(self.calls, key=lambda c: c[2])
        return name, rows


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    """Wrap every public function of osservatorio.data (queries look them up on each call)."""
    seen = Reads()

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(con: duckdb.DuckDBPyConnection, *args: Any, **kwargs: Any) -> Any:
            out = fn(con, *args, **kwargs)
            seen.calls.append((name, args, len(out) if isinstance(out, pd.DataFrame) else 0))
            return out
        return counted

    for name, fn in list(vars(data).items()):
        if inspect.isfunction(fn) and fn.__module__ == data.__name__ and not name.startswith("_"):
            params = list(inspect.signature(fn).parameters)
            if params and params[0] == "con":
                monkeypatch.setattr(data, name, wrap(name, fn))
    return seen


def open_page(page: str, params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sent_bytes(at: AppTest) -> int:
    """Bytes of the element protos of the last run (what the browser receives, near enough)."""
    return sum(node.proto.ByteSize() for node in at._tree  # noqa: SLF001 - no public iterator over every node
               if getattr(node, "proto", None) is not None and hasattr(node.proto, "ByteSize"))


# --- Imprese -----------------------------------------------------------------------------------------------


def test_imprese_never_reads_the_firm_register_into_pandas(warehouse: Path, reads: Reads) -> None:
    firms = fetch(warehouse, "SELECT count(*) FROM places WHERE theme = 'firm' AND lon IS NOT NULL")[0][0]
    assert firms > fv.MAX_FIRM_POINTS  # the demo has more firms than the map draws: a full read would show
    at = open_page("pages/imprese.py", {"categoria": "*"})
    at.run()  # a warm rerun reads no more
    assert not [args for args in reads.of("places") if args and args[0] == "firm"], "the firm rows came into pandas"
    assert not reads.of("firm_points"), "the firm list for the download was read without a click"
    name, rows = reads.largest()
    assert rows <= fv.MAX_FIRM_POINTS, (name, rows)
    assert reads.of("firm_points_sample") and reads.of("firm_points_located")
    caption = f"1.500 imprese su {firms:,}".replace(",", ".")
    assert any(caption in c.value for c in at.caption), [c.value for c in at.caption]
    points = [t for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]
              if t["type"] == "scattermap"]
    assert points and len(points[0]["text"]) == fv.MAX_FIRM_POINTS  # one hover text per drawn firm
    assert sent_bytes(at) < ONE_MB


def test_firm_sample_and_counts_are_sql(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        total, located = data.firm_points_located(con, None, "digital_manufacturing")
        expected = con.sql("SELECT count(*), count(lon) FROM places WHERE theme = 'firm' "
                           "AND category = 'digital_manufacturing'").fetchall()[0]
        assert (total, located) == expected and located > 10
        first = data.firm_points_sample(con, None, "digital_manufacturing", 10)
        again = data.firm_points_sample(con, None, "digital_manufacturing", 10)
        assert len(first) == 10 and set(first["category"]) == {"digital_manufacturing"}
        assert first["source_key"].tolist() == again["source_key"].tolist()  # the same points on every rerun
        district = int(first["district_id"].dropna().iloc[0])
        here = data.firm_points_sample(con, district, None, 100_000)
        assert len(here) == data.firm_points_located(con, district, None)[1]
        assert set(here["district_id"]) == {district}
    finally:
        con.close()


def test_firm_download_reads_its_rows_only_when_asked(warehouse: Path, reads: Reads) -> None:
    """As the Imprese page builds its point download: nothing read until a click; the CSV zip reads the rows in
    chunks (never the whole frame), each chunk through fv.firm_table; the CSV carries lon/lat."""
    key = key_for(warehouse)
    assert key is not None
    spec = ExportSpec(base="imprese_puntuali", filters={"categoria": "digital_manufacturing"})
    n_firms, _ = queries.firm_points_located(key, None, "digital_manufacturing")
    load = queries.firm_points_loader(key, None, "digital_manufacturing", n_firms)
    territory = queries.territory(key)
    stats = queries.district_stats(key, territory.fine.id)
    tables: list[int] = []

    def view(frame: pd.DataFrame) -> pd.DataFrame:
        tables.append(len(frame))
        return fv.firm_table(frame, stats, {}, territory, "it")

    files = {f.kind: f for f in downloads.export_files(load.map(view), spec, "it",
                                                       geojson=lambda: fv.firm_points_geojson(load()),
                                                       id_col=t("th_col_place_id", "it"), row_count=n_firms)}
    assert not reads.of("firm_points") and not reads.of("firm_points_chunks"), "export_files read the rows before a click"
    assert not tables
    payload = files["csv"].build()
    assert len(reads.of("firm_points_chunks")) == 1 and not reads.of("firm_points"), "the CSV read the whole frame"
    expected = fetch(warehouse, "SELECT count(*) FROM places WHERE theme = 'firm' AND category = 'digital_manufacturing'")
    assert n_firms == expected[0][0] and sum(tables) == n_firms
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        member = next(n for n in zf.namelist() if n.endswith(".csv"))
        rows = list(csv.reader(io.StringIO(zf.read(member).decode("utf-8-sig"))))
    assert len(rows) - 1 == expected[0][0]  # every firm of the category, not the map's sample
    header = rows[0]
    assert "lon" in header and "lat" in header
    ids = header.index(t("th_col_place_id", "it"))
    positions = {r[ids]: (r[header.index("lon")], r[header.index("lat")]) for r in rows[1:]}
    stored = fetch(warehouse, "SELECT source_id || ':' || source_key, lon, lat FROM places "
                              "WHERE theme = 'firm' AND category = 'digital_manufacturing'")
    located = [(k, lon, lat) for k, lon, lat in stored if lon is not None]
    assert located
    for place, lon, lat in located:  # the stored position, 6 decimals (about 0.1 m), written as a plain decimal
        for text, value in zip(positions[place], (lon, lat), strict=True):
            assert abs(float(text) - value) <= 5e-7 and len(text.partition(".")[2]) <= 6 and "e" not in text, (text, value)
    assert all(positions[k] == ("", "") for k, lon, _ in stored if lon is None)


def test_firm_chunks_are_the_whole_frame(warehouse: Path) -> None:
    """`data.firm_points_chunks` gives the rows of `data.firm_points`, in order, in chunks of DuckDB vectors."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        whole = data.firm_points(con, None, None)
        chunks = list(data.firm_points_chunks(con.cursor(), None, None, vectors=1))
        empty = list(data.firm_points_chunks(con.cursor(), None, "no_such_category"))
    finally:
        con.close()
    assert len(whole) > 2048 and len(chunks) == -(-len(whole) // 2048) > 1
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert len(empty) == 1 and empty[0].empty and list(empty[0].columns) == list(whole.columns)


def _firm_inputs(warehouse: Path, category: str | None) -> tuple[Territory, pd.DataFrame, pd.DataFrame]:
    """The territory, its finest level's stats and the firm points (`data.firm_points`) of `category` (None: all)."""
    key = key_for(warehouse)
    assert key is not None
    territory = queries.territory(key)
    stats = queries.district_stats(key, territory.fine.id)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return territory, stats, data.firm_points(con, None, category)
    finally:
        con.close()


def test_firm_export_has_positions_as_the_other_point_exports(warehouse: Path) -> None:
    """lon/lat named and rounded as Mappa's point-layer tables (indicator_views.places_table): 6 decimals, WGS84."""
    territory, stats, raw = _firm_inputs(warehouse, "digital_manufacturing")
    raw = raw.head(50)
    table = fv.firm_table(raw.assign(lon=raw["lon"] + 1.23456789e-7), stats, {}, territory, "en")
    assert table["lon"].tolist() == (raw["lon"] + 1.23456789e-7).round(6).tolist()
    assert table["lat"].tolist() == raw["lat"].round(6).tolist()


def test_firm_table_columns_are_the_per_cell_rules(warehouse: Path) -> None:
    """Dates converted per column and labels per distinct value give what the per-cell functions give (NaT kept)."""
    territory, stats, raw = _firm_inputs(warehouse, None)
    raw.loc[raw.index[:7], "started_on"] = pd.NaT
    raw.loc[raw.index[3:9], "trust"] = None
    table = fv.firm_table(raw, stats, {}, territory, "it")
    want = [views.as_date(d) for d in raw["started_on"]]
    got = table[t("th_col_started_on", "it")].tolist()
    assert all(g is pd.NaT if w is pd.NaT else g == w for g, w in zip(got, want, strict=True)) and pd.NaT in got
    assert table[t("col_trust", "it")].tolist() == [views.trust_label(x, "it") for x in raw["trust"]]
    assert table[t("th_col_category", "it")].tolist() == [c if isinstance(c, str) and c else t("no_data", "it")
                                                          for c in raw["category"]]


def test_download_menu_builds_nothing_on_a_rerun(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spazi vuoti and Imprese hand their point layers' GeoJSON as callables: no page run makes one."""
    made: list[int] = []
    real = views.points_geojson

    def counted(*args: Any, **kwargs: Any) -> dict:
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "points_geojson", counted)
    for page in ("pages/spazi_vuoti.py", "pages/imprese.py"):
        at = open_page(page, {"categoria": "*"} if "imprese" in page else None)
        at.run()
        assert at.get("download_button"), page
    assert not made, "a point layer's GeoJSON was built on a page run"


# --- Dati --------------------------------------------------------------------------------------------------


def test_dati_pages_the_rejected_rows(warehouse: Path, reads: Reads) -> None:
    total = fetch(warehouse, "SELECT count(*) FROM rejects")[0][0]
    assert total > 2 * 500
    at = open_page("pages/dati.py")
    assert not reads.of("rejects"), "the whole rejects table was read"
    shown = [d.value for d in at.dataframe if len(d.value) == 500]
    assert shown, [len(d.value) for d in at.dataframe]
    assert any(f"Righe 1–500 di {total:,}".replace(",", ".") in c.value for c in at.caption)
    pages = -(-total // 500)
    at.number_input[0].set_value(pages).run()
    last = total - (pages - 1) * 500
    assert any(len(d.value) == last for d in at.dataframe), [len(d.value) for d in at.dataframe]
    assert sent_bytes(at) < ONE_MB
    assert max(rows for name, _, rows in reads.calls if name == "rejects_page") == 500


def test_a_copied_warehouse_is_still_paged(warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same limits hold for a second, bigger rejects table (no page size tied to the fixture)."""
    bigger = tmp_path / "bigger.duckdb"
    shutil.copy(warehouse, bigger)
    con = duckdb.connect(str(bigger))
    try:
        con.execute("INSERT INTO rejects SELECT * FROM rejects")
    finally:
        con.close()
    monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(bigger))
    at = open_page("pages/dati.py")
    assert max(len(d.value) for d in at.dataframe) == 500
    assert sent_bytes(at) < ONE_MB
