"""The programme's lines of intervention, objectives and envelope (config/programme.toml) into the warehouse.

Called once per build (`write_programme`): the app reads the tables `programme_lines` and
`programme_objectives`, never the file. A missing file leaves both tables empty and says so in the
build output (the app then says that no line is configured: never a zero). A malformed file raises
`etl.base.SourceError` naming the file, the entry and what to fix: the build stops, the previous
warehouse stays. The programme belongs to a territory (`territory` in the file; none = every
territory): a build of another territory leaves the tables empty and says so, so that a Cremona
warehouse never shows Milan's lines and envelope.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from etl.base import SourceError
from etl.periphery import file_hash

DEFAULT_PROGRAMME = Path(__file__).resolve().parent.parent / "config" / "programme.toml"
FUNDING_SOURCES = ("comune", "regione", "private", "eu", "other")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_HINT = "correggere config/programme.toml (il commento in testa al file descrive i campi)"


@dataclass(frozen=True)
class Objective:
    objective_id: str
    line_id: str
    order: int
    name_it: str
    name_en: str
    indicators: tuple[str, ...]
    targets: tuple[str, ...]
    basis: str


@dataclass(frozen=True)
class Line:
    line_id: str
    order: int
    name_it: str
    name_en: str
    description_it: str
    description_en: str
    source: str
    objectives: tuple[Objective, ...]


@dataclass(frozen=True)
class Envelope:
    amount_eur: float
    line_id: str
    funding_sources: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class ProgrammeConfig:
    version: str
    file_hash: str
    lines: tuple[Line, ...]
    envelope: Envelope | None
    territory_id: str | None = None


def _text(raw: dict[str, Any], key: str, where: str, path: Path) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SourceError(path, f"{where}: campo '{key}' mancante o vuoto", _HINT)
    return " ".join(value.split())


def _ident(raw: dict[str, Any], where: str, path: Path, seen: set[str]) -> str:
    value = raw.get("id")
    if not isinstance(value, str) or not _ID.match(value):
        raise SourceError(path, f"{where}: id non valido {value!r} (lettere minuscole, cifre e _)", _HINT)
    if value in seen:
        raise SourceError(path, f"{where}: id '{value}' ripetuto", "dare a ogni linea e obiettivo un id diverso")
    seen.add(value)
    return value


def _ids(raw: dict[str, Any], key: str, where: str, path: Path) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SourceError(path, f"{where}: '{key}' deve essere un elenco di id (testo)", _HINT)
    return tuple(v.strip() for v in value)


def parse_programme(data: dict[str, Any], path: Path, hash_text: str = "none",
                    indicators: set[str] | None = None) -> ProgrammeConfig:
    """The configuration from the TOML mapping; `indicators` (catalogue ids) checks the objectives."""
    seen: set[str] = set()
    lines: list[Line] = []
    raw_lines = data.get("line", [])
    if not isinstance(raw_lines, list) or not raw_lines:
        raise SourceError(path, "nessuna [[line]] definita", _HINT)
    for n, raw in enumerate(raw_lines, start=1):
        where = f"linea {n}"
        line_id = _ident(raw, where, path, seen)
        where = f"linea '{line_id}'"
        objectives = []
        for k, obj in enumerate(raw.get("objective", []), start=1):
            oid = _ident(obj, f"{where}, obiettivo {k}", path, seen)
            ow = f"obiettivo '{oid}'"
            inds = _ids(obj, "indicators", ow, path)
            unknown = [i for i in inds if indicators is not None and i not in indicators]
            if unknown:
                raise SourceError(path, f"{ow}: indicatori non presenti nel catalogo: {', '.join(unknown)}",
                                  "usare gli id di config/indicators.toml")
            objectives.append(Objective(oid, line_id, k, _text(obj, "name_it", ow, path), _text(obj, "name_en", ow, path),
                                        inds, _ids(obj, "targets", ow, path), _text(obj, "basis", ow, path)))
        order = raw.get("order", n)
        if not isinstance(order, int) or isinstance(order, bool):
            raise SourceError(path, f"{where}: 'order' deve essere un numero intero", _HINT)
        lines.append(Line(line_id, order, _text(raw, "name_it", where, path), _text(raw, "name_en", where, path),
                          _text(raw, "description_it", where, path), _text(raw, "description_en", where, path),
                          _text(raw, "source", where, path), tuple(objectives)))
    envelope = None
    raw_env = data.get("envelope")
    if raw_env is not None:
        amount = raw_env.get("amount_eur")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not amount > 0:
            raise SourceError(path, f"[envelope]: amount_eur non valido {amount!r} (euro, maggiore di zero)", _HINT)
        line_id = raw_env.get("line")
        if line_id not in {ln.line_id for ln in lines}:
            raise SourceError(path, f"[envelope]: linea {line_id!r} non definita", "indicare l'id di una [[line]]")
        funding = _ids(raw_env, "funding_sources", "[envelope]", path)
        bad = [f for f in funding if f not in FUNDING_SOURCES]
        if bad or not funding:
            raise SourceError(path, f"[envelope]: fonti di finanziamento non valide: {', '.join(bad) or 'nessuna'}",
                              f"usare {', '.join(FUNDING_SOURCES)}")
        envelope = Envelope(float(amount), str(line_id), funding, _text(raw_env, "source", "[envelope]", path))
    territory = data.get("territory")
    if territory is not None and not isinstance(territory, str):
        raise SourceError(path, f"'territory' non è un id di territorio: {territory!r}", _HINT)
    return ProgrammeConfig(str(data.get("version", "none")), hash_text, tuple(lines), envelope, territory)


def load_programme(path: Path | str = DEFAULT_PROGRAMME, indicators: set[str] | None = None) -> ProgrammeConfig | None:
    """config/programme.toml parsed and checked; None when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(path, f"TOML non valido ({exc})", _HINT) from exc
    except UnicodeDecodeError as exc:
        raise SourceError(path, "il file non è in UTF-8", "salvarlo in UTF-8") from exc
    return parse_programme(data, path, file_hash(path), indicators)


