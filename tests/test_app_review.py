"""The Seduta page (pages/seduta.py) through AppTest, on the demo warehouse and on a seeded one."""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from osservatorio import boardpack, review
from osservatorio.board_store import BoardStore, PlaceKey

try:
    from tests.review_fixtures import Seeded, seed_review_warehouse
except ModuleNotFoundError:  # `pytest` run from inside tests/
    from review_fixtures import Seeded, seed_review_warehouse

APP = Path(__file__).resolve().parents[1] / "app.py"
# The signed-in editor of these tests: notes and sessions carry this identity, never a typed name.
EDITOR = "ada@comune.milano.it"
AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "s" * 32, "client_id": "c",
        "client_secret": "x", "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
SCRIPT_NOTE = '<script>alert("x")</script> **non grassetto** [link](http://example.com)'


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed_review_warehouse(tmp_path_factory.mktemp("app_review"))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeded: Seeded) -> Iterator[Callable[..., Path]]:
    """Point the app at a warehouse and a fresh app-state store (offline map style, no automatic demo,
    writes on); Streamlit caches are emptied before and after."""
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")
    monkeypatch.setenv("OSSERVATORIO_APPSTATE", str(tmp_path / "appstate.sqlite"))
    monkeypatch.delenv("OSSERVATORIO_READ_ONLY", raising=False)
    roles = tmp_path / "roles.toml"
    roles.write_text(f'[emails]\n"{EDITOR}" = "editor"\n', encoding="utf-8")
    monkeypatch.setenv("OSSERVATORIO_ROLES", str(roles))

    def use(warehouse: Path | None = None, read_only: bool = False) -> Path:
        monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(warehouse or seeded.path))
        if read_only:
            monkeypatch.setenv("OSSERVATORIO_READ_ONLY", "1")
        st.cache_data.clear()
        st.cache_resource.clear()
        return tmp_path / "appstate.sqlite"

    use()
    yield use
    st.cache_data.clear()
    st.cache_resource.clear()


def open_page(signed_in: bool = True, **params: str) -> AppTest:
    """Seduta with an identity provider configured and, by default, the editor signed in."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": EDITOR} if signed_in else {"is_logged_in": False}
    at.switch_page("pages/seduta.py")
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == []


def button(at: AppTest, label: str):  # noqa: ANN201 - an AppTest element
    found = [b for b in at.button if b.label == label]
    assert found, [b.label for b in at.button]
    return found[0]


def labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def create_session(at: AppTest, title: str = "Seduta di novembre", label: str = "Crea la seduta") -> AppTest:
    at.text_input(key="rv_new_title").input(title)
    at.text_area(key="rv_new_participants").input("Anna Rossi\nBruno Bianchi")
    button(at, label).click()
    return at.run()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- rendering --------------------------------------------------------------------------------------------

def test_board_decides_a_proposed_action_in_the_session(env: Callable[..., Path], demo_warehouse: Path) -> None:
    """The demo register's proposed action is approved in the session: a new version with the session id,
    listed under the session's decisions and in its board pack."""
    from osservatorio.programme_store import ProgrammeStore

    appstate = env(demo_warehouse)
    at = create_session(open_page())
    ok(at)
    store = ProgrammeStore.from_env(demo=True)
    (waiting,) = [a for a in store.actions() if a.status == "proposed"]
    # the role is withdrawn after the form was drawn: the click is refused, nothing is written
    roles = appstate.parent / "roles.toml"
    granted = roles.read_text(encoding="utf-8")
    roles.write_text(f'[emails]\n"{EDITOR}" = "viewer"\n', encoding="utf-8")
    at.selectbox(key="rv_action_choice").set_value(str(waiting.action_id))
    at.text_area(key="rv_action_reason").input("prima del ritiro")
    at.button(key="FormSubmitter:rv_action_form-Registra la decisione").click().run()
    assert at.error and store.get(waiting.action_id).status == "proposed"  # type: ignore[union-attr]
    roles.write_text(granted, encoding="utf-8")
    at = open_page(seduta=str(at.query_params["seduta"][0] if isinstance(at.query_params["seduta"], list)
                              else at.query_params["seduta"]))
    ok(at)
    at.selectbox(key="rv_action_choice").set_value(str(waiting.action_id))
    at.radio(key="rv_action_decision").set_value("approved")
    at.text_area(key="rv_action_reason").input("Approvata: c'è il partner")
    at.button(key="FormSubmitter:rv_action_form-Registra la decisione").click().run()
    ok(at)
    session_id = int(at.query_params["seduta"][0] if isinstance(at.query_params["seduta"], list) else at.query_params["seduta"])
    (decision,) = store.decisions(session_id)
    assert (decision.action_id, decision.action.status, decision.changed_by) == (waiting.action_id, "approved", EDITOR)
    assert decision.reason == "Approvata: c'è il partner"
    assert any(s.value.startswith(f"Azione {waiting.action_id}: approvata") for s in at.success)
    decided = [d.value for d in at.dataframe if "Decisione" in d.value.columns]
    assert decided and decided[-1]["Decisione"].tolist() == ["approvata"]
    assert not [a for a in store.actions() if a.status == "proposed"]  # nothing left to decide



