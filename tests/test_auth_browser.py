"""Sign-in in a real browser: a local OpenID Connect provider (oidc-provider-mock) on 127.0.0.1, the
app under `streamlit run` with an `[auth]` secrets file pointing at it, Debian's chromium driven by
Playwright.

- an editor signs in through the provider, adds a note in Seduta, and the store holds it with
  the editor's e-mail as author (there is no author field to type);
- a viewer (signed in, not in the roles file) sees no write control on Seduta;
- a forged identity cookie (unsigned, or signed with another secret) is refused: the page is the
  anonymous one, with no write control.

Screenshots of the flow go to artifacts/screenshots/auth_*.png (git-ignored).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import oidcfixture
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, READY_JS, SHOTS, TIMEOUT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
oidc = pytest.importorskip("oidc_provider_mock", reason="oidc-provider-mock is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"Debian's chromium is not installed at {CHROMIUM}: apt-get install chromium"),
]

EDITOR = "eddie.redattore@comune.milano.it"
VIEWER = "vera.lettrice@example.com"
NOTE = "Verificare i dati del NIL 12 prima della prossima seduta"


@dataclass(frozen=True)
class Site:
    base: str
    appstate: Path
    cookie_secret: str


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The OpenID Connect provider on a free loopback port, with the two people predefined."""
    with oidcfixture.provider({EDITOR: "Eddie Redattore", VIEWER: "Vera Lettrice"}) as url:
        yield url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, provider: str) -> Iterator[Site]:
    """The app with sign-in configured: demo warehouse, one review session, the editor in the roles file."""
    from etl.pipeline import build
    from osservatorio.board_store import BoardStore

    folder = tmp_path_factory.mktemp("auth")
    warehouse = folder / "warehouse.duckdb"
    build(None, warehouse, progress=lambda _m: None)
    appstate = folder / "app.sqlite"
    BoardStore(appstate).create_session("2026-11-20", "Seduta di prova", ["Eddie"], None, None, EDITOR)
    roles = folder / "roles.toml"
    roles.write_text(f'[emails]\n"{EDITOR}" = "editor"\n', encoding="utf-8")
    env = {"OSSERVATORIO_WAREHOUSE": str(warehouse), "OSSERVATORIO_APPSTATE": str(appstate),
           "OSSERVATORIO_ROLES": str(roles)}
    with oidcfixture.signed_in_app(folder, provider, env) as base:
        yield Site(base, appstate, oidcfixture.COOKIE_SECRET)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def ready(page: Page) -> None:
    page.wait_for_function(READY_JS, timeout=TIMEOUT_MS, polling=100)


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"auth_{name}.png"), full_page=True)


def sign_in(page: Page, site: Site, who: str, name: str) -> None:
    """Seduta -> 'Accedi' -> the provider's page -> the predefined person -> back in the app, signed in."""
    page.goto(f"{site.base}/seduta", timeout=TIMEOUT_MS)
    ready(page)
    shot(page, f"{name}_1_anonymous")
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url("**/oauth2/authorize**", timeout=TIMEOUT_MS)
    shot(page, f"{name}_2_provider")
    page.get_by_role("button", name=who).click()
    page.wait_for_url(f"{site.base}/**", timeout=TIMEOUT_MS)
    page.goto(f"{site.base}/seduta", timeout=TIMEOUT_MS)
    ready(page)
    shot(page, f"{name}_3_signed_in")
    signed_in_line(page).wait_for(timeout=TIMEOUT_MS)
    assert who in signed_in_line(page).inner_text().replace("\u2060", "")


def signed_in_line(page: Page) -> Locator:
    """The sidebar line naming the signed-in person (an invisible word joiner follows the '@')."""
    return page.get_by_test_id("stSidebar").get_by_text("Accesso:")


def open_notes(page: Page) -> None:
    page.get_by_role("tab", name="Note e decisioni").click()
    ready(page)


def write_controls(page: Page) -> dict[str, int]:
    """Write controls anywhere on the page (also hidden ones)."""
    return {"textareas": page.locator("textarea").count(),
            "add": page.get_by_role("button", name="Aggiungi").count(),
            "create": page.get_by_role("button", name="Crea la seduta").count(),
            "correct": page.get_by_role("button", name="Correggi").count(),
            "withdraw": page.get_by_role("button", name="Ritira").count()}


def stored_notes(path: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT body, author FROM notes ORDER BY note_id").fetchall()
    finally:
        con.close()


def test_editor_signs_in_and_adds_a_note_stored_with_their_email(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        sign_in(page, site, EDITOR, "editor")
        assert page.get_by_test_id("stSidebar").get_by_text("ruolo redattore").count() == 1
        assert page.get_by_label("Il tuo nome (autore)").count() == 0  # no typed author any more
        open_notes(page)
        page.get_by_role("textbox", name="Testo", exact=True).fill(NOTE)
        page.get_by_role("button", name="Aggiungi").click()
        page.get_by_text("Nota aggiunta.").wait_for(timeout=TIMEOUT_MS)
        ready(page)
        open_notes(page)
        shot(page, "editor_4_note_added")
        assert (NOTE, EDITOR) in stored_notes(site.appstate)
        assert page.get_by_role("button", name="Correggi").count() >= 1  # their own note: correct / withdraw
    finally:
        context.close()


def test_viewer_sees_no_write_control(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        sign_in(page, site, VIEWER, "viewer")
        sidebar = page.get_by_test_id("stSidebar")
        assert sidebar.get_by_text("ruolo lettore").count() == 1
        assert sidebar.get_by_text("permette di consultare sedute e note, non di scriverle").count() == 1
        open_notes(page)
        shot(page, "viewer_4_notes")
        assert write_controls(page) == {"textareas": 0, "add": 0, "create": 0, "correct": 0, "withdraw": 0}
        before = stored_notes(site.appstate)
        page.goto(f"{site.base}/seduta?seduta=1&nota=forged", timeout=TIMEOUT_MS)  # no URL writes anything
        ready(page)
        assert stored_notes(site.appstate) == before
    finally:
        context.close()


@pytest.mark.parametrize("signed_with", [None, "another-secret-" + "y" * 24])
def test_forged_identity_cookie_is_refused(browser: Browser, site: Site, signed_with: str | None) -> None:
    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value

    claims = json.dumps({"email": EDITOR, "name": "Falso", "is_logged_in": True, "origin": site.base,
                         "provider": "default"})
    value = claims if signed_with is None else create_signed_value(signed_with, "_streamlit_user", claims).decode()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        context.add_cookies([{"name": "_streamlit_user", "value": value, "url": site.base}])
        page = context.new_page()
        page.goto(f"{site.base}/seduta", timeout=TIMEOUT_MS)
        ready(page)
        open_notes(page)
        shot(page, "forged_" + ("unsigned" if signed_with is None else "other_secret"))
        assert page.get_by_role("button", name="Accedi").count() == 1  # anonymous: the sign-in button
        assert signed_in_line(page).count() == 0
        assert write_controls(page) == {"textareas": 0, "add": 0, "create": 0, "correct": 0, "withdraw": 0}
    finally:
        context.close()
