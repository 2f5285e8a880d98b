"""`python -m etl fetch` against a scripted HTTP server on 127.0.0.1 (no external network)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from etl import fetch
from etl.cli import main

try:
    from tests.httpfixture import FixtureServer, Reply, closed_port
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from httpfixture import FixtureServer, Reply, closed_port

GOOD = b"id_nil,nome\n1,DUOMO\n2,BRERA\n" * 50
GOOD_V2 = GOOD + b"3,GIARDINI PORTA VENEZIA\n"
OLD_MTIME_NS = 1_600_000_000_000_000_000  # 2020-09-13: proves a file was not rewritten
PKG = "/api/3/action/package_show?id="


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    with FixtureServer() as srv:
        yield srv


def ckan(*resources: dict[str, Any], success: bool = True) -> Reply:
    """A CKAN package_show reply."""
    body = {"success": success, "result": {"license_title": "Creative Commons Attribution 4.0",
                                           "resources": list(resources)}}
    return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def entry(base: str, key: str, **over: str) -> dict[str, str]:
    """A catalogue entry whose direct URL is on the test server."""
    e = {"key": key, "title": f"Dataset {key}", "package": f"pkg-{key}", "resource_id": f"res-{key}",
         "format": "CSV", "url": f"{base}/direct/{key}.csv", "filename": f"{key}.csv", "licence": "CC BY 4.0"}
    e.update(over)
    return e


def write_catalogue(path: Path, base: str, entries: list[dict[str, str]]) -> Path:
    lines = ["schema = 1", f'portal = "{base}"', ""]
    for e in entries:
        lines.append("[[dataset]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in e.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Runner:
    """Runs `python -m etl fetch` in-process with fast, bounded settings."""

    def __init__(self, tmp_path: Path, server: FixtureServer, capsys: pytest.CaptureFixture[str]):
        self.raw = tmp_path / "raw"
        self.catalogue = tmp_path / "datasets.toml"
        self.server = server
        self.capsys = capsys
        self.out = self.err = self.stdout = ""

    def catalogue_of(self, *entries: dict[str, str]) -> None:
        write_catalogue(self.catalogue, self.server.base_url, list(entries))

    def __call__(self, *extra: str, portal: str | None = None, timeout: float = 2.0, retries: int = 3) -> int:
        argv = ["fetch", "--portal", portal or self.server.base_url, "--catalogue", str(self.catalogue),
                "--raw-dir", str(self.raw), "--timeout", str(timeout), "--retries", str(retries),
                "--retry-delay", "0.01", "--probe-timeout", "2", *extra]
        code = main(argv)
        captured = self.capsys.readouterr()
        # `out`: what the terminal shows (the summary on stdout, the progress log lines on stderr).
        self.stdout, self.err = captured.out, captured.err
        self.out = captured.out + captured.err
        return code

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.raw / fetch.MANIFEST_NAME).read_text(encoding="utf-8"))

    def leftovers(self) -> list[Path]:
        return [p for p in self.raw.iterdir() if p.name.startswith(".") or p.suffix in (".part", ".tmp")]


@pytest.fixture
def run(tmp_path: Path, server: FixtureServer, capsys: pytest.CaptureFixture[str]) -> Runner:
    return Runner(tmp_path, server, capsys)


# --------------------------------------------------------------------------- catalogue


def test_catalogue_lists_every_needed_dataset() -> None:
    cat = fetch.load_catalogue(fetch.DEFAULT_CATALOGUE)
    assert cat.portal == fetch.DEFAULT_PORTAL
    by_key = {d.key: d for d in cat.datasets}
    assert {d.code for d in cat.datasets} >= {"ds964", "ds379", "ds205", "ds744", "ds201", "ds147"}
    assert {d.format for d in cat.datasets if d.code == "ds964"} == {"GeoJSON", "CSV"}
    assert "coworking" in by_key
    names = {d.filename for d in cat.datasets}
    assert {"ds964_nil_wm.geojson", "ds964_nil_wm_4326.csv", "ds379_municipi_label.geojson",
            "ds205_dati_quartieri_2011_2021.csv", "ds744_fablab_milano.csv", "coworking.csv"} <= names
    assert any(n.startswith("ds201_") and n.endswith(".csv") for n in names)
    assert any(n.startswith("ds147_") and n.endswith(".csv") for n in names)
    for d in cat.datasets:
        assert d.url.startswith("https://dati.comune.milano.it/dataset/"), d.key
        assert f"/dataset/{d.package_id}/resource/{d.resource_id}/download/" in d.url, d.key
        assert d.licence and d.title and d.format, d.key


# Header lines as published (per SOURCES.md), enough for each loader's `find` to recognise the file.
CATALOGUE_HEADERS = {
    "ds964_nil_wm.geojson": '{"type": "FeatureCollection", "features": []}',
    "ds964_nil_wm_4326.csv": "ID_NIL;NIL;Valido_dal;Valido_al;Fonte;Shape_Length;Shape_Area;OBJECTID;WKT_32632\n",
    "ds379_municipi_label.geojson": '{"type": "FeatureCollection", "features": []}',
    "ds205_dati_quartieri_2011_2021.csv": "anno;quartiere;nil;uomini;donne;totale;minori;stranieri\n",
    "ds744_fablab_milano.csv": "NOMINATIVO;INDIRIZZO;MUNICIPIO;ID_NIL;NIL;LONG_X_4326;LAT_Y_4326;Location\n",
    "coworking.csv": "SPAZIO;TIPOLOGIA;SEDE;ID;CAP;MUNICIPIO;ID_NIL;NIL;LONG_X_4326;LAT_Y_4326;Location\n",
    "ds201_economia_numero_unita_locali_settore_attivita_quartiere_2010.csv":
        "ANNO;IdNIL;NIL;ATECO_2007_UL;DESC_ATECO_2007_UL;NUMERO_UL;MEDIA_ADDETTI_UL\n",
    "ds147_elenco_beni_immobili_confiscati.csv": "UNITA_IMMOBILIARE;TIPOLOGIA;CONSISTENZA;INDIRIZZO;MUNICIPIO\n",
}
EXPECTED_OWNER = {
    "nil_boundaries": ["ds964_nil_wm.geojson", "ds964_nil_wm_4326.csv"],
    "municipi_boundaries": ["ds379_municipi_label.geojson"],
    "population_nil": ["ds205_dati_quartieri_2011_2021.csv"],
    "makerspaces": ["ds744_fablab_milano.csv"],
    "coworking": ["coworking.csv"],
    "firms_ateco": ["ds201_economia_numero_unita_locali_settore_attivita_quartiere_2010.csv"],
    "confiscated": ["ds147_elenco_beni_immobili_confiscati.csv"],
}


def test_fetched_file_names_are_found_by_the_right_loader(tmp_path: Path) -> None:
    """Contract with etl/sources: each saved file is picked up by its loader, and by no other."""
    from etl.sources import REGISTRY

    names = [d.filename for d in fetch.load_catalogue(fetch.DEFAULT_CATALOGUE).datasets]
    assert sorted(names) == sorted(CATALOGUE_HEADERS)
    for name in names:
        (tmp_path / name).write_text(CATALOGUE_HEADERS[name] + ("1;2\n" if name.endswith(".csv") else ""),
                                     encoding="utf-8")
    (tmp_path / fetch.MANIFEST_NAME).write_text("{}", encoding="utf-8")
    # Only files of the raw folder (a source may also read a file of the project, e.g. config/hubs.toml).
    found = {s.source_id: [p.name for p in s.find(tmp_path) if tmp_path in Path(p).parents] for s in REGISTRY}
    for source_id, files in EXPECTED_OWNER.items():
        assert found[source_id] == files, source_id
    claimed = [n for files in found.values() for n in files]
    assert sorted(claimed) == sorted(names)  # nobody else claims them, manifest.json is ignored


@pytest.mark.parametrize("bad", [
    {"filename": "../fuori.csv"}, {"filename": ".nascosto.csv"}, {"filename": "manifest.json"},
    {"url": "file:///etc/passwd"}, {"url": "ftp://example.org/x.csv"},
])
def test_catalogue_rejects_unsafe_entries(tmp_path: Path, bad: dict[str, str]) -> None:
    path = write_catalogue(tmp_path / "c.toml", "http://127.0.0.1:1", [entry("http://127.0.0.1:1", "a", **bad)])
    with pytest.raises(fetch.CatalogueError):
        fetch.load_catalogue(path)


def test_list_prints_the_catalogue_without_network(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fetch", "--list", "--portal", f"http://127.0.0.1:{closed_port()}"])
    out = capsys.readouterr().out
    assert code == 0
    for d in fetch.load_catalogue(fetch.DEFAULT_CATALOGUE).datasets:
        assert d.key in out and d.filename in out


def test_pick_resource_by_id_then_file_name_then_unique_format() -> None:
    ds = fetch.Dataset(key="k", title="t", url="https://p/dataset/x/resource/r1/download/f.csv",
                       filename="f.csv", licence="l", format="CSV", resource_id="r1")
    res = [{"id": "r0", "url": "https://p/a.geojson", "format": "GeoJSON"},
           {"id": "r1", "url": "/download/new.csv", "format": "CSV"},
           {"id": "r2", "url": "https://p/x/f.csv", "format": "CSV"}]
    assert fetch.pick_resource(res, ds, "https://p") == ("https://p/download/new.csv", "per id della risorsa")
    assert fetch.pick_resource(res[::2], ds, "https://p") == ("https://p/x/f.csv", "per nome del file")
    assert fetch.pick_resource([res[0], {"id": "r9", "url": "https://p/z.csv", "format": "csv"}], ds, "https://p") \
        == ("https://p/z.csv", "per formato, unico nel pacchetto")
    two_csv = [{"id": "a", "url": "https://p/1.csv", "format": "CSV"}, {"id": "b", "url": "https://p/2.csv", "format": "CSV"}]
    assert fetch.pick_resource(two_csv, ds, "https://p") is None
    assert fetch.pick_resource([{"id": "r1", "url": "file:///etc/passwd", "format": "CSV"}], ds, "https://p") is None


# --------------------------------------------------------------------------- downloads


def test_good_file_saved_with_sha256_in_manifest(run: Runner, server: FixtureServer) -> None:
    base = server.base_url
    run.catalogue_of(entry(base, "a"))
    server.set(PKG + "pkg-a", ckan({"id": "other", "url": f"{base}/files/other.csv", "format": "CSV"},
                                   {"id": "res-a", "url": f"{base}/files/a-2024.csv", "format": "CSV"}))
    server.set("/files/a-2024.csv", Reply(200, GOOD, {"ETag": '"v1"', "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}))

    assert run() == 0
    saved = run.raw / "a.csv"
    assert saved.read_bytes() == GOOD
    m = run.manifest()["files"]["a.csv"]
    assert m["sha256"] == hashlib.sha256(GOOD).hexdigest()
    assert m["bytes"] == len(GOOD)
    assert m["key"] == "a" and m["url"] == f"{base}/files/a-2024.csv"
    assert m["resolved_from"] == "package_show"
    assert m["http_status"] == 200 and m["etag"] == '"v1"' and m["last_modified"].startswith("Mon, 01 Jan 2024")
    assert m["licence_portal"] == "Creative Commons Attribution 4.0"
    fetched = datetime.fromisoformat(m["fetched_at"])
    assert fetched.utcoffset() == UTC.utcoffset(None) and abs((datetime.now(UTC) - fetched).total_seconds()) < 60
    assert server.hits["/direct/a.csv"] == 0  # the catalogue URL was not needed
    assert run.leftovers() == []
    assert "[a]" in run.out and f"{len(GOOD)} byte" in run.out and "nuovo" in run.out
    assert "python -m etl build --raw-dir" in run.out
    assert "Riepilogo fetch" in run.stdout and "scarico " in run.err and "scarico " not in run.stdout  # progress: stderr


def test_same_content_is_unchanged_and_new_content_replaces(run: Runner, server: FixtureServer) -> None:
    run.catalogue_of(entry(server.base_url, "a"))
    server.set("/direct/a.csv", Reply(200, GOOD))
    assert run() == 0
    saved = run.raw / "a.csv"
    os.utime(saved, ns=(OLD_MTIME_NS, OLD_MTIME_NS))

    assert run() == 0
    assert "invariato" in run.out
    assert saved.stat().st_mtime_ns == OLD_MTIME_NS
    assert run.manifest()["files"]["a.csv"]["esito"] == "invariato"

    server.set("/direct/a.csv", Reply(200, GOOD_V2))
    assert run() == 0
    assert "aggiornato" in run.out
    assert saved.read_bytes() == GOOD_V2
    assert run.manifest()["files"]["a.csv"]["sha256"] == hashlib.sha256(GOOD_V2).hexdigest()
    assert run.leftovers() == []


FAILURES = {
    "404": (Reply(404, b"gone"), 1),
    "500 sempre": (Reply(500, b"boom"), 2),
    "troncato": (Reply(200, GOOD[:100], declared_length=len(GOOD)), 2),
    "timeout": (Reply(200, GOOD, delay=5.0), 2),
    "stallo a metà": (Reply(200, GOOD, stall=5.0), 2),
    "vuoto": (Reply(200, b""), 1),
    "pagina html": (Reply(200, b"<!DOCTYPE html><html>login</html>", {"Content-Type": "text/html"}), 1),
    "redirect a file:": (Reply(302, b"", {"Location": "file:///etc/passwd"}), 1),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_failed_redownload_leaves_good_file_untouched(run: Runner, server: FixtureServer, name: str) -> None:
    reply, expected_hits = FAILURES[name]
    run.catalogue_of(entry(server.base_url, "a"))
    server.set("/direct/a.csv", Reply(200, GOOD))
    assert run() == 0
    saved = run.raw / "a.csv"
    os.utime(saved, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    before = run.manifest()["files"]

    server.set("/direct/a.csv", reply)
    server.hits.clear()
    started = time.monotonic()
    code = run(timeout=0.5, retries=2)
    elapsed = time.monotonic() - started

    assert code == 2
    assert saved.read_bytes() == GOOD
    assert saved.stat().st_mtime_ns == OLD_MTIME_NS
    assert run.manifest()["files"] == before
    assert run.manifest()["last_run"]["results"][0]["esito"] == "fallito"
    assert run.leftovers() == []
    assert sorted(p.name for p in run.raw.iterdir()) == ["a.csv", "manifest.json"]
    assert server.hits["/direct/a.csv"] == expected_hits  # retried only when it may help, and bounded
    assert "FALLITO" in run.out and "non è stato modificato" in run.out
    assert elapsed < 4


def test_failed_first_download_leaves_nothing(run: Runner, server: FixtureServer) -> None:
    run.catalogue_of(entry(server.base_url, "a"))
    server.set("/direct/a.csv", Reply(200, GOOD[:10], declared_length=len(GOOD)))
    assert run(retries=2) == 2
    assert not (run.raw / "a.csv").exists()
    assert run.leftovers() == []
    assert "file troncato" in run.out


def test_retry_succeeds_after_500(run: Runner, server: FixtureServer) -> None:
    run.catalogue_of(entry(server.base_url, "a"))
    server.set("/direct/a.csv", Reply(500, b"boom"), Reply(200, GOOD))
    assert run() == 0
    assert server.hits["/direct/a.csv"] == 2
    assert (run.raw / "a.csv").read_bytes() == GOOD
    assert run.manifest()["files"]["a.csv"]["attempts"] == 2
    assert run.manifest()["last_run"]["results"][0]["tentativi"] == 2
    assert "tentativo 1/3 fallito (HTTP 500" in run.out
    assert "(2 tentativi)" in run.out


def test_retries_are_bounded(run: Runner, server: FixtureServer) -> None:
    run.catalogue_of(entry(server.base_url, "a"))
    server.set("/direct/a.csv", Reply(503, b"busy"))
    assert run(retries=3) == 2
    assert server.hits["/direct/a.csv"] == 3
    assert "FALLITO dopo 3 tentativi: HTTP 503" in run.out


PACKAGE_SHOW_FAILURES = {
    "404": Reply(404, b"not found"),
    "500": Reply(500, b"error"),
    "json non valido": Reply(200, b"<html>oops</html>", {"Content-Type": "application/json"}),
    "success false": ckan(success=False),
    "risorsa con url file:": ckan({"id": "res-a", "url": "file:///etc/passwd", "format": "CSV"}),
    "risorsa assente": ckan({"id": "x1", "url": "http://127.0.0.1:1/1.csv", "format": "CSV"},
                            {"id": "x2", "url": "http://127.0.0.1:1/2.csv", "format": "CSV"}),
}


@pytest.mark.parametrize("name", list(PACKAGE_SHOW_FAILURES))
def test_package_show_failure_falls_back_to_catalogue_url(run: Runner, server: FixtureServer, name: str) -> None:
    run.catalogue_of(entry(server.base_url, "a", package_id="uuid-a"))
    server.set(PKG + "pkg-a", PACKAGE_SHOW_FAILURES[name])
    server.set("/direct/a.csv", Reply(200, GOOD))
    assert run() == 0
    assert (run.raw / "a.csv").read_bytes() == GOOD
    m = run.manifest()["files"]["a.csv"]
    assert m["resolved_from"] == "catalogue" and m["url"] == f"{server.base_url}/direct/a.csv"
    assert "uso l'URL del catalogo" in run.out
    assert server.hits[PKG + "pkg-a"] == 1
    if name in ("404", "500", "json non valido", "success false"):
        assert server.hits[PKG + "uuid-a"] == 1  # the package UUID is tried after the slug


def test_package_show_called_once_per_package(run: Runner, server: FixtureServer) -> None:
    base = server.base_url
    run.catalogue_of(entry(base, "geo", package="pkg", resource_id="r-geo", format="GeoJSON", filename="x.geojson"),
                     entry(base, "csv", package="pkg", resource_id="r-csv", filename="x.csv"))
    server.set(PKG + "pkg", ckan({"id": "r-geo", "url": f"{base}/f/x.geojson", "format": "GeoJSON"},
                                 {"id": "r-csv", "url": f"{base}/f/x.csv", "format": "CSV"}))
    server.set("/f/x.geojson", Reply(200, b'\xef\xbb\xbf{"type": "FeatureCollection", "features": []}'))
    server.set("/f/x.csv", Reply(200, GOOD))
    assert run() == 0
    assert server.hits[PKG + "pkg"] == 1
    assert {p.name for p in run.raw.iterdir()} == {"x.geojson", "x.csv", "manifest.json"}


def test_some_failed_exit_1_others_saved(run: Runner, server: FixtureServer) -> None:
    base = server.base_url
    run.catalogue_of(entry(base, "a"), entry(base, "b"), entry(base, "c"))
    server.set("/direct/a.csv", Reply(200, GOOD))
    server.set("/direct/b.csv", Reply(404, b"no"))
    server.set("/direct/c.csv", Reply(200, GOOD_V2))
    assert run() == 1
    assert (run.raw / "a.csv").read_bytes() == GOOD and (run.raw / "c.csv").read_bytes() == GOOD_V2
    assert not (run.raw / "b.csv").exists()
    manifest = run.manifest()
    assert set(manifest["files"]) == {"a.csv", "c.csv"}
    assert [r["esito"] for r in manifest["last_run"]["results"]] == ["nuovo", "fallito", "nuovo"]
    assert manifest["last_run"]["exit_code"] == 1
    assert "3 dataset — riusciti: 2 (nuovi 2, aggiornati 0, invariati 0); falliti: 1." in run.out
    assert run.leftovers() == []


def test_only_selects_by_key_or_code(run: Runner, server: FixtureServer) -> None:
    base = server.base_url
    run.catalogue_of(entry(base, "a", code="ds1"), entry(base, "b", code="ds2"), entry(base, "c", code="ds2"))
    for key in "abc":
        server.set(f"/direct/{key}.csv", Reply(200, GOOD))
    assert run("--only", "a") == 0
    assert [server.hits[f"/direct/{k}.csv"] for k in "abc"] == [1, 0, 0]
    assert run("--only", "ds2") == 0
    assert [server.hits[f"/direct/{k}.csv"] for k in "abc"] == [1, 1, 1]
    assert run("--only", "a,nessuno") == 2
    assert "nessuno" in run.err and server.hits["/direct/a.csv"] == 1


def test_real_catalogue_urls_are_rebased_onto_the_portal(tmp_path: Path, server: FixtureServer,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    geojson = b'{"type": "FeatureCollection", "features": []}'
    path = ("/dataset/36ba21c2-8b48-43ce-bbe1-e236a8a49ff6/resource/99ecd085-0b04-4fb2-a66e-9795694d4fc4"
            "/download/ds379_municipi_label.geojson")
    server.set(path, Reply(200, geojson))
    raw = tmp_path / "raw"
    code = main(["fetch", "--portal", server.base_url, "--raw-dir", str(raw), "--only", "municipi",
                 "--timeout", "2", "--retry-delay", "0.01"])
    assert code == 0, capsys.readouterr().out
    assert (raw / "ds379_municipi_label.geojson").read_bytes() == geojson
    assert server.hits[PKG + "ds379-infogeo-municipi-superficie"] == 1


# --------------------------------------------------------------------------- offline


def test_offline_fails_fast_and_touches_nothing(run: Runner) -> None:
    run.catalogue_of(entry(run.server.base_url, "a"))
    run.raw.mkdir()
    (run.raw / "a.csv").write_bytes(GOOD)
    os.utime(run.raw / "a.csv", ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    started = time.monotonic()
    code = run(portal=f"http://127.0.0.1:{closed_port()}")
    assert time.monotonic() - started < 5
    assert code == 2
    assert "ERRORE: portale non raggiungibile (" in run.err and "Nessun file modificato." in run.err
    assert "rifiutata" in run.err
    assert [p.name for p in run.raw.iterdir()] == ["a.csv"]
    assert (run.raw / "a.csv").stat().st_mtime_ns == OLD_MTIME_NS


def test_offline_does_not_create_the_raw_folder(run: Runner) -> None:
    run.catalogue_of(entry(run.server.base_url, "a"))
    assert run(portal=f"http://127.0.0.1:{closed_port()}") == 2
    assert not run.raw.exists()


def test_unresolvable_host_fails_fast(run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    run.catalogue_of(entry(run.server.base_url, "a"))
    started = time.monotonic()
    assert run(portal="https://portale.invalid") == 2
    assert time.monotonic() - started < 5
    assert "non risolto" in run.err and "Nessun file modificato." in run.err


def test_interrupt_mid_download_leaves_no_temp_and_keeps_file(run: Runner, server: FixtureServer,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    run.catalogue_of(entry(server.base_url, "a"))
    server.set("/direct/a.csv", Reply(200, GOOD))
    assert run() == 0
    os.utime(run.raw / "a.csv", ns=(OLD_MTIME_NS, OLD_MTIME_NS))

    def interrupted(*args: Any) -> None:  # the temp file is complete but not yet in place
        assert any(p.suffix == fetch.TEMP_SUFFIX for p in run.raw.iterdir())
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch, "_sniff", interrupted)
    server.set("/direct/a.csv", Reply(200, GOOD_V2))
    assert run() == 130
    assert (run.raw / "a.csv").read_bytes() == GOOD
    assert (run.raw / "a.csv").stat().st_mtime_ns == OLD_MTIME_NS
    assert run.leftovers() == []
    assert "Interrotto" in run.err
