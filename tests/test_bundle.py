"""The embedded bundle: official files committed in the repo, their manifest, and the command that writes them."""

from __future__ import annotations

import argparse
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from etl import bundle, cli
from etl.base import SourceError, sha256_of
from etl.pipeline import build

# Names of the third-party files of the originals folder that must never be bundled.
THIRD_PARTY = ("places.json", "fablab", "milano-platform", "maranzano", "nil-explorer", "nil.geojson", "openpolis",
               "NILS_DataCluster", "Services.csv", ".geojson")


def _without_date(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k != "generated"}


def _bundle_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


# --- the bundle committed in the repo ------------------------------------------------------------------

def test_bundle_is_in_the_repo_small_and_matches_its_manifest() -> None:
    assert bundle.available(), "data/bundle/MANIFEST.json is missing: run `python -m etl bundle --from ...`"
    assert bundle.folder_bytes(bundle.BUNDLE_DIR) <= 3_000_000
    manifest = bundle.read_manifest(bundle.BUNDLE_DIR)
    assert set(manifest) == {f.path for f in bundle.FILES}  # exactly the table of etl/bundle.py
    for rel, entry in manifest.items():
        path = bundle.BUNDLE_DIR / rel
        assert path.is_file(), rel
        assert sha256_of(path) == entry["sha256"] == entry["sha256_original"], rel
        assert path.stat().st_size == entry["bytes"], rel
    # nothing but the manifest's files and the bundle's own three files
    assert _bundle_files(bundle.BUNDLE_DIR) == set(manifest) | bundle.META_FILES


def test_bundle_holds_only_official_files_under_an_allowed_licence() -> None:
    doc = json.loads((bundle.BUNDLE_DIR / bundle.MANIFEST).read_text(encoding="utf-8"))
    for rel, entry in doc["files"].items():
        assert entry["licence"] in bundle.ALLOWED_LICENCES, rel
        assert entry["publisher"].startswith("Comune di Milano"), rel
        assert entry["attribution"] == "Comune di Milano — dati aperti, CC BY 4.0", rel
        assert entry["origin_repository"] in entry["origin"] and len(entry["origin_commit"]) == 40, rel
        assert entry["licence_note"] is None or "verific" in entry["licence_note"], rel
    for rel in _bundle_files(bundle.BUNDLE_DIR):
        assert not any(name.lower() in rel.lower() for name in THIRD_PARTY), f"third-party file in the bundle: {rel}"
    excluded = {e["path"]: e["reason"] for e in doc["excluded"]}
    for name in ("scandaglio-molo/places.json", "fablab-milano-area/fablab_milano_area.csv", "milano-platform/",
                 "maranzano-milano-mobility/", "nil-explorer/nil.geojson", "openpolis-geojson-italy/",
                 "comune-milano-municipi/Municipi.geojson"):
        assert excluded.get(name), f"{name} has no reason in the manifest's excluded list"


