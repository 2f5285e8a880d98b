"""`python -m etl fetch`: download the official datasets from the CKAN portal into the raw cache.

For each catalogue entry (config/datasets.toml):
1. resolve the current URL with CKAN `package_show` (by resource id, file name, then format);
   on failure fall back to the catalogue's direct URL and say so;
2. stream it into a temp file in the raw folder, with timeout, bounded retries and
   exponential backoff, checking Content-Length, non-emptiness and a minimal format sniff;
3. hash it and `os.replace` it into place (same sha256 as the file already there: "invariato").

A failed download never touches the file already in place, and temp files are always removed.
`manifest.json` in the raw folder describes the files on disk and is rewritten atomically
after every file. Before anything else a short TCP probe of the portal makes offline runs
fail in seconds. Exit codes: 0 all saved, 1 some failed, 2 none saved (or portal unreachable).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import ipaddress
import json
import logging
import os
import secrets
import socket
import ssl
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from etl import __version__
from etl.base import sha256_of

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORTAL = "https://dati.comune.milano.it"
DEFAULT_CATALOGUE = ROOT / "config" / "datasets.toml"
DEFAULT_RAW_DIR = ROOT / "data" / "raw"
MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = 1
CHUNK_SIZE = 64 * 1024
PROGRESS_EVERY = 5 * 1024 * 1024
MAX_API_BYTES = 10 * 1024 * 1024
MAX_BACKOFF = 60.0
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = f"osservatorio-manifattura-digitale/{__version__} (+python-urllib; etl fetch)"
TEMP_PREFIX = ".fetch-"
TEMP_SUFFIX = ".part"

Say = Callable[[str], None]
ResolvedFrom = Literal["package_show", "catalogue"]
Esito = Literal["nuovo", "aggiornato", "invariato", "fallito"]


# --------------------------------------------------------------------------- catalogue


class CatalogueError(Exception):
    """The catalogue file is missing or malformed."""


@dataclass(frozen=True)
class Dataset:
    """One catalogue entry: one resource (one file) of the portal."""

    key: str
    title: str
    url: str
    filename: str
    licence: str
    format: str = ""
    code: str = ""
    package: str = ""
    package_id: str = ""
    resource_id: str = ""

    def package_candidates(self) -> list[str]:
        """Identifiers to try with package_show: slug first, then UUID."""
        return list(dict.fromkeys(p for p in (self.package, self.package_id) if p))


@dataclass(frozen=True)
class Catalogue:
    """The parsed catalogue: the portal its URLs refer to, and the entries."""

    portal: str
    datasets: list[Dataset]


def load_catalogue(path: Path) -> Catalogue:
    """Read and validate config/datasets.toml."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise CatalogueError(f"catalogo non trovato: {path}") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"catalogo {path} illeggibile: {exc}") from exc
    portal = str(data.get("portal") or DEFAULT_PORTAL).rstrip("/")
    entries = data.get("dataset")
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(f"{path}: nessuna voce [[dataset]]")
    known = {f for f in Dataset.__dataclass_fields__}
    datasets: list[Dataset] = []
    for i, entry in enumerate(entries, start=1):
        where = f"{path}, voce [[dataset]] n. {i}"
        if not isinstance(entry, dict):
            raise CatalogueError(f"{where}: non è una tabella")
        missing = [f for f in ("key", "title", "url", "filename", "licence") if not entry.get(f)]
        if missing:
            raise CatalogueError(f"{where}: mancano i campi {', '.join(missing)}")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise CatalogueError(f"{where}: campi sconosciuti {', '.join(unknown)}")
        ds = Dataset(**{k: str(v) for k, v in entry.items()})
        if not _is_http_url(ds.url):
            raise CatalogueError(f"{where} ({ds.key}): url deve essere http(s): {ds.url}")
        if not _is_plain_filename(ds.filename):
            raise CatalogueError(f"{where} ({ds.key}): filename non valido '{ds.filename}' "
                                 "(solo un nome di file, senza cartelle né punto iniziale)")
        datasets.append(ds)
    for attr in ("key", "filename"):
        values = [getattr(d, attr) for d in datasets]
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise CatalogueError(f"{path}: valori di {attr} ripetuti: {', '.join(dupes)}")
    return Catalogue(portal=portal, datasets=datasets)


