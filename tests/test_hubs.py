"""Hub theme (config/hubs.toml -> places, theme 'hub'): placement by the area the facts support, rejects, skips.

Unit tests use a fixture configuration and a fixture territory profile (two levels, 'quartiere' in
'zona', boxes written here); the real configuration is read for the three real territories with
their real area ids; the pipeline builds the fixture fourth territory of tests/fixtures/territories
(no hub there: skipped, not failed) and, with the real files, the Provincia di Cremona.
"""

from __future__ import annotations

import json
import tomllib
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import geopandas as gpd
import pytest
import shapely

from etl import checks
from etl import territory as territories
from etl.base import BuildContext, SourceError
from etl.pipeline import build
from etl.sources import REGISTRY, hubs

if TYPE_CHECKING:
    from conftest import Helpers

VALLE = Path(__file__).resolve().parent / "fixtures" / "territories"

PROFILE = """
id = "isola_prova"
version = "t1"
name_it = "Isola di prova"
name_en = "Test island"
[centre]
lon = 9.5
lat = 45.5
name_it = "Porto"
name_en = "Harbour"
[[levels]]
id = "quartiere"
boundary_source = "areas_geojson"
label_it = "Quartiere"
label_en = "Quarter"
plural_it = "Quartieri"
plural_en = "Quarters"
[[levels]]
id = "zona"
boundary_source = "areas_geojson"
label_it = "Zona"
label_en = "Zone"
plural_it = "Zone"
plural_en = "Zones"
"""

FACT = """
[[hubs.facts]]
id = "area"
text_it = "Circa 900 m²"
text_en = "About 900 m²"
value = 900
unit = "m2"
column = "area_m2"
source = "Comunicato di prova"
document = "Comunicato, 01/02/2020"
date = 2020-02-01
trust = "derived"
"""

CONFIG = f"""
version = "test"

[[hubs]]
id = "fine"
name_it = "Polo fine"
name_en = "Fine hub"
category = "innovation_pole"
address = "Via Prova 1"
[[hubs.places]]
territory = "isola_prova"
level = "quartiere"
area_id = 3
basis_it = "Il comunicato dà il quartiere 3"
basis_en = "The release gives quarter 3"
[[hubs.places]]
territory = "altrove"
level = "quartiere"
area_id = 1
basis_it = "x"
basis_en = "x"
{FACT}
[[hubs.facts]]
id = "desks"
text_it = "30 postazioni"
text_en = "30 desks"
value = 30
unit = "desks"
column = "seats"
source = "Sito del polo"
url = "https://example.org/polo"
trust = "official"
[[hubs.facts]]
id = "opened"
text_it = "Aperto il 5 maggio 2019"
text_en = "Opened on 5 May 2019"
column = "started_on"
source = "Sito del polo"
url = "https://example.org/polo"
date = 2019-05-05
trust = "derived"

[[hubs]]
id = "zone_only"
name_it = "Distretto di zona"
name_en = "Zone district"
category = "innovation_district"
[[hubs.places]]
territory = "isola_prova"
level = "zona"
area_id = 2
basis_it = "Il documento dà solo la zona 2"
basis_en = "The document gives zone 2 only"
{FACT}
[[hubs]]
id = "territory_only"
name_it = "Hub del territorio"
name_en = "Territory hub"
category = "impresa40_hub"
[[hubs.places]]
territory = "isola_prova"
basis_it = "Nessun fatto dà l'area"
basis_en = "No fact gives the area"
{FACT}
[[hubs]]
id = "outside"
name_it = "Hub fuori"
name_en = "Hub outside"
category = "innovation_pole"
[[hubs.places]]
territory = "isola_prova"
level = "quartiere"
area_id = 99
basis_it = "x"
basis_en = "x"
{FACT}
[[hubs]]
id = "no_such_level"
name_it = "Hub con livello sbagliato"
name_en = "Hub with a wrong level"
category = "innovation_pole"
[[hubs.places]]
territory = "isola_prova"
level = "comune"
area_id = 3
basis_it = "x"
basis_en = "x"
{FACT}
[[hubs]]
id = "unsourced"
name_it = "Hub senza fonte"
name_en = "Hub without source"
category = "innovation_pole"
[[hubs.places]]
territory = "isola_prova"
basis_it = "x"
basis_en = "x"
[[hubs.facts]]
id = "claim"
text_it = "Grande"
text_en = "Big"
trust = "derived"

[[hubs]]
id = "with_point"
name_it = "Hub con coordinate"
name_en = "Hub with coordinates"
category = "innovation_pole"
lon = 9.51
lat = 45.51
[[hubs.places]]
territory = "isola_prova"
basis_it = "x"
basis_en = "x"
{FACT}
[[hubs]]
id = "elsewhere_only"
name_it = "Hub di un altro territorio"
name_en = "Another territory's hub"
category = "innovation_pole"
[[hubs.places]]
territory = "altrove"
basis_it = "x"
basis_en = "x"
{FACT}"""


