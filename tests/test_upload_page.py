"""The Carica dati page (pages/carica.py) through AppTest: viewer, editor, admin, read-only mode."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from etl.pipeline import build
from osservatorio import auth, upload
from osservatorio.warehouse import REGISTRY

APP = Path(__file__).resolve().parents[1] / "app.py"
DS744 = (b"NOMINATIVO;INDIRIZZO;LONG_X_4326;LAT_Y_4326;ID_NIL;MQ_COMPLESSIVI;MACCHINE\n"
         b"Lab Uno;Via Roma 1;9.12;45.43;;100;stampante\n"
         b"Lab Due;Via Po 2;9.20;45.48;;80;laser\n"
         b"Fuori;Via X;12.5;41.9;;50;cnc\n")


@pytest.fixture
def live(tmp_path: Path, h, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: ANN001 - the conftest helpers
    raw = h.write_raw_dir(tmp_path / "base")
    out = tmp_path / "live" / "warehouse.duckdb"
    build(raw, out, progress=h.quiet)
    monkeypatch.setenv("OSSERVATORIO_WAREHOUSE", str(out))
    monkeypatch.setenv("OSSERVATORIO_AUTO_DEMO", "0")
    monkeypatch.setenv("OSSERVATORIO_MAP_STYLE", "white-bg")
    monkeypatch.setenv("OSSERVATORIO_APPSTATE", str(tmp_path / "appstate.sqlite"))
    monkeypatch.setenv(upload.RAW_ENV, str(tmp_path / "raw"))
    monkeypatch.delenv("OSSERVATORIO_READ_ONLY", raising=False)
    return out


def as_role(monkeypatch: pytest.MonkeyPatch, role: auth.Role) -> None:
    """The signed-in identity the page sees (sign-in itself is tested with the local provider)."""
    user = auth.User(email=f"{role}@comune.milano.it", name=role.title(), role=role)
    monkeypatch.setattr(auth, "current_user", lambda: user)


def open_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.switch_page("pages/carica.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in (at.info, at.warning, at.error, at.success, at.caption) for e in kind)


def build_id(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return str(con.sql("SELECT build_id FROM build").fetchall()[0][0])
    finally:
        con.close()


def test_viewer_sees_no_upload(live: Path) -> None:
    at = open_page()
    assert len(at.get("file_uploader")) == 0
    assert at.info and not at.metric  # the reason (here: no identity provider) and nothing else


def test_read_only_says_uploads_are_off(live: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    as_role(monkeypatch, "admin")
    monkeypatch.setenv("OSSERVATORIO_READ_ONLY", "1")
    at = open_page()
    assert len(at.get("file_uploader")) == 0
    assert "sola lettura" in texts(at)
    assert not (tmp_path / "raw").exists()


def test_editor_sees_the_preview_but_cannot_publish(live: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_role(monkeypatch, "editor")
    at = open_page()
    at.get("file_uploader")[0].set_value(("laboratori.csv", DS744, "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.metric] == ["3", "2", "0", "1"]
    assert "makerspaces" in texts(at)
    assert not [b for b in at.button if b.key == "carica_publish"]
    assert "amministratore" in texts(at)


def test_editor_maps_an_unknown_list(live: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_role(monkeypatch, "editor")
    at = open_page()
    at.get("file_uploader")[0].set_value(("spazi.csv", b"Nome;Lon;Lat\nSpazio;9.13;45.44\n", "text/csv"))
    at.run()
    assert "Nessuna fonte" in texts(at) and not at.metric
    at.selectbox(key="carica_col_name").set_value("Nome")
    at.selectbox(key="carica_col_lon").set_value("Lon")
    at.selectbox(key="carica_col_lat").set_value("Lat").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.metric] == ["1", "1", "0", "0"]


def test_admin_publishes_a_new_build(live: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    as_role(monkeypatch, "admin")
    before = build_id(live)
    at = open_page()
    at.get("file_uploader")[0].set_value(("laboratori.csv", DS744, "text/csv"))
    at.run()
    at.button(key="carica_publish").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Pubblicato" in texts(at), texts(at)
    at.switch_page("pages/dati.py").run()  # the running app serves the new build (the registry switches)
    shown = texts(at)
    REGISTRY.close_all()  # this process's own read must not get the registry's instance
    after = build_id(live)
    assert after != before and after in shown and before not in shown
    kept = upload.uploads(tmp_path / "raw")
    assert [(k["file"], k["uploaded_by"]) for k in kept] == [("laboratori.csv", "admin@comune.milano.it")]


def test_a_withdrawn_role_cannot_publish(live: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The publish button was drawn for an admin; the role is withdrawn before the click: the click's callback
    checks the role again, nothing is published, nothing is kept, the page says why."""
    as_role(monkeypatch, "admin")
    before = build_id(live)
    at = open_page()
    at.get("file_uploader")[0].set_value(("laboratori.csv", DS744, "text/csv"))
    at.run()
    button = at.button(key="carica_publish")
    as_role(monkeypatch, "editor")  # withdrawn between drawing the button and clicking it
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Pubblicazione rifiutata" in texts(at), texts(at)
    assert "Pubblicato" not in texts(at) and "carica_job" not in at.session_state
    REGISTRY.close_all()
    assert build_id(live) == before
    assert upload.uploads(tmp_path / "raw") == []


def test_a_file_for_a_level_the_territory_lacks_is_refused_before_the_dry_run(live: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The warehouse relabelled as a territory of comuni only; the file is taken as the ds201 counts per NIL
    (recognition itself is tested in test_upload): the page says which level is missing, before any build."""
    con = duckdb.connect(str(live))
    try:
        con.execute("UPDATE territory SET territory_id = 'provincia_prova', name_it = 'Provincia di prova'")
        con.execute("DELETE FROM territory_levels WHERE rank > 0")
        con.execute("UPDATE territory_levels SET level = 'comune', label_it = 'Comune', plural_it = 'Comuni'")
    finally:
        con.close()
    REGISTRY.close_all()
    as_role(monkeypatch, "editor")
    monkeypatch.setattr(upload, "recognise", lambda checked, sources=None: ["firms_ateco"])
    at = open_page()
    at.get("file_uploader")[0].set_value(("unita_locali.csv", DS744, "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any("livello «nil»" in e and "Provincia di prova" in e and "Comune" in e for e in errors), errors
    assert not at.metric  # no dry run
