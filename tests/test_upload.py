"""Carica dati (osservatorio/upload.py): checks on fixture files, recognition, dry run, publish."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import pytest

from etl.base import SourceError
from etl.pipeline import BuildLocked, build, build_lock
from osservatorio import upload

# A ds744-like list (found by its header): one point in NIL 1, one in NIL 7, one outside the city.
DS744 = (b"NOMINATIVO;INDIRIZZO;LONG_X_4326;LAT_Y_4326;ID_NIL;MQ_COMPLESSIVI;MACCHINE\n"
         b"Lab Uno;Via Roma 1;9.12;45.43;;100;stampante\n"
         b"Lab Due;Via Po 2;9.20;45.48;;80;laser\n"
         b"Fuori;Via X;12.5;41.9;;50;cnc\n")
# A list no source knows: the editor maps its columns.
OWN = ("Denominazione;Via;Lon;Lat\n"
       "Spazio Città;Via Uno 1;9.13;45.44\n"
       "Spazio B;Via Due 2;9.24;45.49\n").encode("cp1252")


@pytest.fixture
def raw(tmp_path: Path, h) -> Path:  # noqa: ANN001 - the conftest helpers
    return h.write_raw_dir(tmp_path / "base")


@pytest.fixture
def live(tmp_path: Path, raw: Path, h) -> Path:  # noqa: ANN001
    out = tmp_path / "live" / "warehouse.duckdb"
    build(raw, out, progress=h.quiet)
    return out


def test_good_csv_is_checked_and_recognised_by_content() -> None:
    checked = upload.check_upload("../../elenco laboratori.csv", DS744)
    assert checked.name == "elenco_laboratori.csv"  # no folders, no spaces
    assert checked.kind == "csv" and checked.rows == 3 and checked.columns[0] == "NOMINATIVO"
    assert upload.recognise(checked) == ["makerspaces"]  # by header: the name says nothing


def test_unknown_layout_is_claimed_by_no_source() -> None:
    checked = upload.check_upload("spazi.csv", OWN)
    assert checked.encoding == "cp1252"
    assert upload.recognise(checked) == []


def test_bad_encoding_is_refused() -> None:
    with pytest.raises(SourceError, match="codifica"):
        upload.check_upload("x.csv", b"a;b\n\x81\x8d;\x90\n")


def test_wrong_separator_names_the_row() -> None:
    with pytest.raises(SourceError) as err:
        upload.check_upload("x.csv", b"a;b;c\n1,2,3\n4,5,6\n7,8,9\n")
    assert "separat" in err.value.problem and err.value.row == 1


def test_one_column_is_refused() -> None:
    with pytest.raises(SourceError, match="una sola colonna"):
        upload.check_upload("x.csv", b"nome indirizzo\nuno due\n")


def test_corrupt_xlsx_is_refused() -> None:
    with pytest.raises(SourceError, match="Excel"):
        upload.check_upload("x.xlsx", b"PK\x03\x04 not really a workbook")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "a zip, not a workbook")
    with pytest.raises(SourceError, match="Excel"):
        upload.check_upload("x.xlsx", buf.getvalue())


def test_good_xlsx_reads_its_columns() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Denominazione", "Lon", "Lat"])
    sheet.append(["Spazio", 9.13, 45.44])
    buf = io.BytesIO()
    book.save(buf)
    checked = upload.check_upload("elenco.xlsx", buf.getvalue())
    assert checked.columns == ("Denominazione", "Lon", "Lat") and checked.rows == 1


def test_too_big_type_and_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upload, "MAX_BYTES", 100)
    with pytest.raises(SourceError, match="troppo grande"):
        upload.check_upload("x.csv", b"a;b\n" + b"1;2\n" * 40)
    with pytest.raises(SourceError, match="tipo di file"):
        upload.check_upload("x.exe", b"MZ")
    with pytest.raises(SourceError, match="vuoto"):
        upload.check_upload("x.csv", b"")


def test_zip_without_shapefile_and_bad_geojson() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("nil.shp", b"x")
    with pytest.raises(SourceError, match="mancano"):
        upload.check_upload("nil.zip", buf.getvalue())
    with pytest.raises(SourceError, match="JSON non valido") as err:
        upload.check_upload("x.geojson", b'{"type": "FeatureCollection",\n "features": [}')
    assert err.value.row == 2


def test_dry_run_counts_points_districts_and_changes(raw: Path, live: Path, tmp_path: Path) -> None:
    before = sorted(p.name for p in (tmp_path / "live").iterdir())
    result = upload.dry_run(upload.check_upload("laboratori.csv", DS744), raw, live)
    assert result.status == "loaded" and result.source_ids == ["makerspaces"]
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 2, 1)
    assert result.rejects["row_number"].tolist() == [3]
    assert sorted(result.points["district_id"].tolist()) == [1, 7]
    assert sorted(result.districts["places"].tolist()) == [1, 1]
    assert list(result.districts.columns) == ["district_id", "area_name", "parent_id", "places"]
    assert result.districts["area_name"].notna().all()  # names of the territory's finest areas
    levels = list(dict.fromkeys(result.changes["level"]))
    assert levels[0] == "territory" and levels[-1] == "nil"  # the whole territory first, the finest level last
    city = result.changes[(result.changes["indicator_id"] == "makerspaces_count") & (result.changes["level"] == "territory")]
    assert city["after"].tolist() == [2.0]  # the live build has no makerspace list: before is missing, not zero
    assert city["before"].isna().all()
    assert sorted(p.name for p in (tmp_path / "live").iterdir()) == before  # the live folder is untouched
    assert not (raw / upload.UPLOAD_DIR).exists()


def test_dry_run_with_a_column_mapping(raw: Path, live: Path) -> None:
    checked = upload.check_upload("spazi.csv", OWN)
    with pytest.raises(SourceError, match="name"):
        upload.census_entry(checked, "makerspace", {"lon": "Lon", "lat": "Lat"})
    entry = upload.census_entry(checked, "makerspace", {"name": "Denominazione", "address": "Via", "lon": "Lon", "lat": "Lat"})
    assert 'name = "Denominazione"' in upload.entry_toml(entry)
    result = upload.dry_run(checked, raw, live, entry)
    assert result.status == "loaded" and result.source_ids == ["census"]
    assert any("census.toml" in n for n in result.notes) and not any("carica-prova" in n for n in result.notes)
    assert sorted(result.points["district_id"].tolist()) == [1, 8]


def test_a_file_of_a_level_the_territory_lacks_is_said_before_any_build() -> None:
    """Validation against the territory's levels: ds201-like counts per NIL do not fit a territory of comuni;
    a file of another territory (ds171 describes only Milan) neither; Milan takes both."""
    from etl.sources import REGISTRY

    by_id = {s.source_id: s for s in REGISTRY}
    per_nil = next(i for i, s in by_id.items() if getattr(s, "level", None) == "nil" and s.table != "districts")
    milan_only = next(i for i, s in by_id.items() if getattr(s, "territories", None) and not getattr(s, "level", None))
    unfit = upload.territory_fit([per_nil, milan_only, "makerspaces"], "provincia_prova", ("comune",))
    assert [(u.source_id, u.kind) for u in unfit] == sorted([(per_nil, "level"), (milan_only, "territory")],
                                                            key=lambda x: [s.source_id for s in REGISTRY].index(x[0]))
    assert {u.value for u in unfit} == {"nil", "milano"}
    assert upload.territory_fit([per_nil, milan_only], "milano", ("nil", "municipio")) == []


def test_publish_rechecks_the_role_and_writes_nothing_when_withdrawn(raw: Path, live: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    keep = tmp_path / "raw"
    monkeypatch.setenv(upload.RAW_ENV, str(keep))
    stamp = live.stat().st_mtime_ns
    job = upload.PublishJob(upload.check_upload("laboratori.csv", DS744), "ex-admin@comune.milano.it", live, raw,
                            allowed=lambda: False)
    assert job.wait(60) and job.target is None
    assert job.error is not None and "non consente" in job.error
    assert not keep.exists() and live.stat().st_mtime_ns == stamp  # nothing kept, the live build untouched


def test_publish_keeps_the_upload_and_serves_a_new_build(raw: Path, live: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    keep = tmp_path / "raw"
    monkeypatch.setenv(upload.RAW_ENV, str(keep))
    old = duckdb.connect(str(live), read_only=True)
    old_id = old.sql("SELECT build_id FROM build").fetchall()[0][0]
    old.close()
    checked = upload.check_upload("laboratori.csv", DS744)
    job = upload.PublishJob(checked, "ada@comune.milano.it", live, raw)
    assert job.wait(120) and job.error is None and job.fraction == 1.0
    assert job.target is not None and job.target.is_relative_to(keep / upload.UPLOAD_DIR)
    assert job.target.read_bytes() == DS744
    meta = json.loads(job.target.with_name(job.target.name + upload.META_SUFFIX).read_text(encoding="utf-8"))
    assert meta["sha256"] == checked.sha256 and meta["uploaded_by"] == "ada@comune.milano.it" and meta["uploaded_at"]
    assert upload.uploads(keep)[0]["file"] == "laboratori.csv"
    assert (keep / "nil" / "ds964_nil_wm.zip").is_file()  # the empty raw folder was seeded from the base
    con = duckdb.connect(str(live), read_only=True)
    try:
        new_id, raw_dir = con.sql("SELECT build_id, raw_dir FROM build").fetchall()[0]
        loaded = con.sql("SELECT count(*) FROM places WHERE path = ?", params=[str(job.target)]).fetchall()[0][0]
        unrecognised = con.sql("SELECT count(*) FROM sources WHERE source_id = 'unrecognised'").fetchall()[0][0]
    finally:
        con.close()
    assert new_id != old_id and raw_dir == str(keep) and loaded == 2
    assert unrecognised == 0  # the sidecar is not taken for a data file
    with pytest.raises(SourceError, match="già stato pubblicato"):
        upload.publish(checked, "bea@comune.milano.it", live, raw)
    assert len(upload.uploads(keep)) == 1


def test_publish_while_another_build_runs_keeps_nothing(raw: Path, live: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    keep = tmp_path / "raw"
    monkeypatch.setenv(upload.RAW_ENV, str(keep))
    with build_lock(live), pytest.raises(BuildLocked, match="un'altra build"):
        upload.publish(upload.check_upload("laboratori.csv", DS744), "ada", live, raw)
    assert not keep.exists()


def test_publish_with_a_column_mapping_saves_it_as_configuration(raw: Path, live: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    keep = tmp_path / "raw"
    monkeypatch.setenv(upload.RAW_ENV, str(keep))
    checked = upload.check_upload("spazi.csv", OWN)
    entry = upload.census_entry(checked, "vacant", {"name": "Denominazione", "lon": "Lon", "lat": "Lat"})
    target = upload.publish(checked, "ada@comune.milano.it", live, raw, entry)
    config = (keep / upload.UPLOAD_DIR / upload.CENSUS_FILE).read_text(encoding="utf-8")
    assert 'pattern = ["spazi.csv"]' in config and 'theme = "vacant"' in config
    assert upload.uploads(keep)[0]["census_entry"]["columns"] == {"name": "Denominazione", "lon": "Lon", "lat": "Lat"}
    con = duckdb.connect(str(live), read_only=True)
    try:
        rows = con.sql("SELECT theme, district_id FROM places WHERE path = ? ORDER BY district_id",
                       params=[str(target)]).fetchall()
    finally:
        con.close()
    assert rows == [("vacant", 1), ("vacant", 8)]


@pytest.mark.real
def test_real_fablab_list_dry_run_on_the_bundle(real_dir: Path) -> None:
    """The third-party FabLab list of the Milan area on the embedded bundle: half of it is outside the city."""
    from etl import bundle

    path = real_dir / "fablab-milano-area" / "fablab_milano_area.csv"
    checked = upload.check_upload(path.name, path.read_bytes())
    assert upload.recognise(checked) == ["makerspaces"]
    result = upload.dry_run(checked, bundle.BUNDLE_DIR)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (30, 15, 15)
    assert result.rejects["reason"].str.startswith("punto fuori dal territorio Comune di Milano").all()
    assert len(result.districts) == 12 and int(result.districts["places"].sum()) == 15


def test_a_failed_publish_keeps_no_upload(tmp_path: Path, live: Path, h, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    broken = h.write_raw_dir(tmp_path / "broken")
    for zipped in (broken / "nil").iterdir():
        zipped.write_bytes(b"PK\x03\x04 damaged")  # without NIL boundaries nothing can be built
    keep = tmp_path / "raw"
    monkeypatch.setenv(upload.RAW_ENV, str(keep))
    checked = upload.check_upload("spazi.csv", OWN)
    entry = upload.census_entry(checked, "vacant", {"name": "Denominazione", "lon": "Lon", "lat": "Lat"})
    with pytest.raises(SourceError):
        upload.publish(checked, "ada", live, broken, entry)
    assert upload.uploads(keep) == [] and not (keep / upload.UPLOAD_DIR / upload.CENSUS_FILE).exists()
    assert not list((keep / upload.UPLOAD_DIR).rglob("spazi.csv"))