def select(datasets: list[Dataset], only: str | None) -> list[Dataset]:
    """The entries named by --only (keys or dsNNN codes, comma-separated); all when None."""
    if not only:
        return list(datasets)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    unknown = [w for w in wanted if not any(w.lower() in (d.key.lower(), d.code.lower()) for d in datasets)]
    if unknown:
        raise CatalogueError(f"chiavi sconosciute per --only: {', '.join(unknown)} "
                             f"(disponibili: {', '.join(d.key for d in datasets)})")
    lowered = {w.lower() for w in wanted}
    return [d for d in datasets if d.key.lower() in lowered or (d.code and d.code.lower() in lowered)]


def _is_http_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _is_plain_filename(name: str) -> bool:
    return (bool(name) and name == Path(name).name and "/" not in name and "\\" not in name
            and not name.startswith(".") and name != MANIFEST_NAME)


def rebase(url: str, catalogue_portal: str, portal: str) -> str:
    """Move a catalogue URL onto another portal base (a mirror, or a test server)."""
    if portal.rstrip("/") == catalogue_portal.rstrip("/"):
        return url
    prefix = catalogue_portal.rstrip("/") + "/"
    return portal.rstrip("/") + "/" + url[len(prefix):] if url.startswith(prefix) else url


# --------------------------------------------------------------------------- HTTP


