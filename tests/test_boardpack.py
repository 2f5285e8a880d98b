"""The board pack (osservatorio.boardpack): HTML from the demo warehouse with a seeded session, PDF and a real browser."""

from __future__ import annotations

import dataclasses
import html
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest

from osservatorio import boardpack, review
from osservatorio.board_store import BoardStore, PlaceKey, Session

try:
    from tests.review_fixtures import Seeded, seed_review_warehouse
except ModuleNotFoundError:  # `pytest` run from inside tests/
    from review_fixtures import Seeded, seed_review_warehouse

SCRIPT_NOTE = '<script>alert("nota")</script></script><img src=x onerror=alert(2)> & «virgolette»'
TITLE = 'Seduta <b>di novembre</b> "2026"'
GENERATED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
PDF_OK, PDF_REASON = boardpack.pdf_status()
needs_chromium = pytest.mark.skipif(not PDF_OK, reason=f"no PDF here: {PDF_REASON} ({boardpack.chromium_path()})")


@dataclass(frozen=True)
class Pack:
    seeded: Seeded
    session: Session
    html_it: str
    html_en: str
    path: Path          # the Italian HTML written to disk
    new_key: str        # source_key of the makerspace that is new in the current snapshot
    districts: int


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Pack:
    folder = tmp_path_factory.mktemp("boardpack")
    seeded = seed_review_warehouse(folder)
    store = BoardStore(folder / "appstate.sqlite")
    con = duckdb.connect(str(seeded.path), read_only=True)
    try:
        reader = review.ConnectionReader(con)
        keys = review.current_place_keys(reader)
        new = next(k for k in keys if k.theme == "makerspace")
        store.record_places(seeded.previous, [k for k in keys if k != new]
                            + [PlaceKey("vacant", "demo_vacant", "gone-1", "Ex <b>capannone</b>", 5)])
        session = store.create_session("2026-11-20", TITLE, ["Anna Rossi", "Bruno <Bianchi>"], seeded.current,
                                       seeded.previous, "Ada")
        store.add_note(session.session_id, "decision", "indicator", "makerspaces_count",
                       "Chiedere al Municipio 8 i dati dei nuovi fablab.", "Ada")
        store.add_note(session.session_id, "note", "district", f"nil:{seeded.big_nil}", SCRIPT_NOTE, "Bruno <Bianchi>")
        store.add_note(session.session_id, "note", "target", "T02", "Da verificare\nalla prossima seduta.", "Carla")
        comparison = review.compare(reader, seeded.current, seeded.previous, store.snapshot_places)
        pages = {lang: boardpack.render_html(boardpack.assemble(reader, store, session, comparison, lang, GENERATED))
                 for lang in ("it", "en")}
        districts = len(reader.map_geojson("nil")["features"])
    finally:
        con.close()
    path = folder / boardpack.filename(session, "html")
    path.write_text(pages["it"], encoding="utf-8")
    return Pack(seeded, session, pages["it"], pages["en"], path, new.source_key, districts)


def section(document: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}"[^>]*>(.*?)</section>', document, re.S)
    assert match, section_id
    return match.group(1)


def figures(document: str) -> dict:
    match = re.search(r'<script type="application/json" id="boardpack-figures">(.*?)</script>', document, re.S)
    assert match
    return json.loads(match.group(1))


# --- the HTML ---------------------------------------------------------------------------------------------

def test_sections_in_order(pack: Pack) -> None:
    positions = [pack.html_it.index(f'<section id="{sid}"') for sid in boardpack.SECTIONS]
    assert positions == sorted(positions)
    for sid, title in [("changes", "Sintesi dei cambiamenti"), ("targets", "Stato dei target"),
                       ("maps", "Mappe degli indicatori chiave"), ("notes", "Note e decisioni"),
                       ("sources", "Fonti dei dati e date")]:
        assert f"<h2>{title}</h2>" in section(pack.html_it, sid)
    assert "<h2>Summary of changes</h2>" in pack.html_en and "<h2>Data sources and dates</h2>" in pack.html_en
    for document in (pack.html_it, pack.html_en):  # every section has a translated title in the contents
        assert "rv_section_" not in document and "ev_pack_" not in document
    assert pack.path.name == "seduta__n-1__2026-11-20.html"