def boxes(ids: list[int], parents: list[int | None] | None = None) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame({"id": ids, "name": [f"A{i}" for i in ids]},
                             geometry=[shapely.box(9 + i / 100, 45, 9.01 + i / 100, 45.01) for i in range(len(ids))],
                             crs="EPSG:4326")
    if parents is not None:
        frame["parent_id"] = parents
    return frame


@pytest.fixture
def profile(tmp_path: Path) -> territories.TerritoryProfile:
    path = tmp_path / "isola_prova.toml"
    path.write_text(PROFILE, encoding="utf-8")
    return territories.load(path)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hubs.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def ctx(profile: territories.TerritoryProfile) -> BuildContext:
    return BuildContext.with_areas(boxes([1, 2, 3, 4], [1, 1, 2, 2]), boxes([1, 2]), profile)


def _rows(result) -> dict[str, dict]:  # noqa: ANN001 - LoadResult
    return {r["source_key"]: r for r in result.frame.to_dict("records")}


def test_each_hub_sits_in_the_area_its_facts_support(config: Path, ctx: BuildContext) -> None:
    result = hubs.HubsSource(config=config).load(config, ctx)
    rows = _rows(result)
    assert set(rows) == {"fine", "zone_only", "territory_only"}
    fine = rows["fine"]
    # the fine level's area, its parent from the boundaries, the facts' columns
    assert (fine["district_id"], fine["parent_id"], fine["assignment"]) == (3, 2, "file_id")
    assert (fine["area_m2"], fine["seats"], fine["started_on"]) == (900.0, 30, date(2019, 5, 5))
    assert fine["address"] == "Via Prova 1" and fine["category"] == "innovation_pole" and fine["theme"] == "hub"
    zone = rows["zone_only"]
    assert (zone["district_id"], zone["parent_id"], zone["assignment"]) == (None, 2, "parent_only")
    whole = rows["territory_only"]
    assert (whole["district_id"], whole["parent_id"], whole["assignment"]) == (None, None, "parent_only")
    assert whole["started_on"] is None and whole["seats"] is None  # no fact fills them
    # never a coordinate
    assert all(r["lon"] is None or r["lon"] != r["lon"] for r in rows.values())
    assert result.trust == "derived"


def test_facts_keep_text_value_source_date_and_trust(config: Path, ctx: BuildContext) -> None:
    rows = _rows(hubs.HubsSource(config=config).load(config, ctx))
    attributes = json.loads(rows["fine"]["attributes"])
    assert attributes["name_en"] == "Fine hub" and attributes["basis_it"] == "Il comunicato dà il quartiere 3"
    facts = {f["id"]: f for f in attributes["facts"]}
    assert facts["area"] == {
        "id": "area", "text_it": "Circa 900 m²", "text_en": "About 900 m²", "value": 900, "unit": "m2",
        "source": "Comunicato di prova", "url": None, "document": "Comunicato, 01/02/2020", "date": "2020-02-01",
        "date_precision": "day", "trust": "derived", "column": "area_m2"}
    assert facts["desks"]["url"] == "https://example.org/polo" and facts["desks"]["trust"] == "official"
    assert facts["desks"]["date"] is None and facts["desks"]["date_precision"] is None


