"""Roles on the Seduta page through AppTest (st.user seeded, [auth] secrets given): who sees the
forms, who the store lets write, and what the page says without an identity provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from osservatorio.auth import User
from osservatorio.board_store import BoardStore, PermissionDenied

APP = Path(__file__).resolve().parents[1] / "app.py"
EDITOR = "eddie@comune.milano.it"
ADMIN = "anna@comune.milano.it"
AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "s" * 32, "client_id": "c",
        "client_secret": "x", "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_warehouse: Path) -> Iterator[BoardStore]:
    roles = tmp_path / "roles.toml"
    roles.write_text(f'[emails]\n"{EDITOR}" = "editor"\n"{ADMIN}" = "admin"\n', encoding="utf-8")
    for key, value in {"OSSERVATORIO_MAP_STYLE": "white-bg", "OSSERVATORIO_AUTO_DEMO": "0",
                       "OSSERVATORIO_APPSTATE": str(tmp_path / "app.sqlite"), "OSSERVATORIO_ROLES": str(roles),
                       "OSSERVATORIO_WAREHOUSE": str(demo_warehouse)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("OSSERVATORIO_READ_ONLY", raising=False)
    st.cache_data.clear()
    board = BoardStore(tmp_path / "app.sqlite")
    board.create_session("2026-11-20", "Seduta", [], None, None, EDITOR)
    yield board
    st.cache_data.clear()


def page(email: str | None, configured: bool = True) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if configured:
        at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": email} if email else ({"is_logged_in": False} if configured else {})
    at.switch_page("pages/seduta.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sidebar_text(at: AppTest) -> str:
    return " ".join([c.value for c in at.sidebar.caption] + [i.value for i in at.sidebar.info])


def test_editor_writes_with_their_email_and_no_author_field(store: BoardStore) -> None:
    at = page(EDITOR)
    assert "rv_author" not in [w.key for w in at.text_input]
    assert "ruolo redattore" in sidebar_text(at)
    at.text_area(key="rv_note_body").input("Nota del redattore")
    next(b for b in at.button if b.label == "Aggiungi").click()
    at.run()
    assert [s.value for s in at.success] == ["Nota aggiunta."]
    assert [(n.body, n.author) for n in store.list_notes()] == [("Nota del redattore", EDITOR)]
    assert {"Correggi", "Ritira"} <= {b.label for b in at.button}


@pytest.mark.parametrize("email", ["vera@example.com", None])
def test_viewer_and_public_see_no_form(store: BoardStore, email: str | None) -> None:
    at = page(email)
    keys = {w.key for w in (*at.text_area, *at.text_input, *at.button)}
    assert not keys & {"rv_note_body", "rv_new_title", "rv_new_participants", "rv_author"}
    assert not {"Aggiungi", "Crea la seduta", "Correggi", "Ritira"} & {b.label for b in at.button}
    expected = "permette di consultare sedute e note" if email else "serve l'accesso con il ruolo di redattore"
    assert expected in sidebar_text(at)
    assert ("Accedi" in {b.label for b in at.sidebar.button}) is (email is None)


def test_a_callback_run_for_a_viewer_is_refused_by_the_store(store: BoardStore) -> None:
    """What a forged widget event would reach: the store checks the role itself."""
    with pytest.raises(PermissionDenied):
        store.add_note(1, "note", "session", "1", "Forzata", User("vera@example.com", None, "viewer"))
    assert store.list_notes() == []


def test_admin_corrects_someone_elses_note(store: BoardStore) -> None:
    note = store.add_note(1, "note", "session", "1", "Testo originale", EDITOR)
    at = page(ADMIN)
    next(b for b in at.button if b.key == f"rv_fix_{note.note_id}").click()
    at.run()
    at.text_area(key=f"rv_fix_body_{note.note_id}").input("Testo corretto")
    next(b for b in at.button if b.label == "Salva la correzione").click()
    at.run()
    assert [s.value for s in at.success] == ["Nota corretta: il testo precedente resta nella cronologia."]
    fixed = store.get_note(note.note_id)
    assert fixed is not None and (fixed.body, fixed.author, fixed.changed_by) == ("Testo corretto", EDITOR, ADMIN)
    assert [v.body for v in store.note_history(note.note_id)] == ["Testo originale"]


def test_no_identity_provider_read_only_for_everyone(store: BoardStore) -> None:
    at = page(None, configured=False)
    assert "Sola lettura (accesso non configurato)" in sidebar_text(at)
    assert not {"Aggiungi", "Crea la seduta", "Accedi"} & {b.label for b in at.button}
    assert [t.value for t in at.toast] == ["Accesso non configurato: l'app è in sola lettura per tutti."]
    at.run()
    assert [t.value for t in at.toast] == []  # said once per browser session
