"""The Programma page (pages/programma.py) and the district profile's actions through AppTest, on a small real-mode
warehouse (empty register) and on the demo warehouse (example actions in the demo store)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from osservatorio import auth
from osservatorio.programme_store import ProgrammeStore, demo_path

APP = Path(__file__).resolve().parents[1] / "app.py"
EDITOR = auth.User(email="ana.rossi@comune.milano.it", name="Ana Rossi", role="editor")


@pytest.fixture(scope="module")
def real_mode(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small warehouse built from the test raw folder (mode 'real': no demo actions)."""
    from etl.pipeline import build

    try:
        from tests.conftest import quiet, write_raw_dir
    except ModuleNotFoundError:
        from conftest import quiet, write_raw_dir  # type: ignore[no-redef]
    folder = tmp_path_factory.mktemp("pg_real")
    out = folder / "warehouse.duckdb"
    build(write_raw_dir(folder / "raw"), out, progress=quiet)
    return out


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")
    monkeypatch.setenv("OSSERVATORIO_APPSTATE", str(tmp_path / "appstate.sqlite"))
    monkeypatch.setenv("OSSERVATORIO_PROGRAMME", str(tmp_path / "programme.sqlite"))
    monkeypatch.delenv("OSSERVATORIO_READ_ONLY", raising=False)

    def use(warehouse: Path, editor: bool = False, read_only: bool = False) -> Path:
        monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(warehouse))
        if read_only:
            monkeypatch.setenv("OSSERVATORIO_READ_ONLY", "1")
        monkeypatch.setattr(auth, "current_user", (lambda: EDITOR) if editor else (lambda: auth.ANONYMOUS))
        st.cache_data.clear()
        return tmp_path / "programme.sqlite"

    yield use
    st.cache_data.clear()