def test_read_manifest_absent_malformed_and_incomplete(tmp_path: Path) -> None:
    assert bundle.read_manifest(tmp_path) == {}
    assert not bundle.available(tmp_path)
    (tmp_path / bundle.MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(SourceError, match="illeggibile"):
        bundle.read_manifest(tmp_path)
    (tmp_path / bundle.MANIFEST).write_text(json.dumps({"schema": 1}), encoding="utf-8")
    with pytest.raises(SourceError, match="'files'"):
        bundle.read_manifest(tmp_path)
    (tmp_path / bundle.MANIFEST).write_text(json.dumps({"files": {"a.csv": {"dataset": "ds1"}}}), encoding="utf-8")
    with pytest.raises(SourceError, match="a.csv.*licence"):
        bundle.read_manifest(tmp_path)


def test_the_repo_bundle_builds_real_milan(tmp_path: Path, h: Any) -> None:
    out = tmp_path / "w.duckdb"
    report = build(bundle.BUNDLE_DIR, out, progress=h.quiet)
    counts = dict(h.fetch(out, "SELECT level, count(*) FROM districts GROUP BY level"))
    assert counts == {"nil": 88, "municipio": 9}
    assert h.fetch(out, "SELECT count(DISTINCT id) FROM districts WHERE level = 'nil' AND parent_id BETWEEN 1 AND 9") == [(88,)]
    manifest = bundle.read_manifest(bundle.BUNDLE_DIR)
    used = {Path(s.path).resolve().relative_to(bundle.BUNDLE_DIR).as_posix() for s in report.summaries}
    assert used <= set(manifest), f"a loader claimed a file that is not official data: {used - set(manifest)}"
    loaded = {Path(s.path).resolve().relative_to(bundle.BUNDLE_DIR).as_posix() for s in report.summaries
              if s.status == "loaded"}
    sidecars = {rel for rel in manifest if rel.endswith((".shx", ".dbf", ".prj"))}  # read with their .shp
    assert loaded == set(manifest) - sidecars, f"bundled but not loaded: {set(manifest) - sidecars - loaded}"
    assert h.fetch(out, "SELECT count(*), sum(residents) FROM population WHERE level = 'nil'") == [(87, 1_396_673)]


# --- writing a bundle (tiny fake originals) -------------------------------------------------------------

CSV_BODY = "COD;NOME\r\n1;Città\r\n".encode("cp1252")


def _fake_files() -> tuple[bundle.BundleFile, ...]:
    common: dict[str, Any] = {"publisher": "Comune di Milano", "licence": "CC BY 4.0", "licence_note": None,
                              "repository": "someone/repo", "commit": "0" * 40, "dataset_url": None,
                              "reference_date": "2022-12-31", "reference_note": None}
    return (
        bundle.BundleFile(path="a/tabella.csv", dataset="ds1", title="Tabella", repository_path="x/tabella.csv",
                          signature=b"COD;NOME", **common),
        bundle.BundleFile(path="b/forme.zip", dataset="ds2", title="Forme", repository_path="forme.zip",
                          signature=b"PK\x03\x04", zip_member="forme.shp", **common),
    )


def _write_originals(folder: Path, notes: str | None = None) -> Path:
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "tabella.csv").write_bytes(CSV_BODY)
    (folder / "b").mkdir()
    with zipfile.ZipFile(folder / "b" / "forme.zip", "w") as zf:
        zf.writestr("forme.shp", b"\x00\x00\x27\x0a" + b"\x00" * 96)
    (folder / "terzi").mkdir()
    (folder / "terzi" / "places.json").write_text("{}", encoding="utf-8")
    if notes is not None:
        (folder / bundle.SOURCES_NOTES).write_text(notes, encoding="utf-8")
    return folder


def _notes(csv_sha: str, zip_sha: str) -> str:
    return (f"# Sources\n\n## 1. `data/real/a/tabella.csv`: a table\n| sha256 | `{csv_sha}` |\n\n"
            f"### 2 `b/forme.zip`: shapes\ncommit `abc`; sha256 `{zip_sha[:8]}…{zip_sha[-8:]}`; 3 rows\n\n"
            "## 3. `x.{shp,dbf}`: several files\nsha256 `" + "f" * 64 + "`\n")


def test_write_bundle_copies_byte_for_byte_and_reproduces_the_manifest(tmp_path: Path) -> None:
    src = _write_originals(tmp_path / "orig")
    csv_sha = hashlib.sha256(CSV_BODY).hexdigest()
    zip_sha = sha256_of(src / "b" / "forme.zip")
    (src / bundle.SOURCES_NOTES).write_text(_notes(csv_sha, zip_sha), encoding="utf-8")
    files, excluded = _fake_files(), (("terzi/", "senza licenza"),)
    first = bundle.write_bundle(src, tmp_path / "b1", files=files, excluded=excluded, today="2026-01-01")
    again = bundle.write_bundle(src, tmp_path / "b2", files=files, excluded=excluded, today="2026-02-02")
    assert _without_date(first) == _without_date(again) and first["generated"] != again["generated"]
    assert json.loads((tmp_path / "b1" / bundle.MANIFEST).read_text(encoding="utf-8")) == first
    assert _bundle_files(tmp_path / "b1") == {"a/tabella.csv", "b/forme.zip"} | bundle.META_FILES  # no places.json
    assert (tmp_path / "b1" / "a" / "tabella.csv").read_bytes() == CSV_BODY
    entries = bundle.read_manifest(tmp_path / "b1")
    assert entries["a/tabella.csv"]["sha256"] == csv_sha and entries["a/tabella.csv"]["sha256_listed"] == csv_sha
    assert entries["b/forme.zip"]["sha256_listed"] == f"{zip_sha[:8]}…{zip_sha[-8:]}"
    assert entries["b/forme.zip"]["bytes"] == (src / "b" / "forme.zip").stat().st_size
    assert first["excluded"] == [{"path": "terzi/", "reason": "senza licenza"}]
    # regenerating over an existing bundle replaces it (a stale file disappears)
    (tmp_path / "b1" / "a" / "vecchio.csv").write_text("x", encoding="utf-8")
    bundle.write_bundle(src, tmp_path / "b1", files=files, excluded=excluded, today="2026-01-01")
    assert not (tmp_path / "b1" / "a" / "vecchio.csv").exists()
    assert bundle.listed_sha256(_notes(csv_sha, zip_sha)) == {"a/tabella.csv": csv_sha,
                                                               "b/forme.zip": f"{zip_sha[:8]}…{zip_sha[-8:]}"}


