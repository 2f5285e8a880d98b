"""Who is using the app and what they may do (viewer / editor / admin).

Interface used by the pages and stores (implemented with Streamlit's OpenID Connect sign-in):
- `current_user() -> User`: the signed-in identity, or the anonymous viewer;
- `User.can(action)`: action in {'read', 'write', 'upload', 'publish', 'manage_roles'};
- `require(action)`: stop the page with a clear message when the user may not do it.
With no identity provider configured the app is read-only for everyone and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["viewer", "editor", "admin"]
ACTIONS: dict[str, tuple[Role, ...]] = {
    "read": ("viewer", "editor", "admin"),
    "write": ("editor", "admin"),
    "upload": ("editor", "admin"),
    "publish": ("admin",),
    "manage_roles": ("admin",),
}


@dataclass(frozen=True)
class User:
    """An identity and its role; `email` is None for the anonymous public."""

    email: str | None
    name: str | None
    role: Role = "viewer"

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


def current_user() -> User:
    """The signed-in user (placeholder until sign-in is wired: the anonymous viewer)."""
    return ANONYMOUS
