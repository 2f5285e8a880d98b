"""Who is using the app and what they may do (viewer / editor / admin).

Sign-in is Streamlit's own OpenID Connect (`st.login`, `st.user`, `st.logout`, with Authlib),
configured in `.streamlit/secrets.toml` (`[auth]`: redirect_uri, cookie_secret, client_id,
client_secret, server_metadata_url). Roles come from a roles file (`config/roles.toml`, or the
file named by OSSERVATORIO_ROLES): deployment configuration like the secrets, read by the server
(re-read when the file changes), never by a build.

- `current_user() -> User`: the signed-in identity with its role, or the anonymous viewer;
- `User.can(action)`: action in {'read', 'write', 'upload', 'publish', 'manage_roles'};
- `require(action, lang)`: stop the page with a clear message when the user may not do it;
- `sidebar(lang)`: the sign-in / sign-out widget (drawn once per run, whoever calls it first).

With no identity provider configured the app is read-only for everyone and says so (once per
browser session). With OSSERVATORIO_READ_ONLY=1 every signed-in person is a viewer too.
Anyone signed in but not listed in the roles file is a viewer; a roles file that cannot be read
gives nobody any right (fail closed) and the error is shown to the signed-in person.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from osservatorio.settings import PROJECT_ROOT, load_settings

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
ACTIONS: dict[str, tuple[Role, ...]] = {
    "read": ("viewer", "editor", "admin"),
    "write": ("editor", "admin"),
    "upload": ("editor", "admin"),
    "publish": ("admin",),
    "manage_roles": ("admin",),
}
ENV_ROLES = "OSSERVATORIO_ROLES"
DEFAULT_ROLES = PROJECT_ROOT / "config" / "roles.toml"
AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
_RANK = {role: i for i, role in enumerate(ROLES)}


@dataclass(frozen=True)
class User:
    """An identity and its role; `email` is None for the anonymous public."""

    email: str | None
    name: str | None
    role: Role = "viewer"
    groups: tuple[str, ...] = field(default=(), compare=False)

    @property
    def signed_in(self) -> bool:
        return self.email is not None

    def can(self, action: str) -> bool:
        return self.role in ACTIONS.get(action, ())

    @property
    def label(self) -> str:
        """How the audit trail names this person."""
        return self.email or "anonimo"


ANONYMOUS = User(email=None, name=None, role="viewer")


class RolesError(ValueError):
    """The roles file cannot be used (nobody gets a right from it)."""


@dataclass(frozen=True)
class RoleMap:
    """Roles by e-mail (lower case) and by group name, and the ID-token claim holding the groups."""

    emails: Mapping[str, Role] = field(default_factory=dict)
    groups: Mapping[str, Role] = field(default_factory=dict)
    group_claim: str = "groups"
    problem: str | None = None  # why the file could not be used (then the maps are empty)

    def role_for(self, email: str | None, groups: tuple[str, ...] = (), email_verified: object = None) -> Role:
        """The highest role given by the e-mail or by any group; an unknown person is a viewer.

        An e-mail the provider marks as not verified (`email_verified` false) gives no role.
        """
        found: list[Role] = []
        if email and email_verified is not False:
            role = self.emails.get(email.strip().lower())
            if role:
                found.append(role)
        found += [self.groups[g] for g in groups if g in self.groups]
        return max(found, key=_RANK.__getitem__, default="viewer")


def _role(value: object, where: str) -> Role:
    if value not in ROLES:
        raise RolesError(f"{where}: ruolo sconosciuto {str(value)[:40]!r} (ammessi: {', '.join(ROLES)})")
    return cast(Role, value)


def parse_roles(data: Mapping[str, Any]) -> RoleMap:
    """Check and read the roles file's content: `group_claim`, `[emails]`, `[groups]` (name = role)."""
    unknown = set(data) - {"group_claim", "emails", "groups"}
    if unknown:
        raise RolesError(f"chiavi sconosciute: {', '.join(sorted(unknown))} (ammesse: group_claim, emails, groups)")
    claim = data.get("group_claim", "groups")
    if not isinstance(claim, str) or not claim.strip():
        raise RolesError("group_claim: il nome di un claim (testo) atteso")
    tables: dict[str, dict[str, Role]] = {}
    for section in ("emails", "groups"):
        table = data.get(section, {})
        if not isinstance(table, Mapping):
            raise RolesError(f"[{section}]: una tabella nome = ruolo attesa")
        tables[section] = {(str(k).strip().lower() if section == "emails" else str(k)): _role(v, f"[{section}] {k}")
                           for k, v in table.items()}
    return RoleMap(tables["emails"], tables["groups"], claim.strip())