def test_cover(pack: Pack) -> None:
    cover = section(pack.html_it, "cover")
    assert f"<h1>{html.escape(TITLE)}</h1>" in cover
    assert "20/11/2026" in cover and "Anna Rossi, Bruno &lt;Bianchi&gt;" in cover
    assert pack.seeded.current in cover and pack.seeded.previous in cover
    assert "Dati dimostrativi" in cover  # the demo warning travels with the document
    assert "21/11/2026 10:00" in cover  # generated at, Milan time
    assert f"<title>Verbale della seduta · {html.escape(TITLE)} · 20/11/2026</title>" in pack.html_it


def test_summary_of_changes(pack: Pack) -> None:
    changes = section(pack.html_it, "changes")
    assert "<strong>2</strong> movimenti (area × indicatore)" in changes
    assert "<strong>1</strong> target migliorati" in changes and "<strong>1</strong> target peggiorati" in changes
    assert "Makerspace e fablab" in changes and "fonte aggiornata: demo_makerspace" in changes
    assert 'id="fig-moves"' in changes
    assert pack.new_key in changes  # the new makerspace
    assert "Ex &lt;b&gt;capannone&lt;/b&gt;" in changes and "gone-1" in changes  # the lost vacant space, escaped
    assert "population_nil" in changes and "nuova fonte" in changes
    assert "ateco_categories" in changes and "categorie ATECO riviste" in changes


def test_targets(pack: Pack) -> None:
    targets = section(pack.html_it, "targets")
    assert "T01 · " in targets and "migliorato" in targets and "peggiorato" in targets
    assert "fuori linea" in targets and "a rischio" in targets
    assert "Regole applicate" in targets


def test_maps_are_svg_plotly_figures_of_the_key_indicators(pack: Pack) -> None:
    maps = section(pack.html_it, "maps")
    specs = figures(pack.html_it)
    map_ids = re.findall(r'id="(fig-map-\d+)" data-indicator="([^"]+)"', maps)
    assert 1 <= len(map_ids) <= boardpack.MAX_MAPS
    for fid, _indicator in map_ids:
        traces = specs[fid]["data"]
        polygons = [t for t in traces if t.get("fill") == "toself"]
        assert len(polygons) == pack.districts  # one filled polygon trace per NIL
        assert all(t["type"] == "scatter" for t in traces)  # SVG: no MapLibre (it cannot load from file://)
        assert any(t.get("marker", {}).get("showscale") for t in traces)  # a colour bar
        assert specs[fid]["layout"]["yaxis"]["scaleanchor"] == "x"
    assert "fig-moves" in specs and specs["fig-moves"]["data"][0]["type"] == "bar"


def test_notes_are_escaped(pack: Pack) -> None:
    notes = section(pack.html_it, "notes")
    assert html.escape(SCRIPT_NOTE) in notes
    assert "<script" not in notes and "<img" not in notes
    assert pack.html_it.count("alert(") == pack.html_it.count("alert(&quot;nota&quot;)") + pack.html_it.count("alert(2)")
    assert "Bruno &lt;Bianchi&gt;" in notes
    assert notes.index("Chiedere al Municipio 8") < notes.index("Da verificare")  # decisions first
    assert "Da verificare\nalla prossima seduta." in notes  # line breaks kept (CSS pre-wrap)
    assert "Area: " + pack.seeded.big_nil in notes
    assert "Target: T02 · " in notes


def test_sources(pack: Pack) -> None:
    sources = section(pack.html_it, "sources")
    for source_id in ("nil_boundaries", "population_nil", "demo_makerspace", "demo_vacant"):
        assert f"<td class=\"nowrap\">{source_id}</td>" in sources or f"<td>{source_id}</td>" in sources
    assert "Snapshot confrontati" in sources and "Caricato il" in sources


def test_self_contained_and_offline(pack: Pack) -> None:
    document = pack.html_it
    assert document.startswith("<!doctype html>")
    assert "Content-Security-Policy" in document and "default-src 'none'" in document and "connect-src 'none'" in document
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", document)
    assert all("src=" not in tag and "href=" not in tag for tag in tags), tags  # nothing is loaded from outside
    assert document.count("plotly.js v") == 1  # plotly.js inlined once
    assert document.count('<script type="application/json" id="boardpack-figures">') == 1
    specs = figures(document)
    assert "</" not in json.dumps(specs).replace("<\\/", "")  # the JSON cannot close its <script> element
    assert "@media print" in document and "break-before: page" in document


