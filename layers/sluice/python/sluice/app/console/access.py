"""What a console user's groups allow, enforced here for every use case (never only by the page):
viewers read; operators and admins read and act; a user in no group does nothing but ask who they are."""

from __future__ import annotations

from typing import Any

from sluice.app.console.ports import Accounts
from sluice.domain.registry.identity import ConsoleUser
from sluice.errors import Forbidden, SignInFailed


def require_reader(user: ConsoleUser) -> None:
    """Raise Forbidden unless `user` may read models."""
    if not user.can_read:
        raise Forbidden(
            f"Reading models needs the viewers, operators or admins group; you are in {user.groups_words()}."
        )


def require_actor(user: ConsoleUser, doing: str) -> None:
    """Raise Forbidden unless `user` may act on models; `doing` names the action ("Approving")."""
    if not user.can_act:
        raise Forbidden(f"{doing} needs the operators or admins group; you are in {user.groups_words()}.")


def me(user: ConsoleUser) -> dict[str, object]:
    """Who the user is, as the console shows it."""
    return {"email": user.email, "sub": user.sub, "groups": list(user.groups), "can_act": user.can_act}


def sign_in(
    accounts: Accounts, email: str, password: str | None, new_password: str | None, session: str | None
) -> dict[str, Any]:
    """{"id_token", "expires_in", "user": {"email", "sub", "groups"}}: signed in with `password`, or
    with `new_password` completing a NEW_PASSWORD_REQUIRED `session`. Raises SignInFailed, or
    NewPasswordRequired."""
    if new_password is not None and session is not None:
        tokens = accounts.new_password(email, new_password, session)
    else:
        tokens = accounts.sign_in(email, password or "")
    try:
        user = ConsoleUser.of_claims(tokens.get("claims") or {})
    except ValueError:
        raise SignInFailed("The user pool issued a token the console cannot read.") from None
    return {
        "id_token": tokens["id_token"],
        "expires_in": tokens["expires_in"],
        "user": {"email": user.email, "sub": user.sub, "groups": list(user.groups)},
    }
