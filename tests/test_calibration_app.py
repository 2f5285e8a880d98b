"""AppTest: calibration and evaluation sections of Obiettivi, the revisions tab of Seduta, the board pack section."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from osservatorio import auth, boardpack
from osservatorio.board_store import BoardStore
from osservatorio.calibration import CalibrationStore

APP = Path(__file__).resolve().parents[1] / "app.py"
EDITOR = auth.User("redazione@comune.milano.it", "Redazione", "editor")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_warehouse: Path) -> Iterator[Path]:
    monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(demo_warehouse))
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")
    monkeypatch.setenv("OSSERVATORIO_APPSTATE", str(tmp_path / "appstate.sqlite"))
    monkeypatch.setenv("OSSERVATORIO_CALIBRATION", str(tmp_path / "calibration.sqlite"))
    monkeypatch.setenv("OSSERVATORIO_PROGRAMME", str(tmp_path / "programme.sqlite"))
    monkeypatch.delenv("OSSERVATORIO_READ_ONLY", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()


def as_editor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "current_user", lambda: EDITOR)


def open_page(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return "\n".join([c.value for c in at.caption] + [x.value for x in at.text] + [i.value for i in at.info])


def test_viewer_sees_calibration_and_method_but_no_form(env: Path) -> None:
    at = open_page("pages/obiettivi.py")
    assert {"Calibrazione del target", "Valutazione delle azioni"} <= {s.value for s in at.subheader}
    body = texts(at)
    assert "Solo chi ha il ruolo di redazione" in body and "differenza nelle differenze" in body
    assert not any(x.key == "cal_reason" for x in at.text_area)
    assert [m.label for m in at.metric][-4:] == ["Variazione nelle aree dell'azione", "Variazione media di confronto",
                                                 "Differenza nelle differenze", "Aree di confronto"]
    assert not (env / "calibration.sqlite").exists()  # reading creates nothing
    demo = CalibrationStore(env / "calibration.demo.sqlite")  # a demo warehouse: example revisions, labelled demo
    assert [(r.state, r.proposed_by) for r in demo.revisions()] == [("approved", "demo"), ("pending", "demo")]


def test_editor_proposes_then_board_approves_and_status_uses_target_in_force(env: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    as_editor(monkeypatch)
    stores = [CalibrationStore(env / "calibration.sqlite"), CalibrationStore(env / "calibration.demo.sqlite")]
    for one in stores:  # existing (empty) stores: no demo examples are seeded
        one._ensure_schema()
    at = open_page("pages/obiettivi.py")
    assert any(x.key == "cal_reason" for x in at.text_area)
    target_id = at.selectbox(key="url_target").value if any(s.key == "url_target" for s in at.selectbox) else None
    at.button(key="FormSubmitter:cal_form-Proponi").click().run()  # no reason: refused, nothing written
    assert any("obbligatoria" in e.value for e in at.error)
    assert [one.revisions() for one in stores] == [[], []]
    at.number_input(key="cal_value").set_value(123.0)
    at.date_input(key="cal_effective").set_value(date(2020, 1, 1))
    at.text_area(key="cal_reason").input("Meno spazi disponibili del previsto")
    at.button(key="FormSubmitter:cal_form-Proponi").click().run()
    assert [s.value for s in at.success] == ["Revisione proposta: sarà decisa in una seduta."]
    store = next(one for one in stores if one.revisions())  # the demo warehouse's own store, or the real one
    (rev,) = store.revisions()
    assert (rev.new_value, rev.state, rev.proposed_by) == (123.0, "pending", EDITOR.label)
    if target_id is not None:
        assert rev.target_id == target_id

    # Seduta: the pending revision is decided in a session.
    board = BoardStore(env / "appstate.sqlite")
    session = board.create_session("2026-03-01", "Seduta di marzo", "A, B", None, None, "segreteria")
    at = open_page("pages/seduta.py", seduta=str(session.session_id))
    assert "Meno spazi disponibili del previsto" in at.dataframe[-1].value.to_string() or any(
        "Meno spazi" in d.value.to_string() for d in at.dataframe)
    at.radio(key="cal_rev_decision").set_value("approved")
    at.text_area(key="cal_rev_reason").input("Approvata all'unanimità")
    at.button(key="FormSubmitter:cal_decide_form-Registra la decisione").click().run()
    assert not at.exception
    (rev,) = store.revisions()
    assert (rev.state, rev.session_id, rev.decided_by) == ("approved", session.session_id, EDITOR.label)

    # Obiettivi: the status table now uses the revised target at every snapshot after 2020-01-01.
    at = open_page("pages/obiettivi.py")
    frames = [d.value for d in at.dataframe if "Target in vigore" in d.value.columns]
    assert frames, [list(d.value.columns) for d in at.dataframe]
    assert set(frames[0]["Target in vigore"]) == {123.0} and set(frames[0]["Revisione"]) == {f"#{rev.revision_id}"}


def test_english_and_board_pack_section(env: Path) -> None:
    at = open_page("pages/obiettivi.py", lang="en")
    assert {"Target calibration", "Evaluation of actions"} <= {s.value for s in at.subheader}
    assert "difference in differences" in texts(at)
    store = CalibrationStore(env / "calibration.sqlite")
    a = store.propose("T01", 3.0, None, "2026-01-01", "<b>not bold</b>", "ed")
    b = store.propose("T01", None, "2031-12-31", "2026-01-01", "proroga", "ed")
    store.decide(b.revision_id, 7, "rejected", "mancano i dati", "pres")
    pack = SimpleNamespace(lang="it", revisions_pending=store.revisions(state="pending"),
                           revisions_decided=store.revisions(session_id=7))
    html = boardpack._revisions(pack)  # type: ignore[arg-type]
    assert "Revisioni dei target" in html and "&lt;b&gt;not bold&lt;/b&gt;" in html and "<b>not" not in html
    assert "mancano i dati" in html and "respinta" in html and a.revision_id != b.revision_id


def test_read_only_hides_forms_and_writes_nothing(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_editor(monkeypatch)
    monkeypatch.setenv("OSSERVATORIO_READ_ONLY", "1")
    at = open_page("pages/obiettivi.py")
    assert not any(x.key == "cal_reason" for x in at.text_area)
    assert not (env / "calibration.sqlite").exists()


def test_evaluation_of_a_register_action_and_of_a_tried_nil(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page("pages/obiettivi.py")
    assert any(i.value.startswith("Il registro delle azioni non contiene") for i in at.info)
    at.selectbox(key="ev_indicator").set_value("residents")
    at.run()
    at.date_input(key="ev_start_residents").set_value(date(2022, 6, 1))
    at.run()
    assert not at.exception
    areas = [m.value for m in at.metric if m.label == "Aree di confronto"]
    body = texts(at)
    assert areas and ("aree di confronto" in body or "area di confronto" in body)
    assert "aree di livello NIL" in body  # the method names the territory's finest level

    from osservatorio.programme_store import Action, PlaceRef, ProgrammeStore

    for path in (env / "programme.sqlite", env / "programme.demo.sqlite"):  # whichever the build uses
        store = ProgrammeStore(path)
        store.create(Action(title="Fablab Greco", line="laboratori", places=(PlaceRef("nil", "13"),),
                            start_date=date(2022, 6, 1), indicators=("residents",)), "ed", "prova")
        store.create(Action(title="Bando Municipio 2", line="investimento", places=(PlaceRef("municipio", "2"),),
                            start_date=date(2022, 6, 1), indicators=("residents",)), "ed", "prova")
        store.create(Action(title="Senza data", line="spazi", places=(PlaceRef("nil", "13"),), indicators=("residents",)),
                     "ed", "prova")
    at = open_page("pages/obiettivi.py")
    assert at.selectbox(key="ev_action").value == "1"
    assert at.selectbox(key="ev_indicator_action").value == "residents"
    assert "13 · " in "\n".join(x.value for x in at.text)
    skipped = [d.value for d in at.dataframe if "Perché" in d.value.columns]
    assert skipped and skipped[0]["Perché"].tolist() == ["nessuna data di inizio"]  # said, with the reason
    at.selectbox(key="ev_action").set_value("2").run()  # on a Municipio: its NIL are the treated areas
    assert not at.exception
    text = "\n".join(x.value for x in at.text)
    assert "aree contenute nell'area più ampia" in text and text.count(" · ") >= 2
