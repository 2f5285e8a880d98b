"""Carica dati in a real browser with a real OpenID Connect sign-in: a local provider (oidc-provider-mock)
on 127.0.0.1, the app under `streamlit run` on a temporary warehouse and raw folder, Debian's chromium
driven by Playwright.

- an editor signs in through the provider, uploads a small CSV of makerspaces (two inside the territory,
  one far outside) with the page's file input and sees the dry run's counts; there is no publish button,
  the page says only an admin publishes;
- an admin signs in (another browser context), uploads the same file and publishes; the running app then
  serves the new build: a fresh Dati page shows the new build id (the one now in the warehouse file), not
  the old one, and the upload is kept in the raw folder with the admin as uploader.

Screenshots of the flow go to artifacts/screenshots/upload_*.png (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest

from osservatorio import upload
from tests import oidcfixture
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, READY_JS, SHOTS, TIMEOUT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
oidc = pytest.importorskip("oidc_provider_mock", reason="oidc-provider-mock is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"Debian's chromium is not installed at {CHROMIUM}: apt-get install chromium"),
]

EDITOR = "eddie.redattore@comune.milano.it"
ADMIN = "ada.amministratrice@comune.milano.it"
PUBLISH_MS = 120_000  # a publish rebuilds the whole warehouse on 2 slow cores
# ds744 makerspaces: two inside the test grid, one in Rome (rejected).
CSV = (b"NOMINATIVO;INDIRIZZO;LONG_X_4326;LAT_Y_4326;ID_NIL;MQ_COMPLESSIVI;MACCHINE\n"
       b"Lab Uno;Via Roma 1;9.12;45.43;;100;stampante\n"
       b"Lab Due;Via Po 2;9.20;45.48;;80;laser\n"
       b"Fuori;Via X;12.5;41.9;;50;cnc\n")


@dataclass(frozen=True)
class Site:
    base: str
    warehouse: Path
    raw: Path
    csv: Path
    build_before: str


def build_id(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return str(con.sql("SELECT build_id FROM build").fetchall()[0][0])
    finally:
        con.close()


def build_places(path: Path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return sorted(str(r[0]) for r in con.sql("SELECT name FROM places WHERE theme = 'makerspace'").fetchall())
    finally:
        con.close()


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The OpenID Connect provider on a free loopback port, with the editor and the admin predefined."""
    with oidcfixture.provider({EDITOR: "Eddie Redattore", ADMIN: "Ada Amministratrice"}) as url:
        yield url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, provider: str, h) -> Iterator[Site]:  # noqa: ANN001 - conftest helpers
    """The app with sign-in configured on a warehouse built from the small test raw folder; uploads are
    kept in an empty temporary raw folder; the roles file names the editor and the admin."""
    from etl.pipeline import build

    folder = tmp_path_factory.mktemp("upload")
    source = h.write_raw_dir(folder / "base")
    warehouse = folder / "live" / "warehouse.duckdb"
    build(source, warehouse, progress=h.quiet)
    before = build_id(warehouse)
    raw = folder / "raw"
    csv = folder / "laboratori.csv"
    csv.write_bytes(CSV)
    roles = folder / "roles.toml"
    roles.write_text(f'[emails]\n"{EDITOR}" = "editor"\n"{ADMIN}" = "admin"\n', encoding="utf-8")
    env = {"OSSERVATORIO_WAREHOUSE": str(warehouse), "OSSERVATORIO_APPSTATE": str(folder / "app.sqlite"),
           "OSSERVATORIO_RAW_DIR": str(raw), "OSSERVATORIO_ROLES": str(roles)}
    with oidcfixture.signed_in_app(folder, provider, env) as base:
        yield Site(base, warehouse, raw, csv, before)


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
    page.screenshot(path=str(SHOTS / f"upload_{name}.png"), full_page=True)