def open_page(page: str = "pages/programma.py", **params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return " ".join([i.value for i in at.info] + [m.value for m in at.markdown] + [c.value for c in at.caption]
                    + [s.value for s in at.success] + [e.value for e in at.error] + [w.value for w in at.warning])


def fill_new(at: AppTest, title: str) -> None:
    at.text_input(key="pg_new_title").input(title)
    at.selectbox(key="pg_new_line").select("spazi")
    at.multiselect(key="pg_new_places").select("nil:5")
    at.number_input(key="pg_new_allocated").set_value(250000.0)
    at.number_input(key="pg_new_committed").set_value(100000.0)
    at.number_input(key="pg_new_private").set_value(50000.0)


def submit(at: AppTest, label: str) -> AppTest:
    buttons = [b for b in at.button if b.label == label]
    assert buttons, [b.label for b in at.button]
    buttons[0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_real_default_is_an_empty_register_that_invites_the_first_action(env: Callable[..., Path], real_mode: Path) -> None:
    store = env(real_mode)
    at = open_page()
    assert "Il registro delle azioni è vuoto" in texts(at)
    assert "ruolo di redattore" in texts(at)  # the anonymous viewer may not write
    assert not [b for b in at.button if b.label == "Registra l'azione"]
    assert "Investimento" in at.dataframe[0].value.to_string()  # the six lines are shown
    assert not store.exists()  # reading an empty register writes nothing
    assert not demo_path(store).exists()


def test_editor_creates_and_edits_an_action_with_history(env: Callable[..., Path], real_mode: Path) -> None:
    store = env(real_mode, editor=True)
    at = open_page()
    fill_new(at, "Laboratorio nel capannone di via Esempio")
    submit(at, "Registra l'azione")
    assert "Azione 1 registrata" in texts(at)
    actions = ProgrammeStore(store).actions()
    assert [(a.title, a.line, a.budget_committed, a.updated_by) for a in actions] == [
        ("Laboratorio nel capannone di via Esempio", "spazi", 100000.0, EDITOR.label)]
    assert at.query_params["azione"] == ["1"] or at.query_params["azione"] == "1"
    # edit: status approved, with a reason
    at.selectbox(key="pg_edit_1_v1_status").select("approved")
    at.text_input(key="pg_edit_1_v1_reason").input("approvata dal comitato")
    submit(at, "Salva")
    assert "versione 2 salvata" in texts(at)
    trail = ProgrammeStore(store).history(1)
    assert [(c.version, c.reason, c.fields) for c in trail][1] == (2, "approvata dal comitato", ("status",))
    history = [d.value for d in at.dataframe if "Motivo" in d.value.columns]
    assert history and list(history[0]["Motivo"]) == ["", "approvata dal comitato"]
    # the ledger counts it against the envelope (Comune fund) and in NIL 5's Municipio
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Stanziato sulla dotazione"] == "250.000 €"
    assert metrics["Ancora da stanziare"] == "9,75 mln €"  # the full amount (9.750.000 €) is in the help: a metric column cuts it


def test_edit_refused_when_another_session_saved_first(env: Callable[..., Path], real_mode: Path) -> None:
    store = env(real_mode, editor=True)
    first = open_page()
    fill_new(first, "Azione condivisa")
    submit(first, "Registra l'azione")
    one, two = open_page(azione="1"), open_page(azione="1")  # two sessions open version 1
    one.number_input(key="pg_edit_1_v1_spent").set_value(1000.0)
    one.text_input(key="pg_edit_1_v1_reason").input("prima fattura")
    submit(one, "Salva")
    two.number_input(key="pg_edit_1_v1_spent").set_value(2000.0)
    two.text_input(key="pg_edit_1_v1_reason").input("altra fattura")
    submit(two, "Salva")
    assert "Non salvata" in texts(two) and "versione 2" in texts(two)
    assert [c.action.budget_spent for c in ProgrammeStore(store).history(1)] == [0.0, 1000.0]


def test_demo_warehouse_has_demo_actions_in_the_demo_store(env: Callable[..., Path], demo_warehouse: Path) -> None:
    store = env(demo_warehouse, editor=True)
    at = open_page()
    assert "Azioni di esempio dei dati dimostrativi" in texts(at)
    assert not store.exists() and demo_path(store).exists()  # never mixed with the real register
    demo = ProgrammeStore(demo_path(store)).actions()
    assert demo and all(a.demo and a.title.endswith("(demo)") for a in demo)
    assert any(p.kind == "vacant" for a in demo for p in a.places)
    filtered = open_page(linea="spazi", lang="en")
    table = [d.value for d in filtered.dataframe if "Action" in d.value.columns][0]
    assert list(table["Line"].unique()) == ["Recovery of spaces"]
    assert filtered.get("plotly_chart")  # the map of actions with a place
    # the district profile lists the actions of a NIL with one
    nil = next(p.ref for a in demo for p in a.places if p.kind == "nil")
    district = open_page("pages/quartiere.py", nil=nil)
    tables = [d.value for d in district.dataframe if "Azione" in d.value.columns]
    assert tables and len(tables[0]) >= 1


def test_read_only_writes_nothing(env: Callable[..., Path], demo_warehouse: Path) -> None:
    store = env(demo_warehouse, editor=True, read_only=True)
    at = open_page()
    assert not [b for b in at.button if b.label in ("Registra l'azione", "Salva")]
    assert not store.exists() and not demo_path(store).exists()


def test_action_points_for_other_maps(env: Callable[..., Path], demo_warehouse: Path) -> None:
    """The layer another map (Mappa) can add: one point per located place of an action, hover escaped."""
    from osservatorio import data, programme_views, queries
    from osservatorio.ui import PageContext
    from osservatorio.warehouse import key_for

    env(demo_warehouse)
    open_page()  # seeds the demo store
    key = key_for(demo_warehouse)
    assert key is not None
    info = data.BuildInfo("b", "demo", None, None)
    points, hover = programme_views.action_points(PageContext("it", key, info, "white-bg", queries.territory(key)))
    assert len(points) == len(hover) >= 3 and points["lon"].notna().all()
    assert all("(demo)" in h for h in hover)


@pytest.fixture(scope="module")
def one_level(tmp_path_factory: pytest.TempPathFactory, demo_warehouse: Path) -> Path:
    try:
        from tests.review_fixtures import one_level_copy
    except ModuleNotFoundError:
        from review_fixtures import one_level_copy  # type: ignore[no-redef]
    return one_level_copy(demo_warehouse, tmp_path_factory.mktemp("one_level") / "warehouse.duckdb")


def test_a_one_level_territory_has_no_parent_filter_or_split(env: Callable[..., Path], one_level: Path) -> None:
    """A territory no code names ('borgo_di_prova', level 'rione', no parent): the register names its areas by
    the level's label, there is no parent filter or ledger split, and Seduta lets the board decide its actions."""
    from datetime import date

    from osservatorio.programme_store import Action, PlaceRef

    store = env(one_level, editor=True)
    demo = ProgrammeStore(demo_path(store))
    open_page()  # seeds the demo register on this territory's own areas
    actions = demo.actions()
    kinds = {p.kind for a in actions for p in a.places}
    assert "rione" in kinds and not kinds & {"nil", "municipio"}, kinds
    demo.create(Action(title="Rione 5", line="spazi", places=(PlaceRef("rione", "5"),), start_date=date(2020, 1, 1),
                       indicators=("residents",)), "ed", "x")
    at = open_page()
    assert not at.exception, [e.value for e in at.exception]
    labels = [s.label for s in at.selectbox]
    assert "Municipio" not in labels and labels[:3] == ["Linea", "Stato", "Ripartizione"]
    split = next(s for s in at.selectbox if s.label == "Ripartizione")
    assert split.options == ["per linea", "per classe di periferia"]
    table = [d.value for d in at.dataframe if "Luoghi" in d.value.columns][0]
    assert any(cell.startswith("Rione 5") for cell in table["Luoghi"]), table["Luoghi"].tolist()
    assert "Un'azione con più luoghi è divisa in parti uguali fra di essi; le azioni senza luogo" in texts(at)
    seduta = open_page("pages/seduta.py", lang="en")
    assert not seduta.exception, [e.value for e in seduta.exception]
