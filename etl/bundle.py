"""The embedded default: a small bundle of official, redistributable files committed in the repo.

`python -m etl bundle --from <folder of originals>` copies them byte for byte into `BUNDLE_DIR`
(same sub-folder, same name) with a manifest (sha256 of the original and of the copy, licence,
attribution, origin). `python -m etl build` with no `--raw-dir` builds from this bundle.

Only files published by the Comune di Milano as open data are bundled (`FILES`); everything
else in the folder of originals stays out, each with its reason (`EXCLUDED`). When the folder of
originals holds a `SOURCES.md` that lists a sha256 for a file, the copy must match it.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etl.base import SourceError, sha256_of

logger = logging.getLogger(__name__)

BUNDLE_DIR = Path(__file__).resolve().parent.parent / "data" / "bundle"
MANIFEST = "MANIFEST.json"
README = "README.md"
SOURCES_NOTES = "SOURCES.md"
GITATTRIBUTES = ".gitattributes"  # keeps git from touching line endings: the copies stay byte for byte
META_FILES = frozenset({MANIFEST, README, GITATTRIBUTES})  # the bundle's own files (everything else is data)
MAX_BYTES = 3 * 1000 * 1000  # the whole bundle (files + manifest + readme) stays under 3 MB
MANIFEST_SCHEMA = 1
ALLOWED_LICENCES = frozenset({"CC BY 4.0"})
ATTRIBUTION = "Comune di Milano — dati aperti, CC BY 4.0"
PORTAL = "https://dati.comune.milano.it"
PORTAL_DEFAULT_NOTE = ("licenza predefinita del portale dati.comune.milano.it (CC BY 4.0); "
                       "da verificare sulla pagina del dataset")
# Keys every manifest entry has (read_manifest checks them).
REQUIRED_KEYS = ("dataset", "title", "publisher", "licence", "licence_note", "attribution", "origin",
                 "reference_date", "sha256")


@dataclass(frozen=True)
class BundleFile:
    """One official file of the bundle and what is known about it (from SOURCES.md)."""

    path: str  # POSIX path relative to the folder of originals; the same inside the bundle
    dataset: str | None  # publisher's code (dsNNN), None when the file has none
    title: str
    publisher: str
    licence: str  # as the publisher states it (or as reported, see licence_note)
    licence_note: str | None  # why the licence is not certain, None when it is stated for this dataset
    repository: str  # GitHub owner/name the copy came from
    commit: str  # full commit of that repository
    repository_path: str  # the file's path in that repository
    dataset_url: str | None  # the official dataset page
    reference_date: str | None  # ISO date of the data, when known
    reference_note: str | None  # what the date is, or why there is none
    signature: bytes  # the file must start with these bytes (recognised by content, not by name)
    zip_member: str | None = None  # for zip files: a member the archive must hold
    attribution: str = ATTRIBUTION

    def origin(self) -> str:
        """One line: the repository, commit and path of the copy, then the official page."""
        line = f"copia da GitHub {self.repository} @ {self.commit}, {self.repository_path}"
        return line + (f"; pagina ufficiale {self.dataset_url}" if self.dataset_url else "")


_NIL_COMMIT = "454d62946e053da08383e0cd10610509009e501e"
_MUNICIPI_COMMIT = "99b1195e40cae829ea151f7acdaaff9c068284a2"
_TOMMI = "tommif13/test"
_TOMMI_CSV_COMMIT = "63db2c65e45e1d097c8e2ea686a8965cc48c0342"
_TOMMI_ZIP_COMMIT = "ea65e087b9984d3cdaa647ac0ffdcf8fda054833"
_MUNICIPI_URL = f"{PORTAL}/dataset/ds379-infogeo-municipi-superficie"
_MUNICIPI_NOTE = ("CC BY 4.0 secondo i metadati del dataset riportati da terzi "
                  "(https://creativecommons.org/licenses/by/4.0/); da verificare sulla pagina del dataset")


def _municipi(suffix: str, signature: bytes) -> BundleFile:
    return BundleFile(
        path=f"comune-milano-municipi/Municipi.{suffix}", dataset="ds379", title="Municipi – superficie",
        publisher="Comune di Milano", licence="CC BY 4.0", licence_note=_MUNICIPI_NOTE,
        repository="it40093/applied_data_science", commit=_MUNICIPI_COMMIT, repository_path=f"Municipi.{suffix}",
        dataset_url=_MUNICIPI_URL, reference_date="2017-01-13",
        reference_note="data di riferimento del dataset (modificato il 2019-12-13) secondo metadati di terzi; "
                       "shapefile in RDN2008/UTM 32N",
        signature=signature)


# The bundle: official Comune di Milano open data only. Facts from SOURCES.md sections 1, 3 and 8.
FILES: tuple[BundleFile, ...] = (
    BundleFile(
        path="comune-milano-nil/NIL_WM.zip", dataset="ds964",
        title="NIL (Nuclei di Identità Locale) vigenti – PGT 2030", publisher="Comune di Milano",
        licence="CC BY 4.0",
        licence_note="license_id CKAN 'cc-by' riportato da un repository di terzi che ha interrogato l'API del portale; "
                     "da verificare sulla pagina del dataset",
        repository="nahim888/flaskverifica", commit=_NIL_COMMIT, repository_path="NIL_WM.zip",
        dataset_url=f"{PORTAL}/dataset/ds964-nil-vigenti-pgt-2030", reference_date="2020-02-05",
        reference_note="inizio di validità dei NIL (campo Valido_dal); shapefile ufficiale ri-zippato da terzi il 2022-03-29",
        signature=b"PK\x03\x04", zip_member="NIL_WM.shp"),
    _municipi("shp", b"\x00\x00\x27\x0a"),
    _municipi("shx", b"\x00\x00\x27\x0a"),
    _municipi("dbf", b"\x03"),
    _municipi("prj", b"PROJCS["),
    BundleFile(
        path="comune-milano-popolazione-nil-2022/NIL_sesso_2022.xlsx", dataset=None,
        title="Popolazione residente per NIL e sesso al 31/12/2022",
        publisher="Comune di Milano, Area Gestione e Integrazione Dati – Unità Servizi Statistici",
        licence="CC BY 4.0",
        licence_note="il file non dichiara una licenza e non ha un codice dsNNN; si assume la licenza predefinita "
                     "dei dati aperti del Comune di Milano (CC BY 4.0); da verificare con il Comune",
        repository="adamamer20/streetcrime", commit="b5c0dc9a309ea8bbaeee9fe09d0071ee2cc4d85d",
        repository_path="examples/Milan/old implementation/data/raw/NIL_sesso_2022.xlsx",
        dataset_url=None, reference_date="2022-12-31",
        reference_note="residenti al 31/12/2022 (anagrafe); NIL 8 Parco Sempione assente",
        signature=b"PK\x03\x04", zip_member="xl/workbook.xml"),
    BundleFile(
        path="comune-milano-ds503/ds503_aree_edifici_degradati_abbandonati_0_final.csv", dataset="ds503",
        title="Aree ed edifici degradati e abbandonati", publisher="Comune di Milano",
        licence="CC BY 4.0", licence_note=PORTAL_DEFAULT_NOTE,
        repository=_TOMMI, commit=_TOMMI_CSV_COMMIT,
        repository_path="data/ds503_aree_edifici_degradati_abbandonati_0_final (1).csv",
        dataset_url=f"{PORTAL}/dataset/ds503_edifici-e-aree-in-degrado",
        reference_date=None,
        reference_note="data non indicata nel file; indirizzo della pagina da codice di terzi, non verificato; "
                       "il suffisso ' (1)' del browser è stato tolto dal nome",
        signature=b"OBJECTID;COD_PROG;"),
    BundleFile(
        path="comune-milano-immobili-degradati/OpenData_ImmDegrado.zip", dataset=None,
        title="Immobili abbandonati e degradati (punti e sagome, geoportale)", publisher="Comune di Milano (geoportale)",
        licence="CC BY 4.0",
        licence_note="esportazione del geoportale del Comune, stessi immobili di ds503; licenza non dichiarata nel file: "
                     "si assume quella di ds503 (predefinita del portale, CC BY 4.0); da verificare",
        repository=_TOMMI, commit=_TOMMI_ZIP_COMMIT, repository_path="data/OpenData_ImmDegrado.zip",
        dataset_url=None, reference_date="2019-06-03",
        reference_note="data delle voci dello zip; shapefile in RDN2008/UTM 32N",
        signature=b"PK\x03\x04", zip_member="Immobili_abbandonati_e_degradati_aree.shp"),
    BundleFile(
        path="comune-milano-ds147/ds147_elenco-beni-immobili-confiscati-03_2026.csv", dataset="ds147",
        title="Beni immobili confiscati alla criminalità organizzata", publisher="Comune di Milano",
        licence="CC BY 4.0", licence_note=PORTAL_DEFAULT_NOTE,
        repository=_TOMMI, commit=_TOMMI_CSV_COMMIT,
        repository_path="data/ds147_elenco-beni-immobili-confiscati-03_2026.csv",
        dataset_url=f"{PORTAL}/dataset/2c48e7c0-6e86-4a0a-95de-b9ea0564efcd",
        reference_date=None, reference_note="edizione 03/2026 (dal nome del file; il giorno non è indicato)",
        signature="Unità immobiliare;Tipologia;".encode()),
    BundleFile(
        path="comune-milano-ds171/ds171_economia_numero_imprese_unita_locali_addetti_settore_attivita_2007-2010.csv",
        dataset="ds171", title="Numero di imprese, unità locali e addetti per settore di attività (ATECO 2007), 2007–2010",
        publisher="Comune di Milano", licence="CC BY 4.0", licence_note=PORTAL_DEFAULT_NOTE,
        repository=_TOMMI, commit=_TOMMI_CSV_COMMIT,
        repository_path="data/ds171_economia_numero_imprese_unita_locali_addetti_settore_attivita_2007-2010.csv",
        dataset_url=f"{PORTAL}/dataset?q=ds171",
        reference_date=None,
        reference_note="serie annuale 2007–2010 (una riga per anno); titolo dal nome del file; "
                       "pagina del dataset non nota (indirizzo di ricerca del portale)",
        signature=b"Anno;ateco_2007_2cifre;"),
)

# What stays out of the bundle, and why (paths relative to the folder of originals; a trailing
# slash is a whole folder).
EXCLUDED: tuple[tuple[str, str], ...] = (
    ("comune-milano-municipi/Municipi.geojson",
     "doppione (1,2 MB) dello shapefile ds379 già nel bundle, con le stesse coordinate proiettate e senza crs"),
    ("scandaglio-molo/places.json",
     "rielaborazione di terzi (repository GPL-3.0) di un elenco del Comune senza licenza aperta esplicita: "
     "redistribuzione non consentita con certezza"),
    ("fablab-milano-area/fablab_milano_area.csv",
     "elenco di terzi da un'esportazione Google My Maps, senza licenza, non verificato: solo test e uso locale"),
    ("milano-platform/",
     "esportazione di terzi (repository senza licenza) con indici dell'autore; i dati ufficiali sottostanti "
     "vanno presi dal portale"),
    ("maranzano-milano-mobility/", "dati di ricerca derivati (repository senza licenza): citare l'articolo, non redistribuire"),
    ("nil-explorer/nil.geojson",
     "stessa geometria di ds964 (già nel bundle) con colonne dell'autore senza licenza (repository senza licenza)"),
    ("openpolis-geojson-italy/",
     "confini comunali ISTAT ripubblicati da Openpolis (CC BY 4.0): redistribuibili, ma non sono dati del Comune "
     "di Milano e il cruscotto di Milano non li usa"),
    (SOURCES_NOTES, "appunti di provenienza dei file: ciò che serve è nel manifest"),
)


def available(bundle_dir: Path = BUNDLE_DIR) -> bool:
    """True when the bundle folder holds a manifest (the app and the CLI build from it)."""
    return (bundle_dir / MANIFEST).is_file()


def read_manifest(raw_dir: Path) -> dict[str, dict[str, Any]]:
    """Per-file provenance of a bundle folder, keyed by the path relative to `raw_dir` (POSIX).

    Each entry has at least: dataset, title, publisher, licence, licence_note, attribution,
    origin, reference_date (ISO date or None), sha256 (of the copy), all str or None; also
    sha256_original, bytes and the origin's parts. Empty dict when the folder has no manifest;
    a manifest that cannot be read raises SourceError.
    """
    path = Path(raw_dir) / MANIFEST
    if not path.is_file():
        return {}
    hint = "rigenerare il bundle con `python -m etl bundle --from <cartella degli originali>`"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(path, f"manifest del bundle illeggibile ({exc})", hint) from exc
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, dict):
        raise SourceError(path, "manifest del bundle senza l'oggetto 'files'", hint)
    out: dict[str, dict[str, Any]] = {}
    for rel, entry in files.items():
        if not isinstance(entry, dict):
            raise SourceError(path, f"voce '{rel}' del manifest non è un oggetto", hint)
        missing = [k for k in REQUIRED_KEYS if k not in entry]
        if missing:
            raise SourceError(path, f"voce '{rel}' del manifest senza {', '.join(missing)}", hint)
        bad = [k for k in REQUIRED_KEYS if entry[k] is not None and not isinstance(entry[k], str)]
        if bad:
            raise SourceError(path, f"voce '{rel}' del manifest: {', '.join(bad)} non è testo", hint)
        if not isinstance(entry["sha256"], str) or not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]):
            raise SourceError(path, f"voce '{rel}' del manifest: sha256 non valido", hint)
        out[Path(rel).as_posix()] = dict(entry)
    return out


# --- SOURCES.md: the sha256 it lists per file ----------------------------------------------------------

_HEADING = re.compile(r"^#{1,6}\s")
_TICKED = re.compile(r"`([^`]+)`")
_SHA = re.compile(r"sha256[\s|:`=]*([0-9a-f]{64}|[0-9a-f]{4,63}(?:…|\.\.\.)[0-9a-f]{4,63})")


def listed_sha256(notes: str) -> dict[str, str]:
    """sha256 listed in SOURCES.md, keyed by the file path named in the section heading.

    A section counts only when its heading names exactly one file (in backticks) and its body
    lists exactly one sha256; abbreviated values (`fe3f4598…d0471638`) are kept as written.
    """
    out: dict[str, str] = {}
    sections: list[tuple[str, list[str]]] = []
    for line in notes.splitlines():
        if _HEADING.match(line):
            sections.append((line, []))
        elif sections:
            sections[-1][1].append(line)
    for heading, body in sections:
        names = [t.removeprefix("data/real/") for t in _TICKED.findall(heading)]
        shas = set(_SHA.findall("\n".join(body)))
        if len(names) == 1 and len(shas) == 1 and "{" not in names[0]:
            out[names[0]] = shas.pop()
    return out


def sha_matches(listed: str, actual: str) -> bool:
    """A full or abbreviated (prefix…suffix) listed sha256 against the real one."""
    if "…" in listed or "..." in listed:
        head, tail = re.split(r"…|\.\.\.", listed, maxsplit=1)
        return actual.startswith(head) and actual.endswith(tail)
    return listed == actual


# --- writing the bundle ---------------------------------------------------------------------------------

def _check_content(spec: BundleFile, path: Path) -> None:
    """The original is the file we expect (by content): its first bytes and, for zips, one member."""
    with open(path, "rb") as fh:
        head = fh.read(len(spec.signature))
    if head != spec.signature:
        raise SourceError(path, f"il contenuto non è quello atteso per {spec.dataset or spec.title} "
                                f"(inizio {head[:24]!r}, atteso {spec.signature[:24]!r})",
                          "controllare di aver messo il file giusto nella cartella degli originali")
    if spec.zip_member:
        try:
            with zipfile.ZipFile(path) as zf:
                names = {Path(n).name for n in zf.namelist()} | set(zf.namelist())
        except zipfile.BadZipFile as exc:
            raise SourceError(path, f"archivio zip non valido ({exc})", "riscaricare il file") from exc
        if spec.zip_member not in names:
            raise SourceError(path, f"l'archivio non contiene {spec.zip_member}", "controllare che sia il file ufficiale")


def _readme(files: tuple[BundleFile, ...]) -> str:
    lines = [
        "# Bundle incorporato: dati aperti ufficiali del Comune di Milano",
        "",
        "Copie byte per byte di file pubblicati dal Comune di Milano come dati aperti, usate da",
        "`python -m etl build` quando non si indica `--raw-dir`. Generato da `python -m etl bundle`:",
        "non modificare a mano. Provenienza, licenza e sha256 di ogni file: `MANIFEST.json`.",
        "",
        f"Attribuzione: {ATTRIBUTION} (https://creativecommons.org/licenses/by/4.0/).",
        "Le copie vengono da repository pubblici di terzi (indicati nel manifest), non dal portale:",
        "dove la licenza non è certa il manifest lo dice (`licence_note`).",
        "",
        "| file | dataset | titolo | licenza |",
        "|---|---|---|---|",
    ]
    for spec in files:
        lines.append(f"| `{spec.path}` | {spec.dataset or '—'} | {spec.title} | {spec.licence}"
                     + (" (da verificare)" if spec.licence_note else "") + " |")
    return "\n".join(lines) + "\n"


def _entry(spec: BundleFile, original: Path, copy: Path, listed: str | None) -> dict[str, Any]:
    return {
        "dataset": spec.dataset,
        "title": spec.title,
        "publisher": spec.publisher,
        "licence": spec.licence,
        "licence_note": spec.licence_note,
        "attribution": spec.attribution,
        "origin": spec.origin(),
        "origin_repository": spec.repository,
        "origin_commit": spec.commit,
        "origin_path": spec.repository_path,
        "dataset_url": spec.dataset_url,
        "reference_date": spec.reference_date,
        "reference_note": spec.reference_note,
        "copy": "byte per byte",
        "sha256": sha256_of(copy),
        "sha256_original": sha256_of(original),
        "sha256_listed": listed,
        "bytes": copy.stat().st_size,
    }


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under `folder` (the bundle's size as committed)."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def write_bundle(source_dir: Path, out: Path, files: tuple[BundleFile, ...] = FILES,
                 excluded: tuple[tuple[str, str], ...] = EXCLUDED, max_bytes: int = MAX_BYTES,
                 today: str | None = None) -> dict[str, Any]:
    """Copy `files` from `source_dir` into a fresh `out` with MANIFEST.json and README.md; returns the manifest.

    Nothing is written unless every file is present, recognised, matches SOURCES.md (when listed)
    and the total fits in `max_bytes`. An existing `out` is replaced only if it is a bundle.
    """
    source_dir, out = Path(source_dir), Path(out)
    if not source_dir.is_dir():
        raise SourceError(source_dir, "la cartella degli originali non esiste", "indicarla con --from")
    if out.resolve() == source_dir.resolve() or source_dir.resolve() in out.resolve().parents:
        raise SourceError(out, "la cartella del bundle è dentro quella degli originali", "scegliere un'altra --out")
    if out.exists() and any(out.iterdir()) and not available(out):
        raise SourceError(out, "la cartella esiste, non è vuota e non è un bundle (manca MANIFEST.json)",
                          "indicare con --out una cartella vuota o un bundle esistente")
    notes_path = source_dir / SOURCES_NOTES
    listed = listed_sha256(notes_path.read_text(encoding="utf-8")) if notes_path.is_file() else {}
    total = 0
    for spec in files:
        original = source_dir / spec.path
        if not original.is_file():
            raise SourceError(original, f"file originale mancante ({spec.dataset or spec.title})",
                              "copiarlo nella cartella degli originali con lo stesso sotto-percorso")
        _check_content(spec, original)
        if spec.path in listed and not sha_matches(listed[spec.path], sha256_of(original)):
            raise SourceError(original, f"sha256 {sha256_of(original)} diverso da quello in {SOURCES_NOTES} "
                                        f"({listed[spec.path]})", "il file non è la copia documentata: ricopiarlo")
        total += original.stat().st_size
    readme = _readme(files)
    if total + len(readme.encode()) > max_bytes:
        raise SourceError(source_dir, f"il bundle peserebbe {total:,} byte, oltre il limite di {max_bytes:,}",
                          "togliere o convertire i file più grandi")

    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        entries: dict[str, dict[str, Any]] = {}
        for spec in files:
            original, copy = source_dir / spec.path, tmp / spec.path
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(original, copy)
            entry = _entry(spec, original, copy, listed.get(spec.path))
            if entry["sha256"] != entry["sha256_original"]:
                raise SourceError(copy, "la copia differisce dall'originale", "ripetere il comando")
            entries[spec.path] = entry
        (tmp / README).write_text(readme, encoding="utf-8")
        (tmp / GITATTRIBUTES).write_text("# copie byte per byte: niente conversioni di fine riga\n* -text\n", encoding="utf-8")
        manifest: dict[str, Any] = {
            "schema": MANIFEST_SCHEMA,
            "generated": today or datetime.now(UTC).date().isoformat(),
            "generator": "python -m etl bundle (etl/bundle.py)",
            "attribution": ATTRIBUTION,
            "max_bytes": max_bytes,
            "data_bytes": total,
            "files": entries,
            "excluded": [{"path": p, "reason": r} for p, r in excluded],
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written = folder_bytes(tmp)
        if written > max_bytes:
            raise SourceError(source_dir, f"il bundle pesa {written:,} byte, oltre il limite di {max_bytes:,}",
                              "togliere o convertire i file più grandi")
        if out.exists():
            old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `python -m etl bundle`."""
    parser.add_argument("--from", dest="source_dir", type=Path, required=True,
                        help="cartella con i file originali (es. ../shared/data/real)")
    parser.add_argument("--out", type=Path, default=BUNDLE_DIR, help="cartella del bundle")


