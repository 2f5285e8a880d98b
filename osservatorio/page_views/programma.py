"""View code of the Programma page: the lines table, the funds ledger tables, the parent filter and the
ledger splits the territory allows. Pure: no Streamlit (widgets are in pages/programma.py and, shared with
Quartiere and Seduta, in osservatorio.programme_views)."""

from __future__ import annotations

import json

import pandas as pd

from osservatorio import programme as pg
from osservatorio.i18n import t
from osservatorio.programme import line_name
from osservatorio.territory import Territory


def lines_table(line_frame: pd.DataFrame, objective_frame: pd.DataFrame, lang: str,
                indicator_names: dict[str, str] | None = None) -> pd.DataFrame:
    """Lines and their objectives, one row per objective; indicators by name when the catalogue is known."""
    names = indicator_names or {}
    rows = []
    for line in line_frame.to_dict("records"):
        objs = objective_frame[objective_frame["line_id"] == line["line_id"]].to_dict("records") or [None]
        for obj in objs:
            rows.append({
                t("pg_col_line", lang): f"{int(line['sort_order'])}. {line[f'name_{lang}']}",
                t("pg_col_objective", lang): obj[f"name_{lang}"] if obj else "",
                t("pg_col_indicators", lang): "; ".join(names.get(i, i) for i in json.loads(obj["indicators"])) if obj else "",
                t("pg_col_targets", lang): ", ".join(json.loads(obj["targets"])) if obj else "",
                t("pg_col_description", lang): line[f"description_{lang}"],
                t("pg_col_basis", lang): obj["basis"] if obj else "",
            })
    return pd.DataFrame(rows)


def group_label(by: str, group: str, line_frame: pd.DataFrame, class_frame: pd.DataFrame, lang: str,
                territory: Territory | None = None) -> str:
    if group == pg.NO_PLACE:
        return t("pg_no_place", lang)
    if by == "line":
        return line_name(line_frame, group, lang)
    if by == "parent":
        parent = territory.parent if territory is not None else None
        return f"{parent.label(lang)} {group}" if parent else group
    names = dict(zip(class_frame["class_id"], class_frame["class_name"], strict=True))
    return names.get(group, group)


def ledger_table(frame: pd.DataFrame, by: str, line_frame: pd.DataFrame, class_frame: pd.DataFrame, lang: str,
                 share: bool = False, territory: Territory | None = None) -> pd.DataFrame:
    out = pd.DataFrame({
        t("pg_col_group", lang): [group_label(by, g, line_frame, class_frame, lang, territory) for g in frame["group"]],
        t("pg_col_actions_n", lang): frame["actions"].astype(int).tolist(),
        t("pg_col_allocated", lang): frame["allocated"], t("pg_col_committed", lang): frame["committed"],
        t("pg_col_spent", lang): frame["spent"], t("pg_col_private", lang): frame["private"],
    })
    if share:
        out[t("pg_col_share", lang)] = (frame["share"] * 100).round(1).tolist()
    return out


def ledger_splits(territory: Territory, has_classes: bool) -> list[str]:
    """The ledger's split options: by line, by the parent level (under its level id, e.g. ?ripartizione=municipio)
    when the territory has one, by periphery class when the build has classes."""
    parent = territory.parent
    return ["line", *([parent.id] if parent else []), *(["class"] if has_classes else [])]


def split_by(territory: Territory, split: str) -> str:
    """The ledger grouping (pg.LEDGER_BY key) of a split option."""
    return "parent" if territory.parent is not None and split == territory.parent.id else split


def split_label(territory: Territory, split: str, lang: str) -> str:
    parent = territory.parent
    if parent is not None and split == parent.id:
        return t("pg_by_parent", lang, label=parent.label(lang))
    return t(f"pg_by_{split}", lang)


def parent_filter_options(index: pd.DataFrame, territory: Territory) -> list[str]:
    """Ids of the parent areas an action can be filtered by (none when the territory has no parent level)."""
    if territory.parent is None:
        return []
    return [str(i) for i in sorted({int(r) for r in index.loc[index["kind"] == territory.parent.id, "ref"]})]


def ledger_rule(territory: Territory, lang: str) -> str:
    parent = territory.parent
    return t("pg_ledger_rule_parent", lang, parent=parent.label(lang)) if parent else t("pg_ledger_rule_one", lang)