class FetchError(Exception):
    """One failed request, with an Italian reason and whether retrying may help."""

    def __init__(self, reason: str, retriable: bool, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retriable = retriable
        self.status = status
        self.retry_after = retry_after
        self.attempts = 1


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only towards http(s) (never file:, ftp:, data:)."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: http.client.HTTPMessage, newurl: str) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"redirect verso uno schema non consentito: {newurl}", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _opener(url: str) -> urllib.request.OpenerDirector:
    """An opener with safe redirects; loopback hosts never go through an environment proxy."""
    handlers: list[urllib.request.BaseHandler] = [_HttpOnlyRedirects()]
    if _is_loopback(urllib.parse.urlsplit(url).hostname):
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def _describe(exc: BaseException, timeout: float) -> str:
    """A short Italian description of a network error."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        inner = exc.reason
        if isinstance(inner, BaseException):
            return _describe(inner, timeout)
        return f"errore di rete: {inner}"
    if isinstance(exc, TimeoutError):
        return f"nessuna risposta entro {timeout:g} s (timeout)"
    if isinstance(exc, socket.gaierror):
        return f"nome host non risolto (DNS): {exc.strerror or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connessione rifiutata"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connessione chiusa dal server senza risposta"
    if isinstance(exc, http.client.IncompleteRead):
        return f"risposta troncata ({len(exc.partial)} byte ricevuti)"
    if isinstance(exc, ConnectionResetError):
        return "connessione interrotta dal server"
    if isinstance(exc, ssl.SSLError):
        return f"errore TLS: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"errore di rete: {exc.strerror}"
    return f"errore di rete: {exc.__class__.__name__}: {exc}"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _open(url: str, timeout: float, accept: str = "*/*") -> http.client.HTTPResponse:
    """GET `url`; HTTP errors and network errors become FetchError."""
    request = urllib.request.Request(url, headers={
        "User-Agent": USER_AGENT, "Accept": accept, "Accept-Encoding": "identity"})
    try:
        return _opener(url).open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(Exception):
            exc.close()
        raise FetchError(f"HTTP {exc.code} {exc.reason}".strip(), retriable=exc.code in RETRY_STATUS,
                         status=exc.code, retry_after=_retry_after(exc.headers)) from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise FetchError(_describe(exc, timeout), retriable=True) from None


# --------------------------------------------------------------------------- probe


def _resolve_host(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """getaddrinfo with a deadline (the system resolver has none)."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["ok"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["err"] = exc

    worker = threading.Thread(target=work, daemon=True, name="fetch-dns")
    worker.start()
    worker.join(timeout)
    if "ok" in box:
        return box["ok"]
    if "err" in box:
        raise box["err"]
    raise TimeoutError(f"risoluzione DNS di {host} oltre {timeout:g} s")


def probe(portal: str, timeout: float) -> str | None:
    """Quick TCP reachability check of the portal (or of its proxy); None if reachable, else why not."""
    parts = urllib.parse.urlsplit(portal)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    if not host or parts.scheme not in ("http", "https"):
        return f"URL del portale non valido: {portal!r}"
    via = ""
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not _is_loopback(host) and not urllib.request.proxy_bypass(host):
        pp = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if pp.hostname:
            via = f" tramite il proxy {pp.hostname}:{pp.port or 8080}"
            host, port = pp.hostname, pp.port or 8080
    deadline = time.monotonic() + timeout
    try:
        infos = _resolve_host(host, port, timeout)
    except socket.gaierror as exc:
        return f"nome host {host} non risolto: {exc.strerror or exc}{via}"
    except OSError as exc:
        return f"{exc}{via}"
    last = "nessun indirizzo"
    for family, socktype, proto, _name, addr in infos:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            last = f"nessuna risposta da {host}:{port} entro {timeout:g} s"
            break
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(addr)
            return None
        except TimeoutError:
            last = f"nessuna risposta da {host}:{port} entro {timeout:g} s"
        except ConnectionRefusedError:
            last = f"connessione a {host}:{port} rifiutata"
        except OSError as exc:
            last = f"{host}:{port}: {exc.strerror or exc}"
        finally:
            sock.close()
    return last + via


# --------------------------------------------------------------------------- resolution


@dataclass
class Resolved:
    """Where to download a dataset from, and how that was decided."""

    url: str
    resolved_from: ResolvedFrom
    note: str
    licence_portal: str | None = None


def package_show(portal: str, package: str, timeout: float) -> dict[str, Any]:
    """The `result` of CKAN package_show (one attempt); FetchError if unusable."""
    url = f"{portal.rstrip('/')}/api/3/action/package_show?{urllib.parse.urlencode({'id': package})}"
    with _open(url, timeout, accept="application/json") as resp:
        try:
            body = resp.read(MAX_API_BYTES + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(_describe(exc, timeout), retriable=True) from None
    if len(body) > MAX_API_BYTES:
        raise FetchError("risposta di package_show troppo grande", retriable=False)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FetchError("risposta di package_show non è JSON valido", retriable=False) from None
    if not isinstance(data, dict) or data.get("success") is not True or not isinstance(data.get("result"), dict):
        raise FetchError("package_show ha risposto success=false o senza 'result'", retriable=False)
    if not isinstance(data["result"].get("resources"), list):
        raise FetchError("package_show senza elenco 'resources'", retriable=False)
    return data["result"]


def pick_resource(resources: list[Any], ds: Dataset, portal: str) -> tuple[str, str] | None:
    """(url, how) of the resource matching `ds`: by id, then file name, then unique format."""
    usable = [r for r in resources if isinstance(r, dict) and isinstance(r.get("url"), str) and r["url"].strip()]
    basename = urllib.parse.urlsplit(ds.url).path.rsplit("/", 1)[-1]
    fmt = ds.format.strip().lower()
    by_id = [r for r in usable if ds.resource_id and r.get("id") == ds.resource_id]
    by_name = [r for r in usable if urllib.parse.urlsplit(r["url"].strip()).path.rsplit("/", 1)[-1] == basename]
    by_format = [r for r in usable if fmt and str(r.get("format") or "").strip().lower() == fmt]
    for hits, how, need_unique in ((by_id, "per id della risorsa", False), (by_name, "per nome del file", False),
                                   (by_format, "per formato, unico nel pacchetto", True)):
        if hits and (len(hits) == 1 or not need_unique):
            url = urllib.parse.urljoin(portal.rstrip("/") + "/", hits[0]["url"].strip())
            return (url, how) if _is_http_url(url) else None
    return None


def resolve(ds: Dataset, portal: str, direct_url: str, timeout: float,
            cache: dict[str, dict[str, Any] | FetchError]) -> Resolved:
    """Current URL of `ds` via package_show, or the catalogue URL with the reason."""
    problems: list[str] = []
    for ident in ds.package_candidates():
        if ident not in cache:
            try:
                cache[ident] = package_show(portal, ident, timeout)
            except FetchError as exc:
                cache[ident] = exc
        result = cache[ident]
        if isinstance(result, FetchError):
            problems.append(f"{ident}: {result.reason}")
            continue
        licence = result.get("license_title") or result.get("license_id")
        picked = pick_resource(result["resources"], ds, portal)
        if picked:
            url, how = picked
            return Resolved(url, "package_show", f"URL da package_show ({how})", str(licence) if licence else None)
        problems.append(f"{ident}: risorsa non trovata nel pacchetto (o URL non http/https)")
        break
    why = "; ".join(problems) if problems else "nessun identificativo di pacchetto nel catalogo"
    return Resolved(direct_url, "catalogue", f"package_show non utilizzabile ({why}): uso l'URL del catalogo")


# --------------------------------------------------------------------------- download


@dataclass
class Transfer:
    """A completed download sitting in a temp file."""

    tmp: Path
    sha256: str
    size: int
    status: int
    final_url: str
    attempts: int
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None


def _new_temp(folder: Path) -> tuple[Path, IO[bytes]]:
    """An exclusive temp file in `folder` (permissions follow the umask, as for a normal file)."""
    for _ in range(10):
        path = folder / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        return path, os.fdopen(fd, "wb")
    raise OSError(f"impossibile creare un file temporaneo in {folder}")


def _content_length(headers: Any) -> int | None:
    try:
        value = int(headers.get("Content-Length", ""))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def _sniff(path: Path, fmt: str, content_type: str | None) -> None:
    """Reject obvious non-files: an HTML page instead of data, a GeoJSON that is not JSON."""
    with open(path, "rb") as fh:
        head = fh.read(512).removeprefix(b"\xef\xbb\xbf").lstrip()
    lowered = head[:64].lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or (
            content_type and "text/html" in content_type.lower() and lowered.startswith(b"<")):
        raise FetchError("il server ha restituito una pagina HTML invece del file", retriable=False)
    if fmt.lower() in ("geojson", "json") and not head.startswith((b"{", b"[")):
        raise FetchError("il contenuto non sembra JSON/GeoJSON", retriable=False)


def _download_once(url: str, folder: Path, fmt: str, timeout: float, say: Say) -> Transfer:
    """One GET of `url` into a new temp file; the temp file is removed on any failure."""
    tmp, fh = _new_temp(folder)
    try:
        with fh:
            with _open(url, timeout) as resp:
                expected = _content_length(resp.headers)
                digest, size, next_report = hashlib.sha256(), 0, PROGRESS_EVERY
                while True:
                    try:
                        chunk = resp.read(CHUNK_SIZE)
                    except (OSError, http.client.HTTPException) as exc:
                        raise FetchError(f"download interrotto dopo {size} byte: {_describe(exc, timeout)}",
                                         retriable=True) from None
                    if not chunk:
                        break
                    fh.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if expected is not None and size > expected:
                        raise FetchError(f"ricevuti più byte ({size}) di quelli dichiarati ({expected})", retriable=True)
                    if size >= next_report:
                        total = f" di {expected / 1e6:.1f} MB" if expected else ""
                        say(f"    … {size / 1e6:.1f} MB{total}")
                        next_report += PROGRESS_EVERY
                transfer = Transfer(tmp=tmp, sha256=digest.hexdigest(), size=size, status=resp.status,
                                    final_url=resp.geturl(), attempts=0, etag=resp.headers.get("ETag"),
                                    last_modified=resp.headers.get("Last-Modified"),
                                    content_type=resp.headers.get("Content-Type"))
            fh.flush()
            os.fsync(fh.fileno())
        if expected is not None and size != expected:
            raise FetchError(f"file troncato: ricevuti {size} byte su {expected} dichiarati", retriable=True)
        if size == 0:
            raise FetchError("il server ha restituito un file vuoto (0 byte)", retriable=False)
        _sniff(tmp, fmt, transfer.content_type)
        return transfer
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def download(url: str, folder: Path, fmt: str, timeout: float, tries: int, base_delay: float,
             say: Say, sleep: Callable[[float], None] = time.sleep) -> Transfer:
    """Download with at most `tries` attempts and exponential backoff; FetchError after the last."""
    for attempt in range(1, tries + 1):
        try:
            transfer = _download_once(url, folder, fmt, timeout, say)
        except FetchError as exc:
            exc.attempts = attempt
            if not exc.retriable or attempt >= tries:
                raise
            delay = min(MAX_BACKOFF, base_delay * 2 ** (attempt - 1))
            if exc.retry_after is not None:
                delay = min(MAX_BACKOFF, max(delay, exc.retry_after))
            say(f"    tentativo {attempt}/{tries} fallito ({exc.reason}); nuovo tentativo tra {delay:.2f} s")
            sleep(delay)
            continue
        transfer.attempts = attempt
        return transfer
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- manifest


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_manifest(raw_dir: Path, say: Say) -> dict[str, Any]:
    """The manifest in `raw_dir` (a fresh one if missing or unreadable)."""
    path = raw_dir / MANIFEST_NAME
    fresh: dict[str, Any] = {"schema": MANIFEST_SCHEMA, "files": {}}
    if not path.exists():
        return fresh
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        say(f"ATTENZIONE: {path} illeggibile ({exc}); verrà riscritto.")
        return fresh
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        say(f"ATTENZIONE: {path} non ha la forma attesa; verrà riscritto.")
        return fresh
    return data


def write_manifest(raw_dir: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically (temp file + fsync + os.replace)."""
    manifest["schema"] = MANIFEST_SCHEMA
    manifest["updated_at"] = _utc_now()
    tmp, fh = _new_temp(raw_dir)
    try:
        with fh:
            fh.write(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, raw_dir / MANIFEST_NAME)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- one dataset, the run


@dataclass
class Outcome:
    """What happened to one dataset (one line of the summary)."""

    key: str
    filename: str
    esito: Esito
    reason: str = ""
    size: int | None = None
    attempts: int = 0
    resolved_from: ResolvedFrom | None = None
    sha256: str | None = None

    @property
    def ok(self) -> bool:
        return self.esito != "fallito"


@dataclass
class Settings:
    """Options of one run."""

    portal: str
    raw_dir: Path
    timeout: float = 30.0
    tries: int = 3
    retry_delay: float = 1.0
    probe_timeout: float = 3.0
    catalogue_portal: str = DEFAULT_PORTAL
    say: Say = field(default=lambda msg: logger.info(msg))


def fetch_one(ds: Dataset, settings: Settings, manifest: dict[str, Any],
              cache: dict[str, dict[str, Any] | FetchError]) -> Outcome:
    """Resolve, download, verify and install one dataset; never raises FetchError."""
    say = settings.say
    dest = settings.raw_dir / ds.filename
    say(f"[{ds.key}] {ds.code or '-'} {ds.title} → {ds.filename}")
    direct = rebase(ds.url, settings.catalogue_portal, settings.portal)
    where = resolve(ds, settings.portal, direct, settings.timeout, cache)
    say(f"    {where.note}")
    say(f"    scarico {where.url}")
    try:
        transfer = download(where.url, settings.raw_dir, ds.format, settings.timeout, settings.tries,
                            settings.retry_delay, say)
    except FetchError as exc:
        attempts = exc.attempts
        kept = " (il file esistente non è stato modificato)" if dest.exists() else ""
        say(f"    FALLITO dopo {attempts} tentativ{'o' if attempts == 1 else 'i'}: {exc.reason}{kept}")
        return Outcome(ds.key, ds.filename, "fallito", exc.reason, attempts=attempts, resolved_from=where.resolved_from)
    except OSError as exc:
        say(f"    FALLITO: errore di scrittura in {settings.raw_dir}: {exc}")
        return Outcome(ds.key, ds.filename, "fallito", f"errore di scrittura: {exc}", resolved_from=where.resolved_from)

    try:
        esito: Esito
        if dest.is_file() and sha256_of(dest) == transfer.sha256:
            esito = "invariato"
            transfer.tmp.unlink(missing_ok=True)
        else:
            esito = "aggiornato" if dest.exists() else "nuovo"
            os.replace(transfer.tmp, dest)
    except OSError as exc:
        transfer.tmp.unlink(missing_ok=True)
        say(f"    FALLITO: impossibile scrivere {dest}: {exc}")
        return Outcome(ds.key, ds.filename, "fallito", f"errore di scrittura: {exc}",
                       attempts=transfer.attempts, resolved_from=where.resolved_from)

    manifest.setdefault("files", {})[ds.filename] = {
        "key": ds.key, "dataset": ds.code or None, "title": ds.title, "url": where.url,
        "final_url": transfer.final_url if transfer.final_url != where.url else None,
        "resolved_from": where.resolved_from, "sha256": transfer.sha256, "bytes": transfer.size,
        "fetched_at": _utc_now(), "http_status": transfer.status, "etag": transfer.etag,
        "last_modified": transfer.last_modified, "content_type": transfer.content_type,
        "attempts": transfer.attempts, "licence": ds.licence, "licence_portal": where.licence_portal,
        "esito": esito,
    }
    write_manifest(settings.raw_dir, manifest)
    plural = "o" if transfer.attempts == 1 else "i"
    say(f"    OK: {transfer.size} byte, sha256 {transfer.sha256[:12]}…, {esito} "
        f"({transfer.attempts} tentativ{plural})")
    return Outcome(ds.key, ds.filename, esito, size=transfer.size, attempts=transfer.attempts,
                   resolved_from=where.resolved_from, sha256=transfer.sha256)


def _print_list(catalogue: Catalogue, path: Path) -> None:
    print(f"Catalogo {path} (portale {catalogue.portal}):")
    width = max(len(d.filename) for d in catalogue.datasets)
    header = f"{'chiave':<18} {'codice':<7} {'formato':<8} {'file':<{width}} licenza"
    print(header)
    print("-" * len(header))
    for d in catalogue.datasets:
        print(f"{d.key:<18} {d.code or '-':<7} {d.format or '-':<8} {d.filename:<{width}} {d.licence}")
        print(f"{'':<18} {d.title}")


def _print_summary(outcomes: list[Outcome], settings: Settings) -> None:
    print()
    print(f"Riepilogo fetch (portale {settings.portal}, cartella {settings.raw_dir}):")
    header = f"{'chiave':<18} {'esito':<10} {'byte':>11} {'tentativi':>9}  {'origine URL':<12}  file / motivo"
    print(header)
    print("-" * len(header))
    for o in outcomes:
        size = f"{o.size}" if o.size is not None else "-"
        detail = o.filename if o.ok else o.reason
        print(f"{o.key:<18} {o.esito.upper() if not o.ok else o.esito:<10} {size:>11} {o.attempts:>9}  "
              f"{o.resolved_from or '-':<12}  {detail}")
    saved = [o for o in outcomes if o.ok]
    counts = {e: sum(1 for o in outcomes if o.esito == e) for e in ("nuovo", "aggiornato", "invariato")}
    failed = len(outcomes) - len(saved)
    print(f"\n{len(outcomes)} dataset — riusciti: {len(saved)} (nuovi {counts['nuovo']}, "
          f"aggiornati {counts['aggiornato']}, invariati {counts['invariato']}); falliti: {failed}.")
    if failed:
        print("Per i dataset falliti i file già presenti (se c'erano) non sono stati modificati.")
    if saved:
        print(f"Manifest: {settings.raw_dir / MANIFEST_NAME}")
        print(f"Prossimo passo: python -m etl build --raw-dir {_shown(settings.raw_dir)}")


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _cleanup_temps(raw_dir: Path) -> None:
    """Remove temp files left by this process (belt and braces: each is also removed where created)."""
    for leftover in raw_dir.glob(f"{TEMP_PREFIX}{os.getpid()}-*{TEMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `python -m etl fetch`."""
    parser.add_argument("--portal", default=DEFAULT_PORTAL, help=f"URL base del portale CKAN (default {DEFAULT_PORTAL})")
    parser.add_argument("--raw-dir", type=Path, default=DEFAULT_RAW_DIR,
                        help="cartella della cache dei file grezzi (default data/raw)")
    parser.add_argument("--catalogue", type=Path, default=DEFAULT_CATALOGUE,
                        help="catalogo TOML dei dataset (default config/datasets.toml)")
    parser.add_argument("--only", metavar="KEY[,KEY]", default=None,
                        help="scarica solo queste chiavi (o codici dsNNN), separate da virgole")
    parser.add_argument("--list", action="store_true", help="mostra il catalogo ed esce (nessun accesso alla rete)")
    parser.add_argument("--timeout", type=_positive_float, default=30.0,
                        help="secondi massimi di attesa della rete per connessione/lettura (default 30)")
    parser.add_argument("--retries", type=_positive_int, default=3,
                        help="numero massimo di tentativi per file (default 3)")
    parser.add_argument("--retry-delay", type=_non_negative_float, default=1.0,
                        help="attesa prima del 2° tentativo, raddoppiata a ogni tentativo (default 1 s)")
    parser.add_argument("--probe-timeout", type=_positive_float, default=3.0,
                        help="secondi per la verifica iniziale di raggiungibilità del portale (default 3)")


def _positive_float(text: str) -> float:
    value = _non_negative_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"deve essere > 0: {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"numero non valido: {text}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"deve essere un numero finito >= 0: {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"intero non valido: {text}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"deve essere >= 1: {text}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run the fetch; returns the process exit code (0 all, 1 some, 2 none)."""
    try:
        catalogue = load_catalogue(args.catalogue)
        chosen = select(catalogue.datasets, args.only)
    except CatalogueError as exc:
        print(f"ERRORE: {exc}", file=sys.stderr)
        return 2
    if args.list:
        _print_list(catalogue, args.catalogue)
        return 0

    portal = str(args.portal).rstrip("/")
    settings = Settings(portal=portal, raw_dir=Path(args.raw_dir), timeout=args.timeout, tries=args.retries,
                        retry_delay=args.retry_delay, probe_timeout=args.probe_timeout,
                        catalogue_portal=catalogue.portal)
    logger.info(f"Verifica del portale {portal} …")
    problem = probe(portal, settings.probe_timeout)
    if problem:
        print(f"ERRORE: portale non raggiungibile ({problem}). Nessun file modificato.", file=sys.stderr)
        return 2
    try:
        settings.raw_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"ERRORE: impossibile creare la cartella {settings.raw_dir}: {exc}", file=sys.stderr)
        return 2
    if portal != catalogue.portal:
        print(f"Gli URL diretti del catalogo ({catalogue.portal}) sono riportati su {portal}.")
    logger.info(f"{len(chosen)} dataset da scaricare in {settings.raw_dir}")

    manifest = read_manifest(settings.raw_dir, settings.say)
    cache: dict[str, dict[str, Any] | FetchError] = {}
    outcomes: list[Outcome] = []
    started = _utc_now()
    try:
        for ds in chosen:
            outcomes.append(fetch_one(ds, settings, manifest, cache))
    except KeyboardInterrupt:
        _cleanup_temps(settings.raw_dir)
        print("\nInterrotto: i file già presenti non sono stati modificati da download incompleti.", file=sys.stderr)
        return 130
    finally:
        _cleanup_temps(settings.raw_dir)

    saved = sum(1 for o in outcomes if o.ok)
    code = 0 if saved == len(outcomes) else (2 if saved == 0 else 1)
    manifest["last_run"] = {
        "started_at": started, "finished_at": _utc_now(), "portal": portal, "exit_code": code,
        "results": [{"key": o.key, "file": o.filename, "esito": o.esito, "motivo": o.reason or None,
                     "tentativi": o.attempts, "resolved_from": o.resolved_from} for o in outcomes],
    }
    try:
        write_manifest(settings.raw_dir, manifest)
    except OSError as exc:
        print(f"ATTENZIONE: impossibile aggiornare il manifest: {exc}", file=sys.stderr)
    _print_summary(outcomes, settings)
    return code