def test_renders_on_the_demo_warehouse(env: Callable[..., Path], demo_warehouse: Path) -> None:
    env(demo_warehouse)
    at = open_page()
    ok(at)
    assert at.title[0].value == "Seduta"
    assert any("Nessuna seduta ancora" in i.value for i in at.info)
    assert "Crea la seduta" in labels(at)
    at = create_session(at)
    ok(at)
    assert [s.value for s in at.success] == ["Seduta «Seduta di novembre» creata."]
    assert len(at.tabs) == 8 and len(at.metric) == 6


def test_renders_on_a_warehouse_without_indicator_tables(env: Callable[..., Path], demo_warehouse: Path,
                                                         tmp_path: Path) -> None:
    old = tmp_path / "old.duckdb"
    shutil.copy(demo_warehouse, old)
    con = duckdb.connect(str(old))
    try:
        for table in ("snapshots", "indicator_values", "indicator_catalogue", "district_groups", "taxonomy_changes",
                      "target_status"):
            con.execute(f"DROP TABLE IF EXISTS {table}")  # noqa: S608 fixed names
    finally:
        con.close()
    env(old)
    at = create_session(open_page())
    ok(at)
    assert any("non contiene ancora snapshot" in i.value for i in at.info)
    assert at.text[0].value.startswith("Data: ")


def test_comparison_on_the_seeded_warehouse(env: Callable[..., Path], seeded: Seeded) -> None:
    at = create_session(open_page())
    ok(at)
    assert at.query_params["seduta"] == "1"
    assert at.selectbox(key="url_snapshot").value == seeded.current
    assert at.selectbox(key="url_confronto").value == seeded.previous  # first session: the snapshot before
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Movimenti"] == "2"
    assert metrics["Target cambiati"] == "2" and metrics["Target peggiorati"] == "1"
    assert metrics["Makerspace + / −"] == "–"  # the older snapshot's places were never recorded
    assert any("Confronto dei luoghi non disponibile" in w.value for w in at.warning)
    moves = at.dataframe[0].value
    assert moves.iloc[0]["Variazione"] == 40.0 and moves.iloc[0]["Area"].startswith(f"{seeded.big_nil} · ")
    charts = at.get("plotly_chart")
    assert charts  # the change map (MapLibre in the app, offline style)
    assert "choroplethmap" in charts[0].proto.spec and '"white-bg"' in charts[0].proto.spec
    assert "Scarica il verbale (HTML)" in [d.label for d in at.get("download_button")]
    store = BoardStore(Path(env()))
    assert store.captured_snapshots() == {seeded.current}  # the current build's places, for later sessions