def sign_in(page: Page, site: Site, who: str) -> None:
    """Carica dati -> 'Accedi' -> the provider's page -> the predefined person -> back on Carica dati, signed in."""
    page.goto(f"{site.base}/carica", timeout=TIMEOUT_MS)
    ready(page)
    assert page.locator("input[type=file]").count() == 0  # anonymous: no uploader
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url("**/oauth2/authorize**", timeout=TIMEOUT_MS)
    page.get_by_role("button", name=who).click()
    page.wait_for_url(f"{site.base}/**", timeout=TIMEOUT_MS)
    page.goto(f"{site.base}/carica", timeout=TIMEOUT_MS)
    ready(page)
    line = page.get_by_test_id("stSidebar").get_by_text("Accesso:")
    line.wait_for(timeout=TIMEOUT_MS)
    assert who in line.inner_text().replace("\u2060", "")


def upload_and_dry_run(page: Page, site: Site) -> dict[str, str]:
    """The CSV through the uploader's file input; waits for the dry run; its metrics, label -> value."""
    page.locator("input[type=file]").set_input_files(str(site.csv))
    page.get_by_text("Prova: che cosa entrerebbe nei dati").wait_for(timeout=PUBLISH_MS)
    ready(page)
    metrics = page.get_by_test_id("stMetric")
    out = {}
    for i in range(metrics.count()):
        label = metrics.nth(i).get_by_test_id("stMetricLabel").inner_text().strip()
        out[label] = metrics.nth(i).get_by_test_id("stMetricValue").inner_text().strip()
    return out


DRY_RUN = {"Righe lette": "3", "Caricate": "2", "Corrette": "0", "Scartate": "1"}


def test_editor_sees_the_dry_run_but_no_publish_button(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        sign_in(page, site, EDITOR)
        assert page.get_by_test_id("stSidebar").get_by_text("ruolo redattore").count() == 1
        metrics = upload_and_dry_run(page, site)
        shot(page, "editor_dry_run")
        assert metrics == DRY_RUN, metrics
        assert page.get_by_text("Fonte riconosciuta dal contenuto").count() == 1
        assert page.get_by_role("button", name="Pubblica (nuova build)").count() == 0
        assert page.get_by_text("Solo un amministratore può pubblicare").count() == 1
        assert build_id(site.warehouse) == site.build_before  # a dry run never touches the live warehouse
        assert not (site.raw / "caricamenti").exists()
    finally:
        context.close()


def test_admin_publishes_and_the_app_serves_the_new_build(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{site.base}/dati", timeout=TIMEOUT_MS)
        ready(page)
        assert page.get_by_text(f"Build {site.build_before}").count() >= 1  # what the app serves before
        assert page.get_by_text("(ds205, ds379, ds964)").count() >= 1  # the datasets in it: no makerspaces
        sign_in(page, site, ADMIN)
        metrics = upload_and_dry_run(page, site)
        assert metrics == DRY_RUN, metrics
        page.get_by_role("button", name="Pubblica (nuova build)").click()
        page.get_by_text("Pubblicato: laboratori.csv è nella nuova build").wait_for(timeout=PUBLISH_MS)
        ready(page)
        shot(page, "admin_published")
        after = build_id(site.warehouse)
        assert after != site.build_before
        fresh = context.new_page()  # a fresh page of the running app
        fresh.goto(f"{site.base}/dati", timeout=TIMEOUT_MS)
        ready(fresh)
        shot(fresh, "admin_dati_after")
        assert fresh.get_by_text(f"Build {after}").count() >= 1
        assert fresh.get_by_text(f"Build {site.build_before}").count() == 0
        assert fresh.get_by_text("(ds205, ds379, ds744, ds964)").count() >= 1  # the uploaded ds744 is in it
        assert build_places(site.warehouse) == ["Lab Due", "Lab Uno"]  # the two places inside the territory
        kept = [(k["file"], k["uploaded_by"]) for k in upload.uploads(site.raw)]
        assert kept == [("laboratori.csv", ADMIN)], kept
    finally:
        context.close()
