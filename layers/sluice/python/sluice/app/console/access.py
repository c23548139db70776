"""What a console user's groups allow, enforced here for every use case (never only by the page):
viewers read; operators and admins read and act; a user in no group does nothing but ask who they are
and look after their own sign-in. Signing in (password, first new password, an authenticator app's
code) and setting up two-step sign-in with an authenticator app (TOTP) when the pool offers it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from sluice.app.console.ports import Accounts
from sluice.domain.registry.identity import ConsoleUser
from sluice.errors import Forbidden, InvalidRequest, SignInFailed

ISSUER = "Sluice console"  # how authenticator apps name the account's entry
DEVICE = "Sluice console authenticator"  # the FriendlyDeviceName Cognito records
CODE = re.compile(r"[0-9]{6}")


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


def me(user: ConsoleUser, mfa: str = "OFF") -> dict[str, object]:
    """Who the user is, as the console shows it, and the pool's two-step setting (`mfa`: OFF, OPTIONAL)."""
    return {
        "email": user.email,
        "sub": user.sub,
        "groups": list(user.groups),
        "can_act": user.can_act,
        "mfa": mfa,
    }


def sign_in(
    accounts: Accounts,
    email: str,
    password: str | None,
    new_password: str | None,
    session: str | None,
    code: str | None = None,
) -> dict[str, Any]:
    """{"id_token", "access_token", "expires_in", "user": {"email", "sub", "groups"}}: signed in with
    `password`, or with `new_password` completing a NEW_PASSWORD_REQUIRED `session`, or with `code`
    completing a SOFTWARE_TOKEN_MFA `session`. Raises SignInFailed, NewPasswordRequired or CodeRequired."""
    if code is not None and session is not None:
        tokens = accounts.answer_code(email, _code(code), session)
    elif new_password is not None and session is not None:
        tokens = accounts.new_password(email, new_password, session)
    else:
        tokens = accounts.sign_in(email, password or "")
    try:
        user = ConsoleUser.of_claims(tokens.get("claims") or {})
    except ValueError:
        raise SignInFailed("The user pool issued a token the console cannot read.") from None
    return {
        "id_token": tokens["id_token"],
        "access_token": tokens.get("access_token") or "",
        "expires_in": tokens["expires_in"],
        "user": {"email": user.email, "sub": user.sub, "groups": list(user.groups)},
    }


# ------------------------------------------------------------------------------------------ two-step
def two_step(accounts: Accounts, access_token: str) -> dict[str, bool]:
    """{"available": the pool offers two-step sign-in, "enabled": the token's user has an app}."""
    if accounts.mfa == "OFF":
        return {"available": False, "enabled": False}
    return {"available": True, "enabled": accounts.authenticator_enabled(access_token)}


def start_two_step(accounts: Accounts, user: ConsoleUser, access_token: str) -> dict[str, str]:
    """A new secret for `user`'s authenticator app: {"secret", "uri": the otpauth:// URI an app reads
    (from a QR code or a link)}. A 409 when the pool does not offer two-step sign-in."""
    _offered(accounts)
    secret = accounts.start_authenticator(access_token)
    return {"secret": secret, "uri": otpauth_uri(secret, user.email)}


def finish_two_step(accounts: Accounts, access_token: str, code: str) -> dict[str, bool]:
    """Check the app's `code`, then ask for a code at each sign-in: {"available", "enabled": True}."""
    _offered(accounts)
    accounts.confirm_authenticator(access_token, _code(code), DEVICE)
    return {"available": True, "enabled": True}


def otpauth_uri(secret: str, email: str, issuer: str = ISSUER) -> str:
    """The Key URI authenticator apps read: otpauth://totp/<issuer>:<account>?secret=…&issuer=…
    (SHA1, 6 digits, 30 seconds: Cognito's TOTP, the apps' defaults)."""
    label = quote(f"{issuer}:{email}", safe="@:")
    return f"otpauth://totp/{label}?" + urlencode({"secret": secret, "issuer": issuer}, quote_via=quote)


def _offered(accounts: Accounts) -> None:
    if accounts.mfa == "OFF":
        raise InvalidRequest(
            "Two-step sign-in is not offered by this console's user pool (its ConsoleMfa is OFF): "
            "ask your administrator.",
            status=409,
        )


def _code(code: str) -> str:
    code = code.replace(" ", "")
    if not CODE.fullmatch(code):
        raise InvalidRequest(
            "the code is not 6 digits",
            [{"field": "code", "message": "the 6 digits your authenticator app shows"}],
        )
    return code