# --- writing through the widgets --------------------------------------------------------------------------

def test_create_session_and_notes_through_the_widgets(env: Callable[..., Path], seeded: Seeded) -> None:
    store_path = env()
    at = create_session(open_page())
    ok(at)
    store = BoardStore(store_path)
    [session] = store.list_sessions()
    assert (session.title, session.participants, session.created_by) == (
        "Seduta di novembre", ("Anna Rossi", "Bruno Bianchi"), EDITOR)
    assert (session.snapshot_id, session.compare_id) == (seeded.current, seeded.previous)

    at.selectbox(key="rv_note_target_kind").set_value("district").run()
    at.selectbox(key="rv_note_ref_district").set_value(f"nil:{seeded.big_nil}")
    at.radio(key="rv_note_kind").set_value("decision")
    at.text_area(key="rv_note_body").input(SCRIPT_NOTE)
    button(at, "Aggiungi").click()
    at.run()
    ok(at)
    assert [s.value for s in at.success] == ["Nota aggiunta."]
    [note] = store.list_notes()
    assert (note.kind, note.target_kind, note.target_ref, note.body, note.author) == (
        "decision", "district", f"nil:{seeded.big_nil}", SCRIPT_NOTE, EDITOR)
    assert at.text_area(key="rv_note_body").value == ""  # cleared after saving
    texts = [x.value for x in at.text]
    assert SCRIPT_NOTE in texts  # shown with st.text: as typed, nothing interpreted
    assert any(t.startswith(f"Area: {seeded.big_nil} · ") and EDITOR in t for t in texts)
    assert not any("<script" in m.value for m in at.markdown)  # never through markdown
    assert not any("<script" in c.value for c in at.caption)

    at.selectbox(key="rv_note_target_kind").set_value("session").run()
    assert at.radio(key="rv_note_kind").value == "decision"  # the form keeps the last choice
    at.radio(key="rv_note_kind").set_value("note")
    at.text_area(key="rv_note_body").input("Seconda nota")
    button(at, "Aggiungi").click()
    at.run()
    ok(at)
    assert [n.body for n in store.list_notes()] == [SCRIPT_NOTE, "Seconda nota"]
    at.selectbox(key="rv_filter_kind").set_value("decision").run()
    assert SCRIPT_NOTE in [x.value for x in at.text] and "Seconda nota" not in [x.value for x in at.text]


def test_bad_input_is_refused_with_a_clear_message(env: Callable[..., Path]) -> None:
    store_path = env()
    # Signed out: no form to write with, nothing stored (the author is the signed-in identity).
    at = open_page(signed_in=False)
    assert "rv_new_title" not in [w.key for w in at.text_input]
    assert BoardStore(store_path).list_sessions() == []
    at = create_session(open_page())
    ok(at)
    button(at, "Aggiungi").click()  # empty text
    at.run()
    assert [e.value for e in at.error] == ["La nota è vuota: scrivere un testo."]
    long_text = "x" * 5001
    at.text_area(key="rv_note_body").input(long_text)
    button(at, "Aggiungi").click()
    at.run()
    assert [e.value for e in at.error] == [
        "La nota è troppo lunga: 5001 caratteri, al massimo 5000. Nulla è stato salvato."]
    assert at.text_area(key="rv_note_body").value == long_text  # what was typed is kept
    assert BoardStore(store_path).list_notes() == []


def test_save_another_comparison_in_the_session(env: Callable[..., Path], seeded: Seeded) -> None:
    store_path = env()
    at = create_session(open_page())
    assert "Salva questo confronto nella seduta" not in labels(at)
    at.selectbox(key="url_confronto").set_value("-").run()
    ok(at)
    assert any("Nessuno snapshot di confronto" in i.value for i in at.info)
    assert at.query_params["confronto"] == "-"
    button(at, "Salva questo confronto nella seduta").click()
    at.run()
    ok(at)
    [session] = BoardStore(store_path).list_sessions()
    assert (session.snapshot_id, session.compare_id) == (seeded.current, None)