@pytest.mark.parametrize("breakage, message", [
    ("sha", "diverso da quello in SOURCES.md"),
    ("short_sha", "diverso da quello in SOURCES.md"),
    ("missing", "file originale mancante"),
    ("content", "contenuto non è quello atteso"),
    ("member", "non contiene forme.shp"),
    ("size", "oltre il limite"),
    ("not_a_bundle", "non è un bundle"),
])
def test_write_bundle_refuses_and_writes_nothing(tmp_path: Path, breakage: str, message: str) -> None:
    src = _write_originals(tmp_path / "orig")
    csv_sha, zip_sha = hashlib.sha256(CSV_BODY).hexdigest(), sha256_of(src / "b" / "forme.zip")
    out, max_bytes = tmp_path / "out", bundle.MAX_BYTES
    if breakage == "sha":
        csv_sha = "0" * 64
    elif breakage == "short_sha":
        zip_sha = "1" * 64
    elif breakage == "missing":
        (src / "a" / "tabella.csv").unlink()
    elif breakage == "content":
        (src / "a" / "tabella.csv").write_bytes(b"ID;NAME\r\n")
        csv_sha = hashlib.sha256(b"ID;NAME\r\n").hexdigest()
    elif breakage == "member":
        with zipfile.ZipFile(src / "b" / "forme.zip", "w") as zf:
            zf.writestr("altro.txt", "x")
        zip_sha = sha256_of(src / "b" / "forme.zip")
    elif breakage == "size":
        max_bytes = 100
    elif breakage == "not_a_bundle":
        out.mkdir()
        (out / "mio.txt").write_text("da non cancellare", encoding="utf-8")
    (src / bundle.SOURCES_NOTES).write_text(_notes(csv_sha, zip_sha), encoding="utf-8")
    with pytest.raises(SourceError, match=message):
        bundle.write_bundle(src, out, files=_fake_files(), excluded=(), max_bytes=max_bytes)
    if breakage == "not_a_bundle":
        assert _bundle_files(out) == {"mio.txt"}
    else:
        assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folder left


def test_run_reports_an_error_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    bundle.add_arguments(parser)
    status = bundle.run(parser.parse_args(["--from", str(tmp_path / "assente"), "--out", str(tmp_path / "out")]))
    assert status == 2
    assert "la cartella degli originali non esiste" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- the real originals ---------------------------------------------------------------------------------

@pytest.mark.real
def test_run_on_the_real_originals_reproduces_the_committed_bundle(real_dir: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    bundle.add_arguments(parser)
    out = tmp_path / "bundle"
    cli.configure_logging()  # as `python -m etl bundle` does
    assert bundle.run(parser.parse_args(["--from", str(real_dir), "--out", str(out)])) == 0
    progress = capsys.readouterr().err  # progress lines are log records on stderr
    assert f"Bundle scritto: {out}" in progress
    assert "non copiato" not in progress  # every file of the folder is bundled or excluded with a reason
    made = json.loads((out / bundle.MANIFEST).read_text(encoding="utf-8"))
    committed = json.loads((bundle.BUNDLE_DIR / bundle.MANIFEST).read_text(encoding="utf-8"))
    assert _without_date(made) == _without_date(committed)
    assert (out / bundle.README).read_text(encoding="utf-8") == (bundle.BUNDLE_DIR / bundle.README).read_text(encoding="utf-8")
    for rel in made["files"]:
        assert (out / rel).read_bytes() == (bundle.BUNDLE_DIR / rel).read_bytes() == (real_dir / rel).read_bytes()
    # the five files whose sha256 SOURCES.md lists were checked against it
    checked = {rel for rel, e in made["files"].items() if e["sha256_listed"]}
    assert checked == {
        "comune-milano-popolazione-nil-2022/NIL_sesso_2022.xlsx",
        "comune-milano-ds503/ds503_aree_edifici_degradati_abbandonati_0_final.csv",
        "comune-milano-immobili-degradati/OpenData_ImmDegrado.zip",
        "comune-milano-ds147/ds147_elenco-beni-immobili-confiscati-03_2026.csv",
        "comune-milano-ds171/ds171_economia_numero_imprese_unita_locali_addetti_settore_attivita_2007-2010.csv",
    }
    assert made["files"]["comune-milano-ds147/ds147_elenco-beni-immobili-confiscati-03_2026.csv"]["sha256_listed"] \
        == "fe3f4598…d0471638"