def test_hubs_that_cannot_be_placed_or_sourced_are_rejects_with_their_reason(config: Path, ctx: BuildContext) -> None:
    result = hubs.HubsSource(config=config).load(config, ctx)
    reasons = {r.raw["id"]: r.reason for r in result.rejects}
    assert set(reasons) == {"outside", "no_such_level", "unsourced", "with_point"}
    assert "Quartiere 99 non è tra le aree del territorio Isola di prova" in reasons["outside"]
    assert "non ha il livello 'comune'" in reasons["no_such_level"]
    assert "mancano source" in reasons["unsourced"] and "fatto 1" in reasons["unsourced"]
    assert "coordinate" in reasons["with_point"]
    assert all(r.action == "rejected" and r.row_number for r in result.rejects)
    # read = the hubs of this territory (the other territory's hub is not read)
    assert result.rows_read == 7 and result.rows_rejected == 4 and len(result.frame) == 3


def test_area_not_verifiable_without_the_level_boundaries(config: Path, profile: territories.TerritoryProfile) -> None:
    ctx = BuildContext.with_areas(None, None, profile)
    result = hubs.HubsSource(config=config).load(config, ctx)
    assert set(_rows(result)) == {"territory_only"}
    reasons = {r.raw["id"]: r.reason for r in result.rejects}
    assert "non caricati" in reasons["fine"] and "non caricati" in reasons["zone_only"]


@pytest.mark.parametrize(("text", "problem"), [
    ("version = 1\n[[hubs]\n", "TOML non valido"),
    ("version = 1\n", "manca la lista [[hubs]]"),
    ("hubs = [1, 2]\n", "manca la lista [[hubs]]"),
    ('[[hubs]]\nid = "x"\n[hubs.places]\nterritory = "isola_prova"\n', "'places' deve essere una lista"),
    ('[[hubs]]\nid = "x"\n[[hubs.places]]\nlevel = "zona"\n', "con territory"),
])
def test_unusable_configuration_is_a_source_error(tmp_path: Path, ctx: BuildContext, text: str, problem: str) -> None:
    path = tmp_path / "hubs.toml"
    path.write_text(text, encoding="utf-8")
    source = hubs.HubsSource(config=path)
    with pytest.raises(SourceError, match="hubs.toml") as err:
        source.load(path, ctx)
    assert problem in err.value.problem and "config/hubs.toml" in err.value.hint
    assert source.territories is None  # the pipeline does not skip it: load says what is wrong


@pytest.mark.parametrize(("old", "new", "reason"), [
    ('unit = "m2"', 'unit = "mq"', "unit 'mq' non ammessa"),
    ('trust = "derived"', 'trust = "sure"', "trust 'sure' non ammesso"),
    ('value = 900', 'value = "900"', "non è un numero"),
    ('column = "area_m2"', 'column = "name"', "column 'name' non ammessa"),
    ('document = "Comunicato, 01/02/2020"', '', "manca dove lo dice la fonte"),
    ('category = "innovation_pole"\naddress', 'category = "fablab"\naddress', "category 'fablab' non ammessa"),
    ('date = 2019-05-05', 'date = 2019-05-05\ndate_precision = "month"', "non riempie started_on"),
    ('date = 2020-02-01', 'date = 2020-02-01\ndate_precision = "week"', "date_precision 'week'"),
])
def test_each_malformed_fact_or_field_is_named(tmp_path: Path, ctx: BuildContext, old: str, new: str, reason: str) -> None:
    text = CONFIG.replace(old, new, 1)
    assert text != CONFIG
    path = tmp_path / "hubs.toml"
    path.write_text(text, encoding="utf-8")
    result = hubs.HubsSource(config=path).load(path, ctx)
    fine = next(r for r in result.rejects if r.raw["id"] == "fine")
    assert reason in fine.reason