# --- links and language ---------------------------------------------------------------------------------

def test_session_and_snapshots_come_from_the_url(env: Callable[..., Path], seeded: Seeded) -> None:
    store = BoardStore(env())
    first = store.create_session("2026-10-01", "Ottobre", [], seeded.previous, None, "Ada")
    store.create_session("2026-11-20", "Novembre", [], seeded.current, seeded.previous, "Ada")
    at = open_page(seduta=str(first.session_id))
    ok(at)
    assert at.selectbox(key="url_seduta").value == str(first.session_id)
    assert at.selectbox(key="url_snapshot").value == seeded.previous
    at = open_page(seduta="999", snapshot=seeded.previous, confronto=seeded.current)
    assert any("'999'" in i.value for i in at.info)  # unknown value: said, then the newest session
    assert at.selectbox(key="url_seduta").value == "2"
    assert (at.selectbox(key="url_snapshot").value, at.selectbox(key="url_confronto").value) == (
        seeded.previous, seeded.current)
    moves = at.dataframe[0].value
    assert moves.iloc[0]["Variazione"] == -40.0  # compared the other way round


def test_english(env: Callable[..., Path]) -> None:
    at = create_session(open_page(lang="en"), label="Create the session")
    ok(at)
    assert [s.value for s in at.success] == ["Session “Seduta di novembre” created."]
    ok(at)
    assert at.title[0].value == "Review session"
    assert [t.label for t in at.tabs] == ["Movements", "Targets", "Places", "Data and sources", "Notes and decisions",
                                          "Target revisions", "Actions to decide", "Board pack"]


# --- read-only mode ----------------------------------------------------------------------------------------

def test_read_only_mode_hides_every_form(env: Callable[..., Path], seeded: Seeded) -> None:
    store_path = env()
    writable = BoardStore(store_path)
    session = writable.create_session("2026-11-20", "Seduta pubblica", ["Anna"], seeded.current, seeded.previous, "Ada")
    writable.add_note(session.session_id, "decision", "session", str(session.session_id), "Decisione pubblicata", "Ada")
    before = digest(store_path)
    env(read_only=True)
    at = open_page()
    ok(at)
    assert any("sola lettura" in i.value for i in at.sidebar.info)
    assert "rv_author" not in [w.key for w in at.text_input]
    assert not [w for w in at.text_area if w.key in ("rv_note_body", "rv_new_participants")]
    assert not {"Crea la seduta", "Aggiungi", "Salva questo confronto nella seduta"} & set(labels(at))
    assert not [e for e in at.expander if e.label == "Nuova seduta"]
    assert "Decisione pubblicata" in [x.value for x in at.text]  # reading still works
    assert "Scarica il verbale (HTML)" in [d.label for d in at.get("download_button")]  # so does the board pack
    at.selectbox(key="url_confronto").set_value("-").run()
    ok(at)
    assert "Salva questo confronto nella seduta" not in labels(at)
    assert digest(store_path) == before  # nothing written, not even the place keys


def test_read_only_mode_without_sessions(env: Callable[..., Path]) -> None:
    store_path = env(read_only=True)
    at = open_page()
    ok(at)
    assert [i.value for i in at.info if "seduta" in i.value.lower()] == ["Nessuna seduta registrata."]
    assert not store_path.exists()