def roles_path() -> Path:
    """The roles file: OSSERVATORIO_ROLES or config/roles.toml."""
    return Path(os.environ.get(ENV_ROLES) or DEFAULT_ROLES)


_CACHE: dict[tuple[str, int, int], RoleMap] = {}


def load_roles(path: Path | None = None) -> RoleMap:
    """The roles file, read again only when it changes (size, mtime). Missing: nobody has a role;
    unreadable or invalid: nobody has a role and `problem` says why."""
    path = path or roles_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return RoleMap(problem=None)
    except OSError as exc:
        return RoleMap(problem=f"{path.name}: {exc}")
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _CACHE:
        try:
            _CACHE.clear()
            _CACHE[key] = parse_roles(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RolesError) as exc:
            return RoleMap(problem=f"{path.name}: {exc}")
    return _CACHE[key]


def claims_groups(claims: Mapping[str, Any], claim: str) -> tuple[str, ...]:
    """The groups in a claim: a list of names or one name."""
    value = claims.get(claim)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


def user_from_claims(claims: Mapping[str, Any], roles: RoleMap, read_only: bool = False) -> User:
    """The User for an ID token's claims: e-mail (else preferred_username, else sub) and role."""
    ident = next((str(claims[k]).strip() for k in ("email", "preferred_username", "sub")
                  if claims.get(k) and str(claims[k]).strip()), None)
    if ident is None:
        return ANONYMOUS
    groups = claims_groups(claims, roles.group_claim)
    role = roles.role_for(str(claims.get("email") or ident), groups, claims.get("email_verified"))
    name = str(claims["name"]) if claims.get("name") else None
    return User(email=ident, name=name, role="viewer" if read_only else role, groups=groups)


# --- Streamlit ------------------------------------------------------------------------------------------

def auth_configured() -> bool:
    """True when `.streamlit/secrets.toml` has a complete `[auth]` section (one provider)."""
    import streamlit as st

    try:
        section = st.secrets.get("auth")
    except Exception:  # noqa: BLE001 - a broken secrets file: no sign-in, read-only (said in the sidebar)
        return False
    return isinstance(section, Mapping) and all(section.get(k) for k in AUTH_KEYS)


def current_user() -> User:
    """The signed-in user with their role, or the anonymous viewer (also when sign-in is not configured)."""
    import streamlit as st

    if not auth_configured():
        return ANONYMOUS
    try:
        claims = st.user.to_dict()
    except Exception:  # noqa: BLE001 - no script context (called outside a page): nobody
        return ANONYMOUS
    if not claims.get("is_logged_in"):
        return ANONYMOUS
    return user_from_claims(claims, load_roles(), read_only=load_settings().read_only)


def require(action: str, lang: str) -> User:
    """The current user when they may do `action`; otherwise a message and the page stops here."""
    import streamlit as st

    from osservatorio.i18n import t

    user = current_user()
    if not user.can(action):
        if not auth_configured():
            st.info(t("auth_forbidden_no_idp", lang))
        elif not user.signed_in:
            st.info(t("auth_forbidden_sign_in", lang))
        else:
            st.warning(t("auth_forbidden_role", lang, role=t(f"auth_role_{user.role}", lang)))
        st.stop()
    return user


SIDEBAR_KEY = "auth_sign_in"


def sidebar(lang: str) -> User:
    """The sign-in / sign-out widget in the sidebar (once per run: a second call draws nothing)."""
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from osservatorio.i18n import t
    from osservatorio.ui import md_escape

    user = current_user()
    ctx = get_script_run_ctx()
    if ctx is not None:
        run = id(ctx.cursors)  # a new dict every run (ScriptRunContext.reset)
        if getattr(ctx, "_osservatorio_auth_run", None) == run:
            return user
        ctx._osservatorio_auth_run = run  # type: ignore[attr-defined]
    box = st.sidebar.container(key="auth_box")
    if not auth_configured():
        if not st.session_state.get("auth_ro_said"):
            st.session_state["auth_ro_said"] = True
            st.toast(t("auth_no_idp", lang), icon=":material/lock:")
        box.caption(t("auth_no_idp_short", lang))
        return user
    if user.signed_in:
        box.caption(t("auth_signed_in_as", lang, who=md_escape(user.label), role=t(f"auth_role_{user.role}", lang)))
        problem = load_roles().problem
        if problem:
            box.error(t("auth_roles_problem", lang, problem=md_escape(problem)))
        box.button(t("auth_sign_out", lang), key="auth_sign_out", on_click=st.logout, icon=":material/logout:")
    else:
        box.button(t("auth_sign_in", lang), key=SIDEBAR_KEY, on_click=st.login, icon=":material/login:",
                   help=t("auth_sign_in_help", lang))
    return user