def test_find_returns_the_configuration_whatever_the_raw_folder(config: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert hubs.HubsSource(config=config).find(tmp_path / "anything") == [config]
    assert hubs.HubsSource(config=tmp_path / "missing.toml").find(tmp_path) == []
    monkeypatch.delenv(hubs.CONFIG_ENV, raising=False)
    assert hubs.SOURCE.find(tmp_path) == [hubs.DEFAULT_CONFIG]
    monkeypatch.setenv(hubs.CONFIG_ENV, str(config))
    assert hubs.SOURCE.find(tmp_path) == [config]
    assert hubs.HubsSource(config=config).territories == ("isola_prova", "altrove")
    assert hubs.SOURCE in REGISTRY and hubs.SOURCE.themes == ("hub",)


# --- the real configuration --------------------------------------------------------------------------------

REAL = {  # territory -> {hub: (district_id, parent_id, assignment)}, and the areas each needs
    "provincia_cremona": {"polo_tecnologico_cremona": (19036, None, "file_id")},
    "milano": {"hub_impresa40_fondazione_polimi": (None, None, "parent_only")},
    "citta_metropolitana_milano": {"hub_impresa40_fondazione_polimi": (15146, None, "file_id"),
                                   "mind_milano_innovation_district": (None, None, "parent_only")},
}


def _real_ctx(territory_id: str, fine_ids: list[int]) -> BuildContext:
    profile = territories.load(territory_id)
    parent = boxes([1, 2]) if profile.parent is not None else None
    fine = boxes(fine_ids, [1] * len(fine_ids) if parent is not None else None)
    return BuildContext.with_areas(fine, parent, profile)


@pytest.mark.parametrize("territory_id", sorted(REAL))
def test_real_configuration_for_the_three_territories(territory_id: str) -> None:
    ctx = _real_ctx(territory_id, [1, 2, 15146, 19036])
    result = hubs.SOURCE.load(hubs.DEFAULT_CONFIG, ctx)
    assert result.rejects == []
    got = {r["source_key"]: (r["district_id"], r["parent_id"], r["assignment"]) for r in _rows(result).values()}
    assert got == REAL[territory_id]
    assert set(hubs.territories_in(hubs.DEFAULT_CONFIG)) == set(REAL)


def test_real_cremona_hub_facts() -> None:
    row = _rows(hubs.SOURCE.load(hubs.DEFAULT_CONFIG, _real_ctx("provincia_cremona", [19036])))["polo_tecnologico_cremona"]
    assert (row["area_m2"], row["seats"], row["started_on"]) == (12000.0, 40, date(2017, 6, 10))
    facts = {f["id"]: f for f in json.loads(row["attributes"])["facts"]}
    assert (facts["small_offices"]["value"], facts["small_offices"]["unit"]) == (500, "m2")
    assert (facts["crit_firms"]["value"], facts["crit_employees"]["value"]) == (10, 400)
    assert facts["cofinancing_agreement"]["date"] == "2015-06-24"
    assert facts["aster_contribution"]["value"] == 1_000_000


def test_real_month_dated_fact_does_not_pretend_a_day() -> None:
    row = _rows(hubs.SOURCE.load(hubs.DEFAULT_CONFIG, _real_ctx("milano", [1])))["hub_impresa40_fondazione_polimi"]
    assert row["started_on"] is None
    facts = {f["id"]: f for f in json.loads(row["attributes"])["facts"]}
    assert (facts["first_lombard_hub"]["date"], facts["first_lombard_hub"]["date_precision"]) == ("2017-10-01", "month")
    assert (facts["funding"]["value"], facts["funding"]["unit"]) == (1_200_000, "eur")


def test_real_cremona_hub_outside_the_loaded_comuni_is_a_reject() -> None:
    result = hubs.SOURCE.load(hubs.DEFAULT_CONFIG, _real_ctx("provincia_cremona", [19001, 19002]))
    assert len(result.frame) == 0
    assert [r.reason for r in result.rejects] == [
        "hub 'polo_tecnologico_cremona': Comune 19036 non è tra le aree del territorio Provincia di Cremona "
        "(2 Comuni caricati)"]


def test_real_configuration_has_no_coordinates_and_every_fact_its_source() -> None:
    doc = tomllib.loads(hubs.DEFAULT_CONFIG.read_text(encoding="utf-8"))
    for hub in doc["hubs"]:
        assert not {"lon", "lat", "coordinates"} & set(hub)
        for place in hub["places"]:
            assert place["territory"] in territories.available()
        for fact in hub["facts"]:
            assert fact["source"] and (fact.get("url") or fact.get("document")) and fact["trust"] in hubs.FACT_TRUST


# --- through the pipeline ----------------------------------------------------------------------------------

def test_territory_without_hubs_skips_the_source(tmp_path: Path, h: Helpers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hubs.CONFIG_ENV, raising=False)  # the real configuration: no hub in the fixture valley
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("confini_paesi_valle.geojson", "confini_zone_valle.geojson"):
        (raw / name).write_bytes((VALLE / "valle_fixture_raw" / name).read_bytes())
    out = tmp_path / "w.duckdb"
    report = build(raw, out, progress=h.quiet, territory=VALLE / "valle_fixture.toml")
    assert report.failed == []
    rows = h.fetch(out, "SELECT status, notes FROM sources WHERE source_id = 'hubs'")
    assert len(rows) == 1 and rows[0][0] == "skipped" and "valle_fixture" not in hubs.territories_in(hubs.DEFAULT_CONFIG)
    assert "Valle di prova" in rows[0][1]
    assert h.fetch(out, "SELECT count(*) FROM places WHERE theme = 'hub'") == [(0,)]
    assert h.fetch(out, "SELECT state FROM source_catalogue WHERE source_id = 'hubs'") == [("skipped",)]
    con = duckdb.connect(str(out), read_only=True)
    try:
        assert checks.run_checks(con) == []
    finally:
        con.close()


@pytest.mark.real
def test_real_build_of_cremona_has_its_hub(real_dir: Path, tmp_path: Path, h: Helpers,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hubs.CONFIG_ENV, raising=False)
    if not (real_dir / "openpolis-geojson-italy").is_dir():
        pytest.skip("Openpolis comuni not in the real folder")
    out = tmp_path / "cremona.duckdb"
    build(real_dir, out, progress=h.quiet, territory="provincia_cremona")
    assert h.fetch(out, "SELECT source_key, district_id, parent_id, assignment, lon, lat, area_m2, seats, trust "
                        "FROM places WHERE theme = 'hub'") == [
        ("polo_tecnologico_cremona", 19036, None, "file_id", None, None, 12000.0, 40, "derived")]
    assert h.fetch(out, "SELECT d.name FROM places p JOIN districts d ON d.id = p.district_id AND d.level = 'comune' "
                        "WHERE p.theme = 'hub'") == [("Cremona",)]
    assert h.fetch(out, "SELECT status, rows_loaded FROM sources WHERE source_id = 'hubs'") == [("loaded", 1)]


def test_units_and_categories_have_their_labels_in_both_languages() -> None:
    from osservatorio.i18n import LANGS, TEXTS

    keys = [f"hub_unit_{u}" for u in hubs.UNITS] + [f"hub_category_{c}" for c in hubs.CATEGORIES]
    keys += ["hub_facts_title", "hub_fact_source", "hub_basis"]
    assert [k for k in keys if k not in TEXTS or any(not TEXTS[k].get(lang) for lang in LANGS)] == []