# --- PDF and a real browser -------------------------------------------------------------------------------

@pytest.mark.browser
@needs_chromium
def test_pdf_is_generated(pack: Pack) -> None:
    pdf = boardpack.html_to_pdf(pack.html_it)
    assert pdf.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= len(boardpack.SECTIONS)  # each section starts on a new page
    assert len(pdf) > 20_000


def test_pdf_without_chromium_says_why(tmp_path: Path) -> None:
    missing = tmp_path / "no-chromium"
    assert boardpack.pdf_status(missing) == (False, "rv_pdf_no_chromium")
    with pytest.raises(boardpack.PdfUnavailable) as info:
        boardpack.html_to_pdf("<html></html>", executable=missing)
    assert info.value.code == "rv_pdf_no_chromium"


@pytest.mark.browser
@needs_chromium
def test_browser_opens_the_file_and_draws_the_maps(pack: Pack) -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(boardpack.chromium_path()), args=boardpack.CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:"))
                    else problems.append(f"request: {r.url}"))
            page.goto(pack.path.as_uri(), wait_until="load")
            page.wait_for_function("document.body.dataset.ready !== '0'", timeout=60_000)
            assert page.evaluate("document.body.dataset.ready") == "1"
            map_ids = page.evaluate("[...document.querySelectorAll('.map-figure')].map(e => e.id)")
            assert map_ids
            for fid in map_ids:
                fills = page.evaluate(
                    """id => [...document.querySelectorAll('#' + id + ' .scatterlayer path.js-fill')]
                               .filter(p => (p.getAttribute('d') || '').length > 10).length""", fid)
                assert fills >= pack.districts, (fid, fills)
                png = page.locator(f"#{fid} .main-svg").first.screenshot()
                pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
                coloured = int((pixels.min(axis=2) <= 235).sum())  # not white
                assert coloured > 0.15 * pixels.shape[0] * pixels.shape[1], (fid, coloured)
            assert page.evaluate("document.querySelectorAll('#fig-moves .bars path').length") >= 1
            body = page.inner_text("#notes")
            assert '<script>alert("nota")</script>' in body  # shown as text
            page.emulate_media(media="print")
            assert page.evaluate("getComputedStyle(document.getElementById('notes')).breakBefore") == "page"
        finally:
            browser.close()
    assert problems == []


def test_bidi_controls_never_reach_the_board_pack() -> None:
    assert boardpack.e("Verbale \u202egpj.exe\u202c <b>") == "Verbale gpj.exe &lt;b&gt;"
    assert boardpack.e("\u2066x\u2069") == "x"


def test_cover_of_a_real_build_names_publisher_and_licence(tmp_path: Path) -> None:
    """The board pack leaves the app: a real build's cover carries the attribution and licence line."""
    seeded = seed_review_warehouse(tmp_path)
    store = BoardStore(tmp_path / "appstate.sqlite")
    con = duckdb.connect(str(seeded.path), read_only=True)
    try:
        reader = review.ConnectionReader(con)
        session = store.create_session("2026-11-20", "Reale", [], seeded.current, seeded.previous, "Ada")
        comparison = review.compare(reader, seeded.current, seeded.previous, store.snapshot_places)
        demo = boardpack.assemble(reader, store, session, comparison, "it", GENERATED)
    finally:
        con.close()
    assert "Dati dimostrativi" in section(boardpack.render_html(demo), "cover")
    real = dataclasses.replace(
        demo, build=dataclasses.replace(demo.build, mode="real"),
        sources=demo.sources.assign(trust="official", status="loaded", licence="CC BY 4.0 – Comune di Milano",
                                    dataset=[f"ds{900 + i}" for i in range(len(demo.sources))]))
    assert len(real.sources) >= 2
    cover = section(boardpack.render_html(real), "cover")
    assert "Dati dimostrativi" not in cover
    assert '<p class="origin">Dati: Comune di Milano (ds900, ds901' in cover, cover[:600]
    assert ") — CC BY 4.0.</p>" in cover  # one line per publisher (ui.origin_line)


