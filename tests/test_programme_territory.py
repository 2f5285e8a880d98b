"""The programme (config/programme.toml) belongs to Milan: a build of another territory stores no lines."""

from __future__ import annotations

from pathlib import Path

import duckdb

from etl import programme, territory
from etl.pipeline import create_schema, write_territory

ROOT = Path(__file__).resolve().parents[1]


def _written(tmp_path: Path, territory_id: str, path: Path = ROOT / "config" / "programme.toml") -> tuple[int, list[str]]:
    con = duckdb.connect(str(tmp_path / f"{territory_id}.duckdb"))
    create_schema(con)
    write_territory(con, territory.load(territory_id))
    messages: list[str] = []
    programme.write_programme(con, path, progress=messages.append)
    return con.sql("SELECT count(*) FROM programme_lines").fetchall()[0][0], messages


def test_milan_build_writes_the_programme(tmp_path: Path) -> None:
    n, _ = _written(tmp_path, "milano")
    assert n == 6


def test_other_territory_gets_no_lines_and_is_told(tmp_path: Path) -> None:
    n, messages = _written(tmp_path, "provincia_cremona")
    assert n == 0
    assert any("è del territorio 'milano', non di 'provincia_cremona'" in m for m in messages)


def test_programme_without_territory_applies_everywhere(tmp_path: Path) -> None:
    text = (ROOT / "config" / "programme.toml").read_text(encoding="utf-8").replace('territory = "milano"\n', "")
    path = tmp_path / "programme.toml"
    path.write_text(text, encoding="utf-8")
    n, _ = _written(tmp_path, "provincia_cremona", path)
    assert n == 6
