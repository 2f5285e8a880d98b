"""Roles of the signed-in people (osservatorio.auth): by e-mail, by group claim, unknown -> viewer."""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path

import pytest

from osservatorio import auth
from osservatorio.auth import ANONYMOUS, RoleMap, RolesError, User, load_roles, parse_roles, user_from_claims

ROLES = """
group_claim = "groups"
[emails]
"Anna.Admin@Comune.Milano.it" = "admin"
"eddie@comune.milano.it" = "editor"
[groups]
"osservatorio-redazione" = "editor"
"osservatorio-amministrazione" = "admin"
"""


@pytest.fixture
def roles() -> RoleMap:
    return parse_roles(tomllib.loads(ROLES))


def test_role_by_email_case_insensitive(roles: RoleMap) -> None:
    assert roles.role_for("anna.admin@comune.milano.it") == "admin"
    assert roles.role_for("  EDDIE@comune.milano.it ") == "editor"


def test_role_by_group_claim_and_highest_wins(roles: RoleMap) -> None:
    assert roles.role_for("nobody@comune.milano.it", ("altro", "osservatorio-redazione")) == "editor"
    assert roles.role_for("eddie@comune.milano.it", ("osservatorio-amministrazione",)) == "admin"


def test_unknown_user_is_viewer(roles: RoleMap) -> None:
    assert roles.role_for("sconosciuto@example.com", ("altro",)) == "viewer"
    assert roles.role_for(None) == "viewer"
    assert RoleMap().role_for("anna.admin@comune.milano.it") == "viewer"  # no roles file: nobody writes


def test_unverified_email_gives_no_role(roles: RoleMap) -> None:
    assert roles.role_for("eddie@comune.milano.it", (), email_verified=False) == "viewer"
    assert roles.role_for("eddie@comune.milano.it", (), email_verified=True) == "editor"
    assert roles.role_for("eddie@comune.milano.it", ("osservatorio-redazione",), email_verified=False) == "editor"


def test_user_from_claims(roles: RoleMap) -> None:
    user = user_from_claims({"is_logged_in": True, "email": "eddie@comune.milano.it", "name": "Eddie", "sub": "x"}, roles)
    assert user == User("eddie@comune.milano.it", "Eddie", "editor")
    assert user.label == "eddie@comune.milano.it" and user.can("write") and user.can("upload") and not user.can("publish")
    admin = user_from_claims({"sub": "s1", "email": "a@b.it", "groups": "osservatorio-amministrazione"}, roles)
    assert admin.role == "admin" and admin.can("publish") and admin.can("manage_roles") and admin.groups == (
        "osservatorio-amministrazione",)
    assert user_from_claims({"sub": "only-sub"}, roles) == User("only-sub", None, "viewer")
    assert user_from_claims({"is_logged_in": True}, roles) is ANONYMOUS
    # OSSERVATORIO_READ_ONLY: nobody writes, whoever they are
    assert user_from_claims({"email": "anna.admin@comune.milano.it"}, roles, read_only=True).role == "viewer"


def test_anonymous_reads_only() -> None:
    assert not ANONYMOUS.signed_in and ANONYMOUS.label == "anonimo"
    assert [a for a in auth.ACTIONS if ANONYMOUS.can(a)] == ["read"]
    assert not User("x@y.it", None, "editor").can("no-such-action")


@pytest.mark.parametrize("text, problem", [
    ('[emails]\n"a@b.it" = "superuser"\n', "ruolo sconosciuto"),
    ('[email]\n"a@b.it" = "admin"\n', "chiavi sconosciute"),
    ('emails = "a@b.it"\n', "tabella"),
    ('group_claim = 3\n', "group_claim"),
])
def test_bad_roles_file_is_refused(text: str, problem: str) -> None:
    with pytest.raises(RolesError, match=problem):
        parse_roles(tomllib.loads(text))


def test_load_roles_file_missing_bad_and_changed(tmp_path: Path) -> None:
    path = tmp_path / "roles.toml"
    assert load_roles(path) == RoleMap()  # missing: nobody has a role, no problem to report
    path.write_text("[emails\n", encoding="utf-8")
    broken = load_roles(path)
    assert broken.problem and "roles.toml" in broken.problem and broken.role_for("a@b.it") == "viewer"
    path.write_text('[emails]\n"a@b.it" = "editor"\n', encoding="utf-8")
    assert load_roles(path).role_for("a@b.it") == "editor"
    path.write_text('[emails]\n"a@b.it" = "admin"\n', encoding="utf-8")
    later = time.time() + 5
    os.utime(path, (later, later))
    assert load_roles(path).role_for("a@b.it") == "admin"  # re-read when the file changes, no restart


def test_roles_path_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(auth.ENV_ROLES, str(tmp_path / "r.toml"))
    assert auth.roles_path() == tmp_path / "r.toml"
    monkeypatch.delenv(auth.ENV_ROLES)
    assert auth.roles_path() == auth.DEFAULT_ROLES


def test_shipped_roles_file_is_valid() -> None:
    shipped = load_roles(auth.DEFAULT_ROLES)
    assert shipped.problem is None and shipped.group_claim == "groups"


def test_current_user_outside_a_page_is_anonymous() -> None:
    assert auth.current_user() is ANONYMOUS