def write_programme(con: duckdb.DuckDBPyConnection, path: Path | str = DEFAULT_PROGRAMME,
                    progress: Callable[[str], None] = print) -> ProgrammeConfig | None:
    """Write the lines and objectives of the configuration into the (empty) programme tables."""
    indicators = None
    if con.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'indicator_catalogue'").fetchall()[0][0]:
        known = {r[0] for r in con.sql("SELECT DISTINCT indicator_id FROM indicator_catalogue").fetchall()}
        indicators = known or None  # before the indicators are computed the catalogue is empty: no check
    config = load_programme(path, indicators)
    if config is None:
        progress(f"Programma non configurato ({path} assente): linee e obiettivi vuoti")
        return None
    built = [str(r[0]) for r in con.sql("SELECT territory_id FROM territory").fetchall()]
    if config.territory_id is not None and built and built[0] != config.territory_id:
        progress(f"Programma: {path} è del territorio '{config.territory_id}', non di '{built[0]}': "
                 "linee e obiettivi vuoti")
        return None
    env = config.envelope
    for line in config.lines:
        own = env is not None and env.line_id == line.line_id
        con.execute(
            "INSERT INTO programme_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [line.line_id, line.order, line.name_it, line.name_en, line.description_it, line.description_en, line.source,
             env.amount_eur if own and env else None, json.dumps(list(env.funding_sources)) if own and env else None,
             env.source if own and env else None, config.version, config.file_hash])
        for obj in line.objectives:
            con.execute("INSERT INTO programme_objectives VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [obj.objective_id, obj.line_id, obj.order, obj.name_it, obj.name_en,
                         json.dumps(list(obj.indicators)), json.dumps(list(obj.targets)), obj.basis])
    n_obj = sum(len(ln.objectives) for ln in config.lines)
    progress(f"Programma: {len(config.lines)} linee, {n_obj} obiettivi (config {config.version})")
    return config