def test_pack_leaves_out_maps_without_values_and_says_so(tmp_path: Path) -> None:
    """An all-grey map ('Aree senza valore: 88') is not drawn: one line names it; a section that only says it
    has nothing does not start a printed page; a rule shared by several targets is written once."""
    seeded = seed_review_warehouse(tmp_path)
    store = BoardStore(tmp_path / "appstate.sqlite")
    con = duckdb.connect(str(seeded.path), read_only=True)
    try:
        reader = review.ConnectionReader(con)
        session = store.create_session("2026-11-20", "Mappe", [], seeded.current, seeded.previous, "Ada")
        comparison = review.compare(reader, seeded.current, seeded.previous, store.snapshot_places)
        pack = boardpack.assemble(reader, store, session, comparison, "it", GENERATED)
    finally:
        con.close()
    assert pack.maps, "the seeded warehouse has key indicators with values"
    first = pack.maps[0]
    blank = dataclasses.replace(first, indicator_id="blank", title="Indicatore vuoto",
                                values=first.values.assign(value=float("nan")))
    document = boardpack.render_html(dataclasses.replace(pack, maps=[first, blank]))
    maps = section(document, "maps")
    assert maps.count('class="figure map-figure"') == 1 and 'data-indicator="blank"' not in maps
    assert "Senza valori per area in questo snapshot (mappe omesse): Indicatore vuoto." in maps
    only_blank = boardpack.render_html(dataclasses.replace(pack, maps=[blank]))
    assert "map-figure" not in section(only_blank, "maps") and '<section id="maps" data-short="1">' in only_blank
    targets = pack.comparison.targets
    if len(targets) >= 2:
        shared = dataclasses.replace(pack, comparison=dataclasses.replace(pack.comparison,
                                                                          targets=targets.assign(rule="Stessa regola")))
        rules = section(boardpack.render_html(shared), "targets")
        assert rules.count("Stessa regola") == 1


def test_pack_names_the_territory_and_lists_actions_with_their_evaluation(tmp_path: Path) -> None:
    """The cover names the territory; the actions section lists status, line, places and funding of every action,
    the decisions of this session, the evaluation of the evaluable ones and why the others are not evaluated."""
    from datetime import date

    from osservatorio.programme_store import Action, PlaceRef, ProgrammeStore

    seeded = seed_review_warehouse(tmp_path)
    store = BoardStore(tmp_path / "appstate.sqlite")
    programme = ProgrammeStore(tmp_path / "programme.sqlite")
    programme.create(Action(title="Fablab <i>Greco</i>", line="laboratori", places=(PlaceRef("nil", seeded.big_nil),),
                            start_date=date(2020, 1, 1), indicators=("makerspaces_count",), funding_source="regione"),
                     "ed", "x")
    programme.create(Action(title="Bando", line="investimento", places=(PlaceRef("municipio", "2"),), status="proposed"),
                     "ed", "x")
    con = duckdb.connect(str(seeded.path), read_only=True)
    try:
        reader = review.ConnectionReader(con)
        session = store.create_session("2026-11-20", "Azioni", [], seeded.current, seeded.previous, "Ada")
        programme.decide(2, 1, "postponed", session.session_id, "presidenza", "manca il preventivo")
        comparison = review.compare(reader, seeded.current, seeded.previous, store.snapshot_places)
        pack = boardpack.assemble(reader, store, session, comparison, "it", GENERATED, programme_store=programme)
    finally:
        con.close()
    document = boardpack.render_html(pack)
    assert "<th>Territorio</th><td>Comune di Milano</td>" in section(document, "cover")
    actions = section(document, "actions")
    assert "Fablab &lt;i&gt;Greco&lt;/i&gt;" in actions and "<i>Greco" not in actions  # escaped
    assert "Regione" in actions and "Municipio 2" in actions and "rinviata" in actions
    assert "manca il preventivo" in actions and "presidenza" in actions  # the session's decision, in the minutes
    assert [(r.action_id, r.indicator_id) for r in pack.evaluations] == [("1", "makerspaces_count")]
    assert [(n.action_id, n.reason) for n in pack.not_evaluable] == [("2", "no_start")]
    assert "nessuna data di inizio" in actions and "Differenza nelle differenze" in actions
    english = boardpack.render_html(dataclasses.replace(pack, lang="en"))
    assert "Programme actions" in section(english, "actions")
