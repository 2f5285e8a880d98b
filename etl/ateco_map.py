"""Programme categories for ATECO codes, always in the edition the code was published in.

The rules live in `config/ateco_categories.toml` (prefix rules per edition, longest prefix
wins). Codes are validated and labelled with the PyPI `ateco` package (ISTAT data,
editions 2007 / 2022 / 2025). The same digits can mean different activities in different
editions (25.62 is general machining in 2007/2022, locks and hinges in 2025), so nothing
here ever guesses an edition: callers pass it and store it next to the code.

Main entry points:
- `normalise_code("C 25.62")` -> "25.62"; `normalise_edition("ATECO 2007")` -> "2007";
- `classify(code, edition)` -> category key (unknown code -> `default_category`);
- `classify_detail(...)` -> `Classification` with the ISTAT label and, if any, a warning;
- `classify_table(codes, editions)` -> the same for whole columns (one lookup per distinct pair).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ateco
import numpy as np
import pandas as pd

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "ateco_categories.toml"
EDITIONS: tuple[str, ...] = ("2007", "2022", "2025")
TRUST_VALUES = ("official", "derived")

_SECTION_RE = re.compile(r"^[A-U]$")
_LETTER_PREFIX_RE = re.compile(r"^[A-U][-.:]?(?=\d)")
_CODE_WITH_LABEL_RE = re.compile(r"^\s*((?:[A-Ua-u]\s*[-.:]?\s*)?\d[\d.,]*?)[.,]?\s*(?:[-–—:]\s*|\s+)[^\d\s].*$", re.S)
_DOTTED_RE = re.compile(r"^(\d{1,2})(?:\.(\d{1,2})(?:\.(\d{1,2}))?)?$")


class InvalidAtecoCode(ValueError):
    """A value that is not an ATECO code in any recognisable form."""


class AtecoConfigError(ValueError):
    """The categories file is missing, malformed or refers to codes that do not exist."""


@dataclass(frozen=True)
class Category:
    """One programme category (e.g. digital_manufacturing) with its labels."""

    key: str
    label_it: str
    label_en: str
    description: str


@dataclass(frozen=True)
class Rule:
    """`prefix` (in `edition`) and every code below it belong to `category`."""

    edition: str
    prefix: str
    category: str
    label_it: str
    label_en: str
    rationale: str

    @property
    def digits(self) -> str:
        """The prefix without dots: hierarchy ancestry is a plain prefix test on digits."""
        return self.prefix.replace(".", "")


@dataclass(frozen=True)
class Classification:
    """The result of classifying one code in one edition."""

    code: str
    edition: str
    category: str
    label: str | None  # ISTAT title of the code in this edition (None when unknown)
    rule: str | None  # prefix of the matching rule (None: default category)
    known: bool  # the code exists in this edition
    warning: str | None = None  # Italian reason when the result deserves a look


@dataclass(frozen=True)
class CategoryConfig:
    """The parsed and validated categories file."""

    path: Path
    default_category: str
    categories: Mapping[str, Category]
    rules: Mapping[str, tuple[Rule, ...]]  # per edition, longest prefix first
    rule_editions: Mapping[str, str]  # edition -> edition whose rules it uses (same_as)
    firm_points_default_edition: str | None
    firm_points_trust: str
    _cache: dict[tuple[str, str], Classification] = field(default_factory=dict, compare=False, repr=False)

    @property
    def editions(self) -> tuple[str, ...]:
        """Editions this configuration can classify."""
        return tuple(sorted(self.rules))

    def rule_for(self, code: str, edition: str) -> Rule | None:
        """The longest rule prefix containing `code` (already normalised) in `edition`."""
        rules = self._rules_of(edition)
        digits = code.replace(".", "")
        if not digits.isdigit():
            return None
        for rule in rules:  # sorted longest first
            if digits.startswith(rule.digits):
                return rule
        return None

    def classify(self, code: object, edition: object) -> str:
        """The programme category of `code` in `edition` (see `classify_detail`)."""
        return self.classify_detail(code, edition).category

    def classify_detail(self, code: object, edition: object) -> Classification:
        """Normalise, validate with the `ateco` package and classify one code.

        Raises InvalidAtecoCode for values that are not a code at all and ValueError for an
        edition that is not supported. A well-formed code that does not exist in its edition
        gets the default category and a warning; the edition is kept as given.
        """
        ed = normalise_edition(edition)
        self._rules_of(ed)  # unsupported edition -> ValueError
        norm = normalise_code(code)
        key = (norm, ed)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        node = ateco.lookup(norm, edition=ed)
        if node is None:
            result = Classification(norm, ed, self.default_category, None, None, False, _unknown_reason(norm, ed))
        elif _SECTION_RE.match(norm):
            result = Classification(norm, ed, self.default_category, node.title, None, True,
                                    f"codice ATECO {norm} è una sezione: troppo generico per le categorie del programma, "
                                    f"assegnata '{self.default_category}'")
        else:
            rule = self.rule_for(norm, ed)
            category = rule.category if rule else self.default_category
            result = Classification(norm, ed, category, node.title, rule.prefix if rule else None, True)
        self._cache[key] = result
        return result

    def _rules_of(self, edition: str) -> tuple[Rule, ...]:
        try:
            return self.rules[edition]
        except KeyError:
            raise ValueError(f"edizione ATECO {edition!r} non prevista in {self.path.name} "
                             f"(previste: {', '.join(self.editions)})") from None


# ---------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------


def normalise_code(value: object) -> str:
    """Canonical dotted ATECO code, keeping the level of detail of the input.

    "2562", "25.62", "25,62", "C25.62", "C 25.62" -> "25.62"; "256200" and "25.62.00" ->
    "25.62.00"; "1.11" (leading zero lost by a spreadsheet) -> "01.11"; "C" -> "C" (section);
    "25.62.00 - Lavori di meccanica generale" -> "25.62.00" (code followed by its label).
    Digits are never dropped: 25.62.00 stays a sub-category (use `class_code` for the class).
    Raises InvalidAtecoCode when the value is empty or not a code.
    """
    if _missing(value):
        raise InvalidAtecoCode("codice ATECO mancante")
    if isinstance(value, bool):
        raise InvalidAtecoCode(f"codice ATECO non valido: {value!r}")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        # A spreadsheet turned the code into a number: 2562.0 -> "2562", 25.62 -> "25.62".
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        text = str(value)
    labelled = _CODE_WITH_LABEL_RE.match(text)
    if labelled:  # "25.62.00 - Lavori di meccanica generale": the leading code
        text = labelled.group(1)
    raw = re.sub(r"\s+", "", text).upper().replace(",", ".").rstrip(".")
    if not raw:
        raise InvalidAtecoCode("codice ATECO mancante")
    if _SECTION_RE.match(raw):
        return raw
    raw = _LETTER_PREFIX_RE.sub("", raw)
    if raw.isdigit():
        if len(raw) == 1:
            raw = "0" + raw
        if not 2 <= len(raw) <= 6:
            raise InvalidAtecoCode(f"codice ATECO non valido: {text!r} (da 2 a 6 cifre)")
        return ateco.compact_to_dotted(raw)
    match = _DOTTED_RE.match(raw)
    if match is None:
        raise InvalidAtecoCode(f"codice ATECO non valido: {text!r}")
    division, group_class, sub = match.groups()
    parts = [division.zfill(2)]
    if group_class is not None:
        parts.append(group_class)
    if sub is not None:
        if len(group_class) != 2:
            raise InvalidAtecoCode(f"codice ATECO non valido: {text!r} (classe a una cifra)")
        parts.append(sub)
    return ".".join(parts)


def _missing(value: object) -> bool:
    """None, NaN, pd.NA or NaT."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def class_code(code: str) -> str:
    """The class (DD.DD) containing a normalised code, or the code itself if coarser."""
    return code[:5] if len(code) > 5 else code