def _unlisted(source_dir: Path, files: tuple[BundleFile, ...], excluded: tuple[tuple[str, str], ...]) -> list[str]:
    """Files of the originals folder that are neither bundled nor in the excluded list."""
    known = {f.path for f in files}
    out = []
    for p in sorted(source_dir.rglob("*")):
        rel = p.relative_to(source_dir).as_posix()
        skipped = any(rel == e or (e.endswith("/") and rel.startswith(e)) for e, _ in excluded)
        if p.is_file() and rel not in known and rel not in META_FILES and not skipped:
            out.append(rel)
    return out


def run(args: argparse.Namespace) -> int:
    """Write the bundle; returns the exit status."""
    source_dir, out = Path(args.source_dir), Path(args.out)
    try:
        manifest = write_bundle(source_dir, out)
    except SourceError as exc:
        print(f"\nERRORE: {exc}", file=sys.stderr)
        print("Il bundle precedente non è stato modificato.", file=sys.stderr)
        return 2
    if not (source_dir / SOURCES_NOTES).is_file():
        logger.warning(f"  attenzione: {SOURCES_NOTES} assente in {source_dir}: sha256 non confrontati con valori documentati")
    for rel, entry in manifest["files"].items():
        check = "sha256 verificato con SOURCES.md" if entry["sha256_listed"] else "sha256 non elencato in SOURCES.md"
        logger.info(f"  {rel}: {entry['bytes']:,} byte, copia byte per byte, {check}")
    for rel in _unlisted(source_dir, FILES, EXCLUDED):
        logger.warning(f"  non copiato (non è nell'elenco dei file ufficiali redistribuibili): {rel}")
    logger.info(f"Bundle scritto: {out} ({len(manifest['files'])} file, {folder_bytes(out):,} byte in tutto, "
                f"limite {manifest['max_bytes']:,})")
    return 0