def test_new_and_lost_places_when_the_older_snapshot_was_recorded(env: Callable[..., Path], seeded: Seeded) -> None:
    store = BoardStore(env())
    con = duckdb.connect(str(seeded.path), read_only=True)
    try:
        keys = review.current_place_keys(review.ConnectionReader(con))
    finally:
        con.close()
    new = next(k for k in keys if k.theme == "makerspace")
    lost = next(k for k in keys if k.theme == "vacant")
    store.record_places(seeded.previous, [k for k in keys if k not in (new, lost)]
                        + [PlaceKey("vacant", "demo_vacant", "gone-1", "Ex <b>cinema</b>", None), lost])
    store.create_session("2026-11-20", "Novembre", [], seeded.current, seeded.previous, "Ada")
    at = open_page()
    ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Makerspace + / −"], metrics["Spazi vuoti + / −"]) == ("+1 / −0", "+0 / −1")
    tables = [d.value for d in at.dataframe]
    places = [t for t in tables if "Identificativo nella fonte" in t.columns]
    assert [list(t["Identificativo nella fonte"]) for t in places] == [[new.source_key], ["gone-1"]]
    assert places[1].iloc[0]["Nome"] == "Ex <b>cinema</b>"  # a dataframe cell: text, not HTML


def test_switching_session_shows_its_own_snapshots(env: Callable[..., Path], seeded: Seeded) -> None:
    store = BoardStore(env())
    october = store.create_session("2026-10-01", "Ottobre", [], seeded.previous, None, "Ada")
    store.create_session("2026-11-20", "Novembre", [], seeded.current, seeded.previous, "Ada")
    at = open_page()
    assert at.selectbox(key="url_snapshot").value == seeded.current
    at.selectbox(key="url_confronto").set_value("-").run()  # a choice in the URL for this session
    at.selectbox(key="url_seduta").set_value(str(october.session_id)).run()
    ok(at)
    assert (at.selectbox(key="url_snapshot").value, at.selectbox(key="url_confronto").value) == (seeded.previous, "-")
    assert "confronto" not in at.query_params or at.query_params["confronto"] == "-"
    at.selectbox(key="url_seduta").set_value("2").run()
    assert (at.selectbox(key="url_snapshot").value, at.selectbox(key="url_confronto").value) == (
        seeded.current, seeded.previous)  # not the "-" chosen before for this session


# --- repeated submits, plain text -------------------------------------------------------------------------

def test_a_double_click_on_aggiungi_stores_the_note_once(env: Callable[..., Path], seeded: Seeded) -> None:
    """The second click of a double click sends the same form values again (the browser has not yet
    received the cleared box): one note, and the page says the repeat was not stored."""
    store = BoardStore(Path(env()))
    at = create_session(open_page())
    ok(at)
    at.selectbox(key="rv_note_target_kind").set_value("session").run()
    for _click in range(2):
        at.text_area(key="rv_note_body").input("Nota cliccata due volte")
        button(at, "Aggiungi").click()
        at.run()
        ok(at)
    assert [n.body for n in store.list_notes()] == ["Nota cliccata due volte"]
    assert [s.value for s in at.success] == ["Questa nota era già stata salvata (invio ripetuto): non è stata duplicata."]
    assert [x.value for x in at.text].count("Nota cliccata due volte") == 1


def test_a_double_click_on_crea_creates_one_session(env: Callable[..., Path]) -> None:
    store = BoardStore(Path(env()))
    at = create_session(open_page())
    ok(at)
    at = create_session(at)  # same values again
    ok(at)
    assert len(store.list_sessions()) == 1
    assert at.success[0].value.startswith("Questa seduta era già stata creata")


MARKDOWN_TITLE = "Seduta [clicca](http://example.com) ![x](http://example.com/a.png) **forte** www.example.com"
BIDI_TITLE = "Verbale \u202egpj.exe\u202c \u2066isolato\u2069"