def normalise_edition(value: object) -> str:
    """'2007', 2007, 2007.0, 'ATECO 2007', 'ATECO 2007 aggiornamento 2022', '2025' -> key.

    Raises ValueError for anything else (including an empty value).
    """
    if _missing(value):
        raise ValueError("edizione ATECO non indicata")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().lower()
    if not text:
        raise ValueError("edizione ATECO non indicata")
    years = re.findall(r"(?<!\d)(2007|2022|2025)(?!\d)", text)
    others = [y for y in re.findall(r"(?<!\d)\d{4}(?!\d)", text) if y not in EDITIONS]
    if not years or others:
        raise ValueError(f"edizione ATECO {value!r} non riconosciuta (attese: {', '.join(EDITIONS)})")
    # "2007 aggiornamento 2022" is the 2022 edition: the latest year named wins.
    return max(years)


def _ancestors(code: str) -> list[str]:
    """'25.62.00' -> ['25.62.0', '25.62', '25.6', '25'] (nearest first)."""
    out: list[str] = []
    while len(code) > 2:
        code = code[:-1].rstrip(".")
        out.append(code)
    return out


def _unknown_reason(code: str, edition: str) -> str:
    hints: list[str] = []
    elsewhere = [ed for ed in EDITIONS if ed != edition and ateco.lookup(code, edition=ed) is not None]
    if elsewhere:
        hints.append(f"esiste nell'edizione {', '.join(elsewhere)}: verificare l'edizione dichiarata")
    for parent in _ancestors(code):
        node = ateco.lookup(parent, edition=edition)
        if node is not None:
            hints.append(f"esiste il livello superiore {parent} «{node.title}»")
            break
    tail = f" ({'; '.join(hints)})" if hints else ""
    return f"codice ATECO {code} inesistente nell'edizione {edition}: assegnata la categoria 'other'{tail}"


# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------

_CONFIGS: dict[tuple[str, int], CategoryConfig] = {}


def load_config(path: Path | str = DEFAULT_CONFIG) -> CategoryConfig:
    """Read and validate the categories file (cached per path and modification time)."""
    path = Path(path).resolve()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise AtecoConfigError(f"file delle categorie ATECO non trovato: {path}") from exc
    cached = _CONFIGS.get((str(path), stamp))
    if cached is not None:
        return cached
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AtecoConfigError(f"{path.name}: TOML non valido ({exc})") from exc
    config = _parse_config(path, data)
    _CONFIGS[(str(path), stamp)] = config
    return config


def _parse_config(path: Path, data: dict[str, Any]) -> CategoryConfig:
    problems: list[str] = []
    if data.get("schema_version") != 1:
        problems.append(f"schema_version atteso 1, trovato {data.get('schema_version')!r}")
    categories: dict[str, Category] = {}
    for key, spec in (data.get("categories") or {}).items():
        missing = [k for k in ("label_it", "label_en", "description") if not str(spec.get(k, "")).strip()]
        if missing:
            problems.append(f"categoria {key}: mancano {', '.join(missing)}")
        categories[key] = Category(key, str(spec.get("label_it", "")), str(spec.get("label_en", "")),
                                   str(spec.get("description", "")))
    default = str(data.get("default_category", ""))
    if default not in categories:
        problems.append(f"default_category {default!r} non è tra le categorie ({', '.join(categories)})")

    editions_spec: dict[str, Any] = data.get("editions") or {}
    rules: dict[str, tuple[Rule, ...]] = {}
    rule_editions: dict[str, str] = {}
    for ed, spec in editions_spec.items():
        if ed not in EDITIONS:
            problems.append(f"edizione {ed!r} sconosciuta (previste: {', '.join(EDITIONS)})")
            continue
        if "same_as" in spec:
            continue
        rules[ed] = _parse_rules(ed, spec.get("rules") or [], categories, problems)
        rule_editions[ed] = ed
    for ed, spec in editions_spec.items():
        if ed not in EDITIONS or "same_as" not in spec:
            continue
        base = str(spec["same_as"])
        if base not in rules:
            problems.append(f"edizione {ed}: same_as={base!r} non ha regole proprie")
            continue
        for rule in rules[base]:
            if ateco.lookup(rule.prefix, edition=ed) is None:
                problems.append(f"edizione {ed} (same_as {base}): il prefisso {rule.prefix} non esiste in {ed}")
        rules[ed] = rules[base]
        rule_editions[ed] = base
    if not rules:
        problems.append("nessuna edizione con regole")

    points = data.get("firm_points") or {}
    default_edition: str | None = None
    raw_edition = str(points.get("default_edition", "") or "").strip()
    if raw_edition:
        try:
            default_edition = normalise_edition(raw_edition)
        except ValueError as exc:
            problems.append(f"firm_points.default_edition: {exc}")
    trust = str(points.get("trust", "derived"))
    if trust not in TRUST_VALUES:
        problems.append(f"firm_points.trust {trust!r} non valido (ammessi: {', '.join(TRUST_VALUES)})")
    if problems:
        raise AtecoConfigError(f"{path.name}: " + "; ".join(problems))
    return CategoryConfig(path=path, default_category=default, categories=categories, rules=rules,
                          rule_editions=rule_editions, firm_points_default_edition=default_edition,
                          firm_points_trust=trust)


def _parse_rules(edition: str, specs: list[dict[str, Any]], categories: Mapping[str, Category],
                 problems: list[str]) -> tuple[Rule, ...]:
    out: list[Rule] = []
    seen: set[str] = set()
    for i, spec in enumerate(specs, start=1):
        where = f"edizione {edition}, regola {i}"
        prefix = str(spec.get("prefix", ""))
        try:
            canonical = normalise_code(prefix)
        except InvalidAtecoCode as exc:
            problems.append(f"{where}: {exc}")
            continue
        if canonical != prefix or _SECTION_RE.match(canonical):
            problems.append(f"{where}: prefisso {prefix!r} non in forma canonica a cifre (es. '25.62')")
            continue
        if prefix in seen:
            problems.append(f"{where}: prefisso {prefix} ripetuto")
        seen.add(prefix)
        if ateco.lookup(prefix, edition=edition) is None:
            problems.append(f"{where}: il codice {prefix} non esiste nell'edizione {edition}")
        category = str(spec.get("category", ""))
        if category not in categories:
            problems.append(f"{where}: categoria {category!r} sconosciuta")
        missing = [k for k in ("label_it", "label_en", "rationale") if not str(spec.get(k, "")).strip()]
        if missing:
            problems.append(f"{where} ({prefix}): mancano {', '.join(missing)}")
        out.append(Rule(edition, prefix, category, str(spec.get("label_it", "")), str(spec.get("label_en", "")),
                        str(spec.get("rationale", ""))))
    return tuple(sorted(out, key=lambda r: len(r.digits), reverse=True))


# ---------------------------------------------------------------------------------------
# Convenience functions
# ---------------------------------------------------------------------------------------


def classify(code: object, edition: object, config: CategoryConfig | None = None) -> str:
    """Programme category of one code in one edition (default configuration file)."""
    return (config or load_config()).classify(code, edition)


def classify_detail(code: object, edition: object, config: CategoryConfig | None = None) -> Classification:
    """Like `classify`, with label, matching rule and warning."""
    return (config or load_config()).classify_detail(code, edition)


TABLE_COLUMNS = ["ateco_code", "ateco_edition", "category", "ateco_label", "known", "problem", "warning"]


def classify_table(codes: pd.Series, editions: pd.Series | str,
                   config: CategoryConfig | None = None) -> pd.DataFrame:
    """Classify whole columns; one lookup per distinct (code, edition) pair.

    Returns a frame aligned with `codes` with columns `TABLE_COLUMNS`:
    - `problem`: why the row cannot be used (malformed or missing code, unknown or missing
      edition) -> the caller rejects the row; the other columns are then None;
    - `warning`: the code is well formed but does not exist in its edition (category is the
      default one) or is too generic -> the caller keeps the row and records the warning.
    """
    config = config or load_config()
    codes = codes.reset_index(drop=True)
    n = len(codes)
    if isinstance(editions, str):
        ed_idx, ed_values = np.zeros(n, dtype=np.int64), np.array([editions], dtype=object)
    else:
        ed_idx, ed_values = pd.factorize(editions.reset_index(drop=True), use_na_sentinel=False)
    code_idx, code_values = pd.factorize(codes, use_na_sentinel=False)
    pair_idx, pairs = pd.factorize(code_idx.astype(np.int64) * max(len(ed_values), 1) + ed_idx, sort=False)
    rows = [_classify_row(code_values[p // max(len(ed_values), 1)], ed_values[p % max(len(ed_values), 1)], config)
            for p in pairs]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS, dtype=object)
    out = table.take(pair_idx).reset_index(drop=True) if n else table
    out["known"] = out["known"].astype("boolean")
    return out


def _classify_row(code: object, edition: object, config: CategoryConfig) -> dict[str, Any]:
    empty = dict.fromkeys(TABLE_COLUMNS)
    try:
        ed = normalise_edition(edition)
    except ValueError as exc:
        return {**empty, "problem": str(exc)}
    if ed not in config.rules:
        return {**empty, "problem": f"edizione ATECO {ed} non prevista dalla configurazione"}
    try:
        result = config.classify_detail(code, ed)
    except InvalidAtecoCode as exc:
        return {**empty, "ateco_edition": ed, "problem": str(exc)}
    return {"ateco_code": result.code, "ateco_edition": result.edition, "category": result.category,
            "ateco_label": result.label, "known": result.known, "problem": None, "warning": result.warning}