def test_titles_and_notes_are_plain_text(env: Callable[..., Path]) -> None:
    store = BoardStore(Path(env()))
    at = create_session(open_page(), title=MARKDOWN_TITLE)
    ok(at)
    [session] = store.list_sessions()
    assert session.title == MARKDOWN_TITLE  # stored as typed
    heading = [h.value for h in at.subheader]
    assert heading, "the session title is shown"
    shown = heading[-1]
    # Every Markdown special character is escaped: no link, no image, no emphasis.
    assert "](" not in shown and "**" not in shown
    # GFM links bare URLs in the parsed text: an invisible word joiner breaks "http://" and "www.".
    text = re.sub(r"\\(.)", r"\1", shown)
    assert "http://" not in text and "www." not in text
    assert text.replace("\u2060", "") == MARKDOWN_TITLE
    flash = re.sub(r"\\(.)", r"\1", at.success[0].value)
    assert "](" not in at.success[0].value and "http://" not in flash
    assert flash.replace("\u2060", "") == f"Seduta «{MARKDOWN_TITLE}» creata."

    store.add_note(session.session_id, "note", "session", str(session.session_id), f"Nota {BIDI_TITLE}", "Eve\u202e")
    at.run()
    ok(at)
    texts = [x.value for x in at.text]
    assert "Nota Verbale gpj.exe isolato" in texts
    assert not any(ch in x for x in texts for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_bidi_controls_are_removed_from_session_titles(env: Callable[..., Path]) -> None:
    store = BoardStore(Path(env()))
    store.create_session("2026-11-20", BIDI_TITLE, ["Ana\u2067"], None, None, "Ada")
    at = open_page()
    ok(at)
    shown = re.sub(r"\\(.)", r"\1", at.subheader[-1].value)
    assert shown == "Verbale gpj.exe isolato"
    options = at.selectbox(key="url_seduta").options
    assert options and not any(ch in o for o in options for ch in "\u202e\u202c\u2066\u2069")
    assert not any("\u2067" in x.value for x in at.text)


@pytest.mark.skipif(not boardpack.pdf_status()[0], reason="no chromium/Playwright here: the PDF button is disabled")
def test_pdf_render_is_bounded(env: Callable[..., Path]) -> None:
    """A session that just made a PDF waits for the cooldown; while another render runs, the button says
    so. Neither starts chromium."""
    at = create_session(open_page())
    ok(at)
    at.session_state["rv_pdf_started"] = time.monotonic()
    button(at, "Prepara il PDF").click()
    at.run()
    ok(at)
    assert any(i.value.startswith("Un PDF è appena stato preparato: il prossimo tra ") for i in at.info), \
        [i.value for i in at.info]
    assert "rv_pdf" not in at.session_state
    at.session_state["rv_pdf_started"] = time.monotonic() - 3600
    assert boardpack._PDF_SLOT.acquire(blocking=False)  # another session's render is running
    try:
        button(at, "Prepara il PDF").click()
        at.run()
    finally:
        boardpack._PDF_SLOT.release()
    ok(at)
    assert any(i.value.startswith("Un altro PDF è in preparazione") for i in at.info), [i.value for i in at.info]
    assert "rv_pdf" not in at.session_state


def test_open_tab_is_kept_and_no_change_counts_without_a_comparison(env: Callable[..., Path], seeded: Seeded) -> None:
    """The tabs carry a key: the open tab survives a rerun (after 'Aggiungi' or 'Prepara il PDF' the page stays
    on it); with no snapshot to compare, the change counts are '–', not a number beside 'no comparison'."""
    store = BoardStore(Path(env()))
    session = store.create_session("2026-11-30", "Seduta", ["Anna Rossi"], seeded.current, None, "Ada Lovelace")
    at = open_page(seduta=str(session.session_id), confronto="-")
    ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Target cambiati"] == "–" and metrics["Movimenti"] == "–", metrics
    assert tab_container_ids(at._tree) == ["rv_tab"]  # keyed: the browser's open tab is state, not position


def tab_container_ids(node: object) -> list[str]:
    """The keys of the tab containers on the page (a tab container without a key has an id without one)."""
    found = []
    proto = getattr(node, "proto", None)
    if proto is not None and "tab_container" in {f.name for f, _ in proto.ListFields()}:
        found.append(proto.tab_container.id.rsplit("-", 1)[-1] if "-" in proto.tab_container.id else "")
    children = getattr(node, "children", None)
    for child in (children.values() if isinstance(children, dict) else []):
        found += tab_container_ids(child)
    return found
